"""What every group of checks is given: the plan and the folder, the scratch folder with its
servers, the plan's certificates by part (roles.py), kube-apiserver's flags as the folder has
them, and the checks so far. A group's `run(context)` adds its checks here, in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from kpki_openssl.plan.certlist import CertSpec
from kpki_openssl.plan.steps import Plan
from kpki_openssl.prove.folder import Folder, read_flags
from kpki_openssl.prove.results import MISSING, NOT_RUN, Check
from kpki_openssl.prove.roles import Roles, TlsFlags, near_flag
from kpki_openssl.prove.scratch import Scratch

APISERVER = "kube-apiserver"


class Context:
    """One prove run's shared state; `scratch` is closed by the caller, not here."""

    def __init__(self, plan: Plan, out: Path, scratch: Scratch) -> None:
        self.plan = plan
        self.out = out.resolve()
        self.folder = Folder(out)
        self.scratch = scratch
        self.checks: list[Check] = []
        self.group = ""  # the group running now (prover sets it): its checks carry its name
        self.server: dict[str, str] = {}  # group -> its server and what it is (prover's default)
        self.not_run: dict[str, str] = {}  # group -> why it ran no check, in one line
        files = self.component(APISERVER)
        self.apiserver: dict[str, str] = read_flags(files[0]) if files else {}
        named = [self.folder.relative(files[0])] if files else []
        named += [c.file for c in plan.components if c.program == APISERVER]
        # how the checks and the files group name kube-apiserver's flags file
        self.apiserver_file = named[0] if named else f"{APISERVER}'s flags file"
        self.roles = Roles(plan, self.apiserver)
        self._foreign: tuple[Path, Path, Path] | None = None

    # -- the folder

    def component(self, program: str) -> list[Path]:
        """The folder's component files for `program`, in plan order (those not made yet left
        out)."""
        return [
            self.out / c.file
            for c in self.plan.components
            if c.program == program and (self.out / c.file).is_file()
        ]

    def made(self, relative: str) -> Path | None:
        """The folder's file of that folder-relative name, when it is there."""
        path = self.out / relative
        return path if relative and path.is_file() else None

    def later(self, relative: str) -> str:
        """'not yet built (step N: NAME)' for a file a step of the plan makes that is not in
        the folder yet; '' when it is there, or no step makes it."""
        if not relative or (self.out / relative).is_file():
            return ""
        for number, step in enumerate(self.plan.steps, 1):
            if relative in step.writes:
                return f"not yet built (step {number}: {step.name})"
        return ""

    def cert_spec(self, path: Path | None) -> CertSpec | None:
        """The plan's certificate whose file `path` (in the folder) is."""
        return None if path is None else self.roles.by_file(self.folder.relative(path))

    def apiserver_files(
        self, tls: TlsFlags, spec: CertSpec | None, order: str = "ca cert key"
    ) -> tuple[Path | None, Path | None, Path | None]:
        """The folder's (CA, certificate, key) kube-apiserver's flags name for one identity;
        where a flag is absent, the file the plan gives that part (`spec`, see roles.py), so
        the programs can still be asked, and the absence noted for the files group. `order` is
        the order the flags are looked up in, so the order of those notes."""
        fallback = self.roles.fallback(tls, spec)
        found = {}
        for part in order.split():
            flag = getattr(tls, part)
            found[part] = self._flag_file(flag, fallback[flag])
        return found["ca"], found["cert"], found["key"]

    def _flag_file(self, name: str, fallback: str) -> Path | None:
        flags, where = self.apiserver, self.apiserver_file
        if name in flags:
            return self.folder.find(flags[name], f"{where} {name}")
        found = self.made(fallback)
        if not flags:  # the recipe writes no such file (kubeadm's): the plan's own files
            return found
        alias = near_flag(flags, name)
        problem = f"has no {name}" + (f" (it has {alias} instead)" if alias else "")
        self.folder.note(f"{where} {name}", problem + (f"; {fallback} used" if found else ""))
        return found

    # -- checks and the programs they run

    def check(
        self,
        what: str,
        program: str,
        expect: str,
        status: str = NOT_RUN,
        said: str = "",
        *,
        add: bool = True,
    ) -> Check:
        """A check of the group running now, reported at once unless `add` is False (then
        `add()` reports it, if it comes to anything)."""
        made = Check(self.group, what, program, expect, status, said)
        return self.add(made) if add else made

    def add(self, check: Check) -> Check:
        """Report `check` (its verdict may still be filled in) and return it."""
        self.checks.append(check)
        return check

    def program(self, check: Check, name: str) -> str | None:
        """The program's path; None, with the check marked, when it is not installed."""
        found = self.scratch.which(name)
        if found is None:
            check.tool(MISSING, f"{name} is not installed (not on PATH)")
        return found

    def run(
        self,
        check: Check,
        argv: Sequence[str],
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> tuple[int, str, str]:
        """Run a client for `check` (its argv kept on the check): (status, stdout, stderr)."""
        check.argv = tuple(argv)
        return self.scratch.run(argv, cwd=cwd, env=env)

    def foreign_client(self) -> tuple[Path, Path, Path]:
        """A CA nobody trusts and a client certificate it signed (CN=intruder,
        O=system:masters): what every server must refuse. Made once, on first use."""
        if self._foreign is None:
            from kpki_openssl.prove.foreign_ca import make_foreign

            self._foreign = make_foreign(self.scratch.root / "foreign")
        return self._foreign
