# vm-suite: no
# Guest helpers for the demo scenario: narration goes to the host over the
# results channel as SAY lines (tests/vm/demo.sh prints them).
say() {
	echo "SAY $*" >"$VV_RESULTS"
	echo "demo: $*"
}

say_file() {
	while IFS= read -r _l; do say "    $_l"; done <"$1"
}

# The Key Vault + IMDS fakes on fixed loopback ports (the secret URLs in the
# volumes' tokens must stay valid across the restore).
demo_vault_start() {
	mkdir -p /tmp/certs
	(umask 077
	 printf '%s\n' "$VV_CA_PEM" >/tmp/certs/ca.pem
	 printf '%s\n' "$VV_SERVER_PEM" >/tmp/certs/server.pem
	 printf '%s\n' "$VV_SERVER_KEY" >/tmp/certs/server.key
	 printf '%s\n' "$VV_KEK_PEM" >/tmp/kek.pem)
	FAKES_START_TIMEOUT=180 /vv/tests/fakes/start.sh /tmp/fakes --certs /tmp/certs \
		--kv-port 8443 --imds-addr 169.254.169.254 --imds-port 80 --kv2-port -1 \
		--no-limits --quiet "$@" >/dev/null || return 1
	. /tmp/fakes/ports.env
	# The vault is reached by its name (myvault.vault.azure.net), pinned to
	# the guest's loopback: every production check sees a real vault name.
	export VAULTVOL_TEST_RESOLVE=$FAKE_RESOLVE
}

demo_vault_stop() {
	/vv/tests/fakes/stop.sh /tmp/fakes >/dev/null 2>&1
}
