"""A read-only look at the output folder, for the decisions (decide.py): what is at each path
the plan uses, what each key is, and what the build records say. Links are never followed."""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from kpki_openssl.execute import record, record_store
from kpki_openssl.execute.decide import FileState, Snapshot
from kpki_openssl.plan.certlist import key_facts, key_words
from kpki_openssl.plan.steps import CertStep, KeyPairStep, Plan, Step

# the last block runs to the end of the value (\Z: `$` would also stop before a final newline)
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\n(.*?)\n-----END \1-----\s*\Z", re.DOTALL)


def pem_complete(data: bytes, label_suffix: str) -> bool:
    """A whole PEM block (BEGIN ... END, base64 between) whose label ends as expected."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return False
    match = _PEM.search(text)
    if match is None or not match.group(1).endswith(label_suffix):
        return False
    try:
        base64.b64decode("".join(match.group(2).split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def key_kind(data: bytes) -> str:
    """A PEM private key in the recipe's words (KeySpec.words; '' when it cannot be read)."""
    try:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:  # pragma: no cover - cryptography is a dependency
        return ""
    try:
        key = load_pem_private_key(data, None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError):
        return ""
    facts = key_facts(key)
    return key_words(*facts) if facts[0] in ("RSA", "EC", "Ed25519") else ""


# DER of the algorithm and curve identifiers, and each curve's private key length in bytes
_RSA = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1 rsaEncryption
_EC = bytes.fromhex("2a8648ce3d0201")  # 1.2.840.10045.2.1 id-ecPublicKey
_ED25519 = bytes.fromhex("2b6570")  # 1.3.101.112
_CURVES = {
    bytes.fromhex("2a8648ce3d030107"): ("P-256", 32),  # 1.2.840.10045.3.1.7
    bytes.fromhex("2b81040022"): ("P-384", 48),  # 1.3.132.0.34
    bytes.fromhex("2b81040023"): ("P-521", 66),  # 1.3.132.0.35
}
_INT, _OCTETS, _OID, _SEQ, _CURVE_TAG = 0x02, 0x04, 0x06, 0x30, 0xA0


def _der_key_kind(label: str, der: bytes) -> str | None:
    """The kind an RSA, ECDSA or Ed25519 private key's structure claims (PKCS#8, PKCS#1 or SEC1),
    without checking its numbers; None for any other label, algorithm or curve, or a structure
    that does not parse whole."""
    tag, body = _whole(der)
    if tag != _SEQ:
        return None
    items = _items(body)
    if label == "RSA PRIVATE KEY":
        return _rsa(items)
    if label == "EC PRIVATE KEY":
        curve = dict(items[2:]).get(_CURVE_TAG)
        return _ec(items, _items(curve)) if curve is not None else None
    if label != "PRIVATE KEY" or [t for t, _ in items[:3]] != [_INT, _SEQ, _OCTETS]:
        return None
    algorithm = _items(items[1][1])
    if not algorithm or algorithm[0][0] != _OID:
        return None
    oid, key = algorithm[0][1], items[2][1]
    if oid == _RSA:
        tag, body = _whole(key)
        return _rsa(_items(body)) if tag == _SEQ else None
    if oid == _EC and len(algorithm) == 2:
        tag, body = _whole(key)
        return _ec(_items(body), algorithm[1:]) if tag == _SEQ else None
    if oid == _ED25519 and len(algorithm) == 1:
        tag, body = _whole(key)
        return "ed25519" if tag == _OCTETS and len(body) == 32 else None
    return None


def _rsa(items: list[tuple[int, bytes]]) -> str | None:
    """RSAPrivateKey: version, n, e, d, p, q, dp, dq, qinv (nine integers)."""
    if len(items) != 9 or any(t != _INT for t, _ in items):
        return None
    bits = int.from_bytes(items[1][1], "big").bit_length()
    return f"rsa {bits}" if bits else None


def _ec(items: list[tuple[int, bytes]], curve: list[tuple[int, bytes]]) -> str | None:
    """ECPrivateKey (version 1, the private key, ...) on a named curve we know."""
    if len(items) < 2 or items[0] != (_INT, b"\x01") or items[1][0] != _OCTETS:
        return None
    if len(curve) != 1 or curve[0][0] != _OID or curve[0][1] not in _CURVES:
        return None
    name, size = _CURVES[curve[0][1]]
    return f"ecdsa {name}" if len(items[1][1]) == size else None


def _whole(der: bytes) -> tuple[int, bytes]:
    """The tag and value of a DER element that is all of `der`."""
    tag, start, end = _header(der, 0)
    if end != len(der):
        raise ValueError("trailing bytes")
    return tag, der[start:end]


def _items(body: bytes) -> list[tuple[int, bytes]]:
    """The (tag, value) elements a constructed value holds, in order."""
    out, pos = [], 0
    while pos < len(body):
        tag, start, end = _header(body, pos)
        out.append((tag, body[start:end]))
        pos = end
    return out


def _header(der: bytes, pos: int) -> tuple[int, int, int]:
    """An element's tag, and where its value starts and ends (definite lengths only)."""
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4:
            raise ValueError("length")
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    if pos + length > len(der):
        raise ValueError("cut short")
    return tag, pos, pos + length


def _state(full: Path, read: bool) -> tuple[FileState, bytes | None] | None:
    """What is at `full` (never followed when a link), and the bytes of a regular file when
    `read`."""
    try:
        info = os.lstat(full)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return FileState("link"), None
    if stat.S_ISDIR(info.st_mode):
        return FileState("dir"), None
    if not stat.S_ISREG(info.st_mode):
        return FileState("other"), None
    return FileState("file"), full.read_bytes() if read else None


def take(out: Path, meta: Path, plan: Plan, settle: bool = True) -> Snapshot:
    """The snapshot of every path the plan writes or reads, and the plan's build records
    (`settle`: a run settles the records a killed run left pending; a dry run does not)."""
    keys: set[str] = set()
    owners: dict[str, list[Step]] = {}  # key file -> the steps that make it
    paths: dict[str, None] = {}
    for step in plan.steps:
        keys.update(step.key_files)
        for path in step.key_files:
            owners.setdefault(path, []).append(step)
        if isinstance(step, CertStep) and step.signer_key_file:
            keys.add(step.signer_key_file)
        paths.update(dict.fromkeys((*step.writes, *step.reads)))
    paths.update(dict.fromkeys(keys))
    files: dict[str, FileState] = {}
    pem_keys: dict[str, bytes] = {}  # key files that hold a whole PEM key: their bytes
    for path in paths:
        found = _state(out / path, path in keys)
        if found is None:
            continue
        state, data = found
        if data is not None:
            pem = pem_complete(data, "PRIVATE KEY")
            state = FileState("file", record.digest(data), pem)
            if pem:
                pem_keys[path] = data
        files[path] = state

    def digest_of(path: str) -> str:
        state = files.get(path)
        if state is not None and state.digest:
            return state.digest
        full = out / path
        return record.digest(full.read_bytes()) if full.is_file() else ""

    records = record_store.load(meta, plan.steps, digest_of, settle) if meta.is_dir() else {}
    for path, data in pem_keys.items():
        kind = _planned_kind(data, owners.get(path, []), records)
        files[path] = replace(files[path], key=kind if kind is not None else key_kind(data))
    replacing = record_store.load_replacing(meta) if meta.is_dir() else {}
    return Snapshot(files=files, records=records, replacing=replacing)


def _planned_kind(data: bytes, owners: list[Step], records: Mapping) -> str | None:
    """The key's kind read from its DER structure, when that is what every step making it
    plans and what each one's build record says: then the decisions come out the same whether
    cryptography would load the key or refuse it (decide.py uses the kind only to compare it
    with those). None: ask key_kind."""
    match = _PEM.search(data.decode("ascii", "replace"))
    if match is None or not owners:
        return None
    try:
        der = base64.b64decode("".join(match.group(2).split()), validate=True)
        found = _der_key_kind(match.group(1), der)
    except (binascii.Error, ValueError, IndexError):
        return None
    for step in owners:
        if not isinstance(step, (CertStep, KeyPairStep)):
            return None
        if step.spec.key.words != found:
            return None
        if records.get(step.name, {}).get("key", found) != found:
            return None
    return found
