"""The Stage II proxy (taskonomy.proxy): closed-form readouts rank sources whose answer is known,
its affinity table is in the paper's schema and the BIP solves on it.

The synthetic problems: a source whose cached representation linearly contains the target
(plus noise), and noise sources; the proxy must rank the informative source first for every
kind of target (pixel map, dense classes, embedding, vector, class vector, multi-view)."""
import csv
import json

import numpy as np
import pytest
import torch
import yaml

from conftest import SMOKE, copy_workdir, snakemake  # smoke_run: session fixture in conftest.py
from taskonomy import ahp
from taskonomy.labels import save_labels
from taskonomy.proxy import kept_sources, loo_predictions, pruned_stage3, ridge_loo, score_target, write_target
from taskonomy.supervision import bip
from taskonomy.tasks import source_set_name

N, C, H = 64, 8, 4           # images of the transfer split, channels and side of a representation
OUT = 16                     # side of a pixel target (stride 4)
GOOD, NOISE = "normal", ("depth_zbuffer", "keypoints2d", "random")


def settings(target):
    return {"target": target, "size": "small", "n": 40, "subset_seed": 3, "heldout": None,
            "train_split": "val"}


def make_problem(root, target, rng):
    """reps/<src>/val.npy (GOOD carries the target linearly, NOISE do not) and targets/<t>/val.npz."""
    z = rng.normal(size=(N, C, H, H)).astype(np.float32)
    views = torch.arange(N).view(-1, 1)
    up = torch.nn.functional.interpolate(torch.from_numpy(z), scale_factor=OUT // H, mode="nearest")
    mix = torch.from_numpy(rng.normal(size=(C, 3)).astype(np.float32))
    lin = torch.einsum("nchw,ck->nkhw", up, mix)                     # (N, 3, OUT, OUT)
    g = torch.from_numpy(z).flatten(1) @ torch.from_numpy(rng.normal(size=(C * H * H, 9)).astype(np.float32))
    if target == "reshading":
        y = {"y": lin[:, :1], "m": torch.ones(N, 1, OUT, OUT)}
    elif target == "segment_semantic":
        y = {"y": lin.argmax(1), "m": torch.ones(N, 1, OUT, OUT)}
    elif target == "segment_unsup2d":                                # segments = sign pattern
        y = {"y": (lin[:, 0] > 0).long() + 2 * (lin[:, 1] > 0).long(), "m": torch.ones(N, 1, OUT, OUT)}
    elif target == "room_layout":
        y = {"y": g}
    elif target == "class_scene":
        y = {"y": torch.nn.functional.one_hot(g[:, :5].argmax(1), 5).float()}
    elif target == "fixated_pose":                                   # pairs of views
        views = torch.stack([torch.arange(N), torch.arange(N).roll(1)], 1)
        y = {"y": g[views[:, 0], :6] - g[views[:, 1], :6]}
    y.update(image=torch.arange(N), views=views)
    (root / "targets" / target).mkdir(parents=True)
    save_labels(root / "targets" / target / "val.npz", y)
    for s, arr in [(GOOD, z), (target, z + 0.1 * rng.normal(size=z.shape))] + \
            [(s, rng.normal(size=z.shape)) for s in NOISE]:
        (root / "reps" / s).mkdir(parents=True, exist_ok=True)
        np.save(root / "reps" / s / "val.npy", (arr + 0.3 * rng.normal(size=z.shape)).astype(np.float16))


@pytest.mark.parametrize("target", ["reshading", "segment_semantic", "segment_unsup2d", "room_layout",
                                    "class_scene", "fixated_pose"])
def test_informative_source_outranks_noise(tmp_path, target):
    make_problem(tmp_path, target, np.random.default_rng(0))
    losses, images, report = score_target(settings(target), [GOOD, *NOISE], tmp_path / "reps",
                                          tmp_path / "targets", max_order=2, top_k=2)
    assert report["ranked"][0] == GOOD, report["mean_loss"]
    # scored on the 24 held-out images of the transfer split, never on the 40 it fits on
    assert len(images) == N - 40 and report["n_train"] == 40
    second = [s for s in report["ranked"] if s != "random"][1]          # random is never combined
    assert set(losses) == {GOOD, *NOISE, "self", source_set_name([GOOD, second])}
    best_noise = min(losses[s].mean() for s in NOISE)
    assert losses[GOOD].mean() < best_noise
    # the tournament agrees: the informative source wins on most held-out images
    assert (losses[GOOD] < losses[report["ranked"][1]]).mean() > 0.5


def test_ridge_leave_one_out_is_exact():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(30, 5)), rng.normal(size=(30, 2))
    W, lam = ridge_loo(X, Y)
    loo = loo_predictions(X, Y, lam)
    for i in (0, 17):
        keep = np.arange(30) != i
        Wi, _ = ridge_loo(X[keep], Y[keep], lambdas=[lam / float((np.linalg.svd(
            X[keep] - X[keep].mean(0), compute_uv=False) ** 2).mean())])
        assert np.allclose(X[i] @ Wi[:-1] + Wi[-1], loo[i])


def test_kept_sources():
    ranked = ["b", "random", "a", "c"]
    assert kept_sources(ranked, 2) == ["b", "a", "random"]
    assert kept_sources(ranked, None) == ["b", "a", "c", "random"]
    assert kept_sources(ranked, 10) == kept_sources(ranked, None)


def test_proxy_table_in_the_paper_schema_and_solvable(tmp_path):
    rng = np.random.default_rng(2)
    csvs = []
    for target in ("reshading", "room_layout"):
        root = tmp_path / target
        make_problem(root, target, rng)
        losses, images, report = score_target(settings(target), [GOOD, *NOISE], root / "reps",
                                              root / "targets", max_order=2, top_k=3)
        written = write_target(losses, images, report, tmp_path / "proxy" / target)
        assert {p.name for p in written} >= {"scores.json", "losses.parquet", "ahp.csv", "ahp.wins_vs_task.csv"}
        csvs.append(tmp_path / "proxy" / target / "ahp.csv")
    out = ahp.gather(csvs, tmp_path / "tables", tables=ahp.QUALITY_TABLES)
    assert [p.name for p in out] == ["affinity.csv", "wins_vs_task.csv"]
    with open(tmp_path / "tables" / "affinity.csv") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == ahp.COLUMNS
    for target in ("reshading", "room_layout"):
        mine = [r for r in rows[1:] if r[0] == target]
        assert abs(sum(float(r[3]) for r in mine) - 1) < 1e-9
        assert {r[1] for r in mine} >= {"self", "random", GOOD} and {r[2] for r in mine} == {"1", "2"}
    p = bip.solve(str(tmp_path / "tables" / "affinity.csv"), targets=["reshading", "room_layout"],
                  sources=[GOOD, *NOISE], source_only=["random"], budget=1, max_order=1)
    # one label to spend: the informative source serves both targets
    assert list(p.supervised) == [GOOD] and all(c.sources == (GOOD,) for c in p.targets.values())


def _with_prune(work, top):
    """The smoke config with transfer.prune.top = ``top``, written into ``work``."""
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg["transfer"]["prune"] = {"top": top}
    path = work / f"prune_{top}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
def test_proxy_rules_and_pruning(smoke_run, tmp_path):
    """On a copy of the shared smoke run (Stages I-II done): `snakemake proxy` (the proxy jobs,
    its table in the paper's schema, its comparison with the trained table, for which Stage III
    runs); then Stage II pruned with an m that covers every source gives the same tables byte
    for byte (the transfers come back from the result store), and m = 1 trains, per target,
    only the proxy's best source and random, and Stage III leaves the others out."""
    work = copy_workdir(smoke_run[0], tmp_path / "w")
    res = snakemake(work, "proxy")
    assert res.returncode == 0, res.stderr[-4000:]
    run = work / "results" / "smoke"
    targets = ["normal", "room_layout", "fixated_pose"]
    proxy = run / "proxy" / "small"
    with open(proxy / "tables" / "affinity.csv") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == ahp.COLUMNS and {r[0] for r in rows[1:]} == set(targets)
    assert (proxy / "tables" / "wins_vs_task.csv").is_file() and (proxy / "compare.json").is_file()
    ranked = {t: json.loads((proxy / t / "scores.json").read_text())["ranked"] for t in targets}
    tables = run / "tables" / "small"
    before = {n: (tables / n).read_bytes() for n in ("affinity.csv", "wins_vs_task.csv", "wins_vs_pixels.csv")}
    # bench/proxy.py's simulation of a pruning that keeps everything is the pipeline's Stage III
    pruned_stage3(run, "small", targets, ranked, 100, tmp_path / "sim", top_k=2)
    assert {n: (tmp_path / "sim" / "tables" / n).read_bytes() for n in before} == before

    res = snakemake(work, "results/smoke/tables/small/affinity.csv", config=_with_prune(work, 100))
    assert res.returncode == 0, res.stderr[-4000:]
    assert "transfers_from_" in res.stderr            # the jobs did rerun (new param and inputs)
    assert {n: (tables / n).read_bytes() for n in before} == before

    res = snakemake(work, "results/smoke/tables/small/affinity.csv", config=_with_prune(work, 1))
    assert res.returncode == 0, res.stderr[-4000:]
    with open(tables / "affinity.csv") as f:
        rows = list(csv.reader(f))[1:]
    for t in targets:
        best = kept_sources(ranked[t], 1)[0]
        assert {r[1] for r in rows if r[0] == t} == {best, "random", "self"}
        for s in ranked[t]:
            m = json.loads((run / "transfers" / "small" / t / s / "metrics.json").read_text())
            assert m.get("pruned", False) == (s not in (best, "random"))
