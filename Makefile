# Two commands do all setup on a fresh machine:
#   make pki    - install kpki_openssl and build a full PKI in ./pki from the bundled recipe
#   make test   - install what the tests need (Python packages; etcd, kubectl, curl, easy-rsa, tmux
#                 via apt) and run them
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
OUT ?= pki
# Test files run on this many processes (pytest-xdist); each file stays on one of them.
TEST_JOBS ?= 2

.PHONY: pki install install-test system-deps test lint format bench clean

pki: install
	$(PYTHON) -m kpki_openssl run all --out $(OUT)

install:
	$(PIP) install -q -e .

install-test:
	$(PIP) install -q -e '.[dev]'

# Real consumers the tests run: etcd + etcdctl, kubectl, curl (the document's call), easy-rsa
# (benchmark), tmux (walkthrough), strace (what openssl opens: the trust-store setting).
system-deps:
	sh scripts/install-system-deps.sh

test: install-test system-deps
	$(PYTHON) -m pytest -q -n $(TEST_JOBS) --dist loadfile

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

format:
	$(PYTHON) -m ruff format .
	$(PYTHON) -m ruff check --fix .

# Speed against the exported script and easy-rsa 3 (a few minutes; BENCH_ARGS=--quick for ~30 s).
bench: install-test system-deps
	$(PYTHON) bench/bench.py $(BENCH_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
