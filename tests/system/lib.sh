# Host-side harness of the system tier, sourced by run.sh after
# tests/vm/lib.sh (whose vm_disk, host_step, host_metric and vm_record a
# system scenario uses as they are, and whose _vm_* helpers copy the tests
# tree, run QEMU and read the results here; VM_WORK is the scenario's work dir).
# A scenario (tests/system/scenarios/NAME.sh) is a bash script that uses:
#   sys_boot [--disk NAME]... [--serial NAME]... [--mem MB] [--timeout S]
#            [--files NAME=DIR]... [--export MB] [--kernel DIR]
#            [--root DEV] [--append ARGS] [--type PATTERN FILE] <<'EOF'
#       guest script (bash, run by vv-test.service after multi-user.target;
#       step/expect_fail/metric from tests/vm/guest/lib.sh, sys_* helpers
#       from tests/system/guest/lib.sh)
#   EOF
# Every boot boots the same OS disk: $VM_WORK/os.qcow2, a copy-on-write
# overlay over the cached image (changes persist from boot to boot of one
# scenario, never into the image). /dev/vda is the OS disk; the --disk images
# follow as /dev/vdb, /dev/vdc, ... A last disk (serial vvpayload) carries
# the boot's payload as a tar archive: the tests tree, the project's packages
# from `make packages` (/vv/pkgs), the test PKI (/vv/certs), the boot script,
# and each --files DIR's contents in /vv/files/NAME.
# --export MB adds an empty disk (serial vvexport) the guest may write a tar
# archive to (sys_export); the host unpacks it into $VM_WORK/bootN/export/.
# --kernel DIR boots DIR/vmlinuz and DIR/initrd.img instead of the image's
# (e.g. a kernel the guest installed and exported in an earlier boot).
# --root DEV puts root=DEV on the kernel command line instead of
# root=/dev/vda (e.g. /dev/mapper/NAME: a root the initramfs unlocks);
# --append ARGS adds ARGS to it.
# --type PATTERN FILE: when PATTERN appears on the serial console, FILE's
# content and a newline are typed into it, once (tests/system/
# console_type.py; e.g. a passphrase at cryptroot's prompt). FILE stays on
# the host (under $VM_WORK); its content is never logged. The console is
# then a socket QEMU waits on (tests/vm/lib.sh _vm_run), still logged to
# console.log; the step bootN/console-typed records whether it was typed.

# sys_payload DIR SCRIPT: the tar archive of one boot's payload, on stdout.
_sys_payload() {
	local d=$1
	mkdir -p "$d/tests" "$d/pkgs" "$d/certs"
	_vm_copy_tests "$d/tests"
	cp "$SYS_DEBS"/*.deb "$d/pkgs/"
	cp "$SYS_CERTS/ca.pem" "$SYS_CERTS/server.pem" "$SYS_CERTS/server.key" "$d/certs/"
	cp "$2" "$d/scenario.sh"
	local fs
	for fs in "${files[@]}"; do
		mkdir -p "$d/files/${fs%%=*}"
		cp -r "${fs#*=}/." "$d/files/${fs%%=*}/"
	done
	{
		echo "export VV_BOOT=$VM_BOOTS"
		_vm_guest_env
	} >"$d/env.sh"
	tar -C "$d" -cf - .
}

sys_boot() {
	local disks=() serials=() mem=1024 timeout=${SYS_TIMEOUT:-900} extra="" extras=()
	local files=() export_mb="" kdir=$SYS_IMAGE rest=() root=/dev/vda
	local type_pat="" type_file="" console_sock="" typist=""
	while [ $# -gt 0 ]; do
		case "$1" in
		--files) files+=("$2"); shift 2 ;;
		--export) export_mb=$2; shift 2 ;;
		--kernel) kdir=$2; shift 2 ;;
		--root) root=$2; shift 2 ;;
		--append) extra="$extra $2"; shift 2 ;;
		--type) type_pat=$2 type_file=$3; shift 3 ;;
		*) rest+=("$1"); shift ;;
		esac
	done
	_vm_boot_opts sys_boot --serial-ok "${rest[@]}" || return 2
	VM_BOOTS=$((VM_BOOTS + 1))
	local n=$VM_BOOTS bd="$VM_WORK/boot$VM_BOOTS"
	mkdir -p "$bd/payload"
	cat >"$bd/scenario.sh"
	_sys_payload "$bd/payload" "$bd/scenario.sh" >"$bd/payload.tar"
	rm -rf "$bd/payload"

	local args=(-kernel "$kdir/vmlinuz" -initrd "$kdir/initrd.img"
		-append "root=$root rw console=ttyS0 panic=-1 loglevel=4 $extra")
	# Every disk as its own -device, in this order: QEMU creates if=virtio
	# drives after the -device ones, so mixing the two would make the
	# payload /dev/vda. The guest names them vda, vdb, ... in PCI order.
	args+=(-drive "file=$VM_WORK/os.qcow2,if=none,id=os,format=qcow2,cache=unsafe"
		-device virtio-blk-pci,drive=os)
	local d
	for d in "${disks[@]}"; do
		args+=(-drive "file=$VM_WORK/$d.img,if=none,id=d-$d,format=raw,cache=unsafe"
			-device "virtio-blk-pci,drive=d-$d")
	done
	args+=(-drive "file=$bd/payload.tar,if=none,id=vvpayload,format=raw,readonly=on"
		-device "virtio-blk-pci,drive=vvpayload,serial=vvpayload")
	if [ -n "$export_mb" ]; then
		truncate -s "${export_mb}M" "$bd/export.img"
		args+=(-drive "file=$bd/export.img,if=none,id=vvexport,format=raw,cache=unsafe"
			-device "virtio-blk-pci,drive=vvexport,serial=vvexport")
	fi
	_vm_serial_args
	# The kernel named in the boot's line is the one booted.
	local VM_KVER=$VM_KVER
	[ "$kdir" = "$SYS_IMAGE" ] || VM_KVER="from $kdir"
	if [ -n "$type_pat" ]; then
		console_sock=$bd/console.sock
		rm -f "$console_sock"
		python3 "$VV_SRC/tests/system/console_type.py" "$console_sock" "$type_pat" \
			"$type_file" >"$bd/console_type.log" 2>&1 &
		typist=$!
	fi
	_vm_run "$n" "$bd" "$mem" "$timeout" "$bd/payload.tar" --verbose -- "${args[@]}"
	local rc=$?
	if [ -n "$typist" ]; then
		if wait "$typist"; then
			vm_record PASS "boot$n/console-typed"
		else
			vm_record FAIL "boot$n/console-typed" "exit=$? ($(tail -1 "$bd/console_type.log"))"
		fi
		sed 's/^/    /' "$bd/console_type.log"
		rm -f "$console_sock"
	fi
	if [ -n "$export_mb" ]; then
		mkdir -p "$bd/export"
		tar -xf "$bd/export.img" -C "$bd/export" 2>/dev/null ||
			echo "  boot$n: nothing exported"
		rm -f "$bd/export.img"
	fi
	return $rc
}
