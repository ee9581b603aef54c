"""Check an output folder against its recipe: chain, key pairs, contents, dates, modes and the
kubeconfigs. Every check carries the openssl command a person would type to do it by hand.

Certificates and keys are read in-process (certinfo, with cryptography); the chain is checked by
`openssl verify -x509_strict -no-CApath -no-CAstore`, one call per CA for all it signed, trusting
that CA and nothing else. Every check still names the openssl command that gives the same verdict.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from kpki_openssl.base import messages, processes
from kpki_openssl.base.errors import InputError, KpkiError
from kpki_openssl.checks import certinfo, expected, kubeconfig_files
from kpki_openssl.checks.certinfo import CertInfo
from kpki_openssl.plan import openssl_argv
from kpki_openssl.plan.certlist import CertSpec, KeyPairSpec, KeySpec, key_words
from kpki_openssl.plan.steps import Plan, WriteFile

Progress = Callable[[str], None]
_VERIFY_ERROR = re.compile(r"error (\d+) at (\d+) depth lookup: (.*)")
_VERIFY_FAILED = re.compile(r"error (.+): verification failed")


@dataclass(frozen=True)
class Check:
    """One check on one file: passed or not, what is wrong, and how to check it by hand."""

    file: str
    check: str
    ok: bool
    problem: str = ""
    command: str = ""

    def __post_init__(self) -> None:
        # Text from the folder (a 229,000-character server URL, a file name holding a
        # newline) never makes an over-long line, or a second one, of any output.
        for name, limit in (("file", 400), ("problem", 1000), ("command", 2000)):
            value = getattr(self, name)
            shown = messages.one_line(value, limit)
            if shown is not value:
                object.__setattr__(self, name, shown)

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
    elsewhere: frozenset[str] = frozenset(),
) -> Report:
    """Every check for every certificate of the plan and (unless `kubeconfigs` is false: the
    walkthrough's per-step check) every kubeconfig in the folder. `elsewhere`: key files that
    live where their CSR was made (`sign`), so the folder's CSR stands in for them."""
    progress = progress or (lambda _label: None)
    if not out.is_dir():
        raise InputError(f"--out: {str(out)!r} is not a folder (run 'run all' first)")
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
    folder = _Folder(
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
        found = _kubeconfig(folder, name)
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
        checks.append(_ca_only(file, data, ca_only_command(file)))
    return info


def ca_only_command(file: str) -> str:
    """The command whose exit status says whether a CA file is one certificate and nothing
    else: openssl's own PEM of the file's first certificate is the whole file."""
    return f"openssl x509 -in {shlex.quote(file)} | cmp -s - {shlex.quote(file)}"


def _ca_only(file: str, data: bytes, command: str, field: str = "") -> Check:
    problem = certinfo.sole_certificate_problem(data)
    if problem is None:
        return Check(file, "ca-only", True, command=command)
    return Check(file, "ca-only", False, f"{field}: {problem}" if field else problem, command)


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


def _key_elsewhere(out: Path, spec: CertSpec, info: CertInfo | None) -> list[Check]:
    """A key made elsewhere: the CSR it was signed from must carry the certificate's key."""
    if info is None:
        return []
    command = (
        f"diff <({_show(spec.cert_file, '-pubkey')}) "
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


@dataclass(frozen=True)
class _Folder:
    """What every kubeconfig is judged against: the folder's certificates and the plan."""

    out: Path
    api: CertSpec | None
    api_info: CertInfo | None
    cas: dict[str, CertSpec]  # fingerprint -> the recipe's CA
    certs: dict[str, CertSpec]  # fingerprint -> the recipe's certificate
    now: datetime
    installed: dict[tuple[str, str], str]
    ca_files: frozenset[str]  # the CA files (each has its own ca-only check)
    want_ca: dict[str, tuple[str, str | None]]  # planned kubeconfig -> (CA file, fingerprint)


def _kubeconfig(folder: _Folder, name: str) -> list[Check]:
    """Every cluster, user and context of the file, and its current-context: kubectl uses
    whichever the context names, so one foreign cluster or credential is enough to send the
    client certificate to a stranger, or to be someone else."""
    out = folder.out
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
    if parsed is None or not parsed.users:
        return [Check(name, "kubeconfig", False, "not a kubeconfig with a user", view)]
    checks: list[Check] = []
    for twice in parsed.duplicates:
        checks.append(
            Check(name, "names", False, f"{twice} is named twice (kubectl refuses the file)", view)
        )
    if any(u.key is not None and u.key.embedded for u in parsed.users):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        command = f"stat -c %a {shlex.quote(name)}"
        if mode & 0o077:
            problem = f"mode {mode:04o} with an embedded private key (want 0600)"
            checks.append(Check(name, "key-mode", False, problem, command))
        else:
            checks.append(Check(name, "key-mode", True, command=command))
    cas: dict[str, CertInfo | None] = {}
    for cluster in parsed.clusters:
        checks += _cluster(folder, name, cluster, view, cas)
    certs: dict[str, CertInfo | None] = {}
    for user in parsed.users:
        checks += _user(folder, name, user, view, certs)
    checks += _contexts(name, parsed, cas, certs, view)
    return checks


def _cluster(
    folder: _Folder,
    name: str,
    cluster: kubeconfig_files.Cluster,
    view: str,
    cas: dict[str, CertInfo | None],
) -> list[Check]:
    """TLS on, the server's host among the API server's SANs, and the recipe's CA (alone)."""
    where = f"clusters[{cluster.name}]"
    tls = f"! {view} -o jsonpath='{{.clusters[*].cluster.insecure-skip-tls-verify}}' | grep -q true"
    checks = [
        Check(
            name,
            "tls",
            False,
            f"{where}: insecure-skip-tls-verify: kubectl would never check the server's "
            "certificate (anyone can be the API server)",
            tls,
        )
        if cluster.insecure
        else Check(name, "tls", True, command=tls)
    ]
    checks.append(_server_host(name, cluster.server, where, folder.api, folder.api_info, view))
    cred = _local(folder, name, cluster.ca)
    if cred is None:
        cas[cluster.name] = None
        checks.append(
            Check(
                name,
                "ca",
                False,
                f"{where}: no certificate-authority: kubectl would trust the system's CAs, and "
                "any server certificate they signed",
                f"{view} -o jsonpath='{{.clusters[*].cluster}}'",
            )
        )
        return checks
    ca = _credential_cert(folder, name, cred, "certificate-authority", checks)
    cas[cluster.name] = ca
    if ca is None:
        return checks
    command = _extract_command(name, cred, "-fingerprint -sha256")
    want_file, want = folder.want_ca.get(name, ("", None))
    if ca.fingerprint not in folder.cas:
        checks.append(Check(name, "ca", False, f"{cred.field}: not the folder's CA", command))
    elif want is not None and ca.fingerprint != want:
        checks.append(
            Check(name, "ca", False, f"{cred.field}: not {want_file}, the recipe's CA", command)
        )
    else:
        checks.append(Check(name, "ca", True, command=command))
    return checks


def _user(
    folder: _Folder,
    name: str,
    user: kubeconfig_files.User,
    view: str,
    certs: dict[str, CertInfo | None],
) -> list[Check]:
    """The client certificate and key are the folder's, and nothing else authenticates."""
    where = f"users[{user.name}]"
    who = f".users[?(@.name=={json.dumps(user.name)})].user"
    fields = "".join(f"{{{who}.{k}}}" for k in kubeconfig_files.OTHER_CREDENTIALS)
    command = f'test -z "$({view} -o jsonpath={shlex.quote(fields)})"'
    checks = []
    if user.others:
        others = ", ".join(user.others)
        checks.append(
            Check(
                name,
                "credential",
                False,
                f"{where}: {others}: a credential other than the client certificate "
                "(kubectl would send it, or act as someone else)",
                command,
            )
        )
    else:
        checks.append(Check(name, "credential", True, command=command))
    cred = _local(folder, name, user.cert)
    certs[user.name] = None
    if cred is None:
        checks.append(
            Check(name, "client-certificate", False, f"{where} has no client certificate")
        )
        return checks
    cert = _credential_cert(folder, name, cred, "client-certificate", checks)
    if cert is None:
        return checks
    certs[user.name] = cert
    command = _extract_command(name, cred, "-fingerprint -sha256")
    if cert.fingerprint in folder.certs:
        checks.append(Check(name, "client-certificate", True, command=command))
    else:
        checks.append(
            Check(
                name,
                "client-certificate",
                False,
                f"{cred.field}: none of the folder's certificates",
                command,
            )
        )
    checks.append(_expiry(name, cert, folder.now, _extract_command(name, cred, "-checkend 0")))
    checks.append(_kubeconfig_key(folder, name, user, cred, cert))
    return checks


def _contexts(
    name: str,
    parsed: kubeconfig_files.Kubeconfig,
    cas: dict[str, CertInfo | None],
    certs: dict[str, CertInfo | None],
    view: str,
) -> list[Check]:
    """Each context names a cluster and a user of the file, the user's certificate issued by
    that cluster's CA; current-context names one of them."""
    checks = []
    clusters = {c.name for c in parsed.clusters}
    users = {u.name for u in parsed.users}
    command = f"{view} -o jsonpath='{{.contexts}}'"
    for ctx in parsed.contexts:
        where = f"contexts[{ctx.name}]"
        if ctx.cluster not in clusters or ctx.user not in users:
            missing = (
                f"cluster {ctx.cluster!r}" if ctx.cluster not in clusters else f"user {ctx.user!r}"
            )
            checks.append(Check(name, "context", False, f"{where}: {missing} is not in the file"))
            continue
        ca, cert = cas.get(ctx.cluster), certs.get(ctx.user)
        if ca is not None and cert is not None and cert.issuer != ca.subject:
            checks.append(
                Check(
                    name,
                    "issuer",
                    False,
                    f"{where}: users[{ctx.user}]'s certificate is issued by {cert.issuer}, "
                    f"not by clusters[{ctx.cluster}]'s CA {ca.subject}",
                    command,
                )
            )
        else:
            checks.append(Check(name, "context", True, command=command))
    current = f"kubectl config view --kubeconfig {shlex.quote(name)} --minify > /dev/null"
    if parsed.current not in {c.name for c in parsed.contexts}:
        problem = (
            f"current-context {parsed.current!r} names no context of the file"
            if parsed.current
            else "no current-context: kubectl would use no cluster and no user of this file"
        )
        checks.append(Check(name, "current-context", False, problem, current))
    else:
        checks.append(Check(name, "current-context", True, command=current))
    return checks


def _local(folder: _Folder, name: str, cred):
    """A referenced credential, with its path replaced by where it is in the folder (host paths
    such as /var/lib/kubelet/... map to the folder's files), so shown commands work here."""
    import dataclasses

    if cred is None or cred.embedded or cred.error:
        return cred
    found = kubeconfig_files.local_file(folder.out, name, cred, folder.installed)
    return dataclasses.replace(cred, path=found) if found else cred


def _server_host(name, server, where, api, api_info, view) -> Check:
    host = expected.url_host(server)
    command = f"{view} -o jsonpath='{{.clusters[*].cluster.server}}'"
    if api is not None:
        command += f"; {_show(api.cert_file, '-ext', 'subjectAltName')}"
    if not host:
        return Check(name, "server-host", False, f"{where}: server {server!r} has no host", command)
    if api_info is None:
        return Check(name, "server-host", True, command=command)
    if expected.host_covered(host, api_info.sans.dns, api_info.sans.ips):
        return Check(name, "server-host", True, command=command)
    sans = ", ".join([*api_info.sans.dns, *api_info.sans.ips]) or "none"
    return Check(
        name,
        "server-host",
        False,
        f"{where}: server {server}: host {host} is not in {api.cert_file}'s SANs ({sans})",
        command,
    )


def _credential_cert(folder: _Folder, name, cred, what, checks) -> CertInfo | None:
    """The certificate a credential holds (the first, when several); a CA's is judged alone
    unless it is one of the folder's CA files (each has its own ca-only check)."""
    out = folder.out
    if cred.error:
        checks.append(Check(name, what, False, f"{cred.field}: {cred.error}"))
        return None
    try:
        if cred.embedded:
            data = cred.pem.encode("utf-8", "replace")
        elif (out / cred.path).is_file():
            data = certinfo.read_regular(cred.path, cwd=out)
        else:
            checks.append(Check(name, what, False, f"{cred.field}: {cred.path} is missing"))
            return None
        info, _count = certinfo.from_pem(data, cred.field)
    except KpkiError:
        checks.append(Check(name, what, False, f"{cred.field}: not a certificate that can be read"))
        return None
    if what == "certificate-authority" and (cred.embedded or cred.path not in folder.ca_files):
        if cred.embedded:
            shown = _extract_command(name, cred, "", program="x509")
            source = shown.removesuffix(" | openssl x509")
            command = f"cmp -s <({source}) <({source} | openssl x509)"
        else:
            command = ca_only_command(cred.path)
        check = _ca_only(name, data, command, cred.field)
        if not check.ok:
            checks.append(check)
    return info


def _kubeconfig_key(folder: _Folder, name: str, user, cred, cert: CertInfo) -> Check:
    key = _local(folder, name, user.key)
    if key is None:
        return Check(name, "key-match", False, f"users[{user.name}] has no client key")
    command = (
        f"diff <({_extract_command(name, cred, '-pubkey')}) "
        f"<({_extract_command(name, key, '', program='pkey -pubout')})"
    )
    if key.error:
        return Check(name, "key-match", False, f"{key.field}: {key.error}", command)
    if key.embedded:
        public = certinfo.public_key_of(None, cwd=folder.out, pem=key.pem)
    elif (folder.out / key.path).is_file():
        public = certinfo.public_key_of(key.path, cwd=folder.out)
    else:
        return Check(name, "key-match", False, f"{key.field}: {key.path} is missing", command)
    if public == cert.public_key:
        return Check(name, "key-match", True, command=command)
    return Check(
        name,
        "key-match",
        False,
        f"{key.field} does not match {cred.field} (a different public key)",
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
