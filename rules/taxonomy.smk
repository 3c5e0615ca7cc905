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
        png="results/{table}/taxonomy/{budget}_{order}.png",
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
        png="results/{table}/sweep.png",
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
        png="results/{table}/tree.png",
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
        "results/{table}/affinity.png",
    log:
        "logs/paper_affinity_plot/{table}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "{PY} -m taskonomy.supervision.plots --affinities {wildcards.table} --tree-order"
        " --out {output} > {log} 2>&1"
