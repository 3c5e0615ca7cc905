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

import pytest
import yaml

from conftest import copy_workdir, copy_workflow, snakemake, tree_hashes

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
    copy_workflow(tmp_path, "config.yaml")
    cfg = yaml.safe_load((tmp_path / "config.yaml").read_text())
    cfg["tasks"], cfg["source_only"] = ["normal", "reshading", "random"], ["random"]
    cfg["evaluation"]["transitive"] = []              # the default triples name other tasks
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    target = "results/paper-16k/sweep.csv"        # the slowest Stage IV job: a grid of BIPs
    cmd = [str(BIN / "snakemake"), "--cores", "1", target]
    p = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    log = tmp_path / f"logs/paper_sweep/{cfg['run']}/paper-16k.log"
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


_hashes = tree_hashes


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
    log = (work / "logs/encode/smoke/normal.log").read_text()
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


# ---------------------------------------------------------------- transfer result store
def _store_case(tmp_path):
    from taskonomy.settings import transfer_settings
    settings = transfer_settings({"transfer": {"sizes": {"small": 8}}}, "normal", "small")
    for role in ("reps/depth_zbuffer", "reps/reshading", "targets/normal"):
        for sp in ("val", "test"):
            p = tmp_path / f"{role}/{sp}.{'npz' if role.startswith('targets') else 'npy'}"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(f"{role}/{sp}".encode())
    return settings


def test_store_key_covers_settings_source_order_and_input_bytes(tmp_path):
    from taskonomy.transfer import store_key, transfer_inputs
    s = _store_case(tmp_path)

    def key(settings=s, sources=("depth_zbuffer", "reshading")):
        return store_key(settings, sources, transfer_inputs(settings, sources, tmp_path / "reps",
                                                            tmp_path / "targets"), "cpu")[0]
    k = key()
    assert k == key()
    assert key(sources=("reshading", "depth_zbuffer")) != k          # channel order of the inputs
    for change in ({"seed": 1}, {"subset_seed": 1}, {"n": 9}, {"train": {**s["train"], "epochs": 99}},
                   {"model": {**s["model"], "readout_width": 3}}):
        assert key(settings={**s, **change}) != k, change
    rep = tmp_path / "reps/reshading/test.npy"
    rep.write_bytes(b"changed")                                        # new bytes, new key
    assert key() != k
    rep.unlink()
    with pytest.raises(FileNotFoundError, match="reps/reshading/test.npy"):
        key()


def _put(args):
    from taskonomy.transfer import store_put
    store, key, out = args
    return store_put(Path(store), key, {"who": str(out)}, Path(out))


def test_store_entries_are_all_or_nothing_and_first_writer_wins(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    from taskonomy.transfer import store_entry, store_get
    store, key = tmp_path / "store", "ab" * 32
    outs = []
    for i in range(4):
        out = tmp_path / f"out{i}"
        out.mkdir()
        (out / "losses.parquet").write_bytes(f"losses {i}".encode())
        (out / "heldout.parquet").write_bytes(f"held-out losses {i}".encode())
        (out / "metrics.json").write_text(json.dumps({"i": i}))
        outs.append(out)
    # a writer killed mid-way leaves a dot-named .tmp folder only: not an entry
    (store / key[:2]).mkdir(parents=True)
    (store / key[:2] / f".{key[:16]}.1.dead.tmp").mkdir()
    assert not store_get(store, key, tmp_path / "restored")
    with ProcessPoolExecutor(4) as ex:
        won = list(ex.map(_put, [(str(store), key, str(o)) for o in outs]))
    assert sum(won) == 1, won
    winner = outs[won.index(True)]
    entry = store_entry(store, key)
    assert json.loads((entry / "key.json").read_text())["who"] == str(winner)
    assert (entry / "losses.parquet").read_bytes() == (winner / "losses.parquet").read_bytes()
    assert sorted(p.name for p in (store / key[:2]).iterdir() if not p.name.endswith(".tmp")) == [key]
    # a restore copies every stored file and drops a stale checkpoint
    dst = tmp_path / "restored"
    dst.mkdir(exist_ok=True)
    (dst / "checkpoint.pt").write_bytes(b"stale")
    assert store_get(store, key, dst)
    assert (dst / "losses.parquet").read_bytes() == (winner / "losses.parquet").read_bytes()
    assert (dst / "heldout.parquet").read_bytes() == (winner / "heldout.parquet").read_bytes()
    assert not (dst / "checkpoint.pt").exists()
    # an entry whose key.json names another key is not used
    (entry / "key.json").write_text(json.dumps({"key": "cd" * 32}))
    assert not store_get(store, key, tmp_path / "other")


def test_store_entry_without_heldout_losses_is_a_miss(tmp_path):
    """Entries stored before transfers wrote held-out losses are retrained, not half-restored."""
    from taskonomy.transfer import store_get, store_put
    store, key, out = tmp_path / "store", "ef" * 32, tmp_path / "out"
    out.mkdir()
    (out / "losses.parquet").write_bytes(b"losses")
    (out / "metrics.json").write_text("{}")
    assert store_put(store, key, {"old": True}, out)
    assert not store_get(store, key, tmp_path / "restored")
