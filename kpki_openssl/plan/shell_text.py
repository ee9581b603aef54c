"""Plan -> shell text. The same renderer serves dry-run, `export` and the command log.

Every argument goes through shlex, and files the tool writes itself become quoted heredocs
(`<<'EOF'`), so nothing in a recipe can be expanded by the shell that replays it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache

from kpki_openssl.base.trust_store_setting import PROLOGUE as TRUST_STORE_PROLOGUE
from kpki_openssl.plan.generated import GeneratedFile
from kpki_openssl.plan.steps import Action, CertStep, Command, Plan, Step, WriteFile
from kpki_openssl.recipe.model import VariableValue

BASE_PROLOGUE = "#!/usr/bin/env bash\nset -euo pipefail\numask 077\n"
# the exported script and commands.sh: openssl x509 runs there, with the runner's setting
SCRIPT_PROLOGUE = BASE_PROLOGUE + TRUST_STORE_PROLOGUE


def command_line(command: Command) -> str:
    """The exact command as a person would type it, e.g. `openssl genrsa -out ca.key 2048`."""
    line = " ".join(map(_quote, command.argv))
    return f"{line} > {_quote(command.stdout)}" if command.stdout else line


_quote = lru_cache(maxsize=65536)(shlex.quote)  # the same few words recur in every step


def argv_text(argv: Sequence[str]) -> str:
    """Any argv as shell text, every argument quoted as needed."""
    return " ".join(map(_quote, argv))


def heredoc(write: WriteFile) -> str:
    """`cat > FILE <<'EOF' ... EOF`, with a delimiter that does not occur in the text."""
    return quoted_heredoc(f"cat > {shlex.quote(write.path)}", write.content)


def quoted_heredoc(command: str, content: str) -> str:
    """`COMMAND <<'EOF'` + content + `EOF`: quoted, so the shell expands nothing in it."""
    lines = content.splitlines() if "EOF" in content else []  # no EOF anywhere: no EOF line
    delimiter, n = "EOF", 0
    while delimiter in lines:
        n += 1
        delimiter = f"EOF_{n}"
    body = content if content.endswith("\n") else content + "\n"
    return f"{command} <<'{delimiter}'\n{body}{delimiter}\n"


def action_text(action: Action, keep_keys: bool = False) -> str:
    """An action as script text; `keep_keys`: a command making a private key is skipped when
    its file exists (kept_key_line)."""
    if isinstance(action, Command):
        if keep_keys and action.private and action.writes:
            return kept_key_line(action)
        return command_line(action) + "\n"
    if isinstance(action, GeneratedFile):  # the line that makes it, never what it holds
        return action.shell()
    return heredoc(action)


def kept_key_line(command: Command) -> str:
    """A command that makes a private key, run only when none of its files exists, so a script
    run where keys are never replaces one: `[ -e KEY ] || \\` then the command on its own line
    (the command's line reads as in the dry run)."""
    exists = " || ".join(f"[ -e {_quote(p)} ]" for p in command.writes)
    guard = exists if len(command.writes) == 1 else f"{{ {exists}; }}"
    return f"{guard} || \\\n{command_line(command)}\n"


def comment(text: str, width: int = 78) -> str:
    """Text as shell comment lines, wrapped, each starting with '# '."""
    out = []
    for paragraph in text.strip().split("\n\n"):
        wrapped = _wrap(paragraph.split(), width - 2) or [""]
        out.extend(f"# {line}" if line else "#" for line in wrapped)
    return "\n".join(out) + "\n" if out else ""


def _wrap(words: list[str], width: int) -> list[str]:
    """Greedy word wrap, never breaking a word: textwrap.wrap's result for plain words, but
    several times faster, which matters when a plan has 20,000 explained steps. A regular
    expression finds each line (the longest run of words that fits) in C; a word longer than
    the width, which it cannot place, falls back to the loop."""
    text = " ".join(words)
    if len(text) <= width:
        return [text] if text else []
    lines = _line_pattern(width).findall(text)
    if sum(map(len, lines)) + len(lines) - 1 == len(text):  # every character placed
        return lines
    return _wrap_words(words, width)


@lru_cache(maxsize=8)
def _line_pattern(width: int) -> re.Pattern[str]:
    return re.compile(rf"(\S.{{0,{width - 1}}})(?: |$)")


def _wrap_words(words: list[str], width: int) -> list[str]:
    lines: list[str] = []
    current: list[str] = []
    length = -1
    for word in words:
        if current and length + 1 + len(word) > width:
            lines.append(" ".join(current))
            current, length = [], -1
        current.append(word)
        length += 1 + len(word)
    if current:
        lines.append(" ".join(current))
    return lines


def one_line(text: str) -> str:
    """Text for the rest of a comment line: every run of whitespace (newlines too) one space."""
    return " ".join(text.split())


def step_text(
    step: Step, explain: bool = True, comment_line: str = "", keep_keys: bool = False
) -> str:
    """One step: its header, why, notes, then every action (`comment_line`: the dry run's
    word on what `run` would do with it in an existing folder; `keep_keys`: see action_text)."""
    parts = [f"\n# ===== step {step.name}: {one_line(step.title)} =====\n"]
    if comment_line:
        parts.append(comment_line + "\n")
    if explain and step.explain:
        parts.append(comment(step.explain))
    parts.extend(f"# {line}\n" for line in step.notes)
    actions = [action_text(a, keep_keys) for a in step.actions]
    if getattr(step, "kind", "") == "sign" and not getattr(step, "source", ""):
        # signed from a CSR the node sends (node_keys=on-node): only once it is here
        csr = shlex.quote(step.spec.csr_file)  # type: ignore[attr-defined]
        wait = shlex.quote(f"{step.name}: waiting for {step.spec.csr_file} from its node")  # type: ignore[attr-defined]
        actions = [f"if [ -e {csr} ]; then\n", *actions, f"else\n  echo {wait} >&2\nfi\n"]
    parts.extend(actions)
    return "".join(parts)


def variables_comment(values: Mapping[str, VariableValue]) -> str:
    lines = []
    for key, value in values.items():
        if isinstance(value, bool):
            shown = "yes" if value else "no"
        elif isinstance(value, tuple):
            shown = ",".join(value)
        elif isinstance(value, Mapping):
            shown = ",".join(f"{k}={v}" for k, v in value.items())
        else:
            shown = str(value)
        lines.append(f"#   {key} = {one_line(shown)}")
    return "\n".join(lines) + "\n" if lines else ""


def plan_text(plan: Plan, explain: bool = True, keep_keys: bool = False) -> str:
    """Every step's files and commands, in plan order, with a header naming recipe and values."""
    return "".join(plan_parts(plan, explain, keep_keys=keep_keys))


def plan_parts(
    plan: Plan,
    explain: bool = True,
    comments: Mapping[str, str] | None = None,
    keep_keys: bool = False,
) -> Iterator[str]:
    """plan_text piece by piece, so a 10,000-step dry-run never holds the whole text at once.
    `comments`: a line per step name, shown under its header (the dry run in a folder);
    `keep_keys`: a key command is skipped when its key exists (the exported script)."""
    count = len(plan.steps)
    head = f"# kpki-openssl plan: recipe {plan.recipe}, {count} step{'s' * (count != 1)}\n"
    yield head + "# variables:\n" + variables_comment(plan.values)
    for step in plan.steps:
        yield step_text(step, explain, (comments or {}).get(step.name, ""), keep_keys)


def script(plan: Plan) -> str:
    """A standalone bash script that builds the same PKI in the current directory."""
    return (
        SCRIPT_PROLOGUE
        + "# Run it in an empty folder: it writes keys, CSRs and certificates there. Where a key\n"
        + "# exists already it is kept, never replaced (the line before its command checks).\n"
        + plan_text(plan, keep_keys=True)
    )


def log_entry(action: Action, step: str, when: str, status: int | None, seconds: float) -> str:
    """One command-log record: a comment with time and exit status, then what ran.

    A failed command is written commented out, so replaying the log never re-runs a failure.
    """
    if isinstance(action, WriteFile):
        return f"# {when} step {step}: wrote {action.path}\n" + heredoc(action)
    if isinstance(action, GeneratedFile):  # a secret or a time: how it was made, not what
        made = f"# {when} step {step}: made {action.path} (mode {action.mode:04o}; made anew"
        return f"{made} when replayed)\n{action.shell()}"
    line = command_line(action)
    if status == 0:  # replayed where the key exists, a key command keeps it
        line = kept_key_line(action).rstrip("\n") if action.private and action.writes else line
        return f"# {when} step {step}: exit 0 ({seconds:.3f} s)\n{line}\n"
    return f"# {when} step {step}: FAILED, exit {status} ({seconds:.3f} s)\n# {line}\n"


def node_script(plan: Plan, node: str) -> str:
    """The script node `node` runs to make its own keys and CSRs, each wrapped in a
    CertificateSigningRequest manifest (NAME-csr.yaml); the signing is left to the cluster."""
    from kpki_openssl.plan import certificates_api, openssl_argv

    steps = certificates_api.node_steps(plan, node)
    parts = [
        BASE_PROLOGUE,  # no openssl x509 here, so no trust-store setting either
        comment(
            f"Run this on {node}, in an empty folder. It makes {node}'s own private keys and "
            "CSRs here and wraps each CSR in a certificates.k8s.io/v1 CertificateSigningRequest "
            "manifest. The private keys never leave this machine; an existing key is kept."
        ),
        f"# kpki-openssl node script: recipe {plan.recipe}, node {node}\n",
        "# variables:\n" + variables_comment(plan.values),
    ]
    made = []
    for step in steps:
        assert isinstance(step, CertStep)
        request = certificates_api.request_for(step.spec)
        parts.append(f"\n# ===== step {step.name}: {one_line(step.title)} =====\n")
        if step.explain:
            parts.append(comment(step.explain))
        for action in certificates_api.node_actions(step):
            parts.append(action_text(action, keep_keys=True))
        yaml_file = certificates_api.manifest_file(step.spec)
        encode = argv_text(openssl_argv.base64_argv(step.spec.csr_file))
        head = quoted_heredoc("cat", certificates_api.manifest_head(request))
        parts.append(
            f"request=$({encode})\n"
            + "{\n"
            + head
            + "printf '  request: %s\\n' \"$request\"\n"
            + f"}} > {shlex.quote(yaml_file)}\n"
        )
        made.append((step.name, yaml_file, step.spec.cert_file))
    parts.append("\n")
    parts.append(
        comment(
            "Next, where kubectl may approve CSRs: apply each manifest, approve it, and fetch "
            "the signed certificate back to this node."
        )
    )
    for name, yaml_file, cert_file in made:
        parts.append(f"#   kubectl apply -f {shlex.quote(yaml_file)}\n")
        parts.append(f"#   kubectl certificate approve {shlex.quote(name)}\n")
        parts.append(
            f"#   kubectl get csr {shlex.quote(name)} -o jsonpath='{{.status.certificate}}'"
            f" | base64 -d > {shlex.quote(cert_file)}\n"
        )
    return "".join(parts)
