# Every target installs what it needs itself: a fresh clone needs only python3.11 and Java 17.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast venv validate clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[runtime,operator,dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/tfflink run examples/linear/job.yaml

test: $(STAMP)
	$(BIN)/pytest tests

test-fast: $(STAMP)
	$(BIN)/pytest tests -m "not flink"

clean:
	rm -rf $(VENV) .tfflink
