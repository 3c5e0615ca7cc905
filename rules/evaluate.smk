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
