"""Training engine: determinism, checkpoint/resume after a real SIGKILL, weights_only files,
per-task settings, transfer gathering and the beam (random tensors; no dataset needed)."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from taskonomy import engine
from taskonomy.settings import task_settings, transfer_settings
from taskonomy.transfer import higher_order_sets, transfer_data

# A tiny training job on fixed random tensors: a real task network, the real engine.
JOB = textwrap.dedent("""
    import sys, time, torch
    from pathlib import Path
    from taskonomy import engine
    from taskonomy.losses import per_image_loss
    from taskonomy.models import create_model
    out, epochs, delay = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    engine.setup_torch(1, 7)
    g = torch.Generator().manual_seed(0)
    data = engine.TensorData({"x": torch.randn(48, 3, 16, 16, generator=g),
                              "y": torch.randn(48, 1, 16, 16, generator=g)})
    torch.manual_seed(7)
    net = create_model("task_network", task="reshading", input_hw=(16, 16))
    def loss_fn(model, b):
        time.sleep(delay)            # slow the job down so the kill lands mid-training
        return per_image_loss("reshading", model(b["x"]), b["y"])
    engine.fit(net, loss_fn, data, engine.OptimSettings(epochs, 8, 1e-3), seed=7,
               device=torch.device("cpu"), workdir=out, config={"job": "test"})
    engine.save_model(out / "model.pt", net.state_dict(), {"config": {"job": "test"}})
""")


def _run(tmp, name, epochs=4, delay=0.0, wait=True):
    out = tmp / name
    out.mkdir(exist_ok=True)
    script = tmp / "job.py"
    script.write_text(JOB)
    proc = subprocess.Popen([sys.executable, str(script), str(out), str(epochs), str(delay)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if wait:
        assert proc.wait(timeout=120) == 0
    return out, proc


def _checkpoint_epoch(out) -> int:
    try:                                     # written atomically (replace), so complete or absent
        return torch.load(out / "checkpoint.pt", weights_only=True)["epoch"]
    except (OSError, RuntimeError, KeyError):
        return -1


def _weights(out):
    return torch.load(out / "model.pt", weights_only=True)["state_dict"]


def test_kill_and_resume_gives_the_uninterrupted_result(tmp_path):
    ref, _ = _run(tmp_path, "ref")
    out, proc = _run(tmp_path, "killed", delay=0.05, wait=False)
    log = out / "train.jsonl"
    deadline = time.time() + 60
    # kill once epoch 1 is logged *and* checkpointed (fit logs an epoch before it saves the
    # checkpoint: waiting for the log alone could kill in between, under load)
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) >= 2
                                          and _checkpoint_epoch(out) >= 1):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "model.pt").exists(), "killed before the end: no final model"
    assert 2 <= len(log.read_text().splitlines()) < 4
    ck = torch.load(out / "checkpoint.pt", weights_only=True)     # plain tensors and dicts only
    assert ck["epoch"] >= 1
    _run(tmp_path, "killed")                                         # resume
    a, b = _weights(ref), _weights(out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    assert [r["epoch"] for r in recs] == [0, 1, 2, 3]
    ref_recs = [json.loads(x) for x in (ref / "train.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in recs] == [r["loss"] for r in ref_recs]


def test_checkpoint_of_another_config_is_not_resumed(tmp_path, capsys):
    data = engine.TensorData({"x": torch.randn(8, 4), "y": torch.randn(8, 1)})
    net = torch.nn.Linear(4, 1)

    def loss_fn(m, b):
        return ((m(b["x"]) - b["y"]) ** 2).mean(1)
    s = engine.OptimSettings(2, 4, 1e-2)
    engine.fit(net, loss_fn, data, s, seed=0, device=torch.device("cpu"), workdir=tmp_path, config={"a": 1})
    recs = engine.fit(net, loss_fn, data, s, seed=0, device=torch.device("cpu"), workdir=tmp_path, config={"a": 2})
    assert len(recs) == 2 and "another config" in capsys.readouterr().out


def test_same_seed_same_weights_on_cpu(tmp_path):
    a, _ = _run(tmp_path, "a", epochs=2)
    b, _ = _run(tmp_path, "b", epochs=2)
    wa, wb = _weights(a), _weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_derived_seeds_are_stable_and_distinct():
    assert engine.derive_seed(0, "task/normal") == engine.derive_seed(0, "task/normal")
    assert engine.derive_seed(0, "task/normal") != engine.derive_seed(0, "task/depth_zbuffer")
    assert engine.derive_seed(0, "task/normal") != engine.derive_seed(1, "task/normal")


def test_device_auto_is_cpu_without_cuda():
    if not torch.cuda.is_available():
        assert engine.resolve_device("auto").type == "cpu"
        with pytest.raises(RuntimeError, match="device"):
            engine.resolve_device("cuda")


def test_per_task_override_changes_only_that_task():
    cfg = {"seed": 0, "train": {"epochs": 3, "overrides": {"normal": {"epochs": 9}}}}
    assert task_settings(cfg, "normal")["train"]["epochs"] == 9
    other = task_settings(cfg, "reshading")
    assert other == task_settings({"seed": 0, "train": {"epochs": 3}}, "reshading")
    with pytest.raises(ValueError, match="train.overrides.normal"):
        task_settings({"train": {"overrides": {"normal": {"epochz": 1}}}}, "normal")


def test_transfer_subset_seed_is_shared_by_all_sources_of_a_target():
    cfg = {"seed": 0, "transfer": {"sizes": {"small": 8, "big": 32}}}
    a, b = transfer_settings(cfg, "normal", "small"), transfer_settings(cfg, "normal", "big")
    assert a["n"] == 8 and a["subset_seed"] != b["subset_seed"]
    with pytest.raises(ValueError, match="transfer.sizes"):
        transfer_settings(cfg, "normal", "huge")


def test_transfer_data_gathers_per_view_reps_by_image_index():
    reps = torch.arange(5.0).view(5, 1, 1, 1).expand(5, 8, 2, 2).contiguous()
    targets = {"y": torch.randn(3, 6), "image": torch.arange(3),
               "views": torch.tensor([[0, 4], [1, 2], [3, 3]])}
    d = transfer_data(reps, targets, "fixated_pose")
    assert d.t["x"].shape == (3, 2, 8, 2, 2)
    assert d.t["x"][0, 1, 0, 0, 0] == 4 and d.t["x"][1, 0, 0, 0, 0] == 1
    single = transfer_data(reps, {"y": torch.randn(5, 3), "image": torch.arange(5),
                                  "views": torch.arange(5).view(5, 1)}, "room_layout", idx=torch.tensor([2, 4]))
    assert single.t["x"].shape == (2, 8, 2, 2) and single.t["x"][1, 0, 0, 0] == 4


def test_beam_combinations_then_beam_of_one():
    ranked = ["a", "random", "b", "c", "d", "e", "f", "g"]
    sets = higher_order_sets(ranked, max_order=7, top_k=5, beam_width=1)
    assert len(sets[2]) == 10 and len(sets[3]) == 10 and len(sets[5]) == 1
    assert all("random" not in s for v in sets.values() for s in v)
    assert sets[6] == ["a+b+c+d+e+f"] and sets[7] == ["a+b+c+d+e+f+g"]
    assert len(higher_order_sets(ranked, 7, 5, beam_width=2)[6]) == 2
    assert higher_order_sets(["a", "b"], 4) == {2: ["a+b"]}


def _fake_transfer_inputs(root: Path, sources, n_val=20, n_test=12):
    """reps/<src>/{val,test}.npy and targets/room_layout/{val,test}.npz of random tensors."""
    import numpy as np

    from taskonomy.labels import save_labels
    g = torch.Generator().manual_seed(3)
    for s in sources:
        (root / "reps" / s).mkdir(parents=True, exist_ok=True)
        for sp, n in (("val", n_val), ("test", n_test)):
            np.save(root / "reps" / s / f"{sp}.npy", torch.randn(n, 8, 4, 4, generator=g).numpy().astype(np.float16))
    (root / "targets" / "room_layout").mkdir(parents=True, exist_ok=True)
    for sp, n in (("val", n_val), ("test", n_test)):
        save_labels(root / "targets" / "room_layout" / f"{sp}.npz",
                    {"y": torch.randn(n, 9, generator=g) + 4.0, "image": torch.arange(n),
                     "views": torch.arange(n).view(n, 1)})


def test_transfer_writes_heldout_losses_on_untrained_images_and_the_beam_ranks_on_them(tmp_path):
    """Issue 12, item 5: the beam's ranking never looks at the test images AHP scores."""
    import pandas as pd
    from taskonomy.transfer import STORE_FILES, main as transfer_main, rank_sources, subset_indices
    _fake_transfer_inputs(tmp_path, ["normal", "reshading"])
    cfg = {"seed": 0, "transfer": {"sizes": {"small": 8}, "epochs": 1, "batch_size": 4}}
    s = transfer_settings(cfg, "room_layout", "small")
    for src in ("normal", "reshading"):
        rc = transfer_main(["--target", "room_layout", "--size", "small", "--sources", src,
                            "--reps", str(tmp_path / "reps"), "--targets", str(tmp_path / "targets"),
                            "--out", str(tmp_path / "tr" / src), "--settings", json.dumps(s)])
        assert rc == 0
    assert "heldout.parquet" in STORE_FILES
    trained = set(subset_indices(20, 8, s["subset_seed"]).tolist())
    ho = pd.read_parquet(tmp_path / "tr" / "normal" / "heldout.parquet")
    test = pd.read_parquet(tmp_path / "tr" / "normal" / "losses.parquet")
    assert len(ho) == 12 and set(ho["image"]) == set(range(20)) - trained      # val images not trained on
    assert len(test) == 12 and list(test.columns) == list(ho.columns)
    paths = [tmp_path / "tr" / src / "heldout.parquet" for src in ("normal", "reshading")]
    beam = rank_sources("room_layout", "small", paths, max_order=2, top_k=2, beam_width=1)
    means = {src: float(pd.read_parquet(p)["loss"].mean()) for src, p in zip(("normal", "reshading"), paths)}
    assert beam["losses"] == means and beam["ranked"] == sorted(means, key=means.get)
    assert beam["ranked_on"] == ["heldout (12 images)"]
    # a transfer size that uses the whole transfer split holds nothing out: the beam says it
    # ranks on the test losses beside the (empty) held-out files
    s_all = transfer_settings({**cfg, "transfer": {**cfg["transfer"], "sizes": {"all": 20}}}, "room_layout", "all")
    assert transfer_main(["--target", "room_layout", "--size", "all", "--sources", "normal",
                          "--reps", str(tmp_path / "reps"), "--targets", str(tmp_path / "targets"),
                          "--out", str(tmp_path / "all"), "--settings", json.dumps(s_all)]) == 0
    assert len(pd.read_parquet(tmp_path / "all" / "heldout.parquet")) == 0
    beam = rank_sources("room_layout", "all", [tmp_path / "all" / "heldout.parquet"], 1, 2, 1)
    assert beam["ranked_on"] == ["test (no held-out images)"]
    assert beam["losses"]["all"] == pytest.approx(float(pd.read_parquet(tmp_path / "all" / "losses.parquet")["loss"].mean()))
    # transfer.heldout caps the held-out images: the next ones of the same permutation, never
    # a trained one; settings written before the key existed hold out all the rest (above)
    s_cap = transfer_settings({**cfg, "transfer": {**cfg["transfer"], "heldout": 5}}, "room_layout", "small")
    assert s_cap["heldout"] == 5 and s_cap["subset_seed"] == s["subset_seed"]
    assert transfer_main(["--target", "room_layout", "--size", "small", "--sources", "normal",
                          "--reps", str(tmp_path / "reps"), "--targets", str(tmp_path / "targets"),
                          "--out", str(tmp_path / "cap"), "--settings", json.dumps(s_cap)]) == 0
    capped = pd.read_parquet(tmp_path / "cap" / "heldout.parquet")
    assert len(capped) == 5 and not set(capped["image"]) & trained
    assert set(capped["image"]) < set(ho["image"])
    assert capped.set_index("image")["loss"].equals(ho.set_index("image")["loss"].loc[sorted(capped["image"])])


def test_heldout_indices_follow_the_training_subset():
    from taskonomy.stagedata import heldout_indices, subset_indices
    train = subset_indices(50, 10, 7)
    rest = heldout_indices(50, 10, None, 7)
    assert len(rest) == 40 and not set(train.tolist()) & set(rest.tolist())
    cap = heldout_indices(50, 10, 16, 7)
    assert len(cap) == 16 and set(cap.tolist()) < set(rest.tolist())
    assert cap.tolist() == sorted(cap.tolist()) and heldout_indices(50, 10, 16, 7).equal(cap)
    assert heldout_indices(50, None, 16, 7) is None and heldout_indices(50, 50, 16, 7) is None
    assert len(heldout_indices(50, 45, 16, 7)) == 5          # fewer left than the cap


def test_setup_torch_turns_on_deterministic_algorithms_without_importing_the_compiler():
    """Every job's start: deterministic kernels (warn only), and no ~1.4 s import of
    torch._inductor, which torch.use_deterministic_algorithms would do."""
    import subprocess
    import sys
    code = ("import sys, torch; from taskonomy import engine; engine.setup_torch(1, 0); "
            "print(torch.are_deterministic_algorithms_enabled(), "
            "torch.is_deterministic_algorithms_warn_only_enabled(), 'torch._inductor' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "False"]
