"""DVC versioning of the pipeline's artifacts, end to end in throw-away repositories.

1. `dvc repro` of the paper Stage IV stage (Snakemake underneath), `dvc metrics show`, `dvc push`
   to a local remote, a fresh clone, `dvc pull` restores byte-identical artifacts, and a second
   repro runs nothing. About 1 minute.
2. The `pipeline` stage on the smoke config (tests/smoke/config.yaml's sections in config.yaml),
   starting from a copy of the shared ``smoke_run`` fixture (data + Stages I-II): `dvc repro
   pipeline` with no virtual env on PATH (dvc.yaml calls scripts/venv-exec) runs only the missing
   Stage III/IV, evaluation and consistency jobs, `dvc metrics show` lists the run's numbers, a
   second repro runs nothing, and a params edit reruns the stage with Snakemake redoing only the
   jobs the edit touches (persist: true keeps the rest). About 2 minutes besides the fixture.

Run: .venv/bin/pytest tests/test_dvc.py -q
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import SMOKE, tree_hashes

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def run(cmd, cwd, stdout_only=False, venv_on_path=True, **kw):
    path = os.environ.get("PATH", "")
    if venv_on_path:
        path = f"{BIN}:{path}"
    else:   # as after `make setup` without activating: nothing of the env on PATH
        path = os.pathsep.join(p for p in path.split(os.pathsep) if Path(p).resolve() != BIN.resolve())
    env = {**os.environ, "PATH": path, "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env.pop("VIRTUAL_ENV", None)
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=600, **kw)
    assert p.returncode == 0, f"{cmd}: {p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p.stdout if stdout_only else p.stdout + p.stderr


def copy_tracked(dst: Path) -> None:
    """The working tree's tracked files (what CI's clean clone has)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_symlink():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(src), dst / f)
        elif src.is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)


def git_init(dst: Path) -> None:
    run(["git", "init", "-q"], dst)
    run(["git", "add", "-A"], dst)
    run(["git", "commit", "-q", "-m", "test repo"], dst)


def make_repo(dst: Path) -> None:
    """The tracked files as a fresh git repo, with a small config: a few tasks (a quick DAG)
    and a 2-budget Stage IV grid."""
    copy_tracked(dst)
    cfg = yaml.safe_load((dst / "config.yaml").read_text())
    cfg["tasks"], cfg["source_only"] = ["normal", "reshading", "random"], ["random"]
    cfg["paper"].update(tables=["paper-16k"], budgets=[2, 4], max_orders=[1])
    (dst / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git_init(dst)


def planned_jobs(log: str) -> dict[str, int]:
    """Snakemake's "Job stats" table(s) in a log -> {rule: count} (empty: nothing to do)."""
    jobs: dict[str, int] = {}
    for table in re.findall(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal", log, re.S):
        for line in table.splitlines():
            rule, n = line.split()
            jobs[rule] = jobs.get(rule, 0) + int(n)
    return jobs


def test_repro_push_clone_pull(tmp_path):
    repo, remote, clone = tmp_path / "repo", tmp_path / "remote", tmp_path / "clone"
    repo.mkdir()
    make_repo(repo)
    dvc = str(BIN / "dvc")
    assert (repo / ".dvc" / "config").is_file(), ".dvc/config must be committed"
    run([dvc, "remote", "modify", "--local", "local", "url", str(remote)], repo)

    run([dvc, "repro", "paper@paper-16k"], repo)
    out = repo / "results" / "paper-16k"
    assert (out / "taxonomy" / "2_1.json").is_file() and (out / "sweep.csv").is_file()
    assert not (out / "taxonomy" / "6_1.json").exists()        # only the configured grid
    metrics = json.loads(run([dvc, "metrics", "show", "--json", "metrics/paper-16k.json"], repo, stdout_only=True))
    (m,) = [v["data"]["metrics/paper-16k.json"]["data"] for v in metrics.values()]
    objective = json.loads((out / "taxonomy" / "2_1.json").read_text())["objective"]
    assert m["taxonomy"]["2_1"]["objective"] == pytest.approx(objective) and objective > 0
    # Up to date: neither DVC nor Snakemake redoes anything.
    assert "didn't change" in run([dvc, "repro", "paper@paper-16k"], repo)
    assert "up to date" in run([dvc, "status", "paper@paper-16k"], repo).lower()

    run([dvc, "push", "paper@paper-16k"], repo)
    run(["git", "add", "dvc.lock", "metrics"], repo)
    run(["git", "commit", "-q", "-m", "results"], repo)

    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    assert not (clone / "results").exists()
    run([dvc, "remote", "modify", "--local", "local", "url", str(remote)], clone)
    run([dvc, "pull", "paper@paper-16k"], clone)
    assert tree_hashes(clone / "results" / "paper-16k") == tree_hashes(out)
    assert len(tree_hashes(out)) >= 10
    assert "up to date" in run([dvc, "status", "paper@paper-16k"], clone).lower()


def test_pipeline_stage_on_smoke_config(smoke_run, tmp_path):
    work, _ = smoke_run
    repo = tmp_path / "repo"
    repo.mkdir()
    copy_tracked(repo)
    # The smoke config's sections replace config.yaml's whole (as in the smoke run, where the
    # schema fills the rest: a merge would add config.yaml's transfer sizes); sections the smoke
    # config lacks stay, since dvc.yaml's params must exist.
    cfg = {**yaml.safe_load((repo / "config.yaml").read_text()), **yaml.safe_load(SMOKE.read_text())}
    run_name = cfg["run"]
    (repo / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git_init(repo)
    # Stages I-II as the shared smoke run made them: files with their mtimes and Snakemake's
    # records (.snakemake), so Snakemake sees them up to date (git ignores all of these).
    for name in ("data", "results", "logs", "benchmarks", ".snakemake"):
        if (work / name).exists():
            shutil.copytree(work / name, repo / name, symlinks=True)
    # the Makefile's virtual env at <repo>/.venv, as `make setup` leaves it; not on PATH
    os.symlink(sys.prefix, repo / ".venv")
    dvc = str(BIN / "dvc")

    out = run([dvc, "repro", "pipeline"], repo, venv_on_path=False)
    jobs = planned_jobs(out)
    assert "train_task" not in jobs and "beam" not in jobs, jobs        # Stages I-II kept
    assert {"ahp_target", "run_taxonomy", "run_summary", "consistency_train"} <= set(jobs), jobs
    assert not any(r.startswith("paper_") or r.endswith("_paper") for r in jobs), jobs
    res = repo / "results" / run_name
    assert (res / "summary.md").is_file()

    metrics = json.loads(run([dvc, "metrics", "show", "--json"], repo, stdout_only=True, venv_on_path=False))
    (m,) = [v["data"][f"metrics/{run_name}.json"]["data"] for v in metrics.values()]
    size = next(iter(cfg["transfer"]["sizes"]))
    b, k = cfg["taxonomy"]["default_budget"], cfg["taxonomy"]["default_order"]
    sol = json.loads((res / "taxonomy" / size / f"{b}_{k}.json").read_text())
    assert m["taxonomy"][size][f"{b}_{k}"]["objective"] == pytest.approx(sol["objective"])
    assert set(m["tasks"]) >= {"normal", "room_layout", "fixated_pose"}
    assert m["affinity_rows_per_size"][size] > 0
    table = run([dvc, "metrics", "show"], repo, venv_on_path=False)
    assert f"taxonomy.{size}.{b}_{k}.objective" in table, table

    # Up to date: DVC does not even start Snakemake.
    again = run([dvc, "repro", "pipeline"], repo, venv_on_path=False)
    assert "didn't change" in again and "Job stats" not in again, again
    summary_before = (res / "summary.md").read_text()
    objective_file = res / "taxonomy" / size / f"{b}_{k}.json"
    mtime = objective_file.stat().st_mtime_ns

    # A params edit: DVC reruns the stage; persist keeps the outputs, so Snakemake redoes only
    # what the summary's default policy touches (its significance test, its bootstrap stability
    # and the summary).
    assert b > 1
    cfg["taxonomy"]["default_budget"] = b - 1
    (repo / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert "pipeline" in run([dvc, "status", "pipeline"], repo, venv_on_path=False)
    edit = run([dvc, "repro", "pipeline"], repo, venv_on_path=False)
    assert "Running stage 'pipeline'" in edit, edit
    assert set(planned_jobs(edit)) == {"eval_significance_run", "eval_bootstrap_run", "run_summary"}, edit
    assert (res / "summary.md").read_text() != summary_before
    assert objective_file.stat().st_mtime_ns == mtime           # untouched, not rebuilt
    assert "up to date" in run([dvc, "status", "pipeline"], repo, venv_on_path=False).lower()
