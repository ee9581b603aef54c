"""`--set node_keys=on-node`: run makes no key, CSR or certificate for the per-node rows; the
node makes its own (`export --node`), `sign` makes the certificates, and the exported script
signs a node's CSR only once it is there."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kpki_openssl.plan.signing import SignStep, waiting
from kpki_openssl.plan.steps import CertStep, Command, build_plan
from kpki_openssl.recipe.load import load_recipe
from kpki_openssl.recipe.variables import resolve_variables
from tests.conftest import need_program, run_cli

ON_NODE = ["--set", "node_keys=on-node", "--set", "key_type=ecdsa"]
NODES = ("node01", "node02", "node03")
PER_NODE = tuple(f"{kind}-{n}" for n in NODES for kind in ("kubelet-client", "kubelet"))


def plan_for(*sets: str, recipe: str = "kubernetes"):
    loaded = load_recipe(recipe)
    return build_plan(loaded, resolve_variables(loaded, sets))


@pytest.mark.parametrize("recipe", ["kubernetes", "the-hard-way"])
def test_per_node_rows_become_sign_steps(recipe: str) -> None:
    paths = ("embed_certs=no",)  # the tutorial embeds by default: a node's key cannot be
    on_ca = plan_for(*paths, recipe=recipe)
    on_node = plan_for("node_keys=on-node", *paths, recipe=recipe)
    assert [s.name for s in on_ca.steps] == [s.name for s in on_node.steps]
    signs = {s.name for s in waiting(on_node)}
    per_node = {
        s.name
        for s in on_ca.steps
        if isinstance(s, CertStep) and s.spec.for_each and s.spec.for_each[0] == "nodes"
    }
    assert signs == per_node and signs
    for step in waiting(on_node):
        assert step.key_files == ()  # no key is made
        assert step.spec.csr_file not in step.writes  # nor a CSR
        same = on_ca.step(step.name)
        argvs = [a.argv for a in same.actions if isinstance(a, Command)]
        x509 = [argv for argv in argvs if argv[:2] == ("openssl", "x509")]
        assert [a.argv for a in step.actions if isinstance(a, Command)] == x509  # run's


def test_run_makes_nothing_for_the_nodes(tmp_path: Path) -> None:
    need_program("openssl")
    out = tmp_path / "pki"
    done = run_cli("run", "all", "--quiet", "--out", str(out), *ON_NODE)
    assert done.returncode == 0, done.stderr
    for name in PER_NODE:
        for suffix in (".key", ".csr", ".crt", ".cnf"):
            assert not (out / f"{name}{suffix}").exists(), name
        assert f"waiting for {name}.csr" in done.stdout
    assert "-out kubelet-client-node01.key" not in (out / "commands.sh").read_text()
    again = run_cli("run", "all", "--quiet", "--out", str(out), *ON_NODE)
    assert again.returncode == 0 and "0 steps run" in again.stdout
    named = run_cli("run", "kubelet-node02", "--out", str(out), *ON_NODE)
    assert named.returncode == 2 and named.stderr.count("\n") == 1
    assert "export --node node02" in named.stderr and "sign kubelet-node02.csr" in named.stderr


def test_the_dry_run_names_what_waits_for_the_nodes() -> None:
    done = run_cli("run", "all", "--dry-run", *ON_NODE)
    assert done.returncode == 0, done.stderr
    for name in PER_NODE:
        assert f"# waiting for {name}.csr:" in done.stdout
        assert f"# ===== step {name}:" not in done.stdout


def test_embedding_a_node_key_is_refused() -> None:
    done = run_cli("list", *ON_NODE, "--set", "embed_certs=yes")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "embed_certs=no" in done.stderr


def test_the_node_script_still_makes_keys_and_csrs(tmp_path: Path) -> None:
    need_program("openssl")
    script = tmp_path / "node03.sh"
    assert run_cli("export", "--node", "node03", "-o", str(script), *ON_NODE).returncode == 0
    node = tmp_path / "node03"
    node.mkdir()
    subprocess.run(["bash", str(script)], cwd=node, check=True, capture_output=True, timeout=120)
    assert sorted(p.name for p in node.glob("*.key")) == [
        "kubelet-client-node03.key",
        "kubelet-node03.key",
    ]
    assert sorted(p.name for p in node.glob("*.csr")) == [
        "kubelet-client-node03.csr",
        "kubelet-node03.csr",
    ]


def test_the_exported_script_signs_a_csr_once_it_is_there(tmp_path: Path) -> None:
    need_program("openssl")
    script = tmp_path / "pki.sh"
    assert run_cli("export", "-o", str(script), *ON_NODE).returncode == 0
    text = script.read_text()
    assert (
        "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out kubelet-node01.key" not in text
    )
    node_script = tmp_path / "node01.sh"
    assert run_cli("export", "--node", "node01", "-o", str(node_script), *ON_NODE).returncode == 0
    node, ca = tmp_path / "node01", tmp_path / "ca-host"
    node.mkdir()
    ca.mkdir()
    subprocess.run(["bash", str(node_script)], cwd=node, check=True, capture_output=True)
    for csr in node.glob("*.csr"):
        (ca / csr.name).write_bytes(csr.read_bytes())
    done = subprocess.run(["bash", str(script)], cwd=ca, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (ca / "kubelet-node01.crt").is_file() and (ca / "kubelet-client-node01.crt").is_file()
    assert not (ca / "kubelet-node01.key").exists()
    assert not (ca / "kubelet-node02.crt").exists()
    assert "kubelet-node02: waiting for kubelet-node02.csr from its node" in done.stderr


def test_sign_steps_are_cert_steps_for_every_reader() -> None:
    plan = plan_for("node_keys=on-node")
    step = plan.step("kubelet-node01")
    assert isinstance(step, SignStep) and isinstance(step, CertStep)
    assert step.spec in plan.certs
    assert "its key stays elsewhere" in step.relation()


def test_a_nodes_install_script_installs_no_key_it_never_had(tmp_path: Path) -> None:
    need_program("openssl")
    out, node = tmp_path / "pki", tmp_path / "node01"
    assert run_cli("run", "all", "--quiet", "--out", str(out), *ON_NODE).returncode == 0
    node_script = tmp_path / "node01.sh"
    assert run_cli("export", "--node", "node01", "-o", str(node_script), *ON_NODE).returncode == 0
    node.mkdir()
    subprocess.run(["bash", str(node_script)], cwd=node, check=True, capture_output=True)
    assert run_cli("sign", str(node), "--out", str(out), *ON_NODE).returncode == 0
    install = tmp_path / "install.sh"
    assert run_cli("export", "--host", "node01", "-o", str(install), *ON_NODE).returncode == 0
    root = tmp_path / "root"
    done = subprocess.run(["bash", str(install), str(root)], cwd=out, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    placed = {p.name for p in root.rglob("*") if p.is_file()}
    assert {"kubelet-node01.crt", "kubelet-client-node01.crt"} <= placed
    assert not {"kubelet-node01.key", "kubelet-client-node01.key"} & placed
    assert "kubelet-node01.key was made on this host by export --node" in install.read_text()
