"""How well the closed-form proxy (taskonomy.proxy) predicts Stage II (bench/proxy.md).

    .venv/bin/python bench/proxy.py --results results/default --config config.yaml --size 16k \
        --out /tmp/proxy [--replicate results/default/eval/16k/replicate_1/affinity.csv] \
        [--benchmarks benchmarks] [--train-missing] [--prune 3 5 8] > proxy.md

Reads a finished run (its cached representations and labels, its trained transfers' per-image
losses, beam files and Stage III table; none of it is written) and:

1. scores every target's source sets with the proxy (``--out/<size>/<target>/``, skipped where
   scores.json is already there) and gathers the proxy affinity table (``--out/<size>/tables``);
2. compares the proxy table with the trained one (``taskonomy compare``: per-target Spearman rho
   of the first-order rankings, top-5 overlap, the taxonomy at the default budget and order);
   with ``--replicate`` (the run's Stage II retrained with another seed) the same for the
   replicate against the trained table: the agreement a proxy could hope for;
3. simulates ``transfer.prune: {top: m}`` on the trained results: per target only the
   first-order transfers of the proxy's m best sources (+ random, self) and the higher-order
   transfers over them enter Stage III (the pruned sources are left out of the tournament), and
   solves the taxonomy on that table; with ``--train-missing`` the higher-order sets the pruned
   beam picks that the run never trained are trained here (``--out/<size>/extra``), so the
   result is what a pruned run computes; with ``--replicate`` the same on the replicate's first
   order (order-1 taxonomies);
4. estimates the Stage II time pruning saves from each transfer's own train + load seconds
   (metrics.json) and the transfers_from_* jobs' benchmark files, against the proxy's cost.

Prints markdown.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

from taskonomy import ahp
from taskonomy.config import load_config
from taskonomy.proxy import kept_sources, pruned_stage3, ranking, score_target, write_target
from taskonomy.settings import transfer_settings
from taskonomy.supervision.compare import compare_tables, spearman
from taskonomy.tasks import TASKS
from taskonomy.workflow import Workflow


def simulate_pruning(wf: Workflow, results: Path, size: str, proxy_dir: Path, m: int | None,
                     out: Path, train: bool = False) -> tuple[Path, dict]:
    """Stage III of the run with only what ``transfer.prune: {top: m}`` would train. The
    first order is the run's own; higher-order sets the pruned beam picks that the run did not
    train are trained here with the run's settings (``train``; into ``out/extra``), else left
    out."""
    t_ = wf.transfer
    beam = (t_["max_order"], t_["top_k"], t_["beam_width"])
    ranked = {t: ranking(proxy_dir / size / t / "scores.json") for t in wf.transfer_targets} if m else None
    d = out / f"prune_{m or 'all'}"
    info = pruned_stage3(results, size, wf.transfer_targets, ranked, m, d, *beam)
    if train and m:
        from taskonomy.tasks import parse_source_set
        from taskonomy.transfer import run_transfer
        extra = {}
        for t, names in info["missing"].items():
            for name in names:
                f = out / "extra" / t / name
                if not (f / "losses.parquet").is_file():
                    with contextlib.redirect_stdout(sys.stderr):       # its progress: not the report
                        run_transfer(transfer_settings(wf.config, t, size), list(parse_source_set(name)),
                                     results / "reps", results / "targets", f, threads=1)
                extra.setdefault(t, {})[name] = f / "losses.parquet"
        info = pruned_stage3(results, size, wf.transfer_targets, ranked, m, d, *beam, extra=extra)
        info["trained_here"] = sum(len(v) for v in extra.values())
    return d / "tables" / "affinity.csv", info


def compute_proxy(wf: Workflow, results: Path, size: str, out: Path) -> dict[str, float]:
    """Proxy scores of every target (cached in ``out``); {target: seconds of its fits}."""
    seconds = {}
    for t in wf.transfer_targets:
        d = out / size / t
        if not (d / "scores.json").is_file():
            t0 = time.perf_counter()
            losses, images, report = score_target(transfer_settings(wf.config, t, size), wf.tasks,
                                                  results / "reps", results / "targets",
                                                  wf.transfer["max_order"], wf.transfer["top_k"],
                                                  wf.transfer["beam_width"])
            write_target(losses, images, report, d)
            print(f"proxy {t}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        fits = json.loads((d / "scores.json").read_text())["fits"]
        seconds[t] = sum(f["seconds"] for f in fits.values())
    ahp.gather([out / size / t / "ahp.csv" for t in wf.transfer_targets], out / size / "tables",
               tables=ahp.QUALITY_TABLES)
    return seconds


def transfer_seconds(results: Path, size: str, target: str, source: str) -> float:
    m = json.loads((results / "transfers" / size / target / source / "metrics.json").read_text())
    return float(m.get("train_seconds", 0.0)) + float(m.get("load_seconds", 0.0))


def job_seconds(benchmarks: Path, run: str, size: str) -> dict[str, float]:
    """Wall seconds of each transfers_from_<source>_<size> job of ``run`` (Snakemake benchmark
    files: benchmarks/transfers_from/<run>/<source>/<size>.tsv, or without <run>/ as written
    before benchmarks were kept per run)."""
    out = {}
    base = benchmarks / "transfers_from" / run
    base = base if base.is_dir() else benchmarks / "transfers_from"
    for f in sorted(base.glob(f"*/{size}.tsv")):
        lines = f.read_text().splitlines()
        if len(lines) >= 2:
            out[f.parent.name] = float(lines[1].split("\t")[0])
    return out


def fmt(v, spec=".2f") -> str:
    return "-" if v is None else format(v, spec)


def taxonomy_rows(c: dict) -> list[str]:
    r = c["budgets"][0]
    if r["status"] != "ok":
        return [f"taxonomy: {r['status']}"]
    out = [f"- supervised (A): {' '.join(r['supervised_a'])}", f"- supervised (B): {' '.join(r['supervised_b'])}",
           f"- Jaccard of the supervised sets {r['jaccard']:.2f}; same sources for "
           f"{r['same_sources']:.0%} of the {len(c['bip_targets'])} targets"]
    on_random = [sum(ch[t] == ["random"] for t in c["bip_targets"]) for ch in (r["choices_a"], r["choices_b"])]
    out.append(f"- targets served by the random encoder alone: {on_random[0]} (A), {on_random[1]} (B)")
    diff = [t for t in c["bip_targets"] if r["choices_a"][t] != r["choices_b"][t]]
    if diff:
        out.append("- targets with different sources: " + "; ".join(
            f"{t}: {'+'.join(r['choices_a'][t])} vs {'+'.join(r['choices_b'][t])}" for t in diff))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, required=True, help="results/<run> of a finished run")
    ap.add_argument("--config", required=True, help="that run's config.yaml")
    ap.add_argument("--size", default="16k")
    ap.add_argument("--out", type=Path, required=True, help="folder for the proxy scores and simulated tables")
    ap.add_argument("--replicate", help="affinity.csv of a seed replicate of the run's first order")
    ap.add_argument("--benchmarks", type=Path, help="the run's benchmarks/ folder")
    ap.add_argument("--prune", type=int, nargs="+", default=[3, 5, 8], help="m of the simulated pruning")
    ap.add_argument("--train-missing", action="store_true",
                    help="train the higher-order sets a pruned beam picks that the run lacks (a few minutes)")
    a = ap.parse_args(argv)
    wf = Workflow(load_config(a.config))
    size, res = a.size, a.results
    budget, order = wf.taxo["default_budget"], wf.taxo["default_order"]
    so = wf.config["source_only"]
    proxy_s = compute_proxy(wf, res, size, a.out)
    proxy_table = a.out / size / "tables" / "affinity.csv"
    trained = res / "tables" / size / "affinity.csv"
    cmp = {o: compare_tables(proxy_table, trained, budgets=[budget], max_order=o, source_only=so) for o in (1, order)}
    rep = compare_tables(a.replicate, trained, budgets=[budget], max_order=order, source_only=so) if a.replicate else None
    rep_px = compare_tables(proxy_table, a.replicate, budgets=[], source_only=so) if a.replicate else None
    # self-check: Stage III recomputed here from every trained transfer gives the run's table
    full, _ = simulate_pruning(wf, res, size, a.out, None, a.out / size)
    same = full.read_bytes() == trained.read_bytes()
    L = ["# Proxy vs trained Stage II", "",
         f"Run: `{res}` (size {size}, {len(wf.transfer_targets)} targets, {len(wf.tasks)} sources); "
         f"proxy scored on the transfer split's held-out images; trained table `{trained}`. "
         f"Stage III recomputed from the run's files reproduces its table byte for byte: {same}.", "",
         "## Per-target agreement of the first-order rankings", "",
         "rho: Spearman of the proxy's AHP affinities vs the trained table's over the shared task sources; "
         "top5: overlap of the two top-5 sets; held-out rho: Spearman of the proxy's mean held-out loss "
         "vs the trained transfers' on the same held-out images (the beam's ranking)" + ("; seed rho / seed top5: the replicate (Stage II retrained "
         "with another seed) vs the trained table, the ceiling a predictor of a single training run "
         "can reach; proxy vs seed: the proxy against the replicate" if rep else "") + ".", ""]
    # the same images on both sides: the proxy's mean held-out loss vs the trained transfers'
    # (the beam's ranking, beam/<size>/<target>.json)
    ho_rho = {}
    for t in wf.transfer_targets:
        mine = json.loads((a.out / size / t / "scores.json").read_text())["mean_loss"]
        theirs = json.loads((res / "beam" / size / f"{t}.json").read_text())["losses"]
        common = [s for s in theirs if s in mine and s in TASKS]
        ho_rho[t] = spearman([mine[s] for s in common], [theirs[s] for s in common])
    head = "| target | kind | rho | top5 | held-out rho |" + (" seed rho | seed top5 | proxy vs seed rho |" if rep else "") + \
        " proxy top-5 | trained top-5 |"
    L += [head, "|" + "---|" * (head.count("|") - 1)]
    for t, d in cmp[1]["targets"].items():
        row = f"| {t} | {TASKS[t].kind} | {fmt(d['rho'])} | {fmt(d['top5_overlap'], '.1f')} | {fmt(ho_rho[t])} |"
        if rep:
            r, rp = rep["targets"].get(t, {}), rep_px["targets"].get(t, {})
            row += f" {fmt(r.get('rho'))} | {fmt(r.get('top5_overlap'), '.1f')} | {fmt(rp.get('rho'))} |"
        L.append(row + f" {' '.join(d['top5_a'])} | {' '.join(d['top5_b'])} |")
    c1 = cmp[1]
    L += ["", f"Proxy vs trained: median rho {fmt(c1['median_rho'])} over {c1['n_targets']} targets, "
              f"rho > 0.5 for {c1['n_rho_above_0_5']}, median top-5 overlap {fmt(c1['median_top5_overlap'])}; "
              f"on the held-out images median rho {fmt(statistics.median(v for v in ho_rho.values() if v is not None))}."]
    if rep:
        L += [f"Replicate vs trained: median rho {fmt(rep['median_rho'])}, rho > 0.5 for "
              f"{rep['n_rho_above_0_5']}, median top-5 overlap {fmt(rep['median_top5_overlap'])}. "
              f"Proxy vs replicate: median rho {fmt(rep_px['median_rho'])}."]
    L += ["", f"## Taxonomy at the default budget {budget}, order {order}", "",
          f"A = proxy table, B = trained table (the BIP of `taskonomy compare`, order {order}):", ""]
    L += taxonomy_rows(cmp[order])
    if rep:
        L += ["", "A = replicate (first order only), B = trained:", ""] + taxonomy_rows(rep)
    L += ["", "## Pruning (simulated on the trained results)", "",
          "Per target only the proxy's m best first-order sources, random and the beam's pairs over "
          "them (ranked on held-out losses, as the beam does) enter Stage III; pruned sources are left "
          "out of the tournament (no edge in the BIP). The first-order transfers are the run's own (a "
          "pruned run trains the kept ones with the same settings and seeds); pairs the pruned beam "
          "picks that the full run never trained are trained with the run's settings (--train-missing) "
          "or left out (counted below).", ""]
    secs = {(t, s): transfer_seconds(res, size, t, s) for t in wf.transfer_targets
            for s in wf.first_order_sources(t)}
    total_first = sum(secs.values())
    for m in a.prune:
        table, info = simulate_pruning(wf, res, size, a.out, m, a.out / size, a.train_missing)
        c = compare_tables(table, trained, budgets=[budget], max_order=order, source_only=so)
        missing = sum(len(v) for v in info["missing"].values())
        kept = {t: kept_sources(ranking(a.out / size / t / "scores.json"), m) for t in wf.transfer_targets}
        saved = sum(v for (t, s), v in secs.items() if s not in kept[t])
        L += [f"### m = {m}", "",
              f"{info['transfers']} transfers enter Stage III"
              + (f" ({info['trained_here']} higher-order sets the run had not trained were trained here)"
                 if "trained_here" in info else f" ({missing} higher-order sets the run has not trained left out)")
              + "; "
              f"first-order transfer seconds saved: {saved:.0f} of {total_first:.0f} "
              f"({saved / total_first:.0%}).", "", "A = pruned, B = full:", ""] + taxonomy_rows(c) + [""]
    if a.replicate:
        # the second seed: the replicate's first order, pruned or not, at max order 1
        rep_dir = Path(a.replicate).parent / "transfers"
        L += ["### On the seed replicate (first order only, order-1 taxonomies)", "",
              "The replicate's own first-order transfers pruned the same way (no higher orders: the "
              "replicate has none), against the unpruned replicate; and the run's first order the same "
              "way, for comparison.", "",
              "| m | replicate: Jaccard | same sources | on random | run (order 1): Jaccard | same sources | on random |",
              "|---|---|---|---|---|---|---|"]
        ranked = {t: ranking(a.out / size / t / "scores.json") for t in wf.transfer_targets}
        base = {}
        for name, tr in (("rep", rep_dir), ("run", None)):      # every first-order source, nothing else
            d = a.out / size / f"{name}_prune_all"
            pruned_stage3(res, size, wf.transfer_targets, ranked, len(wf.tasks), d, 1, transfers=tr)
            base[name] = (d, tr)
        for m in a.prune:
            row = f"| {m} |"
            for name in ("rep", "run"):
                d = a.out / size / f"{name}_prune_{m}"
                pruned_stage3(res, size, wf.transfer_targets, ranked, m, d, 1, transfers=base[name][1])
                c = compare_tables(d / "tables" / "affinity.csv", base[name][0] / "tables" / "affinity.csv",
                                   budgets=[budget], max_order=1, source_only=so)["budgets"][0]
                on_random = sum(v == ["random"] for v in c["choices_a"].values())
                row += f" {c['jaccard']:.2f} | {c['same_sources']:.0%} | {on_random} |"
            L.append(row)
        L.append("")
    L += ["## Cost", "",
          f"Proxy: {sum(proxy_s.values()):.0f} s of fits for all {len(proxy_s)} targets "
          f"(median {statistics.median(proxy_s.values()):.1f} s per target, one process; "
          f"per target the first order, self and the beam's pairs over the proxy ranking).",
          f"Trained first order: {total_first:.0f} s of transfer training + loading "
          f"(sum of metrics.json train_seconds + load_seconds over {len(secs)} transfers)."]
    if a.benchmarks:
        js = job_seconds(a.benchmarks, a.results.name, size)
        L.append(f"transfers_from_* jobs (benchmark files): {sum(js.values()):.0f} job-seconds wall over "
                 f"{len(js)} jobs (includes process start, reading caches and the load of a shared machine).")
    print("\n".join(L))
    return 0


if __name__ == "__main__":
    sys.exit(main())
