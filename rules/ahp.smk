# Stage III: per target and transfer-data size, the tournament matrix and AHP vector (one job
# per target, so a change to one target's transfers recomputes only that target), then the
# tables of all targets in the paper's schema:
#   results/<run>/tournaments/<size>/<target>.npz
#   results/<run>/ahp/<size>/<target>.csv (+ .wins_vs_task.csv, .wins_vs_pixels.csv)
#   results/<run>/tables/<size>/{affinity,wins_vs_task,wins_vs_pixels}.csv
# Which source sets a target's higher-order transfers stand for is in Stage II's beam file
# (ahp_transfer_sets in rules/common.smk, which holds the input functions and SIZES/AHP_TARGETS).

FINAL_TARGETS.append(get_ahp_final_targets)


rule ahp_target:
    input:
        transfers=get_ahp_transfer_losses,
        own=f"{RES}/tasks/{{target}}/losses.parquet",
        pixels=get_ahp_scratch_losses,
        # names the source sets of the higher-order transfers (folders named by rank position)
        beam=f"{RES}/beam/{{size}}/{{target}}.json",
    output:
        npz=f"{RES}/tournaments/{{size}}/{{target}}.npz",
        csv=f"{RES}/ahp/{{size}}/{{target}}.csv",
        quality=f"{RES}/ahp/{{size}}/{{target}}{QUALITY_SUFFIX}",
        gain=f"{RES}/ahp/{{size}}/{{target}}{GAIN_SUFFIX}",
    wildcard_constraints:
        target="|".join(AHP_TARGETS),
        size="|".join(SIZES),
    log:
        f"logs/ahp_target/{RUN}/{{size}}/{{target}}.log",
    benchmark:
        f"benchmarks/ahp_target/{RUN}/{{size}}/{{target}}.tsv"
    params:
        code=stage_code("taskonomy.ahp"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "{PY} -m taskonomy.ahp target {wildcards.target} --transfers {input.transfers}"
        " --beam {input.beam} --self {input.own} --pixels {input.pixels} --npz {output.npz} --csv {output.csv}"
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
        code=stage_code("taskonomy.ahp"),
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
