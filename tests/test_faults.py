"""Faults: a job killed (SIGKILL) mid-write leaves nothing Snakemake or DVC takes as complete,
and rerunning recovers; an unreadable input image fails the job that reads it, with the image's
path in its log and in Snakemake's output, and leaves every earlier artifact as it was.
Run: .venv/bin/pytest tests/test_faults.py -q   (about 1.5 minutes besides the shared smoke run)
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import hashlib

import pytest
import yaml

from conftest import copy_workdir, snakemake

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Writes v2 of OUT through taskonomy.io.atomic_path, announces that it is half-way, then hangs
# until it is killed.
WRITER = """
import sys, time
from taskonomy.io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    with open(tmp, "w") as f:
        f.write('{"version": 2, "payload": "')
        f.write("x" * 1_000_000)
        f.flush()
        print("HALF", flush=True)
        time.sleep(60)
        f.write('"}')
"""


def test_sigkill_mid_write_keeps_old_file_and_leaves_no_final(tmp_path):
    out = tmp_path / "art.json"
    out.write_text('{"version": 1}')
    fresh = tmp_path / "fresh.json"
    for target in (out, fresh):
        p = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "HALF"
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        assert p.returncode == -signal.SIGKILL
    # the old version is intact, the new artifact does not exist: nothing looks complete
    assert json.loads(out.read_text()) == {"version": 1}
    assert not fresh.exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("art.json",)]
    assert leftovers and all(n.startswith(".") and ".tmp" in n for n in leftovers), leftovers
    # DVC never versions such leftovers (.dvcignore)
    chk = subprocess.run([str(BIN / "dvc"), "check-ignore", *(f"results/x/{n}" for n in leftovers)],
                         cwd=ROOT, capture_output=True, text=True)
    assert chk.returncode == 0 and len(chk.stdout.split()) == len(leftovers), chk.stdout + chk.stderr


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


@pytest.mark.slow
def test_killed_snakemake_job_is_rerun(tmp_path):
    """SIGKILL Snakemake and its job while the job runs: the output is absent (or complete and
    marked incomplete by Snakemake); the next run redoes exactly that job and succeeds."""
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    for name in ("rules", "schemas", "profiles"):
        shutil.copytree(ROOT / name, tmp_path / name)
    cfg = yaml.safe_load((tmp_path / "config.yaml").read_text())
    cfg["tasks"], cfg["source_only"] = ["normal", "reshading", "random"], ["random"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    target = "results/paper-16k/sweep.csv"        # the slowest Stage IV job: a grid of BIPs
    cmd = [str(BIN / "snakemake"), "--cores", "1", target]
    p = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    log = tmp_path / "logs/paper_sweep/paper-16k.log"
    deadline = time.monotonic() + 120
    while not log.exists() and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.05)
    assert log.exists(), "the job never started"
    time.sleep(1.0)                                # inside the job: imports, solving, writing
    victims = [p.pid, *_descendants(p.pid)]
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.wait(timeout=10)
    out = tmp_path / target
    if out.exists():                               # finished just before the kill: complete
        assert out.read_text().count("\n") > 10
    # A killed Snakemake leaves its lock: the documented recovery is `snakemake --unlock`.
    unlock = subprocess.run(cmd + ["--unlock"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    # Snakemake plans to (re)do exactly the killed job ...
    dry = subprocess.run(cmd + ["-n"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr[-2000:]
    plan = dry.stdout + dry.stderr
    assert re.search(r"^paper_sweep\s+1$", plan, re.M) and re.search(r"^total\s+1$", plan, re.M), plan
    # (the reason is "Missing output files" when killed mid-job, "incomplete" when killed
    # between the job's end and Snakemake's bookkeeping; either way that job alone reruns)
    reasons = re.findall(r"reason: (.*)", plan)
    assert len(reasons) == 1, plan
    print("rerun reason:", reasons[0])
    # ... and the rerun (rerun-incomplete in profiles/default) recovers.
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    rows = out.read_text().splitlines()
    assert rows[0].startswith("table,") and len(rows) > 10
    done = subprocess.run(cmd + ["-n"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "Nothing to be done" in done.stdout + done.stderr


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["truncated", "no_permission"])
def test_unreadable_image_fails_its_job_with_the_path_and_keeps_artifacts(smoke_run, tmp_path, fault):
    """One rgb PNG of the test split made unreadable (cut to 40 bytes; or chmod 000, which
    only a non-root user feels); the normal encoder's representations deleted so that the
    encode job (which reads every rgb image of the splits) must run again."""
    if fault == "no_permission" and os.geteuid() == 0:
        pytest.skip("chmod 000 does not stop root from reading")
    work = copy_workdir(smoke_run[0], tmp_path / "w")
    data = work / "data" / "synth"
    building = json.loads((data / "manifest.json").read_text())["splits"]["test"][0]
    image = sorted((data / "rgb" / building).glob("*.png"))[0]
    rel = str(image.relative_to(work))
    reps = [work / "results/smoke/reps/normal" / f"{sp}.npy" for sp in ("val", "test")]
    for p in reps:
        p.unlink()
    if fault == "truncated":
        image.write_bytes(image.read_bytes()[:40])
    else:
        image.chmod(0)
    before = _hashes(work / "results")
    try:
        res = snakemake(work, "--show-failed-logs", *(str(p.relative_to(work)) for p in reps))
    finally:
        image.chmod(0o644)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-3000:]
    assert re.search(r"Error in rule encode", out), out[-3000:]
    log = (work / "logs/encode/normal.log").read_text()
    assert rel in log and "DataFileError" in log, log[-3000:]
    assert rel in out, out[-3000:]                  # Snakemake shows the failed job's log
    # nothing half-written is taken as complete: the encode outputs are absent (temporary
    # files of taskonomy.io are dot-named and never outputs), every earlier artifact is intact
    assert not any(p.exists() for p in reps)
    after = _hashes(work / "results")
    assert {k: after.get(k) for k in before} == before
    new = [k for k in after if k not in before]
    assert all(Path(k).name.startswith(".") for k in new), new
    # and Snakemake plans exactly that job again (plus what reads the representations)
    dry = snakemake(work, "-n", *(str(p.relative_to(work)) for p in reps))
    assert dry.returncode == 0 and re.search(r"^encode\s+1$", dry.stdout, re.M), dry.stdout[-2000:]
