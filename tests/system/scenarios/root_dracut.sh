# System scenario (issue 16): an encrypted ROOT volume unlocked in a dracut
# initramfs by its vaultvol token, with the key in the vault (the Key Vault +
# IMDS fakes): the RHEL family's initramfs generator, run on Debian 12
# (Debian's dracut 059 replaces initramfs-tools, as on a dracut system).
#   boot 1  as root_token (tests/system/guest/root.sh): vvroot provisioned
#           on /dev/vdb with a vaultvol token, the root copied into it, the
#           fakes' state on /dev/vdc. In the copy: a dracut.conf.d snippet
#           (host-only, the vvroot device added with add_device, no
#           host-only command line) and a test-only dracut module
#           (vvtestfakes: python3 and the fakes, started by a oneshot unit
#           before cryptsetup-pre.target); dracut installed in a chroot of
#           the copy (its trigger builds the initramfs, as on a user's
#           machine); vaultvol's module is in it by its own check() (a LUKS
#           device is needed for the root), with dracut's crypt and systemd
#           modules; the copy's kernel and initramfs are exported.
#   boot 2  that kernel with root=/dev/mapper/vvroot and rd.luks.name=
#           UUID=vvroot: systemd-cryptsetup (dracut's crypt module) opens
#           vvroot through the token plugin, nothing asks for a passphrase;
#           / is /dev/mapper/vvroot, the system is running, and the key is
#           in none of the initramfs's files, the journal or /run.
# system-kernels: 6.1
# system-ci: full-only (about 16 min under emulation, as root_token)
ddebs=$(tests/system/image-debs.sh "$SYS_IMAGE" dracut dracut) ||
	{ host_step dracut-debs false; return 0; }
. tests/system/scenarios/root_lib.sh
vm_disk root 3G
vm_disk fstate 8M

sys_boot --disk root --disk fstate --files ddebs="$ddebs" --export 256 --timeout 2400 <<'GUEST'
set -u
. /vv/tests/system/guest/root.sh
root_prepare
mkdir -p $NEW/etc/dracut.conf.d $NEW/usr/lib/dracut/modules.d/99vvtestfakes
cat >$NEW/etc/dracut.conf.d/90-vv-test.conf <<CONF
# The root is the vaultvol volume vvroot (the copy's / is not mounted from
# it while this is built, so it is named); no host-only command line: the
# test passes root= itself; the fakes' test module.
hostonly="yes"
hostonly_cmdline="no"
add_device+=" /dev/mapper/vvroot "
add_dracutmodules+=" vvtestfakes "
CONF
# Test only, never packaged: python3 and the fakes in the initramfs.
cat >$NEW/usr/lib/dracut/modules.d/99vvtestfakes/module-setup.sh <<MOD
#!/bin/bash
check() { return 255; }
depends() { echo systemd; return 0; }
install() {
	. /vv/tests/system/guest/root.sh
	inst_multiple ip
	inst_binary /usr/bin/python3.11 /usr/bin/python3
	# lib-dynload's modules and their libraries one by one: dracut resolves
	# the libraries of executable files only (these are 0644).
	local so lib
	for so in /usr/lib/python3.11/lib-dynload/*.so; do
		inst_library "\$so"
		ldd "\$so" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p' | while read -r lib; do inst_library "\$lib"; done
	done
	root_python_tree "\$initdir/usr/lib/python3.11"
	mkdir -p "\$initdir/var/lib/vv-fakes"
	cp -r /var/lib/vv-fakes/fakes /var/lib/vv-fakes/certs "\$initdir/var/lib/vv-fakes/"
	inst_simple /usr/local/sbin/vv-test-fakes-initrd
	inst_simple "\$moddir/vv-test-fakes.service" "\$systemdsystemunitdir/vv-test-fakes.service"
	mkdir -p "\$initdir\$systemdsystemunitdir/cryptsetup.target.wants"
	ln -sf ../vv-test-fakes.service "\$initdir\$systemdsystemunitdir/cryptsetup.target.wants/"
	printf '127.0.0.1 localhost $KVHOST\n' >"\$initdir/etc/hosts"
	printf 'hosts: files dns\n' >"\$initdir/etc/nsswitch.conf"
}
MOD
cat >$NEW/usr/lib/dracut/modules.d/99vvtestfakes/vv-test-fakes.service <<'UNIT'
[Unit]
Description=Key Vault and IMDS fakes in the initramfs (vaultvol tests)
DefaultDependencies=no
Before=cryptsetup-pre.target
Wants=cryptsetup-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh /usr/local/sbin/vv-test-fakes-initrd
StandardOutput=journal+console
TimeoutStartSec=330
UNIT
chmod 755 $NEW/usr/lib/dracut/modules.d/99vvtestfakes/module-setup.sh
# dracut installed in the copy (it replaces initramfs-tools): its trigger
# builds the copy's initramfs.
root_chroot_begin
t0=$(now_ms)
step install-dracut chroot $NEW sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends -o Dpkg::Use-Pty=0 /vv/files/ddebs/*.deb'
metric initramfs_build_ms $(( $(now_ms) - t0 )) ms
kver=$(uname -r)
step initramfs-built test -s $NEW/boot/initrd.img-$kver
say "initramfs: $(stat -c %s $NEW/boot/initrd.img-$kver) bytes"
chroot $NEW lsinitrd /boot/initrd.img-$kver >/tmp/ls.txt 2>&1
chroot $NEW lsinitrd -m /boot/initrd.img-$kver >/tmp/mods.txt 2>&1; say_file /tmp/mods.txt
step initramfs-has-vaultvol-module grep -qx 'vaultvol' /tmp/mods.txt
step initramfs-has-plugin grep -q 'cryptsetup/libcryptsetup-token-vaultvol.so$' /tmp/ls.txt
grep -q ' etc/crypttab$' /tmp/ls.txt && say "the initramfs has a crypttab" || say "the initramfs has no crypttab"
step initramfs-no-keystore sh -c '! grep -E "etc/vaultvol/keys|state.json" /tmp/ls.txt'
root_chroot_end
root_export
GUEST

# rd.luks.name names the root's LUKS device and its mapping on the kernel
# command line, as RHEL's installer writes rd.luks.uuid there.
root_boot_copy --append "rd.luks.name=$(cat "$VM_WORK/boot1/export/uuid" 2>/dev/null)=vvroot" <<'GUEST'
set -u
. /vv/tests/system/guest/root.sh
unpack() { (cd "$2" && lsinitrd --unpack "$1"); }
root_verify unpack
journalctl -b -o short-monotonic --no-pager | grep -E 'vvroot|vaultvol|vv-test-fakes|cryptsetup' |
	head -40 >/tmp/j.txt; say_file /tmp/j.txt
step journal-vvroot-attached sh -c "journalctl -b -o cat --no-pager | grep -q 'Finished.*Cryptography Setup for vvroot'"
GUEST

c=$VM_WORK/boot2/console.log
grep -a -E 'vv-test-fakes|vvroot' "$c" | tr -d '\r' | head -20 | sed 's/^/    initramfs: /'
host_step console-no-passphrase-prompt sh -c "! grep -a -q -i 'passphrase for' '$c'"
