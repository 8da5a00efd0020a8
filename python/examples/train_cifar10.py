"""Trains SeedNet on CIFAR-10 from NumPy arrays: the seed tutorial's recipe (Adam at 1e-3, batches of
20, pixels scaled to [-1, 1]), then its test accuracy and its cost beside the standard baseline.

    python train_cifar10.py ~/.cache/cifar10/cifar-10-batches-bin [--steps 10000] [--save seed.safetensors]

The folder is CIFAR-10's official binary layout (data_batch_1.bin … data_batch_5.bin, test_batch.bin).
"""
import argparse
import os
import sys
import time

import numpy as np

import mobilenetcpu as mnc


def load_batches(folder, names):
    """Images [n, 32, 32, 3] uint8 and labels [n] of CIFAR-10 binary files (1 label byte + 3072 pixel bytes each)."""
    records = []
    for name in names:
        path = os.path.join(folder, name)
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % 3073:
            sys.exit("%s: %d bytes is not a whole number of 3073-byte CIFAR-10 records" % (path, raw.size))
        records.append(raw.reshape(-1, 3073))
    records = np.concatenate(records)
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # stored channel-major
    return np.ascontiguousarray(images), records[:, 0].astype(np.int32)


def scale(images):
    return images.astype(np.float32) / np.float32(127.5) - np.float32(1)


def accuracy(net, images, labels, batch=500):
    correct = 0
    for start in range(0, len(images), batch):
        logits = net.forward(scale(images[start:start + batch]))
        correct += int((logits.argmax(axis=1) == labels[start:start + batch]).sum())
    return correct / len(images)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="the cifar-10-batches-bin folder")
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", help="write the trained network to this checkpoint")
    args = parser.parse_args()

    train_images, train_labels = load_batches(args.data, ["data_batch_%d.bin" % i for i in range(1, 6)])
    test_images, test_labels = load_batches(args.data, ["test_batch.bin"])
    print("CIFAR-10: %d training and %d test images; mobilenetcpu %s on %d threads" %
          (len(train_images), len(test_images), mnc.version(), mnc.get_threads()))

    net = mnc.Network("seed", classes=10, seed=args.seed, max_batch=max(args.batch_size, 500))
    opt = mnc.Optimizer.adam(net)
    rng = np.random.default_rng(args.seed)
    order, position, losses, start = rng.permutation(len(train_images)), 0, [], time.perf_counter()
    for step in range(1, args.steps + 1):
        if position + args.batch_size > len(order):
            order, position = rng.permutation(len(train_images)), 0
        batch = order[position:position + args.batch_size]
        position += args.batch_size
        loss, _ = net.train_step(scale(train_images[batch]), train_labels[batch], opt, args.lr)
        losses.append(loss)
        if step % 500 == 0 or step == args.steps:
            elapsed = time.perf_counter() - start
            print("step %5d/%d  loss %.4f  %.0f images/s" % (step, args.steps, np.mean(losses), step * args.batch_size / elapsed))
            losses = []
    print("test accuracy %.2f%%" % (100 * accuracy(net, test_images, test_labels)))

    cost = mnc.model_cost("seed")
    print("SeedNet: %.1f M MACs, %.2f M parameters per image; standard baseline %.1f M MACs (%.1fx more)" %
          (cost["macs"] / 1e6, cost["params"] / 1e6, cost["baseline_macs"] / 1e6, 1 / cost["macs_ratio"]))
    if args.save:
        net.save(args.save, opt)
        print("saved to %s" % args.save)


if __name__ == "__main__":
    main()
