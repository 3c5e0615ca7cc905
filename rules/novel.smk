# Your own tasks (config `own_tasks`, taskonomy.owntask) and the all-for-one scenario (paper
# Sec. 4.2; taskonomy.evaluation.allforone), under results/<run>/own/<task>/:
# - own_task_check reads every label and image (a bad one is an error naming the file, before
#   anything trains) and writes the caches: targets/<task>/<split>.npz, images/<split>.pt;
# - own_task_reps (CSV tasks, whose images are new to the encoders) encodes them with every
#   source; a Taskonomy-layout task reads the run's representation caches instead;
# - own_task_transfers trains a transfer from every source, the beam and its higher orders
#   (named by rank position, as Stage II), through the run's transfer result store;
# - own_task_scratch trains the task's network from scratch on the same images (Gain);
# - own_task_ahp ranks the source sets with AHP (no `self`: no Quality);
# - own_task_report writes the ranking, Gain, best transfer per order and the BIP's policy
#   per budget (novel.json) and the figure (novel.png); `snakemake novel` builds them all.


rule own_task_check:
    input:
        unpack(wf.own_check_inputs),
    output:
        targets=wf.own_caches("targets"),
        images=wf.own_caches("images"),
        check=f"{RES}/own/{{own}}/check.json",
    log:
        f"logs/own_task_check/{wf.run}/{{own}}.log",
    wildcard_constraints:
        own=wf.patterns["own"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=wf.resources["transfer_mem_mb"],
        runtime=wf.resources["transfer_runtime"],
    params:
        code=stage_code("taskonomy.owntask"),
        spec=wf.own_spec,
        data=wf.data_dir,
        splits=" ".join(wf.splits),
        seed=wf.own_seed,
        test_share=wf.own_section["test_share"],
        out=wf.own_out,
    shell:
        "python -m taskonomy.owntask check --spec '{params.spec}' --data {params.data}"
        " --splits {params.splits} --seed {params.seed} --test-share {params.test_share}"
        " --out-dir {params.out} > {log} 2>&1"


rule own_task_reps:
    input:
        models=wf.own_encoders(),
        images=wf.own_caches("images"),
    output:
        wf.own_reps(),
    log:
        f"logs/own_task_reps/{wf.run}/{{own}}.log",
    wildcard_constraints:
        own=wf.patterns["own_csv"],
    conda:
        ENV
    threads: wf.resources["threads"]
    resources:
        mem_mb=wf.resources["transfer_mem_mb"],
        runtime=wf.resources["transfer_runtime"],
    params:
        code=stage_code("taskonomy.evaluation.allforone"),
        spec=wf.own_spec,
        sources=" ".join(wf.own_sources),
        splits=" ".join(wf.splits),
        images=wf.images_root,
        out_root=wf.parent_of_parent,
        released=" ".join(s for s in wf.own_sources if s in wf.released),
        model=wf.encoder_settings,
        dtype=wf.transfer["rep_dtype"],
        device=config["device"],
    shell:
        "python -m taskonomy.evaluation.allforone reps --spec '{params.spec}' --sources {params.sources}"
        " --models {input.models} --released {params.released} --model '{params.model}'"
        " --images {params.images} --splits {params.splits} --out-root {params.out_root}"
        " --dtype {params.dtype} --device {params.device} --threads {threads} > {log} 2>&1"


rule own_task_transfers:
    input:
        unpack(wf.own_transfer_inputs),
    output:
        losses=wf.own_transfer_outputs("losses"),
        heldout=wf.own_transfer_outputs("heldout"),
        metrics=wf.own_transfer_outputs("metrics"),
        train_log=wf.own_transfer_outputs("train"),
        beam=f"{RES}/own/{{own}}/beam.json",
    log:
        f"logs/own_task_transfers/{wf.run}/{{own}}.log",
    benchmark:
        f"benchmarks/own_task_transfers/{wf.run}/{{own}}.tsv"
    wildcard_constraints:
        own=wf.patterns["own"],
    group:
        wf.group("transfers")
    conda:
        ENV
    threads: wf.resources["threads"]
    resources:
        mem_mb=wf.resources["transfer_mem_mb"],
        runtime=wf.resources["transfer_runtime"] * (len(wf.own_sources) + len(wf.own_positions)),
        gpu=wf.resources["gpu"],
        transfer_reuse=wf.reuse,
    params:
        code=stage_code("taskonomy.evaluation.allforone"),
        spec=wf.own_spec,
        settings=wf.own_transfer_settings,
        sources=" ".join(wf.own_sources),
        reps=wf.reps_root,
        labels=wf.labels_root,
        out_root=wf.parent_of_parent,
        max_order=wf.transfer["max_order"],
        top_k=wf.transfer["top_k"],
        beam_width=wf.transfer["beam_width"],
        store=wf.store,
    shell:
        "python -m taskonomy.evaluation.allforone transfers --spec '{params.spec}'"
        " --settings '{params.settings}' --sources {params.sources} --reps {params.reps}"
        " --targets {params.labels} --out-root {params.out_root} --beam {output.beam}"
        " --max-order {params.max_order} --top-k {params.top_k} --beam-width {params.beam_width}"
        " --store {params.store} --threads {threads} > {log} 2>&1"


rule own_task_scratch:
    input:
        images=wf.own_caches("images"),
        labels=wf.own_caches("targets"),
    output:
        losses=f"{RES}/own/{{own}}/scratch/losses.parquet",
        metrics=f"{RES}/own/{{own}}/scratch/metrics.json",
        train_log=f"{RES}/own/{{own}}/scratch/train.jsonl",
    log:
        f"logs/own_task_scratch/{wf.run}/{{own}}.log",
    benchmark:
        f"benchmarks/own_task_scratch/{wf.run}/{{own}}.tsv"
    wildcard_constraints:
        own=wf.patterns["own"],
    conda:
        ENV
    threads: wf.resources["threads"]
    resources:
        mem_mb=wf.resources["train_mem_mb"],
        runtime=wf.resources["train_runtime"],
        gpu=wf.resources["gpu"],
    params:
        code=stage_code("taskonomy.evaluation.allforone"),
        spec=wf.own_spec,
        settings=wf.own_transfer_settings,
        images=wf.images_root,
        labels=wf.labels_root,
        out=wf.out_dir,
    shell:
        "python -m taskonomy.evaluation.allforone scratch --spec '{params.spec}'"
        " --settings '{params.settings}' --images {params.images} --targets {params.labels}"
        " --out {params.out} --threads {threads} > {log} 2>&1"


rule own_task_ahp:
    input:
        transfers=wf.own_transfer_outputs("losses"),
        beam=f"{RES}/own/{{own}}/beam.json",
        pixels=f"{RES}/own/{{own}}/scratch/losses.parquet",
    output:
        npz=wf.own_ahp()["npz"],
        csv=wf.own_ahp()["csv"],
        gain=wf.own_ahp()["gain"],
    log:
        f"logs/own_task_ahp/{wf.run}/{{own}}.log",
    wildcard_constraints:
        own=wf.patterns["own"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=stage_code("taskonomy.ahp"),
    shell:
        "python -m taskonomy.ahp target {wildcards.own} --transfers {input.transfers}"
        " --beam {input.beam} --pixels {input.pixels} --npz {output.npz} --csv {output.csv}"
        " > {log} 2>&1"


rule own_task_report:
    input:
        ahp=wf.own_ahp()["csv"],
        gain=wf.own_ahp()["gain"],
        check=f"{RES}/own/{{own}}/check.json",
    output:
        json=wf.own_report()["json"],
        png=report(wf.own_report()["png"], category="Own tasks", subcategory="{own}"),
    log:
        f"logs/own_task_report/{wf.run}/{{own}}.log",
    wildcard_constraints:
        own=wf.patterns["own"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=stage_code("taskonomy.evaluation.allforone"),
        spec=wf.own_spec,
        sources=" ".join(wf.own_sources),
        budgets=" ".join(map(str, wf.own_section["budgets"])),
        orders=wf.own_orders,
    shell:
        "python -m taskonomy.evaluation.allforone report --spec '{params.spec}' --ahp {input.ahp}"
        " --check {input.check} --sources {params.sources} --budgets {params.budgets}"
        " --orders {params.orders} --out {output.json} --plot {output.png} > {log} 2>&1"


# `snakemake novel`: the all-for-one scenario for every own task (nothing when none is declared)
rule novel:
    input:
        wf.novel_targets(),
