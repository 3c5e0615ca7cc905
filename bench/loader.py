"""Data loading at scale (issue 15): training-input throughput at 256 px from PNG, and the peak
memory of encode, label-cache, training and transfer jobs as the split grows 10x (streamed: flat;
in memory: not).

    .venv/bin/python bench/loader.py --work /tmp/loader --out bench/loader.md

Renders three synthetic sets into ``--work`` (kept for reruns): 192 views at 256 px, and about
1k and 10k views at 64 px. Throughput: one pass of ``stagedata.StreamSplit.batches`` (batches of
32, shuffled, decoded per batch) over the 256-px train split, with 0 and 2 DataLoader workers,
against decoding the split into memory (``load_task_split``). Memory: peak resident set size
(``/usr/bin/time -f %M``) of ``taskonomy encode`` (its representation cache and a label cache are
always appended batch by batch) and of ``taskonomy train`` (1 epoch, ``train.stream`` true and
false) on the train split of the 1k and 10k sets, and of a transfer reading the caches of the
transfer and test splits memory-mapped, each job in its own process with 1 thread.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

from taskonomy.config import load_config  # noqa: E402
from taskonomy.data.synth import SynthSettings, synthesize  # noqa: E402
from taskonomy.settings import task_settings, transfer_settings  # noqa: E402
from taskonomy.stagedata import StreamSplit, load_task_split  # noqa: E402

PY = sys.executable
SETS = {"256px": dict(buildings=8, points=8, views=3, size=256),
        "1k": dict(buildings=28, points=12, views=3, size=64),
        "10k": dict(buildings=280, points=12, views=3, size=64)}


def dataset(work: Path, name: str) -> Path:
    out = work / name
    if not (out / "manifest.json").exists():
        t0 = time.perf_counter()
        synthesize(SynthSettings(out=str(out), workers=2, seed=0, **SETS[name]), progress=False)
        print(f"rendered {name} in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def throughput(root: Path, task: str) -> list[dict]:
    rows = []
    t0 = time.perf_counter()
    mem = load_task_split(root, "train", task)
    rows.append({"task": task, "how": "into memory, 0 workers", "images": len(mem),
                 "per_s": len(mem) / (time.perf_counter() - t0)})
    del mem
    for workers in (0, 2):
        st = StreamSplit(root, "train", task, num_workers=workers)
        t0, n = time.perf_counter(), 0
        for b in st.batches(32, torch.Generator().manual_seed(0)):
            n += len(b["y"])
        rows.append({"task": task, "how": f"streamed, {workers} workers", "images": n,
                     "per_s": n / (time.perf_counter() - t0)})
    return rows


def peak_rss(cmd: list[str], log: Path) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of ``cmd`` run under /usr/bin/time."""
    t0 = time.perf_counter()
    res = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    log.write_text(res.stdout + res.stderr)
    if res.returncode:
        raise SystemExit(f"failed: {' '.join(cmd[:6])} ... see {log}")
    return int(res.stderr.strip().splitlines()[-1]) / 1024, time.perf_counter() - t0


def memory(work: Path, name: str, root: Path, cfg: dict) -> list[dict]:
    out = work / f"jobs-{name}"
    out.mkdir(exist_ok=True)
    n = len(StreamSplit(root, "train", "normal"))
    rows = []
    rnd = out / "random"
    if not (rnd / "model.pt").exists():
        subprocess.run([PY, "-m", "taskonomy.train", "--task", "random", "--data", str(root), "--out", str(rnd),
                        "--settings", json.dumps(task_settings(cfg, "random"))], check=True, capture_output=True)
    mib, s = peak_rss([PY, "-m", "taskonomy.encode", "--model", str(rnd / "model.pt"), "--data", str(root),
                       "--split", "train", "--out", str(out / "train.npy"), "--threads", "1"], out / "encode.log")
    rows.append({"set": name, "views": n, "job": "encode (cache appended batch by batch)", "mib": mib, "s": s})
    mib, s = peak_rss([PY, "-m", "taskonomy.encode", "--targets", "--task", "normal", "--data", str(root),
                       "--split", "train", "--out", str(out / "labels-train.npz"), "--threads", "1"],
                      out / "labels.log")
    rows.append({"set": name, "views": n, "job": "cache labels of normal (appended batch by batch)",
                 "mib": mib, "s": s})
    # a transfer (random -> normal, the smallest transfer size) reading memory-mapped caches of
    # the transfer and test splits; the caches are written first (not measured)
    ts = transfer_settings(cfg, "normal", min(cfg["transfer"]["sizes"], key=cfg["transfer"]["sizes"].get))
    splits = [ts["train_split"], ts["eval_split"]]
    n_eval = len(StreamSplit(root, ts["eval_split"], "normal"))
    subprocess.run([PY, "-m", "taskonomy.encode", "--model", str(rnd / "model.pt"), "--data", str(root),
                    "--split", *splits, "--out", *(str(out / "reps" / "random" / f"{sp}.npy") for sp in splits)],
                   check=True, capture_output=True)
    subprocess.run([PY, "-m", "taskonomy.encode", "--targets", "--task", "normal", "--data", str(root),
                    "--split", *splits, "--out", *(str(out / "targets" / "normal" / f"{sp}.npz") for sp in splits)],
                   check=True, capture_output=True)
    mib, s = peak_rss([PY, "-m", "taskonomy.transfer", "--sources", "random", "--target", "normal",
                       "--size", ts["size"], "--reps", str(out / "reps"), "--targets", str(out / "targets"),
                       "--out", str(out / "transfer"), "--settings", json.dumps(ts), "--reuse", "0",
                       "--threads", "1"], out / "transfer.log")
    rows.append({"set": name, "views": n, "job": f"transfer random -> normal, {ts['n']} images, scored on "
                 f"{n_eval} {ts['eval_split']} images (caches memory-mapped)", "mib": mib, "s": s})
    for stream in (True, False):
        st = task_settings(cfg, "normal")
        st["train"].update(epochs=1, stream=stream)
        mib, s = peak_rss([PY, "-m", "taskonomy.train", "--task", "normal", "--data", str(root),
                           "--out", str(out / f"normal-{stream}"), "--settings", json.dumps(st), "--threads", "1"],
                          out / f"train-{stream}.log")
        rows.append({"set": name, "views": n, "job": f"train normal, 1 epoch, stream: {str(stream).lower()}",
                     "mib": mib, "s": s})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    cfg = load_config(ROOT / "config.yaml")
    load0 = os.getloadavg()[0]
    roots = {k: dataset(a.work, k) for k in SETS}
    thr = [r for t in ("normal", "depth_zbuffer", "fixated_pose") for r in throughput(roots["256px"], t)]
    mem = [r for k in ("1k", "10k") for r in memory(a.work, k, roots[k], cfg)]
    lines = ["# Data loading at scale (`bench/loader.py`, issue 15)", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M')} UTC, {platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}, torch {torch.__version__}; 1-min load average "
             f"{load0:.2f} before, {os.getloadavg()[0]:.2f} after.", "",
             "## Training input at 256 px from PNG", "",
             "One pass over the train split of a 256-px synthetic set (RGB and the target decoded from "
             "PNG, resized nowhere; batches of 32, shuffled):", "",
             "| task | loading | images | images/s |", "|---|---|---:|---:|"]
    lines += [f"| {r['task']} | {r['how']} | {r['images']} | {r['per_s']:.0f} |" for r in thr]
    lines += ["", "## Peak memory as the split grows 10x", "",
              "Peak resident set size of one job (own process, 1 thread) on the train split of a 64-px "
              "synthetic set:", "", "| set | train views | job | peak RSS (MiB) | wall s |", "|---|---:|---|---:|---:|"]
    lines += [f"| {r['set']} | {r['views']} | {r['job']} | {r['mib']:.0f} | {r['s']:.0f} |" for r in mem]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        a.out.write_text(text)
        a.out.with_suffix(".json").write_text(json.dumps({"throughput": thr, "memory": mem}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
