"""`prove --only rotation-ca --only rotation-front-proxy` with the real programs: the cluster
CA's and the front-proxy CA's rotations walked live, an etcd standing in for kube-apiserver
started again from the copy's flags after each stage. Every kubeconfig is let in at every stage,
the kept old-CA files are refused where they must be (with a reason), the folder is not
touched; and a trust stage that forgot kube-apiserver's flags is caught."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from kpki_openssl.plan import rotation
from tests.conftest import need_program, run_cli
from tests.test_prove import prove_json
from tests.test_prove_rotation_real import _digests

pytestmark = [pytest.mark.real, pytest.mark.long]

# ECDSA: keys in milliseconds (curl on OpenSSL 3 at security level 2 refuses RSA 1024 keys)
SETS = ("--set", "nodes=n1", "--set", "key_type=ecdsa")
GROUPS = ("--only", "rotation-ca", "--only", "rotation-front-proxy")
KUBECONFIGS = 5  # admin, kube-controller-manager, kube-scheduler, kube-proxy, kubelet-n1


def _build(tmp_path: Path) -> Path:
    for name in ("openssl", "etcd", "kubectl", "curl"):
        need_program(name)
    out = tmp_path / "pki"
    assert run_cli("run", "all", "--out", str(out), "-q", *SETS).returncode == 0
    return out


def _one(checks: list[dict], stage: str, words: str) -> dict:
    found = [c for c in checks if c["what"].startswith(f"{stage}: ") and words in c["what"]]
    assert len(found) == 1, (stage, words, [c["what"] for c in checks])
    return found[0]


def _refused_with_a_reason(check: dict) -> None:
    assert check["expect"] == "refuse" and check["status"] == "pass", check
    assert "x509:" in check["said"] and "etcd's log:" in check["said"], check


def test_the_cluster_and_front_proxy_ca_rotations_walked_live(tmp_path: Path) -> None:
    out = _build(tmp_path)
    before = _digests(out)
    started = time.monotonic()
    code, doc = prove_json(out, *SETS, *GROUPS)
    took = time.monotonic() - started
    failed = [c for c in doc["checks"] if c["status"] not in ("pass", "note")]
    assert code == 0 and not failed, failed
    assert _digests(out) == before  # the walks ran on scratch copies
    assert not list(tmp_path.glob("kpki-prove-*"))

    ca = [c for c in doc["checks"] if c["group"] == "rotation-ca"]
    for stage in rotation.STAGES:
        restarted = _one(ca, stage, "stand-in (etcd) started again from kube-apiserver.flags")
        bundle = "ca-bundle.crt" if stage != "remove" else "--client-ca-file ca.crt"
        assert bundle in restarted["what"]
        kubeconfigs = [c for c in ca if c["what"].startswith(f"{stage}: kubectl --kubeconfig")]
        assert len(kubeconfigs) == KUBECONFIGS
        assert all(c["expect"] == "accept" and "etcdserver" in c["said"] for c in kubeconfigs)
        assert all("no kube-apiserver runs here" in c["what"] for c in kubeconfigs)
        kubelet = _one(ca, stage, "kubelet client files as the stage left its flags")
        assert kubelet["expect"] == "accept" and "etcdserver" in kubelet["said"]
        assert "no kubelet runs here" in kubelet["what"]
        clientca = "ca-bundle.crt" if stage != "remove" else "clientCAFile ca.crt"
        assert clientca in _one(ca, stage, "a kubelet stand-in (etcd) started")["what"]
    _refused_with_a_reason(_one(ca, "remove", "kubelet client certificate kept from before"))
    assert _one(ca, "trust", "a certificate from the new CA")["expect"] == "accept"
    skipped = _one(ca, "trust", "trusting only the new CA")
    assert skipped["expect"] == "refuse" and "x509:" in skipped["said"]  # kubectl refuses
    kept = _one(ca, "switch", "kept from before trust")
    assert kept["expect"] == "refuse" and "x509:" in kept["said"]
    assert _one(ca, "switch", "admin.crt kept from before switch")["expect"] == "accept"
    _refused_with_a_reason(_one(ca, "remove", "admin.crt kept from before switch"))

    front = [c for c in doc["checks"] if c["group"] == "rotation-front-proxy"]
    for stage in rotation.STAGES:
        curl = _one(front, stage, "curl with --proxy-client-cert-file front-proxy-client.crt")
        assert curl["expect"] == "accept" and "etcdserver" in curl["said"]
    assert _one(front, "trust", "a certificate from the new CA")["expect"] == "accept"
    assert _one(front, "switch", "kept from before switch")["expect"] == "accept"
    _refused_with_a_reason(_one(front, "remove", "kept from before switch"))
    for checks in (ca, front):
        assert checks[-1]["status"] == "note" and "the rotation walk took" in checks[-1]["what"]
    print(f"prove --only rotation-ca --only rotation-front-proxy: {took:.1f} s")


def test_a_trust_stage_that_leaves_the_apiserver_flags_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planted fault: trust makes the new CA and the bundle but leaves kube-apiserver's
    flags naming the old CA alone. The stand-in then refuses the new CA's certificate at trust,
    with etcd's reason; and switch is refused as `rotate-ca` refuses it, naming the flags file
    trust left undone, so no stage runs on a half-made trust."""
    out = _build(tmp_path)
    stage_plan = rotation.stage_plan

    def forgetful(plan, name, stage, *args, **kwargs):
        done = stage_plan(plan, name, stage, *args, **kwargs)
        if stage != "trust":
            return done
        steps = tuple(s for s in done.plan.steps if "kube-apiserver.flags" not in s.writes)
        assert len(steps) < len(done.plan.steps)
        return dataclasses.replace(done, plan=dataclasses.replace(done.plan, steps=steps))

    monkeypatch.setattr(rotation, "stage_plan", forgetful)
    code, doc = prove_json(out, *SETS, "--only", "rotation-ca")
    assert code == 1
    failed = [c for c in doc["checks"] if c["status"] == "fail"]
    probe = [c for c in failed if c["what"].startswith("trust: ")]
    assert len(probe) == 1 and "a certificate from the new CA" in probe[0]["what"]
    assert "etcd's log:" in probe[0]["said"] and "x509:" in probe[0]["said"]
    refused = [c for c in failed if c["what"].startswith("rotate-ca ca --stage switch")]
    assert len(refused) == 1 and "kube-apiserver.flags" in refused[0]["said"]
    assert len(failed) == 2, [c["what"] for c in failed]
    assert not any(c["what"].startswith(("switch: ", "remove: ")) for c in doc["checks"])
    assert all(c["expect"] == "accept" for c in failed)  # the refusals still hold


def test_a_folder_whose_ca_is_mid_rotation_gets_a_scratch_pki(tmp_path: Path) -> None:
    """The folder's `ca` switched: rotation-ca walks a scratch PKI built from the recipe, and
    rotation-front-proxy walks a copy whose server certificate is from the new `ca` (curl
    trusts it by the bundle); the folder stays as it was."""
    out = _build(tmp_path)
    for stage in ("trust", "switch"):
        done = run_cli("rotate-ca", "ca", "--out", str(out), "-q", *SETS, "--stage", stage)
        assert done.returncode == 0, done.stderr
    before = _digests(out)
    code, doc = prove_json(out, *SETS, *GROUPS)
    failed = [c for c in doc["checks"] if c["status"] not in ("pass", "note")]
    assert code == 0 and not failed, failed
    assert _digests(out) == before
    scratch = [c for c in doc["checks"] if c["what"] == "a scratch copy of the folder"]
    assert [c["group"] for c in scratch] == ["rotation-ca", "rotation-front-proxy"]
    assert "mid-rotation: a scratch PKI built" in scratch[0]["said"]
    assert scratch[1]["said"].startswith("copied ")
