"""Benchmark the bootstrap over the test images (taskonomy evaluate bootstrap) at the default
run's scale: 22 targets x 36 source sets (25 first-order incl. random, the 10 pairs of the top 5,
self) x 180 test images, 200 resamples, the BIP at budget 6 / max order 2 on each.

    PYTHONPATH=src .venv/bin/python bench/bootstrap.py [--n 200] [--images 180] [--jobs 1] [--keep DIR]

Writes a synthetic results tree (Stage II's losses.parquet files, Stage III's tables made by
taskonomy.ahp) to a temporary folder, then times the CLI in-process: reading the losses, the
resampled win matrices + AHP vectors, and the BIP solves. Results in bench/bootstrap.md.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from taskonomy import ahp
from taskonomy.tasks import SOURCE_ONLY, TASKS, source_set_name


def write_run(root: Path, m: int, size: str = "16k", seed: int = 0) -> list[str]:
    """Losses with structure: a latent 3-d embedding of the tasks; a transfer is better the
    closer source and target are; per-image difficulty shared by all sources of a target."""
    rng = np.random.default_rng(seed)
    tasks = list(TASKS)
    targets = [t for t in tasks if t not in SOURCE_ONLY]
    z = {t: rng.normal(size=3) for t in tasks}

    def save(path: Path, loss: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"image": np.arange(m, dtype=np.int64), "loss": loss}).to_parquet(path, index=False)

    for t in targets:
        hard = rng.gamma(2.0, 0.5, m)
        first = {s: np.linalg.norm(z[s] - z[t]) for s in tasks if s != t}
        first["random"] = 4.0
        ranked = sorted(first, key=first.get)
        sets = {s: first[s] for s in ranked}
        for a, b in combinations(ranked[:5], 2):
            sets[source_set_name([a, b])] = 0.8 * min(first[a], first[b]) + 0.1 * max(first[a], first[b])
        paths = []
        for s, d in sets.items():
            p = root / "transfers" / size / t / s / "losses.parquet"
            save(p, hard * (1 + 0.3 * d) + rng.normal(0, 0.4, m))
            paths.append(p)
        save(root / "tasks" / t / "losses.parquet", hard * 1.2 + rng.normal(0, 0.4, m))
        px = root / "baselines" / size / t / "scratch" / "losses.parquet"
        save(px, hard * 2 + rng.normal(0, 0.4, m))
        res = ahp.compute_target(t, paths, root / "tasks" / t / "losses.parquet", px)
        ahp.write_target(res, root / "tournaments" / size / f"{t}.npz", root / "ahp" / size / f"{t}.csv")
    ahp.gather([root / "ahp" / size / f"{t}.csv" for t in targets], root / "tables" / size)
    return targets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--images", type=int, default=180)
    ap.add_argument("--jobs", type=int, default=1, help="processes for the BIP solves")
    ap.add_argument("--keep", help="write the results tree here instead of a temporary folder")
    a = ap.parse_args()
    from taskonomy.evaluation.cli import main as evaluate_main
    with contextlib.ExitStack() as stack:
        root = Path(a.keep) if a.keep else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        targets = write_run(root / "results" / "bench", a.images)
        out = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(out):
            rc = evaluate_main(["bootstrap", "--results", str(root / "results" / "bench"), "--size", "16k",
                                "--targets", *targets, "--budget", "6", "--max-order", "2",
                                "--n", str(a.n), "--seed", "0", "--jobs", str(a.jobs),
                                "--out-dir", str(root / "eval")])
        wall = time.perf_counter() - t0
        assert rc == 0, out.getvalue()
        print(out.getvalue())
        print(f"CLI total (read losses, tables, BIP, outputs, lineage): {wall:.2f} s")


if __name__ == "__main__":
    main()
