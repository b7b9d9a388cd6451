# System scenario 3 (issue 19): the vault comes late, then not at all.
#   boot 1  (installed by install.sh) fakes, `vaultvol provision` of one volume keyed in the
#           vault; a unit that needs the volume (vv-app) and one that does
#           not (vv-other); the fakes are then made to start 90 s late
#           (ExecStartPre=sleep 90, and no longer ordered before the network
#           is online or before vaultvol-open.service)
#   boot 2  vault late: vaultvol-open.service waits for it (--wait 300 in
#           the unit) and mounts the volume once the vault answers; the boot
#           is not held past the unit's budget (TimeoutStartSec); the journal
#           shows the wait and the volume-opened entry
#   boot 3  vault gone (the fakes disabled): the unit fails with a journal
#           entry naming the volume and the cause; multi-user.target is
#           reached; vv-other runs, vv-app does not. To keep the boot short
#           the test shortens the unit's wait with a drop-in (--wait 20,
#           Restart=no); the shipped unit waits 300 s and restarts 4 times.
vm_disk app 64M

sys_boot --disk app <<'GUEST'
set -u
step fakes-up sys_fakes_install
sys_vault_setup
step provision-app sh -c "vaultvol provision /dev/vdb --secret appdata --mount /data/app \
	--recovery print --recovery-iterations 4 --recovery-memory 32768 >/tmp/p1.out"
echo "application data" >/data/app/hello.txt
sys_oneshot_unit vv-app "An application that needs the encrypted volume" \
	"/bin/sh -c 'cat /data/app/hello.txt >/run/vv-app.out'" \
	"$(printf 'Requires=vaultvol-open.service\nAfter=vaultvol-open.service')"
sys_oneshot_unit vv-other "A service that does not need the encrypted volume" \
	"/bin/sh -c 'echo ok >/run/vv-other.out'"
step units-enabled systemctl enable vv-app.service vv-other.service
# From the next boot on, the vault comes 90 s after the fakes' unit starts.
# (A drop-in cannot remove an ordering: systemd.unit(5) says dependencies
# cannot be reset, so the unit file itself loses its Before= line.)
sed -i '/^Before=/d' /etc/systemd/system/vv-fakes.service
mkdir -p /etc/systemd/system/vv-fakes.service.d
cat >/etc/systemd/system/vv-fakes.service.d/late.conf <<'U'
[Service]
ExecStartPre=/bin/sleep 90
TimeoutStartSec=600
U
step fakes-saved sys_fakes_save
step close vaultvol close --all
GUEST

sys_boot --disk app <<'GUEST'
set -u
sys_step_running
step open-active systemctl is-active vaultvol-open.service
step app-mounted sh -c 'test "$(findmnt -n -o SOURCE /data/app)" = /dev/mapper/appdata'
step dependent-read-data grep -q "application data" /run/vv-app.out
mono() { systemctl show -P "$2" "$1"; }
fakes_up=$(mono vv-fakes.service ActiveEnterTimestampMonotonic)
o_start=$(mono vaultvol-open.service ExecMainStartTimestampMonotonic)
o_done=$(mono vaultvol-open.service ActiveEnterTimestampMonotonic)
mu=$(mono multi-user.target ActiveEnterTimestampMonotonic)
say "vaultvol-open started at $((o_start / 1000)) ms, vault up at $((fakes_up / 1000)) ms, volumes open at $((o_done / 1000)) ms, multi-user.target at $((mu / 1000)) ms"
metric open_waited_ms $(( (o_done - o_start) / 1000 )) ms
metric open_after_vault_ms $(( (o_done - fakes_up) / 1000 )) ms
step vault-was-late test "$fakes_up" -gt "$o_start"
step opened-after-vault test "$o_done" -ge "$fakes_up"
# Within the unit's budget: TimeoutStartSec of the shipped unit.
budget=$(mono vaultvol-open.service TimeoutStartUSec)
say "unit budget (TimeoutStartUSec): $budget"
step within-budget test $(( (o_done - o_start) / 1000000 )) -lt 420
step open-ran-once test "$(mono vaultvol-open.service NRestarts)" = 0
journalctl -b -u vaultvol-open.service --no-pager -o short-monotonic >/tmp/j.txt 2>&1
say "journalctl -u vaultvol-open (vault late):"
say_file /tmp/j.txt
step journal-says-retrying grep -q "retrying in" /tmp/j.txt
step journal-app-opened sh -c 'journalctl -b -u vaultvol-open.service -o json --no-pager \
	VAULTVOL_VOLUME=appdata MESSAGE_ID=abfadd085c7240c5b67fe17ef6377277 | grep -q appdata'
# Next boot: no vault at all, and a short wait so the test does not sit 20 min.
systemctl disable vv-fakes.service
cat >/etc/systemd/system/vaultvol-open.service.d/short.conf <<'U'
[Service]
ExecStart=
ExecStart=/usr/sbin/vaultvol open --all --wait 20
Restart=no
U
GUEST

sys_boot --disk app <<'GUEST'
set -u
state=$(systemctl is-system-running --wait)
echo "is-system-running: $state"
step system-degraded test "$state" = degraded
step multi-user-reached systemctl is-active multi-user.target
step open-failed systemctl is-failed vaultvol-open.service
step other-service-ran grep -q ok /run/vv-other.out
step app-not-started sh -c '! systemctl is-active vv-app.service'
step app-not-mounted sh -c '! findmnt /data/app'
journalctl -b -u vaultvol-open.service --no-pager -o short-monotonic >/tmp/j.txt 2>&1
say "journalctl -u vaultvol-open (vault gone):"
say_file /tmp/j.txt
journalctl -b -u vaultvol-open.service -o json --no-pager \
	MESSAGE_ID=ba64e56d55a146b29df56d922077d2bc >/tmp/jf.json 2>&1
say "its 'volume failed' entries, as JSON:"
say_file /tmp/jf.json
step journal-names-volume grep -q '"VAULTVOL_VOLUME":"appdata"' /tmp/jf.json
step journal-names-cause grep -q '"VAULTVOL_CAUSE":"unavailable"' /tmp/jf.json
step journal-names-remedy grep -q 'remedy' /tmp/jf.json
GUEST
