#!/bin/bash
# Runs every cmocka unit test binary in BUILD/tests and sums the results.
# Usage: tests/unit/run.sh BUILD_DIR   (run from the repository root)
# Prints each binary's cmocka output, then "unit(<dir>): N passed, N failed".
# A binary that crashes or exits non-zero without reporting counts as failed.
set -u
build=${1:-build}
passed=0 failed=0 ran=0
export VV_SRCDIR=$PWD
export VV_SHARED=${VV_SHARED:-$PWD/../shared}
# Sanitizer builds: fail hard on the first report, and report leaks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	ran=$((ran + 1))
	out=$(mktemp)
	timeout 600 "$t" >"$out" 2>&1
	rc=$?
	cat "$out"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
	p=${p:-0} f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "unit: $(basename "$t") exited with status $rc"
		f=1
	fi
	passed=$((passed + p)) failed=$((failed + f))
	rm -f "$out"
done
if [ "$ran" -eq 0 ] || [ $((passed + failed)) -eq 0 ]; then
	echo "unit($build): no tests ran"
	failed=$((failed + 1))
fi
echo "unit($build): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
