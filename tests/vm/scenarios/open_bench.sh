# vm-suite: no
# Bench (bench/rows/restore.sh, bench/rows/memory_open.sh): restore-to-mounted
# for 8, 32 and 64 LUKS2 volumes in one guest (BENCH_SIZES), each volume a
# GPT partition of one disk with its own BEK secret in the (fake) Key Vault.
#   vaultvol  `vaultvol open VOL...`: discovery of every block device, each
#             token, an IMDS token, one secret read per volume, unlock of the
#             PBKDF2-minimum BEK keyslot, mount; 8 volumes at a time (its
#             default --jobs).
#   floor     vv-floor 8: libcryptsetup activation by the volume key and
#             mount(2), 8 threads taking volumes from one list: the same work
#             with the same parallelism minus what vaultvol adds (no KDF, no
#             network, no discovery).
#   keyslot floor  vv-floor --keyslot 8: the same, but the volume key taken
#             from the BEK keyslot first (crypt_volume_key_get: PBKDF2 at
#             its minimum and the anti-forensic merge), as vaultvol derives
#             it: vaultvol over this is what vaultvol itself adds.
#   ADE-style (8 volumes only) sequential `cryptsetup open` of a keyslot
#             with cryptsetup's default argon2id cost (what luksAddKey
#             makes), then mount: ADE_REPS rounds (default BENCH_REPS).
# BENCH_REPS rounds (default 5); in each, every size runs vaultvol and the
# floors back to back, the order reversed every other round, everything
# closed and caches dropped before each. Metrics, per round r:
# restoreN_{vaultvol,floor,keyslot}_ms_rR, restore8_{ade,vaultvol_ade}_ms_rR (the
# vaultvol run of the same round, for the ADE pair).
# Memory (BENCH_MEM_REPS rounds, default 3, outside the timed runs: the
# probe's sampling would disturb them): peak RSS and PSS from
# /proc/PID/smaps_rollup (vv-memprobe) of `vaultvol version` (idle),
# `vaultvol open` of 8 volumes, `vaultvol open --all` (all 64), and of the
# floor of a Python agent (python3 importing json, ssl, urllib.request,
# subprocess, base64, hashlib). Metrics mem_{version,open8,open64,python}_
# {rss,pss}_kib_rR. Keys are made on the host.
: "${BENCH_REPS:=5}" "${ADE_REPS:=$BENCH_REPS}" "${BENCH_MEM_REPS:=3}" "${BENCH_SIZES:=8 32 64}"
export BENCH_REPS ADE_REPS BENCH_MEM_REPS BENCH_SIZES
n=64
vm_disk many $((n * 12 + 8))M
vm_bek_preload $n
vm_test_pki
VM_GUEST_ENV="BENCH_REPS ADE_REPS BENCH_MEM_REPS BENCH_SIZES BEKS PRELOAD VV_CA_PEM VV_SERVER_PEM VV_SERVER_KEY"

vm_boot --disk many --mem 1536 --timeout 5400 <<'GUEST'
set -u
. /vv/tests/vm/scenarios/open_lib.sh
n=64
printf '%s' "$PRELOAD" | base64 -d >/tmp/preload.json
step fakes-start open_fakes_start --preload /tmp/preload.json
umask 077
mkdir -p /etc/vaultvol /tmp/k /bench
cat >/etc/vaultvol/vaultvol.conf <<C
[vault]
url = $FAKE_KV_URL
ca_file = $FAKE_CA
C
# 64 GPT partitions of 12 MiB; LUKS2 headers with a 1 MiB keyslot area
# (room for the BEK slot and an argon2id one) leave ~11 MiB for ext4.
step partition sh -c "{ echo label: gpt; for i in \$(seq 1 $n); do echo ',12M'; done; } |
	sfdisk -q /dev/vda && test -b /dev/vda$n"
i=0
for k in $BEKS; do i=$((i + 1)); printf '%s' "$k" >/tmp/k/bek$i; done
# mkvol I: one volume, as provision would leave it (slot 0 the BEK at PBKDF2
# minimum, a vaultvol token naming its secret, ext4 inside); the first 8
# also get an ADE-style argon2id slot. Two at a time (the guest's 2 CPUs).
mkvol() {
	d=/dev/vda$1
	head -c 64 /dev/urandom >/tmp/k/vk$1
	cryptsetup luksFormat -q --type luks2 --key-size 512 --volume-key-file /tmp/k/vk$1 \
		--luks2-keyslots-size 1m --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--key-file /tmp/k/bek$1 $d || return 1
	if [ $1 -le 8 ]; then
		head -c 32 /dev/urandom | base64 | tr -d '\n' >/tmp/k/ade$1
		cryptsetup luksAddKey -q --key-file /tmp/k/bek$1 $d /tmp/k/ade$1 || return 1
	fi
	printf '{"type":"vaultvol","keyslots":["0"],"vv_version":1,"key":"bek%d","name":"vol%d","mount":"/bench/vol%d","fs":"ext4"}' \
		$1 $1 $1 >/tmp/k/tok$1.json
	cryptsetup token import --json-file /tmp/k/tok$1.json $d || return 1
	cryptsetup open --volume-key-file /tmp/k/vk$1 --type luks2 $d prep$1 &&
		mkfs.ext4 -q /dev/mapper/prep$1 && cryptsetup close prep$1 && mkdir -p /bench/vol$1
}
make_half() {
	i=$1
	while [ $i -le $n ]; do mkvol $i || { echo "make $i failed"; return 1; }; i=$((i + 2)); done
}
t0=$(now_ms)
make_half 1 & p1=$!
make_half 2 & p2=$!
wait $p1 && wait $p2 && echo "provisioned $n volumes in $(( $(now_ms) - t0 )) ms" || echo "provisioning failed"
step provisioned sh -c "cryptsetup luksDump /dev/vda8 | grep -q argon2id && cryptsetup luksDump /dev/vda$n | grep -q vaultvol"

close_all() {
	for m in $(findmnt -rn -o TARGET | grep '^/bench/vol'); do umount "$m"; done
	for m in $(dmsetup ls | awk '$1 != "No" {print $1}'); do cryptsetup close "$m"; done
	sync; echo 3 >/proc/sys/vm/drop_caches
}
mounted() { test "$(findmnt -rn -o TARGET | grep -c '^/bench/vol')" -eq "$1"; }
names() { i=0; while [ $i -lt $1 ]; do i=$((i + 1)); echo vol$i; done; }
floor_list() {	# N KEYFILE-PREFIX
	i=0
	while [ $i -lt $1 ]; do
		i=$((i + 1)); echo "/dev/vda$i fl$i /tmp/k/$2$i /bench/vol$i ext4"
	done
}
# run_vv N: time `vaultvol open` of vol1..volN; ms on stdout, or nothing.
run_vv() {
	close_all
	t0=$(now_ms)
	vaultvol open $(names $1) >/tmp/vv.out 2>&1 || { cat /tmp/vv.out; return 1; }
	ms=$(( $(now_ms) - t0 ))
	mounted $1 && echo $ms
}
run_floor() {	# N [--keyslot]
	close_all
	if [ "${2:-}" = --keyslot ]; then floor_list $1 bek; else floor_list $1 vk; fi >/tmp/floor.list
	t0=$(now_ms)
	vv-floor ${2:-} 8 </tmp/floor.list || return 1
	ms=$(( $(now_ms) - t0 ))
	mounted $1 && echo $ms
}
run_ade() {
	close_all
	t0=$(now_ms) i=0
	while [ $i -lt 8 ]; do
		i=$((i + 1))
		cryptsetup open --key-slot 1 --key-file /tmp/k/ade$i /dev/vda$i ade$i &&
			mount /dev/mapper/ade$i /bench/vol$i || return 1
	done
	ms=$(( $(now_ms) - t0 ))
	mounted 8 && echo $ms
}

fail=0
r=0
while [ $r -lt "$BENCH_REPS" ]; do
	r=$((r + 1))
	for s in $BENCH_SIZES; do
		if [ $((r % 2)) -eq 1 ]; then
			v=$(run_vv $s); f=$(run_floor $s); k=$(run_floor $s --keyslot)
		else
			k=$(run_floor $s --keyslot); f=$(run_floor $s); v=$(run_vv $s)
		fi
		echo "round $r, $s volumes: vaultvol ${v:-FAILED} ms, floor ${f:-FAILED} ms, keyslot floor ${k:-FAILED} ms"
		[ -n "$v" ] && [ -n "$f" ] && [ -n "$k" ] || { fail=1; continue; }
		metric restore${s}_vaultvol_ms_r$r "$v" ms
		metric restore${s}_floor_ms_r$r "$f" ms
		metric restore${s}_keyslot_ms_r$r "$k" ms
		if [ "$s" = 8 ] && [ $r -le "$ADE_REPS" ]; then
			a=$(run_ade)
			echo "round $r, 8 volumes: ADE-style ${a:-FAILED} ms"
			[ -n "$a" ] || { fail=1; continue; }
			metric restore8_ade_ms_r$r "$a" ms
			metric restore8_vaultvol_ade_ms_r$r "$v" ms
		fi
	done
done
step timed-rounds test $fail -eq 0

# Where vaultvol's time goes beyond the floor, once each (everything
# closed): process start, discovery of every block device with its token
# (status), one key through IMDS, the challenge and a secret read over TLS.
close_all
for c in "version" "status" "key show bek1"; do
	t0=$(now_ms)
	vaultvol $c >/dev/null 2>&1 || echo "vaultvol $c failed"
	ms=$(( $(now_ms) - t0 ))
	echo "breakdown: vaultvol $c: $ms ms"
	metric breakdown_${c%% *}_ms $ms ms
done

# --- memory: vv-memprobe CMD...: "RSS PSS" peak KiB of the command, or nothing.
probe() {
	vv-memprobe -- "$@" >/tmp/probe.out 2>/tmp/probe.err || { cat /tmp/probe.out /tmp/probe.err; return 1; }
	sed -n 's/^vv-memprobe: peak_rss_kib=\([0-9]*\) peak_pss_kib=\([0-9]*\) .*/\1 \2/p' /tmp/probe.err
}
mem() {	# NAME ROUND CMD...: probe CMD, store the figures
	_n=$1 _r=$2
	shift 2
	set -- $(probe "$@")
	[ $# -eq 2 ] || { echo "memory probe of $_n failed"; fail=1; return; }
	echo "memory round $_r, $_n: peak RSS $1 KiB, PSS $2 KiB"
	metric mem_${_n}_rss_kib_r$_r "$1" KiB
	metric mem_${_n}_pss_kib_r$_r "$2" KiB
}
fail=0
r=0
while [ $r -lt "$BENCH_MEM_REPS" ]; do
	r=$((r + 1))
	mem version $r vaultvol version
	mem python $r python3 -c 'import json, ssl, urllib.request, subprocess, base64, hashlib'
	close_all
	mem open8 $r vaultvol open $(names 8)
	mounted 8 || { echo "open of 8 left $(findmnt -rn | grep -c /bench/vol) mounted"; fail=1; }
	close_all
	mem open64 $r vaultvol open --all
	mounted $n || { echo "open --all left $(findmnt -rn | grep -c /bench/vol) mounted"; fail=1; }
done
close_all
step memory-rounds test $fail -eq 0
# One IMDS token and one read per secret per open (plus 401 challenges).
metric restore_secret_gets "$(fakectl counter primary.get_secret)" requests
open_fakes_stop
GUEST
