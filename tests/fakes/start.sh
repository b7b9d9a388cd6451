#!/bin/sh
# start.sh STATE_DIR [fakes.py options...]: start the fakes in the background
# (log in STATE_DIR/fakes.log), wait until STATE_DIR/ready exists, print the
# pid.  Exits 1 if they do not come up within $FAKES_START_TIMEOUT seconds
# (default 60; key generation on a slow guest takes a while).
# busybox-sh compatible.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: start.sh STATE_DIR [fakes.py options]}
shift
mkdir -p "$dir"
rm -f "$dir/ready"
py=${FAKES_PYTHON:-/usr/bin/python3}
"$py" -S "$here/fakes.py" --state-dir "$dir" "$@" >"$dir/fakes.log" 2>&1 </dev/null &
pid=$!
echo "$pid" > "$dir/fakes.pid"
limit=$(( ${FAKES_START_TIMEOUT:-60} * 10 ))
i=0
while [ ! -f "$dir/ready" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "start.sh: fakes exited; log follows" >&2
        cat "$dir/fakes.log" >&2
        exit 1
    fi
    i=$((i + 1))
    if [ "$i" -gt "$limit" ]; then
        echo "start.sh: fakes not ready after ${FAKES_START_TIMEOUT:-60}s" >&2
        kill "$pid" 2>/dev/null || true
        exit 1
    fi
    sleep 0.1
done
echo "$pid"
