#!/bin/sh
# run.sh - install dependencies, build, and run a Causeway node in the
# foreground on etc/causeway-dev.conf (sockets and state under var/).
# In another terminal: build/bin/causeway --config etc/causeway-dev.conf status
# The web admin's self-signed certificate is made at first run
# (tools/dev-cert.sh var/state); its metrics: curl -k https://127.0.0.1:8443/metrics
set -eu
cd "$(dirname "$0")/.."
tools/setup-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
mkdir -p var
tools/dev-cert.sh var/state
echo "run: web admin at https://127.0.0.1:8443/ (http://127.0.0.1:8080/ redirects there; /metrics for 127.0.0.1)"
exec build/bin/causewayd --config etc/causeway-dev.conf "$@"
