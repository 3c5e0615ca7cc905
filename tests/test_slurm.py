"""End to end through a real single-node SLURM: `snakemake --profile slurm` submits the jobs
with sbatch, and SLURM's own records (`scontrol show job -d`) prove they ran there and that
the GPU rule asked for a GPU.

Needs root and Debian's slurm-wlm + munge (scripts/slurm-local.sh installs them with apt-get);
skips with the reason otherwise. CI runs as root, so it runs there. About 1-2 minutes: three
SLURM jobs (the synthetic data, one GPU-tagged task network, and one group job holding the
five Stage IV paper rules). Run: .venv/bin/pytest tests/test_slurm.py -q
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

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "slurm-local.sh"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"

pytestmark = pytest.mark.slow

# Tiny but real: two tasks on a few synthetic buildings, one epoch; GPU-tagged training
# (resources.gpu: 1, scheduled on the fake GPU of slurm-local.sh while torch stays on CPU).
TEST_CONFIG = """\
run: slurmtest
device: cpu
tasks: [normal, class_scene, random]
source_only: [random]
model: {encoder: resnet_tiny, width: 8, stride: 8, decoder_width: 16, fc_hidden: 32, readout_width: 16}
train: {epochs: 1, batch_size: 16}
resources: {gpu: 1, threads: 1, train_mem_mb: 1500, train_runtime: 10}
data: {root: data/slurmtest, synth: {buildings: 8, points: 2, views: 3, size: 32, workers: 1}}
paper: {tables: [paper-16k], budgets: [2, 4], max_orders: [1]}
"""
TARGETS = ["results/slurmtest/tasks/normal/model.pt", "results/paper-16k/sweep.csv",
           "results/paper-16k/taxonomy/2_1.json", "results/paper-16k/taxonomy/4_1.json",
           "results/paper-16k/tree.png", "results/paper-16k/affinity.png"]


def copy_workflow(dst: Path) -> None:
    """The workflow files (not results, not .snakemake) into dst; the package is installed."""
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(ROOT / name, dst / name)
    for name in ("rules", "schemas", "profiles"):
        shutil.copytree(ROOT / name, dst / name)
    os.symlink("profiles/slurm", dst / "slurm")


@pytest.fixture(scope="module")
def slurm():
    if os.geteuid() != 0:
        pytest.skip("needs root to install and start slurm-wlm/munge (scripts/slurm-local.sh)")
    inst = subprocess.run([str(SCRIPT), "install"], capture_output=True, text=True, timeout=300)
    if inst.returncode == 3:
        pytest.skip(f"SLURM not available here: {inst.stderr.strip()}")
    assert inst.returncode == 0, inst.stderr
    try:
        start = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, timeout=120)
        assert start.returncode == 0, start.stdout + start.stderr
        yield
    finally:
        subprocess.run([str(SCRIPT), "stop"], capture_output=True, text=True, timeout=60)


def show_job(jobid: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "job", "-d", jobid], capture_output=True,
                         text=True, check=True).stdout
    return dict(re.findall(r"(\w[\w/:]*)=(\S*)", out))


def test_pipeline_runs_through_slurm(slurm, tmp_path):
    copy_workflow(tmp_path)
    (tmp_path / "slurm-test.yaml").write_text(TEST_CONFIG)
    t0 = time.monotonic()
    # Exactly the user's command plus a test config, targets and shorter status polling
    # (the local cluster keeps finished jobs 600 s: MinJobAge >= 3x the init seconds).
    proc = subprocess.run(
        [str(SNAKEMAKE), "--profile", "slurm", "--configfile", "slurm-test.yaml",
         "--slurm-init-seconds-before-status-checks", "5", "--seconds-between-status-checks", "5",
         *TARGETS],
        cwd=tmp_path, capture_output=True, text=True, timeout=400)
    elapsed = time.monotonic() - t0
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    for t in TARGETS:
        assert (tmp_path / t).stat().st_size > 0, t

    # "Job 1 has been submitted with SLURM jobid 4 (log: .../slurm_logs/rule_train_task/...)"
    submitted = re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/(\S+?)/", log)
    kinds = {kind: jobid for jobid, kind in submitted}
    assert set(kinds) == {"rule_synth_data", "rule_train_task",
                          "group_paper_paper_affinity_plot_paper_sweep_paper_taxonomy_paper_tree"}, log
    # SLURM's own records: each job completed, on this node, in this workdir.
    for kind, jobid in kinds.items():
        rec = show_job(jobid)
        assert rec["JobState"] == "COMPLETED", (kind, rec)
        assert rec["WorkDir"] == str(tmp_path), (kind, rec)
    # The GPU rule asked SLURM for one GPU (--gpus=1 -> gres gpu:1); the others did not.
    gpu_rec = show_job(kinds["rule_train_task"])
    assert gpu_rec.get("TresPerJob") == "gres:gpu:1" and gpu_rec.get("JOB_GRES") == "gpu:1", gpu_rec
    assert gpu_rec["TRES"].split(",")[1] == "mem=1500M", gpu_rec  # mem_mb -> --mem
    data_rec = show_job(kinds["rule_synth_data"])
    assert "TresPerJob" not in data_rec and data_rec.get("JOB_GRES") == "(null)", data_rec
    print(f"slurm pipeline: {len(kinds)} SLURM jobs, {elapsed:.1f} s")
