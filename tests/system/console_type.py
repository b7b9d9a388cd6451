#!/usr/bin/env python3
"""console_type.py SOCKET PATTERN FILE: the host's hand on a guest's serial
console (tests/system/lib.sh, sys_boot --type), e.g. the recovery
passphrase typed at cryptroot's prompt.

Connects to QEMU's console socket (QEMU waits for it: server=on,wait=on, so
nothing the guest writes is missed), reads everything the guest writes
until QEMU exits (QEMU's logfile= writes console.log; this only looks, and
keeps reading so the guest's console never blocks), and once PATTERN has
appeared writes FILE's content (a trailing newline dropped) and a newline to
the console, once. The content is never printed or logged: only its length.

Exit 0 when it was typed, 1 when the guest's output ended without PATTERN,
2 when the socket never came or FILE could not be read."""
import socket
import sys
import time

CONNECT_S = 120
SETTLE_S = 1.0  # after the prompt: the reader is at its read()


def main():
    path, pattern, keyfile = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
    deadline = time.monotonic() + CONNECT_S
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            break
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                print("console_type: no console socket %s after %d s" % (path, CONNECT_S))
                return 2
            time.sleep(0.1)
    print("console_type: connected; waiting for %r" % pattern.decode())
    sys.stdout.flush()
    tail, typed, t0 = b"", False, time.monotonic()
    while True:
        data = s.recv(65536)
        if not data:
            break
        if typed:
            continue
        tail = (tail + data)[-(len(pattern) + 65536):]
        if pattern not in tail:
            continue
        time.sleep(SETTLE_S)
        try:
            with open(keyfile, "rb") as f:
                key = bytearray(f.read())
        except OSError as e:
            print("console_type: cannot read the text to type: %s" % e.strerror)
            return 2
        while key[-1:] in (b"\n", b"\r"):
            del key[-1:]
        s.sendall(bytes(key) + b"\n")
        print("console_type: typed %d bytes and a newline, %.0f s after connecting, "
              "when %r appeared" % (len(key), time.monotonic() - t0, pattern.decode()))
        sys.stdout.flush()
        key[:] = bytes(len(key))
        typed = True
    if not typed:
        print("console_type: the console ended without %r; nothing typed" % pattern.decode())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
