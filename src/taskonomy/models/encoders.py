"""Encoders: a fully convolutional ResNet without pooling that ends in an 8-channel representation.

``resnet50_taskonomy`` is the paper's encoder: ResNet-50 bottlenecks (3, 4, 6, 3), no global
pooling, layer3 and layer4 at stride 1, then a 3x3 conv to 8 channels, so a 256 px input gives
a 16x16x8 representation (output stride 16). Written here from the architecture, no
torchvision and no downloaded weights. ``resnet_tiny`` and ``resnet_small`` are the same
shape family (basic blocks, fewer and narrower stages) for CPU runs: an 8-channel
representation at 1/8 or 1/16 of the input. ``resnet50_released`` is the architecture of the
paper's released PyTorch encoders (BatchNorm, TF-style strides), whose weight files it loads.

GroupNorm instead of BatchNorm (all but ``resnet50_released``): frozen encoders then behave
identically in training and evaluation, batch size 1 works, and results do not depend on batch
composition.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register_model

REP_CHANNELS = 8


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, ch // 4) if ch >= 8 else 1, ch)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        cout = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False), _norm(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), _norm(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, cout, 1, bias=False), _norm(cout))
        self.short = (nn.Identity() if stride == 1 and cin == cout else
                      nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _norm(cout)))

    def forward(self, x):
        return torch.relu(self.body(x) + self.short(x))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 3, stride, 1, bias=False), _norm(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, 1, 1, bias=False), _norm(width))
        self.short = (nn.Identity() if stride == 1 and cin == width else
                      nn.Sequential(nn.Conv2d(cin, width, 1, stride, bias=False), _norm(width)))

    def forward(self, x):
        return torch.relu(self.body(x) + self.short(x))


class ResNetEncoder(nn.Module):
    """Stem (conv stride 2 + maxpool stride 2), residual stages, 3x3 conv to 8 channels."""

    def __init__(self, block, layers, widths, strides, stem: int = 64):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 7, 2, 3, bias=False), _norm(stem),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        stages, cin = [], stem
        for n, w, s in zip(layers, widths, strides):
            blocks = []
            for i in range(n):
                blocks.append(block(cin, w, s if i == 0 else 1))
                cin = w * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.compress = nn.Sequential(nn.Conv2d(cin, REP_CHANNELS, 3, 1, 1, bias=False),
                                      nn.GroupNorm(1, REP_CHANNELS))
        self.out_channels = REP_CHANNELS
        self.stride = 4
        for s in strides:
            self.stride *= s

    def forward(self, x):
        return self.compress(self.stages(self.stem(x)))


@register_model("resnet50_taskonomy", kind="encoder")
def resnet50_taskonomy(**_):
    """The paper's encoder: 256 px -> 16x16x8 (layer1/2 stride 2, layer3/4 stride 1)."""
    return ResNetEncoder(Bottleneck, (3, 4, 6, 3), (64, 128, 256, 512), (2, 2, 1, 1))


@register_model("resnet_small", kind="encoder")
def resnet_small(width: int = 32, stride: int = 16, **_):
    """Basic-block ResNet (2, 2, 2) for CPU runs; representation at 1/stride (8 or 16)."""
    return _tiny(width, stride, (2, 2, 2))


@register_model("resnet_tiny", kind="encoder")
def resnet_tiny(width: int = 16, stride: int = 8, **_):
    """Basic-block ResNet (1, 1, 1) for CPU runs and tests; representation at 1/stride."""
    return _tiny(width, stride, (1, 1, 1))


def _tiny(width: int, stride: int, layers):
    if stride not in (8, 16):
        raise ValueError(f"model.stride must be 8 or 16, got {stride}")
    strides = (1, 2, 1) if stride == 8 else (1, 2, 2)
    return ResNetEncoder(BasicBlock, layers, (width, 2 * width, 4 * width), strides, stem=width)


# ---------------------------------------------------------------------------------------------
# The paper's released encoder, state_dict-compatible with PyPI `visualpriors` (0.3.5,
# TaskonomyEncoder), so its `<task>_encoder-<hash>.pth` files load with strict=True
# (taskonomy.weights). Written from the architecture (../shared/REALDATA.md), not copied.
# Differences from resnet50_taskonomy, each kept because the released weights depend on it:
# BatchNorm; attribute names as the released keys (conv1/bn1, layerK.i.convJ/bnJ,
# layerK.0.downsample.{0,1}, compress1/compress_bn); the input padded by 3 before a padding-0
# stem conv and a ceil-mode max pool; TF-style strides (the stride of layer1/layer2 sits in
# the last block's 3x3 conv, its shortcut a 1x1 max pool with that stride); ReLU after the
# compression and a parameter-free GroupNorm of the 8 channels (the package's representation).

class ReleasedBottleneck(nn.Module):
    """1x1 -> 3x3 (carries the stride) -> 1x1, BatchNorm; ``downsample`` maps the shortcut."""
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        self.downsample = downsample

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


def _released_stage(cin: int, width: int, blocks: int, stride: int) -> nn.Sequential:
    """First block widens (1x1 conv + BN shortcut, stride 1), the last one strides (TF style)."""
    cout = width * ReleasedBottleneck.expansion
    widen = None if cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
    skip = None if stride == 1 else nn.Sequential(nn.MaxPool2d(kernel_size=1, stride=stride))
    return nn.Sequential(ReleasedBottleneck(cin, width, 1, widen),
                         *(ReleasedBottleneck(cout, width) for _ in range(blocks - 2)),
                         ReleasedBottleneck(cout, width, stride, skip))


class ReleasedEncoder(nn.Module):
    """The released TaskonomyEncoder: 256 px in [-1, 1] -> 8 x 16 x 16."""
    STEM_PAD = 3

    def __init__(self, normalize_outputs: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 0, ceil_mode=True)
        cin = 64
        for i, (blocks, width, stride) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), (2, 2, 1, 1)), 1):
            setattr(self, f"layer{i}", _released_stage(cin, width, blocks, stride))
            cin = width * ReleasedBottleneck.expansion
        self.compress1 = nn.Conv2d(cin, REP_CHANNELS, 3, 1, 1, bias=False)
        self.compress_bn = nn.BatchNorm2d(REP_CHANNELS)
        self.groupnorm = (nn.GroupNorm(REP_CHANNELS, REP_CHANNELS, affine=False) if normalize_outputs
                          else nn.Identity())
        self.out_channels = REP_CHANNELS
        self.stride = 16

    def forward(self, x):
        x = F.pad(x, (self.STEM_PAD,) * 4)
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.groupnorm(torch.relu(self.compress_bn(self.compress1(x))))


@register_model("resnet50_released", kind="encoder")
def resnet50_released(normalize_outputs: bool = True, **_):
    """The paper's released encoder (BatchNorm, TF strides): loads `<task>_encoder-*.pth`."""
    return ReleasedEncoder(normalize_outputs)
