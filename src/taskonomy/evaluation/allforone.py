"""All-for-one on your own tasks (paper Sec. 4.2): where does a new task fit in the taxonomy?

For each task declared in ``own_tasks`` (``taskonomy.owntask``), the workflow's ``novel``
target (rules/novel.smk) runs, after the check that wrote its label and image caches:

    python -m taskonomy.evaluation.allforone reps --spec '<task json>' --sources normal random \
        --models results/r/tasks/normal/model.pt results/r/tasks/random/model.pt \
        --images results/r/own/<t>/images --splits train test --out-root results/r/own/<t>/reps
    python -m taskonomy.evaluation.allforone transfers --spec ... --settings ... --sources ... \
        --reps results/r/reps --targets results/r/own/<t>/targets --out-root results/r/own/<t>/transfers \
        --beam results/r/own/<t>/beam.json --max-order 2 --top-k 5 --beam-width 1
    python -m taskonomy.evaluation.allforone scratch --spec ... --settings ... \
        --images results/r/own/<t>/images --targets results/r/own/<t>/targets --out results/r/own/<t>/scratch
    python -m taskonomy.ahp target <t> --transfers .../transfers/*/losses.parquet --beam ... \
        --pixels results/r/own/<t>/scratch/losses.parquet --npz ... --csv results/r/own/<t>/ahp/<t>.csv
    python -m taskonomy.evaluation.allforone report --spec ... --ahp results/r/own/<t>/ahp/<t>.csv \
        --sources ... --budgets 1 2 3 --orders 1 2 --out results/r/own/<t>/novel.json --plot .../novel.png

- ``reps`` (CSV tasks: images new to the encoders) encodes the task's images with every source's
  frozen encoder once (a released source's from its weight file, as Stage I does); a
  Taskonomy-layout task reads the run's caches (``results/<run>/reps``).
- ``transfers`` trains a transfer from every source (Stage II's ``run_transfer``, through its
  result store) on ``n`` labelled images, ranks the sources on the held-out rest (the beam) and
  trains the higher orders it selects, named by rank position as in Stage II.
- ``scratch`` trains the task's whole network from pixels on the same ``n`` images and
  schedule (the Gain reference, "pixels").
- Stage III's AHP (``taskonomy.ahp target`` without ``--self``: a new task has no network
  trained on all its data, so no Quality) ranks every source set and gives its Gain.
- ``report`` writes the ranking, each source set's Gain, the best transfer per max order
  (``taskonomy.evaluation.novel.all_for_one``) and the BIP's policy for the task at every
  budget (``taskonomy.supervision.bip.solve``: which tasks to supervise to serve it), and the
  figure.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from taskonomy import lineage
from taskonomy.io import write_json
from taskonomy.labels import load_labels
from taskonomy.owntask import from_spec, registered, resolve_n


# ---------------------------------------------------------------- representations
def source_encoder(model, released: bool, model_settings: dict | None, device):
    """``encode(x) -> (N, C, h, w)`` of one source: its Stage I network (``model.pt``), or a
    released encoder file (``taskonomy.weights``: 256 px input, pooled to the run's grid as
    the run's own caches of it are)."""
    from taskonomy import encode, weights
    if not released:
        net = encode.load_task_network(model)[0].to(device)
        return lambda x: encode.encode_images(net, x, device)
    enc = weights.load_encoder(model)
    return lambda x: weights.represent(enc, x.float(), device, weights.BATCH,
                                       weights.run_grid(model_settings, x.shape[-2:]))


def cmd_reps(a) -> list[Path]:
    import torch
    from taskonomy import engine
    from taskonomy.encode import save_npy
    engine.setup_torch(a.threads, 0)
    device = engine.resolve_device(a.device)
    if len(a.models) != len(a.sources):
        raise SystemExit(f"{len(a.sources)} sources but {len(a.models)} models")
    settings = json.loads(a.model) if a.model else None
    written = []
    images = {sp: torch.load(Path(a.images) / f"{sp}.pt", weights_only=True)["x"] for sp in a.splits}
    for src, model in zip(a.sources, a.models):
        encode = source_encoder(model, src in a.released, settings, device)
        for sp in a.splits:
            out = a.out_root / src / f"{sp}.npy"
            save_npy(out, encode(images[sp]).numpy().astype(a.dtype))
            written.append(out)
    lineage.record(written, [*a.models, *(Path(a.images) / f"{sp}.pt" for sp in a.splits)],
                   params={"sources": a.sources, "released": a.released, "model": settings, "dtype": a.dtype})
    return written


# ---------------------------------------------------------------- transfers and scratch
def n_train(targets_dir, task: str, split: str) -> int:
    return len(load_labels(Path(targets_dir) / task / f"{split}.npz")["y"])


def run_transfers(settings: dict, sources, reps_dir, targets_dir, out_root: Path, max_order: int,
                  top_k: int, beam_width: int, threads=None, store=None) -> dict:
    """Every first-order transfer to the task, the beam and its higher orders; the beam file's
    content (``taskonomy.beam.rank_sources``)."""
    from taskonomy.beam import rank_sources
    from taskonomy.transfer import run_transfer, train_positions
    task = settings["target"]
    for src in sources:
        run_transfer(settings, [src], reps_dir, targets_dir, Path(out_root) / src, threads, store=store)
    res = rank_sources(task, settings["size"], [Path(out_root) / s / "heldout.parquet" for s in sources],
                       max_order, top_k, beam_width)
    res["higher_losses"] = train_positions(res["positions"], settings, reps_dir, targets_dir, out_root,
                                           threads, store)
    return res


def resolved_settings(a) -> dict:
    """The job's settings with ``n`` resolved for the task's labelled training images."""
    s = json.loads(a.settings)
    return resolve_n(s, n_train(a.targets, a.task.name, s["train_split"]))


def cmd_transfers(a) -> list[Path]:
    settings = resolved_settings(a)
    started = lineage.now()
    res = run_transfers(settings, a.sources, a.reps, a.targets, a.out_root, a.max_order, a.top_k,
                        a.beam_width, a.threads, a.store)
    res["n"] = settings["n"]
    write_json(a.beam, res)
    lineage.record([a.beam], [a.out_root / s / "heldout.parquet" for s in a.sources],
                   params={k: res[k] for k in ("target", "size", "max_order", "top_k", "beam_width", "n")},
                   started=started)
    print(json.dumps({k: res[k] for k in ("target", "ranked", "positions", "n")}))
    return [a.beam]


def load_split(images_dir, targets_dir, task: str, split: str, idx=None):
    """The task's images and labels of a split as ``engine.TensorData`` (x, y, image)."""
    import torch
    from taskonomy.engine import TensorData
    x = torch.load(Path(images_dir) / f"{split}.pt", weights_only=True)["x"].float()
    tg = load_labels(Path(targets_dir) / task / f"{split}.npz")
    data = TensorData({"x": x, **{k: v for k, v in tg.items() if k in ("y", "m", "image")}})
    return data if idx is None else data.subset(idx)


def cmd_scratch(a) -> list[Path]:
    from taskonomy import engine
    from taskonomy.settings import scratch_settings
    from taskonomy.stagedata import subset_indices
    from taskonomy.train import fit_network
    ts = resolved_settings(a)
    s = scratch_settings(ts)
    device = engine.start_job(s, a.out, a.threads)
    started = lineage.now()
    # the transfers' training images: the same seeded subset (taskonomy.transfer.setup_transfer)
    idx = subset_indices(n_train(a.targets, a.task.name, ts["train_split"]), ts["n"], ts["subset_seed"])
    train = load_split(a.images, a.targets, a.task.name, ts["train_split"], idx)
    test = load_split(a.images, a.targets, a.task.name, ts["eval_split"])
    m = fit_network(s, train, test, a.out, device, save=False)
    outs = [a.out / n for n in ("losses.parquet", "metrics.json", "train.jsonl")]
    lineage.record(outs, [Path(a.images) / f"{sp}.pt" for sp in (ts["train_split"], ts["eval_split"])],
                   params=s, seed=s["seed"], started=started)
    print(json.dumps({k: v for k, v in m.items() if k != "config"}))
    return outs


# ---------------------------------------------------------------- report
def own_report(task, tables, sources, budgets, orders) -> dict:
    """Ranking (AHP affinity and Gain of every source set), the best transfer per max order and
    the BIP's policy for the task at each budget."""
    from taskonomy.evaluation.novel import all_for_one
    from taskonomy.supervision import bip
    rows = tables.affinity.for_target(task)
    gain = tables.gain
    ranking = sorted(({"sources": list(r.sources), "order": r.order, "affinity": r.value,
                       "gain": gain.value(task, r.sources) if gain is not None else None} for r in rows),
                     key=lambda r: (-r["affinity"], r["sources"]))
    policies = []
    for b in budgets:
        p = bip.solve(tables, targets=[task], sources=sources, budget=b, max_order=max(orders),
                      metric="affinity")
        c = p.targets[task]
        policies.append({"budget": b, "supervised": list(p.supervised), "sources": list(c.sources),
                         "order": c.order, "affinity": c.affinity, "gain": c.gain})
    return {"task": task, "ranking": ranking, "all_for_one": all_for_one(tables, [task], list(orders)),
            "policies": policies}


def cmd_report(a) -> list[Path]:
    from taskonomy.ahp import GAIN_SUFFIX
    from taskonomy.evaluation.figures import own_task_figure
    from taskonomy.supervision.tables import TableSet, read_table
    ahp = Path(a.ahp)
    gain = ahp.with_name(ahp.stem + GAIN_SUFFIX)
    tables = TableSet(name=f"own task {a.task.name}", affinity=read_table(ahp),
                      gain=read_table(gain) if gain.exists() else None)
    started = lineage.now()
    res = own_report(a.task.name, tables, a.sources, a.budgets, a.orders)
    res["declaration"] = a.task.to_dict()
    if a.check:           # image counts by role (the caches are named by the run's splits)
        check = json.loads(Path(a.check).read_text())
        res["images"] = dict(zip(("training", "test"), (check["images"][sp] for sp in check["splits"])))
    write_json(a.out, res)
    own_task_figure(res, a.plot)
    lineage.record([a.out, a.plot], [ahp, *([gain] if gain.exists() else []), *([a.check] if a.check else [])],
                   params={"budgets": a.budgets, "orders": a.orders, "sources": a.sources}, started=started)
    best = res["ranking"][0]
    print(f"{a.task.name}: best source set {'+'.join(best['sources'])} (affinity {best['affinity']:.3f}, "
          f"gain {best['gain']}); policies: "
          + "; ".join(f"budget {p['budget']}: {'+'.join(p['sources'])}" for p in res["policies"]))
    return [a.out, a.plot]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m taskonomy.evaluation.allforone", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name, fn, help):
        q = sub.add_parser(name, help=help)
        q.add_argument("--spec", required=True, help="the own task's declaration as JSON")
        q.add_argument("--threads", type=int, default=None)
        q.set_defaults(fn=fn)
        return q

    q = add("reps", cmd_reps, "encode the task's images with every source's frozen encoder")
    q.add_argument("--sources", nargs="+", required=True)
    q.add_argument("--models", nargs="+", required=True,
                   help="model.pt of each source, in order (a released source: its encoder file)")
    q.add_argument("--released", nargs="*", default=[], help="sources whose --models entry is a released encoder")
    q.add_argument("--model", help="the run's encoder settings as JSON (the grid released representations "
                                   "are pooled to)")
    q.add_argument("--images", required=True, help="own/<t>/images (the check's image caches)")
    q.add_argument("--splits", nargs="+", required=True)
    q.add_argument("--out-root", type=Path, required=True, help="writes <out-root>/<source>/<split>.npy")
    q.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    q.add_argument("--device", default="auto")
    q = add("transfers", cmd_transfers, "every first-order transfer, the beam and its higher orders")
    q.add_argument("--settings", required=True, help="owntask.transfer_settings as JSON")
    q.add_argument("--sources", nargs="+", required=True)
    q.add_argument("--reps", required=True, help="reps/<source>/<split>.npy folder")
    q.add_argument("--targets", required=True, help="targets/<task>/<split>.npz folder")
    q.add_argument("--out-root", type=Path, required=True)
    q.add_argument("--beam", type=Path, required=True, help="output beam json")
    q.add_argument("--max-order", type=int, required=True)
    q.add_argument("--top-k", type=int, required=True)
    q.add_argument("--beam-width", type=int, required=True)
    q.add_argument("--store", type=Path, default=None, help="transfer result store")
    q = add("scratch", cmd_scratch, "the task's network from scratch on the transfers' images")
    q.add_argument("--settings", required=True)
    q.add_argument("--images", required=True)
    q.add_argument("--targets", required=True)
    q.add_argument("--out", type=Path, required=True)
    q = add("report", cmd_report, "ranking, Gain, best transfer per order, BIP policy per budget")
    q.add_argument("--ahp", required=True, help="own/<t>/ahp/<t>.csv (wins_vs_pixels beside it)")
    q.add_argument("--check", help="own/<t>/check.json (image counts)")
    q.add_argument("--sources", nargs="+", required=True, help="tasks that may be supervised")
    q.add_argument("--budgets", nargs="+", type=int, required=True)
    q.add_argument("--orders", nargs="+", type=int, required=True)
    q.add_argument("--out", type=Path, required=True)
    q.add_argument("--plot", type=Path, required=True)
    a = p.parse_args(argv)
    a.task = from_spec(a.spec)
    with registered([a.task]):        # the task registry knows the task for this command
        a.fn(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
