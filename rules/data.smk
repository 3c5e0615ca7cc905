# Data stage: the embedded synthetic dataset in the Taskonomy layout (taskonomy.data.synth).
# The target is the manifest (written last, so it marks a complete dataset); the files lie
# beside it under data/<name>/. Stage I reads that folder and depends on the manifest.
# With data.split_file, data.exclude or data.size (a real Taskonomy folder, known-bad files,
# the paper's 256 px), jobs read the data through a selection manifest instead
# (taskonomy.data.select, results/<run>/data/manifest.json) and depend on that.


rule synth_data:
    output:
        wf.synth_manifest,
    log:
        f"logs/synth_data/{wf.run}/synth.log",
    benchmark:
        f"benchmarks/synth_data/{wf.run}/synth.tsv"
    conda:
        ENV
    threads: wf.synth["workers"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        code=stage_code("taskonomy.data.synth", via="taskonomy.data.cli"),
        root=wf.out_dir,
        buildings=wf.synth["buildings"],
        points=wf.synth["points"],
        views=wf.synth["views"],
        size=wf.synth["size"],
        seed=wf.synth["seed"],
    shell:
        "python -m taskonomy.data.cli synth --out {params.root} --buildings {params.buildings}"
        " --points {params.points} --views {params.views} --size {params.size} --seed {params.seed}"
        " --workers {threads} --quiet > {log} 2>&1"


if wf.select:

    rule select_data:
        input:
            wf.select_inputs,
        output:
            wf.manifest,
        log:
            f"logs/select_data/{wf.run}/select.log",
        conda:
            ENV
        resources:
            mem_mb=2000,
            runtime=30,
        params:
            code=stage_code("taskonomy.data.select", via="taskonomy.data.cli"),
            root=wf.data_root,
            out=wf.out_dir,
            args=wf.select_args,
        shell:
            "python -m taskonomy.data.cli select {params.root} --out {params.out} {params.args}"
            " > {log} 2>&1"
