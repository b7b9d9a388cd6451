#!/usr/bin/env python3
"""The baseline of the freeze bench: what a sequential `fsfreeze` loop does.

  fsfreeze_loop.py MOUNT...

Runs `fsfreeze -f` on each mount in order, then (the snapshot would go
here) `fsfreeze -u` in reverse order, and prints the freeze window in ms:
from the start of the first freeze to the end of the last thaw.
"""

import subprocess
import sys
import time

FSFREEZE = "/sbin/fsfreeze"


def main():
    mounts = sys.argv[1:]
    t0 = time.monotonic()
    for m in mounts:
        subprocess.run([FSFREEZE, "-f", m], check=True)
    for m in reversed(mounts):
        subprocess.run([FSFREEZE, "-u", m], check=True)
    print(int((time.monotonic() - t0) * 1000))


if __name__ == "__main__":
    main()
