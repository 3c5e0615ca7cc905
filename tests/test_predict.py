"""`taskonomy predict`: baseline + consistency predictions and energy maps for a real
photograph (skimage.data), any Stage I task network via --model, and clear errors."""
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from taskonomy import engine
from taskonomy.cli import main as cli
from taskonomy.consistency.energy import EnergyModel, fit_stats
from taskonomy.consistency.ood import write_photos
from taskonomy.consistency.perceptual import build_unet
from taskonomy.models import ModelSettings, create_model

DOMS = ["reshading", "edge_texture"]
UNET = {"width": 4, "downsample": 2}


def _save_unet(path, y, z, mode=None):
    torch.manual_seed(zlib.crc32(f"{y}{z}{mode}".encode()))
    net, arch = build_unet(y, z, UNET)
    meta = {"config": {}, "arch": arch, "input": y, "output": z, "input_hw": [32, 32]}
    if mode:
        meta["mode"] = mode
    engine.save_model(path, net.state_dict(), meta)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """results/<run>/ with (untrained, real) consistency networks, perceptual and direct
    networks, energy statistics from random images, and a Stage I reshading network."""
    res = tmp_path_factory.mktemp("pred") / "results"
    c = res / "consistency"
    for mode in ("baseline", "consistency"):
        _save_unet(c / "normal" / mode / "model.pt", "rgb", "normal", mode)
    for z in DOMS:
        _save_unet(c / "perceptual" / f"normal__{z}" / "model.pt", "normal", z)
        _save_unet(c / "perceptual" / f"rgb__{z}" / "model.pt", "rgb", z)
    stats = {}
    for mode in ("baseline", "consistency"):
        em = EnergyModel.load(c, "normal", mode, DOMS)
        stats[mode] = fit_stats(em, torch.rand(8, 3, 32, 32) * 2 - 1)
    engine.write_json_atomic(c / "normal" / "energy" / "stats.json", stats)
    ms = ModelSettings(width=8, decoder_width=16, fc_hidden=16)
    for task in ("reshading", "class_scene"):
        net = create_model("task_network", task=task, settings=ms, input_hw=(32, 32))
        engine.save_model(res / "tasks" / task / "model.pt", net.state_dict(),
                          {"task": task, "config": {"model": ms.to_dict()}, "kind": "x", "input_hw": [32, 32]})
    return res


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    write_photos(d, ["coffee", "camera"])       # a colour photo and a grayscale one
    return d


def test_predict_writes_baseline_consistency_and_energy_pngs(results, photos, tmp_path):
    out = tmp_path / "out"
    assert cli(["predict", "--task", "normal", "--img", str(photos / "coffee.png"), "--out", str(out),
                "--results", str(results)]) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == ["coffee_normal_baseline.png", "coffee_normal_baseline_energy.png",
                     "coffee_normal_consistency.png", "coffee_normal_consistency_energy.png",
                     "coffee_normal_panel.png"]
    with Image.open(out / "coffee_normal_consistency.png") as im:
        assert im.size == (32, 32) and im.mode == "RGB"
    rep = json.loads((out / "predict.json").read_text())
    e = rep["images"][str(photos / "coffee.png")]
    assert np.isfinite(e["baseline"]["energy"]) and e["baseline"]["energy"] != e["consistency"]["energy"]


def test_predict_on_a_folder_and_a_stage1_network(results, photos, tmp_path):
    out = tmp_path / "o"
    model = results / "tasks" / "reshading" / "model.pt"
    assert cli(["predict", "--task", "reshading", "--img", str(photos), "--out", str(out),
                "--model", str(model), "--size", "48"]) == 0
    for stem in ("coffee", "camera"):
        with Image.open(out / f"{stem}_reshading_task_network.png") as im:
            assert im.size == (48, 48)
    out2 = tmp_path / "o2"
    assert cli(["predict", "--task", "class_scene", "--img", str(photos / "camera.png"), "--out", str(out2),
                "--model", str(results / "tasks" / "class_scene" / "model.pt")]) == 0
    rep = json.loads((out2 / "predict.json").read_text())
    assert len(rep["images"][str(photos / "camera.png")]["task_network"]["output"]) == 5


def test_predict_errors_name_the_problem(results, photos, tmp_path, capsys):
    out = tmp_path / "e"
    assert cli(["predict", "--task", "depth_zbuffer", "--img", str(photos), "--out", str(out),
                "--results", str(results)]) == 2
    assert "consistency/depth_zbuffer/baseline/model.pt" in capsys.readouterr().err
    assert cli(["predict", "--task", "normal", "--img", str(tmp_path / "nope.jpg"), "--out", str(out),
                "--results", str(results)]) == 2
    assert "image not found" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_text("not a png")
    assert cli(["predict", "--task", "normal", "--img", str(bad), "--out", str(out), "--results", str(results)]) == 2
    assert f"cannot read image {bad}" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli(["predict", "--task", "normal", "--img", str(empty), "--out", str(out), "--results", str(results)]) == 2
    assert "no images" in capsys.readouterr().err
    assert cli(["predict", "--task", "normal", "--img", str(photos), "--out", str(out),
                "--model", str(results / "tasks" / "reshading" / "model.pt")]) == 2
    assert "predicts 'reshading', not --task 'normal'" in capsys.readouterr().err
    assert cli(["predict", "--task", "normal", "--img", str(photos), "--out", str(out),
                "--model", str(tmp_path / "missing.pt")]) == 2
    assert "model not found" in capsys.readouterr().err
    assert cli(["predict", "--task", "fixated_pose", "--img", str(photos), "--out", str(out)]) == 2
    assert "no single-image prediction" in capsys.readouterr().err
