"""The snapshot reads a key's kind from its DER structure where that cannot change a decision,
and asks cryptography otherwise: with valid keys, keys of another kind, keys whose numbers are
corrupt, and build records that agree or not, every decision is the one cryptography's reading
gives."""

from __future__ import annotations

import base64
import itertools
import json
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from kpki_openssl.execute import record, record_store, snapshot
from kpki_openssl.execute.decide import RunOptions, decide_all
from kpki_openssl.plan.steps import CertStep, KeyPairStep, build_plan
from kpki_openssl.recipe.load import load_recipe
from kpki_openssl.recipe.variables import resolve_variables

KEYS = {
    "rsa 2048": lambda: rsa.generate_private_key(65537, 2048),
    "ecdsa P-256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ecdsa P-384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}
FORMATS = [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL]


_MADE: dict[str, list] = {}


def pem(kind: str, form: serialization.PrivateFormat, rng: random.Random | None = None) -> bytes:
    """A key of `kind` in `form` (one of a few made once per kind: RSA keys are slow)."""
    made = _MADE.setdefault(kind, [])
    if len(made) < 3:
        made.append(KEYS[kind]())
    key = (rng or random).choice(made)
    if kind == "ed25519":
        form = serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())


def corrupt(data: bytes, rng: random.Random) -> bytes:
    """The same PEM with a few bytes of the key's numbers changed (its structure intact)."""
    match = snapshot._PEM.search(data.decode())
    der = bytearray(base64.b64decode("".join(match.group(2).split())))
    for _ in range(3):
        der[rng.randrange(len(der) // 2, len(der))] ^= 1 << rng.randrange(8)
    text = base64.encodebytes(bytes(der)).decode().replace("\n", "")
    body = "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    return f"-----BEGIN {match.group(1)}-----\n{body}\n-----END {match.group(1)}-----\n".encode()


@pytest.mark.parametrize("key_type", ["ecdsa", "rsa"])
def test_decisions_are_those_of_cryptography(
    tmp_path: Path, key_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = load_recipe("kubernetes")
    plan = build_plan(recipe, resolve_variables(recipe, [f"key_type={key_type}"]))
    owned = [s for s in plan.steps if isinstance(s, (CertStep, KeyPairStep)) and s.key_files]
    rng = random.Random(18)
    cases = list(itertools.product(["planned", "other", "corrupt"], ["none", "same", "other"]))
    refused = 0  # corrupt keys cryptography refuses while their structure names the plan's kind
    for number, (held, recorded) in enumerate(cases * 3):
        out = tmp_path / f"case{number}"
        (out / ".kpki" / record_store.RECORD_DIR).mkdir(parents=True)
        for step in owned:
            planned = step.spec.key.words
            other = next(k for k in KEYS if k != planned)
            data = pem(planned if held != "other" else other, rng.choice(FORMATS), rng)
            if held == "corrupt":
                data = corrupt(data, rng)
                refused += snapshot.key_kind(data) == ""
            (out / step.key_files[0]).write_bytes(data)
            if step.writes[-1] != step.key_files[0]:
                (out / step.writes[-1]).write_text("built\n")  # the step counts as built
            if recorded != "none":
                fields = record.planned(step)
                fields["key"] = planned if recorded == "same" else other
                path = out / ".kpki" / record_store.RECORD_DIR / f"{step.name}.json"
                path.write_text(json.dumps({"schema": record.SCHEMA, "fields": fields}))
        options = RunOptions()
        fast = decide_all(plan, snapshot.take(out, out / ".kpki", plan, settle=False), options)
        with monkeypatch.context() as patched:
            patched.setattr(snapshot, "_planned_kind", lambda *_args: None)
            slow = decide_all(plan, snapshot.take(out, out / ".kpki", plan, settle=False), options)
        assert fast == slow, (held, recorded)
    assert refused > 10  # the case where reading the structure alone would differ is covered


def test_the_structure_names_the_kind_cryptography_loads() -> None:
    for kind, form in itertools.product(KEYS, FORMATS):
        data = pem(kind, form)
        match = snapshot._PEM.search(data.decode())
        der = base64.b64decode("".join(match.group(2).split()))
        assert snapshot._der_key_kind(match.group(1), der) == kind == snapshot.key_kind(data)
