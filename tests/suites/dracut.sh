#!/bin/bash
# The dracut module (issue 16, packaging/dracut/91vaultvol,
# docs/initramfs.md) on the host: real dracut (dracut-core) builds initramfs
# images with it, uncompressed, for this machine's first kernel, in a
# private mount namespace where the module is in dracut's module directory,
# the plugin built here is bound over libcryptsetup's plugin directory and
# /etc/vaultvol is an overlay holding a config, a drop-in, a CA and a
# keystore (nothing is installed on the host). Checked in the unpacked
# image: the plugin where libcryptsetup looks, its libraries, config,
# drop-in, CA bundle and the ca_file, the systemd-cryptsetup drop-in that
# orders unlocking after the network, systemd-cryptsetup and its generator
# (dracut's crypt module, which does the unlocking), vfat for the BEK
# VOLUME; the keystore never (by path and by content); a module that put the
# keystore in before ours fails the build; without the plugin the module
# cannot be installed. Booting such an image: not yet (docs/initramfs.md).
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/suites/lib/common.bash
t0=$SECONDS
SO=$PWD/build/libcryptsetup-token-vaultvol.so
MOD=$PWD/packaging/dracut/91vaultvol
T=$(mktemp -d /tmp/vv-dracut.XXXXXX)
LOOPS=()
trap "${KEEP:+:} suite_cleanup" EXIT	# KEEP=1: $T stays, for a look
command -v dracut >/dev/null || { bad "dracut installed (tests/deps.sh: dracut-core)"; finish; }
[ -f "$SO" ] || { bad "the plugin built (make userspace)"; finish; }
PLUGDIR=$(cryptsetup --help | sed -n 's/^LUKS2 external token plugin path: \(.*\)\.$/\1/p')
kver=$(ls /lib/modules | sort -V | head -1)
DMODS=/usr/lib/dracut/modules.d
mkdir -p "$T/plug" "$T/up/vaultvol/conf.d" "$T/up/vaultvol/keys/root" "$T/work" \
	"$T/mods/91vaultvol" "$T/mods/90vvtestkeys" "$T/mwork" "$T/noplug"
# Mode 0644, as the packages install it (dracut resolves the libraries of
# executable files by itself, not of this one).
install -m 644 "$SO" "$T/plug/"
cp -a "$PLUGDIR"/. "$T/noplug/"
cp "$MOD"/* "$T/mods/91vaultvol/"
etc_fixture "$T/up"
# A module that (wrongly) copies the keystore, ordered before ours.
cat >"$T/mods/90vvtestkeys/module-setup.sh" <<'X'
#!/bin/bash
check() { return 255; }
depends() { return 0; }
install() { inst_simple /etc/vaultvol/keys/root/1; }
X
chmod 755 "$T/mods"/*/module-setup.sh
# ns.sh PLUGIN-DIR CMD...: the namespace, then CMD.
cat >"$T/ns.sh" <<X
#!/bin/bash
plug=\$1; shift
mount --make-rprivate / &&
	mount -t overlay overlay -o lowerdir=/etc,upperdir=$T/up,workdir=$T/work /etc &&
	mount -t overlay overlay -o lowerdir=$DMODS,upperdir=$T/mods,workdir=$T/mwork $DMODS &&
	mount --bind "\$plug" $PLUGDIR || exit 99
exec "\$@"
X
chmod +x "$T/ns.sh"
build() {	# NAME PLUGIN-DIR MODULES: image $T/NAME.img, log $T/NAME.log
	timeout 300 unshare -m "$T/ns.sh" "$2" dracut --force --no-hostonly --no-compress \
		--no-early-microcode -m "$3" --kver "$kver" "$T/$1.img" >"$T/$1.log" 2>&1
}

if build img "$T/plug" "systemd crypt vaultvol"; then
	ok "dracut builds an image with the module (systemd crypt vaultvol)"
else
	bad "dracut builds an image with the module" "$(tail -5 "$T/img.log")"
	finish
fi
mkdir -p "$T/x" && (cd "$T/x" && cpio -idm --quiet <"$T/img.img") ||
	{ bad "the image unpacks (cpio)"; finish; }
x=$T/x
[ -f "$x$PLUGDIR/libcryptsetup-token-vaultvol.so" ] &&
	ok "plugin in libcryptsetup's plugin directory ($PLUGDIR)" || bad "plugin in $PLUGDIR"
# Every library the plugin needs, resolved by the image's own loader, in
# this image and in one without systemd (where no other module brings
# libssl or libcurl along: dracut resolves only executables by itself).
for img in img min; do
	if [ $img = min ]; then
		build min "$T/plug" "crypt vaultvol" && mkdir -p "$T/xm" &&
			(cd "$T/xm" && cpio -idm --quiet <"$T/min.img") ||
			{ bad "dracut builds an image without systemd (crypt vaultvol)" "$(tail -5 "$T/min.log")"; continue; }
		r=$T/xm
	else
		r=$x
	fi
	ld=$(cd "$r" && ls lib64/ld-linux-*.so.* usr/lib64/ld-linux-*.so.* 2>/dev/null | head -1)
	libs=$(chroot "$r" "/$ld" --list "$PLUGDIR/libcryptsetup-token-vaultvol.so" 2>&1)
	if [ -n "$ld" ] && grep -q libcurl <<<"$libs" && grep -q libssl <<<"$libs" &&
	   ! grep -q "not found" <<<"$libs"; then
		ok "$img: the plugin's libraries all in the image (libcurl, libssl, json-c...)"
	else
		bad "$img: the plugin's libraries all in the image" "$(grep "not found" <<<"$libs" | tr '\n' ' ')"
	fi
done
cmp -s "$x/etc/vaultvol/vaultvol.conf" "$T/up/vaultvol/vaultvol.conf" &&
	ok "vaultvol.conf" || bad "vaultvol.conf"
[ -f "$x/etc/vaultvol/conf.d/50-op.conf" ] && ok "conf.d drop-in" || bad "conf.d drop-in"
[ -f "$x$T/ca-not-really.pem" ] && ok "the ca_file the config names" || bad "ca_file"
[ -f "$x/etc/ssl/certs/ca-certificates.crt" ] && ok "the system's CA bundle" || bad "CA bundle"
grep -qx 'After=network-online.target' \
	"$x/usr/lib/systemd/system/systemd-cryptsetup@.service.d/vaultvol.conf" 2>/dev/null &&
	ok "systemd-cryptsetup@ ordered after the network (drop-in)" || bad "systemd-cryptsetup drop-in"
[ -x "$x/usr/lib/systemd/systemd-cryptsetup" ] &&
	[ -x "$x/usr/lib/systemd/system-generators/systemd-cryptsetup-generator" ] &&
	ok "systemd-cryptsetup and its generator (dracut's crypt module unlocks)" ||
	bad "systemd-cryptsetup in the image"
find "$x" -name 'vfat.ko*' | grep -q . && find "$x" -name 'nls_cp437.ko*' | grep -q . &&
	find "$x" -name 'nls_utf8.ko*' | grep -q . &&
	ok "vfat, nls_cp437 and nls_utf8 for the BEK VOLUME" || bad "vfat modules"
[ ! -e "$x/etc/vaultvol/keys" ] && ok "no keystore directory" || bad "no keystore directory"
grep -r -l -F "$keyval" "$x" >/dev/null 2>&1 && bad "keystore value in the image" ||
	ok "the keystore's value in no file of the image"

if build keys "$T/plug" "systemd crypt vvtestkeys vaultvol"; then
	bad "a keystore in the image fails the build"
else
	grep -q "keystore /etc/vaultvol/keys ended up in the initramfs" "$T/keys.log" &&
		ok "a keystore in the image fails the build, saying so" ||
		bad "keystore failure message" "$(tail -5 "$T/keys.log")"
fi
if build noplug "$T/noplug" "systemd crypt vaultvol"; then
	bad "without the plugin the module cannot be installed"
else
	grep -q "vaultvol" "$T/noplug.log" && ok "without the plugin the module cannot be installed" ||
		bad "no-plugin message" "$(tail -5 "$T/noplug.log")"
fi
echo "dracut: $((SECONDS - t0)) s"
finish
