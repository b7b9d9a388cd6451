# Row: what the dm-quiesce target costs, against the stock dm targets, in the
# QEMU guest (tests/vm/scenarios/bench_quiesce.sh, one boot, one 256M disk):
#  - throughput through a quiesce mapping vs a linear mapping of the same
#    disk, measured with fio: O_DIRECT, libaio, sequential 1 MiB (MB/s) and
#    random 4 KiB (IOPS), write and read, queue depth 1 and 16; both mappings
#    back to back in each round, which goes first alternating. Ratio =
#    quiesce / linear, goal >= 0.99 (the median per-round ratio; the spread
#    is the min-max of the per-round ratios over BENCH_ROUNDS, default 5).
#  - freeze+thaw of a mounted ext4 with 4 MiB dirty, `vv-quiesce freeze` +
#    `vv-quiesce thaw` (agent/volume/quiesce.c) vs `dmsetup suspend` +
#    `dmsetup resume` of a linear mapping with the same fs and dirty data,
#    30 interleaved cycles, each a pair: median per-cycle ratio and spread;
#    mean and p95 as before. The kernel's own freeze window (last_freeze_us)
#    has no dmsetup counterpart: no baseline.
# The guest runs under software emulation (TCG) on a shared host, so the
# absolute figures are far below real hardware and swing with host load;
# the per-round ratios, from runs back to back, are the figures to read.
set -eu
B=${VV_BUILD:-$PWD/build}
# VM_KEEP: the kept work dir has this run's metrics for sure (run.sh
# rewrites build/vm/metrics.tsv on every run).
VM_KEEP=1 VV_BUILD=$B tests/vm/run.sh bench_quiesce >&2 || rc=$?
work=$B/vm/runs/bench_quiesce-6.1
python3 - "$work" "$B/vm/summary.tsv" <<'PY'
import os, sys
sys.path.insert(0, "bench/lib")
from stats import emit
from vm_metrics import load_kept, series
m = load_kept(sys.argv[1])
summary = sys.argv[2]
kernel = "6.1"
for line in open(summary) if os.path.exists(summary) else []:
    f = line.split("\t")
    if f[0] == "bench_quiesce":
        kernel = f[1]
short = ".".join(kernel.split(".")[:2])
extra = {"kernel": "guest " + kernel}
cells = [("seqwrite", "seq write 1M", "MB/s"), ("seqread", "seq read 1M", "MB/s"),
         ("randwrite", "rand write 4K", "IOPS"), ("randread", "rand read 4K", "IOPS")]
for qd in (1, 16):
    for key, label, unit in cells:
        q = series(m, "fio_%s_qd%d_quiesce" % (key, qd))
        lin = series(m, "fio_%s_qd%d_linear" % (key, qd))
        if q and len(q) == len(lin):
            emit("dm-quiesce vs linear, fio %s QD%d [%s]" % (label, qd, short), unit, q, lin,
                 goal=(">=", 0.99), higher_is_better=True, **extra)
ft, sr = series(m, "freeze_thaw_ms"), series(m, "suspend_resume_ms")
if ft and len(ft) == len(sr):
    emit("freeze+thaw vs dm suspend+resume, per cycle [%s]" % short, "ms", ft, sr, **extra)
for key, label in (("freeze_thaw_p95_ms", "freeze+thaw p95"), ("suspend_resume_p95_ms", "dm suspend+resume p95"),
                   ("kernel_freeze_mean_ms", "dm-quiesce kernel freeze window mean")):
    if key in m:
        emit("%s [%s]" % (label, short), "ms", [m[key]], **extra)
PY
# The per-round figures and every cycle's times, for the bench log.
tr -d '\r' <"$work/boot1/console.log" 2>/dev/null |
	grep -E '^(round |fio failed|freeze\+thaw us|suspend\+resume us|kernel last)' >&2 || true
# Drop the kept images (256M sparse) once read; a failed run keeps them anyway.
[ "${rc:-0}" -ne 0 ] || rm -rf "$work"
exit "${rc:-0}"
