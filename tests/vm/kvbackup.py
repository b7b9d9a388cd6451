#!/usr/bin/env python3
"""Key Vault backup and restore, as Azure Backup does it for an encrypted VM.

  kvbackup.py backup  VAULT-URL OUT-FILE secret:NAME... key:NAME...
  kvbackup.py restore VAULT-URL IN-FILE

backup calls POST {vault}/secrets/{name}/backup (keys: /keys/{name}/backup)
for each object and writes the opaque blobs to OUT-FILE (JSON); restore
posts each blob to {vault}/secrets/restore or /keys/restore of another
vault, which keeps names, versions, attributes and tags. The bearer token
comes from IMDS (169.254.169.254, or $IMDS_URL), as a VM's managed identity
gets it; TLS is verified against $CA_FILE. Names are pinned to addresses
with $VAULTVOL_TEST_RESOLVE ("host:port:addr,..."), as the product's tests
do: nothing resolves through DNS. Standard library only (the guest has
python3 and nothing else). A test tool, not part of the product.
"""

import http.client
import json
import os
import socket
import ssl
import sys
import urllib.parse

API = "api-version=7.4"


def pinned():
    out = {}
    for item in filter(None, os.environ.get("VAULTVOL_TEST_RESOLVE", "").split(",")):
        host, port, addr = item.split(":", 2)
        out[(host.lower(), int(port))] = addr.strip("[]")
    return out


class PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host, port, addr, ctx):
        super().__init__(host, port, context=ctx, timeout=60)
        self._addr = addr

    def connect(self):
        sock = socket.create_connection((self._addr, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def imds_token():
    base = urllib.parse.urlsplit(os.environ.get("IMDS_URL", "http://169.254.169.254"))
    c = http.client.HTTPConnection(base.hostname, base.port or 80, timeout=60)
    c.request("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
              + urllib.parse.quote("https://vault.azure.net", safe=""), headers={"Metadata": "true"})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit("kvbackup: IMDS answered %d: %s" % (r.status, body[:200]))
    return json.loads(body)["access_token"]


def post(vault, path, body, token):
    u = urllib.parse.urlsplit(vault)
    port = u.port or 443
    addr = pinned().get((u.hostname.lower(), port))
    if addr is None:
        sys.exit("kvbackup: %s:%d is not pinned in VAULTVOL_TEST_RESOLVE" % (u.hostname, port))
    ctx = ssl.create_default_context(cafile=os.environ["CA_FILE"])
    c = PinnedHTTPS(u.hostname, port, addr, ctx)
    data = json.dumps(body).encode()
    c.request("POST", "%s?%s" % (path, API), body=data,
              headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = c.getresponse()
    answer = r.read()
    if r.status != 200:
        sys.exit("kvbackup: POST %s%s answered %d: %s" % (vault, path, r.status, answer[:300]))
    return json.loads(answer)


def main(argv):
    if len(argv) < 4 or argv[1] not in ("backup", "restore"):
        sys.exit(__doc__)
    op, vault, path = argv[1], argv[2].rstrip("/"), argv[3]
    token = imds_token()
    if op == "backup":
        blobs = []
        for obj in argv[4:]:
            kind, _, name = obj.partition(":")
            if kind not in ("secret", "key") or not name:
                sys.exit("kvbackup: objects are secret:NAME or key:NAME, not %r" % obj)
            a = post(vault, "/%ss/%s/backup" % (kind, urllib.parse.quote(name)), {}, token)
            blobs.append({"kind": kind, "name": name, "value": a["value"]})
        with open(path, "w") as f:
            json.dump(blobs, f)
        print("kvbackup: %d object(s) backed up from %s" % (len(blobs), vault))
        return 0
    with open(path) as f:
        blobs = json.load(f)
    # Keys first: a restored secret's KEK tag names a key that should exist.
    for b in sorted(blobs, key=lambda b: b["kind"] != "key"):
        a = post(vault, "/%ss/restore" % b["kind"], {"value": b["value"]}, token)
        ident = a.get("id") or a.get("key", {}).get("kid")
        print("kvbackup: restored %s %s as %s" % (b["kind"], b["name"], ident))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
