#!/bin/bash
# Builds (or finds) the cached Debian 12 system image for one kernel:
# debootstrap --variant=minbase plus systemd as PID 1, udev, Debian's kernel
# KVER and its headers (for DKMS), dkms, cryptsetup-bin, dmsetup, python3
# (the fakes), openssl and the libraries vaultvol links against; no
# recommends. The root is a plain ext4 filesystem on the whole disk
# (/dev/vda); the kernel and Debian's own initramfs-tools initramfs are
# copied out of its /boot so QEMU boots them with -kernel/-initrd.
#
#   tests/system/mkimage.sh KVER      prints the image directory:
#                                     DIR/base.img, DIR/vmlinuz, DIR/initrd.img
#
# Cached under $VV_SYSTEM_CACHE (default /var/cache/vaultvol-tests/system),
# outside the clone, keyed by a hash of this script (which holds the package
# list) and KVER: rebuilt only when one of them changes. The project's own
# packages are not in the image: each run installs them into a copy-on-write
# overlay (see lib.sh), so the cached base is independent of the build.
# The mirrors are the ones apt is configured with on this machine
# (VV_DEBIAN_MIRROR / VV_DEBIAN_SECURITY_MIRROR override them).
set -euo pipefail
kver=${1:?usage: mkimage.sh KVER}
here=$(cd "$(dirname "$0")" && pwd)
cache=${VV_SYSTEM_CACHE:-/var/cache/vaultvol-tests/system}

pkgs=(systemd-sysv udev kmod iproute2 initramfs-tools
      "linux-image-$kver" "linux-headers-$kver" dkms
      cryptsetup-bin dmsetup e2fsprogs python3 openssl
      libcryptsetup12 libdevmapper1.02.1 libcurl4 libjson-c5 libssl3 libsystemd0)

key=$( { cat "$0"; echo "$kver"; } | sha256sum | cut -c1-16)
dir=$cache/$kver-$key
if [ -f "$dir/ready" ]; then
	echo "$dir"
	exit 0
fi

# First URI of apt's configured sources matching a pattern.
apt_uri() {
	{
		sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n'
		awk '$1=="deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
	} | grep -E "$1" | head -1 || true
}
mirror=${VV_DEBIAN_MIRROR:-$(apt_uri '/debian/?$')}
security=${VV_DEBIAN_SECURITY_MIRROR:-$(apt_uri '/debian-security/?$')}
[ -n "$mirror" ] || { echo "mkimage: no Debian mirror in apt's sources (set VV_DEBIAN_MIRROR)" >&2; exit 1; }

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
[ -f "$dir/ready" ] && { echo "$dir"; exit 0; }

tmp=$cache/.build-$kver-$key
root=$tmp/root
cleanup() {
	mountpoint -q "$root/proc" 2>/dev/null && umount "$root/proc"
	mountpoint -q "$root/sys" 2>/dev/null && umount "$root/sys"
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
cleanup
mkdir -p "$tmp"
t0=$SECONDS
log=$tmp/build.log
echo "mkimage: building the Debian 12 image for $kver in $dir (log: $log)" >&2
fail() {
	echo "mkimage: $*; last lines of the log:" >&2
	tail -25 "$log" >&2
	exit 1
}

debootstrap --variant=minbase bookworm "$root" "$mirror" >"$log" 2>&1 || fail "debootstrap failed"
echo "mkimage: debootstrap done ($((SECONDS - t0)) s)" >&2

# No services start inside the chroot; no docs, man pages or translations.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cat >"$root/etc/dpkg/dpkg.cfg.d/01-vv-nodoc" <<'X'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/info/*
X
{
	echo "deb $mirror bookworm main"
	echo "deb $mirror bookworm-updates main"
	[ -n "$security" ] && echo "deb $security bookworm-security main"
} >"$root/etc/apt/sources.list"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
export DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
chroot "$root" apt-get update -q >>"$log" 2>&1 || fail "apt-get update failed"
chroot "$root" apt-get install -y -q --no-install-recommends "${pkgs[@]}" >>"$log" 2>&1 ||
	fail "apt-get install failed"
echo "mkimage: packages installed ($((SECONDS - t0)) s)" >&2

# The system: root on /dev/vda, no network, no login prompts, no timers.
echo vvsys >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 vvsys\n::1 localhost\n' >"$root/etc/hosts"
echo '/dev/vda / ext4 rw,errors=remount-ro 0 0' >"$root/etc/fstab"
echo 'LANG=C.UTF-8' >"$root/etc/default/locale"
[ -s "$root/etc/machine-id" ] || chroot "$root" systemd-machine-id-setup >>"$log" 2>&1
for u in getty@tty1.service serial-getty@ttyS0.service systemd-firstboot.service \
	 apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
	 fstrim.timer e2scrub_reap.service; do
	ln -sf /dev/null "$root/etc/systemd/system/$u"
done
# The test runner: after multi-user.target, unpack the harness's payload
# disk (a tar archive on the virtio disk with serial vvpayload) into /vv and
# run its boot script, which reports over ttyS1 and powers off. Type=simple,
# so the boot itself completes (systemctl is-system-running can be
# "running") while the steps run.
cat >"$root/usr/local/sbin/vv-test-boot" <<'X'
#!/bin/sh
dev=/dev/disk/by-id/virtio-vvpayload
i=0
while [ ! -b "$dev" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
rm -rf /vv && mkdir -m 700 /vv && tar -xf "$dev" -C /vv || {
	echo "DONE 99 no-payload" >/dev/ttyS1; systemctl poweroff; exit 1; }
exec /bin/bash /vv/tests/system/guest/boot.sh
X
chmod 755 "$root/usr/local/sbin/vv-test-boot"
cat >"$root/etc/systemd/system/vv-test.service" <<'X'
[Unit]
Description=vaultvol system test runner
After=multi-user.target

[Service]
Type=simple
ExecStart=/usr/local/sbin/vv-test-boot
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
X
chroot "$root" systemctl enable vv-test.service >>"$log" 2>&1
rm -f "$root/usr/sbin/policy-rc.d"
chroot "$root" apt-get clean >>"$log" 2>&1
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin
umount "$root/proc" "$root/sys"

[ -f "$root/boot/vmlinuz-$kver" ] && [ -f "$root/boot/initrd.img-$kver" ] ||
	fail "no kernel or initramfs for $kver in the image's /boot"
mkdir -p "$tmp/out"
cp "$root/boot/vmlinuz-$kver" "$tmp/out/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$tmp/out/initrd.img"
# A plain ext4 root filling the disk, made from the tree without mounting.
mke2fs -q -t ext4 -L vvroot -d "$root" "$tmp/out/base.img" 4G >>"$log" 2>&1 ||
	fail "mke2fs -d failed"
cp "$log" "$tmp/out/build.log"
echo "$kver ${pkgs[*]}" >"$tmp/out/inputs"
date -u +%FT%TZ >"$tmp/out/ready"
rm -rf "$dir"
mv "$tmp/out" "$dir"
# Older images of this kernel are superseded.
for old in "$cache/$kver"-*; do
	[ "$old" = "$dir" ] || rm -rf --one-file-system "$old"
done
echo "mkimage: image ready in $((SECONDS - t0)) s: $(du -sh --apparent-size "$dir/base.img" | cut -f1) disk, $(du -sh "$dir/base.img" | cut -f1) used" >&2
echo "$dir"
