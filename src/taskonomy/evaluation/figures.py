"""Figures of the evaluations (matplotlib, Agg): Fig. 9, Fig. 10 (left), Fig. 11, Table 1.

Colours follow the paper: win rates on a red (0) - white (0.5) - blue (1) scale.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from taskonomy.io import atomic_path

WIN_CMAP = "RdBu"


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")


def _heat(ax, M, xlabels, ylabels, title):
    im = ax.imshow(M, cmap=WIN_CMAP, vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(xlabels)), xlabels)
    if ylabels is None:
        ax.set_yticks([])
    else:
        ax.set_yticks(range(len(ylabels)), ylabels, fontsize=7)
    ax.set_title(title, fontsize=9)
    for i in range(M.shape[0]):
        for j in range(M.shape[1]):
            if np.isfinite(M[i, j]):
                # white on the dark ends of the scale, black in the pale middle
                c = "white" if abs(M[i, j] - 0.5) > 0.3 else "black"
                ax.text(j, i, f"{M[i, j]:.2f}".replace("0.", ".", 1), ha="center", va="center",
                        fontsize=6, color=c)
    return im


def gain_quality_figure(rows: list[dict], path: str | Path, title: str = "") -> None:
    """Targets x budgets heat maps of Gain and Quality, one pair of panels per max order."""
    plt = _plt()
    orders = sorted({r["max_order"] for r in rows})
    budgets = sorted({r["budget"] for r in rows})
    targets = list(dict.fromkeys(r["target"] for r in rows))
    fig, axes = plt.subplots(len(orders), 2, squeeze=False, layout="constrained",
                             figsize=(max(7.0, 2.5 + 0.5 * len(budgets) * 2),
                                      max(3.0, 0.22 * len(targets) * len(orders) + 1.2)))
    idx = {(r["max_order"], r["budget"], r["target"]): r for r in rows}
    for i, k in enumerate(orders):
        for j, metric in enumerate(("gain", "quality")):
            M = np.array([[idx[(k, b, t)][metric] for b in budgets] for t in targets], dtype=float)
            im = _heat(axes[i, j], M, budgets, targets if j == 0 else None,
                       f"{metric.capitalize()} (max order {k})")
            axes[i, j].set_xlabel("supervision budget")
    fig.colorbar(im, ax=axes, shrink=0.6, label="win rate")
    fig.suptitle(title or "Gain and Quality of the taxonomy's policies", fontsize=10)
    _save(fig, path)
    plt.close(fig)


def significance_figure(result, path: str | Path) -> None:
    """Histograms of random policies' scores with the taxonomy's value marked (Fig. 11)."""
    plt = _plt()
    names = [k for k in ("quality", "gain", "objective") if k in result.random]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    summ = result.summary()["scores"]
    s = result.settings
    for ax, k in zip(axes[0], names):
        v = result.random[k]
        ax.hist(v, bins=40, color="0.65", edgecolor="0.4", label=f"{len(v)} random policies")
        ax.axvline(result.taxonomy[k], color="tab:blue", lw=2.5, label="taxonomy (BIP)")
        cdf = ax.twinx()   # empirical CDF of the random policies on the same x axis
        xs = np.sort(v)
        cdf.plot(xs, np.arange(1, len(xs) + 1) / len(xs), color="tab:red", lw=1)
        cdf.set_ylim(0, 1.02)
        cdf.set_ylabel("CDF of random policies", color="tab:red", fontsize=8)
        cdf.tick_params(axis="y", colors="tab:red", labelsize=7)
        label = {"quality": "mean Quality (win rate vs fully supervised)",
                 "gain": "mean Gain (win rate vs scratch)",
                 "objective": f"BIP objective ({s.metric})"}[k]
        ax.set_xlabel(label, fontsize=8)
        ax.set_ylabel("random policies")
        sk = summ[k]
        ax.set_title(f"{k}: taxonomy beats {100 * sk['share_beaten']:.1f}%\n"
                     f"(p = {sk['p_value']:.2g}, z = {sk['z']:.1f})", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{result.table}: taxonomy vs random feasible policies, budget {s.budget}, "
                 f"max order {s.max_order}", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def novel_figure(rows: list[dict], path: str | Path, title: str = "") -> None:
    """Novel tasks x max orders heat maps of Gain and Quality (Fig. 10 left)."""
    plt = _plt()
    orders = sorted({r["max_order"] for r in rows})
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    idx = {(r["task"], r["max_order"]): r for r in rows}
    fig, axes = plt.subplots(1, 2, figsize=(max(6.0, 2.5 + 0.55 * len(orders) * 2), max(2.5, 0.22 * len(tasks) + 1.2)),
                             squeeze=False, layout="constrained")
    for j, (ax, metric) in enumerate(zip(axes[0], ("gain", "quality"))):
        M = np.array([[idx[(t, k)][metric] for k in orders] for t in tasks], dtype=float)
        im = _heat(ax, M, orders, tasks if j == 0 else None, f"{metric.capitalize()}")
        ax.set_xlabel("max transfer order")
    fig.colorbar(im, ax=axes, shrink=0.6, label="win rate")
    fig.suptitle(title or "All-for-one: novel tasks", fontsize=10)
    _save(fig, path)
    plt.close(fig)


def own_task_figure(res: dict, path: str | Path, top: int = 15) -> None:
    """An own task in the taxonomy: its best source sets by AHP affinity (bars coloured by their
    Gain over the scratch network), and the Gain of the BIP's choice per budget."""
    from matplotlib import cm, colors
    plt = _plt()
    rank = res["ranking"][:top]
    pol = res["policies"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.5, max(2.8, 0.24 * len(rank) + 1.2)),
                                 gridspec_kw={"width_ratios": [1.6, 1]}, layout="constrained")
    cmap, norm = plt.get_cmap(WIN_CMAP), colors.Normalize(0, 1)
    gains = [np.nan if r["gain"] is None else r["gain"] for r in rank]
    y = np.arange(len(rank))[::-1]
    ax.barh(y, [r["affinity"] for r in rank], color=[cmap(norm(g)) if np.isfinite(g) else "0.7" for g in gains],
            edgecolor="0.3", lw=0.5)
    ax.set_yticks(y, ["+".join(r["sources"]) for r in rank], fontsize=7)
    ax.set_xlabel("AHP affinity (share of the task's transfers)")
    ax.set_title(f"{res['task']}: source sets, best first", fontsize=9)
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.7, label="Gain (win rate vs scratch)")
    bx.plot([p["budget"] for p in pol], [np.nan if p["gain"] is None else p["gain"] for p in pol], "o-", color="tab:blue")
    for p in pol:
        if p["gain"] is not None:
            bx.annotate("+".join(p["sources"]), (p["budget"], p["gain"]), fontsize=6, rotation=20,
                        xytext=(3, 3), textcoords="offset points")
    bx.axhline(0.5, color="0.3", lw=0.8, ls="--")
    bx.set_ylim(0, 1)
    bx.set_xticks([p["budget"] for p in pol])
    bx.set_xlabel("budget (supervised tasks)")
    bx.set_ylabel("Gain of the BIP's choice")
    bx.set_title("policy per budget (0.5 = as good as scratch)", fontsize=9)
    _save(fig, path)
    plt.close(fig)


def table1_figure(rows: list[dict], path: str | Path, title: str = "") -> None:
    """Bars of the task networks' win rates vs random readout and average guess (Table 1)."""
    plt = _plt()
    tasks = [r["task"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(tasks) + 2), 3.4))
    x = np.arange(len(tasks))
    series = []
    for col, lab, c in (("vs_random", "vs random readout", "tab:blue"),
                        ("vs_avg", "vs average guess", "tab:orange")):
        v = np.array([np.nan if r[col] is None else r[col] for r in rows], dtype=float)
        if np.isfinite(v).any():
            series.append((v, lab, c))
    width = 0.8 / max(1, len(series))
    for i, (v, lab, c) in enumerate(series):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, v, width=width, label=lab, color=c)
    ax.axhline(0.5, color="0.3", lw=0.8, ls="--")
    ax.set_xticks(x, tasks, rotation=70, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("win rate of the task network")
    ax.legend(fontsize=7)
    ax.set_title(title or "Task-specific networks' sanity (Table 1)", fontsize=10)
    _save(fig, path)
    plt.close(fig)
