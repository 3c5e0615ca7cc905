"""Decoders by task kind, the transfer readout, and the networks they make up.

- dense decoders (pixel regression, per-pixel embedding, per-pixel classes): upsample the
  8-channel representation back to the input size (the paper's 15-layer fully convolutional
  decoder at ``depth=2`` per stage with ResNet-50's stride 16);
- FC heads (low-dim tasks) over the flattened representation; siamese heads over the
  channel-stacked representations of all views (the towers share one encoder);
- the transfer readout: 2 conv layers from the channel-concatenated source representations
  to an 8-channel representation, followed by a freshly initialised target decoder.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .encoders import REP_CHANNELS, _norm
from .registry import register_model


def _conv(cin, cout):
    return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), _norm(cout), nn.ReLU(inplace=True)]


class DenseDecoder(nn.Module):
    """rep (B, 8, h, w) -> (B, out, H, W): log2(stride) x (upsample x2, ``depth`` convs)."""

    def __init__(self, out_channels: int, stride: int, width: int = 32, depth: int = 1,
                 normalize: bool = False):
        super().__init__()
        n_up = int(round(math.log2(stride)))
        layers = _conv(REP_CHANNELS, width)
        self.ups = nn.ModuleList()
        w = width
        for i in range(n_up):
            w_next = max(width // 2 ** (i + 1), 8) if i >= n_up - 2 else width
            stage = _conv(w, w_next)
            for _ in range(depth - 1):
                stage += _conv(w_next, w_next)
            self.ups.append(nn.Sequential(*stage))
            w = w_next
        self.inp = nn.Sequential(*layers)
        self.out = nn.Conv2d(w, out_channels, 3, 1, 1)
        self.normalize = normalize

    def forward(self, rep, out_hw):
        x = self.inp(rep)
        for up in self.ups:
            x = up(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
        if tuple(x.shape[-2:]) != tuple(out_hw):
            x = F.interpolate(x, size=tuple(out_hw), mode="bilinear", align_corners=False)
        x = self.out(x)
        # unit-length embeddings keep the metric loss's margin meaningful
        return F.normalize(x, dim=1) if self.normalize else x


class FCHead(nn.Module):
    """rep (B, [V,] 8, h, w) -> (B, out): flatten (all views stacked), 2 hidden FC layers."""

    def __init__(self, out_channels: int, in_features: int, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, out_channels))

    def forward(self, rep, out_hw=None):
        return self.net(rep)


@register_model("pixel_decoder", kind="decoder")
def pixel_decoder(out_channels: int, stride: int = 8, width: int = 32, depth: int = 1, **_):
    return DenseDecoder(out_channels, stride, width, depth)


@register_model("embedding_decoder", kind="decoder")
def embedding_decoder(out_channels: int, stride: int = 8, width: int = 32, depth: int = 1, **_):
    return DenseDecoder(out_channels, stride, width, depth, normalize=True)


@register_model("classes_decoder", kind="decoder")
def classes_decoder(out_channels: int, stride: int = 8, width: int = 32, depth: int = 1, **_):
    return DenseDecoder(out_channels, stride, width, depth)


@register_model("fc_head", kind="decoder")
def fc_head(out_channels: int, rep_hw=(4, 4), views: int = 1, hidden: int = 128, **_):
    return FCHead(out_channels, views * REP_CHANNELS * rep_hw[0] * rep_hw[1], hidden)


@register_model("siamese_head", kind="decoder")
def siamese_head(out_channels: int, rep_hw=(4, 4), views: int = 2, hidden: int = 128, **_):
    """FC head over the stacked representations of ``views`` towers of one shared encoder."""
    return FCHead(out_channels, views * REP_CHANNELS * rep_hw[0] * rep_hw[1], hidden)


class Readout(nn.Module):
    """2 conv layers: k source representations (channel-concatenated) -> one 8-channel rep."""

    def __init__(self, n_sources: int, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(n_sources * REP_CHANNELS, width, 3, 1, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(width, REP_CHANNELS, 3, 1, 1))

    def forward(self, reps):
        return self.net(reps)


@register_model("readout", kind="readout")
def readout(n_sources: int = 1, width: int = 32, **_):
    return Readout(n_sources, width)


# Data-free sanity check used by the tests: every decoder accepts a representation.
def _example_rep(batch=2, views=1, hw=(4, 4)):
    shape = (batch, REP_CHANNELS, *hw) if views == 1 else (batch, views, REP_CHANNELS, *hw)
    return torch.randn(*shape)
