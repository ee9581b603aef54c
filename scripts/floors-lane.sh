#!/usr/bin/env bash
# Lane 3: part of the suite with the oldest release each pyproject.toml floor allows
# (.ci/constraints-floors.txt), in a venv of its own outside the repository:
# KPKI_FLOORS_VENV (default ~/.cache/kpki-openssl/floors-venv).
#
#   scripts/floors-lane.sh                  the lane's tests (LANE_TESTS below)
#   scripts/floors-lane.sh -x               the same, with pytest options
#   scripts/floors-lane.sh tests/test_x.py  these tests instead (any pytest arguments)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${KPKI_FLOORS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kpki-openssl/floors-venv}"

# A file for each dependency: PyYAML (recipes, kubeconfigs), hypothesis, cryptography (key types,
# renew's inputs), markdown-it-py (the handout), rich (the command line).
LANE_TESTS=(
    tests/test_hostile_recipes.py
    tests/test_yamltext.py
    tests/test_input_properties.py
    tests/test_explain_handout.py
    tests/test_key_types.py
    tests/test_renew_inputs.py
    tests/test_bad_input_cli.py
    tests/test_lint.py
)

started=$EPOCHREALTIME
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
# each time: the constraints may have changed, and the editable install points at this checkout
"$VENV/bin/python" -m pip install -q -c .ci/constraints-floors.txt -e '.[test]'
echo "floors lane: $("$VENV/bin/python" -m pip freeze --exclude-editable | grep -iE \
    '^(rich|pyyaml|cryptography|pytest|pytest-xdist|hypothesis|markdown-it-py)==' |
    tr '\n' ' ')"
ready=$EPOCHREALTIME

. scripts/lane-tests.sh
run_lane "floors lane: venv %.1f s, tests %.1f s" "$VENV/bin/python" "$@"
