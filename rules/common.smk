# Shared by every rule file: config validation (first, before anything reads the config),
# paths, wildcard constraints and every input function.
import sys

from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

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
