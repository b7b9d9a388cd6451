#!/usr/bin/python3 -S
"""Fake Azure Key Vault (HTTPS, primary and secondary), IMDS (HTTP), AAD
token endpoint (on the primary vault's port), optionally the wire server and
host plugin waagent talks to (fake_wire.py), and a control API, in one
process, using only the Python standard library (the wire server also runs
the openssl CLI).

    fakes.py --state-dir DIR [--kv-addr 127.0.0.1] [--kv-port 0]
             [--kv2-addr ADDR] [--kv2-port 0|-1] [--imds-addr 127.0.0.1]
             [--imds-port 0] [--ctl-addr 127.0.0.1] [--ctl-port 0]
             [--tenant GUID] [--certs DIR] [--preload FILE] [--quiet]
             [--wire-addr ADDR --wire-bundle ZIP [--wire-port 80]
              [--hostplugin-port 32526] [--wire-plugin NAME] [--wire-version V]
              [--wire-certs DIR]]

Port 0 picks a free port.  When every server listens, the chosen ports are
written to DIR/ports.json and DIR/ports.env and only then DIR/ready appears.
SIGTERM or SIGINT stops it cleanly (DIR/ready is removed).  See README.md.
"""

import argparse
import json
import os
import signal
import ssl
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fake_core import Counters, Faults, FakeServer, RateLimiter, Tokens  # noqa: E402
from fake_control import ControlApp, default_app  # noqa: E402
from fake_identity import (AadApps, DEFAULT_APP_ID, DEFAULT_APP_SECRET,  # noqa: E402
                           DEFAULT_TENANT, Identities, ImdsApp, default_instance)
from fake_kv import Vault, VaultApp, load_persisted, persist  # noqa: E402
from fake_wire import HostPluginApp, Wire, WireApp  # noqa: E402

TLS_CERTS = ("server", "wronghost", "untrusted", "expired")


class World:
    """Everything the servers share."""

    def __init__(self, args):
        self.quiet = args.quiet
        self.defaults = {
            "tenant": args.tenant,
            "authority": args.authority,
            "challenge_style": "authorization",
            "imds_token_lifetime": args.imds_token_lifetime,
            "aad_token_lifetime": args.aad_token_lifetime,
            # service limits (REFERENCE.md); "limits": false turns them off
            "limits": not args.no_limits,
            "imds_rps": 20,
            "imds_concurrency": 5,
            "kv_secret_reads_per_10s": 4000,
            "kv_secret_writes_per_10s": 300,
            "kv_key_ops_per_10s": 4000,
            "kv_hsm_key_ops_per_10s": 2000,
            "throttle_retry_after": None,
            "kv_window_s": 10.0,        # the quotas' window; shorter = scaled down
            "kv_unavailable_every": 0,  # N: every Nth admitted request is a 503
        }
        self.config = dict(self.defaults)
        self.counters = Counters()
        self.tokens = Tokens(self.counters)
        self.limiter = RateLimiter()
        self.identities = Identities()
        self.aad_apps = AadApps()
        self.vaults = {}
        self.tls_contexts = {}
        self.info = {}
        self.imds = None
        self.wire = None
        self.app_cert = None
        self.faults = None

    def reset(self):
        self.config.clear()
        self.config.update(self.defaults)
        self.counters.reset()
        self.limiter.reset()
        self.faults.clear()
        self.tokens.expire_all()
        self.identities.reset()
        self.aad_apps.clear()
        default_app(self, self.app_cert)
        for v in self.vaults.values():
            v.reset()
        self.imds.set_instance(doc=default_instance())
        if self.wire:
            self.wire.reset()


def tls_context(certs, name):
    pem, key = os.path.join(certs, name + ".pem"), os.path.join(certs, name + ".key")
    if not (os.path.exists(pem) and os.path.exists(key)):
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pem, key)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def url_host(addr):
    return "[%s]" % addr if ":" in addr else addr


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def env_quote(v):
    return "'" + str(v).replace("'", "'\\''") + "'"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--kv-addr", default="127.0.0.1")
    ap.add_argument("--kv-port", type=int, default=0)
    ap.add_argument("--kv2-addr", default=None, help="secondary vault address (default: --kv-addr)")
    ap.add_argument("--kv-name", default="myvault.vault.azure.net",
                    help="vault host name clients use (pinned to --kv-addr with VAULTVOL_TEST_RESOLVE)")
    ap.add_argument("--kv2-name", default="myvault-dr.vault.azure.net",
                    help="secondary vault host name")
    ap.add_argument("--kv2-port", type=int, default=0, help="-1 disables the secondary vault")
    ap.add_argument("--imds-addr", default="127.0.0.1")
    ap.add_argument("--imds-port", type=int, default=0)
    ap.add_argument("--ctl-addr", default="127.0.0.1")
    ap.add_argument("--ctl-port", type=int, default=0)
    ap.add_argument("--tenant", default=DEFAULT_TENANT)
    ap.add_argument("--authority", default="https://login.windows.net",
                    help="authority host written in the 401 challenge")
    ap.add_argument("--certs", default=None, help="directory with ca.pem, server.pem/.key "
                    "(default: the state dir; made with mkca.sh when missing)")
    ap.add_argument("--preload", default=None, help="JSON list of {\"op\": ..., params} control calls")
    ap.add_argument("--persist", default=None,
                    help="keep the primary vault's secrets and keys in FILE, written after every "
                         "change; when FILE exists it is loaded instead of --preload (a vault "
                         "outlives the VM: power-cut tests)")
    ap.add_argument("--imds-token-lifetime", type=int, default=86399)
    ap.add_argument("--aad-token-lifetime", type=int, default=3599)
    ap.add_argument("--no-limits", action="store_true",
                    help="do not enforce the services' request limits (429)")
    ap.add_argument("--wire-addr", default=None,
                    help="serve the wire server and host plugin here (guest: 168.63.129.16); "
                    "off when not given")
    ap.add_argument("--wire-port", type=int, default=80, help="wire server port (0: free port)")
    ap.add_argument("--hostplugin-port", type=int, default=32526, help="host plugin port (0: free port)")
    ap.add_argument("--wire-bundle", default=None, help="the extension bundle zip the store serves")
    ap.add_argument("--wire-plugin", default="Example.Vaultvol.Handler", help="extension handler name")
    ap.add_argument("--wire-version", default="0.2.0", help="extension handler version")
    ap.add_argument("--wire-certs", default=None,
                    help="directory for the tenant certificate (default: the state dir)")
    ap.add_argument("--quiet", action="store_true", help="no per-request log lines")
    args = ap.parse_args()

    state = os.path.abspath(args.state_dir)
    os.makedirs(state, exist_ok=True)
    for f in ("ready", "ports.json", "ports.env"):
        try:
            os.unlink(os.path.join(state, f))
        except FileNotFoundError:
            pass
    certs = os.path.abspath(args.certs or state)
    if not os.path.exists(os.path.join(certs, "server.pem")):
        subprocess.run([os.path.join(HERE, "mkca.sh"), certs], check=True,
                       stdout=subprocess.DEVNULL)

    world = World(args)
    for name in TLS_CERTS:
        ctx = tls_context(certs, name)
        if ctx:
            world.tls_contexts[name] = ctx
    if "server" not in world.tls_contexts:
        sys.exit("fakes.py: no server.pem/server.key in %s" % certs)
    app_cert = os.path.join(certs, "app.pem")
    world.app_cert = app_cert if os.path.exists(app_cert) else None

    vault_specs = [("primary", args.kv_addr, args.kv_port, args.kv_name)]
    if args.kv2_port >= 0:
        vault_specs.append(("secondary", args.kv2_addr or args.kv_addr, args.kv2_port, args.kv2_name))
    world.faults = Faults([n for n, _, _, _ in vault_specs] + ["imds", "wire", "hostplugin"])
    default_app(world, world.app_cert)

    servers = []
    resolve = []
    ip_urls = {}
    for name, addr, port, host in vault_specs:
        vault = Vault(name)
        world.vaults[name] = vault
        app = VaultApp(world, vault, None, serve_aad=(name == "primary"))
        srv = FakeServer(addr, port, app,
                         tls_picker=(lambda v=vault: world.tls_contexts.get(v.tls_cert,
                                                                            world.tls_contexts["server"])))
        # Clients reach a vault by its name (production checks need one);
        # the name is pinned to the loopback address it listens on.
        vault.base = app.default_base = "https://%s:%d" % (host, srv.server_address[1])
        ip_urls[name] = "https://%s:%d" % (url_host(addr), srv.server_address[1])
        resolve.append("%s:%d:%s" % (host, srv.server_address[1], url_host(addr)))
        servers.append(srv)
    world.imds = ImdsApp(world)
    imds_srv = FakeServer(args.imds_addr, args.imds_port, world.imds)
    servers.append(imds_srv)
    wire_srv = hp_srv = None
    if args.wire_addr:
        if not args.wire_bundle or not os.path.isfile(args.wire_bundle):
            sys.exit("fakes.py: --wire-addr needs --wire-bundle ZIP (an existing file)")
        world.wire = Wire(state, os.path.abspath(args.wire_bundle), args.wire_addr, args.wire_port,
                          args.hostplugin_port, plugin=args.wire_plugin, version=args.wire_version,
                          certs_dir=args.wire_certs and os.path.abspath(args.wire_certs))
        wire_srv = FakeServer(args.wire_addr, args.wire_port, WireApp(world, world.wire))
        hp_srv = FakeServer(args.wire_addr, args.hostplugin_port, HostPluginApp(world, world.wire))
        world.wire.port = wire_srv.server_address[1]
        world.wire.hostplugin_port = hp_srv.server_address[1]
        servers += [wire_srv, hp_srv]
    ctl = ControlApp(world)
    ctl_srv = FakeServer(args.ctl_addr, args.ctl_port, ctl)
    servers.append(ctl_srv)

    kv = world.vaults["primary"].base
    kv2 = world.vaults["secondary"].base if "secondary" in world.vaults else None
    info = {
        "pid": os.getpid(),
        "state_dir": state,
        "tenant": args.tenant,
        "ca": os.path.join(certs, "ca.pem"),
        "certs_dir": certs,
        "kv_url": kv, "kv_addr": args.kv_addr, "kv_port": servers[0].server_address[1],
        "kv2_url": kv2,
        "kv_ip_url": ip_urls["primary"],
        "kv2_ip_url": ip_urls.get("secondary"),
        "resolve": ",".join(resolve),
        "kv2_addr": (args.kv2_addr or args.kv_addr) if kv2 else None,
        "kv2_port": servers[1].server_address[1] if kv2 else None,
        "imds_url": "http://%s:%d" % (url_host(args.imds_addr), imds_srv.server_address[1]),
        "imds_addr": args.imds_addr, "imds_port": imds_srv.server_address[1],
        "ctl_url": "http://%s:%d" % (url_host(args.ctl_addr), ctl_srv.server_address[1]),
        "ctl_port": ctl_srv.server_address[1],
        "aad_url": kv,
        "aad_token_url_v1": "%s/%s/oauth2/token" % (kv, args.tenant),
        "aad_token_url_v2": "%s/%s/oauth2/v2.0/token" % (kv, args.tenant),
        "aad_client_id": DEFAULT_APP_ID,
        "aad_client_secret": DEFAULT_APP_SECRET,
        "aad_cert": world.app_cert,
        "aad_key": os.path.join(certs, "app.key") if world.app_cert else None,
        "system_identity": world.identities.describe()["system"],
    }
    if world.wire:
        info.update({
            "wire_url": "http://%s:%d" % (url_host(args.wire_addr), wire_srv.server_address[1]),
            "wire_addr": args.wire_addr, "wire_port": wire_srv.server_address[1],
            "hostplugin_url": "http://%s:%d" % (url_host(args.wire_addr), hp_srv.server_address[1]),
            "hostplugin_port": hp_srv.server_address[1],
            "wire_tenant_thumbprint": world.wire.tenant_thumbprint,
            "wire_tenant_cert": world.wire.tenant_pem,
            "wire_plugin": args.wire_plugin, "wire_version": args.wire_version,
        })
    world.info = info

    primary = world.vaults["primary"]
    if args.persist and load_persisted(primary, args.persist):
        args.preload = None
    if args.preload:
        with open(args.preload) as f:
            calls = json.load(f)
        if isinstance(calls, dict):  # the answer of the `export` op
            calls = calls.get("ops", [])
        for call in calls:
            call = dict(call)
            op = call.pop("op")
            ctl.run(op, call)

    if args.persist:
        persist(primary, args.persist)
        primary.persist_path = args.persist

    threads = []
    for srv in servers:
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                             name="serve-" + srv.app.name, daemon=True)
        t.start()
        threads.append(t)

    stop = ctl.shutdown_event
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    write_atomic(os.path.join(state, "ports.json"), json.dumps(info, indent=1) + "\n")
    env = {"FAKE_PID": info["pid"], "FAKE_TENANT": info["tenant"], "FAKE_CA": info["ca"],
           "FAKE_KV_URL": kv, "FAKE_KV_PORT": info["kv_port"],
           "FAKE_KV_IP_URL": info["kv_ip_url"], "FAKE_RESOLVE": info["resolve"],
           "FAKE_KV2_URL": kv2 or "", "FAKE_KV2_PORT": info["kv2_port"] or "",
           "FAKE_IMDS_URL": info["imds_url"], "FAKE_IMDS_PORT": info["imds_port"],
           "FAKE_CTL_URL": info["ctl_url"], "FAKE_CTL_PORT": info["ctl_port"],
           "FAKE_AAD_URL": kv, "FAKE_AAD_CLIENT_ID": DEFAULT_APP_ID,
           "FAKE_AAD_CLIENT_SECRET": DEFAULT_APP_SECRET,
           "FAKE_AAD_CERT": info["aad_cert"] or "", "FAKE_AAD_KEY": info["aad_key"] or ""}
    if world.wire:
        env.update({"FAKE_WIRE_URL": info["wire_url"], "FAKE_WIRE_PORT": info["wire_port"],
                    "FAKE_HOSTPLUGIN_PORT": info["hostplugin_port"],
                    "FAKE_WIRE_THUMBPRINT": info["wire_tenant_thumbprint"]})
    write_atomic(os.path.join(state, "ports.env"),
                 "".join("%s=%s\n" % (k, env_quote(v)) for k, v in env.items()))
    write_atomic(os.path.join(state, "ready"), "%d\n" % os.getpid())
    if not args.quiet:
        sys.stderr.write("fakes: ready, kv %s, imds %s, ctl %s\n" % (kv, info["imds_url"], info["ctl_url"]))

    while not stop.wait(1.0):
        pass

    try:
        os.unlink(os.path.join(state, "ready"))
    except FileNotFoundError:
        pass
    for srv in servers:
        srv.shutdown()
    for srv in servers:
        srv.close_all()
        srv.server_close()
    write_imported_files(os.path.join(state, "imported-files.txt"))
    if not args.quiet:
        sys.stderr.write("fakes: stopped\n")
    return 0


def write_imported_files(path):
    """Every Python file and shared library this run used, one per line:
    what a minimal guest image needs besides /usr/bin/python3 (complete
    once the fakes served the requests a scenario makes)."""
    files = set()
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        if f and os.path.exists(f):
            files.add(os.path.abspath(f))
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                part = line.split()
                if len(part) >= 6 and ".so" in part[5] and os.path.exists(part[5]):
                    files.add(part[5])
    except OSError:
        pass
    try:
        write_atomic(path, "".join(f + "\n" for f in sorted(files)))
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
