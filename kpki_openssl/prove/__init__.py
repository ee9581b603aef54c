"""Prove: the real consumers (etcd, kubectl, curl) against an output folder, on loopback or on a
fleet of network namespaces."""
