# vm-kernels: 6.1
# Reopen after restore (issue 5, "Done when"). Boot 1 provisions three
# volumes the three ways vaultvol learns about them:
#   tok  LUKS2 whose vaultvol token names its key (keystore) and mount point
#   cfg  LUKS1 described in /etc/vaultvol/vaultvol.conf
#   ade  LUKS1 listed in ADE's azure_crypt_mount, passphrase on a vfat
#        "BEK VOLUME" disk (bek:LinuxPassPhraseFileName)
# plus an "OS disk" holding /etc/vaultvol, the ADE state and /var/lib/vaultvol
# (the initramfs root is fresh every boot, as a restored VM's would be).
# Boot 2 is a fresh guest with the same images attached in another order:
# `vaultvol open --all` opens and mounts all three (dm-quiesce stacked), the
# data reads back, and a second `open --all` changes nothing.
vm_disk os 32M
vm_disk tok 24M
vm_disk cfg 16M
vm_disk ade 16M
vm_disk bek 8M

vm_boot --disk os --disk tok --disk cfg --disk ade --disk bek <<'GUEST'
set -u
# The OS disk: where the config, ADE state and keystore of the VM live.
mkfs.ext4 -q -L vvos /dev/vda
mkdir -p /os && mount /dev/vda /os
mkdir -p /os/etc/vaultvol /os/var/lib/azure_disk_encryption_config /os/var/lib/vaultvol
chmod 700 /os/etc/vaultvol
for d in etc/vaultvol var/lib/azure_disk_encryption_config var/lib/vaultvol; do
	mkdir -p /$d && mount --bind /os/$d /$d
done
umask 077
fast="--pbkdf pbkdf2 --pbkdf-force-iterations 1000"
for v in tok cfg ade; do head -c 32 /dev/urandom | base64 | tr -d '\n' >/tmp/$v.key; done

# tok: LUKS2 with a vaultvol token naming a keystore secret and its mount.
step tok-format cryptsetup luksFormat -q --type luks2 $fast --key-file /tmp/tok.key /dev/vdb
step tok-keystore vaultvol key put keystore:tokvol --from-file /tmp/tok.key
cat >/tmp/tok.json <<'J'
{"type":"vaultvol","keyslots":["0"],"vv_version":1,"key":"keystore:tokvol","name":"tokvol","mount":"/data/tok","fs":"ext4","options":"noatime"}
J
step tok-token cryptsetup token import --json-file /tmp/tok.json /dev/vdb
# cfg: LUKS1, key in the keystore, described by the config file.
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
# ade: LUKS1 + azure_crypt_mount line + BEK VOLUME holding the passphrase.
step ade-format cryptsetup luksFormat -q --type luks1 $fast --key-file /tmp/ade.key /dev/vdd
echo "adevol /dev/disk/by-uuid/$(cryptsetup luksUUID /dev/vdd) None /data/ade ext4 False 0" \
	>/var/lib/azure_disk_encryption_config/azure_crypt_mount
chmod 600 /var/lib/azure_disk_encryption_config/azure_crypt_mount
step bek-mkfs mkfs.vfat -n "BEK VOLUME" /dev/vde
mkdir -p /mnt/bek && mount -t vfat /dev/vde /mnt/bek && cp /tmp/ade.key /mnt/bek/LinuxPassPhraseFileName && umount /mnt/bek

# vaultvol's own status sees the three before anything is open.
step status-closed sh -c 'vaultvol status | tee /dev/stderr | grep -c " closed " | grep -qx 3'

# Make filesystems and data through cryptsetup (the provisioning stand-in).
for v in tok:vdb cfg:vdc ade:vdd; do
	n=${v%%:*} dev=/dev/${v#*:}
	cryptsetup open --key-file /tmp/$n.key $dev p$n
	mkfs.ext4 -q /dev/mapper/p$n
	mkdir -p /mnt/p$n && mount /dev/mapper/p$n /mnt/p$n
	head -c 300000 /dev/urandom >/mnt/p$n/data.bin
	echo "volume $n" >/mnt/p$n/name.txt
	(cd /mnt/p$n && sha256sum data.bin name.txt) >/os/expected.$n
	umount /mnt/p$n && cryptsetup close p$n
done
step data-written sh -c 'test -s /os/expected.tok && test -s /os/expected.cfg && test -s /os/expected.ade'
rm -f /tmp/*.key
sync
umount /etc/vaultvol /var/lib/azure_disk_encryption_config /var/lib/vaultvol
umount /os
GUEST

# The "restored" VM: same images, another order, nothing carried over but disks.
vm_boot --disk bek --disk ade --disk os --disk cfg --disk tok <<'GUEST'
set -u
os=$(blkid -L vvos)
step os-disk-found test -n "$os"
mkdir -p /os && mount "$os" /os
for d in etc/vaultvol var/lib/azure_disk_encryption_config var/lib/vaultvol; do
	mkdir -p /$d && mount --bind /os/$d /$d
done
load_quiesce
t0=$(now_ms)
step open-all vaultvol open --all
metric restore_open_all_ms $(( $(now_ms) - t0 )) ms
for n in tok cfg ade; do
	step "data-$n" sh -c "cd /data/$n && sha256sum -c /os/expected.$n"
done
step name-tok grep -qx "volume tok" /data/tok/name.txt
step name-ade grep -qx "volume ade" /data/ade/name.txt
# Mount options from the token reached the mount.
step tok-noatime sh -c 'findmnt -n -o OPTIONS /data/tok | grep -q noatime'
# dm-quiesce sits between the crypt mapping and each mounted filesystem.
for v in tokvol cfgvol adevol; do
	step "quiesce-$v" sh -c "dmsetup table $v | grep -q ' quiesce ' && dmsetup table $v-vvcrypt | grep -q ' crypt '"
done
step status-mounted sh -c 'vaultvol status | tee /dev/stderr | grep -c " mounted " | grep -qx 3'
step state-file sh -c 'test "$(stat -c %a /var/lib/vaultvol/volumes.json)" = 600'
# The passphrase (decoded from the keystore) is nowhere in the state file.
step state-no-key sh -c 'k=$(base64 -d /etc/vaultvol/keys/tokvol/$(cat /etc/vaultvol/keys/tokvol/latest)) &&
	test -n "$k" && ! grep -qF "$k" /var/lib/vaultvol/volumes.json'
step key-version-recorded grep -q 'keystore:tokvol/' /var/lib/vaultvol/volumes.json

# Second run: nothing changes.
dmsetup ls | sort >/tmp/dm.before
findmnt -rn -o SOURCE,TARGET,OPTIONS | sort >/tmp/mnt.before
step open-again sh -c 'vaultvol open --all >/tmp/again.out 2>&1; rc=$?; cat /tmp/again.out; test $rc -eq 0'
step again-unchanged sh -c 'test "$(grep -c "already mounted on" /tmp/again.out)" -eq 3'
dmsetup ls | sort >/tmp/dm.after
findmnt -rn -o SOURCE,TARGET,OPTIONS | sort >/tmp/mnt.after
step again-same-dm cmp /tmp/dm.before /tmp/dm.after
step again-same-mounts cmp /tmp/mnt.before /tmp/mnt.after

# Half-done: open but not mounted -> mounted by the next open.
umount /data/cfg
step half-open-completed sh -c 'vaultvol open cfgvol | grep -q "cfgvol: mounted on /data/cfg"'
step half-data sh -c "cd /data/cfg && sha256sum -c /os/expected.cfg"
# close, then reopen one volume by name.
step close-one vaultvol close tokvol
step closed-gone sh -c '! dmsetup info tokvol >/dev/null 2>&1 && ! dmsetup info tokvol-vvcrypt >/dev/null 2>&1'
step reopen-one vaultvol open tokvol
step reopen-data sh -c "cd /data/tok && sha256sum -c /os/expected.tok"
step json-status sh -c 'vaultvol status --json | python3 -c "import json,sys; v=json.load(sys.stdin)[\"volumes\"]; assert sorted(x[\"state\"] for x in v)==[\"mounted\"]*3, v"'
step close-all vaultvol close --all
step all-closed sh -c 'test -z "$(dmsetup ls | grep -v "No devices")"'
umount /etc/vaultvol /var/lib/azure_disk_encryption_config /var/lib/vaultvol
umount /os
GUEST
# The data never reached the disks in the clear.
host_step no-plaintext sh -c "! grep -a -q 'volume tok' '$VM_WORK/tok.img' && ! grep -a -q 'volume ade' '$VM_WORK/ade.img'"
