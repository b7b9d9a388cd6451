# vm-kernels: 6.1 6.12
# Raw writers with no filesystem mounted: during a freeze their writes are
# held at the target (writers block, the lower device is unchanged, reads
# still work, status counts the held writes); after "thaw" and after a
# deadline expiry every held write reaches the disk (sha256 of the regions).
# And the freeze drains: it returns only once writes that passed the target
# before it have completed below (shown with one quiesce stacked on another).
vm_disk data 64M
vm_disk data2 32M
vm_boot --disk data --disk data2 --timeout 400 <<'GUEST'
. /vv/tests/vm/scenarios/quiesce_lib.sh
step insmod load_quiesce
step create q_create q /dev/vda
zero=$(python3 -c 'import hashlib; print(hashlib.sha256(bytes(2048 * 512)).hexdigest())')

# wait_held N MS: until at least N writes are held, at most MS ms.
wait_held() {
	_end=$(($(now_ms) + $2))
	while [ "$(q_field q 5)" -lt "$1" ]; do
		[ "$(now_ms)" -ge "$_end" ] && return 1
		sleep 0.1
	done
}

hA=$(q_write_pattern /dev/mapper/q 0 2048 1 direct)
step baseline test -n "$hA" -a "$hA" = "$(q_hash /dev/vda 0 2048)"

step freeze dmsetup message q 0 freeze 120000
step frozen q_expect q frozen 1 0 0
rm -f /tmp/h* /tmp/done*
# O_DIRECT over the baseline region, and buffered + fsync on a fresh one.
( q_write_pattern /dev/mapper/q 0 2048 2 direct >/tmp/hB && touch /tmp/doneB ) &
( q_write_pattern /dev/mapper/q 4096 2048 3 buffered >/tmp/hC && touch /tmp/doneC ) &
step writes-held wait_held 2 20000
sleep 1
echo "status while frozen: $(q_info q)"
step writers-blocked test ! -e /tmp/doneB -a ! -e /tmp/doneC
step lower-unchanged-B test "$(q_hash /dev/vda 0 2048)" = "$hA"
step lower-unchanged-C test "$(q_hash /dev/vda 4096 2048)" = "$zero"
step reads-pass-while-frozen test "$(q_hash /dev/mapper/q 8192 2048)" = "$zero"
held=$(q_field q 5)
step thaw dmsetup message q 0 thaw
step writer-B-done q_wait_for /tmp/doneB 20000
step writer-C-done q_wait_for /tmp/doneC 20000
step released q_expect q thawed 1 0 0
step held-was-counted test "$held" -ge 2
step data-B test "$(cat /tmp/hB)" = "$(q_pattern_hash 2048 2)" -a \
	"$(q_hash /dev/vda 0 2048)" = "$(cat /tmp/hB)"
step data-C test "$(cat /tmp/hC)" = "$(q_pattern_hash 2048 3)" -a \
	"$(q_hash /dev/vda 4096 2048)" = "$(cat /tmp/hC)"
step data-through-target test "$(q_hash /dev/mapper/q 4096 2048)" = "$(cat /tmp/hC)"

# The same with the deadline doing the thaw.
t0=$(now_ms)
step freeze-deadline dmsetup message q 0 freeze 3000
( q_write_pattern /dev/mapper/q 16384 2048 4 buffered >/tmp/hD && touch /tmp/doneD ) &
step writes-held-2 wait_held 1 20000
step writer-D-blocked test ! -e /tmp/doneD
step writer-D-done q_wait_for /tmp/doneD 20000
echo "writer done $(($(now_ms) - t0)) ms after the 3000 ms freeze was sent; $(q_info q)"
step expired q_expect q thawed 2 1 0
step data-D test "$(cat /tmp/hD)" = "$(q_pattern_hash 2048 4)" -a \
	"$(q_hash /dev/vda 16384 2048)" = "$(cat /tmp/hD)"
step rest-untouched test "$(q_hash /dev/vda 8192 2048)" = "$zero"

step remove dmsetup remove q

# Drain: "hi" stacked on "lo" on vdb. With lo frozen, a write through hi is
# in flight (held below), so hi cannot promise a stable lower device: its
# freeze runs into its deadline. Started again, hi's freeze stays "freezing"
# until lo thaws and the write completes, and only then reports frozen.
step create-lo q_create lo /dev/vdb
step create-hi q_create hi /dev/mapper/lo
step freeze-lo dmsetup message lo 0 freeze 120000
( q_write_pattern /dev/mapper/hi 0 64 9 direct >/tmp/hW && touch /tmp/doneW ) &
step write-held-below sh -c 'for i in $(seq 200); do [ "$(dmsetup status lo | cut -d" " -f8)" -ge 1 ] && exit 0; sleep 0.1; done; exit 1'
t0=$(now_ms)
step freeze-hi-overruns sh -c \
	'! dmsetup message hi 0 freeze 1500 2>/tmp/err; cat /tmp/err; grep -qi "timed out" /tmp/err'
step overrun-waited-for-deadline test $(($(now_ms) - t0)) -ge 1500
step hi-overrun-counted q_expect hi thawed 1 1 0
rm -f /tmp/hiF
( dmsetup message hi 0 freeze 30000 && touch /tmp/hiF ) &
sleep 1
step hi-draining test "$(q_field hi 1)" = freezing -a ! -e /tmp/hiF
step thaw-lo dmsetup message lo 0 thaw
step hi-frozen-after-drain q_wait_for /tmp/hiF 10000
step write-landed-before-frozen test "$(q_hash /dev/vdb 0 64)" = "$(q_pattern_hash 64 9)"
# The writer's fsync (a flush, which is a write) now waits at hi: held 0 or 1.
step hi-status sh -c '. /vv/tests/vm/scenarios/quiesce_lib.sh; q_expect hi frozen 2 1 0 || q_expect hi frozen 2 1 1'
step thaw-hi dmsetup message hi 0 thaw
step writer-W-done q_wait_for /tmp/doneW 10000
step remove-hi dmsetup remove hi
step remove-lo dmsetup remove lo
step rmmod rmmod dm_quiesce
step no-kernel-complaints q_no_kernel_complaints
GUEST
