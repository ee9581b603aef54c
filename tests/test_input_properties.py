"""Property tests over names, IPs, subject values and free text.

Every value is either rejected before anything is written (one line naming the field and the
value) or accepted; accepted values round-trip exactly into real certificates (checked with
cryptography), and the exported script and command log stay plain argv lines that bash parses.
The acceptance rules are restated here independently of validate.py (the oracle).
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import re
import shlex
import socket
import string
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from kpki_openssl.base.errors import InputError
from kpki_openssl.cli import main as cli_main
from kpki_openssl.plan import shell_text
from kpki_openssl.plan.steps import Command, build_plan
from kpki_openssl.recipe.load import parse_recipe
from kpki_openssl.recipe.variables import resolve_variables
from tests.conftest import need_program
from tests.oracle import load_cert, openssl_verify, sans, subject_pairs

RECIPE = """
name: props
variables:
  cn: {default: leaf}
  org: {default: org}
  names: {default: [leaf.example], check: dns}
  addrs: {default: [127.0.0.1], check: ip}
  note: {default: hello}
  key_size: {default: 1024}
  days: {default: 10}
  ca_days: {default: 20}
profiles:
  ca: {ca: true, key_usage: [keyCertSign, cRLSign, digitalSignature]}
  server: {key_usage: [digitalSignature, keyEncipherment], extended_key_usage: [serverAuth]}
certificates:
  - {name: ca, profile: ca, subject: {CN: props-ca}}
  - name: leaf
    ca: ca
    profile: server
    title: "leaf for {note}"
    explain: "Made for {note}."
    subject: {CN: "{cn}", O: "{org}"}
    sans: {dns: ["{names}"], ip: ["{addrs}"]}
"""
PROPS = parse_recipe(RECIPE, "props.yaml")

# ----- the rules, restated (the oracle) -----

_LDH = set(string.ascii_letters + string.digits + "-")
_SUBJECT_CHARS = set(string.ascii_letters + string.digits + " :._@()-")


def is_rfc1123(value: str) -> bool:
    labels = value.split(".")
    return len(value) <= 253 and all(
        1 <= len(label) <= 63
        and set(label) <= _LDH
        and not label.startswith("-")
        and not label.endswith("-")
        for label in labels
    )


def is_ip(value: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, value.strip())
            return True
        except (OSError, ValueError):
            continue
    return False


def is_subject_value(value: str) -> bool:
    return (
        1 <= len(value) <= 64
        and set(value) <= _SUBJECT_CHARS
        and value[0].isascii()
        and value[0].isalnum()
        and not value.endswith(" ")
    )


# ----- candidates: mostly nasty, some fine -----

NASTY = [
    "",
    " ",
    "node 01",
    "a/b",
    "$(reboot)",
    "`id`",
    "'q'",
    '"q"',
    "a;b",
    "a\nb",
    "a\x00b",
    "-lead",
    "trail-",
    "x" * 64,
    "node01/O=system:masters",
    "a=b",
    "a+b",
    "a\\b",
    "fe80::1%eth0",
    "10.0.0.300",
    "01.2.3.4",
    "1.2.3",
    "::ffff:1.2.3.4",
    "\udcff",
    "\u2028",
    "é",
]
NAMEISH = string.ascii_letters + string.digits + "-._ /$()'\"`;:=+\\@\n\t\x00é"
candidates = st.one_of(
    st.sampled_from(NASTY),
    st.text(alphabet=NAMEISH, max_size=70),
    st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z0-9]{1,5}){0,2}\Z"),
)
ip_candidates = st.one_of(
    st.sampled_from(NASTY),
    st.ip_addresses().map(str),
    st.text(alphabet="0123456789abcdefABCDEF:.% x", max_size=45),
)


def plan_with(*sets: str):
    return build_plan(PROPS, resolve_variables(PROPS, sets))


def assert_one_line_naming(exc: InputError, field: str, value: str) -> None:
    message = str(exc)
    assert "\n" not in message and field in message and repr(value) in message, message


# ----- pure: every value accepted or refused by the rules; nothing written -----


@settings(max_examples=300, deadline=None)
@given(candidates)
@example("10.0.0.5")
def test_dns_names_follow_rfc1123(value: str) -> None:
    assume("," not in value and value == value.strip() and value)
    try:
        plan = plan_with(f"names={value}")
    except InputError as exc:
        assert not is_rfc1123(value)
        assert_one_line_naming(exc, "--set names[0]", value)
        return
    assert is_rfc1123(value)
    content = plan.step("leaf").actions[0].content
    if is_ip(value):  # a name that is an IP address is an IP SAN, never a DNS SAN
        assert "DNS." not in content and f"\nIP.2 = {value}\n" in content, content
        return
    assert f"\nDNS.1 = {value}\n" in content


@settings(max_examples=300, deadline=None)
@given(ip_candidates)
def test_ips_are_ip_addresses(value: str) -> None:
    assume("," not in value and value == value.strip() and value)
    try:
        plan = plan_with(f"addrs={value}")
    except InputError as exc:
        assert_one_line_naming(exc, "--set addrs[0]", value)
        return
    assert is_ip(value) and "%" not in value
    assert f"\nIP.1 = {ipaddress.ip_address(value)}\n" in plan.step("leaf").actions[0].content


@settings(max_examples=300, deadline=None)
@given(candidates)
@example("node01/O=system:masters")
@example("x" * 65)
def test_subject_values_cannot_add_attributes(value: str) -> None:
    try:
        plan = plan_with(f"cn={value}")
    except InputError as exc:
        assert not is_subject_value(value)
        assert "--set cn" in str(exc) or "certificates[leaf].subject.CN" in str(exc), exc
        assert "\n" not in str(exc) and repr(value) in str(exc)
        return
    assert is_subject_value(value)
    assert plan.step("leaf").spec.subject_text == f"/CN={value}/O=org"


PROLOGUE_LINES = ("set -euo pipefail", "umask 077", "export SSL_CERT_FILE=/dev/null")


def script_commands(text: str) -> list[list[str]]:
    """The commands of a script, skipping comments and quoted here-documents."""
    commands, lines = [], iter(text.splitlines())
    for line in lines:
        if not line.strip() or line.startswith("#") or line in PROLOGUE_LINES:
            continue
        if line.startswith("cat > ") and line.endswith("'"):
            delimiter = line.rsplit("<<'", 1)[1][:-1]
            for body in lines:
                if body == delimiter:
                    break
            continue
        if line.endswith(" || \\"):  # the guard before a key command: `[ -e KEY ] || \`
            assert KEY_GUARD.fullmatch(line), line
            line = next(lines)
        commands.append(shlex.split(line))
    return commands


# the line before a command that makes a key (shell_text.kept_key_line): file tests only
KEY_GUARD = re.compile(r"(\{ )?\[ -e [^ ;|]+ \]( \|\| \[ -e [^ ;|]+ \])*(; \})? \|\| \\")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60) | st.sampled_from(["a\nopenssl rm -rf /", "x\x00y", "\udcff", "EOF"]))
def test_free_text_never_becomes_a_command(note: str) -> None:
    """Whatever text reaches titles and explanations, the script holds only the plan's argv."""
    try:
        plan = plan_with(f"note={note}")
    except InputError as exc:
        assert_one_line_naming(exc, "--set note", note)
        return
    text = shell_text.script(plan)
    expected = [list(a.argv) for s in plan.steps for a in s.actions if isinstance(a, Command)]
    assert script_commands(text) == expected


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=40))
def test_exported_script_parses_in_bash(note: str) -> None:
    try:
        plan = plan_with(f"note={note}")
    except InputError:
        return
    done = subprocess.run(
        ["bash", "-n"], input=shell_text.script(plan), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(["names", "addrs", "cn", "org"]), st.sampled_from(NASTY[1:]))
def test_refused_values_write_nothing(tmp_path: Path, variable: str, value: str) -> None:
    """The real command line, in-process: exit 2, one line, and no folder at all."""
    assume(not (variable in ("names", "addrs") and "," in value))
    try:
        plan_with(f"{variable}={value}")
        assume(False)  # an accepted value: not what this test is about
    except InputError:
        pass
    recipe = tmp_path / "props.yaml"
    recipe.write_text(RECIPE)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pki"
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            status = cli_main(
                ["run", "all", "--recipe", str(recipe), "--set", f"{variable}={value}",
                 "--out", str(out)]
            )  # fmt: skip
        assert status == 2 and err.getvalue().count("\n") == 1, err.getvalue()
        assert not out.exists()


# ----- real certificates: accepted values round-trip exactly -----

label = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9-]{0,6}[A-Za-z0-9])?\Z")
dns_names = st.lists(label, min_size=1, max_size=3).map(".".join)
subject_values = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9 :._@()-]{0,20}[A-Za-z0-9:._@()-])?\Z")


@settings(max_examples=10, deadline=None)
@given(
    cn=subject_values,
    org=subject_values,
    names=st.lists(dns_names, min_size=1, max_size=3, unique=True),
    addrs=st.lists(st.ip_addresses(), max_size=3, unique=True),
)
def test_accepted_values_round_trip_into_certificates(cn, org, names, addrs) -> None:
    need_program("openssl")
    with tempfile.TemporaryDirectory() as tmp:
        recipe = Path(tmp) / "props.yaml"
        recipe.write_text(RECIPE)
        out = Path(tmp) / "pki"
        status = cli_main(
            ["run", "all", "--quiet", "--recipe", str(recipe), "--out", str(out),
             "--set", f"cn={cn}", "--set", f"org={org}", "--set", f"names={','.join(names)}",
             "--set", f"addrs={','.join(map(str, addrs))}"]
        )  # fmt: skip
        assert status == 0
        cert = load_cert(out / "leaf.crt")
        assert subject_pairs(cert) == [("CN", cn), ("O", org)]
        dns, ips = sans(cert)
        assert dns == names
        assert [ipaddress.ip_address(ip) for ip in ips] == addrs
        assert openssl_verify(out / "ca.crt", out / "leaf.crt").returncode == 0
        log = (out / "commands.sh").read_text()
        assert subprocess.run(["bash", "-n"], input=log, text=True).returncode == 0
