"""Benchmark Stage III: tournament matrix + AHP vector of one target.

    .venv/bin/python bench/ahp.py          # prints a markdown table; results in bench/ahp.md

Sizes span the paper (~80 sources per target, 17k test images) and beyond.
"""
from __future__ import annotations

import time

import numpy as np

from taskonomy.ahp import ahp_vector, win_matrix

CASES = [(30, 1000), (100, 2000), (100, 17000), (300, 5000), (500, 5000)]


def main() -> None:
    rng = np.random.default_rng(0)
    print("| sources | images | win_matrix (s) | ahp_vector (s) |")
    print("|---:|---:|---:|---:|")
    for n, m in CASES:
        losses = rng.normal(size=(n, m)) + np.linspace(0, 1, n)[:, None]
        t0 = time.perf_counter()
        W = win_matrix(losses)
        t1 = time.perf_counter()
        ahp_vector(W)
        t2 = time.perf_counter()
        print(f"| {n} | {m} | {t1 - t0:.3f} | {t2 - t1:.4f} |")


if __name__ == "__main__":
    main()
