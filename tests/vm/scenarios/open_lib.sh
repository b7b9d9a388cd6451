# vm-suite: no
# Guest-side helpers for the open scenarios (restore, bitlocker, open_faults,
# open_bench); not a scenario itself. Load with:
#   . /vv/tests/vm/scenarios/open_lib.sh
# The host side makes the test PKI once (tests/fakes/mkca.sh, seconds on the
# host, minutes under emulation) and passes it in VV_CA_PEM, VV_SERVER_PEM
# and VV_SERVER_KEY (VM_GUEST_ENV).

# Start the Key Vault / IMDS fakes on the guest's loopback: the vault on
# 127.0.0.1, IMDS on 169.254.169.254:80 (vaultvol's default). Sets FAKE_*.
# Extra arguments go to fakes.py (e.g. --preload FILE: control calls made
# before it is ready, cheaper than one fakectl process each under emulation).
open_fakes_start() {
	mkdir -p /tmp/certs
	(umask 077
	 printf '%s\n' "$VV_CA_PEM" >/tmp/certs/ca.pem
	 printf '%s\n' "$VV_SERVER_PEM" >/tmp/certs/server.pem
	 printf '%s\n' "$VV_SERVER_KEY" >/tmp/certs/server.key)
	FAKES_START_TIMEOUT=180 /vv/tests/fakes/start.sh /tmp/fakes --certs /tmp/certs \
		--imds-addr 169.254.169.254 --imds-port 80 --kv2-port -1 --no-limits --quiet "$@" \
		>/dev/null || return 1
	. /tmp/fakes/ports.env
	# The vault is reached by its name (myvault.vault.azure.net), pinned to
	# the guest's loopback: every production check sees a real vault name.
	export VAULTVOL_TEST_RESOLVE=$FAKE_RESOLVE
	export FAKES_STATE_DIR=/tmp/fakes
}

open_fakes_stop() {
	/vv/tests/fakes/stop.sh /tmp/fakes >/dev/null 2>&1
}

# fakectl OP key=value...: the fakes' control API.
fakectl() {
	python3 -S /vv/tests/fakes/fakectl.py -s /tmp/fakes "$@"
}

# SHA-256 of a whole block device.
dev_sha() {
	sha256sum "$1" | cut -d' ' -f1
}
