# vm-kernels: 6.1 6.12
# Freeze through dm-quiesce with a filesystem mounted (ext4 and xfs): a
# writer that is streaming blocks for as long as the freeze lasts and
# resumes at "thaw"; the status figures (state, epoch, duration, expiries,
# held) match what happened; a second freeze is refused with EBUSY, a thaw
# when not frozen with EINVAL, malformed messages with EINVAL; the
# filesystem checks clean afterwards.
vm_disk data 512M
vm_boot --disk data --timeout 400 <<'GUEST'
. /vv/tests/vm/scenarios/quiesce_lib.sh
step insmod load_quiesce
step create q_create q /dev/vda
mkdir -p /mnt/q
epoch=0

# Appends a line per iteration to the filesystem; /tmp/progress (tmpfs, not
# frozen) says how far it got.
stream_writer() {
	i=0
	while [ ! -e /tmp/stop ]; do
		echo "line $i" >>/mnt/q/stream || exit 1
		echo "$i" >/tmp/progress
		i=$((i + 1))
	done
}
progress() { cat /tmp/progress 2>/dev/null || echo none; }

for fs in ext4 xfs; do
	case $fs in
	ext4) step "mkfs-$fs" mkfs.ext4 -q -F /dev/mapper/q ;;
	xfs) step "mkfs-$fs" mkfs.xfs -q -f /dev/mapper/q ;;
	esac
	step "mount-$fs" mount -t "$fs" /dev/mapper/q /mnt/q
	rm -f /tmp/stop /tmp/progress
	stream_writer &
	wpid=$!
	step "writer-running-$fs" q_wait_for /tmp/progress 10000

	t0=$(now_ms)
	step "freeze-$fs" dmsetup message q 0 freeze 60000
	t0b=$(now_ms)
	epoch=$((epoch + 1))
	step "status-frozen-$fs" q_expect q frozen "$epoch" 0 0
	p1=$(progress)
	sleep 2
	p2=$(progress)
	echo "progress while frozen: $p1 then $p2"
	step "writer-blocked-$fs" test "$p1" = "$p2"
	step "reads-while-frozen-$fs" sh -c 'head -c 100 /mnt/q/stream >/dev/null'
	step "duration-grows-$fs" test "$(q_field q 3)" -ge 2000000
	step "second-freeze-ebusy-$fs" sh -c \
		'! dmsetup message q 0 freeze 1000 2>/tmp/err; cat /tmp/err; grep -qi busy /tmp/err'

	t1=$(now_ms)
	step "thaw-$fs" dmsetup message q 0 thaw
	t2=$(now_ms)
	sleep 1
	p3=$(progress)
	echo "progress after thaw: $p3"
	step "writer-resumed-$fs" test "$p3" != "$p2"
	step "status-thawed-$fs" q_expect q thawed "$epoch" 0 0
	us=$(q_field q 3)
	echo "freeze lasted ${us} us; guest clock: between $((t1 - t0b)) and $((t2 - t0)) ms"
	step "duration-matches-$fs" test $((us / 1000)) -ge $((t1 - t0b - 20)) -a \
		$((us / 1000)) -le $((t2 - t0 + 20))
	step "thaw-again-einval-$fs" sh -c \
		'! dmsetup message q 0 thaw 2>/tmp/err; cat /tmp/err; grep -qi invalid /tmp/err'

	touch /tmp/stop
	step "writer-exits-$fs" wait "$wpid"
	last=$(progress)
	step "writes-on-fs-$fs" grep -q "^line $last\$" /mnt/q/stream
	step "umount-$fs" umount /mnt/q
	case $fs in
	ext4) step "fsck-$fs" e2fsck -fn /dev/mapper/q ;;
	xfs) step "fsck-$fs" xfs_repair -n /dev/mapper/q ;;
	esac
done

# Malformed messages change nothing.
for m in "freeze" "freeze 0" "freeze 3600001" "freeze abc" "freeze 10 20" \
	 "thaw now" "bogus"; do
	expect_fail "reject-$(echo "$m" | tr ' ' _)" dmsetup message q 0 $m
done
step status-unchanged q_expect q thawed "$epoch" 0 0
# Largest allowed deadline is accepted.
step freeze-max dmsetup message q 0 freeze 3600000
step thaw-max dmsetup message q 0 thaw

step remove dmsetup remove q
step rmmod rmmod dm_quiesce
step no-kernel-complaints q_no_kernel_complaints
GUEST
