# vm-kernels: 6.1 6.12
# dm-quiesce as a pass-through: random writes of mixed sizes (buffered and
# O_DIRECT) through the target land byte for byte on the underlying device
# (sha256 of the whole device, read back both ways and from the host image),
# an <offset> is honoured, flushes reach the lower device, queue limits are
# the lower device's, and the TABLE status is the table line.
vm_disk data 64M
vm_disk out 1M
vm_boot --disk data --disk out <<'GUEST'
. /vv/tests/vm/scenarios/quiesce_lib.sh
step insmod load_quiesce
sz=$(blockdev --getsz /dev/vda)
step create q_create q /dev/vda
step node test -b /dev/mapper/q
step status-initial sh -c '[ "$(dmsetup status q)" = "0 '"$sz"' quiesce thawed 0 0 0 0" ]'
step table-line sh -c "dmsetup table q | grep -Eq '^0 $sz quiesce [0-9]+:[0-9]+ 0\$'"

# Random writes: sizes from one sector to 1 MiB, half of them O_DIRECT,
# fsync now and then; prints the sha256 of what the device must now hold.
cat >/tmp/randw.py <<'PY'
import hashlib, mmap, os, random, sys
dev, size = sys.argv[1], int(sys.argv[2])
rnd = random.Random(20240607)
img = bytearray(size)		# a fresh sparse image reads as zeros
fd = os.open(dev, os.O_RDWR)
fdd = os.open(dev, os.O_RDWR | os.O_DIRECT)
buf = mmap.mmap(-1, 1 << 20)	# page-aligned, as O_DIRECT wants
for i in range(600):
    if rnd.random() < 0.5:
        n = rnd.choice([512, 1024, 4096, 65536, 1 << 20])
    else:
        n = rnd.randrange(1, 2049) * 512
    off = rnd.randrange(0, (size - n) // 512 + 1) * 512
    data = rnd.randbytes(n)
    img[off:off + n] = data
    if rnd.random() < 0.5:
        buf[:n] = data
        assert os.pwrite(fdd, memoryview(buf)[:n], off) == n
    else:
        assert os.pwrite(fd, data, off) == n
    if i % 50 == 49:
        os.fsync(fd)
os.fsync(fd)
os.close(fd)
os.close(fdd)
print(hashlib.sha256(img).hexdigest())
PY
step random-writes sh -c "python3 /tmp/randw.py /dev/mapper/q $((sz * 512)) >/tmp/want"
want=$(cat /tmp/want)
echo "expected sha256 $want"
step want-nonempty test -n "$want"
step hash-through-target test "$(q_hash /dev/mapper/q)" = "$want"
step hash-underlying test "$(q_hash /dev/vda)" = "$want"

# Offset: a second mapping 2048 sectors in reads and writes vda there.
step create-offset q_create q2 /dev/vda 2048
step offset-size test "$(blockdev --getsz /dev/mapper/q2)" -eq $((sz - 2048))
h1=$(q_hash /dev/mapper/q2 0 8192)
step offset-read test -n "$h1" -a "$h1" = "$(q_hash /dev/vda 2048 8192)"
hw=$(q_write_pattern /dev/mapper/q2 24 8 77 direct)
step offset-write test -n "$hw" -a "$hw" = "$(q_hash /dev/vda $((2048 + 24)) 8)"
step remove-offset dmsetup remove q2

# Flushes: an fsync through the target is a flush on vda (field 16 of
# /sys/block/vda/stat counts completed flush requests).
flushes() { awk '{print $16}' /sys/block/vda/stat; }
f0=$(flushes)
step flush-counter-present test -n "$f0"
step fsync-through q_write_pattern /dev/mapper/q 0 8 5 buffered
f1=$(flushes)
echo "vda flushes before $f0 after $f1"
step flush-reaches-disk test "$f1" -gt "$f0"

# Limits are the lower device's (dm stacks them via iterate_devices).
minor=$(dmsetup info -c --noheadings -o minor q | tr -d ' ')
dm=/sys/block/dm-$minor/queue
same_limit() {
	echo "$1: dm $(cat "$dm/$1") vda $(cat "/sys/block/vda/queue/$1")"
	[ "$(cat "$dm/$1")" = "$(cat "/sys/block/vda/queue/$1")" ]
}
for l in logical_block_size physical_block_size max_sectors_kb max_hw_sectors_kb \
	 discard_max_bytes discard_granularity write_cache; do
	step "limit-$l" same_limit "$l"
done
if [ "$(cat /sys/block/vda/queue/discard_max_bytes)" -gt 0 ]; then
	step discard-through python3 -c "
import fcntl, os, struct
fd = os.open('/dev/mapper/q', os.O_WRONLY)
fcntl.ioctl(fd, 0x1277, struct.pack('QQ', 1 << 20, 1 << 20))"
fi
step remove dmsetup remove q
# For the host: the hash of the device as the guest leaves it, on disk "out".
final=$(q_hash /dev/vda)
step final-hash test -n "$final"
step hand-hash-to-host sh -c "echo $final >/dev/vdb && sync"
step rmmod rmmod dm_quiesce
step no-kernel-complaints q_no_kernel_complaints
GUEST
# What the guest wrote through the target is in the host's image file.
host_step image-matches-guest sh -c "[ \"\$(sha256sum <'$VM_WORK/data.img' | cut -d' ' -f1)\" = \"\$(head -c 64 '$VM_WORK/out.img')\" ]"
