# vm-kernels: 6.1
# The post-restore case through the VM extension handler (issue 8). Boot 1
# makes two encrypted volumes whose keys are in the local keystore on an
# "OS disk": tok (LUKS2, described by its vaultvol token) and cfg (LUKS1,
# described by /etc/vaultvol/vaultvol.conf), and writes data. Boot 2 is a
# fresh guest with the images attached in another order, like a restored VM:
# waagent's tree (HandlerEnvironment.json, a VM certificate, settings whose
# protectedSettings are CMS-encrypted to it) asks for "reopen";
# `vaultvol handler enable` opens and mounts both, <N>.status says so per
# volume, the data reads back, a rerun of the same sequence number changes
# nothing, a partial request reports each volume, and hostile settings leave
# the mounted volumes alone. Then a blank disk is provisioned, re-requested
# (already provisioned), rotated and reopened with its new key, and a
# filesystem-consistent snapshot is taken by a fake backup service, all
# through the handler.
vm_disk os 128M
vm_disk tok 24M
vm_disk cfg 16M
vm_disk new 24M

vm_boot --disk os --disk tok --disk cfg <<'GUEST'
set -u
mkfs.ext4 -q -L vvos /dev/vda
mkdir -p /os && mount /dev/vda /os
mkdir -p /os/etc/vaultvol /os/var/lib/vaultvol
chmod 700 /os/etc/vaultvol
for d in etc/vaultvol var/lib/vaultvol; do
	mkdir -p /$d && mount --bind /os/$d /$d
done
umask 077
fast="--pbkdf pbkdf2 --pbkdf-force-iterations 1000"
for v in tok cfg; do head -c 32 /dev/urandom | base64 | tr -d '\n' >/tmp/$v.key; done
step tok-format cryptsetup luksFormat -q --type luks2 $fast --key-file /tmp/tok.key /dev/vdb
step tok-keystore vaultvol key put keystore:tokvol --from-file /tmp/tok.key
cat >/tmp/tok.json <<'J'
{"type":"vaultvol","keyslots":["0"],"vv_version":1,"key":"keystore:tokvol","name":"tokvol","mount":"/data/tok","fs":"ext4"}
J
step tok-token cryptsetup token import --json-file /tmp/tok.json /dev/vdb
step cfg-format cryptsetup luksFormat -q --type luks1 $fast --key-file /tmp/cfg.key /dev/vdc
step cfg-keystore vaultvol key put keystore:cfgvol --from-file /tmp/cfg.key
cat >/etc/vaultvol/vaultvol.conf <<C
[vault]
keystore = /etc/vaultvol/keys

[volume cfgvol]
match = uuid:$(cryptsetup luksUUID /dev/vdc)
key = keystore:cfgvol
mount = /data/cfg
fs = ext4
C
chmod 600 /etc/vaultvol/vaultvol.conf
for v in tok:vdb cfg:vdc; do
	n=${v%%:*} dev=/dev/${v#*:}
	cryptsetup open --key-file /tmp/$n.key $dev p$n
	mkfs.ext4 -q /dev/mapper/p$n
	mkdir -p /mnt/p$n && mount /dev/mapper/p$n /mnt/p$n
	head -c 200000 /dev/urandom >/mnt/p$n/data.bin
	(cd /mnt/p$n && sha256sum data.bin) >/os/expected.$n
	umount /mnt/p$n && cryptsetup close p$n
done
step data-written sh -c 'test -s /os/expected.tok && test -s /os/expected.cfg'
# Kept for the leak check only: the key texts must never reach a status or log.
cat /tmp/tok.key /tmp/cfg.key >/os/keys.txt
rm -f /tmp/*.key
sync
umount /etc/vaultvol /var/lib/vaultvol
umount /os
GUEST

# libcryptsetup's argon2id threads (the recovery keyslot provisioning adds)
# end with pthread_exit, which needs libgcc_s.so.1; the guest image lacks it
# so far, so it is passed in (gzip+base64 in the guest environment, under the
# 128 KiB limit of one environment string) when missing.
VV_LIBGCC_B64=$(gzip -9c "$(gcc -print-file-name=libgcc_s.so.1)" | base64 -w0)
VM_GUEST_ENV="${VM_GUEST_ENV:-} VV_LIBGCC_B64"

# The restored VM: same images, another order (tok=vda, os=vdb, cfg=vdc),
# and a blank disk (vdd). Memory for the recovery keyslot's argon2id; the OS
# disk has room for the LUKS2 header backups (16 MiB each) taken on the way.
vm_boot --disk tok --disk os --disk cfg --disk new --mem 1536 <<'GUEST'
set -u
if ! ls /lib/x86_64-linux-gnu/libgcc_s.so.1 /usr/lib/x86_64-linux-gnu/libgcc_s.so.1 >/dev/null 2>&1; then
	echo "$VV_LIBGCC_B64" | base64 -d | gunzip >/lib/x86_64-linux-gnu/libgcc_s.so.1
fi
unset VV_LIBGCC_B64
mkdir -p /os && mount "$(blkid -L vvos)" /os
for d in etc/vaultvol var/lib/vaultvol; do
	mkdir -p /$d && mount --bind /os/$d /$d
done
umask 077
# waagent's side: the VM certificate, the extension directory, settings N=0.
WA=/var/lib/waagent
H=$WA/Vaultvol.Linux-0.1.0
mkdir -p $H/config /var/log/azure/vaultvol
# The guest has no openssl.cnf: give `req` the little it needs.
printf '[req]\ndistinguished_name = dn\n[dn]\n' >/tmp/req.cnf
step vm-certificate openssl req -config /tmp/req.cnf -x509 -newkey rsa:2048 -nodes \
	-keyout /tmp/vm.key -out /tmp/vm.crt -subj /CN=restored-vm -days 2
TP=$(openssl x509 -in /tmp/vm.crt -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')
step thumbprint test ${#TP} -eq 40
cp /tmp/vm.crt $WA/$TP.crt
cp /tmp/vm.key $WA/$TP.prv
SECRET=guest-aad-secret-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat >$H/HandlerEnvironment.json <<E
[{"name": "Vaultvol.Linux", "version": "1.0", "handlerEnvironment": {
  "logFolder": "/var/log/azure/vaultvol", "configFolder": "$H/config",
  "statusFolder": "$H/status", "heartbeatFile": "$H/heartbeat.log"}}]
E
settings() {	# N PUBLIC_JSON PROTECTED_JSON
	b64=$(printf '%s' "$3" | openssl cms -encrypt -binary -outform DER -aes256 /tmp/vm.crt | base64 | tr -d '\n')
	printf '{"runtimeSettings": [{"handlerSettings": {"protectedSettingsCertThumbprint": "%s", "protectedSettings": "%s", "publicSettings": %s}}]}' \
		"$TP" "$b64" "$2" >$H/config/$1.settings
}
# Checks on <N>.status: EXPR sees s (the document) and st (s[0]["status"]).
cat >/tmp/field.py <<'P'
import json, sys
s = json.load(open(sys.argv[1])); st = s[0]["status"]
print(eval(sys.argv[2]))
P
field() { python3 /tmp/field.py $H/status/$1.status "$2"; }
is() {	# STEP WANT N EXPR
	_v=$(field "$3" "$4")
	step "$1" test "$_v" = "$2"
}
has() {	# STEP N EXPR PATTERN
	_v=$(field "$2" "$3")
	step "$1" sh -c 'echo "$1" | grep -q -- "$2"' _ "$_v" "$4"
}
enable() {
	vaultvol handler enable --handler-dir $H --waagent-dir $WA
}

step install vaultvol handler install --handler-dir $H
expect_fail closed-before sh -c 'test -b /dev/mapper/tokvol || test -b /dev/mapper/cfgvol'
# The AAD application is never asked for a token (keystore keys), but its
# secret travels the whole protected path: CMS, validation, the vault client.
settings 0 '{"operation": "reopen", "aadClientId": "00000000-0000-0000-0000-000000000001"}' \
	"{\"aadClientSecret\": \"$SECRET\"}"
step protected-present grep -q '"protectedSettings": "MI' $H/config/0.settings
t0=$(now_ms)
step enable-reopen enable
metric handler_reopen_ms $(( $(now_ms) - t0 )) ms
cat $H/status/0.status; echo
is status-success success 0 'st["status"]'
is status-operation reopen 0 'st["operation"]'
is status-code-0 0 0 'st["code"]'
is status-two-volumes "['cfgvol', 'tokvol']" 0 'sorted(x["name"] for x in st["substatus"])'
is substatus-all-success "{'success'}" 0 'set(x["status"] for x in st["substatus"])'
has substatus-says-mounted 0 'st["substatus"][0]["formattedMessage"]["message"]' 'mounted on /data/'
step tok-mounted findmnt /data/tok
step cfg-mounted findmnt /data/cfg
step tok-data sh -c 'cd /data/tok && sha256sum -c /os/expected.tok'
step cfg-data sh -c 'cd /data/cfg && sha256sum -c /os/expected.cfg'
step heartbeat-ready grep -q '"status":"ready"' $H/heartbeat.log

# The same sequence number again (e.g. the next boot): nothing redone.
sum0=$(sha256sum <$H/status/0.status)
sleep 1
step rerun-same-seq enable
step rerun-status-unchanged sh -c "test \"\$(sha256sum <$H/status/0.status)\" = '$sum0'"
step rerun-logged grep -q 'sequence 0 was already handled' /var/log/azure/vaultvol/vaultvol-handler.log

# A new request for one known and one unknown volume: reported per volume.
settings 1 '{"operation": "reopen", "volumes": ["tokvol", "nosuch"]}' '{}'
expect_fail partial-exit-1 enable
is partial-warning warning 1 'st["status"]'
has partial-tok-already 1 '[x for x in st["substatus"] if x["name"] == "tokvol"][0]["formattedMessage"]["message"]' 'already mounted'
is partial-nosuch-error error 1 '[x["status"] for x in st["substatus"] if x["name"] == "nosuch"][0]'

# Hostile settings: refused before anything runs; the volumes stay mounted.
settings 2 '{"operation": "reopen", "volumes": "tokvol"}' '{}'
expect_fail hostile-types enable
has hostile-error 2 'st["formattedMessage"]["message"]' 'volumes must be an array' 
printf '{"runtimeSettings": [{"handlerSettings": {"protectedSettingsCertThumbprint": "%s", "protectedSettings": "@@not base64@@", "publicSettings": {}}}]}' \
	"$TP" >$H/config/3.settings
expect_fail hostile-base64 enable
has hostile-base64-error 3 'st["formattedMessage"]["message"]' 'not valid base64' 
step still-mounted sh -c 'findmnt /data/tok && findmnt /data/cfg'

# No key material in anything the handler wrote.
leak=0
for k in $(cat /os/keys.txt | fold -w 44); do
	grep -r -q -F "$k" $H/status /var/log/azure/vaultvol $H/heartbeat.log && leak=1
done
step no-key-in-status-or-log test $leak -eq 0
expect_fail no-aad-secret-in-status-or-log grep -r -q -F "$SECRET" $H/status /var/log/azure/vaultvol $H/heartbeat.log

# Provision the blank disk through the handler (keystore key, ext4, mounted).
settings 4 '{"operation": "provision", "volumes": [{"name": "newvol", "device": "/dev/vdd", "key": "keystore:newvol", "mount": "/data/new", "fs": "ext4"}]}' '{}'
t0=$(now_ms)
step provision enable
metric handler_provision_ms $(( $(now_ms) - t0 )) ms
is provision-success success 4 'st["status"]'
has provision-substatus 4 'st["substatus"][0]["formattedMessage"]["message"]' 'provisioned /dev/vdd'
has provision-recovery-ref-only 4 'st["substatus"][0]["formattedMessage"]["message"]' 'recovery passphrase stored as keystore:newvol-recovery/'
step provision-mounted findmnt /data/new
step provision-token sh -c 'cryptsetup token export --token-id 0 /dev/vdd | grep -q "\"name\":\"newvol\""'
echo new-data >/data/new/file.txt
# The same request again (new sequence number): already provisioned, nothing written.
settings 5 '{"operation": "provision", "volumes": [{"name": "newvol", "device": "/dev/vdd", "key": "keystore:newvol", "mount": "/data/new", "fs": "ext4"}]}' '{}'
step provision-again enable
has provision-again-already 5 'st["substatus"][0]["formattedMessage"]["message"]' 'already provisioned'
# Close it, rotate its BEK, reopen through the handler with the new key.
step close-new vaultvol close newvol
old_key=$(cryptsetup token export --token-id 0 /dev/vdd | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
settings 6 '{"operation": "rotate", "volumes": ["newvol"]}' '{}'
step rotate enable
is rotate-success success 6 'st["status"]'
new_key=$(cryptsetup token export --token-id 0 /dev/vdd | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
step rotate-new-key-version test "$old_key" != "$new_key"
has rotate-substatus 6 'st["substatus"][0]["formattedMessage"]["message"]' "key now $new_key"
settings 7 '{"operation": "reopen", "volumes": ["newvol"]}' '{}'
step reopen-rotated enable
has reopen-rotated-key 7 'st["substatus"][0]["formattedMessage"]["message"]' "$new_key"
step rotated-data grep -qx new-data /data/new/file.txt

# A snapshot through the handler: the fake backup service takes it while
# every filesystem is frozen; the status has a substatus per filesystem.
python3 /vv/tests/fakes/backup_service.py --port 0 --port-file /tmp/bsvc.port \
	--copy-cmd 'echo "$SNAPSHOT_ID" >/tmp/snap.taken' >/tmp/bsvc.log 2>&1 &
BSPID=$!
i=0
while [ ! -s /tmp/bsvc.port ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
step backup-service-up test -s /tmp/bsvc.port
settings 8 "{\"operation\": \"snapshot\", \"serviceUrl\": \"http://127.0.0.1:$(cat /tmp/bsvc.port)\", \"consistency\": \"filesystem\", \"timeoutSeconds\": 30}" '{}'
step snapshot enable
is snapshot-success success 8 'st["status"]'
is snapshot-operation snapshot 8 'st["operation"]'
has snapshot-message 8 'st["formattedMessage"]["message"]' 'filesystem'
is snapshot-fs-frozen True 8 'any(x["name"] == "/data/tok" and x["status"] == "success" for x in st["substatus"])'
step snapshot-taken test -s /tmp/snap.taken
step thawed-after sh -c 'echo after >/data/tok/after.txt && sync'
kill $BSPID 2>/dev/null
umount /data/tok /data/cfg /data/new
GUEST
