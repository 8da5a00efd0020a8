#!/usr/bin/env python3
"""`make bench-compare`: MobileNetCPU, PyTorch (NCHW and channels-last), TensorFlow (NHWC) and, for
inference, ONNX Runtime on the model `mobilenet export` writes, on the same models, batch sizes and
thread count, run in alternating rounds on this machine, reported as medians across rounds with the
ratio ours / best peer. Not run by CI.

    python3 bench/compare.py [--threads 2] [--rounds 3] [--repeats 10] [--only "SeedNet/20"] [--quick]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OURS = os.environ.get("MOBILENET", os.path.join(ROOT, ".build", "release", "mobilenet"))
TORCH = os.path.expanduser("~/.cache/torch-venv/bin/python")
TF = os.path.expanduser("~/.cache/tf-venv/bin/python")
ORT = os.path.join(ROOT, ".build-python", "venv", "bin", "python")  # made by `make python`
# The library that venv's mobilenetcpu package loads (`make python` installs it there).
LIBRARY = {"MOBILENETCPU_LIBRARY": os.environ.get(
    "MOBILENETCPU_LIBRARY", os.path.join(ROOT, ".build-python", "prefix", "lib", "libmobilenetcpu.so"))}

# (label, model arguments, batch size)
CASES = [
    ("SeedNet", ["--model", "seed"], 20),
    ("SeedNet", ["--model", "seed"], 128),
    ("SeedNet standard", ["--model", "seed", "--standard"], 128),
    ("MobileNet-CIFAR 1.0", ["--model", "mobilenet", "--alpha", "1"], 128),
    ("MobileNet-CIFAR 0.5", ["--model", "mobilenet", "--alpha", "0.5"], 128),
    ("MobileNet-CIFAR 1.0 standard", ["--model", "mobilenet", "--alpha", "1", "--standard"], 128),
    ("MobileNet-CIFAR 0.5 standard", ["--model", "mobilenet", "--alpha", "0.5", "--standard"], 128),
] + [
    # ImageNet sizes: MobileNet is an ImageNet network; batch 1 is latency, 32 throughput.
    (f"MobileNet {alpha}-{side}", ["--model", "mobilenet", "--alpha", alpha, "--stem", "imagenet",
                                   "--resolution", str(side), "--classes", "1000"], batch)
    for alpha in ("1.0", "0.5") for side in (224, 128) for batch in (1, 32)
]
PEERS = ["pytorch", "tensorflow", "onnxruntime"]


def run(command, env=None):
    """The JSON the command prints: one document, or one object per line."""
    out = subprocess.run(command, check=True, capture_output=True, text=True, env={**os.environ, **(env or {})}).stdout
    try:
        return [json.loads(out)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def ours(model_args, batch, args):
    result = run([OURS, "bench", "--json", "--batch-size", str(batch), "--repeats", str(args.repeats),
                  "--threads", str(args.threads)] + model_args)[0]["results"][0]
    return {"train": result["train_images_per_second"], "infer": result["inference_images_per_second"],
            "memory": result["peak_resident_bytes"]}


def peers(model_args, batch, args):
    common = model_args + ["--batch-size", str(batch), "--repeats", str(args.repeats), "--threads", str(args.threads)]
    results = {}
    if "pytorch" in args.peers:
        for r in run([TORCH, os.path.join(HERE, "pytorch_reference.py")] + common):
            results["pytorch " + r["format"]] = r
    if "tensorflow" in args.peers:
        for r in run([TF, os.path.join(HERE, "tensorflow_reference.py")] + common):
            results["tensorflow"] = r
    if "onnxruntime" in args.peers:
        for r in run([ORT, os.path.join(HERE, "onnxruntime_reference.py")] + common, env=LIBRARY):
            results["onnxruntime"] = r
    return {k: {"train": v["train_images_per_second"], "infer": v["inference_images_per_second"],
                "memory": v["peak_resident_bytes"]} for k, v in results.items()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--only", action="append", metavar="MODEL/BATCH",
                   help='run only this case, e.g. "SeedNet/20" (repeatable); small batches want more --repeats')
    p.add_argument("--quick", action="store_true", help="one small case, one round (a smoke test)")
    p.add_argument("--peer", dest="peers", action="append", choices=PEERS,
                   help="compare with this framework only (repeatable; default: all three)")
    args = p.parse_args()
    args.peers = args.peers or PEERS
    cases = [("SeedNet", ["--model", "seed"], 8)] if args.quick else CASES
    if args.only:
        cases = [c for c in cases if f"{c[0]}/{c[2]}" in args.only]
        if not cases:
            p.error(f"--only: no case among {', '.join(f'{c[0]}/{c[2]}' for c in CASES)}")
    rounds = 1 if args.quick else args.rounds
    samples = {}
    for r in range(rounds):
        for label, model_args, batch in cases:
            print(f"round {r + 1}/{rounds}: {label}, batch {batch}", file=sys.stderr, flush=True)
            measured = {"mobilenetcpu": ours(model_args, batch, args)}
            measured.update(peers(model_args, batch, args))
            for name, m in measured.items():
                for key, value in m.items():
                    samples.setdefault((label, batch, name, key), []).append(value)
    median = {k: None if None in v else statistics.median(v) for k, v in samples.items()}
    names = sorted({k[2] for k in samples if k[2] != "mobilenetcpu"})
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    print(f"{cpu}, {args.threads} threads, medians of {rounds} alternating rounds × {args.repeats} steps")
    header = f"{'model':30} {'batch':>5} {'ours img/s':>11} " + " ".join(f"{n:>20}" for n in names) + f" {'ours/best':>9} {'memory ours/best':>17}"
    footnote = False
    for kind in ("train", "infer"):
        print(f"\n{'training' if kind == 'train' else 'inference'} images/s")
        print(header)
        for label, _, batch in cases:
            us = median[(label, batch, "mobilenetcpu", kind)]
            peer = {n: median[(label, batch, n, kind)] for n in names}  # None: the peer does not train
            # No peer at all when the only one chosen does not train (--peer onnxruntime).
            best = max((n for n in names if peer[n] is not None), key=peer.get, default=None)
            ratios = f" {'—':>9} {'—':>17}"
            if best is not None:
                # Our process trains before it infers; a peak beside one of a peer that only infers
                # (ONNX Runtime) would compare a training arena with an inference one.
                if median[(label, batch, best, "train")] is None:
                    mem, footnote = f"{'not comparable*':>17}", True
                else:
                    mem = f"{median[(label, batch, 'mobilenetcpu', 'memory')] / median[(label, batch, best, 'memory')]:>17.2f}"
                ratios = f" {us / peer[best]:>9.2f} {mem}"
            print(f"{label:30} {batch:>5} {us:>11.1f} "
                  + " ".join(f"{peer[n]:>20.1f}" if peer[n] is not None else f"{'—':>20}" for n in names)
                  + ratios)
    single = [(label, batch) for label, _, batch in cases if batch == 1]
    if single:
        # A batch of one is latency: the same medians as milliseconds per image.
        print("\ninference at batch 1, milliseconds per image")
        print(f"{'model':30} {'ours ms':>11} " + " ".join(f"{n:>20}" for n in names) + f" {'best/ours':>9}")
        for label, batch in single:
            us = 1e3 / median[(label, batch, "mobilenetcpu", "infer")]
            peer = {n: median[(label, batch, n, "infer")] for n in names}
            ms = {n: 1e3 / v for n, v in peer.items() if v}
            best = min(ms.values(), default=None)
            print(f"{label:30} {us:>11.2f} " + " ".join(f"{ms[n]:>20.2f}" if n in ms else f"{'—':>20}" for n in names)
                  + (f" {best / us:>9.2f}" if best else f" {'—':>9}"))
    if footnote:
        print("\n* the best peer only infers, in a process of its own; ours trained in the same process first, "
              "so its peak memory holds the training arena")


if __name__ == "__main__":
    main()
