# Stage I: one task network per task, the frozen random encoder, the baselines (scratch =
# the Gain reference "pixels", average = Table 1's statistically informed guess), and the
# caches Stage II reads (representations per source and split, labels per target and split).


rule train_task:
    input:
        manifest=wf.manifest,
    output:
        model=f"{RES}/tasks/{{task}}/model.pt",
        metrics=f"{RES}/tasks/{{task}}/metrics.json",
        losses=f"{RES}/tasks/{{task}}/losses.parquet",
    log:
        f"logs/train_task/{wf.run}/{{task}}.log",
    benchmark:
        f"benchmarks/train_task/{wf.run}/{{task}}.tsv"
    wildcard_constraints:
        task=wf.patterns["task"],
    conda:
        ENV
    threads: wf.resources["threads"]
    resources:
        mem_mb=wf.resources["train_mem_mb"],
        runtime=wf.resources["train_runtime"],
        gpu=wf.resources["gpu"],
    params:
        code=stage_code("taskonomy.train"),
        settings=wf.task_settings,
        data=wf.data_dir,
        out=wf.out_dir,
    shell:
        "python -m taskonomy.train --task {wildcards.task} --data {params.data} --out {params.out}"
        " --settings '{params.settings}' --threads {threads} > {log} 2>&1"


rule random_encoder:
    output:
        model=f"{RES}/tasks/random/model.pt",
        metrics=f"{RES}/tasks/random/metrics.json",
    log:
        f"logs/random_encoder/{wf.run}/random.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=wf.resources["transfer_mem_mb"],
        runtime=wf.resources["transfer_runtime"],
    params:
        code=stage_code("taskonomy.train"),
        settings=wf.random_settings,
        data=wf.data_dir,
        out=wf.out_dir,
    shell:
        "python -m taskonomy.train --task random --data {params.data} --out {params.out}"
        " --settings '{params.settings}' > {log} 2>&1"


rule scratch_baseline:
    input:
        manifest=wf.manifest,
    output:
        losses=f"{RES}/baselines/{{size}}/{{target}}/scratch/losses.parquet",
        metrics=f"{RES}/baselines/{{size}}/{{target}}/scratch/metrics.json",
    log:
        f"logs/scratch_baseline/{wf.run}/{{size}}/{{target}}.log",
    benchmark:
        f"benchmarks/scratch_baseline/{wf.run}/{{size}}/{{target}}.tsv"
    wildcard_constraints:
        target=wf.patterns["target"],
    conda:
        ENV
    threads: wf.resources["threads"]
    resources:
        mem_mb=wf.resources["train_mem_mb"],
        runtime=wf.resources["train_runtime"],
        gpu=wf.resources["gpu"],
    params:
        code=stage_code("taskonomy.train"),
        settings=wf.scratch_settings,
        data=wf.data_dir,
        out=wf.out_dir,
    shell:
        "python -m taskonomy.train --task {wildcards.target} --data {params.data} --out {params.out}"
        " --settings '{params.settings}' --threads {threads} > {log} 2>&1"


rule average_baseline:
    input:
        manifest=wf.manifest,
    output:
        losses=f"{RES}/baselines/{{target}}/average/losses.parquet",
        metrics=f"{RES}/baselines/{{target}}/average/metrics.json",
    log:
        f"logs/average_baseline/{wf.run}/{{target}}.log",
    wildcard_constraints:
        target=wf.patterns["target"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=wf.resources["transfer_mem_mb"],
        runtime=wf.resources["transfer_runtime"],
    params:
        code=stage_code("taskonomy.baselines"),
        data=wf.data_dir,
        out=wf.out_dir,
        # train.stream: both splits decoded per batch, as the task networks read them
        stream=wf.loader_args,
    shell:
        "python -m taskonomy.baselines --task {wildcards.target} --data {params.data} --out {params.out}"
        " {params.stream} --threads {threads} > {log} 2>&1"


rule encode:
    input:
        model=f"{RES}/tasks/{{source}}/model.pt",
        manifest=wf.manifest,
    output:
        wf.reps("{source}"),
    log:
        f"logs/encode/{wf.run}/{{source}}.log",
    wildcard_constraints:
        source=wf.patterns["encoded"],
    conda:
        ENV
    threads: wf.resources["threads"]
    resources:
        mem_mb=wf.resources["transfer_mem_mb"],
        runtime=wf.resources["transfer_runtime"],
    params:
        code=stage_code("taskonomy.encode"),
        data=wf.data_dir,
        splits=" ".join(wf.splits),
        dtype=wf.transfer["rep_dtype"],
        device=config["device"],
        workers=wf.num_workers,
    shell:
        "python -m taskonomy.encode --model {input.model} --data {params.data} --split {params.splits}"
        " --out {output} --dtype {params.dtype} --device {params.device} --num-workers {params.workers}"
        " --threads {threads} > {log} 2>&1"


# The paper's released encoder of a source (model.released_weights) instead of its training
# and rule encode: 256 px input, pooled to the run's representation grid (taskonomy.weights).
rule released_encoder:
    input:
        weights=wf.released_file,
        manifest=wf.manifest,
    output:
        wf.reps("{source}"),
    log:
        f"logs/released_encoder/{wf.run}/{{source}}.log",
    benchmark:
        f"benchmarks/released_encoder/{wf.run}/{{source}}.tsv"
    wildcard_constraints:
        source=wf.patterns["released"],
    conda:
        ENV
    threads: wf.resources["threads"]
    resources:
        # a ResNet-50 at 256 px over both splits: a training job's memory and time
        mem_mb=wf.resources["train_mem_mb"],
        runtime=wf.resources["train_runtime"],
        gpu=wf.resources["gpu"],
    params:
        code=stage_code("taskonomy.weights"),
        data=wf.data_dir,
        splits=" ".join(wf.splits),
        model=wf.encoder_settings,
        dtype=wf.transfer["rep_dtype"],
        device=config["device"],
        workers=wf.num_workers,
    shell:
        "python -m taskonomy.weights encode --weights {input.weights} --task {wildcards.source}"
        " --data {params.data} --split {params.splits} --out {output} --model '{params.model}'"
        " --dtype {params.dtype} --device {params.device} --num-workers {params.workers}"
        " --threads {threads} > {log} 2>&1"


rule cache_targets:
    input:
        manifest=wf.manifest,
    output:
        wf.labels("{target}"),
    log:
        f"logs/cache_targets/{wf.run}/{{target}}.log",
    wildcard_constraints:
        target=wf.patterns["target"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=wf.resources["transfer_mem_mb"],
        runtime=wf.resources["transfer_runtime"],
    params:
        code=stage_code("taskonomy.encode"),
        data=wf.data_dir,
        splits=" ".join(wf.splits),
        workers=wf.num_workers,
    shell:
        "python -m taskonomy.encode --targets --task {wildcards.target} --data {params.data}"
        " --split {params.splits} --out {output} --num-workers {params.workers}"
        " --threads {threads} > {log} 2>&1"
