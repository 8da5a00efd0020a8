#!/usr/bin/env python3
"""Writes the readers' corpus: inputs that once crashed the readers (`crash-*`), which must now be
refused with a clear error, and small valid inputs (`valid-*`) that seed the fuzzers.

    python3 Tests/Corpus/make_corpus.py      # needs numpy (for the valid pickle)

`make test` replays every file (CorpusTests); `make fuzz` starts each fuzzer from its folder.
One folder per reader: pickle, archive (.tar.gz or bare tar), records (CIFAR records, PPM/PGM),
images (JPEG, PNG),
safetensors, metadata (checkpoint metadata as key=value lines).
"""
import gzip
import io
import json
import os
import pickle
import struct
import tarfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def write(folder, name, data):
    os.makedirs(os.path.join(HERE, folder), exist_ok=True)
    with open(os.path.join(HERE, folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def pickles():
    data = (np.arange(2 * 3072) * 7 % 256).astype(np.uint8).reshape(2, 3072)
    for protocol in (2, 5):
        write("pickle", "valid-batch-protocol%d" % protocol,
              pickle.dumps({"data": data, "labels": [3, 1], "batch_label": "b"}, protocol=protocol))
    write("pickle", "valid-meta-protocol2", pickle.dumps({"label_names": ["c%d" % i for i in range(10)]}, protocol=2))
    huge = struct.pack("<Q", 0x7FFF_FFFF_FFFF_FFFF)  # 2^63 − 1: position + length overflowed
    for opcode, name in ((0x8E, "binbytes8"), (0x8D, "binunicode8"), (0x96, "bytearray8")):
        write("pickle", "crash-%s-length-near-2e63" % name, bytes([0x80, 4, opcode]) + huge + b".")
    # A numpy array whose shape (2^62, 2^62) overflowed the element count.
    valid = pickle.dumps({"data": data, "labels": [3, 1]}, protocol=2)
    big = b"\x8a\x08" + struct.pack("<q", 1 << 62)
    shape = b"K\x02M\x00\x0c\x86"  # the tuple (2, 3072) as protocol 2 writes it (TUPLE2)
    assert shape in valid
    write("pickle", "crash-array-shape-2e62-by-2e62", valid.replace(shape, big + big + b"\x86", 1))
    # 200,000 nested one-tuples: freeing them recursively overflowed the stack.
    write("pickle", "crash-200000-nested-tuples", b"\x80\x02N" + b"\x85" * 200_000 + b".")
    # A list that grows deeper after a tuple took it in.
    write("pickle", "crash-list-grown-after-nesting", b"\x80\x02]q\x01\x85h\x01N\x85a\x86.")


def tar_bytes(files):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def archives():
    record = bytes([3]) + bytes(range(256)) * 12
    files = [("cifar-10-batches-bin/data_batch_%d.bin" % i, record) for i in range(1, 6)]
    files += [("cifar-10-batches-bin/test_batch.bin", record),
              ("cifar-10-batches-bin/batches.meta.txt", "\n".join("c%d" % i for i in range(10)).encode())]
    write("archive", "valid-cifar-10-binary.tar.gz", gzip.compress(tar_bytes(files), mtime=0))
    # A header whose size field is "-1", with its checksum corrected: once trapped.
    header = bytearray(tar_bytes([("x", b"")])[:512])
    header[124:136] = b"-1".ljust(12, b"\0")
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    write("archive", "crash-tar-size-minus-1.tar", bytes(header) + bytes(1024))


def records():
    write("records", "valid-two-records.bin", (bytes([1]) + bytes(range(256)) * 12) * 2)
    write("records", "valid-grey.pgm", b"P5\n# c\n4 3\n255\n" + bytes(range(12)))
    write("records", "valid-colour.ppm", b"P6\n2 2\n15\n" + bytes(range(12)))
    write("records", "bad-ppm-huge-size.ppm", b"P6\n999999999 999999999\n255\n" + bytes(16))


def images():
    """Seeds from the image fixtures (Tests/Fixtures/images.safetensors), and broken files."""
    path = os.path.join(os.path.dirname(HERE), "Fixtures", "images.safetensors")
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    def fixture(name):
        begin, end = header[name]["data_offsets"]
        return raw[8 + n + begin:8 + n + end]
    for name in ("jpeg_420", "jpeg_grey", "jpeg_progressive", "png_rgb", "png_palette_transparent", "png_grey16", "png_interlaced"):
        write("images", "valid-" + name, fixture(name + ".file"))
    jpeg, png = fixture("jpeg_420.file"), fixture("png_rgb.file")
    write("images", "bad-truncated-jpeg", jpeg[: len(jpeg) * 3 // 4])
    write("images", "bad-truncated-png", png[: len(png) // 2])
    # A PNG header claiming 2^31 − 1 square pixels.
    write("images", "bad-png-huge-size", png[:16] + struct.pack(">II", 0x7FFFFFFF, 0x7FFFFFFF) + png[24:])


def safetensors(header, data=b""):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def checkpoints():
    write("safetensors", "valid-one-tensor.safetensors",
          safetensors({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "__metadata__": {"format": "pt"}},
                      struct.pack("<2f", 1, 2)))
    write("safetensors", "crash-header-length-2e63.safetensors", struct.pack("<Q", 1 << 63) + b"{}")
    write("safetensors", "bad-shape-overflow.safetensors",
          safetensors({"w": {"dtype": "F32", "shape": [1 << 62, 1 << 62], "data_offsets": [0, 0]}}))
    base = {
        "format": "pt", "model.family": "seed", "model.width_multiplier": "1.0", "model.resolution": "32",
        "model.classes": "10", "model.stem": "cifar", "model.standard": "false", "run.steps": "4",
        "run.batch_size": "8", "run.optimizer": "adam", "run.lr": "0.002", "run.momentum": "0.9",
        "run.nesterov": "false", "run.weight_decay": "0.0", "run.schedule": "constant", "run.warmup": "0",
        "run.label_smoothing": "0.0", "run.augment": "false", "run.normalize": "seed", "run.seed": "0",
        "run.step": "2", "run.position": "0:2", "run.best_accuracy": "0.1", "optimizer.kind": "adam",
        "optimizer.step": "2", "data.classes": json.dumps(["c%d" % i for i in range(10)]), "data.source": "synthetic",
        "data.path": "synthetic",
    }
    write("metadata", "valid-seednet-run", "".join("%s=%s\n" % kv for kv in sorted(base.items())))
    crashes = {
        "crash-width-multiplier-1e30": {"model.family": "mobilenet", "model.width_multiplier": "1e30"},
        "crash-resolution-2e63": {"model.resolution": str((1 << 63) - 1)},
        "crash-classes-1e18": {"model.classes": str(10 ** 18)},
        "crash-resolution-100000-allocates-200GB": {"model.family": "mobilenet", "model.stem": "imagenet",
                                                   "model.resolution": "100000"},
        "crash-optimizer-step-2e63": {"optimizer.step": str((1 << 63) - 1)},
        "crash-negative-run-step": {"run.step": "-1"},
        "crash-fewer-class-names-than-classes": {"data.classes": json.dumps(["a", "b"])},
        "bad-malformed-normalize": {"run.normalize": "bogus"},
    }
    for name, changes in crashes.items():
        m = dict(base, **changes)
        write("metadata", name, "".join("%s=%s\n" % kv for kv in sorted(m.items())))


if __name__ == "__main__":
    pickles()
    archives()
    records()
    images()
    checkpoints()
