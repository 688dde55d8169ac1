# alff: set-up, tests and the default pipeline.
# BLAS threading on 2 cores makes the GP numerics ~10x slower: pin it to one
# thread; numba parallelism (prange) uses the cores instead.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export NUMBA_CACHE_DIR := $(CURDIR)/.numba_cache

.PHONY: test test-long install bench clean run paper-mlip paper-dynamic

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# the suite (~12 min here); test-long: random kills of both modes with cold
# numba caches and the real Slurm cluster (~12 min); CI (.ci/run) runs both
test: install
	$(BIN)/python -m pytest -q -m "not long" tests

test-long: install
	$(BIN)/python -m pytest -q -m long tests

# The default pipeline: 32-atom fcc Al crystal -> melt, EMT oracle, on the fly,
# then the short validation against the oracle (RDF, NEB, diffusion, melting).
run: install
	$(BIN)/alff-run --profile profiles/local
	@echo "Figures, metrics, the mapped potential (LAMMPS files included) and the validation:"
	@ls -1 results/*/figures/*.png results/*/figures/*.pdf results/*/metrics.json results/*/potential/* \
		results/*/validation/summary.csv results/*/report.md
	@echo "Validation against the oracle (results/*/validation/summary.csv):"
	@column -s, -t results/al_crystal_melt/validation/summary.csv 2>/dev/null || cat results/al_crystal_melt/validation/summary.csv

# The MLIP paper's three experiments (config/systems/agpd_hull, al_mlip, mo_elastic), then their table and
# summary figure in results/paper_mlip/ (target paper_mlip; README, "The MLIP scheme")
paper-mlip: install
	$(BIN)/snakemake hull --configfile config/systems/agpd_hull.yaml --profile profiles/local
	$(BIN)/snakemake --configfile config/systems/al_mlip.yaml --profile profiles/local
	$(BIN)/snakemake elastic --configfile config/systems/mo_elastic.yaml --profile profiles/local
	$(BIN)/snakemake paper_mlip --profile profiles/local

# The dynamic-training paper's experiments (config/systems/si_dynamic, inp_dynamic), then their table in
# results/paper_dynamic/ (target paper_dynamic; README, "Dynamic training")
paper-dynamic: install
	$(BIN)/snakemake --configfile config/systems/si_dynamic.yaml --profile profiles/local
	$(BIN)/snakemake --configfile config/systems/inp_dynamic.yaml --profile profiles/local
	$(BIN)/snakemake paper_dynamic --profile profiles/local

bench: install
	$(BIN)/python bench/md_speed.py --json bench/results/md_speed.json
	$(BIN)/python bench/gp.py --json bench/results/gp.json
	$(BIN)/python bench/linear.py --level 20 --json bench/results/linear.json

clean:
	rm -rf $(VENV) .numba_cache .pytest_cache
