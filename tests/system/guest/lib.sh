# Guest helpers of the system tier (bash), sourced after tests/vm/guest/lib.sh.
#   say TEXT / say_file FILE   text for the host's log (SAY lines)
#   sys_install_packages       the project's .debs from /vv/pkgs with apt,
#                              offline (their dependencies are in the image);
#                              DKMS builds dm-quiesce for the running kernel
#   sys_fakes_install          Key Vault + IMDS fakes as vv-fakes.service
#                              (vault on 127.0.0.1:8443 by its name, IMDS on
#                              169.254.169.254:80 on lo), state kept across
#                              boots in /var/lib/vv-fakes/state.json
#   sys_fakes_env              FAKE_* and VAULTVOL_TEST_RESOLVE of the running fakes
#   sys_fakes_save             export the fakes' state for the next boot
#   sys_vault_setup            /etc/vaultvol/vaultvol.conf naming the fakes'
#                              vault (mode 600), and a vaultvol-open.service
#                              drop-in resolving its name to loopback
#   sys_oneshot_unit NAME DESCRIPTION COMMAND [UNIT_LINES]
#                              /etc/systemd/system/NAME.service: a oneshot
#                              (RemainAfterExit) running COMMAND, wanted by
#                              multi-user.target; UNIT_LINES go under [Unit]
#   sys_step_running           step system-running: the boot finished with
#                              is-system-running "running" (else the failed
#                              units are listed); leaves it in $state
#   fakectl OP k=v...          the fakes' control API
#   sys_export [-C DIR] PATH...  a tar archive of PATHs onto the export disk
#                              (sys_boot --export); the host unpacks it
say() {
	echo "SAY $*" >"$VV_RESULTS"
}

say_file() {
	while IFS= read -r _l; do say "  $_l"; done <"$1"
}

sys_install_packages() {
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		-o Dpkg::Use-Pty=0 /vv/pkgs/*.deb
}

sys_fakes_install() {
	local d=/var/lib/vv-fakes
	rm -rf "$d/fakes"
	mkdir -p -m 700 "$d" "$d/certs"
	cp -r /vv/tests/fakes "$d/fakes"
	install -m 600 /vv/certs/* "$d/certs/"
	cat >"$d/run" <<'X'
#!/bin/sh
# Start the fakes (forking: start.sh returns once they are ready).
pre=""
[ -f /var/lib/vv-fakes/state.json ] && pre="--preload /var/lib/vv-fakes/state.json"
FAKES_START_TIMEOUT=300 exec /var/lib/vv-fakes/fakes/start.sh /run/vv-fakes \
	--certs /var/lib/vv-fakes/certs --kv-port 8443 --kv2-port -1 \
	--imds-addr 169.254.169.254 --imds-port 80 --no-limits --quiet $pre
X
	chmod 700 "$d/run"
	# A network service on this machine's loopback: ordered before the
	# network is "online", as a vault on the network would be reachable then.
	cat >/etc/systemd/system/vv-fakes.service <<'X'
[Unit]
Description=Key Vault and IMDS fakes (vaultvol system tests)
Before=network-online.target vaultvol-open.service

[Service]
Type=forking
PIDFile=/run/vv-fakes/fakes.pid
ExecStartPre=-/sbin/ip addr add 169.254.169.254/32 dev lo
ExecStart=/var/lib/vv-fakes/run
TimeoutStartSec=330

[Install]
WantedBy=multi-user.target
X
	systemctl daemon-reload &&
	systemctl enable --now vv-fakes.service &&
	sys_fakes_env
}

sys_fakes_env() {
	. /run/vv-fakes/ports.env || return 1
	export VAULTVOL_TEST_RESOLVE=$FAKE_RESOLVE FAKES_STATE_DIR=/run/vv-fakes
}

fakectl() {
	python3 -S /var/lib/vv-fakes/fakes/fakectl.py -s /run/vv-fakes "$@"
}

sys_fakes_save() {
	(umask 077; fakectl export >/var/lib/vv-fakes/state.json.tmp) &&
		mv /var/lib/vv-fakes/state.json.tmp /var/lib/vv-fakes/state.json
}

sys_vault_setup() {
	cat >/etc/vaultvol/vaultvol.conf <<C
[vault]
url = $FAKE_KV_URL
ca_file = /var/lib/vv-fakes/certs/ca.pem
C
	chmod 600 /etc/vaultvol/vaultvol.conf
	# Test only: the vault's name resolves to the guest's loopback.
	mkdir -p /etc/systemd/system/vaultvol-open.service.d
	printf '[Service]\nEnvironment=VAULTVOL_TEST_RESOLVE=%s\n' "$VAULTVOL_TEST_RESOLVE" \
		>/etc/systemd/system/vaultvol-open.service.d/vv-test.conf
}

sys_oneshot_unit() {
	{
		printf '[Unit]\nDescription=%s\n' "$2"
		[ -n "${4:-}" ] && printf '%s\n' "$4"
		printf '\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=%s\n' "$3"
		printf '\n[Install]\nWantedBy=multi-user.target\n'
	} >"/etc/systemd/system/$1.service"
}

sys_step_running() {
	state=$(systemctl is-system-running --wait)
	echo "is-system-running: $state"
	[ "$state" = running ] || systemctl --failed --no-pager
	step system-running test "$state" = running
}

sys_export() {
	local dev=/dev/disk/by-id/virtio-vvexport
	[ -b "$dev" ] || { echo "sys_export: no export disk (sys_boot --export MB)" >&2; return 1; }
	tar -cf "$dev" "$@" && sync
}
