#!/bin/sh
# run.sh - install dependencies, build, and run a Causeway node in the
# foreground on etc/causeway-dev.conf (sockets and state under var/).
# In another terminal: build/bin/causeway --config etc/causeway-dev.conf status
set -eu
cd "$(dirname "$0")/.."
tools/setup-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
mkdir -p var
exec build/bin/causewayd --config etc/causeway-dev.conf "$@"
