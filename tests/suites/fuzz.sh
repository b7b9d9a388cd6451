# Fuzzing in CI: build the libFuzzer harnesses (clang, ASan+UBSan, in
# build-fuzz/), replay every committed corpus and fuzz each harness afresh
# for FUZZ_FRESH_S seconds (default 10), two at a time. A crash, leak or
# UBSan report fails its harness; fresh-fuzz inputs that fail are kept under
# build-fuzz/crashes/NAME/ and named in the output. Ends "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 2
if ! command -v clang >/dev/null; then
	echo "fuzz: clang is missing (tests/deps.sh installs it)"
	echo "0 passed, 1 failed"
	exit 1
fi
mkdir -p build-fuzz
if ! make -s -j2 fuzz-build >build-fuzz/build.log 2>&1; then
	tail -20 build-fuzz/build.log
	echo "fuzz: the harnesses do not build (build-fuzz/build.log)"
	echo "0 passed, 1 failed"
	exit 1
fi
FUZZ_JOBS=2 exec tests/fuzz/run.sh replay "${FUZZ_FRESH_S:-10}"
