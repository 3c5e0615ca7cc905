"""How long Snakemake takes to build the DAG of a paper-scale run (target: <= 15 s).

    .venv/bin/python bench/dag.py [--repeats 3]

Copies the workflow into a temporary folder (no results: the whole DAG is built), with the
repo's config.yaml plus paper-scale overrides (all 26 tasks, transfers up to order 4 over the
top 5 first-order sources, both transfer-data sizes), and times `snakemake -n --quiet` (job
table only) and `snakemake -n` (every job listed). Prints the job counts per rule and a
markdown row for bench/dag.md. Higher-order transfers are decided by the beam checkpoints, so
before those run the DAG holds the first-order transfers and the checkpoints; Snakemake adds
the rest as each beam finishes.
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
OVERRIDES = {"transfer": {"max_order": 4, "top_k": 5, "beam_width": 1, "sizes": {"16k": 64, "1k": 16}}}


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return dt, p.stdout + p.stderr


def copy_workflow(wf: Path) -> Path:
    """The workflow (taskonomy.workflow.copy_workflow, with config.yaml) in ``wf``, plus
    bench.yaml with the paper-scale OVERRIDES: a DAG can be built there without touching the repo."""
    from taskonomy.workflow import copy_workflow as copy
    copy(ROOT, wf, "config.yaml")
    (wf / "bench.yaml").write_text(yaml.safe_dump(OVERRIDES))
    return wf


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        wf = copy_workflow(Path(d))
        cfg = yaml.safe_load((wf / "config.yaml").read_text())
        base = [SNAKEMAKE, "--cores", "2", "--configfile", "bench.yaml", "-n"]
        quiet, full = [], []
        for _ in range(args.repeats):
            dt, out = timed(base + ["--quiet", "rules"], wf)
            quiet.append(dt)
            dt, _ = timed(base, wf)
            full.append(dt)
    table = out.split("Job stats:", 1)[1]
    counts = {r: int(n) for r, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)}
    total = counts.pop("total")
    print("jobs per rule:", ", ".join(f"{r} {n}" for r, n in counts.items()))
    print(f"tasks {len(cfg['tasks'])}, sizes {len(OVERRIDES['transfer']['sizes'])}, max order 4, top 5")
    print(f"| {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} | {total} | "
          f"{statistics.median(quiet):.1f} s | {statistics.median(full):.1f} s | "
          f"{'yes' if max(statistics.median(quiet), statistics.median(full)) <= 15 else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
