# vm-kernels: 6.1
# Provisioning refuses a device that holds data, without changing a byte
# (issue 4, "Done when"): ext4, xfs, a GPT partition table, LUKS2 and a
# Windows BitLocker volume, each hashed on the host before and after.
# Nothing is stored in the keystore for a refused device. A device that is
# in use (mounted) is refused even with --force; --force on an idle ext4
# disk erases it and leaves exactly a LUKS2 volume.
vm_disk ext4 64M
vm_disk xfs 320M
vm_disk gpt 64M
vm_disk luks 64M
vm_disk blank 64M
vm_disk forced 64M
mkfs.ext4 -q -F "$VM_WORK/ext4.img" >/dev/null 2>&1
mkfs.xfs -q -f "$VM_WORK/xfs.img" >/dev/null 2>&1
echo 'label: gpt' | sfdisk -q "$VM_WORK/gpt.img" >/dev/null 2>&1
printf pw | cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 "$VM_WORK/luks.img" - >/dev/null 2>&1
tar -C "$VM_WORK" -xJf "$VV_SHARED/testdata/bitlocker/windows-images.tar.xz" \
	bitlk-aes-xts-128.img && mv "$VM_WORK/bitlk-aes-xts-128.img" "$VM_WORK/bitlk.img"
mkfs.ext4 -q -F "$VM_WORK/forced.img" >/dev/null 2>&1
(cd "$VM_WORK" && sha256sum ext4.img xfs.img gpt.img luks.img bitlk.img) >"$VM_WORK/before.sha"
host_step images-made test "$(wc -l <"$VM_WORK/before.sha")" -eq 5

vm_boot --disk ext4 --disk xfs --disk gpt --disk luks --disk bitlk --disk blank --disk forced <<'GUEST'
set -u
pv() { vaultvol --state-dir /tmp/state provision "$@" --recovery secret \
	--recovery-iterations 4 --recovery-memory 32768; }
i=0
for d in "vda:filesystem ext4" "vdb:filesystem xfs" "vdc:partition table gpt" \
	 "vdd:crypto_LUKS (crypto)" "vde:BitLocker (crypto)"; do
	dev=/dev/${d%%:*} what=${d#*:}
	vaultvol --state-dir /tmp/state provision "$dev" --secret keystore:r$i \
		--mount /r$i >/tmp/out.$i 2>&1
	rc=$?
	cat /tmp/out.$i
	step "refuse-$i" sh -c "test $rc -eq 1 && grep -q 'holds $what; refusing' /tmp/out.$i"
	i=$((i + 1))
done
step nothing-stored sh -c '! ls /etc/vaultvol/keys/r0 /etc/vaultvol/keys/r1 /etc/vaultvol/keys/r2 /etc/vaultvol/keys/r3 /etc/vaultvol/keys/r4 2>/dev/null'
step no-header-backup sh -c '! ls /tmp/state/header-backups/*.luks 2>/dev/null'

# in use: provisioned and mounted, then refused even with --force
step provision-blank pv /dev/vdf --secret keystore:blank --mount /blank
step blank-mounted sh -c 'findmnt -n /blank'
expect_fail refuse-mounted pv /dev/vdf --secret keystore:blank2 --mount /blank2 --force
step blank-still-mounted sh -c 'findmnt -n /blank && vv-keycheck --token /dev/vdf'

# --force on idle data: erased, exactly LUKS2 afterwards
step force-ext4 pv /dev/vdg --secret keystore:forced --mount /forced --force
step forced-only-luks sh -c 'test "$(blkid -p -o value -s TYPE /dev/vdg)" = crypto_LUKS'
step forced-mounted sh -c 'findmnt -n /forced'
umount /blank /forced
vaultvol close blank >/dev/null 2>&1 || cryptsetup close blank
vaultvol close forced >/dev/null 2>&1 || cryptsetup close forced
GUEST
host_step bytes-unchanged sh -c "cd '$VM_WORK' && sha256sum -c before.sha"
