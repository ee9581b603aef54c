"""verify's verdicts: one Check per file and check, the Report that holds them, and the checks
both verify modules make (a CA file that is one certificate, expiry)."""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass
from datetime import datetime

from kpki_openssl.base import messages
from kpki_openssl.checks import certinfo
from kpki_openssl.checks.certinfo import CertInfo
from kpki_openssl.plan import openssl_argv


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


def ca_only_command(file: str) -> str:
    """The command whose exit status says whether a CA file is one certificate and nothing
    else: openssl's own PEM of the file's first certificate is the whole file."""
    return f"openssl x509 -in {shlex.quote(file)} | cmp -s - {shlex.quote(file)}"


def ca_only(file: str, data: bytes, command: str, field: str = "") -> Check:
    problem = certinfo.sole_certificate_problem(data)
    if problem is None:
        return Check(file, "ca-only", True, command=command)
    return Check(file, "ca-only", False, f"{field}: {problem}" if field else problem, command)


def show(file: str, *flags: str) -> str:
    return shlex.join(openssl_argv.x509_show_argv(file, *flags))


def expiry(file: str, info: CertInfo, now: datetime, command: str = "") -> Check:
    command = command or show(file, "-checkend", "0")
    if info.not_after is not None and info.not_after <= now:
        return Check(file, "expiry", False, f"expired on {day(info.not_after)}", command)
    if info.not_before is not None and info.not_before > now:
        return Check(file, "expiry", False, f"not valid before {day(info.not_before)}", command)
    return Check(file, "expiry", True, command=command)


def day(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")
