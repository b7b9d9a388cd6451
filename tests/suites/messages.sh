#!/bin/bash
# What an operator reads (issue 19), on the host with build/vaultvol: rotate
# tells its steps in sentences (the step names only under --json), a failing
# command with --json answers with a JSON error object on stdout (exit status
# unchanged), and the messages the other checks name below.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/suites/lib/common.bash
VV=$PWD/build/vaultvol
T=$(mktemp -d /tmp/vv-messages.XXXXXX)
LOOPS=()
trap suite_cleanup EXIT
[ -x "$VV" ] || { bad "build/vaultvol built"; finish; }
command -v cryptsetup >/dev/null || { bad "cryptsetup CLI installed"; finish; }

mkdir -p "$T/state" "$T/ks"
chmod 700 "$T/state" "$T/ks"
printf '[vault]\nkeystore = %s\n' "$T/ks" >"$T/vv.conf"
chmod 600 "$T/vv.conf"
vv() { "$VV" -c "$T/vv.conf" --state-dir "$T/state" "$@"; }
# is_json_error FILE CAUSE: FILE's last line is {"error": {cause, message, remedy}}.
is_json_error() {
	tail -1 "$1" | python3 -c 'import json,sys
e = json.load(sys.stdin)["error"]
assert e["cause"] == sys.argv[1], e
assert e["message"] and "remedy" in e, e' "$2" 2>/dev/null
}

# ---- rotate: sentences, and step names only with --json -------------------
head -c 64 /dev/urandom >"$T/k"
chmod 600 "$T/k"
truncate -s 32M "$T/img"
if vv key put d1 --from-file "$T/k" >/dev/null 2>&1 &&
   cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file "$T/k" "$T/img" &&
   vv adopt "$T/img" --secret keystore:d1 >/dev/null 2>&1; then
	ok "adopted a LUKS2 image"
else bad "adopted a LUKS2 image"; fi
vv rotate "$T/img" --bek >"$T/rot.out" 2>"$T/rot.err"; rc=$?
if [ $rc -eq 0 ] && ! grep -q '^step ' "$T/rot.out" &&
   grep -q '^Checked the current key: keystore:d1/[0-9a-f]* opens keyslot 0\.$' "$T/rot.out" &&
   grep -q '^Added a keyslot for the new key; the old key (keyslot 0) still opens the volume\.$' "$T/rot.out" &&
   grep -q '^Removed the old key.s keyslot 0 (keystore:d1/' "$T/rot.out" &&
   grep -q '^Done: the volume opens with keystore:d1/[0-9a-f]* (keyslot 1)' "$T/rot.out"; then
	ok "rotate tells its steps in sentences"
else bad "rotate tells its steps in sentences" "rc=$rc $(cat "$T/rot.out")"; fi
vv --json rotate "$T/img" --bek >"$T/rotj.out" 2>/dev/null; rc=$?
steps=$(python3 -c 'import json,sys
print(" ".join(json.loads(l)["step"] for l in open(sys.argv[1]) if l.startswith("{\"step\"")))' \
	"$T/rotj.out" 2>/dev/null)
if [ $rc -eq 0 ] && [ "$steps" = "checked stored keyslot-added token-updated old-keyslot-removed done" ]; then
	ok "rotate --json gives one line per step"
else bad "rotate --json gives one line per step" "rc=$rc steps='$steps'"; fi

# ---- --json makes errors JSON too --------------------------------------------
truncate -s 16M "$T/blank"
vv --json rotate "$T/blank" --bek >"$T/e1.out" 2>"$T/e1.err"; rc=$?
if [ $rc -eq 1 ] && is_json_error "$T/e1.out" system && [ ! -s "$T/e1.err" ]; then
	ok "rotate --json: the failure is a JSON error on stdout, exit 1"
else bad "rotate --json: the failure is a JSON error on stdout, exit 1" \
	"rc=$rc $(cat "$T/e1.out" "$T/e1.err")"; fi
vv --json adopt "$T/blank" --secret keystore:d1 >"$T/e2.out" 2>/dev/null; rc=$?
if [ $rc -eq 1 ] && is_json_error "$T/e2.out" system; then
	ok "adopt --json: a JSON error, exit 1"
else bad "adopt --json: a JSON error, exit 1" "rc=$rc $(cat "$T/e2.out")"; fi
vv --json key show keystore:nope >"$T/e3.out" 2>/dev/null; rc=$?
if [ $rc -eq 1 ] && is_json_error "$T/e3.out" not-found; then
	ok "key show --json: a JSON error, exit 1"
else bad "key show --json: a JSON error, exit 1" "rc=$rc $(cat "$T/e3.out")"; fi
vv rotate "$T/blank" --bek >"$T/e4.out" 2>"$T/e4.err"; rc=$?
if [ $rc -eq 1 ] && [ ! -s "$T/e4.out" ] && grep -q "error: rotate $T/blank: " "$T/e4.err"; then
	ok "rotate without --json: the failure on stderr"
else bad "rotate without --json: the failure on stderr" "rc=$rc $(cat "$T/e4.out" "$T/e4.err")"; fi

# ---- a secret that is no disk key (the fakes' vault) -------------------------
FAKES_START_TIMEOUT=120 tests/fakes/start.sh "$T/fakes" --quiet --kv2-port -1 >/dev/null ||
	{ bad "fakes start"; finish; }
. "$T/fakes/ports.env"
export VAULTVOL_TEST_RESOLVE
VAULTVOL_TEST_RESOLVE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["resolve"])' \
	"$T/fakes/ports.json")
printf '[vault]\nurl = %s\nimds = %s\nca_file = %s\n' "$FAKE_KV_URL" "$FAKE_IMDS_URL" "$FAKE_CA" \
	>"$T/kv.conf"
chmod 600 "$T/kv.conf"
kv() { "$VV" -c "$T/kv.conf" --state-dir "$T/state" "$@"; }
fakectl() { python3 tests/fakes/fakectl.py -s "$T/fakes" -q "$@"; }
fakectl put_secret name=notkey value='this is a password, not a key!' tags='{"owner":"app"}'
kv key show notkey >"$T/nk.out" 2>"$T/nk.err"; rc=$?
if [ $rc -eq 1 ] && grep -q "^reference: *$FAKE_KV_URL/secrets/notkey/" "$T/nk.out" &&
   grep -q '^  owner = app$' "$T/nk.out" && grep -q '^value: *not a base64 key$' "$T/nk.out" &&
   grep -q "key show notkey: $FAKE_KV_URL/secrets/notkey/[0-9a-f]*: the secret's value is not a base64 key" "$T/nk.err" &&
   grep -q "remedy: .*vaultvol key put" "$T/nk.err" && ! grep -q "bad-response" "$T/nk.err"; then
	ok "key show: a secret that is no key: its metadata, then 'not a base64 key'"
else bad "key show: a secret that is no key: its metadata, then 'not a base64 key'" \
	"rc=$rc $(cat "$T/nk.out" "$T/nk.err")"; fi
kv --json key show notkey >"$T/nkj.out" 2>/dev/null; rc=$?
if [ $rc -eq 1 ] && python3 -c 'import json,sys
o = json.load(open(sys.argv[1]))
assert o["tags"] == {"owner": "app"} and o["length"] is None, o
assert o["error"]["cause"] == "config", o
assert "not a base64 key" in o["error"]["message"] and o["error"]["remedy"], o' "$T/nkj.out"; then
	ok "key show --json: the metadata and the error in one object"
else bad "key show --json: the metadata and the error in one object" "rc=$rc $(cat "$T/nkj.out")"; fi

# ---- long messages are kept whole --------------------------------------------
# The vault's own message (3000 bytes here) and the URL it was about reach
# the operator whole: key show's log line, open's per-volume failure, --json.
long=$(python3 -c 'print("m" * 3000 + "END")')
longfault() {
	fakectl fault path='/secrets/*' status=403 count=1 when=authed \
		body="{\"error\":{\"code\":\"Forbidden\",\"message\":\"$long\"}}"
}
longfault
kv key show notkey >/dev/null 2>"$T/long1.err"; rc=$?
if [ $rc -eq 1 ] && grep -q "key show notkey: Key Vault GET notkey: HTTP 403 Forbidden: $long (forbidden)$" "$T/long1.err"; then
	ok "key show: a 3000-byte vault message whole"
else bad "key show: a 3000-byte vault message whole" "rc=$rc $(wc -c <"$T/long1.err") bytes"; fi
head -c 32 /dev/urandom >"$T/lkey"
truncate -s 32M "$T/long.img"
if cryptsetup luksFormat --type luks2 -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	"$T/long.img" "$T/lkey" >/dev/null 2>&1 && LOOPS+=("$(losetup -f --show "$T/long.img")") &&
   fakectl put_secret name=lk value="$(base64 -w0 "$T/lkey")"; then
	cp "$T/kv.conf" "$T/kvl.conf"
	printf '[volume longv]\nmatch = uuid:%s\nkey = lk\n' "$(cryptsetup luksUUID "$T/long.img")" >>"$T/kvl.conf"
	longfault
	"$VV" -c "$T/kvl.conf" --state-dir "$T/state" open --check longv >/dev/null 2>"$T/long2.err"; rc=$?
	if [ $rc -eq 1 ] && grep -q "^longv: FAILED (.*Key Vault GET lk: HTTP 403 Forbidden: $long$" "$T/long2.err"; then
		ok "open: the volume's failure keeps the vault's 3000-byte message"
	else bad "open: the volume's failure keeps the vault's 3000-byte message" \
		"rc=$rc $(head -c 300 "$T/long2.err")"; fi
	longfault
	"$VV" -c "$T/kvl.conf" --state-dir "$T/state" --json open --check longv >"$T/long3.out" 2>/dev/null
	if python3 -c 'import json,sys
o = json.load(open(sys.argv[1]))
v = [v for v in o["volumes"] if v["name"] == "longv"][0]
assert v["message"].endswith("HTTP 403 Forbidden: " + sys.argv[2]), v["message"][-80:]' \
		"$T/long3.out" "$long"; then
		ok "open --json: the message whole"
	else bad "open --json: the message whole" "$(head -c 300 "$T/long3.out")"; fi
else bad "a LUKS2 image on a loop device"; fi

# ---- no device-mapper: our words, once, and only when needed ---------------
# (this build host has none; where device-mapper works, the checks are skipped)
if ! dmsetup version >/dev/null 2>&1; then
	mkdir -p "$T/empty"
	printf '' >"$T/empty.conf"
	chmod 600 "$T/empty.conf"
	"$VV" -c "$T/empty.conf" --state-dir "$T/empty" open --all >"$T/dm1.out" 2>"$T/dm1.err"; rc=$?
	# (loop devices of this or another suite may be listed as undescribed: no failure)
	if [ $rc -eq 0 ] && ! grep -qi "device-mapper\|libdevmapper\|/dev/mapper/control" "$T/dm1.out" "$T/dm1.err"; then
		ok "open --all with nothing to open: no word about device-mapper"
	else bad "open --all with nothing to open: no word about device-mapper" \
		"rc=$rc $(cat "$T/dm1.out" "$T/dm1.err")"; fi
	if [ ${#LOOPS[@]} -gt 0 ]; then
		"$VV" -c "$T/kvl.conf" --state-dir "$T/state" open longv >/dev/null 2>"$T/dm2.err"; rc=$?
		if [ $rc -eq 1 ] &&
		   [ "$(grep -c "device-mapper is not available on this machine" "$T/dm2.err")" = 1 ] &&
		   grep -q "remedy: load device-mapper and dm-crypt (modprobe dm_mod dm_crypt)" "$T/dm2.err" &&
		   ! grep -qi "libdevmapper\|/dev/mapper/control: open failed\|Failure to communicate" "$T/dm2.err"; then
			ok "open of a volume without device-mapper: one sentence of ours and the fix"
		else bad "open of a volume without device-mapper: one sentence of ours and the fix" \
			"rc=$rc $(cat "$T/dm2.err")"; fi
	fi
else
	ok "device-mapper works here: the no-device-mapper checks do not apply (skipped)"
fi

finish
