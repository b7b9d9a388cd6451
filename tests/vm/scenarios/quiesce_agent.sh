# vm-kernels: 6.1 6.12
# agent/volume/quiesce.c, the libdevmapper wrapper the agent uses (through the
# guest tool vv-quiesce, whose exit status is the errno of a failure):
# availability, create with nodes made without udev or dmsetup, freeze,
# thaw, status figures, the documented errors, remove.
# Needs build/vm-tools/vv-quiesce, built from tests/vm/tools/vv-quiesce.c;
# out of the suite until that tool is in the tree (drop the next line then).
vm_disk data 128M
vm_boot --disk data --timeout 400 <<'GUEST'
. /vv/tests/vm/scenarios/quiesce_lib.sh
# rc_is N CMD...: CMD exits with status N (an errno for vv-quiesce).
rc_is() {
	_want=$1
	shift
	"$@"
	_rc=$?
	[ $_rc -eq "$_want" ] || { echo "exit $_rc, want $_want"; return 1; }
}
EBUSY=16 EINVAL=22 ENODEV=19 EEXIST=17 EMEDIUMTYPE=124
step tool-present command -v vv-quiesce
expect_fail not-available-before-insmod vv-quiesce available
step insmod load_quiesce
step available vv-quiesce available

sz=$(blockdev --getsz /dev/vda)
step create vv-quiesce create q /dev/vda
step node-without-udev test -b /dev/mapper/q
step whole-device test "$(blockdev --getsz /dev/mapper/q)" -eq "$sz"
step table dmsetup table q
step create-exists rc_is $EEXIST vv-quiesce create q /dev/vda
step create-sized vv-quiesce create q2 /dev/vda 2048
step sized test "$(blockdev --getsz /dev/mapper/q2)" -eq 2048
step remove-sized vv-quiesce remove q2
step sized-node-gone test ! -e /dev/mapper/q2
step status-initial test "$(vv-quiesce status q)" = "thawed 0 0 0 0 0"

step mkfs mkfs.ext4 -q -F /dev/mapper/q
mkdir -p /mnt/q
step mount mount -t ext4 /dev/mapper/q /mnt/q
t0=$(now_ms)
step freeze vv-quiesce freeze q 60000
step status-frozen sh -c 'vv-quiesce status q | grep -Eq "^frozen 1 [0-9]+ 0 0 0\$"'
step freeze-again-ebusy rc_is $EBUSY vv-quiesce freeze q 60000
rm -f /tmp/w
( echo x >/mnt/q/x && touch /tmp/w ) &
sleep 1
step writer-blocked test ! -e /tmp/w
step thaw vv-quiesce thaw q
t1=$(now_ms)
step writer-released q_wait_for /tmp/w 5000
step thaw-again-einval rc_is $EINVAL vv-quiesce thaw q
st=$(vv-quiesce status q)
echo "status after thaw: $st (guest clock: at most $((t1 - t0)) ms)"
us=$(echo "$st" | cut -d' ' -f3)
step status-thawed sh -c "echo '$st' | grep -Eq '^thawed 1 [0-9]+ 0 0 0\$'"
step duration-plausible test "$us" -ge 1000000 -a $((us / 1000)) -le $((t1 - t0 + 20))

# The deadline, seen through the wrapper.
step freeze-short vv-quiesce freeze q 1000
sleep 2
step expired-status sh -c 'vv-quiesce status q | grep -Eq "^thawed 2 [0-9]+ 1 0 0\$"'
step thaw-after-expiry-einval rc_is $EINVAL vv-quiesce thaw q
step timeout-zero-einval rc_is $EINVAL vv-quiesce freeze q 0
step timeout-too-long-einval rc_is $EINVAL vv-quiesce freeze q 3600001

# Suspended mappings: flagged in the status, freeze refused.
step suspend dmsetup suspend q
step status-suspended sh -c 'vv-quiesce status q | grep -q " 1\$"'
step freeze-suspended-ebusy rc_is $EBUSY vv-quiesce freeze q 1000
step resume dmsetup resume q

# Errors for a missing mapping and for a mapping of another type.
step status-missing rc_is $ENODEV vv-quiesce status nosuch
step freeze-missing rc_is $ENODEV vv-quiesce freeze nosuch 1000
step remove-missing rc_is $ENODEV vv-quiesce remove nosuch
step create-linear dmsetup create lin --table "0 2048 linear /dev/vda 0"
step status-wrong-type rc_is $EMEDIUMTYPE vv-quiesce status lin
step freeze-wrong-type rc_is $EINVAL vv-quiesce freeze lin 1000
step remove-linear vv-quiesce remove lin

step umount umount /mnt/q
step remove-open-refused sh -c 'mount -t ext4 /dev/mapper/q /mnt/q && { vv-quiesce remove q; rc=$?; umount /mnt/q; [ $rc -eq 16 ]; }'
step remove vv-quiesce remove q
step node-removed test ! -e /dev/mapper/q
step rmmod rmmod dm_quiesce
expect_fail not-available-after-rmmod vv-quiesce available
step create-without-target-einval rc_is $EINVAL vv-quiesce create q /dev/vda
step no-half-made-mapping sh -c '! dmsetup info q >/dev/null 2>&1 && test ! -e /dev/mapper/q'
step no-kernel-complaints q_no_kernel_complaints
GUEST
