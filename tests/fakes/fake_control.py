"""Control API of the fakes: plain HTTP on 127.0.0.1 (its own port, so
control traffic never shows in the fakes' counters or consumes faults).

    POST /ctl/<op>   JSON object body with the op's parameters
    GET  /ctl/<op>?k=v&...   same, parameters from the query (strings)

Answers 200 {"ok": true, ...} or 400 {"ok": false, "error": "..."}.
The ops are listed in README.md; fakectl.py is the command-line client.
"""

import base64
import json
import re
import threading
import time

import fake_rsa
from fake_core import App, Response, VAULT_RESOURCE, now
from fake_identity import DEFAULT_APP_ID, DEFAULT_APP_SECRET
from fake_kv import KvError, Version, backup_blob, new_version, restore_blob
from fake_wire import WireError

VERSION_RE = re.compile(r"^[0-9a-f]{32}$")


class CtlError(Exception):
    pass


def _bool(v, name):
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "1", "yes"):
        return True
    if isinstance(v, str) and v.lower() in ("false", "0", "no"):
        return False
    raise CtlError("%s must be a boolean" % name)


def _int_or_none(v, name):
    if v is None or v == "" or v == "null":
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        raise CtlError("%s must be an integer (epoch seconds) or null" % name)


class ControlApp(App):
    server_header = "fake-control"
    counted = False

    def __init__(self, world):
        super().__init__("ctl", world.counters, world.faults)
        self.world = world
        self.quiet = world.quiet
        self.shutdown_event = threading.Event()

    def handle(self, req):
        segs = req.segments
        if len(segs) != 2 or segs[0] != "ctl":
            return Response(404, {"ok": False, "error": "use /ctl/<op>"})
        op = segs[1]
        if req.method == "POST":
            try:
                params = req.json() or {}
            except ValueError:
                return Response(400, {"ok": False, "error": "body is not JSON"})
            if not isinstance(params, dict):
                return Response(400, {"ok": False, "error": "body must be a JSON object"})
        elif req.method == "GET":
            params = dict(req.query)
        else:
            return Response(405, {"ok": False, "error": "GET or POST"})
        try:
            result = self.run(op, params)
        except (CtlError, ValueError, KvError) as e:
            msg = e.message if isinstance(e, KvError) else str(e)
            return Response(400, {"ok": False, "error": msg})
        out = {"ok": True}
        out.update(result or {})
        return Response(200, out)

    def run(self, op, params):
        fn = getattr(self, "op_" + op, None)
        if fn is None or not op.replace("_", "").isalnum():
            raise CtlError("unknown op %r" % op)
        return fn(dict(params))

    # ---- helpers

    def _vaults(self, p, allow_all=True):
        which = p.pop("vault", "primary")
        if which == "all" and allow_all:
            return list(self.world.vaults.values())
        v = self.world.vaults.get(which)
        if v is None:
            raise CtlError("vault must be one of %s%s"
                           % (sorted(self.world.vaults), " or all" if allow_all else ""))
        return [v]

    def _versions(self, vault, kind, name, version, live_only=True):
        obj = vault.find(kind, name)
        if obj is None:
            raise CtlError("%s %s not found in vault %s" % (kind, name, vault.name))
        if version in (None, "", "all", "*"):
            return obj, [obj.versions[x] for x in obj.order]
        if version == "latest":
            return obj, [obj.latest()]
        v = obj.versions.get(str(version).lower())
        if v is None:
            raise CtlError("%s %s has no version %s" % (kind, name, version))
        return obj, [v]

    @staticmethod
    def _check(p, allowed):
        extra = set(p) - set(allowed)
        if extra:
            raise CtlError("unknown parameters: %s" % ", ".join(sorted(extra)))

    def _common_attrs(self, v, p):
        if "enabled" in p:
            v.enabled = _bool(p["enabled"], "enabled")
        if "nbf" in p:
            v.nbf = _int_or_none(p["nbf"], "nbf")
        if "exp" in p:
            v.exp = _int_or_none(p["exp"], "exp")
        if p.get("tags") is not None:
            tags = p["tags"]
            if isinstance(tags, str):
                tags = json.loads(tags)
            if not isinstance(tags, dict):
                raise CtlError("tags must be an object of strings")
            v.tags = {str(k): str(x) for k, x in tags.items()} or None
        if p.get("created") is not None:
            v.created = v.updated = int(p["created"])

    # ---- general

    def op_ping(self, p):
        return {"pid": self.world.info.get("pid")}

    def op_info(self, p):
        return {"info": self.world.info}

    def op_shutdown(self, p):
        self.shutdown_event.set()
        return {}

    def op_reset(self, p):
        self._check(p, [])
        self.world.reset()
        return {}

    def op_dump(self, p):
        vaults = self._vaults(p, allow_all=True)
        return {"vaults": {v.name: v.dump() for v in vaults},
                "identities": self.world.identities.describe(),
                "faults": self.world.faults.pending(),
                "config": dict(self.world.config)}

    def op_export(self, p):
        """The live secrets and keys of one vault, every version in order,
        as a --preload list: a vault that outlives the VMs using it (a
        restored VM meets the same vault). Holds values and private keys:
        test data only."""
        vaults = self._vaults(p, allow_all=False)
        self._check(p, [])
        ops = []
        vault = vaults[0]
        with vault.lock:
            for kind in ("key", "secret"):
                for obj in vault.live[kind].values():
                    for ver in obj.order:
                        v = obj.versions[ver]
                        op = {"op": "put_" + kind, "name": obj.name, "version": v.version,
                              "enabled": v.enabled, "created": v.created}
                        if v.nbf is not None:
                            op["nbf"] = v.nbf
                        if v.exp is not None:
                            op["exp"] = v.exp
                        if v.tags:
                            op["tags"] = dict(v.tags)
                        if kind == "secret":
                            op["value"] = v.value
                            if v.content_type is not None:
                                op["content_type"] = v.content_type
                        else:
                            op["pem"] = v.key.private_pem()
                            op["kty"] = v.kty
                            op["key_ops"] = list(v.key_ops)
                        ops.append(op)
        return {"ops": ops}

    # ---- secrets and keys

    def op_put_secret(self, p):
        vaults = self._vaults(p)
        self._check(p, ["name", "value", "version", "content_type", "tags", "enabled", "nbf", "exp",
                        "created", "kid", "managed"])
        name, value = p.get("name"), p.get("value")
        if not isinstance(name, str) or not re.match(r"^[0-9A-Za-z-]{1,127}$", name):
            raise CtlError("name must match [0-9A-Za-z-]{1,127}")
        if not isinstance(value, str):
            raise CtlError("value (a string) is required")
        version = str(p.get("version") or new_version()).lower()
        if not VERSION_RE.match(version):
            raise CtlError("version must be 32 lowercase hex characters")
        ids = {}
        for vault in vaults:
            v = Version(version, "secret")
            v.value = value
            v.content_type = p.get("content_type")
            v.kid = p.get("kid")
            v.managed = _bool(p["managed"], "managed") if "managed" in p else None
            self._common_attrs(v, p)
            vault.put_version("secret", name, v)
            ids[vault.name] = "%s/secrets/%s/%s" % (vault.base, name, version)
        return {"version": version, "id": ids[vaults[0].name], "ids": ids}

    def op_put_key(self, p):
        vaults = self._vaults(p)
        self._check(p, ["name", "version", "pem", "bits", "kty", "key_ops", "tags", "enabled", "nbf",
                        "exp", "created"])
        name = p.get("name")
        if not isinstance(name, str) or not re.match(r"^[0-9A-Za-z-]{1,127}$", name):
            raise CtlError("name must match [0-9A-Za-z-]{1,127}")
        version = str(p.get("version") or new_version()).lower()
        if not VERSION_RE.match(version):
            raise CtlError("version must be 32 lowercase hex characters")
        if p.get("pem"):
            key = fake_rsa.RsaKey.from_pem(p["pem"])
            if not key.has_private or not key.p:
                raise CtlError("pem must hold an RSA private key")
        else:
            bits = int(p.get("bits", 2048))
            if bits not in (1024, 2048, 3072, 4096):
                raise CtlError("bits must be 2048, 3072 or 4096 (1024 for fast tests or an old"
                               " imported key)")
            key = fake_rsa.RsaKey.generate(bits)
        kty = p.get("kty", "RSA")
        if kty not in ("RSA", "RSA-HSM"):
            raise CtlError("kty must be RSA or RSA-HSM")
        ops = p.get("key_ops")
        if isinstance(ops, str):
            ops = json.loads(ops) if ops.startswith("[") else ops.split(",")
        kids = {}
        for vault in vaults:
            v = Version(version, "key")
            v.key = key
            v.kty = kty
            if ops is not None:
                v.key_ops = list(ops)
            self._common_attrs(v, p)
            vault.put_version("key", name, v)
            kids[vault.name] = "%s/keys/%s/%s" % (vault.base, name, version)
        return {"version": version, "kid": kids[vaults[0].name], "kids": kids,
                "public_pem": key.public_pem()}

    def op_key_pem(self, p):
        vaults = self._vaults(p, allow_all=False)
        self._check(p, ["name", "version", "public"])
        with vaults[0].lock:
            _, vs = self._versions(vaults[0], "key", p.get("name", ""), p.get("version") or "latest")
            key = vs[0].key
        public = _bool(p.get("public", False), "public")
        return {"pem": key.public_pem() if public else key.private_pem()}

    @staticmethod
    def _plaintext(p, field="plaintext"):
        if p.get(field + "_b64") is not None:
            return base64.b64decode(p[field + "_b64"], validate=True)
        if isinstance(p.get(field), str):
            return p[field].encode("utf-8")
        raise CtlError("%s (a string) or %s_b64 (standard base64) is required" % (field, field))

    def _kek(self, vault, name, version):
        with vault.lock:
            obj, vs = self._versions(vault, "key", name, version or "latest")
            return obj, vs[0]

    def op_wrap(self, p):
        """Wrap with a vault key, no state checks: a test-data helper."""
        vaults = self._vaults(p, allow_all=False)
        self._check(p, ["name", "version", "alg", "plaintext", "plaintext_b64"])
        alg = p.get("alg", "RSA-OAEP")
        obj, v = self._kek(vaults[0], p.get("name", ""), p.get("version"))
        out = v.key.encrypt(alg, self._plaintext(p))
        return {"value": fake_rsa.b64url_encode(out),
                "kid": "%s/keys/%s/%s" % (vaults[0].base, obj.name, v.version)}

    def op_put_bek(self, p):
        """An ADE-style BEK secret.  Unwrapped: value = base64(K), standard
        alphabet, padded, contentType "BEK".  Wrapped (kek given): value =
        wrapkey output base64url(RSA(K)), contentType "Wrapped BEK", tags
        DiskEncryptionKeyEncryptionKeyURL / ...EncryptionAlgorithm."""
        vaults = self._vaults(p)
        self._check(p, ["name", "key", "key_b64", "kek", "kek_version", "alg", "machine_name",
                        "file_name", "version", "tags", "enabled", "nbf", "exp", "created"])
        k = self._plaintext(p, "key")
        alg = p.get("alg", "RSA-OAEP")
        tags = {"DiskEncryptionKeyFileName": p.get("file_name", "LinuxPassPhraseFileName"),
                "MachineName": p.get("machine_name", "fake-vm")}
        value = base64.b64encode(k).decode("ascii")
        ctype = "BEK"
        wrapped = None
        if p.get("kek"):
            _, kv = self._kek(vaults[0], p["kek"], p.get("kek_version"))
            wrapped = fake_rsa.b64url_encode(kv.key.encrypt(alg, k))
            ctype = "Wrapped BEK"
            tags["DiskEncryptionKeyEncryptionAlgorithm"] = alg
        tags.update(p.get("tags") or {})
        version = str(p.get("version") or new_version()).lower()
        ids = {}
        for vault in vaults:
            t = dict(tags)
            if wrapped:
                kobj, kv = self._kek(vault, p["kek"], p.get("kek_version"))
                t["DiskEncryptionKeyEncryptionKeyURL"] = "%s/keys/%s/%s" % (vault.base, kobj.name,
                                                                            kv.version)
            r = self.op_put_secret({"vault": vault.name, "name": p.get("name"),
                                    "value": wrapped or value, "version": version,
                                    "content_type": ctype, "tags": t,
                                    **{x: p[x] for x in ("enabled", "nbf", "exp", "created") if x in p}})
            ids[vault.name] = r["id"]
        return {"version": version, "id": ids[vaults[0].name], "ids": ids, "content_type": ctype}

    def op_vault_settings(self, p):
        """Soft delete and purge protection of a vault, shown as
        attributes.recoveryLevel/recoverableDays in every bundle."""
        vaults = self._vaults(p)
        self._check(p, ["recovery_level", "recoverable_days"])
        out = {}
        for vault in vaults:
            level = p.get("recovery_level", vault.recovery_level)
            days = p.get("recoverable_days", vault.recoverable_days if "recovery_level" not in p else None)
            vault.set_recovery(level, _int_or_none(days, "recoverable_days"))
            out[vault.name] = {"recovery_level": vault.recovery_level,
                               "recoverable_days": vault.recoverable_days}
        return {"vaults": out}

    def op_backup(self, p):
        """The blob `POST /{secrets|keys}/{name}/backup` answers, without a
        token (scripts that move a vault's keys between fake processes)."""
        vaults = self._vaults(p, allow_all=False)
        self._check(p, ["kind", "name"])
        kind = p.get("kind", "secret")
        if kind not in ("secret", "key"):
            raise CtlError("kind must be secret or key")
        return {"value": backup_blob(vaults[0], kind, p.get("name", ""))}

    def op_restore(self, p):
        """`POST /{secrets|keys}/restore` without a token: 409/400 as errors."""
        vaults = self._vaults(p, allow_all=False)
        self._check(p, ["kind", "value"])
        kind = p.get("kind", "secret")
        if kind not in ("secret", "key"):
            raise CtlError("kind must be secret or key")
        obj = restore_blob(vaults[0], kind, p.get("value"))
        return {"name": obj.name, "versions": list(obj.order)}

    def op_set_attributes(self, p):
        vaults = self._vaults(p)
        self._check(p, ["kind", "name", "version", "enabled", "nbf", "exp", "tags", "content_type",
                        "key_ops"])
        kind = p.get("kind", "secret")
        if kind not in ("secret", "key"):
            raise CtlError("kind must be secret or key")
        changed = []
        for vault in vaults:
            with vault.lock:
                _, vs = self._versions(vault, kind, p.get("name", ""), p.get("version"))
                for v in vs:
                    self._common_attrs(v, p)
                    if "content_type" in p:
                        v.content_type = p["content_type"]
                    if kind == "key" and p.get("key_ops") is not None:
                        ops = p["key_ops"]
                        v.key_ops = json.loads(ops) if isinstance(ops, str) and ops.startswith("[") \
                            else (ops.split(",") if isinstance(ops, str) else list(ops))
                    v.updated = now()
                    changed.append({"vault": vault.name, "version": v.version,
                                    "attributes": v.attributes()})
        return {"changed": changed}

    def op_disable(self, p):
        p["enabled"] = False
        return self.op_set_attributes(p)

    def op_enable(self, p):
        p["enabled"] = True
        return self.op_set_attributes(p)

    def op_revoke_key(self, p):
        p["kind"] = "key"
        return self.op_disable(p)

    def op_unrevoke_key(self, p):
        p["kind"] = "key"
        return self.op_enable(p)

    def op_delete(self, p):
        vaults = self._vaults(p)
        self._check(p, ["kind", "name"])
        kind = p.get("kind", "secret")
        done = [v.name for v in vaults if v.delete(kind, p.get("name", ""))]
        if not done:
            raise CtlError("%s %s not found" % (kind, p.get("name")))
        return {"deleted": done}

    def op_purge(self, p):
        vaults = self._vaults(p)
        self._check(p, ["kind", "name"])
        kind = p.get("kind", "secret")
        done = [v.name for v in vaults if v.purge(kind, p.get("name", ""))]
        return {"purged": done}

    def op_recover(self, p):
        vaults = self._vaults(p)
        self._check(p, ["kind", "name"])
        kind = p.get("kind", "secret")
        done = [v.name for v in vaults if v.recover(kind, p.get("name", ""))]
        if not done:
            raise CtlError("deleted %s %s not found" % (kind, p.get("name")))
        return {"recovered": done}

    # ---- RBAC

    def op_rbac_deny(self, p):
        vaults = self._vaults(p)
        self._check(p, ["path", "method", "principal", "count", "style"])
        return {"ids": {v.name: v.rbac_add(p) for v in vaults}}

    def op_rbac_clear(self, p):
        vaults = self._vaults(p)
        for v in vaults:
            with v.lock:
                v.rbac = []
        return {}

    # ---- faults

    def op_fault(self, p):
        for k in ("count", "delay_ms", "status"):
            if isinstance(p.get(k), str):
                p[k] = int(p[k])
        for k in ("garbage", "close", "reset", "truncate", "expire_tokens", "deny_role"):
            if k in p:
                p[k] = _bool(p[k], k)
        if isinstance(p.get("headers"), str):
            p["headers"] = json.loads(p["headers"])
        return {"id": self.world.faults.add(p)}

    def op_faults(self, p):
        return {"faults": self.world.faults.pending()}

    def op_faults_clear(self, p):
        self.world.faults.clear(p.get("server"))
        return {}

    # ---- tokens and identities

    def op_expire_tokens(self, p):
        self.world.tokens.expire_all()
        return {}

    def op_issue_token(self, p):
        self._check(p, ["resource", "client_id", "lifetime"])
        q = {"client_id": p["client_id"]} if p.get("client_id") else {}
        ident, err = self.world.identities.select(q)
        if err:
            raise CtlError(err)
        tenant = self.world.config["tenant"]
        iss = "https://sts.windows.net/%s/" % tenant
        token, claims = self.world.tokens.issue({
            "aud": p.get("resource", VAULT_RESOURCE), "iss": iss, "idp": iss,
            "appid": ident["client_id"], "appidacr": "2", "oid": ident["object_id"],
            "sub": ident["object_id"], "tid": tenant, "idtyp": "app",
            "xms_mirid": ident["msi_res_id"]},
            int(p.get("lifetime", self.world.config["imds_token_lifetime"])))
        return {"access_token": token, "expires_on": claims["exp"]}

    def op_config(self, p):
        def opt_int(v):
            return None if v in (None, "", "null") else int(v)
        allowed = {"imds_token_lifetime": int, "aad_token_lifetime": int,
                   "challenge_style": str, "authority": str, "tenant": str,
                   "limits": lambda v: _bool(v, "limits"), "imds_rps": int, "imds_concurrency": int,
                   "kv_secret_reads_per_10s": int, "kv_secret_writes_per_10s": int,
                   "kv_key_ops_per_10s": int, "kv_hsm_key_ops_per_10s": int,
                   "throttle_retry_after": opt_int, "kv_window_s": float,
                   "kv_unavailable_every": int}
        self._check(p, allowed)
        for k, conv in allowed.items():
            if k in p:
                val = conv(p[k])
                if k == "challenge_style" and val not in ("authorization", "authorization_uri"):
                    raise CtlError("challenge_style must be authorization or authorization_uri")
                self.world.config[k] = val
        if any(k.startswith(("kv_", "imds_rps", "imds_conc", "limits")) for k in p):
            self.world.limiter.reset()  # new limits start with empty windows
        return {"config": dict(self.world.config)}

    def op_imds_identity(self, p):
        self._check(p, ["client_id", "object_id", "msi_res_id", "name"])
        return {"identity": self.world.identities.add_user(**p)}

    def op_imds_identities_clear(self, p):
        self.world.identities.clear_users()
        return {}

    def op_imds_system(self, p):
        self._check(p, ["enabled", "client_id", "object_id"])
        return {"system": self.world.identities.set_system(
            _bool(p.get("enabled", True), "enabled"), p.get("client_id"), p.get("object_id"))}

    def op_identities(self, p):
        return {"identities": self.world.identities.describe()}

    def op_imds_instance(self, p):
        self._check(p, ["doc", "merge"])
        doc, merge = p.get("doc"), p.get("merge")
        if isinstance(doc, str):
            doc = json.loads(doc)
        if isinstance(merge, str):
            merge = json.loads(merge)
        return {"instance": self.world.imds.set_instance(doc, merge)}

    def op_imds_disk(self, p):
        self._check(p, ["disk", "secret_url", "key_url", "enabled", "source_vault"])
        disk = p.get("disk", "os")
        if str(disk) != "os" and not str(disk).isdigit():
            raise CtlError("disk must be os or a LUN number")
        return {"disk": self.world.imds.set_disk_encryption(
            disk, p.get("secret_url"), p.get("key_url"),
            _bool(p.get("enabled", True), "enabled"), p.get("source_vault"))}

    def op_aad_app(self, p):
        self._check(p, ["client_id", "client_secret", "cert_pem", "cert_file", "object_id"])
        if not p.get("client_id"):
            raise CtlError("client_id is required")
        pem = p.get("cert_pem")
        if p.get("cert_file"):
            with open(p["cert_file"]) as f:
                pem = f.read()
        return {"app": self.world.aad_apps.register(p["client_id"], p.get("client_secret"), pem,
                                                    p.get("object_id"))}

    def op_aad_apps_clear(self, p):
        self.world.aad_apps.clear()
        return {}

    # ---- TLS

    def op_tls(self, p):
        vaults = self._vaults(p)
        self._check(p, ["cert"])
        cert = p.get("cert", "server")
        if cert not in self.world.tls_contexts:
            raise CtlError("cert must be one of %s" % sorted(self.world.tls_contexts))
        for v in vaults:
            v.tls_cert = cert
        return {}

    # ---- wire server (fake_wire.py)

    def _wire(self):
        if self.world.wire is None:
            raise CtlError("the wire server is off (start with --wire-addr and --wire-bundle)")
        return self.world.wire

    def op_wire_goal_state(self, p):
        """Publish a new goal state: incarnation + 1, the plugin with new settings."""
        w = self._wire()
        self._check(p, ["public", "protected", "seq", "state", "version", "hostile", "cipher",
                        "remove", "incarnation"])
        for k in ("public", "protected"):
            if isinstance(p.get(k), str) and p[k][:1] in ("{", "["):
                p[k] = json.loads(p[k])
        if "remove" in p:
            p["remove"] = _bool(p["remove"], "remove")
        try:
            g = w.publish(**p)
        except WireError as e:
            raise CtlError(str(e))
        return {"goal_state": g.describe(), "incarnation": g.incarnation,
                "seq": g.plugin["seq"] if g.plugin else None,
                "thumbprint": g.plugin["thumbprint"] if g.plugin else None}

    def op_wire_state(self, p):
        self._check(p, [])
        return {"wire": self._wire().describe()}

    def op_wire_status_blobs(self, p):
        """Every status blob received, oldest first (from index `since`, 1-based)."""
        self._check(p, ["since", "last"])
        w = self._wire()
        with w.lock:
            blobs = [dict(b) for b in w.status_blobs]
        if p.get("since") is not None:
            blobs = [b for b in blobs if b["n"] >= int(p["since"])]
        if _bool(p.get("last", False), "last"):
            blobs = blobs[-1:]
        return {"blobs": blobs, "count": len(w.status_blobs)}

    def op_wire_handler_status(self, p):
        """The plugin's entry in the newest status blob (index >= since)
        matching seq / status; with wait (seconds) block until one arrives.
        Flat fields for `fakectl -f status` from sh."""
        self._check(p, ["plugin", "seq", "status", "since", "wait"])
        w = self._wire()
        since = int(p.get("since") or 1)
        status = p.get("status")
        if isinstance(status, str):
            status = status.split(",")
        deadline = time.time() + float(p.get("wait") or 0)
        with w.lock:
            while True:
                n, h = w.handler_status(since, p.get("plugin"), p.get("seq"), status)
                left = deadline - time.time()
                if h is not None or left <= 0:
                    break
                w.blob_event.wait(min(left, 1.0))
        if h is None:
            raise CtlError("no status blob with a matching handler entry (since %d, seq %s, status %s)"
                           % (since, p.get("seq"), status))
        out = dict(h)
        out["n"] = n
        out["substatus_names"] = [x["name"] for x in h["substatus"]]
        return out

    def op_wire_health(self, p):
        self._check(p, [])
        w = self._wire()
        with w.lock:
            return {"reports": [dict(r) for r in w.health_reports]}

    def op_wire_config(self, p):
        self._check(p, ["store_direct", "bundle", "plugin", "version"])
        w = self._wire()
        if "store_direct" in p:
            w.store_direct = _bool(p["store_direct"], "store_direct")
        try:
            w.set_bundle(p.get("bundle"), p.get("plugin"), p.get("version"))
        except WireError as e:
            raise CtlError(str(e))
        return {"wire": w.describe()}

    # ---- counters

    def op_counters(self, p):
        return self.world.counters.snapshot()

    def op_counter(self, p):
        names = p.get("name")
        if not names:
            raise CtlError("name is required")
        return {"value": self.world.counters.get(names)}

    def op_reset_counters(self, p):
        self.world.counters.reset()
        return {}


def default_app(world, cert_path):
    pem = None
    if cert_path:
        try:
            with open(cert_path) as f:
                pem = f.read()
        except OSError:
            pem = None
    world.aad_apps.register(DEFAULT_APP_ID, DEFAULT_APP_SECRET, pem)
