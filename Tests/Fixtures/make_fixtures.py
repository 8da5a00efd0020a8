#!/usr/bin/env python3
"""Writes the cross-framework fixtures that the Swift tests compare against.

Run by hand, once, with PyTorch installed (it is never a dependency of the package):

    python3 -m venv ~/.cache/torch-venv && ~/.cache/torch-venv/bin/pip install torch numpy
    ~/.cache/torch-venv/bin/python Tests/Fixtures/make_fixtures.py

Each case is one safetensors file holding inputs, parameters, outputs and gradients in PyTorch's
layouts (NCHW activations, OIHW conv weights, [out, in] linear weights). The upstream gradient of each
single-layer case is a fixed random tensor `dy`; the loss is sum(y * dy). Inputs and parameters are
drawn in float32; everything is then computed in float64 and stored as F32, so the references are
exact to float32 rounding (PyTorch's own float32 results differ from them by up to 1e-3 on
ill-conditioned gradients). Files are written with a small hand-rolled safetensors encoder so that
only torch is needed.
"""
import json
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

from pytorch_models import mobilenet, seednet

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(20261129)
torch.set_num_threads(1)


def save(name, tensors):
    """Writes {name: tensor} as safetensors (F32, or I64 for integer tensors), keys sorted."""
    header, blobs, offset = {}, [], 0
    for key in sorted(tensors):
        t = tensors[key].detach().contiguous()
        if t.dtype in (torch.int64, torch.int32):
            t, dtype, fmt = t.to(torch.int64), "I64", "<%dq"
        else:
            t, dtype, fmt = t.to(torch.float32), "F32", "<%df"
        values = t.flatten().tolist()
        blob = struct.pack(fmt % len(values), *values)
        header[key] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, sort_keys=True).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(os.path.join(HERE, name + ".safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def layer_case(name, module, x):
    """Forward, then backward of sum(y * dy): stores x, y, dy, dx and every parameter and its gradient."""
    module = module.double()
    x = x.double().requires_grad_(True)
    y = module(x)
    dy = torch.randn_like(y.float()).double()
    y.backward(dy)
    out = {"x": x, "y": y, "dy": dy, "dx": x.grad}
    for pname, p in module.named_parameters():
        out[pname] = p
        out["d" + pname] = p.grad
    for bname, b in module.named_buffers():
        out[bname] = b
    save(name, out)


def main():
    conv = nn.Conv2d(5, 7, 3, stride=1, padding=1, bias=True)
    layer_case("conv3x3_s1", conv, torch.randn(2, 5, 7, 6))
    conv = nn.Conv2d(3, 10, 3, stride=2, padding=1, bias=True)
    layer_case("conv3x3_s2", conv, torch.randn(3, 3, 9, 8))
    dw = nn.Conv2d(17, 17, 3, stride=1, padding=1, groups=17, bias=True)
    layer_case("depthwise_s1", dw, torch.randn(2, 17, 6, 5))
    dw = nn.Conv2d(12, 12, 3, stride=2, padding=1, groups=12, bias=False)
    layer_case("depthwise_s2", dw, torch.randn(2, 12, 9, 7))
    pw = nn.Conv2d(19, 11, 1, bias=True)
    layer_case("pointwise", pw, torch.randn(2, 19, 5, 4))
    bn = nn.BatchNorm2d(6)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    bn.train()
    layer_case("batchnorm_train", bn, torch.randn(4, 6, 5, 3) * 2 + 0.5)

    # Cross-entropy with label smoothing, PyTorch's definition.
    logits = (torch.randn(5, 7) * 3).double().requires_grad_(True)
    labels = torch.tensor([0, 6, 2, 2, 4])
    loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
    loss.backward()
    save("cross_entropy_smoothing", {"logits": logits, "labels": labels, "loss": loss.reshape(1), "dlogits": logits.grad})

    # A two-block separable stack with a loss: conv-BN-ReLU, then (dw-BN-ReLU, pw-BN-ReLU) twice,
    # global average pool, linear, cross-entropy. Names are nn.Sequential's.
    stack = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=1, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 24, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10),
    )
    stack = stack.double().train()
    x = torch.randn(4, 3, 8, 8).double().requires_grad_(True)
    labels = torch.tensor([3, 0, 9, 5])
    initial = {"param." + k: v.clone() for k, v in stack.state_dict().items()}
    logits = stack(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    out = dict(initial)
    out.update({"x": x, "labels": labels, "logits": logits, "loss": loss.reshape(1), "dx": x.grad})
    for k, p in stack.named_parameters():
        out["grad." + k] = p.grad
    for k, b in stack.named_buffers():
        out["after." + k] = b
    save("separable_stack", out)


def optimizer_cases():
    """Four steps of each optimizer on two parameters with fixed gradients (single-tensor code paths,
    float64): p0 [3, 4] and p1 [5], gradients grad{t}.p{i}, parameters after step t after{t}.p{i}."""
    torch.manual_seed(7)
    initial = [torch.randn(3, 4).double(), torch.randn(5).double()]
    grads = [[torch.randn(3, 4).double(), torch.randn(5).double()] for _ in range(4)]
    makers = {
        "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4, foreach=False),
        "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True, weight_decay=1e-3, foreach=False),
        "sgd_plain": lambda ps: torch.optim.SGD(ps, lr=0.1, foreach=False),
        "adam": lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=1e-2, foreach=False),
        "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1, foreach=False),
    }
    for name, make in makers.items():
        params = [p.clone().requires_grad_(True) for p in initial]
        opt = make(params)
        out = {"initial.p0": initial[0], "initial.p1": initial[1]}
        for t, (g0, g1) in enumerate(grads):
            params[0].grad, params[1].grad = g0.clone(), g1.clone()
            opt.step()
            out.update({f"grad{t}.p0": g0, f"grad{t}.p1": g1,
                        f"after{t}.p0": params[0].detach().clone(), f"after{t}.p1": params[1].detach().clone()})
        save("optimizer_" + name, out)


def model_cases():
    """Each model in eval mode with random weights and BN statistics: `model_<name>_state` is exactly its
    state_dict (what a MobileNetCPU checkpoint must match, name for name), `model_<name>_io` an input
    batch and the logits (float64, stored as F32)."""
    torch.manual_seed(11)
    models = {
        "seed": seednet(),
        "seed_standard": seednet(standard=True),
        "mobilenet_0.125_cifar": mobilenet(alpha=0.125, classes=10, stem="cifar"),
    }
    for name, model in models.items():
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.2, 0.2)
                    module.running_mean.uniform_(-0.3, 0.3)
                    module.running_var.uniform_(0.5, 2.0)
                    module.num_batches_tracked.fill_(17)
        model = model.double().eval()
        x = torch.randn(3, 3, 32, 32).double()
        save("model_%s_state" % name, model.state_dict())
        save("model_%s_io" % name, {"x": x, "logits": model(x)})


if __name__ == "__main__":
    main()
    optimizer_cases()
    model_cases()
