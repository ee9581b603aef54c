"""Every kind of bad input the issue lists, through the real command line: one line naming the
field and the value, exit status 2, no traceback, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

TINY = """name: tiny
profiles:
  ca: {{ca: true, key_usage: [keyCertSign, cRLSign]}}
  client: {{key_usage: [digitalSignature], extended_key_usage: [clientAuth]}}
variables:
  days: {{default: 10}}
  ca_days: {{default: 20}}
certificates:
  - {{name: ca, profile: ca, subject: {{CN: root}}}}
{rows}"""

SETS = {
    "ip not an ip": (
        ["--set", "apiserver_ips=10.0.0.300"],
        "--set apiserver_ips[0]: '10.0.0.300' is not an IP address",
    ),
    "ip with scope": (["--set", "etcd_ips=fe80::1%eth0"], "'fe80::1%eth0' is not an IP address"),
    "node with space": (
        ["--set", "nodes=node 01"],
        "--set nodes[0]: 'node 01' is not a valid DNS name",
    ),
    "node with slash": (["--set", "nodes=a/b"], "'a/b' is not a valid DNS name"),
    "node with $()": (["--set", "nodes=$(reboot)"], "'$(reboot)' is not a valid DNS name"),
    "node with quotes": (["--set", 'nodes="n1"'], "'\"n1\"' is not a valid DNS name"),
    "duplicate node": (["--set", "nodes=n1,n1"], "--set nodes: duplicate value 'n1'"),
    "node ip not an ip": (
        ["--set", "node_ips=node01=1.2.3"],
        "--set node_ips[node01]: '1.2.3' is not an IP address",
    ),
    "duplicate map key": (
        ["--set", "node_ips=node01=10.0.0.1,node01=10.0.0.2"],
        "--set node_ips: duplicate key 'node01'",
    ),
    "server port 0": (
        ["--set", "kubeconfig_server=https://kube-apiserver:0"],
        "'https://kube-apiserver:0' is not an https://HOST[:PORT] URL",
    ),
    "unknown variable": (["--set", "colour=red"], "--set: unknown variable 'colour'"),
    "wrong type": (["--set", "days=soon"], "--set days: 'soon' is not a whole number"),
    "not KEY=VALUE": (["--set", "nodes"], "--set: 'nodes' is not KEY=VALUE"),
    "new-keys alone": (["--new-keys"], "--new-keys: only together with --force"),
}

ROWS = {
    "empty subject": (
        "  - {name: a, ca: ca, profile: client, subject: {CN: ''}}\n",
        "subject.CN: empty value ''",
    ),
    "over-long CN": (
        "  - {name: a, ca: ca, profile: client, subject: {CN: " + "x" * 65 + "}}\n",
        "is longer than 64 characters",
    ),
    "smuggled attribute": (
        "  - {name: a, ca: ca, profile: client, subject: {CN: 'node01/O=system:masters'}}\n",
        "'node01/O=system:masters' has characters a subject may not hold",
    ),
    "bad country": (
        "  - {name: a, ca: ca, profile: client, subject: {CN: a, C: 'a@'}}\n",
        "subject.C: 'a@' is not a two-letter country code",
    ),
    "unknown key": (
        "  - {name: a, ca: ca, profile: client, subject: {CN: a}, colour: red}\n",
        "certificates[1]: unknown key 'colour'",
    ),
    "wrong type": (
        "  - {name: a, ca: ca, profile: client, subject: {CN: a}, sans: {dns: x}}\n",
        "certificates[a].sans.dns: expected a list, got str 'x'",
    ),
    "duplicate name": (
        "  - {name: ca, ca: ca, profile: client, subject: {CN: a}}\n",
        "certificates: duplicate name 'ca'",
    ),
    "bad SAN": (
        "  - {name: a, ca: ca, profile: client, subject: {CN: a}, sans: {dns: ['a b']}}\n",
        "certificates[a].sans.dns: 'a b' is not a valid DNS name",
    ),
    "YAML syntax": (
        "  - {name: a, ca: ca, profile: client, subject: {CN: a}\n",
        "YAML syntax error",
    ),
    "control character": (
        '  - {name: a, ca: ca, profile: client, subject: {CN: a}, title: "x\\0y"}\n',
        "holds a control character",
    ),
}


def check_refused(done, needle: str, out: Path) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("kpki-openssl: error: ") and needle in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


@pytest.mark.parametrize("case", sorted(SETS))
def test_bad_set_values(tmp_path: Path, case: str) -> None:
    extra, needle = SETS[case]
    out = tmp_path / "pki"
    check_refused(run_cli("run", "all", "--out", str(out), *extra), needle, out)


@pytest.mark.parametrize("case", sorted(ROWS))
def test_bad_recipes(tmp_path: Path, case: str) -> None:
    rows, needle = ROWS[case]
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(TINY.format(rows=rows))
    out = tmp_path / "pki"
    check_refused(run_cli("run", "all", "--recipe", str(recipe), "--out", str(out)), needle, out)


def test_missing_recipe_file(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    done = run_cli("run", "all", "--recipe", str(tmp_path / "nope.yaml"), "--out", str(out))
    check_refused(done, "nope.yaml' is neither a bundled recipe", out)


def test_bad_input_on_an_existing_pki_changes_nothing(built_pki: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in built_pki.iterdir()}
    done = run_cli("run", "all", "--out", str(built_pki), "--set", "nodes=node01/O=system:masters")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert {p.name: p.stat().st_mtime_ns for p in built_pki.iterdir()} == before


ODD_RECIPES = {
    "a folder": (None, "is neither a bundled recipe"),
    "an empty file": ("", "recipe: expected a mapping, got nothing"),
    "a YAML list": ("- a\n- b\n", "recipe: expected a mapping, got list"),
    "a YAML scalar": ("just text\n", "recipe: expected a mapping, got str"),
    "undecodable bytes": (b"\xff\xfe", "cannot read"),
}


@pytest.mark.parametrize("case", sorted(ODD_RECIPES))
@pytest.mark.parametrize("command", ["run all", "list", "lint", "export", "explain all"])
def test_odd_recipe_files(tmp_path: Path, command: str, case: str) -> None:
    content, needle = ODD_RECIPES[case]
    recipe = tmp_path / "recipe.yaml"
    if content is None:
        recipe.mkdir()
    elif isinstance(content, bytes):
        recipe.write_bytes(content)
    else:
        recipe.write_text(content)
    out = tmp_path / "pki"
    outs = ["--out", str(out)] if command == "run all" else []  # the others take no --out
    check_refused(run_cli(*command.split(), "--recipe", str(recipe), *outs), needle, out)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "all"],
        ["run", "all", "--dry-run"],
        ["renew", "all"],
        ["walkthrough", "--yes"],
        ["verify"],
        ["inspect", "admin"],
        ["check-expiration"],
        ["csr", "admin"],
    ],
)
def test_out_that_is_a_file(tmp_path: Path, argv: list[str]) -> None:
    """--out naming a file: one line, exit 2, the file untouched (was a traceback for run)."""
    out = tmp_path / "pki"
    out.write_text("not a folder\n")
    done = run_cli(*argv, "--out", str(out))
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr == f"kpki-openssl: error: --out: {str(out)!r} is not a folder\n"
    assert out.read_text() == "not a folder\n"


@pytest.mark.parametrize("argv", [["export"], ["export", "--format", "markdown"]])
def test_output_that_is_a_folder(tmp_path: Path, argv: list[str]) -> None:
    target = tmp_path / "dir"
    target.mkdir()
    done = run_cli(*argv, "-o", str(target))
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr == f"kpki-openssl: error: -o: {str(target)!r} is a folder, not a file\n"
    assert list(target.iterdir()) == [] and list(tmp_path.iterdir()) == [target]


def test_out_that_cannot_be_made(tmp_path: Path) -> None:
    """An output folder under a file: one line naming it, no traceback, exit 1."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = run_cli("run", "ca", "--out", str(blocker / "pki"))
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert str(blocker / "pki") in done.stderr


@pytest.mark.parametrize(
    "name, needle",
    [("5", "variables.5: 5 is not a valid variable name"),
     ("'Bad Name'", "variables.Bad Name: 'Bad Name' is not a valid variable name")],
)  # fmt: skip
def test_bad_variable_names(tmp_path: Path, name: str, needle: str) -> None:
    """A variable named by a YAML number was a traceback (AttributeError), not one line."""
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(
        TINY.format(rows="").replace("variables:\n", f"variables:\n  {name}: {{default: x}}\n")
    )
    out = tmp_path / "pki"
    check_refused(run_cli("run", "all", "--recipe", str(recipe), "--out", str(out)), needle, out)


@pytest.mark.parametrize("command", [["run", "all"], ["verify"], ["check-expiration"]])
def test_empty_out_is_refused(tmp_path: Path, command: list[str]) -> None:
    """--out '' is not the current folder (Path('') is '.'): one line, nothing written there."""
    done = run_cli(*command, "--out", "", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr == "kpki-openssl: error: --out: '' is empty\n"
    assert list(tmp_path.iterdir()) == []
