"""``taskonomy sweep``: taxonomies over a grid of budgets x max orders (paper Fig. 8 and 9).

    taskonomy sweep --affinities paper-16k --budgets 2 4 6 8 10 --max-orders 1 3 5 \\
        --out results/paper-16k/sweep.csv --plot results/paper-16k/sweep.png

The CSV has one row per (budget, max order, target): the chosen sources (``self`` =
supervised), the edge's value, Gain and Quality, and the policy's objective and status.
Budgets that cannot serve every target are kept as rows with status ``infeasible``.
The figure shows Gain and Quality per target (rows) and budget (columns), one pair of panels
per max order, red (0) - white (.5) - blue (1) as in Fig. 9; ``S`` marks supervised targets.
"""
from __future__ import annotations

import argparse
import csv
import sys

from tqdm import tqdm

from taskonomy import lineage
from taskonomy.io import atomic_path
from taskonomy.supervision import bip
from taskonomy.supervision.cli import add_query_args, query_kwargs
from taskonomy.supervision.tables import TableError, load, table_files
from taskonomy.tasks import TASKS, UnknownTaskError

DEFAULT_BUDGETS = (2, 4, 6, 8, 10)
DEFAULT_MAX_ORDERS = (1, 3, 5)
COLUMNS = ("table", "metric", "budget", "max_order", "target", "sources", "order", "value", "gain", "quality",
           "objective", "status", "supervised")


def sweep(tables, budgets, max_orders, progress: bool = True, **kwargs) -> list[dict]:
    """One row per (budget, max order, target); the table and metric ride along in each row so
    the CSV carries the settings it was made with."""
    rows = []
    tables = bip.as_tableset(tables)
    common = dict(table=tables.name, metric=kwargs.get("metric", "sqrt_affinity"))
    # integral budgets print as "6", not "6.0"
    budgets = [int(b) if float(b).is_integer() else float(b) for b in budgets]
    grid = [(b, k) for k in max_orders for b in budgets]
    for b, k in tqdm(grid, desc="taxonomies", disable=not progress):
        try:
            p = bip.solve(tables, budget=b, max_order=k, **kwargs)
        except bip.InfeasibleError as e:
            for t in e.targets:
                rows.append(dict(common, budget=b, max_order=k, target=t, sources="", order="", value="",
                                 gain="", quality="", objective="", status="infeasible",
                                 supervised=""))
            continue
        for t, c in p.targets.items():
            rows.append(dict(common, budget=b, max_order=k, target=t, sources=" ".join(c.sources),
                             order=c.order, value=c.value, gain=c.gain, quality=c.quality,
                             objective=p.objective, status=p.status,
                             supervised=" ".join(p.supervised)))
    return rows


def write_csv(rows: list[dict], path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r[k] is None else r[k]) for k in COLUMNS})


def sweep_title(table_name: str, metric: str) -> str:
    return f"Taxonomies of {table_name} (metric {metric})"


def plot_sweep(rows: list[dict], path, title: str) -> None:
    import numpy as np

    from taskonomy.supervision.plots import _mpl, group_color, save
    plt = _mpl()
    budgets = sorted({r["budget"] for r in rows})
    orders = sorted({r["max_order"] for r in rows})
    targets = sorted({r["target"] for r in rows}, key=lambda t: (t not in TASKS, list(TASKS).index(t) if t in TASKS else t))
    fig, axes = plt.subplots(len(orders), 2, squeeze=False, layout="constrained",
                             figsize=(2 * (0.55 * len(budgets) + 2.2), len(orders) * (0.3 * len(targets) + 1.2)))
    cmap = plt.get_cmap("RdBu").with_extremes(bad="#cccccc")
    for i, k in enumerate(orders):
        for j, metric in enumerate(("gain", "quality")):
            ax = axes[i][j]
            m = np.full((len(targets), len(budgets)), np.nan)
            for r in rows:
                if r["max_order"] == k and r[metric] not in ("", None):
                    m[targets.index(r["target"]), budgets.index(r["budget"])] = float(r[metric])
            im = ax.imshow(m, cmap=cmap, vmin=0, vmax=1, aspect="auto")
            for r in rows:
                if r["max_order"] == k and r["sources"] == "self":
                    ax.text(budgets.index(r["budget"]), targets.index(r["target"]), "S",
                            ha="center", va="center", fontsize=7)
            ax.set_xticks(range(len(budgets)), [f"{b:g}" for b in budgets], fontsize=8)
            ax.set_yticks(range(len(targets)), targets if j == 0 else [""] * len(targets), fontsize=8)
            if j == 0:
                for lab in ax.get_yticklabels():
                    lab.set_color(group_color(lab.get_text()))
            ax.set_xlabel("supervision budget", fontsize=8)
            ax.set_title(f"{metric.capitalize()}, max order {k}", fontsize=9)
    fig.colorbar(im, ax=axes, fraction=0.04, pad=0.02, shrink=0.6,
                 label="win rate (Gain: vs scratch; Quality: vs fully supervised)")
    fig.suptitle(title + "\nS = supervised target; grey = no policy at that budget or no value",
                 fontsize=10)
    save(fig, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="taskonomy sweep", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_query_args(p, budget=False)
    p.add_argument("--budgets", nargs="+", type=float, default=list(DEFAULT_BUDGETS))
    p.add_argument("--max-orders", nargs="+", type=int, default=list(DEFAULT_MAX_ORDERS))
    p.add_argument("--out", required=True, metavar="CSV", help="table of every taxonomy")
    p.add_argument("--plot", metavar="PNG", help="Gain / Quality per target and budget")
    args = p.parse_args(argv)
    started = lineage.now()
    try:
        tables = load(args.affinities)
        kwargs = query_kwargs(args)
        bip.make_query(tables, **kwargs)          # fail on bad input before solving anything
        rows = sweep(tables, args.budgets, args.max_orders, **kwargs)
    except (bip.QueryError, TableError, UnknownTaskError) as e:
        print(f"taskonomy sweep: error: {e}", file=sys.stderr)
        return 2
    write_csv(rows, args.out)
    if args.plot:
        plot_sweep(rows, args.plot, sweep_title(tables.name, args.metric))
    print(f"wrote {args.out} ({len(rows)} rows)" + (f" and {args.plot}" if args.plot else ""))
    lineage.record([p for p in (args.out, args.plot) if p], table_files(args.affinities), params=vars(args),
                   started=started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
