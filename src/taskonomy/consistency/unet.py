"""The UNet used for every consistency network (RGB -> target, Y -> Z), as in the paper:
convolutional down blocks, bilinear upsampling (no deconvolutions), skip connections.

    net = create_model("unet", in_channels=3, out_channels=3, width=16, downsample=3)
    net, meta = load_unet("results/default/consistency/normal/baseline/model.pt")

Any input size works: each up block resizes to its skip's size, so odd sizes need no padding.
GroupNorm rather than BatchNorm: batches are small on CPU and statistics must not depend on them.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from taskonomy.models import create_model, list_models, register_model


def _block(cin: int, cout: int) -> nn.Sequential:
    def gn(c):
        return nn.GroupNorm(min(8, c // 4) or 1, c)
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), gn(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, 1, 1, bias=False), gn(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, width: int = 16, downsample: int = 3):
        super().__init__()
        if downsample < 1:
            raise ValueError("UNet needs downsample >= 1")
        ch = [width * 2 ** min(i, 3) for i in range(downsample + 1)]
        self.inc = _block(in_channels, ch[0])
        self.downs = nn.ModuleList(_block(ch[i], ch[i + 1]) for i in range(downsample))
        self.ups = nn.ModuleList(_block(ch[i + 1] + ch[i], ch[i]) for i in reversed(range(downsample)))
        self.out = nn.Conv2d(ch[0], out_channels, 1)

    def forward(self, x):
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(F.max_pool2d(skips[-1], 2, ceil_mode=True)))
        h = skips.pop()
        for up in self.ups:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = up(torch.cat([h, skip], dim=1))
        return self.out(h)


if "unet" not in list_models():
    @register_model("unet", kind="network")
    def unet(in_channels: int = 3, out_channels: int = 3, width: int = 16, downsample: int = 3, **_):
        return UNet(in_channels, out_channels, width, downsample)


def load_unet(path) -> tuple[UNet, dict]:
    """A UNet checkpoint of this package (``engine.save_model`` format), in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model not found: {path}")
    ck = torch.load(path, map_location="cpu", weights_only=True)
    arch = ck.get("arch")
    if not isinstance(arch, dict) or arch.get("name") != "unet":
        raise ValueError(f"{path} is not a consistency UNet checkpoint (no 'arch' entry)")
    net = create_model("unet", **{k: v for k, v in arch.items() if k != "name"})
    net.load_state_dict(ck["state_dict"])
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    meta = {k: v for k, v in ck.items() if k != "state_dict"}
    meta["config"] = json.loads(meta.get("config") or "{}")
    return net, meta
