"""Wall time per rule of a pipeline run, from Snakemake's `benchmark:` files (bench/pipeline.md).

    .venv/bin/python bench/pipeline.py --since 2026-11-23T02:23:44 [--benchmarks benchmarks] [--run default]

Sums the `s` column (job wall seconds) of every benchmarks/<rule>/<run>/.../*.tsv written after
--since (with --run: of that run only), grouped by the first folder (the rule; every
first-order job is under transfers_from), and prints a markdown table. Rules without
`benchmark:` do not appear.
"""
import argparse
import datetime as dt
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--since", required=True, help="ISO time (UTC) the run started")
    p.add_argument("--benchmarks", default="benchmarks")
    p.add_argument("--run", help="only this run's jobs (benchmarks/<rule>/<run>/...)")
    a = p.parse_args()
    since = dt.datetime.fromisoformat(a.since).replace(tzinfo=dt.timezone.utc).timestamp()
    rows: dict[str, list[float]] = {}
    for f in sorted(Path(a.benchmarks).rglob("*.tsv")):
        parts = f.relative_to(a.benchmarks).parts
        if f.stat().st_mtime < since or (a.run and Path(parts[1]).stem != a.run):
            continue
        lines = f.read_text().splitlines()
        s = float(lines[-1].split("\t")[0])
        rows.setdefault(parts[0], []).append(s)
    print("| rule | jobs | wall s (sum) | mean | max |\n|---|---|---|---|---|")
    for rule, v in sorted(rows.items(), key=lambda kv: -sum(kv[1])):
        print(f"| {rule} | {len(v)} | {sum(v):.0f} | {sum(v) / len(v):.1f} | {max(v):.1f} |")
    total = sum(sum(v) for v in rows.values())
    print(f"| **all benchmarked jobs** | {sum(len(v) for v in rows.values())} | {total:.0f} | | |")


if __name__ == "__main__":
    main()
