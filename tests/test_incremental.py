"""Incremental recomputation: editing one setting reruns exactly the jobs that depend on it.

Runs the Stage IV paper rules once for real in a copy of the workflow, then edits config.yaml
(or another file) and asks Snakemake for a dry run (`-n`, its job table and outputs): the
jobs it would run must be exactly the expected ones. (Snakemake 9.27's `--list-changes params`
lists the last output of every job even when nothing changed, so it is not used.)
About 1-2 minutes on a quiet machine. Run: .venv/bin/pytest tests/test_incremental.py -q

Stage I (a tiny dataset, two task networks, one epoch): `train.overrides.<task>` reruns that
network only; `resources.*` reruns nothing; `data.synth.*` reruns the data and both networks.
TODO (Stage II-IV on our own results, once a cheap full smoke run exists to start from): a task
override also reruns that task's reps, the transfers reading them and the Stage III/IV jobs of
their targets, not other targets'; `transfer.epochs` reruns transfers and scratch baselines,
not task networks; `evaluation.*` only the eval rules.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
PAPER_RULES = ["paper_taxonomy", "paper_sweep", "paper_tree", "paper_affinity_plot"]

pytestmark = pytest.mark.slow


def copy_workflow(dst: Path) -> None:
    for name in ("Snakefile", "config.yaml", "README.md"):
        shutil.copy2(ROOT / name, dst / name)
    for name in ("rules", "schemas", "profiles"):
        shutil.copytree(ROOT / name, dst / name)


def edit_config(wf: Path, **paper) -> None:
    cfg = yaml.safe_load((wf / "config.yaml").read_text())
    cfg["paper"].update(paper)
    (wf / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def targets(wf: Path) -> list[str]:
    """The paper rules' outputs for the current config (explicit targets: a quick DAG)."""
    paper = yaml.safe_load((wf / "config.yaml").read_text())["paper"]
    out = []
    for t in paper["tables"]:
        out += [f"results/{t}/taxonomy/{b}_{k}.json" for b in paper["budgets"] for k in paper["max_orders"]]
        out += [f"results/{t}/sweep.csv", f"results/{t}/tree.png", f"results/{t}/affinity.png"]
    return out


def snakemake(wf: Path, *args: str) -> str:
    p = subprocess.run([SNAKEMAKE, "--cores", "2", *args, *targets(wf)], cwd=wf,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout + p.stderr


def planned(wf: Path) -> tuple[dict[str, int], str]:
    """rule -> number of jobs a dry run would run (empty: nothing to do), and its listing."""
    out = snakemake(wf, "-n")
    if "Nothing to be done" in out:
        return {}, out
    table = out.split("Job stats:", 1)[1].split("Reasons:", 1)[0]
    jobs = dict((r, int(n)) for r, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.M))
    jobs.pop("total", None)
    return jobs, out


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    wf = tmp_path_factory.mktemp("wf")
    copy_workflow(wf)
    cfg = yaml.safe_load((wf / "config.yaml").read_text())
    # A few tasks keep the (whole-pipeline) DAG quick; the paper grid: 2 budgets x 2 orders.
    cfg["tasks"], cfg["source_only"] = ["normal", "reshading", "random"], ["random"]
    cfg["paper"].update(tables=["paper-16k"], budgets=[2, 4], max_orders=[1, 2], metric="sqrt_affinity")
    (wf / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    snakemake(wf)
    assert len([p for p in (wf / "results/paper-16k/taxonomy").glob("*_*.json") if "lineage" not in p.name]) == 4
    return wf


def test_nothing_changed_nothing_runs(workflow):
    assert planned(workflow)[0] == {}


def test_unread_files_rerun_nothing(workflow):
    # README is read by no rule; a comment in config.yaml changes no rule's params.
    (workflow / "README.md").write_text((workflow / "README.md").read_text() + "\nedited\n")
    cfg = (workflow / "config.yaml").read_text()
    (workflow / "config.yaml").write_text("# an edited comment\n" + cfg)
    try:
        assert planned(workflow)[0] == {}
    finally:
        (workflow / "config.yaml").write_text(cfg)


def test_metric_reruns_taxonomies_and_sweep_only(workflow):
    edit_config(workflow, metric="affinity")
    try:
        assert planned(workflow)[0] == {"paper_taxonomy": 4, "paper_sweep": 1}
    finally:
        edit_config(workflow, metric="sqrt_affinity")
    assert planned(workflow)[0] == {}


def test_new_budget_adds_its_taxonomies_and_reruns_sweep(workflow):
    edit_config(workflow, budgets=[2, 4, 6])
    try:
        jobs, out = planned(workflow)
        # two new taxonomies (6_1, 6_2) and the sweep whose budget list changed; the four
        # existing taxonomies, the tree and the heat map stay
        assert jobs == {"paper_taxonomy": 2, "paper_sweep": 1}
        made = {f for line in re.findall(r"^\s+output: (.*)$", out, re.M) for f in line.split(", ")}
        assert {f"results/paper-16k/taxonomy/6_{k}.json" for k in (1, 2)} <= made
        assert not {f"results/paper-16k/taxonomy/{b}_{k}.json" for b in (2, 4) for k in (1, 2)} & made
    finally:
        edit_config(workflow, budgets=[2, 4])
    assert planned(workflow)[0] == {}


def test_deleted_output_reruns_only_its_job(workflow):
    target = workflow / "results/paper-16k/tree.png"
    os.remove(target)
    assert planned(workflow)[0] == {"paper_tree": 1}
    snakemake(workflow)
    assert target.is_file() and planned(workflow)[0] == {}


STAGE1 = {
    "run": "inc", "device": "cpu", "tasks": ["normal", "class_scene", "random"], "source_only": ["random"],
    "model": {"encoder": "resnet_tiny", "width": 8, "stride": 8, "decoder_width": 16, "fc_hidden": 32,
              "readout_width": 16},
    "train": {"epochs": 1, "batch_size": 16},
    "resources": {"threads": 1},
    "data": {"root": "data/inc", "synth": {"buildings": 8, "points": 2, "views": 3, "size": 32, "workers": 1}},
}
STAGE1_TARGETS = ["results/inc/tasks/normal/model.pt", "results/inc/tasks/class_scene/model.pt"]


def stage1(wf: Path, *args: str) -> str:
    p = subprocess.run([SNAKEMAKE, "--cores", "2", *args, *STAGE1_TARGETS, "--configfile", "inc.yaml"],
                       cwd=wf, capture_output=True, text=True, timeout=400)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout + p.stderr


def stage1_planned(wf: Path, **edits) -> dict[str, int]:
    cfg = yaml.safe_load(yaml.safe_dump(STAGE1))
    for dotted, value in edits.items():
        node = cfg
        *parents, last = dotted.split("__")
        for k in parents:
            node = node.setdefault(k, {})
        node[last] = value
    (wf / "inc.yaml").write_text(yaml.safe_dump(cfg))
    try:
        out = stage1(wf, "-n")
    finally:
        (wf / "inc.yaml").write_text(yaml.safe_dump(STAGE1))
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:", 1)[1].split("Reasons:", 1)[0]
    jobs = dict((r, int(n)) for r, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.M))
    jobs.pop("total", None)
    return jobs


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    wf = tmp_path_factory.mktemp("stage1")
    copy_workflow(wf)
    (wf / "inc.yaml").write_text(yaml.safe_dump(STAGE1))
    stage1(wf)
    return wf


def test_stage1_override_reruns_only_that_task(trained):
    assert stage1_planned(trained) == {}
    assert stage1_planned(trained, train__overrides={"normal": {"epochs": 2}}) == {"train_task": 1}


def test_stage1_resources_rerun_nothing(trained):
    assert stage1_planned(trained, resources__threads=2, resources__train_mem_mb=3000, resources__gpu=1) == {}


def test_stage1_data_settings_rerun_data_and_networks(trained):
    assert stage1_planned(trained, data__synth__points=3) == {"synth_data": 1, "train_task": 2}
