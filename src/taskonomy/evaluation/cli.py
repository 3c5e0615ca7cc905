"""``taskonomy evaluate``: the paper's evaluations as sub-commands.

    taskonomy evaluate gain-quality --affinities paper-16k --budgets 2 4 6 8 --orders 1 4 --out-dir E
    taskonomy evaluate significance --affinities paper-16k --budget 6 --n-random 1000 --out-dir E
    taskonomy evaluate novel        --affinities paper-16k --orders 1 2 3 4 --out-dir E
    taskonomy evaluate table1       --results results/default --tasks normal reshading --out-dir E
    taskonomy evaluate table1       --affinities paper-16k --out-dir E     (vs random only)
    taskonomy evaluate transitive   --direct D.parquet --transitive T.parquet --out-dir E
    taskonomy evaluate bootstrap    --results results/default --size 16k --targets normal ... \
                                    --budget 6 --max-order 2 --n 200 --seed 0 --out-dir E

``--affinities`` takes ``paper-16k | paper-1k | paper`` or a path to an ``affinity.csv``
(with ``wins_vs_task.csv`` / ``wins_vs_pixels.csv`` beside it). Each command writes a CSV (or
JSON), a PNG and a ``*.settings.json`` with the resolved settings into ``--out-dir``.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import asdict
from pathlib import Path

from taskonomy import lineage
from taskonomy.io import atomic_path, write_json

DEFAULT_SOURCE_ONLY = ["colorization", "inpainting", "jigsaw", "random"]


def _fmt(v):
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return "" if v is None else v


def write_rows(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(v) for k, v in r.items()})


def _tables(spec: str):
    from taskonomy.supervision.tables import load
    return load(spec)


def _targets(tables, a) -> list[str]:
    from taskonomy.supervision.bip import default_targets
    from taskonomy.tasks import resolve_all
    if a.targets:
        return resolve_all(a.targets)
    return default_targets(tables.affinity, resolve_all(a.source_only))


def _common(p: argparse.ArgumentParser, tables: bool = True) -> None:
    if tables:
        p.add_argument("--affinities", default="paper-16k",
                       help="paper-16k | paper-1k | paper | path to affinity.csv (default paper-16k)")
        p.add_argument("--targets", nargs="+", help="targets (default: every task target of the table)")
        p.add_argument("--source-only", nargs="*", default=DEFAULT_SOURCE_ONLY,
                       help="tasks that are never targets")
        p.add_argument("--metric", default="sqrt_affinity",
                       choices=["sqrt_affinity", "affinity", "quality", "gain"],
                       help="value of a transfer in the BIP objective")
    p.add_argument("--out-dir", required=True, help="folder for the CSV/JSON, PNG and settings")
    p.add_argument("--name", help="file stem of the outputs (default: the sub-command's)")


def cmd_gain_quality(a) -> list[Path]:
    from taskonomy.evaluation import figures, gain_quality
    tables = _tables(a.affinities)
    targets = _targets(tables, a)
    rows = gain_quality.grid(tables, targets, a.budgets, a.orders, a.metric, a.source_only)
    out, stem = Path(a.out_dir), a.name or "gain_quality"
    write_rows(out / f"{stem}.csv", rows)
    figures.gain_quality_figure(rows, out / f"{stem}.png", f"{tables.name}: Gain and Quality of the taxonomy")
    write_json(out / f"{stem}.settings.json", {"affinities": a.affinities, "targets": targets,
               "budgets": a.budgets, "orders": a.orders, "metric": a.metric, "source_only": a.source_only})
    written = [out / f"{stem}{x}" for x in (".csv", ".png", ".settings.json")]
    for k in a.orders:
        for b in a.budgets:
            sel = [r for r in rows if r["budget"] == b and r["max_order"] == k]
            print(f"budget {b:>2} max order {k}: mean Gain {sum(r['gain'] for r in sel) / len(sel):.3f}  "
                  f"mean Quality {sum(r['quality'] for r in sel) / len(sel):.3f}")
    return written


def cmd_significance(a) -> list[Path]:
    from taskonomy.evaluation import figures, significance
    tables = _tables(a.affinities)
    targets = _targets(tables, a)
    s = significance.SignificanceSettings(a.budget, a.max_order, a.n_random, a.seed, a.metric)
    res = significance.run(tables, s, targets, a.source_only)
    out, stem = Path(a.out_dir), a.name or f"significance_{a.budget}_{a.max_order}"
    summ = res.summary()
    written = [out / f"{stem}{x}" for x in (".json", ".random.csv", ".png", ".settings.json")]
    write_json(out / f"{stem}.json", summ)
    keys = sorted(res.random)
    write_rows(out / f"{stem}.random.csv",
               [{"policy": i, **{k: float(res.random[k][i]) for k in keys}} for i in range(a.n_random)])
    figures.significance_figure(res, out / f"{stem}.png")
    write_json(out / f"{stem}.settings.json", {"affinities": a.affinities, "targets": targets,
               "source_only": a.source_only, **asdict(s)})
    for k, v in summ["scores"].items():
        print(f"{k:>9}: taxonomy {v['taxonomy']:.4f}  random {v['random_mean']:.4f} +- "
              f"{v['random_std']:.4f} (max {v['random_max']:.4f})  beats {100 * v['share_beaten']:.1f}%  "
              f"p={v['p_value']:.3g}")
    return written


def cmd_novel(a) -> list[Path]:
    from taskonomy.evaluation import figures, novel
    tables = _tables(a.affinities)
    targets = _targets(tables, a)
    rows = novel.all_for_one(tables, targets, a.orders)
    out, stem = Path(a.out_dir), a.name or "novel"
    write_rows(out / f"{stem}.csv", rows)
    figures.novel_figure(rows, out / f"{stem}.png", f"{tables.name}: all-for-one, novel tasks")
    written = [out / f"{stem}{x}" for x in (".csv", ".png", ".settings.json")]
    write_json(out / f"{stem}.settings.json", {"affinities": a.affinities, "targets": targets,
                                               "orders": a.orders})
    for r in rows:
        print(f"{r['task']:>18} order<={r['max_order']}: {r['sources']:<50} Gain {r['gain']:.3f} "
              f"Quality {r['quality']:.3f}")
    return written


def cmd_table1(a) -> list[Path]:
    from taskonomy.evaluation import figures, losses
    from taskonomy.tasks import resolve_all
    if a.results:
        if not a.tasks:
            raise SystemExit("taskonomy evaluate table1: --results needs --tasks")
        rows = losses.table1(a.results, resolve_all(a.tasks), a.size)
        src = str(a.results)
    else:
        tables = _tables(a.affinities)
        rows = losses.table1_from_tables(tables, resolve_all(a.tasks) if a.tasks else
                                         _targets(tables, argparse.Namespace(targets=None, source_only=DEFAULT_SOURCE_ONLY)))
        src = tables.name
    out, stem = Path(a.out_dir), a.name or "table1"
    write_rows(out / f"{stem}.csv", rows)
    figures.table1_figure(rows, out / f"{stem}.png", f"{src}: task networks vs baselines (Table 1)")
    written = [out / f"{stem}{x}" for x in (".csv", ".png", ".settings.json")]
    write_json(out / f"{stem}.settings.json", {"results": a.results, "affinities": a.affinities, "size": a.size,
                                               "tasks": [r["task"] for r in rows]})
    for r in rows:
        print(f"{r['task']:>18}: vs random {_fmt(r['vs_random'])}  vs avg {_fmt(r['vs_avg'])}")
    return written


def cmd_transitive(a) -> list[Path]:
    from taskonomy.evaluation import losses
    res = losses.transitive_check(a.direct, a.transitive)
    res.update(direct=str(a.direct), transitive=str(a.transitive))
    out, stem = Path(a.out_dir), a.name or "transitive"
    write_json(out / f"{stem}.json", res)
    written = [out / f"{stem}.json"]
    print(json.dumps(res, indent=2, sort_keys=True))
    return written


def cmd_bootstrap(a) -> list[Path]:
    from taskonomy.evaluation import bootstrap
    from taskonomy.tasks import resolve_all
    targets = resolve_all(a.targets)
    table, per_target = bootstrap.results_inputs(a.results, a.size, targets)
    a.read = [str(p) for p in bootstrap.input_files(table, per_target)]   # for the lineage sidecars
    losses = [bootstrap.load_tournament(t, npz, pixels=a.metric == "gain") for t, npz in per_target.items()]
    s = bootstrap.Settings(n=a.n, seed=a.seed, budget=a.budget, max_order=a.max_order, metric=a.metric,
                           targets=targets, source_only=a.source_only)
    res = bootstrap.run(losses, s, log=sys.stdout, jobs=a.jobs)
    diff = bootstrap.max_diff_vs_table(res, table)
    if not diff <= 1e-9:
        print(f"warning: full-data affinities differ from {table} by up to {diff:.3g}: is the table "
              "older than the losses?", file=sys.stderr)
    written = bootstrap.write(res, a.out_dir, a.name or "bootstrap")
    n_src = sum(len(b.sources) for b in res.boots)
    print(f"{len(losses)} targets, {n_src} (target, source set) pairs, {a.n} resamples: win matrices + AHP "
          f"{res.timing_s['tables_s']:.2f} s, {a.n + 1} BIP solves {res.timing_s['bip_s']:.2f} s")
    print("\n".join(bootstrap.summary_lines(res.summary())))
    return written


def _lineage(a, written: list[Path], started: str) -> None:
    """Sidecars of what a command wrote (each cmd_* returns the paths it wrote), with the
    files it read and its settings."""
    from taskonomy.evaluation.losses import table1_paths
    from taskonomy.supervision.tables import table_files
    if getattr(a, "read", None) is not None:   # the command listed what it read
        read = a.read
    elif getattr(a, "results", None):
        read = [p for t in a.tasks for p in table1_paths(a.results, t, a.size).values() if p.exists()]
    elif a.cmd == "transitive":
        read = [a.direct, a.transitive]
    else:
        read = table_files(a.affinities)
    settings = {k: v for k, v in vars(a).items() if k not in ("fn", "read", "jobs")}
    lineage.record([p for p in written if p.exists()], read, params=settings, seed=getattr(a, "seed", None),
                   started=started)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="taskonomy evaluate", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("gain-quality", help="Gain/Quality per budget and max order (Fig. 9)")
    _common(p)
    p.add_argument("--budgets", type=int, nargs="+", default=[2, 4, 6, 8, 10])
    p.add_argument("--orders", type=int, nargs="+", default=[1, 4])
    p.set_defaults(fn=cmd_gain_quality)
    p = sub.add_parser("significance", help="taxonomy vs random feasible policies (Fig. 11)")
    _common(p)
    p.add_argument("--budget", type=int, default=6)
    p.add_argument("--max-order", type=int, default=1)
    p.add_argument("--n-random", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(fn=cmd_significance)
    p = sub.add_parser("novel", help="all-for-one novel-task scenario (Sec. 4.2, Fig. 10 left)")
    _common(p)
    p.add_argument("--orders", type=int, nargs="+", default=[1, 2, 3, 4])
    p.set_defaults(fn=cmd_novel)
    p = sub.add_parser("table1", help="task networks vs random readout and average guess (Table 1)")
    _common(p, tables=False)
    p.add_argument("--results", help="results/<run> folder with the losses")
    p.add_argument("--affinities", default="paper-16k", help="without --results: 1 - Quality(random)")
    p.add_argument("--tasks", nargs="+")
    p.add_argument("--size", help="transfer-data size (transfers/<size>/<task>/random)")
    p.set_defaults(fn=cmd_table1)
    p = sub.add_parser("transitive", help="s -> t1 -> t2 vs s -> t2 from per-image losses")
    _common(p, tables=False)
    p.add_argument("--direct", required=True, help="losses.parquet of s -> t2")
    p.add_argument("--transitive", required=True, help="losses.parquet of s -> t1 -> t2")
    p.set_defaults(fn=cmd_transitive)
    p = sub.add_parser("bootstrap", help="bootstrap over the test images: affinity intervals and "
                       "how often the taxonomy's choices survive (no retraining)")
    _common(p, tables=False)
    p.add_argument("--results", required=True, help="results/<run> folder (tables, tasks, transfers)")
    p.add_argument("--size", required=True, help="transfer-data size (tables/<size>, transfers/<size>)")
    p.add_argument("--targets", nargs="+", required=True, help="targets (the run's Stage III targets)")
    p.add_argument("--source-only", nargs="*", default=DEFAULT_SOURCE_ONLY,
                   help="tasks that are never targets")
    p.add_argument("--metric", default="sqrt_affinity", choices=["sqrt_affinity", "affinity", "quality", "gain"],
                   help="value of a transfer in the BIP (gain also reads the scratch baselines)")
    p.add_argument("--budget", type=int, default=6)
    p.add_argument("--max-order", type=int, default=2)
    p.add_argument("--n", type=int, default=200, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="processes for the BIP solves (same answer)")
    p.set_defaults(fn=cmd_bootstrap)
    a = ap.parse_args(argv)
    from taskonomy.ahp import AHPError
    from taskonomy.supervision.tables import TableError
    from taskonomy.supervision.bip import QueryError
    from taskonomy.tasks import UnknownTaskError
    try:
        started = lineage.now()
        _lineage(a, a.fn(a) or [], started)
    except (AHPError, QueryError, TableError, UnknownTaskError) as e:
        print(f"taskonomy evaluate {a.cmd}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
