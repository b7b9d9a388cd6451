#!/usr/bin/env python3
"""Check a restored copy against what was acknowledged when it was taken.

  checker.py RECORDS ACKED_RECORDS DB ACKED_ROWS [RECORDS ACKED_RECORDS DB ACKED_ROWS]...

RECORDS (writer.py): every record 1..ACKED_RECORDS present, numbered in
sequence, checksums right, no torn record (the file ends on a record
boundary); at most one more record than acknowledged (the writer cannot
have got further while frozen).
DB (dbapp.py, quiesced by the pre-script): PRAGMA integrity_check is "ok",
rows are 1..N with valid checksums, N == ACKED_ROWS (the application was
paused, so nothing after the acknowledgement can be in the copy).
Prints one JSON line per copy; exit status 1 when any copy fails.
"""

import hashlib
import json
import sqlite3
import sys


def check_records(path, acked):
    problems = []
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        problems.append("torn record at the end (%d bytes after the last newline)"
                        % (len(data) - data.rfind(b"\n") - 1))
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        lines.pop()  # the torn tail, already reported
    for i, line in enumerate(lines, 1):
        parts = line.decode(errors="replace").split(" ")
        if len(parts) != 3 or not parts[0].isdigit():
            problems.append("record %d malformed" % i)
            continue
        n, payload, chk = int(parts[0]), parts[1], parts[2]
        if n != i:
            problems.append("record %d numbered %d" % (i, n))
        want = hashlib.sha256(("%d %s" % (n, payload)).encode()).hexdigest()[:16]
        if chk != want:
            problems.append("record %d checksum mismatch" % i)
        if len(problems) > 10:
            break
    count = len(lines)
    if count < acked:
        problems.append("only %d records, %d were acknowledged before the snapshot"
                        % (count, acked))
    if count > acked + 1:
        problems.append("%d records but only %d acknowledged: the writer was not held"
                        % (count, acked))
    return count, problems


def check_db(path, acked):
    problems = []
    con = sqlite3.connect(path)
    ic = [r[0] for r in con.execute("PRAGMA integrity_check")]
    if ic != ["ok"]:
        problems.append("integrity_check: %s" % "; ".join(ic[:5]))
    rows = con.execute("SELECT id, payload, chk FROM t ORDER BY id").fetchall()
    for i, (n, payload, chk) in enumerate(rows, 1):
        if n != i:
            problems.append("row %d has id %d" % (i, n))
            break
        if hashlib.sha256(("%d %s" % (n, payload)).encode()).hexdigest()[:16] != chk:
            problems.append("row %d checksum mismatch" % n)
            break
    if len(rows) != acked:
        problems.append("%d rows, %d acknowledged at the snapshot (application paused)"
                        % (len(rows), acked))
    con.close()
    return len(rows), ic[0] if ic else "", problems


def main():
    args = sys.argv[1:]
    if not args or len(args) % 4:
        sys.exit(__doc__)
    failed = 0
    for i in range(0, len(args), 4):
        rec_path, rec_acked, db_path, db_acked = args[i], int(args[i + 1]), args[i + 2], int(args[i + 3])
        count, p1 = check_records(rec_path, rec_acked)
        rows, ic, p2 = check_db(db_path, db_acked)
        out = {"copy": i // 4 + 1, "records": count, "records_acked": rec_acked, "rows": rows,
               "rows_acked": db_acked, "integrity": ic, "problems": p1 + p2}
        print(json.dumps(out))
        failed += bool(out["problems"])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
