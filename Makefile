# graphsync: make demo | make test | make lint | make bench | make bench-large | make test-container
# GRAPHSYNC_DSN=... points demo, tests and benchmarks at an existing server
# (a superuser connection to a database graphsync may install into).
# Setup steps print one line each; their output goes to $(LOGS)/, shown when one fails.

VENV      := .venv
PY        := $(VENV)/bin/python
APT_PKGS  := postgresql-15 postgresql-plpython3-15 postgresql-15-pgtap postgresql-15-cron graphviz \
             postgresql-15-pgrouting postgresql-15-pgq3 python3-numpy python3-scipy \
             libtap-parser-sourcehandler-pgtap-perl
APT_PKGS  += python3-venv gdb valgrind
STAMP_APT := $(VENV)/.apt-done
STAMP_PIP := $(VENV)/.pip-done
LOGS      := $(VENV)/log
STEP      := tools/step.sh

# The container test backend (docker/): image, its base, the modules make test-container runs
IMAGE           ?= graphsync-test-pg15
BASE_IMAGE      ?= debian:bookworm-slim
CONTAINER_TESTS ?= tests

.PHONY: setup demo test test-unit test-container container-image lint bench bench-large clean

setup: $(STAMP_APT) $(STAMP_PIP)

$(STAMP_APT):
	@mkdir -p $(VENV)
	@if dpkg -s $(APT_PKGS) >/dev/null 2>&1; then echo "Debian packages ... present"; \
	else $(STEP) "Debian packages (apt-get install $(words $(APT_PKGS)) packages)" $(LOGS)/apt.log \
	  sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(APT_PKGS)'; fi
	@touch $@

$(STAMP_PIP): requirements-dev.txt
	@test -x $(PY) || $(STEP) "Python venv $(VENV)" $(LOGS)/venv.log python3 -m venv $(VENV)
	@$(STEP) "Python packages (pip install -r requirements-dev.txt)" $(LOGS)/pip.log \
	  sh -c '$(PY) -m pip install --upgrade pip && $(PY) -m pip install -r requirements-dev.txt'
	@touch $@

demo: setup
	$(PY) demo/demo.py

test: setup
	$(PY) -m pytest -q tests

test-unit: setup
	$(PY) -m pytest -q tests/unit

# The suite against a container of docker/Dockerfile's image, through testcontainers.
# Needs a running Docker daemon (docker/dockerd.sh start starts one as CI does).
container-image:
	@if docker image inspect $(BASE_IMAGE) >/dev/null 2>&1; then echo "base image $(BASE_IMAGE) ... present"; \
	else $(STEP) "base image $(BASE_IMAGE) (docker pull, else mmdebstrap and docker import)" \
	  $(LOGS)/base-image.log docker/base-image.sh $(BASE_IMAGE); fi
	@$(STEP) "container image $(IMAGE) (docker build docker/)" $(LOGS)/container-image.log \
	  docker build --network host --build-arg BASE_IMAGE=$(BASE_IMAGE) -t $(IMAGE) docker/

test-container: setup container-image
	GRAPHSYNC_TEST_BACKEND=container GRAPHSYNC_TEST_IMAGE=$(IMAGE) TESTCONTAINERS_RYUK_DISABLED=true \
	  $(PY) -m pytest -q $(CONTAINER_TESTS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/sqlfluff lint sql

bench: setup
	$(PY) benchmarks/run.py
	$(PY) benchmarks/reads.py
	$(PY) benchmarks/rebuild.py
	$(PY) benchmarks/reads_under_writes.py
	$(PY) benchmarks/rls_reads.py
	$(PY) benchmarks/memory.py
	$(PY) benchmarks/sizes.py

# 2M nodes / 10M edges: some 20 GB of memory at 100 backends and an hour on 2 cores;
# then the 10M-edge point of the sizes sweep (SIZES.md, sizes.png; the smaller sizes are
# kept from the last `make bench`): some 40 minutes more
bench-large: setup
	$(PY) benchmarks/memory.py --large --out benchmarks/MEMORY_LARGE.md
	$(PY) benchmarks/sizes.py --edges 10000000 --first-reads 8 --repeat 2 --peer-reps 1 --add

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
