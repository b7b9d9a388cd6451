# vm-kernels: 6.1
# Killing a rotation at each step leaves an openable volume (issue 4).
# `vaultvol --json rotate` prints each step as it becomes durable (one
# {"step": NAME, ...} line); the script kills it with SIGKILL the moment it
# reads step S (so the kill lands somewhere in
# the step after S), checks that the key its token names opens the keyslot
# it names, and runs rotate again, which must complete. Then once with a
# kill after a fixed delay, and a KEK rotation killed the same way. The
# volume stays mounted throughout (rotation works on a live volume); at the
# end it is closed, reopened by `vaultvol open` and its data checked.
# Deterministic kills right after each step (no timing) are in the host
# unit tests (test_provision: a child raises SIGKILL in the progress hook).
vm_disk data 96M
VV_KEK1_PEM=$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null)
VV_KEK2_PEM=$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null)
export VV_KEK1_PEM VV_KEK2_PEM
VM_GUEST_ENV="VV_KEK1_PEM VV_KEK2_PEM"

vm_boot --disk data --timeout 420 <<'GUEST'
set -u
mkdir -p /etc/vaultvol/keys && chmod 700 /etc/vaultvol /etc/vaultvol/keys
(umask 077; printf '%s\n' "$VV_KEK1_PEM" >/etc/vaultvol/keys/kek1.pem
 printf '%s\n' "$VV_KEK2_PEM" >/etc/vaultvol/keys/kek2.pem)
st="--state-dir /tmp/state"
step provision vaultvol $st provision /dev/vda --secret keystore:data1 \
	--kek keystore-kek:kek1 --mount /data --recovery secret \
	--recovery-iterations 4 --recovery-memory 32768
head -c 1000000 /dev/urandom >/data/payload.bin
(cd /data && sha256sum payload.bin) >/tmp/expected
mkfifo /tmp/progress

# rotate_killed TAG STEP|-DELAY ARGS...: run rotate, SIGKILL it on reading
# the JSON line of STEP (or after DELAY seconds), then check and complete.
rotate_killed() {
	tag=$1 at=$2
	shift 2
	case $at in
	-*)	vaultvol $st rotate /dev/vda "$@" >/tmp/rot.out 2>/tmp/rot.err &
		pid=$!
		sleep "${at#-}"
		kill -9 $pid 2>/dev/null
		sed 's/^/  /' /tmp/rot.out ;;
	*)	vaultvol $st --json rotate /dev/vda "$@" >/tmp/progress 2>/tmp/rot.err &
		pid=$!
		while read -r line; do
			echo "  $line"
			name=$(printf '%s\n' "$line" | sed -n 's/^{"step":"\([^"]*\)".*/\1/p')
			if [ "$name" = "$at" ]; then kill -9 $pid; break; fi
		done </tmp/progress ;;
	esac
	wait $pid
	rc=$?
	# Killed (137) is the point; a rotation that finished first is no failure.
	echo "  rotate exit status $rc (137 = killed)"
	[ $rc -eq 137 ] && killed=$((killed + 1))
	step "$tag-exit" test $rc -eq 137 -o $rc -eq 0
	step "$tag-opens" vv-keycheck --token /dev/vda
	t0=$(now_ms)
	step "$tag-complete" sh -c "vaultvol $st rotate /dev/vda $* | tail -3"
	metric "${tag}_complete_ms" $(( $(now_ms) - t0 )) ms
	step "$tag-after-opens" vv-keycheck --token /dev/vda
	step "$tag-two-keyslots" sh -c 'test "$(cryptsetup luksDump /dev/vda | grep -c ": luks2$")" -eq 2'
	step "$tag-no-retire" sh -c '! cryptsetup token export --token-id 0 /dev/vda | grep -q retire'
	rm -f /tmp/state/header-backups/*.luks	# 16 MiB each, in RAM
}
killed=0

for s in checked stored keyslot-added token-updated old-keyslot-removed; do
	rotate_killed "bek-$s" "$s" --bek
done
rotate_killed bek-after-0.5s -0.5 --bek
rotate_killed kek-stored stored --kek keystore-kek:kek2

metric rotations_killed $killed count
step most-were-killed test $killed -ge 5
step recovery-opens sh -c 'vv-keycheck /dev/vda keystore:data1-recovery | grep -q keyslot'
step data-while-mounted sh -c 'cd /data && sha256sum -c /tmp/expected'
step close vaultvol close data1
step reopen vaultvol open data1
step data-after-reopen sh -c 'cd /data && sha256sum -c /tmp/expected'
step close-again vaultvol close data1
GUEST
