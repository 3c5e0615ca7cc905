#!/usr/bin/env bash
# Run by Snakemake inside the new environment (--software-deployment-method conda), from the
# working directory of the run: the repository root (README "Running on a SLURM cluster").
# Installs this checkout's package, editable, so jobs run the workflow's own code.
set -euo pipefail
if [ ! -f pyproject.toml ] || [ ! -d src/taskonomy ]; then
    echo "taskonomy post-deploy: run snakemake from the repository root (no pyproject.toml in $PWD)" >&2
    exit 1
fi
python -m pip install --no-deps --no-build-isolation -e .
