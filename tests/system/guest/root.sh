# Guest helpers of the encrypted-root scenarios (bash; root_token and
# root_bek: initramfs-tools, root_dracut: dracut), sourced by their boot scripts
# after tests/system/guest/lib.sh:
#   root_prepare        boot 1 up to the copy: the fakes; `vaultvol
#                       provision` makes a LUKS2 volume on /dev/vdb with a
#                       vaultvol token (key in the fake vault) named vvroot,
#                       mounted at $NEW (/mnt/newroot); the fakes' state to
#                       the state disk /dev/vdc (never the initramfs); the
#                       running root copied into it; the copy's fstab and
#                       crypttab (`vvroot UUID=... none luks`); the copy's
#                       fakes and vaultvol boot units off (the root needs
#                       neither: the initramfs unlocks it); the test-only
#                       fakes starter (root/fakes-initrd.sh) at
#                       $NEW/usr/local/sbin/vv-test-fakes-initrd; KVHOST is
#                       the vault's host name (the initramfs's /etc/hosts)
#   root_copy DEV       the copy alone (root_prepare's second half; root_bek
#                       makes its volume itself): the running root copied
#                       into $NEW (the LUKS volume DEV open as vvroot and
#                       mounted there), fstab, crypttab, boot units off; UUID
#                       is DEV's LUKS UUID
#   root_python_tree DIR  the python3.11 standard library (no tests, no
#                       GUI, no site-packages) into DIR, for the fakes in
#                       the initramfs
#   root_chroot_begin / root_chroot_end
#                       /dev, /proc, /sys, /run and /vv (the payload: the
#                       files and the tests tree, whose root.sh the test
#                       hooks source) bound into $NEW for a chroot (a
#                       package install in the copy, as d-i does it) /
#                       unbound
#   root_export [FILE]...
#                       the copy's kernel and initramfs exported (sys_export),
#                       with vvroot's LUKS UUID (file uuid) and FILEs;
#                       vvroot unmounted and closed
#   root_verify UNPACK  boot 2: / is /dev/mapper/vvroot (LUKS2), the system
#                       is running, and the key is in none of the files of
#                       the initramfs (UNPACK IMAGE DIR unpacks it), the
#                       journal or /run; ROOT_NEEDLES (NAME=FILE ...) names
#                       the secrets to look for instead of the fakes' vault
#                       secrets
NEW=/mnt/newroot

root_prepare() {
	local rec="--recovery print --recovery-iterations 4 --recovery-memory 32768"
	step fakes-up sys_fakes_install
	sys_vault_setup
	step provision-root sh -c "vaultvol provision /dev/vdb --secret rootkey --name vvroot \
		--mount $NEW $rec >/var/lib/vv-fakes/recovery.out"
	step fakes-saved sys_fakes_save
	# The fakes' state on a disk of its own, read by the initramfs at boot.
	step state-disk sh -c 'tar -C /var/lib/vv-fakes -cf /dev/vdc state.json && sync'
	root_copy /dev/vdb
	install -D -m 755 /vv/tests/system/guest/root/fakes-initrd.sh $NEW/usr/local/sbin/vv-test-fakes-initrd
	KVHOST=$(echo "$FAKE_KV_URL" | sed 's|^https://||; s|[:/].*||')
}

root_copy() {
	local t0
	t0=$(now_ms)
	step copy-root sh -c "tar -C / --one-file-system --exclude=./vv --exclude=./mnt \
		--exclude=./usr/src --exclude='./var/cache/apt/archives/*.deb' -cf - . |
		tar -C $NEW -xpf - && mkdir -p $NEW/mnt $NEW/vv $NEW/dev $NEW/proc $NEW/sys $NEW/run $NEW/tmp &&
		chmod 1777 $NEW/tmp"
	metric copy_root_ms $(( $(now_ms) - t0 )) ms
	say "copied: $(du -sxm $NEW | cut -f1) MiB"
	UUID=$(cryptsetup luksUUID "$1")
	awk '$2 != "/"' /etc/fstab >$NEW/etc/fstab
	echo "/dev/mapper/vvroot / ext4 defaults 0 1" >>$NEW/etc/fstab
	echo "vvroot UUID=$UUID none luks" >$NEW/etc/crypttab
	# The root needs neither the fakes' unit nor vaultvol's boot unit (it
	# would find vvroot open; /mnt/newroot is its mount point in the token).
	rm -f $NEW/etc/systemd/system/*/vv-fakes.service $NEW/etc/systemd/system/*/vaultvol-open.service
}

root_python_tree() {
	mkdir -p "$1"
	tar -C /usr/lib/python3.11 --exclude=./lib-dynload --exclude=./test --exclude=./idlelib \
		--exclude=./tkinter --exclude=./ensurepip --exclude=./lib2to3 --exclude=./turtledemo \
		--exclude=./pydoc_data --exclude='./config-*' --exclude=./site-packages \
		--exclude=./dist-packages -cf - . | tar -C "$1" -xf -
}

root_chroot_begin() {
	local m
	for m in dev proc sys run; do mount --bind /$m $NEW/$m; done
	mkdir -p $NEW/vv && mount --bind /vv $NEW/vv
}

root_chroot_end() {
	local m
	umount $NEW/vv
	for m in run sys proc dev; do umount $NEW/$m; done
}

root_export() {
	local kver
	kver=$(uname -r)
	mkdir -p /tmp/k
	cp $NEW/boot/vmlinuz-$kver /tmp/k/vmlinuz && cp $NEW/boot/initrd.img-$kver /tmp/k/initrd.img
	echo "$UUID" >/tmp/k/uuid
	[ $# -gt 0 ] && cp "$@" /tmp/k/
	step kernel-exported sys_export -C /tmp/k vmlinuz initrd.img uuid "${@##*/}"
	[ $# -gt 0 ] && (cd /tmp/k && rm -f "${@##*/}")
	umount $NEW && cryptsetup close vvroot
}

root_verify() {
	step root-is-vvroot sh -c 'findmnt -n -o SOURCE / | tee /dev/stderr | grep -qx /dev/mapper/vvroot'
	step vvroot-luks2 sh -c 'cryptsetup status vvroot | grep -q "type: *LUKS2"'
	sys_step_running
	systemd-analyze time --no-pager >/tmp/time.txt 2>&1; say_file /tmp/time.txt
	mkdir -p /tmp/ir && "$@" /boot/initrd.img-$(uname -r) /tmp/ir
	step key-nowhere sh -c "python3 /vv/tests/system/guest/root/key_nowhere.py /tmp/ir ${ROOT_NEEDLES:-} >/tmp/kn.txt 2>&1;
		rc=\$?; cat /tmp/kn.txt; exit \$rc"
	say_file /tmp/kn.txt
}
