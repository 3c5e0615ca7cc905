"""``python -m taskonomy.supervision.summary``: results/<run>/summary.md, the run in one page.

    python -m taskonomy.supervision.summary --run default --size 16k \
        --taxonomy results/default/taxonomy/16k/6_1.json \
        --significance results/default/eval/16k/significance_6_1.json \
        --figures results/default/taxonomy/16k/6_1.png ... --out results/default/summary.md

The recommended supervision policy at the configured default budget / max order (which tasks
to label, and per target its sources, value, Gain and Quality), how it compares with random
feasible policies of the same budget (Fig. 11's test), and where the figures are. It only
reformats what the taxonomy and significance jobs wrote, so it stays in sync with them.
"""
from __future__ import annotations

import argparse
import json
import sys

from taskonomy import lineage
from taskonomy.io import write_text


def _num(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def render(run: str, size: str, taxonomy: dict, significance: dict, figures: list[str],
           transitive: dict | None = None) -> str:
    q = taxonomy["query"]
    sup = taxonomy["supervised"]
    lines = [f"# Taxonomy of run `{run}` (transfer size {size})", "",
             f"Recommended policy at budget {q['budget']:g}, max order {q['max_order']}, "
             f"metric {q['metric']} (solver status {taxonomy['status']}, objective "
             f"{taxonomy['objective']:.4f}, affinities `{q['table']}`).", "",
             f"**Supervise ({len(sup)}, label cost {taxonomy['cost_used']:g}):** " + ", ".join(sup), "",
             "| target | sources | order | value | Gain | Quality |", "|---|---|---|---|---|---|"]
    for t, c in taxonomy["targets"].items():
        src = "(supervised)" if list(c["sources"]) == ["self"] else " + ".join(c["sources"])
        lines.append(f"| {t} | {src} | {c.get('order', '-')} | {_num(c.get('value'))} | "
                     f"{_num(c.get('gain'))} | {_num(c.get('quality'))} |")
    lines += ["", "Value: the metric of the chosen transfer; Gain: its win rate against a network "
              "trained from scratch on the transfer data; Quality: its win rate against the fully "
              "supervised task network (both on held-out images).", ""]
    s = significance["settings"]
    lines += [f"## Against random policies (budget {s['budget']}, max order {s['max_order']}, "
              f"{s['n_random']} random feasible policies, seed {s['seed']})", "",
              "| score | taxonomy | random mean | random std | random max | beaten | p |",
              "|---|---|---|---|---|---|---|"]
    for name, sc in significance["scores"].items():
        lines.append(f"| {name} | {sc['taxonomy']:.3f} | {sc['random_mean']:.3f} | {sc['random_std']:.3f}"
                     f" | {sc['random_max']:.3f} | {100 * sc['share_beaten']:.1f}% | {sc['p_value']:.4f} |")
    if sorted(significance.get("taxonomy_supervised", sup)) != sorted(sup):
        lines += ["", "Note: the significance test's taxonomy supervises "
                  + ", ".join(significance["taxonomy_supervised"]) + " (evaluation settings differ)."]
    lines += ["", "p: share of random policies at least as good (with the +1 correction); "
              "beaten: share of random policies the taxonomy beats.", ""]
    if transitive:  # `taskonomy transitive check` (paper Sec. 3.2)
        t = transitive["summary"]
        lines += [f"**Transitive transfers:** s -> t1 -> t2 equals the direct s -> t2 in {t['n_equal']} of "
                  f"{t['n_triples']} triples (better in {t['n_transitive_better']}, worse in "
                  f"{t['n_direct_better']}; Wilcoxon, 5%): `eval/{size}/transitive.png`.", ""]
    lines += ["## Figures", ""]
    lines += [f"- `{f}`" for f in figures]
    lines += ["", f"All figures in one page: `results/{run}/report.html` (`make run` builds it after the pipeline).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True)
    p.add_argument("--size", required=True)
    p.add_argument("--taxonomy", required=True, help="policy JSON of `taskonomy solve --out`")
    p.add_argument("--significance", required=True, help="JSON of `taskonomy evaluate significance`")
    p.add_argument("--figures", nargs="*", default=[])
    p.add_argument("--transitive", help="JSON of `taskonomy transitive check` (optional)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    started = lineage.now()
    try:
        with open(args.taxonomy) as f:
            taxonomy = json.load(f)
        with open(args.significance) as f:
            significance = json.load(f)
        transitive = None
        if args.transitive:
            with open(args.transitive) as f:
                transitive = json.load(f)
        text = render(args.run, args.size, taxonomy, significance, args.figures, transitive)
    except (OSError, KeyError, json.JSONDecodeError) as e:
        print(f"summary: error reading {args.taxonomy} / {args.significance}: {e!r}", file=sys.stderr)
        return 2
    write_text(args.out, text)
    print(text)
    lineage.record([args.out], [args.taxonomy, args.significance, *args.figures,
                                *([args.transitive] if args.transitive else [])], params=vars(args),
                   started=started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
