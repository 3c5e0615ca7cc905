"""Benchmark of ``taskonomy serve``: how fast a solve on the paper's 16k table answers over HTTP.

    .venv/bin/python bench/serve.py [--repeats 20] [--md bench/serve.md]

Starts ``taskonomy serve`` in a child process on a free local port (uvicorn, as a user runs
it), then times whole HTTP round trips from this process (urllib, a new connection each):

1. the first request after start (the table is read on it: the cold case);
2. ``POST /api/solve`` with the paper's default query (22 targets, budget 6, max order 5),
   ``--repeats`` times: median, 90th percentile and max, next to the solver's own
   ``solve_time_s`` (building + solving the BIP with CBC);
3. other budgets and max orders (2 and 10; 1 and 24), and the figure (``/api/solve/figure``).

Other jobs may share the machine; medians are reported, with the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import urllib.request

from taskonomy.serve.cli import running


def post(url: str, body: dict) -> tuple[float, bytes]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as r:
        data = r.read()
    return time.perf_counter() - t0, data


def timed(url: str, body: dict, repeats: int) -> dict:
    walls, solver = [], []
    for _ in range(repeats):
        wall, data = post(url, body)
        walls.append(wall)
        if data.startswith(b"{"):
            solver.append(json.loads(data)["solve_time_s"])
    walls.sort()
    return {"median": statistics.median(walls), "p90": walls[int(0.9 * (len(walls) - 1))], "max": walls[-1],
            "solver": statistics.median(solver) if solver else None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--md", help="write the results as Markdown here")
    args = p.parse_args()
    default = {"affinities": "paper-16k", "budget": 6, "max_order": 5}
    with running(results="results") as url:
        first, _ = post(url + "api/solve", default)
        cases = [("default query (budget 6, max order 5)", "api/solve", default, args.repeats)]
        cases += [(f"budget {b}, max order {k}", "api/solve", {**default, "budget": b, "max_order": k}, 5)
                  for b, k in ((2, 5), (10, 5), (6, 1), (6, 24))]
        cases += [("taxonomy figure (default query)", "api/solve/figure", default, 3)]
        rows = [(name, n, timed(url + path, body, n)) for name, path, body, n in cases]
    load = os.getloadavg()
    lines = ["# `taskonomy serve`: solve latency on paper-16k", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `bench/serve.py` on "
             f"{platform.node()} ({os.cpu_count()} CPUs, Python {platform.python_version()}, "
             f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} after the run; the machine is shared).",
             "Whole HTTP round trips from another process on the same machine (uvicorn, one new "
             "connection per request); `solver` is the BIP's own build + solve time (`solve_time_s`).", "",
             f"First request after start (reads the table): **{first:.3f} s**.", "",
             "| request | n | median s | p90 s | max s | solver median s |", "|---|---|---|---|---|---|"]
    for name, n, r in rows:
        solver = f"{r['solver']:.3f}" if r["solver"] is not None else "-"
        lines.append(f"| {name} | {n} | {r['median']:.3f} | {r['p90']:.3f} | {r['max']:.3f} | {solver} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        with open(args.md, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
