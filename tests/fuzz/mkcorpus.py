#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/NAME/ (run from anywhere).

Existing files are kept (--force rewrites them). Seeds are small, real-looking inputs taken from the unit tests and
REFERENCE.md's wire facts; crash reproducers found later are added by hand
as extra files next to them. The CMS seeds are made with the openssl CLI
for the test-only certificate in tests/fuzz/data/.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SEP = "\n----\n"
V = "https://myvault.vault.azure.net"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
C = {}


def add(name, key, text):
    C.setdefault(name, {})[key] = text.encode() if isinstance(text, str) else text


def resp(status, body="", headers=()):
    h = "".join("%s: %s\n" % kv for kv in headers)
    return "%d\n%s\n%s" % (status, h, body)


JSON_CT = ("Content-Type", "application/json; charset=utf-8")
SID = V + "/secrets/bek1/0123456789abcdef0123456789abcdef"
KID = V + "/keys/kek/fedcba9876543210fedcba9876543210"
BUNDLE = ('{"value":"dGhpcyBpcyBhIHRlc3QgcGFzc3BocmFzZQ==","contentType":"BEK","id":"%s",'
          '"attributes":{"enabled":true,"created":1700000000,"updated":1700000000,'
          '"recoveryLevel":"Recoverable+Purgeable"},'
          '"tags":{"DiskEncryptionKeyFileName":"LinuxPassPhraseFileName","MachineName":"vm1"}}' % SID)
WRAPPED = ('{"value":"c29tZSB3cmFwcGVkIGJ5dGVz","contentType":"Wrapped BEK","id":"%s",'
           '"attributes":{"enabled":true,"nbf":1700000000,"exp":1900000000},'
           '"tags":{"DiskEncryptionKeyEncryptionKeyURL":"%s",'
           '"DiskEncryptionKeyEncryptionAlgorithm":"RSA-OAEP",'
           '"DiskEncryptionKeyFileName":"3A1B2C3D-0000-4000-8000-00000000ABCD.BEK"}}' % (SID, KID))

# ---- keyvault: op line, then the answers to bearer requests
add("keyvault", "secret-ok", "secret " + V + "/secrets/bek1" + SEP + resp(200, BUNDLE, [JSON_CT]))
add("keyvault", "secret-exp-1e300", "secret " + V + "/secrets/bek1" + SEP + resp(200,
    '{"value":"eA==","id":"%s","attributes":{"enabled":true,"exp":1e300,"nbf":-1e300}}' % SID))
add("keyvault", "secret-disabled", "secret " + V + "/secrets/bek1/0123456789abcdef0123456789abcdef" + SEP +
    resp(403, '{"error":{"code":"Forbidden","message":"Operation get is not allowed on a disabled secret.",'
         '"innererror":{"code":"SecretDisabled"}}}', [JSON_CT]))
add("keyvault", "secret-rbac", "secret " + V + "/secrets/bek1" + SEP +
    resp(403, '{"error":{"code":"Forbidden","message":"Caller is not authorized to perform action on resource.",'
         '"innererror":{"code":"ForbiddenByRbac"}}}', [JSON_CT]))
add("keyvault", "secret-notfound", "secret " + V + "/secrets/bek1" + SEP +
    resp(404, '{"error":{"code":"SecretNotFound","message":"A secret with (name/id) bek1 was not found in this key vault."}}'))
add("keyvault", "secret-throttled", "secret " + V + "/secrets/bek1" + SEP +
    resp(429, '{"error":{"code":"Throttled","message":"Request was not processed because too many requests were received."}}',
         [("Retry-After", "1")]) + SEP + resp(503, "", [("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT")]) + SEP +
    "!timeout" + SEP + resp(200, BUNDLE))
add("keyvault", "secret-deleted", "secret bek1" + SEP +
    resp(409, '{"error":{"code":"Conflict","message":"Secret bek1 is currently in a deleted but recoverable state",'
         '"innererror":{"code":"ObjectIsDeletedButRecoverable"}}}'))
add("keyvault", "secret-401-again", "secret " + V + "/secrets/bek1" + SEP +
    resp(401, '{"error":{"code":"Unauthorized","message":"AKV10032: Invalid issuer."}}',
         [("WWW-Authenticate", 'Bearer authorization="https://login.windows.net/%s", resource="https://vault.azure.net"' % TENANT)]))
add("keyvault", "put-ok", "put " + V + "/secrets/bek2" + SEP + resp(200, BUNDLE.replace("bek1", "bek2")))
add("keyvault", "key-ok", "key " + V + "/keys/kek/fedcba9876543210fedcba9876543210" + SEP + resp(200,
    '{"key":{"kid":"%s","kty":"RSA","key_ops":["wrapKey","unwrapKey"],'
    '"n":"u1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0_IzW7yWR7QkrmBL7jTKEn5u-qKhbwKfBstIs-bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW_VDL5AaWTg0nLVkjRo9z-40RQzuVaE8AkAFmxZzow3x-VJYKdjykkJ0iT9wCS0DRTXu269V264Vf_3jvredZiKRkgwlL9xNAwxXFg0x_XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC-9aGVd-Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmw",'
    '"e":"AQAB"},"attributes":{"enabled":true,"exp":1e300,"created":1700000000}}' % KID))
add("keyvault", "wrap-ok", "wrap " + V + "/keys/kek/fedcba9876543210fedcba9876543210 RSA-OAEP-256" + SEP +
    resp(200, '{"kid":"%s","value":"c29tZSB3cmFwcGVkIGJ5dGVz"}' % KID))
add("keyvault", "unwrap-ok", "unwrap " + V + "/keys/kek/fedcba9876543210fedcba9876543210 RSA-OAEP c29tZSB3cmFwcGVkIGJ5dGVz" + SEP +
    resp(200, '{"kid":"%s","value":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}' % KID))
add("keyvault", "unwrap-bad", "unwrap " + V + "/keys/kek/fedcba9876543210fedcba9876543210 RSA1_5 AAAA" + SEP +
    resp(400, '{"error":{"code":"BadParameter","message":"Bad Request"}}'))
add("keyvault", "bek-wrapped", "bek " + V + "/secrets/bek1" + SEP + resp(200, WRAPPED) + SEP +
    resp(200, '{"kid":"%s","value":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}' % KID))
add("keyvault", "bek-plain", "bek " + V + "/secrets/bek1" + SEP + resp(200, BUNDLE))
add("keyvault", "bek-kek-given", "bek " + V + "/secrets/bek1 " + KID + SEP + resp(200, WRAPPED) + SEP +
    resp(200, '{"value":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}'))

# ---- token: identity kind, then the token endpoint's answers
IMDS = ('{"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ2YXVsdCJ9.c2ln",'
        '"client_id":"1f8a5e0b-0c47-4f5e-9d31-6b6f7b1a2c3d","expires_in":"86399","expires_on":"%s",'
        '"ext_expires_in":"86399","not_before":"1700000000","resource":"https://vault.azure.net",'
        '"token_type":"Bearer"}')
add("token", "imds-ok", "imds" + SEP + resp(200, IMDS % "4102444800", [JSON_CT]))
add("token", "imds-expires-in-max", "imds" + SEP + resp(200,
    '{"access_token":"eyJ0eXAi.e30.c2ln","expires_in":"9223372036854775807","token_type":"Bearer"}'))
add("token", "imds-expires-in-min", "imds" + SEP + resp(200,
    '{"access_token":"eyJ0eXAi.e30.c2ln","expires_in":-9223372036854775808,"expires_on":"-5","token_type":"Bearer"}'))
add("token", "imds-expires-on-max", "imds" + SEP + resp(200, IMDS % "9223372036854775807"))
add("token", "imds-no-identity", "imds" + SEP + resp(400,
    '{"error":"invalid_request","error_description":"Identity not found"}'))
add("token", "imds-retry", "imds" + SEP + resp(404, "") + SEP + resp(429, "", [("Retry-After", "2")]) + SEP +
    resp(500, '{"error":"unknown","error_description":"Failed to retrieve token from the Active directory."}') +
    SEP + "!connect" + SEP + resp(200, IMDS % "4102444800"))
add("token", "imds-wrong-type", "imds" + SEP + resp(200, '{"access_token":"x","token_type":"PoP","expires_in":3600}'))
add("token", "aad-ok", "aad" + SEP + resp(200,
    '{"token_type":"Bearer","expires_in":"3599","ext_expires_in":"3599","expires_on":"4102444800",'
    '"not_before":"1700000000","resource":"https://vault.azure.net","access_token":"eyJ0eXAi.e30.c2ln"}'))
add("token", "aad-bad-secret", "aad" + SEP + resp(401,
    '{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.",'
    '"error_codes":[7000215],"timestamp":"2024-01-01 00:00:00Z","trace_id":"x","correlation_id":"y"}'))

# ---- challenge: the WWW-Authenticate value
for k, v in {
    "legacy": 'Bearer authorization="https://login.windows.net/%s", resource="https://vault.azure.net"' % TENANT,
    "uri": 'Bearer authorization_uri="https://login.microsoftonline.com/%s", resource="https://vault.azure.net"' % TENANT,
    "scope": 'Bearer authorization="https://login.microsoftonline.com/%s", scope="https://vault.azure.net/.default"' % TENANT,
    "hsm": 'Bearer authorization="https://login.microsoftonline.com/%s", resource="https://managedhsm.azure.net"' % TENANT,
    "china": 'Bearer authorization="https://login.chinacloudapi.cn/%s", resource="https://vault.azure.cn"' % TENANT,
    "rogue": 'Bearer authorization="https://login.windows.net/%s", resource="https://management.azure.com"' % TENANT,
    "unquoted": 'Bearer authorization=https://login.windows.net/%s,resource=https://vault.azure.net' % TENANT,
    "pop": 'PoP realm="", authorization="https://login.microsoftonline.com/%s", nonce="abc"' % TENANT,
    "empty": 'Bearer',
}.items():
    add("challenge", k, v)

# ---- retry_after
for k, v in {"secs": "120", "zero": "0", "spaces": "  30  ", "date": "Sun, 06 Nov 1994 08:49:37 GMT",
             "future": "Wed, 21 Oct 2037 07:28:00 GMT", "big": "9999999999999999999999", "neg": "-1"}.items():
    add("retry_after", k, v)

# ---- b64
for k, v in {"std": "dGhpcyBpcyBhIHRlc3QgcGFzc3BocmFzZQ==", "url": "u1SU1LfVLPHCozMxH2Mo4lgOEePzNm0t_-A",
             "unpadded": "QUJD", "pad1": "QUI=", "bad": "QU=I", "empty": "",
             "bek": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}.items():
    add("b64", k, v)

# ---- luks_token
add("luks_token", "full", '{"type":"vaultvol","keyslots":["1"],"vv_version":1,'
    '"key":"https://v.vault.azure.net/secrets/data1/0123abcd","kek":"https://v.vault.azure.net/keys/kek/99ff",'
    '"alg":"RSA-OAEP","name":"data1","mount":"/data","fs":"ext4","options":"defaults,noatime"}')
add("luks_token", "retire", '{"type":"vaultvol","keyslots":["2"],"vv_version":1,'
    '"key":"keystore:d/22222222222222222222222222222222","kek":"keystore-kek:k","name":"d",'
    '"retire":{"keyslot":"0","key":"keystore:d/11111111111111111111111111111111","kek":"keystore-kek:k","alg":"RSA-OAEP-256"}}')
add("luks_token", "future", '{"type":"vaultvol","keyslots":["0"],"vv_version":1,"key":"keystore:d","name":"d","future_field":{"x":1}}')
add("luks_token", "hostile", '{"type":"vaultvol","keyslots":["0"],"vv_version":1,'
    '"key":"https://localhost:8443/secrets/x","name":"../../tmp/x","mount":"/etc","fs":"ext4","options":"suid,dev,exec"}')

# ---- config
add("config", "full", open(os.path.join(HERE, "..", "..", "tests", "unit", "test_config.c")).read()
    .split("static const char full[] =\n", 1)[1].split(";", 1)[0]
    .replace('\t"', "").replace('\\n"\n', "\n").replace('\\"', '"').strip("\n"))
add("config", "snapshot", "[vault]\nurl = https://main.vault.azure.net\nallowed = https://other.vault.azure.net\n"
    "aad_tenant = %s\naad_client_id = 1f8a5e0b-0c47-4f5e-9d31-6b6f7b1a2c3d\naad_secret_file = /etc/vaultvol/aad.secret\n"
    "timeout = 2147483647\n\n[snapshot]\ntimeout = 60\nexclude = /tmp /var/tmp\nscripts_config = "
    "/etc/azure/VMSnapshotScriptPluginConfig.json\nhooks_dir = /etc/vaultvol/hooks.d\n\n"
    "[volume lun3]\nmatch = lun:3-part1\nkey = bek:LinuxPassPhraseFileName\nmount = /srv\n" % TENANT)
add("config", "aad_authority", "[vault]\nurl = https://myvault.vault.usgovcloudapi.net\n"
    "aad_authority = https://login.microsoftonline.us:443/\naad_client_id = 1f8a5e0b-0c47-4f5e-9d31-6b6f7b1a2c3d\n"
    "aad_secret_file = /etc/vaultvol/aad.secret\n" + SEP + "[vault]\naad_authority = https://u@h.example/x?y#z\n")
add("config", "dropins", "[vault]\nurl = https://main.vault.azure.net\n" + SEP +
    "# written by vaultvol adopt\n[vault]\nallowed = https://other.vault.azure.net\n" + SEP +
    "[vault]\nallowed = https://third.vault.azure.net:8443, https://other.vault.azure.net/\n"
    "moved = https://old.vault.azure.net https://main.vault.azure.net\n" + SEP +
    "[volume data2]\nmatch = lun:2\nkey = https://other.vault.azure.net/secrets/data2\nmount = /data2\n")
add("config", "moved-twice", "[vault]\nmoved = https://a.vault.azure.net https://b.vault.azure.net\n" + SEP +
    "[vault]\nmoved = https://a.vault.azure.net https://c.vault.azure.net\n")
add("config", "paths", "[volume p]\nmatch = /dev/disk/azure/scsi1/lun0\nkey = file:/etc/keys/p\nheader = /boot/h\n"
    "[volume p]\nmatch = uuid:x\n")

# ---- ade: azure_crypt_mount, crypttab, fstab
add("ade", "crypt_mount", "\nosencrypt /dev/sda2 /boot/luks/osluksheader / ext4 False 0\n"
    "resourceencrypt /dev/disk/azure/scsi1/lun0 None /data0 ext4 False 0\n\n"
    "bylabel /dev/disk/by-uuid/0A1B2C3D-0000-4000-8000-00000000ABCD None /data1 xfs True 1\n"
    "kernelname /dev/sdd1 /var/lib/azure_disk_encryption_config/azureluksheaderkernelname /data2 ext4 False\n"
    "short /dev/sde None /x\nbad/name /dev/disk/azure/scsi1/lun4 None /y ext4 False 0\n")
CRYPTTAB = ("# <target name> <source device> <key file> <options>\nswapcrypt /dev/sdb2 /dev/urandom swap\n"
            "osencrypt /dev/sda1 none luks,discard,header=/boot/luks/osluksheader,keyscript=/usr/sbin/azure_crypt_key.sh\n"
            "data1 /dev/disk/azure/scsi1/lun1 /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_1 luks,nofail\n"
            "data2 UUID=11111111-2222-4333-8444-555555555555 /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_2 luks,nofail,header=/etc/h2\n"
            "mine /dev/disk/by-id/foo /etc/keys/mine luks\n"
            "evil /dev/disk/azure/scsi1/lun9 /mnt/azure_bek_disk/../etc/shadow luks\n")
FSTAB = ("UUID=abcd / ext4 defaults 0 1\n# /dev/mapper/data1 /wrong ext4 defaults 0 0\n"
         "/dev/mapper/data1 /datadrive1 ext4 defaults,nofail,discard,x-systemd.requires=vaultvol-open.service 0 0\n"
         "/dev/mapper/data2 /datadrive2 auto defaults,nofail 0 0\n")
add("ade", "crypttab_fstab", "" + SEP + CRYPTTAB + SEP + FSTAB)
add("ade", "header_twice", "" + SEP +
    "data3 /dev/disk/azure/scsi1/lun3 /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_3 luks,header=/etc/h1,header=/etc/h2\n"
    + SEP + "/dev/mapper/data3 /data3 ext4 defaults,nofail 0 0\n")

# ---- handler_env, handler_settings, handler_schema
add("handler_env", "array", '[{"name": "Vaultvol.Linux", "version": "1.0", "handlerEnvironment": {'
    '"logFolder": "/var/log/azure/x", "configFolder": "/w/config", "statusFolder": "/w/status", '
    '"heartbeatFile": "/w/heartbeat.log", "deploymentid": "ignored"}}]')
add("handler_env", "bare", '{"version": 1.0, "handlerEnvironment": {"configFolder": "/c", "statusFolder": "/s"}}')
add("handler_env", "waagent", '[{"version": 1.0, "handlerEnvironment": {"logFolder": "/var/log/azure/Vaultvol.Linux", '
    '"configFolder": "/var/lib/waagent/Vaultvol.Linux-1.0.0/config", "statusFolder": '
    '"/var/lib/waagent/Vaultvol.Linux-1.0.0/status", "heartbeatFile": "/var/lib/waagent/Vaultvol.Linux-1.0.0/heartbeat.log", '
    '"eventsFolder": "/var/log/azure/Vaultvol.Linux/events", "deploymentid": "d", "rolename": "r", "instance": "i", '
    '"hostResolverAddress": null}}]')
add("handler_env", "seq", '[{"version": 1.0, "handlerEnvironment": {"configFolder": "/c", "statusFolder": "/s"}}]' + SEP + "12")
add("handler_env", "seq-bad", '[{"version": 1.0, "handlerEnvironment": {"configFolder": "/c", "statusFolder": "/s"}}]' + SEP + "999999999999")
add("handler_settings", "good", '{"runtimeSettings": [{"handlerSettings": {'
    '"protectedSettingsCertThumbprint": "ABCD", "protectedSettings": "TUlJ", '
    '"publicSettings": {"operation": "reopen"}, "other": 1}}]}')
add("handler_settings", "nothing", '{"runtimeSettings": [{"handlerSettings": {}}]}')
add("handler_settings", "deep", '{"runtimeSettings": [{"handlerSettings": {"publicSettings": ' + '{"a":' * 20 + '1' + '}' * 20 + '}}]}')
for k, pub, prot in [
    ("reopen", '{"operation": "reopen", "volumes": ["data1", "data_2"], "vaultUrl": "https://v.vault.azure.net"}', None),
    ("provision", '{"operation": "provision", "volumes": [{"name": "d1", "device": "/dev/disk/azure/scsi1/lun0", '
     '"mount": "/data", "fs": "ext4", "options": "noatime", "key": "keystore:d1"}], "kekUrl": "keystore-kek:k", '
     '"kekAlgorithm": "RSA-OAEP-256"}', None),
    ("rotate", '{"operation": "rotate", "rotate": "kek", "volumes": ["d1"], "kekUrl": "https://v.vault.azure.net/keys/k/1"}', None),
    ("snapshot", '{"operation": "snapshot", "timeoutSeconds": 30, "serviceUrl": "http://127.0.0.1:8080", '
     '"consistency": "filesystem"}', None),
    ("aad", '{"operation": "reopen", "aadClientId": "1f8a5e0b-0c47-4f5e-9d31-6b6f7b1a2c3d", "aadTenantId": "%s"}' % TENANT,
     '{"aadClientSecret": "xyz"}'),
]:
    add("handler_schema", k, pub + (SEP + prot if prot else ""))

# ---- scripts_plugin
add("scripts_plugin", "full", '{"pluginName":"ScriptRunner","preScriptLocation":"/etc/azure/pre.sh",'
    '"postScriptLocation":"/etc/azure/post.sh","preScriptParams":["a","","b c"],"postScriptParams":["",""],'
    '"preScriptNoOfRetries":2,"postScriptNoOfRetries":"1","timeoutInSeconds":45,'
    '"continueBackupOnFailure":false,"fsFreezeEnabled":"false"}')
add("scripts_plugin", "sample", '{\n    "pluginName" : "ScriptRunner",\n    "preScriptLocation" : "",\n'
    '    "postScriptLocation" : "",\n    "preScriptParams" : ["", ""],\n    "postScriptParams" : ["", ""],\n'
    '    "preScriptNoOfRetries" : 0,\n    "postScriptNoOfRetries" : 0,\n    "timeoutInSeconds" : 30,\n'
    '    "continueBackupOnFailure" : true,\n    "fsFreezeEnabled" : true\n}\n')

# ---- open_state, freeze_marker
add("open_state", "two", '{\n  "version":1,\n  "volumes":[\n    {\n      "name":"data1",\n      "device":"/dev/sdc",\n'
    '      "type":"luks2",\n      "uuid":"0a1b2c3d-0000-4000-8000-00000000abcd",\n      "lun":0,\n'
    '      "match":"uuid:0a1b2c3d-0000-4000-8000-00000000abcd",\n      "described_by":"/etc/vaultvol/vaultvol.conf:12",\n'
    '      "key_origin":"config",\n      "key_ref":"https://myvault.vault.azure.net/secrets/data1",\n'
    '      "key_source":"keyvault",\n      "key_version":"%s",\n      "state":"mounted",\n      "mount":"/data1",\n'
    '      "mounted_on":"/data1",\n      "device_mapper":"/dev/mapper/data1",\n      "quiesce":false,\n'
    '      "updated":1700000000\n    },\n    {\n      "name":"ade-0",\n      "uuid":"",\n      "state":"failed",\n'
    '      "error":"key-access",\n      "cause":"forbidden",\n      "message":"Key Vault GET: HTTP 403 Forbidden",\n'
    '      "remedy":"grant the VM identity get on secrets",\n      "warning":"",\n      "updated":1700000000\n    }\n  ]\n}\n' % SID)
add("open_state", "odd", '{"volumes":[{"name":"data1","uuid":null,"key_source":5,"warning":{"a":1}},{"name":"data1","uuid":"x"}]}')
add("freeze_marker", "two", '{"version":1,"agent_pid":1234,"agent_start":56789,"watchdog_pid":1235,"watchdog_start":56790,'
    '"deadline_boottime_ms":123456789,"boot_id":"8a4c2f4e-6c1f-4b8e-9f1a-2b3c4d5e6f70","created":1700000000,'
    '"mounts":[{"target":"/data1","dev":"253:0","dm_name":"data1-q"},{"target":"/","dev":"8:1"}]}')
add("freeze_marker", "odd", '{"agent_pid":9223372036854775807,"agent_start":-1,"watchdog_pid":-1,'
    '"deadline_boottime_ms":1e300,"boot_id":123,"mounts":[{"target":"/x","dev":"4294967295:4294967295"}]}')

# ---- backup_service: answers to prepare, take, report
add("backup_service", "ok", resp(201, '{"snapshot_id":"snap-0001","timeout_ms":30000}', [JSON_CT]) + SEP +
    resp(200, '{"status":"taken","snapshot_id":"snap-0001"}') + SEP + resp(204, ""))
add("backup_service", "busy", resp(429, '{"error":"busy"}', [("Retry-After", "1")]) + SEP +
    resp(503, '{"error":{"message":"maintenance"}}') + SEP + resp(200, '{"snapshot_id":"s2"}') + SEP +
    resp(200, '{"status":"failed","error":"copy failed"}') + SEP + resp(500, '{"error":"x"}'))
add("backup_service", "refused", resp(409, '{"error":{"message":"a snapshot is already running"}}'))
add("backup_service", "take-timeout", resp(200, '{"snapshot_id":"s3","timeout_ms":-5}') + SEP + "!connect" + SEP + "!timeout")

# ---- handler_cms: DER EnvelopedData for the test certificate (and one for another)
with tempfile.TemporaryDirectory() as d:
    crt = os.path.join(HERE, "data", "cms.crt")
    for k, plain, extra in [("aad", b'{"aadClientSecret": "xyz"}', ["-aes256"]),
                            ("empty", b"{}", ["-aes128"]),
                            ("oaep", b'{"aadClientSecret": "abc"}', ["-aes256", "-recip", "CRT", "-keyopt", "rsa_padding_mode:oaep"])]:
        p = os.path.join(d, "in")
        open(p, "wb").write(plain)
        args = [crt if a == "CRT" else a for a in extra] + ([] if "CRT" in extra else [crt])
        out = subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-outform", "DER", "-in", p, *args],
                             check=True, capture_output=True).stdout
        add("handler_cms", k, out)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", d + "/o.key",
                    "-out", d + "/o.crt", "-subj", "/CN=other", "-days", "1"], check=True, capture_output=True)
    out = subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256",
                          "-in", d + "/in", d + "/o.crt"], check=True, capture_output=True).stdout
    add("handler_cms", "other-cert", out)

# ---- crypttab: systemd's crypttab(5) lines, ADE's lines, junk
add("crypttab", "keyless", "# <target> <source> <key> <options>\n"
    "ctvol UUID=3a1b2c3d-0000-4000-8000-00000000abcd none luks,_netdev,nofail,token-timeout=30\n")
add("crypttab", "ade", "resourceencrypt /dev/disk/azure/resource-part1 /mnt/azure_bek_disk/LinuxPassPhraseFileName "
    "luks,nofail\n3A1B2C3D-0000-4000-8000-00000000ABCD /dev/disk/azure/scsi1/lun0 "
    "/mnt/azure_bek_disk/LinuxPassPhraseFileName_1_0 luks,nofail,discard,header=/boot/luks/x\n")
add("crypttab", "sources", "a PARTUUID=0f0e0d0c-01 -\nb LABEL=data\nc PARTLABEL=vv none noauto\n"
    "d /dev/sdc\t\tnone\tluks\ne\n  \t\n# comment\nf /dev/disk/by-label/data none luks,noauto\n")

for name, seeds in C.items():
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for k, v in seeds.items():
        # CMS output is random: keep what is committed unless asked (--force).
        f = os.path.join(d, k)
        if "--force" in sys.argv or not os.path.exists(f):
            open(f, "wb").write(v)
print("%d corpora, %d seeds" % (len(C), sum(len(s) for s in C.values())))
