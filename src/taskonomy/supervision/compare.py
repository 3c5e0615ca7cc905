"""``taskonomy compare``: how far two affinity tables agree (paper Sec. 5.2; FIDELITY.md).

    taskonomy compare paper-1k paper-16k
    taskonomy compare results/default/tables/16k/affinity.csv paper-16k \\
        --out compare.json --plot compare.png [--budgets 2 4 6 8 10] [--max-order 1]

A and B are ``paper-16k`` | ``paper-1k`` | ``paper`` or the path of an affinity CSV in the
paper's schema (``target,sources,order,value``). What is compared:

- per target both tables have, the first-order ranking of the sources: Spearman rho over the
  sources both tables share (tasks of the dictionary only: not ``self``, ``pixels`` or the
  authors' ``class_selected``, and not the target itself, which only the paper's tables have
  as a source), the overlap of the two top-5 sets (|top5_A & top5_B| / 5) and the number of
  shared sources; then the median rho, the median top-5 overlap and how many targets have
  rho > 0.5;
- the taxonomy at each budget: the BIP solved on each table restricted to the common targets
  and sources (max order 1 by default, source-only tasks as the solver's defaults), the
  Jaccard index of the two supervised sets and the share of targets that get the same sources.

Exit status 2, with a message naming the problem, for an unknown table name, a file that is
not an affinity table, or two tables with no target in common.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import warnings
from typing import Iterable

from taskonomy import lineage
from taskonomy.supervision import bip
from taskonomy.supervision.tables import Table, TableError, TableSet, is_task, load, table_files
from taskonomy.tasks import SOURCE_ONLY, TASKS, UnknownTaskError, resolve_all

DEFAULT_BUDGETS = (2, 4, 6, 8, 10)
DEFAULT_MAX_ORDER = 1
TOP_K = 5
RHO_THRESHOLD = 0.5


class CompareError(TableError):
    """Two tables that cannot be compared (nothing in common); the message says why."""


def _tableset(x: TableSet | Table | str) -> TableSet:
    return bip.as_tableset(x)


def _first_order(table: Table, target: str) -> dict[str, float]:
    """Task sources of ``target``'s first-order rows, without the target itself."""
    return {s: v for s, v in table.first_order(target).items() if is_task(s) and s != target}


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman rank correlation (ties get average ranks); None when undefined (n < 2 or a
    constant ranking)."""
    if len(x) < 2:
        return None
    from scipy.stats import spearmanr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # scipy warns on constant input, then returns nan
        rho = spearmanr(x, y)[0]
    return None if rho is None or not math.isfinite(rho) else float(rho)


def top_k(values: dict[str, float], k: int = TOP_K) -> list[str]:
    """The ``k`` best sources, best first (ties broken by dictionary order, for determinism)."""
    order = list(TASKS)
    return sorted(values, key=lambda s: (-values[s], order.index(s) if s in order else len(order), s))[:k]


def compare_rankings(a: Table, b: Table, targets: Iterable[str] | None = None) -> dict[str, dict]:
    """Per target: ``rho``, ``top5_overlap``, ``n_sources``, ``top5_a``, ``top5_b``.

    ``targets`` defaults to the task targets both tables have (dictionary order).
    ``top5_overlap`` is |top5_A & top5_B| / min(5, n_sources) (None with no shared source).
    """
    if targets is None:
        both = set(a.task_targets) & set(b.task_targets)
        targets = [t for t in TASKS if t in both]
    out = {}
    for t in targets:
        fa, fb = _first_order(a, t), _first_order(b, t)
        shared = [s for s in TASKS if s in fa and s in fb]
        va = {s: fa[s] for s in shared}
        vb = {s: fb[s] for s in shared}
        k = min(TOP_K, len(shared))
        ta, tb = top_k(va, k), top_k(vb, k)
        out[t] = {"rho": spearman([va[s] for s in shared], [vb[s] for s in shared]),
                  "top5_overlap": len(set(ta) & set(tb)) / k if k else None,
                  "n_sources": len(shared), "top5_a": ta, "top5_b": tb}
    return out


def jaccard(x: Iterable[str], y: Iterable[str]) -> float:
    """|x & y| / |x | y| (1.0 for two empty sets)."""
    x, y = set(x), set(y)
    return len(x & y) / len(x | y) if x | y else 1.0


def _median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(statistics.median(vals)) if vals else None


def compare_tables(a: TableSet | Table | str, b: TableSet | Table | str,
                   budgets: Iterable[float] = DEFAULT_BUDGETS, max_order: int = DEFAULT_MAX_ORDER,
                   source_only: Iterable[str] | None = None) -> dict:
    """Compare two affinity tables (names, paths, Tables or TableSets); a JSON-able dict.

    Keys: ``a``, ``b`` (table names); ``targets`` ({target: rho, top5_overlap, n_sources,
    top5_a, top5_b}); ``n_targets``; ``median_rho``; ``median_top5_overlap``;
    ``n_rho_above_0_5``; ``budgets`` (one dict per budget: ``budget``, ``status`` ``ok`` |
    ``infeasible``, ``supervised_a``, ``supervised_b``, ``jaccard``, ``same_sources`` (share of
    targets given the same sources; ``t <- t`` counts as ``t <- self``), ``objective_a``,
    ``objective_b``, ``choices_a``, ``choices_b``); ``max_order``, ``source_only``,
    ``bip_targets`` and ``bip_sources`` (the restriction both BIPs were solved on).
    """
    ta, tb = _tableset(a), _tableset(b)
    A, B = ta.affinity, tb.affinity
    common = set(A.task_targets) & set(B.task_targets)
    if not common:
        raise CompareError(f"tables {ta.name} and {tb.name} have no target in common "
                           f"({ta.name}: {' '.join(A.task_targets) or 'none'}; "
                           f"{tb.name}: {' '.join(B.task_targets) or 'none'})")
    targets = [t for t in TASKS if t in common]
    per_target = compare_rankings(A, B, targets)
    rhos = [r["rho"] for r in per_target.values()]

    source_only = tuple(resolve_all(source_only)) if source_only is not None else SOURCE_ONLY
    bip_targets = [t for t in targets if t not in source_only]
    shared_sources = set(A.sources()) & set(B.sources())
    bip_sources = [t for t in TASKS if t in shared_sources or t in bip_targets]
    runs = []
    for budget in budgets:
        budget = int(budget) if float(budget).is_integer() else float(budget)
        row: dict = {"budget": budget}
        if not bip_targets:
            row.update(status="no targets", jaccard=None)
            runs.append(row)
            continue
        try:
            pa, pb = (bip.solve(ts, targets=bip_targets, sources=bip_sources, source_only=source_only,
                                budget=budget, max_order=max_order) for ts in (ta, tb))
        except bip.InfeasibleError as e:
            row.update(status="infeasible", jaccard=None, reason=str(e).splitlines()[0])
            runs.append(row)
            continue
        # t <- t (the target's own encoder, a row only the paper's tables have) needs the same
        # supervision as t <- self: the same choice
        own = lambda t, src: bip.SELF if src == (t,) else src  # noqa: E731
        same = sum(own(t, pa.targets[t].sources) == own(t, pb.targets[t].sources) for t in bip_targets)
        row.update(status="ok", supervised_a=list(pa.supervised), supervised_b=list(pb.supervised),
                   jaccard=jaccard(pa.supervised, pb.supervised),
                   same_sources=same / len(bip_targets),
                   objective_a=pa.objective, objective_b=pb.objective,
                   choices_a={t: list(c.sources) for t, c in pa.targets.items()},
                   choices_b={t: list(c.sources) for t, c in pb.targets.items()})
        runs.append(row)
    return {"a": ta.name, "b": tb.name, "targets": per_target, "n_targets": len(targets),
            "median_rho": _median(rhos),
            "median_top5_overlap": _median([r["top5_overlap"] for r in per_target.values()]),
            "n_rho_above_0_5": sum(r is not None and r > RHO_THRESHOLD for r in rhos),
            "budgets": runs, "max_order": int(max_order), "source_only": list(source_only),
            "bip_targets": bip_targets, "bip_sources": bip_sources}


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def format_comparison(r: dict) -> str:
    lines = [f"{r['a']} (A) vs {r['b']} (B): first-order source rankings per target", "",
             f"{'target':<20} {'n':>3} {'rho':>7} {'top5':>5}  top-5 of A | top-5 of B"]
    for t, d in r["targets"].items():
        lines.append(f"{t:<20} {d['n_sources']:>3} {_fmt(d['rho']):>7} {_fmt(d['top5_overlap'], '.1f'):>5}  "
                     f"{' '.join(d['top5_a'])} | {' '.join(d['top5_b'])}")
    lines += ["", f"median rho {_fmt(r['median_rho'])} over {r['n_targets']} targets; "
                  f"rho > {RHO_THRESHOLD:g} for {r['n_rho_above_0_5']}; "
                  f"median top-5 overlap {_fmt(r['median_top5_overlap'], '.2f')}", "",
              f"taxonomies (max order {r['max_order']}, {len(r['bip_targets'])} common targets): "
              f"Jaccard of the supervised sets",
              f"{'budget':>6} {'jaccard':>7} {'same':>5}  supervised in A | in B"]
    for row in r["budgets"]:
        if row["status"] != "ok":
            lines.append(f"{row['budget']:>6g} {'-':>7} {'-':>5}  {row['status']}")
            continue
        lines.append(f"{row['budget']:>6g} {row['jaccard']:>7.3f} {row['same_sources']:>5.2f}  "
                     f"{' '.join(row['supervised_a'])} | {' '.join(row['supervised_b'])}")
    lines += ["", "n: shared sources (tasks; not self, not the target); top5: |top5_A & top5_B| / 5; "
                  "same: share of targets given the same sources"]
    return "\n".join(lines)


def draw_comparison(r: dict, path) -> None:
    """Per-target rho as horizontal bars coloured by task group, the median as a line; the
    budgets' Jaccard indices in a small second panel."""
    from taskonomy.supervision.plots import GROUP_COLORS, _mpl, group_color, save
    plt = _mpl()
    from matplotlib.patches import Patch

    targets = list(r["targets"])
    n = len(targets)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 0.28 * n + 2.0),
                                 gridspec_kw={"width_ratios": [3, 1.1], "wspace": 0.45})
    ys = list(range(n))[::-1]          # first target on top
    rhos = [r["targets"][t]["rho"] for t in targets]
    ax.barh(ys, [v if v is not None else 0.0 for v in rhos], color=[group_color(t) for t in targets],
            height=0.7)
    for y, v in zip(ys, rhos):
        if v is None:
            ax.text(0.02, y, "n/a", va="center", fontsize=7, color="#555555")
    ax.set_yticks(ys)
    ax.set_yticklabels(targets, fontsize=8)
    for lab in ax.get_yticklabels():
        lab.set_color(group_color(lab.get_text()))
    ax.set_xlim(-1, 1)
    ax.set_ylim(-0.7, n + 0.4)             # a free band above the top bar for the median label
    ax.axvline(0, color="#333333", linewidth=0.6)
    if r["median_rho"] is not None:
        ax.axvline(r["median_rho"], color="black", linestyle="--", linewidth=1)
        ax.text(r["median_rho"], n - 0.5, f" median {r['median_rho']:.2f}", fontsize=8, va="bottom")
    ax.set_xlabel("Spearman rho of the first-order source rankings")
    used = sorted({TASKS[t].group for t in targets if t in TASKS})
    ax.legend(handles=[Patch(color=GROUP_COLORS[g], label=g) for g in used], fontsize=7, frameon=False,
              loc="upper center", bbox_to_anchor=(0.5, -0.5 / (0.28 * n + 2.0)), ncol=max(len(used), 1))
    ax.set_title(f"{r['a']} vs {r['b']}: {r['n_rho_above_0_5']}/{r['n_targets']} targets rho > "
                 f"{RHO_THRESHOLD:g}", fontsize=9)

    rows = r["budgets"]
    xs = list(range(len(rows)))
    bx.bar(xs, [row["jaccard"] if row["jaccard"] is not None else 0.0 for row in rows], color="#555555",
           width=0.6)
    bx.set_xticks(xs)
    bx.set_xticklabels([f"{row['budget']:g}" for row in rows], fontsize=8)
    bx.set_ylim(0, 1.05)
    bx.set_xlabel("budget")
    bx.set_ylabel("Jaccard of supervised sets")
    bx.set_title(f"taxonomies, max order {r['max_order']}", fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
        bx.spines[side].set_visible(False)
    save(fig, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="taskonomy compare", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("a", metavar="A", help="paper-16k | paper-1k | paper | path to an affinity CSV")
    p.add_argument("b", metavar="B", help="the same, compared with A")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument("--out", metavar="JSON", help="also write the comparison as JSON to this file")
    p.add_argument("--plot", metavar="PNG", help="per-target rho and per-budget Jaccard figure")
    p.add_argument("--budgets", type=float, nargs="+", default=list(DEFAULT_BUDGETS), metavar="B",
                   help="budgets of the taxonomies compared (default 2 4 6 8 10)")
    p.add_argument("--max-order", type=int, default=DEFAULT_MAX_ORDER,
                   help=f"highest transfer order of those taxonomies (default {DEFAULT_MAX_ORDER})")
    p.add_argument("--source-only", nargs="*", metavar="TASK",
                   help="tasks that are never targets (default: colorization inpainting jigsaw random)")
    args = p.parse_args(argv)
    started = lineage.now()
    try:
        result = compare_tables(load(args.a), load(args.b), budgets=args.budgets,
                                max_order=args.max_order, source_only=args.source_only)
    except (TableError, bip.QueryError, UnknownTaskError) as e:
        print(f"taskonomy compare: error: {e}", file=sys.stderr)
        return 2
    if args.out:
        from taskonomy.io import write_json
        write_json(args.out, result)
    if args.plot:
        draw_comparison(result, args.plot)
    written = [f for f in (args.out, args.plot) if f]
    if written:
        lineage.record(written, [*table_files(args.a), *table_files(args.b)], params=vars(args),
                       started=started)
    print(json.dumps(result, indent=2, sort_keys=True) if args.json else format_comparison(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
