# Stage II: transfer functions on cached representations, per transfer-data size. Every
# transfer is a declared output of exactly one job:
# - First order: one job per (size, source) (`transfers_from_<src>`) trains that source's
#   transfers to every target in one process (a Python + torch start costs more than a small
#   transfer), so editing one task reruns exactly the jobs whose source it is.
# - Higher orders: one job per (size, target) (`beam`) ranks the target's first-order sources on
#   their held-out losses (beam/<size>/<target>.json, so the higher-order sets are chosen
#   without the images AHP scores) and trains the sets the beam selects. Which rank positions
#   they combine is known before training (taskonomy.beam: all k-combinations of the top_k
#   for k <= top_k, then a beam), so their outputs are named by position,
#   transfers/<size>/<target>/top1+top2/, and the beam file maps positions to source sets
#   (Stage III reads it). No checkpoint: the whole DAG is known up front.
# - Every transfer writes per-image losses on the test split (losses.parquet, scored by Stage
#   III), on the transfer-split images it did not train on (heldout.parquet) and metrics.json.
# Transfer jobs share the group "transfers" so a cluster profile can bundle them.
# - Batching means a job reruns when any of its outputs is out of date (adding a task adds an
#   output to every transfers_from_* job and a source to every beam; editing a task reruns
#   every beam). With `transfer.reuse` (default) every transfer goes through the result store
#   under results/<run>/.store/transfers (taskonomy.transfer, keyed by settings, source order,
#   input hashes, code and torch version): the unchanged transfers of a rerun job are copied
#   back ("reused <key>" in the log), only the changed ones train; when the ranking changes,
#   a position's new source set is reused if it was trained before under another position.
#   The flag is not a param: it changes no result, so toggling it reruns nothing. Clean: rm
#   -rf results/<run>/.store


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
            metrics=[f"{RES}/transfers/{{size}}/{t}/{src}/metrics.json" for t in targets],
        log:
            f"logs/transfers_from/{src}/{{size}}.log",
        benchmark:
            f"benchmarks/transfers_from/{src}/{{size}}.tsv"
        wildcard_constraints:
            size=SIZES_RE,
        params:
            code=stage_code("taskonomy.transfer"),
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


rule beam:
    input:
        unpack(get_beam_inputs),
    output:
        beam=f"{RES}/beam/{{size}}/{{target}}.json",
        losses=[f"{RES}/transfers/{{size}}/{{target}}/{p}/losses.parquet" for p in HIGHER_POSITIONS],
        heldout=[f"{RES}/transfers/{{size}}/{{target}}/{p}/heldout.parquet" for p in HIGHER_POSITIONS],
        metrics=[f"{RES}/transfers/{{size}}/{{target}}/{p}/metrics.json" for p in HIGHER_POSITIONS],
    log:
        "logs/beam/{size}/{target}.log",
    benchmark:
        "benchmarks/beam/{size}/{target}.tsv"
    wildcard_constraints:
        target=TARGETS_RE,
        size=SIZES_RE,
    params:
        code=stage_code("taskonomy.transfer"),
        settings=get_transfer_settings,
        max_order=config["transfer"]["max_order"],
        top_k=config["transfer"]["top_k"],
        beam_width=config["transfer"]["beam_width"],
        train_higher=(f"--train-higher --reps {RES}/reps --targets {RES}/targets" if HIGHER_POSITIONS else ""),
    group:
        "transfers"
    threads: STAGE_RES["threads"]
    resources:
        mem_mb=STAGE_RES["transfer_mem_mb"],
        runtime=STAGE_RES["transfer_runtime"] * max(1, len(HIGHER_POSITIONS)),
        gpu=STAGE_RES["gpu"],
    shell:
        "{PY} -m taskonomy.transfer --rank --target {wildcards.target} --size {wildcards.size}"
        " --max-order {params.max_order} --top-k {params.top_k} --beam-width {params.beam_width}"
        " --inputs {input.first} --out {output.beam} {params.train_higher}"
        " --out-root {RES}/transfers/{wildcards.size} --settings '{params.settings}'"
        " --threads {threads} {TRANSFER_STORE} > {log} 2>&1"


# `snakemake stages_1_2`: everything of Stages I and II (task networks, baselines, all
# transfers and beams), without the later stages.
rule stages_1_2:
    input:
        get_stage1_targets,
        get_stage2_targets,


FINAL_TARGETS.append(get_stage2_targets)
