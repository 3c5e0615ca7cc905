# Stage II predicted before it trains (taskonomy.proxy): per (size, target) a closed-form
# ridge / discriminant readout of every source's cached representation, fitted on the images a
# transfer of the target trains on and scored per image on the transfer split's held-out images
# (never the test images Stage III scores), then the same AHP as Stage III:
#   results/<run>/proxy/<size>/<target>/{scores.json,losses.parquet,tournament.npz,ahp.csv,...}
#   results/<run>/proxy/<size>/tables/{affinity,wins_vs_task}.csv   the paper's schema, no Gain
#   results/<run>/proxy/<size>/compare.json                        proxy vs trained table
# Not part of `all`: `snakemake proxy` builds it (bench/proxy.md: how far it tracks Stage II).


rule proxy_target:
    input:
        unpack(wf.proxy_inputs),
    output:
        scores=wf.proxy_outputs()["scores"],
        losses=wf.proxy_outputs()["losses"],
        npz=wf.proxy_outputs()["npz"],
        csv=wf.proxy_outputs()["csv"],
        quality=wf.proxy_outputs()["quality"],
    log:
        f"logs/proxy_target/{wf.run}/{{size}}/{{target}}.log",
    benchmark:
        f"benchmarks/proxy_target/{wf.run}/{{size}}/{{target}}.tsv"
    wildcard_constraints:
        target=wf.patterns["target"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=wf.resources["transfer_mem_mb"],
        runtime=wf.resources["transfer_runtime"],
    params:
        code=stage_code("taskonomy.proxy"),
        settings=wf.proxy_settings,
        sources=wf.proxy_sources,
        max_order=wf.transfer["max_order"],
        top_k=wf.transfer["top_k"],
        beam_width=wf.transfer["beam_width"],
        reps=wf.reps_root,
        labels=wf.labels_root,
        out=wf.out_dir,
    shell:
        "python -m taskonomy.proxy --target {wildcards.target} --size {wildcards.size}"
        " --sources {params.sources} --reps {params.reps} --targets {params.labels}"
        " --settings '{params.settings}' --max-order {params.max_order} --top-k {params.top_k}"
        " --beam-width {params.beam_width} --threads {threads} --out {params.out} > {log} 2>&1"


rule proxy_gather:
    input:
        ahp=wf.proxy_per_target("csv"),
        quality=wf.proxy_per_target("quality"),
    output:
        affinity=wf.proxy_tables()["affinity"],
        quality=wf.proxy_tables()["quality"],
    log:
        f"logs/proxy_gather/{wf.run}/{{size}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=stage_code("taskonomy.proxy"),
        out_dir=wf.out_dir,
    shell:
        "python -m taskonomy.proxy --gather {input.ahp} --out {params.out_dir} > {log} 2>&1"


rule proxy_compare:
    input:
        proxy=wf.proxy_tables()["affinity"],
        trained=wf.tables()["affinity"],
    output:
        json=f"{wf.proxy_dir()}/compare.json",
    log:
        f"logs/proxy_compare/{wf.run}/{{size}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=stage_code("taskonomy.supervision.compare"),
        budget=wf.taxo["default_budget"],
        order=wf.taxo["default_order"],
        source_only=wf.source_only,
    shell:
        "python -m taskonomy.supervision.compare {input.proxy} {input.trained} --budgets {params.budget}"
        " --max-order {params.order} --source-only {params.source_only} --out {output.json} > {log} 2>&1"


# `snakemake proxy`: the proxy tables of every size and their comparison with the trained ones.
rule proxy:
    input:
        wf.proxy_targets(),
