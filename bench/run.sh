#!/bin/bash
# `make bench`: runs every bench/rows/*.sh. Each row script measures a
# vaultvol figure and its baseline side by side in the same run and prints
# one JSON object per line: {"name","value","unit","baseline","ratio"}
# (baseline/ratio null when there is nothing to compare). Rows written with
# bench/lib/stats.py run the two interleaved over rounds and add "spread"
# (min-max of the per-round ratios), "value_spread", "rounds" and, with a
# goal, "goal" and "verdict" (met, missed, straddles). This script prints
# them as a table and writes bench/results/latest.json: a list of those
# objects, every field kept, each with the kernel and machine it ran on.
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
OPS = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b,
       ">=": lambda a, b: a >= b, ">": lambda a, b: a > b}
def spread(v, sp, g=None):
    """V [LO-HI] to 2 places; 3 where 2 would hide on which side of the
    goal G (a goal dict judged on this column) a figure lies."""
    if not sp:
        return fmt(v)
    def short(x):
        if not isinstance(x, float):
            return str(x)
        if g and g["op"] in OPS:
            meets = OPS[g["op"]]
            if meets(x, g["limit"]) != meets(round(x, 2), g["limit"]):
                return f"{x:.3f}"
        return f"{x:.2f}"
    return f"{short(v)} [{short(sp[0])}-{short(sp[1])}]"
def goal(r):
    g = r.get("goal")
    if not g:
        return ""
    on = "" if g.get("on") == ("ratio" if r.get("baseline") is not None else "value") else f" ({g['on']})"
    return f"{g['op']}{g['limit']}{on} {r.get('verdict', '?')}"
verdicts = {"met": 0, "missed": 0, "straddles": 0}
w = min(72, max([len(r["name"]) for r in rows] + [3]))
print(f"{'row':{w}} {'vaultvol':>22} {'baseline':>12} {'unit':>6} {'ratio':>20}  goal")
for r in rows:
    g = r.get("goal") or {}
    # The value's spread where the value is what the row is about: no
    # baseline, or a goal on the value.
    vs = r.get("value_spread") if r["baseline"] is None or g.get("on") == "value" else None
    val = spread(r["value"], vs, g if g.get("on") == "value" else None)
    rat = spread(r["ratio"], r.get("spread"), g if g.get("on") == "ratio" else None)
    print(f"{r['name']:{w}} {val:>22} {fmt(r['baseline']):>12} {r['unit']:>6} {rat:>20}  "
          f"{goal(r)}".rstrip())
    if r.get("verdict") in verdicts:
        verdicts[r["verdict"]] += 1
print(f"\ngoals: {verdicts['met']} met, {verdicts['missed']} missed, {verdicts['straddles']} straddle")
print(f"{len(rows)} rows on {machine}; host kernel {kernel} (guest rows name their kernel)")
print("ratio = vaultvol / baseline: below 1 is better for times and costs; [min-max] over the rounds.")
PY
echo "bench: results in bench/results/latest.json"
[ $failed -eq 0 ]
