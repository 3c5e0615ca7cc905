"""Is a task network limited by its training data? Table 1's "beats the average guess" as the
training split grows, everything else as in config.yaml (issue 12: why the low-dimensional
task networks stay below the bar).

Trains each task's Stage I network on the first ``limit`` images of a seeded permutation of the
train split (``train.limit``: views, drawn across all training rooms), for each limit, with the
config's schedule (epochs and batch size, so steps grow with the data, as they would in a
bigger default run), and scores it per test image against the average guess of the same
training images. The test split is the same for every limit. Jobs run in parallel
(``--jobs``), one thread each.

    .venv/bin/python -m taskonomy.data.cli synth --out /tmp/lc-data --buildings 360 --points 4
    .venv/bin/python bench/learning_curve.py --data /tmp/lc-data --work /tmp/lc \\
        --tasks room_layout class_scene --limits 240 960 3000 --out bench/learning_curve.md
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from taskonomy.config import load_config  # noqa: E402
from taskonomy.evaluation.losses import win_rate  # noqa: E402
from taskonomy.settings import task_settings  # noqa: E402


def run(cmd: list[str], log: Path) -> float:
    t0 = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
    if rc:
        raise SystemExit(f"failed ({rc}): {' '.join(cmd[:6])} ... see {log}")
    return time.perf_counter() - t0


def job(task: str, limit: int, a, cfg: dict) -> dict:
    out = Path(a.work) / task / str(limit)
    out.mkdir(parents=True, exist_ok=True)
    s = task_settings(cfg, task)
    s["train"]["limit"] = limit
    py = sys.executable
    own = out / "net"
    if not (own / "losses.parquet").exists():
        run([py, "-m", "taskonomy.train", "--task", task, "--data", a.data, "--out", str(own),
             "--settings", json.dumps(s), "--threads", "1"], out / "train.log")
    avg = out / "average"
    if not (avg / "losses.parquet").exists():
        run([py, "-m", "taskonomy.baselines", "--task", task, "--data", a.data, "--out", str(avg),
             "--limit", str(limit), "--threads", "1"], out / "average.log")
    wr, n = win_rate(own / "losses.parquet", avg / "losses.parquet")
    m = json.loads((own / "metrics.json").read_text())
    return {"task": task, "limit": limit, "vs_avg": wr, "n_test": n,
            "n_train": m.get("n_train"), "test_loss": m["test"]["loss"],
            "train_seconds": m.get("train_seconds")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="dataset root (e.g. a synthetic set with more rooms)")
    p.add_argument("--work", required=True, help="scratch folder for the networks")
    p.add_argument("--config", default=str(ROOT / "config.yaml"))
    p.add_argument("--tasks", nargs="+", required=True)
    p.add_argument("--limits", nargs="+", type=int, required=True)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", help="markdown table to write (else stdout only)")
    a = p.parse_args(argv)
    cfg = load_config(a.config)
    pairs = [(t, n) for t in a.tasks for n in sorted(a.limits, reverse=True)]
    with ThreadPoolExecutor(a.jobs) as ex:
        rows = list(ex.map(lambda tn: job(tn[0], tn[1], a, cfg), pairs))
    limits = sorted(a.limits)
    by = {(r["task"], r["limit"]): r for r in rows}
    lines = ["| task | " + " | ".join(f"{n} images" for n in limits) + " |",
             "|---|" + "---|" * len(limits)]
    for t in a.tasks:
        lines.append(f"| {t} | " + " | ".join(f"{by[t, n]['vs_avg']:.2f}" for n in limits) + " |")
    n_test = rows[0]["n_test"]
    tr = cfg["train"]
    text = (f"Share of the {n_test} test images on which the task network beats the average guess, "
            f"by training images (data {a.data}; {tr['epochs']} epochs, batch {tr['batch_size']}, "
            f"lr {tr['lr']}):\n\n" + "\n".join(lines) + "\n")
    print(text)
    if a.out:
        Path(a.out).write_text(text)
        Path(a.out).with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
