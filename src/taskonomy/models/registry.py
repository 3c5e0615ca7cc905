"""One registry for every network part (timm-style): encoders, decoders, readouts, whole nets.

    >>> from taskonomy.models import create_model, list_models
    >>> enc = create_model("resnet_tiny", width=16, stride=8)

Builders register themselves with ``@register_model("name", kind="encoder")``; tests loop over
``list_models()`` so that every registered part is built and run at least once.
"""
from __future__ import annotations

from typing import Callable

_REGISTRY: dict[str, tuple[str, Callable]] = {}


def register_model(name: str, kind: str):
    """Decorator: register ``fn(**kw) -> nn.Module`` under ``name`` (kind: encoder|decoder|...)."""
    def deco(fn: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = (kind, fn)
        return fn
    return deco


def list_models(kind: str | None = None) -> list[str]:
    return sorted(n for n, (k, _) in _REGISTRY.items() if kind is None or k == kind)


def model_kind(name: str) -> str:
    return _REGISTRY[name][0]


def create_model(name: str, **kw):
    """Build a registered model; an unknown name lists the valid ones."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    return _REGISTRY[name][1](**kw)
