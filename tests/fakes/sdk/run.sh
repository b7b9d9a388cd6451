#!/bin/sh
# run.sh: drive the fakes with Microsoft's official Key Vault JS clients.
# Starts the fakes on free ports, installs the pinned SDK (npm ci) only when
# node_modules is missing, runs fidelity.mjs, stops the fakes.  Prints one
# line per check and "N passed, M failed"; exits non-zero on any failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
fakes=$(dirname "$here")
state=$(mktemp -d "${TMPDIR:-/tmp}/fakes-sdk.XXXXXX")
cleanup() {
    "$fakes/stop.sh" "$state" >/dev/null 2>&1
    rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail_setup() {
    echo "FAIL $1"
    echo "0 passed, 1 failed"
    exit 1
}

command -v node >/dev/null 2>&1 || fail_setup "node not installed"
if [ ! -d "$here/node_modules/@azure/keyvault-secrets" ] || \
   [ ! -d "$here/node_modules/@azure/keyvault-keys" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >"$state/npm.log" 2>&1) || {
        cat "$state/npm.log" >&2
        fail_setup "npm ci"
    }
fi

"$fakes/start.sh" "$state" --quiet >/dev/null || fail_setup "fakes did not start"

# Everything stays on loopback: no proxy for the SDK.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
NO_PROXY=127.0.0.1,localhost,::1
export NO_PROXY
ca=$(sed -n "s/^FAKE_CA='\(.*\)'$/\1/p" "$state/ports.env")
(cd "$here" && NODE_EXTRA_CA_CERTS="$ca" node fidelity.mjs "$state")
rc=$?
if [ $rc -ne 0 ] && [ -s "$state/fakes.log" ]; then
    echo "--- fakes.log (tail)" >&2
    tail -n 30 "$state/fakes.log" >&2
fi
exit $rc
