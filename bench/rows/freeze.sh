# Row: freeze window (first freeze to last thaw, empty snapshot) for 1, 4 and
# 8 ext4 filesystems under buffered write load, in the QEMU guest:
# `vaultvol snapshot` (parallel freezes, one process) vs a sequential
# fsfreeze -f/-u loop. Runs tests/vm/scenarios/freeze_bench.sh; medians of
# BENCH_REPS (default 5) runs each.
set -eu
B=${VV_BUILD:-$PWD/build}
VV_BUILD=$B tests/vm/run.sh freeze_bench >&2
python3 - "$B/vm/metrics.tsv" <<'PY'
import json, sys
m = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if len(f) == 5 and f[0] == "freeze_bench":
        m[f[2]] = float(f[3])
for n in (1, 4, 8):
    vv = m.get("freeze_window_vaultvol_%dfs" % n)
    fs = m.get("freeze_window_fsfreeze_%dfs" % n)
    if vv is None:
        continue
    print(json.dumps({"name": "freeze window, %d ext4 under write load" % n, "value": vv,
                      "unit": "ms", "baseline": fs,
                      "ratio": round(vv / fs, 3) if fs else None}))
PY
