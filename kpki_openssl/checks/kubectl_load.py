"""What kubectl makes of a kubeconfig the recipe writes as text (the document's, verbatim):
`kubectl config view` on a copy in a scratch folder, HOME there too, with a timeout."""

from __future__ import annotations

from kpki_openssl.plan.steps import Plan


def kubectl_refusals(plan: Plan) -> dict[str, str]:
    """What kubectl says of each kubeconfig of `plan` it refuses to load (`kubectl config
    view`, on a copy in a scratch folder, HOME there too): the document's tab-indented
    kube-config.yaml. Nothing when kubectl is not installed."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from kpki_openssl.base import processes
    from kpki_openssl.plan.steps import WriteFile

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return {}
    candidates = [
        (step.name, action.content)
        for step in plan.steps
        for action in step.actions
        if isinstance(action, WriteFile) and "kind: Config" in action.content
    ]
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="kpki-compare-") as scratch:
        env = {"HOME": scratch, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for name, text in candidates:
            path = Path(scratch) / name.replace("/", "_")
            path.write_text(text)
            argv = [kubectl, "config", "view", f"--kubeconfig={path}"]
            try:
                done = processes.run(argv, timeout=processes.READ, env=env, cwd=Path(scratch))
            except processes.TimedOut:
                continue
            if done.returncode != 0:
                said = " ".join(done.stderr.split()).replace(str(path), name)
                out[name] = f"kubectl refuses it: {said}"
    return out
