# The paper's evaluations (`taskonomy evaluate`, config `evaluation`), as file targets:
#   on the paper's released tables:  results/<table>/eval/      (built by `make run` now)
#   on this run's own tables:        results/<run>/eval/<size>/  (once Stage II is wired in)
# Each: gain_quality (Fig. 9), significance_<budget>_<order> (Fig. 11), novel (Sec. 4.2,
# Fig. 10 left) and table1 (Table 1; on the paper tables only its "vs random" column).
# The similarity tree (Fig. 13) is Stage IV's (rules/taxonomy.smk).
# Input functions and EVAL* constants live in rules/common.smk.

FINAL_TARGETS.append(get_eval_final_targets)


# Paper tables and own run share each rule: the eval folder is either results/<table>/eval
# (wildcard table) or results/<run>/eval/<size> (wildcard size).
EVAL_DIRS = ["results/{table}/eval", f"{RES}/eval/{{size}}"]


for _i, _dir in enumerate(EVAL_DIRS):
    _tag = ("paper", "run")[_i]
    _log = ("{table}", f"{RUN}/{{size}}")[_i]
    _cat = ("Evaluations on the paper's tables", "Evaluations")[_i]

    rule:
        name:
            f"eval_gain_quality_{_tag}"
        input:
            get_eval_tables,
        output:
            csv=f"{_dir}/gain_quality.csv",
            png=report(f"{_dir}/gain_quality.png", category=_cat),
            settings=f"{_dir}/gain_quality.settings.json",
        params:
            affinities=get_eval_affinities,
            targets=get_eval_targets_arg,
            budgets=" ".join(map(str, EVAL["budgets"])),
            orders=" ".join(map(str, EVAL["max_orders"])),
            metric=EVAL["metric"],
            source_only=EVAL_SOURCE_ONLY,
            out_dir=_dir,
        wildcard_constraints:
            size="|".join(SIZES),
        log:
            f"logs/eval_gain_quality_{_tag}/{_log}.log",
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        shell:
            "{PY} -m taskonomy.evaluation.cli gain-quality --affinities {params.affinities}"
            " {params.targets} --source-only {params.source_only} --budgets {params.budgets}"
            " --orders {params.orders} --metric {params.metric} --out-dir {params.out_dir}"
            " > {log} 2>&1"

    rule:
        name:
            f"eval_significance_{_tag}"
        input:
            get_eval_tables,
        output:
            json=f"{_dir}/significance_{{budget}}_{{order}}.json",
            random=f"{_dir}/significance_{{budget}}_{{order}}.random.csv",
            png=report(f"{_dir}/significance_{{budget}}_{{order}}.png", category=_cat),
            settings=f"{_dir}/significance_{{budget}}_{{order}}.settings.json",
        params:
            affinities=get_eval_affinities,
            targets=get_eval_targets_arg,
            n_random=EVAL["n_random"],
            seed=EVAL["seed"],
            metric=EVAL["metric"],
            source_only=EVAL_SOURCE_ONLY,
            out_dir=_dir,
        wildcard_constraints:
            size="|".join(SIZES),
        log:
            f"logs/eval_significance_{_tag}/{_log}/{{budget}}_{{order}}.log",
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        shell:
            "{PY} -m taskonomy.evaluation.cli significance --affinities {params.affinities}"
            " {params.targets} --source-only {params.source_only} --budget {wildcards.budget}"
            " --max-order {wildcards.order} --n-random {params.n_random} --seed {params.seed}"
            " --metric {params.metric} --out-dir {params.out_dir} > {log} 2>&1"

    rule:
        name:
            f"eval_novel_{_tag}"
        input:
            get_eval_tables,
        output:
            csv=f"{_dir}/novel.csv",
            png=report(f"{_dir}/novel.png", category=_cat),
            settings=f"{_dir}/novel.settings.json",
        params:
            affinities=get_eval_affinities,
            targets=get_eval_targets_arg,
            orders=" ".join(map(str, EVAL["novel_orders"])),
            source_only=EVAL_SOURCE_ONLY,
            out_dir=_dir,
        wildcard_constraints:
            size="|".join(SIZES),
        log:
            f"logs/eval_novel_{_tag}/{_log}.log",
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        shell:
            "{PY} -m taskonomy.evaluation.cli novel --affinities {params.affinities}"
            " {params.targets} --source-only {params.source_only} --orders {params.orders}"
            " --out-dir {params.out_dir} > {log} 2>&1"


rule eval_table1_paper:
    input:
        get_eval_tables,
    output:
        csv="results/{table}/eval/table1.csv",
        png=report("results/{table}/eval/table1.png", category="Evaluations on the paper's tables"),
        settings="results/{table}/eval/table1.settings.json",
    log:
        "logs/eval_table1_paper/{table}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "{PY} -m taskonomy.evaluation.cli table1 --affinities {wildcards.table}"
        " --out-dir results/{wildcards.table}/eval > {log} 2>&1"


rule eval_table1_run:
    input:
        get_table1_losses,
    output:
        csv=f"{RES}/eval/{{size}}/table1.csv",
        png=report(f"{RES}/eval/{{size}}/table1.png", category="Evaluations"),
        settings=f"{RES}/eval/{{size}}/table1.settings.json",
    params:
        tasks=" ".join(AHP_TARGETS),
    wildcard_constraints:
        size="|".join(SIZES),
    log:
        f"logs/eval_table1_run/{RUN}/{{size}}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "{PY} -m taskonomy.evaluation.cli table1 --results {RES} --size {wildcards.size}"
        " --tasks {params.tasks} --out-dir {RES}/eval/{wildcards.size} > {log} 2>&1"


# ---- Agreement with the paper and stability (FIDELITY.md; config evaluation.reference,
# evaluation.bootstrap) ---------------------------------------------------------------------
#   results/<ref>/eval/compare_<other>.{json,png}  the paper's other size vs the reference table:
#                                                   what agreement looks like (rho ~0.88)
#   <eval dir>/tree_ari.json                        the similarity tree's best adjusted Rand index
#                                                   against the paper's four groups (cuts 4-8)
#   results/<run>/eval/<size>/compare.{json,png}    this run vs the reference table
#   results/<run>/eval/<size>/bootstrap.{json,png}, affinity_ci.csv   test images resampled


rule eval_compare_paper:
    input:
        get_reference_tables,
    output:
        json=f"{EVAL_REF_COMPARE}.json",
        png=report(f"{EVAL_REF_COMPARE}.png", category="Evaluations on the paper's tables"),
    params:
        budgets=" ".join(map(str, EVAL["budgets"])),
    log:
        f"logs/eval_compare_paper/{EVAL_REF_OTHER}_vs_{EVAL_REF}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "{PY} -m taskonomy.supervision.compare {EVAL_REF_OTHER} {EVAL_REF} --budgets {params.budgets}"
        " --max-order 1 --source-only {EVAL_SOURCE_ONLY} --out {output.json} --plot {output.png}"
        " > {log} 2>&1"


rule eval_compare_run:
    input:
        get_run_compare_tables,
    output:
        json=f"{RES}/eval/{{size}}/compare.json",
        png=report(f"{RES}/eval/{{size}}/compare.png", category="Evaluations"),
    params:
        affinities=run_affinities,
        budgets=" ".join(map(str, EVAL["budgets"])),
    wildcard_constraints:
        size="|".join(SIZES),
    log:
        f"logs/eval_compare_run/{RUN}/{{size}}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "{PY} -m taskonomy.supervision.compare {params.affinities} {EVAL_REF} --budgets {params.budgets}"
        " --max-order 1 --source-only {EVAL_SOURCE_ONLY} --out {output.json} --plot {output.png}"
        " > {log} 2>&1"


for _i, _dir in enumerate(EVAL_DIRS):
    _tag = ("paper", "run")[_i]

    rule:
        name:
            f"eval_tree_ari_{_tag}"
        input:
            get_eval_tables,
        output:
            f"{_dir}/tree_ari.json",
        params:
            affinities=get_eval_affinities,
        wildcard_constraints:
            size="|".join(SIZES),
        log:
            f"logs/eval_tree_ari_{_tag}/" + ("{table}", f"{RUN}/{{size}}")[_i] + ".log",
        threads: 1
        resources:
            mem_mb=500,
            runtime=5,
        shell:
            "{PY} -m taskonomy.supervision.tree --affinities {params.affinities} --ari"
            " --json {output} > {log} 2>&1"


rule eval_bootstrap_run:
    input:
        get_bootstrap_inputs,
    output:
        json=f"{RES}/eval/{{size}}/bootstrap.json",
        csv=f"{RES}/eval/{{size}}/affinity_ci.csv",
        png=report(f"{RES}/eval/{{size}}/bootstrap.png", category="Evaluations"),
    params:
        targets=" ".join(AHP_TARGETS),
        budget=TAXO["default_budget"],
        order=TAXO["default_order"],
        metric=TAXO["metric"],
        n=EVAL["bootstrap"],
        seed=EVAL["seed"],
    wildcard_constraints:
        size="|".join(SIZES),
    log:
        f"logs/eval_bootstrap_run/{RUN}/{{size}}.log",
    benchmark:
        f"benchmarks/eval_bootstrap_run/{RUN}/{{size}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "{PY} -m taskonomy.evaluation.cli bootstrap --results {RES} --size {wildcards.size}"
        " --targets {params.targets} --source-only {EVAL_SOURCE_ONLY} --budget {params.budget}"
        " --max-order {params.order} --metric {params.metric} --n {params.n} --seed {params.seed}"
        " --out-dir {RES}/eval/{wildcards.size} > {log} 2>&1"


# ---- Seed-to-seed agreement (config evaluation.replicates) ---------------------------------
# Replicate r retrains every first-order transfer of the run (every target x every other task,
# random included) with the same settings and training images (subset_seed kept) and only the
# training seed changed, on the same cached reps / labels, in ONE job (no result store); then
# each target's AHP vector over its first-order transfers and `self`:
#   eval/<size>/replicate_<r>/transfers/<target>/<source>/   losses.parquet, heldout.parquet,
#                                                            metrics.json, train.jsonl
#   eval/<size>/replicate_<r>/affinity.csv                   first order + self, paper schema
#   eval/<size>/replicate_<r>/compare.{json,png}             `taskonomy compare` against the
#                                                            run's tables/<size>/affinity.csv
# Cost of a replicate: one more first-order Stage II (the transfers_from_* jobs), serially.


rule eval_replicate_run:
    input:
        reps=[f"{RES}/reps/{s}/{sp}.npy" for s in STAGE_TASKS for sp in STAGE_SPLITS],
        targets=[f"{RES}/targets/{t}/{sp}.pt" for t in AHP_TARGETS for sp in STAGE_SPLITS],
        own=[f"{RES}/tasks/{t}/losses.parquet" for t in AHP_TARGETS],
    output:
        transfers=directory(f"{RES}/eval/{{size}}/replicate_{{replicate}}/transfers"),
        affinity=f"{RES}/eval/{{size}}/replicate_{{replicate}}/affinity.csv",
    params:
        settings=get_replicate_settings,
        targets=" ".join(AHP_TARGETS),
        sources=" ".join(STAGE_TASKS),
    wildcard_constraints:
        size=SIZES_RE,
        replicate=r"[1-9]\d*",
    log:
        f"logs/eval_replicate_run/{RUN}/{{size}}/{{replicate}}.log",
    benchmark:
        f"benchmarks/eval_replicate_run/{RUN}/{{size}}/{{replicate}}.tsv"
    threads: STAGE_RES["threads"]
    resources:
        mem_mb=STAGE_RES["transfer_mem_mb"],
        runtime=STAGE_RES["transfer_runtime"] * sum(len(first_order_sources(t)) for t in AHP_TARGETS),
        gpu=STAGE_RES["gpu"],
    shell:
        "{PY} -m taskonomy.evaluation.replicate --results {RES} --size {wildcards.size}"
        " --replicate {wildcards.replicate} --targets {params.targets} --sources {params.sources}"
        " --settings '{params.settings}' --threads {threads} > {log} 2>&1"


rule eval_replicate_compare:
    input:
        replicate=f"{RES}/eval/{{size}}/replicate_{{replicate}}/affinity.csv",
        run=lambda w: ahp_tables(w.size),
    output:
        json=f"{RES}/eval/{{size}}/replicate_{{replicate}}/compare.json",
        png=report(f"{RES}/eval/{{size}}/replicate_{{replicate}}/compare.png", category="Evaluations"),
    params:
        affinities=run_affinities,
        budgets=" ".join(map(str, EVAL["budgets"])),
    wildcard_constraints:
        size=SIZES_RE,
        replicate=r"[1-9]\d*",
    log:
        f"logs/eval_replicate_compare/{RUN}/{{size}}/{{replicate}}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "{PY} -m taskonomy.supervision.compare {input.replicate} {params.affinities}"
        " --budgets {params.budgets} --max-order 1 --source-only {EVAL_SOURCE_ONLY}"
        " --out {output.json} --plot {output.png} > {log} 2>&1"


# ---- Transitive transfers (paper Sec. 3.2; config evaluation.transitive) -------------------
# s -> t1 -> t2 against the direct s -> t2, per transfer size:
#   transitive/<size>/<s>/reps/<t1>/<split>.npy     the s -> t1 readout's output (s's
#                                                   approximation of t1's representation)
#   transitive/<size>/<s>/transfers/<t2>/<t1>/      the transfer trained on it (the direct
#                                                   s -> t2's settings, images and seed)
#   eval/<size>/transitive.{json,csv,png}           every triple vs its direct counterpart
# A bad triple fails here, when the DAG is built; one naming a task this run does not have is
# left out with a warning (a config with another task list still builds, as with taxonomy
# budgets); an empty list makes no targets.
from taskonomy.evaluation.transitive import check_triples

TRANSITIVE, _left_out = check_triples([tuple(t) for t in EVAL.get("transitive", [])], STAGE_TASKS, STAGE_TARGETS)
if _left_out:
    print(f"warning: config evaluation.transitive: triples {[list(t) for t in _left_out]} name tasks "
          "that are not in config tasks; their transitive check is not built", file=sys.stderr)
TRANSITIVE_ARG = " ".join(":".join(t) for t in TRANSITIVE)


def get_via_transfer_settings(wildcards):
    """The first-order s -> t1 transfer's settings: the chained reps are its readout's output."""
    return as_json(transfer_settings(config, wildcards.via, wildcards.size))


def get_transitive_check_inputs(wildcards):
    from taskonomy.evaluation.transitive import chained_paths
    out = {"direct": [], "chained": []}
    for s, t1, t2 in TRANSITIVE:
        p = chained_paths(RES, wildcards.size, s, t1, t2)
        out["direct"].append(str(p["direct"]))
        out["chained"].append(str(p["transfer"] / "losses.parquet"))
    return out


def get_transitive_final_targets(wildcards):
    if not TRANSITIVE:
        return []
    return [f"{RES}/eval/{size}/transitive.{ext}" for size in SIZES for ext in ("json", "csv", "png")]


FINAL_TARGETS.append(get_transitive_final_targets)


if TRANSITIVE:

    rule transitive_reps:
        input:
            reps=[f"{RES}/reps/{{source}}/{sp}.npy" for sp in STAGE_SPLITS],
            targets=[f"{RES}/targets/{{via}}/{sp}.pt" for sp in STAGE_SPLITS],
            first=f"{RES}/transfers/{{size}}/{{via}}/{{source}}/losses.parquet",
        output:
            reps=[f"{RES}/transitive/{{size}}/{{source}}/reps/{{via}}/{sp}.npy" for sp in STAGE_SPLITS],
            readout=f"{RES}/transitive/{{size}}/{{source}}/reps/{{via}}/readout.pt",
            info=f"{RES}/transitive/{{size}}/{{source}}/reps/{{via}}/readout.json",
        log:
            "logs/transitive_reps/{size}/{source}/{via}.log",
        benchmark:
            "benchmarks/transitive_reps/{size}/{source}/{via}.tsv"
        wildcard_constraints:
            size=SIZES_RE,
            source=SOURCES_RE,
            via=TARGETS_RE,
        params:
            settings=get_via_transfer_settings,
            rep_dtype=config["transfer"]["rep_dtype"],
            out=get_out_dir,
        group:
            "transfers"
        threads: STAGE_RES["threads"]
        resources:
            mem_mb=STAGE_RES["transfer_mem_mb"],
            runtime=STAGE_RES["transfer_runtime"] * 2,
            gpu=STAGE_RES["gpu"],
        shell:
            "{PY} -m taskonomy.evaluation.transitive reps --source {wildcards.source} --via {wildcards.via}"
            " --size {wildcards.size} --reps {RES}/reps --targets {RES}/targets --first-order {input.first}"
            " --out {params.out} --settings '{params.settings}' --rep-dtype {params.rep_dtype}"
            " --threads {threads} > {log} 2>&1"

    rule transitive_transfer:
        input:
            reps=[f"{RES}/transitive/{{size}}/{{source}}/reps/{{via}}/{sp}.npy" for sp in STAGE_SPLITS],
            targets=[f"{RES}/targets/{{target}}/{sp}.pt" for sp in STAGE_SPLITS],
        output:
            losses=f"{RES}/transitive/{{size}}/{{source}}/transfers/{{target}}/{{via}}/losses.parquet",
            metrics=f"{RES}/transitive/{{size}}/{{source}}/transfers/{{target}}/{{via}}/metrics.json",
        log:
            "logs/transitive_transfer/{size}/{source}/{target}/{via}.log",
        benchmark:
            "benchmarks/transitive_transfer/{size}/{source}/{target}/{via}.tsv"
        wildcard_constraints:
            size=SIZES_RE,
            source=SOURCES_RE,
            via=TARGETS_RE,
            target=TARGETS_RE,
        params:
            # the direct s -> t2 transfer's settings: same images, schedule and seed
            settings=get_transfer_settings,
            out=get_out_dir,
        group:
            "transfers"
        threads: STAGE_RES["threads"]
        resources:
            mem_mb=STAGE_RES["transfer_mem_mb"],
            runtime=STAGE_RES["transfer_runtime"],
            gpu=STAGE_RES["gpu"],
        shell:
            "{PY} -m taskonomy.evaluation.transitive transfer --source {wildcards.source}"
            " --via {wildcards.via} --target {wildcards.target} --size {wildcards.size}"
            " --chained-reps {RES}/transitive/{wildcards.size}/{wildcards.source}/reps"
            " --targets {RES}/targets --out {params.out} --settings '{params.settings}'"
            " --threads {threads} > {log} 2>&1"

    rule eval_transitive:
        input:
            unpack(get_transitive_check_inputs),
        output:
            json=f"{RES}/eval/{{size}}/transitive.json",
            csv=f"{RES}/eval/{{size}}/transitive.csv",
            png=report(f"{RES}/eval/{{size}}/transitive.png", category="Evaluations"),
        log:
            f"logs/eval_transitive/{RUN}/{{size}}.log",
        wildcard_constraints:
            size=SIZES_RE,
        params:
            triples=TRANSITIVE_ARG,
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        shell:
            "{PY} -m taskonomy.evaluation.transitive check --results {RES} --size {wildcards.size}"
            " --triples {params.triples} --out-dir {RES}/eval/{wildcards.size} > {log} 2>&1"
