# Row: freeze window (first freeze to last thaw, empty snapshot) for 1, 4 and
# 8 ext4 filesystems under buffered write load, in the QEMU guest:
# `vaultvol snapshot` (parallel freezes, one process) vs a sequential
# fsfreeze -f/-u loop. Runs tests/vm/scenarios/freeze_bench.sh; medians of
# BENCH_REPS (default 5) runs each.
set -eu
B=${VV_BUILD:-$PWD/build}
VV_BUILD=$B tests/vm/run.sh freeze_bench >&2
python3 - "$B/vm/metrics.tsv" <<'PY'
import sys
sys.path.insert(0, "bench/lib")
from vm_metrics import load, row
m = load(sys.argv[1], "freeze_bench")
for n in (1, 4, 8):
    vv = m.get("freeze_window_vaultvol_%dfs" % n)
    fs = m.get("freeze_window_fsfreeze_%dfs" % n)
    if vv is None:
        continue
    row("freeze window, %d ext4 under write load" % n, vv, "ms", fs)
PY
