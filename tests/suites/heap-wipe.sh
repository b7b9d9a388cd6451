#!/bin/bash
# No bearer token or key is left in freed heap memory: the real vaultvol runs
# `key show` and `open --check` against the fakes (a LUKS2 image on a loop
# device for open) under tests/heapscan/heapscan.so, an LD_PRELOAD scanner
# that searches every block given back by free()/realloc() for the IMDS token
# (the JWT header every fake token starts with), the base64 BEK as Key Vault
# returns it, and the raw BEK. Zero hits are required. The same runs with
# build/tests/vaultvol-nowipe (the wiping allocators compiled out) must have
# hits: that shows the scan finds what it looks for, and that the wiping
# allocators are what removes them. A needle that vaultvol frees unwiped on
# purpose (the secret's URL, not a secret) is found in every run too.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
VV=$PWD/$B/vaultvol NOWIPE=$PWD/$B/tests/vaultvol-nowipe SCAN=$PWD/$B/tests/heapscan.so
. tests/suites/lib/common.bash
if ! make -s B="$B" "$B/vaultvol" "$B/tests/vaultvol-nowipe" "$B/tests/heapscan.so" >/dev/null; then
	bad "build" "make of the scanner and the test binaries failed"
	finish
fi
T=$(mktemp -d /tmp/vv-heapwipe.XXXXXX)
LOOP=
cleanup() {
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	tests/fakes/stop.sh "$T/fakes" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
if ! tests/fakes/start.sh "$T/fakes" --quiet >/dev/null; then
	bad "fakes" "could not start tests/fakes"
	finish
fi
. "$T/fakes/ports.env"
# The fake vault by its vault name, pinned to loopback; trusted by the config.
export VAULTVOL_TEST_RESOLVE=$FAKE_RESOLVE
fakectl() { python3 tests/fakes/fakectl.py -s "$T/fakes" "$@"; }

hex() { xxd -p -c 100000; }
head -c 32 /dev/urandom >"$T/bek"
B64=$(base64 -w0 <"$T/bek")
fakectl -q put_secret name=heapwipe-bek value="$B64"
TOK=$(fakectl -f access_token issue_token)
{
	echo "base64-bek $(printf %s "${B64:0:40}" | hex)"
	echo "raw-bek $(hex <"$T/bek")"
	echo "bearer-token $(printf '%s.' "${TOK%%.*}" | hex)"
} >"$T/needles"
# Not a secret, freed unwiped by vaultvol's own code: the scanner's control.
cp "$T/needles" "$T/needles+control"
echo "control-url $(printf %s "secrets/heapwipe-bek" | hex)" >>"$T/needles+control"

# scan NAME BINARY NEEDLES ARGS...: run under the scanner; hits -> $T/NAME.hits
scan() {
	local name=$1 bin=$2 needles=$3
	shift 3
	rm -f "$T/$name.hits"
	VV_HEAPSCAN_NEEDLES=$needles VV_HEAPSCAN_OUT=$T/$name.hits LD_PRELOAD=$SCAN \
		"$bin" --state-dir "$T/state" --ca-file "$FAKE_CA" --imds "$FAKE_IMDS_URL" "$@" \
		>"$T/$name.out" 2>&1
}
secret_hits() { grep -c '^hit \(base64-bek\|raw-bek\|bearer-token\) ' "$T/$1.hits"; }

expect_clean() {	# NAME: ran, scanned, no secret found
	local n=$1 h
	if ! grep -q '^scanned [1-9]' "$T/$n.hits" 2>/dev/null; then
		bad "$n" "the scanner did not run ($(tail -1 "$T/$n.out"))"
		return
	fi
	h=$(secret_hits "$n")
	if [ "$h" -eq 0 ]; then ok "$n: no token or key in freed memory"
	else bad "$n" "$h freed block(s) held a secret: $(grep '^hit' "$T/$n.hits" | sort | uniq -c | tr '\n' ';')"; fi
}
expect_found() {	# NAME: the control run finds secrets
	local n=$1 h
	h=$(secret_hits "$n")
	if [ "$h" -gt 0 ]; then ok "$n: without wiping the scan finds $h freed block(s) with a secret"
	else bad "$n" "no hit although nothing was wiped: the scan sees nothing"; fi
}
expect_control() {	# NAME: the non-secret needle is found in every run
	if grep -q '^hit control-url ' "$T/$1.hits"; then ok "$1: scanner control needle found"
	else bad "$1" "control needle not found: the scanner misses frees"; fi
}

# ---- key show ----------------------------------------------------------------
REF=$FAKE_KV_URL/secrets/heapwipe-bek
printf '[vault]\nurl = %s\n' "$FAKE_KV_URL" >"$T/vault.conf"
chmod 600 "$T/vault.conf"
if scan show "$VV" "$T/needles+control" -c "$T/vault.conf" key show "$REF"; then
	ok "key show ran"
else bad "key show" "$(tail -2 "$T/show.out")"; fi
expect_clean show
expect_control show
scan show-nowipe "$NOWIPE" "$T/needles" -c "$T/vault.conf" key show "$REF"
expect_found show-nowipe

# ---- open --check on a loop device -----------------------------------------------
truncate -s 20M "$T/luks.img"
if ! cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file "$T/bek" "$T/luks.img" >/dev/null 2>&1; then
	bad "luksFormat" "cannot make the LUKS2 image"
	finish
fi
if ! LOOP=$(losetup -f --show "$T/luks.img" 2>/dev/null); then
	LOOP=
	bad "loop device" "losetup failed (needs root and /dev/loop-control)"
	finish
fi
UUID=$(cryptsetup luksUUID "$T/luks.img")
printf '[vault]\nurl = %s\n\n[volume heapwipe]\nmatch = uuid:%s\nkey = heapwipe-bek\nmount = /mnt/vv-heapwipe\n' \
	"$FAKE_KV_URL" "$UUID" >"$T/vaultvol.conf"
chmod 600 "$T/vaultvol.conf"
if scan open "$VV" "$T/needles+control" -c "$T/vaultvol.conf" open --check heapwipe &&
	grep -q 'key verified' "$T/open.out"; then ok "open --check verified the key"
else bad "open --check" "$(tail -2 "$T/open.out")"; fi
expect_clean open
expect_control open
scan open-nowipe "$NOWIPE" "$T/needles" -c "$T/vaultvol.conf" open --check heapwipe
expect_found open-nowipe
finish
