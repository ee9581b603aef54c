"""`walkthrough --rotate-ca CA`: a rotation walked stage by stage leaves the folder as
`rotate-ca CA` trust, switch, remove does; a page before each stage, a pause between stages; a
walk quit anywhere resumes from the folder's state; bad input is one line and writes nothing."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

from tests.conftest import need_program, run_cli
from tests.test_rotate_ca_real import _leaves, _verifies

SETS = ("--set", "nodes=n1", "--set", "key_size=1024")
PAGE_TEXTS = (".flags", ".yaml", ".kubeconfig", ".cnf")


def _build(out: Path) -> Path:
    need_program("openssl")
    need_program("kubectl")
    done = run_cli("run", "all", "--out", str(out), "-q", *SETS)
    assert done.returncode == 0, done.stderr
    return out


def _walk(out: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli("walkthrough", "--rotate-ca", *args, "--out", str(out), *SETS, "-y")


def _status(out: Path, ca: str = "ca") -> str:
    return run_cli("rotate-ca", ca, "--out", str(out), *SETS).stdout.splitlines()[0]


def _files(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
    }


def test_a_whole_rotation_of_ca_leaves_the_folder_as_rotate_ca_does(tmp_path: Path) -> None:
    out = _build(tmp_path / "pki")
    twin = tmp_path / "twin"
    shutil.copytree(out, twin, symlinks=True)
    old_key = (out / "ca.key").read_bytes()

    done = _walk(out, "ca")
    assert done.returncode == 0, done.stderr
    for stage in ("trust", "switch", "remove"):
        assert _rotate(twin, stage).returncode == 0

    text = done.stdout
    flat = " ".join(text.split())
    assert "now 'no rotation under way'; stages to walk: trust, switch, remove" in flat
    # a stage page, then its steps, then the pause, for each stage in order
    marks = [
        "=== Stage 1 of 3: trust (ca) ===", "Why trust comes before presentation:",
        "Why the signer needs a single certificate:", "The files each host receives:",
        "Then restart, in this order", "=== [1/11] step ca-new:", "Stage trust done:",
        "On the cluster now:", "=== Stage 2 of 3: switch (ca) ===", "Stage switch done:",
        "=== Stage 3 of 3: remove (ca) ===", "step ca-old-aside:", "$ rm -f -- ca-new.cnf",
        "Stage remove done: no rotation under way.", "The rotation of ca is complete: 31 steps run",
    ]  # fmt: skip
    places = [flat.find(" ".join(m.split())) for m in marks]
    assert -1 not in places, [m for m, p in zip(marks, places, strict=True) if p < 0]
    assert places == sorted(places)
    assert "on controlplane: systemctl restart kube-apiserver" in flat
    assert "rotate-ca ca --stage trust --host HOST" in flat  # the install commands of a stage
    switch_page = flat.split("=== Stage 2 of 3")[1].split("=== [1/")[0]
    assert "Why trust comes before presentation" not in switch_page

    # the folder is as after rotate-ca trust, switch, remove: same files, same texts
    mine, theirs = _files(out), _files(twin)
    assert sorted(mine) == sorted(theirs)
    for path in mine:
        if path.endswith(PAGE_TEXTS) and not path.startswith("ca."):
            assert mine[path] == theirs[path], path
    leaves = _leaves(out)
    assert len(leaves) >= 6
    assert all(_verifies(out / "ca.crt", p) for p in leaves)
    assert (out / "ca.key").read_bytes() != old_key
    (aside,) = (out / ".kpki" / "replaced").iterdir()
    assert (aside / "ca.key").read_bytes() == old_key
    assert not list(out.glob("ca-new*")) and not (out / "ca-bundle.crt").exists()
    assert _status(out) == "ca: no rotation under way (idle)"
    log = (out / "commands.sh").read_text()
    for stage in ("trust", "switch", "remove"):  # the command named once a stage
        assert log.count(f"kpki-openssl walkthrough --rotate-ca ca --stage {stage} ") == 1
    assert "rm -f -- ca-new.cnf" in log


def _rotate(out: Path, stage: str) -> subprocess.CompletedProcess:
    return run_cli("rotate-ca", "ca", "--stage", stage, "--out", str(out), "-q", *SETS)


def test_a_walk_of_sa_waits_for_the_tokens_before_remove(tmp_path: Path) -> None:
    out = _build(tmp_path / "pki")
    old = (out / "sa.key").read_bytes()
    done = _walk(out, "sa")
    assert done.returncode == 0, done.stderr
    flat = " ".join(done.stdout.split())
    assert "Walkthrough of the rotation of key pair sa" in flat
    assert "=== Stage 1 of 3: trust (sa) ===" in flat
    assert "After it: kube-apiserver checks tokens with the old and the new public key." in flat
    assert "trust adds sa-new.pub as a second --service-account-key-file" in flat
    pause = flat.split("Stage switch done:")[1].split("=== Stage 3 of 3")[0]
    assert "Wait before remove: remove only after the longest service-account token" in pause
    assert "1. on controlplane: systemctl restart kube-apiserver" in pause
    assert "2. on controlplane: systemctl restart kube-controller-manager" in pause
    assert "Why trust comes before presentation" not in flat  # a CA's reason, not a key's
    assert "The rotation of sa is complete" in flat
    assert (out / "sa.key").read_bytes() != old
    (aside,) = (out / ".kpki" / "replaced").iterdir()
    assert (aside / "sa.key").read_bytes() == old
    assert not list(out.glob("sa-new*"))
    flags = (out / "kube-apiserver.flags").read_text()
    assert flags.count("--service-account-key-file=") == 1
    pub = subprocess.run(["openssl", "pkey", "-in", str(out / "sa.key"), "-pubout"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert pub == (out / "sa.pub").read_text()
    assert _status(out, "sa") == "sa: no rotation under way (idle)"


class Keys:
    """A terminal in this process: 80x24, Enter at every prompt but those `answer` picks; each
    prompt written as a line, as the terminal shows it."""

    def __init__(self, stream: io.StringIO, answer) -> None:
        self.stream = stream
        self.answer = answer
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        key = self.answer(prompt, self.prompts)
        self.stream.write(f"{prompt}{key}\n")
        return key


def _in_a_terminal(out: Path, answer) -> tuple[str, object, Keys]:
    from kpki_openssl.plan.steps import build_plan
    from kpki_openssl.recipe.load import load_recipe
    from kpki_openssl.recipe.variables import resolve_variables
    from kpki_openssl.teach.rotation_walk import RotationWalk

    recipe = load_recipe("kubernetes")
    full = build_plan(recipe, resolve_variables(recipe, ["nodes=n1", "key_size=1024"]))
    stream = io.StringIO()
    keys = Keys(stream, answer)

    def finish(command: str, words: list[str]) -> str:
        return " ".join(["kpki-openssl", command, *words, "--out", str(out)])

    walk = RotationWalk(out, stream, keys, full, "ca", finish, rows=24, width=80)
    result = walk.rotate()
    return stream.getvalue(), result, keys


def _fit(text: str, width: int) -> bool:
    """Every line fits `width`, but a single word longer than it (a path in the test's long
    temporary folder), which no wrapping can break."""
    return all(len(ln) <= width or " " not in ln.strip() for ln in text.splitlines())


def _pages(text: str) -> list[int]:
    """Each page's rows, its prompt included."""
    pages, rows = [], 0
    for line in text.splitlines():
        rows += 1
        if re.search(r"\[Enter\] .* > \S*$", line):
            pages.append(rows)
            rows = 0
    return pages


def test_quit_halfway_then_the_walk_resumes_from_the_folder(tmp_path: Path) -> None:
    """In an 80x24 terminal: e at the first stage page explains the rotation; q at the second
    step of trust stops it half done; a second walk resumes there and q at the pause before
    switch stops it between stages; a third (-y) finishes. Every page fits the terminal."""
    out = _build(tmp_path / "pki")

    def first(prompt: str, asked: list[str]) -> str:
        pages = [p for p in asked if p.startswith("[Enter] its steps")]
        if prompt.startswith("[Enter] its steps") and len(pages) == 1:
            return "e"
        runs = [p for p in asked if p.startswith("[Enter] run it")]
        return "q" if prompt.startswith("[Enter] run it") and len(runs) == 2 else ""

    text, result, keys = _in_a_terminal(out, first)
    assert result.ran == ["ca-new"] and result.quit_at == "ca-bundle.crt"
    flat = " ".join(text.split())
    assert "rotate-ca: a CA rotation a running cluster survives" in flat  # e: explain rotate-ca
    assert "Stopped before ca-bundle.crt" in flat
    assert f"finish with: kpki-openssl rotate-ca ca --stage trust --out {out}" in flat
    assert (out / "ca-new.key").exists() and not (out / "ca-bundle.crt").exists()
    assert _status(out) == "ca: trust begun, not finished (trust)"
    pages = _pages(text)
    assert any(p.startswith("[Enter] more") for p in keys.prompts)  # the stage page is paged
    assert max(pages) <= 23 and _fit(text, 80)
    new_key = (out / "ca-new.key").read_bytes()

    def second(prompt: str, asked: list[str]) -> str:
        return "q" if prompt.startswith("[Enter] on to stage switch") else ""

    text, result, _keys = _in_a_terminal(out, second)
    flat = " ".join(text.split())
    assert "now 'trust begun, not finished'; stages to walk: trust, switch, remove" in flat
    assert "Stage trust done:" in flat and "Stopped after stage trust" in flat
    assert "go on from where the folder stands: kpki-openssl walkthrough --rotate-ca ca" in flat
    assert "=== Stage 2 of 3" not in flat
    assert max(_pages(text)) <= 23 and _fit(text, 80)
    assert (out / "ca-new.key").read_bytes() == new_key  # the new CA's key made once
    assert _status(out).startswith("ca: every verifier trusts old + new")

    done = _walk(out, "ca")
    assert done.returncode == 0, done.stderr
    assert "stages to walk: switch, remove" in " ".join(done.stdout.split())
    assert (out / "ca.key").read_bytes() == new_key
    assert all(_verifies(out / "ca.crt", p) for p in _leaves(out))
    assert _status(out) == "ca: no rotation under way (idle)"


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    out = _build(tmp_path / "pki")
    before = _files(out)
    cases = [
        (("nope",), 2, "nope"),
        (("ca", "--stage", "switch"), 1,
         "walkthrough --rotate-ca ca --stage switch: the folder is at 'no rotation under way'; "
         "run --stage trust first"),
        (("ca", "--stage", "remove"), 1, "run --stage trust first"),
        (("ca", "admin"), 2, "--rotate-ca"),
        (("ca", "--lesson"), 2, "--lesson"),
        (("ca", "--compact"), 2, "--compact"),
        (("ca", "--no-compact"), 2, "--compact"),
        (("ca", "--no-check"), 2, "--no-check"),
    ]  # fmt: skip
    for args, code, words in cases:
        done = _walk(out, *args)
        assert done.returncode == code, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert words in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert done.stdout == "", args
        assert _files(out) == before, args
    alone = run_cli("walkthrough", "--stage", "trust", "--out", str(out), "-y")
    assert alone.returncode == 2 and "--rotate-ca" in alone.stderr
    missing = _walk(tmp_path / "none", "ca")
    assert missing.returncode == 1 and "no ca here to rotate" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "none").exists()
