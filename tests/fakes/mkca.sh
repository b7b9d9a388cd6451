#!/bin/sh
# mkca.sh DIR [--force]: test PKI for the fakes, made with the openssl CLI.
#
#   ca.pem / ca.key                 test CA ("vaultvol fakes test CA")
#   server.pem / server.key         SAN *.vault.azure.net, *.example.net (rogue-vault tests), localhost, 127.0.0.1, 127.0.0.2, ::1
#   wronghost.pem / .key            signed by the CA, SAN wrong.invalid only
#   expired.pem / .key              signed by the CA, valid Jan 2020 only
#   untrusted-ca.pem, untrusted.pem / .key   other CA, SAN as server
#   app.pem / app.key               self-signed RSA cert of the fake AAD app
#                                   (client-assertion tests)
#
# Existing files are kept unless --force.  Keys are 0600.
set -eu

dir=${1:?usage: mkca.sh DIR [--force]}
force=${2:-}
mkdir -p "$dir"
# Kept unless --force, or unless made before the vault names were in the SAN.
if [ -s "$dir/server.pem" ] && [ -s "$dir/app.pem" ] && [ "$force" != "--force" ] &&
    grep -q vault.azure.net "$dir/server.san" 2>/dev/null; then
    exit 0
fi
command -v openssl >/dev/null || { echo "mkca.sh: openssl not found" >&2; exit 1; }

umask 077
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkca.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

newkey() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }

mkca() { # name cn
    newkey "$dir/$1.key"
    openssl req -x509 -new -key "$dir/$1.key" -sha256 -days 3650 -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" -out "$dir/$1.pem"
}

leafext() { # san
    cat > "$tmp/ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=$1
EOF
}

leaf() { # name ca san
    newkey "$dir/$1.key"
    openssl req -new -key "$dir/$1.key" -subj "/CN=$1.fakes.vaultvol.test" -out "$tmp/$1.csr"
    leafext "$3"
    openssl x509 -req -in "$tmp/$1.csr" -CA "$dir/$2.pem" -CAkey "$dir/$2.key" \
        -CAcreateserial -CAserial "$tmp/$2.srl" -days 825 -sha256 \
        -extfile "$tmp/ext" -out "$dir/$1.pem" 2>/dev/null
}

# Vault names as production has them (clients pin them to loopback with
# VAULTVOL_TEST_RESOLVE), plus the loopback names for the fakes' own tests.
SAN="DNS:*.vault.azure.net,DNS:*.example.net,DNS:localhost,IP:127.0.0.1,IP:127.0.0.2,IP:::1"

mkca ca "vaultvol fakes test CA"
leaf server ca "$SAN"
echo "$SAN" >"$dir/server.san"
leaf wronghost ca "DNS:wrong.invalid"

# An expired leaf needs explicit dates, which only `openssl ca` sets on 3.0.
newkey "$dir/expired.key"
openssl req -new -key "$dir/expired.key" -subj "/CN=expired.fakes.vaultvol.test" -out "$tmp/expired.csr"
leafext "$SAN"
mkdir -p "$tmp/db"
: > "$tmp/db/index.txt"
echo 1000 > "$tmp/db/serial"
cat > "$tmp/ca.cnf" <<EOF
[ca]
default_ca = fake
[fake]
database = $tmp/db/index.txt
serial = $tmp/db/serial
new_certs_dir = $tmp/db
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
commonName = supplied
EOF
openssl ca -batch -config "$tmp/ca.cnf" -cert "$dir/ca.pem" -keyfile "$dir/ca.key" \
    -startdate 20200101000000Z -enddate 20200201000000Z -extfile "$tmp/ext" \
    -in "$tmp/expired.csr" -out "$tmp/expired.pem" 2>/dev/null
openssl x509 -in "$tmp/expired.pem" -out "$dir/expired.pem"

mkca untrusted-ca "some other CA"
leaf untrusted untrusted-ca "$SAN"

newkey "$dir/app.key"
openssl req -x509 -new -key "$dir/app.key" -sha256 -days 3650 \
    -subj "/CN=vaultvol-fakes-aad-app" -out "$dir/app.pem"

chmod 644 "$dir"/*.pem
chmod 600 "$dir"/*.key
echo "mkca.sh: test PKI in $dir"
