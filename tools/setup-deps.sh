#!/bin/sh
# setup-deps.sh - install the Debian 12 packages Causeway builds, runs and
# tests with. Safe to run again; skips apt when everything is present.
set -eu
PACKAGES="build-essential cmake pkg-config libczmq-dev libzmq3-dev libconfig-dev
  libjansson-dev libsodium-dev libsystemd-dev libsqlite3-dev libssl-dev
  libcmocka-dev libc-ares-dev python3 python3-zmq python3-pytest iproute2 openssl dnsmasq-base nftables
  clang libclang-rt-14-dev systemd e2fsprogs libre-dev sip-tester baresip-core kamailio
  libmicrohttpd-dev curl python3-yaml"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup-deps: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
