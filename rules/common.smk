# Shared by every rule file, included first: the config's validation (before anything reads
# it), the workflow object every rule takes its paths, input functions and params from
# (taskonomy.workflow, tested in tests/test_workflow.py), every job's environment and the
# wildcard constraints.
#
# Every rule runs `python -m taskonomy.<stage> ... > {log} 2>&1` and carries, as its `code`
# param, the hash of the modules that command runs (taskonomy.codehash): editing them reruns
# the rule's jobs and what depends on them (README "Incremental runs").
from snakemake.utils import validate

from taskonomy.codehash import stage_code
from taskonomy.config import SCHEMA_PATH
from taskonomy.workflow import Workflow, eval_code, use_this_python

validate(config, str(SCHEMA_PATH))

# jobs are grouped (rules' `group:`) where groups are configured (the slurm profile) or jobs
# are submitted to a cluster
wf = Workflow(
    config,
    grouped=bool(
        workflow.group_settings.overwrite_groups
        or workflow.group_settings.group_components
        or not workflow.local_exec
    ),
)
RES = wf.res
# `python` in a job is the interpreter running Snakemake (or, with
# --software-deployment-method conda, the one of the job's environment)
use_this_python()
# every job's conda environment: the project's pinned dependencies
ENV = "../envs/taskonomy.yaml"


wildcard_constraints:
    size=wf.patterns["size"],
    table=wf.patterns["table"],
    budget=wf.patterns["budget"],
    order=wf.patterns["order"],
