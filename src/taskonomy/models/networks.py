"""Whole networks: a task network (encoder + decoder by task kind) and a transfer network
(readout + target decoder on cached representations), built from ``ModelSettings``.

    net = create_model("task_network", task="normal", settings=ModelSettings(), input_hw=(32, 32))
    rep = net.encode(rgb)          # (B, 8, h, w): what Stage II caches
    out = net(rgb)                 # prediction in the task's training scale
"""
from __future__ import annotations

import torch
from torch import nn

from taskonomy.settings import ModelSettings
from taskonomy.tasks import CLASSES, EMBEDDING, LOWDIM, NONE, PIXEL, SIAMESE, TASKS

from .registry import create_model, register_model


DECODER_BY_KIND = {PIXEL: "pixel_decoder", EMBEDDING: "embedding_decoder",
                   CLASSES: "classes_decoder", LOWDIM: "fc_head", SIAMESE: "siamese_head"}


def build_encoder(s: ModelSettings) -> nn.Module:
    return create_model(s.encoder, width=s.width, stride=s.stride)


def build_decoder(task: str, s: ModelSettings, stride: int, rep_hw) -> nn.Module:
    t = TASKS[task]
    if t.kind == NONE:
        raise ValueError(f"task {task!r} has no decoder (it is the random-projection source)")
    return create_model(DECODER_BY_KIND[t.kind], out_channels=t.channels, stride=stride,
                        width=s.decoder_width, depth=s.decoder_depth, rep_hw=tuple(rep_hw),
                        views=t.views, hidden=s.fc_hidden)


class TaskNetwork(nn.Module):
    """Encoder + task decoder. Siamese tasks: input (B, V, 3, H, W), one encoder for all towers."""

    def __init__(self, task: str, encoder: nn.Module, decoder: nn.Module | None):
        super().__init__()
        self.task, self.kind = task, TASKS[task].kind
        self.encoder, self.decoder = encoder, decoder

    def encode(self, x):
        return self.encoder(x)

    def forward(self, x):
        if self.kind == SIAMESE:
            b, v = x.shape[:2]
            rep = self.encoder(x.flatten(0, 1))
            return self.decoder(rep.view(b, v, *rep.shape[1:]))
        return self.decoder(self.encoder(x), x.shape[-2:])


@register_model("task_network", kind="network")
def task_network(task: str, settings: ModelSettings | None = None, input_hw=(32, 32), **_):
    s = settings or ModelSettings()
    enc = build_encoder(s)
    if TASKS[task].kind == NONE:
        return TaskNetwork(task, enc, None)
    with torch.no_grad():
        rep_hw = enc(torch.zeros(1, 3, *input_hw)).shape[-2:]
    return TaskNetwork(task, enc, build_decoder(task, s, enc.stride, rep_hw))


class TransferNetwork(nn.Module):
    """Readout (2 convs over concatenated source reps) + target decoder.

    Input: (B, k*8, h, w), or (B, V, k*8, h, w) for multi-view targets (the readout runs
    per view, the head sees all views).
    """

    def __init__(self, target: str, readout: nn.Module, decoder: nn.Module, out_hw):
        super().__init__()
        self.target, self.kind = target, TASKS[target].kind
        self.readout, self.decoder = readout, decoder
        self.out_hw = tuple(out_hw)

    def forward(self, reps):
        if self.kind == SIAMESE:
            b, v = reps.shape[:2]
            r = self.readout(reps.flatten(0, 1))
            return self.decoder(r.view(b, v, *r.shape[1:]))
        return self.decoder(self.readout(reps), self.out_hw)


@register_model("transfer_network", kind="network")
def transfer_network(target: str, n_sources: int = 1, settings: ModelSettings | None = None,
                     rep_hw=(4, 4), stride: int = 8, out_hw=(32, 32), **_):
    s = settings or ModelSettings()
    ro = create_model("readout", n_sources=n_sources, width=s.readout_width)
    return TransferNetwork(target, ro, build_decoder(target, s, stride, rep_hw), out_hw)
