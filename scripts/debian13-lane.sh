#!/usr/bin/env bash
# Lane 2: the tests that run openssl, etcd, etcdctl, kubectl and curl, against Debian 13's
# (OpenSSL 3.5, etcd 3.5, kubectl 1.32, curl 8) instead of this machine's.
#
# A Debian 13 root made with mmdebstrap (~20 s, once) lives outside the repository, in
# KPKI_DEBIAN13_CACHE (default ~/.cache/kpki-openssl/debian13). Its programs need their own
# libraries: a bin/ folder beside it holds one wrapper per program that starts it through the
# root's dynamic loader with --library-path, and that folder goes first on PATH for the tests.
#
#   scripts/debian13-lane.sh                 the lane's tests (LANE_TESTS below)
#   scripts/debian13-lane.sh -x              the same, with pytest options
#   scripts/debian13-lane.sh tests/test_x.py these tests instead (any pytest arguments)
set -euo pipefail
cd "$(dirname "$0")/.."
# the Python that has the package and its test dependencies: make test's venv where there is one
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; fi
fi
CACHE="${KPKI_DEBIAN13_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kpki-openssl/debian13}"
PACKAGES="openssl,etcd-server,etcd-client,kubernetes-client,curl"
PROGRAMS="openssl etcd etcdctl kubectl curl"
ROOT="$CACHE/root"
BIN="$CACHE/bin"

# The files about what openssl writes and what kubectl, curl and etcd do with it: the claims,
# the document as written, prove (etcd, kubectl, curl, s_server), verify, the walkthrough, and
# lint and the handout, which say what this openssl writes; and a CA rotation: rotate-ca with
# openssl verify, the walkthrough of a rotation, and the live walks (a 3-member etcd 3.5, etcd
# standing in for kube-apiserver and the kubelets). These take ~90 s on 2 busy cores.
LANE_TESTS=(
    tests/test_claims_real.py
    tests/test_as_written_lesson.py
    tests/test_prove.py
    tests/test_verify_verdicts.py
    tests/test_health_real.py
    tests/test_walkthrough.py
    tests/test_lint.py
    tests/test_explain_handout.py
    tests/test_rotate_ca_real.py
    tests/test_rotate_sa_real.py
    tests/test_walkthrough_rotation.py
    tests/test_prove_rotation_real.py
    tests/test_prove_rotation_ca_real.py
)

started=$EPOCHREALTIME
if [ "$(cat "$CACHE/packages" 2>/dev/null)" != "$PACKAGES" ]; then
    if ! command -v mmdebstrap >/dev/null 2>&1; then
        SUDO=""
        [ "$(id -u)" = 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mmdebstrap >/dev/null
    fi
    rm -rf "$ROOT" "$ROOT.new" "$BIN" "$CACHE/packages"
    mkdir -p "$CACHE"
    echo "debian13 lane: making a Debian 13 root in $ROOT ($PACKAGES)"
    mmdebstrap --quiet --variant=apt --include="$PACKAGES" trixie "$ROOT.new"
    mv "$ROOT.new" "$ROOT"
    echo "$PACKAGES" >"$CACHE/packages"
fi

# The wrappers: the root's loader, libraries, OpenSSL configuration and providers, never this
# machine's (whose libssl is 3.0).
loader=$(echo "$ROOT"/usr/lib/*-linux-gnu/ld-linux*.so.*)
libdir=$(dirname "$loader")
libs="$libdir:$ROOT/lib/$(basename "$libdir")"
rm -rf "$BIN.new"
mkdir -p "$BIN.new"
for program in $PROGRAMS; do
    cat >"$BIN.new/$program" <<EOF
#!/bin/sh
# Debian 13's $program, with the Debian 13 root's own libraries (scripts/debian13-lane.sh).
OPENSSL_CONF='$ROOT/usr/lib/ssl/openssl.cnf' OPENSSL_MODULES='$libdir/ossl-modules' \\
exec '$loader' --library-path '$libs' --argv0 '$program' '$ROOT/usr/bin/$program' "\$@"
EOF
    chmod 755 "$BIN.new/$program"
done
rm -rf "$BIN"
mv "$BIN.new" "$BIN"
export PATH="$BIN:$PATH"
echo "debian13 lane: $(openssl version); $(etcd --version | head -1);" \
    "kubectl $(kubectl version --client 2>/dev/null | head -1 | sed 's/.*: //');" \
    "$(curl --version | head -1 | cut -d' ' -f1-2)"
case "$(openssl version)" in
    "OpenSSL 3.5."*) ;;
    *) echo "debian13 lane: expected OpenSSL 3.5 first on PATH" >&2; exit 1 ;;
esac
ready=$EPOCHREALTIME

. scripts/lane-tests.sh
run_lane "debian13 lane: root and wrappers %.1f s, tests %.1f s" "$PYTHON" "$@"
