"""The paper's released tables load into one form (domain ids, sorted source tuples), and our own
``affinity.csv`` in the same schema loads the same way; bad files fail naming file and line."""
from __future__ import annotations

import math
from collections import defaultdict

import pytest

from taskonomy.supervision.tables import (PAPER_TABLES, Row, TableError, first_order_matrix,
                                          first_order_rank, load, paper_dir, read_table,
                                          write_table)
from taskonomy.tasks import SOURCE_ONLY, TASKS

ROWS = {"paper-16k": 1758, "paper-1k": 1418, "paper": 814}
ALLOWED_NAMES = set(TASKS) | {"self", "pixels", "class_selected"}


@pytest.fixture(scope="module", params=list(PAPER_TABLES))
def tableset(request):
    return load(request.param)


def test_row_counts_and_sums(tableset):
    aff = tableset.affinity
    assert len(aff) == ROWS[tableset.name]
    sums = defaultdict(float)
    for r in aff.rows:
        sums[r.target] += r.value
    assert len(sums) == 22
    for t, s in sums.items():
        assert s == pytest.approx(1.0, abs=1e-9), t


def test_names_are_domain_ids_and_sources_sorted(tableset):
    for table in (tableset.affinity, tableset.quality, tableset.gain):
        for r in table.rows:
            assert r.target in ALLOWED_NAMES
            assert set(r.sources) <= ALLOWED_NAMES
            assert list(r.sources) == sorted(r.sources)
            assert r.order == len(r.sources)
    # source-only tasks are sources, never targets
    assert not set(SOURCE_ONLY) & set(tableset.affinity.targets)
    assert set(SOURCE_ONLY) <= set(tableset.affinity.sources())


def test_specials_and_extras():
    ts = load("paper-16k")
    assert ts.affinity.value("normal", ["self"]) == pytest.approx(0.15236786723641313)
    # the same transfer whatever order the sources are given in
    # (the file lists "edge3d curvature")
    assert ts.affinity.value("normal", ["principal_curvature", "edge_occlusion"]) == \
        ts.affinity.value("normal", ["edge_occlusion", "principal_curvature"]) == 0.010345091678776945
    for t in ts.quality.task_targets:
        assert ts.quality.value(t, ["self"]) == 0.5          # self vs self
    assert "class_selected" in {s for r in ts.affinity.rows for s in r.sources}
    # the "top-k sources" rows: order 6..24, 18 targets, never class_selected
    topk = [r for r in ts.affinity.rows if r.order >= 6]
    assert {r.order for r in topk} == set(range(6, 25))
    assert len({r.target for r in topk}) == 18
    assert all("class_selected" not in r.sources for r in topk)
    # size-unspecified table: class_selected is a target there, but not a task
    un = load("paper").affinity
    assert "class_selected" in un.targets and "class_selected" not in un.task_targets
    assert len(un.task_targets) == 21


def test_quality_gain_cover_affinity():
    ts = load("paper-16k")
    missing = [(r.target, r.sources) for r in ts.affinity.rows
               if ts.quality.value(r.target, r.sources) is None]
    assert not missing
    assert ts.gain.value("normal", ["reshading"]) is not None


def test_first_order_matrix_and_rank():
    aff = load("paper-16k").affinity
    targets, sources, m = first_order_matrix(aff)
    assert len(targets) == 22 and len(sources) == 26
    assert all(math.isfinite(v) and v > 0 for row in m for v in row)
    rank = first_order_rank()
    assert rank["normal"][0] in TASKS and len(rank) == 22


def _tiny_rows():
    return [Row("normal", ("self",), 1, 0.5), Row("normal", ("reshading",), 1, 0.3),
            Row("normal", ("depth_zbuffer", "reshading"), 2, 0.2)]


def test_own_table_roundtrip(tmp_path):
    write_table(tmp_path / "affinity.csv", _tiny_rows())
    write_table(tmp_path / "wins_vs_task.csv", _tiny_rows())
    for spec in (tmp_path / "affinity.csv", tmp_path):
        ts = load(spec)
        assert ts.affinity.rows == tuple(_tiny_rows())
        assert ts.quality is not None and ts.gain is None
    with pytest.raises(TableError, match="no gain table"):
        ts.by_metric("gain")


def test_paper_spellings_in_own_table(tmp_path):
    p = tmp_path / "affinity.csv"
    p.write_text("target,sources,order,value\nrgb2sfnorm,self,1,0.5\nrgb2sfnorm,reshade rgb2depth,2,0.5\n")
    t = read_table(p)
    assert t.value("normal", ("depth_zbuffer", "reshading")) == 0.5


@pytest.mark.parametrize("body, match", [
    ("target,sources,order,value\nnormal,bogus_task,1,0.5\n", r"affinity.csv:2: unknown task 'bogus_task'"),
    ("target,sources,order,value\nnormal,reshade,2,0.5\n", r":2: order 2 but 1 sources"),
    ("target,sources,order,value\nnormal,reshade,1,abc\n", r":2: bad row"),
    ("target,sources,order,value\nnormal,reshade,1,0.5\nnormal,reshading,1,0.4\n", r":3: duplicate of line 2"),
    ("target,sources,order,value\nnormal,reshade reshade,2,0.5\n", r"repeated source"),
    ("target,source,order,value\n", r"columns must be target,sources,order,value"),
    ("target,sources,order,value\nnormal,reshade,1,nan\n", r"not finite"),
])
def test_bad_files(tmp_path, body, match):
    p = tmp_path / "affinity.csv"
    p.write_text(body)
    with pytest.raises(TableError, match=match):
        read_table(p)


def test_unknown_spec(tmp_path):
    with pytest.raises(TableError, match="paper-16k, paper-1k, paper"):
        load("paper-32k")
    with pytest.raises(TableError, match="no such table file"):
        read_table(tmp_path / "nope.csv")


def test_package_data_present():
    names = {p.name for p in paper_dir().iterdir()}
    assert {"affinity_16k.csv", "wins_vs_task_1k.csv", "wins_vs_pixels_unspecified.csv",
            "first_order_rank_16k.json", "README.md", "train_val_test_tiny.csv"} <= names


def test_tree_of_a_pruned_table_fills_untrained_entries_and_says_how_many():
    """transfer.prune: each target keeps only its few best sources; the tree gives an untrained
    entry the smallest trained affinity of its target (and reports the count) rather than
    refusing, and a complete table is never filled."""
    from taskonomy.supervision.tables import Table
    from taskonomy.supervision.tree import similarity_tree
    full = load("paper-16k").affinity
    assert similarity_tree(full)["imputed"] == 0
    # keep, per target, its 8 best first-order sources (as pruning to 8 would)
    best = {}
    for r in full.rows:
        if r.order == 1:
            best.setdefault(r.target, []).append((r.value, r.sources))
    kept = {t: {s for _, s in sorted(v, reverse=True)[:8]} for t, v in best.items()}
    rows = tuple(r for r in full.rows if r.order != 1 or r.sources in kept[r.target])
    pruned = Table("pruned", full.path, rows)
    complete = [s for s in {x for v in kept.values() for x in v} if all(s in v for v in kept.values())]
    assert len(complete) < 3        # the premise: no tree without filling
    tree = similarity_tree(pruned)
    assert tree["imputed"] > 0 and len(tree["tasks"]) >= 3
    assert set(tree["leaves"]) == set(tree["tasks"])
