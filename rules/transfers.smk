# Stage II: transfer functions on cached representations, per transfer-data size. Every
# transfer is the declared output of exactly one job (the whole DAG is known up front):
# - First order: one job per (source, size), `transfers_from_<source>_<size>`, trains that
#   source's transfers to every target in one process (a Python + torch start costs more than
#   a small transfer), so editing one task reruns exactly the jobs whose source it is. Outputs
#   differ per source (a task is never its own target), hence generated rules, the workflow's
#   only ones; one per size too, so their outputs hold no wildcard: Snakemake finds the
#   producer of a transfer file by its path's constant prefix, and thousands of patterns
#   sharing "transfers/{size}/" made that the slowest part of the DAG (bench/dag.md).
# - Higher orders: one job per (size, target), `beam`, ranks the target's first-order sources
#   on their held-out losses (beam/<size>/<target>.json: the higher-order sets are chosen
#   without the images AHP scores) and trains the sets the beam selects. Which rank positions
#   they combine is known before training (taskonomy.beam: all k-combinations of the top_k
#   for k <= top_k, then a beam), so they are named by position,
#   transfers/<size>/<target>/top1+top2/, and the beam file maps positions to source sets.
# - Every transfer writes per-image losses on the test split (losses.parquet, scored by Stage
#   III), on the transfer-split images it did not train on (heldout.parquet) and metrics.json.
# - Batching means a job reruns when any of its outputs is out of date (adding a task adds an
#   output to every transfers_from_* job and a source to every beam; editing a task reruns
#   every beam). With `transfer.reuse` (default) every transfer goes through the result store
#   results/<run>/.store/transfers (taskonomy.transfer, keyed by settings, source order, input
#   hashes, code and torch version): the unchanged transfers of a rerun job are copied back
#   ("reused <key>" in its log), only changed ones train; when the ranking changes, a
#   position's new source set is reused if it was trained before under another position. The
#   flag is a job resource, not a param: it changes no result, so toggling it reruns nothing.
# - The transitive chains s -> t1 -> t2 (config evaluation.transitive) train here too; their
#   check is an evaluation (rules/evaluate.smk).
# - `transfer.prune: {top: m}` (off by default, bench/proxy.md): a first-order job reads the
#   Stage II proxy's ranking of each of its targets (rules/proxy.smk) and trains only those
#   whose m best sources it is; the others get an empty stand-in that the beam does not rank
#   and Stage III leaves out (taskonomy.transfer.write_pruned).
# Transfer jobs share the group "transfers" so a cluster profile can bundle them.


for source, size in wf.first_order_jobs():

    rule:
        name:
            f"transfers_from_{source}_{size}"
        input:
            reps=wf.reps(source),
            labels=[p for t in wf.targets_of(source) for p in wf.labels(t)],
            proxy=wf.prune_inputs(source, size),
        output:
            losses=wf.first_order_outputs(source, size, "losses"),
            heldout=wf.first_order_outputs(source, size, "heldout"),
            metrics=wf.first_order_outputs(source, size, "metrics"),
        log:
            f"logs/transfers_from/{wf.run}/{source}/{size}.log",
        benchmark:
            f"benchmarks/transfers_from/{wf.run}/{source}/{size}.tsv"
        group:
            wf.group("transfers")
        conda:
            ENV
        threads: wf.resources["threads"]
        resources:
            mem_mb=wf.resources["transfer_mem_mb"],
            runtime=wf.resources["transfer_runtime"] * len(wf.targets_of(source)),
            gpu=wf.resources["gpu"],
            transfer_reuse=wf.reuse,
        params:
            code=stage_code("taskonomy.transfer"),
            settings=wf.first_order_settings(source, size),
            source=source,
            size=size,
            targets=" ".join(wf.targets_of(source)),
            reps=wf.reps_root,
            labels=wf.labels_root,
            out_root=wf.transfers_root,
            store=wf.store,
            prune=wf.prune_args(source, size),
        shell:
            "python -m taskonomy.transfer --target {params.targets} --size {params.size}"
            " --sources {params.source} --reps {params.reps} --targets {params.labels}"
            " --out-root {params.out_root} --settings '{params.settings}' --threads {threads}"
            " --store {params.store} --reuse {resources.transfer_reuse} {params.prune} > {log} 2>&1"


rule beam:
    input:
        unpack(wf.beam_inputs),
    output:
        beam=f"{RES}/beam/{{size}}/{{target}}.json",
        losses=wf.higher_outputs("losses"),
        heldout=wf.higher_outputs("heldout"),
        metrics=wf.higher_outputs("metrics"),
    log:
        f"logs/beam/{wf.run}/{{size}}/{{target}}.log",
    benchmark:
        f"benchmarks/beam/{wf.run}/{{size}}/{{target}}.tsv"
    wildcard_constraints:
        target=wf.patterns["target"],
    group:
        wf.group("transfers")
    conda:
        ENV
    threads: wf.resources["threads"]
    resources:
        mem_mb=wf.resources["transfer_mem_mb"],
        runtime=wf.resources["transfer_runtime"] * max(1, len(wf.positions)),
        gpu=wf.resources["gpu"],
        transfer_reuse=wf.reuse,
    params:
        code=stage_code("taskonomy.transfer"),
        settings=wf.transfer_settings,
        max_order=wf.transfer["max_order"],
        top_k=wf.transfer["top_k"],
        beam_width=wf.transfer["beam_width"],
        higher=wf.higher_flags,
        store=wf.store,
    shell:
        "python -m taskonomy.transfer --rank --target {wildcards.target} --size {wildcards.size}"
        " --max-order {params.max_order} --top-k {params.top_k} --beam-width {params.beam_width}"
        " --inputs {input.heldout} --out {output.beam} {params.higher} --settings '{params.settings}'"
        " --threads {threads} --store {params.store} --reuse {resources.transfer_reuse} > {log} 2>&1"


rule transitive_reps:
    input:
        reps=wf.reps("{source}"),
        labels=wf.labels("{via}"),
        first=f"{RES}/transfers/{{size}}/{{via}}/{{source}}/losses.parquet",
    output:
        reps=wf.chained_reps(),
        readout=f"{RES}/transitive/{{size}}/{{source}}/reps/{{via}}/readout.pt",
        info=f"{RES}/transitive/{{size}}/{{source}}/reps/{{via}}/readout.json",
    log:
        f"logs/transitive_reps/{wf.run}/{{size}}/{{source}}/{{via}}.log",
    benchmark:
        f"benchmarks/transitive_reps/{wf.run}/{{size}}/{{source}}/{{via}}.tsv"
    wildcard_constraints:
        source=wf.patterns["source"],
        via=wf.patterns["target"],
    group:
        wf.group("transfers")
    conda:
        ENV
    threads: wf.resources["threads"]
    resources:
        mem_mb=wf.resources["transfer_mem_mb"],
        runtime=wf.resources["transfer_runtime"] * 2,
        gpu=wf.resources["gpu"],
    params:
        code=stage_code("taskonomy.transfer", via="taskonomy.evaluation.transitive"),
        settings=wf.via_settings,
        rep_dtype=wf.transfer["rep_dtype"],
        reps=wf.reps_root,
        labels=wf.labels_root,
        out=wf.out_dir,
    shell:
        "python -m taskonomy.evaluation.transitive reps --source {wildcards.source} --via {wildcards.via}"
        " --size {wildcards.size} --reps {params.reps} --targets {params.labels}"
        " --first-order {input.first} --out {params.out} --settings '{params.settings}'"
        " --rep-dtype {params.rep_dtype} --threads {threads} > {log} 2>&1"


rule transitive_transfer:
    input:
        reps=wf.chained_reps(),
        labels=wf.labels("{target}"),
    output:
        losses=f"{wf.chained_transfer()}/losses.parquet",
        metrics=f"{wf.chained_transfer()}/metrics.json",
    log:
        f"logs/transitive_transfer/{wf.run}/{{size}}/{{source}}/{{target}}/{{via}}.log",
    benchmark:
        f"benchmarks/transitive_transfer/{wf.run}/{{size}}/{{source}}/{{target}}/{{via}}.tsv"
    wildcard_constraints:
        source=wf.patterns["source"],
        via=wf.patterns["target"],
        target=wf.patterns["target"],
    group:
        wf.group("transfers")
    conda:
        ENV
    threads: wf.resources["threads"]
    resources:
        mem_mb=wf.resources["transfer_mem_mb"],
        runtime=wf.resources["transfer_runtime"],
        gpu=wf.resources["gpu"],
    params:
        code=stage_code("taskonomy.transfer", via="taskonomy.evaluation.transitive"),
        # the direct s -> t2 transfer's settings: same images, schedule and seed
        settings=wf.transfer_settings,
        chained=wf.chained_reps_root,
        labels=wf.labels_root,
        out=wf.out_dir,
    shell:
        "python -m taskonomy.evaluation.transitive transfer --source {wildcards.source}"
        " --via {wildcards.via} --target {wildcards.target} --size {wildcards.size}"
        " --chained-reps {params.chained} --targets {params.labels} --out {params.out}"
        " --settings '{params.settings}' --threads {threads} > {log} 2>&1"


# `snakemake stages_1_2`: everything of Stages I and II (task networks, baselines, all
# transfers and beams), without the later stages.
rule stages_1_2:
    input:
        wf.stage1_targets(),
        wf.stage2_targets(),
