"""A split with several domains at once, decoded once into memory (``engine.TensorData``).

    data = load_domains(root, "train", ["normal", "principal_curvature"], size=None)
    data.t["rgb"], data.t["y/normal"], data.t["m/normal"], data.t["image"]

Targets are in the loader's training scale (``taskonomy.data.encodings.target``); masks are
the loader's validity masks (missing depth = missing geometry).
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from taskonomy.engine import TensorData
from taskonomy.stagedata import subset_indices
from taskonomy.tasks import TASKS

# What an input domain is called in batches: rgb is the image, the rest are targets.
def key(domain: str) -> str:
    return "rgb" if domain == "rgb" else f"y/{domain}"


def channels(domain: str) -> int:
    return 3 if domain == "rgb" else TASKS[domain].channels


def load_domains(root, split: str, domains, size=None, limit=None, subset_seed=0,
                 num_workers=0) -> TensorData:
    from taskonomy.data.dataset import TaskonomyDataset
    doms = sorted({d for d in domains if d != "rgb"})
    for d in doms:
        if TASKS[d].kind != "pixel":
            raise ValueError(f"consistency domains must be pixel tasks; {d!r} is {TASKS[d].kind}")
    ds = TaskonomyDataset(root, split=split, tasks=doms, size=size)
    idx = subset_indices(len(ds), limit, subset_seed)
    if idx is not None:
        ds = torch.utils.data.Subset(ds, [int(i) for i in idx])
    parts: dict[str, list] = {}
    for b in tqdm(DataLoader(ds, batch_size=32, num_workers=num_workers), desc=f"load {split}",
                  leave=False, mininterval=2.0, disable=None):
        for k in ["rgb", "index"] + [f"{p}/{d}" for d in doms for p in ("y", "m")]:
            parts.setdefault("image" if k == "index" else k, []).append(b[k])
    if not parts:
        raise ValueError(f"{root}: split {split!r} has no views")
    return TensorData({k: torch.cat(v) for k, v in parts.items()})


def mask_of(batch: dict, domain: str):
    """Validity mask for a domain's loss (rgb inputs: all valid)."""
    return batch.get(f"m/{domain}")
