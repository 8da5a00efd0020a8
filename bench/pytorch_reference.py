#!/usr/bin/env python3
"""PyTorch side of `make bench-compare`: the same models, batch, optimizer and thread count as
`mobilenet bench`, timed the same way (medians of repeated steps after warm-up). Not run by CI.

    python3 -m venv ~/.cache/torch-venv && ~/.cache/torch-venv/bin/pip install torch numpy
    ~/.cache/torch-venv/bin/python bench/pytorch_reference.py --model mobilenet --alpha 1 --batch-size 128 --threads 2

Prints one JSON object per memory format (NCHW and channels-last) on standard output.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures"))
from pytorch_models import mobilenet, seednet  # noqa: E402  (the modules the checkpoints map to)


def build(args):
    if args.model == "seed":
        return seednet(classes=args.classes, standard=args.standard)
    return mobilenet(alpha=args.alpha, classes=args.classes, stem="cifar", standard=args.standard)


def measure(model, args, channels_last):
    x = torch.randn(args.batch_size, 3, 32, 32)
    y = torch.randint(0, args.classes, (args.batch_size,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def train_step():
        optimizer.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    def timed(fn):
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    model.train()
    steps = [timed(train_step) for _ in range(args.warmup + args.repeats)][args.warmup:]
    model.eval()
    with torch.no_grad():
        inference = [timed(lambda: model(x)) for _ in range(args.warmup + args.repeats)][args.warmup:]
    step, infer = statistics.median(steps), statistics.median(inference)
    return {"framework": "pytorch " + torch.__version__, "format": "channels_last" if channels_last else "nchw",
            "model": args.model, "alpha": args.alpha, "standard": args.standard, "batch_size": args.batch_size,
            "threads": torch.get_num_threads(), "train_step_seconds": step, "train_images_per_second": args.batch_size / step,
            "inference_seconds": infer, "inference_images_per_second": args.batch_size / infer,
            "peak_resident_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["seed", "mobilenet"], default="mobilenet")
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--standard", action="store_true")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--format", choices=["nchw", "channels_last", "both"], default="both")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    formats = {"nchw": [False], "channels_last": [True], "both": [False, True]}[args.format]
    for channels_last in formats:
        print(json.dumps(measure(build(args), args, channels_last)), flush=True)


if __name__ == "__main__":
    main()
