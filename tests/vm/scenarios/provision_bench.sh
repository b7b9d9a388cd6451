# vm-suite: no
# vm-kernels: 6.1
# Bench (bench/rows/provision.sh): time to provision one 1 GiB volume with
# `vaultvol provision` (keystore secret wrapped by a local KEK, recovery
# passphrase keyslot with libcryptsetup's default argon2id cost, ext4,
# mounted) vs the same by hand with the cryptsetup CLI (luksFormat with its
# defaults, open, mkfs.ext4, mount), each on its own 1 GiB disk.
# BENCH_REPS rounds (default 5), which goes first alternating; after each
# round both are closed and the first 32 MiB of both disks zeroed, so every
# round starts from blank disks. Metrics: {provision,manual}_1g_ms_rR.
BENCH_REPS=${BENCH_REPS:-5}
export BENCH_REPS
vm_disk vv 1G
vm_disk manual 1G
VV_KEK1_PEM=$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null)
export VV_KEK1_PEM
VM_GUEST_ENV="VV_KEK1_PEM BENCH_REPS"

vm_boot --disk vv --disk manual --timeout 2400 <<'GUEST'
set -u
mkdir -p /etc/vaultvol/keys && chmod 700 /etc/vaultvol /etc/vaultvol/keys
(umask 077; printf '%s\n' "$VV_KEK1_PEM" >/etc/vaultvol/keys/kek1.pem)
by_vaultvol() {
	t0=$(now_ms)
	step provision-r$1 vaultvol --state-dir /tmp/state provision /dev/vda --secret keystore:bench$1 \
		--kek keystore-kek:kek1 --mount /bench --recovery secret || return
	t1=$(now_ms)
	step mounted-r$1 findmnt -n /bench && metric provision_1g_ms_r$1 $((t1 - t0)) ms
}
by_hand() {
	head -c 24 /dev/urandom | base64 >/tmp/pass
	t0=$(now_ms)
	step manual-format-r$1 cryptsetup luksFormat -q --type luks2 \
		--key-file /tmp/pass /dev/vdb &&
	step manual-open-r$1 cryptsetup open --key-file /tmp/pass /dev/vdb manual &&
	step manual-mkfs-r$1 mkfs.ext4 -q /dev/mapper/manual &&
	mkdir -p /manual &&
	step manual-mount-r$1 mount /dev/mapper/manual /manual || return
	t1=$(now_ms)
	metric manual_1g_ms_r$1 $((t1 - t0)) ms
}
r=0
while [ $r -lt "$BENCH_REPS" ]; do
	r=$((r + 1))
	if [ $((r % 2)) -eq 1 ]; then by_vaultvol $r; by_hand $r; else by_hand $r; by_vaultvol $r; fi
	umount /bench /manual
	# every mapping of the round, whatever provision named it
	for m in $(dmsetup ls | awk '$1 != "No" {print $1}'); do cryptsetup close "$m"; done
	# blank again for the next round (the bench's own disks: its purpose)
	dd if=/dev/zero of=/dev/vda bs=1M count=32 conv=fsync 2>/dev/null
	dd if=/dev/zero of=/dev/vdb bs=1M count=32 conv=fsync 2>/dev/null
done
GUEST
