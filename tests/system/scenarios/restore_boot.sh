# System scenario 2 (issue 19): restore from an application-consistent
# snapshot, booted.
#   boot 1  the original VM (installed by install.sh): two volumes provisioned
#           (appdata: key in the vault; logs: local keystore on the OS disk),
#           a dependent unit enabled, an application writing checksummed
#           records to appdata; `vaultvol snapshot --service` asks the backup
#           service (tests/fakes/backup_service.py in the guest, the host's
#           tests/vm/backup_host.py over virtio-serial) to copy every disk,
#           the OS disk included, while the filesystems are frozen.
#   host    a NEW VM is made of the copies: the OS disk copy (checked with
#           qemu-img), the data disks in another order, one extra blank disk.
#   boot 2  the new VM's first boot: vaultvol-open.service opens and mounts
#           both volumes with no manual step; the dependent unit reads the
#           data; the records acknowledged before the snapshot are there; the
#           frozen-state marker the copy carries is not acted on (no thaw, no
#           device-mapper message, no warning from the unit); the blank disk
#           is untouched.
# system-kernels: 6.1 6.12
vm_disk app 64M
vm_disk logs 64M
vm_disk blank 16M
mkdir -p "$VM_WORK/snapshots"
python3 tests/vm/backup_host.py --socket "$VM_WORK/bsvc.sock" \
	--images "$VM_WORK/os.qcow2" "$VM_WORK/app.img" "$VM_WORK/logs.img" \
	--dest "$VM_WORK/snapshots" --log "$VM_WORK/backup_host.log" --timeout 1200 &
BACKUP_HOST=$!

sys_boot --disk app --disk logs --serial bsvc <<'GUEST'
set -u
step fakes-up sys_fakes_install
sys_vault_setup
rec="--recovery print --recovery-iterations 4 --recovery-memory 32768"
step provision-app sh -c "vaultvol provision /dev/vdb --secret appdata --mount /data/app $rec >/tmp/p1.out"
step provision-logs sh -c "vaultvol provision /dev/vdc --secret keystore:logs --mount /data/logs $rec >/tmp/p2.out"
mkdir -p /var/lib/vv-test
head -c 1000000 /dev/urandom >/data/app/blob.bin
echo "log data" >/data/logs/hello.txt
(cd /data && sha256sum app/blob.bin logs/hello.txt) >/var/lib/vv-test/expected
sys_oneshot_unit vv-app "An application reading the encrypted volumes" \
	"/bin/sh -c 'cd /data && sha256sum -c /var/lib/vv-test/expected >/run/vv-app.out'" \
	"$(printf 'Requires=vaultvol-open.service\nAfter=vaultvol-open.service')"
step app-unit-enabled systemctl enable vv-app.service
# The vault outlives the VM: its state goes with the OS disk here (the fakes
# run inside the guest), saved before the snapshot.
step fakes-saved sys_fakes_save
# The application: checksummed records, each acknowledged after fsync.
T=/vv/tests/vm/snapshot
python3 $T/writer.py /data/app/records.log /run/rec.ack /run/stop &
WPID=$!
for i in $(seq 600); do [ -s /run/rec.ack ] && break; sleep 0.1; done
step writer-running test -s /run/rec.ack
port=
for p in /sys/class/virtio-ports/*; do
	[ "$(cat $p/name 2>/dev/null)" = bsvc ] && port=/dev/$(basename $p)
done
step serial-port test -c "$port"
python3 /vv/tests/fakes/backup_service.py --serial "$port" --port 8480 \
	--port-file /run/bsvc.port --note /run/rec.ack --dump /run/bsvc.jsonl &
SPID=$!
for i in $(seq 600); do [ -s /run/bsvc.port ] && break; sleep 0.1; done
step service-up test -s /run/bsvc.port
# The application's pre/post scripts, Azure's convention (root, 0700/0600):
# application consistency is what the backup asks for.
mkdir -p /etc/azure
printf '#!/bin/sh\nsync /data/app/records.log\n' >/etc/azure/pre.sh
printf '#!/bin/sh\nexit 0\n' >/etc/azure/post.sh
chmod 700 /etc/azure/pre.sh /etc/azure/post.sh
cat >/etc/azure/VMSnapshotScriptPluginConfig.json <<'S'
{"pluginName": "ScriptRunner", "preScriptLocation": "/etc/azure/pre.sh",
 "postScriptLocation": "/etc/azure/post.sh", "preScriptParams": [],
 "postScriptParams": [], "preScriptNoOfRetries": 1, "postScriptNoOfRetries": 1,
 "timeoutInSeconds": 30, "continueBackupOnFailure": true, "fsFreezeEnabled": true}
S
chmod 600 /etc/azure/VMSnapshotScriptPluginConfig.json
sleep 2
vaultvol --json snapshot --service http://127.0.0.1:8480 >/tmp/report.json
rc=$?
cat /tmp/report.json
step snapshot-taken sh -c "test $rc -eq 0 && grep -q '\"status\":\"taken\"' /tmp/report.json"
step snapshot-app-consistent grep -q '"consistency":"application"' /tmp/report.json
step root-frozen-too grep -q '"mount":"/"' /tmp/report.json
touch /run/stop
wait $WPID
kill $SPID
step writer-alive-after test -s /data/app/records.log
GUEST
kill $BACKUP_HOST 2>/dev/null
wait $BACKUP_HOST 2>/dev/null
cat "$VM_WORK/backup_host.log"

# The new VM: its disks are the copies.
S=$VM_WORK/snapshots/1
host_step copies-complete test -s "$S/meta.json" -a -s "$S/os.qcow2" -a -s "$S/app.img" -a -s "$S/logs.img"
REC_ACK=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["notes"]["/run/rec.ack"] or 0)' "$S/meta.json")
echo "records acknowledged when the copy was taken: $REC_ACK"
export REC_ACK
VM_GUEST_ENV="REC_ACK"
host_step os-copy-consistent qemu-img check -q -r leaks "$S/os.qcow2"
mv "$S/os.qcow2" "$VM_WORK/os.qcow2"
mv "$S/app.img" "$VM_WORK/rapp.img"
mv "$S/logs.img" "$VM_WORK/rlogs.img"
sha_blank=$(sha256sum "$VM_WORK/blank.img" | cut -d' ' -f1)

# Disk order: blank=vdb, logs copy=vdc, app copy=vdd (boot 1: app=vdb, logs=vdc).
sys_boot --disk blank --disk rlogs --disk rapp <<'GUEST'
set -u
sys_step_running
step open-active systemctl is-active vaultvol-open.service
step app-mounted sh -c 'test "$(findmnt -n -o SOURCE /data/app)" = /dev/mapper/appdata'
step logs-mounted sh -c 'test "$(findmnt -n -o SOURCE /data/logs)" = /dev/mapper/logs'
step app-on-new-disk sh -c 'cryptsetup status appdata | grep -q "device: */dev/vdd"'
step dependent-active systemctl is-active vv-app.service
step dependent-read-data grep -q "app/blob.bin: OK" /run/vv-app.out
step records-acknowledged-present python3 - <<'PY'
import os, sys
sys.path.insert(0, "/vv/tests/vm/snapshot")
from checker import check_records
n, problems = check_records("/data/app/records.log", int(os.environ["REC_ACK"]))
print("records in the copy: %d, acknowledged: %s, problems: %s" % (n, os.environ["REC_ACK"], problems or "none"))
sys.exit(1 if problems else 0)
PY
journalctl -b -u vaultvol-open.service --no-pager -o cat >/tmp/unit.txt 2>&1
say "journalctl -u vaultvol-open (restored VM):"
say_file /tmp/unit.txt
step unit-no-warning sh -c '! journalctl -b -u vaultvol-open.service -p warning --no-pager -q | grep -q .'
step no-thaw-of-stale-marker sh -c '! grep -a -i -E "thaw|message ioctl|frozen" /tmp/unit.txt'
step no-dm-message-failure sh -c '! journalctl -b --no-pager -q | grep -a -v vv-test-boot | grep -a -E "device-mapper: message ioctl.*failed|to thaw it"'
step status-shows-both sh -c 'vaultvol status | tee /dev/stderr | grep -c " mounted " | grep -qx 2'
GUEST
host_step blank-untouched test "$(sha256sum "$VM_WORK/blank.img" | cut -d' ' -f1)" = "$sha_blank"
