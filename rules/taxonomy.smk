# Stage IV on the paper's released affinities (config `paper`): the taxonomy of every budget x
# max order, the sweep table + figure (Fig. 8/9), the similarity tree (Fig. 13) and the
# first-order heat map (Fig. 7), under results/<table>/ for each table in config paper.tables.
# Rules on our own affinity.csv (issue 6) call the same commands with
# `--affinities results/<run>/affinity.csv`; the `paper_` prefix keeps the names apart.
import os

from taskonomy.supervision.tables import table_files

PAPER = config["paper"]


def get_paper_tables(wildcards):
    """The shipped CSVs a paper table set reads (package data), relative to the workdir."""
    return [os.path.relpath(p) for p in table_files(wildcards.table)]


def get_paper_targets(wildcards):
    out = []
    for table in PAPER["tables"]:
        for b in PAPER["budgets"]:
            for k in PAPER["max_orders"]:
                out += [f"results/{table}/taxonomy/{b}_{k}.json", f"results/{table}/taxonomy/{b}_{k}.png"]
        out += [f"results/{table}/sweep.csv", f"results/{table}/sweep.png",
                f"results/{table}/tree.png", f"results/{table}/affinity.png"]
    return out


FINAL_TARGETS.append(get_paper_targets)


rule paper_taxonomy:
    input:
        get_paper_tables,
    output:
        json="results/{table}/taxonomy/{budget}_{order}.json",
        png=report("results/{table}/taxonomy/{budget}_{order}.png", category="Paper tables", subcategory="taxonomies"),
    params:
        metric=PAPER["metric"],
    log:
        "logs/paper_taxonomy/{table}/{budget}_{order}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "{PY} -m taskonomy.supervision.cli --affinities {wildcards.table}"
        " --budget {wildcards.budget} --max-order {wildcards.order} --metric {params.metric}"
        " --out {output.json} --plot {output.png} > {log} 2>&1"


rule paper_sweep:
    input:
        get_paper_tables,
    output:
        csv="results/{table}/sweep.csv",
        png=report("results/{table}/sweep.png", category="Paper tables", subcategory="sweep"),
    params:
        budgets=" ".join(map(str, PAPER["budgets"])),
        orders=" ".join(map(str, PAPER["max_orders"])),
        metric=PAPER["metric"],
    log:
        "logs/paper_sweep/{table}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    shell:
        "{PY} -m taskonomy.supervision.sweep --affinities {wildcards.table}"
        " --budgets {params.budgets} --max-orders {params.orders} --metric {params.metric}"
        " --out {output.csv} --plot {output.png} > {log} 2>&1"


rule paper_tree:
    input:
        get_paper_tables,
    output:
        png=report("results/{table}/tree.png", category="Paper tables", subcategory="similarity tree"),
        json="results/{table}/tree.json",
    log:
        "logs/paper_tree/{table}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "{PY} -m taskonomy.supervision.tree --affinities {wildcards.table}"
        " --out {output.png} --json {output.json} > {log} 2>&1"


rule paper_affinity_plot:
    input:
        get_paper_tables,
    output:
        report("results/{table}/affinity.png", category="Paper tables", subcategory="affinities"),
    log:
        "logs/paper_affinity_plot/{table}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "{PY} -m taskonomy.supervision.plots --affinities {wildcards.table} --tree-order"
        " --out {output} > {log} 2>&1"


# ---- Stage IV on this run's own affinities (issue 6) ---------------------------------------
# results/<run>/taxonomy/<size>/{<budget>_<order>.json/.png, sweep.csv/.png, tree.png/.json,
# affinity.png} from results/<run>/tables/<size>/affinity.csv (its wins_vs_* siblings give
# Gain and Quality), config `taxonomy`; results/<run>/summary.md for the default budget/order.
# Figures are flagged for `snakemake --report` (category "Stage IV"). Input functions and
# TAXO* constants live in rules/common.smk.
FINAL_TARGETS.append(get_run_taxonomy_targets)

RUN_TAXO_DIR = f"{RES}/taxonomy/{{size}}"
RUN_QUERY = ("--targets " + " ".join(AHP_TARGETS) + " --source-only " + EVAL_SOURCE_ONLY)


rule run_taxonomy:
    input:
        get_run_taxonomy_tables,
    output:
        json=f"{RUN_TAXO_DIR}/{{budget}}_{{order}}.json",
        png=report(f"{RUN_TAXO_DIR}/{{budget}}_{{order}}.png", category="Stage IV",
                   subcategory="taxonomies", labels={"size": "{size}", "budget": "{budget}",
                                                     "max order": "{order}"}),
    params:
        affinities=run_affinities,
        query=RUN_QUERY,
        metric=TAXO["metric"],
    wildcard_constraints:
        size="|".join(SIZES),
    log:
        f"logs/run_taxonomy/{RUN}/{{size}}/{{budget}}_{{order}}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "{PY} -m taskonomy.supervision.cli --affinities {params.affinities} {params.query}"
        " --budget {wildcards.budget} --max-order {wildcards.order} --metric {params.metric}"
        " --out {output.json} --plot {output.png} > {log} 2>&1"


rule run_sweep:
    input:
        lambda w: ahp_tables(w.size),
    output:
        csv=f"{RUN_TAXO_DIR}/sweep.csv",
        png=report(f"{RUN_TAXO_DIR}/sweep.png", category="Stage IV", subcategory="sweep",
                   labels={"size": "{size}", "figure": "Gain / Quality per budget"}),
    params:
        affinities=run_affinities,
        query=RUN_QUERY,
        budgets=" ".join(map(str, TAXO["budgets"])),
        orders=" ".join(map(str, TAXO["max_orders"])),
        metric=TAXO["metric"],
    wildcard_constraints:
        size="|".join(SIZES),
    log:
        f"logs/run_sweep/{RUN}/{{size}}.log",
    benchmark:
        f"benchmarks/run_sweep/{RUN}/{{size}}.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    shell:
        "{PY} -m taskonomy.supervision.sweep --affinities {params.affinities} {params.query}"
        " --budgets {params.budgets} --max-orders {params.orders} --metric {params.metric}"
        " --out {output.csv} --plot {output.png} > {log} 2>&1"


rule run_tree:
    input:
        lambda w: ahp_tables(w.size),
    output:
        png=report(f"{RUN_TAXO_DIR}/tree.png", category="Stage IV", subcategory="similarity tree",
                   labels={"size": "{size}", "figure": "task similarity tree (Fig. 13)"}),
        json=f"{RUN_TAXO_DIR}/tree.json",
    params:
        affinities=run_affinities,
    wildcard_constraints:
        size="|".join(SIZES),
    log:
        f"logs/run_tree/{RUN}/{{size}}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "{PY} -m taskonomy.supervision.tree --affinities {params.affinities}"
        " --out {output.png} --json {output.json} > {log} 2>&1"


rule run_affinity_plot:
    input:
        lambda w: ahp_tables(w.size),
    output:
        report(f"{RUN_TAXO_DIR}/affinity.png", category="Stage III", subcategory="affinities",
               labels={"size": "{size}", "figure": "first-order affinities (Fig. 7)"}),
    params:
        affinities=run_affinities,
    wildcard_constraints:
        size="|".join(SIZES),
    log:
        f"logs/run_affinity_plot/{RUN}/{{size}}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "{PY} -m taskonomy.supervision.plots --affinities {params.affinities} --tree-order"
        " --out {output} > {log} 2>&1"


rule run_summary:
    input:
        unpack(get_run_summary_inputs),
        # the transitive-transfer check's line (rules/evaluate.smk), when triples are configured
        transitive=lambda w: [f"{RES}/eval/{TAXO_SIZE}/transitive.json"] if TRANSITIVE else [],
    output:
        f"{RES}/summary.md",
    params:
        run=RUN,
        size=TAXO_SIZE,
        transitive=lambda w, input: f"--transitive {input.transitive}" if input.transitive else "",
        bootstrap=lambda w, input: f"--bootstrap {input.bootstrap}" if "bootstrap" in input.keys() else "",
        replicate=lambda w, input: f"--replicate {input.replicate}" if "replicate" in input.keys() else "",
    log:
        f"logs/run_summary/{RUN}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "{PY} -m taskonomy.supervision.summary --run {params.run} --size {params.size}"
        " --taxonomy {input.taxonomy} --significance {input.significance}"
        " --figures {input.png} {input.figures} {params.transitive} {params.bootstrap} {params.replicate}"
        " --table1 {input.table1} --compare {input.compare} --reference {input.reference}"
        " --tree-ari {input.tree_ari} --reference-tree-ari {input.reference_tree_ari}"
        " --out {output} > {log} 2>&1"
