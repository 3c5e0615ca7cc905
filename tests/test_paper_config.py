"""config/paper.yaml, the paper's regime on the real release, planned through the slurm profile.

`snakemake --profile slurm --configfile paper.yaml -n` in a copy of the workflow: the dry run
needs no data (the first job, select_data, reads only the release's split file shipped with the
package), and no cluster (a dry run submits nothing). Checked: the paper's settings reach the
jobs (ResNet-50, 256 px, 16k and 1k, order 5), every training job asks for a GPU and no other
does, and the jobs and SLURM submissions are counted (one "Group job" or ungrouped rule block
per sbatch call, bench/slurm.py's count). ~15-30 s on 2 busy cores.
"""
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

import conftest

sys.path.append(str(Path(__file__).resolve().parents[1] / "bench"))
from slurm import count_submissions  # noqa: E402  (bench/slurm.py: one sbatch call per block)

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "config" / "paper.yaml"
# rules that train networks (Stage I, baselines, Stage II) / that must not hold a GPU
TRAINING = {"train_task", "scratch_baseline", "beam"}
NOT_GPU = {"select_data", "encode", "cache_targets", "average_baseline", "random_encoder", "ahp_target",
           "ahp_gather", "run_taxonomy", "run_summary", "paper_taxonomy"}


def job_blocks(log: str) -> tuple[Counter, Counter]:
    """(rule -> jobs listed, rule -> those whose resources ask for a GPU) of a dry run."""
    jobs, gpu = Counter(), Counter()
    rule = None
    for line in log.splitlines():
        if m := re.match(r"\s*(?:local)?rule (\w+):", line):
            rule = m.group(1)
            jobs[rule] += 1
        elif rule and line.lstrip().startswith("resources:") and re.search(r"\bgpu=[1-9]", line):
            gpu[rule] += 1
    return jobs, gpu


def test_paper_config_plans_the_paper_regime_on_gpus(tmp_path):
    cfg = yaml.safe_load(PAPER.read_text())
    assert cfg["model"]["encoder"] == "resnet50_taskonomy" and cfg["data"]["size"] == 256
    assert cfg["transfer"]["sizes"] == {"16k": 16000, "1k": 1000} and cfg["transfer"]["max_order"] == 5
    assert cfg["resources"]["gpu"] == 1 and not Path(cfg["data"]["root"]).exists()
    wf = conftest.copy_workflow(tmp_path)
    (wf / "paper.yaml").write_bytes(PAPER.read_bytes())
    os.symlink("profiles/slurm", wf / "slurm")
    proc = subprocess.run([str(conftest.SNAKEMAKE), "--profile", "slurm", "--configfile", "paper.yaml", "-n"],
                          cwd=wf, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))})
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    jobs = {r: int(n) for r, n in re.findall(r"^(\w+)\s+(\d+)$", log.split("Job stats:", 1)[1], re.M)}
    # 25 task networks; 22 targets x 2 sizes of scratch baselines and beams; 26 sources x 2 sizes
    assert jobs["train_task"] == 25 and jobs["scratch_baseline"] == 44 and jobs["beam"] == 44
    assert sum(n for r, n in jobs.items() if r.startswith("transfers_from_")) == 52
    assert jobs["select_data"] == 1 and "synth_data" not in jobs
    assert jobs["total"] == 364, jobs
    # the paper's settings reach the jobs: the selection at 256 px of the medium split
    assert re.search(r"taskonomy\.data\.cli select /data/taskonomy --out results/paper/data "
                     r"--split-file \S+train_val_test_medium\.csv --size 256", log)
    assert '"encoder":"resnet50_taskonomy"' in log and '"n":16000' in log and '"n":1000' in log
    assert re.search(r'taskonomy\.train --task normal .*"epochs":30.*"limit":120000', log)    # Stage I
    assert re.search(r'--sources normal .*"n":16000.*"epochs":30', log)                       # Stage II
    listed, gpu = job_blocks(log)
    training = TRAINING | {r for r in listed if r.startswith("transfers_from_")}
    assert all(gpu[r] == listed[r] == jobs[r] for r in training), {r: (gpu[r], listed[r]) for r in training}
    assert not any(gpu[r] for r in NOT_GPU), {r: gpu[r] for r in NOT_GPU}
    assert sum(gpu.values()) == sum(listed[r] for r in training)     # no other job holds a GPU
    subs = Counter()
    for kind, n in count_submissions(log).items():     # transfers_from_<source>_<size> as one kind
        subs[re.sub(r"^transfers_from_\w+_(16k|1k)$", "transfers_from", kind)] += n
    print(f"paper config: {jobs['total']} jobs in {sum(subs.values())} SLURM submissions: {dict(subs)}",
          file=sys.stderr)
    assert subs["train_task"] == 25 and subs["group inputs"] == 1 and subs["group paper"] == 1
    assert subs["group scratch"] == 11 and subs["group beams"] == 11        # chunks of 4
    # 105 in a dry run, where the 52 first-order jobs show ungrouped: rules/common.smk decides
    # wf.grouped at parse time, before the profile's group settings, and a dry run counts as
    # local (bench/slurm.md); a real slurm run groups them 4 per submission (66)
    assert sum(subs.values()) <= 105, subs


def test_jobs_read_the_data_through_a_selection_only_when_asked():
    from taskonomy.config import load_config, validate
    from taskonomy.workflow import Workflow
    default = Workflow(load_config(ROOT / "config.yaml"))
    assert not default.select and default.data_dir(None) == "data/synth" == default.dataset
    assert default.manifest == default.synth_manifest == "data/synth/manifest.json"
    paper = Workflow(load_config(PAPER))
    assert paper.select and paper.data_dir(None) == "results/paper/data"
    (csv,) = paper.select_inputs(None)
    assert Path(csv).name == "train_val_test_medium.csv" and Path(csv).is_file()
    assert paper.select_args(None) == f"--split-file {csv} --size 256"
    # an exclusion list on the synthetic data: the selection reads the rendered manifest
    cfg = load_config(ROOT / "config.yaml")
    cfg["data"]["exclude"] = "bad.txt"
    synth = Workflow(validate(cfg))
    assert synth.select_inputs(None) == ["data/synth/manifest.json", "bad.txt"]
    assert synth.select_args(None) == "--exclude bad.txt"


def _overlay(base: dict, over: dict) -> dict:
    """``over`` merged into ``base`` key by key, as Snakemake merges --configfile files."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _overlay(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def test_fidelity_overlay_renders_its_own_rooms_into_its_own_run():
    """config/fidelity.yaml over config.yaml: 3x the rooms, into folders of its own (the
    default run's data and results are not touched), everything else the default's."""
    from taskonomy.config import validate
    from taskonomy.workflow import Workflow
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    over = yaml.safe_load((ROOT / "config" / "fidelity.yaml").read_text())
    default, fid = Workflow(validate(dict(base))), Workflow(validate(_overlay(base, over)))
    assert fid.synth["buildings"] == 3 * default.synth["buildings"]
    assert fid.synth_manifest != default.synth_manifest and fid.res != default.res
    assert fid.config["train"] == default.config["train"]        # same schedule: 3x the steps
    assert fid.config["transfer"] == default.config["transfer"]
    assert fid.tasks == default.tasks
