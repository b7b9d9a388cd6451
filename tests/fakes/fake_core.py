"""Plumbing shared by every fake server: counters, fault queue, bearer
tokens, and a threaded HTTP/1.1 (optionally TLS) server whose handler
reads the request, applies injected faults and hands the rest to an app.

Stdlib only: this runs in a guest that has nothing but python3.
"""

import collections
import fnmatch
import hashlib
import hmac
import http.server
import json
import os
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

from fake_rsa import b64url_decode, b64url_encode

VAULT_RESOURCE = "https://vault.azure.net"


def now():
    return int(time.time())


def jdump(obj):
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


# ---------------------------------------------------------------- counters


class Counters:
    """Named integer counters plus per-path request counts."""

    def __init__(self):
        self._lock = threading.Lock()
        self._c = {}
        self._paths = {}

    def inc(self, name, n=1):
        """-> the new value."""
        with self._lock:
            v = self._c[name] = self._c.get(name, 0) + n
            return v

    def inc_path(self, server, key):
        with self._lock:
            d = self._paths.setdefault(server, {})
            d[key] = d.get(key, 0) + 1

    def get(self, name):
        with self._lock:
            return self._c.get(name, 0)

    def snapshot(self):
        with self._lock:
            return {"counters": dict(sorted(self._c.items())),
                    "paths": {k: dict(sorted(v.items())) for k, v in self._paths.items()}}

    def reset(self):
        with self._lock:
            self._c.clear()
            self._paths.clear()


# ---------------------------------------------------------------- faults

FAULT_KEYS = {"server", "path", "method", "when", "count", "status", "retry_after",
              "body", "content_type", "headers", "delay_ms", "garbage", "close",
              "reset", "truncate", "expire_tokens", "deny_role"}


class Faults:
    """An ordered queue of faults.  A request consumes the first pending
    fault whose server, method, path glob and auth filter match it."""

    def __init__(self, servers):
        self._lock = threading.Lock()
        self._servers = set(servers)
        self._q = []
        self._next = 1

    def add(self, spec):
        unknown = set(spec) - FAULT_KEYS
        if unknown:
            raise ValueError("unknown fault fields: %s" % ", ".join(sorted(unknown)))
        f = dict(spec)
        f.setdefault("server", "primary")
        if f["server"] not in self._servers:
            raise ValueError("server must be one of %s" % sorted(self._servers))
        f.setdefault("path", "*")
        f.setdefault("count", 1)
        f.setdefault("when", "any")
        if f["when"] not in ("any", "authed", "unauthed"):
            raise ValueError("when must be any, authed or unauthed")
        if not any(k in f for k in ("status", "delay_ms", "garbage", "close", "reset", "truncate",
                                    "expire_tokens", "deny_role")):
            raise ValueError("a fault needs status, delay_ms, garbage, close, reset, truncate,"
                             " expire_tokens or deny_role")
        if "status" in f:
            f["status"] = int(f["status"])
            if not 100 <= f["status"] <= 599:
                raise ValueError("bad status")
        f["count"] = int(f["count"])
        with self._lock:
            f["id"] = self._next
            self._next += 1
            f["hits"] = 0
            self._q.append(f)
        return f["id"]

    def take(self, server, method, path, has_auth):
        lpath = path.lower()
        with self._lock:
            for f in self._q:
                if f["server"] != server or f["count"] == 0:
                    continue
                if f.get("method") and f["method"].upper() != method:
                    continue
                if f["when"] == "authed" and not has_auth:
                    continue
                if f["when"] == "unauthed" and has_auth:
                    continue
                if not fnmatch.fnmatchcase(lpath, f["path"].lower()):
                    continue
                if f["count"] > 0:
                    f["count"] -= 1
                f["hits"] += 1
                return dict(f)
        return None

    def clear(self, server=None):
        with self._lock:
            self._q = [f for f in self._q if server and f["server"] != server]

    def pending(self):
        with self._lock:
            return [dict(f) for f in self._q if f["count"] != 0]


# ---------------------------------------------------------------- limits


class RateLimiter:
    """Sliding-window request limits, like the services' throttling."""

    def __init__(self):
        self._lock = threading.Lock()
        self._hits = {}
        self._busy = {}

    def allow(self, key, limit, window):
        """Record a request for key; False when limit per window is exceeded."""
        if limit is None or limit <= 0:
            return True
        t = time.monotonic()
        with self._lock:
            q = self._hits.setdefault(key, collections.deque())
            while q and q[0] <= t - window:
                q.popleft()
            if len(q) >= limit:
                return False
            q.append(t)
            return True

    def enter(self, key, limit):
        """Concurrency slot; False when limit requests are already in flight."""
        with self._lock:
            n = self._busy.get(key, 0)
            if limit and n >= limit:
                return False
            self._busy[key] = n + 1
            return True

    def leave(self, key):
        with self._lock:
            self._busy[key] = max(0, self._busy.get(key, 1) - 1)

    def reset(self):
        with self._lock:
            self._hits.clear()


# ---------------------------------------------------------------- tokens


class Tokens:
    """Issues JWT-shaped bearer tokens (HS256 with a per-process key: real
    tokens are RS256, but clients must treat tokens as opaque) and validates
    them for the vaults."""

    def __init__(self, counters):
        self._key = os.urandom(32)
        self._lock = threading.Lock()
        self._serial = 0
        self._min_serial = 1
        self.counters = counters

    def issue(self, claims, lifetime):
        t = now()
        with self._lock:
            self._serial += 1
            serial = self._serial
        # like AAD: iat/nbf five minutes in the past to absorb clock skew
        body = {"iat": t - 300, "nbf": t - 300, "exp": t + int(lifetime),
                "uti": b64url_encode(os.urandom(16)), "ver": "1.0", "xfk_serial": serial}
        body.update(claims)
        head = {"typ": "JWT", "alg": "HS256", "kid": "fake-keyvault-tests"}
        signing = b64url_encode(jdump(head)) + "." + b64url_encode(jdump(body))
        sig = hmac.new(self._key, signing.encode("ascii"), hashlib.sha256).digest()
        self.counters.inc("tokens_issued")
        return signing + "." + b64url_encode(sig), body

    def expire_all(self):
        """Every token issued so far is rejected from now on."""
        with self._lock:
            self._min_serial = self._serial + 1

    def reset(self):
        with self._lock:
            self._min_serial = self._serial + 1

    def validate(self, token, audiences):
        """-> (claims, None) or (None, (reason, message))."""
        parts = token.split(".")
        if len(parts) != 3:
            return None, ("malformed", "[BearerReadAccessTokenFailed] Error validating token: 'S2S12005'.")
        try:
            signing = (parts[0] + "." + parts[1]).encode("ascii")
            sig = b64url_decode(parts[2])
            claims = json.loads(b64url_decode(parts[1]))
        except (ValueError, UnicodeError):
            return None, ("malformed", "[BearerReadAccessTokenFailed] Error validating token: 'S2S12005'.")
        good = hmac.new(self._key, signing, hashlib.sha256).digest()
        if not hmac.compare_digest(good, sig) or not isinstance(claims, dict):
            return None, ("signature", "[BearerReadAccessTokenFailed] Error validating token: 'S2S12024'.")
        with self._lock:
            min_serial = self._min_serial
        t = now()
        if claims.get("xfk_serial", 0) < min_serial or claims.get("exp", 0) <= t:
            return None, ("expired", "[TokenExpired] Error validating token: 'S2S12086'.")
        if claims.get("nbf", 0) > t + 300:
            return None, ("not_yet_valid", "[TokenNotYetValid] Error validating token: 'S2S12087'.")
        aud = claims.get("aud", "")
        if aud not in audiences:
            return None, ("audience", "AKV10022: Invalid audience. Expected %s, found: %s."
                          % (VAULT_RESOURCE, aud))
        return claims, None


# ---------------------------------------------------------------- HTTP server


class Response:
    def __init__(self, status, body=b"", headers=None, content_type="application/json; charset=utf-8"):
        self.status = status
        if isinstance(body, (dict, list)):
            body = jdump(body)
        elif isinstance(body, str):
            body = body.encode("utf-8")
        self.body = body
        self.headers = list(headers or [])
        self.content_type = content_type


class Request:
    """What an app sees of one HTTP request."""

    def __init__(self, handler, method, raw_path, body):
        self.handler = handler
        self.method = method
        self.raw_path = raw_path
        url = urllib.parse.urlsplit(raw_path)
        # Paths are percent-decoded per segment; empty segments ("//", a
        # trailing "/") are dropped, as the real services tolerate them and
        # the Azure SDK sends "/keys/NAME//wrapkey" when it has no version.
        self.segments = [urllib.parse.unquote(s) for s in url.path.split("/") if s]
        self.path = "/" + "/".join(self.segments)
        # parse_qsl decodes names too: the SDK sends "api%2Dversion=".
        self.query = {}
        for k, v in urllib.parse.parse_qsl(url.query, keep_blank_values=True):
            self.query.setdefault(k, v)
        self.query_raw = url.query
        self.body = body
        self.headers = handler.headers

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def json(self):
        return json.loads(self.body.decode("utf-8")) if self.body else None


class FakeServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """Threaded HTTP/1.1 server, TLS per connection in the worker thread so
    a slow handshake never blocks accept(); counts accepted connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, port, app, tls_picker=None):
        self.address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        self.app = app
        self.tls_picker = tls_picker
        self._live = set()
        self._live_lock = threading.Lock()
        super().__init__((addr, port), FakeHandler)

    def server_bind(self):
        # HTTPServer.server_bind() calls getfqdn(), which may query DNS:
        # the fakes must never send traffic beyond loopback.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = host, port

    def process_request(self, request, client_address):
        if self.app.counted:
            self.app.counters.inc(self.app.name + ".connections")
        super().process_request(request, client_address)

    def finish_request(self, request, client_address):
        conn = request
        try:
            if self.tls_picker:
                request.settimeout(30)
                try:
                    conn = self.tls_picker().wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    self.app.counters.inc(self.app.name + ".tls_failures")
                    return
                self.app.counters.inc(self.app.name + ".tls_handshakes")
            with self._live_lock:
                self._live.add(conn)
            h = FakeHandler(conn, client_address, self)
            if getattr(h, "abort", False):
                # linger 0 + close = RST; close it here, before socketserver's
                # shutdown_request() could send a FIN first
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
        finally:
            with self._live_lock:
                self._live.discard(conn)
            if conn is not request:
                try:
                    conn.close()
                except OSError:
                    pass

    def close_all(self):
        """Drop every open client connection (used at shutdown)."""
        with self._live_lock:
            live = list(self._live)
        for c in live:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        if sys.exc_info()[0] in (ConnectionError, ssl.SSLError, socket.timeout, BrokenPipeError):
            return
        super().handle_error(request, client_address)


GARBAGE = b"\x00\x9c<html><body>upstream hiccup</body></html>\xff\xfe{\"value\":"


class FakeHandler(http.server.BaseHTTPRequestHandler):
    # Headers and body go out as separate writes: without TCP_NODELAY a
    # kept-alive client waits ~40 ms per answer on delayed ACKs.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections are dropped after this
    MAX_BODY = 4 * 1024 * 1024

    @property
    def app(self):
        return self.server.app

    def version_string(self):
        return self.app.server_header

    def log_message(self, fmt, *args):
        if not self.app.quiet:
            sys.stderr.write("[%s] %s %s\n" % (self.app.name, self.address_string(), fmt % args))

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(8)
                if len(out) > self.MAX_BODY:
                    raise ValueError("body too large")
        n = int(self.headers.get("Content-Length") or 0)
        if n > self.MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n > 0 else b""

    def _dispatch(self):
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send(Response(400, b"bad request body", content_type="text/plain"))
            return
        req = Request(self, self.command, self.path, body)
        if not self.app.counted:
            self._send(self.app.handle(req))
            return
        name = self.app.name
        c = self.app.counters
        c.inc(name + ".requests")
        if not req.header("Authorization"):
            # What a client sends before it knows the vault is genuine:
            # the SDKs send no body there; neither may vaultvol.
            c.inc(name + ".unauthed")
            if body:
                c.inc(name + ".unauthed_with_body")
        op = self.app.classify(req)
        req.op = op
        c.inc(name + "." + op)
        c.inc_path(name, "%s %s" % (req.method, req.path))
        fault = self.app.faults.take(name, req.method, req.path,
                                     bool(req.header("Authorization")))
        if fault:
            c.inc(name + ".faults")
            if self._apply_fault(req, fault):
                return
        try:
            resp = self.app.handle(req)
        except Exception:  # a bug in the fake must still answer, and be visible
            traceback.print_exc()
            resp = self.app.internal_error()
        # Count before sending: a client that has read the answer may read
        # the counters at once, and must find this request in them.
        if 200 <= resp.status < 300:
            c.inc(name + "." + op + ".ok")
        self._send(resp, truncate=bool(fault and fault.get("truncate")))

    def _apply_fault(self, req, f):
        """-> True when the fault produced the whole outcome."""
        if f.get("delay_ms"):
            time.sleep(int(f["delay_ms"]) / 1000.0)
        if f.get("expire_tokens"):
            # The tokens expire at this request: as the control op
            # expire_tokens, every token issued so far is refused from now
            # on, this request's included, with the vault's own answer to
            # an expired token (the app's token check, below).
            self.app.world.tokens.expire_all()
        if f.get("deny_role") and getattr(self.app, "vault", None):
            # The identity's role is removed at this request: as the
            # control op rbac_deny path=* count=-1, this request and every
            # later one get the vault's own 403 ForbiddenByRbac.
            self.app.vault.rbac_add({"path": "*", "count": -1})
        if f.get("close") or f.get("reset"):
            self.close_connection = True
            if f.get("reset"):
                self.abort = True  # FakeServer.finish_request sends the RST
            else:
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            return True
        if f.get("garbage"):
            resp = Response(int(f.get("status", 200)), GARBAGE,
                            content_type=f.get("content_type", "application/json; charset=utf-8"))
        elif "status" in f:
            if "body" in f:
                body = f["body"]
                ct = f.get("content_type", "application/json; charset=utf-8")
                resp = Response(f["status"], body, content_type=ct)
            else:
                resp = self.app.fault_response(req, f["status"])
        else:
            return False  # delay, truncate, expire_tokens or deny_role only: handle normally
        if f.get("retry_after") is not None:
            resp.headers.append(("Retry-After", str(f["retry_after"])))
        for k, v in (f.get("headers") or {}).items():
            resp.headers.append((k, str(v)))
        if 200 <= resp.status < 300:
            self.app.counters.inc(self.app.name + "." + req.op + ".ok")
        self._send(resp, truncate=bool(f.get("truncate")))
        return True

    def _send(self, resp, truncate=False):
        if self.app.counted:
            self.app.counters.inc("%s.status.%d" % (self.app.name, resp.status))
        try:
            self.send_response(resp.status)
            if resp.body or resp.status not in (204, 304):
                self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(resp.body)))
            for k, v in self.app.common_headers(resp):
                self.send_header(k, v)
            for k, v in resp.headers:
                self.send_header(k, v)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body[:len(resp.body) // 2] if truncate else resp.body)
            self.wfile.flush()
            if truncate:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


class App:
    """Base for a server's application logic."""

    server_header = "fake"
    quiet = False
    counted = True  # False: no counters, no faults (the control API)

    def __init__(self, name, counters, faults):
        self.name = name
        self.counters = counters
        self.faults = faults

    def classify(self, req):
        return "request"

    def handle(self, req):
        raise NotImplementedError

    def common_headers(self, resp):
        return []

    def fault_response(self, req, status):
        return Response(status, {"error": "injected", "error_description": "injected fault"})

    def internal_error(self):
        return Response(500, {"error": "internal", "error_description": "fake crashed, see its log"})


def new_guid():
    return str(uuid.uuid4())
