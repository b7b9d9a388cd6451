# vm-suite: no
# The bench variant of snapshot_restore: 20 backup cycles under load, then
# every copy restored and checked (bench/rows/snapshot_restore.sh).
SNAP_CYCLES=20
. tests/vm/scenarios/snapshot_restore.sh
