#!/bin/bash
# Debian packages a system image lacks, with every dependency the image
# does not have, as .deb files, so a system scenario can install them in a
# guest that has no network (`apt-get install /vv/files/NAME/*.deb`), as a
# user's `apt install PKG...` would (package_life's second kernel:
# linux-image-KVER and linux-headers-KVER, so DKMS builds for it; root_token's
# cryptsetup-initramfs; waagent). apt resolves the dependencies against
# the image's own dpkg status (read from its disk with debugfs, nothing
# mounted) and downloads them from this machine's configured Debian mirrors,
# at set-up time. Cached outside the clone under
# $VV_SYSTEM_CACHE/debs-NAME-IMAGE/ (NAME names the set; change it when the
# package list changes).
#
#   tests/system/image-debs.sh IMAGE_DIR NAME PKG...   prints the directory
#   e.g. image-debs.sh "$SYS_IMAGE" cryptsetup-initramfs cryptsetup-initramfs
set -euo pipefail
image=${1:?usage: image-debs.sh IMAGE_DIR NAME PKG...}
name=${2:?usage: image-debs.sh IMAGE_DIR NAME PKG...}
shift 2
[ $# -gt 0 ] || { echo "usage: image-debs.sh IMAGE_DIR NAME PKG..." >&2; exit 2; }
cache=${VV_SYSTEM_CACHE:-/var/cache/vaultvol-tests/system}
dir=$cache/debs-$name-$(basename "$image")
if [ -f "$dir/ready" ]; then
	echo "$dir"
	exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.lock-image-debs"
flock 9
[ -f "$dir/ready" ] && { echo "$dir"; exit 0; }
tmp=$cache/.debs-$name
rm -rf "$tmp" && mkdir -p "$tmp/out/partial"
trap 'rm -rf "$tmp"' EXIT
debugfs -R "cat /var/lib/dpkg/status" "$image/base.img" >"$tmp/status" 2>/dev/null
grep -q '^Package: dpkg$' "$tmp/status" ||
	{ echo "image-debs.sh: no dpkg status in $image/base.img" >&2; exit 1; }
: >"$tmp/extended_states"
apt-get install -y -q --download-only --no-install-recommends \
	-o Dir::State::status="$tmp/status" -o Dir::State::extended_states="$tmp/extended_states" \
	-o Dir::Cache::archives="$tmp/out/" -o Debug::NoLocking=1 "$@" >"$tmp/log" 2>&1 || {
	tail -8 "$tmp/log" >&2
	echo "image-debs.sh: apt could not download $* for $image" >&2
	exit 1
}
rm -rf "$tmp/out/partial" "$tmp/out/lock"
for p in "$@"; do
	ls "$tmp/out/${p}"_*.deb >/dev/null ||
		{ echo "image-debs.sh: no $p downloaded" >&2; exit 1; }
done
echo "$*" >"$tmp/out/ready"
rm -rf "$dir"
mv "$tmp/out" "$dir"
echo "$dir"
