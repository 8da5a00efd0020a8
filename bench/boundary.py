"""The cost of the Python boundary: a training step called from Python (net.train_step, through
ctypes) against the same step called from Swift (mnc_network_train_steps, the loop inside the
library), on one network and one batch, in alternating rounds; prints the medians and their ratio.

    make bench-boundary     (or: python3 bench/boundary.py [--batch 128] [--rounds 9] [--steps 5])
"""
import argparse
import ctypes
import statistics
import time

import numpy as np

import mobilenetcpu as mnc
from mobilenetcpu import _lib


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="seed", choices=["seed", "mobilenet"])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=5, help="steps per round")
    args = parser.parse_args()

    net = mnc.Network(args.model, seed=1, max_batch=args.batch)
    opt = mnc.Optimizer.sgd(net, momentum=0.9, weight_decay=5e-4)
    rng = np.random.default_rng(3)
    images = rng.uniform(-1, 1, (args.batch, 32, 32, 3)).astype(np.float32)
    labels = (np.arange(args.batch) % 10).astype(np.int32)
    seconds = ctypes.c_double()

    def swift_round():
        mnc._check(_lib.mnc_network_train_steps(net._handle, images.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                                args.batch, 0, labels.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
                                                opt._handle, 1e-3, args.steps, ctypes.byref(seconds)))
        return seconds.value / args.steps

    def python_round():
        start = time.perf_counter()
        for _ in range(args.steps):
            net.train_step(images, labels, opt, 1e-3)
        return (time.perf_counter() - start) / args.steps

    swift_round()
    swift, python = [], []
    for _ in range(args.rounds):
        swift.append(swift_round())
        python.append(python_round())
    ms, mp = 1e3 * statistics.median(swift), 1e3 * statistics.median(python)
    print("%s batch %d, %d threads, medians of %d rounds of %d steps: from Swift %.3f ms/step, from Python %.3f ms/step, "
          "Python / Swift %.4f" % ("SeedNet" if args.model == "seed" else "MobileNet", args.batch, mnc.get_threads(),
                                   args.rounds, args.steps, ms, mp, mp / ms))


if __name__ == "__main__":
    main()
