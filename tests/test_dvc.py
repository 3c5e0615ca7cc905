"""DVC versioning of the pipeline's artifacts, end to end in a throw-away repository:
`dvc repro` of the paper Stage IV stage (Snakemake underneath), `dvc metrics show`, `dvc push`
to a local remote, a fresh clone, `dvc pull` restores byte-identical artifacts, and a second
repro runs nothing. About 1 minute. Run: .venv/bin/pytest tests/test_dvc.py -q
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def run(cmd, cwd, stdout_only=False, **kw):
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=600, **kw)
    assert p.returncode == 0, f"{cmd}: {p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p.stdout if stdout_only else p.stdout + p.stderr


def tree_hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def make_repo(dst: Path) -> None:
    """The working tree's tracked files (what CI's clean clone has) as a fresh git repo, with a
    small config: a few tasks (a quick DAG) and a 2-budget Stage IV grid."""
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
    cfg = yaml.safe_load((dst / "config.yaml").read_text())
    cfg["tasks"], cfg["source_only"] = ["normal", "reshading", "random"], ["random"]
    cfg["paper"].update(tables=["paper-16k"], budgets=[2, 4], max_orders=[1])
    (dst / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    run(["git", "init", "-q"], dst)
    run(["git", "add", "-A"], dst)
    run(["git", "commit", "-q", "-m", "test repo"], dst)


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
