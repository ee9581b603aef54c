"""Nothing a recipe or `--set` gives can start a line in a file the tool writes.

Every check of a name, an address, a path or a subject matches the whole value: a pattern
anchored with `$` accepts a trailing newline, which would have put the rest of a value on a line
of its own in the exported script, a .cnf, a flags file, a kubeconfig or the log. Each slot of a
recipe that reaches a file is tried with every line break there is, as a recipe value and
through `--set`: either the tool refuses it (exit 2, one line, nothing written) or no line of
anything it writes or prints starts with what came after the break.
"""

from __future__ import annotations

import gc
import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import need_program, run_cli

MARKER = "INJECTED"
# every character Python's str.splitlines, bash, YAML or a terminal takes as a line break
BREAKS = ["\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]

RECIPE = """\
name: @name@
variables:
  nodes: {default: [@node@], check: name}
  note: {default: @note@}
  api: {default: @server@, check: url}
  pki_dir: {default: @dir@, check: path}
  extra_dns: {default: [@dns@], check: dns}
  extra_ip: {default: [@ip@], check: ip}
  service_cidr: {default: 10.96.0.0/12, check: cidr}
  node_addr: {default: {n1: @mapval@}, check: ip}
  days: {default: 30}
  ca_days: {default: 60}
  key_type: {default: ecdsa}
profiles:
  ca: {ca: true, key_usage: [keyCertSign, cRLSign, digitalSignature]}
  client: {key_usage: [digitalSignature], extended_key_usage: [clientAuth]}
  server: {key_usage: [digitalSignature], extended_key_usage: [serverAuth]}
certificates:
  - name: ca
    profile: ca
    title: @title@
    subject: {CN: @cn@}
  - name: @certname@
    file: @certfile@
    ca: ca
    profile: server
    title: "server for {note}"
    document: [@docline@]
    subject: {CN: kube-apiserver, O: @org@}
    sans: {dns: [kube-apiserver, "{extra_dns}"], ip: [127.0.0.1, "{extra_ip}"]}
  - name: admin
    ca: ca
    profile: client
    subject: {CN: kube-admin, O: "system:masters"}
  - name: "kubelet-{node}"
    for_each: {node: nodes}
    ca: ca
    profile: client
    title: "kubelet {node}: {note}"
    subject: {CN: "system:node:{node}", O: "system:nodes"}
    sans: {ip: ["{node_addr[node]}"]}
kubeconfigs:
  - file: @kcfile@
    client: admin
    served_by: @certname@
    server: "{api}"
    user: @user@
    cluster: @cluster@
    context: @context@
    paths: {ca: @capath@}
components:
  - file: @compfile@
    program: @program@
    hosts: [@host@]
    host_dir: @hostdir@
    flags: {@flagname@: @flagvalue@, --tls-cert-file: "{pki_dir}/ca.crt"}
  - file: "kubelet-{node}.yaml"
    for_each: {node: nodes}
    program: kubelet
    hosts: ["{node}"]
    host_dir: /var/lib/kubelet
    yaml:
      kind: KubeletConfiguration
      @yamlkey@: @yamlvalue@
      clusterDNS: ["{extra_ip}"]
      tlsCertFile: "/var/lib/kubelet/kubelet-{node}.crt"
keypairs:
  - name: @kpname@
    file: @kpfile@
    title: @kptitle@
"""
DEFAULTS = {
    "name": "inject",
    "node": "n1",
    "note": "a note",
    "server": "https://kube-apiserver:6443",
    "dir": "/var/lib/kubernetes",
    "dns": "api.example",
    "ip": "10.0.0.1",
    "mapval": "10.0.0.2",
    "title": "the CA",
    "cn": "INJECT-CA",
    "certname": "apiserver",
    "certfile": "apiserver",
    "docline": "a line of the document",
    "org": "Kubernetes",
    "kcfile": "admin.kubeconfig",
    "user": "admin",
    "cluster": "kubernetes",
    "context": "admin@kubernetes",
    "capath": "/var/lib/kubernetes",
    "compfile": "kube-apiserver.flags",
    "program": "kube-apiserver",
    "host": "controlplane",
    "hostdir": "/var/lib/kubernetes",
    "flagname": "--client-ca-file",
    "flagvalue": "/var/lib/kubernetes/ca.crt",
    "yamlkey": "clusterDomain",
    "yamlvalue": "cluster.local",
    "kpname": "sa",
    "kpfile": "sa",
    "kptitle": "service account key",
}
# `--set` takes these variables (lists and maps are split at commas, each part stripped)
SETS = {
    "note": "note",
    "server": "api",
    "dir": "pki_dir",
    "node": "nodes",
    "dns": "extra_dns",
    "ip": "extra_ip",
    "mapval": "node_addr",
}


def set_arg(slot: str, value: str) -> str:
    """--set for the variable behind `slot` (a map's value goes under the node's key)."""
    if slot == "mapval":
        return f"node_addr=n1={value}"
    return f"{SETS[slot]}={value}"


def recipe_text(slot: str = "", value: str = "") -> str:
    """The recipe with every slot at its default and `slot` (if any) holding `value`, written as
    a YAML double-quoted string (json.dumps), so any character reaches the tool unchanged."""
    text = RECIPE
    for name, default in DEFAULTS.items():
        text = text.replace(f"@{name}@", json.dumps(value if name == slot else default))
    return text


def starts_a_line(text: str) -> list[str]:
    """The lines of `text` that start with the marker (after indentation, a YAML dash, a
    comment's '#' is not stripped: a comment line is a comment)."""
    return [line for line in text.splitlines() if line.lstrip(" \t-").startswith(MARKER)]


def outputs(recipe: Path, *sets: str) -> dict[str, str] | tuple[int, str]:
    """What every command that prints or writes the plan gives: each output by name, or the
    refusal (exit status, stderr) when the first command refuses the recipe."""
    extra = ["--recipe", str(recipe)]
    for item in sets:
        extra += ["--set", item]
    listing = run_cli("list", *extra)
    if listing.returncode != 0:
        return listing.returncode, listing.stderr
    texts = {"list": listing.stdout}
    from kpki_openssl.cli.common import load_plan
    from kpki_openssl.deploy import hosts
    from kpki_openssl.plan.shell_text import log_entry
    from kpki_openssl.plan.steps import WriteFile

    class Args:
        pass

    args = Args()
    args.recipe, args.sets = str(recipe), list(sets)  # type: ignore[attr-defined]
    plan = load_plan(args)  # type: ignore[arg-type]
    gc.unfreeze()  # load_plan freezes what it built; these tests build many plans
    commands = {
        "dry-run": ["run", "all", "--dry-run"],
        "export": ["export"],
        "handout": ["export", "--format", "markdown"],
        "node": ["export", "--node", plan.values["nodes"][0]],
        "mermaid": ["diagram"],
        "dot": ["diagram", "--format", "dot"],
        "hosts": ["hosts"],
        "hosts-json": ["hosts", "--json"],
        "explain": ["explain", "ca"],
    }
    for name, argv in commands.items():
        done = run_cli(*argv, *extra)
        assert done.returncode == 0, (name, done.stderr)
        texts[name] = done.stdout
    for step in plan.steps:
        for action in step.actions:
            if isinstance(action, WriteFile):
                texts[action.path] = action.content
            texts[f"log {step.name}"] = log_entry(action, step.name, "now", 0, 0.0)
    for host in hosts.layout(plan).hosts:
        texts[f"host {host.name}"] = hosts.install_script(plan, host.name)
    return texts


def assert_refused_in_one_line(refusal: tuple[int, str]) -> None:
    status, err = refusal
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("kpki-openssl: error: "), err
    assert "Traceback" not in err


def assert_no_line_starts_with_the_marker(texts: dict[str, str]) -> None:
    for name, text in texts.items():
        assert not starts_a_line(text), (name, starts_a_line(text)[:3])


def test_the_recipe_with_its_defaults_is_accepted(tmp_path: Path) -> None:
    recipe = tmp_path / "inject.yaml"
    recipe.write_text(recipe_text())
    texts = outputs(recipe)
    assert isinstance(texts, dict), texts
    assert "host controlplane" in texts and "host n1" in texts


@pytest.mark.parametrize("slot", sorted(DEFAULTS))
def test_a_trailing_newline_in_any_slot_is_refused(tmp_path: Path, slot: str) -> None:
    """A value ending in a newline passes a `^...$` pattern; every slot refuses it."""
    recipe = tmp_path / "inject.yaml"
    recipe.write_text(recipe_text(slot, DEFAULTS[slot] + "\n"))
    got = outputs(recipe)
    assert isinstance(got, tuple), f"{slot}: a trailing newline was accepted"
    assert_refused_in_one_line(got)
    assert repr(DEFAULTS[slot] + "\n") in got[1] or slot == "name", got[1]


@pytest.mark.parametrize("variable", sorted(SETS))
@pytest.mark.parametrize("brk", BREAKS)
def test_a_line_break_through_set_is_refused(tmp_path: Path, variable: str, brk: str) -> None:
    recipe = tmp_path / "inject.yaml"
    recipe.write_text(recipe_text())
    value = DEFAULTS[variable] + brk + MARKER
    got = outputs(recipe, set_arg(variable, value))
    assert isinstance(got, tuple), f"--set {SETS[variable]}: {value!r} was accepted"
    assert_refused_in_one_line(got)
    assert f"--set {SETS[variable]}" in got[1], got[1]


def test_a_trailing_newline_is_refused_with_nothing_written(tmp_path: Path) -> None:
    """The whole command line, as a user types it: exit 2, one line, no folder."""
    recipe = tmp_path / "inject.yaml"
    out = tmp_path / "pki"
    for slot in ("certname", "flagname", "hostdir", "cn", "dns"):
        recipe.write_text(recipe_text(slot, DEFAULTS[slot] + "\n"))
        done = run_cli("run", "all", "--recipe", str(recipe), "--out", str(out))
        assert_refused_in_one_line((done.returncode, done.stderr))
        assert not out.exists(), slot


SYNTAX = "abcxyz019 :#-'\"$`;&|<>()[]{}*!%@,.=/\\?~^+_"
text_before = st.one_of(
    st.text(alphabet=SYNTAX, max_size=12),
    st.from_regex(r"\A[a-z0-9][a-z0-9.-]{0,8}\Z"),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8),
)
values = st.one_of(
    st.builds(lambda a, b: a + b + MARKER, text_before, st.sampled_from(BREAKS)),
    st.builds(lambda a, b: a + b, text_before, st.sampled_from(BREAKS)),
    st.builds(lambda a: a + MARKER, text_before),
    text_before,
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(slot=st.sampled_from(sorted(DEFAULTS)), value=values, through_set=st.booleans())
def test_nothing_given_can_start_a_line_anywhere(
    tmp_path: Path, slot: str, value: str, through_set: bool
) -> None:
    """Any text in any slot (or through --set): refused in one line, or no line of any output
    starts with what follows a break."""
    recipe = tmp_path / "inject.yaml"
    if through_set and slot in SETS:
        recipe.write_text(recipe_text())
        got = outputs(recipe, set_arg(slot, value))
    else:
        recipe.write_text(recipe_text(slot, value))
        got = outputs(recipe)
    if isinstance(got, tuple):
        event("refused")
        assert_refused_in_one_line(got)
        return
    event("accepted")
    # --set strips the whitespace around a list's or a map's items (node01, node02), a line
    # break included: what reaches a file is the stripped value
    given = value.strip() if through_set and slot in ("node", "dns", "ip", "mapval") else value
    assert not any(b in given for b in BREAKS), (slot, value)
    if not given.startswith(MARKER):  # a YAML key given as INJECTED does start its line
        assert_no_line_starts_with_the_marker(got)


def test_an_accepted_hostile_recipe_builds_and_every_file_reads_back(tmp_path: Path) -> None:
    """Text that is legal but looks like syntax (a user 'y:', a note '#', a map value) is
    written so that bash, PyYAML and kubectl read back exactly what was given."""
    need_program("openssl")
    kubectl = need_program("kubectl")
    import yaml

    recipe = tmp_path / "inject.yaml"
    text = recipe_text()
    for slot, value in (("user", "y:"), ("cluster", "-[x]#1"), ("context", "null"),
                        ("note", "a: b # c"), ("yamlvalue", "fd00::"),
                        ("program", 'etcd"] --> x')):  # fmt: skip
        text = text.replace(json.dumps(DEFAULTS[slot]), json.dumps(value), 1)
    recipe.write_text(text)
    out = tmp_path / "pki"
    done = run_cli("run", "all", "--quiet", "--recipe", str(recipe), "--out", str(out))
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((out / "admin.kubeconfig").read_text())
    assert config["users"][0]["name"] == "y:"
    assert config["clusters"][0]["name"] == "-[x]#1"
    assert config["current-context"] == "null"
    view = subprocess.run(
        [kubectl, "config", "view", "--kubeconfig", str(out / "admin.kubeconfig"), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert view.returncode == 0, view.stderr
    seen = json.loads(view.stdout)
    assert seen["users"][0]["name"] == "y:" and seen["current-context"] == "null"
    assert seen["contexts"][0]["context"] == {"cluster": "-[x]#1", "user": "y:"}
    kubelet = yaml.safe_load((out / "kubelet-n1.yaml").read_text())
    assert kubelet["clusterDomain"] == "fd00::"
    for script in (out / "commands.sh",):
        assert subprocess.run(["bash", "-n", str(script)], timeout=60).returncode == 0
