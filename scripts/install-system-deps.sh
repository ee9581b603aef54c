#!/bin/sh
# Install the real programs the tests run against, from Debian packages, when missing.
# Needs root (or sudo). Safe to run again: it installs only what is not there yet.
set -eu
need=""
command -v openssl >/dev/null 2>&1 || need="$need openssl"
command -v etcd >/dev/null 2>&1 || need="$need etcd-server"
command -v etcdctl >/dev/null 2>&1 || need="$need etcd-client"
command -v kubectl >/dev/null 2>&1 || need="$need kubernetes-client"
command -v curl >/dev/null 2>&1 || need="$need curl"
[ -x /usr/share/easy-rsa/easyrsa ] || need="$need easy-rsa"
command -v tmux >/dev/null 2>&1 || need="$need tmux"
command -v strace >/dev/null 2>&1 || need="$need strace"
command -v dot >/dev/null 2>&1 || need="$need graphviz"
# prove --fleet (tests/test_fleet_real.py): network namespaces and veth pairs (ip), an sshd in
# each namespace and ssh to it. Only the sshd program is used, inside the namespaces; on a
# machine with systemd the package also enables its own ssh service (systemctl disable --now ssh).
command -v ip >/dev/null 2>&1 || need="$need iproute2"
[ -x /usr/sbin/sshd ] || need="$need openssh-server"
command -v ssh >/dev/null 2>&1 || need="$need openssh-client"
command -v pandoc >/dev/null 2>&1 || need="$need pandoc"
command -v pdfroff >/dev/null 2>&1 || need="$need groff"  # pandoc's PDF engine in the tests
[ -z "$need" ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "installing Debian packages:$need"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
