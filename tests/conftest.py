"""Shared test helpers: Snakemake on the smoke config (tests/smoke/config.yaml) in a temp dir.

- ``snakemake(workdir, *args)`` runs the project's Snakefile there (``--directory``);
- ``copy_workflow(dst, *extra)`` makes a runnable copy of the workflow (taskonomy.workflow's
  WORKFLOW_FILES, plus ``extra`` files such as config.yaml) for tests that edit it;
- ``copy_workdir(src, dst)`` copies a run (results, data, Snakemake's records);
- ``tree_hashes(folder)``: sha256 of every file under a folder, by relative path;
- the session-scoped ``smoke_run`` fixture runs Stages I-II once per test session (data
  included, ~2 min on 2 cores), shared by the smoke tests. Tests that change files must work
  on a copy (``copy_workdir``), never in the shared folder.
"""
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from taskonomy.workflow import copy_workflow as _copy_workflow

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "tests" / "smoke" / "config.yaml"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def snakemake(workdir, *args, config=SMOKE, timeout=600, snakefile=None, cores=2, **kw):
    """Run Snakemake on the repo's (or ``snakefile``'s) workflow in ``workdir``; ``config``
    None: the workflow's own config.yaml."""
    # (--configfile takes several values: an option after it ends them)
    cmd = [str(SNAKEMAKE), "-s", str(snakefile or REPO / "Snakefile"),
           *(["--configfile", str(config)] if config else []), "--directory", str(workdir),
           "--cores", str(cores), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def copy_workflow(dst: Path, *extra: str) -> Path:
    """A runnable copy of this checkout's workflow in ``dst`` (the package is the installed one)."""
    return _copy_workflow(REPO, dst, *extra)


def copy_workdir(src: Path, dst: Path) -> Path:
    """A full copy (mtimes and Snakemake's metadata kept, so nothing reruns by accident)."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


def tree_hashes(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``folder``."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """(workdir, results/smoke) after `snakemake stages_1_2` on the smoke config."""
    work = tmp_path_factory.mktemp("smoke")
    res = snakemake(work, "stages_1_2")
    assert res.returncode == 0, res.stderr[-4000:]
    return work, work / "results" / "smoke"
