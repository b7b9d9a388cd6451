# vm-kernels: 6.1
# Revocation enforcement on real dm-crypt (docs/revocation.md, issue 17
# part 2): `vaultvol watch` running as the service runs it (check = 10s,
# the minimum; grace = 20s) against the fake Key Vault on the guest's
# loopback, over two Key Vault LUKS2 volumes:
#   k1  secret wrapped by the KEK 'kek'; dm-quiesce stacked, so the crypt
#       mapping suspended is k1-vvcrypt under the quiesce layer k1
#   k2  a plain (unwrapped) secret; quiesce = no, k2 is the crypt mapping
# Phases, in one boot:
#   1. KEK disabled: pending within grace (still readable, status warns),
#      then k1 suspended, status "inaccessible: CAUSE", a reader blocks,
#      k2 reads and writes; KEK enabled: k1 resumes by itself within a
#      check interval, the reader completes with the right bytes.
#   2. the vault down (503) longer than grace: nothing suspended.
#   3. k2's secret deleted: suspended after grace, k1 untouched;
#      recovered: resumed, its reader completes.
#   4. watch stopped (SIGTERM); a suspended volume whose page cache was
#      dropped: `status` and `watch --once` must not block on it (every
#      command probes every block device with libblkid).
#   5. close --all; no passphrase in any output.
for n in k1 k2; do
	vm_disk $n 32M
	export "PW_$n=$(head -c 24 /dev/urandom | base64)" "UUID_$n=$(cat /proc/sys/kernel/random/uuid)"
	# The LUKS2 headers made on the host (no device-mapper needed to format).
	host_step "luks-format-$n" sh -c "printf '%s' \"\$PW_$n\" | cryptsetup luksFormat -q \
		--type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --uuid \"\$UUID_$n\" \
		--key-file - '$VM_WORK/$n.img'"
done
tests/fakes/mkca.sh "$VM_WORK/certs" >/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$VM_WORK/kek.pem" 2>/dev/null
# The vault's contents, loaded by the fakes before they are ready
# (base64: the guest environment file cannot carry JSON quotes).
export PRELOAD=$(python3 - "$VM_WORK/kek.pem" <<'PY' | base64 -w0
import json, os, sys
print(json.dumps([{"op": "put_key", "name": "kek", "pem": open(sys.argv[1]).read()},
                  {"op": "put_bek", "name": "k1", "key": os.environ["PW_k1"], "kek": "kek"},
                  {"op": "put_bek", "name": "k2", "key": os.environ["PW_k2"]}]))
PY
)
export VV_CA_PEM=$(cat "$VM_WORK/certs/ca.pem") VV_SERVER_PEM=$(cat "$VM_WORK/certs/server.pem")
export VV_SERVER_KEY=$(cat "$VM_WORK/certs/server.key")
VM_GUEST_ENV="UUID_k1 UUID_k2 PW_k1 PW_k2 PRELOAD VV_CA_PEM VV_SERVER_PEM VV_SERVER_KEY"

vm_boot --disk k1 --disk k2 --timeout 900 <<'GUEST'
set -u
. /vv/tests/vm/scenarios/open_lib.sh
# Retries of a 503 in milliseconds, not 31 s, so a pass stays short.
export VV_TEST_BACKOFF_SCALE=0.01
O=/tmp/out	# everything vaultvol printed (searched for keys at the end)
RV=/var/lib/vaultvol/revocation.json
mkdir -p $O

# wait_until SECS CMD...: run CMD every second until it succeeds, at most SECS.
wait_until() {
	_secs=$1
	shift
	_end=$(($(now_ms) + _secs * 1000))
	until "$@"; do
		[ "$(now_ms)" -ge "$_end" ] && return 1
		sleep 1
	done
	return 0
}
# rv_state NAME: its state in revocation.json (open when not recorded).
rv_state() {
	_s=$(tr -d ' \t\n' <$RV 2>/dev/null | grep -o "\"$1\":{\"state\":\"[a-z]*\"" | cut -d'"' -f6)
	echo "${_s:-open}"
}
is_state() { [ "$(rv_state "$1")" = "$2" ]; }
no_records() { is_state k1 open && is_state k2 open; }
dm_suspended() { dmsetup info "$1" 2>/dev/null | grep -q "State: *SUSPENDED"; }
dm_active() { dmsetup info "$1" 2>/dev/null | grep -q "State: *ACTIVE"; }
# gone PID: exited (a zombie of this shell counts).
gone() { [ ! -e "/proc/$1" ] || grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat"; }
count() { grep -c "$1" $O/watch.log; }
since_s() { echo $((($(now_ms) - $1) / 1000)); }
# status NAME: `vaultvol status` into $O/status-NAME.out, never hanging the boot.
status() {
	timeout -s KILL 60 vaultvol status >$O/status-$1.out 2>&1
	echo "exit $?" >>$O/status-$1.out
	cat $O/status-$1.out
}
# reader TAG FILE: cat FILE to /tmp/TAG.out in the background; /tmp/TAG.done
# holds its exit status once it finished.
reader() {
	rm -f /tmp/$1.out /tmp/$1.done
	(cat "$2" >/tmp/$1.out; echo $? >/tmp/$1.done) &
}

# Filesystems inside the LUKS2 volumes (vda = k1, vdb = k2).
mkfs_luks() {
	eval "_pw=\$PW_$1"
	printf '%s' "$_pw" | cryptsetup open --key-file - "$2" "mk$1" &&
		mkfs.ext4 -q "/dev/mapper/mk$1" && cryptsetup close "mk$1"
}
step mkfs-k1 mkfs_luks k1 /dev/vda
step mkfs-k2 mkfs_luks k2 /dev/vdb
step quiesce-loaded load_quiesce
printf '%s' "$PRELOAD" | base64 -d >/tmp/preload.json
step fakes-start open_fakes_start --preload /tmp/preload.json
mkdir -p /etc/vaultvol
cat >/etc/vaultvol/vaultvol.conf <<EOF
[vault]
url = $FAKE_KV_URL
ca_file = $FAKE_CA
timeout = 4
[revocation]
enforce = yes
check = 10s
grace = 20s
[volume k1]
match = uuid:$UUID_k1
key = k1
mount = /data/k1
[volume k2]
match = uuid:$UUID_k2
key = k2
mount = /data/k2
quiesce = no
EOF
chmod 600 /etc/vaultvol/vaultvol.conf
cat /etc/vaultvol/vaultvol.conf

vaultvol open --all >$O/open.out 2>&1
echo "exit $?" >>$O/open.out
cat $O/open.out
step open-exit-0 grep -qx "exit 0" $O/open.out
step k1-mounted grep -q "^k1: mounted on /data/k1 " $O/open.out
step k2-mounted grep -q "^k2: mounted on /data/k2 " $O/open.out
step k1-quiesce-over-crypt sh -c 'dmsetup table k1 | grep -q " quiesce " &&
	dmsetup table k1-vvcrypt | grep -q " crypt "'
step k2-plain-crypt sh -c 'dmsetup table k2 | grep -q " crypt " && ! dmsetup info k2-vvcrypt >/dev/null 2>&1'
# The crypt mapping that gets suspended (k1 alone if quiesce did not stack).
C1=k1
dmsetup info k1-vvcrypt >/dev/null 2>&1 && C1=k1-vvcrypt

# Known content; blk2 is read only once its volume is suspended, so it must
# come from the device, not the page cache: drop the caches now, while
# nothing is suspended.
for n in k1 k2; do
	head -c 1048576 /dev/urandom >/tmp/$n.blk
	head -c 1048576 /dev/urandom >/tmp/$n.blk2
	cp /tmp/$n.blk /data/$n/blk && cp /tmp/$n.blk2 /data/$n/blk2
done
echo "k1 during grace" >/data/k1/grace.txt
echo "k2 during grace" >/data/k2/grace.txt
sync
echo 3 >/proc/sys/vm/drop_caches

vaultvol -vv watch >$O/watch.log 2>&1 &
watch_pid=$!
step watch-first-pass-ok wait_until 90 grep -q "watch: 2 checked: 2 ok" $O/watch.log
step watch-policy grep -q "check every 10s, grace 20s" $O/watch.log

# ---- 1. the KEK disabled, then enabled again ----
step kek-disabled fakectl -q set_attributes kind=key name=kek enabled=false
t0=$(now_ms)
step k1-pending wait_until 45 is_state k1 pending
step k1-active-in-grace dm_active $C1
step k1-reads-in-grace timeout -s KILL 30 grep -qx "k1 during grace" /data/k1/grace.txt
status pending
step status-pending-warning grep -q "^k1: warning: key revoked: KEK .*disabled" $O/status-pending.out
step k2-not-pending is_state k2 open
step k1-suspended wait_until 90 dm_suspended $C1
metric revoke_kek_suspend_s "$(since_s $t0)" s
step k1-suspended-after-grace test "$(since_s $t0)" -ge 20
step k1-recorded-inaccessible wait_until 15 is_state k1 inaccessible
step watch-logged-suspend grep -q "k1: inaccessible: KEK .*suspended" $O/watch.log
status suspended
step status-exit-0 grep -qx "exit 0" $O/status-suspended.out
step status-inaccessible-cause grep -q "^k1: inaccessible: KEK .*disabled" $O/status-suspended.out
step status-state-column grep -q "^k1 .* inaccessible " $O/status-suspended.out
timeout -s KILL 60 vaultvol status --json >$O/status-suspended.json 2>&1
step status-json-revocation grep -q '"revocation"' $O/status-suspended.json
reader r1 /data/k1/blk
sleep 5
step k1-reader-blocks test ! -e /tmp/r1.done
step k2-reads-while-k1-suspended timeout -s KILL 30 cmp /data/k2/blk /tmp/k2.blk
step k2-writes-while-k1-suspended timeout -s KILL 30 dd if=/tmp/k2.blk of=/data/k2/w.bin \
	bs=64k conv=fsync status=none
step k2-active dm_active k2
step kek-enabled fakectl -q set_attributes kind=key name=kek enabled=true
t0=$(now_ms)
step k1-resumed wait_until 60 dm_active $C1
metric revoke_kek_resume_s "$(since_s $t0)" s
# One check interval (10 s) plus the pass under way and the resuming one.
step k1-resumed-within-a-check-interval test "$(since_s $t0)" -le 30
step k1-reader-completes wait_until 30 test -e /tmp/r1.done
step k1-reader-exit-0 grep -qx 0 /tmp/r1.done
step k1-reader-content cmp /tmp/r1.out /tmp/k1.blk
step k1-recorded-open wait_until 15 is_state k1 open
step watch-logged-resume grep -q "k1: open: access returned .*resumed" $O/watch.log
status resumed
step status-open-again sh -c "grep -q '^k1 .* mounted ' $O/status-resumed.out &&
	! grep -qE 'inaccessible|key revoked' $O/status-resumed.out"
step k1-writes-after-resume timeout -s KILL 30 dd if=/tmp/k1.blk of=/data/k1/w.bin \
	bs=64k conv=fsync status=none

# ---- 2. the vault down longer than the grace period ----
n0=$(count "2 outage")
step vault-down fakectl -q fault status=503 count=-1
sleep 45
echo "passes with 2 outages during the 45 s: $(($(count "2 outage") - n0))"
step outage-passes-span-grace test $(($(count "2 outage") - n0)) -ge 3
step outage-k1-not-suspended dm_active $C1
step outage-k2-not-suspended dm_active k2
step outage-nothing-recorded no_records
n0=$(count "checked: 2 ok")
step vault-up fakectl -q faults_clear
step pass-ok-after-outage wait_until 45 sh -c "test \$(grep -c 'checked: 2 ok' $O/watch.log) -gt $n0"
# Nothing is suspended: the caches may go, so the reads below hit the devices.
echo 3 >/proc/sys/vm/drop_caches
step outage-k1-reads timeout -s KILL 30 cmp /data/k1/blk /tmp/k1.blk
step outage-k2-reads timeout -s KILL 30 cmp /data/k2/blk /tmp/k2.blk

# ---- 3. k2's secret deleted, then recovered ----
step secret-deleted fakectl -q delete kind=secret name=k2
t0=$(now_ms)
step k2-pending wait_until 45 is_state k2 pending
step k2-active-in-grace dm_active k2
step k2-reads-in-grace timeout -s KILL 30 grep -qx "k2 during grace" /data/k2/grace.txt
step k2-suspended wait_until 90 dm_suspended k2
metric revoke_delete_suspend_s "$(since_s $t0)" s
step k2-suspended-after-grace test "$(since_s $t0)" -ge 20
step k2-recorded-inaccessible wait_until 15 is_state k2 inaccessible
status deleted
step status-k2-inaccessible-cause grep -q "^k2: inaccessible: secret k2: not-found" \
	$O/status-deleted.out
reader r2 /data/k2/blk2
sleep 5
step k2-reader-blocks test ! -e /tmp/r2.done
step k1-reads-while-k2-suspended timeout -s KILL 30 cmp /data/k1/blk2 /tmp/k1.blk2
step k1-active dm_active $C1
step secret-recovered fakectl -q recover kind=secret name=k2
t0=$(now_ms)
step k2-resumed wait_until 60 dm_active k2
metric revoke_recover_resume_s "$(since_s $t0)" s
step k2-resumed-within-a-check-interval test "$(since_s $t0)" -le 30
step k2-reader-completes wait_until 30 test -e /tmp/r2.done
step k2-reader-content cmp /tmp/r2.out /tmp/k2.blk2
step k2-recorded-open wait_until 15 is_state k2 open

# ---- 4. the service stops; a suspended volume without page cache ----
kill $watch_pid
step watch-stops-on-sigterm wait_until 40 gone $watch_pid
gone $watch_pid || kill -9 $watch_pid
wait $watch_pid
echo "watch exit $?" >>$O/watch.log
step watch-exit-0 grep -qx "watch exit 0" $O/watch.log
once() {
	timeout -s KILL 120 vaultvol -vv watch --once >>$O/once.log 2>&1
	echo "once exit $?" >>$O/once.log
}
step secret-deleted-again fakectl -q delete kind=secret name=k2
once
step once-pending is_state k2 pending
sleep 21
once
step once-suspends dm_suspended k2
# What memory pressure does to a long-suspended volume, at once.
echo 3 >/proc/sys/vm/drop_caches
status dropped
step status-with-suspended-uncached grep -qx "exit 0" $O/status-dropped.out
step secret-recovered-again fakectl -q recover kind=secret name=k2
once
step once-resumes-with-suspended-uncached dm_active k2
cat $O/once.log
# Not resumed (the watch blocked on the mapping): resume by hand, so that
# close and the checks below still run.
dm_suspended k2 && printf '%s' "$PW_k2" | cryptsetup luksResume --key-file - k2

# ---- 5. close, and no key anywhere ----
step nothing-suspended-before-close sh -c "! dmsetup info | grep -q 'State: *SUSPENDED'"
if ! dmsetup info | grep -q "State: *SUSPENDED"; then
	timeout -s KILL 120 vaultvol close --all >$O/close.out 2>&1
	echo "exit $?" >>$O/close.out
	cat $O/close.out
fi
step close-all grep -qx "exit 0" $O/close.out
step nothing-left sh -c '! dmsetup info k1 && ! dmsetup info k1-vvcrypt && ! dmsetup info k2' \
	2>/dev/null
no_key() {
	for _v in k1 k2; do
		eval "_pw=\$PW_$_v"
		_b=$(printf '%s' "$_pw" | openssl base64 -A)
		if grep -rqF -e "$_pw" -e "$_b" $O /var/lib/vaultvol; then
			echo "the key of $_v is in: $(grep -rlF -e "$_pw" -e "$_b" $O /var/lib/vaultvol)"
			return 1
		fi
	done
	return 0
}
step no-key-in-output no_key
step no-kernel-bug sh -c '! dmesg | grep -E "BUG|Oops|general protection"'
cat $O/watch.log
open_fakes_stop
GUEST
