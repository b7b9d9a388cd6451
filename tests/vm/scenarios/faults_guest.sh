# vm-kernels: 6.1
# The fault matrix's guest-only families (issue 21, docs/faults.md): faults
# that need device-mapper, a kernel freeze, a clock or a cgroup, injected
# into `vaultvol open`, `close` and `snapshot` in one busybox guest. Each
# cell is a step FAULT-x-CMD (tests/faults/faults.txt lines whose injection
# is %faults_guest); tests/faults/run.sh --guest reads them into the table.
# Verdicts are measured as the host tier measures them:
#   open/close: a failure names the volume, a cause and a remedy that fits;
#     nothing is activated by a failed open; every byte of the disk is as it
#     was; once the fault ends, the rerun opens;
#   snapshot: no filesystem stays frozen past the deadline + 1 s (measured
#     by writers on the filesystems, on the monotonic clock); the exit
#     status and the JSON report agree and are honest about the consistency
#     reached; every record fsynced before the fault is intact; the next
#     snapshot succeeds.
vm_disk vols 200M
vm_disk fs 160M
vm_disk ev 24M
vm_disk bek 8M
vm_disk bv 16M
N=16
vm_bek_preload $((N + 1))
vm_test_pki
export FG_ONLY=${FG_ONLY:-}
VM_GUEST_ENV="BEKS PRELOAD VV_CA_PEM VV_SERVER_PEM VV_SERVER_KEY FG_ONLY"

vm_boot --disk vols --disk fs --disk ev --disk bek --disk bv --mem 1024 --timeout 1500 <<'GUEST'
set -u
. /vv/tests/vm/scenarios/open_lib.sh
. /vv/tests/vm/scenarios/snapshot_lib.sh
N=16
EV=$((N + 1))
printf '%s' "$PRELOAD" | base64 -d >/tmp/preload.json
step fakes-start open_fakes_start --preload /tmp/preload.json
export VV_TEST_BACKOFF_SCALE=0.01
umask 077
mkdir -p /etc/vaultvol /tmp/k /flt
printf '[vault]\nurl = %s\nca_file = %s\ntimeout = 4\n' "$FAKE_KV_URL" "$FAKE_CA" >/etc/vaultvol/vaultvol.conf
i=0
for k in $BEKS; do i=$((i + 1)); printf '%s' "$k" >/tmp/k/bek$i; done

# mkvol DEV I NAME [nomount]: a volume as provision leaves it (the BEK
# keyslot at the PBKDF2 minimum, a vaultvol token naming secret bekI, ext4
# inside, mounted at /flt/NAME unless nomount).
mkvol() {
	cryptsetup luksFormat -q --type luks2 --luks2-keyslots-size 1m --pbkdf pbkdf2 \
		--pbkdf-force-iterations 1000 --key-file /tmp/k/bek$2 "$1" || return 1
	if [ "${4:-}" = nomount ]; then
		printf '{"type":"vaultvol","keyslots":["0"],"vv_version":1,"key":"bek%d","name":"%s"}' \
			"$2" "$3"
	else
		printf '{"type":"vaultvol","keyslots":["0"],"vv_version":1,"key":"bek%d","name":"%s","mount":"/flt/%s","fs":"ext4"}' \
			"$2" "$3" "$3"
	fi >/tmp/k/tok$2.json
	cryptsetup token import --json-file /tmp/k/tok$2.json "$1" || return 1
	cryptsetup open --key-file /tmp/k/bek$2 "$1" prep$2 &&
		mkfs.ext4 -q /dev/mapper/prep$2 && cryptsetup close prep$2 && mkdir -p /flt/$3
}
step partition sh -c "{ echo label: gpt; for i in \$(seq 1 $N); do echo ',12M'; done; } |
	sfdisk -q /dev/vda && test -b /dev/vda$N"
i=0
while [ $i -lt $N ]; do i=$((i + 1)); mkvol /dev/vda$i $i vol$i || echo "mkvol $i failed"; done
# The volume of the disk faults: LUKS2 on a device-mapper device over vdc,
# whose table the faults swap (dm-error, dm-flakey) under the crypt mapping.
# It starts 1 MiB into vdc, so that only the mapping shows the volume (a
# dm-error table holds nothing: vdc itself would be a second, healthy view
# of the same volume, which open would use).
EVSZ=$(( $(blockdev --getsz /dev/vdc) - 2048 ))
ev_table() { dmsetup suspend evd && dmsetup load evd --table "$1" && dmsetup resume evd; }
step ev-device dmsetup create evd --table "0 $EVSZ linear /dev/vdc 2048"
dmsetup mknodes evd
# Not mounted by open: a failed disk's filesystem is the kernel's business;
# the header is vaultvol's. disk-gone mounts it by hand.
step ev-volume mkvol /dev/mapper/evd $EV ev nomount
LINEAR="0 $EVSZ linear /dev/vdc 2048"
# In use before the faults (volumes.json records it), as a production volume is.
step ev-first-open sh -c 'vaultvol open ev && vaultvol close ev'

# bv: a volume keyed as ADE keys a data disk, by a passphrase file on the
# BEK VOLUME disk (vdd), listed in /etc/crypttab by UUID; on a disk of its
# own (vde), the one hot-unplugged. The BEK volume is read through a mount
# of vaultvol's own, under /run/vaultvol (or detached when /run is unusable).
BVPASS=$(head -c 24 /dev/urandom | base64)
printf '%s' "$BVPASS" >/tmp/k/bv
step bek-volume sh -c "mkfs.vfat -n 'BEK VOLUME' /dev/vdd >/dev/null && mkdir -p /mnt/bekw &&
	mount -t vfat -o iocharset=utf8 /dev/vdd /mnt/bekw &&
	cp /tmp/k/bv /mnt/bekw/LinuxPassPhraseFileName_1_0 && umount /mnt/bekw"
step bv-volume sh -c 'cryptsetup luksFormat -q --type luks2 --luks2-keyslots-size 1m --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 \
	--key-file /tmp/k/bv /dev/vde && cryptsetup open --key-file /tmp/k/bv /dev/vde prepbv &&
	mkfs.ext4 -q /dev/mapper/prepbv && cryptsetup close prepbv'
printf 'bv UUID=%s /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_0 luks,nofail\n' \
	"$(cryptsetup luksUUID /dev/vde)" >>/etc/crypttab
step bv-first-open sh -c 'vaultvol open bv && vaultvol close bv'

# cell NAME CMD WHY: one cell's verdict (WHY empty: passed). A failure that
# tests/faults/gaps.txt lists as a known gap is step NAME-x-CMD-gap, which
# passes (the suite stays green; run.sh prints "gap" with the reason).
cell() {
	echo "=== cell $1 x $2: ${3:-ok}"
	cat /tmp/out 2>/dev/null
	if [ -n "$3" ] && grep -q "^$1 $2 " /vv/tests/faults/gaps.txt 2>/dev/null; then
		echo "(a known gap: $(grep "^$1 $2 " /vv/tests/faults/gaps.txt))"
		step "$1-x-$2-gap" true
	else
		step "$1-x-$2" test -z "$3"
	fi
}
opened() { dmsetup info "$1" >/dev/null 2>&1 || dmsetup info "$1-vvcrypt" >/dev/null 2>&1; }
mounted_n() { findmnt -rn -o TARGET | grep -c '^/flt/vol'; }
close_all() {
	for m in $(findmnt -rn -o TARGET | grep '^/flt/'); do umount "$m"; done
	for m in $(dmsetup ls --target crypt | awk '$1 != "No" {print $1}'); do
		cryptsetup close "$m"
	done
}
# close_gone VOL CELL: close VOL, mounted on /flt/VOL, whose disk is gone:
# it must not hang, and must take the mapping away (exit 0) or name VOL
# with a remedy. What is left is taken away by hand for the next cells.
close_gone() {
	t0=$(now_ms)
	timeout 60 vaultvol close "$1" >/tmp/out 2>&1 </dev/null
	rc=$?
	cat /tmp/out
	echo "$2: close exit $rc in $(( $(now_ms) - t0 )) ms"
	[ $rc -eq 124 ] && why="${why}close hung; "
	if [ $rc -eq 0 ]; then
		opened "$1" && why="${why}mapping left after exit 0; "
	else
		grep -q "$1" /tmp/out || why="${why}exit $rc without naming the volume; "
		grep -qi "remedy:" /tmp/out || why="${why}exit $rc without a remedy; "
	fi
	umount "/flt/$1" 2>/dev/null
	opened "$1" && cryptsetup close "$1" 2>/dev/null
}
# fails_well VOL CAUSE REMEDY: the failed command's output (/tmp/out) names
# VOL, a cause matching the ERE CAUSE and a remedy matching REMEDY.
fails_well() {
	_w=""
	grep -q "^$1: FAILED" /tmp/out || _w="volume not named; "
	grep -qiE -- "$2" /tmp/out || _w="${_w}cause /$2/ not named; "
	grep -qiE -- "remedy: .*($3)" /tmp/out || _w="${_w}no remedy /$3/; "
	printf '%s' "$_w"
}
no_key_out() { for k in $BEKS $BVPASS; do grep -qF "$k" "$1" && return 1; done; return 0; }

# fs_fault DIR ro|full / fs_fault_end DIR: the filesystem holding DIR
# read-only, or out of space and inodes; DIR's contents kept.
fs_fault() {
	case $2 in
	ro) mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" ;;
	full) rm -rf /tmp/save && mkdir /tmp/save && cp -a "$1/." /tmp/save/ &&
		mount -t tmpfs -o size=$(( $(du -sk /tmp/save | cut -f1) + 1024 ))k,nr_inodes=1024 tmpfs "$1" &&
		cp -a /tmp/save/. "$1/" && chmod "$(stat -c %a /tmp/save)" "$1" &&
		{ dd if=/dev/zero of="$1/.fill" bs=4k 2>/dev/null; _i=0
		  while true >"$1/.fill$_i" 2>/dev/null; do _i=$((_i + 1)); done; true; } ;;
	esac
}
fs_fault_end() { umount "$1"; }
# FG_ONLY (a debugging aid): the sections to run, of "disks space open snapshot".
want() { [ -z "${FG_ONLY:-}" ] || case " $FG_ONLY " in *" $1 "*) true ;; *) false ;; esac; }
if want disks; then
# --- disks -------------------------------------------------------------------
# disk-eio: every read and write of the disk under the volume fails (the
# table swapped for dm-error), as a failed or detached disk does.
before=$(dev_sha /dev/vdc)
why=""
ev_table "0 $EVSZ error" || why="fault did not start; "
vaultvol open ev >/tmp/out 2>&1 </dev/null
rc=$?
ev_table "$LINEAR" || why="${why}fault did not end; "
[ $rc -eq 1 ] || why="${why}exit $rc, not 1; "
why="$why$(fails_well ev 'I/O|input/output|not found|missing' 'disk|attach|device')"
opened ev && why="${why}activated; "
[ "$(dev_sha /dev/vdc)" = "$before" ] || why="${why}disk changed; "
if [ -z "$why" ]; then
	vaultvol open ev >/tmp/rerun 2>&1 </dev/null || why="rerun failed: $(grep -m1 FAILED /tmp/rerun); "
fi
cell disk-eio open "$why"
close_all

# hdr-corrupt: every read of the disk comes back with one byte changed at
# 5000 bytes into the read (dm-flakey corrupt_bio_byte, reads only): the
# header reads back different bytes than were written. The LUKS2 header's
# checksums catch it; whether one copy survives depends on how the reads
# are cut. Either the volume opens from the surviving copy, or the open
# fails naming the header; in both cases nothing is written to the disk.
sync; echo 3 >/proc/sys/vm/drop_caches
why=""
ev_table "0 $EVSZ flakey /dev/vdc 2048 0 1 5 corrupt_bio_byte 5000 r 0 0" || why="fault did not start; "
blockdev --flushbufs /dev/mapper/evd
vaultvol open ev >/tmp/out 2>&1 </dev/null
rc=$?
if [ $rc -eq 0 ]; then
	echo "hdr-corrupt: opened (a header copy survived)"
	close_all
else
	[ $rc -eq 1 ] || why="${why}exit $rc, not 0 or 1; "
	why="$why$(fails_well ev 'header|checksum|damaged|not found' 'backup|header|restore')"
	opened ev && why="${why}activated; "
fi
ev_table "$LINEAR" || why="${why}fault did not end; "
blockdev --flushbufs /dev/mapper/evd
[ "$(dev_sha /dev/vdc)" = "$before" ] || why="${why}disk changed; "
if [ -z "$why" ]; then
	vaultvol open ev >/tmp/rerun 2>&1 </dev/null || why="rerun failed: $(grep -m1 FAILED /tmp/rerun); "
fi
cell hdr-corrupt open "$why"

# disk-gone: the disk fails while the volume is open and mounted. close must
# not hang, must take the mapping away (or say why not, naming the volume),
# and a later open of the recovered disk must work.
why=""
opened ev || vaultvol open ev >/dev/null 2>&1 </dev/null
mkdir -p /flt/ev
mount /dev/mapper/ev /flt/ev && echo data >/flt/ev/f && sync || why="not open and mounted before the fault; "
ev_table "0 $EVSZ error" || why="${why}fault did not start; "
close_gone ev disk-gone
ev_table "$LINEAR" || why="${why}fault did not end; "
if [ -z "$why" ]; then
	e2fsck -fy /dev/mapper/evd >/dev/null 2>&1
	vaultvol open ev >/tmp/rerun 2>&1 </dev/null || why="rerun failed: $(grep -m1 FAILED /tmp/rerun); "
fi
cell disk-gone close "$why"
close_all

# drop-writes: the disk acknowledges every write and keeps none (dm-flakey
# drop_writes; reads are served) while a command changes the header
# (rotate; adopt, which writes a token; provision, which writes a whole new
# header over the volume). The command must not report a change the disk
# does not hold: it fails naming the lost write and the disk, nothing
# reaches the disk, the volume still opens with the key its token names,
# and once the disk keeps writes again the same command succeeds and the
# volume opens.
drop_writes() {	# COMMAND ARGS...
	sync; echo 3 >/proc/sys/vm/drop_caches
	before=$(dev_sha /dev/vdc)
	why=""
	ev_table "0 $EVSZ flakey /dev/vdc 2048 0 1 1 drop_writes" || why="fault did not start; "
	vaultvol "$@" >/tmp/out 2>&1 </dev/null
	rc=$?
	ev_table "$LINEAR" || why="${why}fault did not end; "
	blockdev --flushbufs /dev/mapper/evd
	cat /tmp/out
	[ $rc -ne 0 ] || why="${why}exit 0 with nothing written; "
	grep -qi "read back" /tmp/out || why="${why}the lost write not named; "
	grep -qi "check the disk" /tmp/out || why="${why}no remedy naming the disk; "
	no_key_out /tmp/out || why="${why}a key in the output; "
	[ "$(dev_sha /dev/vdc)" = "$before" ] || why="${why}disk changed; "
	if [ -z "$why" ]; then
		{ vaultvol open ev && vaultvol close ev; } >/tmp/rerun 2>&1 </dev/null ||
			why="open after the failed $1: $(grep -m1 FAILED /tmp/rerun); "
		vaultvol "$@" >/tmp/rerun 2>&1 </dev/null ||
			why="${why}rerun of $1 failed: $(tail -n 2 /tmp/rerun | tr '\n' ' '); "
		{ vaultvol open ev && vaultvol close ev; } >/tmp/rerun 2>&1 </dev/null ||
			why="${why}open after the rerun: $(grep -m1 FAILED /tmp/rerun); "
	fi
}
drop_writes rotate /dev/mapper/evd; cell drop-writes rotate "$why"
# A token that differs from the one there (the mount added), so that adopt has a write to lose.
drop_writes adopt /dev/mapper/evd --secret bek$EV --name ev --mount /flt/ev --force
cell drop-writes adopt "$why"
# Last of the disk cells: the rerun makes ev a new volume (a new secret).
drop_writes provision /dev/mapper/evd --secret evnew --name ev --format-only --force
cell drop-writes provision "$why"

# hot-unplug: the disk of an open, mounted volume removed from the VM (the
# kernel's PCI removal of the virtio disk, as a detach does). close must not
# hang and must take the mapping away or name the volume with a remedy;
# status must not hang; once the disk is back (PCI rescan), the volume opens.
why=""
mkdir -p /flt/bv
{ vaultvol open bv >/dev/null 2>&1 && mount /dev/mapper/bv /flt/bv &&
	echo data >/flt/bv/f && sync; } </dev/null || why="not open and mounted before the fault; "
pci=$(readlink -f /sys/block/vde/device/..)
echo "hot-unplug: removing $pci"
echo 1 >"$pci/remove" || why="${why}removal failed; "
sleep 1
[ -e /sys/block/vde ] && why="${why}disk still present; "
timeout 60 vaultvol status >/tmp/status 2>&1 </dev/null
[ $? -eq 124 ] && why="${why}status hung; "
close_gone bv hot-unplug
echo 1 >/sys/bus/pci/rescan
sleep 1
back=$(for b in /sys/block/vd*; do [ "$(cat "$b/size")" = "$(( 16 * 2048 ))" ] && echo "/dev/${b##*/}"; done | head -1)
echo "hot-unplug: the disk is back as ${back:-nothing}"
[ -n "$back" ] || why="${why}disk not back after rescan; "
if [ -z "$why" ]; then
	vaultvol open bv >/tmp/rerun 2>&1 </dev/null || why="rerun failed: $(grep -m1 FAILED /tmp/rerun); "
	opened bv || why="${why}not open after the rerun; "
fi
no_key_out /tmp/out || why="${why}a key in the output; "
cell hot-unplug close "$why"
close_all

fi
if want space; then
# --- /run and the state directory full or read-only -------------------------
# The filesystem holding /run (where vaultvol mounts the BEK volume and
# libcryptsetup keeps its header locks) or /var/lib/vaultvol (volumes.json,
# header backups, the freeze marker) read-only, or out of space and inodes.
# `open` and `key show` read; they must still work, or fail naming the
# volume, the cause and a remedy; once the fault ends they work.
# space_cell FAULT DIR MODE CMD: run CMD (open or key-show) under the fault.
space_cell() {
	why=""
	close_all
	fs_fault "$2" "$3" || why="fault did not start; "
	echo "$1: $(touch "$2/.probe" 2>&1 || true)"
	case $4 in
	open) vaultvol open bv vol1 >/tmp/out 2>&1 </dev/null ;;
	key-show) vaultvol key show bek:LinuxPassPhraseFileName_1_0 >/tmp/out 2>&1 </dev/null ;;
	esac
	rc=$?
	fs_fault_end "$2" || why="${why}fault did not end; "
	cat /tmp/out
	if [ $rc -eq 0 ]; then
		case $4 in
		open) opened bv || why="${why}bv not open after exit 0; "
		      findmnt /flt/vol1 >/dev/null || why="${why}vol1 not mounted after exit 0; " ;;
		key-show) grep -q "^fingerprint: *sha256:" /tmp/out || why="${why}no fingerprint; " ;;
		esac
	else
		grep -qE "bv|vol1|bek:" /tmp/out || why="${why}exit $rc without naming the object; "
		grep -qi "remedy:" /tmp/out || why="${why}exit $rc without a remedy; "
	fi
	no_key_out /tmp/out || why="${why}a key in the output; "
	close_all
	if [ -z "$why" ] && [ $4 = open ]; then
		vaultvol open bv vol1 >/tmp/rerun 2>&1 </dev/null || why="rerun failed: $(grep -m1 FAILED /tmp/rerun); "
	fi
	cell "$1" "$4" "$why"
	close_all
}
mkdir -p /run/vaultvol && chmod 0700 /run/vaultvol
space_cell run-ro /run ro open
space_cell run-ro /run ro key-show
space_cell run-full /run full open
space_cell run-full /run full key-show
space_cell state-ro /var/lib/vaultvol ro open
space_cell state-full /var/lib/vaultvol full open

fi
if want open; then
# --- processes and resources during open --all of 16 volumes -------------------
# kill-open / term-open: vaultvol killed while 4 of the 16 mappings exist.
# The rerun of `open --all` opens every volume.
kill_open() {	# SIG
	why=""
	close_all
	vaultvol open --all >/tmp/out 2>&1 </dev/null &
	p=$!
	t0=$(now_ms)
	while [ "$(dmsetup ls --target crypt 2>/dev/null | grep -c '^vol')" -lt 4 ]; do
		[ $(( $(now_ms) - t0 )) -gt 60000 ] && break
		kill -0 $p 2>/dev/null || break
		sleep 0.02
	done
	if kill -0 $p 2>/dev/null; then
		kill -"$1" $p
		echo "killed ($1) with $(dmsetup ls --target crypt | grep -c '^vol') mappings"
	else
		why="signal did not land (open finished first); "
	fi
	wait $p
	no_key_out /tmp/out || why="${why}a key in the output; "
	vaultvol open --all >/tmp/rerun 2>&1 </dev/null || {
		why="${why}rerun exit $?: $(grep -m1 FAILED /tmp/rerun); "
		dmsetup info -c; dmsetup table
	}
	no_key_out /tmp/rerun || why="${why}a key in the rerun's output; "
	[ "$(mounted_n)" -eq $N ] || why="${why}$(mounted_n) of $N mounted after the rerun; "
}
kill_open KILL; cell kill-open open "$why"
kill_open TERM; cell term-open open "$why"

# token-expiry / rbac-mid: in the middle of `open --all` of 16 volumes, at
# the fetch of vol9's key (the fake's path-scoped fault: the fetches before
# it succeed), the identity's tokens expire (the vault answers 401 to the
# cached one) or its role is removed (403 from that request on). Expiry: a
# new token is fetched and all 16 open (exit 0). Denial: the volumes not
# yet keyed fail, each named with "forbidden" and a remedy naming the
# grant; those keyed before stay open; once the role is back the rerun
# opens the rest. The fake's counters prove the fault met a request.
counter_sum() {
	fakectl counters | python3 -c 'import json, sys
print(sum(v for k, v in json.load(sys.stdin)["counters"].items() if sys.argv[1] in k))' "$1"
}
mid_open() {	# EFFECT: the fault's effect at vol9's key
	close_all
	fakectl reset_counters >/dev/null
	fakectl fault path='/secrets/bek9*' when=authed count=1 "$1=true" >/dev/null || why="fault did not start; "
	vaultvol open --all >/tmp/out 2>&1 </dev/null
	rc=$?
	fakectl faults_clear >/dev/null
	fakectl rbac_clear >/dev/null
	no_key_out /tmp/out || why="${why}a key in the output; "
}
why=""
mid_open expire_tokens
n=$(counter_sum challenges.bad_token)
echo "token-expiry: exit $rc, $(mounted_n) of $N mounted, $n request(s) refused for the expired token"
[ "${n:-0}" -gt 0 ] || why="${why}no request met the expiry; "
[ $rc -eq 0 ] || why="${why}exit $rc: $(grep -m1 FAILED /tmp/out); "
[ "$(mounted_n)" -eq $N ] || why="${why}$(mounted_n) of $N mounted; "
cell token-expiry open "$why"
why=""
mid_open deny_role
before_n=$(mounted_n)
n=$(counter_sum rbac_denied)
echo "rbac-mid: exit $rc, $before_n of $N mounted, $n request(s) denied"
[ "${n:-0}" -gt 0 ] || why="${why}no request met the denial; "
[ "$before_n" -ge 1 ] || why="${why}nothing keyed before the denial (not mid-run); "
[ $rc -eq 1 ] || why="${why}exit $rc, not 1; "
why="$why$(fails_well vol9 forbidden grant)"
vaultvol open --all >/tmp/rerun 2>&1 </dev/null || why="${why}rerun exit $?: $(grep -m1 FAILED /tmp/rerun); "
[ "$(mounted_n)" -eq $N ] || why="${why}$(mounted_n) of $N mounted after the rerun; "
cell rbac-mid open "$why"

# stale-map: what an activation killed before its table went live leaves
# (seen above: a SIGTERM during the table load fails the kernel's
# allocation; a kill between load and resume leaves the table loaded and
# never live): a device with no table (vol2), or with an inactive table
# over the volume's disk (vol4), and libcryptsetup's UUID for this volume;
# or, killed later, a live mapping whose node was never made (vol5).
# open takes the first two away and opens, makes the node and mounts; a tableless device of someone else
# (another UUID) is left alone, and the failure names it without blaming
# device-mapper.
why=""
close_all
u=$(cryptsetup luksUUID /dev/vda2 | tr -d -)
dmsetup create vol2 --notable -u "CRYPT-LUKS2-$u-vol2" || why="debris not made; "
u=$(cryptsetup luksUUID /dev/vda4 | tr -d -)
{ dmsetup create vol4 --notable -u "CRYPT-LUKS2-$u-vol4" &&
	dmsetup load vol4 --table "0 8 linear /dev/vda4 0"; } || why="${why}loaded debris not made; "
dmsetup create vol3 --notable -u "OTHER-vol3" || why="${why}foreign device not made; "
# vol5: killed after the kernel made the mapping, before libdevmapper made
# its node (no udev here): open and live, no /dev/mapper/vol5.
{ cryptsetup open --key-file /tmp/k/bek5 /dev/vda5 vol5 && rm /dev/mapper/vol5; } ||
	why="${why}nodeless mapping not made; "
vaultvol open vol2 vol3 vol4 vol5 >/tmp/out 2>&1 </dev/null
rc=$?
[ $rc -eq 1 ] || why="${why}exit $rc, not 1; "
findmnt /flt/vol2 >/dev/null || why="${why}vol2 not mounted over its debris; "
findmnt /flt/vol4 >/dev/null || why="${why}vol4 not mounted over its loaded debris; "
grep -q "vol2: .*interrupted activation" /tmp/out || why="${why}the removal of vol2's debris not said; "
grep -q "vol4: .*interrupted activation" /tmp/out || why="${why}the removal of vol4's debris not said; "
findmnt /flt/vol5 >/dev/null || why="${why}vol5 not mounted (its node missing); "
grep -q "vol5: made its missing device node" /tmp/out || why="${why}vol5's new node not said; "
grep -q "^vol3: FAILED" /tmp/out || why="${why}vol3 not failed; "
grep -q "^vol3: FAILED.*device-mapper is not available" /tmp/out && why="${why}vol3's failure blames device-mapper; "
dmsetup info vol3 >/dev/null 2>&1 || why="${why}the foreign device was removed; "
dmsetup remove vol3
vaultvol open vol3 >/tmp/rerun 2>&1 </dev/null || why="${why}rerun failed: $(grep -m1 FAILED /tmp/rerun); "
cell stale-map open "$why"

# memcg64: `open --all` of 16 volumes in a memory cgroup of 64 MiB.
why=""
close_all
mkdir -p /sys/fs/cgroup
findmnt /sys/fs/cgroup >/dev/null || mount -t cgroup2 none /sys/fs/cgroup
echo +memory >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
mkdir -p /sys/fs/cgroup/vv
echo 64M >/sys/fs/cgroup/vv/memory.max || why="no memory cgroup; "
sh -c 'echo $$ >/sys/fs/cgroup/vv/cgroup.procs && exec vaultvol open --all' >/tmp/out 2>&1 </dev/null
rc=$?
[ $rc -eq 0 ] || why="${why}exit $rc; "
[ "$(mounted_n)" -eq $N ] || why="${why}$(mounted_n) of $N mounted; "
oom=$(awk '$1 == "oom_kill" {print $2}' /sys/fs/cgroup/vv/memory.events 2>/dev/null)
echo "memcg64: peak $(cat /sys/fs/cgroup/vv/memory.peak 2>/dev/null || echo '?') bytes, oom_kill ${oom:-?}"
[ "${oom:-0}" = 0 ] || why="${why}OOM kills: $oom; "
cell memcg64 open "$why"

# nofile32: `open --all` of 16 volumes with at most 32 open files.
why=""
close_all
sh -c 'ulimit -n 32 && exec vaultvol open --all' >/tmp/out 2>&1 </dev/null
rc=$?
[ $rc -eq 0 ] || why="exit $rc; "
[ "$(mounted_n)" -eq $N ] || why="${why}$(mounted_n) of $N mounted; "
cell nofile32-all open "$why"
close_all

fi
if want snapshot; then
# --- snapshot ------------------------------------------------------------------
# Three filesystems: /snap/a, ext4 on dm-quiesce over a device-mapper
# device (the first half of vdb); /snap/b, ext4 straight on a device-mapper
# device (the second half), frozen by FIFREEZE; /flt/vol1, ext4 on LUKS2,
# frozen by FIFREEZE (opened before dm-quiesce is loaded, so not stacked).
# disk-slow swaps the lower tables for dm-delay.
HALF=$(( $(blockdev --getsz /dev/vdb) / 2 ))
step fs-devices sh -c "dmsetup create fsd --table '0 $HALF linear /dev/vdb 0' &&
	dmsetup create fse --table '0 $HALF linear /dev/vdb $HALF' && dmsetup mknodes"
step vol1-open vaultvol open vol1
step insmod load_quiesce
step quiesce-a sh -c "dmsetup create qa --table '0 $HALF quiesce /dev/mapper/fsd 0' && dmsetup mknodes qa"
mkfs.ext4 -q /dev/mapper/qa
mkfs.ext4 -q /dev/mapper/fse
mkdir -p /snap/a /snap/b
step fs-mount sh -c 'mount /dev/mapper/qa /snap/a && mount /dev/mapper/fse /snap/b'
SNAP_FS="/snap/a /snap/b /flt/vol1"
D=3	# the freeze deadline of the snapshot cells, s

# A writer appending fsynced, numbered records to both filesystems; each
# acknowledged record is logged to /tmp/acked (tmpfs) after its fsync.
writer_start() {
	rm -f /tmp/acked /tmp/writer.stop
	python3 - <<'PY' &
import os, time
n = 0
fds = [os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) for p in ("/snap/a/rec", "/snap/b/rec", "/flt/vol1/rec")]
log = open("/tmp/acked", "a")
while not os.path.exists("/tmp/writer.stop"):
    n += 1
    for fd in fds:
        os.write(fd, b"record %08d\n" % n)
        os.fsync(fd)
    log.write("%d\n" % n); log.flush()
    time.sleep(0.01)
PY
	WRITER=$!
}
# writer_check: stop the writer; every acknowledged record is on both.
writer_check() {
	touch /tmp/writer.stop
	wait $WRITER
	last=$(tail -n 1 /tmp/acked)
	for f in /snap/a/rec /snap/b/rec /flt/vol1/rec; do
		grep -q "^record $(printf %08d "$last")\$" $f || { echo "record $last missing in $f"; return 1; }
	done
	echo "writer: $last records acknowledged, all present"
}
# frozen_now: no probe returns within 300 ms.
frozen_now() { probe_start; sleep 0.3; probes_none_done; }
snap_bg() {	# TIMEOUT CMD...: a snapshot in the background; /tmp/frozen when frozen
	rm -f /tmp/frozen /tmp/cmd.pid /tmp/snap.json
	_t=$1; shift
	vaultvol --json snapshot --consistency fs --timeout "$_t" -- "$@" >/tmp/snap.json 2>/tmp/out &
	SNAP=$!
}
hold_cmd='echo $$ >/tmp/cmd.pid; touch /tmp/frozen; exec sleep 600'
next_ok() {	# the next snapshot succeeds
	vaultvol --json snapshot --consistency fs --timeout 20 -- true >/tmp/next.json 2>&1 ||
		{ echo "next snapshot failed: $(cat /tmp/next.json)"; return 1; }
}
marker_gone() {
	for _w in 1 2 3 4 5 6 7 8 9 10; do
		[ -e /var/lib/vaultvol/frozen.json ] || return 0
		sleep 0.1
	done
	return 1
}

# kill-agent / term-agent: vaultvol killed while frozen. SIGKILL: its
# watchdog thaws within the deadline + 1 s. SIGTERM: vaultvol itself thaws
# at once, reports, and exits non-zero.
# frozen_by CMD: the writer started, then a snapshot with deadline D whose
# command is CMD (it touches /tmp/frozen); why starts empty, tf is when it
# was seen frozen.
frozen_by() {
	why=""
	writer_start
	snap_bg $D sh -c "$1"
	wait_file /tmp/frozen 30000 || why="never frozen; "
	tf=$(now_ms)
}
agent_signal() {	# SIG
	frozen_by "$hold_cmd"
	frozen_now || why="${why}not frozen; "
	kill -"$1" $SNAP
	wait_probes $((D * 1000 + 1000)) || why="${why}not thawed within $((D + 1)) s; "
	echo "$1: thawed $(( $(now_ms) - tf )) ms after frozen"
	[ $(( $(now_ms) - tf )) -le $((D * 1000 + 1000)) ] || why="${why}thawed late; "
	wait $SNAP
	rc=$?
	[ "$1" = TERM ] && { [ $rc -ne 0 ] || why="${why}exit 0 after SIGTERM; "; }
	marker_gone || why="${why}marker left; "
	kill "$(cat /tmp/cmd.pid 2>/dev/null)" 2>/dev/null
	writer_check || why="${why}records lost; "
	next_ok || why="${why}next snapshot failed; "
}
agent_signal KILL; cell kill-agent snapshot "$why"
agent_signal TERM; cell term-agent snapshot "$why"

# kill-watchdog: the watchdog killed while frozen; vaultvol still thaws when
# its command ends, and says so honestly.
why=""
writer_start
snap_bg 20 sh -c 'touch /tmp/frozen; sleep 2'
wait_file /tmp/frozen 30000 || why="never frozen; "
wd=$(marker_field watchdog_pid)
[ -n "$wd" ] && kill -9 "$wd" || why="${why}no watchdog pid in the marker; "
frozen_now || why="${why}not frozen; "
wait $SNAP
rc=$?
wait_probes 1500 || why="${why}not thawed after the command; "
cat /tmp/snap.json
case $rc in
0) json_has /tmp/snap.json '"consistency":"filesystem"' || why="${why}exit 0 but not filesystem; " ;;
3) grep -q '"consistency":"\(filesystem\|crash\)"' /tmp/snap.json || why="${why}exit 3 without a consistency; " ;;
*) why="${why}exit $rc; " ;;
esac
marker_gone || why="${why}marker left; "
writer_check || why="${why}records lost; "
next_ok || why="${why}next snapshot failed; "
cell kill-watchdog snapshot "$why"

# kill-both: vaultvol and its watchdog killed: the filesystems stay frozen
# until the next vaultvol reads the marker (without dm-quiesce below them,
# nothing else can thaw them); the next snapshot recovers first.
why=""
writer_start
snap_bg 60 sh -c "$hold_cmd"
wait_file /tmp/frozen 30000 || why="never frozen; "
wd=$(marker_field watchdog_pid)
kill -9 "$wd" $SNAP
wait $SNAP 2>/dev/null
kill "$(cat /tmp/cmd.pid 2>/dev/null)" 2>/dev/null
frozen_now || why="${why}not frozen after both died; "
vaultvol --json snapshot --consistency fs --timeout 20 -- true >/tmp/out 2>&1 || why="${why}the next snapshot failed; "
grep -q 'left frozen by an earlier run' /tmp/out || why="${why}no recovery warning; "
wait_probes 3000 || why="${why}not thawed by the next snapshot; "
writer_check || why="${why}records lost; "
cell kill-both snapshot "$why"

# disk-slow: every I/O of a filesystem's disk 400 ms late (dm-delay below
# it) while dirty data waits, so that the freeze's own write-back is slow.
# Under dm-quiesce (/snap/a) the kernel holds the deadline: no writer
# waits past the deadline + 1 s. Under FIFREEZE (/snap/b) the ioctl's
# write-back cannot be interrupted: a known gap (tests/faults/gaps.txt).
# Either way the report must say what was reached, and nothing is lost.
disk_slow() {	# LOWER-DM MOUNT LINEAR-TABLE
	why=""
	writer_start
	dd if=/dev/urandom of="$2/dirty" bs=1M count=24 2>/dev/null
	_set() { dmsetup suspend "$1" && dmsetup load "$1" --table "$2" && dmsetup resume "$1"; }
	_set "$1" "0 $HALF delay /dev/vdb ${3#* } 400" || why="fault did not start; "
	t0=$(now_ms)
	vaultvol --json snapshot --consistency fs --timeout $D -- true >/tmp/snap.json 2>/tmp/out
	rc=$?
	dt=$(( $(now_ms) - t0 ))
	probe_start
	wait_probes 1500 || why="${why}not writable 1 s after the snapshot returned; "
	_set "$1" "0 $HALF linear /dev/vdb $3" || why="${why}fault did not end; "
	cat /tmp/snap.json
	echo "disk-slow $2: snapshot exit $rc in $dt ms"
	case $rc in
	0) json_has /tmp/snap.json '"consistency":"filesystem"' || why="${why}exit 0 but not filesystem; " ;;
	3) grep -q '"consistency":"crash"' /tmp/snap.json || why="${why}exit 3 but not crash; " ;;
	*) why="${why}exit $rc; " ;;
	esac
	python3 - "$D" <<'PY2' || why="${why}writers blocked longer than the deadline + 1 s; "
import json, sys
r = json.load(open("/tmp/snap.json"))
assert r.get("freeze_window_ms", 0) <= int(sys.argv[1]) * 1000 + 1000, r["freeze_window_ms"]
PY2
	rm -f "$2/dirty"
	writer_check || why="${why}records lost; "
	next_ok || why="${why}next snapshot failed; "
}
disk_slow fsd /snap/a 0; cell disk-slow snapshot "$why"
disk_slow fse /snap/b "$HALF"; cell disk-slow-ioctl snapshot "$why"

# clock-back / clock-fwd: the wall clock stepped an hour while frozen; the
# deadline is on the monotonic clock, so the thaw comes at the deadline:
# not an hour late, not at once.
clock_step() {	# SECONDS
	frozen_by 'touch /tmp/frozen; sleep 8'
	python3 -c "import time; time.clock_settime(time.CLOCK_REALTIME, time.time() + $1)" ||
		why="${why}clock not stepped; "
	frozen_now || why="${why}thawed at the step; "
	wait_probes $((D * 1000 + 1000)) || why="${why}not thawed within $((D + 1)) s; "
	dt=$(( $(now_ms) - tf ))
	echo "clock $1 s: thawed $dt ms after frozen (deadline $D s)"
	[ $dt -ge $((D * 1000 - 500)) ] || why="${why}thawed early ($dt ms); "
	wait $SNAP
	rc=$?
	python3 -c "import time; time.clock_settime(time.CLOCK_REALTIME, time.time() - $1)"
	[ $rc -eq 3 ] || why="${why}exit $rc, not 3 (the deadline passed); "
	grep -q '"consistency":"crash"' /tmp/snap.json || why="${why}not reported crash; "
	marker_gone || why="${why}marker left; "
	writer_check || why="${why}records lost; "
	next_ok || why="${why}next snapshot failed; "
}
clock_step -3600; cell clock-back snapshot "$why"
clock_step 3600; cell clock-fwd snapshot "$why"

# --- pre/post scripts ------------------------------------------------------------
mkdir -p /etc/azure
plugin_cfg() {	# TIMEOUT
	cat >/etc/azure/VMSnapshotScriptPluginConfig.json <<S
{"pluginName": "ScriptRunner", "preScriptLocation": "/etc/azure/pre.sh",
 "postScriptLocation": "/etc/azure/post.sh", "preScriptParams": ["", ""],
 "postScriptParams": ["", ""], "preScriptNoOfRetries": 0, "postScriptNoOfRetries": 0,
 "timeoutInSeconds": $1, "continueBackupOnFailure": true, "fsFreezeEnabled": true}
S
	chmod 600 /etc/azure/VMSnapshotScriptPluginConfig.json
}
printf '#!/bin/sh\ntouch /tmp/post_ran\n' >/etc/azure/post.sh
# script_cell NAME PRE-BODY EXPECTED-CONSISTENCY EXPECTED-EXIT [KILL]: a
# pre-script; KILL: SIGKILL it from outside once it has started.
script_cell() {
	why=""
	printf '#!/bin/sh\n%s\n' "$2" >/etc/azure/pre.sh
	chmod 700 /etc/azure/pre.sh /etc/azure/post.sh
	plugin_cfg 10
	rm -f /tmp/post_ran /tmp/pre.pid
	writer_start
	t0=$(now_ms)
	vaultvol --json snapshot --timeout 30 -- true >/tmp/snap.json 2>/tmp/out &
	SNAP=$!
	if [ -n "${5:-}" ]; then
		wait_file /tmp/pre.pid 30000 && kill -9 "$(cat /tmp/pre.pid)"
	fi
	wait $SNAP
	rc=$?
	dt=$(( $(now_ms) - t0 ))
	cat /tmp/snap.json
	echo "$1: exit $rc in $dt ms"
	[ $rc -eq "$4" ] || why="exit $rc, not $4; "
	json_has /tmp/snap.json "\"consistency\":\"$3\"" >/dev/null || why="${why}not $3; "
	[ $dt -lt 9000 ] || why="${why}took $dt ms (held by the script's descendants?); "
	[ -e /tmp/post_ran ] || why="${why}post-script did not run; "
	probe_start
	wait_probes 1500 || why="${why}not thawed; "
	writer_check || why="${why}records lost; "
}
# A script killed from outside (the OOM killer, an operator): reported as a
# failed pre-script, filesystem-consistent, post-script still run.
script_cell kill-script 'echo $$ >/tmp/pre.pid; sleep 20' filesystem 3 kill
cell kill-script snapshot "$why"
# A script that starts a daemon the proper way (setsid, stdio closed) and
# exits: application-consistent, at once.
script_cell script-daemon 'setsid sleep 300 </dev/null >/dev/null 2>&1 &
echo started' application 0
cell script-daemon snapshot "$why"
# A script that leaves a child holding its stdout and exits 0: vaultvol must
# not wait for that pipe to close.
script_cell script-stdout 'sleep 300 &
echo started' application 0
cell script-stdout snapshot "$why"
rm -f /etc/azure/VMSnapshotScriptPluginConfig.json

# state-ro / state-full: the state directory (the freeze marker's home)
# read-only, or out of space and inodes. snapshot freezes all the same (its
# watchdog still holds the deadline; only a kill of both would go
# unrecorded) and its report says the marker could not be written; nothing
# stays frozen, no record is lost, and the next snapshot succeeds.
state_snap() {	# FAULT ro|full
	why=""
	writer_start
	fs_fault /var/lib/vaultvol "$2" || why="fault did not start; "
	vaultvol --json snapshot --consistency fs --timeout 20 -- true >/tmp/snap.json 2>/tmp/out
	rc=$?
	fs_fault_end /var/lib/vaultvol || why="${why}fault did not end; "
	cat /tmp/snap.json /tmp/out
	[ $rc -eq 0 ] || why="${why}exit $rc; "
	json_has /tmp/snap.json '"consistency":"filesystem"' >/dev/null || why="${why}not filesystem; "
	grep -q "frozen-state marker" /tmp/snap.json || why="${why}the marker's failure not in the report; "
	probe_start
	wait_probes 1500 || why="${why}not thawed; "
	writer_check || why="${why}records lost; "
	next_ok || why="${why}next snapshot failed; "
	cell "$1" snapshot "$why"
}
state_snap state-ro ro
state_snap state-full full

fi
umount /snap/a /snap/b 2>/dev/null
close_all
open_fakes_stop
GUEST
