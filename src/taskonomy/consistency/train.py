"""RGB -> target trained with the direct loss alone (the baseline) or with the direct loss plus
k perceptual losses through frozen Y -> Z networks against Z's ground truth (consistency):

    loss(x) = l_Y(f(x), y) + w * sum_{Z in chosen} l_Z(g_YZ(f(x)), z)

The chosen subset of the target's perceptual domains is re-drawn every epoch (the paper's
--k, --random-select, --winrate): all of them when ``k`` is null or >= their number; else
``random_select`` draws k at random (seeded by the epoch), ``winrate`` takes the k domains
whose win rate is highest (win rate of Z: the share of a fixed set of training images on
which the prediction through Z is further from z than the ground truth through Z, i.e. where
the network still loses to its own labels in domain Z), and neither takes the first k listed.

    python -m taskonomy.consistency.train --target normal --mode consistency --data data/synth \
        --perceptual-dir results/default/consistency/perceptual \
        --out results/default/consistency/normal/consistency [--settings JSON | --config config.yaml]

Baseline and consistency runs share seed, data, schedule and architecture. Uses the project's
engine: per-epoch checkpoint with resume, atomic writes, ``train.jsonl``; the chosen subsets
go to ``selection.jsonl``. Writes ``model.pt``, ``metrics.json``, ``losses.parquet`` (test).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from taskonomy import engine
from taskonomy.io import write_text
from taskonomy.losses import per_image_loss
from taskonomy.metrics import per_image_metrics
from taskonomy.tasks import resolve

from .data import load_domains, mask_of
from .perceptual import build_unet
from .settings import target_settings
from .unet import load_unet


def load_perceptual(perceptual_dir, target: str, domains, device) -> dict:
    """Frozen target -> Z networks, by Z; a missing one names its path and the rule."""
    nets = {}
    for z in domains:
        path = Path(perceptual_dir) / f"{target}__{z}" / "model.pt"
        if not path.is_file():
            raise FileNotFoundError(f"perceptual network {target} -> {z} not found at {path} "
                                    f"(make it with `snakemake {path}`)")
        net, meta = load_unet(path)
        if (meta.get("input"), meta.get("output")) != (target, z):
            raise ValueError(f"{path} maps {meta.get('input')} -> {meta.get('output')}, not {target} -> {z}")
        nets[z] = net.to(device)
    return nets


def choose(s: dict, epoch: int, winrates: dict | None) -> list[str]:
    doms, k = list(s["perceptual"]), s.get("k")
    if k is None or k >= len(doms):
        return doms
    if s.get("random_select"):
        g = torch.Generator().manual_seed(s["seed"] * 7919 + epoch)
        return sorted(doms[i] for i in torch.randperm(len(doms), generator=g)[:k].tolist())
    if s.get("winrate"):
        return sorted(sorted(doms, key=lambda z: (-winrates[z], z))[:k])
    return doms[:k]


class ConsistencyLoss:
    """``loss_fn(model, batch)`` for ``engine.fit`` that re-draws the perceptual subset at the
    first batch of every epoch (the engine calls it once per batch, in order; on resume it
    starts at the resumed epoch, so a resumed run draws exactly what an uninterrupted one does)."""

    def __init__(self, s, nets, n_batches, start_epoch, probe=None, log_path=None):
        self.s, self.nets, self.target = s, nets, s["target"]
        self.n_batches, self.start, self.calls = n_batches, start_epoch, 0
        self.chosen: list[str] = []
        self.probe, self.log_path, self.records = probe, log_path, []
        self._gt_err = None
        if log_path is not None and Path(log_path).exists():
            old = [json.loads(x) for x in Path(log_path).read_text().splitlines() if x.strip()]
            self.records = [r for r in old if r["epoch"] < start_epoch]

    @torch.no_grad()
    def winrates(self, model) -> dict:
        b, t = self.probe, self.target
        was_training = model.training
        model.eval()
        pred = model(b["rgb"])
        if self._gt_err is None:
            self._gt_err = {z: per_image_loss(z, net(b[f"y/{t}"]), b[f"y/{z}"], mask_of(b, z))
                            for z, net in self.nets.items()}
        out = {z: float((per_image_loss(z, net(pred), b[f"y/{z}"], mask_of(b, z)) > self._gt_err[z])
                        .float().mean()) for z, net in self.nets.items()}
        model.train(was_training)
        return out

    def __call__(self, model, b):
        if self.calls % self.n_batches == 0:
            epoch = self.start + self.calls // self.n_batches
            wr = self.winrates(model) if self.s.get("winrate") else None
            self.chosen = choose(self.s, epoch, wr)
            rec = {"epoch": epoch, "chosen": self.chosen}
            if wr is not None:
                rec["winrates"] = wr
            self.records.append(rec)
            if self.log_path is not None:
                write_text(self.log_path, "".join(json.dumps(r) + "\n" for r in self.records))
        self.calls += 1
        t = self.target
        pred = model(b["rgb"])
        loss = per_image_loss(t, pred, b[f"y/{t}"], mask_of(b, t))
        w = self.s.get("perceptual_weight", 1.0)
        for z in self.chosen:
            loss = loss + w * per_image_loss(z, self.nets[z](pred), b[f"y/{z}"], mask_of(b, z))
        return loss


def _start_epoch(workdir: Path, config: dict) -> int:
    p = workdir / "checkpoint.pt"
    if not p.exists():
        return 0
    ck = engine.load_checkpoint(p)
    return int(ck["epoch"]) + 1 if ck.get("config_hash") == engine.config_hash(config) else 0


def train_target(s: dict, data_root: str, out: Path, perceptual_dir=None, threads=None) -> dict:
    t, tr, mode = s["target"], s["train"], s["mode"]
    device = engine.start_job(s, out, threads)
    doms = [t] + (list(s["perceptual"]) if mode == "consistency" else [])
    t0 = time.perf_counter()
    # both modes draw the same training subset (the seed is shared)
    train = load_domains(data_root, "train", doms, s.get("size"), tr.get("limit"), subset_seed=s["seed"])
    test = load_domains(data_root, "test", [t], s.get("size"))
    load_s = time.perf_counter() - t0
    torch.manual_seed(s["seed"])
    net, arch = build_unet("rgb", t, s["unet"])
    n_batches = -(-len(train) // tr["batch_size"])
    if mode == "consistency":
        if perceptual_dir is None:
            raise ValueError("consistency training needs --perceptual-dir")
        nets = load_perceptual(perceptual_dir, t, s["perceptual"], device)
        probe = None
        if s.get("winrate"):
            n = min(len(train), int(s.get("winrate_images", 64)))
            probe = engine.to_device(train.subset(torch.arange(n)).t, device)
        loss_fn = ConsistencyLoss(s, nets, n_batches, _start_epoch(out, s), probe, out / "selection.jsonl")
    else:
        def loss_fn(model, b):
            return per_image_loss(t, model(b["rgb"]), b[f"y/{t}"], mask_of(b, t))
    opt = engine.OptimSettings(tr["epochs"], tr["batch_size"], tr["lr"])
    t1 = time.perf_counter()
    records = engine.fit(net, loss_fn, train, opt, seed=s["seed"], device=device, workdir=out,
                         config=s, desc=f"{t}/{mode}", params=net.parameters())
    train_s = time.perf_counter() - t1

    def eval_fn(model, b):
        pred = model(b["rgb"]).float()
        res = {"loss": per_image_loss(t, pred, b[f"y/{t}"], mask_of(b, t))}
        res.update(per_image_metrics(t, pred, b[f"y/{t}"], mask_of(b, t)))
        return res
    res = engine.predict_per_image(net, test, eval_fn, device)
    df = engine.write_losses(out / "losses.parquet", test.t["image"], res)
    engine.save_model(out / "model.pt", {k: v.cpu() for k, v in net.state_dict().items()},
                      {"config": s, "arch": arch, "input": "rgb", "output": t, "mode": mode,
                       "input_hw": list(train.t["rgb"].shape[-2:])})
    metrics = {"target": t, "mode": mode, "n_train": len(train), "n_test": len(test),
               "test": {c: float(df[c].mean()) for c in df.columns if c != "image"},
               "final_train_loss": records[-1]["loss"], "load_seconds": round(load_s, 2),
               "train_seconds": round(train_s, 2), "device": str(device), "config": s}
    engine.write_json_atomic(out / "metrics.json", metrics)
    engine.cleanup_checkpoint(out)
    return metrics


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m taskonomy.consistency.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", required=True, help="target domain (normal, depth_zbuffer, reshading, ...)")
    p.add_argument("--mode", required=True, choices=["baseline", "consistency"])
    p.add_argument("--data", required=True, help="dataset root")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--perceptual-dir", type=Path, help="folder of <target>__<z>/model.pt (consistency mode)")
    p.add_argument("--config", default="config.yaml")
    p.add_argument("--settings", help="resolved settings as JSON (what the rule passes)")
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    t = resolve(a.target)
    if a.settings:
        s = json.loads(a.settings)
    else:
        from taskonomy.config import load_config
        s = target_settings(load_config(a.config), t, a.mode)
    if (s["target"], s["mode"]) != (t, a.mode):
        print(f"settings are for {s['target']}/{s['mode']}, not {t}/{a.mode}", file=sys.stderr)
        return 2
    from taskonomy import lineage
    percep = [a.perceptual_dir / f"{t}__{z}" / "model.pt" for z in s.get("perceptual", [])] if a.perceptual_dir else []
    with lineage.track([a.out / f for f in ("model.pt", "metrics.json", "losses.parquet")], percep,
                       params=s, seed=s["seed"], data=a.data):
        m = train_target(s, a.data, a.out, a.perceptual_dir, a.threads)
    print(json.dumps({k: v for k, v in m.items() if k != "config"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
