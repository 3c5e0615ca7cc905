# Cross-task consistency (Zamir et al., CVPR 2020): perceptual networks Y -> Z and direct
# networks rgb -> Z, RGB -> target trained without (baseline) and with k perceptual losses
# (consistency), and the consistency energy (val statistics, test scatter, real photographs).
# Settings: the `consistency:` section of config.yaml (taskonomy.consistency.settings).
# Final targets only when `consistency.enabled` is true.
from taskonomy.consistency.settings import (PERCEPTUAL_DOMAINS as _CONS_DOMAINS, energy_settings,
                                            perceptual_settings, section as _cons_section,
                                            target_settings)

CONS = _cons_section(config)
CONS_DIR = f"{RES}/consistency"
CONS_TARGETS = sorted(CONS["targets"])
_cons_doms = sorted(set(_CONS_DOMAINS) | set(CONS_TARGETS) | {z for zs in CONS["targets"].values() for z in zs})
CONS_DOMAIN_RE = "|".join(_cons_doms)
CONS_TARGET_RE = "|".join(CONS_TARGETS) or "^$"


def cons_perceptual_models(target):
    return [f"{CONS_DIR}/perceptual/{target}__{z}/model.pt" for z in CONS["targets"][target]]


def cons_direct_models(target):
    return [f"{CONS_DIR}/perceptual/rgb__{z}/model.pt" for z in CONS["targets"][target]]


CONS_OOD = [f"{CONS_DIR}/ood/{n}.png" for n in CONS["ood_images"]]


rule consistency_perceptual:
    input:
        manifest=DATA_MANIFEST,
    output:
        model=f"{CONS_DIR}/perceptual/{{y}}__{{z}}/model.pt",
        metrics=f"{CONS_DIR}/perceptual/{{y}}__{{z}}/metrics.json",
    log:
        "logs/consistency_perceptual/{y}__{z}.log",
    benchmark:
        "benchmarks/consistency_perceptual/{y}__{z}.tsv"
    wildcard_constraints:
        y=f"rgb|{CONS_DOMAIN_RE}",
        z=CONS_DOMAIN_RE,
    params:
        code=stage_code("taskonomy.consistency.perceptual"),
        settings=lambda w: as_json(perceptual_settings(config, w.y, w.z)),
        out=get_out_dir,
    threads: STAGE_RES["threads"]
    resources:
        mem_mb=STAGE_RES["train_mem_mb"],
        runtime=STAGE_RES["train_runtime"],
        gpu=STAGE_RES["gpu"],
    shell:
        "{PY} -m taskonomy.consistency.perceptual --y {wildcards.y} --z {wildcards.z} --data {DATA_ROOT}"
        " --out {params.out} --settings '{params.settings}' --threads {threads} > {log} 2>&1"


rule consistency_baseline:
    input:
        manifest=DATA_MANIFEST,
    output:
        model=f"{CONS_DIR}/{{target}}/baseline/model.pt",
        metrics=f"{CONS_DIR}/{{target}}/baseline/metrics.json",
        losses=f"{CONS_DIR}/{{target}}/baseline/losses.parquet",
    log:
        "logs/consistency_baseline/{target}.log",
    benchmark:
        "benchmarks/consistency_baseline/{target}.tsv"
    wildcard_constraints:
        target=CONS_TARGET_RE,
    params:
        code=stage_code("taskonomy.consistency.train"),
        settings=lambda w: as_json(target_settings(config, w.target, "baseline")),
        out=get_out_dir,
    threads: STAGE_RES["threads"]
    resources:
        mem_mb=STAGE_RES["train_mem_mb"],
        runtime=STAGE_RES["train_runtime"],
        gpu=STAGE_RES["gpu"],
    shell:
        "{PY} -m taskonomy.consistency.train --target {wildcards.target} --mode baseline"
        " --data {DATA_ROOT} --out {params.out} --settings '{params.settings}' --threads {threads} > {log} 2>&1"


rule consistency_train:
    input:
        manifest=DATA_MANIFEST,
        perceptual=lambda w: cons_perceptual_models(w.target),
    output:
        model=f"{CONS_DIR}/{{target}}/consistency/model.pt",
        metrics=f"{CONS_DIR}/{{target}}/consistency/metrics.json",
        losses=f"{CONS_DIR}/{{target}}/consistency/losses.parquet",
    log:
        "logs/consistency_train/{target}.log",
    benchmark:
        "benchmarks/consistency_train/{target}.tsv"
    wildcard_constraints:
        target=CONS_TARGET_RE,
    params:
        code=stage_code("taskonomy.consistency.train"),
        settings=lambda w: as_json(target_settings(config, w.target, "consistency")),
        out=get_out_dir,
        perceptual_dir=f"{CONS_DIR}/perceptual",
    threads: STAGE_RES["threads"]
    resources:
        mem_mb=STAGE_RES["train_mem_mb"],
        runtime=STAGE_RES["train_runtime"],
        gpu=STAGE_RES["gpu"],
    shell:
        "{PY} -m taskonomy.consistency.train --target {wildcards.target} --mode consistency"
        " --data {DATA_ROOT} --perceptual-dir {params.perceptual_dir} --out {params.out}"
        " --settings '{params.settings}' --threads {threads} > {log} 2>&1"


rule consistency_ood_images:
    output:
        CONS_OOD,
    log:
        "logs/consistency_ood_images/ood.log",
    params:
        code=stage_code("taskonomy.consistency.ood"),
        names=" ".join(CONS["ood_images"]),
        out=f"{CONS_DIR}/ood",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "{PY} -m taskonomy.consistency.ood --out {params.out} --names {params.names} > {log} 2>&1"


rule consistency_energy:
    input:
        manifest=DATA_MANIFEST,
        baseline=f"{CONS_DIR}/{{target}}/baseline/model.pt",
        consistency=f"{CONS_DIR}/{{target}}/consistency/model.pt",
        perceptual=lambda w: cons_perceptual_models(w.target),
        direct=lambda w: cons_direct_models(w.target),
        ood=CONS_OOD,
    output:
        eval=f"{CONS_DIR}/{{target}}/energy/eval.json",
        stats=f"{CONS_DIR}/{{target}}/energy/stats.json",
        test=f"{CONS_DIR}/{{target}}/energy/test.parquet",
        ood=f"{CONS_DIR}/{{target}}/energy/ood.parquet",
        plot=f"{CONS_DIR}/{{target}}/energy/energy.png",
    log:
        "logs/consistency_energy/{target}.log",
    benchmark:
        "benchmarks/consistency_energy/{target}.tsv"
    wildcard_constraints:
        target=CONS_TARGET_RE,
    params:
        code=stage_code("taskonomy.consistency.energy"),
        settings=lambda w: as_json(energy_settings(config, w.target)),
        models=CONS_DIR,
        ood_dir=f"{CONS_DIR}/ood",
        out=get_out_dir,
    threads: STAGE_RES["threads"]
    resources:
        mem_mb=STAGE_RES["train_mem_mb"],
        runtime=STAGE_RES["transfer_runtime"],
        gpu=STAGE_RES["gpu"],
    shell:
        "{PY} -m taskonomy.consistency.energy --target {wildcards.target} --data {DATA_ROOT}"
        " --models {params.models} --ood-dir {params.ood_dir} --out {params.out}"
        " --settings '{params.settings}' --threads {threads} > {log} 2>&1"


def get_consistency_targets(wildcards):
    if not CONS["enabled"]:
        return []
    return [f"{CONS_DIR}/{t}/energy/{f}" for t in CONS_TARGETS for f in ("eval.json", "energy.png")]


FINAL_TARGETS.append(get_consistency_targets)
