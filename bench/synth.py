"""Benchmark: synthetic views per second, all domains rendered, derived and written as PNG.

    .venv/bin/python bench/synth.py                 # 128 and 64 px, 1 and 2 workers, disk and tmpfs
    .venv/bin/python bench/synth.py --write         # also rewrite bench/synth.md

Goal (issue 4): >= 15 views/s at 128 px with 2 workers on a 2-core machine. The timing
covers scene building, camera planning, ray casting, shading, every derived domain and
writing every file (the same code path as `taskonomy data synth`), not interpreter start-up.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from taskonomy.data.synth import SynthSettings, synthesize


def run(size: int, workers: int, buildings: int, points: int, views: int, where: Path) -> float:
    where.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=where, prefix=".bench-synth-") as tmp:
        st = SynthSettings(out=str(Path(tmp) / "ds"), buildings=buildings, points=points, views=views,
                           size=size, seed=0, workers=workers)
        t0 = time.perf_counter()
        synthesize(st, progress=False)
        dt = time.perf_counter() - t0
    return buildings * points * views / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 64])
    ap.add_argument("--buildings", type=int, default=8)
    ap.add_argument("--points", type=int, default=5)
    ap.add_argument("--views", type=int, default=3)
    default_dirs = [Path(__file__).resolve().parents[1] / "data"] + [Path(p) for p in ("/dev/shm",) if Path(p).is_dir()]
    ap.add_argument("--dirs", type=Path, nargs="+", default=default_dirs,
                    help="where the throwaway datasets go: the repository's disk and, to separate compute "
                         "from disk contention, a tmpfs")
    ap.add_argument("--write", action="store_true", help="rewrite bench/synth.md with the results")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    rows = []
    for where in args.dirs:
        for size in args.sizes:
            for workers in (1, 2):
                vps = run(size, workers, args.buildings, args.points, args.views, where)
                rows.append((where, size, workers, vps))
                print(f"{str(where):24s} size {size:4d}  workers {workers}  {vps:6.1f} views/s", flush=True)
    load_after = os.getloadavg()[0]
    n = args.buildings * args.points * args.views
    lines = [
        "# Synthetic data throughput (`bench/synth.py`)", "",
        "Views per second of `taskonomy.data.synth.synthesize`: scene building, camera planning, ray",
        "casting, shading with soft shadows, all 18 stored domains derived and written (PNG",
        f"compress_level=1, npy, JSON). {n} views per run ({args.buildings} buildings x {args.points} points",
        f"x {args.views} views); the time excludes interpreter start-up.", "",
        "| output folder | size (px) | workers | views/s |", "|---|---:|---:|---:|",
        *[f"| `{w}` | {s} | {k} | {v:.1f} |" for w, s, k, v in rows], "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()};",
        f"1-min load average {load_before:.2f} before, {load_after:.2f} after (a load near 0 means",
        "the two cores were free for the benchmark).",
        "", "The tmpfs (`/dev/shm`) rows show the compute-bound rate; the difference to the disk rows",
        "is the cost of creating the 18 files of a view on that disk.",
        "", "Goal: >= 15 views/s at 128 px with 2 workers.", "",
    ]
    if args.write:
        Path(__file__).with_name("synth.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
