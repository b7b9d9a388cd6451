# System scenario (issue 16): an encrypted ROOT volume unlocked in the
# initramfs (initramfs-tools, Debian's cryptsetup-initramfs) by its vaultvol
# token, with the key in the vault (the Key Vault + IMDS fakes).
#   boot 1  cryptsetup-initramfs and its dependencies (tests/system/
#           image-debs.sh, offline); the fakes run; `vaultvol provision`
#           makes a LUKS2 volume on /dev/vdb with a vaultvol token (key in
#           the fake vault) named vvroot; the running root is copied into it;
#           in the copy: fstab's root is /dev/mapper/vvroot, crypttab lists
#           it (`vvroot UUID=... none luks`), the fakes' and vaultvol's boot
#           units are disabled (the root needs neither), a test-only
#           initramfs hook adds python3 and the fakes; cryptsetup-initramfs
#           is installed in a chroot of the copy (its trigger builds the
#           copy's initramfs, as d-i does); the copy's kernel and initramfs
#           are exported. The fakes' state (it holds the vault's secret, the
#           key) goes to a disk of its own (/dev/vdc), never the initramfs.
#   boot 2  that kernel with root=/dev/mapper/vvroot: the initramfs's fakes
#           read their state from /dev/vdc, vaultvol's local-top script
#           opens vvroot with `cryptsetup open --token-only --token-type
#           vaultvol` (the plugin), cryptroot finds it open and asks nothing;
#           / is /dev/mapper/vvroot, the system is running, and the key (the
#           vault secret, raw and base64) is in none of the initramfs's
#           files, the journal or /run.
# system-kernels: 6.1
# system-ci: full-only (about 16 min under emulation: two boots, a root copy and
# an initramfs build; CI's 90 min would not hold it beside the rest)
cdebs=$(tests/system/image-debs.sh "$SYS_IMAGE" cryptsetup-initramfs cryptsetup-initramfs) ||
	{ host_step cryptsetup-initramfs-debs false; return 0; }
. tests/system/scenarios/root_lib.sh
vm_disk root 3G
vm_disk fstate 8M

sys_boot --disk root --disk fstate --files cdebs="$cdebs" --export 256 --timeout 2400 <<'GUEST'
set -u
. /vv/tests/system/guest/root.sh
root_prepare
echo MODULES=dep >$NEW/etc/initramfs-tools/conf.d/vv-test-modules
# Test only, never packaged: python3 and the fakes in the initramfs.
cat >$NEW/etc/initramfs-tools/hooks/vv-test-fakes <<HOOK
#!/bin/sh
case "\${1:-}" in prereqs) exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
. /vv/tests/system/guest/root.sh
copy_exec /usr/bin/python3.11 /usr/bin/python3
# lib-dynload with copy_exec first (it copies their libraries only when it
# copies the module itself), then the rest of the standard library.
for so in /usr/lib/python3.11/lib-dynload/*.so; do copy_exec "\$so"; done
root_python_tree "\$DESTDIR/usr/lib/python3.11"
mkdir -p "\$DESTDIR/var/lib/vv-fakes"
cp -r /var/lib/vv-fakes/fakes /var/lib/vv-fakes/certs "\$DESTDIR/var/lib/vv-fakes/"
printf '127.0.0.1 localhost $KVHOST\n' >"\$DESTDIR/etc/hosts"
printf 'hosts: files dns\n' >"\$DESTDIR/etc/nsswitch.conf"
HOOK
mkdir -p $NEW/etc/initramfs-tools/scripts/init-premount $NEW/etc/initramfs-tools/scripts/init-bottom
cp $NEW/usr/local/sbin/vv-test-fakes-initrd $NEW/etc/initramfs-tools/scripts/init-premount/vv-test-fakes
cat >$NEW/etc/initramfs-tools/scripts/init-bottom/vv-test-fakes <<'BOT'
#!/bin/sh
case "${1:-}" in prereqs) exit 0 ;; esac
[ -f /vv-fakes/pid ] && kill "$(cat /vv-fakes/pid)" 2>/dev/null
sleep 1
rm -rf /vv-fakes
BOT
chmod 755 $NEW/etc/initramfs-tools/hooks/vv-test-fakes $NEW/etc/initramfs-tools/scripts/*/vv-test-fakes
# cryptsetup-initramfs installed in the copy, as d-i does it: its trigger
# builds the copy's initramfs with the root's crypttab entry.
root_chroot_begin
t0=$(now_ms)
step install-cryptsetup-initramfs chroot $NEW sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends -o Dpkg::Use-Pty=0 /vv/files/cdebs/*.deb'
metric initramfs_build_ms $(( $(now_ms) - t0 )) ms
kver=$(uname -r)
step initramfs-built test -s $NEW/boot/initrd.img-$kver
say "initramfs: $(stat -c %s $NEW/boot/initrd.img-$kver) bytes"
lsinitramfs $NEW/boot/initrd.img-$kver >/tmp/ls.txt
step initramfs-has-plugin grep -q 'cryptsetup/libcryptsetup-token-vaultvol.so$' /tmp/ls.txt
step initramfs-has-script grep -q '^scripts/local-top/vaultvol$' /tmp/ls.txt
step initramfs-has-crypttab grep -q '^cryptroot/crypttab$' /tmp/ls.txt
step initramfs-no-keystore sh -c '! grep -E "etc/vaultvol/keys|state.json" /tmp/ls.txt'
root_chroot_end
root_export
GUEST

root_boot_copy <<'GUEST'
set -u
. /vv/tests/system/guest/root.sh
root_verify unmkinitramfs
GUEST

c=$VM_WORK/boot2/console.log
grep -a -E '^(vaultvol|vv-test-fakes):' "$c" | tr -d '\r' | sed 's/^/    initramfs: /'
host_step console-unlocked-by-token grep -a -q 'vaultvol: volume vvroot (/dev/vdb) unlocked by its vaultvol token (try 1)' "$c"
host_step console-no-passphrase-prompt sh -c "! grep -a -q 'Please unlock disk' '$c'"
