"""The paper's released encoders: our ``resnet50_released`` against the real thing (PyPI
``visualpriors``, a test-only dependency, built with random weights: nothing is downloaded),
``taskonomy weights check`` and its errors, and the round trip of our own encoder through the
released file format. Batches of 1-2 images: a 256 px ResNet-50 costs about a second on CPU.
"""
import hashlib
import json
from pathlib import Path

import pytest
import torch

from taskonomy import weights
from taskonomy.cli import main as cli
from taskonomy.models import ModelSettings, create_model

torch.set_num_threads(2)


def _randomise_batchnorm(net: torch.nn.Module, seed: int = 0) -> None:
    """Running statistics and affine parameters away from their 0/1 initial values, so that a
    mix-up of BatchNorm layers (or a missing one) changes the output."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)


# the package's representation at 256 px; without its output GroupNorm at 64 px (4 x 4, cheaper)
@pytest.mark.parametrize("normalize,size", [(True, 256), (False, 64)])
def test_released_encoder_equals_visualpriors_taskonomy_encoder(normalize, size):
    from visualpriors.taskonomy_network import TaskonomyEncoder   # the package's own encoder
    torch.manual_seed(0)
    ref = TaskonomyEncoder(normalize_outputs=normalize, eval_only=True)   # random weights
    _randomise_batchnorm(ref)
    ours = create_model("resnet50_released", normalize_outputs=normalize)
    ref_sd = ref.state_dict()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref_sd.items()}
    ours.load_state_dict(ref_sd, strict=True)
    ours.eval()
    x = torch.rand(1, 3, size, size) * 2 - 1
    with torch.no_grad():
        a, b = ref(x), ours(x)
    assert a.shape == b.shape == (1, 8, size // 16, size // 16)
    assert a.std() > 0.1                      # not a degenerate (all-zero) representation
    assert (a - b).abs().max() < 1e-5


# ---------------------------------------------------------------- released files
def _released_sd(seed=0) -> dict:
    torch.manual_seed(seed)
    enc = create_model("resnet50_released")
    _randomise_batchnorm(enc, seed)
    return enc.state_dict()


@pytest.fixture(scope="module")
def good_sd():
    return _released_sd()


def _save(path, obj):
    torch.save(obj, path)
    return path


def test_feature_names_map_to_task_ids(tmp_path):
    assert weights.FEATURE_TO_TASK["curvature"] == "principal_curvature"
    assert weights.TASK_TO_FEATURE["principal_curvature"] == "curvature"
    from taskonomy.tasks import TASKS
    assert set(weights.FEATURE_TO_TASK.values()) == set(TASKS) - {"random"}
    for name in ("curvature_encoder-3767cf5d.pth", "normal_encoder-f5e2c773.pth", "normal_decoder-8f18bfb3.pth",
                 "README.txt", "jigsaw_encoder.pth"):
        (tmp_path / name).write_bytes(b"")
    found = weights.find_released(tmp_path)
    assert {t: p.name for t, p in found.items()} == {"principal_curvature": "curvature_encoder-3767cf5d.pth",
                                                     "normal": "normal_encoder-f5e2c773.pth",
                                                     "jigsaw": "jigsaw_encoder.pth"}   # renamed: still found
    (tmp_path / "principal_curvature_encoder-00ff.pth").write_bytes(b"")
    with pytest.raises(weights.WeightsError,
                       match=r"principal_curvature_encoder-00ff\.pth.*released name.*'curvature'"):
        weights.find_released(tmp_path)
    with pytest.raises(weights.WeightsError, match="model.released_weights.*not found"):
        weights.find_released(tmp_path / "nowhere")


def test_weights_check_lists_tasks_and_names_each_bad_file(tmp_path, good_sd, capsys):
    d = tmp_path / "w"
    d.mkdir()
    _save(d / "curvature_encoder-aa.pth", {"state_dict": good_sd})
    wrong_key = dict(good_sd)
    wrong_key["compress2.weight"] = wrong_key.pop("compress1.weight")
    _save(d / "normal_encoder-bb.pth", {"state_dict": wrong_key})
    wrong_shape = dict(good_sd, **{"layer2.0.conv2.weight": torch.zeros(128, 128, 1, 1)})
    _save(d / "reshading_encoder-cc.pth", {"state_dict": wrong_shape})
    (d / "depth_zbuffer_encoder-dd.pth").write_bytes((d / "curvature_encoder-aa.pth").read_bytes()[:4096])
    _save(d / "edge_texture_encoder-ee.pth", good_sd)          # the weights, not the released dict

    rep = weights.check(d)
    status = {r["task"]: r["status"] for r in rep["encoders"]}
    assert status["principal_curvature"] == "ok" and not rep["ok"]
    assert "normal_encoder-bb.pth" in status["normal"] and "compress1.weight" in status["normal"] \
        and "compress2.weight" in status["normal"]
    assert "reshading_encoder-cc.pth" in status["reshading"] and "layer2.0.conv2.weight (128, 128, 1, 1)" \
        in status["reshading"] and "(128, 128, 3, 3)" in status["reshading"]
    assert "depth_zbuffer_encoder-dd.pth: not a readable weight file" in status["depth_zbuffer"]
    assert "edge_texture_encoder-ee.pth" in status["edge_texture"] and "'state_dict'" in status["edge_texture"]
    good = d / "curvature_encoder-aa.pth"
    row = next(r for r in rep["encoders"] if r["task"] == "principal_curvature")
    assert row["sha256"] == hashlib.sha256(good.read_bytes()).hexdigest() and row["feature"] == "curvature"
    assert "normal" not in rep["missing"] and "autoencoding" in rep["missing"]
    (d / "normal_decoder-ff.pth").write_bytes(b"")
    assert weights.check(d)["ignored"] == ["normal_decoder-ff.pth"]

    assert cli(["weights", "check", str(d)]) == 1          # any unusable file: exit 1, each named
    out = capsys.readouterr().out
    assert "principal_curvature" in out and "curvature_encoder-aa.pth" in out and "ERROR" in out
    for f in ("normal_encoder-bb.pth", "reshading_encoder-cc.pth", "depth_zbuffer_encoder-dd.pth"):
        assert f in out
    for f in ("normal", "reshading", "depth_zbuffer", "edge_texture"):
        next(d.glob(f"{f}_encoder-*.pth")).unlink()
    assert cli(["weights", "check", str(d), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert cli(["weights", "check", str(tmp_path / "empty")]) == 2
    assert "not found" in capsys.readouterr().err


def test_files_without_batch_counters_load(tmp_path, good_sd):
    """Files saved by torch < 0.4.1 have no ``num_batches_tracked``; they load all the same."""
    old = {k: v for k, v in good_sd.items() if not k.endswith("num_batches_tracked")}
    enc = weights.load_encoder(_save(tmp_path / "normal_encoder-0a.pth", {"state_dict": old}))
    assert torch.equal(enc.state_dict()["layer1.0.conv1.weight"], good_sd["layer1.0.conv1.weight"])


def test_weights_encode_on_real_photographs(tmp_path, good_sd, capsys):
    """`taskonomy weights encode --img`: skimage's photographs (a colour and a grayscale one,
    neither square) -> N x 8 x 16 x 16, with the weight file in the lineage record."""
    import numpy as np
    from taskonomy import lineage
    from taskonomy.consistency.ood import write_photos
    write_photos(tmp_path / "photos", ["coffee", "camera"])
    f = weights.write_released(good_sd, "principal_curvature", tmp_path / "w")
    assert f.name.startswith("curvature_encoder-")
    out = tmp_path / "reps.npy"
    assert cli(["weights", "encode", "--weights", str(f), "--img", str(tmp_path / "photos"), "--out", str(out),
                "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == ["camera.png", "coffee.png"]
    reps = np.load(out)
    assert reps.shape == (2, 8, 16, 16) and reps.dtype == np.float16 and np.isfinite(reps).all()
    assert np.abs(reps[0].astype(np.float32) - reps[1]).max() > 0.1     # two different photographs
    rec = json.loads(lineage.sidecar(out).read_text())
    assert {"path": str(f), "sha256": hashlib.sha256(f.read_bytes()).hexdigest()} in rec["inputs"]


def test_weights_encode_of_a_split_appends_the_same_file_batch_by_batch(tmp_path, good_sd):
    """`taskonomy weights encode --data` (the released_encoder rule) decodes, encodes and appends
    the representation cache one batch at a time: byte for byte the file of encoding the split
    whole, pooled to the run's grid."""
    import numpy as np
    from taskonomy.data.synth import SynthSettings, synthesize
    from taskonomy.encode import save_npy
    root = tmp_path / "synth"
    synthesize(SynthSettings(out=str(root), buildings=3, points=1, views=3, size=32, seed=1, workers=1),
               progress=False)
    f = weights.write_released(good_sd, "normal", tmp_path / "w")
    whole = weights.encode_split(f, root, "test", "normal", {}, "cpu", batch_size=1).numpy().astype(np.float16)
    save_npy(tmp_path / "whole.npy", whole)
    shape = weights.encode_split_to_file(f, root, "test", "normal", {}, tmp_path / "streamed.npy",
                                         np.float16, "cpu", batch_size=1, num_workers=1)
    assert len(whole) >= 2 and shape == whole.shape and whole.shape[-2:] == weights.run_grid({}, (32, 32))
    assert (tmp_path / "streamed.npy").read_bytes() == (tmp_path / "whole.npy").read_bytes()


# ---------------------------------------------------------------- round trip
def test_our_encoder_round_trips_through_the_released_format(tmp_path):
    """A Stage I task network with the released architecture (its own random weights and
    BatchNorm statistics), exported as ``normal_encoder-<sha256>.pth`` and read back with
    ``weights_only=True``, gives identical representations."""
    from taskonomy import engine
    from taskonomy.encode import load_task_network
    torch.manual_seed(1)
    ms = ModelSettings(encoder="resnet50_released")
    net = create_model("task_network", task="normal", settings=ms, input_hw=(64, 64))
    _randomise_batchnorm(net.encoder, seed=1)
    model_pt = tmp_path / "tasks" / "normal" / "model.pt"
    engine.save_model(model_pt, net.state_dict(), {"task": "normal", "input_hw": [64, 64],
                                                   "config": {"task": "normal", "model": ms.to_dict()}})
    assert cli(["weights", "export", "--model", str(model_pt), "--out", str(tmp_path / "w")]) == 0
    (f,) = (tmp_path / "w").iterdir()
    assert f.name == f"normal_encoder-{hashlib.sha256(f.read_bytes()).hexdigest()}.pth"
    assert set(torch.load(f, weights_only=True)) == {"state_dict"}
    assert weights.check(tmp_path / "w")["ok"]

    x = torch.rand(1, 3, 256, 256) * 2 - 1
    ours, _ = load_task_network(model_pt)
    with torch.no_grad():
        want = ours.encode(x)
    got = weights.represent(weights.load_encoder(f), x)
    assert want.shape == (1, 8, 16, 16) and torch.equal(got, want)

    # a network of another encoder has no released format: the error names the file
    engine.save_model(tmp_path / "tiny.pt", {}, {"task": "normal", "input_hw": [64, 64],
                                                 "config": {"model": ModelSettings().to_dict()}})
    with pytest.raises(weights.WeightsError, match=r"tiny\.pt: its encoder is 'resnet_tiny'"):
        weights.export(tmp_path / "tiny.pt", tmp_path / "w2")


# ---------------------------------------------------------------- model.released_weights
def _released_config(weights_dir) -> dict:
    """Three tasks at 32 px: normal from a released file, reshading trained, random."""
    return {"run": "rel", "seed": 0, "device": "cpu", "tasks": ["normal", "reshading", "random"],
            "source_only": ["random"],
            "data": {"root": "data/synth", "synth": {"buildings": 3, "points": 2, "views": 2, "size": 32,
                                                     "workers": 1}},
            "model": {"encoder": "resnet_tiny", "width": 8, "stride": 8, "decoder_width": 16, "fc_hidden": 32,
                      "readout_width": 16, "released_weights": str(weights_dir)},
            "train": {"epochs": 1, "batch_size": 4},
            "transfer": {"sizes": {"small": 2}, "heldout": 2, "epochs": 1, "batch_size": 2, "max_order": 1},
            "taxonomy": {"budgets": [1], "max_orders": [1], "default_budget": 1, "default_order": 1},
            "resources": {"threads": 1}}


def test_workflow_takes_released_tasks_out_of_training_and_targets(tmp_path):
    from taskonomy.config import validate
    from taskonomy.settings import task_settings
    from taskonomy.workflow import Workflow
    (tmp_path / "normal_encoder-ab12.pth").write_bytes(b"")
    (tmp_path / "curvature_encoder-cd34.pth").write_bytes(b"")     # not a task of the run: ignored
    cfg = validate(_released_config(tmp_path))
    wf = Workflow(cfg)
    assert wf.released == {"normal": str(tmp_path / "normal_encoder-ab12.pth")}
    assert wf.trained_tasks == ["reshading"] and wf.transfer_targets == ["reshading"]
    assert wf.targets_of("normal") == ["reshading"]                  # a source of every target
    assert wf.patterns["released"] == "normal" and wf.patterns["encoded"] == "reshading|random"
    assert "results/rel/tasks/normal/losses.parquet" not in wf.stage1_targets()
    # the folder is not a network setting: a task network's settings do not change with it
    assert task_settings(cfg, "reshading") == task_settings(validate({**cfg, "model": {
        k: v for k, v in cfg["model"].items() if k != "released_weights"}}), "reshading")
    with pytest.raises(weights.WeightsError, match="'model.released_weights'.*nowhere not found"):
        Workflow(validate(_released_config(tmp_path / "nowhere")))


def test_released_weights_through_snakemake(tmp_path):
    """Stage I of a released task is its file: no training job, representations from the file
    (on the run's 4 x 4 grid of 32 px images), the file's sha256 in their lineage, and Stage II
    trains on them unchanged."""
    import re

    import numpy as np
    import pandas as pd
    import yaml
    from conftest import snakemake
    from taskonomy import lineage
    torch.manual_seed(0)
    f = weights.write_released(_released_sd(3), "normal", tmp_path / "weights")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(_released_config("weights")))      # relative to the workdir
    dry = snakemake(tmp_path, "-n", "stages_1_2", config=cfg)
    assert dry.returncode == 0, dry.stderr[-3000:]
    table = dry.stdout.split("Job stats:", 1)[1].split("Reasons:", 1)[0]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", table, re.M))
    # reshading trains; only random is encoded by rule encode (reshading, the one target, is no
    # source of any transfer); normal's representations come from its file
    assert jobs["released_encoder"] == "1" and jobs["train_task"] == "1" and jobs["encode"] == "1"

    transfer = "results/rel/transfers/small/reshading/normal/losses.parquet"
    res = snakemake(tmp_path, transfer, config=cfg)
    assert res.returncode == 0, res.stderr[-3000:]
    assert not (tmp_path / "results/rel/tasks/normal").exists()
    rel = tmp_path / "results/rel/reps/normal"
    val, test = np.load(rel / "val.npy"), np.load(rel / "test.npy")
    assert val.shape == (4, 8, 4, 4) and test.shape == (4, 8, 4, 4) and val.dtype == np.float16
    assert np.isfinite(val).all() and val.std() > 0
    rec = json.loads(lineage.sidecar(rel / "val.npy").read_text())
    (w,) = [i for i in rec["inputs"] if i["path"].endswith(".pth")]
    assert Path(w["path"]).name == f.name and w["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
    assert len(pd.read_parquet(tmp_path / transfer)) == 4
