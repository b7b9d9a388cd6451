#!/bin/bash
# The initramfs-tools hook and boot script (issue 16,
# packaging/initramfs-tools, docs/initramfs.md) on the host, without
# building or booting an initramfs (tests/system/scenarios/root_token.sh
# boots one):
#   hook    run as mkinitramfs runs it, into a scratch DESTDIR, in a private
#           mount namespace where /etc/vaultvol is an overlay holding a
#           config, a drop-in, a CA and a keystore, and the plugin built here
#           is bound over libcryptsetup's plugin directory: nothing without
#           a cryptroot crypttab; with one, the plugin (where libcryptsetup
#           looks), its libraries, config, drop-in, CA, ip and vfat; the
#           keystore never (by path and by content); a DESTDIR that holds
#           the keystore fails the build
#   script  a copy of scripts/local-top/vaultvol with its two fixed paths
#           (/scripts/functions, /cryptroot/crypttab) pointed at the test's,
#           and cryptsetup, sleep, date and ip stubbed (a fake clock): the
#           first try opens; an unreachable vault is retried with backoff and
#           then opens; a vault unreachable for longer than vaultvol.retry=
#           gives up within the bound; any other failure stops at once with
#           the cause; a volume without a vaultvol token or already open is
#           not touched.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/suites/lib/common.bash
SO=$PWD/build/libcryptsetup-token-vaultvol.so
HOOK=$PWD/packaging/initramfs-tools/hooks/vaultvol
SCRIPT=$PWD/packaging/initramfs-tools/scripts/local-top/vaultvol
T=$(mktemp -d /tmp/vv-initramfs.XXXXXX)
LOOPS=()
trap suite_cleanup EXIT
[ -f "$SO" ] || { bad "the plugin built (make userspace)"; finish; }

# ---- the hook -------------------------------------------------------------------
PLUGDIR=$(cryptsetup --help | sed -n 's/^LUKS2 external token plugin path: \(.*\)\.$/\1/p')
kver=$(ls /lib/modules | sort -V | head -1)
mkdir -p "$T/plug" "$T/up/vaultvol/conf.d" "$T/up/vaultvol/keys/root" "$T/work"
cp "$SO" "$T/plug/"
etc_fixture "$T/up"
cat >"$T/ns.sh" <<X
#!/bin/bash
mount --make-rprivate / &&
	mount -t overlay overlay -o lowerdir=/etc,upperdir=$T/up,workdir=$T/work /etc &&
	mount --bind $T/plug $PLUGDIR || exit 99
exec "\$@"
X
chmod +x "$T/ns.sh"
hook() {	# DESTDIR
	timeout 120 unshare -m "$T/ns.sh" env DESTDIR="$1" version="$kver" verbose=n sh "$HOOK" \
		>"$1.log" 2>&1
}
mkdir -p "$T/d0"
hook "$T/d0" && [ -z "$(find "$T/d0" -type f)" ] &&
	ok "hook: no cryptroot crypttab, nothing added" || bad "hook: no cryptroot crypttab, nothing added" "$(cat "$T/d0.log")"
mkdir -p "$T/d1/cryptroot"
echo "vvroot UUID=x none luks" >"$T/d1/cryptroot/crypttab"
if hook "$T/d1"; then ok "hook: runs with a cryptroot crypttab"; else bad "hook: runs" "$(cat "$T/d1.log")"; fi
d=$T/d1
usrp=/usr${PLUGDIR#/usr}
[ -f "$d$usrp/libcryptsetup-token-vaultvol.so" ] &&
	ok "hook: plugin in libcryptsetup's plugin directory ($usrp)" || bad "hook: plugin in $usrp"
ls "$d"/usr/lib/*/libcurl.so.* >/dev/null 2>&1 && ls "$d"/usr/lib/*/libjson-c.so.* >/dev/null 2>&1 &&
	ok "hook: the plugin's libraries (libcurl, json-c)" || bad "hook: the plugin's libraries"
cmp -s "$d/etc/vaultvol/vaultvol.conf" "$T/up/vaultvol/vaultvol.conf" &&
	[ "$(stat -c %a "$d/etc/vaultvol/vaultvol.conf")" = "$(stat -c %a "$T/up/vaultvol/vaultvol.conf")" ] &&
	ok "hook: vaultvol.conf, mode kept" || bad "hook: vaultvol.conf"
[ -f "$d/etc/vaultvol/conf.d/50-op.conf" ] && ok "hook: conf.d drop-in" || bad "hook: conf.d drop-in"
[ -f "$d$T/ca-not-really.pem" ] && ok "hook: the ca_file the config names" || bad "hook: ca_file"
[ -x "$d/usr/sbin/ip" ] || [ -x "$d/sbin/ip" ] && ok "hook: ip" || bad "hook: ip"
find "$d" -name 'vfat.ko*' | grep -q . && find "$d" -name 'nls_cp437.ko*' | grep -q . &&
	find "$d" -name 'nls_utf8.ko*' | grep -q . &&
	ok "hook: vfat, nls_cp437 and nls_utf8 for the BEK VOLUME" || bad "hook: vfat modules"
[ ! -e "$d/etc/vaultvol/keys" ] && ok "hook: no keystore directory" || bad "hook: no keystore directory"
grep -r -l -F "$keyval" "$d" >/dev/null 2>&1 && bad "hook: keystore value in DESTDIR" ||
	ok "hook: the keystore's value in no file of DESTDIR"
mkdir -p "$T/d2/cryptroot" "$T/d2/etc/vaultvol/keys"
cp "$T/d1/cryptroot/crypttab" "$T/d2/cryptroot/"
hook "$T/d2" && bad "hook: a keystore in DESTDIR fails the build" ||
	{ grep -q "keystore" "$T/d2.log" && ok "hook: a keystore in DESTDIR fails the build, saying so" ||
		bad "hook: keystore failure message" "$(cat "$T/d2.log")"; }

# ---- the boot script ------------------------------------------------------------
S=$T/s
mkdir -p "$S/bin"
dev=$(losetup -f --show "$(truncate -s 1M "$T/blk" && echo "$T/blk")") && LOOPS+=("$dev") ||
	{ bad "a loop device"; finish; }
# The fixed paths pointed at the test's; nothing else changed.
sed -e "s|^\. /scripts/functions|. $S/functions|" -e "s|^tab=/cryptroot/crypttab|tab=$S/crypttab|" \
	-e "s|/proc/cmdline|$S/cmdline|" "$SCRIPT" >"$S/vaultvol"
cat >"$S/functions" <<'X'
wait_for_udev() { :; }
configure_networking() { echo "configure_networking called" >>"$STUB/calls"; }
X
cat >"$S/bin/sleep" <<'X'
#!/bin/sh
echo "sleep $1" >>"$STUB/calls"
echo $(( $(cat "$STUB/clock") + $1 )) >"$STUB/clock"
X
cat >"$S/bin/date" <<'X'
#!/bin/sh
cat "$STUB/clock"
X
printf '#!/bin/sh\nexit 0\n' >"$S/bin/ip"
cat >"$S/bin/cryptsetup" <<'X'
#!/bin/sh
case "$1 $2" in
"isLuks --type") exit 0 ;;
"luksDump --dump-json-metadata") cat "$STUB/meta"; exit 0 ;;
"-v open")
	echo "open $*" >>"$STUB/calls"
	n=$(( $(cat "$STUB/tries") + 1 )); echo $n >"$STUB/tries"
	mode=$(cat "$STUB/mode")
	case "$mode" in
	ok) exit 0 ;;
	eagain:*) [ "$n" -gt "${mode#eagain:}" ] && exit 0
		echo "Token (type vaultvol) requires additional missing resource."
		echo "Command failed with code -2 (no permission or bad passphrase)."; exit 2 ;;
	enoent) echo "vaultvol: no key access (not-found) for https://v/secrets/x"
		echo "No usable token (type vaultvol) is available."; exit 1 ;;
	esac ;;
esac
exit 3
X
chmod +x "$S/bin/"*
export STUB=$S
run_script() {	# MODE RETRY [TOKENTYPE]
	echo "$1" >"$S/mode"; echo 0 >"$S/tries"; echo 1000 >"$S/clock"; : >"$S/calls"
	echo "vvtest$$ $dev none luks,discard" >"$S/crypttab"
	echo "root=/dev/mapper/x ${2:+vaultvol.retry=$2}" >"$S/cmdline"
	printf '{"tokens":{"0":{"type": "%s","key":"https://v.vault.azure.net/secrets/x/1"}}}' "${3:-vaultvol}" >"$S/meta"
	PATH=$S/bin:$PATH sh "$S/vaultvol" >"$S/out" 2>&1
}
run_script ok "" && grep -q "unlocked by its vaultvol token (try 1)" "$S/out" &&
	grep -q -- "open --token-only --token-type vaultvol --allow-discards $dev vvtest$$" "$S/calls" &&
	! grep -q "^sleep" "$S/calls" &&
	ok "script: opens through the token on the first try (discard passed on)" || bad "script: first try" "$(cat "$S/out" "$S/calls")"
run_script eagain:3 "" && grep -q "unlocked by its vaultvol token (try 4)" "$S/out" &&
	[ "$(grep -c "key source unreachable, try" "$S/out")" = 3 ] &&
	[ "$(grep "^sleep" "$S/calls" | tr '\n' ' ')" = "sleep 2 sleep 4 sleep 8 " ] &&
	ok "script: an unreachable vault is retried (2, 4, 8 s), one console line per try, then opens" ||
	bad "script: retry" "$(cat "$S/out" "$S/calls")"
run_script eagain:1000 20 && grep -q "unreachable for 20 s" "$S/out" && grep -q "passphrase prompt next" "$S/out" &&
	[ "$(cat "$S/clock")" -le 1020 ] &&
	ok "script: vaultvol.retry=20 bounds the retries (gave up at +$(( $(cat "$S/clock") - 1000 )) s, $(cat "$S/tries") tries)" ||
	bad "script: retry bound" "$(cat "$S/out" "$S/clock")"
run_script enoent "" && [ "$(cat "$S/tries")" = 1 ] && grep -q "vvtest$$ ($dev) not unlocked by its vaultvol token: No usable token" "$S/out" &&
	grep -q "no key access (not-found)" "$S/out" &&
	ok "script: another failure: one try, the volume and the cause on the console, prompt next" ||
	bad "script: enoent" "$(cat "$S/out")"
run_script ok "" luks2-other && [ "$(cat "$S/tries")" = 0 ] &&
	ok "script: a volume without a vaultvol token is left to cryptroot" || bad "script: no token" "$(cat "$S/out")"
nic=$(ls /sys/class/net | grep -v -x lo | head -1)
run_script ok ""
if [ -n "$nic" ]; then
	grep -q "configure_networking" "$S/calls" && ok "script: a vault key and a network device ($nic): configure_networking" ||
		bad "script: configure_networking with a NIC"
else
	grep -q "configure_networking" "$S/calls" && bad "script: no network device, no configure_networking" ||
		ok "script: no network device: no configure_networking, no wait"
fi
echo ok >"$S/mode"; echo 0 >"$S/tries"; : >"$S/calls"
printf '{"tokens":{"0":{"type":"vaultvol","key":"keystore:root"}}}' >"$S/meta"
PATH=$S/bin:$PATH sh "$S/vaultvol" >"$S/out" 2>&1
grep -q "unlocked by its vaultvol token" "$S/out" && ! grep -q "configure_networking" "$S/calls" &&
	ok "script: a keystore key: no network brought up" || bad "script: keystore key, no network" "$(cat "$S/out" "$S/calls")"
finish
