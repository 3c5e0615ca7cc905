"""Whole networks: a task network (encoder + decoder by task kind) and a transfer network
(readout + target decoder on cached representations), built from ``ModelSettings``.

    net = create_model("task_network", task="normal", settings=ModelSettings(), input_hw=(32, 32))
    fit_output_scale(net, "normal", y_train, m_train)   # start at the training average
    rep = net.encode(rgb)          # (B, 8, h, w): what Stage II caches
    out = net(rgb)                 # prediction in the task's training scale

Every network ends in an ``OutputScale``: the decoder predicts a standardised target and the
scale maps it back (``mean + std * raw``, per output channel, statistics of the training
targets, saved with the weights). Targets far from zero with a small spread (depth as
log(1+d)/log(2^16) ~ 0.61 +- 0.08, room size ~ 4 +- 1 m) otherwise cost hundreds of optimiser
steps of a bias crawling towards the mean before the network learns anything, and sparse
targets (curvature: 98% of pixels ~ 0) drown in the decoder's initial noise: such networks
lost to the constant average guess (Table 1). Classification heads start at the log prior
instead (``std`` 1). Semantic segmentation (class-rebalanced loss) and embeddings keep the
identity.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from taskonomy.settings import ModelSettings
from taskonomy.tasks import CLASSES, EMBEDDING, LOWDIM, NONE, PIXEL, SIAMESE, TASKS

from .registry import create_model, register_model


DECODER_BY_KIND = {PIXEL: "pixel_decoder", EMBEDDING: "embedding_decoder",
                   CLASSES: "classes_decoder", LOWDIM: "fc_head", SIAMESE: "siamese_head"}


def build_encoder(s: ModelSettings) -> nn.Module:
    return create_model(s.encoder, width=s.width, stride=s.stride)


def build_decoder(task: str, s: ModelSettings, stride: int, rep_hw, channels: int | None = None) -> nn.Module:
    """``channels``: output width where the dataset sets it (the release's class counts,
    ``stagedata.output_channels``); None: ``TASKS[task].channels``."""
    t = TASKS[task]
    if t.kind == NONE:
        raise ValueError(f"task {task!r} has no decoder (it is the random-projection source)")
    return create_model(DECODER_BY_KIND[t.kind], out_channels=channels or t.channels, stride=stride,
                        width=s.decoder_width, depth=s.decoder_depth, rep_hw=tuple(rep_hw),
                        views=t.views, hidden=s.fc_hidden)


class OutputScale(nn.Module):
    """``mean + std * x`` per output channel (dim 1), statistics as buffers (saved, not trained).

    Pixel regression targets also get ``prior``, the training targets' per-pixel mean image
    (C, H, W; resized to the output if that differs): ``prior + std * x``. A network then
    starts at the average guess of Table 1 (the mean image, e.g. floor normals at the bottom)
    instead of at one constant per channel, which a readout trained for a few steps on 64
    images never got past (bench/fidelity.md)."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))
        self.register_buffer("prior", torch.zeros(0))

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        out = x * self.std.view(shape).to(x.dtype)
        if self.prior.numel():
            prior = self.prior.to(x.dtype)
            if tuple(prior.shape[-2:]) != tuple(x.shape[-2:]):
                prior = F.interpolate(prior[None], size=tuple(x.shape[-2:]), mode="bilinear",
                                      align_corners=False)[0]
            return out + prior
        return out + self.mean.view(shape).to(x.dtype)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before the scale (or its prior) existed load as before
        state_dict.setdefault(prefix + "mean", torch.zeros_like(self.mean))
        state_dict.setdefault(prefix + "std", torch.ones_like(self.std))
        prior = state_dict.setdefault(prefix + "prior", torch.zeros(0))
        if prior.shape != self.prior.shape:
            self.prior = torch.zeros_like(prior)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


MIN_STD = 1e-3     # a constant target channel is predicted as its mean, not divided by 0


@torch.no_grad()
def output_statistics(task: str, y: torch.Tensor, m: torch.Tensor | None = None,
                      channels: int | None = None):
    """(mean, std) per output channel of ``task`` from training targets ``y`` (mask ``m``), or
    None where the output keeps the identity (embeddings, rebalanced segmentation).
    ``channels``: the output width where the dataset sets it (else ``TASKS[task].channels``)."""
    t = TASKS[task]
    k = channels or t.channels
    if t.kind in (EMBEDDING, CLASSES, NONE):
        return None
    if t.loss in ("ce", "kl"):                       # logits: start at the log prior
        if y.dtype.is_floating_point and y.dim() == 2:
            counts = y.double().sum(0)
        else:
            counts = torch.bincount(y.long().view(-1), minlength=k).double()
        return log_prior(counts, k)
    y = y.double()
    if y.dim() == 2:                                  # vectors (low-dim, siamese)
        return y.mean(0).float(), y.std(0).clamp(min=MIN_STD).float()
    w = torch.ones_like(y[:, :1]) if m is None else m.double()
    n = (w.sum() * 1.0).clamp(min=1.0)
    mean = (y * w).sum((0, 2, 3)) / n
    var = (((y - mean.view(1, -1, 1, 1)) ** 2) * w).sum((0, 2, 3)) / n
    return mean.float(), var.sqrt().clamp(min=MIN_STD).float()


def log_prior(counts: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of a classification head that starts at the log prior of class ``counts``
    (add-one smoothed, centred; std 1)."""
    logp = torch.log((counts + 1.0) / (counts.sum() + k))
    return (logp - logp.mean()).float(), torch.ones(k)


@torch.no_grad()
def mean_image(y: torch.Tensor, m: torch.Tensor | None = None) -> torch.Tensor:
    """Per-pixel mean (C, H, W) of targets ``y`` (B, C, H, W) over valid pixels (mask ``m``);
    pixels never valid take the channel's mean over valid pixels. Table 1's average guess of a
    pixel task (``taskonomy.baselines``) and the output prior of its networks."""
    w = torch.ones_like(y[:, :1]) if m is None else m.to(y)
    num, den = (y * w).sum(0), w.sum(0)
    glob = (y * w).sum((0, 2, 3)) / w.sum().clamp(min=1)
    return torch.where(den > 0, num / den.clamp(min=1e-8), glob[:, None, None].expand_as(num))


def fit_output_scale(net: nn.Module, task: str, y: torch.Tensor, m: torch.Tensor | None = None) -> None:
    """Set ``net.scale`` from the training targets (see the module docstring); pixel regression
    targets also get the per-pixel prior, and the decoder's last layer starts at zero, so the
    untrained network predicts exactly the mean image."""
    stats = output_statistics(task, y, m, channels=net.scale.mean.numel())
    if stats is not None:
        t = TASKS[task]
        pixels = t.kind == PIXEL and t.loss not in ("ce", "kl") and y.dim() == 4
        _set_output_scale(net, *stats, mean_image(y.float(), m).float() if pixels else None)


def _set_output_scale(net: nn.Module, mean, std, prior=None) -> None:
    """Write the statistics into ``net.scale``; with a per-pixel ``prior`` the decoder's last
    layer also starts at zero (the untrained network predicts the prior)."""
    net.scale.mean.copy_(mean)
    net.scale.std.copy_(std)
    if prior is not None:
        net.scale.prior = prior
        last = getattr(net.decoder, "out", None)
        if isinstance(last, nn.Conv2d):
            nn.init.zeros_(last.weight)
            if last.bias is not None:
                nn.init.zeros_(last.bias)


@torch.no_grad()
def fit_output_scale_from_moments(net: nn.Module, task: str, tm) -> None:
    """:func:`fit_output_scale` from statistics accumulated over a streamed split
    (``stagedata.TargetMoments``) instead of the split's targets in memory."""
    t = TASKS[task]
    if t.kind in (EMBEDDING, CLASSES, NONE):
        return
    if t.loss in ("ce", "kl"):
        _set_output_scale(net, *log_prior(tm.counts, net.scale.mean.numel()))
        return
    mean, std = tm.mean_std(unbiased=tm.num is None)
    _set_output_scale(net, mean.float(), std.clamp(min=MIN_STD).float(),
                      tm.mean_image() if t.kind == PIXEL and tm.num is not None else None)


class TaskNetwork(nn.Module):
    """Encoder + task decoder. Siamese tasks: input (B, V, 3, H, W), one encoder for all towers."""

    def __init__(self, task: str, encoder: nn.Module, decoder: nn.Module | None,
                 channels: int | None = None):
        super().__init__()
        self.task, self.kind = task, TASKS[task].kind
        self.encoder, self.decoder = encoder, decoder
        if decoder is not None:
            self.scale = OutputScale(channels or TASKS[task].channels)

    def encode(self, x):
        return self.encoder(x)

    def forward(self, x):
        if self.kind == SIAMESE:
            b, v = x.shape[:2]
            rep = self.encoder(x.flatten(0, 1))
            return self.scale(self.decoder(rep.view(b, v, *rep.shape[1:])))
        return self.scale(self.decoder(self.encoder(x), x.shape[-2:]))


@register_model("task_network", kind="network")
def task_network(task: str, settings: ModelSettings | None = None, input_hw=(32, 32),
                 channels: int | None = None, **_):
    s = settings or ModelSettings()
    enc = build_encoder(s)
    if TASKS[task].kind == NONE:
        return TaskNetwork(task, enc, None)
    with torch.no_grad():
        rep_hw = enc(torch.zeros(1, 3, *input_hw)).shape[-2:]
    return TaskNetwork(task, enc, build_decoder(task, s, enc.stride, rep_hw, channels), channels)


class TransferNetwork(nn.Module):
    """Readout (2 convs over concatenated source reps) + target decoder.

    Input: (B, k*8, h, w), or (B, V, k*8, h, w) for multi-view targets (the readout runs
    per view, the head sees all views).
    """

    def __init__(self, target: str, readout: nn.Module, decoder: nn.Module, out_hw,
                 channels: int | None = None):
        super().__init__()
        self.target, self.kind = target, TASKS[target].kind
        self.readout, self.decoder = readout, decoder
        self.scale = OutputScale(channels or TASKS[target].channels)
        self.out_hw = tuple(out_hw)

    def forward(self, reps):
        if self.kind == SIAMESE:
            b, v = reps.shape[:2]
            r = self.readout(reps.flatten(0, 1))
            return self.scale(self.decoder(r.view(b, v, *r.shape[1:])))
        return self.scale(self.decoder(self.readout(reps), self.out_hw))


@register_model("transfer_network", kind="network")
def transfer_network(target: str, n_sources: int = 1, settings: ModelSettings | None = None,
                     rep_hw=(4, 4), stride: int = 8, out_hw=(32, 32), channels: int | None = None, **_):
    s = settings or ModelSettings()
    ro = create_model("readout", n_sources=n_sources, width=s.readout_width)
    return TransferNetwork(target, ro, build_decoder(target, s, stride, rep_hw, channels), out_hw,
                           channels)
