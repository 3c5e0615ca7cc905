# Stage III: per target and transfer-data size, the tournament matrix and AHP vector (one job
# per target, so a change to one target's transfers recomputes only that target), then the
# tables of all targets in the paper's schema:
#   results/<run>/tournaments/<size>/<target>.npz
#   results/<run>/ahp/<size>/<target>.csv (+ .wins_vs_task.csv, .wins_vs_pixels.csv)
#   results/<run>/tables/<size>/{affinity,wins_vs_task,wins_vs_pixels}.csv
# The source sets of a target's higher-order transfers come from Stage II's beam file.


rule ahp_target:
    input:
        unpack(wf.ahp_inputs),
    output:
        npz=wf.ahp_outputs()["npz"],
        csv=wf.ahp_outputs()["csv"],
        quality=wf.ahp_outputs()["quality"],
        gain=wf.ahp_outputs()["gain"],
    log:
        f"logs/ahp_target/{wf.run}/{{size}}/{{target}}.log",
    benchmark:
        f"benchmarks/ahp_target/{wf.run}/{{size}}/{{target}}.tsv"
    wildcard_constraints:
        target=wf.patterns["target"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=stage_code("taskonomy.ahp"),
    shell:
        "python -m taskonomy.ahp target {wildcards.target} --transfers {input.transfers}"
        " --beam {input.beam} --self {input.own} --pixels {input.pixels} --npz {output.npz}"
        " --csv {output.csv} > {log} 2>&1"


rule ahp_gather:
    input:
        ahp=wf.ahp_per_target("affinity"),
        quality=wf.ahp_per_target("quality"),
        gain=wf.ahp_per_target("gain"),
    output:
        affinity=wf.tables()["affinity"],
        quality=wf.tables()["quality"],
        gain=wf.tables()["gain"],
    log:
        f"logs/ahp_gather/{wf.run}/{{size}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=stage_code("taskonomy.ahp"),
        out_dir=wf.out_dir,
    shell:
        "python -m taskonomy.ahp gather --ahp {input.ahp} --out-dir {params.out_dir} > {log} 2>&1"
