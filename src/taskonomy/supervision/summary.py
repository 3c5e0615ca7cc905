"""``python -m taskonomy.supervision.summary``: results/<run>/summary.md, the run in one page.

    python -m taskonomy.supervision.summary --run default --size 16k \
        --taxonomy results/default/taxonomy/16k/6_1.json \
        --significance results/default/eval/16k/significance_6_1.json \
        --figures results/default/taxonomy/16k/6_1.png ... --out results/default/summary.md

It leads with how far the answer can be trusted: the bootstrap stability of the default
taxonomy (``--bootstrap``), Table 1 (are the task networks better than the average guess and a
random representation? ``--table1``), and the agreement with the paper (``--compare`` this run
against the reference table, ``--reference`` the paper's own 1k-vs-16k agreement, ``--tree-ari``
/ ``--reference-tree-ari`` the similarity tree against the paper's four groups) and, with
``--replicate``, the seed-to-seed agreement (Stage II's first order retrained with another
training seed on the same images, compared with the run's own table). Then the
recommended supervision policy at the configured default budget / max order (which tasks
to label, and per target its sources, value, Gain and Quality), how it compares with random
feasible policies of the same budget (Fig. 11's test), and where the figures are. It only
reformats what the evaluation jobs wrote, so it stays in sync with them.
"""
from __future__ import annotations

import argparse
import json
import sys

from taskonomy import lineage
from taskonomy.io import write_text

# Table 1's bar (issue 12): each network beats the average guess on >= 60% and the random
# readout on >= 80% of the test images, with medians over tasks of >= 0.85.
TABLE1_MIN = {"vs_avg": 0.6, "vs_random": 0.8}
TABLE1_MEDIAN = 0.85


def _num(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def _median(xs):
    import statistics
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def table1_lines(rows: list[dict]) -> list[str]:
    """Table 1 (task networks vs the average guess and the random readout), failing cells marked."""
    med = {c: _median(r[c] for r in rows) for c in TABLE1_MIN}
    bad = {c: [r["task"] for r in rows if r[c] is not None and r[c] < TABLE1_MIN[c]] for c in TABLE1_MIN}
    ok = not any(bad.values()) and all(m is not None and m >= TABLE1_MEDIAN for m in med.values())
    lines = [f"**Table 1, the task networks' sanity:** median share of test images won "
             f"{_num(med['vs_avg'])} against the average guess and {_num(med['vs_random'])} against "
             f"the random-representation readout; "
             + ("every network clears the bar (>= 60% / >= 80%, medians >= 0.85)." if ok else
                "below the bar (>= 60% / >= 80%, medians >= 0.85): "
                + "; ".join(f"{c.replace('_', ' ')}: {', '.join(v)}" for c, v in bad.items() if v)
                + ". Their affinities, as sources and as `self`, mean less."), "",
             "| task | beats avg | beats random | test images |", "|---|---|---|---|"]
    mark = lambda v, c: "-" if v is None else (f"**{v:.2f}**" if v < TABLE1_MIN[c] else f"{v:.2f}")  # noqa: E731
    for r in rows:
        lines.append(f"| {r['task']} | {mark(r['vs_avg'], 'vs_avg')} | {mark(r['vs_random'], 'vs_random')} "
                     f"| {r.get('n_images') or '-'} |")
    return lines + [""]


def agreement_lines(size: str, compare: dict, reference: dict | None, tree: dict | None,
                    reference_tree: dict | None) -> list[str]:
    """This run against the paper's table, next to the paper's own 1k-vs-16k agreement."""
    ref = reference or {}
    lines = [f"**Agreement with the paper** (`taskonomy compare`, `eval/{size}/compare.png`): "
             f"first-order source rankings against `{compare['b']}`, median Spearman rho "
             f"{compare['median_rho']:.2f} over {compare['n_targets']} targets "
             f"({compare['n_rho_above_0_5']} above 0.5), median top-5 overlap "
             f"{compare['median_top5_overlap']:.2f}"
             + (f"; the paper's own `{ref['a']}` vs `{ref['b']}` tables agree at rho "
                f"{ref['median_rho']:.2f} (top-5 {ref['median_top5_overlap']:.2f})" if ref else "") + "."]
    jac = ", ".join(f"{b['budget']:g}: {_num(b.get('jaccard'))}" for b in compare.get("budgets", []))
    if jac:
        lines.append(f"Supervised sets vs the paper's (Jaccard, max order 1, by budget): {jac}.")
    if tree:
        lines.append(f"Similarity tree vs the paper's four groups (3D, 2D, geometric, semantic): best "
                     f"adjusted Rand index {tree['best_ari']:.2f} (cut into {tree['best_cut']} groups)"
                     + (f"; the same method on `{compare['b']}` reaches "
                        f"{reference_tree['best_ari']:.2f}" if reference_tree else "")
                     + (f" (this run's tree fills {tree['imputed']} untrained entries of its pruned table "
                        "with their target's smallest trained affinity)" if tree.get("imputed") else "") + ".")
    rho = sorted(((t, v["rho"]) for t, v in compare["targets"].items() if v.get("rho") is not None),
                 key=lambda kv: -kv[1])
    if rho:
        lines += ["", "| target | rho | top-5 overlap |" + (" paper 1k vs 16k rho |" if ref else ""),
                  "|---|---|---|" + ("---|" if ref else "")]
        for t, r in rho:
            other = ref.get("targets", {}).get(t, {}).get("rho") if ref else None
            lines.append(f"| {t} | {r:.2f} | {compare['targets'][t]['top5_overlap']:.2f} |"
                         + (f" {_num(other)} |" if ref else ""))
    return lines + [""]


def replicate_lines(size: str, replicate: dict) -> list[str]:
    """The seed-to-seed agreement: `taskonomy compare` of replicate 1's first-order table with
    the run's (evaluation.replicates)."""
    return [f"Seed-to-seed agreement (Stage II retrained with another seed, same images): "
            f"median rho {_num(replicate.get('median_rho'))} over {replicate['n_targets']} targets "
            f"({replicate['n_rho_above_0_5']} above 0.5); median top-5 overlap "
            f"{_num(replicate.get('median_top5_overlap'))} (`eval/{size}/replicate_1/compare.png`).", ""]


def own_task_lines(reports: list[dict], paths: list[str]) -> list[str]:
    """Your own tasks in the taxonomy (all-for-one, `taskonomy.evaluation.allforone report`):
    per task its best source sets, their Gain over scratch, and the BIP's policy per budget."""
    lines = ["## Your own tasks (all-for-one, Sec. 4.2)", "",
             "Transfers from every source to each task declared in `own_tasks`, ranked with AHP; "
             "Gain: win rate against the task's network trained from scratch on the same images "
             "(0.5 = as good); no Quality (a new task has no fully supervised network).", ""]
    for rep, path in zip(reports, paths):
        d, n = rep.get("declaration", {}), rep.get("images", {})
        lines += [f"**{rep['task']}** ({d.get('kind', '?')}, {d.get('channels', '?')} channel(s), "
                  + ", ".join(f"{v} {k} images" for k, v in n.items()) + f"; `{path}`, figure beside it)", "",
                  "| rank | sources | order | affinity | Gain |", "|---|---|---|---|---|"]
        for i, r in enumerate(rep["ranking"][:5], start=1):
            lines.append(f"| {i} | {' + '.join(r['sources'])} | {r['order']} | {_num(r['affinity'])} | {_num(r['gain'])} |")
        lines += ["", "| budget | supervise | transfer from | Gain |", "|---|---|---|---|"]
        for p in rep["policies"]:
            lines.append(f"| {p['budget']} | {', '.join(p['supervised'])} | {' + '.join(p['sources'])} | {_num(p['gain'])} |")
        lines.append("")
    return lines


def render(run: str, size: str, taxonomy: dict, significance: dict, figures: list[str],
           transitive: dict | None = None, table1: list[dict] | None = None,
           compare: dict | None = None, reference: dict | None = None, tree: dict | None = None,
           reference_tree: dict | None = None, bootstrap: dict | None = None,
           replicate: dict | None = None, own: list[tuple[dict, str]] | None = None) -> str:
    q = taxonomy["query"]
    sup = taxonomy["supervised"]
    lines = [f"# Taxonomy of run `{run}` (transfer size {size})", ""]
    if bootstrap:
        from taskonomy.evaluation.bootstrap import summary_lines
        lines += summary_lines(bootstrap) + [""]
    if replicate:
        lines += replicate_lines(size, replicate)
    if table1:
        lines += table1_lines(table1)
    if compare:
        lines += agreement_lines(size, compare, reference, tree, reference_tree)
    lines += ["## The recommended policy", "",
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
    if own:
        lines += own_task_lines([r for r, _ in own], [p for _, p in own])
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
    p.add_argument("--table1", help="table1.csv of `taskonomy evaluate table1` (optional)")
    p.add_argument("--compare", help="JSON of `taskonomy compare <run table> <paper table>` (optional)")
    p.add_argument("--reference", help="JSON of `taskonomy compare paper-1k paper-16k` (optional)")
    p.add_argument("--tree-ari", help="JSON of `taskonomy tree --ari` on this run's table (optional)")
    p.add_argument("--reference-tree-ari", help="the same on the paper's table (optional)")
    p.add_argument("--bootstrap", help="bootstrap.json of `taskonomy evaluate bootstrap` (optional)")
    p.add_argument("--replicate", help="compare.json of a seed replicate against this run's table "
                                       "(eval/<size>/replicate_1/, optional)")
    p.add_argument("--own", nargs="*", default=[], help="novel.json of each own task (optional)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    started = lineage.now()
    try:
        with open(args.taxonomy) as f:
            taxonomy = json.load(f)
        with open(args.significance) as f:
            significance = json.load(f)
        optional = {k: getattr(args, k) for k in ("transitive", "compare", "reference", "tree_ari",
                                                   "reference_tree_ari", "bootstrap", "replicate")}
        loaded = {}
        for k, path in optional.items():
            if path:
                with open(path) as f:
                    loaded[k] = json.load(f)
        table1 = None
        if args.table1:
            import pandas as pd
            df = pd.read_csv(args.table1)
            table1 = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in df.to_dict("records")]
        own = []
        for path in args.own:
            with open(path) as f:
                own.append((json.load(f), path))
        text = render(args.run, args.size, taxonomy, significance, args.figures, loaded.get("transitive"),
                      table1, loaded.get("compare"), loaded.get("reference"), loaded.get("tree_ari"),
                      loaded.get("reference_tree_ari"), loaded.get("bootstrap"), loaded.get("replicate"), own)
    except (OSError, KeyError, json.JSONDecodeError) as e:
        print(f"summary: error reading {args.taxonomy} / {args.significance}: {e!r}", file=sys.stderr)
        return 2
    write_text(args.out, text)
    print(text)
    read = [args.taxonomy, args.significance, *args.figures, *(p for p in optional.values() if p),
            *([args.table1] if args.table1 else []), *args.own]
    lineage.record([args.out], read, params=vars(args), started=started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
