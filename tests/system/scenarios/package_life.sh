# System scenario 4 (issue 19): the package's life cycle on a booted system.
# system: from-image (it installs the previous release itself)
#   boot 1  apt installs the previous release's .deb and DKMS .deb
#           (tests/system/previous.sh: built from that release's commit);
#           two volumes provisioned with it (appdata: key in the vault;
#           logs: key in the local keystore); an operator's setting added
#           to the config and a drop-in in conf.d
#   boot 2  the previous release opened both volumes at boot; apt upgrades
#           to this build while they are open: config, drop-in, keystore
#           and header backups are byte for byte as they were, the volumes
#           stay mounted, the unit stays enabled, DKMS replaces the old
#           module build with this version's; then apt installs a second
#           Debian kernel (tests/system/image-debs.sh, offline): DKMS
#           builds dm-quiesce for it; its kernel and initramfs are exported
#   boot 3  that kernel boots: the module DKMS built for it loads, the
#           boot unit opened both volumes; `apt purge` of both packages
#           removes the program, the unit and every module build, and
#           leaves keys, header backups and config as they were (and the
#           volumes mounted: removing the package closes nothing)
prev=$(tests/system/previous.sh) || { host_step previous-release-built false; return 0; }
# The second kernel: the other one of this machine's Debian kernels.
other=$(ls /boot/vmlinuz-* 2>/dev/null | sed 's|.*/vmlinuz-||' | grep -v -x -F "$VM_KVER" | sort -V | tail -1)
host_step second-kernel-known test -n "$other"
kdebs=$(tests/system/image-debs.sh "$SYS_IMAGE" "kernel-$other" "linux-image-$other" "linux-headers-$other") || { host_step second-kernel-debs false; return 0; }
echo "previous release: $(cat "$prev/ready"); second kernel: $other"
vm_disk app 64M
vm_disk logs 64M

sys_boot --disk app --disk logs --files prev="$prev" <<'GUEST'
set -u
step install-previous sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends -o Dpkg::Use-Pty=0 /vv/files/prev/*.deb'
step previous-version sh -c 'vaultvol --version | tee /dev/stderr | grep -q "0\.1\.0"'
step previous-dkms sh -c 'dkms status | tee /dev/stderr | grep -q "vaultvol-dm-quiesce/0.1.0.*$(uname -r).*installed"'
step fakes-up sys_fakes_install
sys_vault_setup
rec="--recovery print --recovery-iterations 4 --recovery-memory 32768"
step provision-app sh -c "vaultvol provision /dev/vdb --secret appdata --mount /data/app $rec >/tmp/p1.out"
step provision-logs sh -c "vaultvol provision /dev/vdc --secret keystore:logs --mount /data/logs $rec >/tmp/p2.out"
# What an operator adds: a setting in the config and a drop-in.
printf '# the operator: a slower vault\ntimeout = 20\n' >>/etc/vaultvol/vaultvol.conf
mkdir -p /etc/vaultvol/conf.d
printf '# added by the operator\n[vault]\nallowed = https://backup-vault.vault.azure.net\n' \
	>/etc/vaultvol/conf.d/50-operator.conf
step keys-check vaultvol open --check --all
# What must outlive an upgrade and a purge, as checksums.
cat >/usr/local/sbin/vv-sums <<'X'
#!/bin/sh
find /etc/vaultvol /var/lib/vaultvol -type f -print0 | sort -z | xargs -0 sha256sum
X
chmod 755 /usr/local/sbin/vv-sums
mkdir -p /var/lib/vv-test
echo "application data" >/data/app/hello.txt
echo "log data" >/data/logs/hello.txt
(cd /data && sha256sum app/hello.txt logs/hello.txt) >/var/lib/vv-test/expected
step header-backups sh -c 'ls /var/lib/vaultvol/header-backups/*.luks'
step fakes-saved sys_fakes_save
step close vaultvol close --all
GUEST

sys_boot --disk app --disk logs --files kernel="$kdebs" --export 512 --timeout 1800 <<'GUEST'
set -u
other=$(ls /vv/files/kernel/linux-image-*.deb | sed 's|.*/linux-image-\([^_]*\)_.*|\1|')
step opened-by-previous systemctl is-active vaultvol-open.service
step fakes-env sys_fakes_env
step data-readable sh -c 'cd /data && sha256sum -c /var/lib/vv-test/expected'
vv-sums >/var/lib/vv-test/before.sums
say "kept files: $(wc -l </var/lib/vv-test/before.sums) under /etc/vaultvol and /var/lib/vaultvol"
# Test economy: initramfs images with the modules this machine uses, not
# Debian's default "most", which takes minutes to pack under emulation. Set
# before the upgrade: the new package's update-initramfs trigger rebuilds
# the running kernel's image, and the second kernel's install below packs its own.
echo MODULES=dep >/etc/initramfs-tools/conf.d/vv-test-modules
t0=$(now_ms)
step upgrade sys_install_packages
metric upgrade_ms $(( $(now_ms) - t0 )) ms
step upgraded-version sh -c 'vaultvol --version | tee /dev/stderr | grep -q "0\.2\.0"'
step config-keys-backups-kept sh -c 'vv-sums | diff /var/lib/vv-test/before.sums -'
step unit-still-enabled systemctl is-enabled vaultvol-open.service
step volumes-stay-mounted sh -c 'findmnt /data/app && findmnt /data/logs'
step data-readable-after-upgrade sh -c 'cd /data && sha256sum -c /var/lib/vv-test/expected'
dkms status >/tmp/dkms.txt 2>&1; say_file /tmp/dkms.txt
step dkms-new-version grep -q "vaultvol-dm-quiesce/0.2.0.*$(uname -r).*installed" /tmp/dkms.txt
step dkms-old-version-gone sh -c '! grep -q "vaultvol-dm-quiesce/0.1.0" /tmp/dkms.txt'
step keys-check-after-upgrade vaultvol open --check --all
# A second kernel, as `apt install linux-image-X linux-headers-X` installs it.
t0=$(now_ms)
step install-kernel sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends -o Dpkg::Use-Pty=0 /vv/files/kernel/*.deb'
metric kernel_install_ms $(( $(now_ms) - t0 )) ms
dkms status >/tmp/dkms.txt 2>&1; say_file /tmp/dkms.txt
step dkms-built-for-new-kernel grep -q "vaultvol-dm-quiesce/0.2.0.*$other.*installed" /tmp/dkms.txt
step module-file-for-new-kernel sh -c "ls /lib/modules/$other/updates/dkms/dm-quiesce.ko*"
mkdir -p /tmp/k
cp "/boot/vmlinuz-$other" /tmp/k/vmlinuz && cp "/boot/initrd.img-$other" /tmp/k/initrd.img
step kernel-exported sys_export -C /tmp/k vmlinuz initrd.img
echo "$other" >/var/lib/vv-test/other-kernel
GUEST

host_step kernel-came-back test -s "$VM_WORK/boot2/export/vmlinuz" -a -s "$VM_WORK/boot2/export/initrd.img"

sys_boot --disk app --disk logs --kernel "$VM_WORK/boot2/export" <<'GUEST'
set -u
step booted-new-kernel test "$(uname -r)" = "$(cat /var/lib/vv-test/other-kernel)"
say "kernel $(uname -r)"
sys_step_running
step opened-at-boot systemctl is-active vaultvol-open.service
step data-readable sh -c 'cd /data && sha256sum -c /var/lib/vv-test/expected'
step module-loads modprobe dm-quiesce
step module-from-dkms sh -c 'modinfo -n dm-quiesce | tee /dev/stderr | grep -q "/updates/dkms/"'
step target-registered sh -c 'dmsetup targets | grep -q "^quiesce"'
modprobe -r dm-quiesce 2>/dev/null
# Removing the package: `apt purge`.
vv-sums >/var/lib/vv-test/before-purge.sums
step keys-backups-as-before-upgrade sh -c 'for f in before.sums before-purge.sums; do
	grep -E " /(etc/vaultvol/keys|var/lib/vaultvol/header-backups)/" /var/lib/vv-test/$f >/tmp/$f.kept; done
	test -s /tmp/before.sums.kept && diff /tmp/before.sums.kept /tmp/before-purge.sums.kept'
t0=$(now_ms)
step purge sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o Dpkg::Use-Pty=0 \
	vaultvol vaultvol-dm-quiesce-dkms'
metric purge_ms $(( $(now_ms) - t0 )) ms
step package-gone sh -c '! dpkg-query -W -f="\${Status}\n" vaultvol vaultvol-dm-quiesce-dkms 2>/dev/null | grep -q installed'
step program-gone sh -c '! test -e /usr/sbin/vaultvol'
step unit-gone sh -c '! test -e /lib/systemd/system/vaultvol-open.service'
step module-builds-gone sh -c '! ls /lib/modules/*/updates/dkms/dm-quiesce.ko* 2>/dev/null && ! dkms status | grep -q vaultvol'
step keys-backups-config-kept sh -c 'vv-sums | diff /var/lib/vv-test/before-purge.sums -'
step header-backups-usable sh -c 'for f in /var/lib/vaultvol/header-backups/*.luks; do
	cryptsetup isLuks "$f" || exit 1; done'
step volumes-stay-mounted sh -c 'findmnt /data/app && findmnt /data/logs'
GUEST
