"""The plan's steps by kind, for lessons: rows made once per item of a list (kubelet-node01,
-node02, ...) as one group, and one step of each kind a lesson walks through (a CA, a user, a
system component, the API server, a kubelet's client and server certificates, etcd with its CA,
a kubeconfig, a flags file). Pure: from the plan alone, for any recipe.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kpki_openssl.plan.steps import CertStep, ComponentStep, KubeconfigStep, Plan, Step


def _items(plan: Plan) -> list[str]:
    """Every item of the plan's list variables, longest first (node01 before node0)."""
    found = {v for value in plan.values.values() if isinstance(value, tuple) for v in value if v}
    return sorted(found, key=len, reverse=True)


def item_of(plan: Plan, step: Step) -> str:
    """The list item a step was made for (node01 for kubelet-node01), or ''."""
    spec = getattr(step, "spec", None)
    for_each = getattr(spec, "for_each", None)
    if for_each:
        return str(for_each[1])
    for item in _items(plan):
        if re.search(rf"(?<![\w]){re.escape(item)}(?![\w])", step.name):
            return item
    return ""


class Rows:
    """Names made once per item of a list (node01, node02, ...) as one: `kubelet-node01.crt`
    -> `kubelet-NODE.crt`, counted (×3). With per_node, every name as it is."""

    def __init__(self, plan: Plan, per_node: bool) -> None:
        self.per_node = per_node
        self.items: dict[str, tuple[str, int]] = {}  # item -> (placeholder, items in its list)
        rows = {c.for_each[0] for c in plan.certs if c.for_each}  # lists rows are made for
        for name in sorted(rows):
            value = plan.values.get(name)
            if isinstance(value, tuple) and len(value) > 1:
                word = name.upper()[:-1] if name.endswith("s") else name.upper()
                for item in value:
                    if item:
                        self.items.setdefault(item, (word, len(value)))
        ordered = sorted(self.items, key=len, reverse=True)
        self.pattern = (
            re.compile(r"(?<![\w.])(?:" + "|".join(map(re.escape, ordered)) + r")(?![\w])")
            if ordered
            else None
        )

    def name(self, text: str) -> str:
        """`text` with its item replaced by the list's placeholder."""
        if self.per_node or self.pattern is None:
            return text
        return self.pattern.sub(lambda m: self.items[m.group(0)][0], text)

    def count(self, text: str) -> int:
        """How many rows `text` stands for once collapsed (1 when it names no item)."""
        if self.per_node or self.pattern is None:
            return 1
        match = self.pattern.search(text)
        return self.items[match.group(0)][1] if match else 1


def item_groups(plan: Plan, steps: Sequence[Step] | None = None) -> list[list[Step]]:
    """Consecutive steps made from one row for each item of a list, as one group: the steps
    whose names and titles are the same but for the item (kubelet-client-node01 ... -node03)."""
    items = _items(plan)
    pattern = re.compile("|".join(re.escape(i) for i in items)) if items else None

    def key(step: Step) -> tuple[str, str, str] | None:
        if pattern is None or not item_of(plan, step):
            return None
        return (step.kind, pattern.sub("*", step.name), pattern.sub("*", step.title))

    groups: list[list[Step]] = []
    for step in plan.steps if steps is None else steps:
        mine = key(step)
        if groups and mine is not None and key(groups[-1][-1]) == mine:
            groups[-1].append(step)
        else:
            groups.append([step])
    return groups


def the_same_for(plan: Plan, group: Sequence[Step]) -> str:
    """'node02 and node03: the same commands, with each name in place of node01' (or, for steps
    of one shape, '... the same commands, with their own names'); '' for one step."""
    if len(group) < 2:
        return ""
    first = item_of(plan, group[0])
    if not first:
        names = [s.name for s in group[1:]]
        named = names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"
        return f"{named}: the same commands, with {'its' if len(names) == 1 else 'their'} own names"
    others = [item_of(plan, s) for s in group[1:]]
    named = others[0] if len(others) == 1 else ", ".join(others[:-1]) + f" and {others[-1]}"
    whose = "its" if len(others) == 1 else "each"
    return f"{named}: the same commands, with {whose} name in place of {first}"


def _shape(plan: Plan, step: Step) -> tuple[str, str, str]:
    """The step's commands and files with its own names blanked out: two steps of one shape
    differ only in their names (kube-scheduler and kube-controller-manager's certificates)."""
    from kpki_openssl.plan import shell_text

    spec = step.spec
    names = {step.name, step.title, getattr(spec, "base", ""), getattr(spec, "title", "")}
    if isinstance(step, CertStep):
        names |= {step.spec.subject_text, step.spec.common_name, *step.spec.organizations}
    if isinstance(step, KubeconfigStep):
        names |= {spec.file, spec.user, spec.context, spec.client, spec.cert_file,
                  spec.key_file, spec.cert_path, spec.key_path}  # fmt: skip
    text = "".join(shell_text.action_text(a) for a in step.actions)
    for name in sorted(filter(None, names), key=len, reverse=True):
        text = text.replace(name, "\0")
    signer = step.signer.name if isinstance(step, CertStep) and step.signer else ""
    return (step.kind, signer, text)


def compact_groups(plan: Plan, steps: Sequence[Step] | None = None) -> list[list[Step]]:
    """item_groups, and consecutive steps of one shape (the same commands but for their own
    names: admin, kube-scheduler, kube-controller-manager, kube-proxy) as one group too."""
    out: list[list[Step]] = []
    for group in item_groups(plan, steps):
        if (
            out
            and len(group) == 1
            and not item_of(plan, group[0])
            and not item_of(plan, out[-1][0])
            and _shape(plan, out[-1][0]) == _shape(plan, group[0])
        ):
            out[-1].append(group[0])
        else:
            out.append(group)
    return out


@dataclass(frozen=True)
class Kind:
    """One kind of step a lesson shows, and the steps (in plan order) that show it."""

    label: str
    steps: tuple[str, ...]


def _client(step: Step) -> bool:
    return (
        isinstance(step, CertStep)
        and not step.is_ca
        and "clientAuth" in step.spec.extended_key_usage
        and "serverAuth" not in step.spec.extended_key_usage
    )


def _server(step: Step) -> bool:
    return (
        isinstance(step, CertStep)
        and not step.is_ca
        and "serverAuth" in step.spec.extended_key_usage
    )


def lesson_kinds(plan: Plan) -> list[Kind]:
    """One step of each kind, as a 45-minute lesson walks them: a CA, a user, a system
    component, the API server (a server with SANs), a kubelet's client and serving
    certificates (the first node only), etcd with its own CA, a kubeconfig, a flags file.
    A kind the recipe does not have is left out."""
    steps = plan.steps
    certs = [s for s in steps if isinstance(s, CertStep)]
    kinds: list[Kind] = []

    def first(pred) -> Step | None:
        return next((s for s in steps if pred(s)), None)

    root = first(lambda s: isinstance(s, CertStep) and s.is_ca and s.signer is None)
    if root is not None:
        kinds.append(Kind("a CA", (root.name,)))
    users = [s for s in certs if _client(s) and not item_of(plan, s)]
    user = next((s for s in users if "system:masters" in s.spec.organizations), None)
    user = user or next((s for s in users if not s.spec.common_name.startswith("system:")), None)
    if user is not None:
        kinds.append(Kind("a user", (user.name,)))
    component = next(
        (
            s
            for s in users
            if s is not user
            and (s.spec.common_name.startswith("system:kube-") or s.name.startswith("kube-"))
        ),
        None,
    )
    if component is not None:
        kinds.append(Kind("a system component", (component.name,)))
    served = {k.served_by for k in plan.kubeconfigs}
    api = next((s for s in certs if s.name in served and _server(s)), None)
    api = api or next((s for s in certs if _server(s) and s.spec.sans.entries()), None)
    if api is not None:
        kinds.append(Kind("a server with SANs", (api.name,)))
    kubelet_client = next((s for s in certs if _client(s) and item_of(plan, s)), None)
    node = item_of(plan, kubelet_client) if kubelet_client else ""
    kubelet_server = next(
        (s for s in certs if _server(s) and node and item_of(plan, s) == node), None
    )
    kubelet = tuple(s.name for s in (kubelet_client, kubelet_server) if s is not None)
    if kubelet:
        kinds.append(Kind(f"a kubelet ({node} only)" if node else "a kubelet", kubelet))
    etcd = _etcd_server(plan)
    if etcd is not None:
        own_ca = etcd.signer is not None and root is not None and etcd.signer.name != root.name
        names = ((etcd.signer.name,) if own_ca and etcd.signer else ()) + (etcd.name,)
        kinds.append(Kind("etcd with its own CA" if own_ca else "etcd", names))
    kubeconfigs = [s for s in steps if isinstance(s, KubeconfigStep)]
    kc = next((s for s in kubeconfigs if user and s.client.name == user.name), None)
    kc = kc or (kubeconfigs[0] if kubeconfigs else None)
    if kc is not None:
        kinds.append(Kind("a kubeconfig", (kc.name,)))
    files = [s for s in steps if isinstance(s, ComponentStep)]
    flags = next((s for s in files if s.spec.program == "kube-apiserver"), None)
    flags = flags or next((s for s in files if s.name.endswith(".flags")), None)
    flags = flags or (files[0] if files else None)
    if flags is not None:
        kinds.append(Kind("a flags file", (flags.name,)))
    return kinds


def _etcd_server(plan: Plan) -> CertStep | None:
    """etcd's serving certificate: the one an etcd flags file serves with (--cert-file)."""
    by_base = {c.cert_file.rsplit("/", 1)[-1]: c.name for c in plan.certs}
    for comp in plan.components:
        if comp.program != "etcd":
            continue
        for flag, value in comp.flags:
            name = by_base.get(str(value).rsplit("/", 1)[-1])
            if flag == "--cert-file" and name:
                step = plan.step(name)
                return step if isinstance(step, CertStep) else None
    return None


def lesson_steps(plan: Plan) -> list[str]:
    """The steps of lesson_kinds, in plan order (CAs before what they sign)."""
    chosen = {n for kind in lesson_kinds(plan) for n in kind.steps}
    return [s.name for s in plan.steps if s.name in chosen]
