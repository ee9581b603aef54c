"""Prove: the real consumers (etcd, kubectl, curl) against an output folder, on loopback."""
