"""What `prove --fleet` found: one check per thing a program was asked to do on one host, with
the program's own words; as text or JSON."""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from typing import Any

ACCEPT, REFUSE = "accept", "refuse"
PASS, FAIL, MISSING, NOT_RUN, NOTE = "pass", "fail", "program missing", "not run", "note"
GROUPS = ("install", "files", "etcd", "apiserver", "kubelet", "least privilege")


@dataclass
class Check:
    """One thing a program was asked to do from one host, and what it did."""

    group: str
    host: str  # the host it ran on (whose files it used)
    what: str
    program: str
    expect: str = ACCEPT  # ACCEPT or REFUSE
    status: str = NOT_RUN
    said: str = ""  # the program's own words (its refusal, or what it returned)
    argv: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def judge(self, accepted: bool, said: str) -> Check:
        """PASS when the program did what was expected of it."""
        self.said = said
        self.status = PASS if accepted == (self.expect == ACCEPT) else FAIL
        return self


@dataclass
class FleetResult:
    recipe: str
    out: str
    hosts: dict[str, list[str]] = field(default_factory=dict)  # host -> its addresses
    service_ip: str = ""
    installer: str = "ansible-playbook over ssh"
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        return check

    @property
    def exit_code(self) -> int:
        return 0 if all(c.passed or c.status == NOTE for c in self.checks) else 1

    def as_json(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "out": self.out,
            "hosts": self.hosts,
            "service_ip": self.service_ip,
            "installer": self.installer,
            "seconds": round(self.seconds, 1),
            "passed": sum(c.passed for c in self.checks),
            "failed": sum(not c.passed and c.status != NOTE for c in self.checks),
            "checks": [asdict(c) for c in self.checks],
        }


_SAYS = ("curl: (", "Error:", "error:", "Unable to connect")  # the line a verdict is on


def words(text: str) -> str:
    """A program's message as one line: its verdict line when it has one, else its last two
    non-empty lines."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    said = [ln for ln in lines if ln.startswith(_SAYS)]
    if said:
        return said[-1]
    return " / ".join(lines[-2:])


def result_text(result: FleetResult) -> str:
    """The fleet, then one line per check by group: the host it ran on, the verdict, the
    program's words, and the argv of each check that did not pass."""
    out = [f"prove --fleet: recipe {result.recipe}, folder {result.out}\n"]
    out.append(f"installed by {result.installer}; the fleet (one network namespace each):\n")
    for host, addresses in result.hosts.items():
        out.append(f"  {host:<14} {', '.join(addresses)}\n")
    if result.service_ip:
        out.append(f"  Service IP     {result.service_ip} (on the control plane's stand-in)\n")
    group = ""
    for check in result.checks:
        if check.group != group:
            group = check.group
            out.append(f"\n{group}\n")
        mark = {PASS: "PASS", FAIL: "FAIL", NOTE: "NOTE"}.get(check.status, check.status.upper())
        expect = "" if check.expect == ACCEPT else " (must be refused)"
        out.append(f"  {mark:<5} [{check.host}] {check.what}{expect}\n")
        if check.said:
            out.append(f"        {check.program}: {check.said}\n")
        if check.status != PASS and check.argv:
            out.append(f"        $ {shlex.join(check.argv)}\n")
    passed = sum(c.passed for c in result.checks)
    notes = sum(c.status == NOTE for c in result.checks)
    failed = len(result.checks) - passed - notes
    out.append(
        f"\n{passed} passed, {failed} did not pass"
        + (f", {notes} notes" if notes else "")
        + f" ({result.seconds:.0f} s)\n"
    )
    return "".join(out)
