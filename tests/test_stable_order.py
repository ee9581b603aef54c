"""The plan's order is the recipe's, whatever Python's hash seed: a `set` that slipped into the
ordering of steps, certificates, nodes or SANs would make two runs print different plans (and
sign in another order). Two processes, two PYTHONHASHSEED values, byte-for-byte the same dry
run, and every CA before the certificates it signs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

# more than one node and peer, so a set over a list variable has something to reorder
SETS = ("--set", "nodes=n1,n2,n3,n4", "--set", "etcd_peers=e1,e2,e3")
RECIPES = {"kubernetes": SETS, "kubeadm": ()}


def dry_run(seed: str, recipe: str, cwd: Path) -> str:
    env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(REPO))
    argv = ["run", "all", "--dry-run", "--recipe", recipe, *RECIPES[recipe]]
    done = subprocess.run(
        [sys.executable, "-m", "kpki_openssl", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def signing_order(text: str) -> list[tuple[str, str | None]]:
    """(certificate, its CA's certificate; None when self-signed) in the order of x509 -req."""
    out = []
    for line in text.splitlines():
        if line.startswith("openssl x509 -req "):
            made = re.search(r" -out (\S+)", line).group(1)
            signer = re.search(r" -CA (\S+)", line)
            out.append((made, signer.group(1) if signer else None))
    return out


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_dry_run_is_the_same_whatever_the_hash_seed(recipe: str, tmp_path: Path) -> None:
    first, second = dry_run("1", recipe, tmp_path), dry_run("2", recipe, tmp_path)
    assert first == second
    order = signing_order(first)
    assert order[0][1] is None  # a CA first
    made: set[str] = set()
    for cert, ca in order:
        assert ca is None or ca in made, f"{cert} is signed before its CA {ca}"
        made.add(cert)
    cas = [cert for cert, ca in order if ca is None]
    assert len(cas) == 3  # both recipes: the cluster CA, the etcd CA, the front-proxy CA
    assert len(order) == len(made) > len(cas)
