#!/usr/bin/python3
"""Self-test of the fakes with curl, openssl and Python's http.client.

    selftest.py [-v]

Starts the fakes on free ports in a temporary state dir, checks the wire
details the C client depends on (challenge, IMDS string numbers, unpadded
base64url, RSA interoperability with OpenSSL, every fault kind, counters,
AAD, TLS switches), stops them.  One line per check, then "N passed, M
failed"; exit status 1 on any failure.
"""

import base64
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fakectl  # noqa: E402
from fake_rsa import b64url_decode, b64url_encode  # noqa: E402

VERBOSE = "-v" in sys.argv
RESULTS = [0, 0]
CHILDREN = []


def check(name):
    def deco(fn):
        try:
            detail = fn()
            print("PASS %s%s" % (name, " (%s)" % detail if detail else ""))
            RESULTS[0] += 1
        except Exception as e:  # report and keep going
            print("FAIL %s: %s" % (name, ("%s" % e).splitlines()[0] if str(e) else type(e).__name__))
            RESULTS[1] += 1
            if VERBOSE:
                import traceback
                traceback.print_exc()
        return fn
    return deco


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


class Env:
    def __init__(self, state):
        with open(os.path.join(state, "ports.json")) as f:
            self.info = json.load(f)
        self.state = state
        self.ctx = ssl.create_default_context(cafile=self.info["ca"])
        self.kv_host = "127.0.0.1"
        self.kv_port = self.info["kv_port"]

    def ctl(self, op, **params):
        ans = fakectl.call(self.info["ctl_url"], op, params)
        if not ans.get("ok"):
            raise AssertionError("control %s: %s" % (op, ans.get("error")))
        return ans

    def counter(self, name):
        return self.ctl("counter", name=name)["value"]

    def kv(self, method, path, body=None, token=None, headers=None, port=None, raw=False):
        conn = http.client.HTTPSConnection(self.kv_host, port or self.kv_port, context=self.ctx,
                                           timeout=10)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        payload = r.read()
        conn.close()
        if raw:
            return r.status, r, payload
        try:
            doc = json.loads(payload) if payload else None
        except ValueError:
            doc = None
        return r.status, r, doc

    def imds(self, path, headers=None, method="GET"):
        conn = http.client.HTTPConnection("127.0.0.1", self.info["imds_port"], timeout=10)
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        payload = r.read()
        conn.close()
        try:
            doc = json.loads(payload)
        except ValueError:
            doc = payload
        return r.status, r, doc

    def token(self, **q):
        q.setdefault("resource", "https://vault.azure.net")
        q["api-version"] = "2018-02-01"
        st, _, doc = self.imds("/metadata/identity/oauth2/token?" + urllib.parse.urlencode(q),
                               {"Metadata": "true"})
        expect(st == 200, "IMDS token %d %s" % (st, doc))
        return doc["access_token"]


def curl(env, *args):
    cmd = ["curl", "-sS", "--noproxy", "*", "--max-time", "10", "--cacert", env.info["ca"]] + list(args)
    p = subprocess.run(cmd, capture_output=True)
    return p.returncode, p.stdout, p.stderr


def openssl(*args, data=None):
    return subprocess.run(["openssl"] + list(args), input=data, capture_output=True, check=True).stdout


def run(env):
    info = env.info
    V = "?api-version=7.4"
    tenant = info["tenant"]
    tok = env.token()

    # ------------------------------------------------------------ challenge

    @check("401 challenge without token (exact header and body)")
    def _():
        st, r, doc = env.kv("GET", "/secrets/x" + V)
        want = ('Bearer authorization="https://login.windows.net/%s", resource="https://vault.azure.net"'
                % tenant)
        expect(st == 401, "status %d" % st)
        expect(r.getheader("WWW-Authenticate") == want, "header %r" % r.getheader("WWW-Authenticate"))
        expect(doc["error"]["code"] == "Unauthorized", doc)
        expect(env.counter("primary.challenges.no_token") >= 1, "not counted")

    @check("challenge style authorization_uri")
    def _():
        env.ctl("config", challenge_style="authorization_uri")
        st, r, _ = env.kv("GET", "/secrets/x" + V)
        env.ctl("config", challenge_style="authorization")
        expect(r.getheader("WWW-Authenticate").startswith('Bearer authorization_uri="https://login.windows.net/'),
               r.getheader("WWW-Authenticate"))

    @check("bad tokens get 401 + challenge (wrong audience, tampered, expired)")
    def _():
        other = env.ctl("issue_token", resource="https://management.azure.com")["access_token"]
        st, r, doc = env.kv("GET", "/secrets/x" + V, token=other)
        expect(st == 401 and "AKV10022" in doc["error"]["message"], (st, doc))
        expect(r.getheader("WWW-Authenticate"), "no challenge on bad audience")
        st, _, _ = env.kv("GET", "/secrets/x" + V, token=tok[:-2] + ("AA" if tok[-2:] != "AA" else "BB"))
        expect(st == 401, "tampered token accepted")
        t2 = env.token()
        st, _, _ = env.kv("GET", "/secrets/x" + V, token=t2)
        expect(st == 404, "fresh token refused: %d" % st)
        env.ctl("expire_tokens")
        st, _, doc = env.kv("GET", "/secrets/x" + V, token=t2)
        expect(st == 401 and "TokenExpired" in doc["error"]["message"], (st, doc))
        expect(env.counter("primary.challenges.bad_token") >= 3, "bad_token not counted")

    @check("fault expire_tokens: path-scoped; the expired-token answer; stays expired; new token ok")
    def _():
        t1 = env.token()
        env.ctl("fault", path="/keys/*", when="authed", count=1, expire_tokens=True)
        st, _, _ = env.kv("GET", "/secrets/x" + V, token=t1)
        expect(st == 404, "a request outside the path expired the token: %d" % st)
        n = env.counter("primary.challenges.bad_token")
        st, r, doc = env.kv("GET", "/keys/x" + V, token=t1)
        want = ('Bearer authorization="https://login.windows.net/%s", resource="https://vault.azure.net"'
                % tenant)
        expect(st == 401 and r.getheader("WWW-Authenticate") == want, (st, r.getheader("WWW-Authenticate")))
        expect(doc == {"error": {"code": "Unauthorized",
                                 "message": "[TokenExpired] Error validating token: 'S2S12086'."}}, doc)
        expect(env.counter("primary.challenges.bad_token") == n + 1, "not counted as bad_token")
        st, _, _ = env.kv("GET", "/secrets/x" + V, token=t1)
        expect(st == 401, "the expired token works again: %d" % st)
        st, _, _ = env.kv("GET", "/keys/x" + V, token=env.token())
        expect(st == 404, "a new token refused: %d" % st)

    @check("fault deny_role: path-scoped; the role gone from that request on; rbac_clear ends it")
    def _():
        t1 = env.token()
        env.ctl("fault", path="/keys/*", when="authed", count=1, deny_role=True)
        st, _, _ = env.kv("GET", "/secrets/x" + V, token=t1)
        expect(st == 404, "a request outside the path was denied: %d" % st)
        st, _, doc = env.kv("GET", "/keys/x" + V, token=t1)
        expect(st == 403 and doc["error"]["innererror"]["code"] == "ForbiddenByRbac", (st, doc))
        st, _, _ = env.kv("GET", "/secrets/x" + V, token=t1)
        expect(st == 403, "a later request was allowed: %d" % st)
        env.ctl("rbac_clear")
        st, _, _ = env.kv("GET", "/secrets/x" + V, token=t1)
        expect(st == 404, "rbac_clear did not end it: %d" % st)

    tok = env.token()

    @check("api-version required; percent-encoded name accepted")
    def _():
        st, _, doc = env.kv("GET", "/secrets/x", token=tok)
        expect(st == 400 and doc["error"]["code"] == "BadParameter", (st, doc))
        st, _, doc = env.kv("GET", "/secrets/x?api%2Dversion=2025-07-01", token=tok)
        expect(st == 404 and doc["error"]["code"] == "SecretNotFound", (st, doc))

    # ------------------------------------------------------------ IMDS

    @check("IMDS token: numbers are JSON strings")
    def _():
        st, r, doc = env.imds("/metadata/identity/oauth2/token?api-version=2018-02-01"
                              "&resource=https%3A%2F%2Fvault.azure.net", {"Metadata": "true"})
        expect(st == 200, (st, doc))
        for k in ("expires_in", "expires_on", "not_before", "ext_expires_in"):
            expect(isinstance(doc[k], str) and doc[k].isdigit(), "%s=%r" % (k, doc[k]))
        expect(doc["token_type"] == "Bearer" and doc["resource"] == "https://vault.azure.net", doc)
        expect(85000 < int(doc["expires_in"]) <= 86400, doc["expires_in"])
        return "expires_in %s" % doc["expires_in"]

    @check("IMDS refuses: no Metadata header, X-Forwarded-For, no api-version, no resource")
    def _():
        base = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net"
        st, _, doc = env.imds(base)
        expect(st == 400 and doc == {"error": "invalid_request",
                                     "error_description": "Required metadata header not specified"}, doc)
        st, _, doc = env.imds(base, {"Metadata": "true", "X-Forwarded-For": "10.0.0.1"})
        expect(st == 400 and doc["error"] == "invalid_request", (st, doc))
        st, _, doc = env.imds("/metadata/identity/oauth2/token?resource=x", {"Metadata": "true"})
        expect(st == 400, (st, doc))
        st, _, doc = env.imds("/metadata/identity/oauth2/token?api-version=2018-02-01",
                              {"Metadata": "true"})
        expect(st == 400 and doc["error"] == "invalid_request", (st, doc))

    @check("IMDS identities: none, several, by client_id/object_id/msi_res_id")
    def _():
        env.ctl("imds_system", enabled=False)
        st, _, doc = env.imds("/metadata/identity/oauth2/token?api-version=2018-02-01"
                              "&resource=https://vault.azure.net", {"Metadata": "true"})
        expect(st == 400 and doc == {"error": "invalid_request", "error_description": "Identity not found"},
               doc)
        a = env.ctl("imds_identity", name="one")["identity"]
        b = env.ctl("imds_identity", name="two")["identity"]
        st, _, doc = env.imds("/metadata/identity/oauth2/token?api-version=2018-02-01"
                              "&resource=https://vault.azure.net", {"Metadata": "true"})
        expect(st == 400 and "Multiple user assigned" in doc["error_description"], doc)
        for key, ident in (("client_id", a), ("object_id", b), ("msi_res_id", a)):
            q = urllib.parse.urlencode({"api-version": "2018-02-01", "resource": "https://vault.azure.net",
                                        key: ident[key]})
            st, _, doc = env.imds("/metadata/identity/oauth2/token?" + q, {"Metadata": "true"})
            expect(st == 200 and doc["client_id"] == ident["client_id"], (key, st, doc))
        st, _, doc = env.imds("/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x"
                              "&client_id=nope", {"Metadata": "true"})
        expect(st == 400 and doc["error_description"] == "Identity not found", doc)
        env.ctl("imds_identities_clear")
        env.ctl("imds_system", enabled=True)

    @check("IMDS instance: vmId, encryptionSettings from 2021-11-01 only, format=text")
    def _():
        env.ctl("imds_disk", disk=0, secret_url="https://v.vault.azure.net/secrets/s/1",
                key_url="https://v.vault.azure.net/keys/k/2")
        st, _, doc = env.imds("/metadata/instance?api-version=2021-11-01", {"Metadata": "true"})
        expect(st == 200 and doc["compute"]["vmId"], doc)
        dd = doc["compute"]["storageProfile"]["dataDisks"][0]
        es = dd["encryptionSettings"]
        expect(dd["lun"] == "0" and es["enabled"] == "true", dd)
        expect(es["diskEncryptionKey"]["secretUrl"].endswith("/secrets/s/1"), es)
        expect(es["keyEncryptionKey"]["keyUrl"].endswith("/keys/k/2"), es)
        st, _, doc = env.imds("/metadata/instance?api-version=2021-02-01", {"Metadata": "true"})
        expect("encryptionSettings" not in doc["compute"]["storageProfile"]["dataDisks"][0], "old api")
        st, _, doc = env.imds("/metadata/instance/compute/vmId?api-version=2021-02-01&format=text",
                              {"Metadata": "true"})
        expect(st == 200 and isinstance(doc, bytes) and len(doc) == 36, doc)
        st, _, doc = env.imds("/metadata/instance", {"Metadata": "true"})
        expect(st == 400 and doc["error"].startswith("Bad request."), doc)

    # ------------------------------------------------------------ secrets

    sec = {}

    @check("set/get secret: 32-hex versions, id from Host header, attributes")
    def _():
        st, _, doc = env.kv("PUT", "/secrets/bek" + V, {"value": "c2VjcmV0", "contentType": "BEK",
                                                       "tags": {"MachineName": "vm"}}, token=tok)
        expect(st == 200, (st, doc))
        ver = doc["id"].rsplit("/", 1)[1]
        expect(len(ver) == 32 and int(ver, 16) >= 0, ver)
        expect(doc["id"] == "https://127.0.0.1:%d/secrets/bek/%s" % (env.kv_port, ver), doc["id"])
        a = doc["attributes"]
        expect(a["enabled"] is True and isinstance(a["created"], int) and a["recoverableDays"] == 90
               and a["recoveryLevel"] == "Recoverable+Purgeable", a)
        sec["v1"] = ver
        st, _, doc = env.kv("GET", "/secrets/bek/%s%s" % (ver, V), token=tok,
                            headers={"Host": "localhost:%d" % env.kv_port})
        expect(doc["id"].startswith("https://localhost:%d/" % env.kv_port), doc["id"])
        expect(doc["value"] == "c2VjcmV0" and doc["tags"] == {"MachineName": "vm"}, doc)

    @check("disabled secret -> 403 Forbidden/SecretDisabled; expired still readable")
    def _():
        env.ctl("put_secret", name="off", value="x", enabled=False)
        st, _, doc = env.kv("GET", "/secrets/off" + V, token=tok)
        expect(st == 403 and doc == {"error": {"code": "Forbidden",
                                               "message": "Operation get is not allowed on a disabled secret.",
                                               "innererror": {"code": "SecretDisabled"}}}, doc)
        env.ctl("put_secret", name="old", value="x", exp=1000, nbf=500)
        st, _, doc = env.kv("GET", "/secrets/old" + V, token=tok)
        expect(st == 200 and doc["attributes"]["exp"] == 1000 and doc["attributes"]["nbf"] == 500, doc)

    @check("deleted secret: 404, name reuse 409, recover, purge")
    def _():
        env.ctl("put_secret", name="gone", value="x")
        st, _, doc = env.kv("DELETE", "/secrets/gone" + V, token=tok)
        expect(st == 200 and doc["recoveryId"].endswith("/deletedsecrets/gone"), doc)
        st, _, doc = env.kv("GET", "/secrets/gone" + V, token=tok)
        expect(st == 404 and doc["error"]["code"] == "SecretNotFound", doc)
        st, _, doc = env.kv("PUT", "/secrets/gone" + V, {"value": "y"}, token=tok)
        expect(st == 409 and doc["error"]["innererror"]["code"] == "ObjectIsDeletedButRecoverable", doc)
        st, _, _ = env.kv("POST", "/deletedsecrets/gone/recover" + V, token=tok)
        expect(st == 200, "recover %d" % st)
        env.ctl("delete", name="gone")
        st, _, _ = env.kv("DELETE", "/deletedsecrets/gone" + V, token=tok)
        expect(st == 204, "purge %d" % st)
        st, _, _ = env.kv("PUT", "/secrets/gone" + V, {"value": "y"}, token=tok)
        expect(st == 200, "reuse after purge %d" % st)

    @check("404 bodies: SecretNotFound, KeyNotFound; bad name 400")
    def _():
        st, _, doc = env.kv("GET", "/secrets/nope/%s%s" % ("0" * 32, V), token=tok)
        expect(st == 404 and doc["error"]["code"] == "SecretNotFound"
               and "nope/" + "0" * 32 in doc["error"]["message"], doc)
        st, _, doc = env.kv("GET", "/keys/nope" + V, token=tok)
        expect(st == 404 and doc["error"]["code"] == "KeyNotFound", doc)
        st, _, doc = env.kv("GET", "/secrets/bad_name" + V, token=tok)
        expect(st == 400 and doc["error"]["code"] == "BadParameter", doc)

    # ------------------------------------------------------------ keys

    key = env.ctl("put_key", name="kek", bits=2048)
    pem = env.ctl("key_pem", name="kek")["pem"]
    tmp = tempfile.mkdtemp(prefix="fakes-selftest.")
    pem_path = os.path.join(tmp, "kek.pem")
    with open(pem_path, "w") as f:
        f.write(pem)
    pkeyopts = {
        "RSA-OAEP": ["-pkeyopt", "rsa_padding_mode:oaep"],
        "RSA-OAEP-256": ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256"],
        "RSA1_5": ["-pkeyopt", "rsa_padding_mode:pkcs1"],
    }

    @check("get key: kid, kty, n/e base64url unpadded, matches the PEM")
    def _():
        st, _, doc = env.kv("GET", "/keys/kek" + V, token=tok)
        k = doc["key"]
        expect(k["kid"] == "https://127.0.0.1:%d/keys/kek/%s" % (env.kv_port, key["version"]), k["kid"])
        expect(k["kty"] == "RSA" and "unwrapKey" in k["key_ops"], k)
        expect("=" not in k["n"] and "+" not in k["n"] and "/" not in k["n"], "n not base64url")
        expect(k["e"] == "AQAB", k["e"])
        mod = openssl("rsa", "-in", pem_path, "-noout", "-modulus").decode().strip().split("=")[1]
        expect(b64url_decode(k["n"]).hex().upper() == mod.lstrip("0") or
               b64url_decode(k["n"]).hex().upper() == mod, "n differs from the PEM")

    for alg, opt in pkeyopts.items():
        @check("%s: fake wrap -> openssl decrypt; openssl encrypt -> fake unwrap (padded)" % alg)
        def _(alg=alg, opt=opt):
            cek = os.urandom(32)
            st, _, doc = env.kv("POST", "/keys/kek/%s/wrapkey%s" % (key["version"], V),
                                {"alg": alg, "value": b64url_encode(cek)}, token=tok)
            expect(st == 200, (st, doc))
            expect("=" not in doc["value"] and doc["kid"].endswith(key["version"]), doc)
            plain = openssl("pkeyutl", "-decrypt", "-inkey", pem_path, *opt, data=b64url_decode(doc["value"]))
            expect(plain == cek, "openssl could not unwrap")
            ct = openssl("pkeyutl", "-encrypt", "-inkey", pem_path, *opt, data=cek)
            padded = base64.urlsafe_b64encode(ct).decode()
            st, _, doc = env.kv("POST", "/keys/kek//unwrapkey" + V, {"alg": alg, "value": padded}, token=tok)
            expect(st == 200 and b64url_decode(doc["value"]) == cek, (st, doc))

    @check("wrap errors: bad alg 400, bad base64url 400, wrong ciphertext 400")
    def _():
        st, _, doc = env.kv("POST", "/keys/kek/wrapkey" + V, {"alg": "A256KW", "value": "AAAA"}, token=tok)
        expect(st == 400 and doc["error"]["code"] == "BadParameter", doc)
        st, _, doc = env.kv("POST", "/keys/kek/wrapkey" + V, {"alg": "RSA-OAEP", "value": "a+b/"}, token=tok)
        expect(st == 400, doc)
        st, _, doc = env.kv("POST", "/keys/kek/unwrapkey" + V,
                            {"alg": "RSA-OAEP", "value": b64url_encode(os.urandom(256))}, token=tok)
        expect(st == 400 and doc["error"]["code"] == "BadParameter", (st, doc))

    @check("revoked key: get/wrap/unwrap 403 Forbidden/KeyDisabled; unrevoke restores")
    def _():
        env.ctl("revoke_key", name="kek")
        for method, path, body in (("GET", "/keys/kek", None),
                                   ("POST", "/keys/kek/unwrapkey", {"alg": "RSA-OAEP", "value": "AAAA"})):
            st, _, doc = env.kv(method, path + V, body, token=tok)
            expect(st == 403 and doc["error"]["innererror"]["code"] == "KeyDisabled", (st, doc))
        env.ctl("unrevoke_key", name="kek")
        st, _, _ = env.kv("GET", "/keys/kek" + V, token=tok)
        expect(st == 200, st)

    @check("expired key: wrap 403, unwrap still works")
    def _():
        k = env.ctl("put_key", name="oldkek", bits=1024, exp=1000)
        st, _, doc = env.kv("POST", "/keys/oldkek/wrapkey" + V, {"alg": "RSA-OAEP", "value": "AAAA"}, token=tok)
        expect(st == 403, (st, doc))
        with open(os.path.join(tmp, "old.pem"), "w") as f:
            f.write(env.ctl("key_pem", name="oldkek", public=True)["pem"])
        ct = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", os.path.join(tmp, "old.pem"),
                     "-pkeyopt", "rsa_padding_mode:oaep", data=b"abc")
        st, _, doc = env.kv("POST", "/keys/oldkek/%s/unwrapkey%s" % (k["version"], V),
                            {"alg": "RSA-OAEP", "value": b64url_encode(ct)}, token=tok)
        expect(st == 200 and b64url_decode(doc["value"]) == b"abc", (st, doc))

    @check("put_bek: ADE wrapped BEK unwraps with the tagged KEK/alg; plain BEK is base64 once")
    def _():
        r = env.ctl("put_bek", name="adebek", key="pass phrase", kek="kek", alg="RSA-OAEP-256")
        st, _, doc = env.kv("GET", "/secrets/adebek" + V, token=tok)
        t = doc["tags"]
        expect(doc["contentType"] == "Wrapped BEK" and t["DiskEncryptionKeyEncryptionAlgorithm"] ==
               "RSA-OAEP-256" and t["DiskEncryptionKeyEncryptionKeyURL"].endswith("/keys/kek/" + key["version"])
               and t["DiskEncryptionKeyFileName"] == "LinuxPassPhraseFileName", doc)
        path = urllib.parse.urlsplit(t["DiskEncryptionKeyEncryptionKeyURL"]).path
        st, _, u = env.kv("POST", path + "/unwrapkey" + V, {"alg": "RSA-OAEP-256", "value": doc["value"]},
                          token=tok)
        expect(st == 200 and b64url_decode(u["value"]) == b"pass phrase", (st, u))
        env.ctl("put_bek", name="plainbek", key_b64="AAECAw==")
        st, _, doc = env.kv("GET", "/secrets/plainbek" + V, token=tok)
        expect(doc["value"] == "AAECAw==" and doc["contentType"] == "BEK", doc)
        return r["version"]

    # ------------------------------------------------------------ RBAC

    @check("RBAC deny -> 403 Forbidden/ForbiddenByRbac, count honoured; policy style")
    def _():
        env.ctl("rbac_deny", path="/secrets/bek*", count=1)
        st, _, doc = env.kv("GET", "/secrets/bek" + V, token=tok)
        expect(st == 403 and doc["error"]["innererror"]["code"] == "ForbiddenByRbac", doc)
        st, _, _ = env.kv("GET", "/secrets/bek" + V, token=tok)
        expect(st == 200, "rule with count=1 applied twice")
        env.ctl("rbac_deny", path="*", style="policy",
                principal=info["system_identity"]["client_id"])
        st, _, doc = env.kv("GET", "/secrets/bek" + V, token=tok)
        expect(st == 403 and doc["error"]["innererror"]["code"] == "AccessDenied", doc)
        env.ctl("rbac_clear")

    # ------------------------------------------------------------ faults

    @check("fault 429 with Retry-After, then without")
    def _():
        env.ctl("fault", path="/secrets/bek", status=429, retry_after=2)
        env.ctl("fault", path="/secrets/bek", status=429)
        st, r, doc = env.kv("GET", "/secrets/bek" + V, token=tok)
        expect(st == 429 and r.getheader("Retry-After") == "2" and doc["error"]["code"] == "Throttled",
               (st, r.getheader("Retry-After"), doc))
        st, r, doc = env.kv("GET", "/secrets/bek" + V, token=tok)
        expect(st == 429 and r.getheader("Retry-After") is None, "second 429")
        st, _, _ = env.kv("GET", "/secrets/bek" + V, token=tok)
        expect(st == 200, "queue not drained: %d" % st)

    @check("fault 5xx with custom body; count=2; when=authed skips the challenge request")
    def _():
        env.ctl("fault", path="/secrets/*", status=503, count=2, when="authed",
                body={"error": {"code": "Custom", "message": "m"}})
        st, _, _ = env.kv("GET", "/secrets/bek" + V)
        expect(st == 401, "unauthed request consumed the fault")
        for _ in range(2):
            st, _, doc = env.kv("GET", "/secrets/bek" + V, token=tok)
            expect(st == 503 and doc["error"]["code"] == "Custom", (st, doc))
        st, _, _ = env.kv("GET", "/secrets/bek" + V, token=tok)
        expect(st == 200, st)

    @check("fault delay_ms")
    def _():
        env.ctl("fault", path="/secrets/bek", delay_ms=400)
        t = time.time()
        st, _, _ = env.kv("GET", "/secrets/bek" + V, token=tok)
        dt = time.time() - t
        expect(st == 200 and dt >= 0.4, "status %d after %.2fs" % (st, dt))
        return "%.2fs" % dt

    @check("fault garbage body")
    def _():
        env.ctl("fault", path="/secrets/bek", garbage=True)
        st, r, payload = env.kv("GET", "/secrets/bek" + V, token=tok, raw=True)
        expect(st == 200, st)
        try:
            json.loads(payload)
            raise AssertionError("body parsed as JSON")
        except ValueError:
            pass

    for kind, want in (("close", 52), ("reset", 56), ("truncate", 18)):
        @check("fault %s (curl exit %d)" % (kind, want))
        def _(kind=kind, want=want):
            env.ctl("fault", path="/secrets/bek", **{kind: True})
            rc, _, err = curl(env, "-H", "Authorization: Bearer " + tok,
                              "https://127.0.0.1:%d/secrets/bek%s" % (env.kv_port, V))
            expect(rc == want, "curl rc %d: %s" % (rc, err.decode().strip()))

    @check("IMDS fault 410 twice then a token; 500/429/404 bodies")
    def _():
        env.ctl("fault", server="imds", path="/metadata/identity/*", status=410, count=2)
        path = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net"
        got = [env.imds(path, {"Metadata": "true"})[0] for _ in range(3)]
        expect(got == [410, 410, 200], got)
        for code in (500, 429, 404):
            env.ctl("fault", server="imds", status=code)
            st, _, doc = env.imds(path, {"Metadata": "true"})
            expect(st == code and "error" in doc and "error_description" in doc, (st, doc))

    # ------------------------------------------------------------ counters

    @check("counters: one connection for two requests (keep-alive), reset")
    def _():
        env.ctl("reset_counters")
        url = "https://127.0.0.1:%d/secrets/bek%s" % (env.kv_port, V)
        rc, out, err = curl(env, "-H", "Authorization: Bearer " + tok, "-o", "/dev/null", url,
                            "-o", "/dev/null", url)
        expect(rc == 0, err)
        c = env.ctl("counters")["counters"]
        expect(c.get("primary.connections") == 1 and c.get("primary.requests") == 2
               and c.get("primary.get_secret.ok") == 2, c)
        n = env.ctl("counters")["paths"]["primary"].get("GET /secrets/bek")
        expect(n == 2, n)
        env.ctl("reset_counters")
        expect(env.counter("primary.requests") == 0, "not reset")

    @check("HTTP/1.1 keep-alive with http.client: 3 requests, 1 connection")
    def _():
        env.ctl("reset_counters")
        conn = http.client.HTTPSConnection("127.0.0.1", env.kv_port, context=env.ctx, timeout=10)
        for _ in range(3):
            conn.request("GET", "/secrets/bek" + V, headers={"Authorization": "Bearer " + tok})
            r = conn.getresponse()
            r.read()
            expect(r.status == 200, r.status)
        conn.close()
        expect(env.counter("primary.connections") == 1, env.counter("primary.connections"))

    @check("chunked request body")
    def _():
        rc, out, err = curl(env, "-X", "PUT", "-H", "Authorization: Bearer " + tok,
                            "-H", "Content-Type: application/json", "-H", "Transfer-Encoding: chunked",
                            "--data-binary", '{"value":"chunky"}',
                            "https://127.0.0.1:%d/secrets/chunk%s" % (env.kv_port, V))
        expect(rc == 0 and json.loads(out)["value"] == "chunky", (rc, out, err))

    @check("tokens_issued counts IMDS and AAD tokens")
    def _():
        env.ctl("reset_counters")
        env.token()
        expect(env.counter("tokens_issued") == 1 and env.counter("imds.tokens_issued") == 1, "imds")

    # ------------------------------------------------------------ AAD

    def aad(path, form):
        st, r, doc = env.kv("POST", path, urllib.parse.urlencode(form),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        return st, doc

    @check("AAD v2 client secret: integer expires_in; the token works on the vault")
    def _():
        st, doc = aad("/%s/oauth2/v2.0/token" % tenant, {
            "grant_type": "client_credentials", "client_id": info["aad_client_id"],
            "client_secret": info["aad_client_secret"], "scope": "https://vault.azure.net/.default"})
        expect(st == 200 and isinstance(doc["expires_in"], int), (st, doc))
        st, _, _ = env.kv("GET", "/secrets/bek" + V, token=doc["access_token"])
        expect(st == 200, st)

    @check("AAD v1 client secret: string numbers, resource")
    def _():
        st, doc = aad("/%s/oauth2/token" % tenant, {
            "grant_type": "client_credentials", "client_id": info["aad_client_id"],
            "client_secret": info["aad_client_secret"], "resource": "https://vault.azure.net"})
        expect(st == 200 and isinstance(doc["expires_in"], str) and isinstance(doc["expires_on"], str)
               and doc["resource"] == "https://vault.azure.net", (st, doc))

    @check("AAD errors: wrong secret 401, unknown app 400, unknown tenant 400")
    def _():
        st, doc = aad("/%s/oauth2/v2.0/token" % tenant, {
            "grant_type": "client_credentials", "client_id": info["aad_client_id"],
            "client_secret": "wrong", "scope": "https://vault.azure.net/.default"})
        expect(st == 401 and doc["error"] == "invalid_client" and 7000215 in doc["error_codes"], doc)
        st, doc = aad("/%s/oauth2/v2.0/token" % tenant, {
            "grant_type": "client_credentials", "client_id": "nope",
            "client_secret": "x", "scope": "https://vault.azure.net/.default"})
        expect(st == 400 and doc["error"] == "unauthorized_client", doc)
        st, doc = aad("/other/oauth2/v2.0/token", {"grant_type": "client_credentials"})
        expect(st == 400 and 90002 in doc["error_codes"], doc)

    def assertion(aud, key_path=None, tamper=False):
        cert_der = b"".join(base64.b64decode(line) for line in open(info["aad_cert"]).read()
                            .split("-----")[2].split())
        import hashlib
        head = {"alg": "RS256", "typ": "JWT",
                "x5t": b64url_encode(hashlib.sha1(cert_der).digest())}
        now = int(time.time())
        claims = {"aud": aud, "iss": info["aad_client_id"], "sub": info["aad_client_id"],
                  "jti": b64url_encode(os.urandom(12)), "nbf": now, "exp": now + 600}
        signing = (b64url_encode(json.dumps(head).encode()) + "." +
                   b64url_encode(json.dumps(claims).encode()))
        sig = openssl("dgst", "-sha256", "-sign", key_path or info["aad_key"], data=signing.encode())
        if tamper:
            sig = bytes([sig[0] ^ 1]) + sig[1:]
        return signing + "." + b64url_encode(sig)

    @check("AAD client assertion (RS256, x5t): good 200, bad signature 401, wrong aud 401")
    def _():
        url = info["aad_token_url_v2"]
        form = {"grant_type": "client_credentials", "client_id": info["aad_client_id"],
                "scope": "https://vault.azure.net/.default",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
        st, doc = aad("/%s/oauth2/v2.0/token" % tenant, dict(form, client_assertion=assertion(url)))
        expect(st == 200 and doc["access_token"], (st, doc))
        st, doc = aad("/%s/oauth2/v2.0/token" % tenant, dict(form, client_assertion=assertion(url, tamper=True)))
        expect(st == 401 and 700027 in doc["error_codes"], doc)
        st, doc = aad("/%s/oauth2/v2.0/token" % tenant,
                      dict(form, client_assertion=assertion("https://elsewhere/x/oauth2/token")))
        expect(st == 401, doc)

    # ------------------------------------------------------------ TLS

    @check("TLS switches: wronghost, untrusted, expired rejected by curl; server accepted")
    def _():
        url = "https://127.0.0.1:%d/secrets/bek%s" % (env.kv_port, V)
        got = {}
        for cert in ("wronghost", "untrusted", "expired", "server"):
            env.ctl("tls", cert=cert)
            rc, _, _ = curl(env, "-o", "/dev/null", url)
            got[cert] = rc
        expect(got["server"] == 0, got)
        expect(all(got[c] in (51, 60) for c in ("wronghost", "untrusted", "expired")), got)
        return ", ".join("%s=%d" % kv for kv in got.items())

    @check("secondary vault: own port, own faults, same material with vault=all")
    def _():
        expect(info["kv2_port"], "no secondary")
        r = env.ctl("put_secret", vault="all", name="dup", value="same")
        st, _, doc = env.kv("GET", "/secrets/dup/%s%s" % (r["version"], V), token=tok, port=info["kv2_port"])
        expect(st == 200 and doc["value"] == "same", (st, doc))
        env.ctl("fault", server="secondary", status=500)
        st, _, _ = env.kv("GET", "/secrets/dup" + V, token=tok)
        expect(st == 200, "primary got the secondary's fault")
        st, _, _ = env.kv("GET", "/secrets/dup" + V, token=tok, port=info["kv2_port"])
        expect(st == 500, st)

    @check("backup at primary, restore at secondary: same versions, tags, attributes; 409 twice")
    def _():
        k2 = info["kv2_port"]
        env.ctl("put_key", name="bkek", bits=2048)
        k_new = env.ctl("put_key", name="bkek", bits=2048, tags={"t": "1"}, exp=4102444800)
        s1 = env.ctl("put_secret", name="bsec", value="v1", content_type="BEK")
        s2 = env.ctl("put_secret", name="bsec", value="v2", content_type="Wrapped BEK",
                     tags={"MachineName": "vm"}, nbf=1000)
        st, _, doc = env.kv("POST", "/secrets/bsec/backup" + V, token=tok)
        expect(st == 200 and isinstance(doc["value"], str) and "=" not in doc["value"]
               and b"v2" not in b64url_decode(doc["value"]), (st, doc))
        sblob = doc["value"]
        st, _, doc = env.kv("POST", "/keys/bkek/backup" + V, token=tok)
        expect(st == 200, (st, doc))
        kblob = doc["value"]
        st, _, doc = env.kv("POST", "/secrets/restore" + V, {"value": sblob}, token=tok, port=k2)
        expect(st == 200 and doc["id"].endswith("/secrets/bsec/" + s2["version"]) and "value" not in doc
               and doc["tags"] == {"MachineName": "vm"} and doc["attributes"]["nbf"] == 1000
               and doc["contentType"] == "Wrapped BEK", (st, doc))
        for ver, val in ((s1["version"], "v1"), (s2["version"], "v2")):
            st, _, doc = env.kv("GET", "/secrets/bsec/%s%s" % (ver, V), token=tok, port=k2)
            expect(st == 200 and doc["value"] == val, (ver, st, doc))
        st, _, doc = env.kv("GET", "/secrets/bsec/versions" + V, token=tok, port=k2)
        expect([d["id"].rsplit("/", 1)[1] for d in doc["value"]] == [s1["version"], s2["version"]], doc)
        st, _, doc = env.kv("POST", "/keys/restore" + V, {"value": kblob}, token=tok, port=k2)
        expect(st == 200 and doc["key"]["kid"].endswith("/keys/bkek/" + k_new["version"])
               and doc["tags"] == {"t": "1"} and doc["attributes"]["exp"] == 4102444800, (st, doc))
        cek = os.urandom(32)
        st, _, w = env.kv("POST", "/keys/bkek/%s/wrapkey%s" % (k_new["version"], V),
                          {"alg": "RSA-OAEP", "value": b64url_encode(cek)}, token=tok)
        st2, _, u = env.kv("POST", "/keys/bkek/%s/unwrapkey%s" % (k_new["version"], V),
                           {"alg": "RSA-OAEP", "value": w["value"]}, token=tok, port=k2)
        expect(st == 200 and st2 == 200 and b64url_decode(u["value"]) == cek, (st, st2, u))
        for path, blob in (("/secrets/restore", sblob), ("/keys/restore", kblob)):
            st, _, doc = env.kv("POST", path + V, {"value": blob}, token=tok, port=k2)
            expect(st == 409 and doc["error"]["code"] == "Conflict", (path, st, doc))
        st, _, doc = env.kv("POST", "/keys/restore" + V, {"value": sblob}, token=tok, port=k2)
        expect(st == 400 and doc["error"]["code"] == "BadParameter", ("secret blob as key", st, doc))
        bad = b64url_decode(kblob)
        bad = bad[:20] + bytes([bad[20] ^ 1]) + bad[21:]
        for blob in (b64url_encode(b"not ours at all"), b64url_encode(bad), "a+b/"):
            st, _, doc = env.kv("POST", "/secrets/restore" + V, {"value": blob}, token=tok, port=k2)
            expect(st == 400 and doc["error"]["code"] == "BadParameter", (blob[:10], st, doc))
        st, _, doc = env.kv("POST", "/secrets/nope/backup" + V, token=tok)
        expect(st == 404 and doc["error"]["code"] == "SecretNotFound", (st, doc))
        expect(env.counter("primary.backup_secret.ok") == 1 and env.counter("secondary.restore_key.ok") == 1,
               "counters")

    @check("control backup/restore: blob from primary restores in secondary; errors")
    def _():
        s = env.ctl("put_secret", name="cbk", value="x1")
        env.ctl("put_secret", name="cbk", value="x2")
        blob = env.ctl("backup", name="cbk")["value"]
        r = env.ctl("restore", vault="secondary", value=blob)
        expect(r["name"] == "cbk" and len(r["versions"]) == 2 and r["versions"][0] == s["version"], r)
        st, _, doc = env.kv("GET", "/secrets/cbk/%s%s" % (s["version"], V), token=tok, port=info["kv2_port"])
        expect(st == 200 and doc["value"] == "x1", (st, doc))
        for args, want in (({"vault": "secondary", "value": blob}, "already exists"),
                           ({"vault": "secondary", "kind": "key", "value": blob}, "not a key backup")):
            try:
                env.ctl("restore", **args)
                raise AssertionError("restore accepted %s" % args)
            except AssertionError as e:
                expect(want in str(e), e)

    @check("backup/restore: RBAC deny and faults apply")
    def _():
        env.ctl("rbac_deny", path="/keys/bkek/backup", count=1)
        st, _, doc = env.kv("POST", "/keys/bkek/backup" + V, token=tok)
        expect(st == 403 and doc["error"]["innererror"]["code"] == "ForbiddenByRbac"
               and "keys/backup/action" in doc["error"]["message"], (st, doc))
        env.ctl("rbac_deny", vault="secondary", path="/secrets/restore", count=1, style="policy")
        st, _, doc = env.kv("POST", "/secrets/restore" + V, {"value": "AAAA"}, token=tok, port=info["kv2_port"])
        expect(st == 403 and "secrets restore permission" in doc["error"]["message"], (st, doc))
        env.ctl("fault", path="/secrets/bsec/backup", status=503)
        st, _, _ = env.kv("POST", "/secrets/bsec/backup" + V, token=tok)
        expect(st == 503, st)
        env.ctl("rbac_clear", vault="all")

    @check("vault_settings: recovery level and days in every bundle; 1024-bit PEM key accepted")
    def _():
        st, _, doc = env.kv("GET", "/secrets/bsec" + V, token=tok)
        expect(doc["attributes"]["recoveryLevel"] == "Recoverable+Purgeable", doc)
        env.ctl("vault_settings", recovery_level="Recoverable", recoverable_days=30)
        st, _, doc = env.kv("GET", "/secrets/bsec" + V, token=tok)
        a = doc["attributes"]
        expect(a["recoveryLevel"] == "Recoverable" and a["recoverableDays"] == 30, a)
        st, _, doc = env.kv("GET", "/keys/bkek" + V, token=tok)
        expect(doc["attributes"]["recoveryLevel"] == "Recoverable", doc)
        st, _, doc = env.kv("GET", "/keys/bkek" + V, token=tok, port=info["kv2_port"])
        expect(doc["attributes"]["recoveryLevel"] == "Recoverable+Purgeable", "secondary changed too")
        env.ctl("vault_settings", recovery_level="Purgeable")
        st, _, doc = env.kv("GET", "/secrets/bsec" + V, token=tok)
        expect(doc["attributes"]["recoveryLevel"] == "Purgeable" and "recoverableDays" not in doc["attributes"],
               doc)
        try:
            env.ctl("vault_settings", recovery_level="Sometimes")
            raise AssertionError("bad level accepted")
        except AssertionError as e:
            expect("must be one of" in str(e), e)
        pem1024 = openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024").decode()
        env.ctl("put_key", name="old1024", pem=pem1024)
        st, _, doc = env.kv("GET", "/keys/old1024" + V, token=tok)
        expect(st == 200 and len(b64url_decode(doc["key"]["n"])) == 128, (st, doc))
        env.ctl("vault_settings", recovery_level="Recoverable+Purgeable", recoverable_days=90)

    @check("service limits: IMDS 429 over imds_rps, KV 429 Throttled over the 10 s quota")
    def _():
        env.ctl("config", imds_rps=3)
        path = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net"
        got = [env.imds(path, {"Metadata": "true"})[0] for _ in range(4)]
        expect(got == [200, 200, 200, 429], got)
        t = env.ctl("issue_token")["access_token"]
        env.ctl("config", kv_secret_reads_per_10s=2)
        got = [env.kv("GET", "/secrets/bek" + V, token=t) for _ in range(3)]
        st, r, doc = got[2]
        expect([g[0] for g in got[:2]] == [200, 200], [g[0] for g in got])
        expect(st == 429 and doc["error"]["code"] == "Throttled" and r.getheader("Retry-After") is None,
               (st, doc))
        expect(env.counter("primary.throttled") == 1 and env.counter("imds.throttled") == 1, "counters")

    @check("storm limits: IMDS limits per identity asked for, KV window scaled, 503 every Nth")
    def _():
        env.ctl("reset")
        a = env.ctl("imds_identity", name="vm-a")["identity"]["client_id"]
        b = env.ctl("imds_identity", name="vm-b")["identity"]["client_id"]
        env.ctl("config", imds_rps=1)
        path = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net"
        got = [env.imds(path + "&client_id=" + c, {"Metadata": "true"})[0] for c in (a, b, a)]
        expect(got == [200, 200, 429], got)
        t = env.ctl("issue_token")["access_token"]
        env.ctl("put_secret", name="w", value="x")
        env.ctl("config", kv_secret_reads_per_10s=1, kv_window_s=0.3, throttle_retry_after=1)
        got = [env.kv("GET", "/secrets/w" + V, token=t) for _ in range(2)]
        expect([g[0] for g in got] == [200, 429] and got[1][1].getheader("Retry-After") == "1",
               [g[0] for g in got])
        time.sleep(0.35)  # the scaled window has passed: admitted again
        expect(env.kv("GET", "/secrets/w" + V, token=t)[0] == 200, "not admitted after the window")
        env.ctl("config", kv_secret_reads_per_10s=4000, kv_window_s=10, kv_unavailable_every=3)
        got = [env.kv("GET", "/secrets/w" + V, token=t)[0] for _ in range(6)]
        expect(got == [200, 200, 503, 200, 200, 503], got)
        expect(env.counter("primary.unavailable") == 2, "counter")
        env.ctl("reset")

    @check("shutdown does not wait for a request stuck in a delay fault")
    def _():
        env.ctl("fault", path="/secrets/stuck", delay_ms=600000)
        p = subprocess.Popen(["curl", "-sS", "--noproxy", "*", "--max-time", "30", "--cacert", info["ca"],
                              "https://127.0.0.1:%d/secrets/stuck%s" % (env.kv_port, V)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        env.ctl("faults_clear")
        CHILDREN.append(p)

    @check("control reset restores a clean world")
    def _():
        env.ctl("fault", status=500, count=5)
        env.ctl("reset")
        t = env.token()
        st, _, _ = env.kv("GET", "/secrets/bek" + V, token=t)
        expect(st == 404, "secrets or faults survived reset: %d" % st)

    shutil.rmtree(tmp, ignore_errors=True)


def ipv6_check():
    @check("IPv6 loopback ::1 listeners")
    def _():
        try:
            socket.socket(socket.AF_INET6).bind(("::1", 0))
        except OSError:
            return "skipped: no ::1 here"
        state = tempfile.mkdtemp(prefix="fakes-selftest6.")
        try:
            p = subprocess.run([os.path.join(HERE, "start.sh"), state, "--quiet", "--kv-addr", "::1",
                                "--imds-addr", "::1", "--kv2-port", "-1"], capture_output=True)
            expect(p.returncode == 0, p.stderr)
            info = json.load(open(os.path.join(state, "ports.json")))
            expect(info["kv_ip_url"].startswith("https://[::1]:"), info["kv_ip_url"])
            expect(info["kv_url"].startswith("https://myvault.vault.azure.net:"), info["kv_url"])
            expect(info["resolve"].endswith(":[::1]"), info["resolve"])
            # by its vault name, pinned to ::1 as vaultvol's clients pin it
            rc = subprocess.run(["curl", "-sS", "--noproxy", "*", "-o", "/dev/null", "-w", "%{http_code}",
                                 "--resolve", info["resolve"],
                                 "--cacert", info["ca"], info["kv_url"] + "/secrets/x?api-version=7.4"],
                                capture_output=True)
            expect(rc.stdout == b"401", rc)
        finally:
            subprocess.run([os.path.join(HERE, "stop.sh"), state])
            shutil.rmtree(state, ignore_errors=True)


def main():
    for tool in ("curl", "openssl"):
        if not shutil.which(tool):
            print("FAIL setup: %s not installed" % tool)
            print("0 passed, 1 failed")
            return 1
    state = tempfile.mkdtemp(prefix="fakes-selftest.")
    try:
        p = subprocess.run([os.path.join(HERE, "start.sh"), state, "--quiet"], capture_output=True)
        if p.returncode != 0:
            print("FAIL setup: fakes did not start: %s" % p.stderr.decode().strip())
            RESULTS[1] += 1
        else:
            try:
                run(Env(state))
            except Exception as e:
                print("FAIL setup: %s" % e)
                RESULTS[1] += 1
            ready = os.path.join(state, "ready")
            t = time.time()
            rc = subprocess.run([os.path.join(HERE, "stop.sh"), state]).returncode
            dt = time.time() - t
            for child in CHILDREN:
                child.wait(timeout=30)

            @check("SIGTERM: clean exit within 3 s, ready removed, imported-files.txt written")
            def _():
                expect(rc == 0 and not os.path.exists(ready), "rc %d, ready %s" % (rc, os.path.exists(ready)))
                expect(dt < 3, "took %.1fs" % dt)
                with open(os.path.join(state, "imported-files.txt")) as f:
                    n = len(f.read().splitlines())
                expect(n > 20, "only %d files listed" % n)
                return "%.1fs, %d files listed" % (dt, n)
        ipv6_check()
    finally:
        if VERBOSE and os.path.exists(os.path.join(state, "fakes.log")):
            sys.stderr.write(open(os.path.join(state, "fakes.log")).read())
        shutil.rmtree(state, ignore_errors=True)
    print("%d passed, %d failed" % tuple(RESULTS))
    return 1 if RESULTS[1] else 0


if __name__ == "__main__":
    sys.exit(main())
