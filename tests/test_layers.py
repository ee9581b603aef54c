"""The package's layers (ARCHITECTURE.md): imports point down only, and no module imports itself
back at run time. Read from the source with `ast`, so an import inside a function or under
`TYPE_CHECKING` counts for the layer rule too."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "kpki_openssl"

# Lower rank first; a package may import its own modules and those of packages of a lower rank.
# Packages of the same rank (execute, checks, deploy) do not import each other.
RANK = {
    "base": 0,
    "recipe": 1,
    "plan": 2,
    "execute": 3,
    "checks": 3,
    "deploy": 3,
    "prove": 4,
    "teach": 5,
    "cli": 6,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Line numbers of every statement inside an `if TYPE_CHECKING:` block."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                for sub in ast.walk(inner):
                    if hasattr(sub, "lineno"):
                        lines.add(sub.lineno)
    return lines


def _imports(path: Path) -> list[tuple[int, str, bool, bool]]:
    """(line, module imported, at module level, under TYPE_CHECKING) for every kpki_openssl import.
    `from kpki_openssl.pkg import mod` names the module when `mod` is one."""
    tree = ast.parse(path.read_text())
    typing_only = _type_checking_lines(tree)
    top_level = {id(node) for node in tree.body}
    top_level |= {
        id(sub)
        for node in tree.body
        if isinstance(node, (ast.If, ast.Try))
        for sub in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}:{node.lineno}: a relative import; write it absolute")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kpki_openssl"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (REPO / (candidate.replace(".", "/") + ".py")).exists() or (
                    REPO / candidate.replace(".", "/") / "__init__.py"
                ).exists()
                names.append(candidate if is_module else node.module)
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("kpki_openssl")]
        for name in names:
            found.append((node.lineno, name, id(node) in top_level, node.lineno in typing_only))
    return found


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_in_a_layer() -> None:
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name not in {"__init__.py", "__main__.py"}]
    assert not loose, f"modules outside the layer packages: {loose}"
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert packages == sorted(RANK), packages


def test_imports_point_down_only() -> None:
    upward = []
    for path in _sources():
        own = _module_name(path).split(".")
        if len(own) < 2 or own[1] not in RANK:
            continue  # kpki_openssl/__init__.py, __main__.py
        for line, name, _, _ in _imports(path):
            target = name.split(".")
            if len(target) < 2 or target[1] == own[1]:
                continue
            if RANK[target[1]] >= RANK[own[1]]:
                upward.append(f"{path.relative_to(REPO)}:{line}: {own[1]} imports {name}")
    assert not upward, "\n".join(upward)


def test_no_import_cycle_at_run_time() -> None:
    """Module-level imports (not under TYPE_CHECKING) form no cycle: every module can be
    imported first, alone."""
    graph: dict[str, set[str]] = {}
    for path in _sources():
        me = _module_name(path)
        graph[me] = {
            name
            for _, name, top, typing_only in _imports(path)
            if top and not typing_only and name != me
        }
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    # A package's __init__ importing its own modules is not a cycle of concern; none do today.
    assert not cycles, cycles


def test_the_layer_test_sees_an_upward_import(tmp_path: Path) -> None:
    """The rule can fail: an upward import inside a function, written to a scratch copy, is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from kpki_openssl.cli import main\n    return main\n")
    assert [(line, name) for line, name, *_ in _imports(bad)] == [(2, "kpki_openssl.cli")]


# What a module of the plan may not touch: the plan is pure (no I/O, no clock, no randomness),
# so dry-run, run and export render the very same steps.
IMPURE = {
    "os", "io", "pathlib", "subprocess", "shutil", "tempfile", "socket", "time",
    "random", "secrets", "uuid", "glob", "fcntl", "signal", "threading",
}  # fmt: skip
CLOCK = {"now", "utcnow", "today", "fromtimestamp"}  # datetime may parse, never read the clock


def test_the_plan_does_no_io() -> None:
    found = []
    for path in sorted((PACKAGE / "plan").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "open":
                names = ["open()"]
            elif isinstance(node, ast.Attribute) and node.attr in CLOCK:
                names = [f"{node.attr}()"]
            for name in names:
                if name.split(".")[0] in IMPURE or name.endswith("()"):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {name}")
    assert not found, found


def test_each_package_says_what_architecture_md_says() -> None:
    """Each package's docstring opens with its line in ARCHITECTURE.md, word for word."""
    import re

    lines = dict(
        re.findall(r"^- \*\*(\w+)\*\*: (.+)$", (REPO / "ARCHITECTURE.md").read_text(), re.M)
    )
    assert sorted(lines) == sorted(RANK)
    for package, line in lines.items():
        doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text())) or ""
        first = " ".join(doc.split("\n\n", 1)[0].split())
        assert first == line, package


def test_one_module_starts_processes() -> None:
    """Only base/processes.py starts a program (argv lists, one timeout policy). Naming
    `subprocess.Popen` as a type is allowed; calling it, or any other starter, is not."""
    starters = {
        ("subprocess", "run"), ("subprocess", "Popen"), ("subprocess", "call"),
        ("subprocess", "check_call"), ("subprocess", "check_output"), ("os", "system"),
        ("os", "popen"), ("os", "execv"), ("os", "execvp"), ("os", "execve"), ("os", "spawnv"),
        ("os", "posix_spawn"), ("os", "posix_spawnp"), ("pty", "spawn"),
    }  # fmt: skip
    found = []
    for path in _sources():
        if path == PACKAGE / "base" / "processes.py":
            continue
        tree = ast.parse(path.read_text())
        called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        for node in ast.walk(tree):
            where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', 0)}"
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and (node.value.id, node.attr) in starters
                and (node.attr != "Popen" or id(node) in called)
            ):
                found.append(f"{where}: {node.value.id}.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module in ("subprocess", "plumbum"):
                found.append(f"{where}: from {node.module}")
    assert not found, found
