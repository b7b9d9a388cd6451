# vm-kernels: 6.1
# Cross-region restore into another vault (issue 22, "Done when").
# Boot 1, the original VM (region A, vault origvault): a token volume made by
# `vaultvol provision` (secret and KEK in origvault) and an ADE-layout volume
# (LUKS1, ADE's wrapped BEK secret with its KEK tag, described by its secret
# URL in vaultvol.conf as on a VM encrypted by ADE) are opened and mounted,
# hold data; Key Vault backups of the secrets and the KEK are taken (POST
# .../backup, what Azure Backup keeps with the recovery point); an
# application-consistent snapshot copies the OS and data disks while frozen.
# Boot 2, a NEW VM in region B, boots from the copies (data disks in another
# order, an extra blank disk): the backups are restored into newvault (POST
# .../restore keeps names and versions). origvault cannot be reached: every
# volume fails with the `moved` line to add, and no byte changes. With the
# line in a conf.d drop-in, every volume opens and mounts, origvault gets no
# request at all, status shows the reference as recorded and where it was
# resolved. A KEK missing from newvault: the error names it and newvault, the
# remedy is restoring it there. `adopt --rewrite` moves the token to newvault
# (header backed up), which then opens without the line; status warns of a
# secret expiring in 10 days. Guards on the blank disk: a 1024-bit and an
# expired KEK are refused, a vault without purge protection is refused with
# --require-purge-protection (the disk unchanged) and warned about without.
# The OS disk holds the header backups (16 MiB each for LUKS2).
vm_disk os 96M
vm_disk tok 40M
vm_disk ade 16M
vm_disk blank 16M
tests/fakes/mkca.sh "$VM_WORK/certs" >/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$VM_WORK/kek.pem" 2>/dev/null
# ADE's passphrase: base64 of 127 random bytes; its secret version as ADE's
# encryption settings record it.
export PW_ade=$(head -c 127 /dev/urandom | base64 -w0)
export UUID_ade=$(cat /proc/sys/kernel/random/uuid)
export ADE_VER=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
export PRELOAD=$(python3 - "$VM_WORK/kek.pem" <<'PY' | base64 -w0
import json, os, sys
print(json.dumps([
    {"op": "put_key", "name": "kek", "pem": open(sys.argv[1]).read()},
    {"op": "put_bek", "name": "adesecret", "key": os.environ["PW_ade"], "kek": "kek",
     "version": os.environ["ADE_VER"]}]))
PY
)
# Boot 2's newvault also holds two KEKs unfit for new keys: 1024 bits, expired.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$VM_WORK/kek1024.pem" 2>/dev/null
export PRELOAD2=$(python3 - "$VM_WORK/kek1024.pem" "$VM_WORK/kek.pem" <<'PY' | base64 -w0
import json, sys, time
print(json.dumps([
    {"op": "put_key", "vault": "secondary", "name": "kek1024", "pem": open(sys.argv[1]).read()},
    {"op": "put_key", "vault": "secondary", "name": "kekold", "pem": open(sys.argv[2]).read(),
     "exp": int(time.time()) - 86400}]))
PY
)
# origvault on 127.0.0.1:443, newvault on 127.0.0.2:443: references carry no port.
export VAULT_ARGS="--kv-port 443 --kv-name origvault.vault.azure.net --kv2-addr 127.0.0.2 --kv2-port 443 --kv2-name newvault.vault.azure.net"
export VV_CA_PEM=$(cat "$VM_WORK/certs/ca.pem") VV_SERVER_PEM=$(cat "$VM_WORK/certs/server.pem")
export VV_SERVER_KEY=$(cat "$VM_WORK/certs/server.key")
VM_GUEST_ENV="PW_ade UUID_ade ADE_VER PRELOAD PRELOAD2 VAULT_ARGS VV_CA_PEM VV_SERVER_PEM VV_SERVER_KEY"

# The OS disk's state where the VM keeps it (both boots).
cat >"$VM_WORK/osdisk.sh" <<'SH'
os_mount() {
	mkdir -p /os && mount "$(blkid -L vvos)" /os || return 1
	for d in etc/vaultvol var/lib/vaultvol var/lib/azure_disk_encryption_config; do
		mkdir -p /$d && mount --bind /os/$d /$d || return 1
	done
}
ORIG=https://origvault.vault.azure.net
NEW=https://newvault.vault.azure.net
SH
export OSDISK_SH=$(base64 -w0 "$VM_WORK/osdisk.sh")
VM_GUEST_ENV="$VM_GUEST_ENV OSDISK_SH"

mkdir -p "$VM_WORK/snapshots"
python3 tests/vm/backup_host.py --socket "$VM_WORK/bsvc.sock" \
	--images "$VM_WORK/os.img" "$VM_WORK/tok.img" "$VM_WORK/ade.img" \
	--dest "$VM_WORK/snapshots" --log "$VM_WORK/backup_host.log" --timeout 900 &
BACKUP_HOST=$!

vm_boot --disk os --disk tok --disk ade --serial bsvc --timeout 900 <<'GUEST'
set -u
. /vv/tests/vm/scenarios/open_lib.sh
. /vv/tests/vm/scenarios/snapshot_lib.sh
echo "$OSDISK_SH" | base64 -d >/tmp/osdisk.sh && . /tmp/osdisk.sh
printf '%s' "$PRELOAD" | base64 -d >/tmp/preload.json
step fakes-start open_fakes_start $VAULT_ARGS --preload /tmp/preload.json
mkfs.ext4 -q -L vvos /dev/vda
mkdir -p /os && mount /dev/vda /os
mkdir -p /os/etc/vaultvol /os/var/lib/vaultvol /os/var/lib/azure_disk_encryption_config
chmod 700 /os/etc/vaultvol
umount /os
step os-mounted os_mount
umask 077
cp /tmp/certs/ca.pem /etc/vaultvol/ca.pem
# ADE-layout volume: LUKS1 keyed by ADE's passphrase, ADE's mount line.
printf '%s' "$PW_ade" | cryptsetup luksFormat -q --type luks1 --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 --uuid "$UUID_ade" --key-file - /dev/vdc
printf '%s' "$PW_ade" | cryptsetup open --key-file - /dev/vdc mkade
mkfs.ext4 -q /dev/mapper/mkade && cryptsetup close mkade
echo "adevol /dev/disk/by-uuid/$UUID_ade None /data/ade ext4 False 0" \
	>/var/lib/azure_disk_encryption_config/azure_crypt_mount
cat >/etc/vaultvol/vaultvol.conf <<C
[vault]
url = $ORIG
ca_file = /etc/vaultvol/ca.pem

[volume adevol]
match = uuid:$UUID_ade
key = $ORIG/secrets/adesecret/$ADE_VER
mount = /data/ade
fs = ext4
C
# Token volume: made by vaultvol against origvault, KEK-wrapped.
step provision vaultvol provision /dev/vdb --secret tokvol --kek $ORIG/keys/kek --mount /data/tok
cryptsetup token export --token-id 0 /dev/vdb >/tmp/token.json; cat /tmp/token.json; echo
step token-names-orig grep -q "\"key\":\"$ORIG/secrets/tokvol/[0-9a-f]\{32\}\".*\"kek\":\"$ORIG/keys/kek/[0-9a-f]\{32\}\"" /tmp/token.json
step open-all vaultvol open --all
for v in tok ade; do
	head -c 1000000 /dev/urandom >/data/$v/data.bin && echo "volume $v" >/data/$v/name.txt &&
		(cd /data/$v && sha256sum data.bin name.txt) >/os/expected.$v
done
step data-written test -s /os/expected.tok -a -s /os/expected.ade
# What Azure Backup keeps with the recovery point: Key Vault backups.
step kv-backup env CA_FILE=/etc/vaultvol/ca.pem IMDS_URL=$FAKE_IMDS_URL python3 -S /vv/tests/vm/kvbackup.py \
	backup $ORIG /os/kvbackup.json secret:tokvol secret:adesecret key:kek
sync
# The snapshot, copied while frozen by the host.
port=
for p in /sys/class/virtio-ports/*; do
	[ "$(cat $p/name 2>/dev/null)" = bsvc ] && port=/dev/$(basename $p)
done
python3 /vv/tests/fakes/backup_service.py --serial "$port" --port 8480 \
	--port-file /tmp/bsvc.port --dump /tmp/bsvc.jsonl &
step service-up wait_file /tmp/bsvc.port 60000
vaultvol --json snapshot --service http://127.0.0.1:8480 >/tmp/report.json
cat /tmp/report.json
step snapshot-taken json_has /tmp/report.json '"status":"taken"'
GUEST
kill $BACKUP_HOST 2>/dev/null
wait $BACKUP_HOST 2>/dev/null
cat "$VM_WORK/backup_host.log"
for d in os tok ade; do
	host_step "copy-$d" mv "$VM_WORK/snapshots/1/$d.img" "$VM_WORK/r$d.img"
done

# Region B: a new VM from the copies, data disks in another order, one blank disk.
# (blank=vda rade=vdb ros=vdc rtok=vdd)
vm_boot --disk blank --disk rade --disk ros --disk rtok --timeout 900 <<'GUEST'
set -u
. /vv/tests/vm/scenarios/open_lib.sh
echo "$OSDISK_SH" | base64 -d >/tmp/osdisk.sh && . /tmp/osdisk.sh
# Both vaults run: origvault empty (any request to it shows in its counters).
printf '%s' "$PRELOAD2" | base64 -d >/tmp/preload2.json
step fakes-start open_fakes_start $VAULT_ARGS --preload /tmp/preload2.json
step os-mounted os_mount
step kv-restore sh -c "env CA_FILE=/etc/vaultvol/ca.pem IMDS_URL=$FAKE_IMDS_URL python3 -S /vv/tests/vm/kvbackup.py \
	restore $NEW /os/kvbackup.json >/tmp/restore.out"
cat /tmp/restore.out
step restored-same-version grep -q "restored secret adesecret as $NEW/secrets/adesecret/$ADE_VER\$" /tmp/restore.out
for d in vda vdb vdd; do dev_sha /dev/$d; done >/tmp/before.sha

# origvault is unreachable from region B (its name does not resolve here).
export VAULTVOL_TEST_RESOLVE=$(echo "$FAKE_RESOLVE" | tr ',' '\n' | grep '^newvault')
vaultvol open --all >/tmp/open-a.out 2>&1
echo "exit $?" >>/tmp/open-a.out
cat /tmp/open-a.out
step a-fails sh -c '! grep -qx "exit 0" /tmp/open-a.out'
step a-tok-moved-line grep -q "tokvol.*moved = $ORIG https://NEW-VAULT" /tmp/open-a.out
step a-ade-moved-line grep -q "adevol.*moved = $ORIG https://NEW-VAULT" /tmp/open-a.out
step a-remedy-moved grep -q "tokvol: *remedy: if $ORIG is gone .*add 'moved = $ORIG https://NEW-VAULT'" /tmp/open-a.out
step a-nothing-mounted sh -c '! grep -q " /data/" /proc/mounts'
for d in vda vdb vdd; do dev_sha /dev/$d; done >/tmp/after.sha
step a-no-byte-changed cmp /tmp/before.sha /tmp/after.sha

# The operator's line, in a drop-in; origvault reachable again, to prove
# that it is not asked.
export VAULTVOL_TEST_RESOLVE=$FAKE_RESOLVE
mkdir -p /etc/vaultvol/conf.d
printf '[vault]\nmoved = %s %s\n' $ORIG $NEW >/etc/vaultvol/conf.d/50-moved.conf
chmod 600 /etc/vaultvol/conf.d/50-moved.conf
fakectl reset_counters >/dev/null
vaultvol open --all >/tmp/open-b.out 2>&1
echo "exit $?" >>/tmp/open-b.out
cat /tmp/open-b.out
step b-exit-0 grep -qx "exit 0" /tmp/open-b.out
for v in tok ade; do
	step "b-$v-data" sh -c "cd /data/$v && sha256sum -c /os/expected.$v"
done
step b-no-warning sh -c '! grep -qi "warning\|ioctl\|thaw" /tmp/open-b.out'
oc=$(fakectl counter primary.connections) orq=$(fakectl counter primary.requests)
ng=$(fakectl counter secondary.get_secret.ok) nu=$(fakectl counter secondary.unwrapkey.ok)
echo "origvault: $oc connection(s), $orq request(s); newvault: $ng secret get(s), $nu unwrap(s)"
step b-orig-no-request test "$oc" = 0 -a "$orq" = 0
step b-new-served test "$ng" -ge 2 -a "$nu" -ge 2
vaultvol status --json >/tmp/status.json
cat /tmp/status.json; echo
step b-status-recorded grep -q "\"key_ref\": *\"$ORIG/secrets/tokvol/" /tmp/status.json
step b-status-resolved grep -q "\"key_version\": *\"$NEW/secrets/tokvol/" /tmp/status.json
step b-status-ade-resolved grep -q "\"key_version\": *\"$NEW/secrets/adesecret/$ADE_VER\"" /tmp/status.json
step b-blank-untouched test "$(dev_sha /dev/vda)" = "$(sed -n 1p /tmp/before.sha)"

# A KEK that was not restored into newvault: the error names it and newvault.
vaultvol close tokvol >/dev/null
fakectl delete vault=secondary kind=key name=kek >/dev/null
vaultvol open tokvol >/tmp/open-c.out 2>&1
echo "exit $?" >>/tmp/open-c.out
cat /tmp/open-c.out
step c-fails sh -c '! grep -qx "exit 0" /tmp/open-c.out'
step c-names-kek-and-new grep -q "tokvol.*/keys/kek.*$NEW" /tmp/open-c.out
step c-remedy-restore grep -q "tokvol: *remedy: the key kek was not restored into $NEW: restore it there" /tmp/open-c.out
# (recovered from the vault's soft-delete for what follows)
fakectl recover vault=secondary kind=key name=kek >/dev/null
step c-recovered-opens vaultvol open tokvol

# adopt --rewrite: the token names newvault from now on (header backed up
# first), and opens without the moved line.
nb=$(ls /var/lib/vaultvol/header-backups/ | wc -l)
step d-rewrite vaultvol adopt /dev/vdd --rewrite --yes
cryptsetup token export --token-id 0 /dev/vdd >/tmp/token2.json; cat /tmp/token2.json; echo
step d-token-names-new grep -q "\"key\":\"$NEW/secrets/tokvol/[0-9a-f]\{32\}\".*\"kek\":\"$NEW/keys/kek/[0-9a-f]\{32\}\"" /tmp/token2.json
step d-header-backed-up test "$(ls /var/lib/vaultvol/header-backups/ | wc -l)" -gt "$nb"
rm /etc/vaultvol/conf.d/50-moved.conf
# The secret now expires in 10 days (the vault says so; status tells).
fakectl set_attributes vault=secondary kind=secret name=tokvol exp=$(( $(date +%s) + 10 * 86400 )) >/dev/null
vaultvol close tokvol >/dev/null
step d-open-without-moved vaultvol open tokvol
vaultvol status >/tmp/status2.out 2>&1; cat /tmp/status2.out
step d-status-expiry-warning grep -q "^tokvol: warning: the secret $NEW/secrets/tokvol/.* expires on .* (in [0-9]* days)" /tmp/status2.out
vaultvol status --json >/tmp/status2.json
step d-status-json-days grep -q '"secret_expires_days": *[0-9]' /tmp/status2.json
step d-orig-still-no-request test "$(fakectl counter primary.requests)" = 0

# Guards against losing a key, on the blank disk: every refusal leaves it as it was.
bs=$(sed -n 1p /tmp/before.sha)
vaultvol provision /dev/vda --secret $NEW/secrets/e1 --kek $NEW/keys/kek1024 --mount /data/e1 >/tmp/e1.out 2>&1
cat /tmp/e1.out
step e-kek-1024-refused grep -q "1024 bits.*2048, 3072 or 4096" /tmp/e1.out
vaultvol provision /dev/vda --secret $NEW/secrets/e1 --kek $NEW/keys/kekold --mount /data/e1 >/tmp/e2.out 2>&1
cat /tmp/e2.out
step e-kek-expired-refused grep -q "expired" /tmp/e2.out
vaultvol provision /dev/vda --secret $NEW/secrets/e1 --kek $NEW/keys/kek --mount /data/e1 \
	--require-purge-protection >/tmp/e3.out 2>&1
cat /tmp/e3.out
step e-purge-protection-required grep -q "purge protection is required.*az keyvault update --name newvault --enable-purge-protection true" /tmp/e3.out
step e-nothing-written test "$(dev_sha /dev/vda)" = "$bs"
vaultvol provision /dev/vda --secret $NEW/secrets/e1 --kek $NEW/keys/kek --mount /data/e1 >/tmp/e4.out 2>&1
echo "exit $?" >>/tmp/e4.out
cat /tmp/e4.out
step e-purgeable-warns grep -q "has no purge protection (recoveryLevel Recoverable+Purgeable)" /tmp/e4.out
step e-provisioned-anyway sh -c 'grep -qx "exit 0" /tmp/e4.out && findmnt /data/e1 >/dev/null'
step close-all vaultvol close --all
GUEST
