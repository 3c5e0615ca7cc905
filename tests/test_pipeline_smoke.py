"""End to end through Snakemake: Stages I-II of tests/smoke/config.yaml on CPU (data included).

Checks the artifacts of docs/interfaces.md, that trained task networks beat their random
baseline (the readout of the frozen random encoder) on held-out images, that a second-order
transfer came out of the beam, that a rerun has nothing to do, and that editing one task's
training settings invalidates that task's network and what reads it, and nothing else.
"""
import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import SMOKE, snakemake  # smoke_run: session fixture in conftest.py


# The random readout is a trained readout that starts at the average guess (output scale), as
# the paper's is: at 32 px and ~170 training tuples the relative-pose network is no better
# than it (mean loss 0.573 vs 0.570 at 5 epochs, 0.5694 vs 0.5698 at 8), as in the default
# run's Table 1 (fixated_pose beats the random readout on 56% of the images): only the tasks
# that learn at this scale are held to beating it here.
LEARNS_AT_SMOKE_SCALE = ("normal", "room_layout")


@pytest.mark.slow
def test_stage1_artifacts_and_networks_beat_random(smoke_run):
    work, res = smoke_run
    cfg = yaml.safe_load(SMOKE.read_text())
    targets = [t for t in cfg["tasks"] if t != "random"]
    for t in targets:
        ck = torch.load(res / "tasks" / t / "model.pt", weights_only=True)
        assert json.loads(ck["config"])["task"] == t and "state_dict" in ck
        metrics = json.loads((res / "tasks" / t / "metrics.json").read_text())
        assert metrics["trained"] and np.isfinite(metrics["test"]["loss"])
        lines = (res / "tasks" / t / "train.jsonl").read_text().splitlines()
        assert len(lines) == cfg["train"]["epochs"]
        self_ = pd.read_parquet(res / "tasks" / t / "losses.parquet")
        assert list(self_.columns[:2]) == ["image", "loss"] and self_["image"].dtype == np.int64
        rand = pd.read_parquet(res / "transfers" / "small" / t / "random" / "losses.parquet")
        avg = pd.read_parquet(res / "baselines" / t / "average" / "losses.parquet")
        scratch = pd.read_parquet(res / "baselines" / "small" / t / "scratch" / "losses.parquet")
        for other in (rand, avg, scratch):        # same test images, same order, every source
            assert other["image"].tolist() == self_["image"].tolist()
        first, last = json.loads(lines[0])["loss"], json.loads(lines[-1])["loss"]
        assert last < first, f"{t}: training loss did not fall ({first} -> {last})"
        if t in LEARNS_AT_SMOKE_SCALE:
            assert self_["loss"].mean() < rand["loss"].mean(), f"{t}: task network does not beat random"
    assert (res / "tasks" / "random" / "model.pt").exists()
    assert "angular_error" in pd.read_parquet(res / "tasks" / "normal" / "losses.parquet").columns


@pytest.mark.slow
def test_stage2_reps_transfers_and_beam(smoke_run):
    work, res = smoke_run
    reps = np.load(res / "reps" / "normal" / "test.npy")
    assert reps.dtype == np.float16 and reps.ndim == 4 and reps.shape[1] == 8
    for t in ("normal", "room_layout", "fixated_pose"):
        beam = json.loads((res / "beam" / "small" / f"{t}.json").read_text())
        assert beam["target"] == t and "random" in beam["ranked"] and t not in beam["ranked"]
        second = beam["sets"]["2"]
        assert len(second) == 1 and second[0].count("+") == 1
        # the transfer's folder is named by the rank positions it combines (top1+top2)
        assert beam["positions"] == {"top1+top2": second[0]}
        df = pd.read_parquet(res / "transfers" / "small" / t / "top1+top2" / "losses.parquet")
        assert len(df) and np.isfinite(df["loss"]).all()
        assert set(beam["higher_losses"]) == set(second)
        assert beam["higher_losses"][second[0]] == pytest.approx(df["loss"].mean())
        metrics = json.loads((res / "transfers" / "small" / t / "top1+top2" / "metrics.json").read_text())
        assert metrics["sources"] == second[0] and metrics["order"] == 2


@pytest.mark.slow
def test_every_transfer_was_written_by_a_declared_job(smoke_run):
    """Issue 13: every transfers/**/losses.parquet is the declared output of the job that wrote
    it, with Snakemake's metadata record of that job (`--summary` names the rule; the log
    and shell command come from the record)."""
    work, res = smoke_run
    out = snakemake(work, "stages_1_2", "--detailed-summary")
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout[out.stdout.index("output_file\t"):]
    rows = {r["output_file"]: r for r in csv.DictReader(io.StringIO(text), delimiter="\t")}
    made = sorted(p.relative_to(work).as_posix() for p in (res / "transfers").rglob("losses.parquet"))
    higher = [p for p in made if "+" in p.split("/")[-2]]
    assert made and higher
    for p in made:
        row = rows.get(p)
        assert row is not None, f"{p} is no declared output of any job"
        first = "+" not in p.split("/")[-2]
        source, target = p.split("/")[-2], p.split("/")[-3]
        assert row["rule"] == (f"transfers_from_{source}_small" if first else "beam"), (p, row["rule"])
        log = f"logs/transfers_from/smoke/{source}/small.log" if first else f"logs/beam/smoke/small/{target}.log"
        assert row["log-file(s)"] == log, (p, row)             # from the metadata record
        assert "taskonomy.transfer" in row["shellcmd"] and row["input-file(s)"] != "-", (p, row)
        assert row["plan"] == "no update", (p, row)


@pytest.mark.slow
def test_rerun_is_a_noop_and_one_task_edit_invalidates_only_what_reads_it(smoke_run, tmp_path):
    work, res = smoke_run
    dry = snakemake(work, "stages_1_2", "-n")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg["train"]["overrides"] = {"room_layout": {"epochs": 7}}
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    dry = snakemake(work, "stages_1_2", "-n", "--rerun-triggers", "params", "mtime", config=edited)
    out = dry.stdout + dry.stderr
    assert dry.returncode == 0, out[-3000:]
    # the outputs of the jobs that would run
    planned = " ".join(line for line in out.splitlines() if line.strip().startswith("output:"))
    assert "tasks/room_layout/model.pt" in planned
    assert "transfers/small/normal/room_layout/" in planned          # reads room_layout's encoder
    assert "tasks/normal/model.pt" not in planned and "tasks/fixated_pose/model.pt" not in planned
    assert "baselines/small/normal/scratch" not in planned
    assert "transfers/small/room_layout/normal/" not in planned      # target's settings unchanged
