# Data stage: the embedded synthetic dataset in the Taskonomy layout (taskonomy.data.synth).
# The target is the manifest (written last, so it marks a complete dataset); the files lie
# beside it under data/<name>/. Later stages read DATA_ROOT and depend on DATA_MANIFEST.
DATA_ROOT = config["data"]["root"]
DATA_MANIFEST = f"{DATA_ROOT}/manifest.json"
SYNTH = config["data"]["synth"]


rule synth_data:
    output:
        DATA_MANIFEST,
    log:
        "logs/synth_data/synth.log",
    benchmark:
        "benchmarks/synth_data/synth.tsv"
    params:
        code=stage_code("taskonomy.data.synth", via="taskonomy.data.cli"),
        root=DATA_ROOT,
        buildings=SYNTH["buildings"],
        points=SYNTH["points"],
        views=SYNTH["views"],
        size=SYNTH["size"],
        seed=SYNTH["seed"],
    threads: SYNTH["workers"]
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "{PY} -m taskonomy.data.cli synth --out {params.root} --buildings {params.buildings}"
        " --points {params.points} --views {params.views} --size {params.size} --seed {params.seed}"
        " --workers {threads} --quiet > {log} 2>&1"


# (a lambda, not a function: common.smk holds the get_* functions, the linter wants no
# functions beside rules)
FINAL_TARGETS.append(lambda wildcards: [DATA_MANIFEST])
