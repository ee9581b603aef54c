"""Read a recipe: a bundled one by name or a YAML file, into recipe.model's dataclasses.
Every shape error names the field and the value; each row kind's keys are listed once here
(the *_KEYS tables) and any other key is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kpki_openssl.base import safeyaml
from kpki_openssl.base.errors import InputError, KpkiError
from kpki_openssl.base.safefs import read_regular
from kpki_openssl.recipe import shapes, template, validate
from kpki_openssl.recipe.model import (
    EXTENDED_KEY_USAGES,
    KEY_USAGES,
    CertEntry,
    ComponentEntry,
    Departure,
    KeyPairEntry,
    KubeconfigEntry,
    Profile,
    Recipe,
    Variable,
)
from kpki_openssl.recipe.sans import SubjectAltNames

# Installed, the recipes ship inside the package (pyproject's force-include); in a source
# checkout they are the repository's recipes/. A plain path: importlib.resources costs ~20 ms
# of every command's start-up, and the package is never zipped.
_PACKAGE = Path(__file__).resolve().parent.parent

_PACKAGED_RECIPES = _PACKAGE / "recipes"

_REPO_RECIPES = _PACKAGE.parent / "recipes"


MAX_RECIPE = 16 << 20  # the bundled recipes are tens of KB


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
            from kpki_openssl.base.messages import did_you_mean

            names = ", ".join(bundled) or "none"
            hint = did_you_mean(ref, bundled)
            raise InputError(
                f"{option}: {ref!r} is neither a bundled recipe ({names}) nor a file"
                + (f"; {hint}" if hint else "")
            )
    try:
        text = read_regular(path, limit=MAX_RECIPE, what="a recipe").decode("utf-8")
    except KpkiError as exc:
        raise InputError(f"{option}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{option}: cannot read {str(path)!r}: {exc}") from None
    return parse_recipe(text, str(path))


def parse_recipe(text: str, path: str = "<recipe>") -> Recipe:
    """Parse recipe YAML text; every shape error names the field and the value."""
    # libyaml's safe loader when present; aliases capped (safeyaml: no alias bomb)
    data = safeyaml.load(text, f"recipe {path}", aliases=True)
    top = shapes.mapping("recipe", data)
    shapes.known_keys(
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
        for key, value in shapes.mapping("variables", top.get("variables", {})).items()
    }
    profiles = {
        key: _profile(key, value)
        for key, value in shapes.mapping("profiles", top.get("profiles", {})).items()
    }
    certs = tuple(
        _cert_entry(f"certificates[{i}]", item, profiles)
        for i, item in enumerate(shapes.sequence("certificates", top.get("certificates")))
    )
    if not certs:
        raise InputError("certificates: a recipe needs at least one certificate")
    kubeconfigs = tuple(
        _kubeconfig_entry(f"kubeconfigs[{i}]", item)
        for i, item in enumerate(shapes.sequence("kubeconfigs", top.get("kubeconfigs", [])))
    )
    components = tuple(
        _component_entry(f"components[{i}]", item)
        for i, item in enumerate(shapes.sequence("components", top.get("components", [])))
    )
    recipe = Recipe(
        name=name,
        description=shapes.text("description", top.get("description", "")),
        source=shapes.text("source", top.get("source", "")),
        variables=variables,
        profiles=profiles,
        certificates=certs,
        departures=_departures("departures", top.get("departures", [])),
        path=path,
        kubeconfigs=kubeconfigs,
        components=components,
        keypairs=tuple(
            _keypair_entry(f"keypairs[{i}]", item)
            for i, item in enumerate(shapes.sequence("keypairs", top.get("keypairs", [])))
        ),
    )
    template.check_recipe(recipe)  # a placeholder naming nothing is refused here, not later
    return recipe


def _variable(name: str, raw: Any) -> Variable:
    field = f"variables.{name}"
    if not isinstance(name, str) or not validate.is_variable_name(name):
        raise InputError(f"{field}: {name!r} is not a valid variable name ({template.NAME_RULE})")
    spec = shapes.mapping(field, raw)
    shapes.known_keys(
        field, spec, {"default", "help", "check", "choices", "first_address", "contains"}
    )
    if "default" not in spec:
        raise InputError(f"{field}: missing 'default'")
    default = spec["default"]
    if isinstance(default, list):
        default = tuple(shapes.text(f"{field}.default", x) for x in default)
    elif isinstance(default, dict):
        default = {str(k): shapes.text(f"{field}.default", v) for k, v in default.items()}
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
        shapes.text(f"{field}.choices", x)
        for x in shapes.sequence(f"{field}.choices", spec.get("choices", []))
    )
    if choices and str(default) not in choices:
        raise InputError(f"{field}.default: {default!r} is not one of {', '.join(choices)}")
    return Variable(
        name,
        default,
        shapes.text(f"{field}.help", spec.get("help", "")),
        check,
        choices,
        first_address=shapes.text(f"{field}.first_address", spec.get("first_address", "")),
        contains=tuple(
            shapes.text(f"{field}.contains", x)
            for x in shapes.sequence(f"{field}.contains", spec.get("contains", []))
        ),
    )


def _profile(name: str, raw: Any) -> Profile:
    field = f"profiles.{name}"
    spec = shapes.mapping(field, raw)
    shapes.known_keys(field, spec, {"ca", "key_usage", "extended_key_usage"})
    is_ca = spec.get("ca", False)
    if not isinstance(is_ca, bool):
        raise InputError(f"{field}.ca: {is_ca!r} must be true or false")
    return Profile(
        name=name,
        is_ca=is_ca,
        key_usage=shapes.words(f"{field}.key_usage", spec.get("key_usage", []), KEY_USAGES),
        extended_key_usage=shapes.words(
            f"{field}.extended_key_usage", spec.get("extended_key_usage", []), EXTENDED_KEY_USAGES
        ),
    )


LESSON_KEYS = {"title", "explain", "document", "departures"}


def _lesson(field: str, spec: Mapping, default_title: str) -> dict[str, Any]:
    """The fields every row has for teaching: title, explain, document, departures."""
    return {
        "title": shapes.line(f"{field}.title", spec.get("title", default_title)),
        "explain": shapes.text(f"{field}.explain", spec.get("explain", "")).strip(),
        "document": shapes.lines(f"{field}.document", spec.get("document", [])),
        "departures": _departures(f"{field}.departures", spec.get("departures", [])),
    }


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
    "when",
} | LESSON_KEYS


def _cert_entry(field: str, raw: Any, profiles: Mapping[str, Profile]) -> CertEntry:
    spec = shapes.mapping(field, raw)
    shapes.known_keys(field, spec, _CERT_KEYS)
    name = shapes.text(f"{field}.name", spec.get("name"))
    field = f"certificates[{name}]"
    profile = shapes.text(f"{field}.profile", spec.get("profile"))
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
    for attr, value in shapes.mapping(f"{field}.subject", spec.get("subject")).items():
        values = value if isinstance(value, list) else [value]
        subject.append(
            (str(attr), tuple(shapes.text(f"{field}.subject.{attr}", v) for v in values))
        )
    if not subject:
        raise InputError(f"{field}.subject: a certificate needs at least a CN")
    sans = shapes.mapping(f"{field}.sans", spec.get("sans", {}))
    shapes.known_keys(f"{field}.sans", sans, {"dns", "ip"})
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
        file=shapes.text(f"{field}.file", spec.get("file", name)),
        ca=None if ca is None else shapes.text(f"{field}.ca", ca),
        profile=profile,
        subject=tuple(subject),
        sans=SubjectAltNames(
            dns=tuple(
                shapes.text(f"{field}.sans.dns", x)
                for x in shapes.sequence(f"{field}.sans.dns", sans.get("dns", []))
            ),
            ips=tuple(
                shapes.text(f"{field}.sans.ip", x)
                for x in shapes.sequence(f"{field}.sans.ip", sans.get("ip", []))
            ),
        ),
        days=str(spec.get("days", default_days)),
        cnf=cnf,
        cnf_file=cnf_file,
        cnf_text=cnf_text,
        sign_extensions=sign_extensions,
        for_each=for_each,
        **_lesson(field, spec, name),
        when=_when(f"{field}.when", spec.get("when", {})),
    )


def _when(field: str, raw: Any) -> tuple[tuple[str, str], ...]:
    """`when: {etcd_ca: etcd-ca}`: the row is made only when each variable has that value."""
    pairs = shapes.mapping(field, raw)
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
} | LESSON_KEYS


def _kubeconfig_entry(field: str, raw: Any) -> KubeconfigEntry:
    spec = shapes.mapping(field, raw)
    shapes.known_keys(field, spec, _KUBECONFIG_KEYS)
    file = shapes.text(f"{field}.file", spec.get("file"))
    field = f"kubeconfigs[{file}]"
    for key in ("client", "served_by", "server"):
        if key not in spec:
            raise InputError(f"{field}.{key}: missing (see the bundled recipe's kubeconfigs)")
    paths = shapes.mapping(f"{field}.paths", spec.get("paths", {}))
    shapes.known_keys(f"{field}.paths", paths, {"ca", "client"})
    return KubeconfigEntry(
        file=file,
        for_each=_for_each(field, spec),
        client=shapes.line(f"{field}.client", spec["client"]),
        served_by=shapes.line(f"{field}.served_by", spec["served_by"]),
        server=shapes.line(f"{field}.server", spec["server"]),
        embed=_embed_template(f"{field}.embed", spec.get("embed", "no")),
        cluster=shapes.line(f"{field}.cluster", spec.get("cluster", "kubernetes")),
        user=shapes.line(f"{field}.user", spec.get("user", "")),
        context=shapes.line(f"{field}.context", spec.get("context", "")),
        ca_dir=shapes.line(f"{field}.paths.ca", paths.get("ca", "")),
        client_dir=shapes.line(f"{field}.paths.client", paths.get("client", "")),
        **_lesson(field, spec, file),
    )


_COMPONENT_KEYS = {
    "file",
    "verbatim",
    "for_each",
    "program",
    "flags",
    "yaml",
    "hosts",
    "host_dir",
} | LESSON_KEYS


def _component_entry(field: str, raw: Any) -> ComponentEntry:
    spec = shapes.mapping(field, raw)
    shapes.known_keys(field, spec, _COMPONENT_KEYS)
    file = shapes.text(f"{field}.file", spec.get("file"))
    field = f"components[{file}]"
    if sum(k in spec for k in ("flags", "yaml", "verbatim")) != 1:
        raise InputError(f"{field}: give one of flags:, yaml: or verbatim: (exactly one)")
    flags: tuple[tuple[str, Any], ...] = ()
    if "flags" in spec:
        pairs = shapes.mapping(f"{field}.flags", spec["flags"])
        for name, value in pairs.items():
            if not isinstance(name, str) or not _FLAG_NAME.fullmatch(name):
                raise InputError(f"{field}.flags: {name!r} is not a --long-flag name")
            if not isinstance(value, (bool, int, str)):
                raise InputError(f"{field}.flags.{name}: expected text or true/false")
            if isinstance(value, str):  # one flag a line: a newline would add a flag
                validate.one_line_text(f"{field}.flags.{name}", value)
        flags = tuple(pairs.items())
        if not flags:
            raise InputError(f"{field}.flags: empty")
    document_yaml = shapes.mapping(f"{field}.yaml", spec["yaml"]) if "yaml" in spec else None
    if document_yaml is not None:
        _one_line_tree(f"{field}.yaml", document_yaml)
    hosts = shapes.lines(f"{field}.hosts", spec.get("hosts", []))
    host_dir = shapes.text(f"{field}.host_dir", spec.get("host_dir", ""))
    if hosts and not host_dir:
        raise InputError(f"{field}.host_dir: a file with hosts: needs the folder it goes to")
    return ComponentEntry(
        file=file,
        for_each=_for_each(field, spec),
        program=shapes.line(f"{field}.program", spec.get("program", "")),
        flags=flags,
        document_yaml=document_yaml,
        **_lesson(field, spec, file),
        hosts=hosts,
        host_dir=host_dir,
        verbatim=shapes.text(f"{field}.verbatim", spec["verbatim"]) if "verbatim" in spec else "",
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
    return shapes.text(field, raw)


_FLAG_NAME = re.compile(r"--[a-z0-9][a-z0-9-]*")


def _for_each(field: str, spec: Mapping) -> tuple[str, str] | None:
    if "for_each" not in spec:
        return None
    loop = shapes.mapping(f"{field}.for_each", spec["for_each"])
    if len(loop) != 1:
        raise InputError(f"{field}.for_each: {loop!r} must map one loop name to one list")
    ((loop_var, list_var),) = loop.items()
    if not isinstance(loop_var, str) or not template.is_name(loop_var):
        raise InputError(
            f"{field}.for_each: {loop_var!r} is not a valid loop name ({template.NAME_RULE})"
        )
    return (loop_var, shapes.text(f"{field}.for_each.{loop_var}", list_var))


_KEYPAIR_KEYS = {"name", "file", "key_types", "key_type", "private_pub"} | LESSON_KEYS


def _keypair_entry(field: str, raw: Any) -> KeyPairEntry:
    spec = shapes.mapping(field, raw)
    shapes.known_keys(field, spec, _KEYPAIR_KEYS)
    name = shapes.text(f"{field}.name", spec.get("name"))
    field = f"keypairs[{name}]"
    private_pub = spec.get("private_pub", False)
    if not isinstance(private_pub, bool):
        raise InputError(f"{field}.private_pub: {private_pub!r} must be true or false")
    return KeyPairEntry(
        name=name,
        file=shapes.text(f"{field}.file", spec.get("file", name)),
        **_lesson(field, spec, name),
        key_types=shapes.words(
            f"{field}.key_types", spec.get("key_types", []), ("rsa", "ecdsa", "ed25519")
        ),
        private_pub=private_pub,
        key_type=shapes.text(f"{field}.key_type", spec.get("key_type", "")),
    )


def _cnf_choice(field: str, raw: Any) -> tuple[str, str, str]:
    """`generated` (default), `none`, or {file: NAME, text: ...} written verbatim."""
    if raw in ("generated", "none"):
        return raw, "", ""
    if isinstance(raw, dict):
        shapes.known_keys(field, raw, {"file", "text"})
        return (
            "file",
            validate.file_base(f"{field}.file", shapes.text(f"{field}.file", raw.get("file"))),
            shapes.text(f"{field}.text", raw.get("text")),
        )
    raise InputError(f"{field}: {raw!r} must be 'generated', 'none' or {{file: NAME, text: ...}}")


def _departures(field: str, raw: Any) -> tuple[Departure, ...]:
    out = []
    for i, item in enumerate(shapes.sequence(field, raw)):
        spec = shapes.mapping(f"{field}[{i}]", item)
        shapes.known_keys(f"{field}[{i}]", spec, {"what", "document", "ours", "why"})
        out.append(
            Departure(
                **{
                    k: shapes.text(f"{field}[{i}].{k}", spec.get(k, "")).strip()
                    for k in ("what", "document", "ours", "why")
                }
            )
        )
    return tuple(out)
