"""Check an output folder against its recipe: chain, key pairs, contents, dates, modes and the
kubeconfigs. Every check carries the openssl command a person would type to do it by hand.

Certificates and keys are read in-process (certinfo, with cryptography); the chain is checked by
`openssl verify -x509_strict -no-CApath -no-CAstore`, one call per CA for all it signed, trusting
that CA and nothing else. Every check still names the openssl command that gives the same verdict.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from kpki_openssl.base import processes
from kpki_openssl.base.errors import InputError, KpkiError
from kpki_openssl.checks import certinfo, expected, kubeconfig_files
from kpki_openssl.checks.certinfo import CertInfo
from kpki_openssl.plan import openssl_argv
from kpki_openssl.plan.certlist import CertSpec, KeySpec, key_words
from kpki_openssl.plan.steps import Plan, WriteFile

Progress = Callable[[str], None]
_VERIFY_ERROR = re.compile(r"^error (\d+) at (\d+) depth lookup: (.*)$")
_VERIFY_FAILED = re.compile(r"^error (.+): verification failed$")


@dataclass(frozen=True)
class Check:
    """One check on one file: passed or not, what is wrong, and how to check it by hand."""

    file: str
    check: str
    ok: bool
    problem: str = ""
    command: str = ""

    def line(self) -> str:
        return f"{self.file}: {self.check}: {self.problem}"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Report:
    checks: list[Check]
    certificates: int
    kubeconfigs: int

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


def verify(
    out: Path,
    plan: Plan,
    now: datetime,
    progress: Progress | None = None,
    kubeconfigs: bool = True,
) -> Report:
    """Every check for every certificate of the plan and (unless `kubeconfigs` is false: the
    walkthrough's per-step check) every kubeconfig in the folder."""
    progress = progress or (lambda _label: None)
    if not out.is_dir():
        raise InputError(f"--out: {str(out)!r} is not a folder ('kpki-openssl run all' builds one)")
    checks: list[Check] = []
    infos: dict[str, CertInfo] = {}
    specs = plan.certs
    by_name = {s.name: s for s in specs}
    for spec in specs:
        progress(spec.cert_file)
        info = _read(out, spec, checks)
        if info is not None:
            infos[spec.name] = info
            checks += _contents(spec, info)
            checks.append(_expiry(spec.cert_file, info, now))
            signer = by_name.get(spec.ca) if spec.ca else None
            if signer is not None and signer.name in infos:
                checks.append(_within_ca(spec, info, signer, infos[signer.name]))
        checks += _key(out, spec, infos.get(spec.name))
    checks += _chains(out, specs, infos)
    planned = tuple(
        a.path
        for s in plan.steps
        for a in s.actions
        if isinstance(a, WriteFile) and a.path.endswith(kubeconfig_files.KUBECONFIG_SUFFIXES)
    )
    configs = kubeconfig_files.find(out, planned) if kubeconfigs else []
    api = expected.apiserver(specs)
    api_info = infos.get(api.name) if api else None
    cas = {infos[s.name].fingerprint: s for s in specs if s.is_ca and s.name in infos}
    leaves = {info.fingerprint: by_name[name] for name, info in infos.items()}
    installed = kubeconfig_files.installed_paths(plan.kubeconfigs)
    for name in configs:
        progress(name)
        checks += _kubeconfig(out, name, api, api_info, cas, leaves, now, installed)
    # each check in its certificate's plan order (a key's checks with its certificate), by one
    # dict: a search of the specs per check was quadratic (10 s of verify at 1,000 nodes)
    order: dict[str, int] = {}
    for i, spec in enumerate(specs):
        order.setdefault(spec.key_file, i)
        order.setdefault(spec.cert_file, i)
    checks.sort(key=lambda c: order.get(c.file, len(specs)))
    return Report(checks, len(specs), len(configs))


def _read(out: Path, spec: CertSpec, checks: list[Check]) -> CertInfo | None:
    file = spec.cert_file
    show = shlex.join(openssl_argv.x509_show_argv(file, "-text"))
    if not os.path.lexists(out / file):
        checks.append(Check(file, "exists", False, "missing", f"ls -l {shlex.quote(file)}"))
        return None
    try:
        info, count = certinfo.read_counted(file, cwd=out)
    except KpkiError as exc:
        why = str(exc).removeprefix(f"{file}: ")
        checks.append(Check(file, "readable", False, f"not a certificate: {why}", show))
        return None
    if spec.is_ca:
        command = f"test \"$(grep -c -e '-----BEGIN CERTIFICATE-----' {shlex.quote(file)})\" = 1"
        if count > 1:
            problem = (
                f"holds {count} certificates, not only the CA: whoever trusts this file "
                "trusts every one of them"
            )
            checks.append(Check(file, "ca-only", False, problem, command))
        else:
            checks.append(Check(file, "ca-only", True, command=command))
    return info


def _show(file: str, *flags: str) -> str:
    return shlex.join(openssl_argv.x509_show_argv(file, *flags))


def _contents(spec: CertSpec, info: CertInfo) -> list[Check]:
    """Subject, SANs, usages and CA flag as the recipe's commands make them."""
    want = expected.signed(spec)
    file = spec.cert_file
    out = [
        _compare(
            file,
            "subject",
            spec.subject_text,
            info.subject,
            _show(file, "-subject", "-nameopt", "compat"),
        ),
        _compare_set(
            file,
            "subjectAltName",
            list(want.sans.entries()),
            list(info.sans.entries()),
            _show(file, "-ext", "subjectAltName"),
        ),
        _compare_set(
            file, "keyUsage", want.key_usage, info.key_usage, _show(file, "-ext", "keyUsage")
        ),
        _compare_set(
            file,
            "extendedKeyUsage",
            want.extended_key_usage,
            info.extended_key_usage,
            _show(file, "-ext", "extendedKeyUsage"),
        ),
        _compare(
            file,
            "basicConstraints",
            _ca_flag(want.is_ca),
            _ca_flag(info.is_ca),
            _show(file, "-ext", "basicConstraints"),
        ),
    ]
    return out


def _ca_flag(value: bool | None) -> str:
    return "none" if value is None else f"CA:{'TRUE' if value else 'FALSE'}"


def _compare(file: str, check: str, want: str, have: str, command: str) -> Check:
    if want == have:
        return Check(file, check, True, command=command)
    return Check(file, check, False, f"expected {want}, found {have or 'none'}", command)


def _compare_set(file: str, check: str, want, have, command: str) -> Check:
    if sorted(want) == sorted(have):
        return Check(file, check, True, command=command)
    missing = [x for x in want if x not in have]
    extra = [x for x in have if x not in want]
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if extra:
        parts.append(f"unexpected {', '.join(extra)}")
    return Check(file, check, False, "; ".join(parts) or "different order", command)


def _expiry(file: str, info: CertInfo, now: datetime, command: str = "") -> Check:
    command = command or _show(file, "-checkend", "0")
    if info.not_after is not None and info.not_after <= now:
        return Check(file, "expiry", False, f"expired on {_day(info.not_after)}", command)
    if info.not_before is not None and info.not_before > now:
        return Check(file, "expiry", False, f"not valid before {_day(info.not_before)}", command)
    return Check(file, "expiry", True, command=command)


def _within_ca(spec: CertSpec, info: CertInfo, signer: CertSpec, ca: CertInfo) -> Check:
    command = f"{_show(spec.cert_file, '-enddate')}; {_show(signer.cert_file, '-enddate')}"
    if info.not_after and ca.not_after and info.not_after > ca.not_after:
        return Check(
            spec.cert_file,
            "within-ca",
            False,
            f"expires {_day(info.not_after)}, after its CA {signer.cert_file} "
            f"({_day(ca.not_after)})",
            command,
        )
    return Check(spec.cert_file, "within-ca", True, command=command)


def _key(out: Path, spec: CertSpec, info: CertInfo | None) -> list[Check]:
    file = spec.key_file
    path = out / file
    if not os.path.lexists(path):
        return [Check(file, "exists", False, "missing", f"ls -l {shlex.quote(file)}")]
    checks = []
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)  # a link: its target's mode
    except OSError:  # a dangling link: the readable check below names it
        mode = 0
    mode_cmd = f"stat -L -c %a {shlex.quote(file)}"
    if mode & 0o077:
        checks.append(
            Check(
                file,
                "key-mode",
                False,
                f"mode {mode:04o}: readable by group or others (want 0600)",
                mode_cmd,
            )
        )
    else:
        checks.append(Check(file, "key-mode", True, command=mode_cmd))
    facts = certinfo.private_key_facts(file, cwd=out)
    if facts is None:
        try:
            certinfo.read_regular(file, cwd=out)
            why = "not a private key that can be read"
        except KpkiError as exc:
            why = str(exc).removeprefix(f"{file}: ")
        command = shlex.join(openssl_argv.pubkey_argv(file))
        checks.append(Check(file, "readable", False, why, command))
        return checks
    checks.append(_key_type(spec, facts[:3]))
    if info is not None:
        command = (
            f"diff <({_show(spec.cert_file, '-pubkey')}) "
            f"<({shlex.join(openssl_argv.pubkey_argv(file))})"
        )
        if facts[3] != info.public_key:
            checks.append(
                Check(
                    file,
                    "key-match",
                    False,
                    f"does not match {spec.cert_file} (a different public key)",
                    command,
                )
            )
        else:
            checks.append(Check(file, "key-match", True, command=command))
    return checks


def key_type_command(key_file: str, key: KeySpec) -> str:
    """The openssl command whose exit status says whether the key is the recipe's kind."""
    name = shlex.quote(key_file)
    if key.type == "rsa":
        return f"openssl rsa -in {name} -noout -text | grep -q '^Private-Key: ({key.size} bit'"
    if key.type == "ecdsa":
        return f"openssl pkey -in {name} -noout -text_pub | grep -qx 'NIST CURVE: {key.curve}'"
    return f"openssl pkey -in {name} -noout -text_pub | grep -q '^ED25519 Public-Key:'"


def _key_type(spec: CertSpec, facts: tuple[str, int, str]) -> Check:
    """The key is the type, size and curve the recipe asks for (key_type, key_size,
    ecdsa_curve): a folder built with other settings is not what the recipe describes."""
    want = spec.key.words
    have = key_words(*facts)
    command = key_type_command(spec.key_file, spec.key)
    if want == have:
        return Check(spec.key_file, "key-type", True, command=command)
    return Check(spec.key_file, "key-type", False, f"expected {want}, found {have}", command)


def _chains(out: Path, specs: tuple[CertSpec, ...], infos: dict[str, CertInfo]) -> list[Check]:
    """One `openssl verify -x509_strict` per CA, for the CA and everything it signed."""
    checks = []
    for ca in (s for s in specs if s.is_ca and s.name in infos):
        files = [ca.cert_file] + [s.cert_file for s in specs if s.ca == ca.name and s.name in infos]
        try:
            argv = openssl_argv.verify_argv(ca.cert_file, files)
            done = processes.run(argv, timeout=processes.READ, cwd=out)
        except processes.CannotRun as exc:  # one line, not one per certificate
            command = shlex.join(openssl_argv.verify_argv(ca.cert_file, files[:1]))
            problem = f"{exc}: no chain was checked"
            return [Check("openssl", "chain", False, problem, command)]
        failures = parse_verify(done.stderr)
        passed = {
            line[: -len(": OK")] for line in done.stdout.splitlines() if line.endswith(": OK")
        }
        for file in files:
            command = shlex.join(openssl_argv.verify_argv(ca.cert_file, [file]))
            if file in passed and file not in failures:
                checks.append(Check(file, "chain", True, command=command))
            else:
                why = "; ".join(failures.get(file, [])) or "openssl verify failed"
                checks.append(
                    Check(
                        file,
                        "chain",
                        False,
                        f"does not verify against {ca.cert_file}: {why}",
                        command,
                    )
                )
    return checks


def parse_verify(stderr: str) -> dict[str, list[str]]:
    """openssl verify's stderr -> {file: [reasons]} (reason lines come before their file)."""
    failures: dict[str, list[str]] = {}
    pending: list[str] = []
    for line in stderr.splitlines():
        reason = _VERIFY_ERROR.match(line)
        if reason:
            pending.append(reason.group(3))
            continue
        failed = _VERIFY_FAILED.match(line)
        if failed:
            failures.setdefault(failed.group(1), []).extend(dict.fromkeys(pending))
            pending = []
    return failures


def _kubeconfig(
    out: Path,
    name: str,
    api: CertSpec | None,
    api_info: CertInfo | None,
    cas: dict[str, CertSpec],
    certs: dict[str, CertSpec],
    now: datetime,
    installed: dict[tuple[str, str], str],
) -> list[Check]:
    path = out / name
    if not os.path.lexists(path):
        return [Check(name, "exists", False, "missing", f"ls -l {shlex.quote(name)}")]
    try:
        text = certinfo.read_regular(name, cwd=out).decode("utf-8", errors="replace")
    except KpkiError as exc:
        why = str(exc).removeprefix(f"{name}: ")
        return [Check(name, "readable", False, why, f"ls -l {shlex.quote(name)}")]
    parsed = kubeconfig_files.parse(name, text)
    view = f"kubectl config view --kubeconfig {shlex.quote(name)} --raw"
    if parsed is None or not parsed.entries:
        return [Check(name, "kubeconfig", False, "not a kubeconfig with a user", view)]
    checks: list[Check] = []
    if any(e.key is not None and e.key.embedded for e in parsed.entries):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        command = f"stat -c %a {shlex.quote(name)}"
        if mode & 0o077:
            problem = f"mode {mode:04o} with an embedded private key (want 0600)"
            checks.append(Check(name, "key-mode", False, problem, command))
        else:
            checks.append(Check(name, "key-mode", True, command=command))
    for entry in (_localized(out, name, e, installed) for e in parsed.entries):
        checks.append(_server_host(name, entry, api, api_info, view))
        ca = _credential_cert(out, name, entry.ca, "certificate-authority", checks, installed)
        if ca is not None:
            command = _extract_command(name, entry.ca, "-fingerprint -sha256")
            if ca.fingerprint in cas:
                checks.append(Check(name, "ca", True, command=command))
            else:
                checks.append(
                    Check(name, "ca", False, f"{entry.ca.field}: not the folder's CA", command)
                )
        cert = _credential_cert(out, name, entry.cert, "client-certificate", checks, installed)
        if cert is None:
            continue
        command = _extract_command(name, entry.cert, "-fingerprint -sha256")
        if cert.fingerprint in certs:
            checks.append(Check(name, "client-certificate", True, command=command))
        else:
            checks.append(
                Check(
                    name,
                    "client-certificate",
                    False,
                    f"{entry.cert.field}: none of the folder's certificates",
                    command,
                )
            )
        if ca is not None and cert.issuer != ca.subject:
            checks.append(
                Check(
                    name,
                    "issuer",
                    False,
                    f"{entry.cert.field} is issued by {cert.issuer}, "
                    f"not by the kubeconfig's CA {ca.subject}",
                    _extract_command(name, entry.cert, "-issuer"),
                )
            )
        checks.append(_expiry(name, cert, now, _extract_command(name, entry.cert, "-checkend 0")))
        checks.append(_kubeconfig_key(out, name, entry, cert, installed))
    return checks


def _localized(out: Path, name: str, entry, installed):
    """The entry with each referenced file replaced by where it is in the folder (host paths
    such as /var/lib/kubelet/... map to the folder's files), so shown commands work here."""
    import dataclasses

    def local(cred):
        if cred is None or cred.embedded or cred.error:
            return cred
        found = kubeconfig_files.local_file(out, name, cred, installed)
        return dataclasses.replace(cred, path=found) if found else cred

    return dataclasses.replace(
        entry, ca=local(entry.ca), cert=local(entry.cert), key=local(entry.key)
    )


def _server_host(name, entry, api, api_info, view) -> Check:
    host = expected.url_host(entry.server)
    command = f"{view} -o jsonpath='{{.clusters[*].cluster.server}}'"
    if api is not None:
        command += f"; {_show(api.cert_file, '-ext', 'subjectAltName')}"
    if not host:
        return Check(name, "server-host", False, f"server {entry.server!r} has no host", command)
    if api_info is None:
        return Check(name, "server-host", True, command=command)
    if expected.host_covered(host, api_info.dns, api_info.ips):
        return Check(name, "server-host", True, command=command)
    sans = ", ".join([*api_info.dns, *api_info.ips]) or "none"
    return Check(
        name,
        "server-host",
        False,
        f"server {entry.server}: host {host} is not in {api.cert_file}'s SANs ({sans})",
        command,
    )


def _credential_cert(out, name, cred, what, checks, installed) -> CertInfo | None:
    if cred is None:
        return None
    if cred.error:
        checks.append(Check(name, what, False, f"{cred.field}: {cred.error}"))
        return None
    try:
        if cred.embedded:
            info, count = certinfo.read_counted(cred.field, cwd=out, pem=cred.pem)
        elif (local := kubeconfig_files.local_file(out, name, cred, installed)) is not None:
            info, count = certinfo.read_counted(local, cwd=out)
        else:
            checks.append(Check(name, what, False, f"{cred.field}: {cred.path} is missing"))
            return None
    except KpkiError:
        checks.append(Check(name, what, False, f"{cred.field}: not a certificate that can be read"))
        return None
    # every one of them would be trusted; a file (ca.crt) has its own check already
    if what == "certificate-authority" and cred.embedded and count > 1:
        problem = f"{cred.field}: holds {count} certificates, not only the CA"
        shown = _extract_command(name, cred, "", program="x509")
        command = shown.replace("| openssl x509", "| grep -c -e '-----BEGIN CERTIFICATE-----'")
        checks.append(Check(name, "ca-only", False, problem, command))
    return info


def _kubeconfig_key(out: Path, name: str, entry, cert: CertInfo, installed) -> Check:
    key = entry.key
    if key is None:
        return Check(name, "key-match", False, f"users[{entry.user}] has no client key")
    command = (
        f"diff <({_extract_command(name, entry.cert, '-pubkey')}) "
        f"<({_extract_command(name, key, '', program='pkey -pubout')})"
    )
    if key.error:
        return Check(name, "key-match", False, f"{key.field}: {key.error}", command)
    if key.embedded:
        public = certinfo.public_key_of(None, cwd=out, pem=key.pem)
    elif (local := kubeconfig_files.local_file(out, name, key, installed)) is not None:
        public = certinfo.public_key_of(local, cwd=out)
    else:
        return Check(name, "key-match", False, f"{key.field}: {key.path} is missing", command)
    if public == cert.public_key:
        return Check(name, "key-match", True, command=command)
    return Check(
        name,
        "key-match",
        False,
        f"{key.field} does not match {entry.cert.field} (a different public key)",
        command,
    )


def _extract_command(name: str, cred, flags: str, program: str = "x509 -noout") -> str:
    """How to see an embedded (or referenced) credential by hand."""
    if cred is None:
        return ""
    if not cred.embedded:
        source = "-in " + shlex.quote(cred.path)
        return f"openssl {program} {source} {flags}".strip()
    section, _, key = cred.field.partition(".")
    kind, _, who = section.partition("[")
    who = who.rstrip("]")
    kind_body = "user" if kind == "users" else "cluster"
    path = f'{{.{kind}[?(@.name=="{who}")].{kind_body}.{key}}}'
    return (
        f"kubectl config view --kubeconfig {shlex.quote(name)} --raw"
        f" -o jsonpath={shlex.quote(path)} | base64 -d | openssl {program} {flags}".rstrip()
    )


def _day(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")
