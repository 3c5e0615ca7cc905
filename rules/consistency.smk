# Cross-task consistency (Zamir et al., CVPR 2020): perceptual networks Y -> Z and direct
# networks rgb -> Z, RGB -> target trained without (baseline) and with k perceptual losses
# (consistency), and the consistency energy (val statistics, test scatter, real photographs).
# Settings: the `consistency:` section of config.yaml (taskonomy.consistency.settings).
# Final targets only when `consistency.enabled` is true.


rule consistency_perceptual:
    input:
        manifest=wf.manifest,
    output:
        model=f"{wf.cons_dir}/perceptual/{{y}}__{{z}}/model.pt",
        metrics=f"{wf.cons_dir}/perceptual/{{y}}__{{z}}/metrics.json",
    log:
        f"logs/consistency_perceptual/{wf.run}/{{y}}__{{z}}.log",
    benchmark:
        f"benchmarks/consistency_perceptual/{wf.run}/{{y}}__{{z}}.tsv"
    wildcard_constraints:
        y=f"rgb|{wf.patterns['cons_domain']}",
        z=wf.patterns["cons_domain"],
    conda:
        ENV
    threads: wf.resources["threads"]
    resources:
        mem_mb=wf.resources["train_mem_mb"],
        runtime=wf.resources["train_runtime"],
        gpu=wf.resources["gpu"],
    params:
        code=stage_code("taskonomy.consistency.perceptual"),
        settings=wf.perceptual_settings,
        data=wf.data_dir,
        out=wf.out_dir,
    shell:
        "python -m taskonomy.consistency.perceptual --y {wildcards.y} --z {wildcards.z} --data {params.data}"
        " --out {params.out} --settings '{params.settings}' --threads {threads} > {log} 2>&1"


rule consistency_baseline:
    input:
        manifest=wf.manifest,
    output:
        model=f"{wf.cons_dir}/{{target}}/baseline/model.pt",
        metrics=f"{wf.cons_dir}/{{target}}/baseline/metrics.json",
        losses=f"{wf.cons_dir}/{{target}}/baseline/losses.parquet",
    log:
        f"logs/consistency_baseline/{wf.run}/{{target}}.log",
    benchmark:
        f"benchmarks/consistency_baseline/{wf.run}/{{target}}.tsv"
    wildcard_constraints:
        target=wf.patterns["cons_target"],
    conda:
        ENV
    threads: wf.resources["threads"]
    resources:
        mem_mb=wf.resources["train_mem_mb"],
        runtime=wf.resources["train_runtime"],
        gpu=wf.resources["gpu"],
    params:
        code=stage_code("taskonomy.consistency.train"),
        settings=wf.cons_baseline_settings,
        data=wf.data_dir,
        out=wf.out_dir,
    shell:
        "python -m taskonomy.consistency.train --target {wildcards.target} --mode baseline"
        " --data {params.data} --out {params.out} --settings '{params.settings}' --threads {threads}"
        " > {log} 2>&1"


rule consistency_train:
    input:
        manifest=wf.manifest,
        perceptual=wf.perceptual_models,
    output:
        model=f"{wf.cons_dir}/{{target}}/consistency/model.pt",
        metrics=f"{wf.cons_dir}/{{target}}/consistency/metrics.json",
        losses=f"{wf.cons_dir}/{{target}}/consistency/losses.parquet",
    log:
        f"logs/consistency_train/{wf.run}/{{target}}.log",
    benchmark:
        f"benchmarks/consistency_train/{wf.run}/{{target}}.tsv"
    wildcard_constraints:
        target=wf.patterns["cons_target"],
    conda:
        ENV
    threads: wf.resources["threads"]
    resources:
        mem_mb=wf.resources["train_mem_mb"],
        runtime=wf.resources["train_runtime"],
        gpu=wf.resources["gpu"],
    params:
        code=stage_code("taskonomy.consistency.train"),
        settings=wf.cons_train_settings,
        data=wf.data_dir,
        out=wf.out_dir,
        perceptual=wf.perceptual_root,
    shell:
        "python -m taskonomy.consistency.train --target {wildcards.target} --mode consistency"
        " --data {params.data} --perceptual-dir {params.perceptual} --out {params.out}"
        " --settings '{params.settings}' --threads {threads} > {log} 2>&1"


rule consistency_ood_images:
    output:
        wf.cons_ood,
    log:
        f"logs/consistency_ood_images/{wf.run}/ood.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        code=stage_code("taskonomy.consistency.ood"),
        names=" ".join(wf.cons["ood_images"]),
        out=wf.out_dir,
    shell:
        "python -m taskonomy.consistency.ood --out {params.out} --names {params.names} > {log} 2>&1"


rule consistency_energy:
    input:
        manifest=wf.manifest,
        baseline=f"{wf.cons_dir}/{{target}}/baseline/model.pt",
        consistency=f"{wf.cons_dir}/{{target}}/consistency/model.pt",
        perceptual=wf.perceptual_models,
        direct=wf.direct_models,
        ood=wf.cons_ood,
    output:
        eval=f"{wf.cons_dir}/{{target}}/energy/eval.json",
        stats=f"{wf.cons_dir}/{{target}}/energy/stats.json",
        test=f"{wf.cons_dir}/{{target}}/energy/test.parquet",
        ood=f"{wf.cons_dir}/{{target}}/energy/ood.parquet",
        plot=f"{wf.cons_dir}/{{target}}/energy/energy.png",
    log:
        f"logs/consistency_energy/{wf.run}/{{target}}.log",
    benchmark:
        f"benchmarks/consistency_energy/{wf.run}/{{target}}.tsv"
    wildcard_constraints:
        target=wf.patterns["cons_target"],
    conda:
        ENV
    threads: wf.resources["threads"]
    resources:
        mem_mb=wf.resources["train_mem_mb"],
        runtime=wf.resources["transfer_runtime"],
        gpu=wf.resources["gpu"],
    params:
        code=stage_code("taskonomy.consistency.energy"),
        settings=wf.energy_settings,
        data=wf.data_dir,
        models=wf.models_root,
        ood_dir=wf.ood_root,
        out=wf.out_dir,
    shell:
        "python -m taskonomy.consistency.energy --target {wildcards.target} --data {params.data}"
        " --models {params.models} --ood-dir {params.ood_dir} --out {params.out}"
        " --settings '{params.settings}' --threads {threads} > {log} 2>&1"
