# vm-suite: no
# Bench (bench/rows/restore.sh): restore-to-mounted for 8 LUKS2 volumes.
#   vaultvol  `vaultvol open --all`: each volume's token names its BEK in the
#             (fake) Key Vault; IMDS token, 8 secret reads, unlock of the
#             PBKDF2-minimum BEK keyslot, mount - volumes in parallel.
#   ADE-style sequential `cryptsetup open` of a keyslot with cryptsetup's
#             default argon2id cost (what luksAddKey makes), then mount.
#   floor     `cryptsetup open --volume-key-file` (no KDF, no network), mount.
# Each method opens and mounts all 8, then everything is closed again;
# BENCH_REPS rounds (default 2), the best of each reported (emulation is
# noisy). Also vaultvol's peak RSS. Keys are made on the host.
: "${BENCH_REPS:=2}"
export BENCH_REPS
n=8
for i in $(seq 1 $n); do
	vm_disk b$i 24M
	export "BEK_$i=$(head -c 32 /dev/urandom | base64)"
done
export PRELOAD=$(python3 - <<'PY' | base64 -w0
import json, os
print(json.dumps([{"op": "put_bek", "name": "bek%d" % i, "key": os.environ["BEK_%d" % i]}
                  for i in range(1, 9)]))
PY
)
tests/fakes/mkca.sh "$VM_WORK/certs" >/dev/null
export VV_CA_PEM=$(cat "$VM_WORK/certs/ca.pem") VV_SERVER_PEM=$(cat "$VM_WORK/certs/server.pem")
export VV_SERVER_KEY=$(cat "$VM_WORK/certs/server.key")
VM_GUEST_ENV="BENCH_REPS PRELOAD VV_CA_PEM VV_SERVER_PEM VV_SERVER_KEY"
for i in $(seq 1 $n); do VM_GUEST_ENV="$VM_GUEST_ENV BEK_$i"; done

vm_boot --disk b1 --disk b2 --disk b3 --disk b4 --disk b5 --disk b6 --disk b7 --disk b8 \
	--mem 1536 --timeout 1500 <<'GUEST'
set -u
. /vv/tests/vm/scenarios/open_lib.sh
printf '%s' "$PRELOAD" | base64 -d >/tmp/preload.json
step fakes-start open_fakes_start --preload /tmp/preload.json
umask 077
mkdir -p /etc/vaultvol /tmp/k /bench
cat >/etc/vaultvol/vaultvol.conf <<C
[vault]
url = $FAKE_KV_URL
ca_file = $FAKE_CA
C
devs="a b c d e f g h"
i=0
for d in $devs; do
	i=$((i + 1))
	eval "printf '%s' \"\$BEK_$i\"" >/tmp/k/bek$i
	head -c 64 /dev/urandom >/tmp/k/vk$i
	head -c 32 /dev/urandom | base64 | tr -d '\n' >/tmp/k/ade$i
	# slot 0: the BEK, PBKDF2 at the minimum (a random key needs no stretching)
	cryptsetup luksFormat -q --type luks2 --key-size 512 --volume-key-file /tmp/k/vk$i \
		--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file /tmp/k/bek$i /dev/vd$d
	# slot 1: what an ADE-style setup has, cryptsetup's default (argon2id)
	cryptsetup luksAddKey -q --key-file /tmp/k/bek$i /dev/vd$d /tmp/k/ade$i
	printf '{"type":"vaultvol","keyslots":["0"],"vv_version":1,"key":"bek%d","name":"vol%d","mount":"/bench/vol%d","fs":"ext4"}' \
		$i $i $i >/tmp/k/tok$i.json
	cryptsetup token import --json-file /tmp/k/tok$i.json /dev/vd$d
	cryptsetup open --volume-key-file /tmp/k/vk$i --type luks2 /dev/vd$d prep
	mkfs.ext4 -q /dev/mapper/prep && cryptsetup close prep
	mkdir -p /bench/vol$i
done
step provisioned sh -c 'cryptsetup luksDump /dev/vdh | grep -q argon2id && cryptsetup luksDump /dev/vdh | grep -q vaultvol'

close_all() {
	for i in 1 2 3 4 5 6 7 8; do umount /bench/vol$i 2>/dev/null; done
	for m in $(dmsetup ls | awk '{print $1}'); do cryptsetup close "$m" 2>/dev/null; done
	sync; echo 3 >/proc/sys/vm/drop_caches
}
mounted8() { test "$(findmnt -rn -o TARGET | grep -c '^/bench/vol')" -eq 8; }
best() { sort -n | head -1; }

: >/tmp/vv.ms; : >/tmp/ade.ms; : >/tmp/floor.ms; : >/tmp/vv.rss
r=0
while [ $r -lt "$BENCH_REPS" ]; do
	r=$((r + 1))
	close_all
	# elapsed ms, peak RSS (KiB) and exit status of `vaultvol open --all`
	python3 -S -c '
import resource, subprocess, sys, time
t = time.monotonic()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
ms = int((time.monotonic() - t) * 1000)
print(ms, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)' \
		vaultvol open --all >/tmp/run.txt
	read ms rss rc </tmp/run.txt
	[ "$rc" = 0 ] && mounted8 && echo "$ms" >>/tmp/vv.ms && echo "$rss" >>/tmp/vv.rss
	echo "round $r vaultvol: $ms ms, rss $rss KiB, exit $rc"

	close_all
	t0=$(now_ms) i=0
	for d in $devs; do
		i=$((i + 1))
		cryptsetup open --key-slot 1 --key-file /tmp/k/ade$i /dev/vd$d ade$i &&
			mount /dev/mapper/ade$i /bench/vol$i
	done
	ms=$(( $(now_ms) - t0 ))
	mounted8 && echo "$ms" >>/tmp/ade.ms
	echo "round $r ADE-style: $ms ms"

	close_all
	t0=$(now_ms) i=0
	for d in $devs; do
		i=$((i + 1))
		cryptsetup open --type luks2 --volume-key-file /tmp/k/vk$i /dev/vd$d fl$i &&
			mount /dev/mapper/fl$i /bench/vol$i
	done
	ms=$(( $(now_ms) - t0 ))
	mounted8 && echo "$ms" >>/tmp/floor.ms
	echo "round $r floor: $ms ms"
done
close_all
step vaultvol-rounds test "$(wc -l </tmp/vv.ms)" -eq "$BENCH_REPS"
step ade-rounds test "$(wc -l </tmp/ade.ms)" -eq "$BENCH_REPS"
step floor-rounds test "$(wc -l </tmp/floor.ms)" -eq "$BENCH_REPS"
metric restore8_vaultvol_ms "$(best </tmp/vv.ms)" ms
metric restore8_ade_ms "$(best </tmp/ade.ms)" ms
metric restore8_floor_ms "$(best </tmp/floor.ms)" ms
metric restore8_vaultvol_rss_kib "$(sort -n /tmp/vv.rss | tail -1)" KiB
# One IMDS token, one read per secret per round (plus 401 challenges).
metric restore8_secret_gets "$(fakectl counter primary.get_secret)" requests
open_fakes_stop
GUEST
