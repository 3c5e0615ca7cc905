# `make run`: set up .venv and run the pipeline on the embedded default.
# `make test`: set up .venv and run the whole test suite (it includes `make lint`'s checks).
# `make lint`: snakefmt --check and snakemake --lint of the workflow.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CORES  ?= 2

.PHONY: setup run test lint dry report clean
setup: $(STAMP)

# torch is installed first and pinned: 2.13.0 resolves to the local CPU wheel, so pip never
# reaches for the multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# run: the pipeline, then the HTML report of its figures (Snakemake `report(...)` outputs),
# then the summary (recommended policy, significance). RUN = `run:` of config.yaml.
RUN ?= $(shell awk '$$1 == "run:" {print $$2; exit}' config.yaml)
run: setup
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/$(RUN)/report.html
	cat results/$(RUN)/summary.md

dry: setup
	$(BIN)/snakemake --cores $(CORES) -n

test: setup
	$(BIN)/python -m pytest --durations=12

lint: setup
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs benchmarks .snakemake
