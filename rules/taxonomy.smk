# Stage IV: the BIP taxonomies (taskonomy.supervision), on the paper's released affinities
# and on this run's own.
# - Paper tables (config `paper`), under results/<table>/ for each table of paper.tables: the
#   taxonomy of every budget x max order, the sweep table + figure (Fig. 8/9), the similarity
#   tree (Fig. 13) and the first-order heat map (Fig. 7). The tables ship with the package:
#   a param holds their content hash (taskonomy.workflow.Workflow.paper_tables), not their
#   path, so a moved or cloned run replans nothing.
# - This run (config `taxonomy`), from results/<run>/tables/<size>/ (the wins_vs_* beside
#   affinity.csv give Gain and Quality): results/<run>/taxonomy/<size>/{<budget>_<order>.json
#   /.png, sweep.csv/.png, tree.png/.json, affinity.png}, and results/<run>/summary.md for the
#   default budget/order. Figures are flagged for `snakemake --report`.


rule paper_taxonomy:
    output:
        json="results/{table}/taxonomy/{budget}_{order}.json",
        png=report(
            "results/{table}/taxonomy/{budget}_{order}.png",
            category="Paper tables",
            subcategory="taxonomies",
        ),
    log:
        f"logs/paper_taxonomy/{wf.run}/{{table}}/{{budget}}_{{order}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        code=stage_code("taskonomy.supervision.cli"),
        tables=wf.paper_tables,
        metric=wf.paper["metric"],
    shell:
        "python -m taskonomy.supervision.cli --affinities {wildcards.table}"
        " --budget {wildcards.budget} --max-order {wildcards.order} --metric {params.metric}"
        " --out {output.json} --plot {output.png} > {log} 2>&1"


rule paper_sweep:
    output:
        csv="results/{table}/sweep.csv",
        png=report("results/{table}/sweep.png", category="Paper tables", subcategory="sweep"),
    log:
        f"logs/paper_sweep/{wf.run}/{{table}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        code=stage_code("taskonomy.supervision.sweep"),
        tables=wf.paper_tables,
        budgets=" ".join(map(str, wf.paper["budgets"])),
        orders=" ".join(map(str, wf.paper["max_orders"])),
        metric=wf.paper["metric"],
    shell:
        "python -m taskonomy.supervision.sweep --affinities {wildcards.table}"
        " --budgets {params.budgets} --max-orders {params.orders} --metric {params.metric}"
        " --out {output.csv} --plot {output.png} > {log} 2>&1"


rule paper_tree:
    output:
        png=report("results/{table}/tree.png", category="Paper tables", subcategory="similarity tree"),
        json="results/{table}/tree.json",
    log:
        f"logs/paper_tree/{wf.run}/{{table}}.log",
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
        "python -m taskonomy.supervision.tree --affinities {wildcards.table}"
        " --out {output.png} --json {output.json} > {log} 2>&1"


rule paper_affinity_plot:
    output:
        report("results/{table}/affinity.png", category="Paper tables", subcategory="affinities"),
    log:
        f"logs/paper_affinity_plot/{wf.run}/{{table}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        code=stage_code("taskonomy.supervision.plots"),
        tables=wf.paper_tables,
    shell:
        "python -m taskonomy.supervision.plots --affinities {wildcards.table} --tree-order"
        " --out {output} > {log} 2>&1"


rule run_taxonomy:
    input:
        unpack(wf.run_taxonomy_tables),
    output:
        json=f"{RES}/taxonomy/{{size}}/{{budget}}_{{order}}.json",
        png=report(
            f"{RES}/taxonomy/{{size}}/{{budget}}_{{order}}.png",
            category="Stage IV",
            subcategory="taxonomies",
            labels={"size": "{size}", "budget": "{budget}", "max order": "{order}"},
        ),
    log:
        f"logs/run_taxonomy/{wf.run}/{{size}}/{{budget}}_{{order}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        code=stage_code("taskonomy.supervision.cli"),
        query=wf.run_query,
        metric=wf.taxo["metric"],
    shell:
        "python -m taskonomy.supervision.cli --affinities {input.affinity} {params.query}"
        " --budget {wildcards.budget} --max-order {wildcards.order} --metric {params.metric}"
        " --out {output.json} --plot {output.png} > {log} 2>&1"


rule run_sweep:
    input:
        unpack(wf.run_tables),
    output:
        csv=f"{RES}/taxonomy/{{size}}/sweep.csv",
        png=report(
            f"{RES}/taxonomy/{{size}}/sweep.png",
            category="Stage IV",
            subcategory="sweep",
            labels={"size": "{size}", "figure": "Gain / Quality per budget"},
        ),
    log:
        f"logs/run_sweep/{wf.run}/{{size}}.log",
    benchmark:
        f"benchmarks/run_sweep/{wf.run}/{{size}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        code=stage_code("taskonomy.supervision.sweep"),
        query=wf.run_query,
        budgets=" ".join(map(str, wf.taxo["budgets"])),
        orders=" ".join(map(str, wf.taxo["max_orders"])),
        metric=wf.taxo["metric"],
    shell:
        "python -m taskonomy.supervision.sweep --affinities {input.affinity} {params.query}"
        " --budgets {params.budgets} --max-orders {params.orders} --metric {params.metric}"
        " --out {output.csv} --plot {output.png} > {log} 2>&1"


rule run_tree:
    input:
        unpack(wf.run_tables),
    output:
        png=report(
            f"{RES}/taxonomy/{{size}}/tree.png",
            category="Stage IV",
            subcategory="similarity tree",
            labels={"size": "{size}", "figure": "task similarity tree (Fig. 13)"},
        ),
        json=f"{RES}/taxonomy/{{size}}/tree.json",
    log:
        f"logs/run_tree/{wf.run}/{{size}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        code=stage_code("taskonomy.supervision.tree"),
    shell:
        "python -m taskonomy.supervision.tree --affinities {input.affinity}"
        " --out {output.png} --json {output.json} > {log} 2>&1"


rule run_affinity_plot:
    input:
        unpack(wf.run_tables),
    output:
        report(
            f"{RES}/taxonomy/{{size}}/affinity.png",
            category="Stage III",
            subcategory="affinities",
            labels={"size": "{size}", "figure": "first-order affinities (Fig. 7)"},
        ),
    log:
        f"logs/run_affinity_plot/{wf.run}/{{size}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        code=stage_code("taskonomy.supervision.plots"),
    shell:
        "python -m taskonomy.supervision.plots --affinities {input.affinity} --tree-order"
        " --out {output} > {log} 2>&1"


rule run_summary:
    input:
        unpack(wf.summary_inputs),
    output:
        f"{RES}/summary.md",
    log:
        f"logs/run_summary/{wf.run}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        code=stage_code("taskonomy.supervision.summary"),
        run=wf.run,
        size=wf.summary_size,
        options=wf.summary_options,
    shell:
        "python -m taskonomy.supervision.summary --run {params.run} --size {params.size}"
        " --taxonomy {input.taxonomy} --significance {input.significance}"
        " --figures {input.png} {input.figures} {params.options}"
        " --table1 {input.table1} --compare {input.compare} --reference {input.reference}"
        " --tree-ari {input.tree_ari} --reference-tree-ari {input.reference_tree_ari}"
        " --out {output} > {log} 2>&1"
