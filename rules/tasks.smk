# Stage I: one task network per task, the frozen random encoder, the baselines (scratch =
# the Gain reference "pixels", average = Table 1's statistically informed guess), and the
# caches Stage II reads (representations per source and split, labels per target and split).
# Input functions and settings live in rules/common.smk ("Stage I / II" section).


rule train_task:
    input:
        manifest=DATA_MANIFEST,
    output:
        model=f"{RES}/tasks/{{task}}/model.pt",
        metrics=f"{RES}/tasks/{{task}}/metrics.json",
        losses=f"{RES}/tasks/{{task}}/losses.parquet",
    log:
        "logs/train_task/{task}.log",
    benchmark:
        "benchmarks/train_task/{task}.tsv"
    wildcard_constraints:
        task=TRAINED_TASKS_RE,
    params:
        code=stage_code("taskonomy.train"),
        settings=get_task_settings,
        out=get_out_dir,
    threads: STAGE_RES["threads"]
    resources:
        mem_mb=STAGE_RES["train_mem_mb"],
        runtime=STAGE_RES["train_runtime"],
        gpu=STAGE_RES["gpu"],
    shell:
        "{PY} -m taskonomy.train --task {wildcards.task} --data {DATA_ROOT} --out {params.out}"
        " --settings '{params.settings}' --threads {threads} > {log} 2>&1"


rule random_encoder:
    output:
        model=f"{RES}/tasks/random/model.pt",
        metrics=f"{RES}/tasks/random/metrics.json",
    log:
        "logs/random_encoder/random.log",
    params:
        code=stage_code("taskonomy.train"),
        settings=get_random_settings,
        out=get_out_dir,
    threads: 1
    resources:
        mem_mb=STAGE_RES["transfer_mem_mb"],
        runtime=STAGE_RES["transfer_runtime"],
    shell:
        "{PY} -m taskonomy.train --task random --data {DATA_ROOT} --out {params.out}"
        " --settings '{params.settings}' > {log} 2>&1"


rule scratch_baseline:
    input:
        manifest=DATA_MANIFEST,
    output:
        losses=f"{RES}/baselines/{{size}}/{{target}}/scratch/losses.parquet",
        metrics=f"{RES}/baselines/{{size}}/{{target}}/scratch/metrics.json",
    log:
        "logs/scratch_baseline/{size}/{target}.log",
    benchmark:
        "benchmarks/scratch_baseline/{size}/{target}.tsv"
    wildcard_constraints:
        target=TARGETS_RE,
        size=SIZES_RE,
    params:
        code=stage_code("taskonomy.train"),
        settings=get_scratch_settings,
        out=get_out_dir,
    threads: STAGE_RES["threads"]
    resources:
        mem_mb=STAGE_RES["train_mem_mb"],
        runtime=STAGE_RES["train_runtime"],
        gpu=STAGE_RES["gpu"],
    shell:
        "{PY} -m taskonomy.train --task {wildcards.target} --data {DATA_ROOT} --out {params.out}"
        " --settings '{params.settings}' --threads {threads} > {log} 2>&1"


rule average_baseline:
    input:
        manifest=DATA_MANIFEST,
    output:
        losses=f"{RES}/baselines/{{target}}/average/losses.parquet",
        metrics=f"{RES}/baselines/{{target}}/average/metrics.json",
    log:
        "logs/average_baseline/{target}.log",
    wildcard_constraints:
        target=TARGETS_RE,
    params:
        code=stage_code("taskonomy.baselines"),
        out=get_out_dir,
    threads: 1
    resources:
        mem_mb=STAGE_RES["transfer_mem_mb"],
        runtime=STAGE_RES["transfer_runtime"],
    shell:
        "{PY} -m taskonomy.baselines --task {wildcards.target} --data {DATA_ROOT} --out {params.out}"
        " --threads {threads} > {log} 2>&1"


rule encode:
    input:
        model=f"{RES}/tasks/{{source}}/model.pt",
        manifest=DATA_MANIFEST,
    output:
        [f"{RES}/reps/{{source}}/{split}.npy" for split in STAGE_SPLITS],
    log:
        "logs/encode/{source}.log",
    wildcard_constraints:
        source=SOURCES_RE,
    params:
        code=stage_code("taskonomy.encode"),
        splits=" ".join(STAGE_SPLITS),
        dtype=config["transfer"]["rep_dtype"],
        device=config["device"],
    threads: STAGE_RES["threads"]
    resources:
        mem_mb=STAGE_RES["transfer_mem_mb"],
        runtime=STAGE_RES["transfer_runtime"],
    shell:
        "{PY} -m taskonomy.encode --model {input.model} --data {DATA_ROOT} --split {params.splits}"
        " --out {output} --dtype {params.dtype} --device {params.device} --threads {threads} > {log} 2>&1"


rule cache_targets:
    input:
        manifest=DATA_MANIFEST,
    output:
        [f"{RES}/targets/{{target}}/{split}.pt" for split in STAGE_SPLITS],
    log:
        "logs/cache_targets/{target}.log",
    wildcard_constraints:
        target=TARGETS_RE,
    params:
        code=stage_code("taskonomy.encode"),
        splits=" ".join(STAGE_SPLITS),
    threads: 1
    resources:
        mem_mb=STAGE_RES["transfer_mem_mb"],
        runtime=STAGE_RES["transfer_runtime"],
    shell:
        "{PY} -m taskonomy.encode --targets --task {wildcards.target} --data {DATA_ROOT}"
        " --split {params.splits} --out {output} --threads {threads} > {log} 2>&1"


FINAL_TARGETS.append(get_stage1_targets)
