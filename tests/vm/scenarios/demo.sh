# vm-suite: no
# vm-kernels: 6.1
# The main job, as `make demo` shows it (tests/vm/demo.sh narrates it).
# Boot 1, the production VM: a Key Vault and IMDS (fakes on the guest's own
# loopback) hold the keys; vaultvol provisions two data disks (one BEK
# wrapped by a KEK), reopens them with dm-quiesce stacked, an application
# writes, vaultvol takes an application-consistent snapshot through the
# backup service (which copies the disk images on the host while the guest
# is frozen), then the BEK is rotated. Boot 2, the restored VM: a fresh
# guest gets the snapshot copies in another order; `vaultvol open --all`
# reopens and mounts both volumes with the key versions recorded in their
# own headers, and the data is exactly what it was at the snapshot.
tests/fakes/mkca.sh "$VM_WORK/certs" >/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$VM_WORK/kek.pem" 2>/dev/null
export VV_CA_PEM=$(cat "$VM_WORK/certs/ca.pem") VV_SERVER_PEM=$(cat "$VM_WORK/certs/server.pem")
export VV_SERVER_KEY=$(cat "$VM_WORK/certs/server.key") VV_KEK_PEM=$(cat "$VM_WORK/kek.pem")
VM_GUEST_ENV="VV_CA_PEM VV_SERVER_PEM VV_SERVER_KEY VV_KEK_PEM"
vm_disk os 160M
vm_disk app 64M
vm_disk logs 320M	# mkfs.xfs needs 300 MB
vm_disk vault 16M	# the vault service's own storage: outlives the VM
mkdir -p "$VM_WORK/snapshots"
python3 tests/vm/backup_host.py --socket "$VM_WORK/bsvc.sock" \
	--images "$VM_WORK/os.img" "$VM_WORK/app.img" "$VM_WORK/logs.img" \
	--dest "$VM_WORK/snapshots" --log "$VM_WORK/backup_host.log" --timeout 900 &
BACKUP_HOST=$!

vm_boot --disk os --disk app --disk logs --disk vault --serial bsvc --timeout 900 <<'GUEST'
. /vv/tests/vm/scenarios/demo_lib.sh
say "== Boot 1: the production VM ($(uname -r))"
mkfs.ext4 -q -L vvos /dev/vda && mkdir -p /os && mount /dev/vda /os
mkdir -p /os/etc/vaultvol /os/var/lib/vaultvol && chmod 700 /os/etc/vaultvol
for d in etc/vaultvol var/lib/vaultvol; do mkdir -p /$d && mount --bind /os/$d /$d; done
mkfs.ext4 -q /dev/vdd && mkdir -p /vault && mount /dev/vdd /vault
step vault-up demo_vault_start
python3 -S /vv/tests/fakes/fakectl.py -s /tmp/fakes put_key name=kek pem@=/tmp/kek.pem >/dev/null
KEK=$(python3 -S /vv/tests/fakes/fakectl.py -s /tmp/fakes -f kid dump >/dev/null; echo "$FAKE_KV_URL/keys/kek")
cat >/etc/vaultvol/vaultvol.conf <<C
[vault]
url = $FAKE_KV_URL
ca_file = $FAKE_CA

[snapshot]
timeout = 30
hooks_dir = /etc/vaultvol/hooks.d
C
chmod 600 /etc/vaultvol/vaultvol.conf
# The application's quiesce hook (qemu-ga convention: called with freeze/thaw).
mkdir -p /etc/vaultvol/hooks.d && chmod 700 /etc/vaultvol/hooks.d
printf '#!/bin/sh\necho "app hook: $1" >>/tmp/hook.log\n[ "$1" = freeze ] && sync\nexit 0\n' >/etc/vaultvol/hooks.d/10-app
chmod 700 /etc/vaultvol/hooks.d/10-app
say "Key Vault at $FAKE_KV_URL, managed identity from IMDS at 169.254.169.254"
say ""
say "\$ vaultvol provision /dev/vdb --secret appdata --kek $KEK --mount /data/app --recovery secret"
step provision-app sh -c "vaultvol provision /dev/vdb --secret appdata --kek $KEK --mount /data/app --recovery secret --recovery-iterations 4 --recovery-memory 32768 >/tmp/p1.out 2>&1"
say_file /tmp/p1.out
say "\$ vaultvol provision /dev/vdc --secret logs --mount /data/logs --fs xfs --recovery secret"
step provision-logs sh -c "vaultvol provision /dev/vdc --secret logs --mount /data/logs --fs xfs --recovery secret --recovery-iterations 4 --recovery-memory 32768 >/tmp/p2.out 2>&1"
say_file /tmp/p2.out
say "The token in /dev/vdb's LUKS2 header (the volume describes itself;"
say "\`cryptsetup luksDump\` lists only '0: vaultvol', its contents are:)"
say "\$ cryptsetup token export --token-id 0 /dev/vdb"
cryptsetup token export --token-id 0 /dev/vdb | python3 -c 'import json,sys
print(json.dumps(json.load(sys.stdin), indent=2))' >/tmp/tok.json
say_file /tmp/tok.json
step token-shown sh -c 'grep -q "\"type\": \"vaultvol\"" /tmp/tok.json && grep -q "\"key\": \"https://.*/secrets/appdata/" /tmp/tok.json'
say ""
say "Close and reopen with dm-quiesce stacked (disk -> crypt -> quiesce -> fs):"
load_quiesce
step close vaultvol close --all
step open vaultvol open --all
step quiesce-stacked sh -c 'dmsetup table appdata | grep -q " quiesce "'
vaultvol status >/tmp/st.out 2>&1; say_file /tmp/st.out
echo "orders before the backup" >/data/app/orders.txt
seq 1 5000 >/data/app/ledger.txt
echo "log line before the backup" >/data/logs/app.log
sync
say ""
say "An application-consistent snapshot through the backup service:"
port=
for p in /sys/class/virtio-ports/*; do
	[ "$(cat $p/name 2>/dev/null)" = bsvc ] && port=/dev/$(basename $p)
done
python3 /vv/tests/fakes/backup_service.py --serial "$port" --port 8480 --port-file /tmp/bsvc.port &
SPID=$!
while [ ! -s /tmp/bsvc.port ]; do sleep 0.2; done
say "\$ vaultvol snapshot --service http://127.0.0.1:8480"
vaultvol snapshot --service http://127.0.0.1:8480 >/tmp/snap.out 2>&1
rc=$?
say_file /tmp/snap.out
step snapshot-app-consistent test $rc -eq 0
kill $SPID
echo "orders after the backup" >>/data/app/orders.txt
say ""
say "\$ vaultvol rotate /dev/mapper/... --bek   (a new BEK version; the old one is kept)"
appdev=$(vaultvol --json status | python3 -c 'import json,sys
for v in json.load(sys.stdin)["volumes"]:
    if v.get("name") == "appdata": print(v["device"])' 2>/dev/null)
step rotate-bek sh -c "vaultvol rotate ${appdev:-/dev/vdb} --bek >/tmp/rot.out 2>&1"
say_file /tmp/rot.out
say "The token now names the new BEK version (vaultvol status --json, appdata):"
vaultvol --json status | python3 -c 'import json,sys
for v in json.load(sys.stdin)["volumes"]:
    if v.get("name") == "appdata":
        print(json.dumps({k: v.get(k) for k in ("name", "device", "key_ref", "key_version",
                                               "kek_version", "state", "mounted_on")}, indent=2))' \
	>/tmp/st.json 2>&1
say_file /tmp/st.json
step close-all vaultvol close --all
python3 -S /vv/tests/fakes/fakectl.py -s /tmp/fakes export >/vault/state.json
demo_vault_stop
umount /vault /etc/vaultvol /var/lib/vaultvol /os
say "Boot 1 done: the backup holds the disks as they were at the snapshot."
GUEST
kill $BACKUP_HOST 2>/dev/null
wait $BACKUP_HOST 2>/dev/null
d=$VM_WORK/snapshots/1
host_step snapshot-copied test -s "$d/os.img" -a -s "$d/app.img" -a -s "$d/logs.img"
# The restored VM: the copies, attached in another order.
mv "$d/logs.img" "$VM_WORK/r_logs.img"
mv "$d/os.img" "$VM_WORK/r_os.img"
mv "$d/app.img" "$VM_WORK/r_app.img"
host_step no-plaintext-in-copy sh -c "! grep -a -q 'orders before the backup' '$VM_WORK/r_app.img'"

vm_boot --disk r_logs --disk vault --disk r_app --disk r_os --timeout 600 <<'GUEST'
. /vv/tests/vm/scenarios/demo_lib.sh
say ""
say "== Boot 2: a fresh VM restored from the backup; disks in another order"
mkdir -p /os /vault
mount LABEL=vvos /os 2>/dev/null || mount "$(blkid -L vvos)" /os
for d in etc/vaultvol var/lib/vaultvol; do mkdir -p /$d && mount --bind /os/$d /$d; done
mount /dev/vdb /vault
step vault-up demo_vault_start --preload /vault/state.json
say "\$ vaultvol open --all"
vaultvol open --all >/tmp/open.out 2>&1
rc=$?
say_file /tmp/open.out
step open-all test $rc -eq 0
vaultvol status >/tmp/st.out 2>&1; say_file /tmp/st.out
step data-at-snapshot grep -q 'orders before the backup' /data/app/orders.txt
step nothing-after-snapshot sh -c '! grep -q "orders after the backup" /data/app/orders.txt'
step ledger-intact sh -c 'seq 1 5000 | cmp - /data/app/ledger.txt'
step logs-intact grep -q 'log line before the backup' /data/logs/app.log
say "The restored disk opened with the BEK version recorded in its own header,"
say "although the BEK was rotated after the snapshot."
step second-open-no-change vaultvol open --all
step close-all vaultvol close --all
demo_vault_stop
GUEST
