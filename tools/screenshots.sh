#!/bin/sh
# screenshots.sh - the README's pictures of the web admin: start a node with
# a web admin under a temporary folder (self-signed certificate from
# tools/dev-cert.sh, HTTPS on 127.0.0.1 and a free port), make an account,
# raise two operator alarms so that the pages have something to show, then
# log in with headless Chromium (tests/browser/screenshots.mjs) and save
# 1280x800 PNGs of the Status, Alarms, Clustering and Configuration pages.
#   tools/screenshots.sh [OUT_DIR] [BUILD_DIR]   (defaults: docs/screenshots, build)
# Holds /tmp/cw-it.lock while the node runs (as the integration tests do).
set -eu
cd "$(dirname "$0")/.."
out="${1:-docs/screenshots}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
bin="$(cd "${2:-build}/bin" && pwd)"
[ -x /usr/bin/chromium ] && [ -d tests/browser/node_modules/playwright-core ] ||
  { echo "screenshots.sh: needs /usr/bin/chromium and tests/browser/node_modules (tools/setup-deps.sh)" >&2; exit 1; }
work="$(mktemp -d /tmp/cwshots.XXXXXX)"
port="$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cw() { "$bin/causeway" --config "$work/shots.conf" "$@"; }
cleanup() {
  cw shutdown >/dev/null 2>&1 || true
  [ -n "${daemon:-}" ] && wait "$daemon" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
exec 9>>/tmp/cw-it.lock
flock 9
tools/dev-cert.sh "$work/state" >/dev/null
cat > "$work/shots.conf" <<CONF
node: { name = "vcs-east"; runtime_dir = "$work/run"; state_dir = "$work/state"; log_level = "warn"; };
webadmin: { listen = [ "127.0.0.1:$port" ]; certificate = "$work/state/webadmin.crt"; private_key = "$work/state/webadmin.key"; };
CONF
"$bin/causewayd" --config "$work/shots.conf" > "$work/causewayd.log" 2>&1 &
daemon=$!
tries=0
until cw --json actors list 2>/dev/null | grep -q '"webadmin"' &&
      ! cw --json actors list | grep -q '"state": *"\(starting\|stopped\|failed\)"'; do
  tries=$((tries + 1))
  [ "$tries" -lt 100 ] || { echo "screenshots.sh: the node did not start:" >&2; cat "$work/causewayd.log" >&2; exit 1; }
  sleep 0.2
done
password="$(/usr/bin/python3 -c 'import secrets; print(secrets.token_urlsafe(16))')"
( umask 077; printf '%s\n' "$password" > "$work/password" )
cw admin add admin --password-file "$work/password" >/dev/null
cw config set system.name vcs-east >/dev/null
cw alarms raise 90010 "Disk /var is 91% full" >/dev/null
cw alarms raise 90020 "Backup older than 7 days" >/dev/null
params="$(/usr/bin/python3 -c 'import json, sys; print(json.dumps({"base": sys.argv[1], "name": "admin", "password": sys.argv[2], "dir": sys.argv[3]}))' \
  "https://127.0.0.1:$port" "$password" "$out")"
CW_BROWSER_ARGS="$params" node tests/browser/screenshots.mjs
ls -l "$out"/*.png
