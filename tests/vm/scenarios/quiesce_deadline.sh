# vm-kernels: 6.1 6.12
# The kernel-enforced deadline, 20 trials: the process that sent the freeze
# is killed with SIGKILL while the filesystem is frozen (as a crashed agent
# would be); a writer then blocks on the frozen filesystem and must complete
# within deadline + 1 s of the freeze, every time; the status counts each
# expiry and reports a freeze length between the deadline and deadline + 1 s.
# Also: a freeze whose own sync outlasts its deadline fails with ETIMEDOUT,
# is undone and counted.
vm_disk data 256M
vm_boot --disk data --timeout 500 <<'GUEST'
. /vv/tests/vm/scenarios/quiesce_lib.sh
step insmod load_quiesce
step create q_create q /dev/vda
step mkfs mkfs.ext4 -q -F /dev/mapper/q
mkdir -p /mnt/q
step mount mount -t ext4 /dev/mapper/q /mnt/q

D=1000		# deadline, ms
trials=20
bad=0 worst=0
i=1
while [ $i -le $trials ]; do
	rm -f /tmp/fz /tmp/wd
	t0=$(now_ms)
	# The "agent": freezes, then would hang around holding the freeze.
	sh -c 'dmsetup message q 0 freeze '"$D"' && echo ok >/tmp/fz; exec sleep 1000' &
	apid=$!
	if ! q_wait_for /tmp/fz 5000; then
		echo "trial $i: freeze did not happen"
		bad=$((bad + 1))
		kill -9 $apid 2>/dev/null
		i=$((i + 1))
		continue
	fi
	kill -9 $apid
	wait $apid 2>/dev/null
	# A writer on the frozen filesystem, started after the agent died.
	( echo "trial $i" >/mnt/q/t$i && now_ms >/tmp/wd ) &
	wpid=$!
	q_wait_for /tmp/wd $((D + 5000))
	wait $wpid
	tw=$(cat /tmp/wd 2>/dev/null || echo 999999999)
	took=$((tw - t0))
	[ $took -gt $worst ] && worst=$took
	us=$(q_field q 3)
	echo "trial $i: writer done $took ms after the freeze was sent; kernel froze $us us; status $(q_info q)"
	if [ $took -gt $((D + 1000)) ] || [ $took -lt $((D - 20)) ] ||
	   ! q_expect q thawed $i $i 0 ||
	   [ "$us" -lt $((D * 1000)) ] || [ "$us" -gt $(((D + 1000) * 1000)) ] ||
	   ! grep -q "^trial $i\$" /mnt/q/t$i; then
		echo "trial $i: FAILED"
		bad=$((bad + 1))
	fi
	i=$((i + 1))
done
metric quiesce_deadline_worst_resume_ms "$worst" ms
step "deadline-trials-$trials-all-within-D+1s" test $bad -eq 0
step expiries-counted q_expect q thawed $trials $trials 0
step expiry-logged test "$(dmesg | grep -c 'freeze deadline expired')" -eq $trials

# A freeze whose sync alone outlasts the deadline: ETIMEDOUT, undone, counted.
step dirty-data dd if=/dev/zero of=/mnt/q/dirty bs=1M count=40
step freeze-overruns sh -c \
	'! dmsetup message q 0 freeze 1 2>/tmp/err; cat /tmp/err; grep -qi "timed out" /tmp/err'
step overrun-counted q_expect q thawed $((trials + 1)) $((trials + 1)) 0
step writable-after-overrun sh -c 'echo after >/mnt/q/after'

step umount umount /mnt/q
step fsck e2fsck -fn /dev/mapper/q
step remove dmsetup remove q
step rmmod rmmod dm_quiesce
step no-kernel-complaints q_no_kernel_complaints
GUEST
