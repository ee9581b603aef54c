"""The README is the front page, and what it shows is the tool's real output.

- the README stays under 200 lines;
- its walkthrough screen is the real walkthrough's output, shortened;
- its command table has one row per command of `--help`, no more, no fewer;
- the dry-run excerpt (now in docs/building.md) is the real output, shortened.
"""

from __future__ import annotations

import re

from tests.conftest import REPO, need_program, run_cli

README = REPO / "README.md"


def _fence_after(text: str, heading: str) -> list[str]:
    """The lines of the first fenced block after `heading`."""
    section = text.split(heading, 1)[1]
    return section.split("```", 2)[1].split("\n", 1)[1].rstrip("\n").splitlines()


def _in_order(wanted: list[str], real: list[str]) -> list[str]:
    """The lines of `wanted` that are not found in `real` in the same order."""
    missing, at = [], 0
    for line in wanted:
        try:
            at = real.index(line, at) + 1
        except ValueError:
            missing.append(line)
    return missing


def test_readme_is_a_front_page_under_200_lines() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) < 200, len(lines)
    # the two audiences are served on the first screen
    first_screen = "\n".join(lines[:60])
    assert "## For instructors" in first_screen and "## For operators" in first_screen


def test_dry_run_excerpt_is_the_real_output_shortened() -> None:
    """Every line of the excerpt in docs/building.md is in the real output, in the same order."""
    excerpt = _fence_after((REPO / "docs" / "building.md").read_text(), "## What the dry run shows")
    assert excerpt[0] == "# dry run: nothing is written", excerpt[:1]
    done = run_cli("run", "apiserver", "--dry-run", "--out", str(REPO / "no-such-folder"))
    assert done.returncode == 0, done.stderr
    missing = _in_order(excerpt, done.stdout.splitlines())
    assert not missing, missing


def _comparable(line: str) -> str:
    """A line with what differs from run to run (or between OpenSSL releases) made equal:
    file sizes (an RSA key's DER length varies), the step counter, DN spacing
    (`subject=CN = x` before OpenSSL 3.2, `subject=CN=x` after), trailing spaces."""
    line = re.sub(r"\b\d+ bytes\b", "N bytes", line.rstrip())
    line = re.sub(r"\[(\d+)/\d+\]", r"[\1/N]", line)
    return re.sub(r"\s*=\s*", "=", line)


def test_walkthrough_screen_is_the_real_output_shortened(tmp_path) -> None:
    need_program("openssl")
    sample = _fence_after(README.read_text(), "## A walkthrough screen")
    prompts = [line for line in sample if line.startswith("[Enter]")]
    shown = [line for line in sample if line.strip() != "..." and line not in prompts]
    # the screen is step 2 of the full plan: its counter says how many steps that plan has
    (header,) = [line for line in shown if line.startswith("=== [")]
    total = int(re.match(r"=== \[2/(\d+)\] step admin:", header)[1])
    plan = run_cli("run", "all", "--dry-run").stdout
    assert f"recipe kubernetes, {total} steps" in plan
    # the prompts are only drawn on a terminal: they must be the walkthrough's own words
    source = "".join(p.read_text() for p in (REPO / "kpki_openssl").rglob("*.py"))
    assert len(prompts) == 2 and all(prompt in source for prompt in prompts), prompts
    # the rest is what `walkthrough --yes` prints (80 columns: stdout is not a terminal)
    done = run_cli("walkthrough", "--yes", "--out", str(tmp_path / "pki"), "ca", "admin")
    assert done.returncode == 0, done.stderr
    real = [_comparable(line) for line in done.stdout.splitlines()]
    missing = _in_order([_comparable(line) for line in shown], real)
    assert not missing, missing


def _help_commands() -> list[str]:
    """The subcommands `kpki-openssl --help` lists, in its order."""
    done = run_cli("--help")
    assert done.returncode == 0, done.stderr
    block = done.stdout.split("positional arguments:", 1)[1].split("\noptions:", 1)[0]
    return re.findall(r"^    ([a-z][a-z-]*)(?=\s|$)", block, re.MULTILINE)


def test_readme_has_one_row_per_command() -> None:
    section = README.read_text().split("## Commands", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named = [re.findall(r"`([a-z][a-z-]*)", row.split("|")[1]) for row in rows]
    # each row names one command (`run all` / `run STEP...` is one row for `run`)
    assert all(len(set(names)) == 1 for names in named), named
    commands = [names[0] for names in named]
    listed = _help_commands()
    assert "run" in listed and "check-expiration" in listed, listed
    assert sorted(commands) == sorted(listed), (commands, listed)
