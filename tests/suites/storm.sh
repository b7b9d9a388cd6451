#!/bin/bash
# A bounded restore storm (docs/storm.md): 50 simulated VMs, each its own
# process with its own IMDS identity, key their 4 volumes (2 KEK-wrapped)
# at once with the product's vault code against the fake vault throttling
# at 20 secret reads (and 20 key operations) per 1 s window, with 429 +
# Retry-After and a 503 every 50th admitted request. Fails when a VM is
# not keyed or the requests exceed 1.5x the minimum (8 per VM). ~30 s.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/suites/lib/common.bash
N=50
if tests/bench/storm_build.sh build; then
	ok "storm_vm built on build/libvault.a"
else
	bad "storm_vm built on build/libvault.a"
	finish
fi
out=$(python3 tests/bench/storm.py --vms $N --limit 20 --no-baseline 2>&1)
s=$(printf '%s\n' "$out" | sed -n 's/^{"storm": \(.*\)}$/\1/p' | head -1)
if [ -z "$s" ]; then
	bad "storm ran" "$(printf '%s\n' "$out" | tail -5)"
	finish
fi
echo "$s"
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$s" "$1"; }
keyed=$(field keyed) requests=$(field requests) minimum=$(field minimum)
throttled=$(field throttled) errors=$(field errors)
if [ "$keyed" -eq $N ]; then ok "all $N VMs keyed"; else bad "all $N VMs keyed" "$keyed keyed; $errors"; fi
if [ "$throttled" -gt 0 ]; then
	ok "the vault throttled ($throttled 429s): a storm, not a queue"
else
	bad "the vault throttled" "no 429 at all: the storm is not one"
fi
if [ $((requests * 2)) -le $((minimum * 3)) ]; then
	ok "requests $requests <= 1.5 x minimum $minimum"
else
	bad "requests $requests <= 1.5 x minimum $minimum"
fi
finish
