# Sourced by every guest scenario script (busybox sh).
# step NAME CMD...         run CMD; PASS if it exits 0, else FAIL
# expect_fail NAME CMD...  PASS if CMD exits non-zero
# metric NAME VALUE UNIT   report a measured figure to the host
# Results go to the host over the second serial port as one line each.
VV_RESULTS=/dev/ttyS1
VV_TESTS=/vv/tests
VV_SHARED=/vv/shared

_vv_report() {
	echo "$*" >"$VV_RESULTS"
}

step() {
	_n=$1
	shift
	echo "--- step $_n: $*"
	"$@"
	_rc=$?
	if [ "$_rc" -eq 0 ]; then
		_vv_report "STEP PASS $_n"
		echo "--- PASS $_n"
	else
		_vv_report "STEP FAIL $_n exit=$_rc"
		echo "--- FAIL $_n (exit $_rc)"
	fi
	return "$_rc"
}

expect_fail() {
	_n=$1
	shift
	echo "--- step $_n (expect failure): $*"
	if "$@"; then
		_vv_report "STEP FAIL $_n unexpectedly-succeeded"
		echo "--- FAIL $_n (succeeded, failure expected)"
		return 1
	fi
	_vv_report "STEP PASS $_n"
	echo "--- PASS $_n"
	return 0
}

metric() {
	_vv_report "METRIC $1 $2 $3"
	echo "--- metric $1 = $2 $3"
}

# Milliseconds since boot, for timing inside the guest.
now_ms() {
	awk '{printf "%d\n", $1 * 1000}' /proc/uptime
}

# Load the dm-quiesce module built for this kernel (present in the overlay).
load_quiesce() {
	grep -q '^dm_quiesce ' /proc/modules || insmod /vv/dm-quiesce.ko
}
