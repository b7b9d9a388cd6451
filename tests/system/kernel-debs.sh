#!/bin/bash
# Debian's packages of one kernel (linux-image-KVER, linux-headers-KVER) and
# every dependency a system image lacks, as .deb files, so a system scenario
# can install a second kernel in a guest that has no network, as a user's
# `apt install linux-image-KVER linux-headers-KVER` would (which is what
# makes DKMS build the module for it). apt resolves the dependencies against
# the image's own dpkg status (read from its disk with debugfs, nothing
# mounted) and downloads them from this machine's configured Debian mirrors,
# like the image build, at set-up time. Cached outside the clone under
# $VV_SYSTEM_CACHE/kernel-debs-KVER-IMAGE/.
#
#   tests/system/kernel-debs.sh IMAGE_DIR KVER   prints the directory of the .debs
set -euo pipefail
image=${1:?usage: kernel-debs.sh IMAGE_DIR KVER}
kver=${2:?usage: kernel-debs.sh IMAGE_DIR KVER}
cache=${VV_SYSTEM_CACHE:-/var/cache/vaultvol-tests/system}
dir=$cache/kernel-debs-$kver-$(basename "$image")
if [ -f "$dir/ready" ]; then
	echo "$dir"
	exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.lock-kernel-debs"
flock 9
[ -f "$dir/ready" ] && { echo "$dir"; exit 0; }
tmp=$cache/.kernel-debs-$kver
rm -rf "$tmp" && mkdir -p "$tmp/out/partial"
trap 'rm -rf "$tmp"' EXIT
debugfs -R "cat /var/lib/dpkg/status" "$image/base.img" >"$tmp/status" 2>/dev/null
grep -q '^Package: dpkg$' "$tmp/status" ||
	{ echo "kernel-debs.sh: no dpkg status in $image/base.img" >&2; exit 1; }
: >"$tmp/extended_states"
apt-get install -y -q --download-only --no-install-recommends \
	-o Dir::State::status="$tmp/status" -o Dir::State::extended_states="$tmp/extended_states" \
	-o Dir::Cache::archives="$tmp/out/" -o Debug::NoLocking=1 \
	"linux-image-$kver" "linux-headers-$kver" >"$tmp/log" 2>&1 || {
	tail -8 "$tmp/log" >&2
	echo "kernel-debs.sh: apt could not download $kver for $image" >&2
	exit 1
}
rm -rf "$tmp/out/partial" "$tmp/out/lock"
ls "$tmp/out/linux-image-$kver"_*.deb >/dev/null ||
	{ echo "kernel-debs.sh: no linux-image-$kver downloaded" >&2; exit 1; }
echo "$kver" >"$tmp/out/ready"
rm -rf "$dir"
mv "$tmp/out" "$dir"
echo "$dir"
