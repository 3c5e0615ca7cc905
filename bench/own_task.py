"""What the all-for-one scenario costs for a task of your own: a few hundred labelled images
against every source network of a run, on CPU.

    .venv/bin/python bench/own_task.py [--results results/default] [--images 300]

Builds a CSV task from ``--images`` RGB views of the run's data (label: the image's mean
colour, a 3-vector) and runs the chain of jobs `snakemake novel` runs for it (the check, the
sources' encodings of the images, every transfer with the beam's higher orders, the scratch
network, AHP, the report), each as its command, timing each. Needs the run's
``tasks/<source>/model.pt`` (`make run`); writes into a temporary folder. Results:
bench/own_task.md.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def loads(model: Path) -> bool:
    """The network is there and loads with this code (a stale run may hold older shapes)."""
    from taskonomy.encode import load_task_network
    try:
        load_task_network(model)
        return True
    except (OSError, RuntimeError) as e:
        print(f"left out {model}: {str(e).splitlines()[0]}", file=sys.stderr)
        return False


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=Path("results/default"))
    p.add_argument("--config", default="config.yaml")
    p.add_argument("--images", type=int, default=300)
    args = p.parse_args()
    from taskonomy import owntask
    from taskonomy.config import load_config
    from taskonomy.settings import as_json, derive_seed
    cfg = load_config(args.config)
    data = Path(cfg["data"]["root"])
    sources = [s for s in cfg["tasks"] if loads(args.results / "tasks" / s / "model.pt")]
    tmp = Path(tempfile.mkdtemp())
    rgb = sorted((data / "rgb").rglob("*_domain_rgb.png"))
    pick = np.random.default_rng(0).choice(len(rgb), min(args.images, len(rgb)), replace=False)
    with open(tmp / "colour.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "label_0", "label_1", "label_2"])
        for i in sorted(pick):
            w.writerow([rgb[i].relative_to(data).as_posix(),
                        *(np.asarray(Image.open(rgb[i]), np.float32).mean((0, 1)) / 255)])
    cfg["own_tasks"] = {**cfg["own_tasks"], "tasks": [
        {"name": "colour", "kind": "vector", "channels": 3, "csv": str(tmp / "colour.csv"), "images": str(data)}]}
    t, = owntask.declared(cfg)
    spec, settings = as_json(t.to_dict()), as_json(owntask.transfer_settings(cfg, t))
    splits = owntask.splits_of(cfg)
    own = tmp / "own" / "colour"
    tr = cfg["transfer"]
    py = [sys.executable, "-m"]
    af = [*py, "taskonomy.evaluation.allforone"]
    steps = {
        "check": [*py, "taskonomy.owntask", "check", "--spec", spec, "--data", str(data), "--splits", *splits,
                  "--seed", str(derive_seed(cfg["seed"], "own/colour")), "--out-dir", str(own)],
        "reps": [*af, "reps", "--spec", spec, "--sources", *sources, "--models",
                 *(str(args.results / "tasks" / s / "model.pt") for s in sources), "--images", str(own / "images"),
                 "--splits", *splits, "--out-root", str(own / "reps"), "--device", "cpu", "--threads", "1"],
        "transfers": [*af, "transfers", "--spec", spec, "--settings", settings, "--sources", *sources,
                      "--reps", str(own / "reps"), "--targets", str(own / "targets"), "--out-root",
                      str(own / "transfers"), "--beam", str(own / "beam.json"), "--max-order", str(tr["max_order"]),
                      "--top-k", str(tr["top_k"]), "--beam-width", str(tr["beam_width"]), "--threads", "1"],
        "scratch": [*af, "scratch", "--spec", spec, "--settings", settings, "--images", str(own / "images"),
                    "--targets", str(own / "targets"), "--out", str(own / "scratch"), "--threads", "1"],
    }
    times = {}
    for name, cmd in steps.items():
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times[name] = round(time.perf_counter() - t0, 1)
    beam = json.loads((own / "beam.json").read_text())
    folders = [*sources, *beam["positions"]]
    t0 = time.perf_counter()
    subprocess.run([*py, "taskonomy.ahp", "target", "colour", "--transfers",
                    *(str(own / "transfers" / s / "losses.parquet") for s in folders), "--beam", str(own / "beam.json"),
                    "--pixels", str(own / "scratch" / "losses.parquet"), "--npz", str(own / "ahp" / "colour.npz"),
                    "--csv", str(own / "ahp" / "colour.csv")], check=True, stdout=subprocess.DEVNULL)
    times["ahp"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    subprocess.run([*af, "report", "--spec", spec, "--ahp", str(own / "ahp" / "colour.csv"), "--check",
                    str(own / "check.json"), "--sources", *sources, "--budgets", *map(str, cfg["own_tasks"]["budgets"]),
                    "--orders", *map(str, range(1, tr["max_order"] + 1)), "--out", str(own / "novel.json"),
                    "--plot", str(own / "novel.png")], check=True, stdout=subprocess.DEVNULL)
    times["report"] = round(time.perf_counter() - t0, 1)
    rep = json.loads((own / "novel.json").read_text())
    print(json.dumps({"images": rep["images"], "n": beam["n"], "sources": len(sources),
                      "transfers": len(folders), "seconds": times, "total_s": round(sum(times.values()), 1),
                      "load_average": os.getloadavg(), "best": rep["ranking"][:3], "policies": rep["policies"],
                      "out": str(own)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
