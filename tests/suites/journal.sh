#!/bin/bash
# vaultvol's journal entries, on the host, with no systemd: in a private
# mount namespace a stand-in for journald's native socket
# (tests/journal/sink.py at /run/systemd/journal/socket) receives what
# libsystemd's sd_journal_sendv sends. vaultvol runs with stderr as a file
# and JOURNAL_STREAM naming that file's device:inode, the way systemd runs a
# service whose stderr is the journal. Two LUKS2 images on loop devices: one
# whose key is in the fake vault (verified), one whose token names a vault
# no configuration trusts (refused). Checked: one entry per volume with
# VAULTVOL_VOLUME, VAULTVOL_KEY_REF, VAULTVOL_CAUSE and MESSAGE_ID; nothing
# on stderr; neither the key (raw or base64) nor the bearer token in any
# datagram, at debug level (-vv); and with JOURNAL_STREAM naming another file,
# nothing goes to the journal and the lines are on stderr as before. Then the
# secret expires in 5 days: one "key expiring" entry (MESSAGE_ID below) the
# first run, none the second the same day (the day is kept in the state
# directory), one again once the recorded day is an earlier one.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/suites/lib/common.bash
VV=$PWD/build/vaultvol
T=$(mktemp -d /tmp/vv-journal.XXXXXX)
LOOPS=()
trap suite_cleanup EXIT
[ -x "$VV" ] || { bad "build/vaultvol built"; finish; }
if ! unshare -m true 2>/dev/null; then
	bad "a private mount namespace (unshare -m)" "needed to stand in for journald"
	finish
fi
tests/fakes/start.sh "$T/fakes" --quiet --kv2-port -1 >/dev/null || { bad "fakes start"; finish; }
. "$T/fakes/ports.env"
export VAULTVOL_TEST_RESOLVE=$FAKE_RESOLVE
fakectl() { python3 tests/fakes/fakectl.py -s "$T/fakes" "$@"; }

head -c 32 /dev/urandom >"$T/bek"
B64=$(base64 -w0 <"$T/bek")
fakectl -q put_secret name=journal-bek value="$B64"
TOK=$(fakectl -f access_token issue_token)
REF=$FAKE_KV_URL/secrets/journal-bek
BADREF=https://elsewhere.example.net/secrets/x
mkdisk() {	# NAME KEYREF
	truncate -s 20M "$T/$1.img"
	cryptsetup luksFormat --type luks2 -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--key-file "$T/bek" "$T/$1.img" >/dev/null 2>&1 || return 1
	printf '{"type":"vaultvol","keyslots":["0"],"vv_version":1,"key":"%s","name":"%s","mount":"/srv/%s","fs":"ext4"}' \
		"$2" "$1" "$1" >"$T/$1.json"
	cryptsetup token import --json-file "$T/$1.json" "$T/$1.img" >/dev/null 2>&1 || return 1
	LOOPS+=("$(losetup -f --show "$T/$1.img")")
}
if mkdisk jgood "$REF" && mkdisk jbad "$BADREF"; then ok "images on ${LOOPS[*]}"
else bad "images (cryptsetup, loop devices)"; finish; fi
mkdir -p "$T/state" && chmod 700 "$T/state"
printf '[vault]\nurl = %s\nimds = %s\nca_file = %s\n' "$FAKE_KV_URL" "$FAKE_IMDS_URL" "$FAKE_CA" \
	>"$T/vaultvol.conf"
chmod 600 "$T/vaultvol.conf"

# under_journal NAME STREAMFILE: run `vaultvol -vv open --check --all` in a
# namespace whose journal socket is the sink (debug level); stderr to $T/NAME.err,
# JOURNAL_STREAM naming STREAMFILE's device:inode.
under_journal() {
	local n=$1 sf=$2
	unshare -m bash -c '
		set -u
		T=$1 n=$2 sf=$3 VV=$4
		mount -t tmpfs tmpfs /run/systemd/journal 2>/dev/null ||
			{ mkdir -p /run/systemd/journal && mount -t tmpfs tmpfs /run/systemd/journal; } || exit 9
		python3 tests/journal/sink.py /run/systemd/journal/socket "$T/$n.journal" "$T/$n.ready" &
		sink=$!
		for _ in $(seq 100); do [ -e "$T/$n.ready" ] && break; sleep 0.05; done
		: >"$T/$n.err"
		JOURNAL_STREAM=$(stat -L -c "%d:%i" "$sf") "$VV" -vv -c "$T/vaultvol.conf" \
			--state-dir "$T/state" open --check --all >"$T/$n.out" 2>"$T/$n.err"
		echo $? >"$T/$n.rc"
		sleep 0.3
		kill $sink
		wait $sink 2>/dev/null
		exit 0' _ "$T" "$n" "$sf" "$VV"
}
: >"$T/j.err"
under_journal j "$T/j.err"
touch "$T/j.journal" "$T/j.journal.raw"
[ "$(cat "$T/j.rc" 2>/dev/null)" = 1 ] && ok "open --check --all ran, exit 1 (one volume refused)" ||
	bad "open --check --all ran, exit 1" "rc=$(cat "$T/j.rc" 2>/dev/null) $(cat "$T/j.out" "$T/j.err")"
n=$(wc -l <"$T/j.journal")
[ "$n" -gt 0 ] && ok "the journal received $n entries" || bad "the journal received entries"
[ ! -s "$T/j.err" ] && ok "nothing on stderr: the journal is the log" ||
	bad "nothing on stderr" "$(head -5 "$T/j.err")"
# field NAME VOLUME: the value of field NAME in the entry about VOLUME whose MESSAGE_ID is set
q() { python3 - "$T/j.journal" "$@" <<'PY'
import json, sys
path, want = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
for line in open(path):
    e = json.loads(line)
    if all(e.get(k) == v for k, v in want.items()):
        print(json.dumps(e)); sys.exit(0)
sys.exit(1)
PY
}
if e=$(q VAULTVOL_VOLUME=jbad MESSAGE_ID=ba64e56d55a146b29df56d922077d2bc PRIORITY=3 \
	VAULTVOL_KEY_REF="$BADREF" SYSLOG_IDENTIFIER=vaultvol); then
	ok "jbad: one 'volume failed' entry with its volume, key reference, priority"
	echo "    $e"
	c=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("VAULTVOL_CAUSE",""))' "$e")
	[ -n "$c" ] && ok "jbad: VAULTVOL_CAUSE=$c" || bad "jbad: VAULTVOL_CAUSE set"
	grep -q "elsewhere.example.net" <<<"$e" && grep -qi "remedy" <<<"$e" &&
		ok "jbad: the message names the host and the remedy" || bad "jbad: message names host and remedy"
else
	bad "jbad: a 'volume failed' entry with its fields" "$(cat "$T/j.journal")"
fi
if e=$(q VAULTVOL_VOLUME=jgood VAULTVOL_KEY_REF="$REF" PRIORITY=6); then
	ok "jgood: an entry with its volume and key reference"
	grep -q "key verified" <<<"$e" && ok "jgood: says key verified" || bad "jgood: says key verified" "$e"
else
	bad "jgood: an entry with its fields" "$(cat "$T/j.journal")"
fi
q PRIORITY=7 >/dev/null && ok "debug entries reached the journal too (-vv)" || bad "debug entries in the journal"
# No key material, no token, in any datagram.
python3 - "$T/j.journal.raw" "$T/bek" "$B64" "$TOK" <<'PY' && ok "no key (raw, base64) and no bearer token in any datagram" || bad "no key or token in the datagrams"
import sys
raw = open(sys.argv[1], "rb").read()
needles = {"raw key": open(sys.argv[2], "rb").read(), "base64 key": sys.argv[3][:24].encode(),
           "token": sys.argv[4].split(".")[1][:24].encode() if "." in sys.argv[4] else sys.argv[4][:24].encode()}
hits = [k for k, v in needles.items() if v and v in raw]
print("    scanned %d bytes of datagrams; hits: %s" % (len(raw), hits or "none"))
sys.exit(1 if hits or not raw else 0)
PY

grep -qaF "secrets/journal-bek" "$T/j.journal.raw" && ok "scan control: the key's reference is found in the datagrams" ||
	bad "scan control: the key's reference is found in the datagrams"

# Control: JOURNAL_STREAM inherited but stderr is elsewhere (waagent runs the
# handler so): plain lines on stderr, nothing to the journal.
: >"$T/other"
under_journal c "$T/other"
touch "$T/c.journal"
[ ! -s "$T/c.journal" ] && ok "stderr not the journal stream: no journal entry" ||
	bad "stderr not the journal stream: no journal entry" "$(head -3 "$T/c.journal")"
grep -q "jbad: FAILED" "$T/c.err" && ok "stderr not the journal stream: the lines are on stderr" ||
	bad "the lines are on stderr" "$(head -5 "$T/c.err" "$T/c.out")"

# A secret about to expire: in the journal once a day, not once a boot.
EXPIRING=2171a5e7ed5041b0911dfd03eabe58c3
fakectl -q set_attributes name=journal-bek exp=$(( $(date +%s) + 5 * 86400 + 3600 ))
expiring() {	# NAME: the journal entries of run NAME that say the secret expires
	python3 - "$T/$1.journal" "$EXPIRING" <<'PY'
import json, sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("MESSAGE_ID") == sys.argv[2]))
PY
}
for run in e1 e2; do
	: >"$T/$run.err"
	under_journal $run "$T/$run.err"
	touch "$T/$run.journal"
done
if e=$(JQ="$T/e1.journal"; python3 - "$JQ" "$EXPIRING" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("MESSAGE_ID") == sys.argv[2]:
        print(json.dumps(e)); sys.exit(0)
sys.exit(1)
PY
); then
	ok "expiring secret: an entry with MESSAGE_ID=$EXPIRING"
	echo "    $e"
	grep -q '"VAULTVOL_VOLUME": "jgood"' <<<"$e" && grep -q "journal-bek" <<<"$e" &&
		grep -q "(in 5 days)" <<<"$e" && grep -q "vaultvol rotate" <<<"$e" &&
		grep -q '"PRIORITY": "4"' <<<"$e" &&
		ok "expiring secret: names the volume, the secret, the days left and what to do" ||
		bad "expiring secret: names the volume, the secret, the days left and what to do" "$e"
else
	bad "expiring secret: an entry with MESSAGE_ID=$EXPIRING" "$(cat "$T/e1.journal")"
fi
[ "$(expiring e1)" = 1 ] && ok "first run of the day: one expiry entry" ||
	bad "first run of the day: one expiry entry" "$(expiring e1)"
[ "$(expiring e2)" = 0 ] && ok "second run the same day: no expiry entry" ||
	bad "second run the same day: no expiry entry" "$(expiring e2)"
grep -q '"jgood/secret"' "$T/state/expiry-warned.json" 2>/dev/null &&
	[ "$(stat -c %a "$T/state/expiry-warned.json")" = 600 ] &&
	ok "the day is kept in the state directory (expiry-warned.json, 0600)" ||
	bad "the day is kept in the state directory" "$(ls -l "$T/state" 2>&1)"
# A day later (the recorded day moved back, as a day passing would).
sed -i 's/"[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]"/"2000-01-01"/' "$T/state/expiry-warned.json"
: >"$T/e3.err"
under_journal e3 "$T/e3.err"
touch "$T/e3.journal"
[ "$(expiring e3)" = 1 ] && ok "the next day: one expiry entry again" ||
	bad "the next day: one expiry entry again" "$(expiring e3)"
[ ! -s "$T/e1.err" ] && [ ! -s "$T/e2.err" ] && ok "expiry runs: nothing on stderr" ||
	bad "expiry runs: nothing on stderr" "$(head -3 "$T/e1.err" "$T/e2.err")"
finish
