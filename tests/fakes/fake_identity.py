"""Fake token issuers: the instance metadata service (managed identities,
plus /metadata/instance) and the AAD OAuth2 client-credentials endpoint.

Response shapes follow the real services; see README.md for what is exact
and what is a best guess.
"""

import copy
import json
import threading
import time
import urllib.parse

import fake_rsa
from fake_core import App, Response, new_guid, now

DEFAULT_TENANT = "f4ce0000-0000-4000-8000-000000000001"
SUBSCRIPTION = "00000000-0000-4000-8000-00000000005b"
RESOURCE_GROUP = "fake-rg"
VM_NAME = "fake-vm"
VM_ID = "0f0f0f0f-1111-4222-8333-444444444444"
VM_RES_ID = ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s"
             % (SUBSCRIPTION, RESOURCE_GROUP, VM_NAME))

SYSTEM_CLIENT_ID = "c1d00000-0000-4000-8000-000000000001"
SYSTEM_OBJECT_ID = "0b1d0000-0000-4000-8000-000000000001"

DEFAULT_APP_ID = "a1a1a1a1-0000-4000-8000-00000000a11d"
DEFAULT_APP_SECRET = "fake-client-secret-0123456789"

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def user_identity_res_id(name):
    return ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ManagedIdentity/"
            "userAssignedIdentities/%s" % (SUBSCRIPTION, RESOURCE_GROUP, name))


class Identities:
    """The VM's managed identities, as IMDS knows them."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self.system = {"client_id": SYSTEM_CLIENT_ID, "object_id": SYSTEM_OBJECT_ID,
                           "msi_res_id": VM_RES_ID}
            self.system_enabled = True
            self.users = []

    def set_system(self, enabled, client_id=None, object_id=None):
        with self._lock:
            self.system_enabled = bool(enabled)
            if client_id:
                self.system["client_id"] = client_id
            if object_id:
                self.system["object_id"] = object_id
            return dict(self.system, enabled=self.system_enabled)

    def add_user(self, client_id=None, object_id=None, msi_res_id=None, name=None):
        name = name or "uami-%d" % (len(self.users) + 1)
        ident = {"client_id": client_id or new_guid(), "object_id": object_id or new_guid(),
                 "msi_res_id": msi_res_id or user_identity_res_id(name)}
        with self._lock:
            self.users.append(ident)
        return dict(ident)

    def clear_users(self):
        with self._lock:
            self.users = []

    def describe(self):
        with self._lock:
            return {"system": dict(self.system, enabled=self.system_enabled),
                    "user_assigned": [dict(u) for u in self.users]}

    def select(self, q):
        """-> (identity, None) or (None, error_description)."""
        keys = [k for k in ("client_id", "object_id", "msi_res_id", "mi_res_id") if q.get(k)]
        with self._lock:
            if len(keys) > 1:
                return None, ("Only one of client_id, object_id, msi_res_id can be specified"
                              " in the request")
            if keys:
                k = keys[0]
                want = q[k]
                field = "msi_res_id" if k == "mi_res_id" else k
                pool = list(self.users) + ([self.system] if self.system_enabled else [])
                for ident in pool:
                    if ident[field].lower() == want.lower():
                        return dict(ident), None
                return None, "Identity not found"
            if self.system_enabled:
                return dict(self.system), None
            if len(self.users) == 1:
                return dict(self.users[0]), None
            if self.users:
                return None, ("Multiple user assigned identities exist, please specify the clientId"
                              " / resourceId of the identity in the token request")
            return None, "Identity not found"


def default_instance():
    os_disk = {
        "caching": "ReadWrite",
        "createOption": "FromImage",
        "diffDiskSettings": {"option": ""},
        "diskSizeGB": "30",
        "encryptionSettings": {"enabled": "false"},
        "image": {"uri": ""},
        "managedDisk": {
            "id": ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/disks/%s_OsDisk_1"
                   % (SUBSCRIPTION, RESOURCE_GROUP, VM_NAME)),
            "storageAccountType": "Premium_LRS"},
        "name": VM_NAME + "_OsDisk_1",
        "osType": "Linux",
        "vhd": {"uri": ""},
        "writeAcceleratorEnabled": "false",
    }
    return {
        "compute": {
            "azEnvironment": "AzurePublicCloud",
            "location": "fakeregion",
            "name": VM_NAME,
            "osType": "Linux",
            "provider": "Microsoft.Compute",
            "resourceGroupName": RESOURCE_GROUP,
            "resourceId": VM_RES_ID,
            "storageProfile": {
                "dataDisks": [],
                "imageReference": {"id": "", "offer": "debian-12", "publisher": "Debian",
                                   "sku": "12-gen2", "version": "latest"},
                "osDisk": os_disk,
                "resourceDisk": {"size": "16384"},
            },
            "subscriptionId": SUBSCRIPTION,
            "tags": "",
            "tagsList": [],
            "vmId": VM_ID,
            "vmSize": "Standard_D2s_v3",
            "zone": "",
        },
        "network": {"interface": [{
            "ipv4": {"ipAddress": [{"privateIpAddress": "10.0.0.4", "publicIpAddress": ""}],
                     "subnet": [{"address": "10.0.0.0", "prefix": "24"}]},
            "ipv6": {"ipAddress": []},
            "macAddress": "000D3AF806EC"}]},
    }


def data_disk(lun):
    return {
        "caching": "None",
        "createOption": "Attach",
        "diskSizeGB": "8",
        "encryptionSettings": {"enabled": "false"},
        "image": {"uri": ""},
        "lun": str(lun),
        "managedDisk": {
            "id": ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/disks/%s_data_%s"
                   % (SUBSCRIPTION, RESOURCE_GROUP, VM_NAME, lun)),
            "storageAccountType": "Premium_LRS"},
        "name": "%s_data_%s" % (VM_NAME, lun),
        "vhd": {"uri": ""},
        "writeAcceleratorEnabled": "false",
    }


def deep_merge(dst, src):
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        else:
            dst[k] = v
    return dst


class ImdsApp(App):
    server_header = "IMDS/150.870.65.1414"

    def __init__(self, world):
        super().__init__("imds", world.counters, world.faults)
        self.world = world
        self.quiet = world.quiet
        self._lock = threading.Lock()
        self.instance = default_instance()

    # ---- instance document controls

    def set_instance(self, doc=None, merge=None):
        with self._lock:
            if doc is not None:
                self.instance = copy.deepcopy(doc)
            if merge:
                deep_merge(self.instance, copy.deepcopy(merge))
            return copy.deepcopy(self.instance)

    def set_disk_encryption(self, disk, secret_url=None, key_url=None, enabled=True,
                            source_vault=None):
        vault_id = source_vault or ("/subscriptions/%s/resourceGroups/%s/providers/"
                                    "Microsoft.KeyVault/vaults/fake-kv" % (SUBSCRIPTION, RESOURCE_GROUP))
        es = {"enabled": "true" if enabled else "false"}
        if secret_url:
            es["diskEncryptionKey"] = {"secretUrl": secret_url, "sourceVault": {"id": vault_id}}
        if key_url:
            es["keyEncryptionKey"] = {"keyUrl": key_url, "sourceVault": {"id": vault_id}}
        with self._lock:
            sp = self.instance["compute"]["storageProfile"]
            if str(disk) == "os":
                target = sp["osDisk"]
            else:
                target = next((d for d in sp["dataDisks"] if d.get("lun") == str(disk)), None)
                if target is None:
                    target = data_disk(disk)
                    sp["dataDisks"].append(target)
                    sp["dataDisks"].sort(key=lambda d: int(d["lun"]))
            target["encryptionSettings"] = es
            return copy.deepcopy(target)

    # ---- HTTP

    def classify(self, req):
        p = req.path.lower()
        if p == "/metadata/identity/oauth2/token":
            return "token"
        if p == "/metadata/instance" or p.startswith("/metadata/instance/"):
            return "instance"
        return "other"

    def common_headers(self, resp):
        return []

    def fault_response(self, req, status):
        known = {
            400: ("invalid_request", "Bad request"),
            404: ("not_found", "The requested resource is not available; IMDS is being updated"),
            410: ("gone", "IMDS is being updated; retry within 70 seconds"),
            429: ("too_many_requests", "Too many requests; the rate limit was exceeded"),
            500: ("unknown", "An unexpected error occurred while fetching the access token"),
            502: ("bad_gateway", "Bad gateway"),
            503: ("service_unavailable", "Service unavailable"),
            504: ("gateway_timeout", "Gateway timeout"),
        }
        err, desc = known.get(status, ("unknown", "Injected HTTP %d" % status))
        return Response(status, {"error": err, "error_description": desc})

    def handle(self, req):
        if req.op == "token":
            return self._token(req)
        if req.op == "instance":
            return self._instance(req)
        return Response(404, {"error": "Not found"})

    def _token(self, req):
        # The identity endpoint allows 20 requests/s and 5 in flight per
        # VM. One fake serves many simulated VMs (tests/bench/storm.py):
        # each asks for its own user-assigned identity, so the identity
        # named in the query stands for the VM and has its own limits.
        cfg = self.world.config
        limited = cfg["limits"]
        q = req.query
        who = next((q[k].lower() for k in ("client_id", "object_id", "msi_res_id", "mi_res_id")
                    if q.get(k)), "")
        key = "imds.token." + who if who else "imds.token"
        if limited and not self.world.limiter.allow(key, cfg["imds_rps"], 1.0):
            self.counters.inc("imds.throttled")
            return self.fault_response(req, 429)
        if limited and not self.world.limiter.enter(key, cfg["imds_concurrency"]):
            self.counters.inc("imds.throttled")
            return self.fault_response(req, 429)
        try:
            return self._token_inner(req)
        finally:
            if limited:
                self.world.limiter.leave(key)

    def _token_inner(self, req):
        def bad(desc, status=400):
            return Response(status, {"error": "invalid_request", "error_description": desc})
        if req.method != "GET":
            return Response(405, {"error": "invalid_request",
                                  "error_description": "Method not allowed"})
        if (req.header("Metadata") or "").lower() != "true":
            return bad("Required metadata header not specified")
        if req.header("X-Forwarded-For") is not None:
            return bad("Request containing X-Forwarded-For header is not allowed")
        q = req.query
        if not q.get("api-version"):
            return bad("Required query variable 'api-version' is missing")
        resource = q.get("resource", "")
        if not resource:
            return bad("Required audience parameter not specified")
        ident, err = self.world.identities.select(q)
        if err:
            return bad(err)
        lifetime = self.world.config["imds_token_lifetime"]
        tenant = self.world.config["tenant"]
        iss = "https://sts.windows.net/%s/" % tenant
        token, claims = self.world.tokens.issue({
            "aud": resource, "iss": iss, "idp": iss, "appid": ident["client_id"],
            "appidacr": "2", "oid": ident["object_id"], "sub": ident["object_id"],
            "tid": tenant, "idtyp": "app", "xms_mirid": ident["msi_res_id"],
        }, lifetime)
        self.counters.inc("imds.tokens_issued")
        return Response(200, {
            "access_token": token,
            "client_id": ident["client_id"],
            "expires_in": str(claims["exp"] - now()),
            "expires_on": str(claims["exp"]),
            "ext_expires_in": str(claims["exp"] - now()),
            "not_before": str(claims["nbf"]),
            "resource": resource,
            "token_type": "Bearer",
        })

    def _instance(self, req):
        def bad(msg):
            return Response(400, {"error": "Bad request. " + msg,
                                  "newest-versions": ["2023-07-01", "2021-12-13", "2021-11-15"]})
        if req.method != "GET":
            return Response(405, {"error": "Method not allowed"})
        if (req.header("Metadata") or "").lower() != "true":
            return bad("Required metadata header not specified")
        if req.header("X-Forwarded-For") is not None:
            return bad("X-Forwarded-For header is not allowed")
        ver = req.query.get("api-version")
        if not ver:
            return bad("api-version was not specified in the request. For more information "
                       "refer to aka.ms/azureimds")
        with self._lock:
            doc = copy.deepcopy(self.instance)
        if ver < "2021-11-01":
            # encryptionSettings appear in storageProfile from 2021-11-01
            sp = doc.get("compute", {}).get("storageProfile", {})
            for d in [sp.get("osDisk", {})] + list(sp.get("dataDisks", [])):
                d.pop("encryptionSettings", None)
        node = doc
        for seg in req.segments[2:]:
            if isinstance(node, dict) and seg in node:
                node = node[seg]
            elif isinstance(node, list) and seg.isdigit() and int(seg) < len(node):
                node = node[int(seg)]
            else:
                return Response(404, {"error": "Not found"})
        if req.query.get("format") == "text":
            if isinstance(node, (dict, list)):
                return bad("format=text is only valid for leaf values")
            return Response(200, str(node), content_type="text/plain; charset=utf-8")
        return Response(200, node)


# ---------------------------------------------------------------- AAD


class AadApps:
    """Registered applications for the client-credentials flow."""

    def __init__(self):
        self._lock = threading.Lock()
        self.apps = {}

    def register(self, client_id, client_secret=None, cert_pem=None, object_id=None):
        app = {"client_id": client_id, "object_id": object_id or new_guid(),
               "secrets": [], "certs": []}
        with self._lock:
            app = self.apps.setdefault(client_id.lower(), app)
            if client_secret:
                app["secrets"].append(client_secret)
            if cert_pem:
                sha1, sha256 = fake_rsa.cert_thumbprints(cert_pem)
                app["certs"].append({"key": fake_rsa.RsaKey.from_pem(cert_pem),
                                     "x5t": fake_rsa.b64url_encode(sha1),
                                     "x5t#S256": fake_rsa.b64url_encode(sha256),
                                     "thumbprint": sha1.hex().upper()})
            return {"client_id": app["client_id"], "object_id": app["object_id"],
                    "secrets": len(app["secrets"]),
                    "certs": [c["thumbprint"] for c in app["certs"]]}

    def get(self, client_id):
        with self._lock:
            return self.apps.get((client_id or "").lower())

    def clear(self):
        with self._lock:
            self.apps = {}


def _aad_error(status, error, code, desc):
    t = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    trace = new_guid()
    return Response(status, {
        "error": error,
        "error_description": "AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s"
                             % (code, desc, trace, new_guid(), t),
        "error_codes": [code], "timestamp": t, "trace_id": trace, "correlation_id": new_guid(),
        "error_uri": "https://login.microsoftonline.com/error?code=%d" % code,
    })


def _check_assertion(app, assertion, tenant):
    """-> None when the client assertion is acceptable, else an error Response."""
    parts = assertion.split(".")
    if len(parts) != 3:
        return _aad_error(400, "invalid_client", 50027, "JWT token is invalid or malformed.")
    try:
        head = json.loads(fake_rsa.b64url_decode(parts[0]))
        claims = json.loads(fake_rsa.b64url_decode(parts[1]))
        sig = fake_rsa.b64url_decode(parts[2])
    except (ValueError, UnicodeError):
        return _aad_error(400, "invalid_client", 50027, "JWT token is invalid or malformed.")
    if not isinstance(head, dict) or not isinstance(claims, dict):
        return _aad_error(400, "invalid_client", 50027, "JWT token is invalid or malformed.")
    cid = app["client_id"]
    if claims.get("iss") != cid or claims.get("sub") != cid:
        return _aad_error(401, "invalid_client", 700021,
                          "Client assertion application identifier doesn't match 'client_id' parameter.")
    aud = str(claims.get("aud", ""))
    if not (aud.endswith("/%s/oauth2/token" % tenant) or aud.endswith("/%s/oauth2/v2.0/token" % tenant)):
        return _aad_error(401, "invalid_client", 700212,
                          "No matching federated identity record found for presented assertion audience '%s'."
                          % aud)
    t = now()
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= t - 300 or \
            (isinstance(claims.get("nbf"), int) and claims["nbf"] > t + 300):
        return _aad_error(401, "invalid_client", 700024,
                          "Client assertion is not within its valid time range.")
    if not claims.get("jti"):
        return _aad_error(401, "invalid_client", 700023, "Client assertion contains no jti claim.")
    alg = head.get("alg", "")
    cert = None
    for c in app["certs"]:
        if head.get("x5t") == c["x5t"] or head.get("x5t#S256") == c["x5t#S256"]:
            cert = c
    if cert is None:
        return _aad_error(401, "invalid_client", 700027,
                          "The certificate with identifier used to sign the client assertion is not"
                          " registered on application.")
    signing = (parts[0] + "." + parts[1]).encode("ascii")
    if not cert["key"].verify(alg, signing, sig):
        return _aad_error(401, "invalid_client", 700027,
                          "Client assertion failed signature validation.")
    return None


def aad_token(world, req, tenant, v2):
    """POST /{tenant}/oauth2/token (v1) or /{tenant}/oauth2/v2.0/token (v2)."""
    if req.method != "POST":
        return _aad_error(405, "invalid_request", 900561,
                          "The endpoint only accepts POST requests.")
    cfg_tenant = world.config["tenant"]
    if tenant.lower() != cfg_tenant.lower():
        return _aad_error(400, "invalid_request", 90002, "Tenant '%s' not found." % tenant)
    ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return _aad_error(400, "invalid_request", 900144,
                          "The request body must contain the following parameter: 'grant_type'.")
    form = dict(urllib.parse.parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
    if not form.get("grant_type"):
        return _aad_error(400, "invalid_request", 900144,
                          "The request body must contain the following parameter: 'grant_type'.")
    if form["grant_type"] != "client_credentials":
        return _aad_error(400, "unsupported_grant_type", 70003,
                          "The app requested an unsupported grant type '%s'." % form["grant_type"])
    if not form.get("client_id"):
        return _aad_error(400, "invalid_request", 900144,
                          "The request body must contain the following parameter: 'client_id'.")
    if v2:
        scope = form.get("scope", "")
        if not scope:
            return _aad_error(400, "invalid_request", 900144,
                              "The request body must contain the following parameter: 'scope'.")
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return _aad_error(400, "invalid_scope", 1002012,
                              "The provided value for scope %s is not valid. Client credential flows"
                              " must have a scope value with /.default suffixed to the resource"
                              " identifier (application ID URI)." % scope)
        resource = scopes[0][:-len("/.default")]
    else:
        resource = form.get("resource", "")
        if not resource:
            return _aad_error(400, "invalid_request", 900144,
                              "The request body must contain the following parameter: 'resource'.")
    app = world.aad_apps.get(form["client_id"])
    if app is None:
        return _aad_error(400, "unauthorized_client", 700016,
                          "Application with identifier '%s' was not found in the directory '%s'."
                          % (form["client_id"], tenant))
    if form.get("client_assertion"):
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return _aad_error(400, "invalid_request", 50027,
                              "Invalid client_assertion_type.")
        err = _check_assertion(app, form["client_assertion"], cfg_tenant)
        if err:
            return err
    elif form.get("client_secret"):
        if form["client_secret"] not in app["secrets"]:
            return _aad_error(401, "invalid_client", 7000215,
                              "Invalid client secret provided. Ensure the secret being sent in the"
                              " request is the client secret value, not the client secret ID, for a"
                              " secret added to app '%s'." % app["client_id"])
    else:
        return _aad_error(401, "invalid_client", 7000218,
                          "The request body must contain the following parameter: 'client_assertion'"
                          " or 'client_secret'.")
    lifetime = world.config["aad_token_lifetime"]
    iss = "https://sts.windows.net/%s/" % cfg_tenant
    token, claims = world.tokens.issue({
        "aud": resource, "iss": iss, "idp": iss, "appid": app["client_id"],
        "appidacr": "2" if form.get("client_assertion") else "1",
        "oid": app["object_id"], "sub": app["object_id"], "tid": cfg_tenant, "idtyp": "app",
    }, lifetime)
    world.counters.inc("aad.tokens_issued")
    expires_in = claims["exp"] - now()
    if v2:
        return Response(200, {"token_type": "Bearer", "expires_in": expires_in,
                              "ext_expires_in": expires_in, "access_token": token})
    return Response(200, {"token_type": "Bearer", "expires_in": str(expires_in),
                          "ext_expires_in": str(expires_in), "expires_on": str(claims["exp"]),
                          "not_before": str(claims["nbf"]), "resource": resource,
                          "access_token": token})

