#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Builds dm-quiesce.ko for one kernel in a directory of its own, so several
# kernels build side by side and the source tree stays clean.
#
# Usage: dmtarget/build.sh KVER OUTDIR
#   KVER    a kernel release with headers in /lib/modules/KVER/build
#   OUTDIR  receives a copy of the sources; the module lands in
#           OUTDIR/dmtarget/dm-quiesce.ko
# Set KCFLAGS to override the default -Werror (warnings fail our own builds;
# DKMS builds on users' kernels do not use this script).
set -eu

die() {
	echo "build.sh: $*" >&2
	exit 1
}

[ $# -eq 2 ] || die "usage: build.sh KVER OUTDIR"
kver=$1
kdir=/lib/modules/$kver/build
src=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$kdir/Makefile" ] || die "no headers for $kver at $kdir"

mkdir -p "$2/dmtarget"
out=$(cd "$2" && pwd)
cp "$src/Kbuild" "$out/Kbuild"
cp "$src/dmtarget/Kbuild" "$src/dmtarget/dm-quiesce.c" \
	"$src/dmtarget/configure.sh" "$out/dmtarget/"

"$out/dmtarget/configure.sh" "$kdir"
make -C "$kdir" M="$out" KCFLAGS="${KCFLAGS:--Werror}" modules
[ -f "$out/dmtarget/dm-quiesce.ko" ] || die "no module produced"
