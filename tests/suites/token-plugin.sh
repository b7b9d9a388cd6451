#!/bin/bash
# The libcryptsetup token plugin (issue 16, docs/token-plugin.md) on the
# host, with cryptsetup itself: `cryptsetup open --test-passphrase
# --token-only --token-type vaultvol IMAGE` checks the key the plugin hands
# libcryptsetup without activating anything (no device-mapper needed), and
# luksDump and token import run the plugin's dump and validate.
#
# The host is not changed: cryptsetup 2.6 loads plugins only from its
# compiled-in directory and vaultvol reads /etc/vaultvol, so every command
# runs in a private mount namespace (unshare -m) where a temporary directory
# holding the plugin is bound over the plugin directory and /etc is an
# overlay whose upper layer holds the test's /etc/vaultvol (config with the
# fakes' IMDS and CA, keystore). The plugin reads its configuration where
# it always does; the fakes are reached under the vaults' real names
# through VAULTVOL_TEST_RESOLVE (loopback only), as in the other suites.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/suites/lib/common.bash
VV=$PWD/build/vaultvol
SO=$PWD/build/libcryptsetup-token-vaultvol.so
T=$(mktemp -d /tmp/vv-token-plugin.XXXXXX)
LOOPS=() ROGUE_PID=""
cleanup() {
	[ -n "$ROGUE_PID" ] && kill "$ROGUE_PID" 2>/dev/null
	suite_cleanup
}
trap cleanup EXIT
[ -x "$VV" ] && [ -f "$SO" ] || { bad "build/vaultvol and the plugin built (make userspace)"; finish; }
command -v cryptsetup >/dev/null && command -v unshare >/dev/null ||
	{ bad "cryptsetup and unshare installed"; finish; }

# ---- the shared object exports the token ABI and nothing else ----------------
syms=$(nm -D --defined-only "$SO" | awk '{print $NF}' | sort | tr '\n' ' ')
want="CRYPTSETUP_TOKEN_1.0 cryptsetup_token_buffer_free@@CRYPTSETUP_TOKEN_1.0 \
cryptsetup_token_dump@@CRYPTSETUP_TOKEN_1.0 cryptsetup_token_open@@CRYPTSETUP_TOKEN_1.0 \
cryptsetup_token_validate@@CRYPTSETUP_TOKEN_1.0 cryptsetup_token_version@@CRYPTSETUP_TOKEN_1.0 "
[ "$syms" = "$want" ] && ok "nm -D: only the five ABI symbols, version CRYPTSETUP_TOKEN_1.0" ||
	bad "nm -D: only the five ABI symbols" "$syms"

# ---- the namespace ---------------------------------------------------------------
PLUGDIR=$(cryptsetup --help | sed -n 's/^LUKS2 external token plugin path: \(.*\)\.$/\1/p')
[ -d "$PLUGDIR" ] || { bad "cryptsetup's plugin directory exists" "'$PLUGDIR'"; finish; }
mkdir -p "$T/up/vaultvol" "$T/work" "$T/state"
chmod 700 "$T/up/vaultvol" "$T/state"
# mkns NAME SO: $T/NAME.sh runs its arguments in a namespace with plugin SO.
mkns() {
	mkdir -p "$T/$1"
	cp "$2" "$T/$1/"
	cat >"$T/$1.sh" <<EOF
#!/bin/bash
mount --make-rprivate / &&
	mount -t overlay overlay -o lowerdir=/etc,upperdir=$T/up,workdir=$T/work /etc &&
	mount --bind $T/$1 $PLUGDIR || exit 99
exec "\$@"
EOF
	chmod +x "$T/$1.sh"
}
mkns ns "$SO"
ns() { timeout 120 unshare -m "$T/ns.sh" "$@"; }
vvns() { ns "$VV" --state-dir "$T/state" "$@"; }
# csopen NAME IMAGE [ARGS]: the plugin checks IMAGE's key; output in $T/NAME.out.
csopen() {
	local n=$1 img=$2
	shift 2
	ns cryptsetup open --test-passphrase --token-only --token-type vaultvol "$@" "$img" \
		>"$T/$n.out" 2>&1
}

FAKES_START_TIMEOUT=120 tests/fakes/start.sh "$T/fakes" --quiet --kv2-port -1 >/dev/null ||
	{ bad "fakes start"; finish; }
. "$T/fakes/ports.env"
rogue_start || { bad "rogue vault start"; finish; }
# A vault this machine trusts that does not answer: a port nothing listens on.
DPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DOWN=https://down.vault.azure.net:$DPORT
ROGUE=https://rogue.example.net:$RPORT
export VAULTVOL_TEST_RESOLVE="$FAKE_RESOLVE,rogue.example.net:$RPORT:127.0.0.1,down.vault.azure.net:$DPORT:127.0.0.1"
export VV_TEST_BACKOFF_SCALE=0.01
printf '[vault]\nurl = %s\nallowed = %s\nimds = %s\nca_file = %s\ntimeout = 10\n' \
	"$FAKE_KV_URL" "$DOWN" "$FAKE_IMDS_URL" "$FAKE_CA" >"$T/up/vaultvol/vaultvol.conf"
chmod 600 "$T/up/vaultvol/vaultvol.conf"
fake() { python3 tests/fakes/fakectl.py -s "$T/fakes" "$@"; }
counter() { fake -f value counter "name=$1"; }
VER0=0123456789abcdef0123456789abcdef

# mkimg NAME: a LUKS2 image whose keyslot 0 opens with the passphrase in $T/NAME.key
# (64 hex digits, so the outputs can be searched for it).
mkimg() {
	openssl rand -hex 32 | tr -d '\n' >"$T/$1.key"
	chmod 600 "$T/$1.key"
	truncate -s 32M "$T/$1.img"
	cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--key-file "$T/$1.key" "$T/$1.img"
}
# token NAME KEYREF [KEKREF]: import a vaultvol token for keyslot 0, as the
# host's cryptsetup (no plugin, so nothing validates it).
token() {
	printf '{"type":"vaultvol","keyslots":["0"],"vv_version":1,"key":"%s",%s"name":"%s"}' \
		"$2" "${3:+\"kek\":\"$3\",}" "$1" >"$T/$1.json"
	cryptsetup token import --json-file "$T/$1.json" "$T/$1.img"
}

# ---- 1. a vault-keyed token (Key Vault fake, IMDS fake) ----------------------------
mkimg vault
ID1=$(fake -f id put_bek name=d1 key@="$T/vault.key")
vvns adopt "$T/vault.img" --secret "$ID1" >"$T/adopt1.out" 2>&1 ||
	bad "adopt the vault image" "$(cat "$T/adopt1.out")"
gets=$(counter primary.get_secret)
if csopen vault "$T/vault.img" -v && grep -q "Key slot 0 unlocked" "$T/vault.out" &&
	[ "$(counter primary.get_secret)" -gt "$gets" ]; then
	ok "a vault-keyed token opens (the secret fetched from the vault fake)"
else bad "a vault-keyed token opens" "$(cat "$T/vault.out")"; fi
grep -q "vaultvol: $T/vault.img: volume d1: key $ID1 from keyvault" "$T/vault.out" &&
	ok "-v names the volume and the key reference" || bad "-v names the volume" "$(cat "$T/vault.out")"
csopen vault-debug "$T/vault.img" --debug

# ---- 2. a keystore-keyed token ---------------------------------------------------
mkimg ks
vvns key put keystore:d2 --from-file "$T/ks.key" >/dev/null 2>&1 &&
	vvns adopt "$T/ks.img" --secret keystore:d2 >"$T/adopt2.out" 2>&1 ||
	bad "adopt the keystore image" "$(cat "$T/adopt2.out")"
if csopen ks "$T/ks.img" -v && grep -q "Key slot 0 unlocked" "$T/ks.out" &&
	grep -q "volume d2: key keystore:d2/[0-9a-f]\{32\} from keystore" "$T/ks.out"; then
	ok "a keystore-keyed token opens"
else bad "a keystore-keyed token opens" "$(cat "$T/ks.out")"; fi
csopen ks-debug "$T/ks.img" --debug

# ---- 3. a KEK-wrapped token (the vault unwraps) ----------------------------------
mkimg kek
KID=$(fake -f kid put_key name=kek1 bits=2048)
ID3=$(fake -f id put_bek name=d3 key@="$T/kek.key" kek=kek1)
vvns adopt "$T/kek.img" --secret "$ID3" --kek "$KID" >"$T/adopt3.out" 2>&1 ||
	bad "adopt the wrapped image" "$(cat "$T/adopt3.out")"
unwraps=$(counter primary.unwrapkey)
if csopen kek "$T/kek.img" -v && grep -q "Key slot 0 unlocked" "$T/kek.out" &&
	grep -q "unwrapped with $KID" "$T/kek.out" && [ "$(counter primary.unwrapkey)" -gt "$unwraps" ]; then
	ok "a KEK-wrapped token opens (unwrapped by the vault fake)"
else bad "a KEK-wrapped token opens" "$(cat "$T/kek.out") unwraps $unwraps -> $(counter primary.unwrapkey)"; fi
csopen kek-debug "$T/kek.img" --debug

# ---- 4. luksDump shows the references through the plugin's dump -------------------
ns cryptsetup luksDump "$T/kek.img" >"$T/dump.out" 2>&1
if grep -qF "vaultvol key:     $ID3" "$T/dump.out" &&
	grep -qF "vaultvol key version: ${ID3##*/}" "$T/dump.out" &&
	grep -qF "vaultvol kek:     $KID" "$T/dump.out" && grep -q "vaultvol name:    d3" "$T/dump.out"; then
	ok "luksDump shows the key and KEK references with versions"
else bad "luksDump shows the key and KEK references" "$(cat "$T/dump.out")"; fi
cryptsetup luksDump "$T/kek.img" >"$T/dump-host.out" 2>&1
! grep -q "vaultvol key:" "$T/dump-host.out" && ok "without the plugin luksDump has no such lines (they are the plugin's)" ||
	bad "without the plugin luksDump has no such lines"

# ---- 5. a malformed token is refused by validate ---------------------------------
mkimg bad
printf '{"type":"vaultvol","keyslots":["0"],"vv_version":2,"key":"keystore:d2","name":"bad"}' >"$T/bad.json"
if ! ns cryptsetup token import --json-file "$T/bad.json" "$T/bad.img" >"$T/badimp.out" 2>&1; then
	ok "token import of a malformed vaultvol token: refused (validate)"
else bad "token import of a malformed vaultvol token: refused"; fi
if cryptsetup token import --json-file "$T/bad.json" "$T/bad.img" &&
	! csopen bad "$T/bad.img" --debug && grep -q "validation failed" "$T/bad.out" &&
	grep -q "No usable token (type vaultvol)" "$T/bad.out"; then
	ok "open with a malformed token (imported without the plugin): validate refuses it, -ENOENT"
else bad "open with a malformed token: validate refuses it" "$(cat "$T/bad.out")"; fi

# ---- 6. a vault no trusted configuration names: refused, nothing sent ------------
mkimg rogue
imds=$(counter imds.token)
token rogue "$ROGUE/secrets/x/$VER0"
csopen rogue "$T/rogue.img" -v; rc=$?
if [ $rc -ne 0 ] && grep -q "volume rogue: no key access (untrusted-vault)" "$T/rogue.out" &&
	grep -q "rogue.example.net:$RPORT is not a trusted vault" "$T/rogue.out" &&
	grep -q "No usable token (type vaultvol)" "$T/rogue.out"; then
	ok "an untrusted vault host: refused naming volume, host and cause (-ENOENT)"
else bad "an untrusted vault host: refused" "rc=$rc $(cat "$T/rogue.out")"; fi
[ ! -s "$T/rogue.log" ] && ok "the untrusted vault received no request (no token, no body)" ||
	bad "the untrusted vault received no request" "$(cat "$T/rogue.log")"
[ "$(counter imds.token)" = "$imds" ] && ok "no IMDS token fetched for it" ||
	bad "no IMDS token fetched for it" "$imds -> $(counter imds.token)"

# ---- 7. a token naming a local file: refused, the file never read ----------------
mkimg file
mkfifo "$T/fifo"
token file "file:$T/fifo"
if csopen file "$T/file.img" -v; then
	bad "a file: reference refused" "opened"
elif grep -q "names the local file 'file:$T/fifo' as a key; refused, nothing was read" "$T/file.out"; then
	ok "a token naming a local file: refused, nothing read (a FIFO did not hang it)"
else bad "a file: reference refused" "$(cat "$T/file.out")"; fi

# ---- 8. the vault is down: -EAGAIN, asked once, the passphrase still works -------
mkimg down
token down "$DOWN/secrets/d4/$VER0"
# Preferred, as vaultvol's BEK keyslots are: libcryptsetup asks the token twice.
cryptsetup config --priority prefer --key-slot 0 "$T/down.img"
start=$(date +%s)
csopen down "$T/down.img" -v --debug; rc=$?
took=$(($(date +%s) - start))
if [ $rc -ne 0 ] && grep -q "volume down: no key access (unavailable)" "$T/down.out" &&
	grep -q "Token (type vaultvol) requires additional missing resource" "$T/down.out"; then
	ok "vault unreachable: -EAGAIN (\"requires additional missing resource\"), cause named"
else bad "vault unreachable: -EAGAIN" "rc=$rc $(cat "$T/down.out")"; fi
if [ "$(grep -c "no key access (unavailable)" "$T/down.out")" = 1 ] &&
	grep -q "the answer of a moment ago (-11) again" "$T/down.out"; then
	ok "libcryptsetup's second ask gets the first answer: the vault is tried once (${took}s)"
else bad "the vault is tried once" "$(grep -c "no key access" "$T/down.out") $(cat "$T/down.out")"; fi
if ns cryptsetup open --test-passphrase --token-type vaultvol --key-file "$T/down.key" \
	"$T/down.img" >"$T/fallback.out" 2>&1; then
	ok "without --token-only cryptsetup falls back to the passphrase after the token's -EAGAIN"
else bad "fallback to the passphrase" "$(cat "$T/fallback.out")"; fi

# ---- 9. a key that opens nothing: libcryptsetup's own -EPERM ---------------------
mkimg wrong
ID5=$(fake -f id put_bek name=d5 key=not-this-volumes-key)
token wrong "$ID5"
csopen wrong "$T/wrong.img" -v; rc=$?
if [ $rc -ne 0 ] && grep -q "cannot unlock assigned keyslot(s) (wrong keyslot passphrase)" "$T/wrong.out"; then
	ok "a wrong key: libcryptsetup says wrong keyslot passphrase (-EPERM)"
else bad "a wrong key: -EPERM" "rc=$rc $(cat "$T/wrong.out")"; fi

# ---- 10. no key in any output ---------------------------------------------------
leaks=""
for k in vault ks kek down; do
	key=$(cat "$T/$k.key")
	b64=$(printf %s "$key" | base64 -w0)
	for f in "$T"/*.out; do
		grep -qF -e "$key" -e "$b64" "$f" && leaks="$leaks $k:${f##*/}"
	done
done
n=$(ls "$T"/*.out | wc -l)
[ -z "$leaks" ] && ok "no key (nor its base64) in any of $n cryptsetup/vaultvol outputs (-v and --debug)" ||
	bad "no key in the outputs" "$leaks"

# ---- 11. the plugin built with AddressSanitizer (make unit-asan builds it) ------
ASO=$PWD/build-asan/libcryptsetup-token-vaultvol.so
ASAN=$(gcc -print-file-name=libasan.so 2>/dev/null)
if [ -f "$ASO" ] && [ -f "$ASAN" ] && [ "$ASO" -nt "$(ls -t plugin/* | head -1)" ]; then
	mkns asan "$ASO"
	asan() {
		timeout 120 unshare -m "$T/asan.sh" env LD_PRELOAD="$ASAN" \
			ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:exitcode=66 "$@"
	}
	reports=""
	asan cryptsetup open -v --test-passphrase --token-only --token-type vaultvol "$T/kek.img" \
		>"$T/asan1.log" 2>&1 || reports="$reports open"
	asan cryptsetup open -v --test-passphrase --token-only --token-type vaultvol "$T/down.img" \
		>"$T/asan2.log" 2>&1
	[ $? = 66 ] && reports="$reports down"
	asan cryptsetup open -v --test-passphrase --token-only --token-type vaultvol "$T/rogue.img" \
		>"$T/asan3.log" 2>&1
	[ $? = 66 ] && reports="$reports rogue"
	asan cryptsetup luksDump "$T/kek.img" >"$T/asan4.log" 2>&1 || reports="$reports dump"
	asan cryptsetup token import --json-file "$T/bad.json" "$T/ks.img" >"$T/asan5.log" 2>&1
	[ $? = 66 ] && reports="$reports validate"
	reports="$reports $(grep -l Sanitizer "$T"/asan*.log | tr '\n' ' ')"
	if [ -z "${reports// /}" ]; then
		ok "under ASan+LSan: open (wrapped key, vault down, untrusted vault), dump, validate: no report"
	else bad "under ASan: no report" "$reports $(grep -h -A8 Sanitizer "$T"/asan*.log | head -30)"; fi
else
	echo "skip ASan: build-asan/libcryptsetup-token-vaultvol.so missing or older than plugin/ (make unit-asan)"
fi

finish
