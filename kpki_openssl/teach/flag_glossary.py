"""What each openssl flag we emit means, in a sentence a learner can read.

`explain` and the markdown handout annotate every command with this table. A test walks every
command of every bundled recipe and fails when a flag has no entry here, so new argv in
`openssl_argv.py` cannot go unexplained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Flag:
    text: str
    takes_value: bool = True


# Per openssl subcommand: flag -> meaning. `{}` in the text is replaced by the flag's value.
_SUBCOMMANDS: dict[str, str] = {
    "genrsa": "generate an RSA private key (PEM, PKCS#8 on OpenSSL 3)",
    "genpkey": "generate a private key of any type (RSA, EC, Ed25519)",
    "req": "make a certificate signing request (CSR): the public key plus the subject, signed by "
    "the private key to prove possession",
    "x509": "work with X.509 certificates; with -req, turn a CSR into a signed certificate",
    "rsa": "read or convert an RSA key",
    "pkey": "read or convert a private or public key of any type",
    "base64": "base64-encode or decode",
    "verify": "check a certificate chain against trusted CAs",
}

_FLAGS: dict[str, dict[str, Flag]] = {
    "genrsa": {
        "-out": Flag("write the new private key to {} (mode 0600: it is a secret)"),
    },
    "genpkey": {
        "-algorithm": Flag("the key type: {}"),
        "-pkeyopt": Flag("a key-type option, here {}"),
        "-out": Flag("write the new private key to {} (mode 0600: it is a secret)"),
    },
    "req": {
        "-new": Flag("make a new CSR (rather than read one)", False),
        "-key": Flag("the private key {} the CSR is for; its public half goes into the CSR"),
        "-subj": Flag(
            "the subject {}: in a client certificate the API server reads CN as the user name "
            "and each O as a group; a server is checked by its subjectAltName, not its CN"
        ),
        "-out": Flag("write the CSR to {}"),
        "-config": Flag(
            "read settings from {}: the [req] section and the extensions the CSR asks for"
        ),
        "-in": Flag("read the CSR from {}"),
        "-verify": Flag(
            "check the CSR's self-signature (proof the requester holds the key)", False
        ),
        "-noout": Flag("do not print the CSR itself", False),
        "-x509": Flag("make a self-signed certificate instead of a CSR", False),
        "-days": Flag("valid for {} days"),
    },
    "x509": {
        "-req": Flag("the input is a CSR, to be signed into a certificate", False),
        "-in": Flag("read {}"),
        "-signkey": Flag(
            "self-sign with {}: the issuer is the subject itself; only basicConstraints "
            "CA:TRUE (from -extfile) makes the certificate a CA"
        ),
        "-CA": Flag("the signing CA's certificate {}: its subject becomes the issuer"),
        "-CAkey": Flag("the signing CA's private key {}, which makes the signature"),
        "-days": Flag("valid for {} days (without -days openssl gives 30)"),
        "-extfile": Flag(
            "take the certificate's extensions from {}; without it x509 -req drops them all"
        ),
        "-extensions": Flag("use the section [{}] of the -extfile"),
        "-out": Flag(
            "write the certificate to {} (with -req the one it signs; without, the one it read)"
        ),
        "-noout": Flag("do not print the certificate in PEM", False),
        "-subject": Flag("print the subject", False),
        "-issuer": Flag("print the issuer", False),
        "-dates": Flag("print notBefore and notAfter", False),
        "-ext": Flag("print these extensions: {}"),
        "-text": Flag("print every field", False),
        "-copy_extensions": Flag("copy the CSR's extensions ({}) into the certificate"),
        "-CAcreateserial": Flag("create the CA's serial file ca.srl when missing", False),
        "-set_serial": Flag("use {} as the serial number"),
    },
    "rsa": {
        "-in": Flag("read the private key {}"),
        "-pubout": Flag("write the public half only", False),
        "-out": Flag("write to {}"),
    },
    "pkey": {
        "-in": Flag("read the private key {}"),
        "-pubout": Flag("write the public half only", False),
        "-out": Flag("write to {}"),
    },
    "base64": {
        "-A": Flag("one line, no line breaks (what a Kubernetes manifest field wants)", False),
        "-in": Flag("read {}"),
    },
    "verify": {
        "-CAfile": Flag("trust the CA certificate(s) in {}"),
        "-x509_strict": Flag("apply RFC 5280 strictly (CA:TRUE required on the CA)", False),
        "-no-CApath": Flag("do not trust the system's CA folder (/etc/ssl/certs)", False),
        "-no-CAstore": Flag("do not trust the system's default CA store either", False),
    },
}


# kubectl config subcommands (kubeconfigs) and their --flag=value options.
_KUBECTL_SUBCOMMANDS: dict[str, str] = {
    "set-cluster": "add or change a cluster entry in a kubeconfig: the API server and its CA",
    "set-credentials": "add or change a user entry in a kubeconfig: the client certificate and key",
    "set-context": "add or change a context: which user talks to which cluster",
    "use-context": "make a context the current one",
    "set": "set one field of a kubeconfig by its path (here a user's tokenFile)",
}
_KUBECTL_FLAGS: dict[str, str] = {
    "--server": "the API server's URL {}; its host must be in the server certificate's SANs",
    "--certificate-authority": "the CA certificate {} that the API server's certificate must "
    "chain to",
    "--client-certificate": "the client certificate {} (its CN is the user, its O the groups)",
    "--client-key": "the client certificate's private key {}",
    "--embed-certs": "{}: copy the files' contents into the kubeconfig instead of naming them",
    "--kubeconfig": "the kubeconfig file to change: {}",
    "--cluster": "the cluster entry {}",
    "--user": "the user entry {}",
}

# kubectl's offline generators (`kubectl create KIND ... --dry-run=client -o yaml`): they print
# the object's YAML and check nothing about what it means (the tool checks that itself).
_KUBECTL_CREATE: dict[str, str] = {
    "secret generic": "print a Secret of the keys given below (values base64-encoded)",
    "clusterrolebinding": "print a ClusterRoleBinding: a ClusterRole granted to users or groups",
    "configmap": "print a ConfigMap of the keys given below",
}
_KUBECTL_CREATE_FLAGS: dict[str, str] = {
    "-n": "in the namespace {}",
    "--type": "the Secret's type {} (the bootstrap token authenticator reads only this type)",
    "--from-literal": "a key and its value, as given: {}",
    "--from-file": "a key and the file whose bytes are its value (the file is read, not "
    "printed here): {}",
    "--dry-run": "{}: only print the object; send nothing to any cluster",
    "-o": "print it as {}",
    "--clusterrole": "the ClusterRole granted: {}",
    "--group": "to every user in the group {}",
}

# Positional arguments by subcommand (genrsa's key size).
_POSITIONAL: dict[str, str] = {
    "genrsa": "the key size: {} bits",
    "verify": "the certificate to check: {}",
}


@dataclass(frozen=True)
class Note:
    """One part of a command line (a flag with its value, or a positional) and its meaning."""

    text: str  # as typed, e.g. "-out ca.key"
    meaning: str


def explain_argv(argv: Sequence[str]) -> tuple[Note, ...]:
    """The argv of one openssl command, part by part, each with its meaning.

    A part we have no words for gets meaning '' (a test keeps the bundled recipes free of those).
    """
    if len(argv) >= 3 and argv[0] == "kubectl" and argv[1] == "config":
        return _explain_kubectl_config(argv)
    if argv and argv[0] == "kubectl" and "create" in argv[:4]:
        return _explain_kubectl_create(argv)
    if len(argv) == 4 and argv[:2] == ("cp", "--"):
        return (
            Note("cp --", "copy a file byte for byte (-- ends the options)"),
            Note(argv[2], f"the CSR as it was sent: {argv[2]} (only read)"),
            Note(argv[3], f"its place in the folder: {argv[3]}"),
        )
    if len(argv) == 3 and argv[0] == "cp":  # a rotation's copy: aside, or into place
        return (
            Note("cp", "copy a file byte for byte"),
            Note(argv[1], "the file copied"),
            Note(argv[2], "the copy (a file there is replaced)"),
        )
    if len(argv) > 1 and argv[0] == "cat":  # a rotation's bundle: the certificates in order
        return (
            Note("cat", "print the files one after the other (> puts them in one file)"),
            *(Note(path, "the files to join, in this order") for path in argv[1:]),
        )
    if len(argv) < 2 or argv[0] != "openssl":
        return (Note(" ".join(argv), ""),)
    sub = argv[1]
    notes = [Note(f"openssl {sub}", _SUBCOMMANDS.get(sub, ""))]
    table = _FLAGS.get(sub, {})
    i = 2
    while i < len(argv):
        token = argv[i]
        flag = table.get(token)
        if flag is not None and flag.takes_value and i + 1 < len(argv):
            value = argv[i + 1]
            notes.append(Note(f"{token} {value}", flag.text.replace("{}", value)))
            i += 2
            continue
        if flag is not None:
            notes.append(Note(token, flag.text))
        elif not token.startswith("-") and sub in _POSITIONAL:
            notes.append(Note(token, _POSITIONAL[sub].replace("{}", token)))
        else:
            notes.append(Note(token, ""))
        i += 1
    return tuple(notes)


def _explain_kubectl_config(argv: Sequence[str]) -> tuple[Note, ...]:
    sub = argv[2]
    notes = [Note(f"kubectl config {sub}", _KUBECTL_SUBCOMMANDS.get(sub, ""))]
    positional = [t for t in argv[3:] if not t.startswith("-")]
    for token in argv[3:]:
        name, eq, value = token.partition("=")
        if eq and name in _KUBECTL_FLAGS:
            notes.append(Note(token, _KUBECTL_FLAGS[name].replace("{}", value)))
        elif sub == "set" and positional[:1] == [token]:
            notes.append(Note(token, f"the field: {token}"))
        elif sub == "set" and positional[1:2] == [token]:
            notes.append(Note(token, f"its value: {token}"))
        elif not token.startswith("-"):
            notes.append(Note(token, f"the entry's name: {token}"))
        else:
            notes.append(Note(token, ""))
    return tuple(notes)


def _explain_kubectl_create(argv: Sequence[str]) -> tuple[Note, ...]:
    """`kubectl [-n NS] create KIND NAME --flag=value ...`, part by part, in argv order."""
    notes = [Note("kubectl", "the Kubernetes command line; offline here (--dry-run=client)")]
    rest = list(argv[1:])
    if rest[:1] == ["-n"] and len(rest) > 1:
        notes.append(Note(f"-n {rest[1]}", _KUBECTL_CREATE_FLAGS["-n"].replace("{}", rest[1])))
        rest = rest[2:]
    words = 3 if rest[1:2] == ["secret"] else 2  # create secret generic / create configmap
    kind = " ".join(rest[1:words])
    notes.append(Note(" ".join(rest[:words]), _KUBECTL_CREATE.get(kind, "")))
    rest = rest[words:]
    if rest and not rest[0].startswith("-"):
        notes.append(Note(rest[0], f"the object's name: {rest[0]}"))
        rest = rest[1:]
    i = 0
    while i < len(rest):
        token = rest[i]
        name, _eq, value = token.partition("=")
        if token == "-o" and i + 1 < len(rest):
            name, value = token, rest[i + 1]
            token, i = f"-o {value}", i + 1
        meaning = _KUBECTL_CREATE_FLAGS.get(name, "")
        notes.append(Note(token, meaning.replace("{}", value)))
        i += 1
    return tuple(notes)


def glossary(argvs: Sequence[Sequence[str]]) -> list[tuple[str, str, str]]:
    """(command, flag, meaning) once for each flag these commands use, in first-use order; a
    value in the meaning reads VALUE (the handout's one flag table)."""
    out: dict[tuple[str, str], str] = {}
    for argv in argvs:
        if len(argv) >= 3 and argv[0] == "kubectl" and argv[1] == "config":
            command = f"kubectl config {argv[2]}"
            out.setdefault((command, ""), _KUBECTL_SUBCOMMANDS.get(argv[2], ""))
            for token in argv[3:]:
                name = token.partition("=")[0]
                if name in _KUBECTL_FLAGS:
                    out.setdefault((command, name), _KUBECTL_FLAGS[name].replace("{}", "VALUE"))
            continue
        if len(argv) < 2 or argv[0] != "openssl":
            continue
        sub = argv[1]
        out.setdefault((f"openssl {sub}", ""), _SUBCOMMANDS.get(sub, ""))
        for token in argv[2:]:
            flag = _FLAGS.get(sub, {}).get(token)
            if flag is not None:
                out.setdefault((f"openssl {sub}", token), flag.text.replace("{}", "VALUE"))
        if sub in _POSITIONAL and not argv[-1].startswith("-"):
            out.setdefault((f"openssl {sub}", "N"), _POSITIONAL[sub].replace("{}", "N"))
    return [(command, flag, meaning) for (command, flag), meaning in out.items()]
