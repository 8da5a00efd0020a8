#!/usr/bin/env python3
"""Image decoding beside Pillow, on the same files and threads, in alternating rounds:

    python3 bench/decode_compare.py FOLDER [--limit 2000] [--threads 2] [--rounds 3]

Ours is `mobilenet bench-data` (libjpeg-turbo / libpng, then the input pipeline); Pillow's is
Image.open(f).convert("RGB") on a thread pool (Pillow releases the GIL while it decodes), on the same
first --limit files of FOLDER/train in the same order. Needs Pillow (~/.cache/torch-venv has it).
Prints the medians and their ratio.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def files(folder, limit):
    """The training files in torchvision's ImageFolder order (as the engine's ImageFolder walks them)."""
    train = os.path.join(folder, "train")
    out = []
    for cls in sorted(d for d in os.listdir(train) if not d.startswith(".") and os.path.isdir(os.path.join(train, d))):
        for root, _, names in sorted(os.walk(os.path.join(train, cls), followlinks=True)):
            out += [os.path.join(root, n) for n in sorted(names) if n.lower().endswith(EXTENSIONS)]
    return out[:limit]


def pillow(paths, threads):
    from PIL import Image

    def decode(path):
        with open(path, "rb") as f:
            data = f.read()
        import io
        return Image.open(io.BytesIO(data)).convert("RGB").size

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(decode, paths))  # warm-up: files into the page cache
        start = time.perf_counter()
        list(pool.map(decode, paths))
        return len(paths) / (time.perf_counter() - start)


def ours(folder, limit, threads):
    binary = os.path.join(ROOT, ".build", "release", "mobilenet")
    out = subprocess.check_output([binary, "bench-data", folder, "--limit", str(limit), "--threads", str(threads), "--json"])
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    paths = files(args.folder, args.limit)
    rates = {"pillow": [], "ours": [], "ours_batched": []}
    for _ in range(args.rounds):
        rates["pillow"].append(pillow(paths, args.threads))
        result = ours(args.folder, args.limit, args.threads)
        rates["ours"].append(result["decoded_per_second"])
        rates["ours_batched"].append(result["batched_per_second"])
    import PIL
    medians = {k: statistics.median(v) for k, v in rates.items()}
    print("%d files of %s, %d threads, %d alternating rounds (Pillow %s)" % (len(paths), args.folder, args.threads, args.rounds, PIL.__version__))
    print("  Pillow decode             %8.0f images/s" % medians["pillow"])
    print("  ours (libjpeg-turbo) decode %6.0f images/s  (%.2f× Pillow)" % (medians["ours"], medians["ours"] / medians["pillow"]))
    print("  ours as training batches  %8.0f images/s  (decode + RandomResizedCrop + flip + normalise)" % medians["ours_batched"])


if __name__ == "__main__":
    sys.exit(main())
