# System scenario (issue 18): the real extension framework drives the
# bundle. Debian 12's waagent package (2.7.3, unmodified, installed offline
# with apt from tests/system/image-debs.sh, started by systemd as
# walinuxagent.service) talks to the fake platform (tests/fakes/fake_wire.py:
# wire server + host plugin + store) on 168.63.129.16, routed to lo as on
# Azure it is routed to the host; the Key Vault + IMDS fakes as in boot_open.
# The platform's state (the vault's secrets, the next goal state) lives on a
# disk of its own (vvplat), never on the VM's disks the leak check greps.
# Boot 1 (the VM as first deployed):
#   1  goal state with sequence 0 (provision two blank disks, keys in the
#      vault, managed identity from IMDS): waagent downloads and installs
#      the bundle (build/packages/vaultvol-handler-VERSION.zip), runs
#      enable; the status blob the fake receives says success with one
#      substatus per volume; the volumes are open and mounted
# The host then "restores" the VM: copies of both data disks, attached in
# the other order (the volume provisioned on /dev/vdb is now /dev/vdc).
# The platform has a new goal state ready when the restored VM boots.
# Boot 2 (the restored VM; waagent starts by itself at boot):
#   2  sequence 1 (reopen) runs once, success, both volumes mounted with
#      their data from their new devices; sequence 0's enable ran once in
#      both boots together
#   3  sequence 2: reopen with an AAD application (aadClientId in the
#      public settings, aadClientSecret in the protected ones, no managed
#      identity used): the volumes were closed first; success, a token from
#      the fake AAD and none from IMDS
#   4  hostile goal states (unknown_key, wrong_thumbprint, truncated; the
#      protected settings carry the AAD client secret): error statuses
#      naming the problem, the volumes (headers, mounts) untouched
#   5  disable and uninstall through goal states: the volumes stay mounted,
#      the handler directory is removed by waagent; after shutdown the host
#      greps the OS disk's overlay (every byte this scenario wrote), the
#      data disks (originals and restored copies) and every status blob for
#      the vault's secrets (the volume keys and recovery passphrases, base64
#      as stored and raw) and the AAD client secret, and finds none
# waagent.conf changes only what a test VM needs (see the guest's comments);
# the unit gets a drop-in lifting ConditionVirtualization=microsoft (QEMU is
# not Hyper-V) and passing the fakes' name resolution to the handler.
# system-kernels: 6.1
# system-ci: full-only (11 min under emulation, most of it waagent's offline
# install; beside the rest of the bounded suite CI's 90 min would be too tight)
wdebs=$(tests/system/image-debs.sh "$SYS_IMAGE" waagent waagent) ||
	{ host_step waagent-debs false; return 0; }
version=$(sed -n 's/^VERSION *:= *//p' Makefile)
bundle=$VV_BUILD/packages/vaultvol-handler-$version.zip
if [ ! -f "$bundle" ] || [ -n "$(find "$VV_BUILD/vaultvol" packaging/HandlerManifest.json \
	packaging/bundle -newer "$bundle" -print -quit 2>/dev/null)" ]; then
	packaging/bundle.sh "$VV_BUILD" >"$VM_WORK/bundle.log" 2>&1 ||
		{ tail -5 "$VM_WORK/bundle.log"; host_step bundle-built false; return 0; }
fi
mkdir -p "$VM_WORK/bundle" && cp "$bundle" "$VM_WORK/bundle/handler.zip"
vm_disk wadata 64M
vm_disk walogs 64M
vm_disk vvplat 64M

sys_boot --disk wadata --disk walogs --disk vvplat --files wdebs="$wdebs" --files bundle="$VM_WORK/bundle" \
	--mem 1536 --timeout 2400 <<'GUEST'
set -u
t_all=$(now_ms)
. /vv/tests/system/guest/waagent.sh
# The platform's own disk (the vault's secrets and the next goal state are
# kept there between boots, as they are kept outside a real VM).
step platform-disk sh -c 'mkfs.ext4 -q -L vvplat /dev/vdd && mkdir -p /var/lib/vv-fakes &&
	echo "LABEL=vvplat /var/lib/vv-fakes ext4 defaults 0 0" >>/etc/fstab && mount /var/lib/vv-fakes'
step fakes-up sys_fakes_install
sys_vault_setup
# The platform side too: the same fakes process serves the wire server and
# the host plugin on 168.63.129.16 (ports 80, 32526) and the bundle.
install -m 600 /vv/files/bundle/handler.zip /var/lib/vv-fakes/handler.zip
sed -i 's|--quiet \$pre|--quiet --wire-addr 168.63.129.16 --wire-bundle /var/lib/vv-fakes/handler.zip $pre|' \
	/var/lib/vv-fakes/run
mkdir -p /etc/systemd/system/vv-fakes.service.d
# On Azure 168.63.129.16 is reached through the VM's network; here it is
# an address on lo. waagent looks for a route to it in /proc/net/route (the
# main table; the address alone only makes a route in the local table) and
# would otherwise run DHCP to find the wire server: the main-table route
# says "on a virtual network", as on Azure.
cat >/etc/systemd/system/vv-fakes.service.d/wire.conf <<'X'
[Unit]
RequiresMountsFor=/var/lib/vv-fakes

[Service]
ExecStartPre=-/sbin/ip addr add 168.63.129.16/32 dev lo
ExecStartPre=-/sbin/ip route add 168.63.129.16/32 dev lo
X
systemctl daemon-reload
step fakes-with-wire sh -c 'systemctl restart vv-fakes.service && grep -q wire_addr /run/vv-fakes/ports.json'
sys_fakes_env
step wire-route sh -c 'grep -q 10813FA8 /proc/net/route'

t0=$(now_ms)
step waagent-installed sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	-o Dpkg::Use-Pty=0 /vv/files/wdebs/*.deb >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }'
metric waagent_install_ms $(( $(now_ms) - t0 )) ms
step waagent-version sh -c 'waagent --version | tee /dev/stderr | grep -q "WALinuxAgent-2.7.3"'
# The agent's files as packaged (the image's dpkg excludes drop the docs).
step waagent-unmodified sh -c 'dpkg --verify waagent | grep -v -E "missing +/usr/share/doc/" | grep . && exit 1; exit 0'
# The package installed, enabled and (not) started it: the unit's
# ConditionVirtualization=microsoft is false under QEMU.
step waagent-not-run-yet sh -c '! systemctl is-active walinuxagent.service'
# waagent.conf: only what a test VM needs.
#  Provisioning.Agent=disabled  no cloud-init and no ovf-env.xml here: the
#                               agent reports Ready and goes on to extensions
#  ResourceDisk.Format=n        there is no Azure resource disk to format
#  Logs.Verbose=y               the handler commands and their environment in
#                               /var/log/waagent.log (what the test counts)
sed -i -e 's/^Provisioning.Agent=.*/Provisioning.Agent=disabled/' \
	-e 's/^ResourceDisk.Format=.*/ResourceDisk.Format=n/' \
	-e 's/^Logs.Verbose=.*/Logs.Verbose=y/' /etc/waagent.conf
grep -E '^(Provisioning.Agent|ResourceDisk.Format|Logs.Verbose|Extensions.Enabled|AutoUpdate.Enabled)=' \
	/etc/waagent.conf >/tmp/conf.txt; say_file /tmp/conf.txt
mkdir -p /etc/systemd/system/walinuxagent.service.d
# Test only: QEMU is not Hyper-V (an empty assignment clears the unit's
# conditions), and the handler resolves the fake vault's name to loopback
# (the same drop-in vaultvol-open.service gets from sys_vault_setup).
printf '[Unit]\nConditionVirtualization=\nAfter=vv-fakes.service\nWants=vv-fakes.service\n\n[Service]\nEnvironment=VAULTVOL_TEST_RESOLVE=%s\n' \
	"$VAULTVOL_TEST_RESOLVE" >/etc/systemd/system/walinuxagent.service.d/vv-test.conf
systemctl daemon-reload
hdir=/var/lib/waagent/$plugin-$(wstate version)

# ---- 1. sequence 0: provision /dev/vdb and /dev/vdc, keys in the vault
# (managed identity)
pub0=$(printf '{"operation": "provision", "vaultUrl": "%s", "volumes": [%s, %s]}' "$FAKE_KV_URL" \
	'{"name": "wadata", "device": "/dev/vdb", "mount": "/data/wa"}' \
	'{"name": "walogs", "device": "/dev/vdc", "mount": "/data/logs"}')
step seq0-published fakectl -q wire_goal_state public="$pub0"
t0=$(now_ms)
step waagent-started systemctl start walinuxagent.service
step seq0-status wait_status 0 success,error,warning
metric seq0_provision_ms $(( $(now_ms) - t0 )) ms
say "seq 0: $(brief /tmp/st-0.json)"
step seq0-success test "$(field /tmp/st-0.json 'd["status"]')" = success
step seq0-operation test "$(field /tmp/st-0.json 'd["operation"]')" = provision
step seq0-one-substatus-per-volume test "$(field /tmp/st-0.json '",".join(sorted(d["substatus_names"]))')" = wadata,walogs
step seq0-substatus-success test "$(field /tmp/st-0.json '",".join(sorted({s["status"] for s in d["substatus"]}))')" = success
n_store=$(fakectl counter wire.store_bundle.ok) n_hp=$(fakectl counter hostplugin.extension_artifact.store_bundle)
say "bundle downloads: store $n_store, host plugin $n_hp"
step seq0-bundle-downloaded test $(( ${n_store:-0} + ${n_hp:-0} )) -ge 1
step seq0-handler-installed test -x "$hdir/bin/vaultvol" -a -f "$hdir/HandlerEnvironment.json"
step seq0-installed-once test "$(grep -a -c 'Executing command: .*vaultvol-handler install' /var/log/waagent.log)" = 1
step seq0-luks2-tokens sh -c 'cryptsetup luksDump /dev/vdb | grep -q vaultvol && cryptsetup luksDump /dev/vdc | grep -q vaultvol'
echo "written through waagent" >/data/wa/hello.txt
echo "logs written through waagent" >/data/logs/hello.txt
sync
step seq0-mounted both_mounted
step seq0-status-file test -f "$hdir/status/0.status"

# The restore: the VM stops; when the restored copy boots, the platform
# already has its next goal state (sequence 1, reopen), as Azure has the
# extension's settings when it starts a restored VM. The fakes load the
# vault's secrets and that goal state at start (--preload); the incarnation
# is a new one for waagent.
systemctl stop walinuxagent.service
platform_save() {
	fakectl export >$X/ex.json &&
	python3 - "$FAKE_KV_URL" $X/ex.json /var/lib/vv-fakes/state.json.tmp <<'PY' &&
import json, sys
ops = json.load(open(sys.argv[2])).get("ops", [])
pub = {"operation": "reopen", "vaultUrl": sys.argv[1], "volumes": ["wadata", "walogs"]}
ops.append({"op": "wire_goal_state", "public": json.dumps(pub), "seq": 1, "incarnation": 20})
with open(sys.argv[3], "w") as f:
    json.dump(ops, f)
PY
	mv /var/lib/vv-fakes/state.json.tmp /var/lib/vv-fakes/state.json
}
step platform-saved platform_save
metric boot1_guest_ms $(( $(now_ms) - t_all )) ms
sync
GUEST

# The restored VM: copies of the data disks, attached the other way round
# (the platform's disk last, as before).
host_step restored-copies sh -c "cp '$VM_WORK/wadata.img' '$VM_WORK/rdata.img' && cp '$VM_WORK/walogs.img' '$VM_WORK/rlogs.img'"

sys_boot --disk rlogs --disk rdata --disk vvplat \
	--mem 1536 --export 16 --timeout 2400 <<'GUEST'
set -u
t_all=$(now_ms)
. /vv/tests/system/guest/waagent.sh
for i in $(seq 300); do [ -s /run/vv-fakes/ports.env ] && break; sleep 1; done
step fakes-up-at-boot sys_fakes_env
hdir=/var/lib/waagent/$plugin-$(wstate version)
say "restored: wadata on $(cryptsetup status wadata 2>/dev/null | sed -n 's/ *device: *//p'), walogs on $(cryptsetup status walogs 2>/dev/null | sed -n 's/ *device: *//p')"
step restored-disks-swapped sh -c 'cryptsetup luksDump /dev/vdc >/dev/null && cryptsetup luksDump /dev/vdb >/dev/null &&
	test "$(blkid -s UUID -o value /dev/vdc)" != "$(blkid -s UUID -o value /dev/vdb)"'
step waagent-started-at-boot systemctl is-active walinuxagent.service

# ---- 2. sequence 1: reopen after the restore, runs once
t0=$(now_ms)
step seq1-status wait_status 1 success,error,warning
metric seq1_reopen_ms $(( $(now_ms) - t0 )) ms
say "seq 1: $(brief /tmp/st-1.json)"
step seq1-success test "$(field /tmp/st-1.json 'd["status"]')" = success
step seq1-operation test "$(field /tmp/st-1.json 'd["operation"]')" = reopen
step seq1-one-substatus-per-volume test "$(field /tmp/st-1.json '",".join(sorted(d["substatus_names"]))')" = wadata,walogs
step seq1-reopened both_mounted
step seq1-moved-devices sh -c 'cryptsetup status wadata | grep -q "device: *\/dev\/vdc" && cryptsetup status walogs | grep -q "device: *\/dev\/vdb"'
step seq1-ran-once test "$(enables 1)" = 1
step seq0-not-rerun test "$(enables 0)" = 1
journalctl -b -u vaultvol-open.service -o cat --no-pager 2>/dev/null | tail -6 >/tmp/open.txt
say "vaultvol-open.service this boot:"; say_file /tmp/open.txt

# ---- 3. sequence 2: reopen with an AAD application (no managed identity)
printf 'vv-aad-%s' "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" >$X/aad
printf '{"aadClientSecret": "%s"}' "$(cat $X/aad)" >$X/protected.json
app=00000000-0000-0000-0000-00000000aad1
step aad-app-registered fakectl -q aad_app client_id=$app client_secret@=$X/aad
# The authority is trusted configuration (a conf.d drop-in): the fake AAD
# answers on the fake vault's listener.
mkdir -p /etc/vaultvol/conf.d
printf '[vault]\naad_authority = %s\n' "$FAKE_AAD_URL" >/etc/vaultvol/conf.d/90-test-aad.conf
umount /data/wa /data/logs && cryptsetup close wadata && cryptsetup close walogs
step seq2-closed sh -c '! test -b /dev/mapper/wadata && ! test -b /dev/mapper/walogs'
aad0=$(fakectl counter aad.tokens_issued) imds0=$(fakectl counter imds.tokens_issued)
puba=$(printf '{"operation": "reopen", "vaultUrl": "%s", "aadClientId": "%s", "aadTenantId": "%s", "volumes": ["wadata", "walogs"]}' \
	"$FAKE_KV_URL" $app "$FAKE_TENANT")
step seq2-published fakectl -q wire_goal_state public="$puba" protected@=$X/protected.json
t0=$(now_ms)
step seq2-status wait_status 2 success,error,warning
metric seq2_aad_reopen_ms $(( $(now_ms) - t0 )) ms
say "seq 2: $(brief /tmp/st-2.json)"
aad1=$(fakectl counter aad.tokens_issued) imds1=$(fakectl counter imds.tokens_issued)
say "tokens during seq 2: AAD ${aad0:-0} -> ${aad1:-0}, IMDS ${imds0:-0} -> ${imds1:-0}"
step seq2-success test "$(field /tmp/st-2.json 'd["status"]')" = success
step seq2-reopened both_mounted
step seq2-token-from-aad test "${aad1:-0}" -gt "${aad0:-0}"
step seq2-no-imds-token test "${imds1:-0}" = "${imds0:-0}"
step seq2-ran-once test "$(enables 2)" = 1

# ---- 4. hostile settings: error naming the problem, nothing touched
other=$(wstate other_thumbprint)
hdr() { dd if=/dev/vdb bs=1M count=16 status=none | sha256sum; dd if=/dev/vdc bs=1M count=16 status=none | sha256sum; }
hdr >/tmp/hdr0
untouched() { both_mounted && test "$(hdr)" = "$(cat /tmp/hdr0)"; }
pubh=$(printf '{"operation": "reopen", "vaultUrl": "%s", "aadClientId": "%s"}' "$FAKE_KV_URL" $app)
seq=3
for h in unknown_key:vaultvolNoSuchSetting wrong_thumbprint:$other truncated:protectedSettings; do
	mode=${h%%:*} want=${h#*:}
	t0=$(now_ms)
	step "$mode-published" fakectl -q wire_goal_state public="$pubh" protected@=$X/protected.json hostile=$mode
	step "$mode-status" wait_status $seq success,error,warning
	metric "${mode}_ms" $(( $(now_ms) - t0 )) ms
	say "$mode: $(brief /tmp/st-$seq.json)"
	step "$mode-error" test "$(field /tmp/st-$seq.json 'd["status"]')" = error
	msg=$(field /tmp/st-$seq.json 'd["message"]')
	step "$mode-names-problem" sh -c "echo '$msg' | grep -q -F '$want'"
	step "$mode-no-substatus" test "$(field /tmp/st-$seq.json 'len(d["substatus"])')" = 0
	step "$mode-ran-once" test "$(enables $seq)" = 1
	step "$mode-volumes-untouched" untouched
	seq=$((seq + 1))
done
step hostile-no-secret-in-logs sh -c "! grep -r -a -q -F -f $X/aad /var/log/azure /var/log/waagent.log /var/lib/waagent"

# ---- 5. disable, uninstall: volumes stay mounted
last=$((seq - 1))
t0=$(now_ms)
step disable-published fakectl -q wire_goal_state public="$pubh" state=disabled seq=$last
inc_disable=$(wstate incarnation)
for i in $(seq 1 120); do
	grep -a -q 'Executing command: .*vaultvol-handler disable' /var/log/waagent.log && break
	sleep 5
done
step disable-ran grep -a -q 'Executing command: .*vaultvol-handler disable' /var/log/waagent.log
step disable-mounted both_mounted
metric disable_ms $(( $(now_ms) - t0 )) ms
t0=$(now_ms)
step uninstall-published fakectl -q wire_goal_state public="$pubh" state=uninstall seq=$last
inc_uninstall=$(wstate incarnation)
for i in $(seq 1 120); do
	test -d "$hdir" || break
	sleep 5
done
step uninstall-ran grep -a -q 'Executing command: .*vaultvol-handler uninstall' /var/log/waagent.log
step uninstall-handler-dir-removed test ! -d "$hdir"
step uninstall-mounted both_mounted
metric uninstall_ms $(( $(now_ms) - t0 )) ms
# One more status upload after the uninstall, then stop the agent.
sleep 20
systemctl stop walinuxagent.service
grep -a -E 'vaultvol-handler (install|enable|disable|uninstall)' /var/log/waagent.log |
	sed 's/ with environment variables:.*ConfigSequenceNumber": "\([0-9]*\)".*/ seq \1/' | cut -c1-200 >/tmp/cmds.txt
say "handler commands waagent ran:"; say_file /tmp/cmds.txt

# For the host's grep: the needles (every vault secret, the AAD secret) and
# every status blob the fake kept, on the export disk (never the OS disk).
fakectl export >$X/state.json
fakectl wire_status_blobs >$X/blobs.json
# What the platform saw for the disable and uninstall goal states: the
# handler NotReady at the disable's incarnation, and no handler at all once
# uninstalled.
blobs() { python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["blobs"]; print(eval(sys.argv[2]))' $X/blobs.json "$1"; }
step disable-blob-notready test "$(blobs "sorted({h['handler_status'] for x in b if x['incarnation'] == $inc_disable for h in x['handlers']})")" = "['NotReady']"
step uninstall-blob-no-handler test "$(blobs "[x['handlers'] for x in b if x['incarnation'] == $inc_uninstall][-1:]")" = "[[]]"
# A positive control for the host's grep: a marker written to the OS disk
# the same way (a file, synced) must be found there.
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >$X/marker
cp $X/marker /var/lib/vv-test-marker
step needles-exported sys_export -C $X state.json aad blobs.json marker
metric scenario_guest_ms $(( $(now_ms) - t_all )) ms
sync
GUEST

# The leak check, on the host after shutdown: the OS disk's overlay holds
# every block the scenario wrote (waagent's lib dir, logs, history, the
# handler's logs and status files, the journal, swap-free page cache
# flushes); the data disks (originals and restored copies) and the status
# blobs the fake received. Not the platform's disk: it is the vault.
x=$VM_WORK/boot2/export
host_step needles-came-back test -s "$x/state.json" -a -s "$x/aad" -a -s "$x/marker"
host_step key-and-secret-nowhere python3 - "$x" "$VM_WORK/os.qcow2" "$VM_WORK/wadata.img" \
	"$VM_WORK/walogs.img" "$VM_WORK/rdata.img" "$VM_WORK/rlogs.img" <<'PY'
import base64, json, sys
x, images = sys.argv[1], sys.argv[2:]
needles = {}
for op in json.load(open(x + "/state.json")).get("ops", []):
    if op.get("op") == "put_secret" and op.get("value"):
        needles["vault secret %s (base64)" % op["name"]] = op["value"][:24].encode()
        needles["vault secret %s (raw)" % op["name"]] = base64.b64decode(op["value"])[:24]
aad = open(x + "/aad").read().strip()
needles["AAD client secret"] = aad.encode()
needles["AAD client secret (base64)"] = base64.b64encode(aad.encode())[:24]
marker = open(x + "/marker").read().strip().encode()
files = images + [x + "/blobs.json"]
hits, size, seen = [], 0, False
for f in files:
    with open(f, "rb") as fh:
        tail = b""
        while True:
            chunk = fh.read(64 << 20)
            if not chunk:
                break
            size += len(chunk)
            data = tail + chunk
            hits += ["%s in %s" % (k, f) for k, v in needles.items() if len(v) >= 16 and v in data]
            seen = seen or (f == images[0] and marker in data)
            tail = data[-64:]
blobs = json.load(open(x + "/blobs.json")).get("blobs", [])
print("key-and-secret-nowhere: %d needles (%s), %d files, %d bytes, %d status blobs; hits: %s; "
      "control marker found in the OS disk: %s"
      % (len(needles), ", ".join(sorted(needles)), len(files), size, len(blobs), sorted(set(hits)) or "none", seen))
sys.exit(1 if hits or len(needles) < 4 or not blobs or not seen else 0)
PY
