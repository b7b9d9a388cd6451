#!/bin/bash
# Trust boundaries on the host (issue: a hostile disk, vault answer or file
# cannot steer the agent). A rogue HTTPS "vault" on loopback logs every
# request and answers with a Key Vault challenge (resource=
# "https://vault.azure.net"); the fakes provide IMDS. Two LUKS2 images on
# loop devices carry crafted vaultvol tokens naming the rogue vault (and
# mount=/etc, suid,dev,exec). vaultvol must send the rogue vault no token
# and no body, fetch no IMDS token for it, and name volume, host and fix.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/suites/lib/common.bash
VV=$PWD/build/vaultvol
T=$(mktemp -d /tmp/vv-hostile.XXXXXX)
LOOPS=() ROGUE_PID=""
cleanup() {
	[ -n "$ROGUE_PID" ] && kill "$ROGUE_PID" 2>/dev/null
	suite_cleanup
}
trap cleanup EXIT
[ -x "$VV" ] || { bad "build/vaultvol built"; finish; }

FAKES_START_TIMEOUT=120 tests/fakes/start.sh "$T/fakes" --quiet --kv2-port -1 >/dev/null ||
	{ bad "fakes start"; finish; }
. "$T/fakes/ports.env"
rogue_start || { bad "rogue vault start"; finish; }
PORT=$RPORT
# rogue.example.net is the rogue's name (its certificate has it), pinned to
# loopback the way the tests pin every vault name.
export VAULTVOL_TEST_RESOLVE="rogue.example.net:$PORT:127.0.0.1"
ROGUE=https://rogue.example.net:$PORT
mkdir -p "$T/etc" "$T/state"
chmod 700 "$T/state"
printf '[vault]\nimds = %s\nca_file = %s\n' "$FAKE_IMDS_URL" "$FAKE_CA" >"$T/etc/vaultvol.conf"
chmod 600 "$T/etc/vaultvol.conf"
vv() { "$VV" -c "$T/etc/vaultvol.conf" --state-dir "$T/state" "$@"; }
rogue_count() { grep -c "$1" "$T/rogue.log"; }	# PATTERN
no_auth() { ! grep -q '"authorization": true' "$T/rogue.log"; }
no_body() { ! grep -qv '"body_len": 0' "$T/rogue.log"; }
imds_tokens() { python3 tests/fakes/fakectl.py -s "$T/fakes" -f value counter name=imds.token; }

# refused_unsent NAME [PATTERN...] -- VV_ARGS...: vaultvol VV_ARGS fails, its
# output has every PATTERN, and the rogue got no request at all.
refused_unsent() {
	local name=$1 pats=() p
	shift
	while [ "$1" != -- ]; do pats+=("$1"); shift; done
	shift
	out=$(vv "$@" 2>&1); rc=$?
	for p in "${pats[@]}"; do
		grep -q "$p" <<<"$out" || { bad "$name" "rc=$rc $out"; return; }
	done
	if [ $rc -ne 0 ] && [ ! -s "$T/rogue.log" ]; then ok "$name"
	else bad "$name" "rc=$rc $out"; fi
}

# 1. A URL typed by root naming a host that is no vault name at all.
refused_unsent "key show https://localhost:PORT refused, nothing sent" "localhost:$PORT" -- \
	key show "https://localhost:$PORT/secrets/x"
refused_unsent "key put https://localhost:PORT --generate 32: no request at all" -- \
	key put "https://localhost:$PORT/secrets/y" --generate 32

# 2. A vault name no trusted configuration names.
refused_unsent "key show of an untrusted vault: refused naming host and fix, nothing sent" \
	"not a trusted vault" "allowed = $ROGUE" -- key show "$ROGUE/secrets/x"
refused_unsent "key put to an untrusted vault: nothing sent" -- key put "$ROGUE/secrets/y" --generate 32

# 3. Trusted by a drop-in, but its challenge names an audience it is not in.
mkdir -p "$T/etc/conf.d"
printf '[vault]\nallowed = %s\n' "$ROGUE" >"$T/etc/conf.d/10-rogue.conf"
chmod 600 "$T/etc/conf.d/10-rogue.conf"
out=$(vv key put "$ROGUE/secrets/y" --generate 32 2>&1); rc=$?
if [ $rc -ne 0 ] && grep -q "vault.azure.net" <<<"$out" && [ "$(rogue_count PUT)" -eq 1 ] &&
	no_auth && no_body; then
	ok "key put to a trusted host with a foreign challenge: one probe, no token, no body"
else bad "key put to a trusted host with a foreign challenge: one probe, no token, no body" \
	"rc=$rc $out $(cat "$T/rogue.log")"; fi
[ "$(imds_tokens)" = 0 ] && ok "no IMDS token fetched for the rogue" ||
	bad "no IMDS token fetched for the rogue" "$(imds_tokens)"
rm -f "$T/etc/conf.d/10-rogue.conf"
: >"$T/rogue.log"

# 4. Disks whose tokens name the rogue (and ask for /etc, suid,dev,exec).
if ! command -v cryptsetup >/dev/null || ! losetup -f >/dev/null 2>&1; then
	bad "cryptsetup and a free loop device" "needed for the disk checks"
	finish
fi
head -c 32 /dev/urandom >"$T/key"
mkdisk() {	# NAME KEYREF
	truncate -s 32M "$T/$1.img"
	cryptsetup luksFormat --type luks2 -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		"$T/$1.img" "$T/key" >/dev/null 2>&1 || return 1
	printf '{"type":"vaultvol","keyslots":["0"],"vv_version":1,"key":"%s","name":"%s","mount":"/etc","fs":"ext4","options":"suid,dev,exec"}' \
		"$2" "$1" >"$T/$1.json"
	cryptsetup token import --json-file "$T/$1.json" "$T/$1.img" >/dev/null 2>&1 || return 1
	sha256sum "$T/$1.img" | cut -d' ' -f1 >"$T/$1.sha"
	LOOPS+=("$(losetup -f --show "$T/$1.img")")
}
if mkdisk hostile1 "https://localhost:$PORT/secrets/x" && mkdisk hostile2 "$ROGUE/secrets/x"; then
	ok "hostile images on ${LOOPS[*]}"
else
	bad "hostile images"
	finish
fi
out=$(vv open --check --all 2>&1); rc=$?
echo "$out" | sed 's/^/    /'
[ $rc -ne 0 ] && ok "open --check --all exits non-zero ($rc)" || bad "open --check --all exits non-zero" "$rc"
for n in hostile1 hostile2; do
	grep -q "$n" <<<"$out" && ok "$n named in the output" || bad "$n named in the output"
done
grep -q "localhost:$PORT" <<<"$out" && ok "the host of hostile1's reference is named" ||
	bad "the host of hostile1's reference is named"
grep -q "rogue.example.net:$PORT" <<<"$out" && ok "the host of hostile2's reference is named" ||
	bad "the host of hostile2's reference is named"
if ! grep -q "key verified" <<<"$out"; then ok "no key verified"; else bad "no key verified"; fi
[ ! -s "$T/rogue.log" ] && ok "the rogue vault received no request (no token, no body)" ||
	bad "the rogue vault received no request" "$(cat "$T/rogue.log")"
[ "$(imds_tokens)" = 0 ] && ok "no IMDS token fetched" || bad "no IMDS token fetched"
for l in "${LOOPS[@]}"; do losetup -d "$l"; done
LOOPS=()
for n in hostile1 hostile2; do
	[ "$(sha256sum "$T/$n.img" | cut -d' ' -f1)" = "$(cat "$T/$n.sha")" ] &&
		ok "$n image byte-identical" || bad "$n image byte-identical"
done
finish
