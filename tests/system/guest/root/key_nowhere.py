#!/usr/bin/env python3
"""key_nowhere.py INITRAMFS_DIR [NAME=FILE]...: the vault's secrets of the
fakes' state (/var/lib/vv-fakes/state.json), raw and base64, or, when
NAME=FILE arguments are given, each FILE's content (a trailing newline
dropped; e.g. a passphrase), in none of the unpacked initramfs's files, the
journal or /run. Exit 1 on a hit or when a place has no files to look at."""
import base64
import glob
import json
import os
import sys

needles = {}
for arg in sys.argv[2:]:
    name, _, path = arg.partition("=")
    needles[name] = open(path, "rb").read().rstrip(b"\r\n")
if len(sys.argv) == 2:
    for op in json.load(open("/var/lib/vv-fakes/state.json")).get("ops", []):
        if op.get("op") == "put_secret" and op.get("value"):
            needles["vault secret %s (base64)" % op["name"]] = op["value"][:24].encode()
            needles["vault secret %s (raw)" % op["name"]] = base64.b64decode(op["value"])


def files(top):
    for d, _, fs in os.walk(top):
        for f in fs:
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                yield p


places = {
    "initramfs": list(files(sys.argv[1])),
    "journal": [f for d in ("/var/log/journal", "/run/log/journal")
                for f in glob.glob(d + "/**/*.journal*", recursive=True)],
    "/run": list(files("/run")),
}
hits, bad = [], False
for where, fl in places.items():
    size = 0
    for f in fl:
        try:
            data = open(f, "rb").read()
        except OSError:
            continue
        size += len(data)
        hits += ["%s in %s" % (k, f) for k, v in needles.items() if len(v) >= 16 and v in data]
    print("%s: %d files, %d bytes" % (where, len(fl), size))
    bad = bad or not fl
print("key-nowhere: %d needles; hits: %s" % (len(needles), hits or "none"))
sys.exit(1 if hits or bad or not needles else 0)
