# vm-kernels: 6.1
# `vaultvol open --all` facing faults, each with its own message, while the
# healthy volumes still open and nothing is written to the faulty disks:
#   wrong     the vault secret holds another passphrase        -> wrong-key
#   trunc     LUKS1 image cut to 64 KiB (header truncated)     -> header-damaged
#   gone      disk not attached                                -> disk-missing
#   dup       two disks with the same UUID (a cloned image)    -> ambiguous, both named
#   down      the vault answers 503 for its secret (outage)    -> key-access, unavailable
#   revoked   secret wrapped by a KEK that was revoked         -> key-access, disabled
#   disabled  the secret itself disabled                       -> key-access, disabled
#   deleted   the secret deleted                               -> key-access, not-found
# good1 (vault secret, matched by Azure LUN) and good2 (local keystore) open
# and mount. Then the outage ends while `open --wait` is retrying, and the
# down volume opens. Keys and the KEK are made on the host; the vault is the
# fake Key Vault + IMDS on the guest's loopback.
for n in good1 good2 wrong trunc gone dup down revoked disabled deleted; do
	vm_disk $n 8M
	export "PW_$n=$(head -c 24 /dev/urandom | base64)" "UUID_$n=$(cat /proc/sys/kernel/random/uuid)"
done
export PW_other=$(head -c 24 /dev/urandom | base64)
tests/fakes/mkca.sh "$VM_WORK/certs" >/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$VM_WORK/kek.pem" 2>/dev/null
# The vault's contents and faults, loaded by the fakes before they are ready.
# (base64: the guest environment file cannot carry JSON quotes)
export PRELOAD=$(python3 - "$VM_WORK/kek.pem" <<'PY'
import json, os, sys
pw = lambda n: os.environ["PW_" + n]
calls = [{"op": "put_key", "name": "kek", "pem": open(sys.argv[1]).read()},
         {"op": "put_bek", "name": "good1", "key": pw("good1")},
         {"op": "put_bek", "name": "wrong", "key": pw("other")},
         {"op": "put_bek", "name": "revoked", "key": pw("revoked"), "kek": "kek"}]
calls += [{"op": "put_bek", "name": n, "key": pw(n)}
          for n in ("down", "disabled", "deleted", "trunc", "dup")]
calls += [{"op": "revoke_key", "name": "kek"},
          {"op": "disable", "name": "disabled"},
          {"op": "delete", "name": "deleted"},
          {"op": "fault", "server": "primary", "path": "/secrets/down*", "status": 503,
           "count": 100000}]
print(json.dumps(calls))
PY
)
PRELOAD=$(printf '%s' "$PRELOAD" | base64 -w0)
export VV_CA_PEM=$(cat "$VM_WORK/certs/ca.pem") VV_SERVER_PEM=$(cat "$VM_WORK/certs/server.pem")
export VV_SERVER_KEY=$(cat "$VM_WORK/certs/server.key")
VM_GUEST_ENV="UUID_good1 UUID_good2 UUID_wrong UUID_trunc UUID_gone UUID_dup UUID_down UUID_revoked UUID_disabled UUID_deleted PW_good1 PW_good2 PW_wrong PW_trunc PW_gone PW_dup PW_down PW_revoked PW_disabled PW_deleted PW_other PRELOAD VV_CA_PEM VV_SERVER_PEM VV_SERVER_KEY"

# Boot 1: format every disk (LUKS1, fast PBKDF2), filesystems on the good ones.
vm_boot --disk good1 --disk good2 --disk wrong --disk trunc --disk gone --disk dup \
	--disk down --disk revoked --disk disabled --disk deleted <<'GUEST'
set -u
i=0
for n in good1 good2 wrong trunc gone dup down revoked disabled deleted; do
	dev=/dev/vd$(echo abcdefghij | cut -c$((i + 1)))
	i=$((i + 1))
	eval "pw=\$PW_$n uuid=\$UUID_$n"
	printf '%s' "$pw" | cryptsetup luksFormat -q --type luks1 --pbkdf pbkdf2 \
		--pbkdf-force-iterations 1000 --uuid "$uuid" --key-file - "$dev" || echo "format $n failed"
done
for g in good1:vda good2:vdb; do
	n=${g%%:*}
	eval "pw=\$PW_$n"
	printf '%s' "$pw" | cryptsetup open --key-file - /dev/${g#*:} p$n
	mkfs.ext4 -q /dev/mapper/p$n
	mkdir -p /mnt/p$n && mount /dev/mapper/p$n /mnt/p$n && echo "data of $n" >/mnt/p$n/f.txt
	umount /mnt/p$n && cryptsetup close p$n
done
step formatted sh -c 'for d in a b c d e f g h i j; do cryptsetup isLuks /dev/vd$d || exit 1; done'
GUEST

# The "restored" VM: the trunc image cut short, dup cloned, gone left out.
truncate -s 64K "$VM_WORK/trunc.img"
cp "$VM_WORK/dup.img" "$VM_WORK/dup2.img"
faulty="wrong trunc dup dup2 down revoked disabled deleted"
for n in $faulty; do sha256sum "$VM_WORK/$n.img"; done >"$VM_WORK/faulty.sha"

vm_boot --disk deleted --disk dup2 --disk revoked --disk good2 --disk down --disk wrong \
	--disk dup --disk trunc --disk disabled --disk good1 --timeout 600 <<'GUEST'
set -u
. /vv/tests/vm/scenarios/open_lib.sh
printf '%s' "$PRELOAD" | base64 -d >/tmp/preload.json
step fakes-start open_fakes_start --preload /tmp/preload.json
umask 077
mkdir -p /etc/vaultvol
printf '%s' "$PW_good2" >/tmp/good2.key
vaultvol key put keystore:good2 --from-file /tmp/good2.key >/dev/null
# udev's /dev/disk/azure/scsi1/lun<N> links, made here for good1 as LUN 0.
for d in /dev/vd?; do
	if [ "$(blkid -p -s UUID -o value "$d")" = "$UUID_good1" ]; then
		mkdir -p /tmp/azure/scsi1 && ln -s "$d" /tmp/azure/scsi1/lun0
	fi
done
export VAULTVOL_LUN_DIR=/tmp/azure/scsi1
{
	echo "[vault]"
	echo "url = $FAKE_KV_URL"
	echo "ca_file = $FAKE_CA"
	echo "keystore = /etc/vaultvol/keys"
	echo "timeout = 4"
	echo "[volume good1]"; echo "match = lun:0"; echo "key = good1"; echo "mount = /data/good1"
	echo "[volume good2]"; echo "match = uuid:$UUID_good2"
	echo "key = keystore:good2"; echo "mount = /data/good2"
	# trunc: its UUID is still in the cut header (libblkid reads it there).
	for n in wrong down revoked disabled deleted dup trunc; do
		eval "u=\$UUID_$n"
		echo "[volume $n]"; echo "match = uuid:$u"; echo "key = $n"
	done
	# gone: the disk is not attached at all.
	echo "[volume gone]"; echo "match = uuid:$UUID_gone"; echo "key = good1"
} >/etc/vaultvol/vaultvol.conf
cat /etc/vaultvol/vaultvol.conf
vaultvol open --all >/tmp/open.out 2>&1
echo "exit $?" >>/tmp/open.out
cat /tmp/open.out
step exit-1 grep -qx "exit 1" /tmp/open.out
step good1-mounted grep -q "^good1: mounted on /data/good1 (LUKS1 .*key keyvault https://myvault.vault.azure.net:[0-9]*/secrets/good1/" /tmp/open.out
step good2-mounted grep -q "^good2: mounted on /data/good2 (LUKS1 .*key keystore keystore:good2/" /tmp/open.out
step good-data sh -c 'grep -qx "data of good1" /data/good1/f.txt && grep -qx "data of good2" /data/good2/f.txt'
step wrong-key grep -q "^wrong: FAILED (wrong-key): wrong key: no keyslot of /dev/vd. accepts the key" /tmp/open.out
step trunc-header grep -q "^trunc: FAILED (header-damaged): the crypto_LUKS header on /dev/vdh is damaged" /tmp/open.out
step gone-missing grep -q "^gone: FAILED (disk-missing): no disk matches uuid:$UUID_gone" /tmp/open.out
step dup-ambiguous grep -q "^dup: FAILED (ambiguous): ambiguous: /dev/vd[bg] and /dev/vd[bg] both match uuid:" /tmp/open.out
step down-unavailable grep -q "^down: FAILED (key-access, unavailable): no key access (unavailable)" /tmp/open.out
step revoked-disabled grep -q "^revoked: FAILED (key-access, disabled)" /tmp/open.out
step disabled-disabled grep -q "^disabled: FAILED (key-access, disabled)" /tmp/open.out
step deleted-not-found grep -q "^deleted: FAILED (key-access, not-found)" /tmp/open.out
step remedies sh -c 'test "$(grep -c "remedy: " /tmp/open.out)" -eq 8'
step none-faulty-open sh -c 'for n in wrong trunc gone dup down revoked disabled deleted; do
	dmsetup info $n >/dev/null 2>&1 && exit 1; done; exit 0'
step status-errors sh -c 'vaultvol status | tee /dev/stderr | grep -q "^revoked .*key-access"'
# The outage ends while the boot service's --wait is retrying.
vaultvol open --wait 120 down >/tmp/wait.out 2>&1 &
waiter=$!
sleep 6
fakectl -q faults_clear
wait $waiter
echo "exit $?" >>/tmp/wait.out
cat /tmp/wait.out
step wait-recovers grep -qx "exit 0" /tmp/wait.out
step down-opened sh -c 'dmsetup info down >/dev/null || dmsetup info down-vvcrypt >/dev/null'
step close-all vaultvol close --all
open_fakes_stop
GUEST
host_step faulty-images-unchanged sh -c "cd '$VM_WORK' && sed 's|$VM_WORK/||' faulty.sha | sha256sum -c"
