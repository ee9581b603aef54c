"""Load a recipe (YAML data) into frozen dataclasses and resolve its variables.

A recipe is data: variables with defaults, usage profiles, a table of certificates in which
per-node entries are written once (`for_each`), and tables of the files that use them
(`kubeconfigs`, `components`). Expansion into concrete records is `certlist.expand`,
`kubeconfig.expand` and `components.expand`; this module only reads, checks shapes, and applies
`--set` overrides.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from kpki_openssl.base import safeyaml
from kpki_openssl.base.errors import InputError
from kpki_openssl.recipe import template, validate
from kpki_openssl.recipe.sans import SubjectAltNames

VariableValue = Union[bool, int, str, tuple, Mapping]

YES = ("yes", "true", "on", "1")
NO = ("no", "false", "off", "0")

# Installed, the recipes ship inside the package (pyproject's force-include); in a source
# checkout they are the repository's recipes/. A plain path: importlib.resources costs ~20 ms
# of every command's start-up, and the package is never zipped.
_PACKAGE = Path(__file__).resolve().parent.parent
_PACKAGED_RECIPES = _PACKAGE / "recipes"
_REPO_RECIPES = _PACKAGE.parent / "recipes"


@dataclass(frozen=True)
class Variable:
    """A recipe variable: its default fixes its type (list, map, yes/no, int or text)."""

    name: str
    default: VariableValue
    help: str = ""
    check: str | None = None  # per-item check from validate.CHECKS
    choices: tuple[str, ...] = ()  # the only values allowed (a text variable), e.g. key_type
    first_address: str = ""  # a CIDR variable: this list variable's first item is its first host
    contains: tuple[str, ...] = ()  # a CIDR variable: every item of these lists lies inside it

    @property
    def kind(self) -> str:
        if isinstance(self.default, tuple):
            return "list"
        if isinstance(self.default, Mapping):
            return "map"
        if isinstance(self.default, bool):
            return "bool"
        if isinstance(self.default, int):
            return "int"
        return "text"


@dataclass(frozen=True)
class Departure:
    """Where the recipe differs from the source document, and why."""

    what: str
    document: str
    ours: str
    why: str


@dataclass(frozen=True)
class Profile:
    """Extensions by role: a CA, a client, a server, or both (etcd)."""

    name: str
    is_ca: bool
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]


@dataclass(frozen=True)
class CertEntry:
    """One row of the certificate table as written; templates are filled by certlist.expand."""

    name: str
    file: str
    ca: str | None
    profile: str
    subject: tuple[tuple[str, tuple[str, ...]], ...]
    sans: SubjectAltNames  # templates, filled by certlist.expand
    days: str  # a template, or "none": no -days flag (openssl's 30-day default)
    cnf: str  # "generated", "none" (no .cnf at all), or "file" (cnf_file + cnf_text verbatim)
    cnf_file: str
    cnf_text: str
    sign_extensions: bool  # pass the .cnf to x509 -req (-extfile/-extensions)
    for_each: tuple[str, str] | None  # (loop variable, list variable)
    title: str
    explain: str
    document: tuple[str, ...]
    departures: tuple[Departure, ...]
    when: tuple[tuple[str, str], ...] = ()  # (variable, value): the row exists only when all hold

    @property
    def dns(self) -> tuple[str, ...]:
        return self.sans.dns

    @property
    def ips(self) -> tuple[str, ...]:
        return self.sans.ips


@dataclass(frozen=True)
class KeyPairEntry:
    """A bare key pair, no certificate: e.g. kubeadm's service-account signing key sa.key/sa.pub."""

    name: str
    file: str
    title: str
    explain: str
    document: tuple[str, ...]
    key_types: tuple[str, ...] = ()  # the key types its consumer takes ("" = any)
    key_type: str = ""  # template: its own key type ("" or "same": the recipe's key_type)
    private_pub: bool = False  # the .pub file is written 0600 too (kubeadm's sa.pub)
    departures: tuple[Departure, ...] = ()


@dataclass(frozen=True)
class KubeconfigEntry:
    """One row of the kubeconfig table as written; templates are filled by kubeconfig.expand."""

    file: str  # also the step name (bundled: NAME.kubeconfig; kubeadm's style: admin.conf)
    for_each: tuple[str, str] | None
    client: str  # the certificate (row name) whose .crt/.key the user presents
    served_by: str  # the certificate the server presents: its SANs must cover the server host
    server: str  # https://HOST:PORT
    embed: str  # template giving yes/no: embed the files' data instead of naming them
    cluster: str
    user: str  # "" means the client certificate's CN
    context: str  # "" means USER@CLUSTER
    ca_dir: str  # path form: folder of the CA file ("" = beside the kubeconfig)
    client_dir: str  # path form: folder of the client .crt/.key ("" = beside the kubeconfig)
    title: str
    explain: str
    document: tuple[str, ...]
    departures: tuple[Departure, ...]


@dataclass(frozen=True)
class ComponentEntry:
    """One component configuration file: a flags file or a YAML document, as templates."""

    file: str  # also the step name
    for_each: tuple[str, str] | None
    program: str  # the program that reads it (etcd, kube-apiserver, kubelet)
    flags: tuple[tuple[str, Any], ...]  # format "flags": (--name, template or bool) in order
    document_yaml: Any  # format "yaml": nested mappings/lists whose strings are templates
    title: str
    explain: str
    document: tuple[str, ...]
    departures: tuple[Departure, ...]
    hosts: tuple[str, ...] = ()  # templates: the hosts this file (and what it names) goes to
    host_dir: str = ""  # template: the folder the file itself goes to on those hosts
    verbatim: str = ""  # format "verbatim": the file's text exactly as given (the document's)

    @property
    def format(self) -> str:
        if self.verbatim:
            return "verbatim"
        return "flags" if self.flags else "yaml"


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    source: str
    variables: Mapping[str, Variable]
    profiles: Mapping[str, Profile]
    certificates: tuple[CertEntry, ...]
    departures: tuple[Departure, ...]  # apply to every certificate
    path: str
    kubeconfigs: tuple[KubeconfigEntry, ...] = ()
    components: tuple[ComponentEntry, ...] = ()
    keypairs: tuple[KeyPairEntry, ...] = ()  # after the certificates


def bundled_recipes() -> dict[str, Path]:
    """Bundled recipes by name: inside the installed package, or in the repository's recipes/."""
    found: dict[str, Path] = {}
    for folder in (_PACKAGED_RECIPES, _REPO_RECIPES):
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")):
                found.setdefault(path.stem, path)
    return found


def load_recipe(ref: str, option: str = "--recipe") -> Recipe:
    """A bundled recipe by name, or a recipe file by path; `option` names it in errors."""
    bundled = bundled_recipes()
    if ref in bundled:
        path = bundled[ref]
    else:
        path = Path(ref)
        if not path.is_file():
            names = ", ".join(bundled) or "none"
            raise InputError(f"{option}: {ref!r} is neither a bundled recipe ({names}) nor a file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{option}: cannot read {str(path)!r}: {exc}") from None
    return parse_recipe(text, str(path))


def parse_recipe(text: str, path: str = "<recipe>") -> Recipe:
    """Parse recipe YAML text; every shape error names the field and the value."""
    # libyaml's safe loader when present; aliases capped (safeyaml: no alias bomb)
    data = safeyaml.load(text, f"recipe {path}", aliases=True)
    top = _mapping("recipe", data)
    _known_keys(
        "recipe",
        top,
        {
            "name",
            "description",
            "source",
            "variables",
            "profiles",
            "departures",
            "certificates",
            "kubeconfigs",
            "components",
            "keypairs",
        },
    )
    name = validate.step_name("name", top.get("name", Path(path).stem))
    variables = {
        key: _variable(key, value)
        for key, value in _mapping("variables", top.get("variables", {})).items()
    }
    profiles = {
        key: _profile(key, value)
        for key, value in _mapping("profiles", top.get("profiles", {})).items()
    }
    certs = tuple(
        _cert_entry(f"certificates[{i}]", item, profiles)
        for i, item in enumerate(_sequence("certificates", top.get("certificates")))
    )
    if not certs:
        raise InputError("certificates: a recipe needs at least one certificate")
    kubeconfigs = tuple(
        _kubeconfig_entry(f"kubeconfigs[{i}]", item)
        for i, item in enumerate(_sequence("kubeconfigs", top.get("kubeconfigs", [])))
    )
    components = tuple(
        _component_entry(f"components[{i}]", item)
        for i, item in enumerate(_sequence("components", top.get("components", [])))
    )
    recipe = Recipe(
        name=name,
        description=_text("description", top.get("description", "")),
        source=_text("source", top.get("source", "")),
        variables=variables,
        profiles=profiles,
        certificates=certs,
        departures=_departures("departures", top.get("departures", [])),
        path=path,
        kubeconfigs=kubeconfigs,
        components=components,
        keypairs=tuple(
            _keypair_entry(f"keypairs[{i}]", item)
            for i, item in enumerate(_sequence("keypairs", top.get("keypairs", [])))
        ),
    )
    template.check_recipe(recipe)  # a placeholder naming nothing is refused here, not later
    return recipe


def resolve_variables(recipe: Recipe, sets: Iterable[str] = ()) -> dict[str, VariableValue]:
    """The recipe's defaults with `--set KEY=VALUE` applied, every value checked."""
    values: dict[str, VariableValue] = {}
    for var in recipe.variables.values():
        values[var.name] = _checked(var, var.default, f"variables.{var.name}")
    for item in sets:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--set: {item!r} is not KEY=VALUE")
        var = recipe.variables.get(key)
        if var is None:
            known = ", ".join(sorted(recipe.variables))
            raise InputError(f"--set: unknown variable {key!r} (known: {known})")
        values[key] = _checked(var, _parse_set_value(var, raw), f"--set {key}")
    from kpki_openssl.recipe import address_ranges

    address_ranges.check(recipe, values)
    return values


def _parse_set_value(var: Variable, raw: str) -> VariableValue:
    items = [part.strip() for part in raw.split(",")] if raw.strip() else []
    if var.kind == "list":
        return tuple(items)
    if var.kind == "map":
        pairs = {}
        for part in items:
            k, sep, v = part.partition("=")
            if not sep or not k.strip():
                raise InputError(f"--set {var.name}: {part!r} is not KEY=VALUE")
            if k.strip() in pairs:  # node01=10.0.0.1,node01=10.0.0.2: which one was meant?
                raise InputError(f"--set {var.name}: duplicate key {k.strip()!r}")
            pairs[k.strip()] = v.strip()
        return pairs
    if var.kind == "bool":
        return yes_no(f"--set {var.name}", raw)
    if var.kind == "int":
        return validate.positive_int(f"--set {var.name}", raw.strip())
    return raw


def yes_no(field: str, value: object) -> bool:
    """yes/no, true/false, on/off, 1/0 (any case) as a bool; anything else is refused."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in YES:
        return True
    if word in NO:
        return False
    raise InputError(f"{field}: {value!r} is not yes or no")


def _checked(var: Variable, value: VariableValue, field: str) -> VariableValue:
    check = validate.CHECKS.get(var.check) if var.check else None
    if var.kind == "list":
        items = tuple(value)  # type: ignore[arg-type]
        out = tuple(
            check(f"{field}[{i}]", x) if check else validate.one_line_text(f"{field}[{i}]", x)
            for i, x in enumerate(items)
        )
        dupes = sorted(x for x, n in Counter(out).items() if n > 1)
        if dupes:
            raise InputError(f"{field}: duplicate value {dupes[0]!r}")
        return out
    if var.kind == "map":
        return {
            validate.step_name(f"{field} key", k): (
                check(f"{field}[{k}]", v) if check else validate.one_line_text(f"{field}[{k}]", v)
            )
            for k, v in dict(value).items()  # type: ignore[call-overload]
        }
    if var.kind == "bool":
        return yes_no(field, value)
    if var.kind == "int":
        return validate.positive_int(field, value)
    text = validate.one_line_text(field, _text(field, value))
    if var.choices and text not in var.choices:
        raise InputError(f"{field}: {text!r} is not one of {', '.join(var.choices)}")
    return check(field, text) if check else text


def _variable(name: str, raw: Any) -> Variable:
    field = f"variables.{name}"
    if not isinstance(name, str) or not validate.is_variable_name(name):
        raise InputError(f"{field}: {name!r} is not a valid variable name ({template.NAME_RULE})")
    spec = _mapping(field, raw)
    _known_keys(field, spec, {"default", "help", "check", "choices", "first_address", "contains"})
    if "default" not in spec:
        raise InputError(f"{field}: missing 'default'")
    default = spec["default"]
    if isinstance(default, list):
        default = tuple(_text(f"{field}.default", x) for x in default)
    elif isinstance(default, dict):
        default = {str(k): _text(f"{field}.default", v) for k, v in default.items()}
    elif not isinstance(default, (bool, int, str)):
        raise InputError(
            f"{field}.default: {default!r} must be a list, map, yes/no, whole number or text"
        )
    check = spec.get("check")
    if check is not None and check not in validate.CHECKS:
        raise InputError(
            f"{field}.check: unknown check {check!r} (known: {', '.join(validate.CHECKS)})"
        )
    choices = tuple(
        _text(f"{field}.choices", x) for x in _sequence(f"{field}.choices", spec.get("choices", []))
    )
    if choices and str(default) not in choices:
        raise InputError(f"{field}.default: {default!r} is not one of {', '.join(choices)}")
    return Variable(
        name,
        default,
        _text(f"{field}.help", spec.get("help", "")),
        check,
        choices,
        first_address=_text(f"{field}.first_address", spec.get("first_address", "")),
        contains=tuple(
            _text(f"{field}.contains", x)
            for x in _sequence(f"{field}.contains", spec.get("contains", []))
        ),
    )


def _profile(name: str, raw: Any) -> Profile:
    field = f"profiles.{name}"
    spec = _mapping(field, raw)
    _known_keys(field, spec, {"ca", "key_usage", "extended_key_usage"})
    is_ca = spec.get("ca", False)
    if not isinstance(is_ca, bool):
        raise InputError(f"{field}.ca: {is_ca!r} must be true or false")
    return Profile(
        name=name,
        is_ca=is_ca,
        key_usage=_words(f"{field}.key_usage", spec.get("key_usage", []), KEY_USAGES),
        extended_key_usage=_words(
            f"{field}.extended_key_usage", spec.get("extended_key_usage", []), EXTENDED_KEY_USAGES
        ),
    )


KEY_USAGES = (
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
)
EXTENDED_KEY_USAGES = ("serverAuth", "clientAuth", "codeSigning", "emailProtection", "OCSPSigning")

_CERT_KEYS = {
    "name",
    "file",
    "ca",
    "profile",
    "subject",
    "sans",
    "days",
    "cnf",
    "sign_extensions",
    "for_each",
    "title",
    "explain",
    "document",
    "departures",
    "when",
}


def _cert_entry(field: str, raw: Any, profiles: Mapping[str, Profile]) -> CertEntry:
    spec = _mapping(field, raw)
    _known_keys(field, spec, _CERT_KEYS)
    name = _text(f"{field}.name", spec.get("name"))
    field = f"certificates[{name}]"
    profile = _text(f"{field}.profile", spec.get("profile"))
    if profile not in profiles:
        raise InputError(
            f"{field}.profile: unknown profile {profile!r} (known: {', '.join(profiles)})"
        )
    ca = spec.get("ca")
    if profiles[profile].is_ca and ca is not None:
        raise InputError(f"{field}.ca: a CA profile is self-signed here; remove ca: {ca!r}")
    if not profiles[profile].is_ca and ca is None:
        raise InputError(f"{field}.ca: a leaf certificate needs the name of its signing CA")
    subject = []
    for attr, value in _mapping(f"{field}.subject", spec.get("subject")).items():
        values = value if isinstance(value, list) else [value]
        subject.append((str(attr), tuple(_text(f"{field}.subject.{attr}", v) for v in values)))
    if not subject:
        raise InputError(f"{field}.subject: a certificate needs at least a CN")
    sans = _mapping(f"{field}.sans", spec.get("sans", {}))
    _known_keys(f"{field}.sans", sans, {"dns", "ip"})
    for_each = _for_each(field, spec)
    default_days = "{ca_days}" if profiles[profile].is_ca else "{days}"
    cnf, cnf_file, cnf_text = _cnf_choice(f"{field}.cnf", spec.get("cnf", "generated"))
    sign_extensions = spec.get("sign_extensions", cnf != "none")
    if not isinstance(sign_extensions, bool):
        raise InputError(f"{field}.sign_extensions: {sign_extensions!r} must be true or false")
    if sign_extensions and cnf == "none":
        raise InputError(f"{field}.sign_extensions: needs a .cnf, but cnf is 'none'")
    return CertEntry(
        name=name,
        file=_text(f"{field}.file", spec.get("file", name)),
        ca=None if ca is None else _text(f"{field}.ca", ca),
        profile=profile,
        subject=tuple(subject),
        sans=SubjectAltNames(
            dns=tuple(
                _text(f"{field}.sans.dns", x)
                for x in _sequence(f"{field}.sans.dns", sans.get("dns", []))
            ),
            ips=tuple(
                _text(f"{field}.sans.ip", x)
                for x in _sequence(f"{field}.sans.ip", sans.get("ip", []))
            ),
        ),
        days=str(spec.get("days", default_days)),
        cnf=cnf,
        cnf_file=cnf_file,
        cnf_text=cnf_text,
        sign_extensions=sign_extensions,
        for_each=for_each,
        title=_line(f"{field}.title", spec.get("title", name)),
        explain=_text(f"{field}.explain", spec.get("explain", "")).strip(),
        document=tuple(
            _line(f"{field}.document", x)
            for x in _sequence(f"{field}.document", spec.get("document", []))
        ),
        departures=_departures(f"{field}.departures", spec.get("departures", [])),
        when=_when(f"{field}.when", spec.get("when", {})),
    )


def _when(field: str, raw: Any) -> tuple[tuple[str, str], ...]:
    """`when: {etcd_ca: etcd-ca}`: the row is made only when each variable has that value."""
    pairs = _mapping(field, raw)
    return tuple((str(k), _embed_template(f"{field}.{k}", v)) for k, v in pairs.items())


_KUBECONFIG_KEYS = {
    "file",
    "for_each",
    "client",
    "served_by",
    "server",
    "embed",
    "cluster",
    "user",
    "context",
    "paths",
    "title",
    "explain",
    "document",
    "departures",
}


def _kubeconfig_entry(field: str, raw: Any) -> KubeconfigEntry:
    spec = _mapping(field, raw)
    _known_keys(field, spec, _KUBECONFIG_KEYS)
    file = _text(f"{field}.file", spec.get("file"))
    field = f"kubeconfigs[{file}]"
    for key in ("client", "served_by", "server"):
        if key not in spec:
            raise InputError(f"{field}.{key}: missing (see the bundled recipe's kubeconfigs)")
    paths = _mapping(f"{field}.paths", spec.get("paths", {}))
    _known_keys(f"{field}.paths", paths, {"ca", "client"})
    return KubeconfigEntry(
        file=file,
        for_each=_for_each(field, spec),
        client=_line(f"{field}.client", spec["client"]),
        served_by=_line(f"{field}.served_by", spec["served_by"]),
        server=_line(f"{field}.server", spec["server"]),
        embed=_embed_template(f"{field}.embed", spec.get("embed", "no")),
        cluster=_line(f"{field}.cluster", spec.get("cluster", "kubernetes")),
        user=_line(f"{field}.user", spec.get("user", "")),
        context=_line(f"{field}.context", spec.get("context", "")),
        ca_dir=_line(f"{field}.paths.ca", paths.get("ca", "")),
        client_dir=_line(f"{field}.paths.client", paths.get("client", "")),
        title=_line(f"{field}.title", spec.get("title", file)),
        explain=_text(f"{field}.explain", spec.get("explain", "")).strip(),
        document=_lines(f"{field}.document", spec.get("document", [])),
        departures=_departures(f"{field}.departures", spec.get("departures", [])),
    )


_COMPONENT_KEYS = {
    "file",
    "verbatim",
    "for_each",
    "program",
    "flags",
    "yaml",
    "title",
    "explain",
    "document",
    "departures",
    "hosts",
    "host_dir",
}


def _component_entry(field: str, raw: Any) -> ComponentEntry:
    spec = _mapping(field, raw)
    _known_keys(field, spec, _COMPONENT_KEYS)
    file = _text(f"{field}.file", spec.get("file"))
    field = f"components[{file}]"
    if sum(k in spec for k in ("flags", "yaml", "verbatim")) != 1:
        raise InputError(f"{field}: give one of flags:, yaml: or verbatim: (exactly one)")
    flags: tuple[tuple[str, Any], ...] = ()
    if "flags" in spec:
        pairs = _mapping(f"{field}.flags", spec["flags"])
        for name, value in pairs.items():
            if not isinstance(name, str) or not _FLAG_NAME.match(name):
                raise InputError(f"{field}.flags: {name!r} is not a --long-flag name")
            if not isinstance(value, (bool, int, str)):
                raise InputError(f"{field}.flags.{name}: expected text or true/false")
            if isinstance(value, str):  # one flag a line: a newline would add a flag
                validate.one_line_text(f"{field}.flags.{name}", value)
        flags = tuple(pairs.items())
        if not flags:
            raise InputError(f"{field}.flags: empty")
    document_yaml = _mapping(f"{field}.yaml", spec["yaml"]) if "yaml" in spec else None
    if document_yaml is not None:
        _one_line_tree(f"{field}.yaml", document_yaml)
    hosts = _lines(f"{field}.hosts", spec.get("hosts", []))
    host_dir = _text(f"{field}.host_dir", spec.get("host_dir", ""))
    if hosts and not host_dir:
        raise InputError(f"{field}.host_dir: a file with hosts: needs the folder it goes to")
    return ComponentEntry(
        file=file,
        for_each=_for_each(field, spec),
        program=_line(f"{field}.program", spec.get("program", "")),
        flags=flags,
        document_yaml=document_yaml,
        title=_line(f"{field}.title", spec.get("title", file)),
        explain=_text(f"{field}.explain", spec.get("explain", "")).strip(),
        document=_lines(f"{field}.document", spec.get("document", [])),
        departures=_departures(f"{field}.departures", spec.get("departures", [])),
        hosts=hosts,
        host_dir=host_dir,
        verbatim=_text(f"{field}.verbatim", spec["verbatim"]) if "verbatim" in spec else "",
    )


def _one_line_tree(field: str, tree: Any) -> None:
    """Every key and text value of a component's YAML is one line (no control characters)."""
    stack = [(field, tree)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                validate.one_line_text(f"{where} key", str(key))
                stack.append((f"{where}.{key}", value))
        elif isinstance(node, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(node))
        elif isinstance(node, str):
            validate.one_line_text(where, node)


def _embed_template(field: str, raw: Any) -> str:
    """yes/no written directly, or a template such as "{embed_certs}" filled later."""
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    return _text(field, raw)


_FLAG_NAME = re.compile(r"^--[a-z0-9][a-z0-9-]*$")


def _for_each(field: str, spec: Mapping) -> tuple[str, str] | None:
    if "for_each" not in spec:
        return None
    loop = _mapping(f"{field}.for_each", spec["for_each"])
    if len(loop) != 1:
        raise InputError(f"{field}.for_each: {loop!r} must map one loop name to one list")
    ((loop_var, list_var),) = loop.items()
    if not isinstance(loop_var, str) or not template.is_name(loop_var):
        raise InputError(
            f"{field}.for_each: {loop_var!r} is not a valid loop name ({template.NAME_RULE})"
        )
    return (loop_var, _text(f"{field}.for_each.{loop_var}", list_var))


def _lines(field: str, raw: Any) -> tuple[str, ...]:
    return tuple(_line(field, x) for x in _sequence(field, raw))


def _line(field: str, value: Any) -> str:
    """Free text that is one line (a title, a line of the document): it is written after a
    '#' in scripts, logs, flags files and YAML, so a newline in it would start a command."""
    return validate.one_line_text(field, _text(field, value))


def _keypair_entry(field: str, raw: Any) -> KeyPairEntry:
    spec = _mapping(field, raw)
    _known_keys(
        field,
        spec,
        {
            "name",
            "file",
            "title",
            "explain",
            "document",
            "key_types",
            "key_type",
            "private_pub",
            "departures",
        },  # fmt: skip
    )
    name = _text(f"{field}.name", spec.get("name"))
    field = f"keypairs[{name}]"
    private_pub = spec.get("private_pub", False)
    if not isinstance(private_pub, bool):
        raise InputError(f"{field}.private_pub: {private_pub!r} must be true or false")
    return KeyPairEntry(
        name=name,
        file=_text(f"{field}.file", spec.get("file", name)),
        title=_line(f"{field}.title", spec.get("title", name)),
        explain=_text(f"{field}.explain", spec.get("explain", "")).strip(),
        document=tuple(
            _line(f"{field}.document", x)
            for x in _sequence(f"{field}.document", spec.get("document", []))
        ),
        key_types=_words(
            f"{field}.key_types", spec.get("key_types", []), ("rsa", "ecdsa", "ed25519")
        ),
        private_pub=private_pub,
        departures=_departures(f"{field}.departures", spec.get("departures", [])),
        key_type=_text(f"{field}.key_type", spec.get("key_type", "")),
    )


def _cnf_choice(field: str, raw: Any) -> tuple[str, str, str]:
    """`generated` (default), `none`, or {file: NAME, text: ...} written verbatim."""
    if raw in ("generated", "none"):
        return raw, "", ""
    if isinstance(raw, dict):
        _known_keys(field, raw, {"file", "text"})
        return (
            "file",
            validate.file_base(f"{field}.file", _text(f"{field}.file", raw.get("file"))),
            _text(f"{field}.text", raw.get("text")),
        )
    raise InputError(f"{field}: {raw!r} must be 'generated', 'none' or {{file: NAME, text: ...}}")


def _departures(field: str, raw: Any) -> tuple[Departure, ...]:
    out = []
    for i, item in enumerate(_sequence(field, raw)):
        spec = _mapping(f"{field}[{i}]", item)
        _known_keys(f"{field}[{i}]", spec, {"what", "document", "ours", "why"})
        out.append(
            Departure(
                **{
                    k: _text(f"{field}[{i}].{k}", spec.get(k, "")).strip()
                    for k in ("what", "document", "ours", "why")
                }
            )
        )
    return tuple(out)


def _mapping(field: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise InputError(f"{field}: expected a mapping, got {_show(value)}")
    return value


def _sequence(field: str, value: Any) -> Sequence:
    if not isinstance(value, list):
        raise InputError(f"{field}: expected a list, got {_show(value)}")
    return value


def _text(field: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"{field}: expected text, got {_show(value)}")
    return validate.multiline_text(field, str(value))


def _words(field: str, value: Any, allowed: Sequence[str]) -> tuple[str, ...]:
    words = tuple(_text(field, x) for x in _sequence(field, value))
    for word in words:
        if word not in allowed:
            raise InputError(f"{field}: unknown value {word!r} (allowed: {', '.join(allowed)})")
    return words


def _known_keys(field: str, spec: Mapping, allowed: set[str]) -> None:
    unknown = sorted(str(k) for k in spec if k not in allowed)
    if unknown:
        raise InputError(
            f"{field}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"
