#!/bin/sh
# stop.sh STATE_DIR: SIGTERM the fakes started by start.sh in STATE_DIR and
# wait (up to 10 s) until the process is gone.  busybox-sh compatible.
set -eu
dir=${1:?usage: stop.sh STATE_DIR}
[ -f "$dir/fakes.pid" ] || exit 0
pid=$(cat "$dir/fakes.pid")
kill -TERM "$pid" 2>/dev/null || { rm -f "$dir/fakes.pid"; exit 0; }
i=0
gone() { # a zombie nobody reaps (no init in a container) counts as gone
    ! kill -0 "$pid" 2>/dev/null || grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null
}
while ! gone; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then
        echo "stop.sh: fakes (pid $pid) still running after 10s" >&2
        exit 1
    fi
    sleep 0.1
done
rm -f "$dir/fakes.pid"
