"""Seed-to-seed agreement: Stage II's first order retrained with another training seed.

How much of a run's first-order ranking is the training seed's? A replicate retrains every
first-order transfer of the run (every target x every other task, the random projection
included) with the same settings, the same training images (``subset_seed`` kept) and the same
cached representations / labels, only the training ``seed`` (network initialisation and batch
order) derived anew, ``derive_seed(seed, "transfer/<target>/<size>/replicate<r>")``; then it
computes each target's Stage III AHP vector over its first-order transfers and ``self`` (the
target's own network, as ``taskonomy.ahp``) into an affinity table in the paper's schema.
``taskonomy compare`` of that table against the run's own gives the agreement (config
``evaluation.replicates``; rules/evaluate.smk)::

    python -m taskonomy.evaluation.replicate --results results/default --size 16k --replicate 1 \\
        --targets normal reshading ... --sources normal reshading ... random \\
        [--settings JSON | --config config.yaml] [--threads 1]
    python -m taskonomy.supervision.compare results/default/eval/16k/replicate_1/affinity.csv \\
        results/default/tables/16k/affinity.csv --max-order 1 \\
        --out results/default/eval/16k/replicate_1/compare.json --plot .../compare.png

Writes ``<results>/eval/<size>/replicate_<r>/transfers/<target>/<source>/`` (what
``taskonomy.transfer.run_transfer`` writes: losses.parquet, heldout.parquet, metrics.json,
train.jsonl; no result store, every transfer trains) and ``.../replicate_<r>/affinity.csv``.
Each target's sources are ``--sources`` without the target itself. The table holds the first
order only (plus ``self``): the run's table also has the higher-order sets in each tournament,
which can move the first-order values but rarely their order.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from taskonomy.settings import SEED_DEFAULT, derive_seed, transfer_settings


def replicate_dir(results, size: str, replicate: int) -> Path:
    return Path(results) / "eval" / size / f"replicate_{replicate}"


def replicate_seed(global_seed: int, target: str, size: str, replicate: int) -> int:
    """The training seed of every transfer to ``target`` at ``size`` in replicate ``r``
    (the run's own is ``derive_seed(seed, "transfer/<target>/<size>")``)."""
    return derive_seed(global_seed, f"transfer/{target}/{size}/replicate{replicate}")


def replicate_settings(cfg: dict, target: str, size: str, replicate: int) -> dict:
    """The run's transfer settings of ``target`` with only the training seed replaced."""
    s = transfer_settings(cfg, target, size)
    s["seed"] = replicate_seed(cfg.get("seed", SEED_DEFAULT), target, size, replicate)
    return s


def sources_of(target: str, sources) -> list[str]:
    """A target's first-order sources: every task of ``sources`` but itself (as Stage II)."""
    return [s for s in sources if s != target]


def input_files(results, settings: dict[str, dict], sources) -> list[Path]:
    """What a replicate reads: every source's representations and every target's labels on
    the transfer splits, and every target's own network's test losses (``self``)."""
    results = Path(results)
    first = next(iter(settings.values()))
    splits = list(dict.fromkeys([first["train_split"], first["eval_split"]]))
    out = [results / "reps" / s / f"{sp}.npy" for s in sources for sp in splits]
    out += [results / "targets" / t / f"{sp}.npz" for t in settings for sp in splits]
    return out + [results / "tasks" / t / "losses.parquet" for t in settings]


def run(results, size: str, replicate: int, settings: dict[str, dict], sources, threads=None,
        log=sys.stdout) -> dict:
    """Train every (target, source) of the first order with ``settings[target]`` (the
    replicate's seed) and write the first-order affinity table; returns a summary."""
    from taskonomy.ahp import compute_target, rows_of, table_text
    from taskonomy.io import write_text
    from taskonomy.transfer import run_transfer

    results = Path(results)
    out = replicate_dir(results, size, replicate)
    reps, targets_dir = results / "reps", results / "targets"
    rows, per_target = [], {}
    t0 = time.perf_counter()
    for target, st in settings.items():
        paths = []
        for src in sources_of(target, sources):
            folder = out / "transfers" / target / src
            m = run_transfer(st, [src], reps, targets_dir, folder, threads, store=None)
            print(f"trained {src}->{target} (seed {st['seed']}): test loss {m['test']['loss']:.5f}",
                  file=log, flush=True)
            paths.append(folder / "losses.parquet")
        res = compute_target(target, paths, results / "tasks" / target / "losses.parquet")
        rows += rows_of(res, res.affinity)
        per_target[target] = {"seed": st["seed"], "subset_seed": st["subset_seed"],
                              "sources": len(paths), "n_images": res.n_images}
    write_text(out / "affinity.csv", table_text(rows))
    return {"size": size, "replicate": replicate, "targets": per_target, "transfers": sum(
        v["sources"] for v in per_target.values()), "seconds": round(time.perf_counter() - t0, 2)}


def _settings(a, targets) -> dict[str, dict]:
    if a.settings:
        s = json.loads(a.settings)
        s = s.get("per_target", s)
        missing = [t for t in targets if t not in s]
        if missing:
            raise ValueError(f"--settings has no settings for target(s) {', '.join(missing)}")
        return {t: s[t] for t in targets}
    from taskonomy.config import load_config
    cfg = load_config(a.config)
    return {t: replicate_settings(cfg, t, a.size, a.replicate) for t in targets}


def main(argv=None) -> int:
    from taskonomy import lineage
    from taskonomy.ahp import AHPError
    from taskonomy.tasks import UnknownTaskError, resolve_all
    ap = argparse.ArgumentParser(prog="python -m taskonomy.evaluation.replicate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", required=True, type=Path, help="results/<run> (reps, targets, tasks)")
    ap.add_argument("--size", required=True, help="transfer-data size (config transfer.sizes)")
    ap.add_argument("--replicate", required=True, type=int, help="replicate number (1, 2, ...)")
    ap.add_argument("--targets", nargs="+", required=True, help="the run's Stage III targets")
    ap.add_argument("--sources", nargs="+", required=True,
                    help="the run's tasks (random included); a target's sources: all but itself")
    ap.add_argument("--settings", help='{"per_target": {target: settings}} with the replicate seeds '
                                       "(what the rule passes); default: resolved from --config")
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    if a.replicate < 1:
        ap.error("--replicate must be >= 1 (0 is the run itself)")
    try:
        started = lineage.now()
        targets, sources = resolve_all(a.targets), resolve_all(a.sources)
        settings = _settings(a, targets)
        summary = run(a.results, a.size, a.replicate, settings, sources, a.threads)
        out = replicate_dir(a.results, a.size, a.replicate)
        # the job's record: both outputs read everything the job read; each transfer folder's
        # files also carry run_transfer's own, finer records
        lineage.record([out / "transfers", out / "affinity.csv"], input_files(a.results, settings, sources),
                       params={"size": a.size, "replicate": a.replicate, "sources": sources,
                               "per_target": settings},
                       started=started)
    except (AHPError, FileNotFoundError, UnknownTaskError, ValueError) as e:
        print(f"replicate: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
