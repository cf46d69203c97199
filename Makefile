# graphsync: make demo | make test | make lint | make bench
# GRAPHSYNC_DSN=... points demo, tests and benchmarks at an existing server
# (a superuser connection to a database graphsync may install into).

VENV      := .venv
PY        := $(VENV)/bin/python
APT_PKGS  := postgresql-15 postgresql-plpython3-15 postgresql-15-pgtap postgresql-15-cron \
             postgresql-15-pgrouting python3-numpy python3-scipy \
             libtap-parser-sourcehandler-pgtap-perl
STAMP_APT := $(VENV)/.apt-done
STAMP_PIP := $(VENV)/.pip-done

.PHONY: setup demo test test-unit lint bench clean

setup: $(STAMP_APT) $(STAMP_PIP)

$(STAMP_APT):
	@mkdir -p $(VENV)
	@if dpkg -s $(APT_PKGS) >/dev/null 2>&1; then echo "Debian packages present"; \
	else apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PKGS); fi
	@touch $@

$(STAMP_PIP): requirements-dev.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@

demo: setup
	$(PY) demo/demo.py

test: setup
	$(PY) -m pytest -q tests

test-unit: setup
	$(PY) -m pytest -q tests/unit

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/sqlfluff lint sql

bench: setup
	$(PY) benchmarks/run.py
	$(PY) benchmarks/reads.py
	$(PY) benchmarks/rebuild.py
	$(PY) benchmarks/reads_under_writes.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
