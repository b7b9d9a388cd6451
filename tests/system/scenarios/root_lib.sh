# Host side of the encrypted-root scenarios (root_token, root_dracut; not a
# scenario: run.sh skips *_lib), sourced by them. Their guest side is
# tests/system/guest/root.sh.
#   root_boot_copy [sys_boot ARGS]... <<'GUEST'
#       boot 2: the kernel and initramfs boot 1 exported, with the root
#       and state disks and root=/dev/mapper/vvroot (ARGS: e.g. --append);
#       the guest script on stdin, as for sys_boot
root_boot_copy() {
	host_step kernel-came-back test -s "$VM_WORK/boot1/export/vmlinuz" -a \
		-s "$VM_WORK/boot1/export/initrd.img"
	sys_boot --disk root --disk fstate --kernel "$VM_WORK/boot1/export" \
		--root /dev/mapper/vvroot --timeout 1800 "$@"
}
