#!/bin/sh
# Pre-snapshot script of the test "application" (dbapp.py): ask it to pause,
# wait until it has, then checkpoint and truncate the SQLite WAL so the
# database file alone is complete.
touch /tmp/app.pause
i=0
while [ ! -e /tmp/app.paused ]; do
	i=$((i + 1))
	[ $i -gt 400 ] && { echo "application did not pause"; exit 1; }
	sleep 0.05
done
out=$(sqlite3 -cmd ".timeout 10000" /data/db/app.db "PRAGMA wal_checkpoint(TRUNCATE);") || exit 1
echo "checkpoint: $out"
# busy|log frames|checkpointed frames: busy must be 0.
[ "${out%%|*}" = 0 ]
