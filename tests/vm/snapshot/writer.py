#!/usr/bin/env python3
"""Append checksummed, numbered records; acknowledge each after fsync.

  writer.py RECORDS ACKS STOP

Record n (from 1): "%08d <payload> <sha256(n payload)[:16]>\\n" written with
one write() and fsync()ed; only then is "n" appended to ACKS (on a
filesystem that is not snapshotted). Payload lengths vary (10..600
characters) so records straddle page boundaries. Stops when STOP exists.
"""

import hashlib
import os
import random
import sys

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def record(n, rnd):
    payload = "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(10, 600)))
    chk = hashlib.sha256(("%d %s" % (n, payload)).encode()).hexdigest()[:16]
    return ("%08d %s %s\n" % (n, payload, chk)).encode()


def main():
    path, acks, stop = sys.argv[1:4]
    n = 0
    if os.path.exists(path):
        with open(path, "rb") as f:
            n = sum(1 for _ in f)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    afd = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    rnd = random.Random(os.getpid())
    while not os.path.exists(stop):
        n += 1
        rec = record(n, rnd)
        assert os.write(fd, rec) == len(rec)
        os.fsync(fd)
        os.write(afd, b"%d\n" % n)
    os.close(fd)
    os.close(afd)


if __name__ == "__main__":
    main()
