# Two commands on a fresh machine: `make run` (install + start the app), `make test` (install + test).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test lint screenshots benchmarks clean ray-head ray-worker

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

$(VENV)/.installed-ray: $(VENV)/.installed
	$(BIN)/python -m pip install -e '.[ray]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/python -m explorer.ui.serve --server.port $(PORT)  # = streamlit run explorer/ui/server_app.py, warmed up

test: $(VENV)/.installed-test
	$(BIN)/python tests/split.py  # two pytest processes at once (tests/split.py); or: python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports  # the import contracts in pyproject.toml (docs/architecture.md)

# Refresh the README's screenshots (taken by the browser tests).
screenshots: $(VENV)/.installed-test
	EXPLORER_SCREENSHOTS=assets/screenshots $(BIN)/python -m pytest tests/test_browser.py

benchmarks: $(VENV)/.installed-test
	# stload.py is the load generator and bare_app.py the baseline app that class_load.py drives.
	for script in benchmarks/*.py; do \
	  case $$script in */stload.py|*/bare_app.py) continue;; esac; \
	  $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info tests/artifacts .pytest_cache .ruff_cache

# Jobs on more machines (docs/hosting.md, "Training on more machines"). Export the same
# RAY_AUTH_MODE=token and RAY_AUTH_TOKEN on every machine first.
# The head, on the web server: `make ray-head`, then `EXPLORER_RAY_ADDRESS=<this host>:6379 make run`.
ray-head: $(VENV)/.installed-ray
	$(BIN)/ray start --head --block --port=6379 --num-cpus=0 --include-dashboard=false --disable-usage-stats

# A worker machine (a GPU worker too: Ray finds its GPUs): `make ray-worker HEAD=10.0.0.5:6379`.
ray-worker: $(VENV)/.installed-ray
	$(BIN)/ray start --address=$(HEAD) --block --disable-usage-stats $(if $(GPUS),--num-gpus=$(GPUS))
