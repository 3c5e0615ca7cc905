"""How long Snakemake takes to build the DAG of a paper-scale run (target: <= 5 s).

    .venv/bin/python bench/dag.py [--repeats 3]

Copies the workflow into a temporary folder (no results: the whole DAG is built), with the
repo's config.yaml plus paper-scale overrides (all 26 tasks, transfers up to order 4 over the
top 5 first-order sources, both transfer-data sizes), and times `snakemake -n --quiet rules`
(job table only) and `snakemake -n` (every job listed), wall clock and CPU (user + sys of the
Snakemake process: what a busy machine does not inflate as much). Prints the job counts per
rule and a markdown row for bench/dag.md, whose last column also gives the same dry run of a
one-rule Snakefile: Snakemake's own start-up on this machine at this moment, the yardstick for
comparing rows measured at different times (this machine's speed varied by up to 2.5x in a
day). The DAG is static: every transfer, higher orders included, is a declared output of a
job listed here (no checkpoint adds jobs later).
"""
from __future__ import annotations

import argparse
import os
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


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float, str]:
    """(wall s, CPU s of the child, output)."""
    r0 = os.times()
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    r1 = os.times()
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    return dt, cpu, p.stdout + p.stderr


def copy_workflow(wf: Path, repo: Path = ROOT) -> Path:
    """The workflow of the checkout ``repo`` (the taskonomy.workflow.WORKFLOW_FILES it has, and
    config.yaml) in ``wf``, plus bench.yaml with the paper-scale OVERRIDES: a DAG can be built
    there without touching the repo. (An older checkout may lack some, e.g. envs/.)"""
    import shutil
    from taskonomy.workflow import WORKFLOW_FILES
    for name in ("config.yaml", *WORKFLOW_FILES):
        src = repo / name
        if src.is_dir():
            shutil.copytree(src, wf / name)
        elif src.exists():
            shutil.copy2(src, wf / name)
    (wf / "bench.yaml").write_text(yaml.safe_dump(OVERRIDES))
    return wf


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--repo", type=Path, default=ROOT,
                    help="another checkout to measure (e.g. an older commit: git worktree add); its src/ is used")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(args.repo.resolve() / "src"),
                                                                      os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory() as d:
        wf = copy_workflow(Path(d), args.repo)
        cfg = yaml.safe_load((wf / "config.yaml").read_text())
        base = [SNAKEMAKE, "--cores", "2", "--configfile", "bench.yaml", "-n"]
        quiet, full, empty = [], [], []
        one = Path(d) / "one-rule"
        one.mkdir()
        (one / "Snakefile").write_text('rule a:\n    output:\n        "x",\n    shell:\n        "touch {output}"\n')
        for _ in range(args.repeats):
            empty.append(timed([SNAKEMAKE, "--cores", "1", "-n", "--quiet", "rules"], one, env)[:2])
            dt, cpu, out = timed(base + ["--quiet", "rules"], wf, env)
            quiet.append((dt, cpu))
            dt, cpu, listing = timed(base, wf, env)
            full.append((dt, cpu))
    table = out.split("Job stats:", 1)[1]
    counts = {r: int(n) for r, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)}
    total = counts.pop("total")
    outputs = len(re.findall(r"^\s+output: ", listing, re.M))
    files = sum(len(line.split(", ")) for line in re.findall(r"^\s+output: (.*)$", listing, re.M))
    print("jobs per rule:", ", ".join(f"{r} {n}" for r, n in counts.items()))
    print(f"tasks {len(cfg['tasks'])}, sizes {len(OVERRIDES['transfer']['sizes'])}, max order 4, top 5; "
          f"{outputs} jobs listed with {files} output files")
    med = lambda xs, i: statistics.median(x[i] for x in xs)          # noqa: E731
    load = os.getloadavg()[0]
    print(f"| {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} | {total} | {files} | "
          f"{med(quiet, 0):.1f} s ({med(quiet, 1):.1f} s CPU) | {med(full, 0):.1f} s ({med(full, 1):.1f} s CPU) | "
          f"{'yes' if med(full, 0) <= 5 else 'NO'} | load {load:.1f}; one-rule Snakefile {med(empty, 0):.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
