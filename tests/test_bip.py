"""The BIP: same optimum as exhaustive enumeration on random small instances, objective
recomputed from the returned policy, infeasible and bad queries fail with clear messages."""
from __future__ import annotations

import itertools
import math
import random

import pytest

from taskonomy.supervision import bip
from taskonomy.supervision.tables import Row, Table, load

POOL = ["normal", "reshading", "depth_zbuffer", "edge_texture", "class_scene", "keypoints2d",
        "colorization"]   # colorization is source-only


def random_instance(rng: random.Random):
    """A random table on 3-6 tasks: self rows (sometimes missing) and transfers of order 1-3."""
    tasks = rng.sample(POOL, rng.randint(3, 6))
    targets = [t for t in tasks if t != "colorization"]
    if not targets:
        targets = tasks = tasks + ["normal"]
    rows = []
    for t in targets:
        if rng.random() < 0.8:
            rows.append(Row(t, ("self",), 1, rng.random()))
        seen = set()
        for _ in range(rng.randint(1, 8)):
            k = rng.randint(1, min(3, len(tasks)))
            src = tuple(sorted(rng.sample(tasks, k)))
            if src in seen:
                continue
            seen.add(src)
            # now and then a value below the sqrt clip
            rows.append(Row(t, src, k, rng.random() if rng.random() < 0.9 else 1e-8))
    table = Table(name="random", path="-", rows=tuple(rows))
    kwargs = dict(targets=targets, sources=tasks, budget=rng.randint(0, 4),
                  max_order=rng.randint(1, 3), metric=rng.choice(["sqrt_affinity", "affinity"]),
                  importance={t: rng.choice([0.5, 1, 2]) for t in targets if rng.random() < 0.5},
                  cost={t: rng.choice([0, 1, 2]) for t in tasks if rng.random() < 0.4})
    return table, kwargs


def brute_force(table, kwargs) -> float | None:
    """Best objective over every affordable set of supervised tasks (None: infeasible)."""
    q = bip.make_query(table, **kwargs)
    edges = bip.candidate_edges(table, q)
    best = None
    for n in range(len(q.sources) + 1):
        for sup in itertools.combinations(q.sources, n):
            if sum(q.l(s) for s in sup) > q.budget + 1e-9:
                continue
            total = 0.0
            for t in q.targets:
                ok = [e.value for e in edges[t] if set(e.requires) <= set(sup)]
                if not ok:
                    break
                total += q.r(t) * max(ok)
            else:
                best = total if best is None else max(best, total)
    return best


def test_matches_exhaustive_enumeration():
    rng = random.Random(1234)
    solved = infeasible = 0
    for _ in range(60):
        table, kwargs = random_instance(rng)
        expected = brute_force(table, kwargs)
        if expected is None:
            with pytest.raises(bip.InfeasibleError):
                bip.solve(table, **kwargs)
            infeasible += 1
            continue
        p = bip.solve(table, **kwargs)
        assert p.status == "optimal"
        assert p.objective == pytest.approx(expected, abs=1e-7), kwargs
        assert bip.rescore(table, p) == pytest.approx(p.objective, abs=1e-9)
        assert p.cost_used <= kwargs["budget"] + 1e-9
        solved += 1
    # the generator exercises both outcomes
    assert solved >= 30 and infeasible >= 3


def test_sqrt_clip():
    assert bip.edge_value("sqrt_affinity", 1e-9) == pytest.approx(math.sqrt(1e-5))
    assert bip.edge_value("sqrt_affinity", 4.0) == 1.0
    assert bip.edge_value("affinity", 0.25) == 0.25


@pytest.fixture(scope="module")
def paper16k():
    return load("paper-16k")


@pytest.mark.parametrize("metric", bip.METRICS)
def test_paper_16k_default_query(paper16k, metric):
    p = bip.solve(paper16k, budget=6, max_order=5, metric=metric)
    assert p.status == "optimal"
    assert len(p.targets) == 22
    assert p.cost_used <= 6 and len(p.supervised) <= 6
    for t, c in p.targets.items():
        needs = (t,) if c.sources == ("self",) else c.sources
        assert set(needs) <= set(p.supervised)
        assert c.order <= 5
        assert c.quality is not None and c.gain is not None
    assert bip.rescore(paper16k, p) == pytest.approx(p.objective, rel=1e-12)
    # never worse than a random feasible policy
    for seed in range(5):
        r = bip.random_policy(paper16k, seed, budget=6, max_order=5, metric=metric)
        assert r.objective <= p.objective + 1e-9
        assert bip.rescore(paper16k, r) == pytest.approx(r.objective)


def test_full_budget_can_prefer_transfers(paper16k):
    """With every task affordable, a target may still take a transfer that beats its own
    network (the paper's Fig. 8 at budget 26); the optimum is then at least all-supervised."""
    p = bip.solve(paper16k, budget=26, max_order=1)
    all_self = sum(bip.edge_value("sqrt_affinity", paper16k.affinity.value(t, ["self"]))
                   for t in p.targets)
    assert p.objective >= all_self - 1e-9


def test_importance_and_cost_change_the_policy(paper16k):
    base = bip.solve(paper16k, budget=6, max_order=5)
    assert "normal" in base.supervised
    dear = bip.solve(paper16k, budget=6, max_order=5, cost={"rgb2sfnorm": 7})
    assert "normal" not in dear.supervised
    t = "segment_unsup2d"
    assert base.targets[t].sources != ("self",)
    keen = bip.solve(paper16k, budget=6, max_order=5, importance={t: 50})
    best_affordable = max(e.value for e in bip.candidate_edges(
        paper16k, bip.make_query(paper16k, budget=6, max_order=5))[t] if len(e.requires) <= 6)
    assert keen.targets[t].value == pytest.approx(best_affordable)


def test_source_restriction_and_targets(paper16k):
    p = bip.solve(paper16k, targets=["rgb2sfnorm", "depth_zbuffer"], budget=1, max_order=2,
                  sources=["reshade", "rgb2sfnorm"])
    assert set(p.targets) == {"normal", "depth_zbuffer"}
    assert set(p.supervised) <= {"reshading", "normal"} and len(p.supervised) == 1


def test_infeasible_names_targets(paper16k):
    with pytest.raises(bip.InfeasibleError) as e:
        bip.solve(paper16k, budget=0)
    assert set(e.value.targets) == set(bip.make_query(paper16k).targets)
    assert "budget 0" in str(e.value)
    # a target that may not be supervised and has no transfer from the allowed sources
    with pytest.raises(bip.InfeasibleError, match=r"normal \(no transfer .* may not be supervised") as e:
        bip.solve(paper16k, targets=["normal"], sources=[], budget=3)
    assert e.value.targets == ("normal",)
    with pytest.raises(bip.InfeasibleError) as e:
        bip.solve(paper16k, targets=["normal", "reshading"], sources=["reshading", "random"],
                  max_order=1, budget=3, cost={"reshading": 4, "random": 5})
    assert e.value.targets == ("normal", "reshading")
    assert "normal (cheapest way costs 4 > budget 3)" in str(e.value)


def test_jointly_infeasible():
    rows = (Row("normal", ("reshading",), 1, 0.5), Row("reshading", ("normal",), 1, 0.5))
    table = Table("t", "-", rows)
    # each alone needs one task; both together would need both
    rows2 = rows + (Row("depth_zbuffer", ("edge_texture",), 1, 0.5),)
    with pytest.raises(bip.InfeasibleError, match="not all together"):
        bip.solve(Table("t", "-", rows2), budget=1, sources=["reshading", "normal", "edge_texture"])
    assert bip.solve(table, budget=2, sources=["reshading", "normal"]).objective == pytest.approx(
        2 * math.sqrt(0.5))


@pytest.mark.parametrize("kwargs, match", [
    (dict(targets=["rgb2sfnorm", "nosuchtask"]), r"unknown task\(s\) 'nosuchtask'; valid tasks"),
    (dict(targets=["jigsaw"]), "source-only task"),
    (dict(budget=-1), "budget must be"),
    (dict(budget="six"), "budget must be a number"),
    (dict(max_order=0), "max_order must be"),
    (dict(metric="loss"), "unknown metric 'loss'"),
    (dict(targets=["normal"], importance={"reshading": 2}), "importance given for non-target"),
    (dict(cost={"normal": -1}), "cost of 'normal' must be"),
    (dict(sources=["normal", "bogus"]), r"unknown task\(s\) 'bogus'"),
])
def test_bad_queries(paper16k, kwargs, match):
    with pytest.raises(ValueError, match=match):
        bip.solve(paper16k, **kwargs)


def test_score_rejects_invalid_policies(paper16k):
    q = dict(targets=["normal", "reshading"], budget=1, max_order=1)
    assert bip.evaluate(paper16k, ["normal"], {"normal": "self", "reshading": ["rgb2sfnorm"]}, **q) \
        == pytest.approx(math.sqrt(paper16k.affinity.value("normal", ["self"]))
                         + math.sqrt(paper16k.affinity.value("reshading", ["normal"])))
    with pytest.raises(bip.QueryError, match="needs"):
        bip.evaluate(paper16k, ["normal"], {"normal": "self", "reshading": ["depth_zbuffer"]}, **q)
    with pytest.raises(bip.QueryError, match="exceeds budget"):
        bip.evaluate(paper16k, ["normal", "reshading"], {"normal": "self", "reshading": "self"}, **q)
    with pytest.raises(bip.QueryError, match="not an allowed edge"):
        bip.evaluate(paper16k, ["normal"], {"normal": "self",
                                            "reshading": ["normal", "depth_zbuffer"]}, **q)
    with pytest.raises(bip.QueryError, match="have no choice"):
        bip.evaluate(paper16k, ["normal"], {"normal": "self"}, **q)
