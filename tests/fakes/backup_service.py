#!/usr/bin/env python3
"""A fake backup service speaking docs/snapshot-protocol.md.

It listens on loopback (inside the QEMU guest in the VM scenarios, on the
host in unit tests) and takes the "snapshot" when vaultvol says the guest
is frozen:

  --serial PORT     ask the host over a virtio-serial port (a character
                    device such as /dev/vport0p1, or a unix socket path) to
                    copy the guest's disk images; tests/vm/backup_host.py
                    answers on the host side. One JSON object per line.
  --copy-cmd CMD    or run CMD (sh -c) with SNAPSHOT_ID and SNAPSHOT_SEQ set.

--note FILE (repeatable) reads the last line of FILE at the moment of the
snapshot and passes it along ("what the application had acknowledged when
the copy started"); the host helper stores it beside the copy.

Every request body is appended to --dump FILE (one JSON line each), so a
test can check what vaultvol sent. Faults: --take-status N answers
do-snapshot with HTTP N; --take-delay S sleeps before answering;
--prepare-status N refuses the pre-snapshot request.

Stdlib only: the guest has nothing but python3.
"""

import argparse
import http.server
import json
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time

ID_RE = re.compile(r"^/snapshots/([A-Za-z0-9_.-]+)/(take|report)$")


class Channel:
    """Line-oriented JSON requests to the host helper."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        if os.path.exists(path) and not stat_is_socket(path):
            self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
            self.sock = None
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(path)
            self.fd = None
        self.buf = b""

    def _write(self, data):
        if self.sock:
            self.sock.sendall(data)
        else:
            while data:
                n = os.write(self.fd, data)
                data = data[n:]

    def _read_line(self, timeout):
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from the host helper")
            if self.sock:
                self.sock.settimeout(left)
                chunk = self.sock.recv(4096)
            else:
                import select
                r, _, _ = select.select([self.fd], [], [], left)
                if not r:
                    continue
                chunk = os.read(self.fd, 4096)
            if not chunk:
                raise ConnectionError("host helper went away")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def call(self, obj, timeout=60):
        with self.lock:
            self._write(json.dumps(obj).encode() + b"\n")
            while True:
                line = self._read_line(timeout)
                if not line.strip():
                    continue
                ans = json.loads(line)
                # Skip stale answers (e.g. to a hello that timed out earlier).
                if ans.get("seq") == obj.get("seq") or "seq" not in obj:
                    return ans


def stat_is_socket(path):
    import stat
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def last_line(path):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 4096))
            lines = f.read().splitlines()
            return lines[-1].decode(errors="replace") if lines else ""
    except OSError:
        return None


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.by_request = {}    # request_id -> snapshot id
        self.snaps = {}         # id -> dict (JSON-serialisable)
        self.done = {}          # id -> threading.Event, set once taken
        self.seq = 0
        self.channel = Channel(args.serial) if args.serial else None
        self.dump_lock = threading.Lock()

    def dump(self, kind, path, body):
        if not self.args.dump:
            return
        with self.dump_lock, open(self.args.dump, "a") as f:
            f.write(json.dumps({"kind": kind, "path": path, "body": body,
                                "time": time.time()}) + "\n")

    def take(self, snap):
        seq = snap["seq"]
        notes = {p: last_line(p) for p in self.args.note}
        t0 = time.monotonic()
        if self.channel:
            ans = self.channel.call({"op": "copy", "snapshot_id": snap["id"],
                                     "seq": seq, "notes": notes},
                                    timeout=self.args.copy_timeout)
            ok = bool(ans.get("ok"))
            detail = ans
        elif self.args.copy_cmd:
            env = dict(os.environ, SNAPSHOT_ID=snap["id"], SNAPSHOT_SEQ=str(seq))
            rc = subprocess.call(["sh", "-c", self.args.copy_cmd], env=env)
            ok = rc == 0
            detail = {"exit": rc}
        else:
            ok, detail = True, {}
        result = {"status": "taken" if ok else "failed",
                  "snapshot": {"seq": seq, "copy_ms": int((time.monotonic() - t0) * 1000),
                               "notes": notes, "detail": detail}}
        if not ok:
            result["error"] = "copy failed: %s" % json.dumps(detail)
        return result


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        if self.server.state.args.verbose:
            sys.stderr.write("backup_service: " + (fmt % a) + "\n")

    def reply(self, status, obj=None):
        body = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        if obj is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, message):
        self.reply(status, {"error": {"code": code, "message": message}})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None

    def do_POST(self):
        st = self.server.state
        body = self.body()
        st.dump("POST", self.path, body)
        if self.path == "/snapshots":
            return self.prepare(st, body)
        m = ID_RE.match(self.path)
        if m and m.group(2) == "take":
            return self.take(st, m.group(1), body)
        self.error(404, "NotFound", "no such endpoint")

    def do_PUT(self):
        st = self.server.state
        body = self.body()
        st.dump("PUT", self.path, body)
        m = ID_RE.match(self.path)
        if not m or m.group(2) != "report":
            return self.error(404, "NotFound", "no such endpoint")
        with st.lock:
            snap = st.snaps.get(m.group(1))
            if not snap:
                return self.error(404, "SnapshotNotFound", "unknown snapshot")
            snap["report"] = body
            snap["state"] = "reported"
        self.reply(204)

    def do_GET(self):
        st = self.server.state
        if self.path == "/snapshots":
            with st.lock:
                return self.reply(200, {"snapshots": list(st.snaps.values())})
        m = re.match(r"^/snapshots/([A-Za-z0-9_.-]+)$", self.path)
        if m:
            with st.lock:
                snap = st.snaps.get(m.group(1))
            return self.reply(200, snap) if snap else self.error(404, "SnapshotNotFound", "unknown")
        self.error(404, "NotFound", "no such endpoint")

    def prepare(self, st, body):
        if st.args.prepare_status:
            return self.error(st.args.prepare_status, "Refused", "refused by configuration")
        if not isinstance(body, dict) or body.get("protocol") != 1 or \
                not isinstance(body.get("request_id"), str) or \
                not isinstance(body.get("filesystems"), list):
            return self.error(400, "BadRequest", "protocol 1 body expected")
        with st.lock:
            sid = st.by_request.get(body["request_id"])
            if sid:
                return self.reply(200, {"snapshot_id": sid})
            busy = [s for s in st.snaps.values() if s["state"] in ("prepared", "taking")]
            if busy:
                return self.error(409, "SnapshotInProgress",
                                  "snapshot %s is in progress" % busy[0]["id"])
            st.seq += 1
            sid = "snap-%d" % st.seq
            st.by_request[body["request_id"]] = sid
            st.snaps[sid] = {"id": sid, "seq": st.seq, "state": "prepared",
                             "request_id": body["request_id"], "prepare": body,
                             "result": None, "report": None}
            st.done[sid] = threading.Event()
        answer = {"snapshot_id": sid}
        if st.args.max_timeout_ms:
            answer["timeout_ms"] = st.args.max_timeout_ms
        self.reply(201, answer)

    def take(self, st, sid, body):
        with st.lock:
            snap = st.snaps.get(sid)
            if not snap:
                return self.error(404, "SnapshotNotFound", "unknown snapshot")
            first = snap["state"] == "prepared"
            if first:
                snap["state"] = "taking"
                snap["take"] = body
        if not first:
            # A repeated do-snapshot is the same operation: same answer.
            st.done[sid].wait(120)
            return self.reply(200, snap["result"])
        if st.args.take_delay:
            time.sleep(st.args.take_delay)
        try:
            result = st.take(snap)
        except Exception as e:  # the copy channel failed
            result = {"status": "failed", "error": str(e)}
        with st.lock:
            snap["result"] = result
            snap["state"] = "taken" if result["status"] == "taken" else "failed"
        st.done[sid].set()
        if st.args.take_status:
            return self.error(st.args.take_status, "Injected", "injected failure")
        self.reply(200, result)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8480)
    ap.add_argument("--port-file", help="write the bound port here (for --port 0)")
    ap.add_argument("--serial")
    ap.add_argument("--copy-cmd")
    ap.add_argument("--copy-timeout", type=float, default=120)
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--dump")
    ap.add_argument("--take-status", type=int, default=0)
    ap.add_argument("--take-delay", type=float, default=0)
    ap.add_argument("--prepare-status", type=int, default=0)
    ap.add_argument("--max-timeout-ms", type=int, default=0)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if not (args.addr.startswith("127.") or args.addr in ("::1", "localhost")):
        sys.exit("backup_service: loopback addresses only")
    state = State(args)
    if state.channel:
        ans = state.channel.call({"op": "hello"}, timeout=30)
        if not ans.get("ok"):
            sys.exit("backup_service: host helper did not answer hello")
    srv = Server((args.addr, args.port), Handler)
    srv.state = state
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
