# vm-kernels: 6.1
# Provision and rotate (issue 4, "Done when"):
#   boot 1  provision a data disk (keystore secret wrapped by a local KEK,
#           recovery passphrase as its own secret), check the header
#           (PBKDF2-1000 BEK keyslot, argon2id recovery, 4096-byte sectors,
#           token), write data, close
#   host    copy the disk image: the backup taken before the rotations
#   boot 2  rotate the BEK, then the KEK; the old key no longer opens the
#           disk; `vaultvol open` opens and mounts it with the new key and
#           the data reads back
#   boot 3  only the pre-rotation copy attached: `vaultvol open --all`
#           opens it with the versions named in its own token
# The OS disk carries the keystore between boots; header backups go to RAM.
vm_disk os 64M
vm_disk data 128M
VV_KEK1_PEM=$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null)
VV_KEK2_PEM=$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null)
export VV_KEK1_PEM VV_KEK2_PEM
VM_GUEST_ENV="VV_KEK1_PEM VV_KEK2_PEM"

vm_boot --disk os --disk data <<'GUEST'
set -u
mkfs.ext4 -q -L vvos /dev/vda
mkdir -p /os && mount /dev/vda /os
mkdir -p /os/keys /etc/vaultvol/keys && chmod 700 /os/keys /etc/vaultvol
mount --bind /os/keys /etc/vaultvol/keys
(umask 077; printf '%s\n' "$VV_KEK1_PEM" >/etc/vaultvol/keys/kek1.pem
 printf '%s\n' "$VV_KEK2_PEM" >/etc/vaultvol/keys/kek2.pem)
st="--state-dir /tmp/state"

t0=$(now_ms)
step provision vaultvol $st provision /dev/vdb --secret keystore:data1 \
	--kek keystore-kek:kek1 --mount /data --label data1 --options noatime \
	--recovery secret --recovery-iterations 4 --recovery-memory 32768
metric provision_128m_ms $(( $(now_ms) - t0 )) ms
step mounted sh -c 'test "$(findmnt -n -o SOURCE /data)" = /dev/mapper/data1 && test "$(findmnt -n -o FSTYPE /data)" = ext4'
step fs-label sh -c 'test "$(blkid -o value -s LABEL /dev/mapper/data1)" = data1'
cryptsetup luksDump /dev/vdb >/tmp/dump.txt
cat /tmp/dump.txt
step luks2-xts sh -c 'grep -q "cipher: aes-xts-plain64" /tmp/dump.txt && grep -q "Version:.*2" /tmp/dump.txt'
step sector-4096 grep -q "sector: 4096" /tmp/dump.txt
step key-512 grep -q "Cipher key:.*512 bits" /tmp/dump.txt
cryptsetup token export --token-id 0 /dev/vdb >/os/token0.json
cat /os/token0.json; echo
step token-type grep -q '"type":"vaultvol"' /os/token0.json
step token-versioned grep -q '"key":"keystore:data1/[0-9a-f]\{32\}"' /os/token0.json
step token-kek grep -q '"kek":"keystore-kek:kek1","alg":"RSA-OAEP"' /os/token0.json
step token-mount grep -q '"mount":"/data","fs":"ext4","options":"noatime"' /os/token0.json
slot=$(sed -n 's/.*"keyslots":\["\([0-9]*\)"\].*/\1/p' /os/token0.json)
# keyslot blocks in luksDump: the token's slot PBKDF2 at 1000, the other argon2id
awk -v s="  $slot: luks2" '$0==s{f=1;next} /^  [0-9]+: luks2/{f=0} f' /tmp/dump.txt >/tmp/bekslot
step bek-pbkdf2-1000 sh -c 'grep -q "PBKDF:.*pbkdf2" /tmp/bekslot && grep -q "Iterations: *1000$" /tmp/bekslot'
step recovery-argon2id sh -c 'test "$(grep -c "PBKDF:.*argon2id" /tmp/dump.txt)" -eq 1'
step recovery-secret sh -c 'vv-keycheck /dev/vdb keystore:data1-recovery | grep -q keyslot'
step token-key-opens vv-keycheck --token /dev/vdb
step header-backup sh -c 'ls /tmp/state/header-backups/*.luks && test "$(stat -c %a /tmp/state/header-backups)" = 700'

head -c 2000000 /dev/urandom >/data/payload.bin
echo "written before rotation" >/data/note.txt
(cd /data && sha256sum payload.bin note.txt) >/os/expected
step data-written test -s /data/payload.bin
step close vaultvol close data1
step closed sh -c '! test -e /dev/mapper/data1'
sync
umount /etc/vaultvol/keys
umount /os
GUEST

# The snapshot a backup would have taken before the rotations.
host_step snapshot cp --sparse=always "$VM_WORK/data.img" "$VM_WORK/snap.img"

vm_boot --disk os --disk data <<'GUEST'
set -u
mkdir -p /os /etc/vaultvol/keys && chmod 700 /etc/vaultvol
mount /dev/vda /os && mount --bind /os/keys /etc/vaultvol/keys
st="--state-dir /tmp/state"
old_key=$(sed -n 's/.*"key":"\([^"]*\)".*/\1/p' /os/token0.json)
step old-key-opens vv-keycheck /dev/vdb "$old_key" keystore-kek:kek1

t0=$(now_ms)
step rotate-bek sh -c "vaultvol $st rotate /dev/vdb --bek | tee /tmp/rot1"
metric rotate_bek_ms $(( $(now_ms) - t0 )) ms
step rotate-bek-steps sh -c 'grep -q "^Added a keyslot for the new key" /tmp/rot1 && grep -q "^Removed the old key.s keyslot" /tmp/rot1 && grep -q "^Done: the volume opens with" /tmp/rot1 && ! grep -q "^step " /tmp/rot1'
expect_fail old-key-rejected vv-keycheck /dev/vdb "$old_key" keystore-kek:kek1
step bek-token-opens vv-keycheck --token /dev/vdb
t0=$(now_ms)
step rotate-kek vaultvol $st rotate /dev/vdb --kek keystore-kek:kek2 --alg RSA-OAEP-256
metric rotate_kek_ms $(( $(now_ms) - t0 )) ms
cryptsetup token export --token-id 0 /dev/vdb >/tmp/token2.json
cat /tmp/token2.json; echo
step token-new-kek grep -q '"kek":"keystore-kek:kek2","alg":"RSA-OAEP-256"' /tmp/token2.json
step token-new-version sh -c '! grep -qF "$(sed -n "s/.*\"key\":\"\([^\"]*\)\".*/\1/p" /os/token0.json)" /tmp/token2.json'
step kek-token-opens vv-keycheck --token /dev/vdb
# one BEK keyslot and the recovery keyslot remain
step two-keyslots sh -c 'test "$(cryptsetup luksDump /dev/vdb | grep -c ": luks2$")" -eq 2'
step recovery-still-opens sh -c 'vv-keycheck /dev/vdb keystore:data1-recovery | grep -q keyslot'
# old versions are kept: the first version still exists in the keystore
step old-version-kept test -f "/etc/vaultvol/keys/data1/${old_key##*/}"
step open-current vaultvol open data1
step current-data sh -c 'cd /data && sha256sum -c /os/expected'
step current-mounted sh -c 'findmnt -n -o OPTIONS /data | grep -q noatime'
step close vaultvol close data1
umount /etc/vaultvol/keys
umount /os
GUEST

vm_boot --disk os --disk snap <<'GUEST'
set -u
mkdir -p /os /etc/vaultvol/keys && chmod 700 /etc/vaultvol
mount /dev/vda /os && mount --bind /os/keys /etc/vaultvol/keys
cryptsetup token export --token-id 0 /dev/vdb >/tmp/snaptoken.json
step snap-token-is-old cmp /tmp/snaptoken.json /os/token0.json
step open-snapshot vaultvol open --all
step snapshot-data sh -c 'cd /data && sha256sum -c /os/expected'
step snapshot-note grep -qx "written before rotation" /data/note.txt
step close vaultvol close data1
umount /etc/vaultvol/keys
umount /os
GUEST
host_step no-plaintext sh -c "! grep -a -q 'written before rotation' '$VM_WORK/data.img' '$VM_WORK/snap.img'"
