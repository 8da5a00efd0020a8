#!/usr/bin/env python3
"""PyTorch side of the time-to-accuracy comparison: `mobilenet train --recipe cifar10-fast`
(docs/time-to-accuracy.md), the same in every part, timed the same way, logged in the same JSON Lines
events, so that `mobilenet plot ours.jsonl pytorch.jsonl` draws both curves against wall-clock time.
Not run by CI. Our side of it:

    mobilenet train --recipe cifar10-fast --log ours.jsonl

The recipe: MobileNet v1 with the CIFAR stem (the modules of Tests/Fixtures/pytorch_models.py),
alpha 0.75, He-normal weights; batch 128, the last partial batch dropped; SGD with momentum 0.9,
peak rate 0.1, one-cycle (linear warm-up over a fifth of the epochs, then linear decay to 0, per
step); weight decay 5e-4 (L2) on every parameter; random crop with 4 pixels of black padding and a
horizontal flip; evaluation on the test set after every epoch with each image's logits averaged with
its mirror's. Time counts from the start of training, evaluations included, data loading included.

The recipe's first version, which also had Nesterov momentum, label smoothing 0.1, Cutout 8x8
after normalisation, an exponential moving average of the weights and buffers (decay 0.999, warm-up
(1 + t) / (10 + t)) for every evaluation, and decay on convolution and linear weights only, is
`--nesterov --label-smoothing 0.1 --cutout 8 --ema 0.999 --weight-decay-on weights` here and the same
options to `mobilenet train --recipe cifar10-fast`.

    python3 -m venv ~/.cache/torch-venv && ~/.cache/torch-venv/bin/pip install torch numpy
    ~/.cache/torch-venv/bin/python bench/time_to_accuracy_pytorch.py \\
        --data ~/.cache/cifar10/cifar-10-batches-py --threads 2 --log pytorch.jsonl [--stop-after-minutes M]
"""
import argparse
import json
import os
import pickle
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures"))
from pytorch_models import mobilenet  # noqa: E402

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2023, 0.1994, 0.2010]).view(1, 3, 1, 1)
MILESTONES = [0.80, 0.85, 0.90, 0.93]


def load(folder):
    """CIFAR-10's Python layout: uint8 images N x 3 x 32 x 32 and int64 labels."""
    def batch(name):
        with open(os.path.join(folder, name), "rb") as f:
            d = pickle.load(f, encoding="bytes")
        return np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32), np.asarray(d[b"labels"], dtype=np.int64)
    train = [batch(f"data_batch_{i}") for i in range(1, 6)]
    test = batch("test_batch")
    return (torch.from_numpy(np.concatenate([x for x, _ in train])), torch.from_numpy(np.concatenate([y for _, y in train])),
            torch.from_numpy(test[0]), torch.from_numpy(test[1]))


def normalized(images):
    return (images.float() / 255 - MEAN) / STD


def augmented(images, generator, cutout):
    """Random crop of the 4-pixel black-padded image, horizontal flip, then Cutout after normalisation."""
    n = images.shape[0]
    padded = F.pad(images, (4, 4, 4, 4))
    dx = torch.randint(0, 9, (n,), generator=generator)
    dy = torch.randint(0, 9, (n,), generator=generator)
    flip = torch.randint(0, 2, (n,), generator=generator).bool()
    out = torch.empty_like(images)
    for i in range(n):
        crop = padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        out[i] = crop.flip(-1) if flip[i] else crop
    x = normalized(out)
    if cutout > 0:
        cy = torch.randint(0, 32, (n,), generator=generator)
        cx = torch.randint(0, 32, (n,), generator=generator)
        for i in range(n):
            top, left = max(0, cy[i] - cutout // 2), max(0, cx[i] - cutout // 2)
            bottom, right = min(32, cy[i] - cutout // 2 + cutout), min(32, cx[i] - cutout // 2 + cutout)
            x[i, :, top:bottom, left:right] = 0
    return x


class Average:
    """The exponential moving average of every parameter and buffer, as Sources/ConvEngine/Optim."""

    def __init__(self, model, decay):
        self.decay, self.updates = decay, 0
        self.tensors = [t for t in list(model.parameters()) + list(model.buffers()) if t.dtype.is_floating_point]
        self.averages = [t.detach().clone() for t in self.tensors]

    @torch.no_grad()
    def update(self):
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for a, t in zip(self.averages, self.tensors):
            a.sub_((1 - d) * (a - t))
        self.updates += 1

    @torch.no_grad()
    def swap(self):
        for a, t in zip(self.averages, self.tensors):
            tmp = t.detach().clone()
            t.copy_(a)
            a.copy_(tmp)


@torch.no_grad()
def evaluate(model, images, labels, channels_last):
    model.eval()
    correct, loss, n = 0, 0.0, images.shape[0]
    for start in range(0, n, 500):
        x = normalized(images[start:start + 500])
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = (model(x) + model(x.flip(-1))) / 2
        y = labels[start:start + 500]
        loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    model.train()
    return correct / n, loss / n


def cost(model):
    """MACs per image and parameters in the MobileNet paper's convention (convolutions and the linear
    layer with their biases; batch norm not counted), as `mobilenet summary` counts them."""
    macs = []
    hooks = [m.register_forward_hook(lambda m, x, y: macs.append(
        y.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1] if isinstance(m, nn.Conv2d)
        else m.in_features * m.out_features))
        for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()
        model(torch.zeros(1, 3, 32, 32))
        model.train()
    for h in hooks:
        h.remove()
    params = sum(p.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) for p in m.parameters())
    return sum(macs), params


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.path.expanduser("~/.cache/cifar10/cifar-10-batches-py"))
    p.add_argument("--alpha", type=float, default=0.75)
    p.add_argument("--output-stride", type=int, help="input side over the last maps' side (default: 16, the stem's)")
    p.add_argument("--epochs", type=int, default=24)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--weight-decay-on", choices=["all", "weights", "all-but-depthwise"], default="all",
                   help="every parameter, convolution and linear weights only, or all but the depthwise filters")
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--cutout", type=int, default=0, help="side of the Cutout square; 0 for none")
    p.add_argument("--ema", type=float, default=0.0, help="decay of the weight average evaluations use; 0 for none")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nchw", action="store_true", help="NCHW tensors instead of channels-last")
    p.add_argument("--steps-per-epoch", type=int, help="fewer steps per epoch, to try the script out")
    p.add_argument("--stop-after-minutes", type=float,
                   help="end after the first evaluation past this wall time (the schedule stays the full run's)")
    p.add_argument("--log", required=True)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    channels_last = not args.nchw

    train_x, train_y, test_x, test_y = load(args.data)
    model = mobilenet(alpha=args.alpha, classes=10, stem="cifar", output_stride=args.output_stride)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    def depthwise(m):
        return isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels

    spared = [m.weight for m in model.modules() if depthwise(m)] if args.weight_decay_on == "all-but-depthwise" else []
    weights = [m.weight for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear)) and all(m.weight is not s for s in spared)]
    others = [p for p in model.parameters() if all(p is not w for w in weights + spared)]
    others_decay = 0.0 if args.weight_decay_on == "weights" else args.weight_decay
    optimizer = torch.optim.SGD([{"params": weights, "weight_decay": args.weight_decay},
                                 {"params": others, "weight_decay": others_decay},
                                 {"params": spared, "weight_decay": 0.0}],
                                lr=args.lr, momentum=0.9, nesterov=args.nesterov)
    steps_per_epoch = args.steps_per_epoch or train_x.shape[0] // args.batch_size
    total = steps_per_epoch * args.epochs
    warmup = args.epochs // 5 * steps_per_epoch

    def rate(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        return args.lr * (1 - min(step - warmup, total - warmup) / max(1, total - warmup))

    average = Average(model, args.ema) if args.ema > 0 else None
    generator = torch.Generator().manual_seed(args.seed)
    stride = f" output-stride-{args.output_stride}" if args.output_stride not in (None, 16) else ""
    name = f"MobileNet {args.alpha:g} cifar-32{stride}, PyTorch {torch.__version__} {'channels-last' if channels_last else 'NCHW'}"
    log = open(args.log, "w")

    def write(event, **fields):
        log.write(json.dumps({"event": event, **fields}, sort_keys=True) + "\n")
        log.flush()

    macs, params = cost(model)
    write("start", model=name, steps=total, step=0, steps_per_epoch=steps_per_epoch, batch_size=args.batch_size,
          macs=macs, params=params, baseline_macs=0, baseline_params=0, data=args.data, threads=args.threads)
    start, best, step, reached = time.time(), 0.0, 0, []
    for epoch in range(args.epochs):
        order = torch.randperm(train_x.shape[0], generator=generator)
        window_loss, window_correct, window_n = 0.0, 0, 0
        for b in range(steps_per_epoch):
            index = order[b * args.batch_size:(b + 1) * args.batch_size]
            x = augmented(train_x[index], generator, args.cutout)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = train_y[index]
            for group in optimizer.param_groups:
                group["lr"] = rate(step)
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
            optimizer.zero_grad(set_to_none=False)
            loss.backward()
            optimizer.step()
            if average:
                average.update()
            step += 1
            window_loss += loss.item() * y.shape[0]
            window_correct += (logits.argmax(1) == y).sum().item()
            window_n += y.shape[0]
            if step % max(1, steps_per_epoch // 20) == 0:
                elapsed = time.time() - start
                write("step", step=step, epoch=step / steps_per_epoch, loss=window_loss / window_n,
                      accuracy=window_correct / window_n, lr=rate(step - 1), images_per_second=step * args.batch_size / elapsed,
                      time=elapsed)
                window_loss, window_correct, window_n = 0.0, 0, 0
                print(f"\r[{step}/{total}] {step * args.batch_size / elapsed:.0f} img/s", end="", file=sys.stderr)
        if average:
            average.swap()
        accuracy, test_loss = evaluate(model, test_x, test_y, channels_last)
        if average:
            average.swap()
        elapsed = time.time() - start
        event = dict(step=step, epoch=step / steps_per_epoch, test_accuracy=accuracy, test_loss=test_loss, time=elapsed)
        write("eval", **event)
        print(f"\repoch {epoch + 1}: test accuracy {100 * accuracy:.2f}% at {elapsed / 60:.1f} min", file=sys.stderr)
        for threshold in MILESTONES:
            if accuracy >= threshold > best:
                reached.append(dict(threshold=threshold, **event))
                write("accuracy_reached", threshold=threshold, **event)
        best = max(best, accuracy)
        if args.stop_after_minutes and elapsed > 60 * args.stop_after_minutes:
            print(f"stopped after epoch {epoch + 1} of {args.epochs}", file=sys.stderr)
            break
    wall = time.time() - start
    write("summary", model=name, test_accuracy=accuracy, best_accuracy=best, steps=step, wall_time=wall,
          images_per_second=step * args.batch_size / wall, macs=macs, params=params, baseline_macs=0, baseline_params=0,
          standard=False, time_to_accuracy=reached)
    print(json.dumps({"test_accuracy": accuracy, "wall_time": wall, "time_to_accuracy": reached}))


if __name__ == "__main__":
    main()
