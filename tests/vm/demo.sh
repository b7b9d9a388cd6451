#!/bin/bash
# `make demo`: runs the demo scenario in QEMU guests and tells what happened.
set -u
cd "$(dirname "$0")/../.." || exit 2
echo "vaultvol demo: two QEMU guests (software emulation: a few minutes)."
echo "Boot 1 provisions, opens, snapshots and rotates; boot 2 restores and reopens."
echo
work=build/vm/runs/demo-6.1
rm -rf "$work"
mkdir -p build
VM_KEEP=1 tests/vm/run.sh demo >build/demo.log 2>&1
rc=$?

for r in "$work"/boot*/results.txt; do
	[ -f "$r" ] && sed -n 's/^SAY //p' "$r"
done
echo
echo "Checks:"
sed -e 's/^PASS\t/  ok    /' -e 's/^FAIL\t/  FAIL  /' "$work/results.tsv" 2>/dev/null | cut -f1,2
echo
if [ $rc -eq 0 ]; then
	echo "demo: every check passed. Full log: build/demo.log; guest consoles: $work/boot*/console.log"
else
	echo "demo: some checks failed; see build/demo.log and $work/boot*/console.log"
fi
exit $rc
