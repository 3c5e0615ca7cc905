"""Training engine shared by Stage I (task networks), the scratch baseline and Stage II
(transfers): device choice, seeding, in-memory batches, per-epoch checkpoints with resume,
JSON-line metrics, per-image evaluation.

- ``device: auto`` picks CUDA when present and trains there in bfloat16 autocast; on CPU runs
  are deterministic for a seed (one generator per epoch for the shuffle, so a resumed run sees
  exactly the batches an uninterrupted one would).
- Every epoch the model, optimiser and epoch number go to ``checkpoint.pt`` (plain tensors and
  dicts: loads with ``torch.load(weights_only=True)``); a rerun with the same config resumes
  after the last finished epoch, a rerun with another config starts over.
- All files are written atomically (``taskonomy.io``).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from taskonomy.io import atomic_path, write_text
from taskonomy.settings import derive_seed  # noqa: F401  (re-exported)


# ---------------------------------------------------------------- devices, seeds, threads
def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config key 'device' is 'cuda' but torch sees no CUDA device")
    return torch.device(name)


def setup_torch(threads: int | None, seed: int) -> None:
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    set_deterministic()


def set_deterministic() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` without its import of
    ``torch._inductor`` (to set the compiler's flag as well): ~1.4 s of every job's start-up
    (bench/pipeline.md), for a compiler no job uses. The flag the kernels read is the same; if
    torch moves it, the public call is used."""
    if "torch._inductor.config" not in sys.modules and hasattr(torch._C, "_set_deterministic_algorithms"):
        torch._C._set_deterministic_algorithms(True, warn_only=True)
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)


def start_job(settings: dict, out: Path, threads: int | None) -> torch.device:
    """Common start of a training job: threads and seeds, the device, the output folder."""
    setup_torch(threads, settings["seed"])
    device = resolve_device(settings.get("device", "auto"))
    out.mkdir(parents=True, exist_ok=True)
    return device


def config_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- in-memory data
class TensorData:
    """Equal-length tensors by name (inputs, targets, masks, image indices) sliced into batches."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        lens = {k: len(v) for k, v in tensors.items()}
        if len(set(lens.values())) != 1:
            raise ValueError(f"tensors of different lengths: {lens}")
        self.t = tensors
        self.n = next(iter(lens.values()))

    def __len__(self):
        return self.n

    def subset(self, idx) -> "TensorData":
        idx = torch.as_tensor(idx, dtype=torch.long)
        return TensorData({k: v[idx] for k, v in self.t.items()})

    def batches(self, batch_size: int, generator: torch.Generator | None = None):
        for sel in batch_plan(self.n, batch_size, generator):
            yield {k: v[sel] for k, v in self.t.items()}


def batch_plan(n: int, batch_size: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Sample positions of each batch: a permutation drawn from ``generator`` (in order without
    one), cut into batches. Every data source (in memory, streamed, memory-mapped) batches by it,
    so the same generator gives the same batches whatever holds the data."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def to_device(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


# ---------------------------------------------------------------- training
@dataclass
class OptimSettings:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0


def lr_at(epoch: int, s: OptimSettings) -> float:
    """Cosine annealing over epochs, computed from the epoch so resume needs no scheduler state."""
    return s.lr * 0.5 * (1 + math.cos(math.pi * epoch / max(1, s.epochs)))


def _save_ckpt(path: Path, obj: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def fit(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, dict], torch.Tensor],
        data: TensorData, s: OptimSettings, *, seed: int, device: torch.device, workdir: Path,
        config: dict, desc: str = "train", params=None) -> list[dict]:
    """Train ``model`` for ``s.epochs`` epochs; ``loss_fn(model, batch)`` returns per-image
    losses. Checkpoints to ``workdir/checkpoint.pt`` and appends to ``workdir/train.jsonl``
    every epoch; resumes from them. Returns the per-epoch records."""
    workdir = Path(workdir)
    ckpt_path, log_path = workdir / "checkpoint.pt", workdir / "train.jsonl"
    model.to(device)
    params = list(params if params is not None else model.parameters())
    opt = torch.optim.Adam(params, lr=s.lr, weight_decay=s.weight_decay)
    chash = config_hash(config)
    start, records = 0, []
    if ckpt_path.exists():
        ck = load_checkpoint(ckpt_path)
        if ck.get("config_hash") == chash:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            start, records = int(ck["epoch"]) + 1, list(json.loads(ck["records"]))
            print(f"resuming {desc} after epoch {start - 1} from {ckpt_path}", flush=True)
        else:
            print(f"ignoring {ckpt_path}: written under another config", flush=True)
    use_amp = device.type == "cuda"
    for epoch in range(start, s.epochs):
        for g in opt.param_groups:
            g["lr"] = lr_at(epoch, s)
        gen = torch.Generator().manual_seed(seed * 1009 + epoch)
        model.train()
        t0, total, count = time.perf_counter(), 0.0, 0
        n_batches = math.ceil(len(data) / s.batch_size)
        bar = tqdm(data.batches(s.batch_size, gen), total=n_batches, desc=f"{desc} {epoch + 1}/{s.epochs}",
                   leave=False, mininterval=2.0, disable=None)
        for batch in bar:
            batch = to_device(batch, device)
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
                per_image = loss_fn(model, batch)
            loss = per_image.float().mean()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{desc}: non-finite loss at epoch {epoch}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(per_image)
            count += len(per_image)
        dt = time.perf_counter() - t0
        rec = {"epoch": epoch, "loss": total / max(1, count), "lr": lr_at(epoch, s),
               "seconds": round(dt, 3), "images_per_s": round(count / max(dt, 1e-9), 1)}
        records.append(rec)
        print(json.dumps(rec), flush=True)
        write_text(log_path, "".join(json.dumps(r) + "\n" for r in records))
        _save_ckpt(ckpt_path, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                               "epoch": epoch, "config_hash": chash, "config": json.dumps(config),
                               "records": json.dumps(records)})
    return records


@torch.no_grad()
def predict_per_image(model, data: TensorData, per_image_fn: Callable, device, batch_size: int = 64):
    """Run ``per_image_fn(model, batch) -> {name: (B,) tensor}`` over ``data`` in order."""
    model.to(device).eval()
    out: dict[str, list] = {}
    for batch in data.batches(batch_size):
        batch = to_device(batch, device)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            res = per_image_fn(model, batch)
        for k, v in res.items():
            out.setdefault(k, []).append(v.detach().float().cpu())
    return {k: torch.cat(v) for k, v in out.items()}


def write_losses(path, image: torch.Tensor, columns: dict[str, torch.Tensor]) -> "pd.DataFrame":
    """``losses.parquet``: image (int64), loss (float64), further metric columns (float64)."""
    import pandas as pd
    df = pd.DataFrame({"image": image.numpy().astype(np.int64)})
    for k, v in columns.items():
        df[k] = v.numpy().astype(np.float64)
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return df


def save_model(path, state_dict: dict, meta: dict) -> None:
    """Final weights + resolved config, loadable with ``torch.load(weights_only=True)``."""
    _save_ckpt(Path(path), {"state_dict": state_dict, "config": json.dumps(meta.get("config", {})),
                            **{k: v for k, v in meta.items() if k != "config"}})


def cleanup_checkpoint(workdir) -> None:
    p = Path(workdir) / "checkpoint.pt"
    if p.exists():
        os.remove(p)


def write_json_atomic(path, obj) -> None:
    from taskonomy.io import write_json
    write_json(path, obj)
