"""What a for_each row makes once (certlist.RowMemo) is right for every item, and shared only
when it names nothing that varies; errors still name the first item. And a dry run stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kpki_openssl.base.errors import InputError
from kpki_openssl.plan.steps import build_plan
from kpki_openssl.recipe.load import load_recipe, parse_recipe
from kpki_openssl.recipe.variables import resolve_variables

REPO = Path(__file__).resolve().parent.parent


def test_per_node_texts_differ_and_node_free_parts_are_shared() -> None:
    recipe = load_recipe("kubernetes")
    plan = build_plan(recipe, resolve_variables(recipe, ["nodes=alpha,beta"]))
    certs = {c.name: c for c in plan.certs}
    a, b = certs["kubelet-alpha"], certs["kubelet-beta"]
    by_what = [dict((d.what, d) for d in c.departures) for c in (a, b)]
    assert by_what[0]["validity"] is by_what[1]["validity"]  # names no node: made once
    assert by_what[0]["subject CN"].ours == "system:node:alpha"
    assert by_what[1]["subject CN"].ours == "system:node:beta"
    assert by_what[0]["extensions"].ours != by_what[1]["extensions"].ours  # names {name}
    assert "kubelet-alpha.key" in a.document[0] and "kubelet-beta.key" in b.document[0]

    configs = {c.file: c.data for c in plan.components if c.data}
    da, db = configs["kubelet-config-alpha.yaml"], configs["kubelet-config-beta.yaml"]
    assert da["authentication"] is db["authentication"]
    assert da["tlsCertFile"] == "/var/lib/kubelet/kubelet-alpha.crt"
    assert db["tlsCertFile"] == "/var/lib/kubelet/kubelet-beta.crt"

    kubeconfigs = {k.file: k for k in plan.kubeconfigs}
    ka, kb = kubeconfigs["kubelet-alpha.kubeconfig"], kubeconfigs["kubelet-beta.kubeconfig"]
    assert ka.departures is not kb.departures and ka.departures == kb.departures
    assert (ka.user, kb.user) == ("kubelet-alpha", "kubelet-beta")
    assert ka.cert_path == "/var/lib/kubelet/kubelet-client-alpha.crt"


def test_a_bad_template_in_a_shared_part_is_refused_at_load() -> None:
    """Refused when the recipe is read (template.check_recipe), naming the row as written,
    not when its first item is filled (with no nodes, it never would be)."""
    text = (REPO / "recipes" / "kubernetes.yaml").read_text()
    bad = text.replace('ours: "{host_pki_dir}/ca.crt"', 'ours: "{nope}/ca.crt"')
    assert bad != text
    with pytest.raises(InputError) as err:
        parse_recipe(bad)
    assert str(err.value) == (
        "kubeconfigs[kubelet-{node}.kubeconfig].departures[1].ours: {nope} names no variable"
    )


def test_a_dry_run_does_not_import_the_runner() -> None:
    code = (
        "import contextlib, io, sys\n"
        "from kpki_openssl.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['run', 'all', '--dry-run', '--out', sys.argv[1]])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'plumbum' or m.startswith(\n"
        "    ('kpki_openssl.execute.runner', 'kpki_openssl.execute.staging', 'kpki_openssl.execute.install',\n"
        "     'kpki_openssl.execute.folder', 'kpki_openssl.base.processes'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "no-such-folder")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "[]"
