"""The documents state the live tool's numbers, and their links lead somewhere.

A number about the plan is written with a marker right after it, `19<!--live:certificates-->
certificates`, optionally for another plan, `213<!--live:certificates@nodes=100-->`. Each marker's
key names a measurement below, made with the tool itself; a number that no longer matches fails,
and so does an unmarked "N certificates", "N steps", ... in prose. Tables that mirror the tool
(lint's checks, the bundled recipe's variables, verify's JSON counts) are checked row by row.
Every relative link in the README, docs/ and CONTRIBUTING.md must name a file that exists, and
a heading in it when it says `#heading`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import REPO, need_program, run_cli, run_cli_process

DOCUMENTS = sorted([REPO / "README.md", REPO / "CONTRIBUTING.md", *(REPO / "docs").glob("*.md")])
# Files another change adds; a link to one is allowed while it does not exist yet.
PENDING: set = set()

MARKER = re.compile(r"(\d[\d,]*)<!--live:([a-z][a-z0-9-]*)(?:@nodes=(\d+))?-->")
# In prose, a number right before one of these words is a fact about the plan: it needs a marker.
PLAN_NOUNS = re.compile(
    r"(?<![\w.,/-])(\d[\d,]*)(?:\s+|-)(?:openssl\s+)?"
    r"(certificates|certs|steps|kubeconfigs|commands|processes|lines|checks|findings|"
    r"variables|CAs|files)\b"
)


def _prose(text: str) -> str:
    """The text without fenced code blocks (real output there is checked by test_readme)."""
    return re.sub(
        r"^```.*?^```",
        lambda block: "\n" * block[0].count("\n"),  # lines keep their numbers
        text,
        flags=re.MULTILINE | re.DOTALL,
    )


def _markers() -> dict[tuple[str, int | None], list[tuple[str, int]]]:
    """(key, nodes) -> [(where, the number stated)]."""
    found: dict[tuple[str, int | None], list[tuple[str, int]]] = {}
    for doc in DOCUMENTS:
        for n, line in enumerate(doc.read_text().splitlines(), 1):
            for number, key, nodes in MARKER.findall(line):
                where = f"{doc.relative_to(REPO)}:{n}"
                stated = int(number.replace(",", ""))
                found.setdefault((key, int(nodes) if nodes else None), []).append((where, stated))
    return found


MARKERS = _markers()


# ---- measurements, each with the tool itself ---------------------------------------------


def _nodes_args(nodes: int | None) -> list[str]:
    if nodes is None:
        return []
    return ["--set", "nodes=" + ",".join(f"node{i}" for i in range(1, nodes + 1))]


@cache
def _dry_run(nodes: int | None) -> list[str]:
    done = run_cli("run", "all", "--dry-run", *_nodes_args(nodes))
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _steps(nodes: int | None) -> int:
    header = [line for line in _dry_run(nodes) if line.startswith("# kpki-openssl plan:")]
    return int(re.fullmatch(r"# kpki-openssl plan: recipe kubernetes, (\d+) steps?", header[0])[1])


def _count(nodes: int | None, pattern: str) -> int:
    return sum(bool(re.match(pattern, line)) for line in _dry_run(nodes))


def _certificates(nodes: int | None) -> int:
    return _count(nodes, r"openssl x509 -req ")  # one signature per certificate


def _written(nodes: int | None) -> list[str]:
    """The files the plan writes itself (here-documents), by name."""
    return [m[1] for line in _dry_run(nodes) if (m := re.match(r"cat > (\S+) <<'EOF'$", line))]


def _keypairs(nodes: int | None) -> int:
    """Rows of `list` that make a key and no certificate."""
    done = run_cli("list", *_nodes_args(nodes))
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    return sum(
        any(w.endswith(".key") for w in row) and not any(w.endswith(".crt") for w in row)
        for row in rows
    )


def _per_node(measure: Callable[[int | None], int]) -> int:
    """What one more node adds (the bundled recipe has three)."""
    return measure(4) - measure(3)


@cache
def _handout(*extra: str) -> tuple[int, int]:
    """(lines, lines inside its sh blocks) of `export --format markdown` (and `extra`)."""
    done = run_cli("export", "--format", "markdown", *extra)
    assert done.returncode == 0, done.stderr
    lines, shell, fence = done.stdout.splitlines(), 0, None
    for line in lines:
        if fence is None and line.startswith("```"):
            fence = line[3:].strip()
        elif fence is not None and line.startswith("```"):
            fence = None
        elif fence == "sh":
            shell += 1
    return len(lines), shell


@cache
def _lint(recipe: str) -> dict:
    done = run_cli("lint", "--json", "--recipe", recipe)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def _counting_openssl(folder: Path) -> tuple[dict, Path]:
    """An environment whose `openssl` logs its subcommand to a file, then runs the real one."""
    real = need_program("openssl")
    bin_dir, log = folder / "bin", folder / "openssl.log"
    bin_dir.mkdir()
    wrapper = bin_dir / "openssl"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}"), log


def _processes(log: Path) -> int:
    n = len(log.read_text().splitlines()) if log.exists() else 0
    log.unlink(missing_ok=True)
    return n


@cache
def _walkthrough(check: bool) -> dict[str, int]:
    """`walkthrough --yes` of the bundled recipe (default keys, as a learner runs it), counting
    the openssl processes it starts; then verify on the folder it made, counted the same way."""
    folder = Path(tempfile.mkdtemp(prefix="kpki-docs-"))
    try:
        env, log = _counting_openssl(folder)
        out = folder / "pki"
        argv = ["walkthrough", "--yes", "--out", str(out)] + ([] if check else ["--no-check"])
        done = run_cli_process(*argv, cwd=folder, env=env)
        assert done.returncode == 0, done.stderr
        measured = {"walkthrough": _processes(log)}
        if check:
            done = run_cli_process("verify", "--json", "--out", str(out), cwd=folder, env=env)
            assert done.returncode == 0, done.stdout + done.stderr
            measured["verify"] = _processes(log)
            measured.update(json.loads(done.stdout)["counts"])
        return measured
    finally:
        shutil.rmtree(folder, ignore_errors=True)


MEASURES: dict[str, Callable[[int | None], int]] = {
    "steps": _steps,
    "certificates": _certificates,
    "cas": lambda n: _count(n, r"openssl x509 -req .* -signkey "),
    "keypairs": _keypairs,
    "kubeconfigs": lambda n: sum(f.endswith(".kubeconfig") for f in _written(n)),
    "component-files": lambda n: sum(not f.endswith((".cnf", ".kubeconfig")) for f in _written(n)),
    "generated-files": lambda n: len(_written(n)),
    "plan-commands": lambda n: _count(n, r"(openssl|kubectl) "),
    "certificates-per-node": lambda n: _per_node(_certificates),
    "steps-per-node": lambda n: _per_node(_steps),
    "handout-lines": lambda n: _handout()[0],
    "handout-sh-lines": lambda n: _handout()[1],
    "handout-prose-lines": lambda n: _handout()[0] - _handout()[1],
    "handout-full-lines": lambda n: _handout("--full")[0],
    "lint-checks": lambda n: len(_lint("kubernetes")["checks"]),
    "as-written-findings": lambda n: len(_lint("as-written")["findings"]),
    "walkthrough-openssl": lambda n: _walkthrough(True)["walkthrough"],
    "walkthrough-openssl-no-check": lambda n: _walkthrough(False)["walkthrough"],
    "verify-openssl": lambda n: _walkthrough(True)["verify"],
    "verify-checks": lambda n: _walkthrough(True)["checks"],
}
# Measured on the bundled plan alone (a --set nodes=... marker on them is refused).
DEFAULT_PLAN_ONLY = {key for key in MEASURES if key not in ("steps", "certificates", "kubeconfigs")}


# ---- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "nodes"),
    sorted(MARKERS, key=lambda k: (k[0], k[1] or 0)),
    ids=lambda v: v if isinstance(v, str) else ("" if v is None else f"nodes={v}"),
)
def test_stated_number_is_the_live_tools(key: str, nodes: int | None) -> None:
    stated = MARKERS[(key, nodes)]
    assert key in MEASURES, f"{stated[0][0]}: unknown key {key!r}; known: {sorted(MEASURES)}"
    assert nodes is None or key not in DEFAULT_PLAN_ONLY, f"{stated[0][0]}: {key} takes no @nodes"
    if key.startswith(("walkthrough", "verify")):
        need_program("openssl")
    live = MEASURES[key](nodes)
    stale = [f"{where}: says {n}, the tool says {live}" for where, n in stated if n != live]
    assert not stale, stale


def test_the_main_plan_numbers_are_stated_with_their_markers() -> None:
    """Dropping a marker is no way out of the check: these numbers are stated, so tested."""
    keys = {key for key, _ in MARKERS}
    assert {"steps", "certificates", "plan-commands", "handout-lines", "verify-checks"} <= keys
    readme = (REPO / "README.md").read_text()
    assert "<!--live:steps-->" in readme


def test_no_unmarked_plan_number_in_prose() -> None:
    unmarked = []
    for doc in DOCUMENTS:
        for n, line in enumerate(_prose(doc.read_text()).splitlines(), 1):
            where = f"{doc.relative_to(REPO)}:{n}"
            unmarked += [f"{where}: {m[0]!r}" for m in PLAN_NOUNS.finditer(line)]
    assert not unmarked, unmarked


def _table_rows(text: str, heading: str) -> list[list[str]]:
    """The cells of the first table after `heading`, its header and rule left out."""
    table: list[list[str]] = []
    for line in text.split(heading, 1)[1].splitlines():
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip("|").split("|")])
        elif table:
            break
    return table[2:]


def test_lint_table_lists_every_check_lint_has() -> None:
    rows = _table_rows((REPO / "docs" / "checking.md").read_text(), "## lint")
    documented = [re.fullmatch(r"`([a-z-]+)`", row[0])[1] for row in rows]
    assert documented == list(_lint("kubernetes")["checks"])


def test_variables_table_is_the_bundled_recipes() -> None:
    rows = _table_rows((REPO / "docs" / "recipes.md").read_text(), "### The bundled recipe's")
    documented = {}
    for name, default, _ in rows:
        value = "" if default == "(empty)" else re.fullmatch(r"`([^`]*)`", default)[1]
        documented[re.fullmatch(r"`([a-z_]+)`", name)[1]] = value
    header = [line for line in _dry_run(None) if re.match(r"#   [a-z_]+ = ", line)]
    live = dict(line[4:].split(" = ", 1) for line in header)
    assert documented == {name: value.strip() for name, value in live.items()}
    assert list(documented) == list(live)  # in the dry run's order


def test_verify_json_sample_counts_are_the_live_ones() -> None:
    need_program("openssl")
    text = (REPO / "docs" / "checking.md").read_text()
    counts = json.loads(re.search(r'"counts": (\{[^}]*\})', text)[1])
    live = _walkthrough(True)
    for name in ("certificates", "kubeconfigs", "checks"):
        assert counts[name] == live[name], (name, counts[name], live[name])


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: link text kept, markup dropped, lower case, punctuation
    other than '-' and '_' dropped, spaces as '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[`*]", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def _anchors(doc: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for line in _prose(doc.read_text()).splitlines():
        if m := re.match(r"#{1,6} (.+)", line):
            slug = _slug(m[1])
            anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_every_relative_link_leads_to_a_file_and_heading() -> None:
    broken = []
    for doc in DOCUMENTS:
        for target in re.findall(r"\]\(([^)\s]+)\)", _prose(doc.read_text())):
            if re.match(r"[a-z]+:", target):
                continue  # a web address: not ours to check here
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            where = f"{doc.relative_to(REPO)} -> {target}"
            if not file.exists():
                if file not in PENDING:
                    broken.append(f"{where}: no such file")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                broken.append(f"{where}: no such heading")
    assert not broken, broken
