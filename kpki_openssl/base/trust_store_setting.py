"""openssl's system trust store, switched off for the commands that never use it.

Measured on OpenSSL 3.0.19 (strace -f -e openat, and timing; 3.5.9 opens the same file, and
tests/test_trust_store.py passes with it): every `openssl x509` call, a
signature (`x509 -req`) as much as a read, opens and parses OpenSSL's default certificate file
(OPENSSLDIR/cert.pem, the distribution's ~0.2 MB bundle of public roots) and never uses it:
~50 ms a read and ~60 ms a signature here. `SSL_CERT_FILE=/dev/null` points that load at an
empty file. `SSL_CERT_DIR` does not matter for the cost: the hashed directory is only looked up
when a chain is verified. genrsa, genpkey, req and pkey load neither.

What it does not change: the certificates (the same bytes apart from serial and signature), and
`openssl verify`, which finds public roots through the directory whatever SSL_CERT_FILE says;
our chain checks pass -no-CApath -no-CAstore so they trust the recipe's CA and nothing else.

One source of truth: every child the tool starts gets ENV (base/processes.py), and the exported
build script and commands.sh carry PROLOGUE, which exports the same variable with the same value.
Nothing a learner reads or pastes carries it (the dry run, the handout, explain, the host install
scripts): the dry run ends with NOTE instead, saying what run adds.
"""

from __future__ import annotations

VARIABLE = "SSL_CERT_FILE"
VALUE = "/dev/null"
ENV: dict[str, str] = {VARIABLE: VALUE}
WHY = "openssl x509 loads the system CA bundle on every call and never uses it here: skip it"
PROLOGUE = f"# {WHY}\nexport {VARIABLE}={VALUE}\n"
NOTE = f"# run starts these commands with {VARIABLE}={VALUE} (speed only: {WHY})\n"
