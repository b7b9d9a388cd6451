#!/bin/bash
# Builds the cached base initramfs for one kernel: busybox, the kernel
# modules vaultvol needs (in load order), cryptsetup/dmsetup/mkfs tools,
# python3 with its standard library (the fakes run in the guest), and the
# shared libraries of all of them. What changes between runs (vaultvol, the
# module, the tests, the scenario) goes in a small per-boot overlay instead
# (see lib.sh), so this is rebuilt only when this script or the kernel changes.
#
# Usage: tests/vm/mkinitrd.sh KVER OUT.cpio
#        tests/vm/mkinitrd.sh --extra PROGRAM OUT.cpio
# The second form packs one program and its shared libraries alone, for a
# scenario that needs a large tool few others do (fio, ~80 MiB with its
# libraries): vm_boot --extra NAME appends it after the base.
# (No early exit in a pipeline reader here: with pipefail, a writer killed
# by SIGPIPE would fail the build at random.)
set -euo pipefail
kver=$1 out=$2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

# --- programs and their libraries -----------------------------------------
copy_with_libs() {
	local f=$1 dest=${2:-$1}
	[ -e "$f" ] || return 0
	mkdir -p "$root$(dirname "$dest")"
	cp -L "$f" "$root$dest"
	{ ldd "$f" 2>/dev/null || true; } | awk '/=>/ {print $3} /^\t\/lib/ {print $1}' | while read -r lib; do
		[ -n "$lib" ] && [ -e "$lib" ] || continue
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
pack() {
	(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) >"$out.tmp.$$"
	mv "$out.tmp.$$" "$out"
}

if [ "$kver" = --extra ]; then
	prog=$(command -v "$2") || { echo "mkinitrd: $2 is not installed (tests/deps.sh)" >&2; exit 1; }
	out=$3
	copy_with_libs "$(readlink -f "$prog")" "$prog"
	pack
	exit 0
fi

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc,proc,sys,dev,tmp,run,mnt,vv,root,var/lib,var/tmp}
ln -s lib "$root/usr/lib64" 2>/dev/null || true

# --- kernel modules, in the order modprobe would load them ---------------
mods=(virtio_pci virtio_blk virtio_console virtio_rng
      dm_mod dm_crypt dm_zero dm_snapshot dm_flakey dm_delay loop
      ext4 xfs btrfs vfat nls_cp437 nls_ascii nls_iso8859_1 nls_utf8 fuse
      xts cbc ecb sha256_generic sha512_generic aes_generic
      af_alg algif_skcipher algif_hash essiv)
mkdir -p "$root/lib/modules/$kver"
: >"$root/vv/modules.list"
for m in "${mods[@]}"; do
	# Built-in modules print "builtin ..."; absent ones fail: both are fine.
	modprobe -S "$kver" --show-depends "$m" 2>/dev/null | awk '$1=="insmod"{print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
	base=$(basename "$ko")
	case "$ko" in
	*.xz)  xz -dc "$ko" >"$root/lib/modules/$kver/${base%.xz}"; base=${base%.xz} ;;
	*.zst) zstd -qdc "$ko" >"$root/lib/modules/$kver/${base%.zst}"; base=${base%.zst} ;;
	*.gz)  gzip -dc "$ko" >"$root/lib/modules/$kver/${base%.gz}"; base=${base%.gz} ;;
	*)     cp "$ko" "$root/lib/modules/$kver/$base" ;;
	esac
	echo "/lib/modules/$kver/$base" >>"$root/vv/modules.list"
done

# --- programs and their libraries (copy_with_libs above) ----------------
cp /bin/busybox "$root/bin/busybox"
for p in /sbin/cryptsetup /sbin/dmsetup /sbin/mke2fs /sbin/e2fsck /sbin/tune2fs /sbin/resize2fs \
	 /sbin/mkfs.xfs /sbin/xfs_repair /usr/sbin/xfs_freeze /sbin/mkfs.vfat /sbin/fatlabel \
	 /sbin/fsfreeze /sbin/blkid /sbin/blockdev /sbin/losetup /sbin/wipefs \
	 /bin/mount /bin/umount /bin/findmnt /usr/bin/ntfs-3g /bin/ntfs-3g /usr/bin/sqlite3 \
	 /usr/bin/python3.11 /usr/bin/openssl /usr/bin/flock /usr/bin/setsid /usr/bin/timeout \
	 /usr/bin/sha256sum /usr/bin/dd /usr/bin/stat /usr/sbin/sfdisk /sbin/sfdisk /usr/bin/xz; do
	[ -e "$p" ] && copy_with_libs "$(readlink -f "$p")" "$p"
done
ln -sf mke2fs "$root/sbin/mkfs.ext4"
ln -sf mke2fs "$root/sbin/mkfs.ext3"
ln -sf python3.11 "$root/usr/bin/python3"
cp /etc/mke2fs.conf "$root/etc/" 2>/dev/null || true
# libcryptsetup's and vaultvol's libraries (vaultvol itself is in the overlay).
for lib in libcryptsetup.so.12 libdevmapper.so.1.02.1 libblkid.so.1 libmount.so.1 \
	   libcurl.so.4 libjson-c.so.5 libssl.so.3 libcrypto.so.3 libuuid.so.1 libsystemd.so.0; do
	f=$(ldconfig -p | awk -v l="$lib" '$1==l && /x86-64/ && !found {print $NF; found=1}')
	[ -n "$f" ] && copy_with_libs "$f"
done
# libcurl's own dependencies (nghttp2, ssh, ldap, ...) come via ldd above.
# glibc dlopen()s libgcc_s for pthread_exit/cancellation: ldd cannot see it.
for lib in libgcc_s.so.1; do
	f=$(ldconfig -p | awk -v l="$lib" '$1==l && /x86-64/ && !found {print $NF; found=1}')
	[ -n "$f" ] && copy_with_libs "$f"
done

# --- python standard library (fakes) ----------------------------------------
py=/usr/lib/python3.11
mkdir -p "$root$py"
tar -C "$py" --exclude=test --exclude=tests --exclude=idlelib --exclude=tkinter \
	--exclude=turtledemo --exclude=ensurepip --exclude=lib2to3 --exclude=pydoc_data \
	--exclude=__pycache__ --exclude=site-packages --exclude=dist-packages \
	--exclude='config-3.11-*' -cf - . | tar -C "$root$py" -xf -
for so in "$root$py"/lib-dynload/*.so; do
	{ ldd "$so" 2>/dev/null || true; } | awk '/=>/ {print $3}' | while read -r lib; do
		[ -e "$lib" ] && [ ! -e "$root$lib" ] || continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
done

cat >"$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/:/bin/false
P
cat >"$root/etc/group" <<'G'
root:x:0:
nogroup:x:65534:
G
echo "127.0.0.1 localhost" >"$root/etc/hosts"
echo "hosts: files" >"$root/etc/nsswitch.conf"
install -m 0755 "$(dirname "$0")/guest/init" "$root/init"
install -m 0644 "$(dirname "$0")/guest/lib.sh" "$root/vv/guest-lib.sh"
echo "$kver" >"$root/vv/kernel"

pack
