# vm-kernels: 6.1
# vm-suite: no
# Bench (bench/rows/quiesce.sh): what the dm-quiesce target costs against
# the stock dm targets, in one boot with one 256M disk.
# 1. Throughput, measured with fio (Debian's, packed into this boot with
#    vm_boot --extra fio): a quiesce and a linear mapping over all of the
#    same disk (filled first, so reads hit data); O_DIRECT, libaio,
#    sequential 1 MiB (MB/s) and random 4 KiB (IOPS), write and read, queue
#    depth 1 and 16: eight cells. Each round runs every cell on both
#    mappings back to back (which goes first alternates by round), BENCH_FIO_S
#    seconds each, random offsets from fio's fixed seed (the same on both);
#    BENCH_ROUNDS rounds (default 5). Metrics, one per round r:
#    fio_{seq,rand}{write,read}_qd{1,16}_{quiesce,linear}_rR; the row
#    (bench/rows/quiesce.sh) takes the median per-round ratio and its spread.
# 2. Freeze+thaw: the disk split in halves, ext4 on a quiesce mapping (first
#    half) and on a linear one (second half). BENCH_CYCLES cycles, each: dirty
#    4 MiB + a new file on one fs, then `vv-quiesce freeze qf 10000` +
#    `vv-quiesce thaw qf` (agent/volume/quiesce.c); dirty the same on the other fs,
#    then `dmsetup suspend lf` + `dmsetup resume lf` (which freezes the fs
#    too); which goes first alternates. Wall time of each command from fork
#    to reap (vv-time, one process running both), summed per cycle.
#    Metrics: freeze_thaw_ms_rN and suspend_resume_ms_rN per cycle (the
#    row pairs them: the ratio's median and spread), their mean and p95;
#    kernel_freeze_mean_ms (the target's own last_freeze_us after each thaw:
#    freeze message to end of thaw, so it includes starting the thaw process).
BENCH_ROUNDS=${BENCH_ROUNDS:-5}
BENCH_FIO_S=${BENCH_FIO_S:-2}
BENCH_CYCLES=${BENCH_CYCLES:-30}
export BENCH_ROUNDS BENCH_FIO_S BENCH_CYCLES
VM_GUEST_ENV="BENCH_ROUNDS BENCH_FIO_S BENCH_CYCLES"
vm_disk bench 256M
vm_boot --disk bench --extra fio --mem 1280 --timeout 1200 <<'GUEST'
. /vv/tests/vm/scenarios/quiesce_lib.sh
fail=0
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
step fill fio --name=fill --filename=/dev/vda --direct=1 --ioengine=libaio --rw=write --bs=1M \
	--iodepth=4 --output=/dev/null

# --- throughput
echo "phase throughput at $(now_ms) ms"
# fio CELL DEV: one fio run, its rate on stdout (MB/s for 1 MiB sequential
# cells, IOPS for 4 KiB random ones), from the terse v3 line (fields 7/8:
# read KiB/s and IOPS, 48/49: write).
fio_cell() {
	_seq="" _w="" _bs=4k _rw=rand
	case $1 in seq*) _seq=1 _bs=1M _rw="" ;; esac
	case $1 in *write_*) _w=1 _rw=${_rw}write ;; *) _rw=${_rw}read ;; esac
	fio --name=c --filename="$2" --direct=1 --ioengine=libaio --rw="$_rw" --bs=$_bs \
		--iodepth="${1##*_qd}" --time_based --runtime="$BENCH_FIO_S" \
		--output-format=terse --terse-version=3 2>/tmp/fio.err |
		awk -F';' -v seq="$_seq" -v w="$_w" \
			'NF > 49 { bw = w ? $48 : $7; io = w ? $49 : $8
				if (seq) printf "%.1f\n", bw / 1024; else printf "%d\n", io }'
}
cells="seqwrite_qd1 seqread_qd1 randwrite_qd1 randread_qd1 seqwrite_qd16 seqread_qd16 randwrite_qd16 randread_qd16"
step fio-runs sh -c 'fio --version'
r=0
while [ $r -lt "$BENCH_ROUNDS" ]; do
	r=$((r + 1))
	for c in $cells; do
		if [ $((r % 2)) -eq 1 ]; then
			vq=$(fio_cell $c /dev/mapper/q); vl=$(fio_cell $c /dev/mapper/lin)
		else
			vl=$(fio_cell $c /dev/mapper/lin); vq=$(fio_cell $c /dev/mapper/q)
		fi
		echo "round $r $c quiesce $vq linear $vl"
		if [ -z "$vq" ] || [ -z "$vl" ]; then
			echo "fio failed: $(cat /tmp/fio.err)"; fail=1; continue
		fi
		case $c in seq*) u=MB/s ;; *) u=IOPS ;; esac
		metric fio_${c}_quiesce_r$r "$vq" $u
		metric fio_${c}_linear_r$r "$vl" $u
	done
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
	_o=$(vv-time vv-quiesce freeze qf 10000 -- vv-quiesce thaw qf -- vv-quiesce status qf) ||
		{ echo "quiesce cycle $1 failed: $_o"; fail=1; return; }
	set -- $_o
	kq="$kq $3"
	qt="$qt $((${7} + ${8}))"
}
lcycle() {
	dirty /mnt/l "$1"
	_o=$(vv-time dmsetup suspend lf -- dmsetup resume lf) ||
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
i=0
for t in $qt; do i=$((i + 1)); metric freeze_thaw_ms_r$i "$(echo $t | mean_ms)" ms; done
i=0
for t in $lt; do i=$((i + 1)); metric suspend_resume_ms_r$i "$(echo $t | mean_ms)" ms; done
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
