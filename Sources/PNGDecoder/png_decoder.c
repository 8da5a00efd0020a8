// PNG decoding through libpng, kept in C because libpng reports errors by longjmp, which Swift
// code cannot receive: every libpng call runs under setjmp here, and an error becomes a message.

#include "png_decoder.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    mnc_png_image *image;
} reader_state;

static void read_from_memory(png_structp png, png_bytep out, png_size_t count) {
    reader_state *state = (reader_state *)png_get_io_ptr(png);
    if (count > state->size - state->offset) {
        png_error(png, "the file ends early (truncated?)");
    }
    memcpy(out, state->data + state->offset, count);
    state->offset += count;
}

static void on_error(png_structp png, png_const_charp message) {
    reader_state *state = (reader_state *)png_get_error_ptr(png);
    snprintf(state->image->message, sizeof state->image->message, "%s", message);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

/// Sets up libpng on `data` and reads the header. Returns 0, or -1 with the message set.
static int begin(const uint8_t *data, size_t size, mnc_png_image *image, reader_state *state,
                 png_structp *png, png_infop *info) {
    memset(image, 0, sizeof *image);
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        snprintf(image->message, sizeof image->message, "not a PNG file");
        return -1;
    }
    state->data = data;
    state->size = size;
    state->offset = 0;
    state->image = image;
    *png = png_create_read_struct(PNG_LIBPNG_VER_STRING, state, on_error, on_warning);
    *info = *png ? png_create_info_struct(*png) : NULL;
    if (!*png || !*info) {
        png_destroy_read_struct(png, info, NULL);
        snprintf(image->message, sizeof image->message, "libpng could not start");
        return -1;
    }
    png_set_read_fn(*png, state, read_from_memory);
    return 0;
}

int mnc_png_read_size(const uint8_t *data, size_t size, mnc_png_image *image) {
    reader_state state;
    png_structp png = NULL;
    png_infop info = NULL;
    if (begin(data, size, image, &state, &png, &info) != 0) return -1;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    png_read_info(png, info);
    image->width = png_get_image_width(png, info);
    image->height = png_get_image_height(png, info);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

int mnc_png_decode_rgb(const uint8_t *data, size_t size, size_t max_pixels, mnc_png_image *image) {
    reader_state state;
    png_structp png = NULL;
    png_infop info = NULL;
    // Volatile: assigned between setjmp and a possible longjmp, and freed after it.
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile row = NULL;
    png_bytep *volatile rows = NULL;
    if (begin(data, size, image, &state, &png, &info) != 0) return -1;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(row);
        free(rows);
        image->pixels = NULL;
        return -1;
    }
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    if ((size_t)width * height > max_pixels) {
        png_error(png, "the image is too large");
    }
    // 16-bit grey without alpha is Pillow's mode I;16, which convert("RGB") clips to 255.
    int clipGrey16 = depth == 16 && type == PNG_COLOR_TYPE_GRAY;
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16 && !clipGrey16) png_set_strip_16(png);
    if (type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowBytes = png_get_rowbytes(png, info);
    int channels = png_get_channels(png, info);
    pixels = malloc((size_t)width * height * 3);
    row = malloc(rowBytes * (passes > 1 ? height : 1));
    if (!pixels || !row) png_error(png, "out of memory");
    if (passes > 1) {
        // Interlaced: the passes fill whole rows in turn, so keep every row until the last pass.
        // A corrupt pass longjmps out of png_read_image: `rows` is freed there too (found by make fuzz).
        rows = malloc(sizeof(png_bytep) * height);
        if (!rows) png_error(png, "out of memory");
        for (png_uint_32 y = 0; y < height; y++) rows[y] = row + y * rowBytes;
        png_read_image(png, rows);
        free(rows);
        rows = NULL;
    }
    for (png_uint_32 y = 0; y < height; y++) {
        uint8_t *source = row + (passes > 1 ? y * rowBytes : 0);
        if (passes == 1) png_read_row(png, source, NULL);
        uint8_t *out = pixels + (size_t)y * width * 3;
        for (png_uint_32 x = 0; x < width; x++) {
            if (clipGrey16) {
                unsigned v = (unsigned)source[2 * x] << 8 | source[2 * x + 1];
                out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = (uint8_t)(v > 255 ? 255 : v);
            } else if (channels <= 2) {
                // Grey, or grey + alpha: the alpha is dropped.
                out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = source[channels * x];
            } else {
                // RGB, or RGB + alpha (a palette's transparency expands to one): the alpha is dropped.
                memcpy(out + 3 * x, source + channels * x, 3);
            }
        }
    }
    // The chunks after the image data are not read: Pillow does not require them either.
    png_destroy_read_struct(&png, &info, NULL);
    free(row);
    image->width = width;
    image->height = height;
    image->pixels = pixels;
    return 0;
}

void mnc_png_free(mnc_png_image *image) {
    free(image->pixels);
    image->pixels = NULL;
}
