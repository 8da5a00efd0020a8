#!/usr/bin/env python3
"""ONNX Runtime side of `make bench-compare`: inference on the model `mobilenet export` writes for the
same network, batch and thread count, timed as `mobilenet bench` times (medians after warm-up).
Inference only: ONNX Runtime does not train. Not run by CI.

Runs in the venv of `make python` (mobilenetcpu, onnxruntime), which builds the network and its
checkpoint; MOBILENET names the CLI that exports it.

Prints one JSON object on standard output.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort

import mobilenetcpu as mnc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import arguments, median_seconds, result  # noqa: E402  (bench/, the script's own folder)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    p = arguments(__doc__, warmup=3)
    args = p.parse_args()
    cli = os.environ.get("MOBILENET", os.path.join(ROOT, ".build", "release", "mobilenet"))
    net = mnc.Network(args.model, alpha=args.alpha, resolution=args.resolution, stem=args.stem, classes=args.classes,
                      standard=args.standard, seed=1, max_batch=1)
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint, model = os.path.join(scratch, "m.safetensors"), os.path.join(scratch, "m.onnx")
        net.save(checkpoint)
        subprocess.run([cli, "export", "--checkpoint", checkpoint, "--output", model], check=True, capture_output=True)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    side = net.resolution
    x = np.random.default_rng(0).standard_normal((args.batch_size, 3, side, side)).astype(np.float32)
    infer = median_seconds(lambda: session.run(["logits"], {"input": x}), args)
    print(json.dumps(result("onnxruntime " + ort.__version__, "nchw", args, args.threads, None, infer)), flush=True)


if __name__ == "__main__":
    main()
