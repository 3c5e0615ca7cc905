# Stage II: every first-order transfer source -> target per transfer-data size, a checkpoint
# per (size, target) ranking the first-order sources (beam/<size>/<target>.json), which
# decides the higher-order transfers (all k-combinations of the top_k sources for k <= top_k,
# then a beam). Transfers train on cached representations; many small jobs share the group
# "transfers" so that a cluster sees a few big jobs (profile: group-components).


rule transfer:
    input:
        unpack(get_transfer_inputs),
    output:
        losses=f"{RES}/transfers/{{size}}/{{target}}/{{sources}}/losses.parquet",
        metrics=f"{RES}/transfers/{{size}}/{{target}}/{{sources}}/metrics.json",
    log:
        "logs/transfer/{size}/{target}/{sources}.log",
    wildcard_constraints:
        target=TARGETS_RE,
        size=SIZES_RE,
        sources=SOURCE_SET_RE,
    params:
        settings=get_transfer_settings,
        out=get_out_dir,
    group:
        "transfers"
    threads: STAGE_RES["threads"]
    resources:
        mem_mb=STAGE_RES["transfer_mem_mb"],
        runtime=STAGE_RES["transfer_runtime"],
        gpu=STAGE_RES["gpu"],
    shell:
        "{PY} -m taskonomy.transfer --target {wildcards.target} --size {wildcards.size}"
        " --sources {wildcards.sources} --reps {RES}/reps --targets {RES}/targets --out {params.out}"
        " --settings '{params.settings}' --threads {threads} > {log} 2>&1"


checkpoint beam:
    input:
        get_first_order_losses,
    output:
        f"{RES}/beam/{{size}}/{{target}}.json",
    log:
        "logs/beam/{size}/{target}.log",
    wildcard_constraints:
        target=TARGETS_RE,
        size=SIZES_RE,
    params:
        max_order=config["transfer"]["max_order"],
        top_k=config["transfer"]["top_k"],
        beam_width=config["transfer"]["beam_width"],
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "{PY} -m taskonomy.transfer --rank --target {wildcards.target} --size {wildcards.size}"
        " --max-order {params.max_order} --top-k {params.top_k} --beam-width {params.beam_width}"
        " --inputs {input} --out {output} > {log} 2>&1"


FINAL_TARGETS.append(get_stage2_targets)


rule transfer_summary:
    input:
        first=get_first_order_losses,
        higher=get_higher_order_losses,
    output:
        f"{RES}/beam/{{size}}/{{target}}.summary.json",
    log:
        "logs/transfer_summary/{size}/{target}.log",
    wildcard_constraints:
        target=TARGETS_RE,
        size=SIZES_RE,
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "{PY} -m taskonomy.transfer --summary --target {wildcards.target} --size {wildcards.size}"
        " --inputs {input} --out {output} > {log} 2>&1"


# `snakemake stages_1_2`: everything of Stages I and II (task networks, baselines, all
# transfers and beams), without the later stages.
rule stages_1_2:
    input:
        get_stage1_targets,
        get_stage2_targets,
