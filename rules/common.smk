# Shared by every rule file: config validation (first, before anything reads the config),
# paths, wildcard constraints and every input function.
import sys

from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

# Rules call the library through the interpreter that runs Snakemake, so a job uses the
# project's virtual environment whether it runs here or on a SLURM node.
PY = sys.executable
RUN = config["run"]
RES = f"results/{RUN}"

wildcard_constraints:
    table="paper-16k|paper-1k|paper",
    budget=r"\d+",
    order=r"\d+",


# Each rule file appends a function (wildcards -> list of paths) naming its final targets;
# `rule all` asks for all of them.
FINAL_TARGETS = []


def get_final_targets(wildcards):
    out = []
    for fn in FINAL_TARGETS:
        out.extend(fn(wildcards))
    return out


# ---- Stage I / II (rules/tasks.smk, rules/transfers.smk) ----------------------------------
import os

from taskonomy.settings import as_json, task_settings, transfer_settings
from taskonomy.tasks import TASKS as _TASKS, source_set_name

# The dataset Stages I-II read and its completeness marker (manifest.json is written last).
# The data stage may set DATA_ROOT before this; otherwise the embedded synthetic default.
DATA_ROOT = globals().get("DATA_ROOT") or "data/synth"
DATA_MANIFEST = f"{DATA_ROOT}/manifest.json"
STAGE_RES = config["resources"]
STAGE_TASKS = list(config["tasks"])
STAGE_TARGETS = [t for t in STAGE_TASKS if t not in config["source_only"] and _TASKS[t].kind != "none"]
STAGE_SIZES = list(config["transfer"]["sizes"])
TRAINED_TASKS_RE = "|".join(t for t in STAGE_TASKS if t != "random")
TARGETS_RE = "|".join(STAGE_TARGETS)
SOURCES_RE = "|".join(STAGE_TASKS)
SIZES_RE = "|".join(STAGE_SIZES)
SOURCE_SET_RE = rf"({SOURCES_RE})(\+({SOURCES_RE}))*"


def get_out_dir(wildcards, output):
    return os.path.dirname(output[0])


def get_task_settings(wildcards):
    return as_json(task_settings(config, wildcards.task))


def get_random_settings(wildcards):
    return as_json(task_settings(config, "random"))


def get_scratch_settings(wildcards):
    from taskonomy.train import scratch_settings
    return as_json(scratch_settings(transfer_settings(config, wildcards.target, wildcards.size)))


def get_transfer_settings(wildcards):
    return as_json(transfer_settings(config, wildcards.target, wildcards.size))


def first_order_sources(target):
    return [s for s in STAGE_TASKS if s != target]


def get_transfer_inputs(wildcards):
    splits = (config["transfer"]["train_split"], config["transfer"]["eval_split"])
    sources = wildcards.sources.split("+")
    return {
        "reps": [f"{RES}/reps/{s}/{sp}.npy" for s in sources for sp in splits],
        "targets": [f"{RES}/targets/{wildcards.target}/{sp}.pt" for sp in splits],
    }


def get_first_order_losses(wildcards):
    return [f"{RES}/transfers/{wildcards.size}/{wildcards.target}/{s}/losses.parquet"
            for s in first_order_sources(wildcards.target)]


def get_stage1_targets(wildcards):
    out = [f"{RES}/tasks/{t}/losses.parquet" for t in STAGE_TASKS if t != "random"]
    out += [f"{RES}/baselines/{t}/average/losses.parquet" for t in STAGE_TARGETS]
    out += [f"{RES}/baselines/{s}/{t}/scratch/losses.parquet" for s in STAGE_SIZES for t in STAGE_TARGETS]
    return out


def get_higher_order_losses(wildcards):
    """Higher-order transfers of one (size, target), read from its beam checkpoint."""
    import json
    with open(checkpoints.beam.get(size=wildcards.size, target=wildcards.target).output[0]) as f:
        sets = json.load(f)["sets"]
    return [f"{RES}/transfers/{wildcards.size}/{wildcards.target}/{name}/losses.parquet"
            for names in sets.values() for name in names]


def get_stage2_targets(wildcards):
    """Per (size, target): the summary of all its transfers (which needs the beam, the
    first-order and the higher-order transfers). One aggregation rule per target lets
    Snakemake evaluate every target's beam checkpoint independently, in parallel."""
    return [f"{RES}/beam/{size}/{t}.summary.json" for size in STAGE_SIZES for t in STAGE_TARGETS]
