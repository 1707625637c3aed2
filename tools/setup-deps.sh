#!/bin/sh
# setup-deps.sh - install the Debian 12 packages Causeway builds, runs and
# tests with, and the npm packages of the browser tests (tests/browser:
# playwright-core, driving Debian's chromium). Safe to run again; skips apt
# when everything is present and npm when node_modules matches the lock file.
set -eu
cd "$(dirname "$0")/.."
PACKAGES="build-essential cmake pkg-config libczmq-dev libzmq3-dev libconfig-dev
  libjansson-dev libsodium-dev libsystemd-dev libsqlite3-dev libssl-dev
  libcmocka-dev libc-ares-dev python3 python3-zmq python3-pytest iproute2 openssl dnsmasq-base nftables
  clang libclang-rt-14-dev systemd e2fsprogs libre-dev sip-tester baresip-core kamailio
  libmicrohttpd-dev curl libcurl4-openssl-dev python3-yaml chromium wrk"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup-deps: installing$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
# The browser tests' packages (Node.js and npm come with the machine):
# `npm ci` when node_modules is missing or older than the lock file.
browser=tests/browser
if [ ! -f "$browser/node_modules/.package-lock.json" ] ||
   [ "$browser/package-lock.json" -nt "$browser/node_modules/.package-lock.json" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup-deps: npm not found; the browser tests need Node.js and npm" >&2
    exit 1
  fi
  echo "setup-deps: npm ci --prefix $browser"
  npm ci --prefix "$browser" --no-audit --no-fund --loglevel=error
fi
