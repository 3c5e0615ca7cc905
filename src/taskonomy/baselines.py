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


def run_average(task, data_root, out: Path, limit=None) -> dict:
    from taskonomy.stagedata import load_task_split, output_channels
    train = load_task_split(data_root, "train", task, limit=limit)
    test = load_task_split(data_root, "test", task)
    k = output_channels(data_root, task)
    pred0 = average_prediction(task, train.t["y"], train.t.get("m"), k)
    w_eval = class_weights(task, test.t["y"], test.t.get("m"), k)
    cols: dict[str, list] = {}
    for b in test.batches(64):
        pred = pred0.unsqueeze(0).expand(len(b["y"]), *pred0.shape)
        res = {"loss": per_image_loss(task, pred, b["y"], b.get("m"), w_eval)}
        res.update(per_image_metrics(task, pred, b["y"], b.get("m")))
        for k, v in res.items():
            cols.setdefault(k, []).append(v.float())
    df = engine.write_losses(out / "losses.parquet", test.t["image"], {k: torch.cat(v) for k, v in cols.items()})
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
    args = p.parse_args(argv)
    engine.setup_torch(args.threads, 0)
    task = resolve(args.task)
    with lineage.track([args.out / "losses.parquet", args.out / "metrics.json"],
                       params={"task": task, "baseline": "average", "limit": args.limit}, data=args.data):
        print(json.dumps(run_average(task, args.data, args.out, args.limit)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
