#ifndef MOBILENETCPU_PNG_DECODER_H
#define MOBILENETCPU_PNG_DECODER_H

#include <stddef.h>
#include <stdint.h>

/// A PNG decoded to 8-bit RGB, rows top to bottom, pixels interleaved.
typedef struct {
    uint32_t width;
    uint32_t height;
    /// width * height * 3 bytes, owned by the caller: release with mnc_png_free.
    uint8_t *pixels;
    /// Why decoding failed, when it did.
    char message[256];
} mnc_png_image;

/// Reads the width and height from a PNG's header without decoding it.
/// Returns 0 on success, -1 with `image->message` set otherwise.
int mnc_png_read_size(const uint8_t *data, size_t size, mnc_png_image *image);

/// Decodes a PNG held in memory to 8-bit RGB as Pillow's `convert("RGB")` does: palettes expanded
/// (transparency ignored), grey replicated to three channels (1, 2 and 4 bits scaled to 0–255),
/// alpha dropped, 16-bit samples cut to their high byte, except 16-bit grey without alpha, which is
/// clipped to 255. Images of more than `max_pixels` pixels are refused.
/// Returns 0 on success, -1 with `image->message` set (and no pixels to free) otherwise.
int mnc_png_decode_rgb(const uint8_t *data, size_t size, size_t max_pixels, mnc_png_image *image);

/// Frees the pixels of a decoded image.
void mnc_png_free(mnc_png_image *image);

#endif
