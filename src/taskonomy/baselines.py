"""Table 1's statistically informed guess: predict the training split's average for every image.

    python -m taskonomy.baselines --task normal --data data/synth --out results/default/baselines/normal/average

Pixel tasks: the per-pixel mean target (over valid pixels); semantic segmentation: the per-pixel
class prior; vectors: the mean target (L2) or the class prior (CE / KL); embeddings: one
constant unit vector. Writes ``losses.parquet`` (per test image, same columns as every source)
and ``metrics.json``. The other Table 1 baseline, a readout of a random representation, is the
ordinary transfer from the source ``random``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from taskonomy import engine, lineage
from taskonomy.io import write_json
from taskonomy.losses import per_image_loss
from taskonomy.metrics import per_image_metrics
from taskonomy.models.networks import mean_image
from taskonomy.tasks import CLASSES, EMBEDDING, PIXEL, TASKS, resolve
from taskonomy.train import class_weights


def average_prediction(task: str, y: torch.Tensor, m: torch.Tensor | None,
                       channels: int | None = None) -> torch.Tensor:
    """One prediction (no batch dim) in the task's output space, from training targets;
    ``channels``: the output width where the dataset sets it (else the task's)."""
    t = TASKS[task]
    k = channels or t.channels
    if t.kind == PIXEL:
        return mean_image(y, m)
    if t.kind == EMBEDDING:
        e = torch.zeros(k, *y.shape[-2:])
        e[0] = 1.0
        return e
    if t.kind == CLASSES:
        onehot = F.one_hot(y.long(), k).permute(0, 3, 1, 2).float()
        return torch.log((onehot.sum(0) + 1.0) / (len(y) + k))
    if t.loss in ("ce", "kl"):
        dist = y.float() if (y.dtype.is_floating_point and y.dim() == 2) else F.one_hot(y.long().view(-1), k).float()
        p = dist.sum(0) + 1e-3
        return torch.log(p / p.sum())
    return y.float().mean(0)


def average_from_moments(task: str, tm) -> torch.Tensor:
    """:func:`average_prediction` from a streamed split's statistics (``stagedata.TargetMoments``)."""
    t = TASKS[task]
    if t.kind == PIXEL:
        return tm.mean_image()
    if t.kind == EMBEDDING:
        raise ValueError("the embedding average guess is a constant: use average_prediction on one batch")
    if t.kind == CLASSES:
        return torch.log((tm.pix_counts + 1.0) / (tm.n + tm.k)).float()
    if t.loss in ("ce", "kl"):
        p = tm.counts.float() + 1e-3
        return torch.log(p / p.sum())
    return (tm.s / max(tm.n, 1)).float()


def run_average(task, data_root, out: Path, limit=None, stream: bool = False, num_workers: int = 0) -> dict:
    """Table 1's average guess of ``task``: the training split's average, scored per test image.
    ``stream``: both splits decoded per batch (``stagedata.StreamSplit``), never whole."""
    from taskonomy.stagedata import StreamSplit, load_task_split, output_channels, target_moments
    from taskonomy.train import class_weights_from_moments
    n_out = output_channels(data_root, task)
    if stream:
        train = StreamSplit(data_root, "train", task, limit=limit, num_workers=num_workers)
        test = StreamSplit(data_root, "test", task, num_workers=num_workers)
        if TASKS[task].kind == EMBEDDING:      # a constant: only the target's size is needed
            y0 = train.first()["y"]
            pred0 = average_prediction(task, y0, None, n_out)
        else:
            pred0 = average_from_moments(task, target_moments(train, task, n_out))
        w_eval = class_weights_from_moments(task, target_moments(test, task, n_out))
        images = test.images()
    else:
        train = load_task_split(data_root, "train", task, limit=limit)
        test = load_task_split(data_root, "test", task)
        pred0 = average_prediction(task, train.t["y"], train.t.get("m"), n_out)
        w_eval = class_weights(task, test.t["y"], test.t.get("m"), n_out)
        images = test.t["image"]
    cols: dict[str, list] = {}
    for b in test.batches(64):
        pred = pred0.unsqueeze(0).expand(len(b["y"]), *pred0.shape)
        res = {"loss": per_image_loss(task, pred, b["y"], b.get("m"), w_eval)}
        res.update(per_image_metrics(task, pred, b["y"], b.get("m")))
        for k, v in res.items():
            cols.setdefault(k, []).append(v.float())
    df = engine.write_losses(out / "losses.parquet", images, {k: torch.cat(v) for k, v in cols.items()})
    metrics = {"task": task, "baseline": "average", "n_train": len(train), "n_test": len(test),
               "test": {k: float(df[k].mean()) for k in df.columns if k != "image"}}
    write_json(out / "metrics.json", metrics)
    return metrics


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m taskonomy.baselines", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--limit", type=int, default=None, help="training images to average over")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--stream", action="store_true",
                   help="decode both splits per batch, never whole (train.stream)")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers decoding the splits")
    args = p.parse_args(argv)
    engine.setup_torch(args.threads, 0)
    task = resolve(args.task)
    with lineage.track([args.out / "losses.parquet", args.out / "metrics.json"],
                       params={"task": task, "baseline": "average", "limit": args.limit}, data=args.data):
        print(json.dumps(run_average(task, args.data, args.out, args.limit, args.stream, args.num_workers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
