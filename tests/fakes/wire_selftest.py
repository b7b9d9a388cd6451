#!/usr/bin/python3
"""wire_selftest.py: the fake wire server judged by the real WALinuxAgent.

    PYTHONPATH=<waagent's dist-packages> wire_selftest.py STATE_DIR LIB_DIR BUNDLE
    PYTHONPATH=<waagent's dist-packages> wire_selftest.py --loop STATE_DIR LIB_DIR

The first form checks the protocol pieces one by one; --loop runs the agent's
extension handling loop (exthandlers.ExtHandlersHandler: download, install,
enable with the sequence number, status collection and upload) over a
stand-in handler made here (a few lines of Python that decrypt the protected
settings and write a status file), never the real bundle: that one would
provision disks on this host.

The fakes (fakes.py --wire-addr ADDR --wire-port 80 --hostplugin-port 32526)
run with state in STATE_DIR.  This drives them with the agent's own protocol
client (azurelinuxagent.common.protocol.wire.WireProtocol), its parsers, its
certificate handling (cryptutil, through the openssl CLI) and its extension
download (exthandlers.ExtHandlerInstance), with the agent's lib dir in
LIB_DIR.  Nothing of the agent is patched except its configuration (Lib.Dir,
the openssl path) and the endpoint it is given.

Prints "ok   name" / "FAIL name: why" lines and "N passed, M failed".
"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fakectl  # noqa: E402

passed = failed = 0


def ok(name):
    global passed
    passed += 1
    print("ok   " + name, flush=True)


def bad(name, why):
    global failed
    failed += 1
    print("FAIL %s: %s" % (name, why), flush=True)


def check(name, cond, why=""):
    if cond:
        ok(name)
    else:
        bad(name, why or "false")
    return cond


def eq(name, got, want):
    return check(name, got == want, "got %r, want %r" % (got, want))


def setup(state_dir, lib_dir):
    """-> (ports.json, control call, counter getter); the agent configured
    for lib_dir (its conf file and log next to it)."""
    with open(os.path.join(state_dir, "ports.json")) as f:
        info = json.load(f)
    ctl = info["ctl_url"]

    def fc(op, **params):
        r = fakectl.call(ctl, op, params)
        if not r.get("ok"):
            raise RuntimeError("fakectl %s: %s" % (op, r.get("error")))
        return r

    def counter(name):
        return fc("counter", name=name)["value"]

    os.makedirs(lib_dir, exist_ok=True)
    top = os.path.dirname(os.path.abspath(lib_dir))
    conf_file = os.path.join(top, os.path.basename(lib_dir) + ".conf")
    with open(conf_file, "w") as f:
        f.write("Lib.Dir=%s\nOS.OpensslPath=openssl\nExtensions.Enabled=y\n"
                "Extension.LogDir=%s\nLogs.Verbose=y\n" % (lib_dir, os.path.join(top, "extlog")))
    import azurelinuxagent.common.conf as conf
    import azurelinuxagent.common.logger as logger
    conf.load_conf_from_file(conf_file)
    logger.reset_periodic()
    logger.add_logger_appender(logger.AppenderType.FILE, logger.LogLevel.VERBOSE,
                               path=os.path.join(top, "waagent.log"))
    return info, fc, counter


def main():
    state_dir, lib_dir, bundle = sys.argv[1:4]
    info, fc, counter = setup(state_dir, lib_dir)

    # The real agent's code, from the Debian package on PYTHONPATH.
    import azurelinuxagent.common.conf as conf
    from azurelinuxagent.common.version import AGENT_VERSION
    from azurelinuxagent.common.protocol.wire import WireProtocol
    from azurelinuxagent.common.protocol.restapi import (ExtHandlerStatus, ExtensionStatus,
                                                         ExtensionSubStatus, VMStatus)
    from azurelinuxagent.common.utils.cryptutil import CryptUtil
    from azurelinuxagent.ga.exthandlers import ExtHandlerInstance

    print("# waagent %s from %s" % (AGENT_VERSION, os.path.dirname(conf.__file__)), flush=True)
    eq("agent is the Debian 12 package's 2.7.3", str(AGENT_VERSION), "2.7.3.0")
    eq("agent's lib dir is the temp dir", conf.get_lib_dir(), lib_dir)

    tp = info["wire_tenant_thumbprint"]
    plugin, version = info["wire_plugin"], info["wire_version"]
    secret = "wire-selftest-secret-" + os.urandom(6).hex()
    public0 = {"operation": "provision", "vaultUrl": "https://myvault.vault.azure.net",
               "aadClientId": "00000000-app"}
    gs = fc("wire_goal_state", public=public0, protected={"aadClientSecret": secret})
    eq("publish: incarnation 2, sequence 0", (gs["incarnation"], gs["seq"]), (2, 0))

    # ---- protocol detection: versions, transport certificate, full goal state
    protocol = WireProtocol(info["wire_addr"])
    try:
        protocol.detect()
        ok("detect: versions, transport certificate and the full goal state")
    except Exception as e:
        bad("detect", "%s\n%s" % (e, traceback.format_exc()))
        return
    eq("goal state: incarnation", protocol.get_incarnation(), "2")
    vminfo = protocol.get_vminfo()
    eq("hosting environment: vm name", vminfo.vmName, "vaultvol-vm")
    check("hosting environment: role and deployment", vminfo.roleName and vminfo.tenantName,
          "%r %r" % (vminfo.roleName, vminfo.tenantName))
    check("transport certificate made by the agent",
          os.path.exists(os.path.join(lib_dir, "TransportCert.pem")))
    eq("wire: versions fetched once", counter("wire.versions"), 1)
    check("wire: certificates requested with the transport certificate",
          counter("wire.certificates.ok") >= 1, "wire.certificates.ok = 0")

    # ---- the tenant certificate, decrypted and written by the agent
    crt, prv = os.path.join(lib_dir, tp + ".crt"), os.path.join(lib_dir, tp + ".prv")
    check("certificates: <THUMBPRINT>.crt written", os.path.exists(crt), crt)
    check("certificates: <THUMBPRINT>.prv written", os.path.exists(prv), prv)
    if os.path.exists(crt) and os.path.exists(prv):
        cu = CryptUtil("openssl")
        eq("certificates: agent's thumbprint is the fake's", cu.get_thumbprint_from_crt(crt), tp)
        eq("certificates: private key matches the certificate",
           cu.get_pubkey_from_prv(prv), cu.get_pubkey_from_crt(crt))
    eq("certificates: cert list", [c.thumbprint for c in protocol.get_certs().certificates], [tp])

    # ---- extensions config
    egs = protocol.get_extensions_goal_state()
    eq("extensions config: one plugin", [e.name for e in egs.extensions], [plugin])
    ext = egs.extensions[0]
    eq("plugin: version", ext.version, version)
    eq("plugin: state", ext.state, "enabled")
    check("plugin: manifest locations", len(ext.manifest_uris) >= 1 and
          all(u.endswith("_manifest.xml") for u in ext.manifest_uris), ext.manifest_uris)
    eq("plugin: no invalid setting reason", ext.invalid_setting_reason, None)
    s = ext.settings[0]
    eq("settings: sequence number 0", s.sequenceNumber, 0)
    eq("settings: public settings", s.publicSettings, public0)
    eq("settings: certificate thumbprint", s.certificateThumbprint, tp)
    eq("status upload blob: type", egs.status_upload_blob_type, "BlockBlob")
    check("status upload blob: a store URL", "/store/status/" in (egs.status_upload_blob or ""),
          egs.status_upload_blob)

    def decrypt(b64):
        p = subprocess.run(["openssl", "cms", "-decrypt", "-inform", "DER", "-inkey", prv,
                            "-recip", crt], input=base64.b64decode(b64),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return p.returncode, p.stdout

    rc, out = decrypt(s.protectedSettings)
    eq("protected settings: decrypted with the agent's .prv", rc, 0)
    eq("protected settings: the JSON published", json.loads(out or b"null"),
       {"aadClientSecret": secret})

    # ---- manifest and bundle through the agent's own download path
    inst = ExtHandlerInstance(ext, protocol)
    try:
        inst.decide_version(target_state="enabled")
        eq("manifest: agent picks version", inst.pkg.version if inst.pkg else None, version)
        inst.download()
        ok("bundle: downloaded and unzipped by ExtHandlerInstance.download()")
    except Exception as e:
        bad("bundle download", "%s\n%s" % (e, traceback.format_exc()))
    with open(bundle, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    zipf = os.path.join(lib_dir, "%s__%s.zip" % (plugin, version))
    if check("bundle: zip saved in the lib dir", os.path.exists(zipf), zipf):
        with open(zipf, "rb") as f:
            eq("bundle: same bytes as the zip served", hashlib.sha256(f.read()).hexdigest(), want)
    check("bundle: HandlerManifest.json unzipped",
          os.path.exists(os.path.join(lib_dir, "%s-%s" % (plugin, version), "HandlerManifest.json")))
    eq("store: manifest fetched directly", counter("wire.store_manifest.ok"), 1)
    eq("store: bundle fetched directly", counter("wire.store_bundle.ok"), 1)

    # ---- status upload (the agent prefers the host plugin)
    def vm_status(seq, status, op, subs):
        vs = VMStatus(status="Ready", message="Guest Agent is running")
        hs = ExtHandlerStatus(name=plugin, version=version, status="Ready", message="Plugin enabled")
        es = ExtensionStatus(name=plugin, operation=op, status=status, seq_no=seq, code=0,
                             message="%s done" % op)
        for n in subs:
            es.substatusList.append(ExtensionSubStatus(name=n, status=status, code=0, message=n + " open"))
        hs.extension_status = es
        vs.vmAgent.extensionHandlers.append(hs)
        return vs

    # report_vm_status() = set the status blob + upload it, as the agent's
    # extension handler loop does after every goal state
    try:
        protocol.report_vm_status(vm_status(0, "success", "provision", ["data1", "data2"]))
        ok("status: uploaded")
    except Exception as e:
        bad("status upload", e)
    blobs = fc("wire_status_blobs")["blobs"]
    eq("status: one blob kept", len(blobs), 1)
    if blobs:
        b = blobs[-1]
        eq("status: through the host plugin /status", b["channel"], "hostplugin")
        hs = (b["json"] or {}).get("aggregateStatus", {}).get("handlerAggregateStatus", [{}])[0]
        eq("status: handler name", hs.get("handlerName"), plugin)
        st = hs.get("runtimeSettingsStatus", {})
        eq("status: sequence number", st.get("sequenceNumber"), 0)
        eq("status: success", st.get("settingsStatus", {}).get("status", {}).get("status"), "success")
        eq("status: one substatus per volume",
           [x.get("name") for x in st.get("settingsStatus", {}).get("status", {}).get("substatus", [])],
           ["data1", "data2"])
    eq("hostplugin: versions asked", counter("hostplugin.versions.ok") >= 1, True)
    check("hostplugin: vmSettings asked and refused", counter("hostplugin.vm_settings") >= 1 and
          counter("hostplugin.vm_settings.ok") == 0)

    # host plugin refuses once: the agent falls back to the direct PUT
    fc("fault", server="hostplugin", path="/status", status=400, count=1)
    try:
        protocol.report_vm_status(vm_status(0, "success", "provision", ["data1", "data2"]))
    except Exception as e:
        bad("status upload (fallback)", e)
    blobs = fc("wire_status_blobs")["blobs"]
    eq("status: fallback to a direct BlockBlob PUT", [b["channel"] for b in blobs],
       ["hostplugin", "direct"])
    eq("status: both blobs carry the same handler status",
       len(blobs) == 2 and blobs[0]["json"]["aggregateStatus"]["handlerAggregateStatus"]
       == blobs[1]["json"]["aggregateStatus"]["handlerAggregateStatus"], True)
    eq("status: the host plugin's refusal counted", counter("hostplugin.faults"), 1)

    # ---- health report
    protocol.client.report_health("Ready", None, None)
    rep = fc("wire_health")["reports"]
    eq("health: report received", [(r["state"], r["incarnation"]) for r in rep], [("Ready", "2")])

    # ---- a new goal state: sequence 1, reopen
    public1 = {"operation": "reopen", "vaultUrl": "https://myvault.vault.azure.net"}
    gs = fc("wire_goal_state", public=public1, protected={"aadClientSecret": secret})
    eq("publish: incarnation 3, sequence 1", (gs["incarnation"], gs["seq"]), (3, 1))
    protocol.update_goal_state()
    eq("new goal state: incarnation", protocol.get_incarnation(), "3")
    s = protocol.get_extensions_goal_state().extensions[0].settings[0]
    eq("new goal state: sequence 1", s.sequenceNumber, 1)
    eq("new goal state: operation reopen", s.publicSettings.get("operation"), "reopen")
    eq("new goal state: protected settings decrypt", json.loads(decrypt(s.protectedSettings)[1] or b"null"),
       {"aadClientSecret": secret})
    # 3DES, as older platform versions encrypt: the same decryption works
    fc("wire_goal_state", public=public1, protected={"aadClientSecret": secret}, cipher="des3", seq=1)
    protocol.update_goal_state()
    s = protocol.get_extensions_goal_state().extensions[0].settings[0]
    eq("cipher des3: protected settings decrypt", json.loads(decrypt(s.protectedSettings)[1] or b"null"),
       {"aadClientSecret": secret})
    before = counter("wire.goalstate")
    protocol.update_goal_state()
    eq("same incarnation: no refetch of the extensions config",
       (counter("wire.goalstate") - before, counter("wire.extensions_config")), (1, 3))

    # ---- the host plugin route for artifacts (direct store access off)
    fc("wire_config", store_direct=False)
    dest = os.path.join(lib_dir, "via-hostplugin.zip")
    okd = protocol.download_ext_handler_pkg(
        "http://%s:%d/store/%s__%s.zip" % (info["wire_addr"], info["wire_port"], plugin, version), dest)
    check("hostplugin: bundle through /extensionArtifact", okd and os.path.exists(dest))
    if os.path.exists(dest):
        with open(dest, "rb") as f:
            eq("hostplugin: same bytes", hashlib.sha256(f.read()).hexdigest(), want)
    eq("hostplugin: extensionArtifact served the bundle",
       counter("hostplugin.extension_artifact.store_bundle"), 1)
    eq("store: direct attempt refused (404)", counter("wire.store_bundle") - counter("wire.store_bundle.ok"), 1)
    fc("wire_config", store_direct=True)

    # ---- hostile settings, each parsed by the agent
    def latest_settings(**params):
        fc("wire_goal_state", **params)
        protocol.update_goal_state()
        e = protocol.get_extensions_goal_state().extensions[0]
        return e, e.settings[0]

    e, s = latest_settings(public=public1, protected={"aadClientSecret": secret}, hostile="unknown_key")
    eq("hostile unknown_key: agent passes the key on",
       s.publicSettings.get("vaultvolNoSuchSetting"), True)
    e, s = latest_settings(public=public1, protected={"aadClientSecret": secret}, hostile="wrong_thumbprint")
    check("hostile wrong_thumbprint: names a certificate the VM lacks",
          s.certificateThumbprint not in (tp, None) and
          not os.path.exists(os.path.join(lib_dir, s.certificateThumbprint + ".prv")), s.certificateThumbprint)
    eq("hostile wrong_thumbprint: the VM's key cannot decrypt", decrypt(s.protectedSettings)[0] != 0, True)
    e, s = latest_settings(public=public1, protected={"aadClientSecret": secret}, hostile="truncated")
    eq("hostile truncated: thumbprint still the VM's", s.certificateThumbprint, tp)
    eq("hostile truncated: decryption fails", decrypt(s.protectedSettings)[0] != 0, True)
    eq("hostile: sequence numbers go on", s.sequenceNumber, 4)  # 1 was given twice (des3)

    # ---- disable, uninstall, removal
    e, s = latest_settings(public=public1, state="disabled", seq=4)
    eq("disable: plugin state", e.state, "disabled")
    e, s = latest_settings(public=public1, state="uninstall", seq=4)
    eq("uninstall: plugin state", e.state, "uninstall")
    fc("wire_goal_state", remove=True)
    protocol.update_goal_state()
    eq("removed: no plugin in the goal state", len(protocol.get_extensions_goal_state().extensions), 0)

    st = fc("wire_state")["wire"]
    eq("wire_state: incarnation", st["incarnation"], int(protocol.get_incarnation()))
    c = fc("counters")["counters"]
    check("counters: no unknown requests", c.get("wire.unknown", 0) == 0 and
          c.get("hostplugin.unknown", 0) == 0, {k: v for k, v in c.items() if "unknown" in k})
    print("# counters: " + json.dumps({k: v for k, v in c.items()
                                        if k.startswith(("wire.", "hostplugin.")) and "status." not in k}),
          flush=True)


STANDIN = r'''#!/usr/bin/python3
# Stand-in extension handler for wire_selftest.py --loop: logs each call,
# decrypts the protected settings as a real handler must (the certificate
# waagent wrote, named by protectedSettingsCertThumbprint) and writes the
# status file of the sequence number waagent gives.
import base64, json, os, subprocess, sys, time
here = os.path.dirname(os.path.abspath(__file__))
op = sys.argv[1]
seq = os.environ.get("ConfigSequenceNumber", "")
with open(os.path.join(here, "calls.log"), "a") as f:
    f.write("%s %s\n" % (op, seq))
if op != "enable":
    sys.exit(0)
env = json.load(open(os.path.join(here, "HandlerEnvironment.json")))[0]["handlerEnvironment"]
hs = json.load(open(os.path.join(env["configFolder"], seq + ".settings")))["runtimeSettings"][0]["handlerSettings"]
public = hs.get("publicSettings") or {}
status, msg, subs = "success", "%s done" % public.get("operation"), []
if hs.get("protectedSettings"):
    lib = LIB_DIR
    tp = hs.get("protectedSettingsCertThumbprint") or "none"
    p = subprocess.run(["openssl", "cms", "-decrypt", "-inform", "DER",
                        "-inkey", os.path.join(lib, tp + ".prv"), "-recip", os.path.join(lib, tp + ".crt")],
                       input=base64.b64decode(hs["protectedSettings"]), stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    if p.returncode != 0:
        status, msg = "error", "protected settings cannot be decrypted with certificate " + tp
    else:
        subs.append({"name": "protected", "status": "success", "code": 0,
                     "formattedMessage": {"lang": "en-US", "message": "keys: " + ",".join(sorted(json.loads(p.stdout)))}})
unknown = sorted(set(public) - {"operation", "volumes", "vaultUrl", "aadClientId"})
if unknown and status == "success":
    status, msg = "error", "unknown setting " + ",".join(unknown)
for v in public.get("volumes", []):
    subs.append({"name": v, "status": status, "code": 0, "formattedMessage": {"lang": "en-US", "message": v}})
doc = [{"version": "1.0", "timestampUTC": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "status": {"name": "stand-in", "operation": public.get("operation", "enable"), "status": status,
                   "code": 0 if status == "success" else 1,
                   "formattedMessage": {"lang": "en-US", "message": msg}, "substatus": subs}}]
tmp = os.path.join(env["statusFolder"], seq + ".status.tmp")
with open(tmp, "w") as f:
    json.dump(doc, f)
os.rename(tmp, os.path.join(env["statusFolder"], seq + ".status"))
'''


def standin_zip(path, lib_dir):
    import zipfile
    manifest = [{"version": 1.0, "handlerManifest": {
        "installCommand": "standin.py install", "uninstallCommand": "standin.py uninstall",
        "updateCommand": "standin.py update", "enableCommand": "standin.py enable",
        "disableCommand": "standin.py disable", "reportHeartbeat": False,
        "updateMode": "UpdateWithInstall", "rebootAfterInstall": False,
        "continueOnUpdateFailure": False}}]
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("HandlerManifest.json", json.dumps(manifest))
        zi = zipfile.ZipInfo("standin.py")
        zi.external_attr = 0o755 << 16
        z.writestr(zi, STANDIN.replace("LIB_DIR", repr(lib_dir)))


def loop():
    state_dir, lib_dir = sys.argv[2:4]
    info, fc, counter = setup(state_dir, lib_dir)
    from azurelinuxagent.common.protocol.wire import WireProtocol
    from azurelinuxagent.ga.exthandlers import get_exthandlers_handler

    plugin, version = "Example.Vaultvol.Standin", "1.0.0"
    zpath = os.path.join(os.path.dirname(os.path.abspath(lib_dir)), "standin.zip")
    standin_zip(zpath, lib_dir)
    fc("wire_config", bundle=zpath, plugin=plugin, version=version, store_direct=True)
    hdir = os.path.join(lib_dir, "%s-%s" % (plugin, version))
    secret = "wire-loop-secret-" + os.urandom(6).hex()
    pub = {"operation": "provision", "vaultUrl": "https://myvault.vault.azure.net",
           "volumes": ["data1", "data2"]}

    protocol = WireProtocol(info["wire_addr"])
    protocol.detect()
    handler = get_exthandlers_handler(protocol)

    last = [None]

    def step(name, **params):
        """Publish, then one turn of the agent's main loop as
        update.py's _process_goal_state() makes it: update the goal state,
        process the extensions when the incarnation changed, report status
        always.  -> the blob the fake received and the handler's aggregate
        status in it."""
        before = fc("wire_status_blobs")["count"]
        if params:
            fc("wire_goal_state", **params)
        protocol.update_goal_state()
        inc = protocol.get_incarnation()
        if inc != last[0]:
            handler.run()
        handler.report_ext_handlers_status(incarnation_changed=inc != last[0])
        last[0] = inc
        r = fc("wire_status_blobs", since=before + 1)
        check(name + ": status blob received", r["count"] > before, "no new blob")
        blob = r["blobs"][-1]["json"] if r["blobs"] else {}
        aggs = (blob or {}).get("aggregateStatus", {}).get("handlerAggregateStatus", [])
        return blob, (aggs[0] if aggs else {})

    def calls():
        try:
            with open(os.path.join(hdir, "calls.log")) as f:
                return f.read().split("\n")[:-1]
        except OSError:
            return []

    def settings_status(agg):
        return agg.get("runtimeSettingsStatus", {}).get("settingsStatus", {}).get("status", {})

    blob, agg = step("seq 0", public=pub, protected={"aadClientSecret": secret})
    eq("seq 0: handler installed, enabled once with sequence 0", calls(), ["install 0", "enable 0"])
    check("seq 0: HandlerEnvironment.json written by the agent",
          os.path.exists(os.path.join(hdir, "HandlerEnvironment.json")))
    eq("seq 0: 0.settings as delivered (thumbprint)",
       json.load(open(os.path.join(hdir, "config", "0.settings")))["runtimeSettings"][0]
       ["handlerSettings"].get("protectedSettingsCertThumbprint"), info["wire_tenant_thumbprint"])
    eq("seq 0: blob names the handler and version", (agg.get("handlerName"), agg.get("handlerVersion")),
       (plugin, version))
    eq("seq 0: blob sequence number", agg.get("runtimeSettingsStatus", {}).get("sequenceNumber"), 0)
    st = settings_status(agg)
    eq("seq 0: blob status success", st.get("status"), "success")
    eq("seq 0: substatus: protected settings decrypted, one per volume",
       [x.get("name") for x in st.get("substatus", [])], ["protected", "data1", "data2"])
    check("seq 0: the secret is not in the blob", secret not in json.dumps(blob))
    h = fc("wire_handler_status", seq=0, wait=5)
    eq("wire_handler_status: seq 0 flattened",
       (h["seq"], h["status"], h["operation"], h["substatus_names"]),
       (0, "success", "provision", ["protected", "data1", "data2"]))
    t = time.time()
    r = fakectl.call(info["ctl_url"], "wire_handler_status", {"seq": 7, "wait": 1})
    check("wire_handler_status: waits, then refuses a sequence never reported",
          not r.get("ok") and 0.9 <= time.time() - t < 5, r)

    blob, agg = step("unchanged")
    eq("unchanged goal state: status reported again, enable not rerun", calls(), ["install 0", "enable 0"])
    eq("unchanged goal state: still success", settings_status(agg).get("status"), "success")

    pub1 = dict(pub, operation="reopen", volumes=["data2", "data1"])
    blob, agg = step("seq 1", public=pub1, protected={"aadClientSecret": secret})
    eq("seq 1: enabled once with sequence 1, sequence 0 not rerun", calls(),
       ["install 0", "enable 0", "enable 1"])
    eq("seq 1: blob sequence number", agg.get("runtimeSettingsStatus", {}).get("sequenceNumber"), 1)
    eq("seq 1: blob status success, operation reopen",
       (settings_status(agg).get("status"), settings_status(agg).get("operation")), ("success", "reopen"))

    for n, hostile, want in ((2, "truncated", "cannot be decrypted"),
                             (3, "wrong_thumbprint", "cannot be decrypted"),
                             (4, "unknown_key", "unknown setting vaultvolNoSuchSetting")):
        blob, agg = step(hostile, public=pub1, protected={"aadClientSecret": secret}, hostile=hostile)
        st = settings_status(agg)
        eq("%s: sequence %d, status error" % (hostile, n),
           (agg.get("runtimeSettingsStatus", {}).get("sequenceNumber"), st.get("status")), (n, "error"))
        msg = st.get("formattedMessage", {}).get("message", "")
        check("%s: message names the problem" % hostile, want in msg, msg)
        h = fc("wire_handler_status", seq=n, status="success,error")
        eq("%s: wire_handler_status agrees" % hostile, (h["status"], h["message"]), ("error", msg))

    blob, agg = step("disable", public=pub1, state="disabled", seq=4)
    eq("disable: the handler's disable ran", calls()[-1:], ["disable 4"])
    eq("disable: handler status in the blob", agg.get("status"), "NotReady")
    blob, agg = step("uninstall", public=pub1, state="uninstall", seq=4)
    check("uninstall: the handler's uninstall ran", "uninstall " in calls() or not os.path.exists(hdir),
          calls())
    check("uninstall: handler directory removed by the agent", not os.path.exists(hdir), hdir)
    eq("uninstall: no handler left in the blob", agg, {})


if __name__ == "__main__":
    try:
        if sys.argv[1:2] == ["--loop"]:
            loop()
        else:
            main()
    except Exception as e:  # a broken step is a failure, not a crash without a summary
        bad("self-test", "%s\n%s" % (e, traceback.format_exc()))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
