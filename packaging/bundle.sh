#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the VM extension bundle (the zip waagent downloads and unpacks):
#
#   HandlerManifest.json        commands waagent runs, relative to the bundle
#   vaultvol-handler            wrapper: sets the library path, runs
#                               bin/vaultvol handler CMD --handler-dir <bundle>
#   bin/vaultvol                the program (debug symbols stripped)
#   lib/*.so.*                  every shared library it needs except glibc's
#   doc/handler.md, doc/handler-settings.md
#
# What the bundle assumes on the VM: x86-64, glibc at least as new as the
# build machine's (Debian 12: 2.36), a kernel with dm-crypt, and /bin/sh.
# It does not carry dm-quiesce (kernel-specific: install dm-quiesce-dkms;
# without it snapshots use the userspace watchdog) nor cryptsetup tools.
#
# Usage: packaging/bundle.sh [BUILD_DIR [OUT_DIR]]   (defaults build, build/packages)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
b=$(realpath -m "${1:-$src/build}")
out=$(realpath -m "${2:-$b/packages}")
version=$(sed -n 's/^VERSION *:= *//p' "$src/Makefile")
[ -n "$version" ] || { echo "bundle: no VERSION in Makefile" >&2; exit 1; }
bin=$b/vaultvol
[ -x "$bin" ] || { echo "bundle: $bin missing (run make first)" >&2; exit 1; }

stage=$b/pkg/bundle
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/lib" "$stage/doc" "$out"
cp "$src/packaging/HandlerManifest.json" "$stage/"
install -m 0755 "$src/packaging/bundle/vaultvol-handler" "$stage/vaultvol-handler"
install -m 0755 "$bin" "$stage/bin/vaultvol"
strip --strip-debug "$stage/bin/vaultvol"
cp "$src/docs/handler.md" "$src/docs/handler-settings.md" "$stage/doc/"

# glibc's own libraries must come from the VM: they are tied to its ld.so.
is_glibc() {
	case "$1" in
	ld-linux*|libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|\
	libresolv.so.*|libutil.so.*|libanl.so.*|libnss_*|libmvec.so.*|linux-vdso*) return 0 ;;
	esac
	return 1
}
ldd "$bin" | while read -r name arrow path _; do
	[ "$arrow" = "=>" ] || continue
	is_glibc "$name" && continue
	[ -f "$path" ] || { echo "bundle: $name not found" >&2; exit 1; }
	install -m 0644 "$path" "$stage/lib/$name"
done
# The bundle must run with only its own lib/ plus glibc.
missing=$(LD_LIBRARY_PATH="$stage/lib" ldd "$stage/bin/vaultvol" | grep 'not found' || true)
[ -z "$missing" ] || { echo "bundle: unresolved: $missing" >&2; exit 1; }

# Reproducible: fixed timestamps and sorted entries.
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$src" log -1 --format=%ct 2>/dev/null || echo 0)}
find "$stage" -exec touch -h -d "@$epoch" {} +
zipfile=$out/vaultvol-handler-$version.zip
rm -f "$zipfile"
(cd "$stage" && find . -type f | LC_ALL=C sort | sed 's|^\./||' | zip -q -X -@ "$zipfile")
echo "bundle: $zipfile ($(du -k "$zipfile" | cut -f1) KiB)"
