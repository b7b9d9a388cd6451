# vm-kernels: 6.1
# Backup -> restore under load (issue 6, "Done when"). Boot 1: an "OS disk"
# (config, keystore, state) and two LUKS2 volumes that describe themselves
# (vaultvol tokens), opened and mounted by `vaultvol open --all` with
# dm-quiesce stacked; a writer appends checksummed records to one and
# acknowledges each after fsync (acks on tmpfs, not snapshotted); an SQLite
# application in WAL mode runs on the other, quiesced by the Azure-style
# pre-script (pause + WAL checkpoint). SNAP_CYCLES times, `vaultvol snapshot
# --service` talks to tests/fakes/backup_service.py on the guest's loopback,
# which asks the host (tests/vm/backup_host.py, over virtio-serial) to copy
# the disk images while the guest is frozen, noting the acknowledged counts.
# Boot 2, a fresh guest, gets every copy (slices of one carrier disk,
# attached one copy at a time as loop devices), reopens and mounts the
# volumes with `vaultvol open --all`, and tests/vm/snapshot/checker.py finds
# every acknowledged record, no torn record, the database intact with
# exactly its acknowledged rows.
SNAP_CYCLES=${SNAP_CYCLES:-5}
export SNAP_CYCLES
VM_GUEST_ENV="SNAP_CYCLES"
OS_MB=32 REC_MB=64 DB_MB=64
vm_disk os ${OS_MB}M
vm_disk rec ${REC_MB}M
vm_disk db ${DB_MB}M
mkdir -p "$VM_WORK/snapshots"
python3 tests/vm/backup_host.py --socket "$VM_WORK/bsvc.sock" \
	--images "$VM_WORK/os.img" "$VM_WORK/rec.img" "$VM_WORK/db.img" \
	--dest "$VM_WORK/snapshots" --log "$VM_WORK/backup_host.log" --timeout 1800 &
BACKUP_HOST=$!

vm_boot --disk os --disk rec --disk db --serial bsvc --timeout 1200 <<'GUEST'
set -u
. /vv/tests/vm/scenarios/snapshot_lib.sh
T=/vv/tests/vm/snapshot
mkfs.ext4 -q -L vvos /dev/vda
mkdir -p /os && mount /dev/vda /os
mkdir -p /os/etc/vaultvol /os/var/lib/vaultvol
chmod 700 /os/etc/vaultvol
for d in etc/vaultvol var/lib/vaultvol; do mkdir -p /$d && mount --bind /os/$d /$d; done
cat >/etc/vaultvol/vaultvol.conf <<'C'
[vault]
keystore = /etc/vaultvol/keys

[snapshot]
timeout = 30
C
chmod 600 /etc/vaultvol/vaultvol.conf
fast="--pbkdf pbkdf2 --pbkdf-force-iterations 1000"
for v in rec:vdb db:vdc; do
	n=${v%%:*} dev=/dev/${v#*:}
	(umask 077; head -c 32 /dev/urandom | base64 | tr -d '\n' >/tmp/$n.key)
	cryptsetup luksFormat -q --type luks2 $fast --key-file /tmp/$n.key $dev
	vaultvol key put keystore:${n}vol --from-file /tmp/$n.key
	printf '{"type":"vaultvol","keyslots":["0"],"vv_version":1,"key":"keystore:%svol","name":"%svol","mount":"/data/%s","fs":"ext4"}' \
		$n $n $n >/tmp/$n.json
	cryptsetup token import --json-file /tmp/$n.json $dev
	cryptsetup open --key-file /tmp/$n.key $dev mk$n
	mkfs.ext4 -q /dev/mapper/mk$n
	cryptsetup close mk$n
	rm -f /tmp/$n.key
done
step insmod load_quiesce
step open-all vaultvol open --all
step quiesce-stacked sh -c 'dmsetup table recvol | grep -q " quiesce " && dmsetup table dbvol | grep -q " quiesce "'

# The application's scripts, Azure convention, root-owned 0700 / 0600.
mkdir -p /etc/azure
cp $T/pre.sh $T/post.sh /etc/azure/
chmod 700 /etc/azure/pre.sh /etc/azure/post.sh
cat >/etc/azure/VMSnapshotScriptPluginConfig.json <<'S'
{"pluginName": "ScriptRunner", "preScriptLocation": "/etc/azure/pre.sh",
 "postScriptLocation": "/etc/azure/post.sh", "preScriptParams": [],
 "postScriptParams": [], "preScriptNoOfRetries": 1, "postScriptNoOfRetries": 1,
 "timeoutInSeconds": 30, "continueBackupOnFailure": true, "fsFreezeEnabled": true}
S
chmod 600 /etc/azure/VMSnapshotScriptPluginConfig.json

# The load.
python3 $T/writer.py /data/rec/records.log /tmp/rec.ack /tmp/stop &
WPID=$!
python3 $T/dbapp.py /data/db/app.db /tmp/db.ack /tmp/stop /tmp/app.pause /tmp/app.paused &
DPID=$!
step load-running sh -c '. /vv/tests/vm/scenarios/snapshot_lib.sh; wait_file /tmp/rec.ack 60000 && wait_file /tmp/db.ack 60000'

# The fake backup service, asking the host over virtio-serial.
port=
for p in /sys/class/virtio-ports/*; do
	[ "$(cat $p/name 2>/dev/null)" = bsvc ] && port=/dev/$(basename $p)
done
step serial-port test -c "$port"
python3 /vv/tests/fakes/backup_service.py --serial "$port" --port 8480 \
	--port-file /tmp/bsvc.port --note /tmp/rec.ack --note /tmp/db.ack --dump /tmp/bsvc.jsonl &
SPID=$!
step service-up wait_file /tmp/bsvc.port 60000

ok=0 c=0
t0=$(now_ms)
while [ $c -lt $SNAP_CYCLES ]; do
	c=$((c + 1))
	sleep 1
	vaultvol --json snapshot --service http://127.0.0.1:8480 >/tmp/report.$c.json
	rc=$?
	cat /tmp/report.$c.json
	if [ $rc -eq 0 ] && json_has /tmp/report.$c.json '"consistency":"application"' &&
	   json_has /tmp/report.$c.json '"status":"taken"'; then
		ok=$((ok + 1))
	fi
	w=$(sed -n 's/.*"freeze_window_ms":\([0-9]*\).*/\1/p' /tmp/report.$c.json)
	metric snapshot_window_ms_$c "${w:-0}" ms
done
step "cycles-app-consistent-$SNAP_CYCLES" test $ok -eq $SNAP_CYCLES
metric backup_cycles_ms $(( $(now_ms) - t0 )) ms
# The volumes were frozen through dm-quiesce (kernel deadline, kernel figures).
step frozen-through-quiesce json_has /tmp/report.1.json '"method":"quiesce","state":"frozen"'
step kernel-figures json_has /tmp/report.1.json '"kernel":{"last_freeze_us":'
# What vaultvol told the service: volumes with key references, no key material.
step prepare-has-key-refs sh -c 'grep "\"kind\": \"POST\", \"path\": \"/snapshots\"," /tmp/bsvc.jsonl | head -1 | grep -q "keystore:recvol"'
step prepare-no-key sh -c '! grep -qF "$(cat /etc/vaultvol/keys/recvol/$(cat /etc/vaultvol/keys/recvol/latest))" /tmp/bsvc.jsonl'
step reports-received test "$(grep -c '"kind": "PUT"' /tmp/bsvc.jsonl)" -eq $SNAP_CYCLES
# Both writers kept going between snapshots.
step writer-alive kill -0 $WPID
step app-alive kill -0 $DPID
touch /tmp/stop
wait $WPID $DPID
kill $SPID
echo "records acknowledged: $(tail -1 /tmp/rec.ack), rows: $(tail -1 /tmp/db.ack)"
step close-all vaultvol close --all
umount /etc/vaultvol /var/lib/vaultvol
umount /os
GUEST
kill $BACKUP_HOST 2>/dev/null
wait $BACKUP_HOST 2>/dev/null
cat "$VM_WORK/backup_host.log"

# Lay the copies out on one carrier disk: copy k at (k-1)*(OS+REC+DB) MB.
SLICE_MB=$((OS_MB + REC_MB + DB_MB))
rm -f "$VM_WORK/carrier.img"
truncate -s $((SNAP_CYCLES * SLICE_MB))M "$VM_WORK/carrier.img"
REC_ACKS="" DB_ACKS=""
k=0
while [ $k -lt "$SNAP_CYCLES" ]; do
	k=$((k + 1))
	d=$VM_WORK/snapshots/$k
	host_step "copy-$k-complete" test -s "$d/meta.json" -a -s "$d/os.img" -a -s "$d/rec.img" -a -s "$d/db.img"
	base=$(((k - 1) * SLICE_MB))
	dd if="$d/os.img" of="$VM_WORK/carrier.img" bs=1M seek=$base conv=sparse,notrunc status=none
	dd if="$d/rec.img" of="$VM_WORK/carrier.img" bs=1M seek=$((base + OS_MB)) conv=sparse,notrunc status=none
	dd if="$d/db.img" of="$VM_WORK/carrier.img" bs=1M seek=$((base + OS_MB + REC_MB)) conv=sparse,notrunc status=none
	acks=$(python3 -c 'import json,sys; n=json.load(open(sys.argv[1]))["notes"]; print(n["/tmp/rec.ack"] or 0, n["/tmp/db.ack"] or 0)' "$d/meta.json")
	REC_ACKS="$REC_ACKS ${acks% *}" DB_ACKS="$DB_ACKS ${acks#* }"
	rm -f "$d/os.img" "$d/rec.img" "$d/db.img"
done
echo "acknowledged at each copy: records$REC_ACKS; rows$DB_ACKS"
export REC_ACKS DB_ACKS OS_MB REC_MB DB_MB SLICE_MB
VM_GUEST_ENV="SNAP_CYCLES REC_ACKS DB_ACKS OS_MB REC_MB DB_MB SLICE_MB"

vm_boot --disk carrier --timeout 1200 <<'GUEST'
set -u
T=/vv/tests/vm/snapshot
MB=1048576
step insmod load_quiesce
opened=0 k=0 checks=""
t0=$(now_ms)
set -- $REC_ACKS
for dba in $DB_ACKS; do
	k=$((k + 1)) reca=$1
	shift
	base=$(((k - 1) * SLICE_MB))
	/sbin/losetup -o $((base * MB)) --sizelimit $((OS_MB * MB)) /dev/loop1 /dev/vda
	/sbin/losetup -o $(((base + OS_MB) * MB)) --sizelimit $((REC_MB * MB)) /dev/loop2 /dev/vda
	/sbin/losetup -o $(((base + OS_MB + REC_MB) * MB)) --sizelimit $((DB_MB * MB)) /dev/loop3 /dev/vda
	mkdir -p /os && mount /dev/loop1 /os
	for d in etc/vaultvol var/lib/vaultvol; do mkdir -p /$d && mount --bind /os/$d /$d; done
	# Taken while frozen, the copy holds the frozen-state marker of its own
	# snapshot: a restored VM must treat it as stale (another boot).
	[ $k -eq 1 ] && step copy-has-stale-marker test -s /var/lib/vaultvol/frozen.json
	# Opened and mounted by vaultvol from the copy alone; the files are
	# taken aside so one checker run (python starts slowly here) checks all.
	if vaultvol open --all; then
		opened=$((opened + 1))
		mkdir -p /tmp/c$k
		cp /data/rec/records.log /data/db/app.db* /tmp/c$k/
		checks="$checks /tmp/c$k/records.log $reca /tmp/c$k/app.db $dba"
	else
		echo "copy $k: vaultvol open failed"
	fi
	if [ $k -eq 1 ]; then
		step stale-marker-harmless vaultvol thaw
		step stale-marker-gone test ! -e /var/lib/vaultvol/frozen.json
	fi
	vaultvol close --all
	umount /etc/vaultvol /var/lib/vaultvol
	umount /os
	/sbin/losetup -d /dev/loop1 /dev/loop2 /dev/loop3
done
step "restored-copies-opened-$SNAP_CYCLES" test $opened -eq "$SNAP_CYCLES"
step "restored-copies-verified-$SNAP_CYCLES" python3 $T/checker.py $checks
metric restore_verify_all_ms $(( $(now_ms) - t0 )) ms
GUEST
