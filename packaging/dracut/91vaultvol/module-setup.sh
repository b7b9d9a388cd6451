#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dracut module of vaultvol (issue 16; RHEL family, and Debian with dracut):
# what libcryptsetup needs in the initramfs to unlock a LUKS2 volume through
# its vaultvol token: the token plugin at libcryptsetup's plugin directory
# (its libraries follow it), vaultvol's configuration (vaultvol.conf,
# conf.d/*.conf and any ca_file they name), the system's CA bundle, and vfat
# with its code pages for the BEK VOLUME.
#
# No boot script of our own: dracut's crypt module already unlocks through
# tokens. With systemd in the initramfs, systemd-cryptsetup tries a volume's
# tokens before it asks for a passphrase (as it does for a crypttab line on a
# booted system, docs/token-plugin.md); without it, cryptroot-ask's
# `cryptsetup luksOpen` tries them too. Both fall back to the passphrase
# prompt (the recovery passphrase) when the plugin cannot get the key.
# Which volumes carry a vaultvol token is read from their headers at boot,
# so a token added later (`vaultvol adopt`) needs no rebuild.
#
# Never added: the local keystore (/etc/vaultvol/keys) or anything else that
# holds a key. An initramfs is a readable file on the unencrypted /boot; the
# build fails if the keystore ends up in it.

# The plugin as the package installed it (Debian's multiarch or the RPM's
# libdir).
vaultvol_plugin() {
	local p
	for p in "$dracutsysrootdir"/usr/lib/*/cryptsetup/libcryptsetup-token-vaultvol.so \
		 "$dracutsysrootdir"/usr/lib64/cryptsetup/libcryptsetup-token-vaultvol.so; do
		[[ -f $p ]] && { echo "${p#"$dracutsysrootdir"}"; return 0; }
	done
	return 1
}

check() {
	vaultvol_plugin >/dev/null || return 1
	# As dracut's crypt module: in host-only mode, only when a LUKS device
	# is needed to mount the root; otherwise when asked (--add vaultvol).
	if [[ $hostonly ]] || [[ $mount_needs ]]; then
		local fs
		for fs in "${host_fs_types[@]}"; do
			[[ $fs == "crypto_LUKS" ]] && return 0
		done
		return 255
	fi
	return 0
}

depends() {
	echo crypt
	return 0
}

installkernel() {
	# The BEK VOLUME is FAT (vfat, code page 437, iso8859-1 names); the
	# plugin mounts it with iocharset=utf8: nls_utf8 (a module on Debian).
	hostonly='' instmods vfat nls_cp437 nls_iso8859_1 nls_utf8
}

install() {
	local plugin tokdir f ca

	plugin=$(vaultvol_plugin) || return 1
	# Where libcryptsetup looks for external token plugins: the directory
	# compiled into it (Debian 12: /lib/x86_64-linux-gnu/cryptsetup), which
	# need not be the package's /usr path inside the initramfs.
	tokdir=$(cryptsetup --help 2>/dev/null |
		sed -n 's/^LUKS2 external token plugin path: \(.*\)\.$/\1/p')
	[[ $tokdir ]] || tokdir=${plugin%/*}
	inst_library "$plugin" "$tokdir/libcryptsetup-token-vaultvol.so"
	# Its libraries, named one by one: dracut resolves the libraries of
	# executable files only, and the plugin is installed 0644 (without this,
	# libcurl, libssl and json-c come only if another module needs them,
	# and libcryptsetup cannot load the plugin). ldd lists the closure.
	local lib
	while read -r lib; do
		inst_library "$lib"
	done < <(ldd "$plugin" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p')

	for f in "$dracutsysrootdir"/etc/vaultvol/vaultvol.conf \
		 "$dracutsysrootdir"/etc/vaultvol/conf.d/*.conf; do
		[[ -f $f ]] || continue
		inst_simple "${f#"$dracutsysrootdir"}"
		# A CA the configuration names (ca_file = PATH): a certificate.
		while read -r ca; do
			[[ -f $dracutsysrootdir$ca ]] && inst_simple "$ca"
		done < <(sed -n 's/^[[:space:]]*ca_file[[:space:]]*=[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$f")
	done
	inst_multiple -o /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt

	# A vault key needs the network: systemd-cryptsetup after it is up
	# (network-online.target is reached at once when nothing brings a
	# network up, e.g. rd.neednet is not given).
	inst_simple "$moddir/vaultvol-cryptsetup.conf" \
		"$systemdsystemunitdir/systemd-cryptsetup@.service.d/vaultvol.conf"

	# Belt and braces: nothing under the keystore may have been copied (by
	# an earlier module). dracut ignores what install() returns; exit ends
	# the build (dracut's exit trap removes its work directory).
	if [[ -e $initdir/etc/vaultvol/keys ]]; then
		dfatal "vaultvol: the keystore /etc/vaultvol/keys ended up in the initramfs; remove what put it there"
		exit 1
	fi
	return 0
}
