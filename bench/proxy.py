"""How well the closed-form proxy (taskonomy.proxy) predicts Stage II (bench/proxy.md).

    .venv/bin/python bench/proxy.py --results results/default --config config.yaml --size 16k \
        --out bench/proxy_run [--replicate results/default/eval/16k/replicate_1/affinity.csv] \
        [--benchmarks benchmarks] > proxy.md

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
   solves the taxonomy on that table;
4. estimates the Stage II time pruning saves from each transfer's own train + load seconds
   (metrics.json) and the transfers_from_* jobs' benchmark files, against the proxy's cost.

Prints markdown.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from taskonomy import ahp
from taskonomy.beam import read_positions
from taskonomy.config import load_config
from taskonomy.proxy import score_target, write_target
from taskonomy.settings import transfer_common, transfer_settings
from taskonomy.supervision.compare import compare_tables
from taskonomy.tasks import TASKS, parse_source_set, source_set_name
from taskonomy.workflow import Workflow


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


if __name__ == "__main__" and sys.argv[1:2] == ["--compute-only"]:
    # (development helper) python bench/proxy.py --compute-only RESULTS CONFIG SIZE OUT
    _, _, res_, cfg_, size_, out_ = sys.argv
    print(compute_proxy(Workflow(load_config(cfg_)), Path(res_), size_, Path(out_)))
    sys.exit(0)
