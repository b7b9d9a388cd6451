#!/bin/bash
# The extension handler end to end with the real build/vaultvol against a fake
# waagent tree in a temp dir: HandlerEnvironment.json, <N>.settings whose
# protectedSettings are CMS-encrypted (openssl CLI) to a test certificate kept
# as <THUMBPRINT>.crt/.prv, status files checked field by field, idempotent
# reruns, and hostile settings that must give an "error" status naming the
# problem without touching any volume.
#
# Runs on the host (no device-mapper): the operations it lets succeed touch no
# disk (a reopen restricted to a volume the config does not know, a config
# with no volumes), except a rotate through an AAD application (the fakes on
# loopback, a LUKS2 image on a loop device: rotation needs no device-mapper);
# opening real volumes through the handler is the guest scenario
# tests/vm/scenarios/handler_reopen.sh.
set -u
cd "$(dirname "$0")/../.." || exit 2
VV=${VV:-$PWD/build/vaultvol}
. tests/suites/lib/common.bash
check() {	# NAME CMD...
	local n=$1
	shift
	if "$@"; then ok "$n"; else bad "$n"; fi
}
if [ ! -x "$VV" ]; then
	bad "binary" "$VV missing (run make)"
	finish
fi
T=$(mktemp -d /tmp/vv-handler-suite.XXXXXX)
LOOPS=()
trap suite_cleanup EXIT

# ---- the fake waagent tree -------------------------------------------------
WA=$T/waagent
H=$WA/Vaultvol.Linux-0.1.0
mkdir -p "$WA" "$H/config" "$T/state"
mkcert() {	# NAME -> $T/NAME.crt/.key, prints thumbprint
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/$1.key" -out "$T/$1.crt" \
		-subj "/CN=vaultvol-test-$1" -days 2 2>/dev/null || return 1
	openssl x509 -in "$T/$1.crt" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g'
}
TP=$(mkcert vm) && OTHER=$(mkcert other) || { bad "certificates" "openssl failed"; finish; }
cp "$T/vm.crt" "$WA/$TP.crt"
cp "$T/vm.key" "$WA/$TP.prv"
chmod 600 "$WA/$TP.prv"
cat >"$H/HandlerEnvironment.json" <<EOF
[{"name": "Vaultvol.Linux", "version": "1.0", "handlerEnvironment": {
  "logFolder": "$T/log", "configFolder": "$H/config", "statusFolder": "$H/status",
  "heartbeatFile": "$H/heartbeat.log", "deploymentid": "x", "rolename": "y"}}]
EOF
# An empty configuration: no volume is known, so nothing can be opened.
: >"$T/vaultvol.conf"
chmod 600 "$T/vaultvol.conf"
# A stand-in "volume": any write by the handler would change its hash.
head -c 1048576 /dev/urandom >"$T/volume.img"
VOL_SUM=$(sha256sum <"$T/volume.img")
SECRET="vv-suite-protected-$RANDOM$RANDOM"

encrypt() {	# CERTNAME < plaintext > base64 DER CMS
	openssl cms -encrypt -binary -outform DER -aes256 "$T/$1.crt" | base64 -w0
}
# settings N PUBLIC_JSON [PROTECTED_PLAINTEXT [CERTNAME [THUMBPRINT]]]
settings() {
	local n=$1 pub=$2 prot=${3-} cert=${4:-vm} tp=${5:-$TP} b64
	if [ -n "$prot" ]; then
		b64=$(printf '%s' "$prot" | encrypt "$cert")
		printf '{"runtimeSettings": [{"handlerSettings": {"protectedSettingsCertThumbprint": "%s", "protectedSettings": "%s", "publicSettings": %s}}]}' \
			"$tp" "$b64" "$pub" >"$H/config/$n.settings"
	else
		printf '{"runtimeSettings": [{"handlerSettings": {"publicSettings": %s}}]}' \
			"$pub" >"$H/config/$n.settings"
	fi
}
# The host's own ADE state (/etc/crypttab ...) and Azure LUN links are not
# ours to open: point vaultvol at empty stand-ins.
mkdir -p "$T/root" "$T/luns"
export VAULTVOL_ROOT=$T/root VAULTVOL_LUN_DIR=$T/luns
run() {	# SUBCOMMAND -> $T/out, $T/err, returns exit status
	"$VV" --config "$T/vaultvol.conf" --state-dir "$T/state" handler "$1" \
		--handler-dir "$H" --waagent-dir "$WA" >"$T/out" 2>"$T/err"
}
# field N PYTHON_EXPR: evaluate against the parsed status file as `s`
# (s = the document, st = s[0]["status"]); prints the value.
field() {
	python3 - "$H/status/$1.status" "$2" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
st = s[0]["status"]
v = eval(sys.argv[2])
print(v if not isinstance(v, bool) else ("yes" if v else "no"))
PY
}
is() {	# NAME ACTUAL EXPECTED
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; fi
}
has() {	# NAME HAYSTACK NEEDLE
	case "$2" in *"$3"*) ok "$1" ;; *) bad "$1" "'$2' lacks '$3'" ;; esac
}

# ---- install ------------------------------------------------------------------
run install
is "install: exit 0" $? 0
check "install: status folder created" test -d "$H/status"
check "install: heartbeat ready" grep -q '"status":"ready"' "$H/heartbeat.log"
check "install: log file in logFolder" test -s "$T/log/vaultvol-handler.log"

# ---- enable without settings: nothing to do -------------------------------------
run enable
is "enable (no settings): exit 0" $? 0
check "enable (no settings): no status file" test -z "$(ls -A "$H/status")"

# ---- enable 0: reopen of a volume the config does not know ----------------------
# protected settings carry an AAD client secret (needs aadClientId).
settings 0 '{"operation": "reopen", "volumes": ["data1"], "aadClientId": "00000000-app"}' \
	"{\"aadClientSecret\": \"$SECRET\"}"
run enable
rc=$?
check "enable 0: status file written" test -f "$H/status/0.status"
is "enable 0: exit 1 (the volume failed)" $rc 1
is "status: one element" "$(field 0 'len(s)')" 1
is "status: version" "$(field 0 's[0]["version"]')" 1.0
check "status: timestampUTC format" \
	grep -Eq '"timestampUTC":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"' "$H/status/0.status"
ts=$(field 0 's[0]["timestampUTC"]')
age=$(( $(date -u +%s) - $(date -u -d "$ts" +%s) ))
check "status: timestamp is now (${age}s)" test "$age" -ge 0 -a "$age" -lt 120
is "status: name from HandlerEnvironment" "$(field 0 'st["name"]')" Vaultvol.Linux
is "status: operation" "$(field 0 'st["operation"]')" reopen
is "status: status" "$(field 0 'st["status"]')" error
is "status: code" "$(field 0 'st["code"]')" 1
is "status: code is an integer" "$(field 0 'type(st["code"]).__name__')" int
is "status: lang" "$(field 0 'st["formattedMessage"]["lang"]')" en-US
check "status: message within 1024" test "$(field 0 'len(st["formattedMessage"]["message"])')" -le 1024
is "status: one substatus" "$(field 0 'len(st["substatus"])')" 1
is "substatus: name" "$(field 0 'st["substatus"][0]["name"]')" data1
is "substatus: status" "$(field 0 'st["substatus"][0]["status"]')" error
is "substatus: code non-zero" "$(field 0 'st["substatus"][0]["code"] != 0')" yes
has "substatus: says why" "$(field 0 'st["substatus"][0]["formattedMessage"]["message"]')" data1
is "status: file mode 0600" "$(stat -c %a "$H/status/0.status")" 600
check "status: no temp files left" test "$(ls -A "$H/status")" = 0.status
check "heartbeat: notready after failure" grep -q '"status":"notready"' "$H/heartbeat.log"
check "heartbeat: version 1.0 number" grep -q '"version":1.0' "$H/heartbeat.log"

# ---- rerun of the same sequence number changes nothing --------------------------
before=$(stat -c '%Y.%y' "$H/status/0.status"; sha256sum <"$H/status/0.status")
sleep 1.1
run enable
rc=$?
after=$(stat -c '%Y.%y' "$H/status/0.status"; sha256sum <"$H/status/0.status")
is "rerun 0: same exit status" $rc 1
is "rerun 0: status file unchanged (mtime and content)" "$after" "$before"
check "rerun 0: log says already handled" grep -q "sequence 0 was already handled" "$T/log/vaultvol-handler.log"
# ConfigSequenceNumber naming it explicitly: also not redone.
ConfigSequenceNumber=0 run enable
after=$(stat -c '%Y.%y' "$H/status/0.status"; sha256sum <"$H/status/0.status")
is "ConfigSequenceNumber=0: unchanged" "$after" "$before"

# ---- disable keeps the status and does not cause a redo --------------------------
run disable
is "disable: exit 0" $? 0
check "disable: heartbeat notready" grep -q '"status":"notready"' "$H/heartbeat.log"
after=$(stat -c '%Y.%y' "$H/status/0.status"; sha256sum <"$H/status/0.status")
is "disable: status 0 unchanged" "$after" "$before"
run enable
after=$(stat -c '%Y.%y' "$H/status/0.status"; sha256sum <"$H/status/0.status")
is "enable after disable: not redone" "$after" "$before"

# ---- a newer sequence number with nothing to open: success ------------------------
settings 1 '{"operation": "reopen"}'
run enable
rc=$?
is "enable 1 (empty config): exit 0" $rc 0
is "enable 1: status success" "$(field 1 'st["status"]')" success
is "enable 1: code 0" "$(field 1 'st["code"]')" 0
is "enable 1: no substatus" "$(field 1 'len(st["substatus"])')" 0
check "enable 1: heartbeat ready" grep -q '"status":"ready"' "$H/heartbeat.log"

# ---- hostile settings: error status naming the problem, nothing done -------------
# hostile N NAME EXPECTED_TEXT: run enable on N.settings (already written)
hostile() {
	local n=$1 name=$2 want=$3 rc msg
	run enable
	rc=$?
	if [ ! -f "$H/status/$n.status" ]; then
		bad "$name: status file" "missing"
		return
	fi
	msg=$(field "$n" 'st["formattedMessage"]["message"]')
	if [ "$rc" -eq 2 ] && [ "$(field "$n" 'st["status"]')" = error ] &&
		[ "$(field "$n" 'st["code"]')" = 2 ] &&
		[ "$(field "$n" 'len(st["substatus"])')" = 0 ] &&
		[ "$(field "$n" 'len(st["formattedMessage"]["message"]) <= 1024')" = yes ]; then
		case "$msg" in
		*"$want"*) ok "$name: error naming the problem" ;;
		*) bad "$name" "message '$msg' lacks '$want'" ;;
		esac
	else
		bad "$name" "exit $rc, status $(field "$n" 'st["status"]'), message '$msg'"
	fi
	# Nothing ran: no operation line for this sequence in the log.
	if grep -q "sequence $n: reopen" "$T/log/vaultvol-handler.log"; then
		bad "$name: operation did not run" "it did"
	fi
}
# settings_hostile N NAME EXPECTED_TEXT SETTINGS_ARGS...: write N.settings, then hostile
settings_hostile() {
	local n=$1 name=$2 want=$3
	shift 3
	settings "$n" "$@"
	hostile "$n" "$name" "$want"
}
n=2
settings $n '{"operation": "reopen"}' '{}'
sed -i 's/"protectedSettings": "[^"]*"/"protectedSettings": "%%%not-base64%%%"/' "$H/config/$n.settings"
hostile $n "bad base64" "not valid base64"
settings_hostile 3 "encrypted to another certificate" "not encrypted to certificate $TP" \
	'{"operation": "reopen"}' '{"aadClientSecret": "x"}' other
settings_hostile 4 "unknown certificate thumbprint" \
	"protected settings are encrypted to certificate $OTHER, which is not in $WA (this VM has 1 certificate: $TP): the settings were made for another VM or before its certificate changed; apply the extension settings again so the platform encrypts them to the certificate of this VM" \
	'{"operation": "reopen"}' '{}' other "$OTHER"
settings_hostile 5 "thumbprint path traversal" "not 40 hex digits" \
	'{"operation": "reopen"}' '{}' vm "../../../etc/passwd"
n=6
python3 -c 'import json,sys; json.dump({"runtimeSettings": [{"handlerSettings": {"publicSettings": {"operation": "reopen", "pad": "x" * (1 << 20)}}}]}, open(sys.argv[1], "w"))' \
	"$H/config/$n.settings"
hostile $n "oversized settings (> 1 MiB)" "larger than the 1048576 byte limit"
settings_hostile 7 "wrong type: operation" "publicSettings.operation must be a string" '{"operation": 5}'
settings_hostile 8 "wrong type: volumes" "publicSettings.volumes must be an array" '{"volumes": "data1"}'
settings_hostile 9 "wrong type: volume name" "publicSettings.volumes[0] must be a string" '{"volumes": [42]}'
settings_hostile 10 "unknown key" "unknown key \"volume\"" '{"operation": "reopen", "volume": ["data1"]}'
n=11
printf '{"runtimeSettings": [{"handlerSettings": {"publicSettings": {"operation": "reopen"' >"$H/config/$n.settings"
hostile $n "malformed JSON" "malformed JSON"
settings_hostile 12 "protected plaintext not JSON" "protectedSettings: malformed JSON" \
	'{"operation": "reopen"}' "$SECRET is not JSON"
settings_hostile 13 "protected wrong type" "protectedSettings.aadClientSecret must be a string" \
	'{"operation": "reopen"}' "{\"aadClientSecret\": 7}"
settings_hostile 14 "protected unknown key" "protectedSettings: unknown key \"password\"" \
	'{"operation": "reopen"}' "{\"password\": \"$SECRET\"}"
settings_hostile 15 "unknown operation" "\"format-everything\" is not one of" '{"operation": "format-everything"}'
settings_hostile 16 "volume name traversal" "must be a volume name" "{\"volumes\": [\"../../dev/sda\"]}"
n=17
printf '{"runtimeSettings": [{"handlerSettings": {"publicSettings": %s}}]}' \
	"$(python3 -c 'print("[" * 64 + "]" * 64)')" >"$H/config/$n.settings"
hostile $n "deep nesting" "nested deeper than"
n=18
settings $n '{"operation": "reopen"}' '{}'
# A certificate file that is not the one its name claims.
cp "$T/other.crt" "$WA/$TP.crt"
hostile $n "certificate/thumbprint mismatch" "does not match thumbprint $TP"
cp "$T/vm.crt" "$WA/$TP.crt"
n=19
settings $n "{\"$(head -c 3000 /dev/zero | tr '\0' k)\": 1}"
hostile $n "long unknown key is cut" "unknown key \"kkkk"
is "long unknown key: message bounded" "$(field $n 'len(st["formattedMessage"]["message"]) < 300')" yes

# ---- provision failing on this machine: the reason, and no key source named ---------
# The device is not there: provision stops at its first look (nothing is
# written, no vault asked). A failure of this machine has no key-source
# cause to show; a vault's refusal would add "; key source: CAUSE".
n=20
settings $n '{"operation": "provision", "volumes": [{"name": "d1", "device": "/dev/vv-suite-absent", "key": "keystore:d1"}]}'
run enable
is "provision absent disk: exit 1" $? 1
is "provision absent disk: substatus says why, names no key source" \
	"$(field $n 'st["substatus"][0]["formattedMessage"]["message"]')" \
	"d1: provisioning /dev/vv-suite-absent failed: cannot probe /dev/vv-suite-absent: No such file or directory"

# ConfigSequenceNumber that is not a number: usage error, no status.
ConfigSequenceNumber='1;rm -rf /' run enable
is "ConfigSequenceNumber garbage: exit 2" $? 2
has "ConfigSequenceNumber garbage: explained" "$(cat "$T/err")" "is not a sequence number"
# A sequence number without its settings file.
ConfigSequenceNumber=40 run enable
is "missing N.settings: exit 2" $? 2
has "missing N.settings: status names it" "$(field 40 'st["formattedMessage"]["message"]')" "40.settings"

# ---- nothing secret anywhere, nothing written to the volume -------------------------
check "no secret in status files" sh -c "! grep -r -q -- '$SECRET' '$H/status'"
check "no secret in the log" sh -c "! grep -q -- '$SECRET' '$T/log/vaultvol-handler.log'"
check "no secret in heartbeat or stderr" sh -c "! grep -q -- '$SECRET' '$H/heartbeat.log' '$T/err'"
is "volume image untouched" "$(sha256sum <"$T/volume.img")" "$VOL_SUM"
check "every status file is valid JSON under 128 KB" python3 - "$H/status" <<'PY'
import json, os, sys
d = sys.argv[1]
for f in os.listdir(d):
    p = os.path.join(d, f)
    assert f.endswith(".status"), f
    assert os.path.getsize(p) < 128 * 1024, f
    s = json.load(open(p))
    assert s[0]["status"]["status"] in ("transitioning", "warning", "error", "success")
PY

# ---- environment problems ---------------------------------------------------------
mv "$H/HandlerEnvironment.json" "$T/he.json"
run enable
is "missing HandlerEnvironment.json: exit 2" $? 2
has "missing HandlerEnvironment.json: explained" "$(cat "$T/err")" "HandlerEnvironment.json"
echo '[{"handlerEnvironment": {"configFolder": "relative", "statusFolder": "/x"}}]' >"$H/HandlerEnvironment.json"
run enable
is "relative configFolder: exit 2" $? 2
mv "$T/he.json" "$H/HandlerEnvironment.json"

# ---- an AAD application instead of a managed identity (issue 18) --------------------
# The identity case without managed identity, end to end: public aadClientId,
# protected aadClientSecret, and the config naming the AAD authority
# ([vault] aad_authority = the fake's AAD). rotate is the handler operation
# that needs the vault and no device-mapper: a LUKS2 volume on a loop device
# (provisioned --format-only through IMDS first), found as LUN 1. The
# handler's token comes from the fake AAD, not IMDS; the secret is written
# nowhere.
aad_suite() {
	local A=$T/aad WA2=$T/waagent-aad H2 L imds0 aad0 rc msg old new b64
	H2=$WA2/Vaultvol.Linux-0.1.0
	if ! tests/fakes/start.sh "$T/fakes" --quiet >/dev/null; then
		bad "aad: fakes" "could not start tests/fakes"
		return
	fi
	. "$T/fakes/ports.env"
	export VAULTVOL_TEST_RESOLVE=$FAKE_RESOLVE
	mkdir -p "$A/luns" "$A/state" "$WA2" "$H2/config"
	truncate -s 40M "$A/disk.img"
	if ! L=$(losetup -f --show "$A/disk.img" 2>"$A/losetup.err"); then
		bad "aad: loop device" "$(cat "$A/losetup.err")"
		return
	fi
	LOOPS+=("$L")
	ln -s "$L" "$A/luns/lun1"
	printf '[vault]\nurl = %s\nca_file = %s\nimds = %s\n' "$FAKE_KV_URL" "$FAKE_CA" \
		"$FAKE_IMDS_URL" >"$A/imds.conf"
	printf '[vault]\nurl = %s\nca_file = %s\nimds = %s\naad_authority = %s/\n' "$FAKE_KV_URL" \
		"$FAKE_CA" "$FAKE_IMDS_URL" "$FAKE_AAD_URL" >"$A/vaultvol.conf"
	chmod 600 "$A/imds.conf" "$A/vaultvol.conf"
	if ! VAULTVOL_LUN_DIR=$A/luns "$VV" --config "$A/imds.conf" --state-dir "$A/state" \
		provision "$L" --secret data1 --mount /data1 --format-only --recovery secret \
		>"$A/prov.out" 2>&1; then
		bad "aad: provision --format-only (IMDS)" "$(tail -2 "$A/prov.out")"
		return
	fi
	ok "aad: volume provisioned on $L (through IMDS)"
	fc() { python3 tests/fakes/fakectl.py -s "$T/fakes" -f value counter name="$1"; }
	imds0=$(fc imds.token)
	aad0=$(fc aad.tokens_issued)
	cp "$WA/$TP.crt" "$WA/$TP.prv" "$WA2/"
	sed "s|$H|$H2|g; s|$T/log|$A/log|" "$H/HandlerEnvironment.json" >"$H2/HandlerEnvironment.json"
	b64=$(printf '{"aadClientSecret": "%s"}' "$FAKE_AAD_CLIENT_SECRET" | encrypt vm)
	printf '{"runtimeSettings": [{"handlerSettings": {"protectedSettingsCertThumbprint": "%s", "protectedSettings": "%s", "publicSettings": {"operation": "rotate", "volumes": ["data1"], "aadClientId": "%s"}}}]}' \
		"$TP" "$b64" "$FAKE_AAD_CLIENT_ID" >"$H2/config/0.settings"
	VAULTVOL_LUN_DIR=$A/luns "$VV" --config "$A/vaultvol.conf" --state-dir "$A/state" handler enable \
		--handler-dir "$H2" --waagent-dir "$WA2" >"$A/out" 2>"$A/err"
	rc=$?
	is "aad: enable 0 (rotate): exit 0" $rc 0
	is "aad: status success" "$(H=$H2 field 0 'st["status"]')" success
	is "aad: substatus data1 success" "$(H=$H2 field 0 'st["substatus"][0]["status"]')" success
	msg=$(H=$H2 field 0 'st["substatus"][0]["formattedMessage"]["message"]')
	has "aad: substatus says rotated" "$msg" "data1: rotated $L; key now $FAKE_KV_URL/secrets/data1/"
	new=${msg#*key now }
	new=${new%% *}
	old=${msg##*(was }
	old=${old%)}
	check "aad: the key version changed ($old -> $new)" test -n "$old" -a "$new" != "$old"
	is "aad: one token from the fake AAD" "$(fc aad.tokens_issued)" $((aad0 + 1))
	is "aad: the AAD token request reached the configured authority" \
		"$(fc primary.aad_token.ok)" 1
	is "aad: IMDS not asked for a token" "$(fc imds.token)" "$imds0"
	check "aad: no client secret in status, log, heartbeat, output" \
		sh -c "! grep -r -q -F -- '$FAKE_AAD_CLIENT_SECRET' '$H2/status' '$A/log' '$H2/heartbeat.log' '$A/out' '$A/err'"
	check "aad: no client secret in state, config or the disk" \
		sh -c "! grep -r -a -q -F -- '$FAKE_AAD_CLIENT_SECRET' '$A/state' '$A/vaultvol.conf' '$A/disk.img' \$(ls -d '$A/conf.d' 2>/dev/null)"

	# An authority that is not https: the config error names the line and the fix.
	sed -i "s|^aad_authority = .*|aad_authority = http://login.example.test|" "$A/vaultvol.conf"
	printf '{"runtimeSettings": [{"handlerSettings": {"protectedSettingsCertThumbprint": "%s", "protectedSettings": "%s", "publicSettings": {"operation": "rotate", "volumes": ["data1"], "aadClientId": "%s"}}}]}' \
		"$TP" "$b64" "$FAKE_AAD_CLIENT_ID" >"$H2/config/1.settings"
	aad0=$(fc aad.tokens_issued)
	VAULTVOL_LUN_DIR=$A/luns "$VV" --config "$A/vaultvol.conf" --state-dir "$A/state" handler enable \
		--handler-dir "$H2" --waagent-dir "$WA2" >"$A/out" 2>"$A/err"
	rc=$?
	check "aad: http:// authority: exit non-zero ($rc)" test "$rc" -ne 0
	is "aad: http:// authority: status error" "$(H=$H2 field 1 'st["status"]')" error
	has "aad: http:// authority: message names file:line and the fix" \
		"$(H=$H2 field 1 'st["formattedMessage"]["message"]')" \
		"$A/vaultvol.conf:5: aad_authority: invalid value 'http://login.example.test': the client secret is sent to it, so it must be https://"
	is "aad: http:// authority: no token asked" "$(fc aad.tokens_issued)" "$aad0"
}
aad_suite

# ---- the other commands -------------------------------------------------------------
run update
is "update: exit 0" $? 0
run uninstall
is "uninstall: exit 0" $? 0
"$VV" handler frobnicate >/dev/null 2>&1
is "unknown handler command: exit 2" $? 2
finish
