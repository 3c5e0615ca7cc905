# Stage II: transfer functions on cached representations, per transfer-data size.
# - First order: one job per (size, source) trains that source's transfers to every target in
#   one process (a Python + torch start costs more than a small transfer), so editing one
#   task reruns exactly the jobs whose source it is.
# - Every transfer writes per-image losses on the test split (losses.parquet, scored by Stage
#   III) and on the transfer-split images it did not train on (heldout.parquet).
# - A checkpoint per (size, target) ranks the first-order sources on their held-out losses, so
#   the higher-order sets are chosen without the images AHP scores (beam/<size>/<target>.json)
#   and trains the higher-order transfers the beam selects (all k-combinations of the top_k
#   sources for k <= top_k, then a beam) in the same process.
# - `transfer` makes any single transfer file by itself (e.g. one higher-order set again).
# Transfer jobs share the group "transfers" so a cluster profile can bundle them.
# - Batching means a job reruns when any of its outputs is out of date (adding a task adds an
#   output to every transfers_from_* job and a source to every beam; editing a task reruns
#   every beam). With `transfer.reuse` (default) every transfer goes through the result store
#   under results/<run>/.store/transfers (taskonomy.transfer, keyed by settings, source order,
#   input hashes, code and torch version): the unchanged transfers of a rerun job are copied
#   back ("reused <key>" in the log), only the changed ones train. The flag is not a param: it
#   changes no result, so toggling it reruns nothing. Clean: rm -rf results/<run>/.store


TRANSFER_STORE = (f"--store {RES}/.store/transfers" if config["transfer"].get("reuse", True) else "")


def _first_order_rule(src):
    """The rule that trains every first-order transfer from ``src``."""
    targets = [t for t in STAGE_TARGETS if t != src]
    if not targets:
        return

    rule:
        name:
            f"transfers_from_{src}"
        input:
            reps=[f"{RES}/reps/{src}/{sp}.npy" for sp in STAGE_SPLITS],
            targets=[f"{RES}/targets/{t}/{sp}.pt" for t in targets for sp in STAGE_SPLITS],
        output:
            losses=[f"{RES}/transfers/{{size}}/{t}/{src}/losses.parquet" for t in targets],
            heldout=[f"{RES}/transfers/{{size}}/{t}/{src}/heldout.parquet" for t in targets],
        log:
            f"logs/transfers_from/{src}/{{size}}.log",
        benchmark:
            f"benchmarks/transfers_from/{src}/{{size}}.tsv"
        wildcard_constraints:
            size=SIZES_RE,
        params:
            settings=first_order_settings(targets),
            source=src,
            targets=" ".join(targets),
        group:
            "transfers"
        threads: STAGE_RES["threads"]
        resources:
            mem_mb=STAGE_RES["transfer_mem_mb"],
            runtime=STAGE_RES["transfer_runtime"] * len(targets),
            gpu=STAGE_RES["gpu"],
        shell:
            "{PY} -m taskonomy.transfer --target {params.targets} --size {wildcards.size}"
            " --sources {params.source} --reps {RES}/reps --targets {RES}/targets"
            " --out-root {RES}/transfers/{wildcards.size} --settings '{params.settings}'"
            " --threads {threads} {TRANSFER_STORE} > {log} 2>&1"


for _src in STAGE_TASKS:
    _first_order_rule(_src)


rule transfer:
    input:
        unpack(get_transfer_inputs),
    output:
        losses=f"{RES}/transfers/{{size}}/{{target}}/{{sources}}/losses.parquet",
        heldout=f"{RES}/transfers/{{size}}/{{target}}/{{sources}}/heldout.parquet",
    log:
        "logs/transfer/{size}/{target}/{sources}.log",
    wildcard_constraints:
        target=TARGETS_RE,
        size=SIZES_RE,
        sources=HIGHER_SOURCE_SET_RE,
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
        " --settings '{params.settings}' --threads {threads} {TRANSFER_STORE} > {log} 2>&1"


checkpoint beam:
    input:
        unpack(get_beam_inputs),
    output:
        f"{RES}/beam/{{size}}/{{target}}.json",
    log:
        "logs/beam/{size}/{target}.log",
    benchmark:
        "benchmarks/beam/{size}/{target}.tsv"
    wildcard_constraints:
        target=TARGETS_RE,
        size=SIZES_RE,
    params:
        settings=get_transfer_settings,
        max_order=config["transfer"]["max_order"],
        top_k=config["transfer"]["top_k"],
        beam_width=config["transfer"]["beam_width"],
        train_higher=BEAM_TRAIN_FLAGS,
    group:
        "transfers"
    threads: STAGE_RES["threads"]
    resources:
        mem_mb=STAGE_RES["transfer_mem_mb"],
        runtime=STAGE_RES["transfer_runtime"] * 10,
        gpu=STAGE_RES["gpu"],
    shell:
        "{PY} -m taskonomy.transfer --rank --target {wildcards.target} --size {wildcards.size}"
        " --max-order {params.max_order} --top-k {params.top_k} --beam-width {params.beam_width}"
        " --inputs {input.first} --out {output} {params.train_higher}"
        " --out-root {RES}/transfers/{wildcards.size} --settings '{params.settings}'"
        " --threads {threads} {TRANSFER_STORE} > {log} 2>&1"


# `snakemake stages_1_2`: everything of Stages I and II (task networks, baselines, all
# transfers and beams), without the later stages.
rule stages_1_2:
    input:
        get_stage1_targets,
        get_stage2_targets,


FINAL_TARGETS.append(get_stage2_targets)
