"""Shared test helpers: Snakemake on the smoke config (tests/smoke/config.yaml) in a temp dir.

``snakemake(workdir, *args)`` runs the project's Snakefile there; the session-scoped
``smoke_run`` fixture runs Stages I-II once per test session (data included, ~2 min on 2
cores) and is shared by tests/test_pipeline_smoke.py and tests/test_reproducible.py. Tests
that change files must work on a copy (``copy_workdir``), never in the shared folder.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "tests" / "smoke" / "config.yaml"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def snakemake(workdir, *args, config=SMOKE, timeout=600):
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--configfile", str(config),
           "--directory", str(workdir), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def copy_workdir(src: Path, dst: Path) -> Path:
    """A full copy (mtimes and Snakemake's metadata kept, so nothing reruns by accident)."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """(workdir, results/smoke) after `snakemake stages_1_2` on the smoke config."""
    work = tmp_path_factory.mktemp("smoke")
    res = snakemake(work, "stages_1_2")
    assert res.returncode == 0, res.stderr[-4000:]
    return work, work / "results" / "smoke"
