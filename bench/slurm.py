"""How many SLURM jobs `snakemake --profile slurm` submits for a paper-scale run.

    .venv/bin/python bench/slurm.py

Copies the workflow into a temporary folder (no results), with the repo's config.yaml plus the
paper-scale overrides of bench/dag.py (26 tasks, both transfer sizes, orders up to 4), and dry
runs it with the slurm profile (`snakemake --profile slurm -n`; no cluster needed). A dry run
prints one "Group job" block per submission (per chunk of `group-components`; checked against
real runs on the local cluster in tests/test_slurm.py, bench/slurm.md) and one block per
ungrouped job, so their count is the number of sbatch calls. The beam checkpoints train the
higher-order transfers themselves, so the DAG gains no jobs after them. Prints the count per
group / rule with the profile as is, and with the beams ungrouped (group-components beams=1).
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
sys.path.insert(0, str(ROOT / "bench"))
from dag import copy_workflow  # noqa: E402  (the workflow with the DAG bench's paper-scale settings)


def count_submissions(log: str) -> Counter:
    """sbatch calls of a dry run's output, by group name or (ungrouped jobs) rule name."""
    out = Counter()
    for line in log.splitlines():
        if m := re.search(r"Group job (\S+) \(jobs in", line):
            out[f"group {m.group(1)}"] += 1
        elif m := re.match(r"(rule|checkpoint) (\w+):", line):      # unindented: not in a group
            if m.group(2) != "all":            # the target rule has no command: never submitted
                out[m.group(2)] += 1
    return out


def submissions(wf: Path, extra: list[str]) -> Counter:
    p = subprocess.run([SNAKEMAKE, "--profile", "slurm", "--configfile", "bench.yaml", "-n", *extra],
                       cwd=wf, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"dry run failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return count_submissions(p.stdout + p.stderr)


def main() -> int:
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    comps = [c for c in profile["group-components"] if not c.startswith("beams=")] + ["beams=1"]
    with tempfile.TemporaryDirectory() as d:
        wf = copy_workflow(Path(d))
        (wf / "slurm").symlink_to("profiles/slurm")
        grouped = submissions(wf, [])
        ungrouped = submissions(wf, ["--group-components", *comps])
    print("| submissions | profile as is | beams ungrouped |\n|---|---|---|")
    for k in sorted(set(grouped) | set(ungrouped)):
        print(f"| {k} | {grouped[k]} | {ungrouped[k]} |")
    print(f"| **total** | **{sum(grouped.values())}** | **{sum(ungrouped.values())}** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
