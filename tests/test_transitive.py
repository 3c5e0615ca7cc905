"""Transitive transfers (taskonomy.evaluation.transitive, rules/evaluate.smk).

- the chained representations are the s -> t1 readout's output: representation-shaped,
  equal to the saved readout applied to s's cached reps, not s's reps themselves, and made by
  the same readout that produced the first-order losses (CPU: exactly reproduced);
- the check runs through Snakemake on a copy of the smoke run (only its three jobs) and
  writes json/csv/png over every test image;
- a bad triple in the config fails at DAG build with a message naming it.
Run: .venv/bin/pytest tests/test_transitive.py -q   (the smoke fixture costs ~2 min once)
"""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import SMOKE, copy_workdir, snakemake
from taskonomy import lineage
from taskonomy.evaluation import transitive
from taskonomy.labels import load_labels
from taskonomy.models import create_model
from taskonomy.settings import transfer_settings

SMOKE_CFG = yaml.safe_load(SMOKE.read_text())
SIZE = next(iter(SMOKE_CFG["transfer"]["sizes"]))
TRIPLES = [tuple(t) for t in SMOKE_CFG["evaluation"]["transitive"]]


def _reps_cli(res, s, t1, out, first):
    from taskonomy.config import validate
    settings = transfer_settings(validate(SMOKE_CFG), t1, SIZE)
    rc = transitive.main(["reps", "--source", s, "--via", t1, "--size", SIZE, "--reps", str(res / "reps"),
                          "--targets", str(res / "targets"), "--first-order", str(first), "--out", str(out),
                          "--settings", json.dumps(settings), "--threads", "1"])
    assert rc == 0
    return json.loads((out / "readout.json").read_text())


@pytest.mark.slow
def test_chained_reps_are_the_first_order_readout_output(smoke_run, tmp_path):
    _, res = smoke_run
    s, t1, _ = TRIPLES[0]
    first = res / f"transfers/{SIZE}/{t1}/{s}/losses.parquet"
    out = tmp_path / "reps" / t1
    info = _reps_cli(res, s, t1, out, first)
    # the readout is the one whose losses Stage II recorded (bit-identical on CPU)
    assert info["readout"].startswith("retrained") and info["reproduced_max_abs_diff"] == 0.0
    net = torch.load(out / "readout.pt", weights_only=True)["state_dict"]
    readout = create_model("readout", n_sources=1, width=SMOKE_CFG["model"]["readout_width"])
    readout.load_state_dict({k[len("readout."):]: v for k, v in net.items() if k.startswith("readout.")})
    for split in ("val", "test"):
        chained = np.load(out / f"{split}.npy")
        src = np.load(res / f"reps/{s}/{split}.npy")
        assert chained.shape == np.load(res / f"reps/{t1}/{split}.npy").shape == src.shape
        assert chained.dtype == src.dtype
        with torch.no_grad():
            expect = readout(torch.from_numpy(src.astype(np.float32))).numpy()
        np.testing.assert_allclose(chained.astype(np.float32), expect, rtol=2e-3, atol=2e-3)
        assert not np.allclose(chained, src, atol=1e-2), "chained reps are s's own reps"
    # a model.pt beside the first-order losses (a transfer that keeps its weights) is loaded
    # instead of retraining, and gives the same cache
    fake = tmp_path / "first" / "losses.parquet"
    fake.parent.mkdir()
    shutil.copy(first, fake)
    shutil.copy(out / "readout.pt", fake.parent / "model.pt")
    info2 = _reps_cli(res, s, t1, tmp_path / "again", fake)
    assert info2["readout"].startswith("loaded") and info2["reproduced_max_abs_diff"] < 1e-6
    assert np.array_equal(np.load(tmp_path / "again/test.npy"), np.load(out / "test.npy"))


@pytest.mark.slow
def test_check_through_snakemake_on_the_smoke_run(smoke_run, tmp_path):
    work = copy_workdir(smoke_run[0], tmp_path / "w")
    res = work / "results" / "smoke"
    target = f"results/smoke/eval/{SIZE}/transitive.json"
    p = snakemake(work, target)
    assert p.returncode == 0, p.stderr[-4000:]
    ran = {line.split()[1].rstrip(":") for line in p.stderr.splitlines() if line.strip().startswith(("rule ", "localrule "))}
    assert ran == {"transitive_reps", "transitive_transfer", "eval_transitive"}, ran
    out = json.loads((res / f"eval/{SIZE}/transitive.json").read_text())
    csv = pd.read_csv(res / f"eval/{SIZE}/transitive.csv")
    png = res / f"eval/{SIZE}/transitive.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out["summary"]["n_triples"] == len(TRIPLES) == len(csv)
    for (s, t1, t2), row in zip(TRIPLES, out["triples"]):
        assert (row["source"], row["via"], row["target"]) == (s, t1, t2)
        n_test = len(load_labels(res / f"targets/{t2}/test.npz")["image"])
        assert row["n_images"] == n_test
        direct = pd.read_parquet(res / f"transfers/{SIZE}/{t2}/{s}/losses.parquet")
        chained = pd.read_parquet(res / f"transitive/{SIZE}/{s}/transfers/{t2}/{t1}/losses.parquet")
        assert list(chained["image"]) == list(direct["image"])
        assert row["mean_loss_direct"] == pytest.approx(direct["loss"].mean())
        assert row["mean_loss_transitive"] == pytest.approx(chained["loss"].mean())
        # a chained transfer, not the direct one or the t1 -> t2 transfer again
        assert not np.allclose(chained["loss"], direct["loss"])
        assert not np.allclose(chained["loss"], pd.read_parquet(res / f"transfers/{SIZE}/{t2}/{t1}/losses.parquet")["loss"])
        assert row["verdict"] in ("equal", "transitive better", "direct better")
        assert 0 <= row["wilcoxon_p"] <= 1 and 0 <= row["transitive_win_rate"] <= 1
    assert lineage.sidecar(res / f"eval/{SIZE}/transitive.json").is_file()
    # the chained transfer used the direct one's settings (same images, schedule, seed)
    m = json.loads((res / f"transitive/{SIZE}/{s}/transfers/{t2}/{t1}/metrics.json").read_text())
    d = json.loads((res / f"transfers/{SIZE}/{t2}/{s}/metrics.json").read_text())
    assert m["config"] == d["config"] and m["chain"] == [s, t1, t2]


@pytest.mark.parametrize("triple, message", [
    (["fixated_pose", "normal", "fixated_pose"], "three different tasks"),
    (["normal", "random", "room_layout"], "via 'random' is not a transfer target"),
    (["fixated_pose", "normals", "room_layout"], "unknown task id(s) 'normals'"),
])
def test_bad_triple_fails_at_dag_build_naming_it(tmp_path, triple, message):
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg["evaluation"]["transitive"] = [triple]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    p = snakemake(tmp_path, "-n", config=bad, timeout=120)
    assert p.returncode != 0
    err = p.stdout + p.stderr
    assert f"triple {triple}" in err and message in err, err[-2000:]


def test_triple_of_other_tasks_is_left_out_with_a_warning(tmp_path):
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg["evaluation"]["transitive"] = [["depth_zbuffer", "normal", "room_layout"], *map(list, TRIPLES)]
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(cfg))
    p = snakemake(tmp_path, "-n", f"results/smoke/eval/{SIZE}/transitive.json", config=other, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "triples [['depth_zbuffer', 'normal', 'room_layout']] name tasks that are not in config tasks" in p.stderr
    plan = p.stdout + p.stderr
    assert "transitive_transfer" in plan and f"transitive/{SIZE}/depth_zbuffer/" not in plan


def test_check_triples_accepts_good_and_names_bad():
    tasks, targets = ["normal", "room_layout", "fixated_pose", "random"], ["normal", "room_layout", "fixated_pose"]
    good = ("random", "normal", "room_layout")
    assert transitive.check_triples([good], tasks, targets) == ([good], [])
    assert transitive.check_triples([("depth_zbuffer", "normal", "room_layout"), good], tasks, targets) == \
        ([good], [("depth_zbuffer", "normal", "room_layout")])
    assert transitive.check_triples([], tasks, targets) == ([], [])
    with pytest.raises(ValueError, match=r"triple \['random', 'normal', 'room_layout'\]: listed twice"):
        transitive.check_triples([good] * 2, tasks, targets)
    with pytest.raises(ValueError, match=r"target 'random' is not a transfer target"):
        transitive.check_triples([("normal", "room_layout", "random")], tasks, targets)


def test_a_triple_whose_direct_transfer_was_pruned_is_left_out_not_fatal(tmp_path, capsys):
    """transfer.prune may leave s -> t2 untrained (a stand-in with no rows): the check reports
    the other triples and names the one it could not compare."""
    import json

    import pandas as pd

    from taskonomy.engine import write_losses
    from taskonomy.evaluation.transitive import chained_paths, check
    from taskonomy.transfer import write_pruned
    rng = np.random.default_rng(0)
    kept, pruned = ("autoencoding", "normal", "reshading"), ("edge_texture", "normal", "depth_zbuffer")
    for s, t1, t2 in (kept, pruned):
        p = chained_paths(tmp_path, "16k", s, t1, t2)
        write_losses(p["transfer"] / "losses.parquet", torch.arange(30), {"loss": torch.from_numpy(rng.random(30))})
        if (s, t1, t2) == pruned:
            write_pruned(p["direct"].parent, t2, [s], {"proxy_rank": 9})
        else:
            write_losses(p["direct"], torch.arange(30), {"loss": torch.from_numpy(rng.random(30))})
    res = check(tmp_path, "16k", [kept, pruned], tmp_path / "eval")
    assert [(r["source"], r["via"], r["target"]) for r in res["triples"]] == [kept]
    assert res["summary"]["left_out_direct_pruned"] == ["edge_texture:normal:depth_zbuffer"]
    assert "edge_texture -> depth_zbuffer was pruned" in capsys.readouterr().err
    assert json.loads((tmp_path / "eval/transitive.json").read_text())["summary"]["n_triples"] == 1
    assert len(pd.read_csv(tmp_path / "eval/transitive.csv")) == 1 and (tmp_path / "eval/transitive.png").stat().st_size
    # every triple pruned: still a file set, saying so
    res = check(tmp_path, "16k", [pruned], tmp_path / "eval2")
    assert res["summary"]["n_triples"] == 0 and (tmp_path / "eval2/transitive.png").stat().st_size
