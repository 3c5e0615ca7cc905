"""Resolved settings of one artifact, from config.yaml (defaults < config < per-task override).

Rules put exactly what ``task_settings`` / ``transfer_settings`` return into their ``params``,
so editing one task's override reruns that task's network (and what reads it) and nothing else.
The command-line modules accept the same JSON (``--settings``) or resolve it from ``--config``.
Every default comes from the config schema (``taskonomy.config.schema_defaults``): a config
that went through validation already carries them, and one that did not (a test's dict) gets
the same values here. Imports no torch: the Snakefile calls it while building the DAG.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass

from taskonomy.config import schema_defaults

_DEFAULTS = schema_defaults()
SEED_DEFAULT = _DEFAULTS["seed"]
DEVICE_DEFAULT = _DEFAULTS["device"]
# The ``train`` section's settings (``overrides`` holds per-task replacements of these).
TRAIN_DEFAULTS = {k: v for k, v in _DEFAULTS["train"].items() if k != "overrides"}
TRANSFER_DEFAULTS = _DEFAULTS["transfer"]
_MODEL = _DEFAULTS["model"]


def derive_seed(global_seed: int, name: str) -> int:
    """Per-artifact seed: stable across machines and Python runs (no ``hash()``)."""
    h = hashlib.sha256(f"{global_seed}:{name}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


@dataclass
class ModelSettings:
    """The ``model`` section of config.yaml (see the schema for each key and its default)."""
    encoder: str = _MODEL["encoder"]    # registry name: resnet_tiny | resnet_small | resnet50_taskonomy | resnet50_released
    width: int = _MODEL["width"]        # first-stage width of the small encoders
    stride: int = _MODEL["stride"]      # representation stride of the small encoders (8 | 16)
    decoder_width: int = _MODEL["decoder_width"]
    decoder_depth: int = _MODEL["decoder_depth"]  # convs per upsampling stage of dense decoders
    fc_hidden: int = _MODEL["fc_hidden"]  # hidden units of FC / siamese heads
    readout_width: int = _MODEL["readout_width"]  # hidden channels of the 2-conv transfer readout

    @classmethod
    def from_dict(cls, d: dict | None) -> "ModelSettings":
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"config key 'model': unknown setting(s) {sorted(unknown)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


# ``model.released_weights`` names Stage I's inputs (taskonomy.weights), not a network setting
RELEASED_KEY = "released_weights"


def model_settings(cfg: dict) -> dict:
    """The ``model`` section as the networks' settings (without ``released_weights``)."""
    section = {k: v for k, v in (cfg.get("model") or {}).items() if k != RELEASED_KEY}
    return ModelSettings.from_dict(section).to_dict()


def task_settings(cfg: dict, task: str) -> dict:
    """Everything that determines tasks/<task>/model.pt."""
    train = {**TRAIN_DEFAULTS, **{k: v for k, v in cfg.get("train", {}).items() if k != "overrides"}}
    override = (cfg.get("train", {}).get("overrides") or {}).get(task, {})
    unknown = set(override) - set(TRAIN_DEFAULTS)
    if unknown:
        raise ValueError(f"config key 'train.overrides.{task}': unknown setting(s) {sorted(unknown)}")
    train.update(override)
    return {"task": task, "model": model_settings(cfg), "train": train,
            "seed": derive_seed(cfg.get("seed", SEED_DEFAULT), f"task/{task}"),
            "device": cfg.get("device", DEVICE_DEFAULT)}


def transfer_common(cfg: dict) -> dict:
    t = copy.deepcopy({**TRANSFER_DEFAULTS, **cfg.get("transfer", {})})
    return t


def transfer_settings(cfg: dict, target: str, size: str) -> dict:
    """Everything that determines a transfer to ``target`` at data size ``size`` (besides the
    source encoders, which are file inputs). The training subset's seed depends on target and
    size only, so every source of a target trains on the same images."""
    t = transfer_common(cfg)
    if size not in t["sizes"]:
        raise ValueError(f"transfer size {size!r} not in config key 'transfer.sizes' ({sorted(t['sizes'])})")
    return {"target": target, "size": size, "n": t["sizes"][size], "model": model_settings(cfg),
            "train": {k: t[k] for k in ("epochs", "batch_size", "lr", "weight_decay")},
            "train_split": t["train_split"], "eval_split": t["eval_split"],
            "heldout": t["heldout"],
            "subset_seed": derive_seed(cfg.get("seed", SEED_DEFAULT), f"subset/{target}/{size}"),
            "seed": derive_seed(cfg.get("seed", SEED_DEFAULT), f"transfer/{target}/{size}"),
            "device": cfg.get("device", DEVICE_DEFAULT)}


def scratch_settings(ts: dict) -> dict:
    """The scratch baseline: the target's full network, transfer data and schedule."""
    return {"task": ts["target"], "model": ts["model"], "train": {**ts["train"], "limit": ts["n"]},
            "seed": ts["seed"], "device": ts["device"], "split": ts["train_split"],
            "eval_split": ts["eval_split"], "subset_seed": ts["subset_seed"], "size": ts["size"]}


def as_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
