# vm-suite: no
# Bench (bench/rows/freeze.sh): the freeze window -- first freeze call to
# last thaw, with an empty snapshot in between -- for 1, 4 and 8 ext4
# filesystems, each under buffered write load, vaultvol (parallel freezes in
# one process, `vaultvol snapshot --consistency fs -- true`, its reported
# freeze_window_ms) vs a sequential loop of fsfreeze -f / fsfreeze -u
# processes (tests/vm/snapshot/fsfreeze_loop.py). BENCH_REPS rounds
# (default 10: each window is under a second), each running both back to
# back, which goes first alternating. Metrics, per round r:
# freeze_window_{vaultvol,fsfreeze}_<N>fs_rR (the row pairs them).
BENCH_REPS=${BENCH_REPS:-10}
export BENCH_REPS
VM_GUEST_ENV="BENCH_REPS"
disks=""
for i in 1 2 3 4 5 6 7 8; do
	vm_disk f$i 48M
	disks="$disks --disk f$i"
done
vm_boot $disks --timeout 1500 <<'GUEST'
T=/vv/tests/vm/snapshot
ALL=""
i=0
for d in a b c d e f g h; do
	i=$((i + 1))
	mkfs.ext4 -q /dev/vd$d
	mkdir -p /mnt/f$i
	mount /dev/vd$d /mnt/f$i
	ALL="$ALL /mnt/f$i"
done
# Buffered write load on every filesystem (dirty data the freeze must sync).
for m in $ALL; do
	( while [ ! -e /tmp/stopload ]; do
		dd if=/dev/zero of=$m/load bs=256k count=8 conv=notrunc 2>/dev/null
	  done ) &
done
sleep 2
fail=0
for n in 1 4 8; do
	set -- $ALL
	use="" excl=""
	k=0
	for m in $ALL; do
		k=$((k + 1))
		if [ $k -le $n ]; then use="$use $m"; else excl="$excl --exclude $m"; fi
	done
	r=0
	while [ $r -lt $BENCH_REPS ]; do
		r=$((r + 1)) f=""
		[ $((r % 2)) -eq 0 ] && f=$(python3 $T/fsfreeze_loop.py $use)
		out=$(vaultvol --json snapshot --consistency fs $excl -- true) || fail=1
		w=$(echo "$out" | sed -n 's/.*"freeze_window_ms":\([0-9]*\).*/\1/p')
		c=$(echo "$out" | grep -o '"state":"frozen"' | wc -l)
		[ "$c" -eq $n ] || { echo "vaultvol froze $c filesystems, expected $n: $out"; fail=1; }
		[ $((r % 2)) -eq 1 ] && f=$(python3 $T/fsfreeze_loop.py $use)
		[ -n "$w" ] && [ -n "$f" ] || { echo "round $r, $n fs: no window ($w/$f)"; fail=1; continue; }
		echo "round $r, $n fs: vaultvol $w ms, fsfreeze $f ms"
		metric freeze_window_vaultvol_${n}fs_r$r $w ms
		metric freeze_window_fsfreeze_${n}fs_r$r $f ms
	done
done
touch /tmp/stopload
wait
step bench-ran test $fail -eq 0
GUEST
