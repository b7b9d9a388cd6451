# vm-suite: no
# vm-kernels: 6.1
# Bench (bench/rows/provision.sh): time to provision one 1 GiB volume with
# `vaultvol provision` (keystore secret wrapped by a local KEK, recovery
# passphrase keyslot with libcryptsetup's default argon2id cost, ext4,
# mounted) vs the same by hand with the cryptsetup CLI (luksFormat with its
# defaults, open, mkfs.ext4, mount), each on its own fresh 1 GiB disk.
vm_disk vv 1G
vm_disk manual 1G
VV_KEK1_PEM=$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null)
export VV_KEK1_PEM
VM_GUEST_ENV="VV_KEK1_PEM"

vm_boot --disk vv --disk manual --timeout 600 <<'GUEST'
set -u
mkdir -p /etc/vaultvol/keys && chmod 700 /etc/vaultvol /etc/vaultvol/keys
(umask 077; printf '%s\n' "$VV_KEK1_PEM" >/etc/vaultvol/keys/kek1.pem)
t0=$(now_ms)
step provision vaultvol --state-dir /tmp/state provision /dev/vda --secret keystore:bench \
	--kek keystore-kek:kek1 --mount /bench --recovery secret
t1=$(now_ms)
metric provision_1g_ms $((t1 - t0)) ms
step mounted findmnt -n /bench

head -c 24 /dev/urandom | base64 >/tmp/pass
t0=$(now_ms)
step manual-format cryptsetup luksFormat -q --type luks2 \
	--key-file /tmp/pass /dev/vdb
step manual-open cryptsetup open --key-file /tmp/pass /dev/vdb manual
step manual-mkfs mkfs.ext4 -q /dev/mapper/manual
mkdir -p /manual
step manual-mount mount /dev/mapper/manual /manual
t1=$(now_ms)
metric manual_1g_ms $((t1 - t0)) ms
umount /bench /manual
vaultvol close bench >/dev/null 2>&1
cryptsetup close manual
GUEST
