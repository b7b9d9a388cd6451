# System scenario 1 (issue 19): install -> provision two volumes -> reboot.
#   install tests/system/install.sh (apt installs the project's .deb and
#           DKMS .deb; DKMS builds dm-quiesce for the image's kernel)
#   boot 1  the Key Vault + IMDS fakes run as vv-fakes.service;
#           `vaultvol provision` makes two volumes: app (key in the vault,
#           managed identity from IMDS) and logs (key in the local
#           keystore); data written; a dependent unit
#           (Requires=/After=vaultvol-open.service) is enabled
#   boot 2  the real boot: vaultvol-open.service mounted both before
#           remote-fs.target, the dependent unit read the data,
#           `systemctl is-system-running` is "running"; critical-chain and
#           blame are printed; the journal has one entry per volume with
#           VAULTVOL_VOLUME/KEY_REF and MESSAGE_ID, and no key (vault secrets,
#           keystore values, raw or base64) is in any journal file
# system-kernels: 6.1 6.12
vm_disk app 64M
vm_disk logs 64M

sys_boot --disk app --disk logs <<'GUEST'
set -u
step installed sh -c 'dpkg-query -W -f="\${Status}" vaultvol | grep -q "install ok installed"'
step module-loads modprobe dm-quiesce
t0=$(now_ms)
step fakes-up sys_fakes_install
metric fakes_start_ms $(( $(now_ms) - t0 )) ms
sys_vault_setup
rec="--recovery print --recovery-iterations 4 --recovery-memory 32768"
step provision-app sh -c "vaultvol provision /dev/vdb --secret appdata --mount /data/app $rec >/tmp/p1.out"
step provision-logs sh -c "vaultvol provision /dev/vdc --secret keystore:logs --mount /data/logs $rec >/tmp/p2.out"
mkdir -p /var/lib/vv-test
echo "application data" >/data/app/hello.txt
echo "log data" >/data/logs/hello.txt
head -c 1000000 /dev/urandom >/data/app/blob.bin
(cd /data && sha256sum app/hello.txt app/blob.bin logs/hello.txt) >/var/lib/vv-test/expected
step data-written test -s /var/lib/vv-test/expected
# An application that needs the volumes says so (vaultvol-open.service(8)).
sys_oneshot_unit vv-app "An application reading the encrypted volumes" \
	"/bin/sh -c 'cd /data && sha256sum app/hello.txt app/blob.bin logs/hello.txt >/run/vv-app.out'" \
	"$(printf 'Requires=vaultvol-open.service\nAfter=vaultvol-open.service')"
step app-unit-enabled systemctl enable vv-app.service
step fakes-saved sys_fakes_save
step close vaultvol close --all
# The field's own tool through the package's token plugin (issue 16): a
# real activation, and luksDump showing the token's references.
step plugin-installed sh -c "ls /usr/lib/*/cryptsetup/libcryptsetup-token-vaultvol.so"
step cryptsetup-token-open cryptsetup open --token-only --token-type vaultvol /dev/vdb vv-plugin-app
step cryptsetup-token-mapped sh -c 'test -b /dev/mapper/vv-plugin-app && cryptsetup status vv-plugin-app'
step cryptsetup-token-close cryptsetup close vv-plugin-app
cryptsetup luksDump /dev/vdb >/tmp/dump.txt 2>&1
step luksdump-shows-plugin-dump grep -q "appdata" /tmp/dump.txt
grep -A8 -E '^Tokens:' /tmp/dump.txt >/tmp/dump-tokens.txt; say_file /tmp/dump-tokens.txt
GUEST

sys_boot --disk app --disk logs <<'GUEST'
set -u
sys_step_running
step open-active systemctl is-active vaultvol-open.service
step app-mounted sh -c 'test "$(findmnt -n -o SOURCE /data/app)" = /dev/mapper/appdata'
step logs-mounted sh -c 'test "$(findmnt -n -o SOURCE /data/logs)" = /dev/mapper/logs'
mono() { systemctl show -P "$2" "$1"; }
open_done=$(mono vaultvol-open.service ActiveEnterTimestampMonotonic)
rfs=$(mono remote-fs.target ActiveEnterTimestampMonotonic)
echo "vaultvol-open active at $open_done us, remote-fs.target at $rfs us"
step open-before-remote-fs test "$open_done" -gt 0 -a "$open_done" -le "$rfs"
for m in data-app.mount data-logs.mount; do
	t=$(mono $m ActiveEnterTimestampMonotonic)
	echo "$m active at $t us"
	step "$m-before-remote-fs" test "$t" -gt 0 -a "$t" -le "$rfs"
done
step dependent-active systemctl is-active vv-app.service
step dependent-after-open test "$(mono vv-app.service ExecMainStartTimestampMonotonic)" -ge "$open_done"
step dependent-read-data cmp /run/vv-app.out /var/lib/vv-test/expected
t_start=$(mono vaultvol-open.service ExecMainStartTimestampMonotonic)
t_exit=$(mono vaultvol-open.service ExecMainExitTimestampMonotonic)
metric vaultvol_open_service_ms $(( (t_exit - t_start) / 1000 )) ms
systemd-analyze critical-chain vv-app.service --no-pager >/tmp/cc.txt 2>&1
say "systemd-analyze critical-chain vv-app.service:"
say_file /tmp/cc.txt
step critical-chain-order sh -c 'grep -n "vaultvol-open.service" /tmp/cc.txt && grep -n "vv-app.service" /tmp/cc.txt'
systemd-analyze blame --no-pager >/tmp/blame.txt 2>&1
say "systemd-analyze blame (top 15):"
head -15 /tmp/blame.txt >/tmp/blame15.txt; say_file /tmp/blame15.txt
say "blame: $(grep vaultvol-open /tmp/blame.txt)"
systemd-analyze time --no-pager >/tmp/time.txt 2>&1; say_file /tmp/time.txt
# The journal (issue 19): one entry per volume with structured fields, and
# no key anywhere in the journal files.
journalctl -b -u vaultvol-open.service -o verbose --no-pager >/tmp/jv.txt 2>&1
say "journalctl -u vaultvol-open -o verbose (vaultvol's own entries):"
grep -a -E '^ +(MESSAGE|MESSAGE_ID|PRIORITY|VAULTVOL_[A-Z_]+)=' /tmp/jv.txt | grep -a -B1 -A4 VAULTVOL_VOLUME |
	head -30 >/tmp/jv30.txt; say_file /tmp/jv30.txt
for vol in appdata logs; do
	step "journal-$vol-opened" sh -c "journalctl -b -u vaultvol-open.service -o json --no-pager \
		VAULTVOL_VOLUME=$vol MESSAGE_ID=abfadd085c7240c5b67fe17ef6377277 | grep -q VAULTVOL_KEY_REF"
done
step journal-no-key python3 - <<'PY'
import base64, glob, json, os, sys
needles = {}
for op in json.load(open("/var/lib/vv-fakes/state.json")).get("ops", []):
    if op.get("op") == "put_secret" and op.get("value"):
        needles["vault secret %s (base64)" % op["name"]] = op["value"][:24].encode()
        needles["vault secret %s (raw)" % op["name"]] = base64.b64decode(op["value"])
for f in glob.glob("/etc/vaultvol/keys/*/*"):
    if f.endswith((".json", "/latest")) or not os.path.isfile(f):
        continue
    v = open(f, "rb").read().strip()
    needles["keystore %s (as stored)" % f] = v[:24]
    try:
        needles["keystore %s (raw)" % f] = base64.b64decode(v)
    except Exception:
        pass
files = [f for d in ("/var/log/journal", "/run/log/journal")
         for f in glob.glob(d + "/**/*.journal*", recursive=True)]
size, hits = 0, []
for f in files:
    data = open(f, "rb").read()
    size += len(data)
    hits += ["%s in %s" % (k, f) for k, v in needles.items() if len(v) >= 16 and v in data]
print("journal-no-key: %d needles, %d journal files, %d bytes; hits: %s"
      % (len(needles), len(files), size, hits or "none"))
sys.exit(1 if hits or not files or not needles else 0)
PY

# The unit's own lines and what systemd said about it (a job deleted to
# break an ordering cycle is logged by PID 1, not under the unit).
journalctl -b --no-pager -o short-monotonic | grep -a vaultvol >/tmp/j.txt 2>&1
say "journal lines naming vaultvol:"
say_file /tmp/j.txt
GUEST

# The guest powered off with both volumes open and mounted: systemd's
# shutdown unmounts them and detaches their device-mapper devices. Its
# console lines about them, and no failure among them.
c=$VM_WORK/boot2/console.log
grep -a -E 'data-(app|logs)\.mount|/data/|dm-[0-9]|DM |mapper|vaultvol' "$c" | tr -d '\r' |
	grep -a -v 'vv-test-boot' | sed 's/\x1b\[[0-9;]*m//g; s/^/    shutdown: /' | tail -20
host_step boot2-clean-shutdown sh -c "! grep -a -E 'Failed (to|unmounting)|[Tt]imed out|device-mapper: .*failed' '$c'"
