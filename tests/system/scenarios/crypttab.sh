# Issue 16: a vaultvol volume listed in /etc/crypttab is unlocked at boot by
# systemd-cryptsetup through the token plugin, with vaultvol-open.service
# disabled, and vaultvol stays out of its way.
#   boot 1  the fakes (vv-fakes.service); `vaultvol provision` makes volume
#           ctdata (key in the vault); it is closed and listed in crypttab
#           under another name, ctvol (UUID=, none, luks,_netdev,nofail),
#           with its fstab line and the documented drop-in ordering its
#           systemd-cryptsetup unit after network-online.target;
#           vaultvol-open.service is disabled
#   boot 2  systemd-cryptsetup@ctvol opened it (no passphrase asked) and the
#           fstab line mounted it; the data reads back; `vaultvol open --all`
#           counts it as open (unchanged), `status` shows it under crypttab's
#           name, `close` refuses it with the systemctl remedy; closed by
#           systemd, `vaultvol open --all` leaves it to crypttab (never
#           both); `systemctl start systemd-cryptsetup@ctvol` opens it again
# system-kernels: 6.1 6.12
vm_disk ct 64M

sys_boot --disk ct <<'GUEST'
set -u
step fakes-up sys_fakes_install
sys_vault_setup
rec="--recovery print --recovery-iterations 4 --recovery-memory 32768"
step provision sh -c "vaultvol provision /dev/vdb --secret ctdata --mount /data/ct $rec >/tmp/p.out"
echo "crypttab data" >/data/ct/hello.txt
head -c 500000 /dev/urandom >/data/ct/blob.bin
mkdir -p /var/lib/vv-test
(cd /data/ct && sha256sum hello.txt blob.bin) >/var/lib/vv-test/expected
step close vaultvol close --all
uuid=$(cryptsetup luksUUID /dev/vdb)
echo "ctvol UUID=$uuid none luks,_netdev,nofail" >>/etc/crypttab
echo "/dev/mapper/ctvol /data/ct ext4 defaults,_netdev,nofail 0 0" >>/etc/fstab
# docs/token-plugin.md: systemd-cryptsetup's _netdev orders the unit only
# after remote-fs-pre.target; the vault needs the network online.
d=/etc/systemd/system/systemd-cryptsetup@ctvol.service.d
mkdir -p "$d"
printf '[Unit]\nWants=network-online.target\nAfter=network-online.target\n' >"$d/vaultvol.conf"
# Test only: the vault's name resolves to the guest's loopback.
printf '[Service]\nEnvironment=VAULTVOL_TEST_RESOLVE=%s\n' "$VAULTVOL_TEST_RESOLVE" >"$d/vv-test.conf"
step open-unit-disabled systemctl disable vaultvol-open.service
step generator-sees-it sh -c 'systemctl daemon-reload && systemctl cat systemd-cryptsetup@ctvol.service >/dev/null'
step fakes-saved sys_fakes_save
GUEST

sys_boot --disk ct <<'GUEST'
set -u
sys_fakes_env
sys_step_running
step open-unit-not-run sh -c '! systemctl is-enabled -q vaultvol-open.service && ! systemctl is-active -q vaultvol-open.service'
step cryptsetup-unit-active systemctl is-active systemd-cryptsetup@ctvol.service
step mapped sh -c 'cryptsetup status ctvol | grep -q "/dev/vdb"'
step mounted sh -c 'test "$(findmnt -n -o SOURCE /data/ct)" = /dev/mapper/ctvol'
step data-reads sh -c 'cd /data/ct && sha256sum -c /var/lib/vv-test/expected'
mono() { systemctl show -P "$2" "$1"; }
t_net=$(mono network-online.target ActiveEnterTimestampMonotonic)
t_ct=$(mono systemd-cryptsetup@ctvol.service ActiveEnterTimestampMonotonic)
t_mnt=$(mono data-ct.mount ActiveEnterTimestampMonotonic)
echo "network-online $t_net us, systemd-cryptsetup@ctvol $t_ct us, data-ct.mount $t_mnt us"
# (nofail: remote-fs.target does not wait for either.)
step unlocked-after-network test "$t_net" -gt 0 -a "$t_ct" -ge "$t_net"
step mounted-after-unlock test "$t_mnt" -ge "$t_ct"
metric cryptsetup_unit_ms $(( ($(mono systemd-cryptsetup@ctvol.service ExecMainExitTimestampMonotonic) - \
	$(mono systemd-cryptsetup@ctvol.service ExecMainStartTimestampMonotonic)) / 1000 )) ms
journalctl -b -u systemd-cryptsetup@ctvol.service --no-pager -o cat >/tmp/jc.txt 2>&1
say "journalctl -u systemd-cryptsetup@ctvol:"
say_file /tmp/jc.txt
step no-passphrase-asked sh -c '! grep -qi "password\|passphrase" /tmp/jc.txt'
# vaultvol's view of a volume crypttab opened under another name.
vaultvol open --all >/tmp/o1.out 2>&1; rc=$?
say_file /tmp/o1.out
step open-all-ok test $rc -eq 0
step open-all-unchanged grep -q "already mounted on /data/ct" /tmp/o1.out
step open-all-summary grep -q "0 opened, 0 mounted, 1 unchanged, 0 failed" /tmp/o1.out
vaultvol status >/tmp/s.out 2>&1; say_file /tmp/s.out
step status-mounted grep -Eq "^ctdata +/dev/vdb +LUKS2 .* mounted +/data/ct" /tmp/s.out
step status-names-mapping sh -c 'vaultvol status --json | grep -Eq "\"device_mapper\": ?\"/dev/mapper/ctvol\""'
vaultvol close ctdata >/tmp/c.out 2>&1; rc=$?
say_file /tmp/c.out
step close-refused test $rc -eq 1
step close-remedy grep -q "systemctl stop systemd-cryptsetup@ctvol.service" /tmp/c.out
step still-mounted sh -c 'test "$(findmnt -n -o SOURCE /data/ct)" = /dev/mapper/ctvol'
# Never both: closed by systemd, vaultvol leaves it to crypttab.
step systemd-closes systemctl stop data-ct.mount systemd-cryptsetup@ctvol.service
step closed sh -c '! test -e /dev/mapper/ctvol'
vaultvol open --all >/tmp/o2.out 2>&1; rc=$?
say_file /tmp/o2.out
step left-to-crypttab-ok test $rc -eq 0
step left-to-crypttab-said grep -q "/etc/crypttab lists /dev/vdb as ctvol" /tmp/o2.out
step vaultvol-opened-nothing sh -c '! test -e /dev/mapper/ctdata && ! test -e /dev/mapper/ctvol'
step systemd-reopens systemctl start systemd-cryptsetup@ctvol.service
step reopened-mapped test -b /dev/mapper/ctvol
GUEST
