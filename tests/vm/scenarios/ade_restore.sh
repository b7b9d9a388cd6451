# vm-kernels: 6.1
# A VM encrypted by Azure Disk Encryption, restored from backup (issue 13).
# Boot 1 lays the VM out as ADE's own source does (VMEncryption/main:
# CryptMountConfigUtil, ResourceDiskUtil, OnlineEncryptionHandler, Common):
#   BEK VOLUME  vfat, LinuxPassPhraseFileName + one copy per data LUN
#               (_1_<lun>): base64 of 127 random bytes, no newline
#   fstab       LABEL=BEK\040VOLUME /mnt/azure_bek_disk/ ... (mounted rw before
#               vaultvol runs), /dev/mapper/<uuid4> per data disk, and
#               /dev/mapper/resourceencrypt /mnt/resource
#   crypttab    "<uuid4> <dev> /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_<lun>
#               luks,nofail" with the variants: LUKS2 by LUN (d0), LUKS1 by LUN
#               (d1), LUKS2 on a partition lun2-part1 with the older
#               /azure_bek_disk/ key prefix (d2), a LUKS2 volume mid online
#               encryption named by /dev/disk/by-uuid (d4), a LUKS2 volume with
#               ADE's detached header azureluksheader<mapper> (d5, header=),
#               and the resource disk line (resourceencrypt
#               /dev/disk/azure/resource-part1)
#   und         a LUKS2 disk at LUN 4 nothing describes
# Boot 2, the restored VM: a fresh unencrypted resource disk; `open --all`
# opens and mounts every data volume, re-encrypts and mounts the resource
# disk, lists und; a second run changes nothing. Host: und and BEK VOLUME
# byte-identical. Boot 3: LUNs 0 and 1 exchanged: each volume opens from its
# own disk (the UUID recorded in volumes.json decides), the warning names
# both, exit 1. Then the BEK VOLUME gone: a disk remedy, no vault wording, no
# 300 s of retries.
vm_disk os 32M
vm_disk bek 8M
vm_disk d0 24M
vm_disk d1 16M
vm_disk d2 32M
vm_disk d4 40M
vm_disk und 24M
vm_disk res 48M
vm_disk d5 8M
DISKS="--disk os --disk bek --disk d0 --disk d1 --disk d2 --disk d4 --disk und --disk res --disk d5"

# Links the Azure udev rules make: data LUNs and the resource disk.
# (os=vda bek=vdb d0=vdc d1=vdd d2=vde d4=vdf und=vdg res=vdh d5=vdi)
cat >"$VM_WORK/links.sh" <<'SH'
azlinks() {	# LUN0-DEV LUN1-DEV
	mkdir -p /dev/disk/azure/scsi1
	ln -sf ../../../$1 /dev/disk/azure/scsi1/lun0
	ln -sf ../../../$2 /dev/disk/azure/scsi1/lun1
	ln -sf ../../../vde /dev/disk/azure/scsi1/lun2
	ln -sf ../../../vde1 /dev/disk/azure/scsi1/lun2-part1
	ln -sf ../../../vdf /dev/disk/azure/scsi1/lun3
	ln -sf ../../../vdg /dev/disk/azure/scsi1/lun4
	ln -sf ../../../vdi /dev/disk/azure/scsi1/lun5
	ln -sf ../../vdh /dev/disk/azure/resource
	[ -b /dev/vdh1 ] && ln -sf ../../vdh1 /dev/disk/azure/resource-part1
	return 0
}
# The OS disk's state where the VM has it.
os_mount() {
	mkdir -p /os && mount "$(blkid -L vvos)" /os || return 1
	for d in etc/vaultvol var/lib/azure_disk_encryption_config var/lib/vaultvol; do
		mkdir -p /$d && mount --bind /os/$d /$d
	done
	for f in crypttab fstab; do
		touch /etc/$f && mount --bind /os/etc/$f /etc/$f
	done
}
os_umount() {
	umount /etc/crypttab /etc/fstab /etc/vaultvol /var/lib/azure_disk_encryption_config \
		/var/lib/vaultvol
	umount /os
}
SH
export LINKS_SH=$(base64 -w0 "$VM_WORK/links.sh")
VM_GUEST_ENV="LINKS_SH"

vm_boot $DISKS <<'GUEST'
set -u
echo "$LINKS_SH" | base64 -d >/tmp/links.sh && . /tmp/links.sh
umask 077
fast="--pbkdf pbkdf2 --pbkdf-force-iterations 1000"
mkfs.ext4 -q -L vvos /dev/vda
mkdir -p /os && mount /dev/vda /os
mkdir -p /os/etc /os/etc/vaultvol /os/var/lib/azure_disk_encryption_config /os/var/lib/vaultvol
chmod 700 /os/etc/vaultvol
# ADE's passphrase: base64 of 127 random bytes, no newline; one copy per LUN.
head -c 127 /dev/urandom | base64 | tr -d '\n' >/tmp/pass
step pass-length sh -c 'test "$(wc -c </tmp/pass)" -eq 172'
step bek-mkfs mkfs.vfat -n "BEK VOLUME" /dev/vdb
mkdir -p /mnt/w && mount -t vfat /dev/vdb /mnt/w
for f in LinuxPassPhraseFileName LinuxPassPhraseFileName_1_0 LinuxPassPhraseFileName_1_1 \
	 LinuxPassPhraseFileName_1_2 LinuxPassPhraseFileName_1_3 LinuxPassPhraseFileName_1_5; do
	cp /tmp/pass /mnt/w/$f
done
umount /mnt/w
# A partition on d2 (LUN 2): ADE encrypts lun2-part1.
step d2-partition sh -c 'echo "2048,,L" | sfdisk -q /dev/vde'
azlinks vdc vdd
for v in d0:vdc:luks2 d1:vdd:luks1 d2:vde1:luks2 und:vdg:luks2; do
	n=${v%%:*} rest=${v#*:}; dev=/dev/${rest%%:*} type=${rest#*:}
	step "$n-format" cryptsetup luksFormat -q --type $type $fast --key-file /tmp/pass $dev
done
# d4: ADE's online encryption of a disk holding a filesystem: the filesystem
# is smaller than the disk by the header room, then reencrypt --init-only,
# then part of the encryption done in the background.
step d4-mkfs mkfs.ext4 -q /dev/vdf 24M
mkdir -p /mnt/p && mount /dev/vdf /mnt/p && head -c 2000000 /dev/urandom >/mnt/p/data.bin &&
	echo "volume d4" >/mnt/p/name.txt && (cd /mnt/p && sha256sum data.bin name.txt) >/os/expected.d4
umount /mnt/p
# Mapper names are uuid4, as ADE names them.
for n in d0 d1 d2 d4 d5; do cat /proc/sys/kernel/random/uuid >/os/mapper.$n; done
# d5: the LUKS header kept apart from the disk, where ADE keeps it.
H5=/os/var/lib/azure_disk_encryption_config/azureluksheader$(cat /os/mapper.d5)
step d5-format sh -c "truncate -s 16M $H5 && cryptsetup luksFormat -q --type luks2 $fast \
	--key-file /tmp/pass --header $H5 /dev/vdi"
chmod 600 $H5
# Data through the mappings (the "application" on the original VM).
for v in d0:vdc d1:vdd d2:vde1 d5:vdi; do
	n=${v%%:*} dev=/dev/${v#*:} hdr=
	[ $n = d5 ] && hdr="--header $H5"
	cryptsetup open $hdr --key-file /tmp/pass $dev p$n && mkfs.ext4 -q /dev/mapper/p$n &&
	mount /dev/mapper/p$n /mnt/p && head -c 1000000 /dev/urandom >/mnt/p/data.bin &&
	echo "volume $n" >/mnt/p/name.txt && (cd /mnt/p && sha256sum data.bin name.txt) >/os/expected.$n
	umount /mnt/p; cryptsetup close p$n
done
step d5-no-header-on-disk sh -c '! cryptsetup isLuks /dev/vdi'
step d4-init cryptsetup reencrypt --encrypt --init-only --reduce-device-size 32768S --type luks2 \
	$fast -q --key-file /tmp/pass /dev/vdf
step d4-half sh -c 'vv-reencrypt-step /dev/vdf 40 </tmp/pass'
cryptsetup luksDump /dev/vdf | sed -n '/Data segments/,/Keyslots/p'
step d4-in-progress sh -c 'cryptsetup luksDump /dev/vdf | grep -q "online-reencrypt"'
U4=$(cryptsetup luksUUID /dev/vdf)
M0=$(cat /os/mapper.d0) M1=$(cat /os/mapper.d1) M2=$(cat /os/mapper.d2) M4=$(cat /os/mapper.d4)
M5=$(cat /os/mapper.d5)
# crypttab as CryptMountConfigUtil.add_crypt_item_to_crypttab writes it (each
# line preceded by an empty one), plus ResourceDiskUtil's resource line.
{
	printf '\n%s %s %s luks,nofail\n' $M0 /dev/disk/azure/scsi1/lun0 /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_0
	printf '\n%s %s %s luks,nofail\n' $M1 /dev/disk/azure/scsi1/lun1 /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_1
	printf '\n%s %s %s luks,nofail\n' $M2 /dev/disk/azure/scsi1/lun2-part1 /azure_bek_disk/LinuxPassPhraseFileName_1_2
	printf '\n%s %s %s luks,nofail\n' $M4 /dev/disk/by-uuid/$U4 /mnt/azure_bek_disk/LinuxPassPhraseFileName_1_3
	printf '\n%s %s %s luks,nofail,header=%s\n' $M5 /dev/disk/azure/scsi1/lun5 \
		/mnt/azure_bek_disk/LinuxPassPhraseFileName_1_5 /var/lib/azure_disk_encryption_config/azureluksheader$M5
	printf '\n%s %s %s luks,nofail\n' resourceencrypt /dev/disk/azure/resource-part1 /mnt/azure_bek_disk/LinuxPassPhraseFileName
} >/os/etc/crypttab
{
	echo "LABEL=vvos / ext4 defaults 0 1"
	printf 'LABEL=BEK\\040VOLUME /mnt/azure_bek_disk/ auto defaults,discard,nofail 0 0\n'
	for n in 0 1 2 4 5; do
		eval "m=\$M$n"
		printf '\n#This line was added by Azure Disk Encryption\n/dev/mapper/%s /datadrive%s auto defaults,nofail,discard 0 0' $m $n
	done
	printf '\n/dev/mapper/resourceencrypt /mnt/resource auto defaults,discard,nofail 0 0\n'
} >/os/etc/fstab
chmod 644 /os/etc/crypttab /os/etc/fstab
cat /os/etc/crypttab /os/etc/fstab
rm -f /tmp/pass
sync
umount /os
GUEST

# The platform's BEK VOLUME and the disk nobody describes must come back unchanged.
(cd "$VM_WORK" && sha256sum bek.img und.img) >"$VM_WORK/unchanged.sha"

vm_boot $DISKS <<'GUEST'
set -u
echo "$LINKS_SH" | base64 -d >/tmp/links.sh && . /tmp/links.sh
# The platform's fresh resource disk: one partition, a filesystem, its notice.
echo "2048,,L" | sfdisk -q /dev/vdh
mkfs.ext4 -q /dev/vdh1 && mkdir -p /mnt/r && mount /dev/vdh1 /mnt/r &&
	echo "WARNING: THIS IS A TEMPORARY DISK." >/mnt/r/DATALOSS_WARNING_README.txt && umount /mnt/r
azlinks vdc vdd
step os-mounted os_mount
# fstab mounts the BEK VOLUME read-write before vaultvol-open.service runs.
mkdir -p /mnt/azure_bek_disk
step bek-fstab-mount mount /mnt/azure_bek_disk/
findmnt /mnt/azure_bek_disk
# dm-quiesce stacked where built (the reencrypting and resource volumes too).
load_quiesce
vaultvol open --all --wait 300 >/tmp/open.out 2>&1
echo "exit $?" >>/tmp/open.out
cat /tmp/open.out
step open-exit-0 grep -qx "exit 0" /tmp/open.out
for n in 0 1 2 4 5; do
	step "d$n-data" sh -c "cd /datadrive$n && sha256sum -c /os/expected.d$n"
	step "d$n-mounted" sh -c "findmnt -n -o SOURCE /datadrive$n | grep -q '^/dev/mapper/$(cat /os/mapper.d$n)\$'"
done
dmsetup ls | sort
# dm-quiesce over the crypt mapping, the reencrypting volume's too.
step d4-quiesced sh -c "dmsetup table $(cat /os/mapper.d4) | grep -q ' quiesce ' &&
	dmsetup table $(cat /os/mapper.d4)-vvcrypt | grep -q ' crypt '"
step resource-luks cryptsetup isLuks /dev/vdh1
step resource-mounted sh -c 'findmnt -n -o SOURCE,FSTYPE /mnt/resource | grep -q "^/dev/mapper/resourceencrypt ext4"'
step resource-writable sh -c 'echo scratch >/mnt/resource/t && rm /mnt/resource/t'
step resource-nothing-to-keep grep -q "resource disk /dev/vdh1 was new and unencrypted.*held nothing to keep" /tmp/open.out
step bek-still-mounted-rw sh -c 'findmnt -n -o OPTIONS /mnt/azure_bek_disk | grep -q "^rw"'
step no-run-mount sh -c '! grep -q /run/vaultvol/ /proc/mounts'
step summary-undescribed grep -q "^open: .* 0 failed, 1 undescribed" /tmp/open.out
step open-reencrypt-pct grep -q "encryption in progress, [1-9][0-9]*%" /tmp/open.out
vaultvol status >/tmp/status.out 2>&1
cat /tmp/status.out
UND=$(cryptsetup luksUUID /dev/vdg)
step status-undescribed grep -q "^luks-$UND .* undescribed " /tmp/status.out
step status-undescribed-how grep -q "undescribed: LUKS2 volume on /dev/vdg (uuid $UND, lun 4).*match = uuid:$UND.*vaultvol adopt /dev/vdg" /tmp/status.out
step status-progress grep -q "^$(cat /os/mapper.d4): encryption in progress, [1-9][0-9]*%" /tmp/status.out
step und-not-open sh -c '! dmsetup ls | grep -q luks-'
# Second run: nothing changes.
dmsetup ls | sort >/tmp/dm.before
findmnt -rn -o SOURCE,TARGET,OPTIONS | sort >/tmp/mnt.before
vaultvol open --all >/tmp/again.out 2>&1
echo "exit $?" >>/tmp/again.out
cat /tmp/again.out
step again-exit-0 grep -qx "exit 0" /tmp/again.out
step again-unchanged sh -c 'test "$(grep -c "already mounted on" /tmp/again.out)" -eq 6'
dmsetup ls | sort >/tmp/dm.after
findmnt -rn -o SOURCE,TARGET,OPTIONS | sort >/tmp/mnt.after
step again-same-dm cmp /tmp/dm.before /tmp/dm.after
step again-same-mounts cmp /tmp/mnt.before /tmp/mnt.after
step uuid-recorded sh -c "grep -q '\"opened_uuid\": *\"$(cryptsetup luksUUID /dev/vdc)\"' /var/lib/vaultvol/volumes.json"
step close-all vaultvol close --all
umount /mnt/azure_bek_disk
os_umount
GUEST
host_step unchanged-images sh -c "cd '$VM_WORK' && sha256sum -c unchanged.sha"

vm_boot $DISKS <<'GUEST'
set -u
echo "$LINKS_SH" | base64 -d >/tmp/links.sh && . /tmp/links.sh
# LUN 0 and LUN 1 exchanged (a restore attached them the other way round).
azlinks vdd vdc
step os-mounted os_mount
mkdir -p /mnt/azure_bek_disk && mount /mnt/azure_bek_disk/
load_quiesce
M0=$(cat /os/mapper.d0) M1=$(cat /os/mapper.d1)
vaultvol open --all >/tmp/swap.out 2>&1
echo "exit $?" >>/tmp/swap.out
cat /tmp/swap.out
step swap-exit-1 grep -qx "exit 1" /tmp/swap.out
# Each volume on its own disk and mount point: never the other's data.
step swap-d0-data sh -c "cd /datadrive0 && sha256sum -c /os/expected.d0"
step swap-d1-data sh -c "cd /datadrive1 && sha256sum -c /os/expected.d1"
step swap-d0-on-vdc sh -c "cryptsetup status $M0-vvcrypt 2>/dev/null | grep -q 'device: *\/dev\/vdc' || cryptsetup status $M0 | grep -q 'device: *\/dev\/vdc'"
step swap-warning-names-both grep -q "^$M0: warning: lun:0 (/dev/vdd) now holds .* (volume $M1), not $M0" /tmp/swap.out
step swap-warning-other grep -q "^$M1: warning: lun:1 (/dev/vdc) now holds .* (volume $M0), not $M1" /tmp/swap.out
step swap-says-so grep -q "found on another disk than described" /tmp/swap.out
step swap-others-fine sh -c "cd /datadrive2 && sha256sum -c /os/expected.d2"
step close-all vaultvol close --all
umount /mnt/azure_bek_disk
# The BEK VOLUME gone: a disk matter, said at once.
fatlabel /dev/vdb "NOT BEK"
t0=$(now_ms)
vaultvol open --all --wait 300 >/tmp/nobek.out 2>&1
echo "exit $?" >>/tmp/nobek.out
el=$(( $(now_ms) - t0 ))
cat /tmp/nobek.out
metric ade_no_bek_ms $el ms
step nobek-exit-1 grep -qx "exit 1" /tmp/nobek.out
step nobek-no-retries test $el -lt 60000
step nobek-names-it grep -q "no vfat filesystem labelled 'BEK VOLUME'" /tmp/nobek.out
step nobek-disk-remedy grep -q "remedy: attach the BEK VOLUME disk" /tmp/nobek.out
step nobek-no-vault-wording sh -c "! sed 's/vaultvol//g' /tmp/nobek.out | grep -qi -e vault -e network -e soft-delete"
os_umount
GUEST
