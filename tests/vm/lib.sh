# Host-side harness functions, sourced by run.sh before each scenario file.
# A scenario (tests/vm/scenarios/NAME.sh) is a bash script that uses:
#   vm_disk NAME SIZE              create $VM_WORK/NAME.img (sparse)
#   vm_boot [--disk NAME]... [--mem MB] [--timeout S] [--serial NAME]... <<'EOF'
#       guest script (busybox sh; step/expect_fail/metric from guest/lib.sh)
#   EOF
#   host_step NAME CMD...          a step run on the host (e.g. inspect images)
#   host_metric NAME VALUE UNIT    a measured figure from the host side
# Disks appear in the guest as /dev/vda, /dev/vdb, ... in --disk order.
# --serial NAME adds a virtio-serial port NAME whose host end is the unix
# socket $VM_WORK/NAME.sock (the guest sees /dev/vport*p*; see guest_port).
# Results: $VM_WORK/results.tsv, one "PASS|FAIL<TAB>step<TAB>detail" per
# line, plus metrics.tsv; console logs in $VM_WORK/bootN/console.log.

vm_record() {	# STATUS STEP DETAIL
	printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >>"$VM_WORK/results.tsv"
	if [ "$1" = PASS ]; then
		echo "    ok   $2"
	else
		echo "    FAIL $2 ${3:-}"
	fi
}

vm_disk() {
	rm -f "$VM_WORK/$1.img"
	truncate -s "$2" "$VM_WORK/$1.img"
}

host_step() {
	local name=$1
	shift
	if "$@" >>"$VM_WORK/host.log" 2>&1; then
		vm_record PASS "host/$name"
	else
		vm_record FAIL "host/$name" "exit=$? (see $VM_WORK/host.log)"
	fi
}

host_metric() {
	printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$VM_WORK/metrics.tsv"
}

# Shared with tests/system/lib.sh (sourced after this file).

# _vm_copy_tests DEST: the tests tree (fakes, guest helpers), without node modules.
_vm_copy_tests() {
	tar -C "$VV_SRC/tests" --exclude=node_modules --exclude=__pycache__ -cf - . |
		tar -C "$1" -xf -
}

# _vm_guest_env: the VM_GUEST_ENV variables as export lines, on stdout.
_vm_guest_env() {
	for v in ${VM_GUEST_ENV:-}; do
		echo "export $v=\"${!v}\""
	done
}

# _vm_boot_opts FN [--serial-ok] ARGS...: the boot options into the
# caller's locals disks, serials (only with --serial-ok), mem, timeout,
# extra, extras (vm_boot --extra PROGRAM: that program and its libraries,
# packed once by mkinitrd.sh --extra, appended to the initramfs).
_vm_boot_opts() {
	local fn=$1 serial_ok=""
	shift
	[ "${1:-}" = --serial-ok ] && { serial_ok=1; shift; }
	while [ $# -gt 0 ]; do
		case "$1" in
		--disk) disks+=("$2"); shift 2 ;;
		--serial) [ -n "$serial_ok" ] || break; serials+=("$2"); shift 2 ;;
		--mem) mem=$2; shift 2 ;;
		--timeout) timeout=$2; shift 2 ;;
		--cmdline) extra=$2; shift 2 ;;
		--extra) extras+=("$2"); shift 2 ;;
		*) break ;;
		esac
	done
	if [ $# -gt 0 ]; then
		echo "$fn: unknown option $1" >&2
		return 2
	fi
}

# _vm_run N BOOTDIR MEM TIMEOUT DROP [--verbose] -- QEMU-ARGS...: run boot N
# (the machine both tiers share: MEM MB, 2 CPUs, no display, no network,
# console and results on the two serial ports, $VM_ACCEL_ARGS; QEMU-ARGS
# add kernel, append line and disks), delete DROP (its large input) after
# it, and record what the guest reported in BOOTDIR/results.raw.
# --verbose (system tier): also the boot time as a metric, each metric and
# the guest's SAY lines on stdout. 1 when the guest did not finish.
_vm_run() {
	local n=$1 bd=$2 mem=$3 timeout=$4 drop=$5 verbose=""
	shift 5
	[ "$1" = --verbose ] && { verbose=1; shift; }
	shift	# --
	local t0=$SECONDS con=(-serial "file:$bd/console.log")
	# sys_boot --type (its local console_sock): the console is a socket the
	# host types into; QEMU waits for that typist to connect before the
	# guest starts (nothing is lost) and logs the guest's output to the
	# same console.log (never the typed input).
	[ -n "${console_sock:-}" ] && con=(-chardev
		"socket,id=con0,path=$console_sock,server=on,wait=on,logfile=$bd/console.log"
		-serial chardev:con0)
	timeout --kill-after=5 "$timeout" qemu-system-x86_64 \
		-m "$mem" -smp 2 -display none -no-reboot -nic none \
		"${con[@]}" -serial "file:$bd/results.raw" \
		-device virtio-rng-pci $VM_ACCEL_ARGS "$@" \
		>"$bd/qemu.log" 2>&1
	local rc=$?
	rm -f "$drop"
	tr -d '\r' <"$bd/results.raw" >"$bd/results.txt"
	echo "  boot$n: $((SECONDS - t0)) s (kernel $VM_KVER)"
	[ -n "$verbose" ] && host_metric "boot${n}_wall_s" $((SECONDS - t0)) s
	local line status name done_seen=""
	while IFS= read -r line; do
		set -- $line
		case "$1" in
		STEP)
			status=$2 name=$3
			shift 3
			vm_record "$status" "boot$n/$name" "$*"
			;;
		METRIC) printf '%s\t%s\t%s\n' "$2" "$3" "$4" >>"$VM_WORK/metrics.tsv"
			[ -n "$verbose" ] && echo "    metric $2 = $3 $4" ;;
		SAY) [ -n "$verbose" ] && { shift; echo "    | $*"; } ;;
		DONE) done_seen=$2 ;;
		esac
	done <"$bd/results.txt"
	if [ -z "$done_seen" ]; then
		if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
			vm_record FAIL "boot$n/finished" "timed out after ${timeout}s; console: $bd/console.log"
		else
			vm_record FAIL "boot$n/finished" "guest died (qemu exit $rc); console: $bd/console.log"
		fi
		return 1
	fi
	return 0
}

# Builds the per-boot overlay: the things that change between runs.
_vm_overlay() {	# DIR SCRIPT
	local d=$1
	mkdir -p "$d/usr/sbin" "$d/vv/tests" "$d/vv/shared"
	cp "$VV_BUILD/vaultvol" "$d/usr/sbin/vaultvol"
	mkdir -p "$d/usr/local/bin"
	for t in "$VV_BUILD"/vm-tools/*; do
		[ -x "$t" ] && cp "$t" "$d/usr/local/bin/"
	done
	if [ -f "$VV_BUILD/kmod/$VM_KVER/dmtarget/dm-quiesce.ko" ]; then
		cp "$VV_BUILD/kmod/$VM_KVER/dmtarget/dm-quiesce.ko" "$d/vv/"
	fi
	_vm_copy_tests "$d/vv/tests"
	if [ -d "$VV_SHARED/testdata" ]; then
		cp -r "$VV_SHARED/testdata" "$d/vv/shared/"
	fi
	cp "$2" "$d/vv/scenario.sh"
	_vm_guest_env >"$d/vv/env.sh"
	(cd "$d" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet)
}

# vm_tally NAME WORK T0 (run.sh of both tiers, after a scenario): count
# WORK/results.tsv into VM_PASSED and VM_FAILED (no step at all is one
# failure) and print the scenario's line, with its console logs on failure.
vm_tally() {
	local name=$1 work=$2 t0=$3 c
	VM_PASSED=$(grep -c '^PASS' "$work/results.tsv" 2>/dev/null)
	VM_FAILED=$(grep -c '^FAIL' "$work/results.tsv" 2>/dev/null)
	VM_PASSED=${VM_PASSED:-0} VM_FAILED=${VM_FAILED:-0}
	if [ $((VM_PASSED + VM_FAILED)) -eq 0 ]; then
		echo "  FAIL $name: no steps ran"; VM_FAILED=1
	fi
	if [ "$VM_FAILED" -gt 0 ]; then
		echo "  $name: $VM_PASSED passed, $VM_FAILED failed ($((SECONDS - t0)) s); kept $work"
		for c in "$work"/boot*/console.log; do [ -f "$c" ] && echo "  console log: $c"; done
	else
		echo "  $name: $VM_PASSED passed ($((SECONDS - t0)) s)"
	fi
	return 0
}

# vm_test_pki: the test PKI for the guest's fakes, made once on the host
# (tests/fakes/mkca.sh: seconds here, minutes under emulation), exported as
# VV_CA_PEM, VV_SERVER_PEM and VV_SERVER_KEY (add them to VM_GUEST_ENV;
# open_lib.sh's open_fakes_start reads them).
vm_test_pki() {
	tests/fakes/mkca.sh "$VM_WORK/certs" >/dev/null || return 1
	export VV_CA_PEM=$(cat "$VM_WORK/certs/ca.pem") VV_SERVER_PEM=$(cat "$VM_WORK/certs/server.pem")
	export VV_SERVER_KEY=$(cat "$VM_WORK/certs/server.key")
}

# vm_bek_preload N: N random 32-byte BEKs (BEKS, base64, one per line) and
# the fakes' --preload that stores them as secrets bek1..bekN (PRELOAD,
# base64 of the JSON): add both to VM_GUEST_ENV.
vm_bek_preload() {
	export BEKS=$(for _i in $(seq 1 "$1"); do head -c 32 /dev/urandom | base64 -w0; echo; done)
	export PRELOAD=$(python3 -c '
import json, os
beks = os.environ["BEKS"].split()
print(json.dumps([{"op": "put_bek", "name": "bek%d" % (i + 1), "key": k} for i, k in enumerate(beks)]))
' | base64 -w0)
}

VM_BOOTS=0
vm_boot() {
	local disks=() serials=() mem=1024 timeout=${VM_TIMEOUT:-300} extra="" extras=()
	_vm_boot_opts vm_boot --serial-ok "$@" || return 2
	VM_BOOTS=$((VM_BOOTS + 1))
	local n=$VM_BOOTS bd="$VM_WORK/boot$VM_BOOTS" x cpios=()
	for x in "${extras[@]}"; do
		cpios+=("$(dirname "$(dirname "$VM_BASE")")/extra-$x.cpio")
		[ -s "${cpios[-1]}" ] && [ "${cpios[-1]}" -nt tests/vm/mkinitrd.sh ] ||
			tests/vm/mkinitrd.sh --extra "$x" "${cpios[-1]}" || return 2
	done
	mkdir -p "$bd/overlay"
	cat >"$bd/scenario.sh"
	_vm_overlay "$bd/overlay" "$bd/scenario.sh" >"$bd/overlay.cpio"
	cat "$VM_BASE" "${cpios[@]}" "$bd/overlay.cpio" >"$bd/initrd.cpio"
	rm -rf "$bd/overlay" "$bd/overlay.cpio"

	local args=(-kernel "$VM_KERNEL" -initrd "$bd/initrd.cpio"
		-append "console=ttyS0 panic=-1 quiet loglevel=4 $extra")
	local d
	for d in "${disks[@]}"; do
		args+=(-drive "file=$VM_WORK/$d.img,if=virtio,format=raw,cache=unsafe")
	done
	_vm_serial_args
	_vm_run "$n" "$bd" "$mem" "$timeout" "$bd/initrd.cpio" -- "${args[@]}"
}

# Append to args the virtio-serial ports named in serials: each is a unix
# socket $VM_WORK/NAME.sock on the host (a host helper connects to it) and
# /sys/class/virtio-ports/*/name = NAME in the guest.
_vm_serial_args() {
	local d
	[ ${#serials[@]} -gt 0 ] || return 0
	args+=(-device virtio-serial)
	for d in "${serials[@]}"; do
		args+=(-chardev "socket,path=$VM_WORK/$d.sock,server=on,wait=off,id=$d"
			-device "virtserialport,chardev=$d,name=$d")
	done
}
