"""The plan as a lesson handout in Markdown.

By default a handout for one lesson: the ideas, the two pictures (trust and connections), the
variables as a table, one section per kind of step (a CA, a user, a system component, a server
with SANs, a kubelet on its first node, a kubeconfig the exam way, a flags file) with its
commands, what each new flag does and where it departs from the document; then the rest of the
plan in a table, the document's defects, exercises, how to use the files, and the answers at the
end. `full` gives every step's commands instead (blocks that, pasted in order, build the PKI).

Built from lesson.py's data; command text comes from shell_text.py, so the handout, the dry run
and the exported script cannot disagree.
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
        "When does `{client}` expire, and what renews it without a new key?",
        "`openssl x509 -in {client} -noout -enddate` (`kpki-openssl check-expiration --out DIR` "
        "lists them all; `--warn-days 30` ends with the renew command). `kpki-openssl renew "
        "{client_step} --out DIR` signs its CSR again with the same CA and key: the same "
        "`openssl x509 -req` with a new validity.",
    ),
    (
        "Read the client certificate embedded in a kubeconfig made with `--set embed_certs=yes`.",
        "`kubectl config view --raw --kubeconfig={kubeconfig} -o "
        "jsonpath='{{.users[0].user.client-certificate-data}}' | base64 -d | openssl x509 "
        "-noout -subject -enddate`: `--raw` shows the data, base64 -d gives the PEM back.",
    ),
    (
        "Ask the cluster to sign `{kubelet_client}` instead of signing it yourself. What do "
        "you send, and who approves it?",
        "`kpki-openssl csr {kubelet_client} --out DIR > csr.yaml` wraps the CSR in a "
        "CertificateSigningRequest for the signer `kubernetes.io/kube-apiserver-client-kubelet`; "
        "`kubectl apply -f csr.yaml`. kube-controller-manager's csrapproving controller approves "
        "a node's own request (a bootstrap token's or the node's renewal); otherwise an "
        "administrator runs `kubectl certificate approve {kubelet_client}`, and the controller "
        "manager signs it with its `--cluster-signing-cert-file`/`--cluster-signing-key-file`.",
    ),
    (
        "Sign a CSR with `openssl x509 -req` but without `-extfile`, then look at the result "
        "with `openssl x509 -noout -text`. What is missing?",
        "Every extension the CSR asks for: x509 -req does not copy them, so the certificate "
        "has no subjectAltName and no usages; it is {bare}.",
    ),
    (
        "Build the document's own PKI (`kpki-openssl walkthrough --recipe as-written "
        "--keep-going --yes --out doc`) and run `kpki-openssl prove --out doc --recipe "
        "as-written`. Why does etcdctl not get through to etcd, and why does kubectl refuse "
        "node01's kubelet?",
        "The document signs with `x509 -req` and no `-extfile`, so `etcdserver.crt` and "
        "`kubelet-node01.crt` have no subjectAltName: etcdctl refuses etcd's certificate (it "
        'says "context deadline exceeded"; etcd logs "tls: bad certificate", the alert '
        'etcdctl sent), and kubectl says "x509: certificate is not valid for any names, but '
        'wanted to match node01" (its CN is `kubelet` on every node). `kpki-openssl lint '
        "--recipe as-written` names both (`no-sans`).",
    ),
    (
        "Which certificate does the kube-apiserver present to kubectl, and which one to etcd?",
        "To kubectl its serving certificate `{api}` (`--tls-cert-file`); to etcd its client "
        "certificate `{etcd_client}` (`--etcd-certfile`).",
    ),
    (
        "You are rotating `{ca}` with `rotate-ca`. Why must every verifier trust the bundle "
        "(trust) before any certificate is re-issued (switch), and what does a client trusting "
        "only the new CA say to a server still on the old certificate?",
        "A program accepts only certificates from a CA it already trusts, so the bundle goes "
        "everywhere first. Skip trust and the client refuses: `x509: certificate signed by "
        "unknown authority` (`prove --only rotation` and `--only rotation-ca` show it with "
        "kubectl against etcd). etcd "
        "reads its trust files only at start, so its members restart one at a time after trust "
        "and after remove.",
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
    """Who each client certificate makes its holder; rows made per node once (×3)."""
    from kpki_openssl.teach.kinds import Rows

    names = Rows(plan, per_node=False)
    rows: dict[str, tuple[str, str, str]] = {}
    for c in plan.certs:
        if "clientAuth" not in c.extended_key_usage or "serverAuth" in c.extended_key_usage:
            continue
        times = names.count(c.cert_file)
        file = names.name(c.cert_file) + (f" ×{times}" if times > 1 else "")
        rows.setdefault(file, (code(file), code(names.name(c.common_name)),
                               cell(", ".join(c.organizations) or "-")))  # fmt: skip
    heads = ("client certificate", "user (CN)", "groups (O)")
    return table(heads, list(rows.values())) if rows else ""


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


def full_listing(
    plan: Plan, description: str = "", pictures: Mapping[str, tuple[str, str]] | None = None
) -> str:
    """Every step (`export --format markdown --full`): the ideas, the pictures, the flags once,
    each step's commands (pasted in order, they build the PKI), what the document gets wrong,
    exercises, how to use the files, and the answers."""
    lessons = lesson.plan_lessons(plan)
    out = [f"# Building a Kubernetes PKI with openssl: recipe {code(plan.recipe)}\n\n"]
    if description:
        out.append(paragraph(description) + "\n")
    out.append(CONCEPTS + "\n")
    identities = _identities(plan)
    if identities:
        out.append("The client certificates of this PKI and who they make their holder:\n\n")
        out.append(identities + "\n")
    out.append("## 2. Who signs what, and who presents which certificate to whom\n\n")
    out.append(_pictures(plan, pictures))
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
    exercises, answers = _exercises(plan)
    out.append("## 7. Exercises\n\n" + exercises + "\n")
    out.append(_using(plan, "8"))
    out.append("## Answers\n\n" + answers)
    return "".join(out)


def _exercises(plan: Plan) -> tuple[str, str]:
    """The exercises, numbered, and their answers (for the end of the handout)."""
    by_name = {c.name: c for c in plan.certs}
    api = by_name.get("apiserver")
    client = next((c for c in plan.certs if "system:masters" in c.organizations), None)
    client = client or next((c for c in plan.certs if "clientAuth" in c.extended_key_usage), None)
    if api is None or client is None:
        return "", ""
    etcd_client = by_name.get("apiserver-etcd-client")
    kubelet_client = next(
        (c for c in plan.certs if c.for_each and c.common_name.startswith("system:node:")), None
    )
    kubeconfig = next((k.file for k in plan.kubeconfigs if k.client == client.name), "")
    who = f": user {code(client.common_name)}" + (
        f", groups {', '.join(code(o) for o in client.organizations)}"
        if client.organizations
        else ""
    )
    values = {
        "api": api.cert_file,
        "client": client.cert_file,
        "client_step": client.name,
        "who": who,
        "etcd_client": etcd_client.cert_file if etcd_client else "(none in this recipe)",
        "kubelet_client": kubelet_client.name if kubelet_client else "kubelet-client-node01",
        "kubeconfig": kubeconfig or "admin.kubeconfig",
        "bare": openssl_version.bare_certificate(openssl_version.in_use()),
        "ca": by_name.get(client.ca or "", client).cert_file,
    }
    questions = "".join(f"{i}. {q.format(**values)}\n" for i, (q, _a) in enumerate(EXERCISES, 1))
    answers = "".join(f"{i}. {a.format(**values)}\n" for i, (_q, a) in enumerate(EXERCISES, 1))
    return questions, answers


def _pictures(plan: Plan, pictures: Mapping[str, tuple[str, str]] | None) -> str:
    """The two pictures: images where they were drawn (their dot source beside them), the
    Mermaid source otherwise."""
    from kpki_openssl.teach import diagram

    out = [
        "Two pictures of this PKI. **Trust**: each CA and what it signs, with each "
        "certificate's use and the name it carries. **Connections**: an arrow from client to "
        "server for each TLS connection, labelled with the certificate the client presents; "
        "each server says which certificate it presents. Rows made per node are drawn once "
        "(`kubelet ×3`).\n\n"
    ]
    for graph in diagram.graphs(plan):
        image, source = (pictures or {}).get(graph.name, ("", ""))
        if image:
            out.append(f"![{_escape(graph.title)}]({image})\n\n")
            out.append(f"(Its source: {code(source)}.)\n\n")
        else:
            out.append(fence(diagram.mermaid_graph(graph), "mermaid") + "\n")
    return "".join(out)


def _variables(plan: Plan, helps: Mapping[str, str]) -> str:
    """Each variable, its value (list items apart, so a long list can wrap), and what it is
    in a few words: its help up to the first comma, colon, semicolon or sentence end."""

    def short(text: str) -> str:
        words = re.split(r"(?<=[a-z0-9)]\.)\s|[;:,(]\s?", " ".join(text.split()), maxsplit=1)
        return words[0].strip().rstrip(".")

    rows = [
        (
            code(k),
            code(_value(v).replace(",", ", ")) if _value(v) else "(empty)",
            cell(_escape(short(helps.get(k, "")))),
        )
        for k, v in plan.values.items()
    ]
    return table(("variable", "value", "what it is"), rows)


def _using(plan: Plan, number: str) -> str:
    from kpki_openssl.teach import using_files

    out = [f"## {number}. Using the files\n\n"]
    lines = using_files.usage_lines(plan)
    if lines:
        out.append(fence("\n".join(lines) + "\n", "text") + "\n")
    out.append(
        "Check the folder afterwards: `kpki-openssl verify --out DIR` (each certificate against "
        "the recipe), `kpki-openssl prove --out DIR` (the real programs), "
        "`kpki-openssl check-expiration --out DIR`.\n\n"
    )
    return "".join(out)


# the kinds a lesson handout has a section for (etcd's CA is in the table of the rest)
HANDOUT_KINDS = ("a CA", "a user", "a system component", "a server with SANs", "a kubelet",
                 "a kubeconfig", "a flags file")  # fmt: skip


def handout(
    plan: Plan,
    description: str = "",
    full: bool = False,
    pictures: Mapping[str, tuple[str, str]] | None = None,
    helps: Mapping[str, str] | None = None,
) -> str:
    """The plan as a handout for one lesson (about 400 lines: see the module's docstring);
    with `full`, every step's commands instead. `pictures`: picture name -> (an image drawn
    beside the handout, its source) (else the pictures go in as Mermaid source); `helps`: each
    variable's help text, for the variables table."""
    if full:
        return full_listing(plan, description, pictures)
    from kpki_openssl.teach import kinds

    out = [f"# Building a Kubernetes PKI with openssl: recipe {code(plan.recipe)}\n\n"]
    out.append(CONCEPTS + "\n")
    identities = _identities(plan)
    if identities:
        out.append("The client certificates of this PKI and who they make their holder:\n\n")
        out.append(identities + "\n")
    out.append("## 2. Two pictures\n\n" + _pictures(plan, pictures))
    out.append("## 3. The variables\n\n")
    out.append(
        "The commands below are made from these values (change one with "
        "`--set NAME=VALUE`):\n\n" + _variables(plan, helps or {}) + "\n"
    )
    chosen = [k for k in kinds.lesson_kinds(plan) if k.label.startswith(HANDOUT_KINDS)]
    out.append("## 4. One step of each kind\n\n")
    out.append(
        "Paste the blocks into bash in an empty folder, in order, after making every file you "
        "create private to you (the kubeconfig block needs kubectl):\n\n" + fence(UMASK) + "\n"
    )
    seen = _Seen()
    for number, kind in enumerate(chosen, 1):
        steps = [plan.step(name) for name in kind.steps]
        out.append(_kind_section(f"4.{number}", kind.label, steps, seen))
    shown = {n: f"4.{i}" for i, k in enumerate(chosen, 1) for n in k.steps}
    out.append(_the_rest(plan, shown))
    defects = _defects()
    if defects:
        out.append("## 6. What the document gets wrong\n\n")
        out.append(
            "What `kpki-openssl lint --recipe as-written` finds in the document's own commands "
            "and files (the rows it concerns in code):\n\n" + defects + "\n"
        )
    exercises, answers = _exercises(plan)
    out.append("## 7. Exercises\n\n" + exercises + "\n")
    out.append(
        "Check a folder with `kpki-openssl verify --out DIR` (each certificate against the "
        "recipe), `kpki-openssl prove --out DIR` (the real programs) and `kpki-openssl "
        "check-expiration --out DIR`; `kpki-openssl run all` ends by saying how to use the "
        "files.\n\n"
    )
    out.append("## Answers\n\n" + answers)
    return "".join(out)


class _Seen:
    """What earlier sections showed: the flags glossed, the departures told."""

    def __init__(self) -> None:
        self.flags: set[tuple[str, str]] = set()
        self.departures: set[tuple[str, str]] = set()


def _kind_section(number: str, label: str, steps: list, seen: _Seen) -> str:
    """One kind of step: why, its commands (a kubeconfig's the exam way, with the YAML it
    writes), each flag not explained before, and each departure not told before."""
    from kpki_openssl.plan.steps import KubeconfigStep

    names = ", ".join(code(s.name) for s in steps)
    out = [f"### {number} {label[0].upper() + label[1:]}: {names}\n\n"]
    for step in steps:
        les = lesson.step_lesson(step)
        why = " ".join(les.why.split())
        made = ", ".join(code(w) for w in les.writes)
        out.append(
            (f"{_escape(why)} " if why else "") + f"{code(step.name)} makes {made} "
            f"({_escape(les.relation)}).\n\n"
        )
    blocks: list[str] = []
    commands: list[lesson.CommandLesson] = []
    yaml = ""
    for step in steps:
        les = lesson.step_lesson(step)
        if isinstance(step, KubeconfigStep):
            blocks.append("".join(f"{c.line}\n" for c in les.exam))
            commands += les.exam
            yaml = les.files[0].content if les.files else ""
            continue
        blocks.append("".join(shell_text.action_text(a) for a in step.actions))
        commands += les.commands
    out.append(fence("\n".join(blocks)) + "\n")
    if yaml:
        out.append("What this writes (`run` writes the same file without kubectl):\n\n")
        out.append(fence(yaml, "yaml") + "\n")
    flags = []
    for command in commands:
        head = command.notes[0].text if command.notes else ""
        for note in command.notes[1:]:
            flag = note.text.split(" ", 1)[0].split("=", 1)[0]
            if not flag.startswith("-") or (head, flag) in seen.flags:
                continue
            seen.flags.add((head, flag))
            flags.append(f"{code(head + ' ' + flag)}: {_escape(_short(note.meaning))}")
    if flags:
        out.append("New flags: " + "; ".join(flags) + ".\n\n")
    for dep in (d for s in steps for d in getattr(s.spec, "departures", ())):
        if (dep.what, dep.why) in seen.departures:
            continue
        seen.departures.add((dep.what, dep.why))
        text = f"the document has {dep.document}; here {dep.ours}." + (
            f" Why: {dep.why}" if dep.why else ""
        )
        out.append(f"- Departs, {_escape(dep.what)}: {cell(_escape(text))}\n")
    return "".join(out) + "\n"


def _short(meaning: str) -> str:
    """A flag's meaning up to its first semicolon."""
    return meaning.split(";", 1)[0].strip().rstrip(".")


def _the_rest(plan: Plan, shown: Mapping[str, str]) -> str:
    """Every other step in one table: rows made per node, and steps of one shape, once; each
    with the section whose commands it repeats with its own names."""
    from kpki_openssl.teach import kinds

    names = kinds.Rows(plan, per_node=False)
    rows = []
    for group in kinds.compact_groups(plan):
        rest = [s for s in group if s.name not in shown]
        if not rest:
            continue
        like = next((shown[s.name] for s in reversed(group) if s.name in shown), "")
        if len(rest) == len(group) and names.count(rest[0].name) > 1:  # every node: NODE ×3
            steps = f"{code(names.name(rest[0].name))} ×{names.count(rest[0].name)}"
        else:
            steps = ", ".join(code(s.name) for s in rest)
        made = names.name(" ".join(rest[0].title.split()))
        rows.append((steps, cell(_escape(made)), like or "-"))
    if not rows:
        return ""
    return (
        "## 5. The rest of the plan\n\n"
        "The same kinds of commands make the other steps (`like`: the section whose commands "
        "they repeat with their own names); `kpki-openssl explain STEP` shows any one, "
        "`kpki-openssl export --format markdown --full` all of them.\n\n"
        + table(("steps", "what they make", "like"), rows)
        + "\n"
    )
