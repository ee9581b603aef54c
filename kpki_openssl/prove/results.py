"""What prove reports: one Check per thing a real program was asked to do, the run's result,
its exit status, its JSON and its text.

A check passes when the program did what was expected of it: let the legitimate client in
(ACCEPT), or refuse the one that must not get in (REFUSE). A NOTE is a fact about the recipe's
design, neither a pass nor a failure.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from typing import Any

ACCEPT, REFUSE = "accept", "refuse"
PASS, FAIL, MISSING, NOT_RUN, NOTE = "pass", "fail", "program missing", "not run", "note"
NOT_BUILT = "not yet built"  # a file a later step of the plan makes: neither a pass nor a failure
TOOL = "kpki-openssl"  # the program field of a message no real program printed: the tool's own
UNPROVEN = (
    "not tried: the legitimate client did not get in either, so a refusal would prove nothing"
)


@dataclass
class Check:
    """One thing a real program was asked to do, and what it did."""

    group: str
    what: str
    program: str
    expect: str  # ACCEPT or REFUSE
    status: str = NOT_RUN
    said: str = ""  # the program's own words (its refusal, or what it returned)
    argv: tuple[str, ...] = ()
    why: tuple[str, ...] = ()  # lint's findings for the files a failed check used

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def tool(self, status: str, said: str) -> Check:
        """The tool's own verdict, no program having run: labelled as the tool's."""
        self.status, self.said, self.program = status, said, TOOL
        return self

    def judge(self, accepted: bool, said: str) -> None:
        """Record what the program did: a pass when it accepted exactly when it should have."""
        self.said = said
        self.status = PASS if accepted == (self.expect == ACCEPT) else FAIL


@dataclass
class ProveResult:
    """Every check of one run, in the order of the groups (prove/registry.py)."""

    recipe: str
    out: str
    checks: list[Check] = field(default_factory=list)
    # each group run: (name, its server and what it is, why it ran no check or "")
    groups: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when every check passed (notes and files not yet built aside), 1 otherwise."""
        return 0 if all(c.passed or c.status in _NEUTRAL for c in self.checks) else 1

    def as_json(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "out": self.out,
            "passed": sum(c.passed for c in self.checks),
            "failed": sum(not c.passed and c.status not in _NEUTRAL for c in self.checks),
            "not_built": sum(c.status == NOT_BUILT for c in self.checks),
            "groups": [
                {"name": name, "server": server, "not_run": why}
                for name, server, why in self.groups
            ],
            "checks": [asdict(c) for c in self.checks],
        }


_NEUTRAL = (NOTE, NOT_BUILT)


def words(text: str) -> str:
    """A program's message as one line: its last non-empty lines, joined (structured log
    lines such as etcdctl's JSON retry warnings dropped when there is anything else)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    said = [ln for ln in lines if ln.startswith(_SAYS)]
    if said:
        return said[-1]
    plain = [ln for ln in lines if not ln.startswith("{")] or lines
    return " / ".join(plain[-2:])


_SAYS = ("curl: (", "Error:", "error:", "Unable to connect")  # the line a client's verdict is on


def result_text(result: ProveResult) -> str:
    """One line per check, grouped; the program's words after the verdict; the argv of each
    check that did not pass."""
    out = [f"prove: recipe {result.recipe}, folder {result.out}\n"]
    described = {name: (server, why) for name, server, why in result.groups}
    order = [name for name, _s, _w in result.groups]
    order += [c.group for c in result.checks if c.group not in order]
    for group in order:
        server, why = described.get(group, ("", ""))
        checks = [c for c in result.checks if c.group == group]
        if not checks and not why:
            continue
        out.append(f"\n{group}" + (f": {server}" if server else "") + "\n")
        if not checks:  # a group that ran no check says why, in one line
            out.append(f"  not run: {why}\n")
        out.extend(_check_text(check) for check in checks)
    passed = sum(c.passed for c in result.checks)
    notes = sum(c.status == NOTE for c in result.checks)
    later = sum(c.status == NOT_BUILT for c in result.checks)
    failed = len(result.checks) - passed - notes - later
    out.append(
        f"\n{passed} passed, {failed} did not pass"
        + (f", {notes} notes" if notes else "")
        + (f", {later} not yet built" if later else "")
        + "\n"
    )
    return "".join(out)


def _check_text(check: Check) -> str:
    """One check's line, the words it carries, and its argv when it did not pass."""
    out = []
    mark = {PASS: "PASS", FAIL: "FAIL", NOTE: "NOTE", NOT_BUILT: "LATER"}.get(
        check.status, check.status.upper()
    )
    expect = "" if check.expect == ACCEPT else " (must be refused)"
    out.append(f"  {mark:<5} {check.what}{expect}\n")
    if check.said:
        out.append(f"        {check.program}: {check.said}\n")
        alert = alert_in_words(check.said)
        if alert and check.status == FAIL:
            out.append(f"        {TOOL}: {alert}\n")
    for line in check.why:
        out.append(f"        why: {line}\n")
    if check.status != PASS and check.argv:
        out.append(f"        $ {shlex.join(check.argv)}\n")
    return "".join(out)


def alert_in_words(said: str) -> str:
    """What a TLS alert in a program's words says, and which way it went: `remote error: tls:
    X` is an alert the other end sent, refusing this side's certificate (in etcd's log: the
    client refused etcd's); a bare `tls: X` is this side's own refusal."""
    if "remote error: tls:" in said:
        return (
            "'remote error' is the other end's alert: it refused the certificate this side "
            "presented (in a server's log, the client refused the server's certificate)"
        )
    if "tls: bad certificate" in said or "unknown authority" in said:
        return "this side refused the certificate the other end presented"
    return ""


def attach_why(checks: list[Check], findings: list[tuple[str, str]]) -> None:
    """Under each failed check, lint's findings (where, line) for the files its command or its
    description names."""
    for check in checks:
        if check.status != FAIL:
            continue
        words = " ".join((*check.argv, check.what))
        found = [
            (where not in check.what, line)  # the certificate the check is about first
            for where, line in findings
            if where and where in words and ": default-validity: " not in line  # no refusal
        ]
        check.why = tuple(dict.fromkeys(line for _rank, line in sorted(found, key=lambda f: f[0])))[
            :3
        ]
