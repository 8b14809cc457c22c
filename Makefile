# The two commands of the README: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# torch and torchvision are pinned to the wheels this project is developed against.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test docs mutate venv clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_PINS)
	$(PIP) install -q -e '.[torch,dask,plots,test,docs]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/brainfeat demo

test: venv
	$(PY) -m pytest

# The documentation site, offline, warnings as errors (tests/test_docs.py builds it too).
docs: venv
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html

# Mutation testing of the core modules (docs/mutation.md); tens of minutes, not part of `make test`.
# One module: make mutate MODULES=brainfeat/fmri/rois.py
$(VENV)/.mutmut: $(VENV)/.installed
	$(PIP) install -q -e '.[mutate]'
	touch $@

mutate: $(VENV)/.mutmut
	nice -n 15 $(PY) scripts/mutate.py --max-children 2 $(MODULES)

clean:
	rm -rf $(VENV) build *.egg-info docs/_build docs/generated docs/auto_examples
