# vm-kernels: 6.1
# A frozen VM must never stay frozen (issue 6, "Done when"):
#  - `kill -9` of the agent while frozen: without dm-quiesce, its watchdog
#    thaws every filesystem within the deadline + 1 s, in 10 trials;
#  - agent and watchdog both killed: the filesystems stay frozen until the
#    next vaultvol (`vaultvol thaw`, or any snapshot) reads the marker;
#    with dm-quiesce under a filesystem, the kernel thaws that one at the
#    deadline by itself;
#  - the deadline passing during the snapshot: thawed on time, reported
#    crash-consistent;
#  - a pre-script that hangs: killed at its timeout, snapshot reported
#    filesystem-consistent with the reason, post-script still run.
# Filesystems: ext4 on LUKS2, xfs, an ext4 in a loop file on the LUKS2 one
# (must freeze before it), and later ext4 on a dm-quiesce mapping.
vm_disk a 96M
vm_disk b 320M
vm_disk c 48M
vm_disk r 16M
vm_boot --disk a --disk b --disk c --disk r --timeout 900 <<'GUEST'
. /vv/tests/vm/scenarios/snapshot_lib.sh
head -c 32 /dev/urandom >/tmp/key
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file /tmp/key /dev/vda
cryptsetup open --key-file /tmp/key /dev/vda data
mkfs.ext4 -q /dev/mapper/data
mkfs.xfs -q /dev/vdb
mkdir -p /mnt/data /mnt/b /mnt/loop /mnt/q
mount /dev/mapper/data /mnt/data
mount /dev/vdb /mnt/b
dd if=/dev/zero of=/mnt/data/loop.img bs=1M count=16 2>/dev/null
mkfs.ext4 -q -F /mnt/data/loop.img
losetup /dev/loop0 /mnt/data/loop.img
mount /dev/loop0 /mnt/loop
SNAP_FS="/mnt/data /mnt/b /mnt/loop"
# An Azure-style resource disk (cloud-init's label): never frozen, wherever
# it is mounted (/mnt in Azure; /mnt holds the test mounts here).
mkfs.ext4 -q -L ephemeral0 /dev/vdd
mkdir -p /ephemeral
mount /dev/vdd /ephemeral

# --- the freeze holds writers, in the right order --------------------------
# The snapshot command itself checks that writes to every filesystem wait.
cat >/tmp/check_frozen.sh <<S
. /vv/tests/vm/scenarios/snapshot_lib.sh
SNAP_FS="$SNAP_FS"
probe_start
sleep 0.5
probes_none_done
S
vaultvol --json snapshot --consistency fs --timeout 20 -- sh /tmp/check_frozen.sh >/tmp/first.json
step freeze-blocks-writes test $? -eq 0
cat /tmp/first.json
step released-after-thaw wait_probes 3000
step report-fs json_has /tmp/first.json '"consistency":"filesystem"'
step resource-disk-skipped json_has /tmp/first.json '"/ephemeral (ext4): resource disk"'
# The loop-backed filesystem freezes in an earlier wave than the one holding its file.
step loop-before-holder python3 -c '
import json
fs = {f["mount"]: f for f in json.load(open("/tmp/first.json"))["filesystems"]}
assert fs["/mnt/loop"]["wave"] < fs["/mnt/data"]["wave"], fs
assert all(f["state"] == "frozen" for f in fs.values()), fs'

# --- vaultvol freeze / thaw (detached watchdog) ----------------------------------
step freeze-cmd vaultvol freeze --timeout 30
probe_start
sleep 0.3
step freeze-cmd-holds probes_none_done
step freeze-cmd-marker test -s /var/lib/vaultvol/frozen.json
step freeze-cmd-twice-refused sh -c '! vaultvol freeze --timeout 30'
step thaw-cmd vaultvol thaw
step thaw-cmd-released wait_probes 3000
step thaw-cmd-watchdog-gone sh -c '! ps | grep -v grep | grep -q vaultvol-wdog'
step freeze-cmd-short vaultvol freeze --timeout 2
tf=$(now_ms)
probe_start
step freeze-cmd-deadline wait_probes 3500
echo "vaultvol freeze --timeout 2: thawed $(( $(now_ms) - tf )) ms after it returned"
step freeze-cmd-marker-gone sh -c '. /vv/tests/vm/scenarios/snapshot_lib.sh; for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /var/lib/vaultvol/frozen.json ] || exit 0; sleep 0.1; done; exit 1'

# --- kill -9 of the agent while frozen: 10 trials ------------------------------
T=5
ok=0 worst=0 worst_total=0
trial=0
while [ $trial -lt 10 ]; do
	trial=$((trial + 1))
	rm -f /tmp/frozen /tmp/cmd.pid
	vaultvol snapshot --consistency fs --timeout $T -- \
		sh -c 'echo $$ >/tmp/cmd.pid; touch /tmp/frozen; exec sleep 600' >/tmp/kill.out 2>&1 &
	apid=$!
	if ! wait_file /tmp/frozen 30000; then echo "trial $trial: never frozen"; cat /tmp/kill.out; continue; fi
	tf=$(now_ms)
	probe_start
	sleep 0.3
	blocked=0; probes_none_done && blocked=1
	t0=$(now_ms)
	kill -9 $apid
	if wait_probes $((T * 1000 + 1000)); then
		t1=$(now_ms)
		dt=$((t1 - t0)) total=$((t1 - tf))
		[ $dt -gt $worst ] && worst=$dt
		[ $total -gt $worst_total ] && worst_total=$total
		# Thawed within the deadline + 1 s of the freeze; the watchdog also
		# removed the marker.
		gone=0
		for _w in 1 2 3 4 5 6 7 8 9 10; do
			[ -e /var/lib/vaultvol/frozen.json ] || { gone=1; break; }
			sleep 0.1
		done
		if [ $blocked -eq 1 ] && [ $total -le $((T * 1000 + 1000)) ] && [ $gone -eq 1 ]; then
			ok=$((ok + 1))
		fi
		echo "trial $trial: blocked=$blocked, thawed ${dt} ms after kill -9 (${total} ms after frozen)"
	else
		echo "trial $trial: NOT thawed within $((T + 1)) s"
	fi
	kill $(cat /tmp/cmd.pid) 2>/dev/null
	wait $apid 2>/dev/null
done
step kill9-watchdog-thaws-10-of-10 test $ok -eq 10
metric kill9_thaw_after_kill_ms_max $worst ms
metric kill9_thaw_after_freeze_ms_max $worst_total ms

# --- agent and watchdog both killed: the marker lets the next vaultvol thaw ----
kill_both() {	# starts a snapshot, waits until frozen, kills agent and watchdog
	rm -f /tmp/frozen /tmp/cmd.pid
	vaultvol snapshot --consistency fs --timeout 60 -- \
		sh -c 'echo $$ >/tmp/cmd.pid; touch /tmp/frozen; exec sleep 600' >/tmp/both.out 2>&1 &
	_apid=$!
	wait_file /tmp/frozen 30000 || return 1
	_wd=$(marker_field watchdog_pid)
	[ -n "$_wd" ] || return 1
	kill -9 "$_wd" $_apid
	wait $_apid 2>/dev/null
	kill $(cat /tmp/cmd.pid) 2>/dev/null
	return 0
}
step both-killed kill_both
probe_start
sleep 1
step both-killed-stays-frozen probes_none_done
step marker-left test -s /var/lib/vaultvol/frozen.json
step thaw-from-marker vaultvol thaw
step thawed-by-thaw wait_probes 3000
step marker-removed test ! -e /var/lib/vaultvol/frozen.json
# Any later snapshot recovers first.
step both-killed-again kill_both
probe_start
step next-snapshot-recovers sh -c 'vaultvol --json snapshot --consistency fs -- true >/tmp/rec.json; cat /tmp/rec.json'
step recovered-warning json_has /tmp/rec.json 'left frozen by an earlier run'
step thawed-by-next wait_probes 3000

# --- the deadline passes during the snapshot -----------------------------------
rm -f /tmp/frozen
vaultvol --json snapshot --consistency fs --timeout 2 -- sh -c 'touch /tmp/frozen; sleep 5' >/tmp/late.json &
lpid=$!
wait_file /tmp/frozen 30000
tf=$(now_ms)
probe_start
step deadline-thaws-on-time wait_probes 3000
echo "deadline thaw $(( $(now_ms) - tf )) ms after frozen (deadline 2 s)"
wait $lpid
step deadline-exit-3 test $? -eq 3
cat /tmp/late.json
step deadline-crash json_has /tmp/late.json '"consistency":"crash"'
step deadline-reason json_has /tmp/late.json 'deadline passed before the snapshot finished'

# --- a hanging pre-script ----------------------------------------------------
mkdir -p /etc/azure
cat >/etc/azure/pre.sh <<'S'
#!/bin/sh
sleep 1000 &
echo $! >/tmp/pre_child.pid
sleep 1000
S
cat >/etc/azure/post.sh <<'S'
#!/bin/sh
touch /tmp/post_ran
S
chmod 700 /etc/azure/pre.sh /etc/azure/post.sh
cat >/etc/azure/VMSnapshotScriptPluginConfig.json <<'S'
{"pluginName": "ScriptRunner", "preScriptLocation": "/etc/azure/pre.sh",
 "postScriptLocation": "/etc/azure/post.sh", "preScriptParams": ["", ""],
 "postScriptParams": ["", ""], "preScriptNoOfRetries": 0, "postScriptNoOfRetries": 0,
 "timeoutInSeconds": 3, "continueBackupOnFailure": true, "fsFreezeEnabled": true}
S
chmod 600 /etc/azure/VMSnapshotScriptPluginConfig.json
t0=$(now_ms)
vaultvol --json snapshot --timeout 20 -- true >/tmp/hang.json
rc=$?
dt=$(( $(now_ms) - t0 ))
cat /tmp/hang.json
echo "hanging pre-script run: ${dt} ms"
step hang-exit-3 test $rc -eq 3
step hang-fs-consistent json_has /tmp/hang.json '"consistency":"filesystem"'
step hang-reason json_has /tmp/hang.json 'timed out after'
step hang-killed-in-time test $dt -lt 12000
step hang-children-killed sh -c '! kill -0 $(cat /tmp/pre_child.pid) 2>/dev/null || grep -q "^State:.*Z" /proc/$(cat /tmp/pre_child.pid)/status'
step hang-post-ran test -e /tmp/post_ran
# A config others may write is refused with the reason (and no script runs).
chmod 666 /etc/azure/VMSnapshotScriptPluginConfig.json
rm -f /tmp/post_ran
vaultvol --json snapshot --timeout 20 -- true >/tmp/perm.json
step perm-exit-3 test $? -eq 3
step perm-refused json_has /tmp/perm.json 'writable by group or others'
step perm-no-scripts test ! -e /tmp/post_ran
rm -f /etc/azure/VMSnapshotScriptPluginConfig.json

# --- dm-quiesce: the kernel enforces the deadline --------------------------------
step insmod load_quiesce
step q-create sh -c 'dmsetup create q --table "0 $(blockdev --getsz /dev/vdc) quiesce /dev/vdc 0" && dmsetup mknodes q'
mkfs.ext4 -q /dev/mapper/q
mount /dev/mapper/q /mnt/q
vaultvol --json snapshot --consistency fs --timeout 20 -- true >/tmp/q.json
cat /tmp/q.json
step q-method python3 -c '
import json
fs = {f["mount"]: f for f in json.load(open("/tmp/q.json"))["filesystems"]}
q = fs["/mnt/q"]
assert q["method"] == "quiesce" and q["state"] == "frozen", q
assert q["kernel"]["last_freeze_us"] > 0 and not q["kernel"]["expired"], q
assert fs["/mnt/data"]["method"] == "ioctl", fs'
step q-status-epoch sh -c 'dmsetup status q | grep -q " frozen\| thawed 1 "'
# The agent killed: its watchdog thaws /mnt/q through the target at once.
rm -f /tmp/frozen /tmp/cmd.pid
vaultvol snapshot --consistency fs --timeout 20 -- \
	sh -c 'echo $$ >/tmp/cmd.pid; touch /tmp/frozen; exec sleep 600' >/tmp/qa.out 2>&1 &
apid=$!
wait_file /tmp/frozen 30000
SNAP_FS=/mnt/q
probe_start
sleep 0.3
step q-frozen probes_none_done
t0=$(now_ms)
kill -9 $apid
step q-watchdog-thaws-on-agent-kill wait_probes 2000
echo "watchdog thaw of /mnt/q $(( $(now_ms) - t0 )) ms after kill -9"
step q-watchdog-thawed-via-target sh -c 'dmsetup status q | tee /dev/stderr | grep -q " thawed 2 [0-9]* 0 0"'
kill $(cat /tmp/cmd.pid) 2>/dev/null
wait $apid 2>/dev/null
# Both processes killed: only the kernel is left to thaw /mnt/q.
rm -f /tmp/frozen /tmp/cmd.pid
vaultvol snapshot --consistency fs --timeout 3 -- \
	sh -c 'echo $$ >/tmp/cmd.pid; touch /tmp/frozen; exec sleep 600' >/tmp/qk.out 2>&1 &
apid=$!
wait_file /tmp/frozen 30000
tf=$(now_ms)
wd=$(marker_field watchdog_pid)
kill -9 $wd $apid
SNAP_FS=/mnt/q
probe_start
step q-kernel-thaws-within-deadline-plus-1s wait_probes 4000
echo "kernel thaw of /mnt/q $(( $(now_ms) - tf )) ms after frozen (deadline 3 s)"
metric q_kernel_thaw_after_freeze_ms $(( $(now_ms) - tf )) ms
step q-expiry-counted sh -c 'dmsetup status q | tee /dev/stderr | awk "{print \$7}" | grep -qx 1'
kill $(cat /tmp/cmd.pid) 2>/dev/null
step q-thaw-rest vaultvol thaw
SNAP_FS="/mnt/data /mnt/b /mnt/loop"
probe_start
step q-rest-thawed wait_probes 3000
GUEST
