"""``taskonomy compare`` (two affinity tables: rankings, top-5 sets, taxonomies) and the tree's
K-group cut and adjusted Rand index against the paper's four groups (issue 12, FIDELITY.md)."""
from __future__ import annotations

import json

import pytest

from taskonomy import lineage
from taskonomy.cli import main as taskonomy
from taskonomy.supervision.compare import compare_tables, jaccard
from taskonomy.supervision.tables import load
from taskonomy.supervision.tree import (PAPER_GROUPS, adjusted_rand_index, best_ari, similarity_tree,
                                        tree_groups)

POOL = ["autoencoding", "denoising", "edge_texture", "keypoints2d", "room_layout", "class_scene",
        "jigsaw"]


def write_affinities(path, ranked: dict[str, list[str]], extra_rows=()) -> str:
    """An affinity CSV in the paper's schema: per target a ``self`` row and first-order rows
    whose values fall with the rank in ``ranked[target]`` (best first)."""
    lines = ["target,sources,order,value"]
    for t, sources in ranked.items():
        n = len(sources)
        lines.append(f"{t},self,1,0.01")
        lines += [f"{t},{s},1,{(n - r) / (n * (n + 1) / 2)!r}" for r, s in enumerate(sources)]
    lines += list(extra_rows)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# ----------------------------------------------------------------------------- the tree


@pytest.mark.parametrize("table", ["paper-16k", "paper-1k"])
def test_tree_recovers_paper_groups(table):
    """The guard of FIDELITY.md claim 2: the method recovers Fig. 13's four groups from the
    paper's own tables (measured: 0.84 at 8 groups on 16k, 0.78 at 4 groups on 1k)."""
    r = best_ari(table)
    assert sorted(r["per_cut"]) == [4, 5, 6, 7, 8]
    assert r["best_ari"] >= 0.75, r
    assert r["per_cut"][r["best_cut"]] == r["best_ari"]
    assert r["n_tasks"] == 24 and r["tasks_not_in_groups"] == ["jigsaw", "random"]


def test_adjusted_rand_index():
    # the values of scikit-learn's adjusted_rand_score documentation
    assert adjusted_rand_index([0, 0, 1, 1], [0, 0, 1, 1]) == 1.0
    assert adjusted_rand_index([0, 0, 1, 1], ["b", "b", "a", "a"]) == 1.0
    assert adjusted_rand_index([0, 0, 1, 2], [0, 0, 1, 1]) == pytest.approx(0.5714285714285715)
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)
    assert adjusted_rand_index([0, 0, 0, 0], [0, 1, 2, 3]) == 0.0
    # a tree's own 5-group cut, taken as the reference groups, is recovered exactly at K = 5
    tree = similarity_tree(load("paper-16k").affinity)
    own = {str(i): g for i, g in enumerate(tree_groups(tree, 5))}
    r = best_ari(tree, groups=own, cuts=[3, 5, 7])
    assert r["best_cut"] == 5 and r["best_ari"] == pytest.approx(1.0) and r["per_cut"][3] < 1
    assert r["n_tasks"] == 26 and r["tasks_not_in_groups"] == []
    assert set(PAPER_GROUPS) == {"3d", "2d", "geometric", "semantic"}


@pytest.mark.parametrize("k", [4, 6])
def test_tree_groups_cli(capsys, k):
    assert taskonomy(["tree", "--affinities", "paper-16k", "--groups", str(k), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == ["groups"]
    groups = doc["groups"]
    assert len(groups) == k and all(groups)
    tasks = similarity_tree(load("paper-16k").affinity)["tasks"]
    flat = [t for g in groups for t in g]
    assert sorted(flat) == sorted(tasks) and len(flat) == len(set(flat))
    assert groups == tree_groups("paper-16k", k)


def test_tree_ari_cli_and_old_call_form(tmp_path, capsys):
    assert taskonomy(["tree", "--affinities", "paper-1k", "--ari"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["best_ari"] >= 0.75 and set(doc["per_cut"]) == {"4", "5", "6", "7", "8"}
    # the rules' form: --out PNG --json PATH writes the figure and the linkage
    png, js = tmp_path / "tree.png", tmp_path / "tree.json"
    assert taskonomy(["tree", "--affinities", "paper-1k", "--out", str(png), "--json", str(js)]) == 0
    tree = json.loads(js.read_text())
    assert png.stat().st_size > 0 and tree["table"] == "paper-1k" and len(tree["linkage"]) == 25
    # --json alone prints the same tree document to stdout, and nothing else
    capsys.readouterr()
    assert taskonomy(["tree", "--affinities", "paper-1k", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == tree
    with pytest.raises(SystemExit):          # nothing asked for
        taskonomy(["tree", "--affinities", "paper-1k"])
    assert taskonomy(["tree", "--groups", "99", "--json"]) == 2
    assert "99 groups" in capsys.readouterr().err


# ----------------------------------------------------------------------------- compare


@pytest.fixture
def small_tables(tmp_path):
    """A and B over the same 7 sources: normal ranked the same, reshading reversed,
    depth_euclidean with two top-5 sources swapped for two of the bottom ones."""
    swapped = ["autoencoding", "denoising", "edge_texture", "class_scene", "jigsaw", "keypoints2d",
               "room_layout"]
    a = write_affinities(tmp_path / "a.csv", {"normal": POOL, "reshading": POOL, "depth_euclidean": POOL},
                         # the target itself as a source (the paper's tables have it): left out
                         extra_rows=["normal,normal,1,0.9"])
    b = write_affinities(tmp_path / "b.csv", {"normal": POOL, "reshading": POOL[::-1],
                                              "depth_euclidean": swapped,
                                              "room_layout": POOL[:4]})  # a target only B has
    return a, b


def test_compare_known_rankings(small_tables):
    r = compare_tables(*small_tables, budgets=())
    assert list(r["targets"]) == ["normal", "reshading", "depth_euclidean"]
    n, rs, de = (r["targets"][t] for t in ("normal", "reshading", "depth_euclidean"))
    assert n["rho"] == pytest.approx(1.0) and n["top5_overlap"] == 1.0 and n["n_sources"] == 7
    assert n["top5_a"] == POOL[:5]
    assert rs["rho"] == pytest.approx(-1.0)
    # top-5 of A: the first five; of B (reversed): the last five -> 3 shared
    assert rs["top5_overlap"] == pytest.approx(3 / 5)
    # ranks 4,5,6,7 -> 6,7,4,5: sum d^2 = 16, rho = 1 - 6*16 / (7*48)
    assert de["rho"] == pytest.approx(1 - 6 * 16 / (7 * 48))
    assert de["top5_overlap"] == pytest.approx(3 / 5)
    assert r["n_targets"] == 3
    assert r["median_rho"] == pytest.approx(5 / 7)
    assert r["median_top5_overlap"] == pytest.approx(0.6)
    assert r["n_rho_above_0_5"] == 2


def test_compare_identical_tables_agree(small_tables):
    a, _ = small_tables
    r = compare_tables(a, a, budgets=(1, 2, 3))
    assert all(d["rho"] == pytest.approx(1.0) for d in r["targets"].values())
    assert [row["jaccard"] for row in r["budgets"]] == [1.0, 1.0, 1.0]
    assert all(row["same_sources"] == 1.0 for row in r["budgets"])


def test_compare_taxonomy_jaccard(tmp_path):
    """normal and reshading are best served by autoencoding in both tables; depth_euclidean by
    denoising in A and by edge_texture in B. Budget 1: both supervise autoencoding alone;
    budget 2: {autoencoding, denoising} vs {autoencoding, edge_texture}, Jaccard 1/3."""
    def table(path, best_of_depth):
        rows = ["target,sources,order,value"]
        for t in ("normal", "reshading", "depth_euclidean"):
            best = best_of_depth if t == "depth_euclidean" else "autoencoding"
            rows.append(f"{t},self,1,0.01")
            rows += [f"{t},{s},1,{0.9 if s == best else 0.02}" for s in POOL[:4]]
        path.write_text("\n".join(rows) + "\n")
        return str(path)

    r = compare_tables(table(tmp_path / "a.csv", "denoising"), table(tmp_path / "b.csv", "edge_texture"),
                       budgets=(1, 2))
    b1, b2 = r["budgets"]
    assert b1["supervised_a"] == b1["supervised_b"] == ["autoencoding"] and b1["jaccard"] == 1.0
    assert b2["supervised_a"] == ["autoencoding", "denoising"]
    assert b2["supervised_b"] == ["autoencoding", "edge_texture"]
    assert b2["jaccard"] == pytest.approx(1 / 3)
    assert b2["same_sources"] == pytest.approx(2 / 3)
    assert jaccard([], []) == 1.0 and jaccard(["a"], ["b"]) == 0.0


def test_paper_1k_vs_16k():
    """FIDELITY.md claim 3 (Sec. 5.2): the paper's 1k and 16k tables rank sources alike."""
    r = compare_tables("paper-1k", "paper-16k", budgets=())
    assert r["n_targets"] == 22
    assert r["median_rho"] > 0.8, r["median_rho"]
    assert all(d["n_sources"] == 25 for d in r["targets"].values())


def test_compare_cli_json_and_files(tmp_path, capsys):
    out, png = tmp_path / "c.json", tmp_path / "c.png"
    assert taskonomy(["compare", "paper-1k", "paper-16k", "--json", "--budgets", "2", "6",
                      "--out", str(out), "--plot", str(png)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads(out.read_text())
    assert doc["a"] == "paper-1k" and doc["b"] == "paper-16k" and doc["max_order"] == 1
    assert doc["median_rho"] > 0.8
    assert [row["budget"] for row in doc["budgets"]] == [2, 6]
    assert all(0 <= row["jaccard"] <= 1 for row in doc["budgets"])
    assert png.stat().st_size > 0 and lineage.sidecar(tmp_path / "c.json").is_file()
    # default output: a readable table
    assert taskonomy(["compare", "paper-1k", "paper-16k", "--budgets", "2"]) == 0
    text = capsys.readouterr().out
    assert "median rho" in text and "point_matching" in text


def test_compare_cli_errors(tmp_path, capsys, small_tables):
    assert taskonomy(["compare", "paper-99k", "paper-16k"]) == 2
    err = capsys.readouterr().err
    assert "unknown affinity table 'paper-99k'" in err and "paper-16k" in err
    not_table = tmp_path / "tree.json"
    not_table.write_text('{"leaves": []}\n')
    assert taskonomy(["compare", "paper-16k", str(not_table)]) == 2
    err = capsys.readouterr().err
    assert "tree.json" in err and "columns must be target,sources,order,value" in err
    binary = tmp_path / "tree.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    assert taskonomy(["compare", str(binary), "paper-16k"]) == 2
    assert "tree.png: not a text CSV table" in capsys.readouterr().err
    # a table in the schema but with no target in common
    other = write_affinities(tmp_path / "other.csv", {"class_object": POOL})
    assert taskonomy(["compare", other, small_tables[0]]) == 2
    assert "no target in common" in capsys.readouterr().err
