"""The PKI explains its own health: verify a folder, inspect a certificate, list expiry dates,
lint a recipe. Judging is pure; certificates and keys are read in-process (certinfo, with
cryptography), chains by `openssl verify` (openssl_run, with a timeout)."""
