#!/bin/sh
# make_certs.sh - test certificates for the peer links (TLS between peers).
#
# Usage: make_certs.sh OUTDIR N [IP_PREFIX]
#
# Writes into OUTDIR (created if needed), all PEM, keys unencrypted EC P-256:
#   ca.crt ca.key                     the test CA the peers trust (ca_file)
#   untrusted-ca.crt untrusted-ca.key a second CA nobody trusts
#   peerK.crt peerK.key               K = 1..N, signed by the test CA,
#                                     CN and SAN DNS:peerK.example.com, plus
#                                     SAN IP:<IP_PREFIX>K (default prefix
#                                     "127.0.1."; pass "none" to omit IP SANs)
#   peerK-untrusted.crt/.key          the same names, signed by the untrusted CA
#   wrong-san.crt wrong-san.key       signed by the test CA, SAN/CN
#                                     DNS:wrong.example.com only
# Every leaf certificate has extendedKeyUsage serverAuth,clientAuth (each
# peer is a TLS server and a TLS client). Existing files are overwritten.
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 OUTDIR N [IP_PREFIX|none]" >&2
    exit 2
fi
out=$1
count=$2
prefix=${3:-127.0.1.}
case $count in
    ''|*[!0-9]*) echo "$0: N must be a number" >&2; exit 2 ;;
esac
mkdir -p "$out"
cd "$out"
days=3650

make_ca () {    # name, subject
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$1.key" -out "$1.crt" -days $days -subj "$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" 2>/dev/null
}

make_leaf () {  # name, CA name, CN, subjectAltName
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$1.key" -out "$1.csr" -subj "/O=Causeway tests/CN=$3" 2>/dev/null
    cat > "$1.ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$4
authorityKeyIdentifier=keyid
subjectKeyIdentifier=hash
EXT
    openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial \
        -CAserial "$2.srl" -days $days -sha256 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
    chmod 600 "$1.key"
}

make_ca ca "/O=Causeway tests/CN=Causeway Test CA"
make_ca untrusted-ca "/O=Somebody else/CN=Untrusted Test CA"
chmod 600 ca.key untrusted-ca.key

k=1
while [ $k -le "$count" ]; do
    san="DNS:peer$k.example.com"
    if [ "$prefix" != none ]; then
        san="$san,IP:$prefix$k"
    fi
    make_leaf "peer$k" ca "peer$k.example.com" "$san"
    make_leaf "peer$k-untrusted" untrusted-ca "peer$k.example.com" "$san"
    k=$((k + 1))
done
make_leaf wrong-san ca wrong.example.com "DNS:wrong.example.com"
