"""Incremental recomputation: editing one setting reruns exactly the jobs that depend on it.

Runs the Stage IV paper rules once for real in a copy of the workflow, then edits config.yaml
(or another file) and asks Snakemake for a dry run (`-n`, its job table and outputs): the
jobs it would run must be exactly the expected ones. (Snakemake 9.27's `--list-changes params`
lists the last output of every job even when nothing changed, so it is not used.)
About 1-2 minutes on a quiet machine. Run: .venv/bin/pytest tests/test_incremental.py -q

Stage I (a tiny dataset, two task networks, one epoch): `train.overrides.<task>` reruns that
network only; `resources.*` reruns nothing; `data.synth.*` reruns the data and both networks.

Stages I-IV on the smoke config (the shared ``smoke_run`` fixture, copied, plus one run of
Stages III/IV, evaluations and summary): the exact jobs (rule + wildcards) a dry run plans for a
task override, a transfer setting, a new task, an evaluation setting and edits no rule reads;
for the override and the new task also a real run, after which every transfer that does not
depend on the change is byte-identical and, where its batched job reran, was copied from the
transfer result store ("reused <key>" in the job's log), while every dependent one was trained
again. About 3-4 minutes on 2 cores besides the shared fixture.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

import conftest
from conftest import SMOKE, copy_workdir
from taskonomy.beam import is_position_name, read_positions

ROOT = Path(__file__).resolve().parents[1]
PAPER_RULES = ["paper_taxonomy", "paper_sweep", "paper_tree", "paper_affinity_plot"]

pytestmark = pytest.mark.slow


def copy_workflow(dst: Path) -> Path:
    """The workflow with the repo's config.yaml and README.md (a file no rule reads)."""
    return conftest.copy_workflow(dst, "config.yaml", "README.md")


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


def run_copy(wf: Path, *args: str, config=None, timeout=300, env=None) -> str:
    """Snakemake on the copied workflow in ``wf`` (its own config.yaml, plus ``config``)."""
    p = conftest.snakemake(wf, *args, snakefile=wf / "Snakefile", config=config, timeout=timeout, cwd=wf, env=env)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    return p.stdout + p.stderr


def snakemake(wf: Path, *args: str) -> str:
    return run_copy(wf, *args, *targets(wf))


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
    cfg["evaluation"]["transitive"] = []          # the default triples name other tasks
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
    "resources": {"threads": 1}, "evaluation": {"transitive": []},
    "data": {"root": "data/inc", "synth": {"buildings": 8, "points": 2, "views": 3, "size": 32, "workers": 1}},
}
STAGE1_TARGETS = ["results/inc/tasks/normal/model.pt", "results/inc/tasks/class_scene/model.pt"]


def stage1(wf: Path, *args: str) -> str:
    return run_copy(wf, *args, *STAGE1_TARGETS, config=wf / "inc.yaml", timeout=400)


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



# ---------------------------------------------------------------- Stages I-IV on the smoke run
SMOKE_CFG = yaml.safe_load(SMOKE.read_text())
RUN = SMOKE_CFG["run"]
RES = f"results/{RUN}"
SIZE = next(iter(SMOKE_CFG["transfer"]["sizes"]))
TRIPLES = [tuple(t) for t in SMOKE_CFG.get("evaluation", {}).get("transitive", [])]
TAX = SMOKE_CFG["taxonomy"]
REPLICATES = SMOKE_CFG.get("evaluation", {}).get("replicates", 0)
# this run's Stage III / IV results, evaluations and summary (the consistency stage and the
# paper tables' rules are left out: they read nothing of Stages I-II's transfers)
FULL_TARGETS = [f"{RES}/summary.md", *(f"{RES}/eval/{SIZE}/{n}.png" for n in ("gain_quality", "novel", "table1"))]


def job(rule: str, **wildcards) -> str:
    return rule + "[" + ",".join(f"{k}={v}" for k, v in sorted(wildcards.items())) + "]"


def dry_jobs(out: str) -> set[str]:
    """Every job of a dry run's listing as rule[wildcards] (group jobs are indented)."""
    jobs, cur = [], None
    for line in out.splitlines():
        m = re.match(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):$", line)
        if m:
            cur = [m.group(1), {}]
            jobs.append(cur)
            continue
        m = re.match(r"^\s*wildcards: (.*)$", line)
        if m and cur is not None:
            cur[1] = dict(kv.split("=", 1) for kv in m.group(1).split(", "))
    names = [job(r, **w) for r, w in jobs]
    assert len(names) == len(set(names)), f"a job listed twice: {sorted(names)}"
    return set(names)


def downstream() -> set[str]:
    """Stage III gather, Stage IV and evaluations of this run's own tables (with the agreement
    with the paper and the bootstrap), the seed replicates of the first order (a replicate job
    reads every task's reps, labels and own losses and carries every target's transfer
    settings; its comparison reads the run's tables), and the summary."""
    out = {job("ahp_gather", size=SIZE), job("run_sweep", size=SIZE), job("run_tree", size=SIZE),
           job("run_affinity_plot", size=SIZE), job("eval_gain_quality_run", size=SIZE),
           job("eval_novel_run", size=SIZE), job("run_summary"), job("eval_compare_run", size=SIZE),
           job("eval_tree_ari_run", size=SIZE), job("eval_bootstrap_run", size=SIZE),
           job("eval_significance_run", size=SIZE, budget=TAX["default_budget"], order=TAX["default_order"])}
    out |= {job("run_taxonomy", size=SIZE, budget=b, order=k) for b in TAX["budgets"] for k in TAX["max_orders"]}
    for r in range(1, REPLICATES + 1):
        out |= {job("eval_replicate_run", size=SIZE, replicate=r), job("eval_replicate_compare", size=SIZE, replicate=r)}
    return out


def transitive_jobs() -> set[str]:
    """The transitive-transfer check (rules/evaluate.smk), when the smoke config has triples."""
    out = set()
    for s, t1, t2 in TRIPLES:
        out |= {job("transitive_reps", size=SIZE, source=s, via=t1),
                job("transitive_transfer", size=SIZE, source=s, via=t1, target=t2)}
    return out | ({job("eval_transitive", size=SIZE)} if TRIPLES else set())


def smk(work: Path, cfg: dict, *args: str, timeout: int = 600, env: dict | None = None) -> str:
    (work / "edit.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return run_copy(work, *args, *FULL_TARGETS, config=work / "edit.yaml", timeout=timeout, env=env)


def plan(work: Path, cfg: dict, *args: str, env: dict | None = None) -> set[str]:
    out = smk(work, cfg, "-n", *args, env=env)
    return set() if "Nothing to be done" in out else dry_jobs(out)


def edited(**changes) -> dict:
    """The smoke config with dotted-path edits (a__b=v sets cfg[a][b] = v)."""
    cfg = yaml.safe_load(yaml.safe_dump(SMOKE_CFG))
    for dotted, value in changes.items():
        node, (*parents, last) = cfg, dotted.split("__")
        for k in parents:
            node = node.setdefault(k, {})
        node[last] = value
    return cfg


def transfer_files(work: Path) -> dict[str, bytes]:
    """Every file of every transfer folder (lineage sidecars left out: they carry times), as
    <size>/<target>/<source set>/<file>: a higher-order transfer's folder is named by rank
    position (top1+top2), the beam file of its target names its source set."""
    base = work / RES / "transfers"
    out = {}
    for p in sorted(base.rglob("*")):
        if not p.is_file() or p.name.endswith(".lineage.json") or ".lineage" in p.parts:
            continue
        size, target, folder, *rest = p.relative_to(base).parts
        if is_position_name(folder):
            folder = read_positions(work / RES / "beam" / size / f"{target}.json")[folder]
        out["/".join([size, target, folder, *rest])] = p.read_bytes()
    return out


def mtimes(work: Path, sub: str) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in sorted((work / RES / sub).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def full(smoke_run, tmp_path_factory):
    """A copy of the smoke run with the workflow beside it and Stages III/IV made once."""
    work = copy_workdir(smoke_run[0], tmp_path_factory.mktemp("full") / "w")
    copy_workflow(work)
    smk(work, SMOKE_CFG)
    assert (work / RES / "summary.md").is_file()
    assert plan(work, SMOKE_CFG) == set()
    return work


def test_full_unread_files_resources_and_reuse_flag_rerun_nothing(full):
    readme, rules = full / "README.md", full / "rules" / "transfers.smk"
    old_readme, old_rules = readme.read_text(), rules.read_text()
    readme.write_text(old_readme + "\nedited\n")
    rules.write_text("# an edited comment\n" + old_rules)
    try:
        cfg = edited(resources__threads=2, resources__transfer_mem_mb=3000, resources__train_runtime=99,
                     transfer__reuse=False)
        assert plan(full, cfg) == set()
    finally:
        readme.write_text(old_readme)
        rules.write_text(old_rules)


def test_full_evaluation_setting_reruns_only_evaluations(full):
    # n_random is read by the significance test only; the summary quotes its result
    cfg = edited(evaluation__n_random=500)
    assert plan(full, cfg) == {job("eval_significance_run", size=SIZE, budget=TAX["default_budget"],
                                   order=TAX["default_order"]), job("run_summary")}


def test_full_transfer_setting_reruns_stage2_and_downstream_not_networks(full):
    cfg = edited(transfer__epochs=SMOKE_CFG["transfer"]["epochs"] + 1)
    targets = [t for t in SMOKE_CFG["tasks"] if t not in SMOKE_CFG["source_only"]]
    expected = ({job(f"transfers_from_{s}_{SIZE}") for s in SMOKE_CFG["tasks"]}
                | {job("beam", size=SIZE, target=t) for t in targets}
                | {job("scratch_baseline", size=SIZE, target=t) for t in targets}
                | {job("ahp_target", size=SIZE, target=t) for t in targets}
                | {job("eval_table1_run", size=SIZE)} | downstream() | transitive_jobs())
    assert plan(full, cfg) == expected


def test_full_task_override_reruns_its_network_and_dependents_only(full, tmp_path):
    work = copy_workdir(full, tmp_path / "w")
    task = "normal"
    cfg = edited(train__overrides={task: {"epochs": SMOKE_CFG["train"]["epochs"] + 1}})
    targets = [t for t in SMOKE_CFG["tasks"] if t not in SMOKE_CFG["source_only"]]
    # its network, reps and first-order transfers; every other target's beam (it ranks and
    # combines the task's transfer); every target's AHP (the task's own losses are normal's
    # "self"); no other network, reps, target cache or baseline; the transitive triple's chain
    # (fixated_pose -> normal -> room_layout) reads normal's labels, not its network
    expected = ({job("train_task", task=task), job("encode", source=task),
                 job(f"transfers_from_{task}_{SIZE}"), job("eval_table1_run", size=SIZE)}
                | {job("beam", size=SIZE, target=t) for t in targets if t != task}
                | {job("ahp_target", size=SIZE, target=t) for t in targets} | downstream())
    assert plan(work, cfg) == expected

    before, nets = transfer_files(work), mtimes(work, "tasks")
    smk(work, cfg)
    after = transfer_files(work)
    depends = {f for f in before if task in f.split("/")[2].split("+")}
    assert depends and {f for f in depends if f.endswith("losses.parquet")}
    # (a higher-order set the new ranking no longer selects is gone: nothing to compare)
    assert depends & set(after)
    for f in set(before) & set(after):
        if f in depends and f.endswith(("losses.parquet", "metrics.json")):
            assert after[f] != before[f], f"{f} reads {task}'s new encoder but did not change"
        elif f not in depends:
            assert after[f] == before[f], f"{f} does not read {task}'s encoder but changed"
    # the dependent transfers were trained, not reused; other networks untouched
    log = (work / f"logs/transfers_from/{RUN}/{task}/{SIZE}.log").read_text()
    assert "reused" not in log and log.count(f"trained {task}->") == len(targets) - 1, log[-2000:]
    for t in targets:
        if t != task:
            blog = (work / f"logs/beam/{RUN}/{SIZE}/{t}.log").read_text()
            assert "reused" not in blog and re.search(r"^trained ", blog, re.M), blog[-2000:]
    now = mtimes(work, "tasks")
    assert {p: m for p, m in now.items() if f"/tasks/{task}/" not in p} == \
        {p: m for p, m in nets.items() if f"/tasks/{task}/" not in p}
    assert plan(work, cfg) == set()


def test_full_new_task_runs_its_jobs_and_reuses_every_existing_transfer(full, tmp_path):
    work = copy_workdir(full, tmp_path / "w")
    new = "reshading"
    tasks = [t for t in SMOKE_CFG["tasks"] if t != "random"] + [new, "random"]
    cfg = edited(tasks=tasks)
    targets = [t for t in tasks if t not in SMOKE_CFG["source_only"]]
    # the new network, its reps, label cache and baselines; every source's batched first-order
    # job (a new target each) and the new source's; every beam (a new source each); every AHP
    # vector; the transitive chain reruns because transfers_from_fixated_pose_<size> rewrites (reuses)
    # its first-order file; no other network, reps, label cache or average baseline
    expected = ({job("train_task", task=new), job("encode", source=new), job("cache_targets", target=new),
                 job("average_baseline", target=new), job("scratch_baseline", size=SIZE, target=new),
                 job("eval_table1_run", size=SIZE)}
                | {job(f"transfers_from_{s}_{SIZE}") for s in tasks}
                | {job("beam", size=SIZE, target=t) for t in targets}
                | {job("ahp_target", size=SIZE, target=t) for t in targets} | downstream() | transitive_jobs())
    assert plan(work, cfg) == expected

    before = transfer_files(work)
    beams = {t: json.loads((work / RES / f"beam/{SIZE}/{t}.json").read_text()) for t in targets if t != new}
    smk(work, cfg)
    after = transfer_files(work)
    # every existing transfer is byte-identical (losses, metrics, per-epoch log) ... (a
    # higher-order set the new ranking no longer selects is gone; the first order all stay)
    assert {f: after[f] for f in before if f in after} == {f: b for f, b in before.items() if f in after}
    assert {f for f in before if "+" not in f.split("/")[2]} <= set(after)
    # ... and was copied from the store by the rerun batched jobs, not trained
    for s in SMOKE_CFG["tasks"]:
        log = (work / f"logs/transfers_from/{RUN}/{s}/{SIZE}.log").read_text()
        for t in targets:
            if t == s:
                continue
            verb = "trained" if t == new else "reused"
            assert re.search(rf"^{verb} .*\b{s}->{t}\b", log, re.M), f"{s}->{t} not {verb}:\n{log[-3000:]}"
        assert re.findall(r"^trained ", log, re.M) == ["trained "], log[-3000:]
    for t, old in beams.items():
        new_beam = json.loads((work / RES / f"beam/{SIZE}/{t}.json").read_text())
        log = (work / f"logs/beam/{RUN}/{SIZE}/{t}.log").read_text()
        old_sets = {n for names in old["sets"].values() for n in names}
        for name in (n for names in new_beam["sets"].values() for n in names):
            pattern = rf"^reused \w+ for {re.escape(name)}->{t} " if name in old_sets else rf"^trained {re.escape(name)}->{t};"
            assert re.search(pattern, log, re.M), f"{name}->{t}: no line {pattern!r}:\n{log[-3000:]}"
    # the new transfers in and out exist
    assert all((work / RES / f"transfers/{SIZE}/{new}/{s}/losses.parquet").is_file() for s in SMOKE_CFG["tasks"])
    assert all((work / RES / f"transfers/{SIZE}/{t}/{new}/losses.parquet").is_file() for t in targets if t != new)
    assert plan(work, cfg) == set()


# ---------------------------------------------------------------- code is an input (issue 13)
@pytest.fixture
def code_copy(tmp_path):
    """(the package's source copied to a temporary folder, the environment that imports it):
    Snakemake and its jobs then run the copy, which a test may edit."""
    import taskonomy
    src = tmp_path / "src"
    shutil.copytree(Path(taskonomy.__file__).parent, src / "taskonomy",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))}
    return src / "taskonomy", env


def edit_line(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_full_code_edit_of_ahp_reruns_ahp_jobs_and_downstream_only(full, code_copy):
    pkg, env = code_copy
    assert plan(full, SMOKE_CFG, env=env) == set()            # the same code elsewhere: nothing
    ahp = pkg / "ahp.py"
    # a comment line or a blank line is not a code change
    edit_line(ahp, 'CLIP = (0.001, 0.999)\n', '# Laplace smoothing\n\nCLIP = (0.001, 0.999)\n')
    assert plan(full, SMOKE_CFG, env=env) == set()
    # a one-line change: every AHP job and what reads their tables; besides them only the two
    # evaluations that compute win rates with taskonomy.ahp's functions (Table 1, transitive)
    edit_line(ahp, 'CLIP = (0.001, 0.999)\n', 'CLIP = (0.001, 0.998)\n')
    targets = [t for t in SMOKE_CFG["tasks"] if t not in SMOKE_CFG["source_only"]]
    expected = ({job("ahp_target", size=SIZE, target=t) for t in targets} | downstream()
                | {job("eval_table1_run", size=SIZE)} | ({job("eval_transitive", size=SIZE)} if TRIPLES else set()))
    assert plan(full, SMOKE_CFG, env=env) == expected


def test_full_code_edit_of_the_renderer_reruns_data_and_everything_after_it(full, code_copy):
    pkg, env = code_copy
    every = plan(full, SMOKE_CFG, "--forceall", env=env)
    edit_line(pkg / "data" / "render.py", "import numpy as np\n", "import numpy as np\nEDITED = True\n")
    # everything but the jobs that read no data: the frozen random encoder and the comparisons
    # of the paper's own tables
    independent = {j for j in every if j.startswith(("random_encoder[", "eval_compare_reference[", "eval_tree_ari_reference["))}
    assert job("synth_data") in every and len(independent) == 3, independent
    assert plan(full, SMOKE_CFG, env=env) == every - independent
