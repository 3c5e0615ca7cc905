"""Consistency vs baseline on the synthetic data, end to end through Snakemake (rules/consistency.smk).

    .venv/bin/python bench/consistency.py [--cores 2] [--targets normal] [--size 64] [--width 8]

Renders a small dataset (data/bench-consistency), runs the consistency stage for the targets
with a config written to results/bench-consistency/config.yaml, and prints a Markdown table
of the test errors (direct and through the perceptual networks), the energy-error Spearman
correlation and where the real photographs' energies fall (paste into bench/consistency.md).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--targets", nargs="+", default=["normal"])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--buildings", type=int, default=24)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--k", type=int, default=None)
    p.add_argument("--winrate", action="store_true")
    p.add_argument("--random-select", action="store_true")
    p.add_argument("--epochs", type=int, default=10, help="epochs of the baseline and consistency networks")
    p.add_argument("--perceptual-epochs", type=int, default=6)
    p.add_argument("--retrain-perceptual", action="store_true", help="also rerun the perceptual networks")
    p.add_argument("--retrain", action="store_true",
                   help="rerun the baseline, consistency and energy jobs (after changing k, epochs, ...)")
    a = p.parse_args()
    run = "bench-consistency"
    data = f"data/{run}"
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg.update({"run": run, "device": "cpu", "tasks": ["normal", "reshading", "random"]})
    cfg["data"] = {"root": data, "synth": {"buildings": a.buildings, "points": 4, "views": 3,
                                           "size": a.size, "seed": 0, "workers": 2}}
    cfg["consistency"].update({"enabled": True, "targets": list(a.targets),
                               "k": a.k, "winrate": a.winrate, "random_select": a.random_select,
                               "unet": {"width": a.width, "downsample": 3},
                               "perceptual": {"epochs": a.perceptual_epochs, "batch_size": 16, "lr": 0.003, "limit": None},
                               "train": {"epochs": a.epochs, "batch_size": 16, "lr": 0.003, "limit": None}})
    out = ROOT / "results" / run
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    targets = [f"results/{run}/consistency/{t}/energy/eval.json" for t in a.targets]
    force = ["--forcerun", "consistency_baseline", "consistency_train", "consistency_energy",
             *(["consistency_perceptual"] if a.retrain_perceptual else []), "--"] if a.retrain else []
    t0 = time.perf_counter()
    # mtime only: the pre-rendered data must not be re-rendered because of a config edit
    subprocess.run([str(ROOT / ".venv/bin/snakemake"), f"--configfile={out / 'config.yaml'}",
                    "--cores", str(a.cores), "--rerun-triggers=mtime", *force, *targets], cwd=ROOT, check=True)
    wall = time.perf_counter() - t0
    lines = [f"settings: {json.dumps({k: cfg['consistency'][k] for k in ('k', 'random_select', 'winrate', 'unet', 'perceptual', 'train')})}",
             f"wall time {wall:.0f} s with --cores {a.cores}", ""]
    for t in a.targets:
        ev = json.loads((ROOT / targets[a.targets.index(t)]).read_text())
        b, c = ev["models"]["baseline"], ev["models"]["consistency"]
        lines += [f"### target {t} (n_test={ev['n_test']}, n_val={ev['n_val']})", "",
                  "| error on the test split | baseline | consistency | perceptual floor f(y_gt) | direct rgb->Z |",
                  "|---|---|---|---|---|"]
        for k in b["direct"]:
            lines.append(f"| {t} {k} (direct) | {b['direct'][k]:.4f} | {c['direct'][k]:.4f} | | |")
        for z in ev["domains"]:
            lines.append(f"| {z} through {t}->{z} | {b['through'][z]:.4f} | {c['through'][z]:.4f} | "
                         f"{c['perceptual_floor'][z]:.4f} | {c['direct_rgb_to_z'][z]:.4f} |")
        lines.append(f"| mean through the perceptual networks | {b['through_mean']:.4f} | {c['through_mean']:.4f} | | |")
        lines += ["", "| energy | baseline | consistency |", "|---|---|---|"]
        for k in ("spearman_energy_error", "spearman_energy_angular_error"):
            if k in b:
                lines.append(f"| {k} (test) | {b[k]:.3f} | {c[k]:.3f} |")
        for k in ("mean", "median", "p95"):
            lines.append(f"| test energy {k} | {b['test_energy'][k]:.3f} | {c['test_energy'][k]:.3f} |")
        for k in ("mean", "min", "max", "share_above_test_median", "share_above_test_p95", "share_above_test_max"):
            lines.append(f"| photographs energy {k} | {b['ood_energy'][k]:.3f} | {c['ood_energy'][k]:.3f} |")
        lines.append("")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
