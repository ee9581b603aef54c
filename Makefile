# Two commands do all setup on a fresh machine, with the distribution's own python3:
#   make pki    - make a virtual environment (.venv), install kpki_openssl in it, and build a full
#                 PKI in ./pki from the bundled recipe
#   make test   - install what the tests need (Python packages in .venv, ansible-core included;
#                 etcd, kubectl, curl, easy-rsa, tmux, strace, iproute2, openssh-server via apt)
#                 and run them: the main lane, every test but the long ones
# make test-long runs the long ones (the fleet in namespaces, the live rotation, a kill at every
# step, a full disk); make test-all runs both lanes.
# Debian and Ubuntu refuse a bare `pip install` (PEP 668), so nothing is installed outside .venv.
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
OUT ?= pki
# Test files run on this many processes (pytest-xdist); each file stays on one of them. On two
# CPUs the main lane took 126 s on 3, 142 s on 2 and 133 s on 4 (measured 2026-12-06): its
# tests wait on etcd, tmux and timeouts for about a third of their time. The long lane stays on
# 2: its kills and fleets time real programs.
TEST_JOBS ?= 3
LONG_JOBS ?= 2

.PHONY: pki install install-test system-deps test test-long test-all lint format bench clean

pki: install
	$(VPY) -m kpki_openssl run all --out $(OUT)
	@echo
	@echo "Next, the same PKI one step at a time, each command explained before it runs (in a new folder):"
	@echo "  . $(VENV)/bin/activate && kpki-openssl walkthrough --out lesson"

# The virtual environment itself; one line names the package when python3 cannot make one.
$(VPY):
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "make: $(PYTHON) cannot make a virtual environment: install the python3-venv package (apt-get install python3-venv) and run make again" >&2; \
	  exit 1; }
	$(PYTHON) -m venv $(VENV)

# Stamps: reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(VPY)
	$(VPY) -m pip install -q --disable-pip-version-check -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VPY)
	$(VPY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-dev

# Real consumers the tests run: etcd + etcdctl, kubectl, curl (the document's call), easy-rsa
# (benchmark), tmux (walkthrough), strace (what openssl opens: the trust-store setting), iproute2
# and openssh-server (prove --fleet: namespaces, and an sshd in each).
system-deps:
	sh scripts/install-system-deps.sh

test: install-test system-deps
	$(VPY) -m pytest -q -n $(TEST_JOBS) --dist loadfile -m 'not long'

test-long: install-test system-deps
	$(VPY) -m pytest -q -n $(LONG_JOBS) --dist loadfile -m long

test-all: test test-long

lint: install-test
	$(VPY) -m ruff check .
	$(VPY) -m ruff format --check .

format: install-test
	$(VPY) -m ruff format .
	$(VPY) -m ruff check --fix .

# Speed against the exported script and easy-rsa 3 (a few minutes; BENCH_ARGS=--quick for ~30 s).
bench: install-test system-deps
	$(VPY) bench/bench.py $(BENCH_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache $(VENV)
