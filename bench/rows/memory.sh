# Row: the memory an idle agent costs: peak RSS and PSS (from
# /proc/PID/smaps_rollup, tests/vm/tools/vv-memprobe.c) of `vaultvol
# version` vs the floor of an agent written in Python (a python3 process
# that imports json, ssl, urllib.request, subprocess, base64, hashlib and
# does nothing else). VV_MEMORY_ROUNDS (default 10) rounds interleaved,
# vaultvol then python; the medians, the ratio (below 1: vaultvol is
# smaller) and its spread. No goal: the goal is on open --all's growth
# over this idle figure (the guest row).
set -eu
B=${VV_BUILD:-build}
ROUNDS=${VV_MEMORY_ROUNDS:-10}
P=$B/vm-tools/vv-memprobe
[ -x "$P" ] || make -s "$P" >&2
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
: >"$d/rounds"
# probe CMD...: "PEAK_RSS PEAK_PSS" in KiB of one run of CMD.
probe() {
	"$P" -- "$@" >/dev/null 2>"$d/err" || { cat "$d/err" >&2; return 1; }
	sed -n 's/^vv-memprobe: peak_rss_kib=\([0-9]*\) peak_pss_kib=\([0-9]*\) .*/\1 \2/p' "$d/err"
}
for _ in $(seq "$ROUNDS"); do
	vv=$(probe "$B/vaultvol" version)
	py=$(probe python3 -c 'import json, ssl, urllib.request, subprocess, base64, hashlib')
	echo "$vv $py" >>"$d/rounds"
done
python3 - "$d/rounds" <<'PY'
import sys
sys.path.insert(0, "bench/lib")
import stats
rounds = [[int(x) for x in line.split()] for line in open(sys.argv[1])]
floor = "python3 importing json, ssl, urllib.request, subprocess, base64, hashlib"
stats.emit("memory, idle `vaultvol version`: peak RSS", "KiB",
           [r[0] for r in rounds], [r[2] for r in rounds], baseline_is=floor)
stats.emit("memory, idle `vaultvol version`: peak PSS", "KiB",
           [r[1] for r in rounds], [r[3] for r in rounds], baseline_is=floor)
PY
