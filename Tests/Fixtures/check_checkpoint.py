#!/usr/bin/env python3
"""Loads a MobileNetCPU checkpoint into the equivalent PyTorch module with strict=True and compares
the logits on a batch (run by hand; PyTorch is not a dependency of the package):

    check_checkpoint.py CHECKPOINT.safetensors IO.safetensors

IO holds `x` (NCHW float32) and `logits` as computed by MobileNetCPU in evaluation mode. The model is
rebuilt from the checkpoint's `model.*` metadata; `optimizer.*` tensors are skipped.
"""
import json
import struct
import sys

import torch

from pytorch_models import mobilenet, seednet


def read_safetensors(path):
    """A minimal reader: {name: tensor}, metadata."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    dtypes = {"F32": (torch.float32, "f", 4), "I64": (torch.int64, "q", 8)}
    out = {}
    for name, info in header.items():
        dtype, code, size = dtypes[info["dtype"]]
        begin, end = info["data_offsets"]
        values = struct.unpack("<%d%s" % ((end - begin) // size, code), raw[8 + n + begin:8 + n + end])
        out[name] = torch.tensor(values, dtype=dtype).reshape(info["shape"])
    return out, meta


def main():
    state, meta = read_safetensors(sys.argv[1])
    io, _ = read_safetensors(sys.argv[2])
    classes, standard = int(meta["model.classes"]), meta["model.standard"] == "true"
    if meta["model.family"] == "seed":
        model = seednet(classes=classes, standard=standard, resolution=int(meta["model.resolution"]))
    else:
        model = mobilenet(alpha=float(meta["model.width_multiplier"]), classes=classes,
                          stem=meta["model.stem"], standard=standard,
                          output_stride=int(meta.get("model.output_stride", "0")) or None)
    weights = {k: v for k, v in state.items() if k.split(".")[0].isdigit()}
    # The weight average, when the run kept one, is what the library loads as the weights.
    weights.update({k[4:]: v for k, v in state.items() if k.startswith("ema.")})
    result = model.load_state_dict(weights, strict=True)
    model.eval()
    with torch.no_grad():
        logits = model(io["x"])
    error = ((logits - io["logits"]).norm() / io["logits"].norm()).item()
    print("%s: strict load %s, %d tensors, logits relative error %.2e"
          % (sys.argv[1], result, len(weights), error))
    sys.exit(0 if error < 1e-4 else 1)


if __name__ == "__main__":
    main()
