"""Hostile recipes and files: rows that make another row's file, newlines and control
characters in free text, YAML alias bombs (in a recipe and in a kubeconfig of the folder),
a malformed record, and messages that must stay one short line."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kpki_openssl.cli import main as cli_main
from tests.conftest import REPO, need_program
from tests.safety_recipes import TINY, assert_complete_pki, replay, tiny_recipe

NODE_ROW = """\
  - name: "kubelet-{node}"
    for_each: {node: nodes}
    ca: ca
    profile: client
    title: TITLE_NODE
    explain: EXPLAIN_NODE
    subject: {CN: "system:node:{node}", O: "system:nodes"}
kubeconfigs:"""


def with_nodes(text: str) -> str:
    text = text.replace("variables:\n", "variables:\n  nodes: {default: [n1]}\n", 1)
    return text.replace("kubeconfigs:", NODE_ROW, 1)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli_main(list(argv))
    got = capsys.readouterr()
    return code, got.out, got.err


# ----- rows that make another row's file -----

CLASHES = [
    # (what replaces what in the tiny recipe, the message)
    (
        ("file: kube-apiserver.flags", "file: admin.key"),
        "file 'admin.key': made by step 'admin' and by step 'admin.key'",
    ),
    (
        ("file: admin.kubeconfig", "file: ca.crt"),
        "file 'ca.crt': made by step 'ca' and by step 'ca.crt'",
    ),
    (
        ("file: kube-apiserver.flags", "file: commands.sh"),
        "step commands.sh: its file 'commands.sh' is the command log",
    ),
    (
        ("file: kube-apiserver.flags", "file: .kpki/state.json"),
        "'.kpki/state.json' is not a valid relative file name",  # no leading dot at all
    ),
    (
        ("file: kube-apiserver.flags", "file: apiserver.cnf"),
        "file 'apiserver.cnf': made by step 'apiserver' and by step 'apiserver.cnf'",
    ),
]


@pytest.mark.parametrize(("edit", "message"), CLASHES)
def test_a_row_making_another_rows_file_is_refused(
    tmp_path: Path, capsys, edit: tuple[str, str], message: str
) -> None:
    recipe = tiny_recipe(tmp_path, TINY.replace(*edit, 1))
    out = tmp_path / "pki"
    for command in (["run", "all", "--out", str(out)], ["export"], ["list"]):
        code, _out, err = cli(capsys, *command, "--recipe", str(recipe))
        assert code == 2, err
        assert message in err and err.count("\n") == 1, err
    assert not out.exists()


# ----- newlines and control characters in free text -----

ONE_LINE_FIELDS = [
    ("title: TITLE_CA", 'title: "CA\\ntouch PWNED"', "certificates[ca].title"),
    ("title: TITLE_CA", 'title: "CA\\u2028kind: Pwned"', "certificates[ca].title"),
    ("title: TITLE_FLAGS", 'title: "flags\\r--authorization-mode"', "components[kube-apiserver.flags].title"),
    ("--tls-cert-file: apiserver.crt", '--tls-cert-file: "apiserver.crt\\n--authorization-mode=AlwaysAllow"', "components[kube-apiserver.flags].flags.--tls-cert-file"),
    ('server: "https://kube-apiserver:6443"', 'server: "https://kube-apiserver:6443"\n    user: "a\\nb"', "kubeconfigs[admin.kubeconfig].user"),
    ("explain: EXPLAIN_CA", 'explain: "x"\n    document: ["a\\nb"]', "certificates[ca].document"),
    ("explain: EXPLAIN_CA", 'explain: "bell\\a"', "certificates[ca].explain"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "field"), ONE_LINE_FIELDS)
def test_control_characters_in_one_line_text_are_refused_naming_the_field(
    tmp_path: Path, capsys, old: str, new: str, field: str
) -> None:
    recipe = tiny_recipe(tmp_path, TINY.replace(old, new, 1))
    code, _out, err = cli(
        capsys, "run", "all", "--recipe", str(recipe), "--out", str(tmp_path / "p")
    )
    assert code == 2, err
    assert err.startswith(f"kpki-openssl: error: {field}: ") and err.count("\n") == 1, err
    assert "holds a control character" in err
    assert not (tmp_path / "p").exists()


PAYLOAD = "|\n      first line\n      touch PWNED\n      --authorization-mode=AlwaysAllow\n      kind: Pwned\n"


def test_multi_line_prose_never_starts_a_line_anywhere_it_is_written(
    tmp_path: Path, capsys
) -> None:
    """Explanations may hold newlines (prose); wherever they are written (dry run, exported
    script, node script, commands.sh, kubeconfig, flags file, handout) no line starts with
    what follows a newline, and running the script and the log creates no PWNED file."""
    need_program("openssl")
    text = with_nodes(TINY)
    for marker in ("EXPLAIN_CA", "EXPLAIN_NODE", "EXPLAIN_KUBECONFIG", "EXPLAIN_FLAGS"):
        text = text.replace(marker, PAYLOAD)
    recipe = str(tiny_recipe(tmp_path, text))
    out = tmp_path / "pki"
    shells = {}
    for name, argv in {
        "dry-run": ["run", "all", "--dry-run"],
        "export": ["export"],
        "node": ["export", "--node", "n1"],
    }.items():
        code, stdout, err = cli(capsys, *argv, "--recipe", recipe)
        assert code == 0, err
        shells[name] = stdout
    code, handout, err = cli(capsys, "export", "--format", "markdown", "--recipe", recipe)
    assert code == 0, err
    assert cli(capsys, "run", "all", "--quiet", "--recipe", recipe, "--out", str(out))[0] == 0
    written = {p.name: p.read_text() for p in out.iterdir() if p.is_file()}
    assert "touch PWNED" in shells["export"]  # the prose is there, as comments
    hostile = re.compile(r"^\s*(touch PWNED|--authorization-mode|kind: Pwned)", re.MULTILINE)
    for name, body in {**shells, **written, "handout": handout}.items():
        assert not hostile.search(body), (name, hostile.search(body))
    script = tmp_path / "build.sh"
    script.write_text(shells["export"])
    for run_in, path in (
        (tmp_path / "by-script", script),
        (tmp_path / "by-log", out / "commands.sh"),
    ):
        done = replay(path, run_in)
        assert done.returncode == 0, done.stderr[-2000:]
        assert not (run_in / "PWNED").exists()
        assert_complete_pki(run_in)


# ----- YAML alias bombs, under a time and memory bound -----

BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8)
)  # 9**9 = 387 million strings, in 600 bytes


def bounded_cli(*argv: str, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """The real command line with 1 GiB of address space and 20 s of CPU at most."""

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        resource.setrlimit(resource.RLIMIT_CPU, (20, 20))

    env = dict(os.environ, PYTHONPATH=str(REPO))
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "kpki_openssl", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limits,
    )
    return done, time.monotonic() - start


def test_an_alias_bomb_recipe_is_refused_quickly_in_one_short_line(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB + TINY.replace("name: tiny\n", ""))
    done, seconds = bounded_cli("list", "--recipe", str(bomb), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "YAML aliases expand past 100000 nodes" in done.stderr
    assert done.stderr.count("\n") == 1 and len(done.stderr) < 400, done.stderr
    assert seconds < 15


@pytest.fixture(scope="module")
def tiny_pki(tmp_path_factory) -> Path:
    need_program("openssl")
    root = tmp_path_factory.mktemp("tiny")
    recipe = tiny_recipe(root)
    assert (
        cli_main(["run", "all", "--quiet", "--recipe", str(recipe), "--out", str(root / "pki")])
        == 0
    )
    return root


HOSTILE_KUBECONFIGS = {
    "alias bomb": "apiVersion: v1\nkind: Config\n" + BOMB,
    "user name a list": (
        "apiVersion: v1\nkind: Config\nclusters: [{name: k, cluster: {server: 'https://h:1'}}]\n"
        "users: [{name: [a, b], user: {client-certificate: admin.crt}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: [a, b]}}]\n"
    ),
    "sections of the wrong type": (
        "apiVersion: v1\nkind: Config\nclusters: [{name: k, cluster: just-text}]\n"
        "users: [{name: u, user: 5}]\ncontexts: [{name: c, context: [1]}]\n"
    ),
}


@pytest.mark.parametrize("kind", HOSTILE_KUBECONFIGS)
def test_a_hostile_kubeconfig_in_the_folder_costs_nothing_and_is_no_traceback(
    tiny_pki: Path, tmp_path: Path, kind: str
) -> None:
    out = tmp_path / "pki"
    shutil.copytree(tiny_pki / "pki", out, symlinks=True)
    (out / "admin.kubeconfig").write_text(HOSTILE_KUBECONFIGS[kind])
    recipe = tiny_pki / "tiny.yaml"
    done, seconds = bounded_cli("verify", "--recipe", str(recipe), "--out", str(out), cwd=tmp_path)
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr, done.stderr
    assert done.returncode != 0  # the kubeconfig is not usable: verify must not pass it
    assert "lol" not in done.stdout + done.stderr  # an expansion is never echoed
    assert seconds < 15


# ----- a malformed record, and long or multi-line messages -----


@pytest.mark.parametrize(
    "state",
    ['{"steps": {"ca": 5, "admin": [1]}}', "[1, 2]", "{not json", "[" * 100_000, "\xff\xfe"],
)
def test_a_malformed_record_is_no_traceback(tmp_path: Path, capsys, state: str) -> None:
    need_program("openssl")
    recipe = tiny_recipe(tmp_path)
    out = tmp_path / "pki"
    (out / ".kpki").mkdir(parents=True, mode=0o700)
    os.chmod(out, 0o700)
    (out / ".kpki" / "state.json").write_text(state, encoding="latin-1")
    code, _o, err = cli(capsys, "run", "ca", "--quiet", "--recipe", str(recipe), "--out", str(out))
    assert code == 0, err
    code, _o, err = cli(capsys, "run", "ca", "--quiet", "--recipe", str(recipe), "--out", str(out))
    assert code == 0, err


def test_a_huge_or_multi_line_value_gives_one_short_line(tmp_path: Path, capsys) -> None:
    recipe = tiny_recipe(tmp_path, TINY.replace("profile: client", "profile: " + "x" * 5000, 1))
    code, _o, err = cli(capsys, "list", "--recipe", str(recipe))
    assert code == 2 and err.count("\n") == 1 and len(err) < 340, err
    code, _o, err = cli(capsys, "list", "--recipe", str(recipe), "--set", "days=1\n\x1b[31mevil")
    assert code == 2 and err.count("\n") == 1 and "\x1b" not in err, err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # who refuses it depends on the YAML library (PyYAML 6.0.4's libyaml has its own words)
        ("[" * 5000 + "]" * 5000, ""),
        ("a: &a [*a]\n", "a recursive YAML alias"),  # ours
    ],
)
def test_deep_or_recursive_yaml_is_refused_in_one_line(
    tmp_path: Path, capsys, text: str, message: str
) -> None:
    recipe = tmp_path / "deep.yaml"
    recipe.write_text(text)
    code, _o, err = cli(capsys, "list", "--recipe", str(recipe))
    assert code == 2 and err.count("\n") == 1, err
    assert str(recipe) in err and message in err, err
