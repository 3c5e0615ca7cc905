"""Bootstrap over the test images (taskonomy.evaluation.bootstrap): exact resampled win
matrices, known answers on synthetic losses, determinism, and the CLI end to end on a results
tree written in Stage II/III's layout."""
import json
from itertools import combinations

import numpy as np
import torch

from taskonomy import ahp, lineage
from taskonomy.engine import write_losses
from taskonomy.evaluation import bootstrap
from taskonomy.evaluation.cli import main as evaluate_main
from taskonomy.supervision import bip
from taskonomy.supervision.tables import load
from taskonomy.tasks import source_set_name

SIZE = "16k"


def write_run(root, losses: dict, size=SIZE, images=None):
    """results/<run> with Stage I/II's losses (``losses``: target -> {source set, "self" or
    "pixels": 1-D losses}) and Stage III's tables (ahp.compute_target / write_target / gather),
    as the rules make them. Returns the transfer paths per target."""
    out = {}
    for t, by_src in losses.items():
        paths = []
        for s, v in by_src.items():
            p = {"self": root / "tasks" / t / "losses.parquet",
                 "pixels": root / "baselines" / size / t / "scratch" / "losses.parquet"}.get(
                     s, root / "transfers" / size / t / s / "losses.parquet")
            img = np.arange(len(v)) if images is None else images
            write_losses(p, torch.as_tensor(img), {"loss": torch.as_tensor(np.asarray(v, float))})
            if s not in ("self", "pixels"):
                paths.append(p)
        res = ahp.compute_target(t, paths, root / "tasks" / t / "losses.parquet",
                                 root / "baselines" / size / t / "scratch" / "losses.parquet")
        ahp.write_target(res, root / "tournaments" / size / f"{t}.npz", root / "ahp" / size / f"{t}.csv")
        out[t] = paths
    ahp.gather([root / "ahp" / size / f"{t}.csv" for t in losses], root / "tables" / size)
    return out


def clear_winner(m=120, seed=0):
    """autoencoding beats every other source set of every target on every image."""
    rng = np.random.default_rng(seed)
    pool = ["autoencoding", "edge_texture", "keypoints2d", "random"]
    targets = ["normal", "reshading", "depth_zbuffer"]
    out = {}
    for t in targets:
        base = rng.uniform(0, 1, m)
        firsts = pool + [o for o in targets if o != t]
        d = {s: base + 2 + rng.uniform(0, 1, m) for s in firsts}
        d["autoencoding"] = base
        for a, b in combinations(["autoencoding", "edge_texture", "keypoints2d"], 2):
            d[source_set_name([a, b])] = base + 2 + rng.uniform(0, 1, m)
        d["autoencoding+edge_texture"] = base + 0.5
        d["self"] = base + 1
        d["pixels"] = base + 1.5
        out[t] = d
    return out


def coin_flip(m=120, seed=0):
    """normal: autoencoding and edge_texture split the images evenly, both beat the rest on
    every image: equally good on the full data."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 1, m)
    sign = np.where(np.arange(m) % 2 == 0, 1.0, -1.0)
    d = {s: base + 5 + rng.uniform(0, 1, m) for s in ["keypoints2d", "random", "reshading"]}
    d["autoencoding"] = base
    d["edge_texture"] = base + 0.3 * sign
    d["self"] = base + 3
    d["pixels"] = base + 4
    return {"normal": d}


def test_vectorised_win_matrices_equal_ahp_on_resampled_losses():
    rng = np.random.default_rng(1)
    L = np.round(rng.normal(size=(7, 50)), 1)          # many ties
    L[3] = L[2]                                        # a row tied with another everywhere
    images = np.arange(100, 150)
    idx, counts = bootstrap.resample(images, 30, seed=5)
    assert counts.shape == (30, 50) and (counts.sum(axis=1) == 50).all()
    assert (np.bincount(idx[4], minlength=50) == counts[4]).all()
    W = bootstrap.win_matrices(L, counts)
    G = bootstrap.rates_vs(L[:-1], L[-1], counts)
    tl = bootstrap.TargetLosses("normal", [f"s{i}" for i in range(6)] + ["self"], L, images, None)
    boot = bootstrap.bootstrap_target(tl, counts)
    for r in range(30):
        Lr = L[:, idx[r]]
        ref = ahp.win_matrix(Lr)
        assert np.array_equal(W[r], ref)               # bit for bit, ties and all
        assert np.array_equal(G[r], ahp.win_rates_vs(Lr[:-1], Lr[-1]))
        assert np.array_equal(boot.reps["affinity"][r], ahp.ahp_vector(ref))
        assert np.array_equal(boot.reps["quality"][r], ref[:, -1])
    assert np.array_equal(boot.full["affinity"], ahp.ahp_vector(ahp.win_matrix(L)))


def test_full_data_matches_stage3_and_targets_share_draws(tmp_path):
    paths = write_run(tmp_path, clear_winner())
    _, per = bootstrap.results_inputs(tmp_path, SIZE, ["normal", "reshading"])
    tls = [bootstrap.load_tournament(t, npz) for t, npz in per.items()]
    # the tournament file holds what Stage III read: every transfer and self, aligned
    assert sorted(tls[0].sources) == sorted([p.parent.name for p in paths["normal"]] + ["self"])
    assert np.array_equal(tls[0].losses[tls[0].sources.index("self")],
                          ahp.read_losses(tmp_path / "tasks" / "normal" / "losses.parquet").to_numpy())
    res = bootstrap.run(tls, bootstrap.Settings(n=5, budget=1, max_order=2))
    assert bootstrap.max_diff_vs_table(res, tmp_path / "tables" / SIZE / "affinity.csv") == 0.0
    own = bip.solve(load(tmp_path / "tables" / SIZE), targets=["normal", "reshading"], budget=1, max_order=2)
    assert res.full.supervised == own.supervised and res.full.objective == own.objective
    assert res.image_sets == [{"n_images": 120, "targets": ["normal", "reshading"]}]
    # a target on other ids (tuples of a multi-view task) gets draws of its own
    other = bootstrap.resample(np.arange(7, 127), 5, 0)[1]
    assert not np.array_equal(other, bootstrap.resample(np.arange(120), 5, 0)[1])


def test_clear_winner_is_kept_and_its_interval_is_narrow(tmp_path):
    write_run(tmp_path, clear_winner())
    targets = ["normal", "reshading", "depth_zbuffer"]
    _, per = bootstrap.results_inputs(tmp_path, SIZE, targets)
    tls = [bootstrap.load_tournament(t, npz) for t, npz in per.items()]
    res = bootstrap.run(tls, bootstrap.Settings(n=200, budget=1, max_order=1, targets=targets))
    s = res.summary()
    assert s["full"]["supervised"] == ["autoencoding"]
    assert s["same_supervised_share"] == 1.0 and s["same_policy_share"] == 1.0
    assert s["kept_share"] == {t: 1.0 for t in targets}
    assert s["supervised_share"] == {"autoencoding": 1.0}
    for t, src, _, value, lo, med, hi in res.ci_rows():
        assert lo <= med <= hi
        if src == "autoencoding":
            assert value > 0.3 and hi - lo < 0.01 * value


def test_equal_sources_split_the_resamples(tmp_path):
    write_run(tmp_path, coin_flip())
    _, per = bootstrap.results_inputs(tmp_path, SIZE, ["normal"])
    tls = [bootstrap.load_tournament(t, npz) for t, npz in per.items()]
    res = bootstrap.run(tls, bootstrap.Settings(n=200, budget=1, max_order=1, targets=["normal"]))
    s = res.summary()
    full = s["full"]["choices"]["normal"]
    assert full in ("autoencoding", "edge_texture")
    assert 0.3 < s["kept_share"]["normal"] < 0.75
    assert s["choice_shares"]["normal"].keys() <= {"autoencoding", "edge_texture"}
    assert 0.3 < s["supervised_share"]["autoencoding"] < 0.7
    # the BIP solves in two processes give the same answer
    two = bootstrap.run(tls, bootstrap.Settings(n=20, budget=1, max_order=1, targets=["normal"]), jobs=2)
    assert two.choices == res.choices[:20] and two.objectives == res.objectives[:20]
    ci = {r[1]: r for r in res.ci_rows()}
    a, e = ci["autoencoding"], ci["edge_texture"]
    assert a[3] == e[3]                                   # tied on the full data
    assert a[4] < e[6] and e[4] < a[6]                    # overlapping intervals


def test_cli_end_to_end_and_determinism(tmp_path):
    run = tmp_path / "results" / "r"
    write_run(run, clear_winner())
    targets = ["normal", "reshading", "depth_zbuffer"]

    def call(out, seed):
        return evaluate_main(["bootstrap", "--results", str(run), "--size", SIZE, "--targets", *targets,
                              "--budget", "2", "--max-order", "2", "--n", "50", "--seed", str(seed),
                              "--out-dir", str(out)])

    assert call(tmp_path / "a", 0) == 0 and call(tmp_path / "b", 0) == 0 and call(tmp_path / "c", 1) == 0
    for f in ("bootstrap.json", "affinity_ci.csv"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert (tmp_path / "a" / "affinity_ci.csv").read_text() != (tmp_path / "c" / "affinity_ci.csv").read_text()
    s = json.loads((tmp_path / "a" / "bootstrap.json").read_text())
    assert s["n"] == 50 and s["seed"] == 0 and s["settings"]["budget"] == 2
    assert set(s["kept_share"]) == set(targets) and s["same_supervised_share"] == 1.0
    header, *rows = (tmp_path / "a" / "affinity_ci.csv").read_text().splitlines()
    assert header == "target,sources,order,value,lo,median,hi"
    table = (run / "tables" / SIZE / "affinity.csv").read_text().splitlines()
    # the same rows as Stage III's table, in the same order and with the same values
    assert [r.split(",")[:4] for r in rows] == [r.split(",") for r in table[1:]]
    assert "autoencoding+edge_texture" not in (tmp_path / "a" / "affinity_ci.csv").read_text()
    assert (tmp_path / "a" / "bootstrap.png").stat().st_size > 5000
    side = json.loads(lineage.sidecar(tmp_path / "a" / "bootstrap.json").read_text())
    read = json.dumps(side)
    assert "affinity.csv" in read and f"tournaments/{SIZE}/normal.npz" in read
    lines = bootstrap.summary_lines(tmp_path / "a" / "bootstrap.json")
    assert "unchanged in 100% of the resamples" in lines[0] and "120 test images" in lines[0]
    # a target without rows in the table is named
    assert evaluate_main(["bootstrap", "--results", str(run), "--size", SIZE, "--targets", "egomotion",
                          "--n", "5", "--out-dir", str(tmp_path / "d")]) == 1
    # the gain metric resamples the pixels baseline kept in the tournament file
    assert evaluate_main(["bootstrap", "--results", str(run), "--size", SIZE, "--targets", *targets,
                          "--metric", "gain", "--budget", "2", "--n", "5", "--out-dir", str(tmp_path / "g")]) == 0


def test_tournament_file_of_an_older_stage3_is_named(tmp_path):
    write_run(tmp_path, coin_flip())
    npz = tmp_path / "tournaments" / SIZE / "normal.npz"
    with np.load(npz) as z:
        old = {k: z[k] for k in z.files if k not in ("losses", "images", "pixels")}
    np.savez(npz, **old)
    try:
        bootstrap.load_tournament("normal", npz)
    except ahp.AHPError as e:
        assert str(npz) in str(e) and "older" in str(e)
    else:
        raise AssertionError("a tournament file without losses was accepted")


def test_summary_lines_name_unstable_targets():
    s = {"n": 200, "seed": 0, "settings": {"budget": 6, "max_order": 2, "metric": "sqrt_affinity"},
         "image_sets": [{"n_images": 180, "targets": ["normal", "reshading"]}],
         "same_supervised_share": 0.4, "same_policy_share": 0.25,
         "full": {"supervised": ["normal"], "choices": {"normal": "self", "reshading": "normal"}},
         "supervised_share": {"normal": 0.9, "depth_zbuffer": 0.3, "edge_texture": 0.01},
         "kept_share": {"normal": 0.9, "reshading": 0.45},
         "choice_shares": {"normal": {"self": 0.9, "depth_zbuffer": 0.1},
                           "reshading": {"normal": 0.45, "depth_zbuffer": 0.4, "edge_texture": 0.15}},
         "affinity_ci_width": {"median": 0.01, "max": 0.05},
         "objective": {"full": 1.5, "lo": 1.4, "median": 1.5, "hi": 1.6}}
    text = "\n".join(bootstrap.summary_lines(s))
    assert "unchanged in 40% of the resamples, the whole policy in 25%" in text
    assert "normal 90%; other tasks: depth_zbuffer 30%" in text and "edge_texture 1%" not in text
    assert "1 of 2 targets keep their source set in under 80%" in text
    assert "| reshading | normal | 45% | depth_zbuffer (40%) |" in text
