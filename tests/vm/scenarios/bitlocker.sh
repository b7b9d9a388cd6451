# vm-kernels: 6.1
# BitLocker volumes made by Windows (cryptsetup's test images, see
# ../shared/testdata/bitlocker) opened by `vaultvol open`:
#   - from a Key Vault secret holding the base64 .BEK startup key (the fake
#     Key Vault on the guest's loopback, ADE's format and tag); SHA-256 of
#     the opened device as images.conf says, mapping read-only;
#   - the same volume from a vault secret holding its recovery password;
#   - the AES-CBC volume from a key file holding its password;
#   - the smart-card volume refused, naming its protectors, while the
#     others still open;
# and the images are unchanged afterwards. The NTFS inside those images
# is not mountable (ntfs-3g: "$MFTMirr" unreadable, also when cryptsetup
# opens them), so they are opened without a mount point; the ntfs-3g mount
# path is tested with an NTFS filesystem (made on the host with mkntfs) in
# a LUKS2 volume: detected by libblkid, mounted read-only by default.
bl=$VM_WORK/bl
mkdir -p "$bl"
tar -C "$bl" -xJf "$VV_SHARED/testdata/bitlocker/windows-images.tar.xz"
conf() {	# SECTION KEY -> value from images.conf
	awk -v s="[$1]" -v k="$2" '$0 == s { on = 1; next } /^\[/ { on = 0 }
		on && index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }' "$bl/images.conf"
}
for pair in sk:bitlk-aes-xts-128-startup-key sc:bitlk-aes-xts-128-smart-card cbc:bitlk-aes-cbc-128; do
	n=${pair%%:*} img=${pair#*:}
	cp --sparse=always "$bl/$img.img" "$VM_WORK/$n.img"
done
export SK_SHA=$(conf bitlk-aes-xts-128-startup-key SHA256SUM)
export SK_RP=$(conf bitlk-aes-xts-128-startup-key RP)
export SK_GUID=$(conf bitlk-aes-xts-128-startup-key GUID)
export SC_GUID=$(conf bitlk-aes-xts-128-smart-card GUID)
export CBC_SHA=$(conf bitlk-aes-cbc-128 SHA256SUM)
export CBC_PW=$(conf bitlk-aes-cbc-128 PW)
export CBC_GUID=$(conf bitlk-aes-cbc-128 GUID)
# An NTFS filesystem with one file, made on the host (the guest has no mkntfs).
rm -f "$VM_WORK/ntfsraw.img" && truncate -s 8M "$VM_WORK/ntfsraw.img"
mkntfs -F -q -f -L vvntfs "$VM_WORK/ntfsraw.img" >/dev/null 2>&1
echo "hello from ntfs" >"$VM_WORK/hello.txt"
ntfscp "$VM_WORK/ntfsraw.img" "$VM_WORK/hello.txt" hello.txt
vm_disk ntfsluks 24M
export BEK_B64=$(base64 -w0 "$bl/4381F759-C4F8-4DE0-BB61-FC33A831BDA5.BEK")
tests/fakes/mkca.sh "$VM_WORK/certs" >/dev/null
export VV_CA_PEM=$(cat "$VM_WORK/certs/ca.pem") VV_SERVER_PEM=$(cat "$VM_WORK/certs/server.pem")
export VV_SERVER_KEY=$(cat "$VM_WORK/certs/server.key")
VM_GUEST_ENV="SK_SHA SK_RP SK_GUID SC_GUID CBC_SHA CBC_PW CBC_GUID BEK_B64 VV_CA_PEM VV_SERVER_PEM VV_SERVER_KEY"
sha_sk=$(sha256sum "$VM_WORK/sk.img" | cut -d' ' -f1)
sha_sc=$(sha256sum "$VM_WORK/sc.img" | cut -d' ' -f1)
sha_cbc=$(sha256sum "$VM_WORK/cbc.img" | cut -d' ' -f1)

vm_boot --disk sc --disk sk --disk cbc --disk ntfsraw --disk ntfsluks --timeout 600 <<'GUEST'
set -u
. /vv/tests/vm/scenarios/open_lib.sh
step fakes-start open_fakes_start
# ADE's Windows format: the .BEK file bytes, base64, tagged with the file name.
step put-bek fakectl put_bek name=winbek key_b64="$BEK_B64" \
	file_name=4381F759-C4F8-4DE0-BB61-FC33A831BDA5.BEK
step put-rp fakectl put_bek name=winrp key="$SK_RP"
umask 077
mkdir -p /etc/vaultvol /tmp/keys
printf '%s' "$CBC_PW" >/tmp/keys/cbc.pw
# A LUKS2 volume holding the NTFS filesystem (copied in through cryptsetup).
head -c 32 /dev/urandom >/tmp/keys/ntfs.key
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file /tmp/keys/ntfs.key /dev/vde
cryptsetup open --key-file /tmp/keys/ntfs.key /dev/vde prep && dd if=/dev/vdd of=/dev/mapper/prep bs=1M 2>/dev/null
cryptsetup close prep
cat >/etc/vaultvol/vaultvol.conf <<C
[vault]
url = $FAKE_KV_URL
ca_file = $FAKE_CA

[volume win-sk]
match = bitlocker:$SK_GUID
key = winbek

[volume win-sc]
match = bitlocker:$SC_GUID
key = winbek

[volume win-cbc]
match = bitlocker:{$CBC_GUID}
key = file:/tmp/keys/cbc.pw

[volume ntfs]
match = uuid:$(cryptsetup luksUUID /dev/vde)
key = file:/tmp/keys/ntfs.key
mount = /win/ntfs
C
# One failure (the smart-card volume) -> exit 1; the others still open.
vaultvol open --all >/tmp/open.out 2>&1
echo "open exit $?" >>/tmp/open.out
cat /tmp/open.out
step open-exit-1 grep -qx "open exit 1" /tmp/open.out
step sc-refused grep -q "win-sc: FAILED (unsupported).*smart card" /tmp/open.out
step sc-names-protectors grep -q "protectors: smart card, recovery passphrase" /tmp/open.out
step sc-remedy grep -q "win-sc:   remedy: .*recovery password" /tmp/open.out
step sc-not-open sh -c '! dmsetup info win-sc >/dev/null 2>&1'
step sk-bek-sha sh -c 'test "$(sha256sum /dev/mapper/win-sk | cut -d" " -f1)" = "$SK_SHA"'
step sk-source grep -q "win-sk: opened as /dev/mapper/win-sk (BitLocker .*key keyvault https://myvault.vault.azure.net:[0-9]*/secrets/winbek/" /tmp/open.out
step sk-ro-mapping sh -c 'test "$(blockdev --getro /dev/mapper/win-sk)" = 1'
step cbc-password-sha sh -c 'test "$(sha256sum /dev/mapper/win-cbc | cut -d" " -f1)" = "$CBC_SHA"'
step ntfs-mounted grep -q "ntfs: mounted on /win/ntfs" /tmp/open.out
step ntfs-3g-ro sh -c 'findmnt -n -o FSTYPE,OPTIONS /win/ntfs | tee /dev/stderr | grep -q "^fuseblk *ro,"'
step ntfs-data grep -qx "hello from ntfs" /win/ntfs/hello.txt
step status-table sh -c 'vaultvol status | tee /dev/stderr | grep -q "^win-sc .*unsupported"'
# winbek serves two volumes (win-sk, win-sc): one fetch (a 401 challenge may precede it).
step fetched-once sh -c 'n=$(python3 -S /vv/tests/fakes/fakectl.py -s /tmp/fakes counter primary.get_secret); echo "get_secret: $n"; test "$n" -le 2'
step open-again sh -c 'vaultvol open win-sk ntfs | tee /dev/stderr | grep -c "already" | grep -qx 2'

# The same startup-key volume from its recovery password, a vault secret too.
step close-sk vaultvol close win-sk
sed -i 's/^key = winbek$/key = winrp/' /etc/vaultvol/vaultvol.conf
step open-rp sh -c 'vaultvol open win-sk | tee /dev/stderr | grep -q "secrets/winrp/"'
step sk-rp-sha sh -c 'test "$(sha256sum /dev/mapper/win-sk | cut -d" " -f1)" = "$SK_SHA"'
step close-all vaultvol close --all
open_fakes_stop
GUEST
host_step sk-unchanged sh -c "test \"\$(sha256sum '$VM_WORK/sk.img' | cut -d' ' -f1)\" = $sha_sk"
host_step sc-unchanged sh -c "test \"\$(sha256sum '$VM_WORK/sc.img' | cut -d' ' -f1)\" = $sha_sc"
host_step cbc-unchanged sh -c "test \"\$(sha256sum '$VM_WORK/cbc.img' | cut -d' ' -f1)\" = $sha_cbc"
rm -rf "$bl" "$VM_WORK/hello.txt"
