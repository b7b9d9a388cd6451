# vm-kernels: 6.1 6.12
# The platform's BEK VOLUME: a vfat disk labelled "BEK VOLUME" (here the
# second disk, after a decoy vfat disk holding the same file names) with
# per-disk passphrase files and a BitLocker startup key. `vaultvol key show
# bek:NAME` must find it through libblkid, mount it read-only/private under
# /run/vaultvol, print the right fingerprint (raw file bytes: no base64
# decoding even when the passphrase looks like base64), never the key, and
# leave nothing mounted and the volume unchanged.
vm_disk decoy 16M
vm_disk bek 16M
vm_boot --disk decoy --disk bek <<'GUEST'
GUID=3F2504E0-4F89-11D3-9A0C-0305E82C3301
step mkfs-decoy mkfs.vfat -n DATA /dev/vda
step mkfs-bek mkfs.vfat -n "BEK VOLUME" /dev/vdb
mkdir -p /mnt/w /mnt/d
step fill-decoy sh -c 'mount -t vfat -o iocharset=utf8 /dev/vda /mnt/d &&
	printf decoy-os >/mnt/d/LinuxPassPhraseFileName &&
	printf decoy-1-0 >/mnt/d/LinuxPassPhraseFileName_1_0 && umount /mnt/d'
step fill-bek sh -c "mount -t vfat -o iocharset=utf8 /dev/vdb /mnt/w &&
	printf '%s' 'Zm9vYmFy+os/passphrase=' >/mnt/w/LinuxPassPhraseFileName &&
	printf '%s' 'Zm9vYmFy-data-1-0' >/mnt/w/LinuxPassPhraseFileName_1_0 &&
	printf '%s' 'other-disk-1-1' >/mnt/w/LinuxPassPhraseFileName_1_1 &&
	head -c 156 /dev/urandom >/mnt/w/$GUID.BEK"
fp() { sha256sum "$1" | cut -d' ' -f1; }
FP_OS=$(fp /mnt/w/LinuxPassPhraseFileName)
FP_10=$(fp /mnt/w/LinuxPassPhraseFileName_1_0)
FP_BEK=$(fp /mnt/w/$GUID.BEK)
umount /mnt/w
BEFORE=$(fp /dev/vdb)

unmounted() { ! grep -q '^/dev/vdb ' /proc/mounts && ! grep -q /run/vaultvol/ /proc/mounts; }
no_leftovers() { [ -z "$(ls -A /run/vaultvol)" ]; }

step show-1-0 sh -c 'vaultvol key show bek:LinuxPassPhraseFileName_1_0 >/tmp/s10 2>/tmp/e10'
cat /tmp/s10 /tmp/e10
step fingerprint-1-0 grep -q "^fingerprint: *sha256:$FP_10\$" /tmp/s10
step length-1-0 grep -q '^length: *17 bytes$' /tmp/s10
step source-bek-volume grep -q '^source: *bek-volume$' /tmp/s10
step reference-1-0 grep -q '^reference: *bek:LinuxPassPhraseFileName_1_0$' /tmp/s10
step not-wrapped grep -q '^wrapped: *no$' /tmp/s10
step no-key-in-output sh -c '! grep -q -e Zm9vYmFy-data -e decoy /tmp/s10 /tmp/e10'
step unmounted-after unmounted
step no-leftover-dir no_leftovers
step run-dir-0700 sh -c '[ "$(stat -c %a /run/vaultvol)" = 700 ]'

# "bek:" alone is the OS disk file; JSON output.
step show-os sh -c 'vaultvol --json key show bek: >/tmp/sos'
cat /tmp/sos
step fingerprint-os grep -q "\"sha256\":\"$FP_OS\"" /tmp/sos
step json-source grep -q '"source":"bek-volume"' /tmp/sos

# The BitLocker startup key, by name (any case) and as the only *.BEK.
step show-bek-guid sh -c "vaultvol key show bek:$GUID.BEK >/tmp/sbek"
step fingerprint-bek grep -q "sha256:$FP_BEK" /tmp/sbek
step kind-bek grep -q 'BitLocker startup key' /tmp/sbek
step length-bek grep -q '^length: *156 bytes$' /tmp/sbek
step show-bek-lowercase sh -c "vaultvol key show bek:$(echo $GUID | tr A-Z a-z).bek | grep -q sha256:$FP_BEK"
step show-bek-any sh -c "vaultvol key show 'bek:*.BEK' | grep -q sha256:$FP_BEK"

# How it was mounted, from the debug log (mountinfo while mounted).
step debug-show sh -c 'vaultvol -v -v key show bek:LinuxPassPhraseFileName_1_0 >/dev/null 2>/tmp/dbg'
cat /tmp/dbg
step mounted-under-run grep -q 'mounted on /run/vaultvol/bek-' /tmp/dbg
step ro-nosuid-nodev-noexec grep -q 'vfs options ro,nosuid,nodev,noexec' /tmp/dbg
step fmask-dmask sh -c "grep -q 'fmask=0077' /tmp/dbg && grep -q 'dmask=0077' /tmp/dbg"
step private-propagation grep -q 'propagation private' /tmp/dbg
step debug-no-key sh -c '! grep -q Zm9vYmFy-data /tmp/dbg'

# Missing file, no fallback to another disk's key; still nothing left behind.
expect_fail missing-file vaultvol key show bek:LinuxPassPhraseFileName_2_0
step unmounted-after-failure unmounted
step no-leftover-after-failure no_leftovers
step volume-unchanged sh -c "[ \"\$(sha256sum /dev/vdb | cut -d' ' -f1)\" = $BEFORE ]"

# A mount point directory others can enter is refused.
chmod 0755 /run/vaultvol
expect_fail run-dir-0755-refused vaultvol key show bek:LinuxPassPhraseFileName_1_0
chmod 0700 /run/vaultvol

# Without the label there is no BEK volume (the decoy is not used).
step relabel fatlabel /dev/vdb OTHER
expect_fail no-bek-volume vaultvol key show bek:LinuxPassPhraseFileName_1_0
GUEST
