"""The `files` group: what the other groups met while mapping the files' paths to the folder —
a path naming a file the folder does not have (a near miss is used in its place), and a flag
kube-apiserver's flags file lacks. It runs no program and runs last, after the groups whose
findings it reports; a finding met twice is reported once.
"""

from __future__ import annotations

from kpki_openssl.prove.context import Context
from kpki_openssl.prove.results import ACCEPT, FAIL, TOOL


def run(context: Context) -> None:
    """One failed check per distinct finding, in the order they were met."""
    for where, problem in dict.fromkeys(context.folder.notes):
        context.check(where, TOOL, ACCEPT, FAIL, problem)
