#!/bin/bash
# `make bench`: runs every bench/rows/*.sh. Each row script measures a
# vaultvol figure and its baseline side by side in the same run and prints
# one JSON object per line: {"name","value","unit","baseline","ratio"}
# (baseline/ratio null when there is nothing to compare). This script prints
# them as a table and writes bench/results/latest.json: a list of those
# objects, each with the kernel and machine it ran on.
# Usage: bench/run.sh [ROW...]   (row names without .sh; default: all)
set -u
cd "$(dirname "$0")/.." || exit 2
mkdir -p bench/results build/bench
out=build/bench/rows.jsonl
: >"$out"
rows=("$@")
if [ ${#rows[@]} -eq 0 ]; then
	for f in bench/rows/*.sh; do rows+=("$(basename "$f" .sh)"); done
fi
failed=0
for r in "${rows[@]}"; do
	echo "bench: running $r" >&2
	t0=$SECONDS
	if ! bash "bench/rows/$r.sh" >"build/bench/$r.out" 2>"build/bench/$r.log"; then
		echo "bench: row $r failed (see build/bench/$r.log)" >&2
		failed=$((failed + 1))
	fi
	grep '^{' "build/bench/$r.out" >>"$out"
	echo "bench: $r took $((SECONDS - t0)) s" >&2
done
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\t: //p' /proc/cpuinfo | head -1)"
kernel=$(uname -r)
python3 - "$out" "$kernel" "$machine" <<'PY'
import json, sys
path, kernel, machine = sys.argv[1:4]
rows = []
for line in open(path):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line)
    r.setdefault("baseline", None)
    r.setdefault("ratio", None)
    if r["ratio"] is None and r["baseline"] not in (None, 0):
        r["ratio"] = round(r["value"] / r["baseline"], 3)
    r.setdefault("kernel", kernel)
    r.setdefault("machine", machine)
    rows.append(r)
json.dump(rows, open("bench/results/latest.json", "w"), indent=2)
def fmt(v):
    if v is None:
        return "-"
    return f"{v:.3f}" if isinstance(v, float) else str(v)
print(f"{'row':44} {'vaultvol':>12} {'baseline':>12} {'unit':>8} {'ratio':>8}")
for r in rows:
    print(f"{r['name']:44} {fmt(r['value']):>12} {fmt(r['baseline']):>12} {r['unit']:>8} {fmt(r['ratio']):>8}")
print(f"\n{len(rows)} rows on {machine}; host kernel {kernel} (guest rows name their kernel)")
print("ratio = vaultvol / baseline: below 1 is better for times and costs.")
PY
echo "bench: results in bench/results/latest.json"
[ $failed -eq 0 ]
