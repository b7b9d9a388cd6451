"""Fake Azure Key Vault data plane: secrets and RSA keys, the bearer
challenge, RBAC denials and the real error bodies.  The AAD token endpoint
is served on the primary vault's port under /{tenant}/oauth2/... .
"""

import fnmatch
import hashlib
import json
import os
import re
import zlib
import threading
import uuid

import fake_rsa
from fake_core import App, Response, VAULT_RESOURCE, now
from fake_identity import aad_token

NAME_RE = re.compile(r"^[0-9A-Za-z-]{1,127}$")
AUDIENCES = {VAULT_RESOURCE, VAULT_RESOURCE + "/", "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"}
RECOVERY_LEVEL = "Recoverable+Purgeable"
RECOVERABLE_DAYS = 90
# Key Vault's DeletionRecoveryLevel values; only the "Purgeable"-free ones
# have purge protection.
RECOVERY_LEVELS = ("Purgeable", "Recoverable+Purgeable", "Recoverable",
                   "Recoverable+ProtectedSubscription", "CustomizedRecoverable+Purgeable",
                   "CustomizedRecoverable", "CustomizedRecoverable+ProtectedSubscription")
# Backup blobs: opaque to clients, restorable into any vault of this fake
# (Key Vault: any vault of the same subscription and geography).
BACKUP_MAGIC = b"FAKEKVBK1\0"
MAX_SECRET = 25 * 1024
DEFAULT_KEY_OPS = ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]
CRYPTO_OPS = {"wrapkey": "wrapKey", "unwrapkey": "unwrapKey", "encrypt": "encrypt",
              "decrypt": "decrypt"}
KEY_ALGS = ("RSA-OAEP", "RSA-OAEP-256", "RSA1_5")

RBAC_ACTIONS = {
    "get_secret": "secrets/getSecret/action", "set_secret": "secrets/setSecret/action",
    "update_secret": "secrets/setSecret/action", "delete_secret": "secrets/delete",
    "list_secrets": "secrets/readMetadata/action", "list_secret_versions": "secrets/readMetadata/action",
    "get_key": "keys/read", "create_key": "keys/create/action", "import_key": "keys/import/action",
    "update_key": "keys/write", "delete_key": "keys/delete", "rotate_key": "keys/rotate/action",
    "list_keys": "keys/read", "list_key_versions": "keys/read",
    "wrapkey": "keys/wrap/action", "unwrapkey": "keys/unwrap/action",
    "encrypt": "keys/encrypt/action", "decrypt": "keys/decrypt/action",
    "backup_secret": "secrets/backup/action", "restore_secret": "secrets/restore/action",
    "backup_key": "keys/backup/action", "restore_key": "keys/restore/action",
}
POLICY_PERMS = {
    "get_secret": "get", "set_secret": "set", "update_secret": "set", "delete_secret": "delete",
    "list_secrets": "list", "list_secret_versions": "list", "get_key": "get", "create_key": "create",
    "import_key": "import", "update_key": "update", "delete_key": "delete", "rotate_key": "rotate",
    "list_keys": "list", "list_key_versions": "list", "wrapkey": "wrapKey", "unwrapkey": "unwrapKey",
    "encrypt": "encrypt", "decrypt": "decrypt",
    "backup_secret": "backup", "restore_secret": "restore", "backup_key": "backup", "restore_key": "restore",
}


class KvError(Exception):
    def __init__(self, status, code, message, inner=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.inner = status, code, message, inner
        self.headers = headers or []

    def response(self):
        err = {"code": self.code, "message": self.message}
        if self.inner:
            err["innererror"] = {"code": self.inner}
        return Response(self.status, {"error": err}, headers=self.headers)


def new_version():
    return uuid.uuid4().hex


def _opt_int(v, what):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise KvError(400, "BadParameter", "Property '%s' must be an integer (seconds since the epoch)." % what)
    return v


class Version:
    """One version of a secret or key."""

    def __init__(self, version, kind):
        self.version = version
        self.kind = kind
        self.created = self.updated = now()
        self.enabled = True
        self.nbf = self.exp = None
        self.tags = None
        self.content_type = None
        self.value = None      # secrets
        self.kid = None        # secrets backing certificates
        self.managed = None
        self.key = None        # keys: RsaKey
        self.kty = "RSA"
        self.key_ops = list(DEFAULT_KEY_OPS)
        self.vault = None      # set when stored: its recovery level shows in attributes

    def attributes(self):
        a = {"enabled": self.enabled}
        if self.nbf is not None:
            a["nbf"] = self.nbf
        if self.exp is not None:
            a["exp"] = self.exp
        level, days = (self.vault.recovery_level, self.vault.recoverable_days) if self.vault \
            else (RECOVERY_LEVEL, RECOVERABLE_DAYS)
        a.update({"created": self.created, "updated": self.updated, "recoveryLevel": level})
        if days is not None:
            a["recoverableDays"] = days
        if self.kind == "key":
            a["exportable"] = False
        return a

    def apply_attributes(self, attrs):
        if attrs is None:
            return
        if not isinstance(attrs, dict):
            raise KvError(400, "BadParameter", "Property 'attributes' must be an object.")
        if "enabled" in attrs and attrs["enabled"] is not None:
            if not isinstance(attrs["enabled"], bool):
                raise KvError(400, "BadParameter", "Property 'attributes.enabled' must be a boolean.")
            self.enabled = attrs["enabled"]
        if "nbf" in attrs:
            self.nbf = _opt_int(attrs["nbf"], "attributes.nbf")
        if "exp" in attrs:
            self.exp = _opt_int(attrs["exp"], "attributes.exp")

    def set_tags(self, tags):
        if tags is None:
            return
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise KvError(400, "BadParameter", "Property 'tags' must be a map of strings.")
        if len(tags) > 15:
            raise KvError(400, "BadParameter", "A maximum of 15 tags is allowed.")
        self.tags = dict(tags) or None


class Obj:
    """A named secret or key with its versions, newest last."""

    def __init__(self, name, kind):
        self.name = name
        self.kind = kind
        self.versions = {}
        self.order = []
        self.deleted_date = None

    def add(self, v):
        self.versions[v.version] = v
        if v.version in self.order:
            self.order.remove(v.version)
        self.order.append(v.version)

    def latest(self):
        return self.versions[self.order[-1]] if self.order else None

    def get(self, version):
        if not version:
            return self.latest()
        return self.versions.get(version.lower())


class Vault:
    """State of one vault: secrets, keys, their deleted twins, RBAC rules."""

    def __init__(self, name):
        self.name = name
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.live = {"secret": {}, "key": {}}
            self.deleted = {"secret": {}, "key": {}}
            self.rbac = []
            self.rbac_next = 1
            self.tls_cert = "server"
            self.recovery_level = RECOVERY_LEVEL
            self.recoverable_days = RECOVERABLE_DAYS

    def set_recovery(self, level, days):
        """Vault settings soft delete / purge protection, as Key Vault
        reports them in every bundle (days: 7..90, None when Purgeable)."""
        if level not in RECOVERY_LEVELS:
            raise ValueError("recovery_level must be one of %s" % ", ".join(RECOVERY_LEVELS))
        if level == "Purgeable":
            days = None
        elif days is None:
            days = RECOVERABLE_DAYS
        elif not 7 <= int(days) <= 90:
            raise ValueError("recoverable_days must be 7..90")
        with self.lock:
            self.recovery_level = level
            self.recoverable_days = None if days is None else int(days)

    def find(self, kind, name):
        return self.live[kind].get(name.lower())

    def put_version(self, kind, name, v):
        with self.lock:
            if name.lower() in self.deleted[kind]:
                what = "Secret" if kind == "secret" else "Key"
                raise KvError(409, "Conflict",
                              "%s %s is currently in a deleted but recoverable state, and its name "
                              "cannot be reused; in this state, the %s can only be recovered or purged."
                              % (what, name, what.lower()), "ObjectIsDeletedButRecoverable")
            obj = self.live[kind].get(name.lower())
            if obj is None:
                obj = self.live[kind][name.lower()] = Obj(name, kind)
            v.vault = self
            obj.add(v)
            return obj

    def restore(self, obj):
        """Insert a whole object from a backup; 409 when the name is taken
        (live, or deleted but recoverable)."""
        with self.lock:
            key = obj.name.lower()
            if key in self.live[obj.kind] or key in self.deleted[obj.kind]:
                what = "Secret" if obj.kind == "secret" else "Key"
                raise KvError(409, "Conflict", "%s %s already exists in this key vault; a backup can"
                              " only be restored under a name that is not in use." % (what, obj.name))
            for v in obj.versions.values():
                v.vault = self
            self.live[obj.kind][key] = obj
            return obj

    def delete(self, kind, name):
        with self.lock:
            obj = self.live[kind].pop(name.lower(), None)
            if obj is not None:
                obj.deleted_date = now()
                self.deleted[kind][name.lower()] = obj
            return obj

    def recover(self, kind, name):
        with self.lock:
            obj = self.deleted[kind].pop(name.lower(), None)
            if obj is not None:
                obj.deleted_date = None
                self.live[kind][name.lower()] = obj
            return obj

    def purge(self, kind, name):
        with self.lock:
            a = self.deleted[kind].pop(name.lower(), None)
            b = self.live[kind].pop(name.lower(), None)
            return a or b

    def rbac_add(self, rule):
        with self.lock:
            r = dict(rule)
            r["id"] = self.rbac_next
            self.rbac_next += 1
            r.setdefault("path", "*")
            r["count"] = int(r.get("count", -1))
            r.setdefault("style", "rbac")
            if r["style"] not in ("rbac", "policy"):
                raise ValueError("style must be rbac or policy")
            self.rbac.append(r)
            return r["id"]

    def rbac_match(self, method, path, claims):
        principals = {str(claims.get(k, "")).lower() for k in ("appid", "oid", "xms_mirid")}
        with self.lock:
            for r in self.rbac:
                if r["count"] == 0:
                    continue
                if r.get("method") and r["method"].upper() != method:
                    continue
                if r.get("principal") and r["principal"].lower() not in principals:
                    continue
                if not fnmatch.fnmatchcase(path.lower(), r["path"].lower()):
                    continue
                if r["count"] > 0:
                    r["count"] -= 1
                return dict(r)
        return None

    def dump(self):
        with self.lock:
            out = {}
            for kind in ("secret", "key"):
                for state, table in (("live", self.live[kind]), ("deleted", self.deleted[kind])):
                    for obj in table.values():
                        out.setdefault(kind + "s", []).append({
                            "name": obj.name, "state": state,
                            "versions": [{"version": v.version, "attributes": v.attributes(),
                                          "tags": v.tags, "contentType": v.content_type,
                                          "key_ops": v.key_ops if kind == "key" else None}
                                         for v in (obj.versions[x] for x in obj.order)]})
            out["rbac"] = [dict(r) for r in self.rbac]
            out["tls_cert"] = self.tls_cert
            out["recovery_level"] = self.recovery_level
            out["recoverable_days"] = self.recoverable_days
            return out


def backup_blob(vault, kind, name):
    """Key Vault's backup of a live secret or key: every version with its
    attributes, tags, contentType and material, as an opaque base64url
    blob (magic, zlib'd JSON, SHA-256 trailer).  No per-process key: any
    fake process restores it, as any vault of a subscription and geography
    does in Azure."""
    with vault.lock:
        obj = vault.find(kind, name)
        if obj is None:
            raise VaultApp._not_found(kind, name)
        vers = []
        for x in obj.order:
            v = obj.versions[x]
            d = {"version": v.version, "created": v.created, "updated": v.updated,
                 "enabled": v.enabled, "nbf": v.nbf, "exp": v.exp, "tags": v.tags,
                 "contentType": v.content_type}
            if kind == "secret":
                d.update({"value": v.value, "kid": v.kid, "managed": v.managed})
            else:
                d.update({"pem": v.key.private_pem(), "kty": v.kty, "key_ops": list(v.key_ops)})
            vers.append(d)
        doc = {"kind": kind, "name": obj.name, "versions": vers}
    body = zlib.compress(json.dumps(doc, sort_keys=True).encode())
    return fake_rsa.b64url_encode(BACKUP_MAGIC + body + hashlib.sha256(BACKUP_MAGIC + body).digest())


def restore_blob(vault, kind, value):
    """Restore a backup_blob into vault: names, versions, attributes and tags
    kept.  KvError 400 BadParameter for a blob that is not ours (or of the
    other kind), 409 Conflict when the name is in use."""
    bad = KvError(400, "BadParameter", "The backup blob is invalid, corrupt or not a %s backup." % kind)
    if not isinstance(value, str):
        raise KvError(400, "BadParameter", "Property 'value' (the backup blob) is required.")
    try:
        blob = fake_rsa.b64url_decode(value)
        body, digest = blob[len(BACKUP_MAGIC):-32], blob[-32:]
        if not blob.startswith(BACKUP_MAGIC) or hashlib.sha256(BACKUP_MAGIC + body).digest() != digest:
            raise bad
        doc = json.loads(zlib.decompress(body))
    except (ValueError, UnicodeError, zlib.error):
        raise bad
    if doc.get("kind") != kind:
        raise bad
    obj = Obj(doc["name"], kind)
    for d in doc["versions"]:
        v = Version(d["version"], kind)
        v.created, v.updated, v.enabled = d["created"], d["updated"], d["enabled"]
        v.nbf, v.exp, v.tags, v.content_type = d["nbf"], d["exp"], d["tags"], d["contentType"]
        if kind == "secret":
            v.value, v.kid, v.managed = d["value"], d["kid"], d["managed"]
        else:
            v.key = fake_rsa.RsaKey.from_pem(d["pem"])
            v.kty, v.key_ops = d["kty"], list(d["key_ops"])
        obj.add(v)
    return vault.restore(obj)


def persist(vault, path):
    """Write every live secret and key of vault to path (their backup blobs:
    versions, attributes and material), atomically and durably: a real
    vault outlives the VM, so a test that kills the guest (a power cut)
    restarts the fake from this file (load_persisted) on a disk that
    survives."""
    with vault.lock:
        doc = [{"kind": kind, "blob": backup_blob(vault, kind, obj.name)}
               for kind in ("secret", "key") for obj in list(vault.live[kind].values())]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
    dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def load_persisted(vault, path):
    """Restore what persist wrote; False when there is no such file."""
    if not os.path.exists(path):
        return False
    with open(path) as f:
        for d in json.load(f):
            restore_blob(vault, d["kind"], d["blob"])
    return True


class VaultApp(App):
    server_header = "Microsoft-IIS/10.0"

    def __init__(self, world, vault, default_base, serve_aad):
        super().__init__(vault.name, world.counters, world.faults)
        self.world = world
        self.vault = vault
        self.default_base = default_base
        self.serve_aad = serve_aad
        self.quiet = world.quiet

    # ---- routing

    def classify(self, req):
        s = req.segments
        m = req.method
        n = len(s)
        if not s:
            return "unknown"
        head = s[0].lower()
        if self.serve_aad and n in (3, 4) and s[1].lower() == "oauth2" and s[-1].lower() == "token" \
                and (n == 3 or s[2].lower() == "v2.0"):
            req.route = {"tenant": s[0], "v2": n == 4}
            return "aad_token"
        if head in ("secrets", "keys"):
            kind = head[:-1]
            if n == 1:
                return "list_%ss" % kind if m == "GET" else "bad_method"
            req.route = {"name": s[1], "version": ""}
            if n == 2 and m == "POST" and s[1].lower() == "restore":
                req.route = {}
                return "restore_" + kind
            if n == 2:
                op = {"GET": "get_", "PUT": "set_" if kind == "secret" else "import_",
                      "PATCH": "update_", "DELETE": "delete_"}.get(m)
                return op + kind if op else "bad_method"
            sub = s[2].lower()
            if n == 3 and sub == "backup":
                return "backup_" + kind if m == "POST" else "bad_method"
            if n == 3 and sub == "versions":
                return "list_%s_versions" % kind if m == "GET" else "bad_method"
            if kind == "key" and n == 3 and sub in ("create", "rotate"):
                return sub + "_key" if m == "POST" else "bad_method"
            if kind == "key" and n == 3 and sub in CRYPTO_OPS:
                return sub if m == "POST" else "bad_method"
            if kind == "key" and n == 4 and s[3].lower() in CRYPTO_OPS:
                req.route["version"] = s[2]
                return s[3].lower() if m == "POST" else "bad_method"
            if n == 3:
                req.route["version"] = s[2]
                op = {"GET": "get_", "PATCH": "update_"}.get(m)
                return op + kind if op else "bad_method"
            return "unknown"
        if head in ("deletedsecrets", "deletedkeys"):
            kind = head[7:-1]
            if n == 1:
                return "list_deleted_%ss" % kind if m == "GET" else "bad_method"
            req.route = {"name": s[1]}
            if n == 2:
                op = {"GET": "get_deleted_", "DELETE": "purge_"}.get(m)
                return op + kind if op else "bad_method"
            if n == 3 and s[2].lower() == "recover":
                return "recover_" + kind if m == "POST" else "bad_method"
        return "unknown"

    # ---- responses

    def common_headers(self, resp):
        return [("Cache-Control", "no-cache"), ("Pragma", "no-cache"), ("Expires", "-1"),
                ("x-ms-keyvault-region", "fakeregion"),
                ("x-ms-request-id", str(uuid.uuid4())),
                ("x-ms-keyvault-service-version", "1.9.1200.1"),
                ("x-ms-keyvault-network-info", "conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;"),
                ("Strict-Transport-Security", "max-age=31536000;includeSubDomains"),
                ("X-Content-Type-Options", "nosniff")]

    def challenge_header(self):
        cfg = self.world.config
        key = "authorization_uri" if cfg["challenge_style"] == "authorization_uri" else "authorization"
        return ("WWW-Authenticate", 'Bearer %s="%s/%s", resource="%s"'
                % (key, cfg["authority"].rstrip("/"), cfg["tenant"], VAULT_RESOURCE))

    def unauthorized(self, message, why):
        self.counters.inc(self.name + ".challenges")
        self.counters.inc(self.name + ".challenges." + why)
        return Response(401, {"error": {"code": "Unauthorized", "message": message}},
                        headers=[self.challenge_header()])

    def fault_response(self, req, status):
        if status == 401:
            return self.unauthorized("AKV10000: Request is missing a Bearer or PoP token.", "injected")
        known = {
            400: ("BadParameter", "Injected bad request.", None),
            403: ("Forbidden", "Access denied (injected).", "ForbiddenByPolicy"),
            404: ("NotFound", "Injected not found.", None),
            408: ("RequestTimeout", "The request timed out.", None),
            409: ("Conflict", "Injected conflict.", None),
            429: ("Throttled", "Request was not allowed because application operations per second in"
                  " vault '%s' exceeded the limit. Retry later." % self.name, None),
            500: ("InternalServerError", "An internal server error occurred.", None),
            502: ("BadGateway", "Bad gateway.", None),
            503: ("ServiceUnavailable", "The service is unavailable. Retry later.", None),
            504: ("GatewayTimeout", "The gateway timed out.", None),
        }
        code, msg, inner = known.get(status, ("HttpStatus%d" % status, "Injected HTTP %d." % status, None))
        return KvError(status, code, msg, inner).response()

    def internal_error(self):
        return KvError(500, "InternalServerError", "The fake crashed; see its log.").response()

    def base_url(self, req):
        host = req.header("Host")
        return ("https://" + host) if host else self.default_base

    # ---- dispatch

    def handle(self, req):
        if req.op == "aad_token":
            return aad_token(self.world, req, req.route["tenant"], req.route["v2"])
        auth = req.header("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self.unauthorized("AKV10000: Request is missing a Bearer or PoP token.", "no_token")
        claims, err = self.world.tokens.validate(token.strip(), AUDIENCES)
        if err:
            return self.unauthorized(err[1], "bad_token")
        if not req.query.get("api-version"):
            return KvError(400, "BadParameter",
                           "The 'api-version' query parameter is required.").response()
        if req.op == "unknown":
            return KvError(404, "NotFound", "The requested resource path was not found.").response()
        if req.op == "bad_method":
            return KvError(405, "MethodNotAllowed",
                           "The requested method is not allowed on this resource.").response()
        throttled = self.throttle(req)
        if throttled:
            return throttled
        rule = self.vault.rbac_match(req.method, req.path, claims)
        if rule:
            self.counters.inc(self.name + ".rbac_denied")
            return self.denied(req, claims, rule)
        try:
            name = req.route.get("name", "")
            if name and not NAME_RE.match(name):
                raise KvError(400, "BadParameter", "The request URI contains an invalid name: %s" % name)
            resp = getattr(self, "op_" + req.op)(req)
        except KvError as e:
            return e.response()
        if req.method != "GET" and getattr(self.vault, "persist_path", None):
            persist(self.vault, self.vault.persist_path)
        return resp

    def throttle(self, req):
        """Service limits per vault per 10 s (REFERENCE.md): 4000 secret
        reads, 300 secret creations, 4000 RSA software-key operations
        (2000 on RSA-HSM keys).  -> a 429 Response or None."""
        cfg = self.world.config
        if not cfg["limits"]:
            return None
        op = req.op
        if op in ("set_secret", "restore_secret"):
            cls, limit = "secret_write", cfg["kv_secret_writes_per_10s"]
        elif "secret" in op:
            cls, limit = "secret_read", cfg["kv_secret_reads_per_10s"]
        else:
            hsm = False
            if op in CRYPTO_OPS:
                with self.vault.lock:
                    obj = self.vault.find("key", req.route.get("name", ""))
                    v = obj.get(req.route.get("version", "")) if obj else None
                    hsm = bool(v and v.kty == "RSA-HSM")
            cls = "key_hsm" if hsm else "key"
            limit = cfg["kv_hsm_key_ops_per_10s"] if hsm else cfg["kv_key_ops_per_10s"]
        # kv_window_s < 10 scales the quota down to what this machine's
        # fake can serve (docs/storm.md): same limit per window, shorter window.
        if self.world.limiter.allow("%s.%s" % (self.name, cls), limit, cfg["kv_window_s"]):
            return self.unavailable(req)
        self.counters.inc(self.name + ".throttled")
        resp = self.fault_response(req, 429)
        if cfg["throttle_retry_after"] is not None:
            resp.headers.append(("Retry-After", str(cfg["throttle_retry_after"])))
        return resp

    def unavailable(self, req):
        """Every kv_unavailable_every-th admitted request gets a 503, as a
        busy front end sometimes answers.  -> a 503 Response or None."""
        every = self.world.config["kv_unavailable_every"]
        if not every or self.counters.inc(self.name + ".admitted") % every:
            return None
        self.counters.inc(self.name + ".unavailable")
        return self.fault_response(req, 503)

    def denied(self, req, claims, rule):
        who = "appid=%s;oid=%s;iss=%s" % (claims.get("appid"), claims.get("oid"), claims.get("iss"))
        action = "Microsoft.KeyVault/vaults/" + RBAC_ACTIONS.get(req.op, "read")
        if rule["style"] == "policy":
            kind = "secrets" if "secret" in req.op else "keys"
            perm = POLICY_PERMS.get(req.op, "get")
            return KvError(403, "Forbidden",
                           "The user, group or application '%s' does not have %s %s permission on key"
                           " vault '%s;location=fakeregion'. For help resolving this issue, please see"
                           " https://go.microsoft.com/fwlink/?linkid=2125287"
                           % (who, kind, perm, self.name), "AccessDenied").response()
        return KvError(403, "Forbidden",
                       "Caller is not authorized to perform action on resource.\r\n"
                       "If role assignments, deny assignments or role definitions were changed recently,"
                       " please observe propagation time.\r\nCaller: %s\r\nAction: '%s'\r\n"
                       "Resource: '/subscriptions/00000000-0000-4000-8000-00000000005b/resourcegroups/"
                       "fake-rg/providers/microsoft.keyvault/vaults/%s%s'\r\nAssignment: (not found)\r\n"
                       "DenyAssignmentId: null\r\nDecisionReason: null \r\nVault: %s;location=fakeregion\r\n"
                       % (who, action, self.name, req.path.lower(), self.name),
                       "ForbiddenByRbac").response()

    # ---- helpers

    def _body(self, req):
        try:
            body = req.json()
        except (ValueError, UnicodeDecodeError):
            raise KvError(400, "BadParameter", "The request body is not valid JSON.")
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise KvError(400, "BadParameter", "The request body must be a JSON object.")
        return body

    @staticmethod
    def _not_found(kind, name, version=""):
        ident = name + ("/" + version if version else "")
        if kind == "secret":
            return KvError(404, "SecretNotFound",
                           "A secret with (name/id) %s was not found in this key vault. If you recently"
                           " deleted this secret you may be able to recover it using the correct recovery"
                           " command. For help resolving this issue, please see"
                           " https://go.microsoft.com/fwlink/?linkid=2125182" % ident)
        return KvError(404, "KeyNotFound",
                       "A key with (name/id) %s was not found in this key vault. If you recently deleted"
                       " this key you may be able to recover it using the correct recovery command. For"
                       " help resolving this issue, please see"
                       " https://go.microsoft.com/fwlink/?linkid=2125182" % ident)

    def _lookup(self, kind, req):
        name, version = req.route["name"], req.route.get("version", "")
        with self.vault.lock:
            obj = self.vault.find(kind, name)
            v = obj.get(version) if obj else None
            if v is None:
                raise self._not_found(kind, name, version)
            return obj, v

    def _secret_bundle(self, base, obj, v, with_value=True):
        b = {}
        if with_value:
            b["value"] = v.value
        b["id"] = "%s/secrets/%s/%s" % (base, obj.name, v.version)
        if v.content_type is not None:
            b["contentType"] = v.content_type
        b["attributes"] = v.attributes()
        if v.tags:
            b["tags"] = dict(v.tags)
        if v.kid:
            b["kid"] = v.kid
        if v.managed:
            b["managed"] = True
        return b

    def _key_bundle(self, base, obj, v):
        jwk = {"kid": "%s/keys/%s/%s" % (base, obj.name, v.version), "kty": v.kty,
               "key_ops": list(v.key_ops)}
        jwk.update(v.key.jwk_public())
        b = {"key": jwk, "attributes": v.attributes()}
        if v.tags:
            b["tags"] = dict(v.tags)
        return b

    def _deleted_fields(self, base, obj, kind):
        days = self.vault.recoverable_days or RECOVERABLE_DAYS
        return {"recoveryId": "%s/deleted%ss/%s" % (base, kind, obj.name),
                "deletedDate": obj.deleted_date,
                "scheduledPurgeDate": obj.deleted_date + days * 86400}

    # ---- secrets

    def op_get_secret(self, req):
        obj, v = self._lookup("secret", req)
        if not v.enabled:
            raise KvError(403, "Forbidden", "Operation get is not allowed on a disabled secret.",
                          "SecretDisabled")
        return Response(200, self._secret_bundle(self.base_url(req), obj, v))

    def op_set_secret(self, req):
        body = self._body(req)
        value = body.get("value")
        if not isinstance(value, str):
            raise KvError(400, "BadParameter", "Property 'value' is required and must be a string.")
        if len(value.encode("utf-8")) > MAX_SECRET:
            raise KvError(400, "BadParameter", "The secret value exceeds the maximum size of 25600 bytes.")
        ct = body.get("contentType")
        if ct is not None and not isinstance(ct, str):
            raise KvError(400, "BadParameter", "Property 'contentType' must be a string.")
        v = Version(new_version(), "secret")
        v.value = value
        v.content_type = ct
        v.set_tags(body.get("tags"))
        v.apply_attributes(body.get("attributes"))
        obj = self.vault.put_version("secret", req.route["name"], v)
        return Response(200, self._secret_bundle(self.base_url(req), obj, v))

    def op_update_secret(self, req):
        body = self._body(req)
        with self.vault.lock:
            obj, v = self._lookup("secret", req)
            if "contentType" in body:
                v.content_type = body["contentType"]
            v.set_tags(body.get("tags"))
            v.apply_attributes(body.get("attributes"))
            v.updated = now()
            return Response(200, self._secret_bundle(self.base_url(req), obj, v, with_value=False))

    def op_delete_secret(self, req):
        with self.vault.lock:
            obj = self.vault.delete("secret", req.route["name"])
            if obj is None:
                raise self._not_found("secret", req.route["name"])
            base = self.base_url(req)
            b = self._deleted_fields(base, obj, "secret")
            b.update(self._secret_bundle(base, obj, obj.latest(), with_value=False))
            return Response(200, b)

    def op_list_secrets(self, req):
        base = self.base_url(req)
        items = []
        with self.vault.lock:
            for obj in self.vault.live["secret"].values():
                v = obj.latest()
                it = self._secret_bundle(base, obj, v, with_value=False)
                it["id"] = "%s/secrets/%s" % (base, obj.name)
                items.append(it)
        return Response(200, {"value": items, "nextLink": None})

    def op_list_secret_versions(self, req):
        base = self.base_url(req)
        with self.vault.lock:
            obj = self.vault.find("secret", req.route["name"])
            if obj is None:
                raise self._not_found("secret", req.route["name"])
            items = [self._secret_bundle(base, obj, obj.versions[x], with_value=False) for x in obj.order]
        return Response(200, {"value": items, "nextLink": None})

    def op_get_deleted_secret(self, req):
        return self._get_deleted("secret", req)

    def op_list_deleted_secrets(self, req):
        return self._list_deleted("secret", req)

    def op_recover_secret(self, req):
        with self.vault.lock:
            obj = self.vault.recover("secret", req.route["name"])
            if obj is None:
                raise KvError(404, "SecretNotFound", "Deleted Secret not found")
            return Response(200, self._secret_bundle(self.base_url(req), obj, obj.latest(), False))

    def op_purge_secret(self, req):
        return self._purge("secret", req)

    def _get_deleted(self, kind, req):
        base = self.base_url(req)
        with self.vault.lock:
            obj = self.vault.deleted[kind].get(req.route["name"].lower())
            if obj is None:
                raise KvError(404, "SecretNotFound" if kind == "secret" else "KeyNotFound",
                              "Deleted %s not found" % ("Secret" if kind == "secret" else "Key"))
            b = self._deleted_fields(base, obj, kind)
            if kind == "secret":
                b.update(self._secret_bundle(base, obj, obj.latest(), with_value=False))
            else:
                b.update(self._key_bundle(base, obj, obj.latest()))
            return Response(200, b)

    def _list_deleted(self, kind, req):
        base = self.base_url(req)
        items = []
        with self.vault.lock:
            for obj in self.vault.deleted[kind].values():
                it = self._deleted_fields(base, obj, kind)
                if kind == "secret":
                    it.update(self._secret_bundle(base, obj, obj.latest(), with_value=False))
                    it["id"] = "%s/secrets/%s" % (base, obj.name)
                else:
                    it.update({"kid": "%s/keys/%s" % (base, obj.name),
                               "attributes": obj.latest().attributes()})
                items.append(it)
        return Response(200, {"value": items, "nextLink": None})

    def _purge(self, kind, req):
        with self.vault.lock:
            obj = self.vault.deleted[kind].pop(req.route["name"].lower(), None)
            if obj is None:
                raise KvError(404, "SecretNotFound" if kind == "secret" else "KeyNotFound",
                              "Deleted %s not found" % ("Secret" if kind == "secret" else "Key"))
        return Response(204, b"")

    # ---- keys

    def op_get_key(self, req):
        obj, v = self._lookup("key", req)
        if not v.enabled:
            raise KvError(403, "Forbidden", "Operation get is not allowed on a disabled key.",
                          "KeyDisabled")
        return Response(200, self._key_bundle(self.base_url(req), obj, v))

    def _new_key_version(self, body, key):
        v = Version(new_version(), "key")
        v.key = key
        kty = body.get("kty", "RSA")
        if kty not in ("RSA", "RSA-HSM"):
            raise KvError(400, "BadParameter", "Key type '%s' is not supported by this fake vault." % kty)
        v.kty = kty
        ops = body.get("key_ops")
        if ops is not None:
            if not isinstance(ops, list) or not all(o in DEFAULT_KEY_OPS for o in ops):
                raise KvError(400, "BadParameter", "Property 'key_ops' contains an invalid operation.")
            v.key_ops = list(ops)
        v.set_tags(body.get("tags"))
        v.apply_attributes(body.get("attributes"))
        return v

    def op_create_key(self, req):
        body = self._body(req)
        size = body.get("key_size", 2048)
        if size not in (2048, 3072, 4096):
            raise KvError(400, "BadParameter", "Property 'key_size' must be 2048, 3072 or 4096.")
        e = body.get("public_exponent", 65537)
        if e not in (3, 65537):
            raise KvError(400, "BadParameter", "Property 'public_exponent' is invalid.")
        if body.get("kty", "RSA") not in ("RSA", "RSA-HSM"):
            raise KvError(400, "BadParameter", "Key type '%s' is not supported by this fake vault."
                          % body.get("kty"))
        v = self._new_key_version(body, fake_rsa.RsaKey.generate(size, e))
        obj = self.vault.put_version("key", req.route["name"], v)
        return Response(200, self._key_bundle(self.base_url(req), obj, v))

    def op_import_key(self, req):
        body = self._body(req)
        jwk = body.get("key")
        if not isinstance(jwk, dict):
            raise KvError(400, "BadParameter", "Property 'key' is required.")
        try:
            key = fake_rsa.RsaKey.from_jwk(jwk)
        except ValueError:
            raise KvError(400, "BadParameter", "The key is not a valid RSA JSON web key.")
        if not key.has_private or not key.p:
            raise KvError(400, "BadParameter", "The imported key must contain the private key parts.")
        spec = {"kty": "RSA-HSM" if body.get("Hsm") or body.get("hsm") else "RSA",
                "key_ops": jwk.get("key_ops"), "tags": body.get("tags"),
                "attributes": body.get("attributes")}
        v = self._new_key_version(spec, key)
        obj = self.vault.put_version("key", req.route["name"], v)
        return Response(200, self._key_bundle(self.base_url(req), obj, v))

    def op_rotate_key(self, req):
        with self.vault.lock:
            obj, cur = self._lookup("key", req)
            body = {"kty": cur.kty, "key_ops": cur.key_ops, "tags": cur.tags}
            bits = cur.key.bits
        v = self._new_key_version(body, fake_rsa.RsaKey.generate(bits))
        obj = self.vault.put_version("key", req.route["name"], v)
        return Response(200, self._key_bundle(self.base_url(req), obj, v))

    def op_update_key(self, req):
        body = self._body(req)
        with self.vault.lock:
            obj, v = self._lookup("key", req)
            if body.get("key_ops") is not None:
                ops = body["key_ops"]
                if not isinstance(ops, list) or not all(o in DEFAULT_KEY_OPS for o in ops):
                    raise KvError(400, "BadParameter", "Property 'key_ops' contains an invalid operation.")
                v.key_ops = list(ops)
            v.set_tags(body.get("tags"))
            v.apply_attributes(body.get("attributes"))
            v.updated = now()
            return Response(200, self._key_bundle(self.base_url(req), obj, v))

    def op_delete_key(self, req):
        with self.vault.lock:
            obj = self.vault.delete("key", req.route["name"])
            if obj is None:
                raise self._not_found("key", req.route["name"])
            base = self.base_url(req)
            b = self._deleted_fields(base, obj, "key")
            b.update(self._key_bundle(base, obj, obj.latest()))
            return Response(200, b)

    def op_list_keys(self, req):
        base = self.base_url(req)
        items = []
        with self.vault.lock:
            for obj in self.vault.live["key"].values():
                v = obj.latest()
                it = {"kid": "%s/keys/%s" % (base, obj.name), "attributes": v.attributes()}
                if v.tags:
                    it["tags"] = dict(v.tags)
                items.append(it)
        return Response(200, {"value": items, "nextLink": None})

    def op_list_key_versions(self, req):
        base = self.base_url(req)
        with self.vault.lock:
            obj = self.vault.find("key", req.route["name"])
            if obj is None:
                raise self._not_found("key", req.route["name"])
            items = []
            for x in obj.order:
                v = obj.versions[x]
                it = {"kid": "%s/keys/%s/%s" % (base, obj.name, x), "attributes": v.attributes()}
                if v.tags:
                    it["tags"] = dict(v.tags)
                items.append(it)
        return Response(200, {"value": items, "nextLink": None})

    def op_get_deleted_key(self, req):
        return self._get_deleted("key", req)

    def op_list_deleted_keys(self, req):
        return self._list_deleted("key", req)

    def op_recover_key(self, req):
        with self.vault.lock:
            obj = self.vault.recover("key", req.route["name"])
            if obj is None:
                raise KvError(404, "KeyNotFound", "Deleted Key not found")
            return Response(200, self._key_bundle(self.base_url(req), obj, obj.latest()))

    def op_purge_key(self, req):
        return self._purge("key", req)

    # ---- backup and restore

    def _backup(self, kind, req):
        return Response(200, {"value": backup_blob(self.vault, kind, req.route["name"])})

    def _restore(self, kind, req):
        obj = restore_blob(self.vault, kind, self._body(req).get("value"))
        base = self.base_url(req)
        if kind == "secret":
            return Response(200, self._secret_bundle(base, obj, obj.latest(), with_value=False))
        return Response(200, self._key_bundle(base, obj, obj.latest()))

    def op_backup_secret(self, req):
        return self._backup("secret", req)

    def op_backup_key(self, req):
        return self._backup("key", req)

    def op_restore_secret(self, req):
        return self._restore("secret", req)

    def op_restore_key(self, req):
        return self._restore("key", req)

    # ---- crypto

    def _crypto(self, req, opname):
        body = self._body(req)
        obj, v = self._lookup("key", req)
        if not v.enabled:
            raise KvError(403, "Forbidden", "Operation %s is not allowed on a disabled key." % opname,
                          "KeyDisabled")
        if opname not in v.key_ops:
            raise KvError(403, "Forbidden", "Operation %s is not permitted on this key." % opname,
                          "KeyOperationForbidden")
        alg = body.get("alg")
        if alg not in KEY_ALGS:
            raise KvError(400, "BadParameter", "Property 'alg' must be one of %s." % ", ".join(KEY_ALGS))
        if not isinstance(body.get("value"), str):
            raise KvError(400, "BadParameter", "Property 'value' is required.")
        try:
            data = fake_rsa.b64url_decode(body["value"])
        except (ValueError, UnicodeError):
            raise KvError(400, "BadParameter", "Property 'value' is not valid base64url.")
        public_op = opname in ("wrapKey", "encrypt")
        t = now()
        if public_op and ((v.nbf is not None and t < v.nbf) or (v.exp is not None and t >= v.exp)):
            # Key Vault refuses encrypt/wrap/sign outside nbf..exp but still
            # decrypts/unwraps, so data is never locked out.
            raise KvError(403, "Forbidden", "Operation %s is not allowed on a key that is expired or"
                          " not yet valid." % opname, "KeyNotYetValidOrExpired")
        try:
            if public_op:
                out = v.key.encrypt(alg, data)
            else:
                out = v.key.decrypt(alg, data)
        except fake_rsa.DecryptError:
            raise KvError(400, "BadParameter", "Unable to decrypt the specified value with this key.")
        except ValueError as e:
            raise KvError(400, "BadParameter", str(e))
        kid = "%s/keys/%s/%s" % (self.base_url(req), obj.name, v.version)
        return Response(200, {"kid": kid, "value": fake_rsa.b64url_encode(out)})

    def op_wrapkey(self, req):
        return self._crypto(req, "wrapKey")

    def op_unwrapkey(self, req):
        return self._crypto(req, "unwrapKey")

    def op_encrypt(self, req):
        return self._crypto(req, "encrypt")

    def op_decrypt(self, req):
        return self._crypto(req, "decrypt")

