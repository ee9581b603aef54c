"""The plan as a lesson handout in Markdown: each step's purpose, its commands (the same shell
text as dry-run and export), each flag explained, the generated files and the departures from
the document.

Built from lesson.py's data; command text comes from shell_text.py, so the handout, the dry run and
the exported script cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from kpki_openssl.base import openssl_version
from kpki_openssl.plan import shell_text
from kpki_openssl.plan.steps import CertStep, Plan
from kpki_openssl.recipe.model import VariableValue
from kpki_openssl.teach import flag_glossary, lesson


def code(text: str) -> str:
    """An inline code span that survives backticks inside the text."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(text: str, info: str = "sh") -> str:
    """A fenced code block whose fence cannot occur inside the text."""
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{ticks}{info}\n{body}{ticks}\n"


def cell(text: str) -> str:
    """Text for one table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|") or " "


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def paragraph(text: str) -> str:
    """Recipe prose as Markdown paragraphs (blank lines kept, other newlines folded)."""
    parts = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    return "\n\n".join(_escape(p) for p in parts if p) + "\n"


_CODE_SPAN = re.compile(r"(`+)(.+?)\1|(?<![\w*])\*[^*\s][^*]*?(?<=\S)\*(?![\w*])")


def _escape(text: str) -> str:
    """Keep recipe prose literal (no accidental HTML, emphasis or links); `code` spans stay."""
    out, last = [], 0
    for match in _CODE_SPAN.finditer(text):
        out.append(_escape_plain(text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_escape_plain(text[last:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    text = text.replace("\\", "\\\\")
    for ch in "<>*_[]#`":
        text = text.replace(ch, "\\" + ch)
    return text


def _value(value: VariableValue) -> str:
    if isinstance(value, bool):  # as the recipe and the dry run spell it
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


UMASK = "umask 077\n"  # the exported script's first command, for the pasted blocks too

CONCEPTS = (
    "\n\n".join(
        (
            "## 1. The ideas first",
            "- A **private key** (`ca.key`, `admin.key`) is a secret that proves who you are. It "
            "never leaves its owner. `openssl genrsa` makes one.\n"
            "- A **certificate signing request** (CSR, `admin.csr`) holds the public half of a key "
            "and the name asked for (the *subject*), signed by the private key to show the "
            "requester holds it. `openssl req` makes one.\n"
            "- A **certificate** (`admin.crt`) is a CSR's contents signed by a certificate "
            "authority, with a validity period and extensions: what the key may be used for "
            "(keyUsage, extendedKeyUsage) and the names it is valid for (subjectAltName). "
            "`openssl x509 -req` signs one.\n"
            "- A **certificate authority** (CA) is a key pair whose certificate everyone trusts. "
            "Its certificate (`ca.crt`) is copied to every client and server; its key (`ca.key`) "
            "signs the others and stays with whoever runs the CA.",
            "**Client and server.** When a program connects over TLS, the server presents "
            "its certificate; the client checks that a CA it trusts signed it and that the "
            "name it dialled is among the certificate's subjectAltName entries. In Kubernetes "
            "the client presents a certificate too (mutual TLS): the server checks it against "
            "the CA it trusts for clients. One program can be both: the kube-apiserver serves "
            "kubectl and is itself a client of etcd and of every kubelet.",
            "**CN and O are the user and its groups.** The API server reads a client "
            "certificate's Common Name (CN) as the user name and each Organization (O) as a "
            "group, and authorizes that user and those groups (RBAC). So the subject is not "
            "decoration: it is the identity.",
        )
    )
    + "\n\n"
)


EXERCISES = (
    (
        "Show the names `{api}` is valid for, with openssl.",
        "`openssl x509 -in {api} -noout -ext subjectAltName`: the DNS names and IPs a client "
        "may dial it by.",
    ),
    (
        "Which user and groups does the API server see when `{client}` logs in?",
        "CN and O of its subject: `openssl x509 -in {client} -noout -subject`{who}.",
    ),
    (
        "Sign a CSR with `openssl x509 -req` but without `-extfile`, then look at the result "
        "with `openssl x509 -noout -text`. What is missing?",
        "Every extension the CSR asks for: x509 -req does not copy them, so the certificate "
        "has no subjectAltName and no usages; it is {bare}.",
    ),
    (
        "Check that `{client}` was signed by `{ca}`, strictly.",
        "`openssl verify -x509_strict -no-CApath -no-CAstore -CAfile {ca} {client}`; "
        "`-no-CApath -no-CAstore` make it trust that file only, not the system's CAs.",
    ),
    (
        "Which certificate does the kube-apiserver present to kubectl, and which one to etcd?",
        "To kubectl its serving certificate `{api}` (`--tls-cert-file`); to etcd its client "
        "certificate `{etcd_client}` (`--etcd-certfile`).",
    ),
    (
        "Run the real programs against your folder. What does each one say?",
        "`kpki-openssl prove --out DIR` starts etcd and a TLS server presenting `{api}`, then "
        "runs etcdctl, kubectl with each kubeconfig and the document's curl call; it prints each "
        "program's verdict, in its own words when it refuses.",
    ),
)


def _glossary(plan: Plan) -> str:
    argvs = [a.argv for s in plan.steps for a in s.actions if hasattr(a, "argv")]
    for step in plan.steps:  # the kubectl commands a kubeconfig step shows, too
        argvs += [n.strip().split() for n in step.notes if n.strip().startswith("kubectl ")]
    rows = [
        (code(command), code(flag) if flag else "(the command)", cell(_escape(meaning)))
        for command, flag, meaning in flag_glossary.glossary(argvs)
    ]
    return table(("command", "flag", "meaning"), rows)


def _identities(plan: Plan) -> str:
    rows = [
        (code(c.cert_file), code(c.common_name), cell(", ".join(c.organizations) or "-"))
        for c in plan.certs
        if "clientAuth" in c.extended_key_usage and "serverAuth" not in c.extended_key_usage
    ]
    return table(("client certificate", "user (CN)", "groups (O)"), rows) if rows else ""


def _defects() -> str:
    """The document's defects: lint's findings on the as-written recipe, by kind."""
    from kpki_openssl.checks.lint import CHECKS, lint
    from kpki_openssl.recipe.load import load_recipe
    from kpki_openssl.recipe.variables import resolve_variables

    document = load_recipe("as-written")
    found: dict[str, list[str]] = {}
    for finding in lint(document, resolve_variables(document, [])):
        found.setdefault(finding.check, []).append(finding.where)
    lines = [
        f"- **{_escape(CHECKS.get(check, check))}**: {', '.join(code(w) for w in where)}\n"
        for check, where in found.items()
    ]
    return "".join(lines)


def _groups(plan: Plan, lessons) -> list[list[tuple]]:
    """Consecutive steps made from one recipe row for each item of a list (kubelet-node01,
    kubelet-node02, ...): one section each, their blocks together."""
    items = sorted(
        {v for value in plan.values.values() if isinstance(value, tuple) for v in value},
        key=len,
        reverse=True,
    )
    pattern = re.compile("|".join(re.escape(i) for i in items if i)) if items else None

    def key(step) -> tuple[str, str] | None:
        if pattern is None or not pattern.search(step.name):
            return None
        return (pattern.sub("*", step.name), pattern.sub("*", step.title))

    groups: list[list[tuple]] = []
    for step, les in zip(plan.steps, lessons):
        mine = key(step)
        if groups and mine is not None and key(groups[-1][-1][0]) == mine:
            groups[-1].append((step, les))
        else:
            groups.append([(step, les)])
    return groups


def _step_section(number: int, group: list[tuple], shown: set) -> str:
    step, les = group[0]
    names = code(les.name) if len(group) == 1 else f"{code(les.name)} … {code(group[-1][1].name)}"
    out = [f"### 5.{number} {names}: {_escape(les.title)}\n\n"]
    made = ", ".join(code(w) for w in les.writes)
    if isinstance(step, CertStep):
        signer = f"signed by {code(les.signed_by)}" if les.signed_by else "self-signed (a root CA)"
        makes = f"Makes {made}; {signer}."
    else:
        makes = f"Makes {made}."
    if len(group) > 1:
        makes += f" The same for {', '.join(code(s.name) for s, _l in group[1:])}."
    why = " ".join(les.why.split())
    out.append((_escape(why) + " " if why else "") + _escape_made(makes) + "\n\n")
    body = "\n".join("".join(shell_text.action_text(a) for a in s.actions) for s, _l in group)
    out.append(fence(body) + "\n")
    fresh = [d for d in les.departures if (d.what, d.why) not in shown]
    shown.update((d.what, d.why) for d in fresh)
    for dep in fresh:
        text = f"the document has {dep.document}; here {dep.ours}." + (
            f" Why: {dep.why}" if dep.why else ""
        )
        out.append(f"- Departs, {_escape(dep.what)}: {cell(_escape(text))}\n")
    if fresh:
        out.append("\n")
    return "".join(out)


def _escape_made(text: str) -> str:
    return text  # built from code spans only


def handout(plan: Plan, description: str = "") -> str:
    """The plan as a lesson: the ideas, the picture, the flags once, the steps, what the
    document gets wrong, exercises with answers, and how to use the files."""
    from kpki_openssl.teach import diagram, using_files

    lessons = lesson.plan_lessons(plan)
    out = [f"# Building a Kubernetes PKI with openssl: recipe {code(plan.recipe)}\n\n"]
    if description:
        out.append(paragraph(description) + "\n")
    out.append(CONCEPTS + "\n")
    identities = _identities(plan)
    if identities:
        out.append("The client certificates of this PKI and who they make their holder:\n\n")
        out.append(identities + "\n")
    out.append("## 2. Who presents which certificate to whom\n\n")
    out.append(
        "Solid arrows: a TLS connection from client to server, labelled with the certificate "
        "the client presents (and the kubeconfig that names it). Dotted arrows: what each CA "
        "signs. Each server box says which certificate it presents.\n\n"
    )
    for picture in diagram.PICTURES:
        out.append(fence(diagram.mermaid(plan, picture), "mermaid") + "\n")
    out.append("## 3. The flags, once\n\n")
    out.append(_glossary(plan) + "\n")
    out.append("## 4. Variables\n\n")
    out.append(
        "The recipe's variables, as the commands below use them (change one with "
        "`--set NAME=VALUE`): "
        + "; ".join(
            f"{code(k)} = {code(_value(v)) if _value(v) else '(empty)'}"
            for k, v in plan.values.items()
        )  # fmt: skip
        + ".\n\n"
    )
    out.append("## 5. The steps\n\n")
    out.append(
        "Run the blocks below in an empty folder, in order: they are the same commands as the "
        "dry run and the exported script. First make every file you create private to you, as "
        "the exported script does (kubeconfigs written with `cat` and `kubectl` would "
        "otherwise be readable by others, embedded keys included):\n\n"
    )
    out.append(fence(UMASK) + "\n")
    shown: set = set()
    for i, group in enumerate(_groups(plan, lessons), 1):
        out.append(_step_section(i, group, shown))
    defects = _defects()
    if defects:
        out.append("## 6. What the document gets wrong\n\n")
        out.append(
            "What `kpki-openssl lint --recipe as-written` finds in the document's own commands "
            "and files (the rows it concerns in code), and `kpki-openssl prove` shows with the "
            "real programs:\n\n" + defects + "\n"
        )
    out.append(_exercises(plan))
    out.append("## 9. Using the files\n\n")
    lines = using_files.usage_lines(plan)
    if lines:
        out.append(fence("\n".join(lines) + "\n", "text") + "\n")
    out.append(
        "Check the folder afterwards: `kpki-openssl verify --out DIR` (each certificate against "
        "the recipe), `kpki-openssl prove --out DIR` (the real programs), "
        "`kpki-openssl check-expiration --out DIR`.\n"
    )
    return "".join(out)


def _exercises(plan: Plan) -> str:
    by_name = {c.name: c for c in plan.certs}
    api = by_name.get("apiserver")
    client = next((c for c in plan.certs if "system:masters" in c.organizations), None)
    client = client or next((c for c in plan.certs if "clientAuth" in c.extended_key_usage), None)
    etcd_client = by_name.get("apiserver-etcd-client")
    if api is None or client is None:
        return ""
    ca = by_name.get(client.ca or "", client)
    who = f": user {code(client.common_name)}" + (
        f", groups {', '.join(code(o) for o in client.organizations)}"
        if client.organizations
        else ""
    )
    values = {
        "api": api.cert_file,
        "client": client.cert_file,
        "ca": ca.cert_file,
        "who": who,
        "etcd_client": etcd_client.cert_file if etcd_client else "(none in this recipe)",
        "bare": openssl_version.bare_certificate(openssl_version.in_use()),
    }
    questions = "".join(f"{i}. {q.format(**values)}\n" for i, (q, _a) in enumerate(EXERCISES, 1))
    answers = "".join(f"{i}. {a.format(**values)}\n" for i, (_q, a) in enumerate(EXERCISES, 1))
    return "## 7. Exercises\n\n" + questions + "\n## 8. Answers\n\n" + answers + "\n"
