# vm-kernels: 6.1 6.12
# Foundation scenario: create a LUKS2 volume in the guest, open it through
# vaultvol's libcryptsetup code path (agent/volume/crypt.c via vv-luks-open, not the
# cryptsetup CLI), make a filesystem, mount, write, close. On the host: the
# image holds a LUKS2 header and none of the plaintext.
vm_disk data 64M
vm_boot --disk data <<'GUEST'
head -c 32 /dev/urandom >/tmp/key
step format cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 --key-file /tmp/key /dev/vda
step open vv-luks-open /dev/vda data </tmp/key
step mapper-node test -b /dev/mapper/data
step mkfs mkfs.ext4 -q /dev/mapper/data
mkdir -p /mnt/data
step mount mount -t ext4 /dev/mapper/data /mnt/data
i=0
while [ $i -lt 2000 ]; do echo "VAULTVOL-PLAINTEXT-MARKER $i"; i=$((i + 1)); done >/mnt/data/file.txt
step write-read grep -q 'VAULTVOL-PLAINTEXT-MARKER 1999' /mnt/data/file.txt
step umount umount /mnt/data
step close vv-luks-open --close data
step closed sh -c '! test -e /dev/mapper/data'
# A wrong key must be refused by the same path.
head -c 32 /dev/urandom >/tmp/wrong
expect_fail wrong-key vv-luks-open /dev/vda data </tmp/wrong
GUEST
host_step luks2-header sh -c "head -c 6 '$VM_WORK/data.img' | od -c | grep -q 'L   U   K   S'"
host_step no-plaintext sh -c "! grep -a -q VAULTVOL-PLAINTEXT-MARKER '$VM_WORK/data.img'"
