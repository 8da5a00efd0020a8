#!/usr/bin/env python3
"""PyTorch side of `make bench-compare`: the same models, batch, optimizer and thread count as
`mobilenet bench`, timed the same way (medians of repeated steps after warm-up). Not run by CI.

    python3 -m venv ~/.cache/torch-venv && ~/.cache/torch-venv/bin/pip install torch numpy
    ~/.cache/torch-venv/bin/python bench/pytorch_reference.py --model mobilenet --alpha 1 --batch-size 128 --threads 2

Prints one JSON object per memory format (NCHW and channels-last) on standard output.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures"))
from pytorch_models import mobilenet, seednet  # noqa: E402  (the modules the checkpoints map to)
from common import arguments, median_seconds, result, side  # noqa: E402  (bench/, the script's own folder)


def build(args):
    if args.model == "seed":
        return seednet(classes=args.classes, standard=args.standard)
    return mobilenet(alpha=args.alpha, classes=args.classes, stem=args.stem, standard=args.standard)


def measure(model, args, channels_last):
    x = torch.randn(args.batch_size, 3, side(args), side(args))
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

    model.train()
    step = median_seconds(train_step, args)
    model.eval()
    with torch.no_grad():
        infer = median_seconds(lambda: model(x), args)
    return result("pytorch " + torch.__version__, "channels_last" if channels_last else "nchw", args,
                  torch.get_num_threads(), step, infer)


def main():
    p = arguments(__doc__, warmup=2)
    p.add_argument("--format", choices=["nchw", "channels_last", "both"], default="both")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    formats = {"nchw": [False], "channels_last": [True], "both": [False, True]}[args.format]
    for channels_last in formats:
        print(json.dumps(measure(build(args), args, channels_last)), flush=True)


if __name__ == "__main__":
    main()
