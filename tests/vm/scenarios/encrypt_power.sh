# vm-kernels: 6.1
# vm-suite: no
# Power cuts during `vaultvol encrypt` (issue 17 and the fault matrix,
# docs/encrypt.md, docs/faults.md): an ext4 device holding a checksummed
# file tree is encrypted in place, and the guest is cut off with no
# shutdown (sysrq "b": nothing synced, the page cache lost, QEMU exits) at
# a random moment of the run: during the check, the shrink, the key's
# storing, the header's writing or the reencryption itself. The next boot
# runs the same command again: it must finish the encryption (resuming
# from libcryptsetup's resilience data, or starting again when nothing was
# written yet), the volume must open by its token, and every file's
# checksum must be as before. Then a fresh device for the next cut.
#
# Boot 1 runs one encryption to the end to learn how long a run takes (D)
# and when its reencryption starts (B: the header backup is the step before
# it). Odd rounds cut at a uniformly random moment of the whole run, in
# [0.02 D, 0.9 D]; even rounds in the reencryption, uniformly in [0,
# 0.7 (D - B)] after the run's own header backup (the reencryption is the
# shorter part of a run, and uniform cuts over the whole seldom land there;
# runs differ in length, the first being the slowest). The seed
# (VV_ENC_SEED, default the time) and every cut point are printed.
# `make faults` makes 10 cuts (issue 17's count); VV_ENC_CUTS sets another
# count. Not in the vm suite: a resume after a cut in the reencryption
# failed once (a known gap, tests/faults/gaps.txt), and a random cut must
# not turn CI red by chance.
# The vault outlives the VM, as in faults_power: the fake persists its
# secrets on the state disk, with vaultvol's state directory.
vm_disk st 1G
vm_disk ed 128M
vm_test_pki
CUTS=${VV_ENC_CUTS:-3}
SEED=${VV_ENC_SEED:-$(date +%s)}
echo "encrypt_power: $CUTS cuts, seed $SEED"
VM_GUEST_ENV="VV_CA_PEM VV_SERVER_PEM VV_SERVER_KEY BOOT CUTS SEED"
boot() {
	export BOOT=$1
	vm_boot --disk st --disk ed --mem 1024 --timeout 600
}

prologue() {
	cat <<'G'
set -u
. /vv/tests/vm/scenarios/open_lib.sh
echo 1 >/proc/sys/kernel/sysrq
mkdir -p /st /var/lib/vaultvol /etc/vaultvol /mnt/t
[ "$BOOT" = 1 ] && mkfs.ext4 -q -F /dev/vda
mount /dev/vda /st || echo "state disk not mounted"
mkdir -p /st/state && chmod 700 /st/state
mount --bind /st/state /var/lib/vaultvol
step fakes-start open_fakes_start --kv-port 8443 --persist /st/kv.json
printf '[vault]\nurl = %s\nca_file = %s\ntimeout = 8\n' "$FAKE_KV_URL" "$FAKE_CA" >/etc/vaultvol/vaultvol.conf
chmod 600 /etc/vaultvol/vaultvol.conf
RCOST="--recovery-iterations 4 --recovery-memory 32"
# enc N: the encryption of round N (its own secret, mount and mapper name).
enc() { vaultvol encrypt /dev/vdb --secret "enc$1" --mount /data/e $RCOST; }
# fresh: a new ext4 on the device with a file tree; its checksum kept.
fresh() {
	# Both LUKS2 header copies and the old data go: nothing of the last round is seen.
	dd if=/dev/zero of=/dev/vdb bs=1M count=34 2>/dev/null
	mkfs.ext4 -q -F /dev/vdb && mount /dev/vdb /mnt/t || return 1
	i=0
	while [ $i -lt 40 ]; do
		head -c $(( (i * 7919) % 200000 + 1 )) /dev/urandom >/mnt/t/f$i
		i=$((i + 1))
	done
	mkdir -p /mnt/t/d && cp /mnt/t/f1 /mnt/t/d/copy
	tree_sum /mnt/t >/st/tree.sum
	umount /mnt/t && sync
}
tree_sum() { (cd "$1" && find . -type f ! -path './lost+found/*' | sort | xargs cat | sha256sum | cut -d' ' -f1); }
# judge N: round N's rerun finishes the encryption; the volume opens by its
# token with every file as before; no secret in any output.
judge() {
	_w=""
	enc "$1" >/tmp/out 2>&1 </dev/null || _w="rerun exit $?: $(grep -m1 -i 'error' /tmp/out); "
	cat /tmp/out
	cryptsetup isLuks --type luks2 /dev/vdb || _w="${_w}not LUKS2 after the rerun; "
	cryptsetup luksDump /dev/vdb | grep -qi 'reencrypt' && _w="${_w}reencryption still pending; "
	vaultvol open "enc$1" >/tmp/o 2>&1 </dev/null || _w="${_w}does not open: $(cat /tmp/o); "
	[ "$(tree_sum /data/e 2>/dev/null)" = "$(cat /st/tree.sum)" ] || _w="${_w}files changed; "
	vaultvol close "enc$1" >/dev/null 2>&1
	no_secret /st/cut.out /tmp/out /tmp/o || _w="${_w}a secret in the output; "
	echo "=== round $1: ${_w:-ok}"
	echo "$1 ${_w:-ok}" >>/st/verdicts
	step "round-$1" test -z "$_w"
}
# cut_at MS N [PATTERN]: run round N's encryption and cut the power MS ms
# after it started, or after it printed PATTERN; the last thing it printed
# is the cut point's report.
cut_at() {
	enc "$2" >/st/cut.out 2>&1 </dev/null &
	_p=$!
	_t=$(now_ms)
	[ -n "${3:-}" ] && _t=
	while kill -0 $_p 2>/dev/null; do
		[ -z "$_t" ] && grep -q -- "$3" /st/cut.out && _t=$(now_ms)
		if [ -n "$_t" ] && [ $(( $(now_ms) - _t )) -ge "$1" ]; then
			_said=$(grep -v '^ *$' /st/cut.out | tail -n 1)
			echo "power cut in round $2 at $1 ms${3:+ after /$3/}; last said: ${_said:-nothing yet}"
			echo "$2 $1 ms${3:+ after /$3/}: ${_said:-nothing yet}" >>/st/points
			sync
			echo "DONE 0" >/dev/ttyS1
			echo b >/proc/sysrq-trigger
			sleep 10
		fi
		sleep 0.01
	done
	echo "round $2 ended before the cut at $1 ms"
	cat /st/cut.out
	step "cut-landed-$2" false
}
no_secret() {
	python3 - "$@" <<'PY'
import base64, json, sys, zlib
MAGIC = b"FAKEKVBK1\0"
vals = []
for d in json.load(open("/st/kv.json")):
    if d["kind"] != "secret":
        continue
    b = d["blob"]
    blob = base64.urlsafe_b64decode(b + "=" * (-len(b) % 4))
    doc = json.loads(zlib.decompress(blob[len(MAGIC):-32]))
    for v in doc["versions"]:
        vals.append(v["value"])
        try:
            vals.append(base64.b64decode(v["value"]).hex())
        except Exception:
            pass
for f in sys.argv[1:]:
    try:
        text = open(f, errors="replace").read()
    except OSError:
        continue
    for v in vals:
        if len(v) >= 16 and v in text:
            sys.exit("a secret value in " + f)
PY
}
# next_cut N: a fresh device, then round N cut at a random moment.
next_cut() {
	fresh || { step "fresh-$1" false; return; }
	# Even rounds: a moment of the reencryption, timed from this run's own
	# header backup (runs differ in length; the first is the slowest).
	_ms=$(awk -v s="$SEED" -v n="$1" -v d="$(cat /st/duration)" -v b="$(cat /st/backup_at)" \
		'BEGIN { srand(s + n); lo = 0.02 * d; hi = 0.9 * d
			 if (n % 2 == 0 && b > 0) { lo = 0; hi = 0.7 * (d - b) }
			 print int(lo + (hi - lo) * rand()) }')
	if [ $(($1 % 2)) -eq 0 ]; then
		cut_at "$_ms" "$1" 'header backed up'
	else
		cut_at "$_ms" "$1"
	fi
}
G
}

# --- boot 1: one encryption to the end (its duration D), then cut round 1 -----
{ prologue; cat <<'G'
step fresh-0 fresh
t0=$(now_ms)
vaultvol encrypt /dev/vdb --secret enc0 --mount /data/e $RCOST >/tmp/o0 2>&1 </dev/null &
p0=$!
echo 0 >/st/backup_at
while kill -0 $p0 2>/dev/null; do
	[ "$(cat /st/backup_at)" = 0 ] && grep -q 'header backed up' /tmp/o0 &&
		echo $(( $(now_ms) - t0 )) >/st/backup_at
	sleep 0.01
done
step encrypt-0 wait $p0
echo $(( $(now_ms) - t0 )) >/st/duration
echo "a whole encryption took $(cat /st/duration) ms; its reencryption began at $(cat /st/backup_at) ms"
cat /tmp/o0
step open-0 vaultvol open enc0
step tree-0 test "$(tree_sum /data/e)" = "$(cat /st/tree.sum)"
vaultvol close enc0
: >/st/verdicts
: >/st/points
sync
next_cut 1
G
} >"$VM_WORK/script.sh"; boot 1 <"$VM_WORK/script.sh"

# --- boots 2..CUTS: judge the previous cut, then make the next -------------------
n=1
while [ $n -lt "$CUTS" ]; do
	{ prologue; cat <<G
cat /st/cut.out
judge $n
sync
next_cut $((n + 1))
G
	} >"$VM_WORK/script.sh"; boot $((n + 1)) <"$VM_WORK/script.sh"
	n=$((n + 1))
done

# --- the last boot: judge the last cut; the cell ----------------------------------
{ prologue; cat <<G
cat /st/cut.out
judge $CUTS
echo "cut points (round, ms after the start, what the run had said):"
cat /st/points
echo "verdicts:"
cat /st/verdicts
if [ "\$(grep -c " ok\$" /st/verdicts)" -eq $CUTS ] && [ "\$(wc -l </st/points)" -eq $CUTS ]; then
	step cut-random-x-encrypt true
elif grep -q "^cut-random encrypt " /vv/tests/faults/gaps.txt; then
	echo "(a known gap: \$(grep "^cut-random encrypt " /vv/tests/faults/gaps.txt))"
	step cut-random-x-encrypt-gap true
else
	step cut-random-x-encrypt false
fi
G
} >"$VM_WORK/script.sh"; boot $((CUTS + 1)) <"$VM_WORK/script.sh"
