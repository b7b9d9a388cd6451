# vm-kernels: 6.1
# vm-suite: no
# Bench (bench/rows/quiesce.sh): what the dm-quiesce target costs against
# the stock dm targets, in one boot with one 256M disk.
# 1. Throughput: a quiesce and a linear mapping over all of the same disk
#    (filled first, so reads hit data); O_DIRECT at queue depth 1 with
#    vv-iobench: 1 MiB sequential write/read (MB/s), 4 KiB random write/read
#    (IOPS). The two mappings are measured in one process taking 100 ms turns
#    (A B B A ...) for BENCH_MS each, so host load hits both alike; each
#    figure comes from the median time of single I/Os (the mean is ruled by
#    the moments the host deschedules the guest, which say nothing about the
#    target; the overall rates are in the console log); random offsets are
#    the same on both; BENCH_ROUNDS rounds, reporting the round whose
#    quiesce/linear ratio is the median.
#    Metrics: {seqwrite,seqread}_{quiesce,linear} MB/s,
#    {randwrite,randread}_{quiesce,linear} IOPS.
# 2. Freeze+thaw: the disk split in halves, ext4 on a quiesce mapping (first
#    half) and on a linear one (second half). BENCH_CYCLES cycles, each: dirty
#    4 MiB + a new file on one fs, then `vv-quiesce freeze qf 10000` +
#    `vv-quiesce thaw qf` (agent/volume/quiesce.c); dirty the same on the other fs,
#    then `dmsetup suspend lf` + `dmsetup resume lf` (which freezes the fs
#    too); which goes first alternates. Wall time of each command from fork
#    to reap (vv-iobench time, one process running both), summed per cycle.
#    Metrics: freeze_thaw_{mean,p95}_ms and suspend_resume_{mean,p95}_ms;
#    kernel_freeze_mean_ms (the target's own last_freeze_us after each thaw:
#    freeze message to end of thaw, so it includes starting the thaw process).
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_MS=${BENCH_MS:-1500}
BENCH_CYCLES=${BENCH_CYCLES:-30}
export BENCH_ROUNDS BENCH_MS BENCH_CYCLES
VM_GUEST_ENV="BENCH_ROUNDS BENCH_MS BENCH_CYCLES"
vm_disk bench 256M
vm_boot --disk bench --timeout 600 <<'GUEST'
. /vv/tests/vm/scenarios/quiesce_lib.sh
fail=0
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
# mean and nearest-rank 95th percentile of microsecond figures, in ms.
mean_ms() { tr ' ' '\n' | grep . | awk '{s+=$1} END {printf "%.2f\n", s / NR / 1000}'; }
p95_ms() {
	tr ' ' '\n' | grep . | sort -n |
		awk '{a[NR]=$1} END {k=int(NR * 0.95); if (k < NR * 0.95) k++; printf "%.2f\n", a[k] / 1000}'
}

step insmod load_quiesce
sz=$(blockdev --getsz /dev/vda)
step create-linear sh -c "dmsetup create lin --table '0 $sz linear /dev/vda 0' && dmsetup mknodes lin"
step create-quiesce q_create q /dev/vda
# Every block once, so reads hit data in the image rather than holes.
step fill vv-iobench fill /dev/vda

# --- throughput
echo "phase throughput at $(now_ms) ms"
r=0
while [ $r -lt "$BENCH_ROUNDS" ]; do
	r=$((r + 1))
	for t in seqwrite seqread randwrite randread; do
		# Both mappings in one process, taking 100 ms turns; which one
		# starts alternates by round. Random offsets: seed = round.
		if [ $((r % 2)) -eq 1 ]; then
			v=$(vv-iobench $t "$BENCH_MS" $r /dev/mapper/q /dev/mapper/lin) || fail=1
			vq=${v%% *} vl=${v##* }
		else
			v=$(vv-iobench $t "$BENCH_MS" $r /dev/mapper/lin /dev/mapper/q) || fail=1
			vl=${v%% *} vq=${v##* }
		fi
		echo "round $r $t quiesce $vq linear $vl"
		echo "$vq $vl" | awk '{printf "%.6f %s %s\n", ($2 > 0 ? $1 / $2 : 0), $1, $2}' >>/tmp/rounds.$t
	done
done
# Report the round with the median quiesce/linear ratio: both figures of a
# pair come from the same interleaved run, so their ratio is a paired one
# (medians taken separately could mix a calm round with a disturbed one).
for t in seqwrite seqread randwrite randread; do
	case $t in seq*) u=MB/s ;; *) u=IOPS ;; esac
	echo "$t rounds (ratio quiesce linear):"
	sort -n /tmp/rounds.$t >/tmp/sorted.$t
	cat /tmp/sorted.$t
	set -- $(awk '{a[NR]=$0} END {print a[int((NR + 1) / 2)]}' /tmp/sorted.$t)
	metric ${t}_quiesce "$2" $u
	metric ${t}_linear "$3" $u
done
step io-no-freezes q_expect q thawed 0 0 0
step io-remove sh -c 'dmsetup remove q && dmsetup remove lin'

# --- freeze+thaw vs suspend+resume
echo "phase freeze at $(now_ms) ms"
half=$((sz / 2))
step create-qf sh -c "dmsetup create qf --table '0 $half quiesce /dev/vda 0' && dmsetup mknodes qf"
step create-lf sh -c "dmsetup create lf --table '0 $((sz - half)) linear /dev/vda $half' && dmsetup mknodes lf"
mkdir -p /mnt/q /mnt/l
step mkfs sh -c 'mkfs.ext4 -q /dev/mapper/qf && mkfs.ext4 -q /dev/mapper/lf'
step mount sh -c 'mount /dev/mapper/qf /mnt/q && mount /dev/mapper/lf /mnt/l'
step base-data sh -c 'for m in /mnt/q /mnt/l; do dd if=/dev/zero of=$m/dirty bs=64k count=64 2>/dev/null || exit 1; done; sync'
# dirty MNT I: 4 MiB of overwritten data and a new small file, not synced.
dirty() {
	dd if=/dev/zero of="$1/dirty" bs=64k count=64 conv=notrunc 2>/dev/null &&
		echo "$2" >"$1/f$2" || { echo "dirtying $1 failed"; fail=1; }
}
# One process times both commands (and, for quiesce, reads the status
# after, whose line comes out before the times): the same overhead both ways.
qcycle() {
	dirty /mnt/q "$1"
	_o=$(vv-iobench time vv-quiesce freeze qf 10000 -- vv-quiesce thaw qf -- vv-quiesce status qf) ||
		{ echo "quiesce cycle $1 failed: $_o"; fail=1; return; }
	set -- $_o
	kq="$kq $3"
	qt="$qt $((${7} + ${8}))"
}
lcycle() {
	dirty /mnt/l "$1"
	_o=$(vv-iobench time dmsetup suspend lf -- dmsetup resume lf) ||
		{ echo "linear cycle $1 failed: $_o"; fail=1; return; }
	set -- $_o
	lt="$lt $(($1 + $2))"
}
qt="" lt="" kq=""
i=0
while [ $i -lt "$BENCH_CYCLES" ]; do
	i=$((i + 1))
	if [ $((i % 2)) -eq 1 ]; then qcycle $i; lcycle $i; else lcycle $i; qcycle $i; fi
done
echo "phase freeze done at $(now_ms) ms"
echo "freeze+thaw us:$qt"
echo "suspend+resume us:$lt"
echo "kernel last_freeze_us:$kq"
metric freeze_thaw_mean_ms "$(echo $qt | mean_ms)" ms
metric freeze_thaw_p95_ms "$(echo $qt | p95_ms)" ms
metric suspend_resume_mean_ms "$(echo $lt | mean_ms)" ms
metric suspend_resume_p95_ms "$(echo $lt | p95_ms)" ms
metric kernel_freeze_mean_ms "$(echo $kq | mean_ms)" ms
step freeze-count q_expect qf thawed "$BENCH_CYCLES" 0 0
step data-on-disk sh -c "test \$(ls /mnt/q | grep -c '^f') -eq $BENCH_CYCLES && test \$(ls /mnt/l | grep -c '^f') -eq $BENCH_CYCLES"
step umount sh -c 'umount /mnt/q && umount /mnt/l'
step fsck sh -c 'e2fsck -fn /dev/mapper/qf >/dev/null && e2fsck -fn /dev/mapper/lf >/dev/null'
step remove sh -c 'dmsetup remove qf && dmsetup remove lf'
step kernel-quiet q_no_kernel_complaints
step bench-ran test $fail -eq 0
GUEST
