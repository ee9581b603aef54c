"""The certificate table, expanded: one CertSpec per certificate, CAs before what they sign.

Like kubeadm's certlist.go, certificates are plain data: name, file base, signing CA, subject,
usages and SANs. Entries with `for_each` are written once in the recipe and expanded here per node
or per peer. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from kpki_openssl.base.errors import InputError
from kpki_openssl.recipe import validate
from kpki_openssl.recipe.model import CertEntry, Departure, KeyPairEntry, Recipe, VariableValue
from kpki_openssl.recipe.sans import SubjectAltNames
from kpki_openssl.recipe.template import fill, fill_list, names

_DEPARTURE_FIELDS = ("what", "document", "ours", "why")


KEY_TYPES = ("rsa", "ecdsa", "ed25519")
EC_CURVES = ("P-256", "P-384")


@dataclass(frozen=True)
class KeySpec:
    """The private key every certificate gets: RSA of `size` bits, ECDSA on `curve`, or Ed25519."""

    type: str = "rsa"
    size: int = 2048
    curve: str = "P-256"

    @classmethod
    def from_values(cls, values: Mapping[str, VariableValue]) -> KeySpec:
        """From the recipe variables key_type, key_size and ecdsa_curve (each optional)."""
        key_type = str(values.get("key_type", "rsa"))
        if key_type not in KEY_TYPES:
            raise InputError(f"key_type: {key_type!r} is not one of {', '.join(KEY_TYPES)}")
        curve = str(values.get("ecdsa_curve", "P-256"))
        if curve not in EC_CURVES:
            raise InputError(f"ecdsa_curve: {curve!r} is not one of {', '.join(EC_CURVES)}")
        size = validate.positive_int("key_size", values.get("key_size", 2048))
        return cls(type=key_type, size=size, curve=curve)

    @property
    def words(self) -> str:
        """'rsa 2048', 'ecdsa P-256', 'ed25519': what defines the key, nothing else."""
        return key_words(self.type, self.size, self.curve)


# cryptography's curve names in the recipe's words
_CURVE_WORDS = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def key_words(key_type: str, bits: int, curve: str) -> str:
    """A key in the recipe's words: rsa 2048, ecdsa P-256, ed25519. Takes the recipe's type
    names or those openssl prints (RSA, EC, Ed25519, as key_facts gives them)."""
    if key_type in ("RSA", "rsa"):
        return f"rsa {bits}"
    if key_type in ("EC", "ecdsa"):
        return f"ecdsa {curve}"
    if key_type in ("Ed25519", "ed25519"):
        return "ed25519"
    return key_type


def key_facts(key: object) -> tuple[str, int, str]:
    """(type, bits, curve) of a cryptography key, public or private, in openssl's words (RSA,
    EC, Ed25519) with the curve in the recipe's (P-256)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return "RSA", key.key_size, ""
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        return "EC", key.key_size, _CURVE_WORDS.get(key.curve.name, key.curve.name)
    if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return "Ed25519", 0, ""  # openssl prints no size for Ed25519
    return type(key).__name__, 0, ""


@dataclass(frozen=True)
class CertSpec:
    """One certificate to make: everything the plan needs, nothing left to look up."""

    name: str  # step name, e.g. "kubelet-node01"
    base: str  # file stem: base.key, base.csr, base.crt, base.cnf
    ca: str | None  # name of the signing CA's CertSpec; None for a self-signed CA
    is_ca: bool
    profile: str
    subject: tuple[tuple[str, str], ...]  # ordered (attribute, value) pairs
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    sans: SubjectAltNames
    days: int | None  # None: no -days flag (openssl's 30-day default, as the document does)
    key: KeySpec
    title: str
    explain: str
    document: tuple[str, ...]
    departures: tuple[Departure, ...]
    cnf: str = "generated"  # "generated", "none", or "file" (cnf_text written verbatim)
    cnf_name: str = ""  # the .cnf file name when cnf == "file"
    cnf_text: str = ""
    sign_extensions: bool = True  # x509 -req gets -extfile/-extensions
    for_each: tuple[str, str] | None = None  # (list variable, item) this row was expanded for

    @property
    def key_file(self) -> str:
        return f"{self.base}.key"

    @property
    def csr_file(self) -> str:
        return f"{self.base}.csr"

    @property
    def cert_file(self) -> str:
        return f"{self.base}.crt"

    @property
    def cnf_file(self) -> str:
        """The .cnf this certificate's commands read ('' when it has none)."""
        if self.cnf == "none":
            return ""
        return self.cnf_name or f"{self.base}.cnf"

    @property
    def subject_text(self) -> str:
        """The -subj argument, e.g. /CN=system:node:node01/O=system:nodes."""
        return "".join(f"/{attr}={value}" for attr, value in self.subject)

    @property
    def common_name(self) -> str:
        return next((v for a, v in self.subject if a == "CN"), "")

    @property
    def organizations(self) -> tuple[str, ...]:
        return tuple(v for a, v in self.subject if a == "O")


@dataclass(frozen=True)
class KeyPairSpec:
    """A bare key pair (private key + public key file), no certificate."""

    name: str
    base: str
    key: KeySpec
    title: str
    explain: str
    document: tuple[str, ...]
    private_pub: bool = False  # sa.pub written 0600 as well (kubeadm writes it so)
    departures: tuple[Departure, ...] = ()

    @property
    def key_file(self) -> str:
        return f"{self.base}.key"

    @property
    def pub_file(self) -> str:
        return f"{self.base}.pub"


def expand_keypairs(
    recipe: Recipe, values: Mapping[str, VariableValue], certs: tuple[CertSpec, ...] = ()
) -> tuple[KeyPairSpec, ...]:
    """The recipe's bare key pairs, templates filled; names and files unique among all rows."""
    key = KeySpec.from_values(values)
    names = {c.name for c in certs}
    files = {c.base for c in certs}
    out = []
    for entry in recipe.keypairs:
        where = f"keypairs[{entry.name}]"
        name = validate.step_name(f"{where}.name", fill(entry.name, values, f"{where}.name"))
        base = validate.file_base(f"{where}.file", fill(entry.file, values, f"{where}.file"))
        if name in names:
            raise InputError(f"{where}.name: duplicate name {name!r}")
        if base in files:
            raise InputError(f"{where}.file: {base!r} is already used")
        own = _keypair_key(entry, key, values, where)
        names.add(name)
        files.add(base)
        out.append(
            KeyPairSpec(
                name=name,
                base=base,
                key=own,
                title=fill(entry.title, values, f"{where}.title"),
                explain=fill(entry.explain, values, f"{where}.explain"),
                document=tuple(fill(d, values, f"{where}.document") for d in entry.document),
                private_pub=entry.private_pub,
                departures=tuple(
                    Departure(*(fill(getattr(d, f), values, where) for f in _DEPARTURE_FIELDS))
                    for d in entry.departures
                ),
            )
        )
    return tuple(out)


def _keypair_key(
    entry: KeyPairEntry, key: KeySpec, values: Mapping[str, VariableValue], where: str
) -> KeySpec:
    """The recipe's key, or the pair's own type (`key_type: "{sa_key_type}"`); a type its
    consumer does not take (`key_types`) is refused, naming the variable that fixes it."""
    chosen = fill(entry.key_type, values, f"{where}.key_type") if entry.key_type else ""
    own_var = sorted(names(entry.key_type))[:1]
    if chosen and chosen != "same":
        if chosen not in KEY_TYPES:
            raise InputError(f"{where}.key_type: {chosen!r} is not one of {', '.join(KEY_TYPES)}")
        key = replace(key, type=chosen)
    elif entry.key_types and key.type not in entry.key_types:
        hint = (
            f"; --set {own_var[0]}={'|'.join(entry.key_types)} gives it its own" if own_var else ""
        )
        raise InputError(
            f"key_type: {key.type!r} cannot make {where} ({entry.title}): its consumer takes "
            f"only {', '.join(entry.key_types)} keys{hint}"
        )
    if entry.key_types and key.type not in entry.key_types:
        field = own_var[0] if own_var else f"{where}.key_type"
        raise InputError(f"{field}: {key.type!r} is not one of {', '.join(entry.key_types)}")
    return key


def expand(recipe: Recipe, values: Mapping[str, VariableValue]) -> tuple[CertSpec, ...]:
    """Every certificate of the recipe with its templates filled from `values`, CAs first."""
    specs = expand_rows(recipe, values)
    check_table(specs)
    return tuple(specs)


def expand_rows(recipe: Recipe, values: Mapping[str, VariableValue]) -> list[CertSpec]:
    """Every row expanded, before the table checks (lint reports duplicates itself)."""
    key = KeySpec.from_values(values)
    specs: list[CertSpec] = []
    for entry in recipe.certificates:
        if not _wanted(entry, values):
            continue
        memo = RowMemo(entry.for_each[:1] if entry.for_each else ())
        for binding in bindings(f"certificates[{entry.name}]", entry.for_each, values):
            for_each = None
            if entry.for_each is not None:
                for_each = (entry.for_each[1], binding[entry.for_each[0]])
            specs.append(_spec(recipe, entry, {**values, **binding}, key, memo, for_each))
    return specs


def _wanted(entry: CertEntry, values: Mapping[str, VariableValue]) -> bool:
    """A row with `when:` exists only when each named variable has the given value."""
    for name, want in entry.when:
        if name not in values:
            raise InputError(f"certificates[{entry.name}].when: unknown variable {name!r}")
        value = values[name]
        shown = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        if shown != want:
            return False
    return True


def check_table(specs: list[CertSpec] | tuple[CertSpec, ...]) -> None:
    """Names and files unique; every CA known, a CA, and listed before what it signs."""
    seen: dict[str, CertSpec] = {}
    files: dict[str, str] = {}
    for spec in specs:
        if spec.name in seen:
            raise InputError(f"certificates: duplicate name {spec.name!r}")
        if spec.base in files:
            raise InputError(
                f"certificates[{spec.name}].file: {spec.base!r} "
                f"is already used by {files[spec.base]!r}"
            )
        if spec.ca is not None:
            signer = seen.get(spec.ca)
            if signer is None:
                later = any(s.name == spec.ca for s in specs)
                problem = "is listed after it" if later else "is unknown"
                raise InputError(f"certificates[{spec.name}].ca: signing CA {spec.ca!r} {problem}")
            if not signer.is_ca:
                raise InputError(f"certificates[{spec.name}].ca: {spec.ca!r} is not a CA")
        seen[spec.name] = spec
        files[spec.base] = spec.name


def bindings(
    field: str, for_each: tuple[str, str] | None, values: Mapping[str, VariableValue]
) -> list[dict[str, str]]:
    """One {loop variable: item} per item of the for_each list ([{}] for a plain row)."""
    if for_each is None:
        return [{}]
    loop_var, list_var = for_each
    items = values.get(list_var)
    if not isinstance(items, tuple):
        raise InputError(f"{field}.for_each: {list_var!r} is not a list variable")
    return [{loop_var: item} for item in items]


_MISSING = object()
T = TypeVar("T")


class RowMemo:
    """What one table row makes that is the same for every item of its `for_each`.

    A template that names neither the loop variable nor {name} fills to the same text for every
    node, so what is made from it alone (checked, parsed, wrapped in records) is made once per
    row, not 5,000 times. The first item still makes everything, in order, so a bad template
    fails exactly where and how it always did."""

    _VARIES = object()

    def __init__(self, varying: Iterable[str] = ()) -> None:
        self.varying = frozenset(varying) | {"name"}
        self.done: dict[object, Any] = {}

    def once(self, key: object, templates: Iterable[str], make: Callable[[], T]) -> T:
        """make(), or what it made for an earlier item when `templates` name nothing varying
        (`templates` is read only on the first call for `key`)."""
        known = self.done.get(key, _MISSING)
        if known is _MISSING:
            value = make()
            varies = any(self.varying & names(t) for t in templates)
            self.done[key] = self._VARIES if varies else value
            return value
        return make() if known is self._VARIES else known


class _MakesFile(Protocol):
    @property
    def file(self) -> str: ...


class _FileRow(_MakesFile, Protocol):
    @property
    def for_each(self) -> tuple[str, str] | None: ...


R = TypeVar("R", bound=_FileRow)
S = TypeVar("S", bound=_MakesFile)


def expand_files(
    table: str,
    rows: Sequence[R],
    values: Mapping[str, VariableValue],
    make: Callable[[R, Mapping[str, VariableValue], RowMemo], S],
) -> tuple[S, ...]:
    """A file table (kubeconfigs, components) expanded: `make(row, ctx, memo)` once per item of
    each row's `for_each`; a file made twice is refused."""
    out: list[S] = []
    seen: set[str] = set()
    for row in rows:
        memo = RowMemo(row.for_each[:1] if row.for_each else ())
        for binding in bindings(f"{table}[{row.file}]", row.for_each, values):
            spec = make(row, {**values, **binding}, memo)
            if spec.file in seen:
                raise InputError(f"{table}[{spec.file}].file: duplicate file {spec.file!r}")
            seen.add(spec.file)
            out.append(spec)
    return tuple(out)


def fill_departures(
    departures: Iterable[Departure], ctx: Mapping[str, VariableValue], field: str, memo: RowMemo
) -> tuple[Departure, ...]:
    """Each departure's four texts filled; one that names nothing varying is made once."""
    return tuple(
        memo.once(
            ("departure", i),
            (getattr(d, f) for f in _DEPARTURE_FIELDS),
            lambda d=d: Departure(*(fill(getattr(d, f), ctx, field) for f in _DEPARTURE_FIELDS)),
        )
        for i, d in enumerate(departures)
    )


def fill_lesson(
    entry: Any,
    ctx: Mapping[str, VariableValue],
    where: str,
    memo: RowMemo,
    *,
    shared: tuple[Departure, ...] = (),
    named: Mapping[str, VariableValue] | None = None,
) -> dict[str, Any]:
    """The teaching texts every row carries — title, explain, the document's lines and the
    departures (the recipe's `shared` ones first) — filled alike for certificates, kubeconfigs
    and component files. `named` is the context that may also name the row ({name})."""
    own = ctx if named is None else named
    return {
        "title": fill(entry.title, ctx, f"{where}.title"),
        "explain": fill(entry.explain, ctx, f"{where}.explain"),
        "document": memo.once(
            "document",
            entry.document,
            lambda: tuple(fill(line, own, f"{where}.document") for line in entry.document),
        ),
        "departures": fill_departures(shared + entry.departures, own, f"{where}.departures", memo),
    }


def _spec(
    recipe: Recipe,
    entry: CertEntry,
    ctx: Mapping[str, VariableValue],
    key: KeySpec,
    memo: RowMemo,
    for_each: tuple[str, str] | None,
) -> CertSpec:
    where = f"certificates[{entry.name}]"
    name = validate.step_name(f"{where}.name", fill(entry.name, ctx, f"{where}.name"))
    where = f"certificates[{name}]"
    profile = recipe.profiles[entry.profile]
    subject = tuple(
        (attr, validate.subject_value(f"{where}.subject", attr, fill(v, ctx, f"{where}.subject")))
        for attr, templates in entry.subject
        for v in templates
    )
    if not any(attr == "CN" for attr, _ in subject):
        raise InputError(f"{where}.subject: a certificate needs a CN")
    names = fill_list(entry.sans.dns, ctx, f"{where}.sans.dns")
    # A name that is an IP address (a node named 10.0.0.5) is an IP SAN: a client dialing it
    # compares it with the IP SANs only, and a DNS SAN holding it would mean nothing.
    as_ip = [n for n in names if _is_ip(n)]
    dns = tuple(validate.dns_name(f"{where}.sans.dns", v) for v in names if not _is_ip(v))
    ips = tuple(
        validate.ip_address(f"{where}.sans.ip", v)
        for v in [*fill_list(entry.sans.ips, ctx, f"{where}.sans.ip"), *as_ip]
    )
    own = {**ctx, "name": name}  # shared departures and documents may name the certificate
    return CertSpec(
        name=name,
        base=validate.file_base(f"{where}.file", fill(entry.file, ctx, f"{where}.file")),
        ca=None if entry.ca is None else fill(entry.ca, ctx, f"{where}.ca"),
        is_ca=profile.is_ca,
        profile=profile.name,
        subject=subject,
        key_usage=profile.key_usage,
        extended_key_usage=profile.extended_key_usage,
        sans=SubjectAltNames(_unique(dns), _unique(ips)),
        days=None
        if entry.days == "none"
        else memo.once(
            "days",
            (entry.days,),
            lambda: validate.positive_int(f"{where}.days", fill(entry.days, ctx, f"{where}.days")),
        ),
        key=key,
        **fill_lesson(entry, ctx, where, memo, shared=recipe.departures, named=own),
        cnf=entry.cnf,
        cnf_name=entry.cnf_file,
        cnf_text=entry.cnf_text,
        sign_extensions=entry.sign_extensions,
        for_each=for_each,
    )


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
