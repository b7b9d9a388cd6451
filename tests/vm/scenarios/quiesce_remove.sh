# vm-kernels: 6.1 6.12
# Removing, force-removing, deferred-removing, reloading and suspending a
# frozen dm-quiesce device: nothing hangs, held writes reach the disk, the
# filesystem comes back writable, and the module unloads cleanly at the end
# (no table, timer or work item left behind).
vm_disk data 256M
vm_boot --disk data --timeout 500 <<'GUEST'
. /vv/tests/vm/scenarios/quiesce_lib.sh
sz=$(blockdev --getsz /dev/vda)
mkdir -p /mnt/q

# quick MS CMD...: CMD succeeds within MS ms.
# ends_within MS CMD...: CMD ends, however, within MS ms (its status ignored).
# fails_quickly MS CMD...: CMD fails within MS ms.
_timed() {
	_t=$(now_ms)
	"$@"
	_rc=$?
	_t=$(($(now_ms) - _t))
	echo "took $_t ms, exit $_rc"
}
quick() { _lim=$1; shift; _timed "$@"; [ $_t -le "$_lim" ] && [ $_rc -eq 0 ]; }
ends_within() { _lim=$1; shift; _timed "$@"; [ $_t -le "$_lim" ]; }
fails_quickly() { _lim=$1; shift; _timed "$@"; [ $_t -le "$_lim" ] && [ $_rc -ne 0 ]; }
held_at_least() {
	_end=$(($(now_ms) + 20000))
	while [ "$(q_field q 5)" -lt "$1" ]; do
		[ "$(now_ms)" -ge "$_end" ] && return 1
		sleep 0.1
	done
}

step insmod load_quiesce

# 1. Frozen, nobody writing: remove is immediate; the module unloads.
step create-1 q_create q /dev/vda
step freeze-1 dmsetup message q 0 freeze 120000
step remove-frozen quick 10000 dmsetup remove q
step gone-1 sh -c '! dmsetup info q >/dev/null 2>&1'
step rmmod-1 rmmod dm_quiesce
step insmod-2 insmod /vv/dm-quiesce.ko

# 2. Frozen with a raw writer holding the device open: plain remove is
#    refused at once (EBUSY); --force swaps in an error table, which
#    suspends first, so the held write is released to the disk; once the
#    writer is done the device goes.
step create-2 q_create q /dev/vda
step freeze-2 dmsetup message q 0 freeze 120000
rm -f /tmp/h2 /tmp/done2
( q_write_pattern /dev/mapper/q 2048 64 21 direct >/tmp/h2 && touch /tmp/done2 ) &
w2=$!
step held-2 held_at_least 1
step remove-open-refused fails_quickly 10000 dmsetup remove q
step force-remove-no-hang ends_within 30000 dmsetup remove --force q
step writer-2-done q_wait_for /tmp/done2 20000
wait $w2
step data-2 test "$(cat /tmp/h2)" = "$(q_pattern_hash 64 21)" -a \
	"$(q_hash /dev/vda 2048 64)" = "$(cat /tmp/h2)"
dmsetup remove q 2>/dev/null
step gone-2 sh -c '! dmsetup info q >/dev/null 2>&1'

# 3. Deferred removal while frozen and open: it happens on last close,
#    after the deadline released the writer.
step create-3 q_create q /dev/vda
step freeze-3 dmsetup message q 0 freeze 3000
rm -f /tmp/h3 /tmp/done3
( q_write_pattern /dev/mapper/q 4096 64 31 direct >/tmp/h3 && touch /tmp/done3 ) &
w3=$!
step held-3 held_at_least 1
step deferred-remove dmsetup remove --deferred q
step writer-3-done q_wait_for /tmp/done3 20000
wait $w3
step gone-3 sh -c 'for i in $(seq 100); do dmsetup info q >/dev/null 2>&1 || exit 0; sleep 0.1; done; exit 1'
step data-3 test "$(q_hash /dev/vda 4096 64)" = "$(q_pattern_hash 64 31)"

# 4. Reload while frozen with a filesystem mounted and a writer blocked:
#    the resume that swaps tables does not hang, the writer resumes, the
#    new table starts thawed.
step create-4 q_create q /dev/vda
step mkfs-4 mkfs.ext4 -q -F /dev/mapper/q
step mount-4 mount -t ext4 /dev/mapper/q /mnt/q
step freeze-4 dmsetup message q 0 freeze 120000
rm -f /tmp/done4
( echo four >/mnt/q/four && touch /tmp/done4 ) &
w4=$!
sleep 1
step writer-4-blocked test ! -e /tmp/done4
step reload-4 dmsetup reload q --table "0 $sz quiesce /dev/vda 0"
step resume-4-no-hang quick 30000 dmsetup resume q
step writer-4-done q_wait_for /tmp/done4 10000
wait $w4
step new-table-thawed q_expect q thawed 0 0 0
step fs-writable-4 sh -c 'echo more >/mnt/q/more && sync'

# 5. Suspend while frozen: suspend thaws our freeze first (and freezes the
#    filesystem itself, as dmsetup suspend does); freezing a suspended device
#    is refused; after resume the filesystem is writable.
step freeze-5 dmsetup message q 0 freeze 120000
step suspend-5-no-hang quick 30000 dmsetup suspend q
step thawed-by-suspend q_expect q thawed 1 0 0
step freeze-while-suspended-ebusy sh -c \
	'! dmsetup message q 0 freeze 1000 2>/tmp/err; cat /tmp/err; grep -qi busy /tmp/err'
step resume-5 dmsetup resume q
step fs-writable-5 sh -c 'echo five >/mnt/q/five && sync'
step freeze-after-resume dmsetup message q 0 freeze 120000
step thaw-after-resume dmsetup message q 0 thaw
step umount-4 umount /mnt/q
step fsck-4 e2fsck -fn /dev/mapper/q

# 6. The module is pinned while a table uses it, and not after.
expect_fail rmmod-while-in-use rmmod dm_quiesce
step remove-4 dmsetup remove q

# 7. Twenty cycles of create, freeze, remove while frozen.
cycles_ok=0
c=1
while [ $c -le 20 ]; do
	q_create q /dev/vda &&
	dmsetup message q 0 freeze 60000 &&
	dmsetup remove q && cycles_ok=$((cycles_ok + 1))
	c=$((c + 1))
done
step remove-frozen-20-cycles test $cycles_ok -eq 20
step rmmod-final rmmod dm_quiesce
step module-gone sh -c '! grep -q "^dm_quiesce " /proc/modules'
step no-kernel-complaints q_no_kernel_complaints
GUEST
