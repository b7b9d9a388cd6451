# Row: provisioning (issue 4).
# 1. Time to provision one 1 GiB volume in the QEMU guest: `vaultvol
#    provision` (key stored and read back, header, recovery keyslot with the
#    default argon2id cost, token, mkfs.ext4, mount) vs doing the same by
#    hand with the cryptsetup CLI (tests/vm/scenarios/provision_bench.sh).
# 2. Open cost of the BEK keyslot (PBKDF2 at the minimum, 1000 iterations)
#    vs a keyslot with cryptsetup's default argon2id cost on the same volume
#    (host, image file, no device-mapper: vaultvol's key check derives the
#    key and verifies it, as open does before activating).
set -eu
B=${VV_BUILD:-$PWD/build}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

# --- 2. keyslot open cost (host) ---------------------------------------------
truncate -s 1G "$d/img"
"$B/vaultvol" --state-dir "$d/state" provision "$d/img" --secret keystore:bench \
	--keystore "$d/keys" --recovery secret --recovery-iterations 4 \
	--recovery-memory 32768 --format-only >&2
# the BEK (stored unwrapped: base64 once in the keystore)
ver=$(cat "$d/keys/bench/latest")
base64 -d "$d/keys/bench/$ver" >"$d/bek"
bek_slot=$(cryptsetup token export --token-id 0 "$d/img" |
	sed -n 's/.*"keyslots":\["\([0-9]*\)"\].*/\1/p')
head -c 24 /dev/urandom | base64 >"$d/pass"
# cryptsetup's default PBKDF for LUKS2 (argon2id, 2 s benchmark, <= 1 GiB)
cryptsetup luksAddKey -q --key-file "$d/bek" --new-keyfile "$d/pass" "$d/img" >&2
argon_slot=$(cryptsetup luksDump "$d/img" | awk '/^  [0-9]+: luks2/ {s=$1} /PBKDF:.*argon2id/ {sub(":","",s); print s}' | tail -1)
cryptsetup luksDump "$d/img" >&2
# vaultvol's key check (agent/volume/crypt.c: crypt_activate_by_passphrase with no
# name, the KDF and digest check that open does before activating), in one
# process; per-check mean in ms. Interleaved rounds (10): 10 checks of the
# BEK slot, then one of the argon2id slot (2 s each by design).
check_ms() {	# KEYFILE N
	t0=$(date +%s%N)
	"$B/vm-tools/vv-luks-open" --check "$d/img" "$2" <"$1" >&2
	awk -v t=$(( $(date +%s%N) - t0 )) -v n="$2" 'BEGIN {printf "%.3f", t / n / 1e6}'
}
bek="" argon=""
for r in $(seq 10); do
	bek="$bek $(check_ms "$d/bek" 10)"
	argon="$argon $(check_ms "$d/pass" 1)"
done
echo "BEK keyslot $bek_slot:$bek ms; argon2id keyslot $argon_slot:$argon ms" >&2
python3 - "$bek" "$argon" <<'PY'
import sys
sys.path.insert(0, "bench/lib")
from stats import emit
bek, argon = ([float(x) for x in a.split()] for a in sys.argv[1:3])
emit("open cost, BEK keyslot (pbkdf2 1000) vs cryptsetup-default argon2id keyslot", "ms", bek, argon)
PY

# --- 1. provision a 1 GiB volume (guest) -------------------------------------
VM_KEEP=1 VV_BUILD=$B tests/vm/run.sh provision_bench >&2 || rc=$?
work=$B/vm/runs/provision_bench-6.1
python3 - "$work" <<'PY'
import sys
sys.path.insert(0, "bench/lib")
from stats import emit
from vm_metrics import load_kept, series
m = load_kept(sys.argv[1])
vv, manual = series(m, "provision_1g_ms"), series(m, "manual_1g_ms")
if vv and len(vv) == len(manual):
    emit("provision one 1 GiB volume (guest) vs cryptsetup by hand", "ms", vv, manual,
         goal=("<=", 1.0), kernel="guest 6.1")
PY
[ "${rc:-0}" -ne 0 ] || rm -rf "$work"
exit "${rc:-0}"
