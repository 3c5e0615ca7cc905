"""The fidelity report of one run (bench/fidelity.md): Table 1, agreement with the paper's
tables, the similarity tree against the paper's groups, and the bootstrap stability.

    .venv/bin/python bench/fidelity.py --results results/default --size 16k \
        [--before old_table1.csv] > fidelity_run.md

Reads only what the pipeline wrote (eval/<size>/table1.csv, compare.json, tree_ari.json,
bootstrap.json; eval/reference/compare_paper-1k_vs_paper-16k.json and tree_ari_paper-16k.json) and prints
markdown. ``--before`` adds the columns of an earlier run's table1.csv next to this run's.
"""
import argparse
import csv
import json
import statistics
from pathlib import Path


def read_table1(path) -> dict[str, dict]:
    with open(path) as f:
        return {r["task"]: {k: float(v) for k, v in r.items() if k in ("vs_avg", "vs_random") and v}
                for r in csv.DictReader(f)}


def table1(now: dict, before: dict | None) -> list[str]:
    head = "| task | beats avg | beats random |" + (" before: avg | before: random |" if before else "")
    out = [head, "|---|---|---|" + ("---|---|" if before else "")]
    for t, r in now.items():
        row = f"| {t} | {r['vs_avg']:.2f} | {r['vs_random']:.2f} |"
        if before:
            b = before.get(t, {})
            row += f" {b.get('vs_avg', float('nan')):.2f} | {b.get('vs_random', float('nan')):.2f} |"
        out.append(row)
    for name, tab in (("this run", now), ("before", before)):
        if tab:
            out.append(f"\nMedian over the {len(tab)} tasks ({name}): beats avg "
                       f"{statistics.median(r['vs_avg'] for r in tab.values()):.2f}, beats random "
                       f"{statistics.median(r['vs_random'] for r in tab.values()):.2f}; below 0.6 vs avg: "
                       f"{sum(r['vs_avg'] < 0.6 for r in tab.values())}, below 0.8 vs random: "
                       f"{sum(r['vs_random'] < 0.8 for r in tab.values())}.")
    return out


def agreement(cmp: dict, ref: dict) -> list[str]:
    out = [f"This run vs `{cmp['b']}`: median rho {cmp['median_rho']:.3f} over {cmp['n_targets']} targets "
           f"({cmp['n_rho_above_0_5']} above 0.5), median top-5 overlap {cmp['median_top5_overlap']:.2f}. "
           f"The paper's `{ref['a']}` vs `{ref['b']}`: median rho {ref['median_rho']:.3f} "
           f"({ref['n_rho_above_0_5']} above 0.5), top-5 {ref['median_top5_overlap']:.2f}.", "",
           "| target | rho (run vs paper) | top-5 overlap | rho (paper 1k vs 16k) |", "|---|---|---|---|"]
    for t, v in sorted(cmp["targets"].items(), key=lambda kv: -(kv[1].get("rho") or -9)):
        r = ref["targets"].get(t, {}).get("rho")
        out.append(f"| {t} | {v['rho']:.2f} | {v['top5_overlap']:.2f} | {'-' if r is None else f'{r:.2f}'} |")
    out += ["", "| budget | Jaccard of supervised sets (run vs paper) | (paper 1k vs 16k) |", "|---|---|---|"]
    refj = {b["budget"]: b.get("jaccard") for b in ref["budgets"]}
    for b in cmp["budgets"]:
        rj = refj.get(b["budget"])
        out.append(f"| {b['budget']} | {b.get('jaccard', float('nan')):.2f} | {'-' if rj is None else f'{rj:.2f}'} |")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default="results/default")
    p.add_argument("--size", default="16k")
    p.add_argument("--reference", default="paper-16k")
    p.add_argument("--before", help="an earlier run's eval/<size>/table1.csv")
    a = p.parse_args()
    ev = Path(a.results) / "eval" / a.size
    ref_dir = Path(a.results) / "eval" / "reference"
    lines = ["## Table 1", ""]
    lines += table1(read_table1(ev / "table1.csv"), read_table1(a.before) if a.before else None)
    cmp = json.loads((ev / "compare.json").read_text())
    ref = json.loads(next(ref_dir.glob(f"compare_*_vs_{a.reference}.json")).read_text())
    lines += ["", "## Agreement with the paper's tables", ""] + agreement(cmp, ref)
    tree, ptree = json.loads((ev / "tree_ari.json").read_text()), json.loads((ref_dir / f"tree_ari_{a.reference}.json").read_text())
    lines += ["", "## Similarity tree vs the paper's four groups (best ARI over cuts 4-8)", "",
              f"This run: {tree['best_ari']:.3f} (cut {tree['best_cut']}; per cut "
              + ", ".join(f"{k}: {v:.2f}" for k, v in tree["per_cut"].items()) + f"). `{a.reference}`: "
              f"{ptree['best_ari']:.3f} (cut {ptree['best_cut']})."]
    boot = ev / "bootstrap.json"
    if boot.exists():
        from taskonomy.evaluation.bootstrap import summary_lines
        lines += ["", "## Bootstrap stability of the default taxonomy", ""] + summary_lines(str(boot))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
