"""Cross-task consistency: settings, subset selection, perceptual losses, energy, and a tiny
end-to-end run (perceptual networks -> baseline + consistency -> energy) on synthetic data."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from taskonomy.cli import main as cli
from taskonomy.consistency import settings as cs
from taskonomy.consistency.energy import EnergyModel, fit_stats, spearman
from taskonomy.consistency.train import ConsistencyLoss, choose
from taskonomy.consistency.unet import UNet, load_unet
from taskonomy.losses import per_image_loss
from taskonomy.models import create_model

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


# ---------------------------------------------------------------- units
def test_unet_is_registered_and_takes_any_size():
    net = create_model("unet", in_channels=3, out_channels=2, width=8, downsample=3)
    assert isinstance(net, UNet)
    for hw in ((32, 32), (37, 21)):
        assert net(torch.randn(2, 3, *hw)).shape == (2, 2, *hw)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in net.modules())   # bilinear upsampling


def test_settings_share_seed_and_keep_k_out_of_the_baseline():
    cfg = {"seed": 3, "consistency": {"k": 2, "random_select": True, "unet": {"width": 8}}}
    b, c = cs.target_settings(cfg, "normal", "baseline"), cs.target_settings(cfg, "normal", "consistency")
    assert b["seed"] == c["seed"] and b["train"] == c["train"] and b["unet"] == c["unet"] == {"width": 8, "downsample": 3}
    assert "k" not in b and c["k"] == 2 and c["random_select"] and len(c["perceptual"]) == 7
    cfg2 = {"seed": 3, "consistency": {"k": 3, "random_select": True, "unet": {"width": 8}}}
    assert cs.target_settings(cfg2, "normal", "baseline") == b
    pairs = cs.perceptual_pairs({"consistency": {"targets": ["normal"],
                                                 "domains": {"normal": ["reshading", "edge_texture"]}}})
    assert pairs == [("normal", "edge_texture"), ("normal", "reshading"), ("rgb", "edge_texture"), ("rgb", "reshading")]
    with pytest.raises(ValueError, match="exclusive"):
        cs.section({"consistency": {"random_select": True, "winrate": True}})
    with pytest.raises(ValueError, match="consistency.domains.normal"):
        cs.section({"consistency": {"domains": {"normal": ["normal"]}}})
    with pytest.raises(ValueError, match="consistency.targets"):
        cs.target_settings({"consistency": {"targets": ["normal"]}}, "reshading", "baseline")
    # a target without a domains entry gets the other seven domains
    assert cs.section({"consistency": {"targets": ["depth_euclidean"], "domains": {}}})["targets"] == {
        "depth_euclidean": [d for d in cs.PERCEPTUAL_DOMAINS]}


def test_choose_all_first_random_and_winrate():
    s = {"perceptual": ["a", "b", "c", "d"], "k": None, "seed": 1}
    assert choose(s, 0, None) == ["a", "b", "c", "d"]
    assert choose({**s, "k": 2}, 5, None) == ["a", "b"]
    r = {**s, "k": 2, "random_select": True}
    draws = [tuple(choose(r, e, None)) for e in range(12)]
    assert draws == [tuple(choose(r, e, None)) for e in range(12)]          # seeded by the epoch
    assert len(set(draws)) > 1 and all(len(d) == 2 and len(set(d)) == 2 for d in draws)
    w = {**s, "k": 2, "winrate": True}
    assert choose(w, 0, {"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.9}) == ["b", "d"]


class Scale(nn.Module):
    """A fixed per-channel map, so that terms and losses have known values."""

    def __init__(self, cin, cout, a):
        super().__init__()
        self.cout, self.a = cout, a

    def forward(self, x):
        return self.a * x[:, :1].repeat(1, self.cout, 1, 1)


def test_consistency_loss_is_direct_plus_chosen_perceptual_losses_and_trains_only_the_target_net():
    torch.manual_seed(0)
    model = UNet(3, 3, width=4, downsample=1)
    nets = {"reshading": UNet(3, 1, width=4, downsample=1), "edge_texture": UNet(3, 1, width=4, downsample=1)}
    for n in nets.values():
        n.requires_grad_(False)
    b = {"rgb": torch.randn(4, 3, 16, 16), "y/normal": torch.randn(4, 3, 16, 16),
         "y/reshading": torch.rand(4, 1, 16, 16), "y/edge_texture": torch.rand(4, 1, 16, 16),
         "m/normal": torch.ones(4, 1, 16, 16), "m/reshading": torch.ones(4, 1, 16, 16),
         "m/edge_texture": (torch.rand(4, 1, 16, 16) > 0.3).float()}
    s = {"target": "normal", "perceptual": ["edge_texture", "reshading"], "k": 1, "seed": 0,
         "perceptual_weight": 0.5}
    lf = ConsistencyLoss(s, nets, n_batches=2, start_epoch=3)
    loss = lf(model, b)
    assert lf.chosen == ["edge_texture"] and lf.records == [{"epoch": 3, "chosen": ["edge_texture"]}]
    pred = model(b["rgb"])
    expect = per_image_loss("normal", pred, b["y/normal"], b["m/normal"]) + 0.5 * per_image_loss(
        "edge_texture", nets["edge_texture"](pred), b["y/edge_texture"], b["m/edge_texture"])
    assert loss.shape == (4,) and torch.allclose(loss, expect, atol=1e-6)
    loss.mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert all(p.grad is None for n in nets.values() for p in n.parameters())
    lf(model, b)
    lf(model, b)                              # third call: the first batch of epoch 4
    assert [r["epoch"] for r in lf.records] == [3, 4]


def test_winrate_counts_images_where_the_prediction_loses_to_the_ground_truth():
    class Fixed(nn.Module):                   # "target network" returning the ground truth of 2 of 4 images
        def __init__(self, y):
            super().__init__()
            self.y = y
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            out = self.y.clone()
            out[2:] += 1.0
            return out
    y = torch.rand(4, 3, 8, 8)
    probe = {"rgb": torch.zeros(4, 3, 8, 8), "y/normal": y, "y/reshading": y[:, :1] * 2}
    nets = {"reshading": Scale(3, 1, 2.0)}
    s = {"target": "normal", "perceptual": ["reshading"], "k": 1, "seed": 0, "winrate": True}
    lf = ConsistencyLoss(s, nets, 1, 0, probe=probe)
    assert lf.winrates(Fixed(y)) == {"reshading": 0.5}


def test_energy_terms_standardisation_and_spearman():
    rgb = torch.randn(6, 3, 8, 8)
    target = Scale(3, 3, 1.0)
    percep = {"reshading": Scale(3, 1, 2.0), "edge_texture": Scale(3, 1, 1.0)}
    direct = {"reshading": Scale(3, 1, 1.0), "edge_texture": Scale(3, 1, 1.0)}
    em = EnergyModel(target, percep, direct)
    _, terms = em.terms(rgb)
    assert torch.allclose(terms["reshading"], rgb[:, :1].abs())        # |2x - x|
    assert torch.count_nonzero(terms["edge_texture"]) == 0             # the two paths agree
    st = fit_stats(em, rgb, batch_size=4)
    v = rgb[:, :1].abs().double()
    assert st["reshading"]["pixel_mean"] == pytest.approx(float(v.mean()))
    assert st["reshading"]["pixel_std"] == pytest.approx(float(v.std(unbiased=False)), rel=1e-6)
    assert st["reshading"]["image_mean"] == pytest.approx(float(v.flatten(1).mean(1).mean()))
    em.stats = st
    img, px = em.energy(terms)
    im = v.flatten(1).mean(1)
    z = (im - im.mean()) / im.std(unbiased=False)
    # edge_texture's term is constant 0 = its mean: it adds 0 to the mean over domains
    assert torch.allclose(img.double(), z / 2, atol=1e-5)
    assert px.shape == (6, 1, 8, 8) and abs(float(px.mean())) < 1e-5
    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))


# ---------------------------------------------------------------- end to end
def _run(args):
    """A stage's command-line main, in process (saves a torch import per call)."""
    import importlib
    assert importlib.import_module(args[0]).main([*args[1:], "--threads", "1"]) == 0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("cons")
    data = base / "data"
    assert cli(["data", "synth", "--out", str(data), "--buildings", "3", "--points", "2", "--views", "2",
                "--size", "32", "--workers", "1", "--quiet"]) == 0
    cfg = {"seed": 0, "device": "cpu", "consistency": {
        "targets": ["normal"], "domains": {"normal": ["reshading", "edge_texture"]}, "k": 1, "random_select": True,
        "unet": {"width": 4, "downsample": 2}, "perceptual": {"epochs": 2, "batch_size": 4},
        "train": {"epochs": 3, "batch_size": 4}, "ood_images": ["coffee", "astronaut"]}}
    res = base / "results" / "consistency"
    for y, z in cs.perceptual_pairs(cfg):
        _run(["taskonomy.consistency.perceptual", "--y", y, "--z", z, "--data", str(data),
              "--out", str(res / "perceptual" / f"{y}__{z}"),
              "--settings", json.dumps(cs.perceptual_settings(cfg, y, z))])
    for mode in ("baseline", "consistency"):
        _run(["taskonomy.consistency.train", "--target", "normal", "--mode", mode, "--data", str(data),
              "--perceptual-dir", str(res / "perceptual"), "--out", str(res / "normal" / mode),
              "--settings", json.dumps(cs.target_settings(cfg, "normal", mode))])
    from taskonomy.consistency.ood import main as ood_main
    assert ood_main(["--out", str(res / "ood"), "--names", *cfg["consistency"]["ood_images"]]) == 0
    _run(["taskonomy.consistency.energy", "--target", "normal", "--data", str(data), "--models", str(res),
          "--ood-dir", str(res / "ood"), "--out", str(res / "normal" / "energy"),
          "--settings", json.dumps(cs.energy_settings(cfg, "normal"))])
    return {"data": data, "res": res, "cfg": cfg, "results": base / "results"}


@pytest.mark.slow
def test_end_to_end_artifacts(tiny):
    res = tiny["res"]
    net, meta = load_unet(res / "perceptual" / "normal__reshading" / "model.pt")
    assert (meta["input"], meta["output"]) == ("normal", "reshading")
    for mode in ("baseline", "consistency"):
        d = res / "normal" / mode
        ck = torch.load(d / "model.pt", weights_only=True)
        assert ck["mode"] == mode and not (d / "checkpoint.pt").exists()
        assert len((d / "train.jsonl").read_text().splitlines()) == 3
        m = json.loads((d / "metrics.json").read_text())
        assert np.isfinite(m["test"]["angular_error"])
    sel = [json.loads(x) for x in (res / "normal" / "consistency" / "selection.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in sel] == [0, 1, 2] and all(len(r["chosen"]) == 1 for r in sel)
    b = json.loads((res / "normal" / "baseline" / "metrics.json").read_text())["config"]
    c = json.loads((res / "normal" / "consistency" / "metrics.json").read_text())["config"]
    assert b["seed"] == c["seed"] and b["train"] == c["train"]


@pytest.mark.slow
def test_end_to_end_energy_outputs(tiny):
    e = tiny["res"] / "normal" / "energy"
    ev = json.loads((e / "eval.json").read_text())
    for mode in ("baseline", "consistency"):
        r = ev["models"][mode]
        assert set(r["through"]) == {"reshading", "edge_texture"} and "angular_error" in r["direct"]
        assert np.isfinite(r["through_mean"]) and "spearman_energy_error" in r
        assert 0.0 <= r["ood_energy"]["share_above_test_median"] <= 1.0
    df = pd.read_parquet(e / "test.parquet")
    assert len(df) == 2 * ev["n_test"] and {"energy", "error", "term_reshading"} <= set(df.columns)
    # the energy is z-scored with validation statistics: recompute one image's value by hand
    st = json.loads((e / "stats.json").read_text())["consistency"]
    row = df[df["mode"] == "consistency"].iloc[0]
    expect = np.mean([(row[f"term_{z}"] - st[z]["image_mean"]) / st[z]["image_std"] for z in sorted(st)])
    assert row["energy"] == pytest.approx(expect, rel=1e-4, abs=1e-5)
    ood = pd.read_parquet(e / "ood.parquet")
    assert sorted(ood[ood["mode"] == "baseline"]["name"]) == ["astronaut.png", "coffee.png"]
    from PIL import Image
    with Image.open(e / "energy.png") as im:
        assert im.size[0] > 400


@pytest.mark.slow
def test_snakemake_runs_the_smoke_stage(tmp_path):
    """rules/consistency.smk for real on the smoke config's consistency block (tiny data)."""
    import yaml
    cfg = yaml.safe_load((ROOT / "tests" / "smoke" / "config.yaml").read_text())
    assert cfg["consistency"]["enabled"]
    cfg["data"] = {"root": "data/synth", "synth": {"buildings": 3, "points": 2, "views": 2, "size": 32,
                                                   "seed": 0, "workers": 1}}
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(cfg))
    target = f"results/{cfg['run']}/consistency/normal/energy/eval.json"
    cmd = [str(Path(PY).parent / "snakemake"), "-s", str(ROOT / "Snakefile"), f"--configfile={p}",
           "--directory", str(tmp_path), "--cores", "2"]
    r = subprocess.run(cmd + [target], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    for rule in ("consistency_perceptual", "consistency_baseline", "consistency_train", "consistency_energy"):
        assert f"rule {rule}:" in r.stderr + r.stdout
    ev = json.loads((tmp_path / target).read_text())
    assert ev["domains"] == ["reshading", "edge_texture"] and ev["n_ood"] == 2
    sel = (tmp_path / f"results/{cfg['run']}/consistency/normal/consistency/selection.jsonl").read_text()
    assert all(len(json.loads(x)["chosen"]) == 1 for x in sel.splitlines())
    assert (tmp_path / "logs" / "consistency_energy" / cfg["run"] / "normal.log").exists()
    r = subprocess.run(cmd + ["-n", target], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr
