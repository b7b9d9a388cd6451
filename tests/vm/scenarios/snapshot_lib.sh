# vm-suite: no
# Guest-side helpers for the snapshot_* scenarios (not a scenario itself).
# Load with:  . /vv/tests/vm/scenarios/snapshot_lib.sh
# Set SNAP_FS to the mount points the probes write to.

# wait_file PATH MS: wait until PATH exists, at most MS milliseconds.
wait_file() {
	_t=$(now_ms)
	while [ ! -e "$1" ]; do
		[ $(( $(now_ms) - _t )) -gt "$2" ] && return 1
		sleep 0.05
	done
	return 0
}

# probe_start: one background write per filesystem in $SNAP_FS; each
# creates /tmp/probe.N when its write returned (i.e. its filesystem thawed).
# A write on a frozen filesystem sleeps uncaught in the kernel, so never
# wait for one in the foreground.
probe_start() {
	rm -f /tmp/probe.*
	_i=0
	for _m in $SNAP_FS; do
		_i=$((_i + 1))
		( echo probe >>"$_m/.probe" && touch /tmp/probe.$_i ) &
	done
	PROBE_N=$_i
}

# probes_done: every probe's write has returned.
probes_done() {
	_i=0
	while [ $_i -lt "$PROBE_N" ]; do
		_i=$((_i + 1))
		[ -e /tmp/probe.$_i ] || return 1
	done
	return 0
}

# probes_none_done: no probe's write has returned (all filesystems frozen).
probes_none_done() {
	! ls /tmp/probe.* >/dev/null 2>&1
}

# wait_probes MS: wait until all probes are done, at most MS milliseconds.
wait_probes() {
	_t=$(now_ms)
	while ! probes_done; do
		[ $(( $(now_ms) - _t )) -gt "$1" ] && return 1
		sleep 0.05
	done
	return 0
}

# json_has FILE TEXT: the (one-line) JSON report contains TEXT verbatim.
json_has() {
	grep -qF "$2" "$1" || { echo "json_has: '$2' not in $1:"; cat "$1"; return 1; }
}

# marker_field NAME: a number from the frozen-state marker.
marker_field() {
	sed -n "s/.*\"$1\":\\([0-9]*\\).*/\\1/p" /var/lib/vaultvol/frozen.json 2>/dev/null
}
