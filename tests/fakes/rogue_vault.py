#!/usr/bin/env python3
"""A rogue "vault" for trust-boundary tests: an HTTPS server on loopback that
logs every request it receives (method, path, whether it carried an
Authorization header, body length) as JSON lines, and answers each with the
401 challenge a real vault sends, naming resource="https://vault.azure.net",
so a client that does not verify the challenge would fetch a Key Vault token
and send it here.

  rogue_vault.py --cert PEM --key KEY --log FILE --port-file FILE [--addr 127.0.0.1] [--port N]

Writes the port it listens on to --port-file when ready; SIGTERM stops it.
"""
import argparse
import http.server
import json
import os
import signal
import ssl
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def handle_any(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n > 0 else b""
            rec = {"method": self.command, "path": self.path,
                   "authorization": self.headers.get("Authorization") is not None,
                   "body_len": len(body), "host": self.headers.get("Host")}
            with lock, open(args.log, "a") as f:
                f.write(json.dumps(rec) + "\n")
            msg = b'{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}'
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer authorization="https://login.windows.net/'
                             '72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://vault.azure.net"')
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any

    srv = http.server.ThreadingHTTPServer((args.addr, args.port), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    srv.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
