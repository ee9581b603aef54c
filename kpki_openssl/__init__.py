"""kpki_openssl: a Kubernetes PKI built by the exact openssl commands a person would type."""

__version__ = "0.1.0"
