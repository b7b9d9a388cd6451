#!/usr/bin/env python3
"""Host half of the fake backup service (tests/fakes/backup_service.py).

Connects to the virtio-serial port's host end (the unix socket QEMU made,
$VM_WORK/NAME.sock), then answers one JSON object per line:

  {"op": "hello"}                      -> {"ok": true}
  {"op": "copy", "seq": N, "snapshot_id": ID, "notes": {...}}
      copies every disk image (cp --sparse=always) into DEST/N/ while the
      guest is frozen, writes DEST/N/meta.json (the request, with its
      notes, and the copy time) -> {"ok": true, "seq": N, "copy_ms": ...}

Runs until the guest powers off (EOF) or --timeout passes. Nothing here
touches the network: a unix socket on the host only.
"""

import argparse
import glob
import json
import os
import socket
import subprocess
import sys
import time


def connect(path, deadline):
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def copy_images(images, dest):
    os.makedirs(dest, exist_ok=True)
    for img in images:
        subprocess.run(["cp", "--sparse=always", img, os.path.join(dest, os.path.basename(img))],
                       check=True)


def main():
    ap = argparse.ArgumentParser(description="host side of the fake backup service")
    ap.add_argument("--socket", required=True)
    ap.add_argument("--images", nargs="+", required=True, help="image files to copy")
    ap.add_argument("--dest", required=True)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--log")
    args = ap.parse_args()
    log = open(args.log, "a") if args.log else sys.stderr
    deadline = time.monotonic() + args.timeout
    s = connect(args.socket, deadline)
    print("backup_host: connected to %s" % args.socket, file=log, flush=True)
    buf = b""
    while time.monotonic() < deadline:
        s.settimeout(max(1.0, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if not line.strip():
                continue
            try:
                req = json.loads(line)
            except ValueError:
                print("backup_host: bad line %r" % line[:200], file=log, flush=True)
                continue
            op = req.get("op")
            if op == "hello":
                ans = {"ok": True}
            elif op == "copy":
                seq = int(req.get("seq", 0))
                dest = os.path.join(args.dest, str(seq))
                t0 = time.monotonic()
                try:
                    copy_images(args.images, dest)
                    ms = int((time.monotonic() - t0) * 1000)
                    meta = dict(req, copy_ms=ms, images=[os.path.basename(i) for i in args.images])
                    with open(os.path.join(dest, "meta.json"), "w") as f:
                        json.dump(meta, f)
                    ans = {"ok": True, "seq": seq, "copy_ms": ms}
                except Exception as e:
                    ans = {"ok": False, "seq": seq, "error": str(e)}
                print("backup_host: copy %d -> %s" % (seq, json.dumps(ans)), file=log, flush=True)
            else:
                ans = {"ok": False, "error": "unknown op"}
            s.sendall(json.dumps(ans).encode() + b"\n")
    print("backup_host: done", file=log, flush=True)


if __name__ == "__main__":
    main()
