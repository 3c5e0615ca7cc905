"""The paper's evaluations: random feasible policies, significance, Gain/Quality, novel tasks,
Table 1 and the transitive check, on small generated tables and on the paper's tables."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from taskonomy import ahp
from taskonomy.evaluation import gain_quality, losses, novel, significance
from taskonomy.evaluation.cli import main as evaluate_main
from taskonomy.supervision import bip
from taskonomy.supervision.tables import Row, Table, TableSet, load

TARGETS = ["edge_texture", "normal", "reshading", "depth_zbuffer", "class_scene"]
SOURCE_ONLY = ["jigsaw"]


@pytest.fixture(scope="module")
def small_tables(tmp_path_factory):
    """Affinity + Quality + Gain tables of 5 targets, orders 1-2, with random values."""
    rng = np.random.default_rng(3)
    d = tmp_path_factory.mktemp("tables")
    pool = TARGETS + SOURCE_ONLY
    rows = {"affinity.csv": [], "wins_vs_task.csv": [], "wins_vs_pixels.csv": []}
    for t in TARGETS:
        srcs = [(s,) for s in pool if s != t] + [tuple(sorted(p)) for p in
                                                 itertools.combinations([s for s in pool if s != t], 2)]
        srcs = [s for i, s in enumerate(srcs) if i < 5 or rng.random() < 0.5] + [("random",), ("self",)]
        aff = rng.dirichlet(np.ones(len(srcs)))
        for s, a in zip(srcs, aff):
            q = 0.5 if s == ("self",) else rng.uniform(0, 0.5)
            for name, v in (("affinity.csv", a), ("wins_vs_task.csv", q),
                            ("wins_vs_pixels.csv", rng.uniform(0.2, 1))):
                rows[name].append((t, " ".join(s), len(s), v))
    for name, r in rows.items():
        (d / name).write_text(ahp.table_text(r))
    return load(str(d / "affinity.csv"))


def test_random_policies_are_feasible(small_tables):
    """The significance test's random policies (bip.RandomPolicies) on a table set with Gain and
    Quality: feasible, scored on every table, objective as the solver's."""
    for budget, max_order in ((1, 1), (2, 2), (3, 1), (4, 2)):
        gen = bip.RandomPolicies(small_tables, targets=TARGETS, budget=budget, max_order=max_order,
                                 source_only=SOURCE_ONLY)
        assert gen.supervisable == sorted(TARGETS + SOURCE_ONLY + ["random"])   # "random" is a task
        for pol in gen.sample(50, seed=budget):
            assert pol.cost_used == len(pol.supervised) == budget
            assert set(pol.targets) == set(TARGETS)
            for t, c in pol.targets.items():
                if c.sources == bip.SELF:
                    assert t in pol.supervised
                else:
                    assert set(c.sources) <= set(pol.supervised) and c.order <= max_order
                    assert small_tables.affinity.value(t, c.sources) is not None
                assert c.gain is not None and c.quality is not None
            # the one feasibility check accepts it again from its choices and agrees on the objective
            assert bip.rescore(small_tables, pol) == pytest.approx(pol.objective)
            assert significance.scores(pol, small_tables)["objective"] == pytest.approx(pol.objective)


@pytest.mark.parametrize("metric", ["sqrt_affinity", "quality", "gain"])
@pytest.mark.parametrize("budget,max_order", [(1, 1), (2, 2), (3, 2)])
def test_random_policies_never_beat_the_bip(small_tables, metric, budget, max_order):
    s = significance.SignificanceSettings(budget=budget, max_order=max_order, n_random=300,
                                          seed=1, metric=metric)
    res = significance.run(small_tables, s, TARGETS, SOURCE_ONLY, progress=False)
    assert res.random["objective"].max() <= res.taxonomy["objective"] + 1e-9
    assert res.taxonomy_policy.cost_used <= budget
    summ = res.summary()["scores"]["objective"]
    assert 0 < summ["p_value"] <= 1 and summ["random_max"] <= summ["taxonomy"] + 1e-9


def test_significance_on_paper_tables():
    tables = load("paper-16k")
    s = significance.SignificanceSettings(budget=6, max_order=1, n_random=200, seed=0)
    res = significance.run(tables, s, source_only=["colorization", "inpainting", "jigsaw", "random"],
                           progress=False)
    assert len(res.targets) == 22 and res.taxonomy_policy.cost_used <= 6
    # the structure is far from random: the taxonomy beats every random policy on Quality
    assert res.taxonomy["quality"] > res.random["quality"].max()
    assert res.taxonomy["objective"] >= res.random["objective"].max()


def test_gain_quality_grid(small_tables):
    rows = gain_quality.grid(small_tables, TARGETS, [1, 5], [1], source_only=SOURCE_ONLY)
    full = [r for r in rows if r["budget"] == 5]
    assert len(rows) == 2 * len(TARGETS)
    for r in rows:
        assert small_tables.quality.value(r["target"], r["sources"].split()) == r["quality"]
        if r["sources"] == "self":
            assert r["quality"] == 0.5
    # budget 1: every transfer reads the one supervised task
    used = {s for r in rows if r["budget"] == 1 for s in r["sources"].split()}
    assert len(used - {"self"}) <= 1
    assert len(full) == len(TARGETS)


def test_novel_matches_single_target_bip():
    tables = load("paper-16k")
    targets = ["normal", "room_layout", "class_scene"]
    rows = novel.all_for_one(tables, targets, [1, 3])
    for r in rows:
        t, k = r["task"], r["max_order"]
        assert t not in r["sources"].split() and r["sources"] != "self" and r["order"] <= k
        others = [x for x in bip.TASKS if x != t]
        pol = bip.solve(tables, targets=[t], sources=others, budget=k, max_order=k,
                        metric="affinity", source_only=[])
        assert pol.targets[t].value == pytest.approx(r["affinity"])
        assert r["quality"] == tables.quality.value(t, r["sources"].split())


def test_policy_errors_name_the_row():
    """A novel task without transfers from other tasks, and a policy whose transfer has no
    Quality row, fail naming them (taskonomy evaluate: exit 1)."""
    rows = (Row("normal", ("self",), 1, 0.5), Row("normal", ("reshading",), 1, 0.3),
            Row("reshading", ("normal",), 1, 0.4), Row("reshading", ("self",), 1, 0.6))
    no_transfer = Table("q", "-", rows[:1] + rows[2:])     # normal: only its own network
    with pytest.raises(bip.InfeasibleError, match="novel task normal: no transfer of order <= 1"):
        novel.all_for_one(TableSet("t", no_transfer), ["normal"], [1])
    tables = TableSet("t", Table("t", "-", rows), quality=no_transfer)
    q = dict(targets=["normal", "reshading"], budget=1)
    pol = bip.score(tables, ["reshading"], {"normal": ["reshading"], "reshading": "self"}, **q)
    with pytest.raises(bip.QueryError, match="t: no quality row for normal <- reshading"):
        gain_quality.gain_quality(pol, tables)
    pol = bip.score(tables, ["normal"], {"normal": "self", "reshading": ["normal"]}, **q)
    assert gain_quality.gain_quality(pol, tables) == {"gain": {}, "quality": {"normal": 0.5, "reshading": 0.4}}


def _losses(path, loss, images=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    images = np.arange(len(loss)) if images is None else images
    pd.DataFrame({"image": images, "loss": np.asarray(loss, float)}).to_parquet(path)
    return path


def test_table1_and_transitive_from_losses(tmp_path):
    n = 100
    base = np.linspace(0, 1, n)
    _losses(tmp_path / "tasks/normal/losses.parquet", base)
    _losses(tmp_path / "transfers/normal/random/losses.parquet", np.r_[base[:80] + 1, base[80:] - 1])
    _losses(tmp_path / "baselines/normal/average/losses.parquet", np.r_[base[:50] + 1, base[50:]])  # 50 ties
    _losses(tmp_path / "tasks/reshading/losses.parquet", base)
    _losses(tmp_path / "transfers/reshading/random/losses.parquet", base + 1)
    rows = losses.table1(tmp_path, ["normal", "reshading"])
    assert rows[0]["vs_random"] == pytest.approx(0.8) and rows[0]["vs_avg"] == pytest.approx(0.75)
    assert rows[1]["vs_random"] == 1.0 and rows[1]["vs_avg"] is None
    with pytest.raises(ahp.AHPError, match="class_scene"):
        losses.table1(tmp_path, ["class_scene"])

    rng = np.random.default_rng(0)
    d = _losses(tmp_path / "d.parquet", rng.normal(size=400))
    same = _losses(tmp_path / "same.parquet", rng.normal(size=400))
    better = _losses(tmp_path / "better.parquet", pd.read_parquet(d)["loss"] - 0.1)
    r = losses.transitive_check(d, same)
    assert r["equal_at_5pct"] and 0.4 < r["transitive_win_rate"] < 0.6
    r = losses.transitive_check(d, better)
    assert not r["equal_at_5pct"] and r["transitive_win_rate"] == 1.0


def test_table1_from_paper_tables():
    rows = losses.table1_from_tables(load("paper-16k"), ["normal", "reshading"])
    assert all(0.9 < r["vs_random"] <= 1 for r in rows)


def test_cli_on_paper_tables_writes_outputs(tmp_path):
    assert evaluate_main(["significance", "--affinities", "paper-16k", "--budget", "4",
                          "--n-random", "50", "--out-dir", str(tmp_path)]) == 0
    summ = json.loads((tmp_path / "significance_4_1.json").read_text())
    assert summ["settings"]["budget"] == 4 and summ["scores"]["quality"]["share_beaten"] == 1.0
    assert (tmp_path / "significance_4_1.png").stat().st_size > 10000
    assert evaluate_main(["novel", "--targets", "normal", "--orders", "1", "2",
                          "--out-dir", str(tmp_path)]) == 0
    assert len((tmp_path / "novel.csv").read_text().splitlines()) == 3
    assert evaluate_main(["significance", "--affinities", "paper-16k", "--targets", "nosuchtask",
                          "--out-dir", str(tmp_path)]) == 1
