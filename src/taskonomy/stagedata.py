"""Load a split of the dataset into memory for Stages I and II (``engine.TensorData``).

Single-view tasks read ``TaskonomyDataset`` (input ``x/<task>`` where the task has its own
input, else ``rgb``); 2-/3-view tasks and jigsaw read ``TupleDataset``. The synthetic sets are
small, so a split is decoded once and then batched from memory every epoch.

    data = load_task_split(root, "train", "normal", seed=0)     # x, y, m, image
    tg = load_targets(root, "test", "fixated_pose")              # y, image, views (N, V)
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from taskonomy.engine import TensorData, batch_plan
from taskonomy.tasks import CLASSES, SIAMESE, TASKS

#: tasks whose frozen encoder is fed its own input type when caching representations
#: (colorization's encoder has only ever seen grayscale); all others see the clean RGB.
OWN_INPUT_FOR_REPS = {"gray"}


def _concat(batches, desc) -> dict[str, torch.Tensor]:
    """Batches (dicts of tensors with the same keys) joined into one dict of tensors."""
    parts: dict[str, list] = {}
    for batch in batches:
        for k, v in batch.items():
            parts.setdefault(k, []).append(v)
    if not parts:
        raise ValueError(f"{desc}: the split has no samples")
    return {k: torch.cat(v) for k, v in parts.items()}


def _collect(ds, keys_fn, desc, num_workers=0, limit_idx=None):
    if limit_idx is not None:
        ds = torch.utils.data.Subset(ds, [int(i) for i in limit_idx])
    dl = DataLoader(ds, batch_size=32, shuffle=False, num_workers=num_workers)
    return _concat((keys_fn(b) for b in tqdm(dl, desc=desc, leave=False, mininterval=2.0, disable=None)), desc)


def _dataset(root, split, task, seed):
    from taskonomy.data.dataset import TaskonomyDataset, TupleDataset
    if TASKS[task].kind == SIAMESE:
        return TupleDataset(root, split=split, task=task, seed=seed)
    return TaskonomyDataset(root, split=split, tasks=[task], seed=seed)


def split_size(root, split, task, seed=0) -> int:
    return len(_dataset(root, split, task, seed))


def _permutation(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def subset_indices(n: int, limit: int | None, seed: int) -> torch.Tensor | None:
    """The first ``limit`` of a seeded permutation (sorted), or None for all."""
    if limit is None or limit >= n:
        return None
    return _permutation(n, seed)[:limit].sort().values


def heldout_indices(n: int, limit: int | None, heldout: int | None, seed: int) -> torch.Tensor | None:
    """The images of the same seeded permutation after the first ``limit`` (those
    :func:`subset_indices` trains on): the next ``heldout`` of them (sorted; None: all the
    rest). None when nothing is held out (no limit, or the limit takes every image)."""
    if limit is None or limit >= n:
        return None
    end = None if heldout is None else limit + heldout
    return _permutation(n, seed)[limit:end].sort().values


def load_task_split(root, split, task, seed=0, limit=None, num_workers=0, subset_seed=0) -> TensorData:
    """Inputs and targets of ``task`` on ``split``: keys x, y, (m), image."""
    ds = _dataset(root, split, task, seed)
    idx = subset_indices(len(ds), limit, subset_seed)
    t = _collect(ds, _sample_keys(task), f"load {task}/{split}", num_workers, idx)
    if TASKS[task].kind == SIAMESE:       # a tuple's image index: its position in the split
        t["image"] = (torch.arange(len(ds)) if idx is None else idx).long()
    return TensorData(t)


def output_channels(root, task) -> int:
    """Output width of ``task``'s networks on the dataset at ``root``: the class tasks' widths
    follow the folder's vocabulary (the release's 1000 objects, 63 scenes, 18 semantic labels;
    ``encodings.Vocabulary.channels``), every other task's is ``TASKS[task].channels``."""
    import json
    from pathlib import Path

    from taskonomy.data.encodings import vocabulary_of
    man = Path(root) / "manifest.json"
    n = vocabulary_of(json.loads(man.read_text()) if man.is_file() else None).channels(task)
    return TASKS[task].channels if n is None else n


def rep_dataset(root, split, task, seed=0):
    """(dataset, key of the encoder input) of ``split`` for caching ``task``'s representations:
    the clean RGB, or the task's own input where its encoder has only ever seen that."""
    from taskonomy.data.dataset import TaskonomyDataset
    own = TASKS[task].input in OWN_INPUT_FOR_REPS
    return (TaskonomyDataset(root, split=split, tasks=[task] if own else [], seed=seed),
            f"x/{task}" if own else "rgb")


def load_rep_inputs(root, split, task, seed=0, num_workers=0) -> TensorData:
    """Encoder inputs of every image of ``split`` in image-index order (for caching reps)."""
    ds, key = rep_dataset(root, split, task, seed)
    return TensorData(_collect(ds, lambda b: {"x": b[key], "image": b["index"].long()},
                               f"load inputs {split}", num_workers))


def target_batches(root, split, task, seed=0, num_workers=0, batch_size=32):
    """The samples of ``load_targets`` batch by batch (``num_workers`` DataLoader workers):
    dicts of y, (m), image, views. What ``taskonomy encode --targets`` streams into a label
    cache, so no split is held whole."""
    ds = _dataset(root, split, task, seed)
    if task == "jigsaw":
        raise ValueError("jigsaw is source-only: it has no transfer targets")
    siamese, done = TASKS[task].kind == SIAMESE, 0
    dl = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    for b in tqdm(dl, desc=f"targets {task}/{split}", leave=False, mininterval=2.0, disable=None):
        if siamese:       # a tuple's image index: its position in the split
            y = b["y"]
            out = {"y": y, "image": torch.arange(done, done + len(y)),
                   "views": b["index"].long().reshape(len(y), -1)}
        else:
            out = {"y": b[f"y/{task}"], "image": b["index"].long()}
            if f"m/{task}" in b:
                out["m"] = b[f"m/{task}"]
            out["views"] = out["image"].view(-1, 1)
        done += len(out["y"])
        yield out


def load_targets(root, split, task, seed=0, num_workers=0) -> dict[str, torch.Tensor]:
    """Targets of ``task`` on ``split`` plus, per sample, the image indices of its views
    (``views``: (N, V); single-view tasks: (N, 1)), used to gather cached representations, and
    the networks' output width (``channels``), in memory (:func:`target_batches` streams them)."""
    t = _concat(target_batches(root, split, task, seed, num_workers), f"targets {task}/{split}")
    t["channels"] = torch.tensor(output_channels(root, task))   # the networks' output width
    return t


def _sample_keys(task: str):
    """What ``load_task_split`` keeps of a dataset batch: x, y, (m), image."""
    if TASKS[task].kind == SIAMESE:
        return lambda b: {"x": b["views"], "y": b["y"]}

    def keys(b):
        out = {"x": b.get(f"x/{task}", b["rgb"]), "y": b[f"y/{task}"], "image": b["index"].long()}
        if f"m/{task}" in b:
            out["m"] = b[f"m/{task}"]
        return out
    return keys


class StreamSplit:
    """A split of ``task`` decoded per batch in DataLoader workers, never held whole in memory
    (``train.stream``): the samples, keys and batch order of :func:`load_task_split`'s
    ``TensorData`` (same ``limit`` subset, same permutation per generator), so a streamed
    network sees exactly the batches an in-memory one does.

        data = StreamSplit(root, "train", "normal", num_workers=2)
        for b in data.batches(16, torch.Generator().manual_seed(0)): ...   # x, y, (m), image
    """

    def __init__(self, root, split, task, seed=0, limit=None, num_workers=0, subset_seed=0):
        self.task, self.num_workers = task, num_workers
        self.ds = _dataset(root, split, task, seed)
        idx = subset_indices(len(self.ds), limit, subset_seed)
        self.idx = torch.arange(len(self.ds)) if idx is None else idx
        self.n = len(self.idx)
        if not self.n:
            raise ValueError(f"load {task}/{split}: the split has no samples")
        self._keys = _sample_keys(task)

    def __len__(self):
        return self.n

    def batches(self, batch_size: int, generator: torch.Generator | None = None):
        plan = [self.idx[sel].tolist() for sel in batch_plan(self.n, batch_size, generator)]
        dl = DataLoader(self.ds, batch_sampler=plan, num_workers=self.num_workers,
                        persistent_workers=False)
        for sel, b in zip(plan, dl):
            out = self._keys(b)
            if "image" not in out:
                out["image"] = torch.tensor(sel, dtype=torch.long)
            yield out

    def first(self) -> dict:
        """One batch (shapes, dtypes) without decoding the split."""
        return next(self.batches(2))

    def images(self) -> torch.Tensor:
        """The image index of every sample, in order (what losses.parquet lists)."""
        return self.idx.clone().long()


class TargetMoments:
    """Training-target statistics accumulated batch by batch (float64), for a streamed split:
    what ``models.networks.output_statistics`` / ``mean_image`` and ``train.class_weights``
    compute from a split in memory (equal up to summation order)."""

    def __init__(self, task: str, channels: int):
        self.task, self.k = task, channels
        self.n = 0
        self.s = self.s2 = self.w = None            # per channel (pixels: weighted)
        self.num = self.den = None                  # per pixel (mean image)
        self.counts = torch.zeros(channels, dtype=torch.float64)   # classes / distributions
        self.masked_counts = torch.zeros(channels, dtype=torch.float64)
        self.pix_counts = None                      # dense classes: per-pixel label counts (k, H, W)

    @torch.no_grad()
    def add(self, y: torch.Tensor, m: torch.Tensor | None = None) -> None:
        self.n += len(y)
        t = TASKS[self.task]
        if t.loss in ("ce", "kl") or t.kind == CLASSES:
            if y.dtype.is_floating_point and y.dim() == 2:
                self.counts += y.double().sum(0)
            else:
                self.counts += torch.bincount(y.long().reshape(-1), minlength=self.k).double()
                yy = y if m is None else y[m[:, 0] > 0.5]
                self.masked_counts += torch.bincount(yy.reshape(-1).long(), minlength=self.k).double()
                if t.kind == CLASSES:
                    pix = torch.nn.functional.one_hot(y.long(), self.k).movedim(-1, 1).sum(0).double()
                    self.pix_counts = pix if self.pix_counts is None else self.pix_counts + pix
            if t.kind != CLASSES:
                return
        if not y.dtype.is_floating_point:
            return
        yd = y.double()
        if yd.dim() == 2:
            s, s2 = yd.sum(0), (yd * yd).sum(0)
            w = torch.tensor(float(len(y)), dtype=torch.float64)
        else:
            wd = torch.ones_like(yd[:, :1]) if m is None else m.double()
            s, s2, w = (yd * wd).sum((0, 2, 3)), (yd * yd * wd).sum((0, 2, 3)), wd.sum()
            num, den = (yd * wd).sum(0), wd.sum(0)
            self.num = num if self.num is None else self.num + num
            self.den = den if self.den is None else self.den + den
        self.s = s if self.s is None else self.s + s
        self.s2 = s2 if self.s2 is None else self.s2 + s2
        self.w = w if self.w is None else self.w + w

    def mean_std(self, unbiased: bool) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.w.clamp(min=1.0)
        mean = self.s / n
        var = (self.s2 / n - mean * mean).clamp(min=0.0)
        if unbiased:
            var = var * n / (n - 1).clamp(min=1.0)
        return mean, var.sqrt()

    def mean_image(self) -> torch.Tensor:
        glob = self.s / self.w.clamp(min=1.0)
        return torch.where(self.den > 0, self.num / self.den.clamp(min=1e-8),
                           glob[:, None, None].expand_as(self.num)).float()


def target_moments(data, task: str, channels: int, batch_size: int = 64) -> TargetMoments:
    """One streamed pass over ``data``'s targets (a ``StreamSplit`` or ``TensorData``)."""
    tm = TargetMoments(task, channels)
    for b in data.batches(batch_size):
        tm.add(b["y"], b.get("m"))
    return tm
