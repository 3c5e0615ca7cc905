# Taskonomy as a workflow: synthetic data -> Stage I task networks -> Stage II transfers ->
# Stage III tournaments + AHP -> Stage IV BIP taxonomies -> evaluations and report.
# Run: `make run` (local), `snakemake --profile slurm` (cluster). See README.md.
# One rule file per stage; their paths, input functions and params: taskonomy.workflow.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/tasks.smk"
include: "rules/transfers.smk"
include: "rules/proxy.smk"
include: "rules/ahp.smk"
include: "rules/taxonomy.smk"
include: "rules/evaluate.smk"
include: "rules/consistency.smk"
include: "rules/novel.smk"


rule all:
    default_target: True
    input:
        wf.final_targets(),
