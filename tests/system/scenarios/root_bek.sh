# System scenario (issue 16): an ADE-style encrypted ROOT, unlocked in the
# initramfs (initramfs-tools, Debian's cryptsetup-initramfs) by its vaultvol
# token from the passphrase on the BEK VOLUME, with no vault and no network;
# and, without the BEK VOLUME, by the recovery passphrase typed at
# cryptroot's prompt on the serial console.
#   boot 1  cryptsetup-initramfs and its dependencies (tests/system/
#           image-debs.sh, offline). The BEK VOLUME (/dev/vdc) as ADE leaves
#           it: vfat labelled "BEK VOLUME" (made on the host: the image has
#           no mkfs.vfat) holding LinuxPassPhraseFileName, a random
#           passphrase (raw bytes, no newline). /dev/vdb luksFormat'ed
#           (LUKS2, argon2id at 4 iterations and 32 MiB for emulation) with
#           that file as its key, plus a random recovery passphrase in a
#           second keyslot; `vaultvol adopt /dev/vdb --secret bek: --name
#           vvroot` writes the token; the running root copied into it (tests/
#           system/guest/root.sh root_copy), crypttab `vvroot UUID=... none
#           luks`; cryptsetup-initramfs installed in a chroot of the copy (its
#           trigger builds the initramfs); the initramfs holds the plugin, the
#           local-top script, vfat, and neither passphrase. The kernel, the
#           initramfs and the recovery passphrase are exported (the host
#           knows the recovery passphrase through the export disk only; both
#           passphrases were only ever in the guest's /run and on the disks).
#   boot 2  that kernel with root=/dev/mapper/vvroot and the BEK VOLUME:
#           vaultvol's local-top script opens vvroot through the token (the
#           plugin reads bek:LinuxPassPhraseFileName), cryptroot finds it
#           open and asks nothing; / is /dev/mapper/vvroot, the system is
#           running, and neither passphrase is in the initramfs's files, the
#           journal or /run.
#   boot 3  the same WITHOUT the BEK VOLUME: the token cannot work (the
#           plugin's -ENOENT, no retry), the console says so, cryptroot asks
#           "Please unlock disk vvroot", the host types the recovery
#           passphrase on the serial console (sys_boot --type), the system
#           is running; the passphrase is not in the console log (askpass
#           does not echo), the journal or /run.
# system-kernels: 6.1
# system-ci: full-only (about 20 min under emulation: three boots, a root copy
# and an initramfs build; CI's 90 min would not hold it beside the rest)
cdebs=$(tests/system/image-debs.sh "$SYS_IMAGE" cryptsetup-initramfs cryptsetup-initramfs) ||
	{ host_step cryptsetup-initramfs-debs false; return 0; }
vm_disk root 3G
vm_disk bek 16M
host_step bek-mkfs env PATH="$PATH:/usr/sbin:/sbin" mkfs.vfat -n "BEK VOLUME" "$VM_WORK/bek.img"

sys_boot --disk root --disk bek --files cdebs="$cdebs" --export 256 --timeout 2400 <<'GUEST'
set -u
. /vv/tests/system/guest/root.sh
fast="--pbkdf argon2id --pbkdf-force-iterations 4 --pbkdf-memory 32768"
# Both passphrases live in /run (tmpfs: not in the copy, gone at power-off)
# and on the disks, never in argv or a log.
S=/run/vvbek
mkdir -m 700 -p $S && mkdir -p /mnt/bek $NEW
step bek-label sh -c 'blkid -o value -s LABEL /dev/vdc | grep -qx "BEK VOLUME"'
step bek-passphrase sh -c "mount -t vfat /dev/vdc /mnt/bek &&
	head -c 32 /dev/urandom | base64 -w0 | tr -d '\n' >/mnt/bek/LinuxPassPhraseFileName &&
	cp /mnt/bek/LinuxPassPhraseFileName $S/bek && umount /mnt/bek && sync"
step recovery-passphrase sh -c "head -c 18 /dev/urandom | base64 -w0 | tr -d '\n' | tr '+/' 'xy' >$S/recovery"
say "passphrases: BEK $(stat -c %s $S/bek) bytes, recovery $(stat -c %s $S/recovery) bytes"
step luks-format cryptsetup luksFormat -q --type luks2 $fast /dev/vdb $S/bek
step recovery-keyslot cryptsetup luksAddKey -q $fast --key-file $S/bek /dev/vdb $S/recovery
step adopt-bek sh -c 'vaultvol adopt /dev/vdb --secret bek: --name vvroot >/tmp/adopt.txt 2>&1;
	rc=$?; cat /tmp/adopt.txt; exit $rc'
say_file /tmp/adopt.txt
step token-names-bek sh -c 'cryptsetup luksDump --dump-json-metadata /dev/vdb |
	grep -q "\"key\": *\"bek:"'
step plugin-opens-with-bek sh -c 'cryptsetup open --test-passphrase --token-only --token-type vaultvol /dev/vdb'
step luks-open cryptsetup open --key-file $S/bek /dev/vdb vvroot
step mkfs-root mkfs.ext4 -q /dev/mapper/vvroot
step mount-root mount /dev/mapper/vvroot $NEW
root_copy /dev/vdb
echo MODULES=dep >$NEW/etc/initramfs-tools/conf.d/vv-test-modules
# cryptsetup-initramfs installed in the copy, as d-i does it: its trigger
# builds the copy's initramfs with the root's crypttab entry.
root_chroot_begin
t0=$(now_ms)
step install-cryptsetup-initramfs chroot $NEW sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends -o Dpkg::Use-Pty=0 /vv/files/cdebs/*.deb'
metric initramfs_build_ms $(( $(now_ms) - t0 )) ms
root_chroot_end
kver=$(uname -r)
step initramfs-built test -s $NEW/boot/initrd.img-$kver
say "initramfs: $(stat -c %s $NEW/boot/initrd.img-$kver) bytes"
lsinitramfs $NEW/boot/initrd.img-$kver >/tmp/ls.txt
step initramfs-has-plugin grep -q 'cryptsetup/libcryptsetup-token-vaultvol.so$' /tmp/ls.txt
step initramfs-has-script grep -q '^scripts/local-top/vaultvol$' /tmp/ls.txt
step initramfs-has-crypttab grep -q '^cryptroot/crypttab$' /tmp/ls.txt
step initramfs-has-vfat grep -q '/kernel/fs/fat/vfat\.ko' /tmp/ls.txt
step initramfs-has-nls-utf8 grep -q '/kernel/fs/nls/nls_utf8\.ko' /tmp/ls.txt
step initramfs-no-keystore sh -c '! grep -E "etc/vaultvol/keys" /tmp/ls.txt'
mkdir -p /tmp/ir1 && unmkinitramfs $NEW/boot/initrd.img-$kver /tmp/ir1
step initramfs-unpacked test -d /tmp/ir1
# File names only, never the matching text.
step initramfs-no-passphrase sh -c "! grep -r -a -l -F -f $S/bek -f $S/recovery /tmp/ir1"
rm -rf /tmp/ir1
root_export $S/recovery
rm -f $S/bek $S/recovery
GUEST

kexp=$VM_WORK/boot1/export
host_step kernel-came-back test -s "$kexp/vmlinuz" -a -s "$kexp/initrd.img" -a -s "$kexp/recovery"
# The recovery passphrase for the guests' key-nowhere checks (payload, then
# /vv/files/rec on the encrypted root); it stays under $VM_WORK on the host.
mkdir -p "$VM_WORK/rec" && cp "$kexp/recovery" "$VM_WORK/rec/recovery" 2>/dev/null

sys_boot --disk root --disk bek --kernel "$kexp" --root /dev/mapper/vvroot \
	--files rec="$VM_WORK/rec" --timeout 1800 <<'GUEST'
set -u
. /vv/tests/system/guest/root.sh
mkdir -p /mnt/bek
step bek-mounted mount -t vfat -o ro /dev/vdc /mnt/bek
ROOT_NEEDLES="bek-passphrase=/mnt/bek/LinuxPassPhraseFileName recovery-passphrase=/vv/files/rec/recovery"
root_verify unmkinitramfs
umount /mnt/bek
GUEST

c2=$VM_WORK/boot2/console.log
grep -a -E '^vaultvol:' "$c2" | tr -d '\r' | sed 's/^/    boot2 initramfs: /'
host_step console2-unlocked-by-token grep -a -q 'vaultvol: volume vvroot (/dev/vdb) unlocked by its vaultvol token (try 1)' "$c2"
host_step console2-key-bek grep -a -q 'vaultvol: volume vvroot (/dev/vdb): unlocking with its vaultvol token (key bek:' "$c2"
host_step console2-no-passphrase-prompt sh -c "! grep -a -q 'Please unlock disk' '$c2'"

sys_boot --disk root --kernel "$kexp" --root /dev/mapper/vvroot \
	--files rec="$VM_WORK/rec" --timeout 1800 \
	--type "Please unlock disk vvroot" "$kexp/recovery" <<'GUEST'
set -u
. /vv/tests/system/guest/root.sh
step no-bek-volume sh -c '! blkid -t LABEL="BEK VOLUME" -o device'
ROOT_NEEDLES="recovery-passphrase=/vv/files/rec/recovery"
root_verify unmkinitramfs
GUEST

c3=$VM_WORK/boot3/console.log
grep -a -E '^vaultvol:|Please unlock disk|cryptsetup:' "$c3" | tr -d '\r' | sed 's/^/    boot3 initramfs: /'
host_step console3-token-failed grep -a -q 'vaultvol: volume vvroot (/dev/vdb) not unlocked by its vaultvol token' "$c3"
host_step console3-not-retried sh -c "! grep -a -q 'key source unreachable' '$c3'"
host_step console3-prompt grep -a -q 'Please unlock disk vvroot' "$c3"
host_step console3-no-bad-passphrase sh -c "! grep -a -q -i 'bad password' '$c3'"
# No boot's console shows the recovery passphrase (file names only).
host_step consoles-no-recovery-passphrase sh -c "! grep -a -l -F -f '$kexp/recovery' '$VM_WORK'/boot*/console.log"
rm -rf "$VM_WORK/rec"
