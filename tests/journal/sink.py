#!/usr/bin/env python3
"""A stand-in for journald's native socket, for host tests.

Binds an AF_UNIX datagram socket (inside a private mount namespace the test
makes, at /run/systemd/journal/socket), decodes each datagram of systemd's
native journal protocol (systemd's docs: "Native Journal Protocol": lines
FIELD=value, or FIELD\\n + 64-bit little-endian length + value + \\n; a large
entry arrives as a sealed memfd passed with SCM_RIGHTS) and appends every
entry as one JSON object per line to OUT. Also keeps the raw bytes in
OUT.raw, so a test can grep them for key material.

usage: sink.py SOCKET OUT READY_FILE
"""
import array
import json
import os
import signal
import socket
import struct
import sys


def parse(data):
    fields, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            (n,) = struct.unpack_from("<Q", data, nl + 1)
            v = data[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
        fields[k.decode()] = v.decode(errors="replace")
    return fields


def main():
    path, out, ready = sys.argv[1:4]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    open(ready, "w").close()
    with open(out, "a") as fo, open(out + ".raw", "ab") as fr:
        while True:
            fds = array.array("i")
            data, anc, _, _ = s.recvmsg(1 << 20, socket.CMSG_SPACE(4))
            for lvl, typ, cd in anc:
                if lvl == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    fds.frombytes(cd[:len(cd) - len(cd) % 4])
            for fd in fds:
                with os.fdopen(fd, "rb") as f:
                    data = f.read()
            fr.write(data)
            fr.flush()
            fo.write(json.dumps(parse(data)) + "\n")
            fo.flush()


if __name__ == "__main__":
    main()
