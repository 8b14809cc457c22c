# The two commands of the README: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# torch and torchvision are pinned to the wheels this project is developed against.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test venv clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_PINS)
	$(PIP) install -q -e '.[torch,dask,plots,test]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/brainfeat demo

test: venv
	$(PY) -m pytest

clean:
	rm -rf $(VENV) build *.egg-info
