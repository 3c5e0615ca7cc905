"""Seed replicates of Stage II's first order (config evaluation.replicates; issue 12, item 4).

On a tiny fake results tree (random representations and labels): the replicate job retrains
every (target, source) of the first order with a training seed different from the run's and
the same training images, writes the first-order affinity table, and `taskonomy compare`
against the run's own table gives the seed-to-seed agreement. The pipeline wiring is covered
by the smoke config (replicates: 1) in tests/test_lineage_pipeline.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from taskonomy import lineage
from taskonomy.ahp import COLUMNS, compute_target, rows_of, table_text
from taskonomy.evaluation.replicate import input_files, main as replicate_main, replicate_settings
from taskonomy.io import write_text
from taskonomy.labels import save_labels
from taskonomy.settings import transfer_settings
from taskonomy.supervision.compare import main as compare_main
from taskonomy.transfer import run_transfer

RES = "results/r"
SIZE = "small"
TARGETS = ["room_layout", "vanishing_point"]
SOURCES = ["room_layout", "vanishing_point", "normal", "random"]
CFG = {"seed": 0, "transfer": {"sizes": {SIZE: 8}, "epochs": 1, "batch_size": 4}}
N_VAL, N_TEST = 20, 12


def fake_results(root: Path) -> None:
    """reps/<src>/{val,test}.npy, targets/<t>/{val,test}.npz and tasks/<t>/losses.parquet of
    random tensors (as tests/test_engine.py's _fake_transfer_inputs)."""
    g = torch.Generator().manual_seed(3)
    for s in SOURCES:
        (root / "reps" / s).mkdir(parents=True, exist_ok=True)
        for sp, n in (("val", N_VAL), ("test", N_TEST)):
            np.save(root / "reps" / s / f"{sp}.npy", torch.randn(n, 8, 4, 4, generator=g).numpy().astype(np.float16))
    for t in TARGETS:
        (root / "targets" / t).mkdir(parents=True, exist_ok=True)
        for sp, n in (("val", N_VAL), ("test", N_TEST)):
            save_labels(root / "targets" / t / f"{sp}.npz",
                        {"y": torch.randn(n, 9, generator=g) + 4.0, "image": torch.arange(n),
                         "views": torch.arange(n).view(n, 1)})
        (root / "tasks" / t).mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"image": np.arange(N_TEST), "loss": torch.rand(N_TEST, generator=g).numpy() * 20}
                     ).to_parquet(root / "tasks" / t / "losses.parquet")


def main_run(root: Path) -> Path:
    """The run's own first order (its seeds) and affinity table, as Stages II-III make them."""
    rows = []
    for t in TARGETS:
        s = transfer_settings(CFG, t, SIZE)
        paths = []
        for src in (x for x in SOURCES if x != t):
            run_transfer(s, [src], root / "reps", root / "targets", root / "transfers" / SIZE / t / src)
            paths.append(root / "transfers" / SIZE / t / src / "losses.parquet")
        res = compute_target(t, paths, root / "tasks" / t / "losses.parquet")
        rows += rows_of(res, res.affinity)
    table = root / "tables" / SIZE / "affinity.csv"
    write_text(table, table_text(rows))
    return table


def test_replicate_retrains_every_first_order_transfer_with_another_seed_on_the_same_images(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = Path(RES)
    fake_results(root)
    table = main_run(root)
    settings = {t: replicate_settings(CFG, t, SIZE, 1) for t in TARGETS}
    assert replicate_main(["--results", RES, "--size", SIZE, "--replicate", "1", "--targets", *TARGETS,
                           "--sources", *SOURCES, "--settings", json.dumps({"per_target": settings}),
                           "--threads", "1"]) == 0
    out = root / "eval" / SIZE / "replicate_1"
    pairs = [(t, s) for t in TARGETS for s in SOURCES if s != t]
    assert sorted(p.parent.relative_to(out / "transfers").parts
                  for p in (out / "transfers").rglob("losses.parquet")) == sorted(pairs)
    differ = 0
    for t, s in pairs:
        main_dir, rep_dir = root / "transfers" / SIZE / t / s, out / "transfers" / t / s
        main_cfg = json.loads((main_dir / "metrics.json").read_text())["config"]
        rep_cfg = json.loads((rep_dir / "metrics.json").read_text())["config"]
        # only the training seed differs: same size, schedule, model and training subset
        assert rep_cfg["seed"] != main_cfg["seed"] and rep_cfg["seed"] == settings[t]["seed"]
        assert {k: v for k, v in rep_cfg.items() if k != "seed"} == {k: v for k, v in main_cfg.items() if k != "seed"}
        # the same training images: the held-out images (the transfer split's rest) coincide
        held = [set(pd.read_parquet(d / "heldout.parquet")["image"]) for d in (main_dir, rep_dir)]
        assert held[0] == held[1] and len(held[0]) == N_VAL - CFG["transfer"]["sizes"][SIZE]
        test = [pd.read_parquet(d / "losses.parquet") for d in (main_dir, rep_dir)]
        assert list(test[0]["image"]) == list(test[1]["image"])
        differ += not np.array_equal(test[0]["loss"].to_numpy(), test[1]["loss"].to_numpy())
    assert differ == len(pairs)        # another seed, another network
    # the replicate's table: first order + self per target, in the paper's schema
    rep = pd.read_csv(out / "affinity.csv")
    assert tuple(rep.columns) == COLUMNS and set(rep["order"]) == {1}
    for t in TARGETS:
        mine = rep[rep["target"] == t]
        assert set(mine["sources"]) == {s for s in SOURCES if s != t} | {"self"}
        assert abs(mine["value"].sum() - 1) < 1e-9            # one AHP vector per target
    # lineage: both outputs record the job's inputs; a Snakemake timestamp in the directory
    # output does not change its content hash
    for o in (out / "transfers", out / "affinity.csv"):
        rec = lineage.load(o)
        assert {i["path"] for i in rec["inputs"]} == {str(p) for p in input_files(RES, settings, SOURCES)}
    (out / "transfers" / lineage.SNAKEMAKE_TIMESTAMP).touch()
    assert lineage.load(out / "transfers")["sha256"] == lineage.content_hash(out / "transfers")

    # the seed-to-seed agreement, as rule eval_replicate_compare runs it
    j, png = out / "compare.json", out / "compare.png"
    assert compare_main([str(out / "affinity.csv"), str(table), "--budgets", "1", "2", "--max-order", "1",
                         "--source-only", "random", "--out", str(j), "--plot", str(png)]) == 0
    res = json.loads(j.read_text())
    assert png.stat().st_size > 0
    assert res["n_targets"] == len(TARGETS) and set(res["targets"]) == set(TARGETS)
    assert all(v["n_sources"] == len(SOURCES) - 1 for v in res["targets"].values())   # all but t


def test_replicate_settings_change_only_the_seed():
    for r in (1, 2):
        main, rep = transfer_settings(CFG, "normal", SIZE), replicate_settings(CFG, "normal", SIZE, r)
        assert rep["seed"] != main["seed"] and {**rep, "seed": main["seed"]} == main
    assert replicate_settings(CFG, "normal", SIZE, 1)["seed"] != replicate_settings(CFG, "normal", SIZE, 2)["seed"]
