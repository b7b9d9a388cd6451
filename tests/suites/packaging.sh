#!/bin/bash
# Packaging: builds the .deb, .rpm and extension bundle (packaging/build-all.sh,
# what `make packages` runs), checks their file lists (dpkg-deb -c, rpm -qlp),
# runs lintian (no E: tags), installs the .deb into a clean Debian 12 root
# made with debootstrap (cached under build/debootstrap/, reused across runs):
# `vaultvol --version` runs there, units, tmpfiles entry and man page are in
# place, the boot unit is enabled, purge removes them. Also: the RPM into an
# empty rpm root, the DKMS source tree built by dkms for one installed kernel,
# and the bundle unpacked like waagent does and driven through its wrapper.
#
# Without a reachable Debian mirror (and no cached root) the install checks
# fall back to `dpkg -x` and say so.
set -u
cd "$(dirname "$0")/../.." || exit 2
src=$PWD
. tests/suites/lib/common.bash
check() {	# NAME CMD...
	local n=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$n"; else bad "$n"; fi
}
version=$(sed -n 's/^VERSION *:= *//p' Makefile)
out=build/packages
T=$(mktemp -d /tmp/vv-packaging.XXXXXX)
ROOT=""
cleanup() {
	if [ -n "$ROOT" ] && [ -d "$ROOT" ]; then
		umount "$ROOT/proc" 2>/dev/null
		rm -rf "$ROOT"
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# ---- build --------------------------------------------------------------------
t0=$SECONDS
if [ ! -x build/vaultvol ]; then
	make -j2 build/vaultvol >"$T/make.log" 2>&1 || { bad "build/vaultvol" "make failed"; finish; }
fi
if packaging/build-all.sh >"$T/build.log" 2>&1; then
	ok "make packages: deb, rpm and bundle built ($((SECONDS - t0)) s)"
else
	tail -30 "$T/build.log"
	bad "make packages" "packaging/build-all.sh failed"
	finish
fi
deb=$out/vaultvol_${version}_amd64.deb
dkmsdeb=$out/vaultvol-dm-quiesce-dkms_${version}_all.deb
rpm=$out/vaultvol-${version}-1.x86_64.rpm
dkmsrpm=$out/vaultvol-dm-quiesce-dkms-${version}-1.noarch.rpm
zip=$out/vaultvol-handler-${version}.zip
for f in "$deb" "$dkmsdeb" "$rpm" "$dkmsrpm" "$zip"; do
	check "built $(basename "$f")" test -s "$f"
done

units=$(cd packaging/systemd && ls ./*.service ./*.timer 2>/dev/null | sed 's|^\./||')
dkmsdir=usr/src/vaultvol-dm-quiesce-$version

# ---- vaultvol(8) is truthful: every command and option of --help, no more ----
man=packaging/man/vaultvol.8
VV=build/vaultvol
{
	plain=$(sed 's/\\-/-/g' "$man")
	cmds=$("$VV" --help | awk '/^Commands:/{f=1; next} /^$/{f=0} f{print $1}')
	for c in $cmds; do
		missing=""
		grep -q "^\.SS \"$c\b" "$man" || missing="the section"
		for o in $("$VV" "$c" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u); do
			grep -qF -- "$o" <<<"$plain" || missing="$missing $o"
		done
		if [ -z "$missing" ]; then ok "man page documents '$c' and its options"; else bad "man page: $c" "missing$missing"; fi
	done
	missing=""
	for o in $("$VV" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u); do
		grep -qF -- "$o" <<<"$plain" || missing="$missing $o"
	done
	if [ -z "$missing" ]; then ok "man page documents the global options"; else bad "man page: global options" "missing$missing"; fi
	extra=""
	for c in $(sed -n '/^\.SH COMMANDS/,/^\.SH EXIT/s/^\.SS "\([a-z-]*\).*/\1/p' "$man" | sort -u); do
		grep -qx "$c" <<<"$cmds" || extra="$extra $c"
	done
	if [ -z "$extra" ]; then ok "man page documents no command that does not exist"; else bad "man page: unknown commands" "$extra"; fi
	missing=""
	for st in 0 1 2 3; do grep -q "^\.B $st\$" "$man" || missing="$missing $st"; done
	if [ -z "$missing" ]; then ok "man page lists exit statuses 0-3"; else bad "man page: exit statuses" "missing$missing"; fi
}

# ---- file lists -----------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{print $1, $NF}' >"$T/deb.list"
dpkg-deb -c "$dkmsdeb" | awk '{print $1, $NF}' >"$T/dkmsdeb.list"
inlist() {	# LIST MODE-REGEX PATH
	grep -Eq "^$2 \\./$3\$" "$1"
}
check "deb: /usr/sbin/vaultvol executable" inlist "$T/deb.list" '-rwxr-xr-x' usr/sbin/vaultvol
for u in $units; do
	check "deb: unit $u" inlist "$T/deb.list" '-rw-r--r--' "lib/systemd/system/$u"
done
check "deb: vaultvol-open.service among the units" inlist "$T/deb.list" '-rw-r--r--' lib/systemd/system/vaultvol-open.service
check "deb: the token plugin in libcryptsetup's plugin directory" inlist "$T/deb.list" '-rw-r--r--' \
	"usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/cryptsetup/libcryptsetup-token-vaultvol.so"
check "deb: tmpfiles entry" inlist "$T/deb.list" '-rw-r--r--' usr/lib/tmpfiles.d/vaultvol.conf
check "deb: initramfs-tools hook executable" inlist "$T/deb.list" '-rwxr-xr-x' \
	usr/share/initramfs-tools/hooks/vaultvol
check "deb: initramfs-tools local-top boot script executable" inlist "$T/deb.list" '-rwxr-xr-x' \
	usr/share/initramfs-tools/scripts/local-top/vaultvol
check "deb: trigger rebuilds the initramfs on install and removal" sh -c \
	"dpkg-deb -I '$deb' triggers | grep -qx 'activate-noawait update-initramfs'"
check "deb: dracut module executable" inlist "$T/deb.list" '-rwxr-xr-x' \
	usr/lib/dracut/modules.d/91vaultvol/module-setup.sh
check "deb: dracut module's systemd-cryptsetup drop-in" inlist "$T/deb.list" '-rw-r--r--' \
	usr/lib/dracut/modules.d/91vaultvol/vaultvol-cryptsetup.conf
check "dracut module: bash syntax (bash -n)" bash -n packaging/dracut/91vaultvol/module-setup.sh
for f in hooks/vaultvol scripts/local-top/vaultvol; do
	check "initramfs-tools $f: POSIX sh syntax (dash -n)" dash -n "packaging/initramfs-tools/$f"
done
check "initramfs-tools hook copies nothing from the keystore" sh -c \
	"! grep -n 'copy_[a-z]* .*etc/vaultvol/keys' packaging/initramfs-tools/hooks/vaultvol"
check "deb: man page vaultvol(8)" inlist "$T/deb.list" '-rw-r--r--' usr/share/man/man8/vaultvol.8.gz
check "deb: copyright" inlist "$T/deb.list" '-rw-r--r--' usr/share/doc/vaultvol/copyright
check "deb: handler docs" inlist "$T/deb.list" '-rw-r--r--' usr/share/doc/vaultvol/handler-settings.md.gz
check "deb: no module source in the program package" sh -c "! grep -q usr/src '$T/deb.list'"
check "dkms deb: dkms.conf" inlist "$T/dkmsdeb.list" '-rw-r--r--' "$dkmsdir/dkms.conf"
check "dkms deb: Kbuild" inlist "$T/dkmsdeb.list" '-rw-r--r--' "$dkmsdir/Kbuild"
check "dkms deb: dm-quiesce.c" inlist "$T/dkmsdeb.list" '-rw-r--r--' "$dkmsdir/dmtarget/dm-quiesce.c"
check "dkms deb: configure.sh executable" inlist "$T/dkmsdeb.list" '-rwxr-xr-x' "$dkmsdir/dmtarget/configure.sh"
check "dkms deb: depends on dkms" sh -c "dpkg-deb -f '$dkmsdeb' Depends | grep -q dkms"
check "dkms deb: postinst registers with dkms" sh -c "dpkg-deb -I '$dkmsdeb' postinst | grep -q common.postinst"
check "deb: depends on libcryptsetup" sh -c "dpkg-deb -f '$deb' Depends | grep -q libcryptsetup12"

rpm -qlp "$rpm" 2>/dev/null >"$T/rpm.list"
rpm -qlp "$dkmsrpm" 2>/dev/null >"$T/dkmsrpm.list"
check "rpm: /usr/sbin/vaultvol" grep -qx /usr/sbin/vaultvol "$T/rpm.list"
for u in $units; do
	check "rpm: unit $u" grep -qx "/usr/lib/systemd/system/$u" "$T/rpm.list"
done
check "rpm: the token plugin in %{_libdir}/cryptsetup" grep -qx \
	/usr/lib64/cryptsetup/libcryptsetup-token-vaultvol.so "$T/rpm.list"
check "rpm: tmpfiles entry" grep -qx /usr/lib/tmpfiles.d/vaultvol.conf "$T/rpm.list"
check "rpm: dracut module" grep -qx /usr/lib/dracut/modules.d/91vaultvol/module-setup.sh "$T/rpm.list"
check "rpm: man page vaultvol(8)" grep -Eqx '/usr/share/man/man8/vaultvol\.8(\.gz)?' "$T/rpm.list"
check "dkms rpm: dkms.conf" grep -qx "/$dkmsdir/dkms.conf" "$T/dkmsrpm.list"
check "dkms rpm: dm-quiesce.c" grep -qx "/$dkmsdir/dmtarget/dm-quiesce.c" "$T/dkmsrpm.list"
check "dkms rpm: requires dkms" sh -c "rpm -qp --requires '$dkmsrpm' 2>/dev/null | grep -qx dkms"
check "rpm: scriptlets enable the boot unit" sh -c "rpm -qp --scripts '$rpm' 2>/dev/null | grep -q 'preset vaultvol-open.service'"

# ---- lintian ---------------------------------------------------------------------
lintian --no-tag-display-limit "$deb" "$dkmsdeb" >"$T/lintian.log" 2>&1
if grep -q '^E:' "$T/lintian.log"; then
	grep '^E:' "$T/lintian.log"
	bad "lintian: no errors"
else
	ok "lintian: no errors ($(grep -c '^W:' "$T/lintian.log") warnings)"
fi

# ---- the .deb in a clean Debian 12 root ----------------------------------------
# The cached root is never modified: each run installs into a copy.
cache=build/debootstrap/bookworm
includes=libcryptsetup12,libdevmapper1.02.1,libcurl4,libjson-c5,libssl3,init-system-helpers
mirror=${VV_DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ ! -f "$cache/.vv-stamp" ] || [ "$(cat "$cache/.vv-stamp")" != "$includes" ]; then
	if [ -x "$cache/usr/bin/dpkg" ] && [ ! -f "$cache/.vv-stamp" ]; then
		echo "$includes" >"$cache/.vv-stamp"	# made by hand with the same includes
	else
		rm -rf "$cache" "$cache.tmp"
		mkdir -p "$(dirname "$cache")"
		echo "packaging: debootstrap bookworm from $mirror (cached in $cache)"
		if debootstrap --variant=minbase --include="$includes" bookworm "$cache.tmp" \
			"$mirror" >"$T/debootstrap.log" 2>&1; then
			echo "$includes" >"$cache.tmp/.vv-stamp"
			mv "$cache.tmp" "$cache"
		else
			tail -5 "$T/debootstrap.log"
			rm -rf "$cache.tmp"
		fi
	fi
fi
if [ -f "$cache/.vv-stamp" ]; then
	ROOT=$(mktemp -d "$src/build/debootstrap/run.XXXXXX")
	cp -a "$cache/." "$ROOT/"
	ok "clean Debian 12 root ready (debootstrap, cached)"
	cp "$deb" "$ROOT/tmp/vaultvol.deb"
	if chroot "$ROOT" dpkg -i /tmp/vaultvol.deb >"$T/dpkg-i.log" 2>&1; then
		ok "dpkg -i vaultvol.deb in the clean root"
	else
		cat "$T/dpkg-i.log"
		bad "dpkg -i vaultvol.deb in the clean root"
	fi
	v=$(chroot "$ROOT" /usr/sbin/vaultvol --version 2>&1)
	if [ "$v" = "vaultvol $version" ]; then ok "vaultvol --version runs in the root ($v)"; else bad "vaultvol --version" "$v"; fi
	check "vaultvol --help lists the handler command" sh -c "chroot '$ROOT' /usr/sbin/vaultvol --help | grep -q '^  handler '"
	for u in $units; do
		check "installed unit $u" test -f "$ROOT/lib/systemd/system/$u"
	done
	check "installed man page" test -f "$ROOT/usr/share/man/man8/vaultvol.8.gz"
	check "man page formats without errors" sh -c "zcat '$ROOT/usr/share/man/man8/vaultvol.8.gz' | groff -man -Tutf8 -ww -z"
	check "installed tmpfiles entry" test -f "$ROOT/usr/lib/tmpfiles.d/vaultvol.conf"
	check "installed initramfs-tools hook and script" sh -c \
		"test -x '$ROOT/usr/share/initramfs-tools/hooks/vaultvol' && test -x '$ROOT/usr/share/initramfs-tools/scripts/local-top/vaultvol'"
	plugin=usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/cryptsetup/libcryptsetup-token-vaultvol.so
	check "installed token plugin resolves its libraries in the root" \
		sh -c "chroot '$ROOT' ldd /$plugin | grep -q libcryptsetup && ! chroot '$ROOT' ldd /$plugin | grep -q 'not found'"
	check "boot unit enabled (wants symlink)" sh -c "ls -l '$ROOT'/etc/systemd/system/*.wants/vaultvol-open.service"
	check "dpkg says installed" sh -c "chroot '$ROOT' dpkg-query -W -f='\${Status}' vaultvol | grep -q 'install ok installed'"
	# What an administrator keeps: keys and header backups survive purge.
	mkdir -p "$ROOT/etc/vaultvol/keys" "$ROOT/var/lib/vaultvol"
	echo keep >"$ROOT/etc/vaultvol/keys/k"
	if chroot "$ROOT" dpkg --purge vaultvol >"$T/purge.log" 2>&1; then
		ok "dpkg --purge vaultvol"
	else
		cat "$T/purge.log"
		bad "dpkg --purge vaultvol"
	fi
	check "purge removed the binary" test ! -e "$ROOT/usr/sbin/vaultvol"
	for u in $units; do
		check "purge removed unit $u" test ! -e "$ROOT/lib/systemd/system/$u"
	done
	check "purge removed the man page" test ! -e "$ROOT/usr/share/man/man8/vaultvol.8.gz"
	check "purge removed the tmpfiles entry" test ! -e "$ROOT/usr/lib/tmpfiles.d/vaultvol.conf"
	check "purge removed the token plugin" test ! -e "$ROOT/$plugin"
	check "purge removed the initramfs-tools hook and script" sh -c \
		"test ! -e '$ROOT/usr/share/initramfs-tools/hooks/vaultvol' && test ! -e '$ROOT/usr/share/initramfs-tools/scripts/local-top/vaultvol'"
	check "purge removed the wants symlink" sh -c "! ls '$ROOT'/etc/systemd/system/*.wants/vaultvol-open.service"
	check "purge left no dpkg record" sh -c "! chroot '$ROOT' dpkg-query -W vaultvol"
	check "purge kept the keystore" test -f "$ROOT/etc/vaultvol/keys/k"
	rm -rf "$ROOT"
	ROOT=""
else
	echo "packaging: debootstrap could not reach $mirror and no cached root exists;"
	echo "packaging: falling back to dpkg -x checks (no install/purge test)"
	mkdir -p "$T/x"
	check "dpkg -x vaultvol.deb" dpkg -x "$deb" "$T/x"
	v=$("$T/x/usr/sbin/vaultvol" --version 2>&1)
	if [ "$v" = "vaultvol $version" ]; then ok "extracted vaultvol --version ($v)"; else bad "extracted --version" "$v"; fi
	check "extracted man page" test -f "$T/x/usr/share/man/man8/vaultvol.8.gz"
	check "extracted unit" test -f "$T/x/lib/systemd/system/vaultvol-open.service"
fi

# ---- the RPM in an empty rpm root ---------------------------------------------
r=$T/rpmroot
mkdir -p "$r"
rpm --root "$r" --initdb 2>/dev/null
if rpm --root "$r" -i --nodeps --noscripts "$rpm" "$dkmsrpm" >"$T/rpm-i.log" 2>&1; then
	ok "rpm -i into an empty root"
	check "rpm root: binary runs" sh -c "'$r/usr/sbin/vaultvol' --version | grep -qx 'vaultvol $version'"
	check "rpm root: unit" test -f "$r/usr/lib/systemd/system/vaultvol-open.service"
	check "rpm -e removes it" sh -c "rpm --root '$r' -e --nodeps --noscripts vaultvol vaultvol-dm-quiesce-dkms && test ! -e '$r/usr/sbin/vaultvol' && test ! -e '$r/$dkmsdir'"
else
	cat "$T/rpm-i.log"
	bad "rpm -i into an empty root"
fi

# ---- the DKMS source tree builds with dkms ----------------------------------------
kver=$(ls /lib/modules/*/build/Makefile 2>/dev/null | head -1 | sed 's|/lib/modules/||; s|/build/Makefile||')
if [ -n "$kver" ] && command -v dkms >/dev/null; then
	mkdir -p "$T/dkx" "$T/dkmstree"
	dpkg -x "$dkmsdeb" "$T/dkx"
	if dkms build -m vaultvol-dm-quiesce -v "$version" -k "$kver" \
		--sourcetree "$T/dkx/usr/src" --dkmstree "$T/dkmstree" >"$T/dkms.log" 2>&1 &&
		find "$T/dkmstree" -name 'dm-quiesce.ko*' | grep -q .; then
		ok "dkms builds the packaged source for $kver"
	else
		tail -20 "$T/dkms.log"
		bad "dkms build for $kver"
	fi
else
	bad "dkms build" "no kernel headers or no dkms"
fi

# ---- the extension bundle -------------------------------------------------------
b=$T/waagent/Vaultvol.Linux-$version
mkdir -p "$b"
unzip -q "$zip" -d "$b"
# waagent unpacks with Python's zipfile (no modes) and then marks files u+x.
find "$b" -type f -exec chmod 0644 {} + -exec chmod u+x {} +
check "bundle: HandlerManifest.json at the top" test -f "$b/HandlerManifest.json"
check "bundle: manifest is the waagent format" python3 - "$b/HandlerManifest.json" <<'PY'
import json, os, sys
m = json.load(open(sys.argv[1]))
assert isinstance(m, list) and len(m) == 1 and m[0]["version"] == 1.0
h = m[0]["handlerManifest"]
for k in ("installCommand", "uninstallCommand", "updateCommand", "enableCommand",
          "disableCommand", "reportHeartbeat", "updateMode"):
    assert k in h, k
base = os.path.dirname(sys.argv[1])
for k in ("installCommand", "uninstallCommand", "updateCommand", "enableCommand", "disableCommand"):
    script = h[k].split()[0]
    assert os.path.isfile(os.path.join(base, script)), script
PY
check "bundle: wrapper is POSIX sh" sh -n "$b/vaultvol-handler"
check "bundle: carries no glibc" sh -c "! ls '$b/lib' | grep -Eq '^(libc|libm|ld-linux|libpthread)\\.so'"
check "bundle: binary resolves with lib/ only" sh -c "! LD_LIBRARY_PATH='$b/lib' ldd '$b/bin/vaultvol' | grep -q 'not found'"
cat >"$b/HandlerEnvironment.json" <<EOF
[{"name": "Vaultvol.Linux", "version": "1.0", "handlerEnvironment": {
  "logFolder": "$T/extlog", "configFolder": "$b/config", "statusFolder": "$b/status",
  "heartbeatFile": "$b/heartbeat.log"}}]
EOF
mkdir -p "$b/config" "$T/root" "$T/luns"
# A volume nobody describes: the reopen reports it and touches nothing.
echo '{"runtimeSettings": [{"handlerSettings": {"publicSettings": {"operation": "reopen", "volumes": ["nosuch"]}}}]}' \
	>"$b/config/0.settings"
(cd "$b" && VAULTVOL_ROOT=$T/root VAULTVOL_LUN_DIR=$T/luns ./vaultvol-handler install) >"$T/bundle.log" 2>&1
check "bundle: install through the wrapper" test -d "$b/status"
(cd / && VAULTVOL_ROOT=$T/root VAULTVOL_LUN_DIR=$T/luns ConfigSequenceNumber=0 \
	"$b/vaultvol-handler" enable) >>"$T/bundle.log" 2>&1
check "bundle: enable wrote 0.status (handler dir found by the wrapper)" test -f "$b/status/0.status"
check "bundle: status reports the unknown volume" sh -c "grep -q '\"name\":\"nosuch\"' '$b/status/0.status'"
check "bundle: log in logFolder" test -s "$T/extlog/vaultvol-handler.log"
finish
