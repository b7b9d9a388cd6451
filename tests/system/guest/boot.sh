#!/bin/bash
# Run by vv-test.service (installed in the image by mkimage.sh) once the
# payload is unpacked in /vv: the boot's scenario script, with the busybox
# tier's step/expect_fail/metric and the system tier's helpers; results on
# ttyS1; then the machine powers off (QEMU runs with -no-reboot and exits).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
stty -F /dev/ttyS1 raw -echo 2>/dev/null
cd /tmp || exit 1
. /vv/env.sh
echo "vv-system: kernel $(uname -r), boot $VV_BOOT, running the scenario"
/bin/bash -c '. /vv/tests/vm/guest/lib.sh; . /vv/tests/system/guest/lib.sh; . /vv/scenario.sh'
rc=$?
echo "DONE $rc" >/dev/ttyS1
sync
systemctl poweroff --no-block
