# Row: what the dm-quiesce target costs, against the stock dm targets, in the
# QEMU guest (tests/vm/scenarios/bench_quiesce.sh, one boot, one 256M disk):
#  - O_DIRECT throughput at queue depth 1 through a quiesce mapping vs a
#    linear mapping of the same disk (1 MiB sequential write/read in MB/s,
#    4 KiB random write/read in IOPS; both measured in one process taking
#    100 ms turns, 1.5 s each per round; rates from the median time of single
#    I/Os; of 3 rounds, the one with the median ratio). Ratio = quiesce /
#    linear: 1 is parity, above 1 is better here.
#  - freeze+thaw of a mounted ext4 with 4 MiB dirty, `vv-quiesce freeze` +
#    `vv-quiesce thaw` (agent/volume/quiesce.c) vs `dmsetup suspend` + `dmsetup
#    resume` of a linear mapping with the same fs and dirty data (wall time of
#    both commands, mean and p95 of 30 cycles each, interleaved). Ratio below
#    1 is better. The kernel's own freeze window (last_freeze_us) has no
#    dmsetup counterpart: no baseline.
# The guest runs under software emulation (TCG) on a shared host, so the
# absolute figures are far below real hardware and swing with host load;
# the ratios, from runs interleaved so load falls on both sides alike, are
# the figures to read. Even they move between runs on a busy 2-core host
# (seen: throughput 0.90..1.25, freeze+thaw mean 0.85..1.05, p95 0.57..1.8),
# so one run resolves parity, not a difference of a few per cent.
set -eu
B=${VV_BUILD:-$PWD/build}
# VM_KEEP: run.sh rewrites build/vm/metrics.tsv on every run, and other runs
# may start meanwhile; the kept work dir has this run's metrics for sure.
VM_KEEP=1 VV_BUILD=$B tests/vm/run.sh bench_quiesce >&2 || rc=$?
work=$B/vm/runs/bench_quiesce-6.1
python3 - "$B/vm/metrics.tsv" "$work/metrics.tsv" "$B/vm/summary.tsv" <<'PY'
import json, os, sys
shared, kept, summary = sys.argv[1:4]
m, kernel = {}, None
for line in open(shared) if os.path.exists(shared) else []:
    f = line.rstrip("\n").split("\t")
    if len(f) == 5 and f[0] == "bench_quiesce":
        kernel = f[1]
        m[f[2]] = float(f[3])
if not m and os.path.exists(kept):
    # Another run replaced metrics.tsv: use the work dir's copy.
    for line in open(kept):
        f = line.rstrip("\n").split("\t")
        if len(f) == 3:
            m[f[0]] = float(f[1])
    for line in open(summary) if os.path.exists(summary) else []:
        f = line.split("\t")
        if f[0] == "bench_quiesce":
            kernel = f[1]
if not m:
    sys.exit("bench_quiesce left no metrics")
guest = "guest " + (kernel or "6.1")
short = ".".join((kernel or "6.1").split(".")[:2])

def num(x):
    return int(x) if x is not None and x.is_integer() else x

def row(name, key, unit, base_key=None):
    v = num(m.get(key))
    if v is None:
        return
    b = num(m.get(base_key)) if base_key else None
    print(json.dumps({"name": "%s [%s]" % (name, short), "value": v, "unit": unit, "baseline": b,
                      "ratio": round(v / b, 3) if b else None, "kernel": guest}))

row("dm-quiesce seq write 1M vs linear", "seqwrite_quiesce", "MB/s", "seqwrite_linear")
row("dm-quiesce seq read 1M vs linear", "seqread_quiesce", "MB/s", "seqread_linear")
row("dm-quiesce rand write 4K vs linear", "randwrite_quiesce", "IOPS", "randwrite_linear")
row("dm-quiesce rand read 4K vs linear", "randread_quiesce", "IOPS", "randread_linear")
row("freeze+thaw mean vs dm suspend+resume", "freeze_thaw_mean_ms", "ms", "suspend_resume_mean_ms")
row("freeze+thaw p95 vs dm suspend+resume", "freeze_thaw_p95_ms", "ms", "suspend_resume_p95_ms")
row("dm-quiesce kernel freeze window mean", "kernel_freeze_mean_ms", "ms")
PY
# The per-round figures and every cycle's times, for the bench log.
tr -d '\r' <"$work/boot1/console.log" 2>/dev/null |
	grep -E '^(round |vv-iobench:|[a-z]+ rounds|[0-9.]+ [0-9.]+ [0-9.]+$|freeze\+thaw us|suspend\+resume us|kernel last)' >&2 || true
# Drop the kept images (256M sparse) once read; a failed run keeps them anyway.
[ "${rc:-0}" -ne 0 ] || rm -rf "$work"
exit "${rc:-0}"
