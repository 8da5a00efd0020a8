#!/usr/bin/env python3
"""Writes Tests/Fixtures/images.safetensors: small image files in the forms an image folder holds
(JPEG at two subsamplings and in grey, PNG in every colour type, bit depth and interlacing), each
with what Pillow decodes it to after convert("RGB"), and torchvision's transforms applied to
decoded images (Resize, CenterCrop, resized_crop, the evaluation pipeline, RandomResizedCrop's
fallback), for the decoder's and the transforms' pixel-for-pixel tests:

    ~/.cache/torch-venv/bin/python Tests/Fixtures/make_image_fixtures.py   # torch, torchvision, pillow

Every tensor is U8: "<name>.file" the file's bytes, "<name>.rgb" / "<case>.out" [H, W, 3] pixels.
The metadata gives each transform case's parameters as JSON.
"""
import io
import json
import os
import struct
import zlib

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms
from torchvision.transforms import functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def source(width, height, seed):
    """A smooth colour gradient with noise: edges and flat parts, so resampling errors show."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([(x * 255 // max(1, width - 1)), (y * 255 // max(1, height - 1)), ((x + y) * 7) % 256], axis=-1)
    img = img + rng.randint(-20, 21, size=img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_adam7(img):
    """An interlaced (Adam7) 8-bit RGB PNG, which Pillow cannot write."""
    a = np.asarray(img)
    h, w = a.shape[:2]
    raw = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
        sub = a[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\0" + row.tobytes() for row in sub)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")


def encoded(img, fmt, **options):
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def main():
    tensors, meta = {}, {}

    def add(name, array):
        tensors[name] = np.ascontiguousarray(np.asarray(array, dtype=np.uint8))

    rgb = source(37, 29, 1)
    files = {
        "jpeg_420": encoded(rgb, "JPEG", quality=75),
        "jpeg_444": encoded(rgb, "JPEG", quality=90, subsampling=0),
        "jpeg_grey": encoded(rgb.convert("L"), "JPEG", quality=75),
        "jpeg_progressive": encoded(rgb, "JPEG", quality=80, progressive=True),
        "png_rgb": encoded(rgb, "PNG"),
        "png_grey": encoded(rgb.convert("L"), "PNG"),
        "png_grey_1bit": encoded(rgb.convert("1"), "PNG"),
        "png_palette": encoded(rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "PNG"),
        "png_palette_transparent": encoded(rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "PNG", transparency=3),
        "png_rgba": encoded(Image.merge("RGBA", rgb.split() + (rgb.convert("L"),)), "PNG"),
        "png_grey_alpha": encoded(Image.merge("LA", (rgb.convert("L"), rgb.split()[0])), "PNG"),
        "png_grey16": encoded(Image.fromarray((np.asarray(rgb.convert("L")).astype(np.uint16) * 3).astype(np.uint16)), "PNG"),
        "png_interlaced": png_adam7(rgb),
    }
    for name, data in files.items():
        add(name + ".file", np.frombuffer(data, dtype=np.uint8))
        add(name + ".rgb", np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))

    wide, square = source(64, 48, 2), source(32, 32, 3)
    add("wide.rgb", np.asarray(wide))
    add("square.rgb", np.asarray(square))
    bilinear = transforms.InterpolationMode.BILINEAR
    cases = {
        "resize_up": (square, lambda i: F.resize(i, [64, 64], bilinear), {"width": 64, "height": 64}),
        "resize_up_odd": (rgb, lambda i: F.resize(i, [96, 91], bilinear), {"width": 91, "height": 96}),
        "resize_down": (wide, lambda i: F.resize(i, [15, 20], bilinear), {"width": 20, "height": 15}),
        "resize_down_mixed": (wide, lambda i: F.resize(i, [70, 27], bilinear), {"width": 27, "height": 70}),
        "resize_shorter_side": (wide, lambda i: F.resize(i, 36, bilinear), {"size": 36}),
        "center_crop": (wide, lambda i: F.center_crop(i, 27), {"side": 27}),
        "resized_crop": (wide, lambda i: F.resized_crop(i, 5, 9, 30, 41, [24, 24], bilinear), {"top": 5, "left": 9, "height": 30, "width": 41, "side": 24}),
        "eval_pipeline_32": (wide, transforms.Compose([transforms.Resize(int(32 / 0.875)), transforms.CenterCrop(32)]), {"side": 32}),
        "eval_pipeline_64": (rgb, transforms.Compose([transforms.Resize(int(64 / 0.875)), transforms.CenterCrop(64)]), {"side": 64}),
        "cifar_to_96": (square, transforms.Resize(96), {"side": 96}),
    }
    for name, (image, transform, parameters) in cases.items():
        source_name = {id(rgb): "jpeg_420", id(wide): "wide", id(square): "square"}[id(image)]
        if image is rgb:
            image = Image.open(io.BytesIO(files["png_rgb"])).convert("RGB")
            source_name = "png_rgb"
        add(name + ".out", np.asarray(transform(image)))
        meta[name] = json.dumps(dict(parameters, source=source_name + ".rgb"))
    # RandomResizedCrop's fallback (no try fits when the area fraction exceeds 1): the central crop.
    for name, (w, h) in {"fallback_tall": (20, 70), "fallback_wide": (90, 20), "fallback_square": (40, 40)}.items():
        top, left, height, width = transforms.RandomResizedCrop.get_params(Image.new("RGB", (w, h)), scale=(2.0, 3.0), ratio=(3 / 4, 4 / 3))
        meta[name] = json.dumps({"width": w, "height": h, "box": [left, top, width, height]})
    meta["versions"] = "torch %s, torchvision %s, Pillow %s" % (torch.__version__, torchvision.__version__, Image.__version__)

    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        blob = tensors[name].tobytes()
        header[name] = {"dtype": "U8", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    header["__metadata__"] = meta
    text = json.dumps(header, sort_keys=True).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(os.path.join(HERE, "images.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


if __name__ == "__main__":
    main()
