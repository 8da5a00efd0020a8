#!/usr/bin/env python3
"""Writes CIFAR-style batch pickles with real Python 3 and numpy, for the CIFAR reader's tests:

    python3 Tests/Fixtures/make_pickles.py      # needs numpy

Three tiny batches (4 images each) in the forms Python 3 produces: protocol 2 (bytes through
_codecs.encode), protocol 4, and protocol 5 (numpy's _frombuffer). Images are i*7+j mod 256 so the
tests can check every byte; labels are [3, 1, 4, 1].
"""
import os
import pickle

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    data = (np.arange(4 * 3072, dtype=np.int64) * 7 % 256).astype(np.uint8).reshape(4, 3072)
    batch = {"data": data, "labels": [3, 1, 4, 1], "batch_label": "real python batch",
             "filenames": ["a.png", "b.png", "c.png", "d.png"]}
    for protocol in (2, 4, 5):
        with open(os.path.join(HERE, "python3_protocol%d.pickle" % protocol), "wb") as f:
            pickle.dump(batch, f, protocol=protocol)


if __name__ == "__main__":
    main()
