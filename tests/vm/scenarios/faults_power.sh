# vm-kernels: 6.1
# The fault matrix's power cuts (issue 21, docs/faults.md): the guest is
# cut off with no shutdown at a step a command prints (sysrq "b": the kernel
# reboots at once, nothing is synced, the guest's page cache is lost, and
# QEMU, run with -no-reboot, exits), and the next boot judges the cell.
# A chain of boots: each one judges the previous boot's cut, then makes the
# next cut. The vault outlives the VM, as a real one does: the fake keeps
# its secrets on a disk that survives (fakes.py --persist), and so does
# vaultvol's state directory (header backups, markers, volumes.json).
# A cell (step CUT-x-CMD, faults.txt injection %faults_power) passes when
# the rerun of the command after the cut succeeds, the volume then opens
# with its data intact (checksums), the header was backed up before any
# change to an existing header, and no key is in any output; for the
# snapshot, every record a writer had fsynced before the cut is there.
vm_disk st 512M
vm_disk pa 32M
vm_disk pr 32M
vm_disk ad 32M
vm_disk sn 64M
vm_disk pn 32M
vm_disk a2 32M
vm_test_pki
VM_GUEST_ENV="VV_CA_PEM VV_SERVER_PEM VV_SERVER_KEY BOOT"
# boot N <SCRIPT: boot the guest (vm_boot must run in this shell, not in a
# pipeline's subshell, to count its boots).
boot() {
	export BOOT=$1
	vm_boot --disk st --disk pa --disk pr --disk ad --disk sn --disk pn --disk a2 --timeout 600
}

# The prologue of every boot, then this boot's part.
prologue() {
	cat <<'G'
set -u
. /vv/tests/vm/scenarios/open_lib.sh
. /vv/tests/vm/scenarios/snapshot_lib.sh
echo 1 >/proc/sys/kernel/sysrq
mkdir -p /st /var/lib/vaultvol /etc/vaultvol /mnt/sn
[ "$BOOT" = 1 ] && mkfs.ext4 -q -F /dev/vda
mount /dev/vda /st || echo "state disk not mounted"
mkdir -p /st/state && chmod 700 /st/state
mount --bind /st/state /var/lib/vaultvol
# A fixed vault port: the tokens written in one boot name it.
step fakes-start open_fakes_start --kv-port 8443 --persist /st/kv.json
printf '[vault]\nurl = %s\nca_file = %s\ntimeout = 8\n' "$FAKE_KV_URL" "$FAKE_CA" >/etc/vaultvol/vaultvol.conf
chmod 600 /etc/vaultvol/vaultvol.conf
RCOST="--recovery-iterations 4 --recovery-memory 32"
# The extension handler's tree, on the state disk as on an OS disk.
WA=/st/waagent H=/st/waagent/Vaultvol.Linux-0.1.0
# status_ok N STATE: <N>.status is whole JSON of waagent's shape, its state
# STATE (an ERE), and no temporary file of a status write is left beside it.
status_ok() {
	python3 - "$H/status/$1.status" "$2" <<'PY' || return 1
import json, re, sys
st = json.load(open(sys.argv[1]))[0]["status"]
print("status %s: %s (%s)" % (sys.argv[1], st["status"], st.get("operation")))
sys.exit(0 if re.fullmatch(sys.argv[2], st["status"]) else 1)
PY
	! ls -A "$H/status" | grep -q tmp
}
# power_cut PATTERN CMD...: run CMD, and cut the power the moment its
# output shows PATTERN (an ERE); for @FILE, the moment FILE exists (a
# snapshot's command cannot print to a frozen filesystem); for !exit, the
# moment CMD has exited 0 (what it said it did must be on disk). The guest
# does not come back from this.
power_cut() {
	_pat=$1; shift
	if [ "$_pat" = '!exit' ]; then
		"$@" >/st/cut.out 2>&1 </dev/null && {
			echo "power cut as $1 exited 0"
			echo "DONE 0" >/dev/ttyS1
			echo b >/proc/sysrq-trigger
			sleep 10
		}
		cat /st/cut.out
		step "cut-landed-$BOOT" false
		return 1
	fi
	"$@" >/st/cut.out 2>&1 </dev/null &
	_p=$!
	_t=$(now_ms)
	while kill -0 $_p 2>/dev/null; do
		if case $_pat in @*) [ -e "${_pat#@}" ] ;; *) grep -qE -- "$_pat" /st/cut.out ;; esac; then
			echo "power cut at /$_pat/ after $(( $(now_ms) - _t )) ms"
			echo "DONE 0" >/dev/ttyS1
			echo b >/proc/sysrq-trigger
			sleep 10
		fi
		sleep 0.02
	done
	echo "the cut at /$_pat/ did not land: the command ended first"
	cat /st/cut.out
	step "cut-landed-$BOOT" false
}
# judge CELL CMD WHY: the cell's verdict, given in the boot after its cut.
judge() {
	_w=$3
	no_secret /st/cut.out /tmp/out || _w="${_w}a secret in the output; "
	set -- "$1" "$2" "$_w"
	echo "=== cell $1 x $2: ${3:-ok}"
	step "$1-x-$2" test -z "$3"
}
# no_secret FILE...: no secret value the fake vault holds (raw, or base64
# decoded as hex) appears in any FILE. The values come from the vault's
# own persisted backups (zlib'd JSON behind the fake's magic).
no_secret() {
	python3 - "$@" <<'PY'
import base64, json, sys, zlib
MAGIC = b"FAKEKVBK1\0"
vals = []
for d in json.load(open("/st/kv.json")):
    if d["kind"] != "secret":
        continue
    b = d["blob"]
    blob = base64.urlsafe_b64decode(b + "=" * (-len(b) % 4))
    doc = json.loads(zlib.decompress(blob[len(MAGIC):-32]))
    for v in doc["versions"]:
        vals.append(v["value"])
        try:
            vals.append(base64.b64decode(v["value"]).hex())
        except Exception:
            pass
for f in sys.argv[1:]:
    try:
        text = open(f, errors="replace").read()
    except OSError:
        continue
    for v in vals:
        if len(v) >= 16 and v in text:
            sys.exit("a secret value in " + f)
PY
}
# tree_sum MOUNT: a checksum of the files under MOUNT (names and contents).
tree_sum() { (cd "$1" && find . -type f ! -name lost+found | sort | xargs cat | sha256sum | cut -d' ' -f1); }
G
}

# --- boot 1: set up; cut a provision after its key is stored ----------------
{ prologue; cat <<'G'
step provision-pr vaultvol provision /dev/vdc --secret pr --mount /data/pr $RCOST
step open-pr vaultvol open pr
i=0; while [ $i -lt 200 ]; do echo "pr data $i"; i=$((i + 1)); done >/data/pr/f
tree_sum /data/pr >/st/pr.sum
step close-pr vaultvol close pr
# An ADE-style volume for adopt: a passphrase keyslot, the passphrase put in
# the vault first (as an operator moving to vaultvol does).
head -c 32 /dev/urandom >/tmp/ad.key
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file /tmp/ad.key /dev/vdd
cryptsetup open --key-file /tmp/ad.key /dev/vdd adprep && mkfs.ext4 -q /dev/mapper/adprep &&
	mkdir -p /tmp/m && mount /dev/mapper/adprep /tmp/m && echo "ad data" >/tmp/m/f &&
	umount /tmp/m && cryptsetup close adprep
step key-put-ad vaultvol key put ad --from-file /tmp/ad.key
rm -f /tmp/ad.key
sync
power_cut 'stored https' vaultvol provision /dev/vdb --secret pa --mount /data/pa $RCOST
G
} >"$VM_WORK/script.sh"; boot 1 <"$VM_WORK/script.sh"

# --- boot 2: judge the provision; cut a rotate after its new keyslot ------------
{ prologue; cat <<'G'
why=""
cat /st/cut.out
vaultvol provision /dev/vdb --secret pa --mount /data/pa $RCOST >/tmp/out 2>&1 </dev/null ||
	why="rerun exit $?: $(grep -m1 -i 'error\|failed' /tmp/out); "
cat /tmp/out
vaultvol open pa >/tmp/o 2>&1 </dev/null || why="${why}does not open: $(cat /tmp/o); "
findmnt /data/pa >/dev/null || why="${why}not mounted; "
vaultvol close pa >/dev/null 2>&1
judge cut-stored provision "$why"
sync
power_cut 'Added a keyslot' vaultvol rotate /dev/vdc
G
} >"$VM_WORK/script.sh"; boot 2 <"$VM_WORK/script.sh"

# --- boot 3: judge that rotate; cut the next one after its token is written ------
rotate_judge='
why=""
cat /st/cut.out
ls /var/lib/vaultvol/header-backups/ 2>/dev/null | grep -q . || why="no header backup; "
vaultvol rotate /dev/vdc >/tmp/out 2>&1 </dev/null || why="${why}rerun exit $?: $(grep -m1 -i "error\|failed" /tmp/out); "
cat /tmp/out
vaultvol open pr >/tmp/o 2>&1 </dev/null || why="${why}does not open: $(cat /tmp/o); "
[ "$(tree_sum /data/pr 2>/dev/null)" = "$(cat /st/pr.sum)" ] || why="${why}data changed; "
vaultvol close pr >/dev/null 2>&1
'
{ prologue; echo "$rotate_judge"; cat <<'G'
judge cut-keyslot rotate "$why"
sync
power_cut 'The token now names' vaultvol rotate /dev/vdc
G
} >"$VM_WORK/script.sh"; boot 3 <"$VM_WORK/script.sh"

# --- boot 4: judge it; cut the power as soon as an adopt has succeeded -----------
{ prologue; echo "$rotate_judge"; cat <<'G'
judge cut-token rotate "$why"
sync
power_cut '!exit' vaultvol adopt /dev/vdd --secret ad --mount /data/ad
G
} >"$VM_WORK/script.sh"; boot 4 <"$VM_WORK/script.sh"

# --- boot 5: judge the adopt; cut a snapshot while frozen -------------------------
{ prologue; cat <<'G'
why=""
cat /st/cut.out
# adopt said it was done: after the cut, the volume opens by its token.
vaultvol open ad >/tmp/o 2>&1 </dev/null || why="${why}does not open: $(cat /tmp/o); "
grep -q "ad data" /data/ad/f 2>/dev/null || why="${why}data lost; "
vaultvol close ad >/dev/null 2>&1
# A rerun changes nothing, or refuses naming the device with a remedy.
vaultvol adopt /dev/vdd --secret ad --mount /data/ad >/tmp/out 2>&1 </dev/null ||
	grep -qi "remedy\|--force" /tmp/out || why="${why}rerun failed without a remedy: $(cat /tmp/out); "
cat /tmp/out
judge cut-done adopt "$why"
# The snapshot: ext4 with a writer appending fsynced records; each record
# acknowledged (after its fsync) is logged, durably, on the state disk.
mkfs.ext4 -q -F /dev/vde
mount /dev/vde /mnt/sn
python3 - <<'PY' &
import os, time
fd = os.open("/mnt/sn/rec", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
log = os.open("/st/acked", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
n = 0
while True:
    n += 1
    os.write(fd, b"record %08d\n" % n)
    os.fsync(fd)
    os.write(log, b"%d\n" % n)
    os.fsync(log)
    time.sleep(0.01)
PY
sleep 2
sync
power_cut @/tmp/frozen-now vaultvol snapshot --consistency fs --timeout 30 -- sh -c 'touch /tmp/frozen-now; sleep 60'
G
} >"$VM_WORK/script.sh"; boot 5 <"$VM_WORK/script.sh"

# --- boot 6: judge the snapshot ---------------------------------------------------
{ prologue; cat <<'G'
why=""
cat /st/cut.out
mount /dev/vde /mnt/sn || why="snapshot filesystem does not mount; "
last=$(tail -n 1 /st/acked 2>/dev/null)
echo "acknowledged before the cut: ${last:-none}"
[ -n "$last" ] || why="${why}no record acknowledged; "
[ -n "$last" ] && ! grep -q "^record $(printf %08d "$last")\$" /mnt/sn/rec && why="${why}record $last lost; "
# The marker of the cut boot names another boot: removed without acting.
vaultvol --json snapshot --consistency fs --timeout 20 -- true >/tmp/out 2>&1 ||
	why="${why}the next snapshot failed: $(cat /tmp/out); "
cat /tmp/out
[ -e /var/lib/vaultvol/frozen.json ] && why="${why}the marker is still there; "
echo probe >>/mnt/sn/after || why="${why}not writable; "
umount /mnt/sn
judge cut-frozen snapshot "$why"
# The handler: a "reopen" request (sequence 0) whose enable is cut the
# moment its first status (transitioning) is on disk, while it opens.
mkdir -p $H/config /st/log
cat >$H/HandlerEnvironment.json <<E
[{"name": "Vaultvol.Linux", "version": "1.0", "handlerEnvironment": {
  "logFolder": "/st/log", "configFolder": "$H/config",
  "statusFolder": "$H/status", "heartbeatFile": "$H/heartbeat.log"}}]
E
printf '{"runtimeSettings": [{"handlerSettings": {"publicSettings": {"operation": "reopen"}}}]}' \
	>$H/config/0.settings
step handler-install vaultvol handler install --handler-dir $H
sync
power_cut @$H/status/0.status vaultvol handler enable --handler-dir $H --waagent-dir $WA
G
} >"$VM_WORK/script.sh"; boot 6 <"$VM_WORK/script.sh"

# --- boot 7: judge the handler's cut; cut the next request as it succeeds --------
{ prologue; cat <<'G'
why=""
cat /st/cut.out
# What waagent reads after the cut: whole, and the request not done.
status_ok 0 'transitioning|success' || why="0.status not whole after the cut; "
# waagent runs enable again after the reboot: sequence 0 is redone.
vaultvol handler enable --handler-dir $H --waagent-dir $WA >/tmp/out 2>&1 </dev/null ||
	why="${why}rerun exit $?; "
cat /tmp/out
status_ok 0 success || why="${why}0.status not success after the rerun; "
for v in pr pa ad; do findmnt /data/$v >/dev/null || why="${why}$v not mounted; "; done
[ "$(tree_sum /data/pr 2>/dev/null)" = "$(cat /st/pr.sum)" ] || why="${why}pr's data changed; "
no_secret $H/status/0.status /st/log/* || why="${why}a secret in the status or log; "
judge cut-status handler "$why"
for v in pr pa ad; do vaultvol close $v >/dev/null 2>&1; done
# Sequence 1: the power is cut the moment enable has exited 0: the success
# it reported must be on disk.
printf '{"runtimeSettings": [{"handlerSettings": {"publicSettings": {"operation": "reopen"}}}]}' \
	>$H/config/1.settings
sync
power_cut '!exit' vaultvol handler enable --handler-dir $H --waagent-dir $WA
G
} >"$VM_WORK/script.sh"; boot 7 <"$VM_WORK/script.sh"

# --- boot 8: judge it ---------------------------------------------------------------
{ prologue; cat <<'G'
why=""
cat /st/cut.out
status_ok 1 success || why="1.status not success after the cut; "
# The next enable of the same sequence redoes nothing (it was handled).
vaultvol handler enable --handler-dir $H --waagent-dir $WA >/tmp/out 2>&1 </dev/null ||
	why="${why}rerun exit $?; "
grep -q 'sequence 1 was already handled' /st/log/vaultvol-handler.log || why="${why}sequence 1 redone; "
no_secret $H/status/1.status /st/log/* || why="${why}a secret in the status or log; "
judge cut-done handler "$why"
# A second ADE-style volume for adopt (vdg), its passphrase put in the
# vault; adopt is cut once it has fetched the key (the key's recovery-level
# warning), before its header backup and token.
head -c 32 /dev/urandom >/tmp/a2.key
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file /tmp/a2.key /dev/vdg
cryptsetup open --key-file /tmp/a2.key /dev/vdg a2prep && mkfs.ext4 -q /dev/mapper/a2prep &&
	mkdir -p /tmp/m && mount /dev/mapper/a2prep /tmp/m && echo "a2 data" >/tmp/m/f &&
	umount /tmp/m && cryptsetup close a2prep
step key-put-a2 vaultvol key put a2 --from-file /tmp/a2.key
rm -f /tmp/a2.key
sync
power_cut 'no purge protection' vaultvol adopt /dev/vdg --secret a2 --mount /data/a2
G
} >"$VM_WORK/script.sh"; boot 8 <"$VM_WORK/script.sh"

# --- boot 9: judge the adopt; cut a provision the moment it has succeeded ---------
{ prologue; cat <<'G'
why=""
cat /st/cut.out
vaultvol adopt /dev/vdg --secret a2 --mount /data/a2 >/tmp/out 2>&1 </dev/null ||
	why="rerun exit $?: $(grep -m1 -i 'error\|failed' /tmp/out); "
cat /tmp/out
vaultvol open a2 >/tmp/o 2>&1 </dev/null || why="${why}does not open: $(cat /tmp/o); "
grep -q "a2 data" /data/a2/f 2>/dev/null || why="${why}data lost; "
vaultvol close a2 >/dev/null 2>&1
judge cut-fetched adopt "$why"
sync
power_cut '!exit' vaultvol provision /dev/vdf --secret pn --mount /data/pn $RCOST
G
} >"$VM_WORK/script.sh"; boot 9 <"$VM_WORK/script.sh"

# --- boot 10: judge it; cut a rotate the moment it has succeeded -------------------
{ prologue; cat <<'G'
why=""
cat /st/cut.out
# provision said it was done: after the cut, the volume opens by its token.
vaultvol open pn >/tmp/o 2>&1 </dev/null || why="${why}does not open: $(cat /tmp/o); "
findmnt /data/pn >/dev/null || why="${why}not mounted; "
vaultvol close pn >/dev/null 2>&1
judge cut-done provision "$why"
sync
power_cut '!exit' vaultvol rotate /dev/vdc
G
} >"$VM_WORK/script.sh"; boot 10 <"$VM_WORK/script.sh"

# --- boot 11: judge it; cut a snapshot the moment it has succeeded -----------------
{ prologue; cat <<'G'
why=""
cat /st/cut.out
# rotate said it was done: the volume opens with the key its token now names.
vaultvol open pr >/tmp/o 2>&1 </dev/null || why="${why}does not open: $(cat /tmp/o); "
[ "$(tree_sum /data/pr 2>/dev/null)" = "$(cat /st/pr.sum)" ] || why="${why}data changed; "
vaultvol close pr >/dev/null 2>&1
judge cut-done rotate "$why"
mount /dev/vde /mnt/sn
rm -f /st/acked /mnt/sn/rec
python3 - <<'PY' &
import os, time
fd = os.open("/mnt/sn/rec", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
log = os.open("/st/acked", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
n = 0
while True:
    n += 1
    os.write(fd, b"record %08d\n" % n)
    os.fsync(fd)
    os.write(log, b"%d\n" % n)
    os.fsync(log)
    time.sleep(0.01)
PY
sleep 2
sync
power_cut '!exit' vaultvol snapshot --consistency fs --timeout 30 -- true
G
} >"$VM_WORK/script.sh"; boot 11 <"$VM_WORK/script.sh"

# --- boot 12: judge it --------------------------------------------------------------
{ prologue; cat <<'G'
why=""
cat /st/cut.out
mount /dev/vde /mnt/sn || why="snapshot filesystem does not mount; "
last=$(tail -n 1 /st/acked 2>/dev/null)
echo "acknowledged before the cut: ${last:-none}"
[ -n "$last" ] || why="${why}no record acknowledged; "
[ -n "$last" ] && ! grep -q "^record $(printf %08d "$last")\$" /mnt/sn/rec && why="${why}record $last lost; "
[ -e /var/lib/vaultvol/frozen.json ] && why="${why}a marker after a snapshot that ended; "
echo probe >>/mnt/sn/after || why="${why}not writable; "
vaultvol --json snapshot --consistency fs --timeout 20 -- true >/tmp/out 2>&1 ||
	why="${why}the next snapshot failed: $(cat /tmp/out); "
umount /mnt/sn
judge cut-done snapshot "$why"
G
} >"$VM_WORK/script.sh"; boot 12 <"$VM_WORK/script.sh"
