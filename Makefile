# Both targets do all set-up on a fresh machine: a project-local virtualenv at .venv.
PYTHON ?= python3
VENV := .venv

.PHONY: demo test

$(VENV)/bin/meiye: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/bin/meiye
	$(VENV)/bin/meiye serve --demo $(ARGS)

test: $(VENV)/bin/meiye
	$(VENV)/bin/python -m tests.run_all $(ARGS)
