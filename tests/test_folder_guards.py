"""Smaller guards of issue 20: prove reads a folder's YAML only through the alias guard;
`--replace-ca` with no CA selected says so; the dry run prints the plan when a planned file is a
directory and says what run would refuse; kept keys left readable by others are made 0600 and
said; a PEM block is matched to the end of the value."""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

import pytest

from kpki_openssl.base import safeyaml
from kpki_openssl.base.errors import KpkiError
from kpki_openssl.execute.snapshot import pem_complete
from kpki_openssl.prove import kubectl
from tests.conftest import REPO, need_program, run_cli
from tests.safety_recipes import tiny_recipe

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}]\n"
    for i in range(8)
)


def test_prove_reads_the_folders_yaml_only_through_the_alias_guard(tmp_path: Path) -> None:
    sources = sorted((REPO / "kpki_openssl" / "prove").glob("*.py"))
    for source in sources:
        text = source.read_text()
        assert not re.search(r"yaml\.(safe_)?load\(", text), source.name
    bomb = tmp_path / "kubelet-config.yaml"
    bomb.write_text(BOMB)
    start = time.monotonic()
    with pytest.raises(KpkiError):
        safeyaml.load_file(bomb)
    assert kubectl._load(bomb) is None
    fifo = tmp_path / "admin.kubeconfig"
    os.mkfifo(fifo)
    assert kubectl._load(fifo) is None  # refused, never waited on
    assert time.monotonic() - start < 5


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, list[str]]:
    need_program("openssl")
    out = tmp_path / "pki"
    args = ["--quiet", "--recipe", str(tiny_recipe(tmp_path)), "--out", str(out)]
    assert run_cli("run", "all", *args).returncode == 0
    return out, args


def test_replace_ca_without_a_ca_selected_says_so(tmp_path: Path) -> None:
    recipe = str(tiny_recipe(tmp_path))
    out = tmp_path / "pki"
    done = run_cli("run", "admin", "--replace-ca", "--recipe", recipe, "--out", str(out))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "--replace-ca" in done.stderr and "run ca --replace-ca" in done.stderr
    assert not out.exists()


def test_the_dry_run_prints_the_plan_when_a_planned_file_is_a_directory(tiny) -> None:
    out, args = tiny
    (out / "admin.crt").unlink()
    (out / "admin.crt").mkdir()
    done = run_cli("run", "all", "--dry-run", *args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("# ===== step ") == 5
    assert "openssl x509 -req -in admin.csr" in done.stdout
    assert "# run would refuse it and stop: step admin: admin.crt is a directory" in done.stdout
    assert "it would refuse admin and stop there" in done.stdout
    ran = run_cli("run", "all", *args)
    assert ran.returncode == 1 and "admin.crt is a directory" in ran.stderr


def test_a_kept_key_readable_by_others_is_made_0600_and_said(tiny) -> None:
    out, args = tiny
    key = out / "admin.key"
    data = key.read_bytes()
    key.chmod(0o644)
    done = run_cli("run", "all", *[a for a in args if a != "--quiet"])
    assert done.returncode == 0, done.stderr
    assert "admin.key: was 0644, now 0600" in done.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.read_bytes() == data
    again = run_cli("run", "all", *[a for a in args if a != "--quiet"])
    assert "now 0600" not in again.stderr


def test_a_pem_block_ends_the_value(tiny) -> None:
    out, _args = tiny
    key = (out / "ca.key").read_bytes()
    assert pem_complete(key, "PRIVATE KEY") and pem_complete(key + b"\n\n", "PRIVATE KEY")
    assert not pem_complete(key + b"x", "PRIVATE KEY")
    assert not pem_complete(key + b"\nx\n", "PRIVATE KEY")
