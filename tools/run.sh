#!/bin/sh
# run.sh - install dependencies, build, and run a Causeway node on
# etc/causeway-dev.conf (sockets and state under var/) until Ctrl-C.
# In another terminal: build/bin/causeway --config etc/causeway-dev.conf status
# At first run it makes the web admin's self-signed certificate
# (tools/dev-cert.sh var/state) and an administrator "admin" whose password
# it prints once (it is stored nowhere in clear; set another with
# build/bin/causeway --config etc/causeway-dev.conf admin passwd admin).
set -eu
cd "$(dirname "$0")/.."
tools/setup-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
mkdir -p var
tools/dev-cert.sh var/state
build/bin/causewayd --config etc/causeway-dev.conf "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true; wait "$pid" || true; exit 0' INT TERM
cli="build/bin/causeway --config etc/causeway-dev.conf"
# The first administrator, once the web admin has loaded the accounts
for _ in $(seq 1 100); do
  list=$($cli --json admin list 2>/dev/null) && printf '%s' "$list" | grep -q '"loaded": *true' && break
  list=
  kill -0 "$pid" 2>/dev/null || { wait "$pid"; exit $?; }
  sleep 0.2
done
if [ -n "${list:-}" ] && ! printf '%s' "$list" | grep -q '"name"'; then
  password=$(openssl rand -base64 15)
  if printf '%s\n' "$password" | $cli admin add admin --password-file /dev/stdin >/dev/null; then
    echo "run: web administrator 'admin' made; its password (shown once, stored nowhere): $password"
  fi
fi
echo "run: web admin at https://127.0.0.1:8443/ (http://127.0.0.1:8080/ redirects there; /metrics for 127.0.0.1)"
wait "$pid"
