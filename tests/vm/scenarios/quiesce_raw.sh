# vm-kernels: 6.1 6.12
# Raw writers with no filesystem mounted: during a freeze their writes are
# held at the target (writers block, the lower device is unchanged, reads
# still work, status counts the held writes); after "thaw" and after a
# deadline expiry every held write reaches the disk (sha256 of the regions).
vm_disk data 64M
vm_boot --disk data --timeout 400 <<'GUEST'
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
step rmmod rmmod dm_quiesce
step no-kernel-complaints q_no_kernel_complaints
GUEST
