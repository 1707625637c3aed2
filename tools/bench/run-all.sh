#!/bin/sh
# run-all.sh - build (RelWithDebInfo) and run every benchmark, printing the
# numbers the issues name. Uses its own node under a temporary folder and a
# cluster on 127.0.1.1-6. Takes a few minutes; run it on a quiet machine.
#   tools/bench/run-all.sh [BUILD_DIR]      (default: build)
set -eu
cd "$(dirname "$0")/../.."
build="${1:-build}"
tools/setup-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
bin="$build/bin"
work="$(mktemp -d /tmp/cwbench.XXXXXX)"
trap '"$bin/causeway" --config "$work/bench.conf" shutdown >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
cat > "$work/bench.conf" <<CONF
node: { name = "bench"; runtime_dir = "$work/run"; state_dir = "$work/state"; log_level = "warn"; };
supervisor: { intensity = 1000; period_s = 1; };
CONF
"$bin/causewayd" --config "$work/bench.conf" > "$work/causewayd.log" 2>&1 &
sleep 2
echo "== control round trip and causewayd RSS"
"$bin/bench_control" --config "$work/bench.conf"
echo "== actor restart (SIGKILL -> READY), tms and alarms"
"$bin/bench_restart" --config "$work/bench.conf" --actor tms -n 200
"$bin/bench_restart" --config "$work/bench.conf" --actor alarms -n 200
echo "== alarms: raise -> subscriber latency, events/s to 10 subscribers"
"$bin/bench_alarms" --config "$work/bench.conf"
"$bin/causeway" --config "$work/bench.conf" shutdown >/dev/null
echo "== replication data layer (no network)"
"$bin/bench_replog"
echo "== licensing: acquire/release from an actor and over the control socket, pool change on 6 peers"
/usr/bin/python3 tools/bench/bench_license.py --bin "$bin"
echo "== cluster of 6 (TLS peer links)"
/usr/bin/python3 tools/bench/bench_cluster.py --bin "$bin"
echo "== dial plan: transforms + search rules per search (100 transforms, 1,000 search rules)"
"$bin/bench_dialplan"
echo "== SIP: INVITE -> 180 through two peers and through one (127.0.1.1-3)"
/usr/bin/python3 tools/bench/bench_invite.py --bin "$bin"
echo "== SIP search: 100 transforms + 1000 search rules, INVITE -> 180 through a neighbour cluster and a DNS zone (127.0.1.1, 127.0.2.1, dnsmasq on 127.0.3.53)"
/usr/bin/python3 tools/bench/bench_search.py --bin "$bin"
echo "== SIP: REGISTER/s beside Kamailio 5.6, location sync on 3 peers (127.0.1.1-3, Kamailio on 127.0.2.10)"
/usr/bin/python3 tools/bench/bench_sip.py --bin "$bin"
echo "== web admin: GET /api/v1/status and the Status page, 50 keep-alive connections (wrk), webadmin RSS"
/usr/bin/python3 tools/bench/bench_web.py --bin "$bin"
echo "== TMS provisioning: full pull of 2,200,050 rows and a 1,000-row change until served on 3 peers (127.0.1.1-3, manager on 127.0.8.1)"
/usr/bin/python3 tools/bench/bench_tms_pull.py --bin "$bin"
echo "== TMS phone book: 2,000,000 entries, 10,000 searches through the control socket"
/usr/bin/python3 tools/bench/bench_phonebook.py --bin "$bin"
echo "== FindMe: 100,000 accounts in the routing actor (load, memory, locate)"
/usr/bin/python3 tools/bench/bench_findme.py --bin "$bin"
