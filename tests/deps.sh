#!/bin/bash
# Installs every Debian package the build, tests, demo, bench and packaging
# need. Idempotent: when everything is present it installs nothing and does
# not touch the network.
set -eu
pkgs=(
	# build
	build-essential pkg-config git
	libcryptsetup-dev libdevmapper-dev libblkid-dev libmount-dev
	libssl-dev libcurl4-openssl-dev libjson-c-dev libcmocka-dev libsystemd-dev
	# kernel module, for both supported kernels
	kmod linux-image-amd64 linux-headers-amd64
	linux-image-6.12-amd64 linux-headers-6.12-amd64
	# guest harness
	qemu-system-x86 qemu-utils busybox-static cpio zstd xz-utils
	cryptsetup-bin dmsetup e2fsprogs xfsprogs dosfstools ntfs-3g
	util-linux fdisk
	# fuzzing (tests/fuzz: libFuzzer and the sanitizer runtimes come with clang)
	clang libclang-rt-dev
	# fakes, test tools, benchmarks (fio: the dm-quiesce throughput row;
	# python3-distro: the unpacked waagent
	# of tests/suites/fake-wire.sh imports it)
	python3 openssl curl sqlite3 python3-distro fio
	# packaging
	debhelper dh-dkms devscripts lintian rpm dkms zip fakeroot debootstrap
	# the dracut module (tests/suites/dracut.sh builds initramfs images with
	# it; dracut-core, unlike dracut, leaves initramfs-tools installed)
	dracut-core
)
missing=()
for p in "${pkgs[@]}"; do
	case "$p" in \#*) continue ;; esac
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The official Azure SDK fidelity test needs Node.js; machines that already
# have a Node.js (with its own npm) keep it.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
echo "deps: all ${#pkgs[@]} packages present"
