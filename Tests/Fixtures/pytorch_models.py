"""The PyTorch modules equivalent to MobileNetCPU's models, layer for layer.

Each is a flat nn.Sequential whose indices are the names in MobileNetCPU's checkpoints, so a
checkpoint loads with `model.load_state_dict(state, strict=True)`:

    from safetensors.torch import load_file          # or the tiny reader in check_checkpoint.py
    model = mobilenet(alpha=0.5, classes=10, stem="cifar")
    model.load_state_dict({k: v for k, v in load_file("run.safetensors").items()
                           if k.split(".")[0].isdigit()}, strict=True)   # ema.* : the weight average
"""
import torch.nn as nn

MOBILENET_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


def seednet(classes=10, standard=False, resolution=32):
    """The seed's TensorFlow network; `standard` replaces each separable block by a 3x3 conv."""
    layers, c = [nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)], 32
    side = resolution // 2
    for stage in range(2):
        for _ in range(2):
            if standard:
                layers += [nn.Conv2d(c, 32, 3, padding=1), nn.ReLU()]
            else:
                layers += [nn.Conv2d(c, c, 3, padding=1, groups=c), nn.ReLU(), nn.Conv2d(c, 32, 1), nn.ReLU()]
        layers.append(nn.MaxPool2d(2))
        side //= 2
    layers += [nn.Flatten(), nn.Linear(32 * side * side, classes)]
    return nn.Sequential(*layers)


def block_strides(stem="imagenet", output_stride=None):
    """Table 1's strides, the last blocks still at stride 2 run at stride 1 until the input side
    over the last maps' side is `output_stride` (None: the stem's, 32 or 16 with the CIFAR stem)."""
    strides = [stride for _, stride in MOBILENET_BLOCKS]
    natural = (2 if stem == "imagenet" else 1) * 2 ** strides.count(2)
    excess = natural // (output_stride or natural)
    for i in reversed(range(len(strides))):
        if excess > 1 and strides[i] == 2:
            strides[i], excess = 1, excess // 2
    return strides


def mobilenet(alpha=1.0, classes=1000, stem="imagenet", standard=False, output_stride=None):
    """MobileNet v1 (Table 1), BN + ReLU after every conv; `standard` is the paper's Conv MobileNet."""
    def scaled(ch):
        return max(8, int(ch * alpha))
    c = scaled(32)
    layers = [nn.Conv2d(3, c, 3, stride=2 if stem == "imagenet" else 1, padding=1, bias=False),
              nn.BatchNorm2d(c), nn.ReLU()]
    for (out, _), stride in zip(MOBILENET_BLOCKS, block_strides(stem, output_stride)):
        o = scaled(out)
        if standard:
            layers += [nn.Conv2d(c, o, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
        else:
            layers += [nn.Conv2d(c, c, 3, stride=stride, padding=1, groups=c, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                       nn.Conv2d(c, o, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
        c = o
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)]
    return nn.Sequential(*layers)
