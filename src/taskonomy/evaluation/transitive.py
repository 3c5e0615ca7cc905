"""Transitive transfers (paper Sec. 3.2): does s -> t1 -> t2 beat the direct s -> t2?

The first-order transfer s -> t1 (``transfers/<size>/<t1>/<s>/``) is a 2-conv readout that maps
E_s(I) to a representation-shaped tensor which the t1 decoder reads: s's approximation of t1's
representation. ``reps`` caches that readout output for every image of the transfer splits,
``transfer`` trains the ordinary transfer (``taskonomy.transfer.run_transfer``: readout + fresh
t2 decoder, the direct s -> t2's settings and images) on it, and ``check`` compares each chained
transfer with its direct counterpart on the same test images::

    python -m taskonomy.evaluation.transitive reps --source autoencoding --via normal --size 16k \\
        --reps results/default/reps --targets results/default/targets \\
        --first-order results/default/transfers/16k/normal/autoencoding/losses.parquet \\
        --out results/default/transitive/16k/autoencoding/reps/normal [--settings JSON | --config config.yaml]
    python -m taskonomy.evaluation.transitive transfer --source autoencoding --via normal \\
        --target reshading --size 16k --chained-reps results/default/transitive/16k/autoencoding/reps \\
        --targets results/default/targets \\
        --out results/default/transitive/16k/autoencoding/transfers/reshading/normal
    python -m taskonomy.evaluation.transitive check --results results/default --size 16k \\
        --triples autoencoding:normal:reshading ... --out-dir results/default/eval/16k
    taskonomy transitive check ...          (the same commands through the console script)

The first-order job keeps no weights, so ``reps`` retrains s -> t1 with that job's settings and
seed (deterministic on CPU: the same readout) and records how closely its test losses reproduce
the first-order ``losses.parquet``; a ``model.pt`` beside that file (state_dict of the transfer
network) is loaded instead when present. Rules: rules/evaluate.smk (config
``evaluation.transitive``); paths: docs/interfaces.md.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from taskonomy.io import atomic_path, write_json

CHECK_NAME = "transitive"


def chained_paths(results, size: str, s: str, t1: str, t2: str | None = None) -> dict[str, Path]:
    """Where a chain's files live under results/<run>/ (docs/interfaces.md)."""
    base = Path(results) / "transitive" / size / s
    out = {"reps_dir": base / "reps", "reps": base / "reps" / t1}
    if t2 is not None:
        out["transfer"] = base / "transfers" / t2 / t1
        out["direct"] = Path(results) / "transfers" / size / t2 / s / "losses.parquet"
    return out


def parse_triple(text: str) -> tuple[str, str, str]:
    from taskonomy.tasks import resolve
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(f"transitive triple {text!r}: expected source:via:target")
    return tuple(resolve(p) for p in parts)  # type: ignore[return-value]


def check_triples(triples, tasks, targets) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """Validate config ``evaluation.transitive`` against the run: (kept, left_out).

    A ValueError names a bad triple: not three task ids, an unknown id, a task twice, or a via /
    target that has no trained transfers (source-only or without an output). A triple naming a
    task the run does not have is left out (the caller warns), as over-large taxonomy budgets
    are: a config with another task dictionary still builds. ``targets``: the tasks with
    trained transfers."""
    from taskonomy.tasks import TASKS
    kept, left_out = [], []
    for tr in triples:
        label = f"config evaluation.transitive: triple {list(tr)}"
        if len(tr) != 3:
            raise ValueError(f"{label}: expected [source, via, target]")
        s, t1, t2 = tr
        unknown = [t for t in tr if t not in TASKS]
        if unknown:
            raise ValueError(f"{label}: unknown task id(s) {', '.join(map(repr, unknown))} (TASKS.md)")
        if len({s, t1, t2}) != 3:
            raise ValueError(f"{label}: source, via and target must be three different tasks")
        if any(t not in tasks for t in tr):
            left_out.append((s, t1, t2))
            continue
        for role, t in (("via", t1), ("target", t2)):
            if t not in targets:
                raise ValueError(f"{label}: {role} {t!r} is not a transfer target (source-only or "
                                 "without an output), so no transfer to it is trained")
        if (s, t1, t2) in kept:
            raise ValueError(f"{label}: listed twice")
        kept.append((s, t1, t2))
    return kept, left_out


# ---------------------------------------------------------------- chained representations
def _first_order_network(settings: dict, source: str, reps_dir, targets_dir, workdir: Path,
                         first_order: Path | None, device):
    """The s -> t1 transfer network: loaded from ``model.pt`` beside the first-order losses if
    that exists, else trained exactly as ``taskonomy.transfer.run_transfer`` trains it."""
    from taskonomy import engine
    from taskonomy.losses import per_image_loss
    from taskonomy.transfer import setup_transfer

    target = settings["target"]
    st = setup_transfer(settings, [source], reps_dir, targets_dir)
    net, test = st.net, st.test
    saved = first_order.parent / "model.pt" if first_order else None
    if saved is not None and saved.exists():
        net.load_state_dict(engine.load_checkpoint(saved)["state_dict"])
        how = f"loaded {saved}"
    else:
        engine.fit(net, st.loss_fn, st.train, st.opt, seed=settings["seed"], device=device, workdir=workdir,
                   config={**settings, "sources": source}, desc=f"{source}->{target} (readout)")
        engine.cleanup_checkpoint(workdir)
        how = "retrained with the first-order settings"

    def eval_fn(model, b):
        return {"loss": per_image_loss(target, model(b["x"]).float(), b["y"], b.get("m"), st.w_eval)}

    res = engine.predict_per_image(net, test, eval_fn, device)
    return net, test.t["image"].numpy(), res["loss"].numpy().astype(np.float64), how


def apply_readout(readout, reps, device, batch_size: int = 256):
    """``readout`` over every row of ``reps`` (N, C, h, w) -> float32 array of the same shape."""
    import torch
    readout.to(device).eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(reps), batch_size):
            out.append(readout(reps[i:i + batch_size].to(device)).float().cpu())
    return torch.cat(out).numpy()


def make_chained_reps(settings: dict, source: str, reps_dir, targets_dir, out: Path,
                      first_order: Path | None = None, rep_dtype: str = "float16",
                      threads: int | None = None) -> dict:
    """Write ``out/<split>.npy`` (s -> t1 readout output for every image of each split),
    ``out/readout.pt`` (the s -> t1 transfer network) and ``out/readout.json``."""
    from tqdm import tqdm

    from taskonomy import engine
    from taskonomy.transfer import load_reps

    via = settings["target"]
    out = Path(out)
    device = engine.start_job(settings, out, threads)
    t0 = time.perf_counter()
    net, image, losses, how = _first_order_network(settings, source, reps_dir, targets_dir, out,
                                                   first_order, device)
    info = {"source": source, "via": via, "size": settings["size"], "readout": how,
            "test_loss": float(losses.mean()), "n_test": int(len(losses))}
    if first_order is not None:
        # the reproduced readout must be the one whose losses Stage II recorded
        import pandas as pd
        ref = pd.read_parquet(first_order, columns=["image", "loss"])
        same = len(ref) == len(image) and np.array_equal(ref["image"].to_numpy(), image)
        diff = float(np.max(np.abs(ref["loss"].to_numpy() - losses))) if same else None
        info.update(first_order=str(first_order), first_order_test_loss=float(ref["loss"].mean()),
                    reproduced_max_abs_diff=diff)
        if diff is None or diff > 1e-4 * max(1.0, float(np.abs(losses).max())):
            print(f"warning: the s -> t1 readout ({source} -> {via}) does not reproduce "
                  f"{first_order} (max |loss difference| {diff}); nondeterministic device?",
                  file=sys.stderr, flush=True)
    dtype = np.dtype(rep_dtype)
    splits = list(dict.fromkeys([settings["train_split"], settings["eval_split"]]))
    for split in tqdm(splits, desc=f"{source}->{via} readout", disable=None):
        reps = load_reps(reps_dir, [source], split)
        chained = apply_readout(net.readout, reps, device)
        with atomic_path(out / f"{split}.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, chained.astype(dtype))
        info[f"shape_{split}"] = list(chained.shape)
    engine.save_model(out / "readout.pt", {k: v.cpu() for k, v in net.state_dict().items()},
                      {"config": settings, "source": source, "via": via})
    info.update(seconds=round(time.perf_counter() - t0, 2), config=settings, rep_dtype=rep_dtype)
    write_json(out / "readout.json", info)
    return info


def run_chained_transfer(settings: dict, source: str, via: str, chained_reps_dir, targets_dir,
                         out: Path, threads: int | None = None) -> dict:
    """s -> t1 -> t2: run_transfer with s's approximation of t1's representation as the source."""
    from taskonomy.transfer import run_transfer
    m = run_transfer(settings, [via], chained_reps_dir, targets_dir, Path(out), threads)
    m.update(chain=[source, via, settings["target"]], sources=f"{source}->{via}")
    write_json(Path(out) / "metrics.json", m)
    return m


# ---------------------------------------------------------------- the check
def compare(direct, chained) -> tuple[dict, np.ndarray]:
    """transitive_check (sign test) plus a paired Wilcoxon signed-rank test and the median
    per-image difference (chained - direct); also the aligned (2, n) losses."""
    from scipy.stats import wilcoxon

    from taskonomy.ahp import align, read_losses
    from taskonomy.evaluation.losses import transitive_check
    res = transitive_check(direct, chained)
    paths = {"direct": Path(direct), "transitive": Path(chained)}
    L, _ = align({k: read_losses(p) for k, p in paths.items()}, paths)
    d = L[1] - L[0]
    p = 1.0 if not np.any(d) else float(wilcoxon(L[1], L[0], zero_method="wilcox").pvalue)
    res.update(wilcoxon_p=p, median_diff=float(np.median(d)),
               verdict="equal" if p >= 0.05 else ("transitive better" if np.median(d) < 0 else "direct better"))
    return res, L


def check(results, size: str, triples, out_dir, name: str = CHECK_NAME) -> dict:
    """Compare every triple with its direct counterpart; write <name>.json/.csv/.png."""
    from taskonomy.evaluation.cli import write_rows
    from taskonomy.beam import is_pruned
    rows, pairs, pruned = [], [], []
    for s, t1, t2 in triples:
        p = chained_paths(results, size, s, t1, t2)
        chained = p["transfer"] / "losses.parquet"
        for f in (p["direct"], chained):
            if not f.exists():
                raise FileNotFoundError(f"transitive check {s} -> {t1} -> {t2}: {f} missing")
        if is_pruned(p["direct"]):      # transfer.prune left s -> t2 untrained: nothing to compare
            print(f"transitive check {s} -> {t1} -> {t2}: the direct transfer {s} -> {t2} was pruned "
                  "(transfer.prune); left out", file=sys.stderr)
            pruned.append(f"{s}:{t1}:{t2}")
            continue
        res, L = compare(p["direct"], chained)
        rows.append({"source": s, "via": t1, "target": t2, **res,
                     "direct": str(p["direct"]), "transitive": str(chained)})
        pairs.append(L)
    n_eq = sum(r["verdict"] == "equal" for r in rows)
    summary = {"size": size, "n_triples": len(rows), "n_equal": n_eq,
               "n_transitive_better": sum(r["verdict"] == "transitive better" for r in rows),
               "n_direct_better": sum(r["verdict"] == "direct better" for r in rows),
               "test": "two-sided Wilcoxon signed-rank on per-image losses, 5% level",
               "left_out_direct_pruned": pruned}
    out_dir = Path(out_dir)
    write_json(out_dir / f"{name}.json", {"summary": summary, "triples": rows})
    if rows:
        write_rows(out_dir / f"{name}.csv", rows)
    else:                                   # every triple left out: the header alone
        from taskonomy.io import write_text
        write_text(out_dir / f"{name}.csv", "source,via,target,verdict\n")
    title = f"{Path(results).name} / {size}" + (f"; {len(pruned)} left out, direct transfer pruned" if pruned else "")
    figure(rows, pairs, out_dir / f"{name}.png", title)
    return {"summary": summary, "triples": rows}


def figure(rows, pairs, path, title: str) -> None:
    """Top: paired mean losses (chained / direct) per triple with the win rate and Wilcoxon p;
    below: per-image direct vs chained loss of each triple."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = len(rows)
    if not n:
        fig, ax = plt.subplots(figsize=(6.5, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, f"Transitive transfers ({title}): no triple to compare", ha="center", va="center")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
        plt.close(fig)
        return
    ncol = min(max(n, 2), 4)          # one triple: its scatter half the width, not all of it
    nsc = math.ceil(n / ncol)
    fig = plt.figure(figsize=(max(7.5, 3.2 * ncol), 1.4 + 0.55 * n + 3.0 * nsc))
    gs = fig.add_gridspec(1 + nsc, ncol, height_ratios=[0.4 + 0.55 * n] + [3.0] * nsc)
    ax = fig.add_subplot(gs[0, :])
    colors = {"equal": "0.45", "transitive better": "tab:blue", "direct better": "tab:red"}
    y = np.arange(n)[::-1]
    ratios = []
    for yi, r in zip(y, rows):
        ratio = r["mean_loss_transitive"] / r["mean_loss_direct"] if r["mean_loss_direct"] else float("nan")
        ratios.append(ratio)
        c = colors[r["verdict"]]
        ax.plot([1.0, ratio], [yi, yi], color=c, lw=2)
        ax.plot(1.0, yi, "o", color="k", ms=5)
        ax.plot(ratio, yi, "D", color=c, ms=6)
        ax.annotate(f"  win {r['transitive_win_rate']:.2f}, Wilcoxon p={r['wilcoxon_p']:.2g}: {r['verdict']}",
                    (max(1.0, ratio), yi), va="center", fontsize=8, color=c)
    ax.axvline(1.0, color="k", lw=0.6, ls=":")
    ax.set_yticks(y, [f"{r['source']} \u2192 {r['via']} \u2192 {r['target']}" for r in rows], fontsize=8)
    ax.set_ylim(-0.6, n - 0.4)
    span = max([abs(v - 1) for v in ratios if np.isfinite(v)] + [0.02]) * 1.2
    ax.set_xlim(1 - span, 1 + 2.3 * span)   # room for the labels on the right
    ax.set_xlabel("mean test loss of the chained transfer / the direct one  "
                  "(\u25cf direct = 1, \u25c6 chained; lower is better)", fontsize=8)
    ax.set_title("s\u2192t1\u2192t2 vs s\u2192t2 on the same test images (win: share of images "
                 "where the chained transfer has the lower loss)", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    for k, (r, L) in enumerate(zip(rows, pairs)):
        ax = fig.add_subplot(gs[1 + k // ncol, k % ncol])
        ax.scatter(L[0], L[1], s=6, alpha=0.5, color=colors[r["verdict"]])
        lim = [min(float(L.min()), 0.0), float(L.max()) * 1.05]
        ax.plot(lim, lim, "k:", lw=0.8)
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_xlabel(f"direct {r['source']}\u2192{r['target']}", fontsize=8)
        ax.set_ylabel(f"chained via {r['via']}", fontsize=8)
        ax.set_title(f"{r['target']}: per-image loss ({r['n_images']} images)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"Transitive transfers ({title})", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


# ---------------------------------------------------------------- command line
def _settings(args, target: str) -> dict:
    if args.settings:
        return json.loads(args.settings)
    from taskonomy.config import load_config
    from taskonomy.settings import transfer_settings
    return transfer_settings(load_config(args.config), target, args.size)


def main(argv=None) -> int:
    from taskonomy import lineage
    from taskonomy.tasks import resolve
    ap = argparse.ArgumentParser(prog="python -m taskonomy.evaluation.transitive", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("reps", "transfer"):
        p = sub.add_parser(name)
        p.add_argument("--source", required=True, help="s")
        p.add_argument("--via", required=True, help="t1")
        p.add_argument("--size", required=True, help="transfer-data size (config transfer.sizes)")
        p.add_argument("--targets", required=True, help="folder of cached targets (targets/<task>/<split>.npz)")
        p.add_argument("--out", required=True, type=Path, help="output folder")
        p.add_argument("--config", default="config.yaml")
        p.add_argument("--settings", help="resolved transfer settings as JSON (what the rule passes): "
                                          "those of s -> t1 (reps) or of s -> t2 (transfer)")
        p.add_argument("--threads", type=int, default=None)
    p = sub.choices["reps"]
    p.add_argument("--reps", required=True, help="folder of cached representations (reps/<task>/<split>.npy)")
    p.add_argument("--first-order", type=Path, help="losses.parquet of the first-order s -> t1 transfer")
    p.add_argument("--rep-dtype", default="float16", choices=["float16", "float32"])
    p = sub.choices["transfer"]
    p.add_argument("--target", required=True, help="t2")
    p.add_argument("--chained-reps", required=True, type=Path,
                   help="transitive/<size>/<s>/reps (holds <t1>/<split>.npy)")
    p = sub.add_parser("check")
    p.add_argument("--results", required=True, help="results/<run>")
    p.add_argument("--size", required=True)
    p.add_argument("--triples", nargs="+", required=True, help="source:via:target ...")
    p.add_argument("--out-dir", required=True, type=Path)
    p.add_argument("--name", default=CHECK_NAME)
    a = ap.parse_args(argv)
    try:
        if a.cmd == "reps":
            s, t1 = resolve(a.source), resolve(a.via)
            st = _settings(a, t1)
            info = make_chained_reps(st, s, a.reps, a.targets, a.out, a.first_order, a.rep_dtype, a.threads)
            splits = list(dict.fromkeys([st["train_split"], st["eval_split"]]))
            inputs = [Path(a.reps) / s / f"{sp}.npy" for sp in splits]
            inputs += [Path(a.targets) / t1 / f"{sp}.npz" for sp in splits]
            lineage.record([a.out / f"{sp}.npy" for sp in splits] + [a.out / "readout.pt", a.out / "readout.json"],
                           inputs + ([a.first_order] if a.first_order else []),
                           params={"transfer": st, "rep_dtype": a.rep_dtype}, seed=st["seed"])
            print(json.dumps({k: v for k, v in info.items() if k != "config"}))
        elif a.cmd == "transfer":
            s, t1, t2 = resolve(a.source), resolve(a.via), resolve(a.target)
            st = _settings(a, t2)
            m = run_chained_transfer(st, s, t1, a.chained_reps, a.targets, a.out, a.threads)
            splits = list(dict.fromkeys([st["train_split"], st["eval_split"]]))
            lineage.record([a.out / "losses.parquet", a.out / "metrics.json"],
                           [a.chained_reps / t1 / f"{sp}.npy" for sp in splits]
                           + [Path(a.targets) / t2 / f"{sp}.npz" for sp in splits],
                           params=st, seed=st["seed"])
            print(json.dumps({k: v for k, v in m.items() if k != "config"}))
        else:
            triples = [parse_triple(t) for t in a.triples]
            res = check(a.results, a.size, triples, a.out_dir, a.name)
            inputs = []
            for s, t1, t2 in triples:
                p = chained_paths(a.results, a.size, s, t1, t2)
                inputs += [p["direct"], p["transfer"] / "losses.parquet"]
            lineage.record([a.out_dir / f"{a.name}.{ext}" for ext in ("json", "csv", "png")], inputs,
                           params={"size": a.size, "triples": [list(t) for t in triples]})
            for r in res["triples"]:
                print(f"{r['source']} -> {r['via']} -> {r['target']}: direct {r['mean_loss_direct']:.4f} "
                      f"chained {r['mean_loss_transitive']:.4f} win {r['transitive_win_rate']:.3f} "
                      f"sign p={r['sign_test_p']:.3g} Wilcoxon p={r['wilcoxon_p']:.3g} -> {r['verdict']}")
            print(json.dumps(res["summary"]))
    except (FileNotFoundError, ValueError) as e:
        print(f"transitive {a.cmd}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
