"""A recipe as data: frozen dataclasses for its variables, profiles and the rows of its
tables (certificates, key pairs, kubeconfigs, components). recipe.load reads YAML into them;
recipe.variables applies `--set`; expansion into concrete records is plan.certlist,
plan.kubeconfig and plan.components.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from kpki_openssl.base.errors import InputError
from kpki_openssl.recipe.sans import SubjectAltNames

VariableValue = Union[bool, int, str, tuple, Mapping]

YES = ("yes", "true", "on", "1")

NO = ("no", "false", "off", "0")


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
