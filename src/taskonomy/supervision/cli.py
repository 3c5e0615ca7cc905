"""``taskonomy solve``: the optimal supervision policy for a query (paper Sec. 3.4, Fig. 8).

    taskonomy solve --affinities paper-16k --budget 6 --max-order 5
    taskonomy solve --targets normal rgb2depth --budget 1 --importance normal=2 --json
    taskonomy solve --affinities results/default/affinity.csv --out taxonomy.json --plot taxonomy.png

``--affinities`` takes ``paper-16k`` | ``paper-1k`` | ``paper`` or a path to an affinity CSV
(its ``wins_vs_task.csv`` / ``wins_vs_pixels.csv`` siblings give Quality and Gain). Task names
are accepted in both spellings (domain id or the paper's). Exit status 2 on bad input or an
infeasible query, with a message naming what is wrong.
"""
from __future__ import annotations

import argparse
import json
import sys

from taskonomy import lineage
from taskonomy.supervision import bip
from taskonomy.supervision.tables import TableError, load, table_files
from taskonomy.tasks import UnknownTaskError, resolve


def _pairs(items: list[str] | None, what: str) -> dict[str, float]:
    """Parse ``task=number`` items (either spelling of the task)."""
    out = {}
    for item in items or []:
        name, sep, val = item.partition("=")
        if not sep:
            raise bip.QueryError(f"--{what} expects task=number, got {item!r}")
        try:
            out[resolve(name)] = float(val)
        except ValueError:
            raise bip.QueryError(f"--{what} {item!r}: {val!r} is not a number") from None
    return out


def add_query_args(p: argparse.ArgumentParser, budget: bool = True) -> None:
    """Options shared by ``solve`` and ``sweep``."""
    p.add_argument("--affinities", default="paper-16k",
                   help="paper-16k | paper-1k | paper | path to an affinity CSV (default paper-16k)")
    p.add_argument("--targets", nargs="+", metavar="TASK",
                   help="target tasks (default: every non-source-only target of the table)")
    if budget:
        p.add_argument("--budget", type=float, default=bip.DEFAULT_BUDGET,
                       help=f"supervision budget: total label cost (default {bip.DEFAULT_BUDGET})")
        p.add_argument("--max-order", type=int, default=bip.DEFAULT_MAX_ORDER,
                       help=f"highest transfer order allowed (default {bip.DEFAULT_MAX_ORDER})")
    p.add_argument("--importance", nargs="+", metavar="TASK=R", help="target importance r_t (default 1)")
    p.add_argument("--cost", nargs="+", metavar="TASK=L", help="label cost l_t of a task (default 1)")
    p.add_argument("--sources", nargs="+", metavar="TASK",
                   help="tasks that may be supervised / used as sources (default: all)")
    p.add_argument("--source-only", nargs="*", metavar="TASK",
                   help="tasks that are never targets (default: colorization inpainting jigsaw random)")
    p.add_argument("--metric", default="sqrt_affinity", choices=bip.METRICS,
                   help="value of a transfer (default sqrt_affinity, as the authors' solver)")


def query_kwargs(args: argparse.Namespace) -> dict:
    kw = dict(targets=args.targets, importance=_pairs(args.importance, "importance"),
              cost=_pairs(args.cost, "cost"), sources=args.sources, source_only=args.source_only,
              metric=args.metric)
    if hasattr(args, "budget"):
        kw.update(budget=args.budget, max_order=args.max_order)
    return kw


def _fmt(v: float | None, width: int = 7) -> str:
    return f"{v:>{width}.3f}" if v is not None else f"{'-':>{width}}"


def format_policy(p: bip.Policy) -> str:
    q = p.query
    lines = [f"taxonomy of {q.table}: budget {q.budget:g}, max order {q.max_order}, metric {q.metric}",
             f"status {p.status}, objective {p.objective:.4f}, solved in {p.solve_time_s:.3f} s",
             f"supervised ({len(p.supervised)}, cost {p.cost_used:g}): {' '.join(p.supervised)}",
             "",
             f"{'target':<20} {'sources':<44} {'value':>7} {'gain':>7} {'quality':>7}"]
    for t, c in p.targets.items():
        src = "(supervised)" if c.sources == bip.SELF else " ".join(c.sources)
        imp = f"  r={c.importance:g}" if c.importance != 1 else ""
        lines.append(f"{t:<20} {src:<44} {_fmt(c.value)} {_fmt(c.gain)} {_fmt(c.quality)}{imp}")
    lines.append("")
    lines.append("value: the metric of the chosen edge; gain: win rate vs training from scratch; "
                 "quality: win rate vs the fully supervised network")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="taskonomy solve", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_query_args(p)
    p.add_argument("--json", action="store_true", help="print the policy as JSON")
    p.add_argument("--out", metavar="JSON", help="also write the policy as JSON to this file")
    p.add_argument("--plot", metavar="PNG", help="draw the taxonomy graph (Fig. 8 style)")
    p.add_argument("--color-by", choices=("gain", "quality"), default="gain",
                   help="what colours the graph's nodes (default gain)")
    args = p.parse_args(argv)
    started = lineage.now()
    try:
        tables = load(args.affinities)
        policy = bip.solve(tables, **query_kwargs(args))
    except (bip.QueryError, TableError, UnknownTaskError) as e:
        print(f"taskonomy solve: error: {e}", file=sys.stderr)
        return 2
    d = policy.to_dict()
    if args.out:
        from taskonomy.io import write_json
        # The file is an artifact: same inputs -> same bytes, so the solver's wall-clock time
        # stays out of it (it is printed, and --json shows it).
        write_json(args.out, {k: v for k, v in d.items() if k != "solve_time_s"})
    if args.plot:
        from taskonomy.supervision.plots import draw_taxonomy
        draw_taxonomy(policy, args.plot, color_by=args.color_by)
    if args.out:  # lineage sidecar(s) (`taskonomy lineage <out>`): tables read, query, code version
        lineage.record([p for p in (args.out, args.plot) if p], table_files(args.affinities), params=vars(args),
                       started=started)
    try:
        print(json.dumps(d, indent=2) if args.json else format_policy(policy), flush=True)
    except BrokenPipeError:  # `taskonomy solve | head`: the reader left, which is fine
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
