#!/bin/sh
# dev-cert.sh DIR - make the development node's self-signed web admin
# certificate DIR/webadmin.crt and key DIR/webadmin.key (for 127.0.0.1 and
# localhost), unless both are there already. tools/run.sh calls it at first
# run; etc/causeway-dev.conf's webadmin section names these files.
set -eu
dir=${1:?usage: dev-cert.sh DIR}
[ -s "$dir/webadmin.crt" ] && [ -s "$dir/webadmin.key" ] && exit 0
mkdir -p "$dir"
chmod 700 "$dir"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=localhost" \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$dir/webadmin.key" -out "$dir/webadmin.crt" 2>/dev/null
echo "dev-cert: made $dir/webadmin.crt (self-signed, for https://127.0.0.1 and https://localhost)"
