"""The smoke pipeline end to end through a real single-node SLURM.

`snakemake --profile slurm` (the user's command, plus the smoke config, GPU tags and shorter
status polling) runs the whole of tests/smoke/config.yaml: data, Stages I-IV, evaluations,
cross-task consistency, paper tables. Every job is submitted with sbatch; SLURM's own records
(`scontrol show job -d`, kept MinJobAge = 600 s) show that each submission completed on this
node in this workdir, that exactly the submissions holding GPU-tagged rules asked for
`gres:gpu:1`, that memory requests are the rules' `mem_mb`, and that grouping keeps the count
of submissions in the tens (bench/slurm.md has the counts and times).

scripts/slurm-local.sh installs (apt-get) and starts munge, slurmctld and slurmd (2 cores, two
fake GPUs); the test stops the daemons it started. Needs root; skips with the reason otherwise
(CI runs as root). About 4-6 minutes on 2 cores. Run: .venv/bin/pytest tests/test_slurm.py -q
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import conftest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "slurm-local.sh"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SMOKE = ROOT / "tests" / "smoke" / "config.yaml"

pytestmark = pytest.mark.slow

# On top of the smoke config: training jobs GPU-tagged (resources.gpu -> sbatch --gpus=1, run on
# the fake GPUs while torch stays on CPU) with memory requests that fit the test node.
GPU_OVERLAY = """\
resources: {gpu: 1, train_mem_mb: 1500, train_runtime: 10, transfer_mem_mb: 1000, transfer_runtime: 5}
"""
# Rules that must be GPU-tagged / must not be, whatever else the workflow adds.
GPU_RULES = {"train_task", "scratch_baseline", "beam", "consistency_perceptual",
             "consistency_baseline", "consistency_train"}
CPU_RULES = {"synth_data", "encode", "cache_targets", "ahp_target", "ahp_gather", "run_taxonomy",
             "run_summary", "paper_taxonomy"}


def copy_workflow(dst: Path) -> None:
    """The workflow files (no results, no .snakemake; the package is installed). No config.yaml:
    the smoke config stands alone as in the other smoke tests (the schema fills defaults)."""
    conftest.copy_workflow(dst)
    os.symlink("profiles/slurm", dst / "slurm")


def local_slurm(cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), cmd], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def slurm():
    if os.geteuid() != 0:
        pytest.skip("needs root to install and start slurm-wlm/munge (scripts/slurm-local.sh)")
    inst = local_slurm("install")
    if inst.returncode == 3:
        pytest.skip(f"SLURM not available here: {inst.stderr.strip()}")
    assert inst.returncode == 0, inst.stderr
    # Stop at the end only what this test started (a cluster someone else runs stays up).
    was_running = "slurmctld: running" in local_slurm("status").stdout
    try:
        start = local_slurm("start")
        assert start.returncode == 0, start.stdout + start.stderr
        if not was_running:
            # A cluster this test starts holds no jobs (slurm-local.sh drops saved job records):
            # ghosts of an earlier, killed run would hold the node until their time limits.
            queue = subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout
            assert not queue.strip(), f"fresh test cluster already has jobs:\n{queue}"
        yield
    finally:
        if not was_running:
            stop = local_slurm("stop")
            assert stop.returncode == 0, stop.stdout + stop.stderr


def show_job(jobid: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "job", "-d", jobid], capture_output=True,
                         text=True, check=True).stdout
    return dict(re.findall(r"(\w[\w/:]*)=(\S*)", out))


def rules_in_log(log: str) -> tuple[dict[str, set[str]], dict[str, bool], dict[str, set[int]]]:
    """From Snakemake's log: group id -> its rules, rule -> GPU-tagged, rule -> mem_mb values."""
    groups: dict[str, set[str]] = {}
    gpu: dict[str, bool] = {}
    mem: dict[str, set[int]] = {}
    group = rule = None
    for line in log.splitlines():
        if m := re.search(r"Group job (\S+) \(jobs in", line):
            group = m.group(1)
            groups.setdefault(group, set())
        elif m := re.match(r"(\s*)(?:local)?(?:rule|checkpoint) (\w+):", line):
            rule = m.group(2)
            if not m.group(1):                 # an unindented rule block ends a group listing
                group = None
            elif group:
                groups[group].add(rule)
        elif "resources:" in line and rule:
            gpu[rule] = gpu.get(rule, False) or bool(re.search(r"\bgpu=[1-9]", line))
            if mm := re.search(r"\bmem_mb=(\d+)", line):
                mem.setdefault(rule, set()).add(int(mm.group(1)))
    return groups, gpu, mem


def test_smoke_pipeline_runs_through_slurm(slurm, tmp_path):
    copy_workflow(tmp_path)
    shutil.copy2(SMOKE, tmp_path / "smoke.yaml")
    (tmp_path / "gpu.yaml").write_text(GPU_OVERLAY)
    t0 = time.monotonic()
    # The user's command plus the test config and shorter status polling (the local cluster
    # keeps finished jobs 600 s: MinJobAge >= 3x the init seconds). No targets: `all`.
    proc = subprocess.run(
        [str(SNAKEMAKE), "--profile", "slurm", "--configfile", "smoke.yaml", "gpu.yaml",
         "--slurm-init-seconds-before-status-checks", "5", "--seconds-between-status-checks", "5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=1500)
    elapsed = time.monotonic() - t0
    log = proc.stdout + proc.stderr
    (tmp_path / "snakemake.log").write_text(log)
    assert proc.returncode == 0, log[-6000:]
    res = tmp_path / "results" / "smoke"
    for f in ("summary.md", "tables/small/affinity.csv", "beam/small/normal.json",
              "consistency/normal/energy/eval.json", "eval/small/table1.png"):
        assert (res / f).stat().st_size > 0, f
    assert (tmp_path / "results" / "paper-16k" / "sweep.csv").stat().st_size > 0
    # Snakemake says it did everything (a checkpoint in a group job must not stall the DAG).
    # With checkpoint-dependent jobs in a group it counts some twice ("81 of 78 steps (104%)",
    # snakemake#4202), so: at least all.
    done, n_jobs = map(int, re.findall(r"(\d+) of (\d+) steps \(\d+%\) done", log)[-1])
    assert done >= n_jobs, log[-3000:]

    # "Job 7 has been submitted with SLURM jobid 12 (log: .../slurm_logs/<kind>/...)":
    # <kind> is rule_<name> or group_<groupid>_<rules...>
    submitted = re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/(\S+?)/", log)
    assert len({j for j, _ in submitted}) == len(submitted), "a SLURM job id reported twice"
    groups, gpu, mem = rules_in_log(log)
    assert GPU_RULES <= {r for r, g in gpu.items() if g}, gpu
    assert not CPU_RULES & {r for r, g in gpu.items() if g}, gpu
    assert len(groups) >= 5, groups

    def kind_rules(kind: str) -> set[str]:
        if kind.startswith("rule_"):
            return {kind[len("rule_"):]}
        (gid,) = [g for g in groups if kind.startswith(f"group_{g}_")]
        return groups[gid]

    gpu_subs = 0
    for jobid, kind in submitted:
        rules = kind_rules(kind)
        rec = show_job(jobid)        # SLURM's own record of the job
        assert rec["JobState"] == "COMPLETED", (kind, rec)
        assert rec["WorkDir"] == str(tmp_path), (kind, rec)
        assert rec["NodeList"] == os.uname().nodename.split(".")[0], (kind, rec)
        wants_gpu = {gpu[r] for r in rules}
        assert len(wants_gpu) == 1, f"{kind} mixes GPU and CPU rules: {rules}"
        if wants_gpu.pop():
            gpu_subs += 1
            assert rec.get("TresPerJob") == "gres:gpu:1" and rec.get("JOB_GRES", "").startswith("gpu:1"), (kind, rec)
        else:
            assert "TresPerJob" not in rec and rec.get("JOB_GRES") == "(null)", (kind, rec)
        # --mem from mem_mb: a rule's own value; a group's lies between its largest job's and
        # the sum of its jobs' (jobs run in parallel layers)
        got = int(re.search(r"mem=(\d+)M", rec["TRES"]).group(1))
        if kind.startswith("rule_"):
            assert {got} == mem[next(iter(rules))], (kind, rec["TRES"])
        else:
            assert max(max(mem[r]) for r in rules) <= got, (kind, rec["TRES"])
    kinds = {k.split("/")[0] for _, k in submitted}
    assert {"rule_train_task", "rule_consistency_train"} <= kinds, kinds
    assert any(k.startswith("group_beams_") for k in kinds), kinds       # checkpoints grouped
    # tens of submissions for the whole pipeline, not one per job
    assert len(submitted) <= 30 and len(submitted) * 2 < n_jobs, (len(submitted), n_jobs)
    print(f"slurm smoke pipeline: {n_jobs} jobs in {len(submitted)} SLURM submissions "
          f"({gpu_subs} with a GPU), {elapsed:.1f} s")
