"""The workflow's Python: every path, target list, wildcard pattern, input function and param
that the Snakefile and ``rules/*.smk`` use, in one place, tested without Snakemake
(tests/test_workflow.py).

    from taskonomy.workflow import Workflow
    wf = Workflow(config)           # a config validated by the schema (rules/common.smk)
    wf.final_targets()              # what a plain `snakemake` builds (rule all)
    wf.transfer_targets             # the tasks that get transfers (not source-only, an output)

The rule files only declare rules: each names its files through ``wf`` and runs one thin
``python -m taskonomy.<stage> ... > {log} 2>&1``. Sections below follow the stages and their
rule files: data (rules/data.smk), Stage I (tasks.smk), Stage II (transfers.smk: task
transfers, the beam and the transitive chains), Stage III (ahp.smk), Stage IV (taxonomy.smk),
evaluations (evaluate.smk), cross-task consistency (consistency.smk).

Conventions: methods taking ``wildcards`` are Snakemake input or params functions; a rule's
``params`` hold exactly the settings that determine its outputs (so editing one task's
settings reruns that task's jobs only) and ``code``, the hash of the modules its command runs
(``taskonomy.codehash``). Imports no torch: Snakemake calls it while building the DAG.
"""
from __future__ import annotations

import hashlib
import os
import sys
from functools import lru_cache
from pathlib import Path

from taskonomy.beam import NOT_COMBINED, position_sets
from taskonomy.codehash import stage_code
from taskonomy.settings import (RELEASED_KEY, as_json, model_settings, scratch_settings, task_settings,
                                transfer_common, transfer_settings)
from taskonomy.tasks import TASKS

# What a runnable copy of the workflow needs besides the installed package and a config
# (tests and benchmarks copy it; config.yaml and the like are extras).
WORKFLOW_FILES = ("Snakefile", "rules", "schemas", "profiles", "envs")
# `taskonomy evaluate <sub-command>`: the dispatcher and the helpers every sub-command uses
EVAL_CLI = "taskonomy.evaluation.cli"
EVAL_HELPERS = ("taskonomy.evaluation.figures", "taskonomy.supervision.bip", "taskonomy.supervision.tables")


# the transfer settings that decide what the Stage II proxy computes (taskonomy.proxy.Problem)
PROXY_SETTINGS = ("target", "size", "n", "subset_seed", "heldout", "train_split")


def copy_workflow(repo: str | os.PathLike, dst: str | os.PathLike, *extra: str) -> Path:
    """Copy the workflow of the checkout ``repo`` (WORKFLOW_FILES, and ``extra`` files such as
    config.yaml) into ``dst``; symlinks are copied as the files they point to."""
    import shutil
    repo, dst = Path(repo), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for name in (*WORKFLOW_FILES, *extra):
        if (repo / name).is_dir():
            shutil.copytree(repo / name, dst / name)
        else:
            shutil.copy2(repo / name, dst / name)
    return dst


SPLIT_NAMES = ("tiny", "medium", "full", "fullplus")


def split_file_path(value: str | None) -> str | None:
    """``data.split_file``: a split name -> the release's CSV shipped with the package; a path
    stays as it is."""
    if value in SPLIT_NAMES:
        from taskonomy.supervision.tables import paper_dir
        return os.fspath(paper_dir() / f"train_val_test_{value}.csv")
    return value


def use_this_python() -> None:
    """Jobs run ``python -m taskonomy...``: put the interpreter running Snakemake first on
    PATH, so a job runs in the project's environment here and on a cluster node (where the
    job's Snakemake reads the workflow again) without an activated environment. With
    ``--software-deployment-method conda`` the job's environment comes first instead."""
    bindir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = os.pathsep.join([bindir, path]) if path else bindir


def eval_code(*modules: str) -> str:
    """The code of a `taskonomy evaluate` sub-command running ``modules``."""
    return stage_code(*modules, *EVAL_HELPERS, via=EVAL_CLI)


@lru_cache(maxsize=None)
def files_digest(paths: tuple[str, ...]) -> str:
    """16 hex digits of the files' bytes (package data that is a param, not an input)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).name.encode() + b"\0" + hashlib.sha256(Path(p).read_bytes()).digest())
    return h.hexdigest()[:16]


def alternatives(names) -> str:
    """A wildcard constraint matching exactly one of ``names`` (never matches if empty)."""
    names = list(names)
    return "|".join(names) if names else "(?!)"


class Workflow:
    """One run of the pipeline: ``results/<run>/`` from a validated config."""

    def __init__(self, config: dict, grouped: bool = True):
        self.config = config
        # bundle jobs into group jobs (a cluster: fewer submissions); locally groups only cost
        # DAG time (bench/dag.md)
        self.grouped = grouped
        self.run = config["run"]
        self.res = f"results/{self.run}"
        # ---- data
        data = config["data"]
        self.data_root = data["root"]
        self.synth = data["synth"]
        self.synth_manifest = f"{self.data_root}/manifest.json"
        # a real folder's split file, known-bad files or image size: jobs read the data through
        # a selection manifest (rule select_data), else the dataset's own manifest
        self.split_file = split_file_path(data.get("split_file"))
        self.exclude = data.get("exclude")
        self.select = bool(self.split_file or self.exclude or data.get("size"))
        self.data_size = data.get("size")
        self.dataset = f"{self.res}/data" if self.select else self.data_root   # what jobs read
        self.manifest = f"{self.dataset}/manifest.json"
        # ---- Stages I / II
        self.resources = config["resources"]
        self.tasks = list(config["tasks"])
        # how the jobs that read whole splits decode them (train.num_workers, train.stream)
        train = config.get("train") or {}
        self.num_workers = int(train.get("num_workers") or 0)
        self.loader_args = (f"--stream --num-workers {self.num_workers}" if train.get("stream") else "")
        # the paper's released encoders (model.released_weights) of this run's tasks: Stage I
        # takes them instead of training, and they are sources only (no network of their own
        # on this data to compare transfers to)
        self.released = self._released(config)
        self.trained_tasks = [t for t in self.tasks if t != "random" and t not in self.released]
        # tasks with transfers to them: not source-only, with an output (not random)
        self.transfer_targets = [t for t in self.tasks if t not in config["source_only"]
                                 and TASKS[t].kind != "none" and t not in self.released]
        self.transfer = transfer_common(config)
        self.sizes = list(self.transfer["sizes"])
        # the splits Stage II reads: transfers train on the first, are evaluated on the second
        self.splits = list(dict.fromkeys([self.transfer["train_split"], self.transfer["eval_split"]]))
        # the higher-order transfers of every target, by rank position (taskonomy.beam): every
        # target has the same number of combinable first-order sources (every task but itself
        # and those never combined)
        n_pool = len([s for s in self.tasks if s not in NOT_COMBINED]) - 1
        # transfer.prune: a target trains (and its beam combines) only the proxy's `top` best
        self.prune_top = (self.transfer.get("prune") or {}).get("top")
        n_pool = min(n_pool, self.prune_top or n_pool)
        self.positions = self.positions_of(n_pool)
        self.reuse = int(bool(self.transfer.get("reuse", True)))
        # ---- Stage IV and evaluations
        self.paper = config["paper"]
        self.taxo = config["taxonomy"]
        self.eval = config["evaluation"]
        self.source_only = " ".join(config["source_only"])
        self.summary_size = self.sizes[0]            # summary.md shows the first transfer size
        self.ref = self.eval["reference"]
        self.ref_other = "paper-16k" if self.ref == "paper-1k" else "paper-1k"
        # the paper's own agreement (its other size vs the reference table, the reference's tree
        # against the paper's groups) next to this run's, in this run's folder: the run's summary
        # reads them, and the pipeline stage (dvc.yaml) versions them with the run
        self.ref_compare = f"{self.res}/eval/reference/compare_{self.ref_other}_vs_{self.ref}"
        self.ref_tree_ari = f"{self.res}/eval/reference/tree_ari_{self.ref}.json"
        self.too_big_budgets = sorted({b for b in self.taxo["budgets"] + [self.taxo["default_budget"]]
                                       if b > len(self.tasks)})
        if self.too_big_budgets:
            # `all` leaves them out (a few-task config still builds everything else); asking
            # for such a taxonomy by path fails in run_taxonomy_tables with the same message
            print(f"warning: config taxonomy: budgets {self.too_big_budgets} exceed the {len(self.tasks)} tasks "
                  "of the run; their taxonomies"
                  + (" and summary.md" if self.taxo["default_budget"] > len(self.tasks) else "")
                  + " are not built", file=sys.stderr)
        from taskonomy.evaluation.transitive import check_triples
        self.triples, left_out = check_triples([tuple(t) for t in self.eval.get("transitive", [])],
                                               self.tasks, self.transfer_targets)
        if left_out:
            print(f"warning: config evaluation.transitive: triples {[list(t) for t in left_out]} name tasks "
                  "that are not in config tasks; their transitive check is not built", file=sys.stderr)
        # ---- own tasks: the all-for-one scenario (rules/novel.smk); a bad declaration is an
        # error naming its key here, before any job
        from taskonomy import owntask
        self.own = {t.name: t for t in owntask.declared(config)}
        self.own_section = config.get("own_tasks") or {}
        # every source with cached representations, and the higher orders they allow
        self.own_sources = list(self.tasks)
        self.own_positions = self.positions_of(len([s for s in self.own_sources if s not in NOT_COMBINED]))
        # ---- consistency
        from taskonomy.consistency.settings import PERCEPTUAL_DOMAINS, section
        self.cons = section(config)
        self.cons_dir = f"{self.res}/consistency"
        self.cons_targets = sorted(self.cons["targets"])
        self.cons_domains = sorted(set(PERCEPTUAL_DOMAINS) | set(self.cons_targets)
                                   | {z for zs in self.cons["targets"].values() for z in zs})
        self.cons_ood = [f"{self.cons_dir}/ood/{n}.png" for n in self.cons["ood_images"]]

    def positions_of(self, n_pool: int) -> list[str]:
        """The higher-order rank positions (``top1+top2``, ...) the beam trains over a pool of
        ``n_pool`` combinable first-order sources, under the run's transfer settings."""
        t = self.transfer
        return [n for names in position_sets(n_pool, t["max_order"], t["top_k"], t["beam_width"]).values()
                for n in names]

    def _released(self, config: dict) -> dict[str, str]:
        """{task: released encoder file} of the run's tasks found in model.released_weights."""
        folder = config["model"].get(RELEASED_KEY)
        if not folder:
            return {}
        from taskonomy.weights import find_released
        found = find_released(folder)
        released = {t: str(found[t]) for t in self.tasks if t in found}
        print(f"model.released_weights: released encoders for {', '.join(released) or 'none'} of the run's "
              f"tasks in {folder}", file=sys.stderr)
        return released

    # ------------------------------------------------------------ wildcard patterns
    @property
    def patterns(self) -> dict[str, str]:
        """Wildcard constraints by role (rules/*.smk)."""
        sources = alternatives(self.tasks)
        return {"task": alternatives(self.trained_tasks), "target": alternatives(self.transfer_targets),
                "source": sources, "size": alternatives(self.sizes),
                # sources whose representations come from our encoders / from released files
                "encoded": alternatives(t for t in self.tasks if t not in self.released),
                "released": alternatives(self.released),
                "cons_target": alternatives(self.cons_targets), "cons_domain": alternatives(self.cons_domains),
                "table": "paper-16k|paper-1k|paper", "budget": r"\d+", "order": r"\d+",
                "own": alternatives(self.own), "own_csv": alternatives(n for n, t in self.own.items() if t.csv)}

    def group(self, name: str) -> str | None:
        """A rule's group: ``name`` when jobs are grouped, else none."""
        return name if self.grouped else None

    # ------------------------------------------------------------ generic params
    @staticmethod
    def out_dir(wildcards, output) -> str:
        """The folder of the first output."""
        return os.path.dirname(output[0])

    def data_dir(self, wildcards) -> str:
        return self.dataset

    # ------------------------------------------------------------ data (rules/data.smk)
    def data_targets(self) -> list[str]:
        return [self.manifest]

    def select_inputs(self, wildcards) -> list[str]:
        """What the selection reads: the split file (real data) or the synthetic data's
        manifest, and the exclusion list."""
        out = [self.split_file] if self.split_file else [self.synth_manifest]
        return out + ([self.exclude] if self.exclude else [])

    def select_args(self, wildcards) -> str:
        args = [f"--split-file {self.split_file}"] if self.split_file else []
        args += [f"--exclude {self.exclude}"] if self.exclude else []
        args += [f"--size {self.data_size}"] if self.data_size else []
        return " ".join(args)

    # ------------------------------------------------------------ Stage I (rules/tasks.smk)
    def task_settings(self, wildcards) -> str:
        return as_json(task_settings(self.config, wildcards.task))

    def random_settings(self, wildcards) -> str:
        return as_json(task_settings(self.config, "random"))

    def scratch_settings(self, wildcards) -> str:
        return as_json(scratch_settings(self._transfer_settings(wildcards.target, wildcards.size)))

    def released_file(self, wildcards) -> str:
        """The released encoder file of a source (rule released_encoder's input)."""
        return self.released[wildcards.source]

    def encoder_settings(self, wildcards) -> str:
        """The run's encoder settings, which fix its representation grid: released
        representations are pooled to it (decoder settings do not rerun them)."""
        ms = model_settings(self.config)
        return as_json({k: ms[k] for k in ("encoder", "width", "stride")})

    def reps(self, source: str) -> list[str]:
        """A source's cached representations, one per split Stage II reads."""
        return [f"{self.res}/reps/{source}/{sp}.npy" for sp in self.splits]

    def labels(self, target: str) -> list[str]:
        """A target's cached labels, one per split Stage II reads."""
        return [f"{self.res}/targets/{target}/{sp}.npz" for sp in self.splits]

    def stage1_targets(self) -> list[str]:
        out = [f"{self.res}/tasks/{t}/losses.parquet" for t in self.trained_tasks]
        out += [f"{self.res}/baselines/{t}/average/losses.parquet" for t in self.transfer_targets]
        out += [f"{self.res}/baselines/{s}/{t}/scratch/losses.parquet"
                for s in self.sizes for t in self.transfer_targets]
        return out

    # ------------------------------------------------------------ Stage II (rules/transfers.smk)
    def first_order_sources(self, target: str) -> list[str]:
        return [s for s in self.tasks if s != target]

    def targets_of(self, source: str) -> list[str]:
        """The targets a source's first-order job trains transfers to."""
        return [t for t in self.transfer_targets if t != source]

    def transfer_folders(self, target: str) -> list[str]:
        """Every transfer to ``target`` (random too): first order by source, higher orders by
        rank position (their source sets: the beam file)."""
        return self.first_order_sources(target) + self.positions

    def transfer_losses(self, size: str, target: str) -> list[str]:
        return [f"{self.res}/transfers/{size}/{target}/{s}/losses.parquet" for s in self.transfer_folders(target)]

    def first_order_jobs(self) -> list[tuple[str, str]]:
        """(source, size) of every first-order job (rule transfers_from_<source>_<size>)."""
        return [(s, size) for s in self.tasks if self.targets_of(s) for size in self.sizes]

    def first_order_outputs(self, source: str, size: str, kind: str) -> list[str]:
        """``transfers_from_<source>_<size>``'s outputs of one kind (losses, heldout, metrics)."""
        ext = "json" if kind == "metrics" else "parquet"
        return [f"{self.res}/transfers/{size}/{t}/{source}/{kind}.{ext}" for t in self.targets_of(source)]

    def higher_outputs(self, kind: str) -> list[str]:
        """The beam job's transfers of one kind, by rank position."""
        ext = "json" if kind == "metrics" else "parquet"
        return [f"{self.res}/transfers/{{size}}/{{target}}/{p}/{kind}.{ext}" for p in self.positions]

    @lru_cache(maxsize=None)
    def _transfer_settings(self, target: str, size: str) -> dict:
        return transfer_settings(self.config, target, size)

    def first_order_settings(self, source: str, size: str) -> str:
        """The settings param of ``transfers_from_<source>_<size>``: each target's."""
        return as_json({"per_target": {t: self._transfer_settings(t, size) for t in self.targets_of(source)}})

    def transfer_settings(self, wildcards) -> str:
        return as_json(self._transfer_settings(wildcards.target, wildcards.size))

    def via_settings(self, wildcards) -> str:
        """The first-order s -> t1 transfer's settings: the chained reps are its readout's output."""
        return as_json(self._transfer_settings(wildcards.via, wildcards.size))

    def beam_inputs(self, wildcards) -> dict[str, list[str]]:
        """First-order results of the target (held-out losses to rank on, test losses where
        none are held out); with higher orders, what they train on: every combinable
        source's representations and the target's labels."""
        t, size = wildcards.target, wildcards.size
        first = [f"{self.res}/transfers/{size}/{t}/{s}" for s in self.first_order_sources(t)]
        out = {"heldout": [f"{d}/heldout.parquet" for d in first], "losses": [f"{d}/losses.parquet" for d in first]}
        if self.positions:
            out["reps"] = [p for s in self.first_order_sources(t) if s not in NOT_COMBINED for p in self.reps(s)]
            out["labels"] = self.labels(t)
        return out

    @staticmethod
    def reps_root(wildcards, input) -> str:
        """reps/ (of reps/<source>/<split>.npy): the transfer CLI's --reps."""
        return str(Path(input.reps[0]).parent.parent)

    @staticmethod
    def labels_root(wildcards, input) -> str:
        """targets/ (of targets/<target>/<split>.npz): the transfer CLI's --targets."""
        return str(Path(input.labels[0]).parent.parent)

    @staticmethod
    def transfers_root(wildcards, output) -> str:
        """transfers/<size>/ (of transfers/<size>/<target>/<sources>/losses.parquet)."""
        return str(Path(output.losses[0]).parents[2])

    def higher_flags(self, wildcards, input, output) -> str:
        """The beam job's arguments to train the higher orders (none without them)."""
        if not self.positions:
            return ""
        return (f"--train-higher --reps {self.reps_root(wildcards, input)}"
                f" --targets {self.labels_root(wildcards, input)}"
                f" --out-root {self.transfers_root(wildcards, output)}")

    @property
    def store(self) -> str:
        """The transfer result store (taskonomy.transfer); `transfer.reuse` is a job resource,
        not a param: it changes no result, so toggling it reruns nothing."""
        return f"{self.res}/.store/transfers"

    def stage2_targets(self) -> list[str]:
        out = []
        for size in self.sizes:
            for t in self.transfer_targets:
                out += self.transfer_losses(size, t) + [f"{self.res}/beam/{size}/{t}.json"]
        return out

    # transitive chains s -> t1 -> t2 (trained here, checked in rules/evaluate.smk)
    def chained_reps(self, size="{size}", source="{source}", via="{via}") -> list[str]:
        return [f"{self.res}/transitive/{size}/{source}/reps/{via}/{sp}.npy" for sp in self.splits]

    def chained_transfer(self, size="{size}", source="{source}", via="{via}", target="{target}") -> str:
        return f"{self.res}/transitive/{size}/{source}/transfers/{target}/{via}"

    @staticmethod
    def chained_reps_root(wildcards, input) -> str:
        """transitive/<size>/<source>/reps/ (of .../reps/<via>/<split>.npy)."""
        return str(Path(input.reps[0]).parent.parent)

    def transitive_check_inputs(self, wildcards) -> dict[str, list[str]]:
        out = {"direct": [], "chained": []}
        for s, t1, t2 in self.triples:
            out["direct"].append(f"{self.res}/transfers/{wildcards.size}/{t2}/{s}/losses.parquet")
            out["chained"].append(f"{self.chained_transfer(wildcards.size, s, t1, t2)}/losses.parquet")
        return out

    def triples_arg(self, wildcards) -> str:
        return " ".join(":".join(t) for t in self.triples)

    def results_dir(self, wildcards) -> str:
        return self.res

    # ------------------------------------------------------------ Stage II proxy (rules/proxy.smk)
    def proxy_dir(self, size: str = "{size}") -> str:
        """results/<run>/proxy/<size>/: the closed-form proxy of Stage II (taskonomy.proxy)."""
        return f"{self.res}/proxy/{size}"

    def proxy_outputs(self) -> dict[str, str]:
        """A target's proxy files (``{size}``, ``{target}`` left as wildcards)."""
        from taskonomy.ahp import QUALITY_SUFFIX
        d = f"{self.proxy_dir()}/{{target}}"
        return {"scores": f"{d}/scores.json", "losses": f"{d}/losses.parquet", "npz": f"{d}/tournament.npz",
                "csv": f"{d}/ahp.csv", "quality": f"{d}/ahp{QUALITY_SUFFIX}"}

    def proxy_inputs(self, wildcards) -> dict[str, list[str]]:
        """The transfer split's representations of every source and of the target itself
        (``self``), and the target's labels there: all the proxy reads."""
        sp, t = self.transfer["train_split"], wildcards.target
        return {"reps": [f"{self.res}/reps/{s}/{sp}.npy" for s in [*self.first_order_sources(t), t]],
                "labels": [f"{self.res}/targets/{t}/{sp}.npz"]}

    def proxy_settings(self, wildcards) -> str:
        """The transfer settings the proxy reads (PROXY_SETTINGS: which images it fits and
        scores on), so that a change of the transfers' schedule or model does not rerun it."""
        s = self._transfer_settings(wildcards.target, wildcards.size)
        return as_json({k: s[k] for k in PROXY_SETTINGS})

    def proxy_sources(self, wildcards) -> str:
        return " ".join(self.first_order_sources(wildcards.target))

    def proxy_per_target(self, kind: str) -> list[str]:
        """One proxy file of every target (``{size}`` left as a wildcard)."""
        return [self.proxy_outputs()[kind].replace("{target}", t) for t in self.transfer_targets]

    def prune_inputs(self, source: str, size: str) -> list[str]:
        """``transfer.prune``: the proxy scores of the targets of ``transfers_from_<source>_<size>``
        (which of them it trains); none without pruning."""
        if self.prune_top is None:
            return []
        return [self.proxy_outputs()["scores"].replace("{size}", size).replace("{target}", t)
                for t in self.targets_of(source)]

    def prune_args(self, source: str, size: str) -> str:
        files = self.prune_inputs(source, size)
        return f"--prune-top {self.prune_top} --proxy {' '.join(files)}" if files else ""

    def proxy_tables(self, size: str = "{size}") -> dict[str, str]:
        """The proxy affinity table in the paper's schema (and its Quality table, no Gain)."""
        d = f"{self.proxy_dir(size)}/tables"
        return {"affinity": f"{d}/affinity.csv", "quality": f"{d}/wins_vs_task.csv"}

    def proxy_targets(self) -> list[str]:
        """`snakemake proxy`: the proxy tables and their comparison with the trained ones."""
        return [p for size in self.sizes
                for p in (*self.proxy_tables(size).values(), f"{self.proxy_dir(size)}/compare.json")]

    # ------------------------------------------------------------ Stage III (rules/ahp.smk)
    def ahp_inputs(self, wildcards) -> dict:
        t, size = wildcards.target, wildcards.size
        return {"transfers": self.transfer_losses(size, t), "own": f"{self.res}/tasks/{t}/losses.parquet",
                # the Gain reference ("pixels"): the scratch baseline on the transfer-size data
                "pixels": f"{self.res}/baselines/{size}/{t}/scratch/losses.parquet",
                # names the source sets of the higher-order transfers (rank-position folders)
                "beam": f"{self.res}/beam/{size}/{t}.json"}

    def ahp_outputs(self) -> dict[str, str]:
        """A target's Stage III files (``{size}``, ``{target}`` left as wildcards)."""
        from taskonomy.ahp import GAIN_SUFFIX, QUALITY_SUFFIX
        d = f"{self.res}/ahp/{{size}}/{{target}}"
        return {"npz": f"{self.res}/tournaments/{{size}}/{{target}}.npz", "csv": f"{d}.csv",
                "quality": f"{d}{QUALITY_SUFFIX}", "gain": f"{d}{GAIN_SUFFIX}"}

    def ahp_per_target(self, kind: str) -> list[str]:
        """ahp/<size>/<target><suffix> of every target (``{size}`` left as a wildcard)."""
        from taskonomy.ahp import GAIN_SUFFIX, QUALITY_SUFFIX
        sfx = {"affinity": ".csv", "quality": QUALITY_SUFFIX, "gain": GAIN_SUFFIX}[kind]
        return [f"{self.res}/ahp/{{size}}/{t}{sfx}" for t in self.transfer_targets]

    def tables(self, size: str = "{size}") -> dict[str, str]:
        """This run's Stage III tables of a size, by role."""
        d = f"{self.res}/tables/{size}"
        return {"affinity": f"{d}/affinity.csv", "quality": f"{d}/wins_vs_task.csv", "gain": f"{d}/wins_vs_pixels.csv"}

    def ahp_targets(self) -> list[str]:
        return [p for size in self.sizes for p in self.tables(size).values()]

    # ------------------------------------------------------------ Stage IV (rules/taxonomy.smk)
    @staticmethod
    def table_files(table: str) -> tuple[str, ...]:
        from taskonomy.supervision.tables import table_files
        return tuple(table_files(table))

    def paper_tables(self, wildcards) -> str:
        """The shipped tables a paper-table job reads, as a param (their content hash), not as
        input files: the package's path differs between clones and installs, its content does
        not, so a moved or cloned run replans nothing."""
        return files_digest(self.table_files(wildcards.table))

    def reference_tables(self, wildcards) -> str:
        """The two paper tables the reference comparison reads (their content hash)."""
        return files_digest(self.table_files(self.ref) + self.table_files(self.ref_other))

    def paper_targets(self) -> list[str]:
        out = []
        for table in self.paper["tables"]:
            for b in self.paper["budgets"]:
                for k in self.paper["max_orders"]:
                    out += [f"results/{table}/taxonomy/{b}_{k}.json", f"results/{table}/taxonomy/{b}_{k}.png"]
            out += [f"results/{table}/{n}" for n in ("sweep.csv", "sweep.png", "tree.png", "affinity.png")]
        return out

    @property
    def run_query(self) -> str:
        return f"--targets {' '.join(self.transfer_targets)} --source-only {self.source_only}"

    def check_budget(self, budget) -> None:
        """A budget counts supervised tasks (label cost 1 each), so it cannot exceed the run's
        tasks: an error when such a taxonomy is asked for by path."""
        n = len(self.tasks)
        if int(budget) > n:
            raise ValueError(f"config taxonomy: budget {budget} exceeds the {n} tasks of the run "
                             f"(config tasks); lower taxonomy.budgets / taxonomy.default_budget")

    def run_taxonomy_tables(self, wildcards) -> dict[str, str]:
        self.check_budget(wildcards.budget)
        return self.tables(wildcards.size)

    def run_tables(self, wildcards) -> dict[str, str]:
        return self.tables(wildcards.size)

    def taxonomy_dir(self, size: str = "{size}") -> str:
        return f"{self.res}/taxonomy/{size}"

    def run_taxonomy_figures(self, size: str) -> list[str]:
        d = self.taxonomy_dir(size)
        out = [f"{d}/{b}_{k}.png" for b in self.taxo["budgets"] for k in self.taxo["max_orders"]]
        return out + [f"{d}/sweep.png", f"{d}/tree.png", f"{d}/affinity.png"]

    def run_taxonomy_targets(self) -> list[str]:
        out = [p for size in self.sizes for p in self.run_taxonomy_figures(size)
               if not any(p.startswith(f"{self.taxonomy_dir(size)}/{b}_") for b in self.too_big_budgets)]
        return out + ([f"{self.res}/summary.md"] if self.taxo["default_budget"] <= len(self.tasks) else [])

    def summary_inputs(self, wildcards) -> dict:
        b, k, size = self.taxo["default_budget"], self.taxo["default_order"], self.summary_size
        d, ev = self.taxonomy_dir(size), f"{self.res}/eval/{size}"
        out = {"taxonomy": f"{d}/{b}_{k}.json", "png": f"{d}/{b}_{k}.png",
               "significance": f"{ev}/significance_{b}_{k}.json",
               "figures": [p for p in self.run_taxonomy_figures(size) if p != f"{d}/{b}_{k}.png"],
               "table1": f"{ev}/table1.csv", "compare": f"{ev}/compare.json",
               "reference": f"{self.ref_compare}.json", "tree_ari": f"{ev}/tree_ari.json",
               "reference_tree_ari": self.ref_tree_ari,
               # the transitive check's line, when triples are configured
               "transitive": [f"{ev}/transitive.json"] if self.triples else []}
        if self.eval["bootstrap"]:
            out["bootstrap"] = f"{ev}/bootstrap.json"
        if self.replicates:
            out["replicate"] = f"{self.replicate_dir(size, 1)}/compare.json"
        if self.own:
            out["own"] = [self.own_report(name)["json"] for name in self.own]
        return out

    @staticmethod
    def summary_options(wildcards, input) -> str:
        """The summary's optional inputs as arguments."""
        out = f"--transitive {' '.join(input.transitive)}" if input.transitive else ""
        if "bootstrap" in input.keys():
            out += f" --bootstrap {input.bootstrap}"
        if "replicate" in input.keys():
            out += f" --replicate {input.replicate}"
        if "own" in input.keys():
            out += f" --own {' '.join(input.own)}"
        return out

    # ------------------------------------------------------------ evaluations (rules/evaluate.smk)
    @property
    def significance_grid(self) -> list[tuple[int, int]]:
        return [(b, k) for b in self.eval["significance_budgets"] for k in self.eval["max_orders"]]

    def eval_outputs(self, folder: str) -> list[str]:
        """Every PNG of the evaluations in one eval folder (the CSV/JSON come along)."""
        out = [f"{folder}/{n}" for n in ("gain_quality.png", "novel.png", "table1.png", "tree_ari.json")]
        return out + [f"{folder}/significance_{b}_{k}.png" for b, k in self.significance_grid]

    def eval_targets(self) -> list[str]:
        out = [p for table in self.paper["tables"] for p in self.eval_outputs(f"results/{table}/eval")]
        out += [f"{self.ref_compare}.png", self.ref_tree_ari]
        for size in self.sizes:
            ev = f"{self.res}/eval/{size}"
            out += self.eval_outputs(ev) + [f"{ev}/compare.png"]
            out += [f"{ev}/bootstrap.png"] if self.eval["bootstrap"] else []
            out += [f"{self.replicate_dir(size, r)}/compare.png" for r in self.replicates]
            out += [f"{ev}/transitive.{x}" for x in ("json", "csv", "png")] if self.triples else []
        return out

    @property
    def run_targets_arg(self) -> str:
        return "--targets " + " ".join(self.transfer_targets)

    def table1_inputs(self, wildcards) -> list[str]:
        from taskonomy.evaluation.losses import table1_paths
        return [str(p) for t in self.transfer_targets for p in table1_paths(self.res, t, wildcards.size).values()]

    def bootstrap_inputs(self, wildcards) -> list[str]:
        """What `taskonomy evaluate bootstrap` reads: the affinity table and Stage III's
        tournament file of every target (it holds the aligned per-image losses it scored)."""
        size = wildcards.size
        return [self.tables(size)["affinity"]] + [f"{self.res}/tournaments/{size}/{t}.npz"
                                                  for t in self.transfer_targets]

    # ------------------------------------------------------------ seed replicates of Stage II
    @property
    def replicates(self) -> list[int]:
        """Replicates 1..R of the first-order transfers (config evaluation.replicates)."""
        return list(range(1, self.eval.get("replicates", 0) + 1))

    def replicate_dir(self, size: str = "{size}", replicate="{replicate}") -> str:
        return f"{self.res}/eval/{size}/replicate_{replicate}"

    def replicate_inputs(self, wildcards) -> dict[str, list[str]]:
        """Every cached representation and label Stage II's first order reads, and every
        target's own network (``self`` of the replicate's AHP)."""
        return {"reps": [p for s in self.tasks for p in self.reps(s)],
                "targets": [p for t in self.transfer_targets for p in self.labels(t)],
                "own": [f"{self.res}/tasks/{t}/losses.parquet" for t in self.transfer_targets]}

    def replicate_settings(self, wildcards) -> str:
        """Every target's transfer settings with only the training seed replaced."""
        from taskonomy.evaluation.replicate import replicate_settings
        return as_json({"per_target": {t: replicate_settings(self.config, t, wildcards.size, int(wildcards.replicate))
                                       for t in self.transfer_targets}})

    @property
    def replicate_runtime(self) -> int:
        """Minutes of a replicate job: one transfer's runtime per first-order transfer."""
        n = sum(len(self.first_order_sources(t)) for t in self.transfer_targets)
        return self.resources["transfer_runtime"] * n

    # ------------------------------------------------------------ own tasks (rules/novel.smk)
    def own_dir(self, name: str = "{own}") -> str:
        return f"{self.res}/own/{name}"

    def own_caches(self, kind: str, name: str = "{own}") -> list[str]:
        """The check's caches of one kind (targets | images), one per split Stage II reads."""
        from taskonomy.owntask import cache_files
        return [str(cache_files(self.own_dir(name), name, sp)[kind]) for sp in self.splits]

    def own_out(self, wildcards) -> str:
        return self.own_dir(wildcards.own)

    @staticmethod
    def images_root(wildcards, input) -> str:
        """own/<t>/images (of own/<t>/images/<split>.pt)."""
        return str(Path(input.images[0]).parent)

    @staticmethod
    def parent_of_parent(wildcards, output) -> str:
        """The folder two levels above the first output (own/<t>/reps of
        own/<t>/reps/<source>/<split>.npy, own/<t>/transfers of .../<source>/losses.parquet)."""
        return str(Path(output[0]).parents[1])

    def own_task(self, wildcards):
        return self.own[wildcards.own]

    def own_spec(self, wildcards) -> str:
        return as_json(self.own_task(wildcards).to_dict())

    def own_check_inputs(self, wildcards) -> dict[str, str]:
        t = self.own_task(wildcards)
        return {"manifest": self.manifest, **({"csv": t.csv} if t.csv else {})}

    def own_seed(self, wildcards) -> int:
        """Seed of a CSV's test draw."""
        from taskonomy.settings import derive_seed
        return derive_seed(self.config["seed"], f"own/{wildcards.own}")

    def own_reps(self, name: str = "{own}") -> list[str]:
        """A CSV task's images encoded by every source (own/<t>/reps/<source>/<split>.npy)."""
        return [f"{self.own_dir(name)}/reps/{s}/{sp}.npy" for s in self.own_sources for sp in self.splits]

    def own_encoders(self) -> list[str]:
        """Each source's encoder (its network, or a released encoder file), for a CSV task's
        images."""
        return [self.released.get(s, f"{self.res}/tasks/{s}/model.pt") for s in self.own_sources]

    def own_transfer_inputs(self, wildcards) -> dict[str, list[str]]:
        """Representations (the run's caches for a Taskonomy-layout task, its own for a CSV
        task) and the task's labels."""
        t = self.own_task(wildcards)
        reps = self.own_reps(t.name) if t.csv else [p for s in self.own_sources for p in self.reps(s)]
        return {"reps": reps, "labels": self.own_caches("targets", t.name)}

    def own_transfer_outputs(self, kind: str) -> list[str]:
        """One kind (losses, heldout, metrics, train: the per-epoch log) of every transfer."""
        ext = {"metrics": "json", "train": "jsonl"}.get(kind, "parquet")
        return [f"{self.own_dir()}/transfers/{s}/{kind}.{ext}" for s in self.own_sources + self.own_positions]

    def own_transfer_settings(self, wildcards) -> str:
        from taskonomy.owntask import transfer_settings
        return as_json(transfer_settings(self.config, self.own_task(wildcards)))

    @property
    def own_orders(self) -> str:
        return " ".join(str(k) for k in range(1, self.transfer["max_order"] + 1))

    def own_ahp(self, name: str = "{own}") -> dict[str, str]:
        from taskonomy.ahp import GAIN_SUFFIX
        d = f"{self.own_dir(name)}/ahp/{name}"
        return {"npz": f"{d}.npz", "csv": f"{d}.csv", "gain": f"{d}{GAIN_SUFFIX}"}

    def own_report(self, name: str = "{own}") -> dict[str, str]:
        return {"json": f"{self.own_dir(name)}/novel.json", "png": f"{self.own_dir(name)}/novel.png"}

    def novel_targets(self) -> list[str]:
        """`snakemake novel`: every own task's report and figure."""
        return [p for name in self.own for p in self.own_report(name).values()]

    # ------------------------------------------------------------ consistency (rules/consistency.smk)
    def perceptual_settings(self, wildcards) -> str:
        from taskonomy.consistency.settings import perceptual_settings
        return as_json(perceptual_settings(self.config, wildcards.y, wildcards.z))

    def cons_baseline_settings(self, wildcards) -> str:
        from taskonomy.consistency.settings import target_settings
        return as_json(target_settings(self.config, wildcards.target, "baseline"))

    def cons_train_settings(self, wildcards) -> str:
        from taskonomy.consistency.settings import target_settings
        return as_json(target_settings(self.config, wildcards.target, "consistency"))

    def energy_settings(self, wildcards) -> str:
        from taskonomy.consistency.settings import energy_settings
        return as_json(energy_settings(self.config, wildcards.target))

    def perceptual_models(self, wildcards) -> list[str]:
        return [f"{self.cons_dir}/perceptual/{wildcards.target}__{z}/model.pt" for z in self.cons["targets"][wildcards.target]]

    def direct_models(self, wildcards) -> list[str]:
        return [f"{self.cons_dir}/perceptual/rgb__{z}/model.pt" for z in self.cons["targets"][wildcards.target]]

    @staticmethod
    def models_root(wildcards, input) -> str:
        """consistency/ (of consistency/<target>/baseline/model.pt)."""
        return str(Path(input.baseline).parents[2])

    @staticmethod
    def perceptual_root(wildcards, input) -> str:
        """consistency/perceptual/ (of consistency/perceptual/<y>__<z>/model.pt)."""
        return str(Path(input.perceptual[0]).parent.parent)

    @staticmethod
    def ood_root(wildcards, input) -> str:
        return str(Path(input.ood[0]).parent)

    def consistency_targets(self) -> list[str]:
        if not self.cons["enabled"]:
            return []
        return [f"{self.cons_dir}/{t}/energy/{f}" for t in self.cons_targets for f in ("eval.json", "energy.png")]

    # ------------------------------------------------------------ everything
    def final_targets(self) -> list[str]:
        """What a plain `snakemake` builds (rule all), stage by stage. Stage II's transfers are
        not listed one by one: Stage III reads every one of them (listing them again costs
        Snakemake a second of DAG time at paper scale, bench/dag.md); `stages_1_2` lists them."""
        return (self.data_targets() + self.stage1_targets() + self.ahp_targets()
                + self.paper_targets() + self.run_taxonomy_targets() + self.eval_targets()
                + self.consistency_targets() + self.novel_targets())
