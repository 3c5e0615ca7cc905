"""Stage I: train one task network and write its per-image test losses.

    taskonomy train --config config.yaml --task normal --data data/synth --out results/default/tasks/normal
    taskonomy train --settings '<json from the rule>' --task normal --data ... --out ...

Writes ``model.pt`` (state_dict + resolved config, ``weights_only`` loadable), ``metrics.json``,
``train.jsonl`` (one line per epoch) and ``losses.parquet`` (per test image). A killed run
resumes from ``checkpoint.pt`` in the output folder. ``--scratch SIZE`` trains the same
architecture from scratch on the transfer-size data instead (the Gain reference, "pixels").
The task ``random`` is not trained: its frozen, randomly initialised encoder is saved as is.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from taskonomy import engine, lineage
from taskonomy.losses import class_weights_from_counts, per_image_loss
from taskonomy.metrics import per_image_metrics
from taskonomy.tasks import CLASSES, NONE, TASKS, resolve

EVAL_BATCH = 64


def class_weights(task: str, y: torch.Tensor, m: torch.Tensor | None, channels: int | None = None,
                  chunk: int = 256):
    """Rebalancing weights of segment_semantic from the pixel counts of ``y`` (else None);
    ``channels``: the number of labels where the dataset sets it (else the task's). Counted
    ``chunk`` samples at a time, so a memory-mapped split is never copied whole."""
    if TASKS[task].kind != CLASSES:
        return None
    counts = torch.zeros(channels or TASKS[task].channels, dtype=torch.long)
    for i in range(0, len(y), chunk):
        yy = y[i:i + chunk] if m is None else y[i:i + chunk][m[i:i + chunk, 0] > 0.5]
        c = torch.bincount(yy.reshape(-1).long(), minlength=len(counts))
        if len(c) > len(counts):
            counts = torch.cat([counts, counts.new_zeros(len(c) - len(counts))])
        counts[:len(c)] += c
    return class_weights_from_counts(counts)


def class_weights_from_moments(task: str, tm):
    """:func:`class_weights` from the label counts of a streamed split (``stagedata.TargetMoments``)."""
    if TASKS[task].kind != CLASSES:
        return None
    return class_weights_from_counts(tm.masked_counts.long())


def make_loss_fn(task, weights):
    def loss_fn(model, b):
        return per_image_loss(task, model(b["x"]), b["y"], b.get("m"), weights)
    return loss_fn


def make_eval_fn(task, weights):
    def eval_fn(model, b):
        pred = model(b["x"]).float()
        out = {"loss": per_image_loss(task, pred, b["y"], b.get("m"), weights)}
        out.update(per_image_metrics(task, pred, b["y"], b.get("m")))
        return out
    return eval_fn


def train_task(settings: dict, data_root: str, out: Path, threads: int | None = None) -> dict:
    task = settings["task"]
    from taskonomy.models import ModelSettings, create_model
    from taskonomy.stagedata import StreamSplit, load_task_split, output_channels
    ms = ModelSettings.from_dict(settings["model"])
    tr = settings["train"]
    seed = settings["seed"]
    device = engine.start_job(settings, out, threads)
    meta = {"task": task, "config": settings, "kind": TASKS[task].kind}

    if TASKS[task].kind == NONE:      # the random-projection source: a frozen random encoder
        torch.manual_seed(seed)
        net = create_model("task_network", task=task, settings=ms)
        engine.save_model(out / "model.pt", net.state_dict(), {**meta, "input_hw": [0, 0]})
        metrics = {"task": task, "trained": False, "config": settings}
        engine.write_json_atomic(out / "metrics.json", metrics)
        return metrics

    split, eval_split = settings.get("split", "train"), settings.get("eval_split", "test")
    t0 = time.perf_counter()
    # streamed (train.stream): decoded per batch, never whole; else decoded once into memory
    load = StreamSplit if tr.get("stream") else load_task_split
    train = load(data_root, split, task, seed=0, limit=tr.get("limit"),
                 num_workers=tr.get("num_workers", 0), subset_seed=settings.get("subset_seed", 0))
    test = load(data_root, eval_split, task, seed=0, num_workers=tr.get("num_workers", 0))
    return fit_network(settings, train, test, out, device, time.perf_counter() - t0,
                       channels=output_channels(data_root, task))


def fit_network(settings: dict, train, test, out: Path, device, load_s: float = 0.0,
                save: bool = True, channels: int | None = None) -> dict:
    """Train the task network of ``settings`` on ``train`` (``engine.TensorData``: x, y, (m),
    image), write its per-image ``losses.parquet`` on ``test``, ``metrics.json`` and (``save``)
    ``model.pt`` into ``out``. Stage I, the scratch baselines and an own task's scratch
    network (``taskonomy.evaluation.allforone``) train through here. ``channels``: the output
    width where the dataset sets it (``stagedata.output_channels``), else the task's."""
    task = settings["task"]
    from taskonomy.models import ModelSettings, create_model, fit_output_scale
    ms = ModelSettings.from_dict(settings["model"])
    tr = settings["train"]
    seed = settings["seed"]
    meta = {"task": task, "config": settings, "kind": TASKS[task].kind}
    streamed = not hasattr(train, "t")          # a stagedata.StreamSplit: statistics by batches
    input_hw = list((train.first() if streamed else train.t)["x"].shape[-2:])
    torch.manual_seed(seed)
    net = create_model("task_network", task=task, settings=ms, input_hw=tuple(input_hw), channels=channels)
    if streamed:
        from taskonomy.models.networks import fit_output_scale_from_moments
        from taskonomy.stagedata import target_moments
        k = net.scale.mean.numel()
        tm_train, tm_test = target_moments(train, task, k), target_moments(test, task, k)
        fit_output_scale_from_moments(net, task, tm_train)
        w_train = class_weights_from_moments(task, tm_train)
        w_eval = class_weights_from_moments(task, tm_test)
    else:
        fit_output_scale(net, task, train.t["y"], train.t.get("m"))
        w_train = class_weights(task, train.t["y"], train.t.get("m"), channels)
        # evaluation weights come from the test split, identical for every source of this target
        w_eval = class_weights(task, test.t["y"], test.t.get("m"), channels)
    opt = engine.OptimSettings(tr["epochs"], tr["batch_size"], tr["lr"], tr.get("weight_decay", 0.0))
    t1 = time.perf_counter()
    records = engine.fit(net, make_loss_fn(task, w_train), train, opt, seed=seed, device=device,
                         workdir=out, config=settings, desc=task)
    train_s = time.perf_counter() - t1
    res = engine.predict_per_image(net, test, make_eval_fn(task, w_eval), device, EVAL_BATCH)
    df = engine.write_losses(out / "losses.parquet", test.images() if streamed else test.t["image"], res)
    if save:
        engine.save_model(out / "model.pt", {k: v.cpu() for k, v in net.state_dict().items()},
                          {**meta, "input_hw": input_hw})
    metrics = {"task": task, "trained": True, "n_train": len(train), "n_test": len(test),
               "test": {k: float(df[k].mean()) for k in df.columns if k != "image"},
               "final_train_loss": records[-1]["loss"] if records else None,
               "load_seconds": round(load_s, 2), "train_seconds": round(train_s, 2),
               "images_per_s": round(len(train) * opt.epochs / max(train_s, 1e-9), 1),
               "device": str(device), "config": settings}
    engine.write_json_atomic(out / "metrics.json", metrics)
    engine.cleanup_checkpoint(out)
    return metrics


def build_settings(args) -> dict:
    if args.settings:
        s = json.loads(args.settings)
    else:
        from taskonomy.config import load_config
        from taskonomy.settings import scratch_settings, task_settings, transfer_settings
        cfg = load_config(args.config)
        if args.scratch:
            s = scratch_settings(transfer_settings(cfg, args.task, args.scratch))
        else:
            s = task_settings(cfg, args.task)
    if args.epochs is not None:
        s["train"]["epochs"] = args.epochs
    return s


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="taskonomy train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, help="task id (or paper spelling)")
    p.add_argument("--data", required=True, help="dataset root (Taskonomy layout)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--config", default="config.yaml", help="config.yaml to resolve settings from")
    p.add_argument("--settings", help="resolved settings as JSON (what the rule passes)")
    p.add_argument("--scratch", metavar="SIZE", help="train the scratch baseline at transfer size SIZE")
    p.add_argument("--threads", type=int, default=None, help="torch threads (Snakemake's threads)")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    args = p.parse_args(argv)
    args.task = resolve(args.task)
    s = build_settings(args)
    if s["task"] != args.task:
        print(f"taskonomy train: --task {args.task} but settings are for {s['task']}", file=sys.stderr)
        return 2
    # lineage sidecars of the rule's outputs (scratch: no model.pt declared; random: no data read)
    frozen = TASKS[args.task].kind == NONE
    outs = ["metrics.json", *([] if "size" in s else ["model.pt"]), *([] if frozen else ["losses.parquet"])]
    with lineage.track([args.out / f for f in outs], params=s, seed=s["seed"], data=None if frozen else args.data):
        m = train_task(s, args.data, args.out, args.threads)
    print(json.dumps({k: v for k, v in m.items() if k != "config"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
