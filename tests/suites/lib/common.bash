# Sourced by the host suites in tests/suites/ (not a suite itself: check.sh
# runs tests/suites/*.sh, and this file is not one). Each suite ends with
# finish, whose "N passed, N failed" line is what check.sh sums.
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }
finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
}
# suite_cleanup: detach the loop devices in LOOPS, stop the fakes under
# $T/fakes and remove $T (the suite's EXIT trap calls it).
suite_cleanup() {
	local l
	for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
	tests/fakes/stop.sh "$T/fakes" >/dev/null 2>&1
	rm -rf "$T"
}
# suite_vault TIMEOUT_S: the Key Vault and IMDS fakes under $T/fakes (no
# secondary vault), their ports sourced, the vault's real name pinned to
# loopback, retry back-off scaled down (the retries still happen, in
# milliseconds), and $T/etc/vaultvol.conf naming them with [vault] timeout
# = TIMEOUT_S; $T/etc and $T/state private. Fails when the fakes do not start.
suite_vault() {
	FAKES_START_TIMEOUT=120 tests/fakes/start.sh "$T/fakes" --quiet --kv2-port -1 >/dev/null ||
		return 1
	. "$T/fakes/ports.env"
	export VAULTVOL_TEST_RESOLVE=$FAKE_RESOLVE
	export VV_TEST_BACKOFF_SCALE=0.01
	mkdir -p "$T/etc" "$T/state"
	chmod 700 "$T/etc" "$T/state"
	printf '[vault]\nurl = %s\nimds = %s\nca_file = %s\ntimeout = %s\n' \
		"$FAKE_KV_URL" "$FAKE_IMDS_URL" "$FAKE_CA" "$1" >"$T/etc/vaultvol.conf"
	chmod 600 "$T/etc/vaultvol.conf"
}
# rogue_start: the rogue vault (tests/fakes/rogue_vault.py) on loopback with
# the fakes' certificate (under $T/fakes), logging every request to
# $T/rogue.log (emptied once it listens); sets ROGUE_PID and RPORT (its port).
# Fails when it does not come up.
rogue_start() {
	python3 tests/fakes/rogue_vault.py --cert "$T/fakes/server.pem" --key "$T/fakes/server.key" \
		--log "$T/rogue.log" --port-file "$T/rogue.port" &
	ROGUE_PID=$!
	for _ in $(seq 100); do [ -s "$T/rogue.port" ] && break; sleep 0.1; done
	RPORT=$(cat "$T/rogue.port" 2>/dev/null)
	[ -n "$RPORT" ] || return 1
	: >"$T/rogue.log"
}
# etc_fixture DIR: DIR/vaultvol as an overlay's upper /etc/vaultvol for the
# initramfs suites: vaultvol.conf naming a vault and a ca_file ($T/
# ca-not-really.pem), a conf.d drop-in, and a keystore entry whose value is
# $keyval (which must end up in no initramfs).
etc_fixture() {
	keyval="c2VjcmV0LWtleXN0b3JlLXZhbHVlLW5ldmVyLWNvcGllZA=="
	mkdir -p "$1/vaultvol/conf.d" "$1/vaultvol/keys/root"
	echo "$keyval" >"$1/vaultvol/keys/root/1"
	cp tests/fakes/README.md "$T/ca-not-really.pem"
	printf '[vault]\nurl = https://myvault.vault.azure.net\nca_file = %s\n' "$T/ca-not-really.pem" \
		>"$1/vaultvol/vaultvol.conf"
	printf '[vault]\nallowed = https://other.vault.azure.net\n' >"$1/vaultvol/conf.d/50-op.conf"
}
