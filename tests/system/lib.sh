# Host-side harness of the system tier, sourced by run.sh after
# tests/vm/lib.sh (whose vm_disk, host_step, host_metric and vm_record a
# system scenario uses as they are, and whose _vm_* helpers copy the tests
# tree, run QEMU and read the results here; VM_WORK is the scenario's work dir).
# A scenario (tests/system/scenarios/NAME.sh) is a bash script that uses:
#   sys_boot [--disk NAME]... [--serial NAME]... [--mem MB] [--timeout S] <<'EOF'
#       guest script (bash, run by vv-test.service after multi-user.target;
#       step/expect_fail/metric from tests/vm/guest/lib.sh, sys_* helpers
#       from tests/system/guest/lib.sh)
#   EOF
# Every boot boots the same OS disk: $VM_WORK/os.qcow2, a copy-on-write
# overlay over the cached image (changes persist from boot to boot of one
# scenario, never into the image). /dev/vda is the OS disk; the --disk images
# follow as /dev/vdb, /dev/vdc, ... A last disk (serial vvpayload) carries
# the boot's payload as a tar archive: the tests tree, the project's packages
# from `make packages` (/vv/pkgs), the test PKI (/vv/certs), the boot script.

# sys_payload DIR SCRIPT: the tar archive of one boot's payload, on stdout.
_sys_payload() {
	local d=$1
	mkdir -p "$d/tests" "$d/pkgs" "$d/certs"
	_vm_copy_tests "$d/tests"
	cp "$SYS_DEBS"/*.deb "$d/pkgs/"
	cp "$SYS_CERTS/ca.pem" "$SYS_CERTS/server.pem" "$SYS_CERTS/server.key" "$d/certs/"
	cp "$2" "$d/scenario.sh"
	{
		echo "export VV_BOOT=$VM_BOOTS"
		_vm_guest_env
	} >"$d/env.sh"
	tar -C "$d" -cf - .
}

sys_boot() {
	local disks=() serials=() mem=1024 timeout=${SYS_TIMEOUT:-900} extra=""
	_vm_boot_opts sys_boot --serial-ok "$@" || return 2
	VM_BOOTS=$((VM_BOOTS + 1))
	local n=$VM_BOOTS bd="$VM_WORK/boot$VM_BOOTS"
	mkdir -p "$bd/payload"
	cat >"$bd/scenario.sh"
	_sys_payload "$bd/payload" "$bd/scenario.sh" >"$bd/payload.tar"
	rm -rf "$bd/payload"

	local args=(-kernel "$SYS_IMAGE/vmlinuz" -initrd "$SYS_IMAGE/initrd.img"
		-append "root=/dev/vda rw console=ttyS0 panic=-1 loglevel=4 $extra")
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
	_vm_serial_args
	_vm_run "$n" "$bd" "$mem" "$timeout" "$bd/payload.tar" --verbose -- "${args[@]}"
}
