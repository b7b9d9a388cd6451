#!/usr/bin/env python3
"""An "application": an SQLite database in WAL mode under a steady insert load.

  dbapp.py DB ACKS STOP PAUSE PAUSED

Each row (id, payload, chk) is inserted in its own transaction
(synchronous=FULL); after the commit "id" is appended to ACKS. While the
file PAUSE exists the application quiesces: it finishes the current
transaction, creates PAUSED and waits (what a pre-snapshot script asks of
it); it resumes when PAUSE is gone. Stops when STOP exists.
"""

import hashlib
import os
import random
import sqlite3
import sys
import time


def main():
    db, acks, stop, pause, paused = sys.argv[1:6]
    con = sqlite3.connect(db, timeout=30, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, payload TEXT, chk TEXT)")
    n = con.execute("SELECT COALESCE(MAX(id), 0) FROM t").fetchone()[0]
    afd = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    rnd = random.Random(os.getpid())
    while not os.path.exists(stop):
        if os.path.exists(pause):
            if not os.path.exists(paused):
                open(paused, "w").close()
            time.sleep(0.02)
            continue
        if os.path.exists(paused):
            os.unlink(paused)
        n += 1
        payload = "%x" % rnd.getrandbits(rnd.randint(32, 2000))
        chk = hashlib.sha256(("%d %s" % (n, payload)).encode()).hexdigest()[:16]
        con.execute("BEGIN")
        con.execute("INSERT INTO t VALUES (?, ?, ?)", (n, payload, chk))
        con.execute("COMMIT")
        os.write(afd, b"%d\n" % n)
    con.close()


if __name__ == "__main__":
    main()
