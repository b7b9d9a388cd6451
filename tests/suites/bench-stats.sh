#!/bin/bash
# The bench's arithmetic and its memory probe, on the host: bench/lib/
# stats.py (medians, paired rounds, goal verdicts including a spread that
# straddles the goal from either side, refusals), vm_metrics.series, and
# build/vm-tools/vv-memprobe (a plausible PSS for a command that exits at
# once, a 20 MiB allocation seen, the command's exit status and output
# passed through). A few seconds.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/suites/lib/common.bash

# Each check in Python prints "ok NAME" or "FAIL NAME: DETAIL".
checks=$(python3 - <<'PY' 2>&1
import io, json, sys
from contextlib import redirect_stdout
sys.path.insert(0, "bench/lib")
import stats, vm_metrics

def check(name, got, want):
    if got == want:
        print("ok %s" % name)
    else:
        print("FAIL %s: got %r, want %r" % (name, got, want))

def raises(name, f):
    try:
        f()
    except ValueError as e:
        print("ok %s (%s)" % (name, e))
    else:
        print("FAIL %s: no ValueError" % name)

def emitted(*a, **k):
    buf = io.StringIO()
    with redirect_stdout(buf):
        stats.emit(*a, **k)
    lines = buf.getvalue().splitlines()
    return json.loads(lines[0]) if len(lines) == 1 else lines

check("median of an odd count", stats.median([5, 1, 3]), 3)
check("median of an even count is the mean of the middle two", stats.median([4, 1, 3, 2]), 2.5)
check("median of one", stats.median([7.5]), 7.5)
raises("median of nothing is refused", lambda: stats.median([]))

p = stats.paired([10, 12, 9, 11], [10, 10, 10, 10])
check("paired: medians and median ratio",
      (p["value"], p["baseline"], p["ratio"], p["rounds"]), (10.5, 10, 1.05, 4))
check("paired: spread is min-max of the per-round ratios", p["spread"], [0.9, 1.2])
p = stats.paired([1, 2, 3], [3, 3, 3])
check("paired: ratio to 3 places", (p["ratio"], p["spread"]), (0.667, [0.333, 1.0]))
check("paired: ints stay ints", (type(p["value"]), type(p["baseline"])), (int, int))
p = stats.paired([1.23456, 2.0], [1.0, 1.0])
check("paired: floats to 3 places", p["value"], 1.617)
raises("paired: lengths that differ are refused", lambda: stats.paired([1, 2], [1]))
raises("paired: no rounds is refused", lambda: stats.paired([], []))
raises("paired: a zero baseline round is refused", lambda: stats.paired([1, 2], [1, 0]))
raises("paired: a non-number is refused", lambda: stats.paired([1, None], [1, 1]))

r = emitted("t", "us", [90, 95, 100], [100, 100, 100], goal=("<=", 1.0))
check("emit: goal on the ratio, met", (r["goal"], r["verdict"]),
      ({"op": "<=", "limit": 1.0, "on": "ratio"}, "met"))
check("emit: paired fields", (r["value"], r["baseline"], r["ratio"], r["spread"], r["rounds"]),
      (95, 100, 0.95, [0.9, 1.0], 3))
# Verdicts, one case a line: rounds vs a baseline of 1 (or 100), goal, verdict.
for what, vv, base, goal, want in (
        ("goal on the ratio, missed", [110, 120, 130], [100] * 3, ("<=", 1.0), "missed"),
        ("median meets, spread crosses: straddles", [90, 98, 105], [100] * 3, ("<=", 1.0), "straddles"),
        ("median misses, part of the spread meets: straddles", [95, 103, 104], [100] * 3, ("<=", 1.0),
         "straddles"),
        (">= goal met", [0.995, 0.999, 1.01], [1] * 3, (">=", 0.99), "met"),
        (">= goal straddles", [0.98, 0.995, 1.0], [1] * 3, (">=", 0.99), "straddles"),
        (">= goal missed", [0.9, 0.95, 0.97], [1] * 3, (">=", 0.99), "missed")):
    check("emit: " + what, emitted("t", "x", vv, base, goal=goal)["verdict"], want)

r = emitted("k", "VMs", [200, 200, 199, 200, 200], goal=(">=", 200))
check("emit without baseline: median, value_spread, nulls",
      (r["value"], r["value_spread"], r["rounds"], r["baseline"], r["ratio"]),
      (200, [199, 200], 5, None, None))
check("emit without baseline: goal on the value straddles",
      (r["goal"]["on"], r["verdict"]), ("value", "straddles"))
check("emit without baseline: no ratio spread", "spread" in r, False)
r = emitted("k", "VMs", [200, 200, 200], goal=(">=", 200))
check("emit without baseline: goal on the value met", r["verdict"], "met")
r = emitted("x", "x", [1.2, 1.25, 1.28], [3.0, 3.5, 4.0], goal=("<=", 1.3), goal_on="value")
check("emit: goal_on=value with a baseline", (r["goal"]["on"], r["verdict"], r["ratio"]),
      ("value", "met", 0.357))
r = emitted("m", "KiB", [7100, 7149, 7130], kernel="guest 6.1", note="idle")
check("emit: extra fields kept, no goal no verdict",
      (r["kernel"], r["note"], "goal" in r, "verdict" in r), ("guest 6.1", "idle", False, False))
check("emit: one JSON line", isinstance(r, dict), True)
raises("emit: a goal with an unknown operator is refused",
       lambda: emitted("t", "x", [1], goal=("~", 1)))
raises("emit: no rounds is refused", lambda: emitted("t", "x", []))

m = {"open_ms_r1": 10.0, "open_ms_r2": 12.0, "open_ms_r3": 11.0, "open_ms_r5": 99.0, "open_ms": 11}
check("vm_metrics.series: rounds in order, up to the first gap",
      vm_metrics.series(m, "open_ms"), [10.0, 12.0, 11.0])
check("vm_metrics.series: none stored", vm_metrics.series(m, "close_ms"), [])
PY
)
while IFS= read -r line; do
	case $line in
	"ok "*) ok "${line#ok }" ;;
	"FAIL "*) bad "${line#FAIL }" ;;
	*) bad "stats checks printed: $line" ;;
	esac
done <<<"$checks"

# vv-memprobe: "vv-memprobe: peak_rss_kib=N peak_pss_kib=N ..." on stderr.
P=build/vm-tools/vv-memprobe
[ -x $P ] || make -s -j2 $P >/dev/null
T=$(mktemp -d /tmp/vv-bench-stats.XXXXXX)
trap 'rm -rf "$T"' EXIT
field() { sed -n "s/^vv-memprobe: .*\\b$1=\\([0-9]*\\).*/\\1/p" "$2"; }

$P -- /bin/true 2>"$T/true.err"
rc=$? pss=$(field peak_pss_kib "$T/true.err") rss=$(field peak_rss_kib "$T/true.err")
if [ $rc -eq 0 ] && [ "${pss:-0}" -gt 0 ] && [ "${pss:-0}" -le "${rss:-0}" ] && [ "${rss:-0}" -lt 65536 ]; then
	ok "/bin/true, which exits at once: PSS $pss KiB, RSS $rss KiB"
else
	bad "/bin/true measured" "rc $rc; $(cat "$T/true.err")"
fi
# bytearray() zero-fills, so its pages are touched; the growth over an
# idle interpreter is the allocation (the allocation is freed before the
# exit stop: only the kernel's high-water mark sees it whole).
$P -- python3 -c 'pass' 2>"$T/py0.err"
$P -- python3 -c 'b = bytearray(20 << 20)' 2>"$T/py.err"
rc=$? rss=$(field peak_rss_kib "$T/py.err") rss0=$(field peak_rss_kib "$T/py0.err")
if [ $rc -eq 0 ] && [ "${rss:-0}" -ge 20480 ] && [ $((${rss:-0} - ${rss0:-0})) -ge 19456 ]; then
	ok "20 MiB allocated and touched: peak RSS $rss KiB, $rss0 KiB without it"
else
	bad "20 MiB allocated and touched" "rc $rc; $(cat "$T/py0.err" "$T/py.err")"
fi
$P --interval-ms 1 -- sh -c 'exit 3' 2>"$T/exit.err"
rc=$?
if [ $rc -eq 3 ] && [ "$(field exit "$T/exit.err")" = 3 ]; then
	ok "exit status 3 passed through and reported"
else
	bad "exit status 3 passed through" "rc $rc; $(cat "$T/exit.err")"
fi
$P -- sh -c 'kill -TERM $$' 2>"$T/sig.err"
rc=$?
if [ $rc -eq 143 ]; then ok "killed by SIGTERM: 128 + 15"; else bad "killed by SIGTERM: 128 + 15" "rc $rc"; fi
out=$($P -- sh -c 'sleep 0.05 & wait; echo out; echo err >&2' 2>"$T/io.err")
if [ "$out" = out ] && [ "$(head -1 "$T/io.err")" = err ] && [ "$(grep -c '^vv-memprobe:' "$T/io.err")" = 1 ]; then
	ok "stdout and stderr passed through, one probe line after them"
else
	bad "stdout and stderr passed through" "stdout '$out'; stderr $(cat "$T/io.err")"
fi
$P -- /nonexistent/cmd 2>"$T/none.err"
rc=$?
if [ $rc -eq 127 ] && grep -q 'nonexistent/cmd' "$T/none.err"; then
	ok "a command that cannot run: 127 and its name"
else
	bad "a command that cannot run: 127" "rc $rc; $(cat "$T/none.err")"
fi
finish
