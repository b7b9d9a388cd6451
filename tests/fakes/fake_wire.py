"""The Azure platform side of a VM as the Linux guest agent (WALinuxAgent,
`waagent`) sees it: the wire server (168.63.129.16:80), the host plugin
(HostGAPlugin, same address, port 32526) and a store serving the extension
manifest, the extension bundle and the status blob.

Modelled on what WALinuxAgent 2.7.3 reads and sends (see README.md, "Wire
server"): azurelinuxagent/common/protocol/{wire,goal_state,hostplugin,
extensions_goal_state_from_extensions_config,healthservice}.py and
common/utils/cryptutil.py.  The documents are written here from that
reading, not copied from the agent's test data.

Stdlib only, plus the openssl CLI for the certificate work (PKCS#12, CMS):
the guest that runs waagent has openssl (waagent depends on it).
"""

import base64
import datetime
import hashlib
import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from fake_core import App, Response

PROTOCOL_VERSION = "2012-11-30"
HOSTPLUGIN_API_VERSIONS = ["2015-09-01", "2016-02-01", "2015-08-01"]
DEFAULT_PLUGIN = "Example.Vaultvol.Handler"
DEFAULT_VERSION = "0.2.0"
HOSTILE = ("unknown_key", "wrong_thumbprint", "truncated")
STATES = ("enabled", "disabled", "uninstall")
XML = "text/xml; charset=utf-8"
CIPHERS = {"DES_EDE3_CBC": "-des3", "AES128_CBC": "-aes128", "AES256_CBC": "-aes256"}


class WireError(Exception):
    pass


# ---------------------------------------------------------------- openssl


def openssl(args, data=None):
    """Run the openssl CLI; -> stdout bytes.  Raises WireError with its stderr."""
    p = subprocess.run(["openssl"] + args, input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise WireError("openssl %s: %s" % (args[0], p.stderr.decode("utf-8", "replace").strip()))
    return p.stdout


def pem_to_der(pem_text):
    body = [l for l in pem_text.strip().splitlines() if l and not l.startswith("-----")]
    return base64.b64decode("".join(body))


def der_to_pem(der):
    b64 = base64.b64encode(der).decode("ascii")
    return ("-----BEGIN CERTIFICATE-----\n"
            + "".join(b64[i:i + 64] + "\n" for i in range(0, len(b64), 64))
            + "-----END CERTIFICATE-----\n")


def thumbprint(pem_path):
    """SHA-1 of the certificate's DER, upper-case hex: what waagent names
    <THUMBPRINT>.crt/.prv after (`openssl x509 -fingerprint`)."""
    with open(pem_path) as f:
        return hashlib.sha1(pem_to_der(f.read())).hexdigest().upper()


def make_cert(directory, name, cn):
    """A self-signed RSA-2048 certificate name.pem + name.key (kept when present)."""
    pem, key = os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")
    if not (os.path.exists(pem) and os.path.exists(key)):
        openssl(["req", "-x509", "-nodes", "-newkey", "rsa:2048", "-subj", "/CN=" + cn,
                 "-days", "3650", "-keyout", key, "-out", pem])
        os.chmod(key, 0o600)
    return pem, key


def cms_encrypt(data, cert_pem_path, cipher="-aes256"):
    """CMS EnvelopedData (DER) of data for the certificate's key."""
    return openssl(["cms", "-encrypt", "-binary", "-outform", "DER", cipher, cert_pem_path], data)


def cms_encrypt_to_der_cert(data, cert_der, cipher):
    fd, path = tempfile.mkstemp(prefix="wire-transport-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(der_to_pem(cert_der))
        return cms_encrypt(data, path, cipher)
    finally:
        os.unlink(path)


# ---------------------------------------------------------------- documents


def ticks(t):
    """.NET ticks (100 ns since 0001-01-01), as createdOnTicks carries them."""
    return int((t + 62135596800) * 10000000)


class GoalState:
    """One published goal state (one incarnation)."""

    def __init__(self, incarnation, plugin):
        self.incarnation = incarnation
        self.plugin = plugin  # dict or None (no extension)
        self.created = time.time()
        self.activity_id = str(uuid.uuid4())
        self.correlation_id = str(uuid.uuid4())

    def describe(self):
        d = {"incarnation": self.incarnation, "created": int(self.created),
             "activity_id": self.activity_id}
        if self.plugin:
            d["plugin"] = {k: v for k, v in self.plugin.items() if k not in ("runtime_settings",)}
        return d


class Wire:
    """The platform's state: the published goal states, the tenant
    certificate, the bundle, what the agent reported."""

    def __init__(self, state_dir, bundle, addr, port, hostplugin_port, plugin=DEFAULT_PLUGIN,
                 version=DEFAULT_VERSION, certs_dir=None, vm_name="vaultvol-vm"):
        self.lock = threading.Lock()
        self.blob_event = threading.Condition(self.lock)
        self.initial_bundle = (bundle, plugin, version)
        self.addr = addr
        self.port = port
        self.hostplugin_port = hostplugin_port
        self.vm_name = vm_name
        self.deployment = uuid.uuid4().hex
        self.role = "vaultvol-vm"
        certs = certs_dir or state_dir
        os.makedirs(certs, exist_ok=True)
        # The tenant certificate: what the platform delivers to the VM (in
        # Certificates) and encrypts protected settings to.  "other" is a
        # certificate the VM never gets (the wrong_thumbprint case).
        self.tenant_pem, self.tenant_key = make_cert(certs, "wire-tenant", "vaultvol-wire-tenant")
        self.other_pem, _ = make_cert(certs, "wire-other", "vaultvol-wire-other")
        self.tenant_thumbprint = thumbprint(self.tenant_pem)
        self.other_thumbprint = thumbprint(self.other_pem)
        # The PFX (empty password) waagent pipes through `openssl pkcs12 -nodes
        # -password pass:`: certificate and private key.
        self.pfx = openssl(["pkcs12", "-export", "-in", self.tenant_pem, "-inkey", self.tenant_key,
                            "-passout", "pass:", "-name", "vaultvol-wire-tenant"])
        self.reset()

    # ---- state

    def reset(self):
        with self.lock:
            self.bundle, self.plugin_name, self.plugin_version = self.initial_bundle
            self.container_id = str(uuid.uuid4())
            self.goal_states = [GoalState(1, None)]
            self.status_blobs = []
            self.health_reports = []
            self.store_direct = True
            self.next_seq = {}  # per plugin name: sequence numbers are per extension
            self.last_public = {}
            self.last_protected = None

    @property
    def wire_host(self):
        h = "[%s]" % self.addr if ":" in self.addr else self.addr
        return "%s:%d" % (h, self.port)

    def store_url(self, rest):
        return "http://%s/store/%s" % (self.wire_host, rest)

    def manifest_url(self, name):
        return self.store_url("%s_manifest.xml" % name)

    def bundle_url(self, name, version):
        return self.store_url("%s__%s.zip" % (name, version))

    def status_url(self):
        return self.store_url("status/%s.status?sv=2018-03-28&sr=b&sp=rw&sig=fakewire" % self.vm_name)

    def set_bundle(self, bundle=None, plugin=None, version=None):
        """What the store serves (and the next goal states name) from now on."""
        if bundle is not None and not os.path.isfile(bundle):
            raise WireError("bundle %s is not a file" % bundle)
        with self.lock:
            if bundle is not None:
                self.bundle = os.path.abspath(bundle)
            if plugin:
                self.plugin_name = plugin
            if version:
                self.plugin_version = version

    def current(self):
        with self.lock:
            return self.goal_states[-1]

    def find(self, incarnation):
        with self.lock:
            for g in self.goal_states:
                if str(g.incarnation) == str(incarnation):
                    return g
        return None

    def publish(self, public=None, protected=None, seq=None, state="enabled", version=None,
                hostile=None, cipher="aes256", remove=False, incarnation=None):
        """A new goal state: incarnation + 1, the plugin with new settings."""
        if state not in STATES:
            raise WireError("state must be one of %s" % ", ".join(STATES))
        if hostile not in (None, "", "none") + HOSTILE:
            raise WireError("hostile must be one of none, %s" % ", ".join(HOSTILE))
        if cipher not in ("aes256", "aes128", "des3"):
            raise WireError("cipher must be aes256, aes128 or des3")
        if public is None:
            public = {}
        if not isinstance(public, dict):
            raise WireError("public must be a JSON object")
        public = dict(public)
        with self.lock:
            if seq is None:
                seq = self.next_seq.get(self.plugin_name, 0)
            seq = int(seq)
            inc = int(incarnation) if incarnation is not None else self.goal_states[-1].incarnation + 1
        plugin = None
        if not remove:
            handler = {"publicSettings": public}
            if hostile == "unknown_key":
                public["vaultvolNoSuchSetting"] = True
            if protected is not None or hostile in ("wrong_thumbprint", "truncated"):
                text = protected if isinstance(protected, str) else json.dumps(protected or {})
                cert, tp = self.tenant_pem, self.tenant_thumbprint
                if hostile == "wrong_thumbprint":
                    cert, tp = self.other_pem, self.other_thumbprint
                der = cms_encrypt(text.encode("utf-8"), cert, "-" + cipher)
                if hostile == "truncated":
                    der = der[:len(der) // 2]
                handler = {"protectedSettingsCertThumbprint": tp,
                           "protectedSettings": base64.b64encode(der).decode("ascii"),
                           "publicSettings": public}
            plugin = {"name": self.plugin_name, "version": version or self.plugin_version,
                      "state": state, "seq": seq, "hostile": hostile or None,
                      "thumbprint": handler.get("protectedSettingsCertThumbprint"),
                      "public": public,
                      "runtime_settings": json.dumps({"runtimeSettings": [{"handlerSettings": handler}]})}
        g = GoalState(inc, plugin)
        with self.lock:
            self.goal_states.append(g)
            if not remove:
                self.next_seq[self.plugin_name] = seq + 1
        return g

    def record_status(self, channel, body, url):
        try:
            doc = json.loads(body.decode("utf-8"))
        except ValueError:
            doc = None
        with self.lock:
            n = len(self.status_blobs) + 1
            self.status_blobs.append({"n": n, "channel": channel, "time": time.time(),
                                      "incarnation": self.goal_states[-1].incarnation,
                                      "url": url, "json": doc, "handlers": handler_summaries(doc),
                                      "text": None if doc is not None else body.decode("utf-8", "replace")})
            self.blob_event.notify_all()
        return n

    def handler_status(self, since=1, plugin=None, seq=None, status=None):
        """The newest blob (index >= since) with a handler entry for plugin
        (default: the current one) matching seq and status (when given);
        -> (n, entry) or (None, None).  Caller holds the lock."""
        plugin = plugin or self.plugin_name
        for b in reversed(self.status_blobs):
            if b["n"] < since:
                break
            for h in b["handlers"]:
                if h["name"] != plugin:
                    continue
                if seq is not None and h["seq"] != int(seq):
                    continue
                if status is not None and h["status"] not in status:
                    continue
                return b["n"], h
        return None, None

    def record_health(self, body):
        rec = {"time": time.time(), "raw": body.decode("utf-8", "replace")}
        try:
            root = ET.fromstring(body)
            rec["incarnation"] = root.findtext("GoalStateIncarnation")
            rec["state"] = root.findtext(".//Health/State")
            rec["substatus"] = root.findtext(".//Details/SubStatus")
            rec["description"] = root.findtext(".//Details/Description")
        except ET.ParseError:
            rec["state"] = None
        with self.lock:
            self.health_reports.append(rec)

    def describe(self):
        g = self.current()
        with self.lock:
            return {"incarnation": g.incarnation, "container_id": self.container_id,
                    "goal_state": g.describe(),
                    "next_seq": self.next_seq.get(self.plugin_name, 0),
                    "tenant_thumbprint": self.tenant_thumbprint, "tenant_cert": self.tenant_pem,
                    "other_thumbprint": self.other_thumbprint,
                    "plugin": self.plugin_name, "version": self.plugin_version,
                    "bundle": self.bundle, "store_direct": self.store_direct,
                    "status_blobs": len(self.status_blobs), "health_reports": len(self.health_reports),
                    "wire_url": "http://%s" % self.wire_host}

    # ---- documents

    def instance_id(self):
        return "%s.%s_IN_0" % (self.deployment, self.role)

    def config_url(self, g, kind):
        return ("http://%s/machine/%s/%s?comp=config&amp;type=%s&amp;incarnation=%d"
                % (self.wire_host, self.container_id, urllib.parse.quote(self.instance_id()),
                   kind, g.incarnation))

    def goal_state_xml(self, g):
        return """<?xml version="1.0" encoding="utf-8"?>
<GoalState xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="goalstate10.xsd">
  <Version>2012-11-30</Version>
  <Incarnation>%(inc)d</Incarnation>
  <Machine>
    <ExpectedState>Started</ExpectedState>
    <StopRolesDeadlineHint>300000</StopRolesDeadlineHint>
    <LBProbePorts><Port>16001</Port></LBProbePorts>
    <ExpectHealthReport>FALSE</ExpectHealthReport>
  </Machine>
  <Container>
    <ContainerId>%(cid)s</ContainerId>
    <RoleInstanceList>
      <RoleInstance>
        <InstanceId>%(iid)s</InstanceId>
        <State>Started</State>
        <Configuration>
          <HostingEnvironmentConfig>%(hosting)s</HostingEnvironmentConfig>
          <SharedConfig>%(shared)s</SharedConfig>
          <ExtensionsConfig>%(ext)s</ExtensionsConfig>
          <FullConfig>%(full)s</FullConfig>
          <Certificates>http://%(host)s/machine/%(cid)s/%(iidq)s?comp=certificates&amp;incarnation=%(inc)d</Certificates>
          <ConfigName>%(deployment)s.0.%(deployment)s.%(inc)d.%(role)s_IN_0.1.xml</ConfigName>
        </Configuration>
      </RoleInstance>
    </RoleInstanceList>
  </Container>
</GoalState>
""" % {"inc": g.incarnation, "cid": self.container_id, "iid": self.instance_id(),
       "iidq": urllib.parse.quote(self.instance_id()), "host": self.wire_host,
       "hosting": self.config_url(g, "hostingEnvironmentConfig"),
       "shared": self.config_url(g, "sharedConfig"),
       "ext": self.config_url(g, "extensionsConfig"), "full": self.config_url(g, "fullConfig"),
       "deployment": self.deployment, "role": self.role}

    def hosting_env_xml(self, g):
        return """<?xml version="1.0" encoding="utf-8"?>
<HostingEnvironmentConfig version="1.0.0.0" goalStateIncarnation="%(inc)d">
  <StoredCertificates>
    <StoredCertificate name="Stored0VaultvolTenant" certificateId="sha1:%(tp)s" storeName="My" configurationLevel="System" />
  </StoredCertificates>
  <Deployment name="%(deployment)s" guid="{%(dguid)s}" incarnation="0" isNonCancellableTopologyChangeEnabled="false">
    <Service name="%(vm)s" guid="{00000000-0000-0000-0000-000000000000}" />
    <ServiceInstance name="%(deployment)s.0" guid="{%(sguid)s}" />
  </Deployment>
  <Incarnation number="1" instance="%(vm)s" guid="{%(iguid)s}" />
  <Role guid="{%(rguid)s}" name="%(role)s" hostingEnvironmentVersion="1" software="" softwareType="ApplicationPackage" entryPoint="" parameters="" settleTimeSeconds="10" />
  <HostingEnvironmentSettings name="full" Runtime="rd_fabric_stable.fake.runtimePackage_1.0.0.0.zip">
    <CAS mode="full" />
    <PrivilegeLevel mode="max" />
    <AdditionalProperties><CgiHandlers></CgiHandlers></AdditionalProperties>
  </HostingEnvironmentSettings>
  <ApplicationSettings />
  <ResourceReferences>
    <Resource name="DiagnosticStore" type="directory" request="Microsoft.Cis.Fabric.Controller.Descriptions.ServiceDescription.Data.Policy" sticky="true" size="1" path="%(deployment)s.%(role)s.DiagnosticStore\\" disableQuota="false" />
  </ResourceReferences>
</HostingEnvironmentConfig>
""" % {"inc": g.incarnation, "tp": self.tenant_thumbprint, "deployment": self.deployment,
       "vm": self.vm_name, "role": self.role, "dguid": _guid(self.deployment, "d"),
       "sguid": _guid(self.deployment, "s"), "iguid": _guid(self.deployment, "i"),
       "rguid": _guid(self.deployment, "r")}

    def shared_config_xml(self, g):
        return """<?xml version="1.0" encoding="utf-8"?>
<SharedConfig version="1.0.0.0" goalStateIncarnation="%(inc)d">
  <Deployment name="%(deployment)s" guid="{%(dguid)s}" incarnation="0" isNonCancellableTopologyChangeEnabled="false">
    <Service name="%(vm)s" guid="{00000000-0000-0000-0000-000000000000}" />
    <ServiceInstance name="%(deployment)s.0" guid="{%(sguid)s}" />
  </Deployment>
  <Incarnation number="1" instance="%(vm)s" guid="{%(iguid)s}" />
  <Role guid="{%(rguid)s}" name="%(role)s" settleTimeSeconds="10" />
  <LoadBalancerSettings timeoutSeconds="0" waitLoadBalancerProbeCount="8">
    <Probes><Probe name="%(role)s" /></Probes>
  </LoadBalancerSettings>
  <OutputEndpoints />
  <Instances>
    <Instance id="%(vm)s" address="10.0.0.4">
      <FaultDomains randomId="0" updateId="0" updateCount="0" />
      <InputEndpoints />
    </Instance>
  </Instances>
</SharedConfig>
""" % {"inc": g.incarnation, "deployment": self.deployment, "vm": self.vm_name,
       "role": self.role, "dguid": _guid(self.deployment, "d"),
       "sguid": _guid(self.deployment, "s"), "iguid": _guid(self.deployment, "i"),
       "rguid": _guid(self.deployment, "r")}

    def full_config_xml(self, g):
        return ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<FullConfig goalStateIncarnation=\"%d\">"
                "<Role name=\"%s\" /></FullConfig>\n" % (g.incarnation, self.role))

    def extensions_config_xml(self, g):
        p = g.plugin
        plugins = settings = ""
        if p:
            man = self.manifest_url(p["name"])
            plugins = ("    <Plugin name=%s version=%s location=%s failoverlocation=%s state=%s "
                       "autoUpgrade=\"false\" runAsStartupTask=\"false\" isJson=\"true\" "
                       "useExactVersion=\"true\" />\n"
                       % (quoteattr(p["name"]), quoteattr(p["version"]), quoteattr(man),
                          quoteattr(man), quoteattr(p["state"])))
            settings = ("    <Plugin name=%s version=%s>\n      <RuntimeSettings seqNo=\"%d\">%s</RuntimeSettings>\n"
                        "    </Plugin>\n" % (quoteattr(p["name"]), quoteattr(p["version"]), p["seq"],
                                             escape(p["runtime_settings"])))
        return """<?xml version="1.0" encoding="utf-8"?>
<Extensions version="1.0.0.0" goalStateIncarnation="%(inc)d"><GuestAgentExtension xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
  <GAFamilies>
    <GAFamily>
      <Name>Prod</Name>
      <Uris><Uri>%(ga)s</Uri></Uris>
    </GAFamily>
  </GAFamilies>
  <Location>fakeregion</Location>
</GuestAgentExtension>
<StatusUploadBlob statusBlobType="BlockBlob">%(status)s</StatusUploadBlob>
<InVMGoalStateMetaData inSvdSeqNo="%(inc)d" createdOnTicks="%(ticks)d" activityId="%(act)s" correlationId="%(corr)s" />
<Plugins>
%(plugins)s</Plugins>
<PluginSettings>
%(settings)s</PluginSettings>
</Extensions>
""" % {"inc": g.incarnation, "ga": escape(self.store_url("ga/Prod_manifest.xml")),
       "status": escape(self.status_url()), "ticks": ticks(g.created),
       "act": g.activity_id, "corr": g.correlation_id, "plugins": plugins, "settings": settings}

    def certificates_xml(self, g, transport_der, cipher):
        data = base64.b64encode(cms_encrypt_to_der_cert(self.pfx, transport_der, cipher)).decode("ascii")
        lines = "".join(data[i:i + 64] + "\n" for i in range(0, len(data), 64))
        return """<?xml version="1.0" encoding="utf-8"?>
<CertificateFile xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="certificates10.xsd">
  <Version>2012-11-30</Version>
  <Incarnation>%d</Incarnation>
  <Format>Pkcs7BlobWithPfxContents</Format>
  <Data>%s</Data>
</CertificateFile>
""" % (g.incarnation, lines)

    def manifest_xml(self, name):
        return """<?xml version="1.0" encoding="utf-8"?>
<PluginVersionManifest xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
  <Plugins>
    <Plugin>
      <Version>%s</Version>
      <Uris><Uri>%s</Uri></Uris>
    </Plugin>
  </Plugins>
  <InternalPlugins />
</PluginVersionManifest>
""" % (escape(self.plugin_version), escape(self.bundle_url(name, self.plugin_version)))

    GA_MANIFEST = ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<PluginVersionManifest "
                   "xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><Plugins /><InternalPlugins />"
                   "</PluginVersionManifest>\n")

    VERSIONS_XML = """<?xml version="1.0" encoding="utf-8"?>
<Versions>
  <Preferred>
    <Version>2012-11-30</Version>
  </Preferred>
  <Supported>
    <Version>2012-11-30</Version>
    <Version>2010-12-15</Version>
    <Version>2010-28-10</Version>
  </Supported>
</Versions>
"""

    # ---- the store (blob storage stand-in), shared by the direct and host plugin routes

    def store_get(self, rest):
        """-> (status, body, content_type, op) for GET /store/<rest>."""
        if rest == "ga/Prod_manifest.xml":
            return 200, self.GA_MANIFEST, XML, "store_ga_manifest"
        if rest == "%s_manifest.xml" % self.plugin_name:
            return 200, self.manifest_xml(self.plugin_name), XML, "store_manifest"
        if rest == "%s__%s.zip" % (self.plugin_name, self.plugin_version):
            with open(self.bundle, "rb") as f:
                return 200, f.read(), "application/octet-stream", "store_bundle"
        return 404, storage_error("BlobNotFound", "The specified blob does not exist."), XML, "store_unknown"


def handler_summaries(doc):
    """The handlers' part of a status blob (the v1 document waagent's
    wire.py vm_status_to_v1() builds), flattened for tests:
    [{name, version, handler_status, seq, status, operation, code, message,
    substatus: [{name, status, code, message}]}]."""
    out = []
    aggs = ((doc or {}).get("aggregateStatus") or {}).get("handlerAggregateStatus") or []
    for h in aggs:
        rs = h.get("runtimeSettingsStatus") or {}
        st = (rs.get("settingsStatus") or {}).get("status") or {}
        subs = []
        for x in st.get("substatus") or []:
            subs.append({"name": x.get("name"), "status": x.get("status"), "code": x.get("code"),
                         "message": (x.get("formattedMessage") or {}).get("message")})
        out.append({"name": h.get("handlerName"), "version": h.get("handlerVersion"),
                    "handler_status": h.get("status"), "seq": rs.get("sequenceNumber"),
                    "status": st.get("status"), "operation": st.get("operation"),
                    "code": st.get("code"),
                    "message": (st.get("formattedMessage") or {}).get("message"),
                    "substatus": subs})
    return out


def _guid(seed, salt):
    return str(uuid.UUID(hashlib.md5((seed + salt).encode()).hexdigest()))


def storage_error(code, message):
    return ("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>%s</Code><Message>%s</Message></Error>"
            % (code, escape(message)))


def store_rest(url):
    """The part of a store URL after /store/, or None when not ours."""
    parts = urllib.parse.urlsplit(url)
    segs = [s for s in parts.path.split("/") if s]
    if len(segs) < 2 or segs[0] != "store":
        return None
    return "/".join(urllib.parse.unquote(s) for s in segs[1:])


# ---------------------------------------------------------------- wire server (port 80)


class _PlatformApp(App):
    """What the wire server and the host plugin share: the world and the wire state."""

    name = None

    def __init__(self, world, wire):
        super().__init__(self.name, world.counters, world.faults)
        self.world = world
        self.wire = wire
        self.quiet = world.quiet


class WireApp(_PlatformApp):
    """168.63.129.16:80: the wire server, the health service and the store."""

    name = "wire"
    server_header = "Microsoft-IIS/10.0"

    def classify(self, req):
        comp = req.query.get("comp", "")
        segs = req.segments
        if segs and segs[0] == "store":
            if req.method == "PUT":
                return "store_status"
            rest = "/".join(segs[1:])
            if rest.startswith("ga/"):
                return "store_ga_manifest"
            return "store_bundle" if rest.endswith(".zip") else "store_manifest"
        if segs == ["HealthService"]:
            return "health_service"
        if not segs and comp == "versions":
            return "versions"
        if segs == ["machine"]:
            return {"goalstate": "goalstate", "health": "health", "roleProperties": "role_properties",
                    "telemetrydata": "telemetry"}.get(comp, "unknown")
        if len(segs) >= 2 and segs[0] == "machine":
            if comp == "certificates":
                return "certificates"
            if comp == "config":
                return {"hostingEnvironmentConfig": "hosting_env", "sharedConfig": "shared_config",
                        "extensionsConfig": "extensions_config",
                        "fullConfig": "full_config"}.get(req.query.get("type"), "unknown")
        return "unknown"

    def fault_response(self, req, status):
        return Response(status, storage_error("InjectedFault", "injected fault"), content_type=XML)

    def internal_error(self):
        return Response(500, storage_error("InternalError", "fake crashed, see its log"), content_type=XML)

    def handle(self, req):
        op = req.op
        w = self.wire
        if op.startswith("store_"):
            if not w.store_direct:
                # storage unreachable from the VM: waagent then goes through the host plugin
                return Response(404, storage_error("ResourceNotFound", "direct store access is off"),
                                content_type=XML)
            if op == "store_status":
                return self._status_put(req)
            if req.method not in ("GET", "HEAD"):
                return Response(405, storage_error("UnsupportedHttpVerb", req.method), content_type=XML)
            status, body, ct, _ = w.store_get("/".join(req.segments[1:]))
            return Response(status, body, content_type=ct)
        if op == "health_service":
            return Response(200, b"", content_type="application/json")
        if op in ("health", "role_properties", "telemetry"):
            if req.method != "POST":
                return Response(405, "", content_type=XML)
            if op == "health":
                w.record_health(req.body)
            return Response(202 if op == "role_properties" else 200, b"", content_type=XML)
        if req.method != "GET":
            return Response(405, "", content_type=XML)
        if op == "versions":
            return Response(200, w.VERSIONS_XML, content_type=XML)
        if op == "goalstate":
            if req.header("x-ms-version") != PROTOCOL_VERSION:
                return Response(400, storage_error("InvalidHeader", "x-ms-version"), content_type=XML)
            return Response(200, w.goal_state_xml(w.current()), content_type=XML)
        if op == "unknown":
            return Response(404, storage_error("NotFound", "no such resource"), content_type=XML)
        # a document of one incarnation (a stale one still answers: waagent
        # may fetch the parts of a goal state after a newer one was published)
        if req.segments[1] != w.container_id:
            return Response(410, storage_error("Gone", "container changed"), content_type=XML)
        g = w.find(req.query.get("incarnation"))
        if g is None:
            return Response(404, storage_error("NotFound", "no such incarnation"), content_type=XML)
        if op == "certificates":
            cert = req.header("x-ms-guest-agent-public-x509-cert")
            cipher = CIPHERS.get(req.header("x-ms-cipher-name") or "DES_EDE3_CBC")
            if not cert or not cipher:
                return Response(400, storage_error("InvalidHeader",
                                                   "x-ms-guest-agent-public-x509-cert / x-ms-cipher-name"),
                                content_type=XML)
            try:
                der = base64.b64decode(cert, validate=False)
                body = w.certificates_xml(g, der, cipher)
            except (ValueError, WireError) as e:
                return Response(400, storage_error("InvalidCertificate", str(e)), content_type=XML)
            return Response(200, body, content_type=XML)
        doc = {"hosting_env": w.hosting_env_xml, "shared_config": w.shared_config_xml,
               "extensions_config": w.extensions_config_xml, "full_config": w.full_config_xml}[op]
        return Response(200, doc(g), content_type=XML)

    def _status_put(self, req):
        if req.header("x-ms-blob-type") != "BlockBlob":
            return Response(400, storage_error("InvalidHeaderValue", "only BlockBlob is modelled"),
                            content_type=XML)
        self.wire.record_status("direct", req.body, req.raw_path)
        return Response(201, b"", content_type=XML)


# ---------------------------------------------------------------- host plugin (port 32526)


class HostPluginApp(_PlatformApp):
    """168.63.129.16:32526: the HostGAPlugin (what hostplugin.py calls)."""

    name = "hostplugin"
    server_header = "HostGAPlugin"

    def classify(self, req):
        p = req.path
        return {"/versions": "versions", "/health": "health", "/vmSettings": "vm_settings",
                "/extensionArtifact": "extension_artifact", "/status": "status",
                "/vmAgentLog": "vm_agent_log"}.get(p, "unknown")

    def handle(self, req):
        op = req.op
        w = self.wire
        if op == "versions":
            return Response(200, HOSTPLUGIN_API_VERSIONS)
        if op == "health":
            return Response(200, b"", content_type="text/plain")
        if op == "vm_settings":
            # FastTrack is not modelled: waagent then takes the extensions
            # goal state from ExtensionsConfig (404 = "not supported").
            return Response(404, b"vmSettings not supported", content_type="text/plain")
        if op == "unknown":
            return Response(404, b"", content_type="text/plain")
        if req.header("x-ms-containerid") != w.container_id:
            return Response(410, b"container id is stale", content_type="text/plain")
        if op == "extension_artifact":
            loc = req.header("x-ms-artifact-location") or ""
            rest = store_rest(loc)
            if rest is None:
                return Response(400, b"x-ms-artifact-location is not a store URL", content_type="text/plain")
            status, body, ct, sub = w.store_get(rest)
            self.counters.inc("hostplugin.extension_artifact." + sub)
            if status != 200:
                # the upstream status comes back as 502 with its description
                return Response(502, body, content_type=ct)
            return Response(200, body, content_type=ct)
        if op == "status":
            if req.method != "PUT":
                return Response(405, b"", content_type="text/plain")
            try:
                doc = req.json()
                headers = {h["headerName"]: h["headerValue"] for h in doc.get("headers", [])}
                content = base64.b64decode(doc["content"])
                uri = doc["requestUri"]
            except (ValueError, KeyError, TypeError):
                return Response(400, b"bad status request", content_type="text/plain")
            if headers.get("x-ms-blob-type") != "BlockBlob":
                return Response(400, b"only BlockBlob is modelled", content_type="text/plain")
            if store_rest(uri) is None or not store_rest(uri).startswith("status/"):
                return Response(502, b"upstream: not a status blob URL", content_type="text/plain")
            w.record_status("hostplugin", content, uri)
            return Response(200, b"", content_type="text/plain")
        if op == "vm_agent_log":
            return Response(200, b"", content_type="text/plain")
        return Response(404, b"", content_type="text/plain")
