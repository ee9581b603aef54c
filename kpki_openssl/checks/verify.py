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
from datetime import datetime
from pathlib import Path

from kpki_openssl.base import processes
from kpki_openssl.base.errors import InputError, KpkiError
from kpki_openssl.checks import certinfo, expected, kubeconfig_files
from kpki_openssl.checks.certinfo import CertInfo
from kpki_openssl.checks.verify_kubeconfigs import Folder, kubeconfig_checks
from kpki_openssl.checks.verify_result import (
    Check,
    Report,
    ca_only,
    ca_only_command,
    day,
    expiry,
    show,
)
from kpki_openssl.plan import openssl_argv
from kpki_openssl.plan.certlist import CertSpec, KeyPairSpec, KeySpec, key_words
from kpki_openssl.plan.steps import Plan, WriteFile

Progress = Callable[[str], None]
_VERIFY_ERROR = re.compile(r"error (\d+) at (\d+) depth lookup: (.*)")
_VERIFY_FAILED = re.compile(r"error (.+): verification failed")


def verify(
    out: Path,
    plan: Plan,
    now: datetime,
    progress: Progress | None = None,
    kubeconfigs: bool = True,
    elsewhere: frozenset[str] = frozenset(),
) -> Report:
    """Every check for every certificate of the plan and (unless `kubeconfigs` is false: the
    walkthrough's per-step check) every kubeconfig in the folder. `elsewhere`: key files that
    live where their CSR was made (`sign`), so the folder's CSR stands in for them."""
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
            checks.append(expiry(spec.cert_file, info, now))
            signer = by_name.get(spec.ca) if spec.ca else None
            if signer is not None and signer.name in infos:
                checks.append(_within_ca(spec, info, signer, infos[signer.name]))
        if spec.key_file in elsewhere:  # a certificate not signed yet is missing already
            checks += _key_elsewhere(out, spec, infos.get(spec.name))
        else:
            checks += _key(out, spec, infos.get(spec.name))
    checks += _chains(out, specs, infos)
    for pair in plan.keypairs:  # sa.key / sa.pub: no certificate, the key all the same
        progress(pair.key_file)
        checks += _keypair(out, pair)
    planned = tuple(
        a.path
        for s in plan.steps
        for a in s.actions
        if isinstance(a, WriteFile) and a.path.endswith(kubeconfig_files.KUBECONFIG_SUFFIXES)
    )
    configs = kubeconfig_files.find(out, planned) if kubeconfigs else []
    api = expected.apiserver(specs)
    api_info = infos.get(api.name) if api else None
    fingerprints = {s.cert_file: infos[s.name].fingerprint for s in specs if s.name in infos}
    folder = Folder(
        out=out,
        api=api,
        api_info=api_info,
        cas={infos[s.name].fingerprint: s for s in specs if s.is_ca and s.name in infos},
        certs={info.fingerprint: by_name[name] for name, info in infos.items()},
        now=now,
        installed=kubeconfig_files.installed_paths(plan.kubeconfigs),
        ca_files=frozenset(s.cert_file for s in specs if s.is_ca),
        want_ca={k.file: (k.ca_file, fingerprints.get(k.ca_file)) for k in plan.kubeconfigs},
    )
    for name in configs:
        progress(name)
        found = kubeconfig_checks(folder, name)
        checks += [_elsewhere(c, elsewhere) for c in found]
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
        data = certinfo.read_regular(file, cwd=out)
        info, _count = certinfo.from_pem(data, file)
    except KpkiError as exc:
        why = str(exc).removeprefix(f"{file}: ")
        checks.append(Check(file, "readable", False, f"not a certificate: {why}", show))
        return None
    if spec.is_ca:
        checks.append(ca_only(file, data, ca_only_command(file)))
    return info


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
            show(file, "-subject", "-nameopt", "compat"),
        ),
        _compare_set(
            file,
            "subjectAltName",
            list(want.sans.entries()),
            list(info.sans.entries()),
            show(file, "-ext", "subjectAltName"),
        ),
        _compare_set(
            file, "keyUsage", want.key_usage, info.key_usage, show(file, "-ext", "keyUsage")
        ),
        _compare_set(
            file,
            "extendedKeyUsage",
            want.extended_key_usage,
            info.extended_key_usage,
            show(file, "-ext", "extendedKeyUsage"),
        ),
        _compare(
            file,
            "basicConstraints",
            _ca_flag(want.is_ca),
            _ca_flag(info.is_ca),
            show(file, "-ext", "basicConstraints"),
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


def _within_ca(spec: CertSpec, info: CertInfo, signer: CertSpec, ca: CertInfo) -> Check:
    command = f"{show(spec.cert_file, '-enddate')}; {show(signer.cert_file, '-enddate')}"
    if info.not_after and ca.not_after and info.not_after > ca.not_after:
        return Check(
            spec.cert_file,
            "within-ca",
            False,
            f"expires {day(info.not_after)}, after its CA {signer.cert_file} ({day(ca.not_after)})",
            command,
        )
    return Check(spec.cert_file, "within-ca", True, command=command)


def _key(out: Path, spec: CertSpec, info: CertInfo | None) -> list[Check]:
    file = spec.key_file
    path = out / file
    if not os.path.lexists(path):
        return [Check(file, "exists", False, "missing", f"ls -l {shlex.quote(file)}")]
    checks = [_key_mode(file, path)]
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
            f"diff <({show(spec.cert_file, '-pubkey')}) "
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


def _key_elsewhere(out: Path, spec: CertSpec, info: CertInfo | None) -> list[Check]:
    """A key made elsewhere: the CSR it was signed from must carry the certificate's key."""
    if info is None:
        return []
    command = (
        f"diff <({show(spec.cert_file, '-pubkey')}) "
        f"<(openssl req -in {shlex.quote(spec.csr_file)} -noout -pubkey)"
    )
    try:
        csr = certinfo.read_csr(spec.csr_file, cwd=out)
    except KpkiError as exc:
        return [Check(spec.csr_file, "key-elsewhere", False, str(exc), command)]
    if csr.public_key != info.public_key:
        problem = f"does not carry {spec.cert_file}'s public key"
        return [Check(spec.csr_file, "key-elsewhere", False, problem, command)]
    return [Check(spec.csr_file, "key-elsewhere", True, command=command)]


def _elsewhere(check: Check, elsewhere: frozenset[str]) -> Check:
    """A kubeconfig naming a key that lives where it was made: not missing, elsewhere."""
    import dataclasses

    missing = check.check == "key-match" and check.problem.endswith(" is missing")
    names = {p.rsplit("/", 1)[-1] for p in elsewhere}
    path = check.problem.split(": ", 1)[-1].removesuffix(" is missing")
    if missing and path.rsplit("/", 1)[-1] in names:
        return dataclasses.replace(check, check="key-elsewhere", ok=True, problem="")
    return check


def _key_mode(file: str, path: Path) -> Check:
    """A private key readable by group or others is a problem (a kept key is never rewritten,
    so a mode set by hand stays until someone changes it)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)  # a link: its target's mode
    except OSError:  # a dangling link: the readable check names it
        mode = 0
    command = f"stat -L -c %a {shlex.quote(file)}"
    if mode & 0o077:
        problem = f"mode {mode:04o}: readable by group or others (want 0600)"
        return Check(file, "key-mode", False, problem, command)
    return Check(file, "key-mode", True, command=command)


def _keypair(out: Path, pair: KeyPairSpec) -> list[Check]:
    """A bare key pair (sa.key, sa.pub): the key there, 0600, of the recipe's type, and the
    public file its public half."""
    file = pair.key_file
    if not os.path.lexists(out / file):
        return [Check(file, "exists", False, "missing", f"ls -l {shlex.quote(file)}")]
    checks = [_key_mode(file, out / file)]
    facts = certinfo.private_key_facts(file, cwd=out)
    if facts is None:
        try:
            certinfo.read_regular(file, cwd=out)
            why = "not a private key that can be read"
        except KpkiError as exc:
            why = str(exc).removeprefix(f"{file}: ")
        checks.append(
            Check(file, "readable", False, why, shlex.join(openssl_argv.pubkey_argv(file)))
        )
        return checks
    want, have = pair.key.words, key_words(*facts[:3])
    command = key_type_command(file, pair.key)
    if want == have:
        checks.append(Check(file, "key-type", True, command=command))
    else:
        checks.append(Check(file, "key-type", False, f"expected {want}, found {have}", command))
    pub = pair.pub_file
    command = f"diff <({shlex.join(openssl_argv.pubkey_argv(file))}) {shlex.quote(pub)}"
    public = certinfo.public_key_file(pub, cwd=out)
    if public == facts[3]:
        checks.append(Check(pub, "pub-match", True, command=command))
    elif public is None:
        checks.append(Check(pub, "pub-match", False, "missing or not a PEM public key", command))
    else:
        problem = f"is not {file}'s public half (another key)"
        checks.append(Check(pub, "pub-match", False, problem, command))
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
        reason = _VERIFY_ERROR.fullmatch(line)
        if reason:
            pending.append(reason.group(3))
            continue
        failed = _VERIFY_FAILED.fullmatch(line)
        if failed:
            failures.setdefault(failed.group(1), []).extend(dict.fromkeys(pending))
            pending = []
    return failures
