"""What the transfer result store costs and saves: one first-order job of the default run.

    .venv/bin/python bench/transfer_store.py [--results results/default] [--source normal]

Runs `taskonomy transfer` for every target of one source (what `transfers_from_<src>` does),
into a temporary folder, three times: without the store (`transfer.reuse: false`), with an
empty store (miss: train + store), with the filled store (every transfer reused), and times
the store's pieces in-process (key = hashing the caches read, put, get). Needs the default
run's reps/ and targets/ (`make run`). Results: bench/transfer_store.md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=Path("results/default"))
    p.add_argument("--source", default="normal")
    p.add_argument("--size", default="16k")
    p.add_argument("--config", default="config.yaml")
    args = p.parse_args()
    from taskonomy.config import load_config
    from taskonomy.settings import as_json, transfer_settings
    from taskonomy.tasks import TASKS
    cfg = load_config(args.config)
    targets = [t for t in cfg["tasks"] if t != args.source and t not in cfg["source_only"]
               and TASKS[t].kind != "none" and (args.results / "targets" / t).is_dir()]
    settings = as_json({"per_target": {t: transfer_settings(cfg, t, args.size) for t in targets}})
    tmp = Path(tempfile.mkdtemp())
    base = [sys.executable, "-m", "taskonomy.transfer", "--target", *targets, "--size", args.size,
            "--sources", args.source, "--reps", str(args.results / "reps"),
            "--targets", str(args.results / "targets"), "--settings", settings, "--threads", "1"]
    rows = []
    for label, extra in (("no store (reuse: false)", []), ("empty store (miss: train + put)", ["--store", str(tmp / "store")]),
                         ("filled store (all reused)", ["--store", str(tmp / "store")])):
        out = tmp / "out"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        r = subprocess.run(base + ["--out-root", str(out)] + extra, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        assert r.returncode == 0, r.stderr[-3000:]
        reused = r.stdout.count("\nreused ") + r.stdout.startswith("reused ")
        rows.append((label, dt, reused))
    from taskonomy import transfer as T
    keys, t0 = {}, time.perf_counter()
    for t in targets:
        s = transfer_settings(cfg, t, args.size)
        keys[t] = T.store_key(s, [args.source], T.transfer_inputs(s, [args.source], args.results / "reps",
                                                                  args.results / "targets"), "cpu")
    t_key = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in targets:
        T.store_put(tmp / "store2", keys[t][0], keys[t][1], tmp / "out" / t / args.source)
    t_put = (time.perf_counter() - t0) / len(targets)
    t0 = time.perf_counter()
    for t in targets:
        T.store_get(tmp / "store2", keys[t][0], tmp / "got" / t)
    t_get = (time.perf_counter() - t0) / len(targets)
    shutil.rmtree(tmp)
    print(f"transfers_from_{args.source}: {len(targets)} targets, size {args.size}")
    for label, dt, reused in rows:
        print(f"| {label} | {dt:.1f} s | {reused} reused |")
    print(f"in-process: keys of all {len(targets)} transfers (hashing every cache once) {t_key:.2f} s; "
          f"put {1000 * t_put:.1f} ms, get {1000 * t_get:.1f} ms per transfer")
    print(json.dumps({"rows": rows, "key_s": t_key, "put_ms": 1000 * t_put, "get_ms": 1000 * t_get}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
