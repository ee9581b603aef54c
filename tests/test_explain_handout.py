"""explain STEP and the Markdown handout: every step, every command, every flag explained."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from kpki_openssl.plan.steps import Command, build_plan
from kpki_openssl.recipe.load import bundled_recipes, load_recipe
from kpki_openssl.recipe.variables import resolve_variables
from kpki_openssl.teach import flag_glossary
from tests.conftest import need_program, run_cli
from tests.oracle import openssl_verify


def unfold(text: str) -> str:
    """Display text with each command folded with ` \\` joined back into one line."""
    return re.sub(r" \\\n +", " ", text)


def dry_run_commands(*extra: str) -> list[str]:
    done = run_cli("run", "all", "--dry-run", *extra)
    assert done.returncode == 0, done.stderr
    return [ln for ln in done.stdout.splitlines() if ln.startswith("openssl ")]


def step_names(*extra: str) -> list[str]:
    done = run_cli("list", *extra)
    assert done.returncode == 0, done.stderr
    return [ln.split()[0] for ln in done.stdout.splitlines()[1:]]


def _settings(loaded) -> list[list[str]]:
    """Defaults, plus each other key type the recipe offers (EC keys use other commands)."""
    base = ["embed_certs=yes"] if "embed_certs" in loaded.variables else []
    var = loaded.variables.get("key_type")
    others = [t for t in (var.choices if var is not None else ()) if t != "rsa"]
    own_sa = ["sa_key_type=ecdsa"] if "sa_key_type" in loaded.variables else []
    return [base, *([*base, f"key_type={t}", *own_sa] for t in others)]


@pytest.mark.parametrize("recipe", sorted(bundled_recipes()))
def test_every_flag_of_every_bundled_recipe_is_explained(recipe: str) -> None:
    loaded = load_recipe(recipe)
    for sets in _settings(loaded):
        plan = build_plan(loaded, resolve_variables(loaded, sets))
        kinds = {a.argv[0] for s in plan.steps for a in s.actions if isinstance(a, Command)}
        assert "openssl" in kinds
        for step in plan.steps:
            for action in step.actions:
                if isinstance(action, Command):
                    notes = flag_glossary.explain_argv(action.argv)
                    missing = [n.text for n in notes if not n.meaning]
                    assert not missing, (recipe, sets, step.name, missing)
                    # every token of the command is covered by exactly one note
                    assert " ".join(n.text for n in notes) == " ".join(action.argv)


def test_explain_all_covers_every_step_and_command() -> None:
    done = run_cli("explain", "all")
    assert done.returncode == 0, done.stderr
    text = unfold(done.stdout)
    assert max(len(ln) for ln in done.stdout.splitlines() if " " in ln.strip(" |")) <= 80
    names = step_names()
    assert len(names) >= 16  # 16 certificates, then kubeconfigs and component files
    for name in names:
        assert f"step {name}: " in text
    for command in dry_run_commands():
        assert f"  $ {command}\n" in text
    assert "(no explanation recorded)" not in text


@pytest.mark.parametrize("recipe", sorted(set(bundled_recipes()) - {"kubernetes"}))
def test_explain_all_for_every_other_bundled_recipe(recipe: str) -> None:
    done = run_cli("explain", "all", "--recipe", recipe)
    assert done.returncode == 0, done.stderr
    names = step_names("--recipe", recipe)
    assert names and all(f"step {name}: " in done.stdout for name in names)
    for command in dry_run_commands("--recipe", recipe):
        assert f"  $ {command}\n" in unfold(done.stdout)
    assert "(no explanation recorded)" not in done.stdout


def test_explain_shows_the_document_beside_ours_with_reasons() -> None:
    done = run_cli("explain", "apiserver", "kube-scheduler")
    assert done.returncode == 0, done.stderr
    text = unfold(done.stdout)
    # the document's signing command, which drops the SANs, next to ours
    doc = (
        "document: openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -out apiserver.crt"
    )
    assert doc in text
    ours = text.split(doc, 1)[1].splitlines()[1]
    assert ours.strip().startswith("ours:") and "-extfile apiserver.cnf -extensions v3_req" in ours
    prose = " ".join(text.split())  # prose is wrapped at 80 columns (explain piped)
    assert "Unable to get 'req_distinguished_name' section" in prose
    assert "30 days" in text
    assert "-days 365" in text and "valid for 365 days (without -days openssl gives 30)" in prose
    # the CN that default RBAC would not authorize
    assert "document: kube-scheduler" in text and "ours:     system:kube-scheduler" in text
    assert "/CN=kube-scheduler/O=system:kube-scheduler" in text
    # the generated .cnf is shown whole
    assert "  | DNS.4 = kubernetes.default.svc.cluster.local" in text


def test_explain_unknown_step_is_one_line() -> None:
    done = run_cli("explain", "nope")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "'nope'" in done.stderr


def _markdown_tokens(text: str):
    return MarkdownIt("commonmark").enable("table").parse(text)


@pytest.fixture(scope="module")
def full_handout(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("handout") / "full.md"
    done = run_cli("export", "--format", "markdown", "--full", "-o", str(out))
    assert done.returncode == 0, done.stderr
    return out.read_text()


@pytest.fixture(scope="module")
def handout(tmp_path_factory) -> tuple[Path, str]:
    """The default handout written with -o (where dot is on PATH, its pictures beside it)."""
    out = tmp_path_factory.mktemp("lesson") / "lesson.md"
    done = run_cli("export", "--format", "markdown", "-o", str(out))
    assert done.returncode == 0, done.stderr
    return out, out.read_text()


def _headings(text: str, tag: str) -> list[str]:
    tokens = _markdown_tokens(text)
    return [
        tokens[i + 1].content
        for i, t in enumerate(tokens)
        if t.type == "heading_open" and t.tag == tag
    ]


def _clean(text: str) -> None:
    """Nothing leaks as raw HTML; every fence is closed (an unclosed one swallows the rest)."""
    tokens = _markdown_tokens(text)
    assert not [t for t in tokens if t.type in ("html_block", "html_inline")]
    inline = [c for t in tokens if t.type == "inline" for c in (t.children or [])]
    assert not [c for c in inline if c.type == "html_inline"]
    assert text.count("```") % 2 == 0


def test_the_handout_fits_a_lesson(handout) -> None:
    """About 400 lines: the ideas, two pictures, the variables as a table, one section per
    kind of step, the rest of the plan in a table, the document's defects, exercises, and the
    answers at the end."""
    path, text = handout
    assert text.count("\n") <= 420, text.count("\n")
    assert _headings(text, "h2") == [
        "1. The ideas first", "2. Two pictures", "3. The variables", "4. One step of each kind",
        "5. The rest of the plan", "6. What the document gets wrong", "7. Exercises", "Answers",
    ]  # fmt: skip
    assert _headings(text, "h3") == [
        "4.1 A CA: `ca`", "4.2 A user: `admin`", "4.3 A system component: `kube-scheduler`",
        "4.4 A server with SANs: `apiserver`",
        "4.5 A kubelet (node01 only): `kubelet-client-node01`, `kubelet-node01`",
        "4.6 A kubeconfig: `admin.kubeconfig`", "4.7 A flags file: `kube-apiserver.flags`",
    ]  # fmt: skip
    _clean(text)
    variables = text.split("## 3. The variables")[1].split("## 4.")[0]
    assert "| `nodes` | `node01, node02, node03` | Worker node names |" in variables
    kubeconfig = text.split("### 4.6")[1].split("### 4.7")[0]
    assert "kubectl config set-credentials kubernetes-admin --client-certificate=admin.crt" in (
        kubeconfig
    )
    assert "What this writes" in kubeconfig and "current-context:" in kubeconfig
    rest = text.split("## 5. The rest of the plan")[1].split("## 6.")[0]
    assert "| `kubelet-config-NODE.yaml` ×3 |" in rest and "kube-controller-manager" in rest
    exercises = text.split("## 7. Exercises")[1].split("## Answers")[0]
    for needle in ("expire", "embedded in a kubeconfig", "Ask the cluster to sign",
                   "who approves it", "--recipe as-written", "Why does"):  # fmt: skip
        assert needle in exercises, needle
    answers = text.split("## Answers")[1]
    assert "kubectl certificate approve kubelet-client-node01" in answers
    assert "kpki-openssl renew admin" in answers and "base64 -d" in answers
    # a flag is explained once, in the first section that uses it
    assert text.count("`openssl x509 -CAkey`") == 1
    if shutil.which("dot"):  # the pictures drawn beside it, their dot source kept
        for picture in ("trust", "connections"):
            assert f"](lesson-{picture}.png)" in text
            assert (path.parent / f"lesson-{picture}.png").stat().st_size > 0
            assert "digraph" in (path.parent / f"lesson-{picture}.dot").read_text()
        assert "```mermaid" not in text


def test_the_handout_without_a_file_carries_the_pictures_source() -> None:
    """On stdout (no folder to draw into) the pictures go in as Mermaid source."""
    from kpki_openssl.plan.steps import build_plan
    from kpki_openssl.recipe.load import load_recipe
    from kpki_openssl.recipe.variables import resolve_variables
    from kpki_openssl.teach import diagram

    done = run_cli("export", "--format", "markdown")
    assert done.returncode == 0, done.stderr
    recipe = load_recipe("kubernetes")
    plan = build_plan(recipe, resolve_variables(recipe, []))
    tokens = _markdown_tokens(done.stdout)
    pictures = [t.content for t in tokens if t.type == "fence" and t.info == "mermaid"]
    assert pictures == [diagram.mermaid_graph(g) for g in diagram.graphs(plan)]
    assert done.stdout.count("\n") <= 460


def test_the_handout_through_pandoc_is_about_twelve_pages(handout, tmp_path: Path) -> None:
    """pandoc renders it (ms, through groff's pdfroff) to about 12 pages (13 at most: the
    rotation exercise is the thirteenth page's)."""
    need_program("pandoc")
    need_program("pdfroff")
    path, _text = handout
    pdf = tmp_path / "lesson.pdf"
    done = subprocess.run(
        ["pandoc", path.name, "-t", "ms", "--pdf-engine=pdfroff", "-o", str(pdf)],
        cwd=path.parent, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
    assert 0 < pages <= 13, pages


def test_full_handout_contains_every_command_in_code_blocks(full_handout: str) -> None:
    tokens = _markdown_tokens(full_handout)
    shell_blocks = "".join(t.content for t in tokens if t.type == "fence" and t.info == "sh")
    commands = dry_run_commands()
    assert commands
    for command in commands:
        assert f"{command}\n" in shell_blocks
    # the generated files are there too, whole
    assert "cat > apiserver.cnf <<'EOF'\n" in shell_blocks
    assert "IP.2 = 172.17.0.87\n" in shell_blocks


def test_full_handout_renders_cleanly(full_handout: str) -> None:
    tokens = _markdown_tokens(full_handout)
    assert _headings(full_handout, "h2") == [
        "1. The ideas first", "2. Who signs what, and who presents which certificate to whom",
        "3. The flags, once", "4. Variables", "5. The steps", "6. What the document gets wrong",
        "7. Exercises", "8. Using the files", "Answers",
    ]  # fmt: skip
    steps = _headings(full_handout, "h3")
    names = step_names()
    shown = " ".join(steps)
    for name in names:  # every step, alone or as the first/last of a per-node group
        assert f"`{name}`" in shown or name in full_handout, name
    assert steps[0] == "5.1 `ca`: Kubernetes CA (self-signed)"
    # two tables: who the client certificates make their holder, and the flags, once
    assert sum(t.type == "table_open" for t in tokens) == 2
    _clean(full_handout)
    assert full_handout.count("```sh\n") == 1 + len(steps)  # umask 077, then each section


def test_full_handout_explains_each_flag_once(full_handout: str) -> None:
    tokens = _markdown_tokens(full_handout)
    # one flag glossary: each flag once, not once per command
    glossary = full_handout.split("## 3. The flags, once")[1].split("## 4.")[0]
    assert glossary.count("| `openssl x509` | `-extfile` |") == 1
    assert full_handout.count("take the certificate's extensions from") == 1
    # emphasis in recipe prose renders as emphasis, not as literal stars; yes/no as the dry run
    assert "\\*user\\*" not in full_handout and "*user*" in full_handout
    emphasized = [
        t.children[i + 1].content
        for t in tokens
        if t.type == "inline"
        for i, c in enumerate(t.children or [])
        if c.type == "em_open"
    ]
    assert "user" in emphasized
    assert "`embed_certs` = `no`" in full_handout and "False" not in full_handout
    assert "the document has none (no contexts, no current-context)" in full_handout
    assert (
        "## Answers" in full_handout
        and "openssl verify -x509_strict -no-CApath"
        not in (full_handout.split("## Answers")[0].split("## 7. Exercises")[1])
    )


def test_handout_commands_build_a_pki_when_pasted(tmp_path: Path) -> None:
    """The full handout's sh blocks, pasted in order into bash, build a PKI verify passes."""
    need_program("openssl")
    sets = ("--set", "nodes=n1", "--set", "key_size=1024", "--set", "embed_certs=yes")
    done = run_cli("export", "--format", "markdown", "--full", *sets)
    assert done.returncode == 0, done.stderr
    blocks = [t.content for t in _markdown_tokens(done.stdout) if t.type == "fence"]
    script = "set -euo pipefail\n" + "".join(
        t.content for t in _markdown_tokens(done.stdout) if t.type == "fence" and t.info == "sh"
    )
    assert len(blocks) > 12
    subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, check=True, capture_output=True, timeout=120,
        preexec_fn=lambda: os.umask(0o022),  # a usual login umask: files 0644 unless told
    )  # fmt: skip
    for base, ca in (("admin", "ca"), ("apiserver", "ca"), ("kubelet-n1", "ca"),
                     ("etcdserver", "etcd-ca"), ("front-proxy-client", "front-proxy-ca")):  # fmt: skip
        verified = openssl_verify(tmp_path / f"{ca}.crt", tmp_path / f"{base}.crt")
        assert verified.returncode == 0, verified.stdout + verified.stderr
    from kpki_openssl.cli import main as cli_main

    assert cli_main(["verify", "--out", str(tmp_path), *sets]) == 0  # every check of verify
    # keys, and kubeconfigs that embed one, are private as the exported script makes them
    private = [*tmp_path.glob("*.key"), *tmp_path.glob("*.kubeconfig")]
    assert len(private) > 10
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_a_departure_with_empty_fields_keeps_one_line_each(tmp_path: Path) -> None:
    """A departure that gives only `what`: each label on its own line (they ran together)."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: tiny\n"
        "profiles:\n  ca: {ca: true, key_usage: [keyCertSign, cRLSign]}\n"
        "variables:\n  days: {default: 10}\n  ca_days: {default: 20}\n"
        "certificates:\n  - {name: ca, profile: ca, subject: {CN: root}, departures: [{what: a}]}\n"
    )
    done = run_cli("explain", "ca", "--recipe", str(recipe))
    assert done.returncode == 0, done.stderr
    part = done.stdout.split("Where this departs from the document, and why\n", 1)[1]
    assert part.splitlines()[:4] == [
        "  - a",
        "      document: -",
        "      ours:     -",
        "      why:      -",
    ]


def test_a_kubeconfig_the_exam_way_with_embedded_certificates(tmp_path: Path) -> None:
    """explain shows the four kubectl config commands (--embed-certs=true when embedded),
    how run makes the file, the YAML as what it writes, and a command that reads an
    embedded certificate back, which does so on a real folder."""
    sets = ("--set", "embed_certs=yes", "--set", "key_type=ecdsa", "--set", "nodes=n1")
    done = run_cli("explain", "admin.kubeconfig", *sets)
    assert done.returncode == 0, done.stderr
    text = unfold(done.stdout)
    assert "Commands (the exam way: kubectl config)" in text
    assert "  $ kubectl config set-cluster kubernetes --server=https://kube-apiserver:6443 " in text
    assert text.count("--embed-certs=true") >= 2 and "What this writes: admin.kubeconfig" in text
    read_back = [ln[4:] for ln in text.splitlines() if ln.startswith("  $ kubectl config view")]
    assert len(read_back) == 2
    need_program("kubectl")
    out = tmp_path / "pki"
    assert run_cli("run", "all", "--quiet", "--out", str(out), *sets).returncode == 0
    shown = subprocess.run(["bash", "-c", read_back[0]], cwd=out, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "kube-admin" in shown.stdout and "system:masters" in shown.stdout
