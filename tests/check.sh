#!/bin/bash
# The whole test suite: what `make check` and CI run.
#   deps -> build (userspace + module for each kernel) -> unit (plain) ->
#   unit (ASan+UBSan) -> host suites (tests/suites/*.sh) -> guest suite
#   (busybox tier) -> system suite (booted Debian 12 tier).
# Every suite ends its output with "N passed, N failed"; this script sums
# them, prints a table and the total time, and ends with the same kind of
# line. A suite that ran nothing counts as a failure.
set -u
cd "$(dirname "$0")/.." || exit 2
t0=$SECONDS
log_dir=build/check
mkdir -p "$log_dir"
: >"$log_dir/summary"
total_p=0 total_f=0

# run_suite NAME CMD...: run, tee output, pick the closing line.
run_suite() {
	local name=$1 t=$SECONDS line p f
	shift
	echo "=== $name"
	"$@" 2>&1 | tee "$log_dir/$name.log"
	local rc=${PIPESTATUS[0]}
	line=$(grep -E '([0-9]+) passed, ([0-9]+) failed' "$log_dir/$name.log" | tail -1)
	p=$(echo "$line" | sed -nE 's/^(.*[^0-9])?([0-9]+) passed, ([0-9]+) failed.*/\2/p')
	f=$(echo "$line" | sed -nE 's/^(.*[^0-9])?([0-9]+) passed, ([0-9]+) failed.*/\3/p')
	p=${p:-0} f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	if [ $((p + f)) -eq 0 ]; then f=1; fi
	printf '%-22s %5d passed %4d failed %6d s\n' "$name" "$p" "$f" $((SECONDS - t)) >>"$log_dir/summary"
	total_p=$((total_p + p)) total_f=$((total_f + f))
}

# Dependencies and the build are preconditions: without them no suite can run.
echo "=== deps"
if ! tests/deps.sh; then
	echo "check: dependencies could not be installed"
	echo "0 passed, 1 failed"
	exit 1
fi
echo "=== build"
if ! make -j2 all; then
	echo "check: build failed"
	echo "0 passed, 1 failed"
	exit 1
fi
run_suite unit make -j2 unit
run_suite unit-asan make -j2 unit-asan
for s in tests/suites/*.sh; do
	[ -e "$s" ] || continue
	run_suite "$(basename "$s" .sh)" bash "$s"
done
run_suite vm tests/vm/run.sh --suite
run_suite system tests/system/run.sh --suite

echo
echo "=== summary"
cat "$log_dir/summary"
echo "check: total time $((SECONDS - t0)) s"
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
