"""Streamed splits (train.stream, issue 15): decoded per batch, never whole, yet the same
batches in the same order as in memory, so a streamed network equals an in-memory one; the
representation cache is written in batches into a memory-mapped file, byte for byte the array
an in-memory encode saves, and so is the label cache (``taskonomy.labels``)."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from taskonomy.config import load_config
from taskonomy.data.synth import SynthSettings, synthesize
from taskonomy.models.networks import fit_output_scale, fit_output_scale_from_moments
from taskonomy.settings import task_settings
from taskonomy.stagedata import StreamSplit, load_task_split, target_moments
from taskonomy.train import class_weights, class_weights_from_moments, train_task
from conftest import REPO

TASKS = ["normal", "depth_zbuffer", "segment_semantic", "class_object", "class_scene", "room_layout",
         "fixated_pose", "point_matching", "keypoints2d"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    synthesize(SynthSettings(out=str(out), buildings=6, points=2, views=3, size=32, seed=3, workers=1),
               progress=False)
    return out


@pytest.mark.parametrize("task", TASKS)
def test_streamed_batches_are_the_in_memory_batches(root, task):
    mem = load_task_split(root, "train", task, limit=20, subset_seed=5)
    st = StreamSplit(root, "train", task, limit=20, subset_seed=5, num_workers=0)
    assert len(st) == len(mem) == 20
    for seed in (None, 7):
        g1 = None if seed is None else torch.Generator().manual_seed(seed)
        g2 = None if seed is None else torch.Generator().manual_seed(seed)
        pairs = list(zip(mem.batches(6, g1), st.batches(6, g2), strict=True))
        assert len(pairs) == 4
        for a, b in pairs:
            assert a.keys() == b.keys()
            assert all(torch.equal(a[k], b[k]) for k in a), task
    assert torch.equal(st.images(), mem.t["image"])


@pytest.mark.parametrize("task", TASKS)
def test_statistics_from_batches_equal_those_in_memory(root, task):
    from taskonomy.models import ModelSettings, create_model
    mem = load_task_split(root, "train", task)
    st = StreamSplit(root, "train", task)
    hw = tuple(mem.t["x"].shape[-2:])
    a = create_model("task_network", task=task, settings=ModelSettings(), input_hw=hw)
    b = create_model("task_network", task=task, settings=ModelSettings(), input_hw=hw)
    fit_output_scale(a, task, mem.t["y"], mem.t.get("m"))
    tm = target_moments(st, task, a.scale.mean.numel(), batch_size=5)
    fit_output_scale_from_moments(b, task, tm)
    for k, v in a.scale.state_dict().items():
        assert v.shape == b.scale.state_dict()[k].shape and torch.allclose(v, b.scale.state_dict()[k], atol=1e-5), (task, k)
    wa, wb = class_weights(task, mem.t["y"], mem.t.get("m")), class_weights_from_moments(task, tm)
    assert (wa is None) == (wb is None) and (wa is None or torch.allclose(wa, wb))


@pytest.mark.parametrize("task", ["normal", "segment_semantic", "fixated_pose"])
def test_a_streamed_network_equals_the_in_memory_one(root, tmp_path, task):
    cfg = load_config(REPO / "config.yaml")
    cfg["train"].update(epochs=2, batch_size=8)
    out = {}
    for stream in (False, True):
        s = task_settings(cfg, task)
        s["train"].update(stream=stream, num_workers=1 if stream else 0)
        train_task(s, str(root), tmp_path / str(stream))
        out[stream] = pd.read_parquet(tmp_path / str(stream) / "losses.parquet")
        assert json.loads((tmp_path / str(stream) / "metrics.json").read_text())["n_test"] == len(out[stream])
    assert out[False]["image"].tolist() == out[True]["image"].tolist()
    # equal up to the statistics' summation order, amplified a little by Adam
    np.testing.assert_allclose(out[True]["loss"], out[False]["loss"], rtol=2e-3, atol=1e-6)


@pytest.mark.parametrize("task", ["random", "colorization"])
def test_the_streamed_representation_cache_is_the_in_memory_one_byte_for_byte(root, tmp_path, task):
    from taskonomy.encode import encode_split, encode_split_to_file, save_npy
    cfg = load_config(REPO / "config.yaml")
    cfg["train"].update(epochs=1)
    train_task(task_settings(cfg, task), str(root), tmp_path / "net")
    for split in ("val", "test"):
        save_npy(tmp_path / f"mem_{split}.npy", encode_split(tmp_path / "net/model.pt", str(root), split, device="cpu", batch_size=5))
        shape = encode_split_to_file(tmp_path / "net/model.pt", str(root), split, tmp_path / f"st_{split}.npy",
                                     device="cpu", batch_size=5, num_workers=1)
        assert shape == np.load(tmp_path / f"mem_{split}.npy").shape
        assert (tmp_path / f"st_{split}.npy").read_bytes() == (tmp_path / f"mem_{split}.npy").read_bytes()


def _mapped_from(t: torch.Tensor, path) -> bool:
    """Whether the tensor's memory lies in a mapping of the file at ``path`` (/proc/self/maps)."""
    addr, path = t.data_ptr(), str(path.resolve())
    for line in open("/proc/self/maps"):
        parts = line.split(maxsplit=5)
        lo, hi = (int(v, 16) for v in parts[0].split("-"))
        if lo <= addr < hi:
            return len(parts) == 6 and parts[5].strip() == path
    return False


@pytest.mark.parametrize("task", ["normal", "segment_semantic", "class_scene", "egomotion", "point_matching"])
def test_the_streamed_label_cache_holds_the_in_memory_labels_memory_mapped(root, tmp_path, task):
    """`taskonomy encode --targets` writes the labels batch by batch (batches of 4, two
    workers): the archive holds exactly what load_targets gathers in memory, np.load reads
    it, and load_labels maps every array from the file instead of reading it."""
    from taskonomy.encode import main as encode_main
    from taskonomy.labels import MAP_MIN_BYTES, load_labels, save_labels
    from taskonomy.stagedata import load_targets
    out = tmp_path / "targets" / task
    assert encode_main(["--targets", "--task", task, "--data", str(root), "--split", "val", "test",
                        "--out", str(out / "val.npz"), str(out / "test.npz"), "--num-workers", "2",
                        "--batch-size", "4"]) == 0
    for split in ("val", "test"):
        mem = load_targets(root, split, task)
        assert len(mem["y"]) > 4                                # several batches were appended
        got = load_labels(out / f"{split}.npz")
        assert got.keys() == mem.keys() and all(torch.equal(got[k], mem[k]) for k in mem)
        with np.load(out / f"{split}.npz") as z:                # an ordinary NumPy archive
            assert np.array_equal(z["y"], mem["y"].numpy())
        for k, v in got.items():                                # mapped, not read into memory
            assert _mapped_from(v, out / f"{split}.npz") == (v.nbytes >= MAP_MIN_BYTES), k
        got["y"].view(-1)[0] += 1                               # copy-on-write: the file stays
        assert torch.equal(load_labels(out / f"{split}.npz")["y"], mem["y"])
        # the same labels written whole are the same file, byte for byte
        save_labels(tmp_path / "whole.npz", mem)
        assert (tmp_path / "whole.npz").read_bytes() == (out / f"{split}.npz").read_bytes()


def _resident_kib(path) -> int:
    """Resident KiB of this process's mappings of the file at ``path`` (/proc/self/smaps)."""
    path, total, ours = str(path.resolve()), 0, False
    for line in open("/proc/self/smaps"):
        head = line.split()
        if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            ours = len(head) == 6 and head[5] == path
        elif ours and head[0] == "Rss:":
            total += int(head[1])
    return total


@pytest.mark.parametrize("target,views", [("normal", 1), ("egomotion", 3)])
def test_scoring_a_split_batch_by_batch_keeps_only_a_batch_of_the_caches_resident(tmp_path, target, views):
    """RepGather hands back the pages of the memory-mapped caches after every batch: after a
    pass over 2,000 samples the label and representation files hold no more resident pages
    than a batch needs, and every batch is still the one gathered in memory."""
    from taskonomy.labels import load_labels, save_labels
    from taskonomy.transfer import RepGather, open_reps, transfer_data
    rng = np.random.default_rng(1)
    n = 2000
    (tmp_path / "reps" / "a").mkdir(parents=True)
    reps = rng.normal(size=(n, 8, 4, 4)).astype(np.float16)
    np.save(tmp_path / "reps" / "a" / "test.npy", reps)
    save_labels(tmp_path / "t.npz", {"y": torch.randn(n, 3, 16, 16), "image": torch.arange(n),
                                     "views": torch.from_numpy(rng.integers(0, n, (n, views)))})
    tg = load_labels(tmp_path / "t.npz")
    lazy = RepGather(open_reps(tmp_path / "reps", ["a"], "test"), tg, target)
    mem = transfer_data(torch.from_numpy(reps.astype(np.float32)), tg, target)
    for a, b in zip(mem.batches(64), lazy.batches(64), strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    resident = _resident_kib(tmp_path / "t.npz") + _resident_kib(tmp_path / "reps" / "a" / "test.npy")
    assert resident < 64 * 3 * 16 * 16 * 4 / 1024 + 256         # one batch of y, and slack
    assert tg["y"].sum().isfinite()                              # reading all of y again maps it all
    assert _resident_kib(tmp_path / "t.npz") > n * 3 * 16 * 16 * 4 / 1024 * 0.9


def test_label_cache_refuses_inconsistent_batches_and_leaves_no_file(tmp_path):
    from taskonomy.labels import load_labels, write_labels
    bad = [{"y": torch.zeros(4, 3), "image": torch.arange(4)}, {"y": torch.zeros(4, 2), "image": torch.arange(4)}]
    with pytest.raises(ValueError, match="'y' changed"):
        write_labels(tmp_path / "a.npz", bad)
    with pytest.raises(ValueError, match="different sample counts"):
        write_labels(tmp_path / "a.npz", [{"y": torch.zeros(4, 3), "image": torch.arange(5)}])
    with pytest.raises(ValueError, match="no samples"):
        write_labels(tmp_path / "a.npz", [])
    assert list(tmp_path.iterdir()) == []                       # no archive, no scratch files
    with pytest.raises(FileNotFoundError, match="label cache"):
        load_labels(tmp_path / "a.npz")
    np.savez_compressed(tmp_path / "c.npz", y=np.zeros((64, 64)))
    with pytest.raises(ValueError, match="compressed"):
        load_labels(tmp_path / "c.npz")


@pytest.mark.parametrize("target,views", [("normal", 1), ("egomotion", 3)])
def test_transfer_inputs_read_from_the_memory_mapped_caches_equal_those_in_memory(tmp_path, target, views):
    from taskonomy.transfer import RepGather, gather_reps, load_reps, open_reps, transfer_data
    rng = np.random.default_rng(0)
    for s in ("a", "b"):
        (tmp_path / s).mkdir()
        np.save(tmp_path / s / "test.npy", rng.normal(size=(13, 8, 2, 2)).astype(np.float16))
    tg = {"y": torch.randn(11, 3), "image": torch.arange(11),
          "views": torch.from_numpy(rng.integers(0, 13, (11, views)))}
    mem = transfer_data(load_reps(tmp_path, ["a", "b"], "test"), tg, target)
    lazy = RepGather(open_reps(tmp_path, ["a", "b"], "test"), tg, target)
    assert len(lazy) == len(mem) == 11 and torch.equal(lazy.t["image"], mem.t["image"])
    for g in (None, 3):
        ga = None if g is None else torch.Generator().manual_seed(g)
        gb = None if g is None else torch.Generator().manual_seed(g)
        for a, b in zip(mem.batches(4, ga), lazy.batches(4, gb), strict=True):
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    idx = torch.tensor([1, 4, 9])
    sub = transfer_data(load_reps(tmp_path, ["a", "b"], "test"), tg, target, idx)
    assert torch.equal(gather_reps(open_reps(tmp_path, ["a", "b"], "test"), tg["views"][idx], views > 1), sub.t["x"])
    with pytest.raises(FileNotFoundError, match="source 'c'"):
        open_reps(tmp_path, ["a", "c"], "test")


@pytest.mark.parametrize("task", ["normal", "segment_semantic", "segment_unsup2d", "class_object", "class_scene",
                                  "room_layout", "egomotion", "point_matching"])
def test_the_streamed_average_guess_equals_the_in_memory_one(root, tmp_path, task):
    from taskonomy.baselines import run_average
    a = run_average(task, str(root), tmp_path / "mem")
    b = run_average(task, str(root), tmp_path / "st", stream=True, num_workers=1)
    la, lb = pd.read_parquet(tmp_path / "mem/losses.parquet"), pd.read_parquet(tmp_path / "st/losses.parquet")
    assert la["image"].tolist() == lb["image"].tolist() and a["n_test"] == b["n_test"]
    np.testing.assert_allclose(lb["loss"], la["loss"], rtol=1e-5, atol=1e-7)
