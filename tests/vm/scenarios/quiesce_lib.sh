# vm-suite: no
# Guest-side helpers for the quiesce_* scenarios (not a scenario itself).
# A guest script loads them with:  . /vv/tests/vm/scenarios/quiesce_lib.sh
# The guest shell is busybox ash, whose applets (dd, sha256sum) win over the
# coreutils binaries; busybox dd cannot do aligned O_DIRECT reliably, so all
# exact I/O goes through python3 with page-aligned buffers.

# q_hash DEV [FIRST_SECTOR SECTORS]: sha256 of DEV (or of a range), read
# with O_DIRECT so no page cache can answer for the device. Exit non-zero
# and print nothing on any error.
q_hash() {
	python3 - "$@" <<'PY'
import hashlib, mmap, os, sys
dev = sys.argv[1]
fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
size = os.lseek(fd, 0, os.SEEK_END)
first = int(sys.argv[2]) * 512 if len(sys.argv) > 2 else 0
end = first + int(sys.argv[3]) * 512 if len(sys.argv) > 3 else size
assert 0 <= first <= end <= size, "range outside device"
buf = mmap.mmap(-1, 1 << 20)
h = hashlib.sha256()
off = first
while off < end:
    n = os.preadv(fd, [memoryview(buf)[:min(1 << 20, end - off)]], off)
    assert n > 0, "short read"
    h.update(memoryview(buf)[:n])
    off += n
print(h.hexdigest())
PY
}

# q_write_pattern DEV FIRST_SECTOR SECTORS SEED [direct|buffered]: write a
# deterministic pseudo-random pattern and fsync; print its sha256.
q_write_pattern() {
	python3 - "$@" <<'PY'
import hashlib, mmap, os, random, sys
dev, first, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
mode = sys.argv[5] if len(sys.argv) > 5 else "direct"
data = random.Random(seed).randbytes(n * 512)
flags = os.O_WRONLY | (os.O_DIRECT if mode == "direct" else 0)
fd = os.open(dev, flags)
if mode == "direct":
    buf = mmap.mmap(-1, (len(data) + 4095) // 4096 * 4096)
    buf[:len(data)] = data
    assert os.pwrite(fd, memoryview(buf)[:len(data)], first * 512) == len(data)
else:
    assert os.pwrite(fd, data, first * 512) == len(data)
os.fsync(fd)
os.close(fd)
print(hashlib.sha256(data).hexdigest())
PY
}

# q_pattern_hash SECTORS SEED: the sha256 q_write_pattern would print.
q_pattern_hash() {
	python3 -c "
import hashlib, random, sys
print(hashlib.sha256(random.Random($2).randbytes($1 * 512)).hexdigest())"
}

# q_create NAME DEV [OFFSET]: a quiesce mapping over all of DEV past OFFSET.
q_create() {
	_off=${3:-0}
	_sz=$(blockdev --getsz "$2") || return 1
	dmsetup create "$1" --table "0 $((_sz - _off)) quiesce $2 $_off" || return 1
	dmsetup mknodes "$1"
}

# q_info NAME: the target's INFO fields "<state> <epoch> <us> <expiries> <held>".
q_info() {
	dmsetup status "$1" | cut -d' ' -f4-
}

# q_field NAME N: one INFO field, 1 = state ... 5 = held.
q_field() {
	q_info "$1" | cut -d' ' -f"$2"
}

# q_expect NAME STATE EPOCH EXPIRIES HELD: INFO matches (duration not checked).
q_expect() {
	_want="$2 $3 $4 $5"
	_got=$(q_info "$1")
	# shellcheck disable=SC2086
	set -- $_got
	[ "$1 $2 $4 $5" = "$_want" ] && return 0
	echo "status is \"$_got\", want state/epoch/expiries/held \"$_want\""
	return 1
}

# q_wait_for FILE MS: wait until FILE exists, at most MS milliseconds.
q_wait_for() {
	_end=$(($(now_ms) + $2))
	while [ ! -e "$1" ]; do
		[ "$(now_ms)" -ge "$_end" ] && return 1
		sleep 0.05
	done
}

# q_no_kernel_complaints: nothing alarming in the kernel log.
q_no_kernel_complaints() {
	! dmesg | grep -E "BUG|WARNING|Oops|hung_task|blocked for more|general protection"
}
