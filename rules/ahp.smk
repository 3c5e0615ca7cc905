# Stage III: per target and transfer-data size, the tournament matrix and AHP vector (one job
# per target, so a change to one target's transfers recomputes only that target), then the
# tables of all targets in the paper's schema:
#   results/<run>/tournaments/<size>/<target>.npz
#   results/<run>/ahp/<size>/<target>.csv (+ .wins_vs_task.csv, .wins_vs_pixels.csv)
#   results/<run>/tables/<size>/{affinity,wins_vs_task,wins_vs_pixels}.csv
# Which source sets a target has is decided by Stage II's beam checkpoint: see
# ahp_transfer_sets below.
import json

from taskonomy.ahp import GAIN_SUFFIX, QUALITY_SUFFIX
from taskonomy.settings import transfer_common
from taskonomy.tasks import TASK_IDS, TASKS

SIZES = list(transfer_common(config)["sizes"])
# Targets: tasks that are not source-only and have an output (not the random projection).
AHP_TARGETS = [t for t in config["tasks"] if t not in config["source_only"] and TASKS[t].kind != "none"]


def ahp_transfer_sets(target, size):
    """Source-set names of every transfer to ``target`` at ``size`` (every order, random too).

    Stage II owns the answer: its ``beam`` checkpoint (rules/transfers.smk) writes
    beam/<size>/<target>.json with the first-order sources ``ranked`` and the higher-order
    ``sets`` of each order; a ``get_transfer_sets(target, size)`` function, if Stage II
    defines one, takes precedence. Without either (a results tree made elsewhere), the beam
    file is read directly.
    """
    if "get_transfer_sets" in globals():
        return list(get_transfer_sets(target, size))
    if hasattr(checkpoints, "beam"):
        path = checkpoints.beam.get(target=target, size=size).output[0]
    else:
        path = f"{RES}/beam/{size}/{target}.json"
    with open(path) as f:
        beam = json.load(f)
    sets = list(beam["ranked"])
    for k in sorted(beam.get("sets", {}), key=int):
        sets += beam["sets"][k]
    return sets


def ahp_scratch_losses(target, size):
    """The Gain reference ("pixels"): the scratch baseline on the transfer-size data, at the
    path of Stage I's rules (rules/common.smk get_stage1_targets)."""
    if "get_scratch_losses" in globals():
        return get_scratch_losses(target, size)
    return f"{RES}/baselines/{size}/{target}/scratch/losses.parquet"


def get_ahp_transfer_losses(wildcards):
    t, size = wildcards.target, wildcards.size
    return [f"{RES}/transfers/{size}/{t}/{s}/losses.parquet" for s in ahp_transfer_sets(t, size)]


def get_ahp_scratch_losses(wildcards):
    return ahp_scratch_losses(wildcards.target, wildcards.size)


def ahp_tables(size):
    return [f"{RES}/tables/{size}/{n}" for n in ("affinity.csv", "wins_vs_task.csv", "wins_vs_pixels.csv")]


def ahp_stage2_ready():
    """Stage III's final targets are asked for once Stage II says which transfers exist."""
    return "get_transfer_sets" in globals() or hasattr(checkpoints, "beam")


def get_ahp_final_targets(wildcards):
    return [p for size in SIZES for p in ahp_tables(size)] if ahp_stage2_ready() else []


FINAL_TARGETS.append(get_ahp_final_targets)


rule ahp_target:
    # separate named inputs (not one unpacked dict): while the beam checkpoint is pending, a
    # dry run still formats the shell line
    input:
        transfers=get_ahp_transfer_losses,
        own=f"{RES}/tasks/{{target}}/losses.parquet",
        pixels=get_ahp_scratch_losses,
    output:
        npz=f"{RES}/tournaments/{{size}}/{{target}}.npz",
        csv=f"{RES}/ahp/{{size}}/{{target}}.csv",
        quality=f"{RES}/ahp/{{size}}/{{target}}{QUALITY_SUFFIX}",
        gain=f"{RES}/ahp/{{size}}/{{target}}{GAIN_SUFFIX}",
    wildcard_constraints:
        target="|".join(TASK_IDS),
        size="|".join(SIZES),
    log:
        f"logs/ahp_target/{RUN}/{{size}}/{{target}}.log",
    benchmark:
        f"benchmarks/ahp_target/{RUN}/{{size}}/{{target}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "{PY} -m taskonomy.ahp target {wildcards.target} --transfers {input.transfers}"
        " --self {input.own} --pixels {input.pixels} --npz {output.npz} --csv {output.csv}"
        " > {log} 2>&1"


rule ahp_gather:
    input:
        ahp=expand(f"{RES}/ahp/{{{{size}}}}/{{target}}.csv", target=AHP_TARGETS),
        quality=expand(f"{RES}/ahp/{{{{size}}}}/{{target}}{QUALITY_SUFFIX}", target=AHP_TARGETS),
        gain=expand(f"{RES}/ahp/{{{{size}}}}/{{target}}{GAIN_SUFFIX}", target=AHP_TARGETS),
    output:
        affinity=f"{RES}/tables/{{size}}/affinity.csv",
        quality=f"{RES}/tables/{{size}}/wins_vs_task.csv",
        gain=f"{RES}/tables/{{size}}/wins_vs_pixels.csv",
    params:
        out_dir=f"{RES}/tables/{{size}}",
    wildcard_constraints:
        size="|".join(SIZES),
    log:
        f"logs/ahp_gather/{RUN}/{{size}}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "{PY} -m taskonomy.ahp gather --ahp {input.ahp} --out-dir {params.out_dir}"
        " > {log} 2>&1"
