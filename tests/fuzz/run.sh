#!/bin/bash
# Runs the libFuzzer harnesses built in build-fuzz/bin (make fuzz-build).
#
#   tests/fuzz/run.sh fuzz SECONDS [NAME...]    fuzz each harness SECONDS
#   tests/fuzz/run.sh replay SECONDS [NAME...]  same, named for what CI does:
#       the committed corpus is always replayed first, then SECONDS of fresh
#       fuzzing (0: replay only)
#
# Each harness starts from its committed seeds (tests/fuzz/corpus/NAME), with
# tests/fuzz/dict/NAME.dict when there is one, and
# what earlier runs found (build-fuzz/corpus/NAME, never committed by this
# script). A crash, leak, UBSan report, timeout or out-of-memory fails the
# harness; the input is kept under build-fuzz/crashes/NAME/ and named in the
# output. FUZZ_JOBS (default 1) harnesses run at once. Ends with
# "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 2
mode=${1:-}
secs=${2:-}
shift 2 2>/dev/null || true
case "$mode" in fuzz|replay) ;; *) echo "usage: $0 fuzz|replay SECONDS [NAME...]" >&2; exit 2 ;; esac
case "$secs" in ''|*[!0-9]*) echo "run.sh: SECONDS must be a whole number" >&2; exit 2 ;; esac
FZ=build-fuzz
jobs=${FUZZ_JOBS:-1}
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for b in "$FZ"/bin/fuzz_*; do
		[ -x "$b" ] && names+=("${b##*/fuzz_}")
	done
fi
if [ ${#names[@]} -eq 0 ]; then
	echo "run.sh: no harnesses in $FZ/bin (make fuzz-build)"
	echo "0 passed, 1 failed"
	exit 1
fi
mkdir -p "$FZ/logs" "$FZ/results"

# one NAME: run the harness, write a one-line verdict to results/NAME.
one() {
	local n=$1 bin="$FZ/bin/fuzz_$1" seeds="tests/fuzz/corpus/$1"
	local work="$FZ/corpus/$1" crashes="$FZ/crashes/$1" log="$FZ/logs/$1.log"
	local res="$FZ/results/$1" t0=$SECONDS rc execs art why limit pid dict
	mkdir -p "$work" "$crashes"
	if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
		echo "FAIL $n: missing harness or corpus ($bin, $seeds)" >"$res"
		return
	fi
	if [ "$secs" -eq 0 ]; then limit=(-runs=0); else limit=(-max_total_time="$secs"); fi
	# New finds go to the first directory (the work one), never the seeds.
	dict=()
	[ -f "tests/fuzz/dict/$n.dict" ] && dict=(-dict="tests/fuzz/dict/$n.dict")
	"$bin" "${limit[@]}" "${dict[@]}" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$crashes/" "$work" "$seeds" >"$log" 2>&1 &
	pid=$!
	wait "$pid"
	rc=$?
	# A harness that died left its scratch directory (fz_dir) behind.
	rm -rf "/dev/shm/vv-fuzz-$n-$pid" "/tmp/vv-fuzz-$n-$pid"
	execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
	if [ $rc -eq 0 ]; then
		echo "ok   $n: ${execs:-?} executions in $((SECONDS - t0)) s" \
		     "($(ls "$seeds" | wc -l) seeds, $(ls "$work" | wc -l) in the work corpus)" >"$res"
		return
	fi
	art=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -1)
	why=$(grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY:' "$log" |
	      sed -E 's/^==[0-9]+==//' | cut -c1-200)
	echo "FAIL $n: ${why:-exit status $rc}; input: ${art:-none kept}; log: $log" >"$res"
}

running=0 passed=0 failed=0
for n in "${names[@]}"; do
	rm -f "$FZ/results/$n"
	one "$n" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait
for n in "${names[@]}"; do
	line=$(cat "$FZ/results/$n" 2>/dev/null || echo "FAIL $n: no result")
	echo "$line"
	case "$line" in ok*) passed=$((passed + 1)) ;; *) failed=$((failed + 1)) ;; esac
done
echo "fuzz ($mode, ${secs} s each): ${#names[@]} harnesses"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
