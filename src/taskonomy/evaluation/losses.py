"""Evaluations computed from per-image losses: Table 1 and the transitive-transfer check.

Table 1 (paper): win rate of each task network against (a) a readout of a random (Gaussian)
network's representation, i.e. the ``random`` transfer, and (b) the statistically informed
guess (``baselines/<t>/average``: the mean training target), where a baseline's losses exist.

Transitive transfers (paper Sec. 3.2): does s -> t1 -> t2 beat the direct s -> t2? Given the
per-image losses of both, report the transitive transfer's win rate, the mean losses and a
two-sided sign test on the images that are not ties.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from taskonomy.ahp import AHPError, align, read_losses, win_rates_vs


def win_rate(losses: str | Path, reference: str | Path) -> tuple[float, int]:
    """(share of images on which ``losses`` beats ``reference`` (ties half), n images)."""
    paths = {"a": Path(losses), "b": Path(reference)}
    L, _ = align({k: read_losses(p) for k, p in paths.items()}, paths)
    return float(win_rates_vs(L[:1], L[1])[0]), L.shape[1]


def table1_paths(results: str | Path, task: str, size: str | None = None) -> dict[str, Path]:
    """Where Table 1's losses of a task live (docs/interfaces.md); ``size`` nests transfers."""
    results = Path(results)
    transfers = results / "transfers" / size if size else results / "transfers"
    return {"own": results / "tasks" / task / "losses.parquet",
            "vs_random": transfers / task / "random" / "losses.parquet",
            "vs_avg": results / "baselines" / task / "average" / "losses.parquet"}


def table1(results: str | Path, tasks: list[str], size: str | None = None) -> list[dict]:
    """Rows task, vs_random, vs_avg (None where that baseline's losses are missing), n_images."""
    rows = []
    for t in tasks:
        paths = table1_paths(results, t, size)
        row = {"task": t, "vs_random": None, "vs_avg": None, "n_images": None}
        for col in ("vs_random", "vs_avg"):
            if paths["own"].exists() and paths[col].exists():
                row[col], row["n_images"] = win_rate(paths["own"], paths[col])
        if row["vs_random"] is None and row["vs_avg"] is None:
            raise AHPError(f"Table 1: no losses for task {t} (need {paths['own']} and "
                           f"{paths['vs_random']} or {paths['vs_avg']})")
        rows.append(row)
    return rows


def table1_from_tables(tables, tasks: list[str]) -> list[dict]:
    """Table 1's "vs random" column from a Quality table alone: 1 - Quality(random)."""
    rows = []
    for t in tasks:
        q = tables.quality.value(t, ("random",)) if tables.quality is not None else None
        rows.append({"task": t, "vs_random": None if q is None else 1.0 - q, "vs_avg": None,
                     "n_images": None})
    return rows


def transitive_check(direct: str | Path, transitive: str | Path) -> dict:
    """Compare s -> t2 (``direct``) with s -> t1 -> t2 (``transitive``) per image."""
    from scipy.stats import binomtest
    paths = {"direct": Path(direct), "transitive": Path(transitive)}
    L, _ = align({k: read_losses(p) for k, p in paths.items()}, paths)
    d, tr = L
    wins, losses_ = int(np.sum(tr < d)), int(np.sum(tr > d))
    n = wins + losses_
    p = binomtest(wins, n, 0.5).pvalue if n else 1.0
    return {"n_images": int(L.shape[1]), "transitive_win_rate": float(win_rates_vs(L[1:], d)[0]),
            "mean_loss_direct": float(d.mean()), "mean_loss_transitive": float(tr.mean()),
            "sign_test_p": float(p), "equal_at_5pct": bool(p >= 0.05)}
