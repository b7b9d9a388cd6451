#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `make packages`: the .deb packages (dpkg-buildpackage, debhelper), the .rpm
# packages (rpmbuild from a tarball of the tree) and the VM extension bundle,
# all into build/packages/.
#
#   packaging/build-all.sh [deb|rpm|bundle ...]     (default: all three)
#
# Sources are taken from the work tree: tracked files plus untracked files
# that git does not ignore (so uncommitted work is packaged as built).
# rpmbuild runs with --nodeps: on the Debian build machine its BuildRequires
# are met by Debian packages rpm cannot see.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
version=$(sed -n 's/^VERSION *:= *//p' Makefile)
out=$src/build/packages
work=$src/build/pkg
mkdir -p "$out" "$work"
what=("$@")
[ ${#what[@]} -gt 0 ] || what=(deb rpm bundle)

die() {
	echo "build-all: $*" >&2
	exit 1
}

deb_version=$(dpkg-parsechangelog -l packaging/debian/changelog -SVersion)
[ "${deb_version%%-*}" = "$version" ] ||
	die "packaging/debian/changelog says $deb_version, Makefile says $version"
spec_version=$(sed -n 's/^Version: *//p' packaging/rpm/vaultvol.spec)
[ "$spec_version" = "$version" ] ||
	die "packaging/rpm/vaultvol.spec says $spec_version, Makefile says $version"
dkms_version=$(sed -n 's/^PACKAGE_VERSION="*\([^"]*\)"*/\1/p' packaging/dkms.conf 2>/dev/null)
[ "$dkms_version" = "$version" ] ||
	die "packaging/dkms.conf says PACKAGE_VERSION=$dkms_version, Makefile says $version"
for f in packaging/dkms.conf packaging/man/vaultvol.8 packaging/systemd/vaultvol.tmpfiles; do
	[ -f "$f" ] || die "$f is missing"
done
ls packaging/systemd/*.service >/dev/null 2>&1 || die "no systemd units in packaging/systemd"

# A clean copy of the tree: vaultvol-VERSION/ (what the tarball holds).
stage_tree() {	# DIR
	rm -rf "$1"
	mkdir -p "$1"
	git ls-files -z -c -o --exclude-standard |
		grep -z -v -E '^(build|build-[^/]*)/' |
		while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
		tar --null -T - -cf - | tar -C "$1" -xf -
}

build_deb() {
	local d=$work/deb
	rm -rf "$d"
	stage_tree "$d/vaultvol-$version"
	cp -r packaging/debian "$d/vaultvol-$version/debian"
	(cd "$d/vaultvol-$version" &&
		DEB_BUILD_OPTIONS="noddebs ${DEB_BUILD_OPTIONS:-}" \
			dpkg-buildpackage -us -uc -b -j2 >"$d/build.log" 2>&1) ||
		{ tail -40 "$d/build.log" >&2; die "dpkg-buildpackage failed (log: $d/build.log)"; }
	rm -f "$out"/*.deb
	cp "$d"/*.deb "$out/"
	echo "build-all: $(cd "$out" && ls ./*.deb | tr '\n' ' ')"
}

build_rpm() {
	local d=$work/rpm tarball
	rm -rf "$d"
	mkdir -p "$d"/{BUILD,RPMS,SOURCES,SPECS,SRPMS,BUILDROOT}
	stage_tree "$d/tree/vaultvol-$version"
	tarball=$d/SOURCES/vaultvol-$version.tar.gz
	tar -C "$d/tree" --sort=name --owner=0 --group=0 --numeric-owner \
		-czf "$tarball" "vaultvol-$version"
	rm -rf "$d/tree"
	rpmbuild -bb --nodeps --define "_topdir $d" \
		--define "_smp_mflags -j2" packaging/rpm/vaultvol.spec >"$d/build.log" 2>&1 ||
		{ tail -40 "$d/build.log" >&2; die "rpmbuild failed (log: $d/build.log)"; }
	rm -f "$out"/*.rpm
	find "$d/RPMS" -name '*.rpm' -exec cp {} "$out/" \;
	echo "build-all: $(cd "$out" && ls ./*.rpm | tr '\n' ' ')"
}

build_bundle() {
	[ -x build/vaultvol ] || make -j2 build/vaultvol
	packaging/bundle.sh build "$out"
}

for w in "${what[@]}"; do
	case "$w" in
	deb) build_deb ;;
	rpm) build_rpm ;;
	bundle) build_bundle ;;
	*) die "unknown target $w (deb, rpm, bundle)" ;;
	esac
done
