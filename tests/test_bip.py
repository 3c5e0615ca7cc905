"""The BIP: same optimum as exhaustive enumeration on random small instances, objective
recomputed from the returned policy, infeasible and bad queries fail with clear messages;
the one feasibility check (its messages) and the one random feasible policy sampler."""
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
        _assert_feasible(paper16k, r)


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
    """The feasibility check (bip.check_policy, behind score/evaluate and every sampled policy)
    names each problem."""
    q = dict(targets=["normal", "reshading"], budget=1, max_order=1)
    assert bip.evaluate(paper16k, ["normal"], {"normal": "self", "reshading": ["rgb2sfnorm"]}, **q) \
        == pytest.approx(math.sqrt(paper16k.affinity.value("normal", ["self"]))
                         + math.sqrt(paper16k.affinity.value("reshading", ["normal"])))

    def fails(supervised, choice, match, **kw):
        with pytest.raises(bip.QueryError, match=match):
            bip.evaluate(paper16k, supervised, choice, **(q | kw))

    # a source that is not supervised; a supervised target that is not supervised
    fails(["normal"], {"normal": "self", "reshading": ["depth_zbuffer"]},
          r"reshading <- depth_zbuffer needs \['depth_zbuffer'\] supervised")
    fails(["reshading"], {"normal": "self", "reshading": "self"}, r"normal <- self needs \['normal'\]")
    # over budget (label costs count, unused supervised tasks too)
    fails(["normal", "reshading"], {"normal": "self", "reshading": "self"},
          "supervision cost 2 exceeds budget 1")
    fails(["normal"], {"normal": "self", "reshading": ["normal"]}, "supervision cost 3 exceeds budget 1",
          cost={"normal": 3})
    # order too high; a source outside the source set; a target that may not be supervised
    fails(["normal", "depth_zbuffer"], {"normal": "self", "reshading": ["normal", "depth_zbuffer"]},
          r"reshading <- depth_zbuffer normal is not an allowed edge \(order 2 > max_order 1\)",
          budget=2)
    fails(["normal"], {"normal": "self", "reshading": ["normal"]},
          r"reshading <- normal is not an allowed edge \(source\(s\) \['normal'\] outside the source set\)",
          sources=["reshading"])
    fails(["normal"], {"normal": "self", "reshading": ["normal"]},
          "normal may not be supervised: not in the source set", sources=["reshading"])
    fails(["normal"], {"normal": "self", "reshading": ["normal"]},
          r"supervised tasks not in the source set: \['normal'\]", sources=["reshading"])
    # a transfer the table does not have; a target without a choice, a choice for a non-target
    fails(["normal", "class_object"], {"normal": "self", "reshading": ["class_object", "normal"]},
          "class_object normal is not an allowed edge .no such transfer in table paper-16k",
          budget=2, max_order=2)
    fails(["normal"], {"normal": "self"}, r"targets \['reshading'\] have no choice")
    fails(["normal"], {"normal": "self", "reshading": ["normal"], "depth_zbuffer": "self"},
          r"\['depth_zbuffer'\] are not targets")
    # every problem at once, in one message
    with pytest.raises(bip.QueryError, match="exceeds budget.*needs"):
        bip.evaluate(paper16k, ["normal", "edge_texture"],
                     {"normal": "self", "reshading": ["depth_zbuffer"]}, **q)


def _assert_feasible(tables, p: bip.Policy) -> None:
    """Every edge's tasks supervised, within the budget and max order, and the check accepts
    the policy again from its choices alone, with the same objective."""
    q = p.query
    assert p.cost_used <= q.budget + 1e-9 and set(p.targets) == set(q.targets)
    for t, c in p.targets.items():
        assert set((t,) if c.sources == bip.SELF else c.sources) <= set(p.supervised)
        assert c.order <= q.max_order
    assert bip.rescore(tables, p) == pytest.approx(p.objective, abs=1e-12)


def test_random_policies_are_feasible():
    """The sampler on random instances (label costs, importance, source sets): every policy is
    feasible; a query whose random draws never fit says so."""
    rng = random.Random(7)
    drawn = 0
    for _ in range(40):
        table, kwargs = random_instance(rng)
        try:
            gen = bip.RandomPolicies(table, max_tries=300, **kwargs)
            policies = gen.sample(5, seed=rng.randrange(100))
        except bip.InfeasibleError:
            continue
        for p in policies:
            assert p.status == "random"
            _assert_feasible(table, p)
            drawn += 1
    assert drawn >= 50


def test_random_policies_keep_the_significance_stream(paper16k):
    """The draws of the sampler the significance test has always used (numpy stream, supervisable
    tasks in name order, transfers in name order): its numbers stay those of past runs."""
    gen = bip.RandomPolicies(paper16k, budget=6, max_order=1)
    assert gen.k == 6 and len(gen.supervisable) == 26
    first = gen.sample(3, seed=0)
    assert [sorted(p.supervised) for p in first] == [
        ["class_object", "depth_zbuffer", "edge_occlusion", "inpainting", "keypoints3d", "point_matching"],
        ["class_scene", "denoising", "normal", "random", "room_layout", "segment_semantic"],
        ["edge_occlusion", "nonfixated_pose", "point_matching", "room_layout", "segment_unsup25d",
         "segment_unsup2d"]]
    picks = [{t: p.targets[t].sources for t in ("normal", "class_scene", "vanishing_point")} for p in first]
    assert picks == [
        {"normal": ("inpainting",), "class_scene": ("keypoints3d",), "vanishing_point": ("edge_occlusion",)},
        {"normal": ("self",), "class_scene": ("self",), "vanishing_point": ("normal",)},
        {"normal": ("point_matching",), "class_scene": ("point_matching",),
         "vanishing_point": ("segment_unsup25d",)}]
    for p in first:
        _assert_feasible(paper16k, p)
    assert bip.random_policy(paper16k, 0, budget=6, max_order=1).choice == first[0].choice


def test_random_policies_with_label_costs(paper16k):
    """Unequal label costs: drawn sets over the budget shrink until they fit."""
    cost = {"normal": 3, "reshading": 2.5}
    gen = bip.RandomPolicies(paper16k, budget=4, max_order=2, cost=cost)
    assert gen.k == 4
    policies = gen.sample(30, seed=1)
    for p in policies:
        _assert_feasible(paper16k, p)
    assert any("normal" in p.supervised for p in policies)
    # a query no single edge can serve fails before any draw, as the solver does
    with pytest.raises(bip.InfeasibleError, match="cheapest way costs 3 > budget 2"):
        bip.RandomPolicies(paper16k, budget=2, targets=["normal"], sources=["normal"], cost=cost)
