# The paper's evaluations (`taskonomy evaluate`, config `evaluation`), as file targets:
#   on the paper's released tables:  results/<table>/eval/       (*_paper rules)
#   on this run's own tables:        results/<run>/eval/<size>/   (*_run rules)
# Each: gain_quality (Fig. 9), significance_<budget>_<order> (Fig. 11), novel (Sec. 4.2,
# Fig. 10 left), table1 (Table 1; on the paper tables only its "vs random" column) and
# tree_ari (the similarity tree's best adjusted Rand index against the paper's four groups,
# cuts 4-8). The tree itself (Fig. 13) is Stage IV's (rules/taxonomy.smk).
# Agreement with the paper and stability (config evaluation.reference, evaluation.bootstrap):
#   results/<ref>/eval/compare_<other>.{json,png}  the paper's other size vs the reference
#                                                   table: what agreement looks like
#   results/<run>/eval/<size>/compare.{json,png}    this run vs the reference table
#   results/<run>/eval/<size>/bootstrap.{json,png}, affinity_ci.csv   test images resampled
# The transitive check compares the chained transfers (trained in rules/transfers.smk) with
# the direct ones: results/<run>/eval/<size>/transitive.{json,csv,png}.


rule eval_gain_quality_paper:
    output:
        csv="results/{table}/eval/gain_quality.csv",
        png=report("results/{table}/eval/gain_quality.png", category="Evaluations on the paper's tables"),
        settings="results/{table}/eval/gain_quality.settings.json",
    log:
        f"logs/eval_gain_quality_paper/{wf.run}/{{table}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=eval_code("taskonomy.evaluation.gain_quality"),
        tables=wf.paper_tables,
        budgets=" ".join(map(str, wf.eval["budgets"])),
        orders=" ".join(map(str, wf.eval["max_orders"])),
        metric=wf.eval["metric"],
        source_only=wf.source_only,
        out_dir=wf.out_dir,
    shell:
        "python -m taskonomy.evaluation.cli gain-quality --affinities {wildcards.table}"
        " --source-only {params.source_only} --budgets {params.budgets} --orders {params.orders}"
        " --metric {params.metric} --out-dir {params.out_dir} > {log} 2>&1"


rule eval_gain_quality_run:
    input:
        unpack(wf.run_tables),
    output:
        csv=f"{RES}/eval/{{size}}/gain_quality.csv",
        png=report(f"{RES}/eval/{{size}}/gain_quality.png", category="Evaluations"),
        settings=f"{RES}/eval/{{size}}/gain_quality.settings.json",
    log:
        f"logs/eval_gain_quality_run/{wf.run}/{{size}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=eval_code("taskonomy.evaluation.gain_quality"),
        targets=wf.run_targets_arg,
        budgets=" ".join(map(str, wf.eval["budgets"])),
        orders=" ".join(map(str, wf.eval["max_orders"])),
        metric=wf.eval["metric"],
        source_only=wf.source_only,
        out_dir=wf.out_dir,
    shell:
        "python -m taskonomy.evaluation.cli gain-quality --affinities {input.affinity} {params.targets}"
        " --source-only {params.source_only} --budgets {params.budgets} --orders {params.orders}"
        " --metric {params.metric} --out-dir {params.out_dir} > {log} 2>&1"


rule eval_significance_paper:
    output:
        json="results/{table}/eval/significance_{budget}_{order}.json",
        random="results/{table}/eval/significance_{budget}_{order}.random.csv",
        png=report(
            "results/{table}/eval/significance_{budget}_{order}.png",
            category="Evaluations on the paper's tables",
        ),
        settings="results/{table}/eval/significance_{budget}_{order}.settings.json",
    log:
        f"logs/eval_significance_paper/{wf.run}/{{table}}/{{budget}}_{{order}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=eval_code("taskonomy.evaluation.significance"),
        tables=wf.paper_tables,
        n_random=wf.eval["n_random"],
        seed=wf.eval["seed"],
        metric=wf.eval["metric"],
        source_only=wf.source_only,
        out_dir=wf.out_dir,
    shell:
        "python -m taskonomy.evaluation.cli significance --affinities {wildcards.table}"
        " --source-only {params.source_only} --budget {wildcards.budget} --max-order {wildcards.order}"
        " --n-random {params.n_random} --seed {params.seed} --metric {params.metric}"
        " --out-dir {params.out_dir} > {log} 2>&1"


rule eval_significance_run:
    input:
        unpack(wf.run_tables),
    output:
        json=f"{RES}/eval/{{size}}/significance_{{budget}}_{{order}}.json",
        random=f"{RES}/eval/{{size}}/significance_{{budget}}_{{order}}.random.csv",
        png=report(f"{RES}/eval/{{size}}/significance_{{budget}}_{{order}}.png", category="Evaluations"),
        settings=f"{RES}/eval/{{size}}/significance_{{budget}}_{{order}}.settings.json",
    log:
        f"logs/eval_significance_run/{wf.run}/{{size}}/{{budget}}_{{order}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=eval_code("taskonomy.evaluation.significance"),
        targets=wf.run_targets_arg,
        n_random=wf.eval["n_random"],
        seed=wf.eval["seed"],
        metric=wf.eval["metric"],
        source_only=wf.source_only,
        out_dir=wf.out_dir,
    shell:
        "python -m taskonomy.evaluation.cli significance --affinities {input.affinity} {params.targets}"
        " --source-only {params.source_only} --budget {wildcards.budget} --max-order {wildcards.order}"
        " --n-random {params.n_random} --seed {params.seed} --metric {params.metric}"
        " --out-dir {params.out_dir} > {log} 2>&1"


rule eval_novel_paper:
    output:
        csv="results/{table}/eval/novel.csv",
        png=report("results/{table}/eval/novel.png", category="Evaluations on the paper's tables"),
        settings="results/{table}/eval/novel.settings.json",
    log:
        f"logs/eval_novel_paper/{wf.run}/{{table}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=eval_code("taskonomy.evaluation.novel"),
        tables=wf.paper_tables,
        orders=" ".join(map(str, wf.eval["novel_orders"])),
        source_only=wf.source_only,
        out_dir=wf.out_dir,
    shell:
        "python -m taskonomy.evaluation.cli novel --affinities {wildcards.table}"
        " --source-only {params.source_only} --orders {params.orders} --out-dir {params.out_dir}"
        " > {log} 2>&1"


rule eval_novel_run:
    input:
        unpack(wf.run_tables),
    output:
        csv=f"{RES}/eval/{{size}}/novel.csv",
        png=report(f"{RES}/eval/{{size}}/novel.png", category="Evaluations"),
        settings=f"{RES}/eval/{{size}}/novel.settings.json",
    log:
        f"logs/eval_novel_run/{wf.run}/{{size}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=eval_code("taskonomy.evaluation.novel"),
        targets=wf.run_targets_arg,
        orders=" ".join(map(str, wf.eval["novel_orders"])),
        source_only=wf.source_only,
        out_dir=wf.out_dir,
    shell:
        "python -m taskonomy.evaluation.cli novel --affinities {input.affinity} {params.targets}"
        " --source-only {params.source_only} --orders {params.orders} --out-dir {params.out_dir}"
        " > {log} 2>&1"


rule eval_table1_paper:
    output:
        csv="results/{table}/eval/table1.csv",
        png=report("results/{table}/eval/table1.png", category="Evaluations on the paper's tables"),
        settings="results/{table}/eval/table1.settings.json",
    log:
        f"logs/eval_table1_paper/{wf.run}/{{table}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        code=eval_code("taskonomy.evaluation.losses"),
        tables=wf.paper_tables,
        out_dir=wf.out_dir,
    shell:
        "python -m taskonomy.evaluation.cli table1 --affinities {wildcards.table}"
        " --out-dir {params.out_dir} > {log} 2>&1"


rule eval_table1_run:
    input:
        wf.table1_inputs,
    output:
        csv=f"{RES}/eval/{{size}}/table1.csv",
        png=report(f"{RES}/eval/{{size}}/table1.png", category="Evaluations"),
        settings=f"{RES}/eval/{{size}}/table1.settings.json",
    log:
        f"logs/eval_table1_run/{wf.run}/{{size}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=eval_code("taskonomy.evaluation.losses"),
        results=wf.results_dir,
        tasks=" ".join(wf.transfer_targets),
        out_dir=wf.out_dir,
    shell:
        "python -m taskonomy.evaluation.cli table1 --results {params.results} --size {wildcards.size}"
        " --tasks {params.tasks} --out-dir {params.out_dir} > {log} 2>&1"


rule eval_tree_ari_paper:
    output:
        "results/{table}/eval/tree_ari.json",
    log:
        f"logs/eval_tree_ari_paper/{wf.run}/{{table}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        code=stage_code("taskonomy.supervision.tree"),
        tables=wf.paper_tables,
    shell:
        "python -m taskonomy.supervision.tree --affinities {wildcards.table} --ari --json {output}"
        " > {log} 2>&1"


rule eval_tree_ari_run:
    input:
        unpack(wf.run_tables),
    output:
        f"{RES}/eval/{{size}}/tree_ari.json",
    log:
        f"logs/eval_tree_ari_run/{wf.run}/{{size}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        code=stage_code("taskonomy.supervision.tree"),
    shell:
        "python -m taskonomy.supervision.tree --affinities {input.affinity} --ari --json {output}"
        " > {log} 2>&1"


rule eval_tree_ari_reference:
    output:
        wf.ref_tree_ari,
    log:
        f"logs/eval_tree_ari_reference/{wf.run}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        code=stage_code("taskonomy.supervision.tree"),
        tables=wf.reference_tables,
        reference=wf.ref,
    shell:
        "python -m taskonomy.supervision.tree --affinities {params.reference} --ari --json {output}"
        " > {log} 2>&1"


rule eval_compare_reference:
    output:
        json=f"{wf.ref_compare}.json",
        png=report(f"{wf.ref_compare}.png", category="Evaluations"),
    log:
        f"logs/eval_compare_reference/{wf.run}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=stage_code("taskonomy.supervision.compare"),
        tables=wf.reference_tables,
        table=wf.ref_other,
        reference=wf.ref,
        budgets=" ".join(map(str, wf.eval["budgets"])),
        source_only=wf.source_only,
    shell:
        "python -m taskonomy.supervision.compare {params.table} {params.reference} --budgets {params.budgets}"
        " --max-order 1 --source-only {params.source_only} --out {output.json} --plot {output.png}"
        " > {log} 2>&1"


rule eval_compare_run:
    input:
        unpack(wf.run_tables),
    output:
        json=f"{RES}/eval/{{size}}/compare.json",
        png=report(f"{RES}/eval/{{size}}/compare.png", category="Evaluations"),
    log:
        f"logs/eval_compare_run/{wf.run}/{{size}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=stage_code("taskonomy.supervision.compare"),
        tables=wf.reference_tables,
        reference=wf.ref,
        budgets=" ".join(map(str, wf.eval["budgets"])),
        source_only=wf.source_only,
    shell:
        "python -m taskonomy.supervision.compare {input.affinity} {params.reference} --budgets {params.budgets}"
        " --max-order 1 --source-only {params.source_only} --out {output.json} --plot {output.png}"
        " > {log} 2>&1"


rule eval_bootstrap_run:
    input:
        wf.bootstrap_inputs,
    output:
        json=f"{RES}/eval/{{size}}/bootstrap.json",
        csv=f"{RES}/eval/{{size}}/affinity_ci.csv",
        png=report(f"{RES}/eval/{{size}}/bootstrap.png", category="Evaluations"),
    log:
        f"logs/eval_bootstrap_run/{wf.run}/{{size}}.log",
    benchmark:
        f"benchmarks/eval_bootstrap_run/{wf.run}/{{size}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        code=eval_code("taskonomy.evaluation.bootstrap"),
        results=wf.results_dir,
        targets=" ".join(wf.transfer_targets),
        source_only=wf.source_only,
        budget=wf.taxo["default_budget"],
        order=wf.taxo["default_order"],
        metric=wf.taxo["metric"],
        n=wf.eval["bootstrap"],
        seed=wf.eval["seed"],
        out_dir=wf.out_dir,
    shell:
        "python -m taskonomy.evaluation.cli bootstrap --results {params.results} --size {wildcards.size}"
        " --targets {params.targets} --source-only {params.source_only} --budget {params.budget}"
        " --max-order {params.order} --metric {params.metric} --n {params.n} --seed {params.seed}"
        " --out-dir {params.out_dir} > {log} 2>&1"


# Seed-to-seed agreement (config evaluation.replicates): replicate r retrains every first-order
# transfer (every target x every other task, random included) with the same settings and
# training images and only the training seed changed, in ONE job (no result store), then each
# target's AHP vector over its first-order transfers and `self`:
#   eval/<size>/replicate_<r>/transfers/<target>/<source>/   losses, held-out losses, metrics
#   eval/<size>/replicate_<r>/affinity.csv                   first order + self, paper schema
#   eval/<size>/replicate_<r>/compare.{json,png}             against the run's affinity.csv
# Cost of a replicate: one more first-order Stage II (the transfers_from_* jobs), serially.
rule eval_replicate_run:
    input:
        unpack(wf.replicate_inputs),
    output:
        transfers=directory(f"{RES}/eval/{{size}}/replicate_{{replicate}}/transfers"),
        affinity=f"{RES}/eval/{{size}}/replicate_{{replicate}}/affinity.csv",
    log:
        f"logs/eval_replicate_run/{wf.run}/{{size}}/{{replicate}}.log",
    benchmark:
        f"benchmarks/eval_replicate_run/{wf.run}/{{size}}/{{replicate}}.tsv"
    wildcard_constraints:
        replicate=r"[1-9]\d*",
    conda:
        ENV
    threads: wf.resources["threads"]
    resources:
        mem_mb=wf.resources["transfer_mem_mb"],
        runtime=wf.replicate_runtime,
        gpu=wf.resources["gpu"],
    params:
        code=stage_code("taskonomy.evaluation.replicate"),
        results=wf.results_dir,
        settings=wf.replicate_settings,
        targets=" ".join(wf.transfer_targets),
        sources=" ".join(wf.tasks),
    shell:
        "python -m taskonomy.evaluation.replicate --results {params.results} --size {wildcards.size}"
        " --replicate {wildcards.replicate} --targets {params.targets} --sources {params.sources}"
        " --settings '{params.settings}' --threads {threads} > {log} 2>&1"


rule eval_replicate_compare:
    input:
        unpack(wf.run_tables),
        replicate=f"{RES}/eval/{{size}}/replicate_{{replicate}}/affinity.csv",
    output:
        json=f"{RES}/eval/{{size}}/replicate_{{replicate}}/compare.json",
        png=report(
            f"{RES}/eval/{{size}}/replicate_{{replicate}}/compare.png",
            category="Evaluations",
        ),
    log:
        f"logs/eval_replicate_compare/{wf.run}/{{size}}/{{replicate}}.log",
    wildcard_constraints:
        replicate=r"[1-9]\d*",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=stage_code("taskonomy.supervision.compare"),
        budgets=" ".join(map(str, wf.eval["budgets"])),
        source_only=wf.source_only,
    shell:
        "python -m taskonomy.supervision.compare {input.replicate} {input.affinity}"
        " --budgets {params.budgets} --max-order 1 --source-only {params.source_only}"
        " --out {output.json} --plot {output.png} > {log} 2>&1"


rule eval_transitive:
    input:
        unpack(wf.transitive_check_inputs),
    output:
        json=f"{RES}/eval/{{size}}/transitive.json",
        csv=f"{RES}/eval/{{size}}/transitive.csv",
        png=report(f"{RES}/eval/{{size}}/transitive.png", category="Evaluations"),
    log:
        f"logs/eval_transitive/{wf.run}/{{size}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=stage_code(
            "taskonomy.evaluation.losses",
            "taskonomy.ahp",
            via=("taskonomy.evaluation.transitive", "taskonomy.evaluation.cli"),
        ),
        results=wf.results_dir,
        triples=wf.triples_arg,
        out_dir=wf.out_dir,
    shell:
        "python -m taskonomy.evaluation.transitive check --results {params.results} --size {wildcards.size}"
        " --triples {params.triples} --out-dir {params.out_dir} > {log} 2>&1"
