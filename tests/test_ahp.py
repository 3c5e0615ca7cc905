"""Stage III: tournament matrices, AHP vectors, Quality/Gain and the gathered tables."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taskonomy import ahp


def consistent_W(w: np.ndarray) -> np.ndarray:
    """Bradley-Terry tournament: W[i,j] = w_i / (w_i + w_j), so W / W^T = w_i / w_j exactly."""
    return w[:, None] / (w[:, None] + w[None, :])


def test_consistent_tournament_gives_back_generating_weights():
    w = np.array([5.0, 3.0, 1.0, 0.5, 0.5, 2.0])
    vec = ahp.ahp_vector(consistent_W(w))
    np.testing.assert_allclose(vec, w / w.sum(), rtol=1e-10)
    assert vec.sum() == pytest.approx(1.0)


def test_losses_from_bradley_terry_model_recover_weights():
    # loss = -(log w + Gumbel): P(i beats j) = w_i / (w_i + w_j) (Luce), so the AHP vector of
    # the measured tournament approaches the generating weights.
    rng = np.random.default_rng(0)
    w = np.array([4.0, 2.0, 1.0, 1.0, 0.5])
    losses = -(np.log(w)[:, None] + rng.gumbel(size=(len(w), 40000)))
    W = ahp.win_matrix(losses)
    np.testing.assert_allclose(W, consistent_W(w), atol=0.01)
    np.testing.assert_allclose(ahp.ahp_vector(W), w / w.sum(), rtol=0.05)


def test_win_matrix_matches_pairwise_definition_and_blocks():
    rng = np.random.default_rng(1)
    losses = rng.integers(0, 4, size=(7, 50)).astype(float)   # many ties
    ref = np.array([[np.mean((a < b) + 0.5 * (a == b)) for b in losses] for a in losses])
    np.testing.assert_allclose(ahp.win_matrix(losses), ref)
    np.testing.assert_allclose(ahp.win_matrix(losses, block_bytes=1), ref)   # one row a block
    np.testing.assert_allclose(ref + ref.T, 1.0)


def test_ties_count_half():
    losses = np.array([[1.0, 2.0, 3.0, 0.0], [1.0, 2.0, 0.0, 3.0]])
    W = ahp.win_matrix(losses)
    assert W[0, 1] == pytest.approx(0.5) and W[1, 0] == pytest.approx(0.5)
    losses = np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    assert ahp.win_matrix(losses)[0, 1] == pytest.approx(0.75)   # 2 ties + 2 wins of 4


def test_vector_invariant_to_source_order():
    rng = np.random.default_rng(2)
    losses = rng.normal(size=(9, 300)) + np.linspace(0, 1, 9)[:, None]
    vec = ahp.ahp_vector(ahp.win_matrix(losses))
    perm = rng.permutation(9)
    vec_p = ahp.ahp_vector(ahp.win_matrix(losses[perm]))
    np.testing.assert_allclose(vec_p, vec[perm], rtol=1e-9)


def test_clipping_keeps_never_beaten_source_finite():
    losses = np.array([[0.0] * 20, np.arange(1, 21.0), np.arange(2, 22.0)])  # row 0 always wins
    W = ahp.win_matrix(losses)
    assert W[0, 1] == 1.0 and W[1, 0] == 0.0
    R = ahp.ratio_matrix(W)
    assert np.isfinite(R).all() and R[0, 1] == pytest.approx(0.999 / 0.001)
    vec = ahp.ahp_vector(W)
    assert np.isfinite(vec).all() and (vec > 0).all() and vec.argmax() == 0
    assert vec.sum() == pytest.approx(1.0)


def test_power_iteration_matches_dense_eigensolver():
    rng = np.random.default_rng(4)
    for n, m, spread in ((40, 15, 1.0), (120, 300, 0.1), (60, 5, 0.0)):
        R = ahp.ratio_matrix(ahp.win_matrix(rng.normal(size=(n, m)) + spread * rng.normal(size=(n, 1))))
        vals, vecs = np.linalg.eig(R)
        ref = np.abs(vecs[:, np.argmax(vals.real)].real)
        np.testing.assert_allclose(ahp.principal_eigenvector(R), ref / ref.sum(), rtol=1e-9)


def test_nonfinite_losses_are_rejected():
    with pytest.raises(ahp.AHPError, match="non-finite"):
        ahp.win_matrix(np.array([[1.0, np.nan], [0.0, 1.0]]))


# --------------------------------------------------------------------------- files

def write_losses(path, images, loss):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"image": np.asarray(images, dtype=np.int64),
                  "loss": np.asarray(loss, dtype=np.float64)}).to_parquet(path)
    return path


def fake_results(root, targets=("normal", "reshading"), n_images=200, seed=0):
    """A small results tree: every order-1 source, two order-2 sets, self, random, pixels."""
    rng = np.random.default_rng(seed)
    pool = ["depth_zbuffer", "edge_occlusion", "normal", "principal_curvature", "reshading"]
    images = np.arange(n_images)
    for t in targets:
        base = rng.normal(size=n_images)
        srcs = [s for s in pool if s != t] + ["random"]
        srcs += ["+".join(sorted(srcs[:2])), "+".join(sorted(srcs[1:3]))]
        for k, s in enumerate(srcs):
            write_losses(root / "transfers" / t / s / "losses.parquet", images[::-1],
                         (base + 0.3 * k + rng.normal(size=n_images))[::-1])  # any row order
        write_losses(root / "tasks" / t / "losses.parquet", images, base - 1 + rng.normal(size=n_images))
        write_losses(root / "baselines" / t / "scratch" / "losses.parquet", images,
                     base + 1 + rng.normal(size=n_images))
    return root


def run_target(root, t):
    transfers = sorted(str(p) for p in (root / "transfers" / t).glob("*/losses.parquet"))
    argv = ["target", t, "--transfers", *transfers, "--self", str(root / "tasks" / t / "losses.parquet"),
            "--pixels", str(root / "baselines" / t / "scratch" / "losses.parquet"),
            "--npz", str(root / "tournaments" / f"{t}.npz"), "--csv", str(root / "ahp" / f"{t}.csv")]
    assert ahp.main(argv) == 0


def test_target_and_gather_cli_byte_identical_and_paper_schema(tmp_path):
    from taskonomy.supervision.tables import load, read_table
    outs = []
    for run in ("a", "b"):
        root = fake_results(tmp_path / run)
        for t in ("normal", "reshading"):
            run_target(root, t)
        assert ahp.main(["gather", "--ahp", str(root / "ahp" / "reshading.csv"),
                         str(root / "ahp" / "normal.csv"), "--out-dir", str(root)]) == 0
        outs.append({n: (root / n).read_bytes() for n in ahp.TABLES})
    assert outs[0] == outs[1]

    root = tmp_path / "a"
    d = np.load(root / "tournaments" / "normal.npz")
    assert d["W"].shape == (len(d["sources"]),) * 2 and "self" in list(d["sources"])
    np.testing.assert_allclose(d["W"] + d["W"].T, 1.0)

    paper = read_table(load("paper-16k").affinity.path)
    ts = load(str(root / "affinity.csv"))
    assert ts.quality is not None and ts.gain is not None
    header = (root / "affinity.csv").read_text().splitlines()[0]
    assert header == open(paper.path).readline().strip()
    for t in ("normal", "reshading"):
        rows = ts.affinity.for_target(t)
        assert sum(r.value for r in rows) == pytest.approx(1.0)
        assert {r.order for r in rows} == {1, 2}
        assert ts.quality.value(t, ("self",)) == 0.5          # self ties itself
        assert ts.affinity.value(t, ("self",)) == max(r.value for r in rows)  # self is best here
        assert ts.gain.value(t, ("self",)) > 0.7              # self beats scratch
        assert ts.affinity.value(t, ("random",)) is not None
    assert ts.affinity.value("normal", ("depth_zbuffer", "edge_occlusion")) is not None


def test_mismatched_images_name_the_file(tmp_path):
    root = fake_results(tmp_path, targets=("normal",), n_images=30)
    bad = write_losses(root / "transfers" / "normal" / "reshading" / "losses.parquet",
                       np.arange(29), np.zeros(29))
    with pytest.raises(ahp.AHPError, match="transfers/normal/reshading"):
        ahp.compute_target("normal", [bad, root / "transfers/normal/random/losses.parquet"],
                           root / "tasks/normal/losses.parquet")


# --------------------------------------------------------------------------- Snakemake rules

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def fake_stage2_tree(work, size="16k", targets=("normal", "reshading", "depth_zbuffer"), n=40):
    """results/test/ as Stages I-II leave it: task/scratch losses, beam checkpoints, transfers."""
    import json
    rng = np.random.default_rng(0)
    res = work / "results" / "test"
    tasks = list(targets) + ["random"]
    for t in targets:
        write_losses(res / "tasks" / t / "losses.parquet", np.arange(n), rng.normal(size=n))
        write_losses(res / "baselines" / size / t / "scratch" / "losses.parquet", np.arange(n), rng.normal(size=n))
        write_losses(res / "baselines" / t / "average" / "losses.parquet", np.arange(n), rng.normal(size=n) + 1)
        first = [s for s in tasks if s != t]
        pair = "+".join(sorted(first[:2]))
        # higher orders live in folders named by rank position; the beam file names them
        for s in first + ["top1+top2"]:
            write_losses(res / "transfers" / size / t / s / "losses.parquet", np.arange(n), rng.normal(size=n))
        beam = {"target": t, "size": size, "ranked": first, "losses": {s: 0.0 for s in first},
                "sets": {"2": [pair]}, "positions": {"top1+top2": pair},
                "max_order": 2, "top_k": 2, "beam_width": 1}
        (res / "beam" / size).mkdir(parents=True, exist_ok=True)
        (res / "beam" / size / f"{t}.json").write_text(json.dumps(beam))
    return res


def snakemake(work, *args):
    # inside the work folder, with its config.yaml (the shared runner, conftest.py)
    from conftest import snakemake as run
    r = run(work, *args, config=work / "config.yaml", cores=1, timeout=300, cwd=work)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout + r.stderr


@pytest.mark.slow
def test_rules_build_tables_and_recompute_only_changed_target(tmp_path):
    import json
    import time

    import yaml
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg.update(run="test", tasks=["normal", "reshading", "depth_zbuffer", "random"], source_only=["random"])
    cfg.setdefault("transfer", {})["sizes"] = {"16k": 40}
    cfg["evaluation"] = {"n_random": 50, "budgets": [1, 2], "max_orders": [1, 2], "novel_orders": [1, 2],
                         "significance_budgets": [2], "seed": 0, "metric": "sqrt_affinity"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = fake_stage2_tree(tmp_path)
    tables = ["results/test/tables/16k/affinity.csv", "results/test/tables/16k/wins_vs_task.csv",
              "results/test/tables/16k/wins_vs_pixels.csv"]
    # the tables and, in the same run, the evaluations on them (rules/evaluate.smk)
    ev = "results/test/eval/16k"
    pngs = [f"{ev}/gain_quality.png", f"{ev}/novel.png", f"{ev}/table1.png", f"{ev}/significance_2_1.png"]
    out = snakemake(tmp_path, *tables, *pngs)
    assert out.count("rule ahp_target") == 3 and "rule ahp_gather" in out
    for p in pngs:
        assert (tmp_path / p).stat().st_size > 5000
    summ = json.loads((tmp_path / ev / "significance_2_1.json").read_text())
    assert summ["scores"]["objective"]["random_max"] <= summ["scores"]["objective"]["taxonomy"] + 1e-9
    from taskonomy.supervision.tables import load
    ts = load(str(res / "tables" / "16k" / "affinity.csv"))
    assert set(ts.affinity.task_targets) == {"normal", "reshading", "depth_zbuffer"}
    assert ts.affinity.value("normal", ("depth_zbuffer", "reshading")) is not None  # order 2
    assert ts.gain.value("normal", ("random",)) is not None
    # change one transfer of one target: only that target's tournament (and the gather) rerun
    # (Snakemake 9 compares content when an input is newer, so the losses really change)
    time.sleep(1)
    changed = res / "transfers" / "16k" / "reshading" / "top1+top2" / "losses.parquet"
    write_losses(changed, np.arange(40), np.linspace(0, 1, 40))
    plan = snakemake(tmp_path, "-n", *tables)
    assert plan.count("rule ahp_target") == 1 and "target=reshading" in plan
    assert "rule ahp_gather" in plan
