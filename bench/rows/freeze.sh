# Row: freeze window (first freeze to last thaw, empty snapshot) for 1, 4 and
# 8 ext4 filesystems under buffered write load, in the QEMU guest:
# `vaultvol snapshot` (parallel freezes, one process) vs a sequential
# fsfreeze -f/-u loop. Runs tests/vm/scenarios/freeze_bench.sh: BENCH_REPS
# interleaved rounds (default 10); median per-round ratio and its spread.
set -eu
B=${VV_BUILD:-$PWD/build}
VM_KEEP=1 VV_BUILD=$B tests/vm/run.sh freeze_bench >&2 || rc=$?
work=$B/vm/runs/freeze_bench-6.1
python3 - "$work" <<'PY'
import os, sys
sys.path.insert(0, "bench/lib")
from stats import emit
from vm_metrics import load_kept, series
m = load_kept(sys.argv[1])
for n in (1, 4, 8):
    vv = series(m, "freeze_window_vaultvol_%dfs" % n)
    fs = series(m, "freeze_window_fsfreeze_%dfs" % n)
    if vv and len(vv) == len(fs):
        emit("freeze window, %d ext4 under write load, vs sequential fsfreeze" % n, "ms", vv, fs,
             goal=("<=", 1.0), kernel="guest 6.1")
PY
[ "${rc:-0}" -ne 0 ] || rm -rf "$work"
exit "${rc:-0}"
