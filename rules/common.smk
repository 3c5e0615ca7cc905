# Shared by every rule file: config validation (first, before anything reads the config),
# paths, wildcard constraints and every input function.
import sys

from snakemake.utils import validate

from taskonomy.config import SCHEMA_PATH

validate(config, str(SCHEMA_PATH))

# Rules call the library through the interpreter that runs Snakemake, so a job uses the
# project's virtual environment whether it runs here or on a SLURM node.
PY = sys.executable
RUN = config["run"]
RES = f"results/{RUN}"

wildcard_constraints:
    table="paper-16k|paper-1k|paper",
    budget=r"\d+",
    order=r"\d+",


# Each rule file appends a function (wildcards -> list of paths) naming its final targets;
# `rule all` asks for all of them.
FINAL_TARGETS = []


def get_final_targets(wildcards):
    out = []
    for fn in FINAL_TARGETS:
        out.extend(fn(wildcards))
    return out


# ---- Stage I / II (rules/tasks.smk, rules/transfers.smk) ----------------------------------
import os

from taskonomy.settings import as_json, scratch_settings, task_settings, transfer_settings
from taskonomy.tasks import TASKS as _TASKS, source_set_name

# Stage I / II rules read DATA_ROOT and depend on DATA_MANIFEST (both set by rules/data.smk).
STAGE_RES = config["resources"]
STAGE_TASKS = list(config["tasks"])
STAGE_TARGETS = [t for t in STAGE_TASKS if t not in config["source_only"] and _TASKS[t].kind != "none"]
STAGE_SIZES = list(config["transfer"]["sizes"])
# the splits Stage II reads: transfers train on the first and are evaluated on the second
STAGE_SPLITS = list(dict.fromkeys([config["transfer"]["train_split"], config["transfer"]["eval_split"]]))
TRAINED_TASKS_RE = "|".join(t for t in STAGE_TASKS if t != "random")
TARGETS_RE = "|".join(STAGE_TARGETS)
SOURCES_RE = "|".join(STAGE_TASKS)
SIZES_RE = "|".join(STAGE_SIZES)
SOURCE_SET_RE = rf"({SOURCES_RE})(\+({SOURCES_RE}))*"
HIGHER_SOURCE_SET_RE = rf"({SOURCES_RE})(\+({SOURCES_RE}))+"
BEAM_TRAIN_FLAGS = (f"--train-higher --reps {RES}/reps --targets {RES}/targets"
                    if config["transfer"]["max_order"] > 1 else "")


def get_out_dir(wildcards, output):
    return os.path.dirname(output[0])


def get_task_settings(wildcards):
    return as_json(task_settings(config, wildcards.task))


def get_random_settings(wildcards):
    return as_json(task_settings(config, "random"))


def get_scratch_settings(wildcards):
    return as_json(scratch_settings(transfer_settings(config, wildcards.target, wildcards.size)))


def get_transfer_settings(wildcards):
    return as_json(transfer_settings(config, wildcards.target, wildcards.size))


def first_order_sources(target):
    return [s for s in STAGE_TASKS if s != target]


def get_transfer_inputs(wildcards):
    splits = STAGE_SPLITS
    sources = wildcards.sources.split("+")
    return {
        "reps": [f"{RES}/reps/{s}/{sp}.npy" for s in sources for sp in splits],
        "targets": [f"{RES}/targets/{wildcards.target}/{sp}.pt" for sp in splits],
    }


def get_first_order_losses(wildcards):
    return [f"{RES}/transfers/{wildcards.size}/{wildcards.target}/{s}/losses.parquet"
            for s in first_order_sources(wildcards.target)]


def get_first_order_heldout(wildcards):
    """What the beam ranks on: losses on transfer-split images no transfer trained on."""
    return [f"{RES}/transfers/{wildcards.size}/{wildcards.target}/{s}/heldout.parquet"
            for s in first_order_sources(wildcards.target)]


def get_stage1_targets(wildcards):
    out = [f"{RES}/tasks/{t}/losses.parquet" for t in STAGE_TASKS if t != "random"]
    out += [f"{RES}/baselines/{t}/average/losses.parquet" for t in STAGE_TARGETS]
    out += [f"{RES}/baselines/{s}/{t}/scratch/losses.parquet" for s in STAGE_SIZES for t in STAGE_TARGETS]
    return out


def get_beam_inputs(wildcards):
    """First-order results of the target; with higher orders, also what they train on."""
    out = {"first": get_first_order_heldout(wildcards)}
    if config["transfer"]["max_order"] > 1:
        out["reps"] = [f"{RES}/reps/{s}/{sp}.npy" for s in first_order_sources(wildcards.target)
                       if s != "random" for sp in STAGE_SPLITS]
        out["targets"] = [f"{RES}/targets/{wildcards.target}/{sp}.pt" for sp in STAGE_SPLITS]
    return out


def first_order_settings(targets):
    """Input function (params) of one source's first-order job: each target's settings."""
    def settings(wildcards):
        return as_json({"per_target": {t: transfer_settings(config, t, wildcards.size) for t in targets}})
    return settings


def get_stage2_targets(wildcards):
    """First-order transfers and the beam files; each beam job also makes its target's
    higher-order transfers, so no checkpoint has to be evaluated to list the targets."""
    out = []
    for size in STAGE_SIZES:
        for t in STAGE_TARGETS:
            out += get_first_order_losses(type("W", (), {"size": size, "target": t}))
            out.append(f"{RES}/beam/{size}/{t}.json")
    return out


# ---- Stage III and evaluations (rules/ahp.smk, rules/evaluate.smk) -------------------------
from taskonomy.ahp import GAIN_SUFFIX, QUALITY_SUFFIX
from taskonomy.settings import transfer_common

SIZES = list(transfer_common(config)["sizes"])
# Targets: tasks that are not source-only and have an output (not the random projection).
AHP_TARGETS = [t for t in config["tasks"] if t not in config["source_only"] and _TASKS[t].kind != "none"]
EVAL = config["evaluation"]
EVAL_SOURCE_ONLY = " ".join(config["source_only"])
EVAL_SIG = [(b, k) for b in EVAL["significance_budgets"] for k in EVAL["max_orders"]]


def ahp_transfer_sets(target, size):
    """Source-set names of every transfer to ``target`` at ``size`` (every order, random too).

    Stage II owns the answer: its ``beam`` checkpoint (rules/transfers.smk) writes
    beam/<size>/<target>.json with the first-order sources ``ranked`` and the higher-order
    ``sets`` of each order; a ``get_transfer_sets(target, size)`` function, if Stage II
    defines one, takes precedence. Without either (a results tree made elsewhere), the beam
    file is read directly.
    """
    import json
    if "get_transfer_sets" in globals():
        return list(get_transfer_sets(target, size))
    if hasattr(checkpoints, "beam"):
        path = checkpoints.beam.get(target=target, size=size).output[0]
    else:
        path = f"{RES}/beam/{size}/{target}.json"
    with open(path) as f:
        beam = json.load(f)
    sets = list(beam["ranked"])
    for k in sorted(beam.get("sets", {}), key=int):
        sets += beam["sets"][k]
    return sets


def get_ahp_transfer_losses(wildcards):
    t, size = wildcards.target, wildcards.size
    return [f"{RES}/transfers/{size}/{t}/{s}/losses.parquet" for s in ahp_transfer_sets(t, size)]


def get_ahp_scratch_losses(wildcards):
    """The Gain reference ("pixels"): the scratch baseline on the transfer-size data, at the
    path of Stage I's rules (get_stage1_targets)."""
    return f"{RES}/baselines/{wildcards.size}/{wildcards.target}/scratch/losses.parquet"


def ahp_tables(size):
    return [f"{RES}/tables/{size}/{n}" for n in ("affinity.csv", "wins_vs_task.csv", "wins_vs_pixels.csv")]


def ahp_stage2_ready():
    """This run's Stage III/evaluation targets are asked for once Stage II says which
    transfers exist (its beam checkpoint)."""
    return "get_transfer_sets" in globals() or hasattr(checkpoints, "beam")


def get_ahp_final_targets(wildcards):
    return [p for size in SIZES for p in ahp_tables(size)] if ahp_stage2_ready() else []


def eval_outputs(folder):
    """Every PNG of the evaluations in one eval folder (the CSV/JSON come along)."""
    out = [f"{folder}/gain_quality.png", f"{folder}/novel.png", f"{folder}/table1.png",
           f"{folder}/tree_ari.json"]
    return out + [f"{folder}/significance_{b}_{k}.png" for b, k in EVAL_SIG]


# Agreement with the paper (FIDELITY.md): this run's tables against the reference table, and,
# as the measure of what agreement looks like, the paper's other size against the same table.
EVAL_REF = EVAL["reference"]
EVAL_REF_OTHER = "paper-16k" if EVAL_REF == "paper-1k" else "paper-1k"
EVAL_REF_COMPARE = f"results/{EVAL_REF}/eval/compare_{EVAL_REF_OTHER}"


# Seed replicates of Stage II's first order (rules/evaluate.smk eval_replicate_*): 1..R.
REPLICATES = list(range(1, EVAL["replicates"] + 1))


def replicate_dir(size, r):
    return f"{RES}/eval/{size}/replicate_{r}"


def run_fidelity_outputs(size):
    """This run's agreement with the paper and its stability (eval/<size>/)."""
    out = [f"{RES}/eval/{size}/compare.png"]
    out += [f"{replicate_dir(size, r)}/compare.png" for r in REPLICATES]
    return out + ([f"{RES}/eval/{size}/bootstrap.png"] if EVAL["bootstrap"] else [])


def get_replicate_settings(wildcards):
    """Params of a replicate job: every target's transfer settings, only the seed replaced."""
    from taskonomy.evaluation.replicate import replicate_settings
    return as_json({"per_target": {t: replicate_settings(config, t, wildcards.size, int(wildcards.replicate))
                                   for t in AHP_TARGETS}})


def get_eval_final_targets(wildcards):
    out = [p for table in config["paper"]["tables"] for p in eval_outputs(f"results/{table}/eval")]
    out += [f"{EVAL_REF_COMPARE}.png", f"results/{EVAL_REF}/eval/tree_ari.json"]
    if ahp_stage2_ready():
        out += [p for size in SIZES for p in eval_outputs(f"{RES}/eval/{size}") + run_fidelity_outputs(size)]
    return out


def get_reference_tables(wildcards):
    from taskonomy.supervision.tables import table_files
    return [os.path.relpath(p) for t in (EVAL_REF, EVAL_REF_OTHER) for p in table_files(t)]


def get_run_compare_tables(wildcards):
    from taskonomy.supervision.tables import table_files
    return ahp_tables(wildcards.size) + [os.path.relpath(p) for p in table_files(EVAL_REF)]


def get_bootstrap_inputs(wildcards):
    """What `taskonomy evaluate bootstrap` reads: the affinity table, every transfer's and
    every task network's per-image test losses (as Stage III); the scratch baselines only for
    the gain metric."""
    size = wildcards.size
    out = [f"{RES}/tables/{size}/affinity.csv"]
    for t in AHP_TARGETS:
        out += [f"{RES}/transfers/{size}/{t}/{s}/losses.parquet" for s in ahp_transfer_sets(t, size)]
        out.append(f"{RES}/tasks/{t}/losses.parquet")
        if TAXO["metric"] == "gain":
            out.append(f"{RES}/baselines/{size}/{t}/scratch/losses.parquet")
    return out


def get_eval_tables(wildcards):
    """The table files an evaluation reads: a paper table set, or this run's tables of a size."""
    from taskonomy.supervision.tables import table_files
    if wildcards.get("table"):
        return [os.path.relpath(p) for p in table_files(wildcards.table)]
    return ahp_tables(wildcards.size)


def get_eval_affinities(wildcards):
    """--affinities argument matching get_eval_tables."""
    if wildcards.get("table"):
        return wildcards.table
    return f"{RES}/tables/{wildcards.size}/affinity.csv"


def get_eval_targets_arg(wildcards):
    """Own run: the config's targets; paper tables: every task target of the table."""
    return "" if wildcards.get("table") else "--targets " + " ".join(AHP_TARGETS)


def get_table1_losses(wildcards):
    from taskonomy.evaluation.losses import table1_paths
    return [str(p) for t in AHP_TARGETS for p in table1_paths(RES, t, wildcards.size).values()]


# ---- Stage IV on this run's own affinities (rules/taxonomy.smk run_* rules) ----------------
TAXO = config["taxonomy"]
# The summary shows the first transfer size (the default config has one).
TAXO_SIZE = SIZES[0]
# A budget counts supervised tasks (label cost 1 each; the BIP may also pick the random
# projection as a source), so it cannot exceed the run's tasks: an error when such a taxonomy
# is asked for by path, left out of `all` with a warning (get_run_taxonomy_targets).
def check_taxonomy_budget(budget):
    n = len(config["tasks"])
    if int(budget) > n:
        raise ValueError(f"config taxonomy: budget {budget} exceeds the {n} tasks of the run "
                         f"(config tasks); lower taxonomy.budgets / taxonomy.default_budget")


def get_run_taxonomy_tables(wildcards):
    check_taxonomy_budget(wildcards.budget)
    return ahp_tables(wildcards.size)


def run_taxonomy_dir(size):
    return f"{RES}/taxonomy/{size}"


def run_affinities(wildcards):
    return f"{RES}/tables/{wildcards.size}/affinity.csv"


def get_run_taxonomy_figures(size):
    d = run_taxonomy_dir(size)
    out = [f"{d}/{b}_{k}.png" for b in TAXO["budgets"] for k in TAXO["max_orders"]]
    return out + [f"{d}/sweep.png", f"{d}/tree.png", f"{d}/affinity.png"]


def get_run_summary_inputs(wildcards):
    b, k = TAXO["default_budget"], TAXO["default_order"]
    d = run_taxonomy_dir(TAXO_SIZE)
    ev = f"{RES}/eval/{TAXO_SIZE}"
    out = {"taxonomy": f"{d}/{b}_{k}.json", "png": f"{d}/{b}_{k}.png",
           "significance": f"{ev}/significance_{b}_{k}.json",
           "figures": [p for p in get_run_taxonomy_figures(TAXO_SIZE) if p != f"{d}/{b}_{k}.png"],
           "table1": f"{ev}/table1.csv", "compare": f"{ev}/compare.json",
           "reference": f"{EVAL_REF_COMPARE}.json", "tree_ari": f"{ev}/tree_ari.json",
           "reference_tree_ari": f"results/{EVAL_REF}/eval/tree_ari.json"}
    if EVAL["bootstrap"]:
        out["bootstrap"] = f"{ev}/bootstrap.json"
    if REPLICATES:
        out["replicate"] = f"{replicate_dir(TAXO_SIZE, 1)}/compare.json"
    return out


def get_run_taxonomy_targets(wildcards):
    if not ahp_stage2_ready():
        return []
    n = len(config["tasks"])
    too_big = sorted({b for b in TAXO["budgets"] + [TAXO["default_budget"]] if b > n})
    if too_big:
        # `all` leaves them out (a few-task config still builds everything else); asking for
        # such a taxonomy by path fails in get_run_taxonomy_tables with the same message
        print(f"warning: config taxonomy: budgets {too_big} exceed the {n} tasks of the run; "
              "their taxonomies" + (" and summary.md" if TAXO["default_budget"] > n else "")
              + " are not built", file=sys.stderr)
    out = [p for size in SIZES for p in get_run_taxonomy_figures(size)
           if not any(p.startswith(f"{run_taxonomy_dir(size)}/{b}_") for b in too_big)]
    return out + ([f"{RES}/summary.md"] if TAXO["default_budget"] <= n else [])
