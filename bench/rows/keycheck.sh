# Row: cost of checking a volume key through vaultvol's libcryptsetup path
# (agent/volume/crypt.c) vs the cryptsetup CLI (`open --test-passphrase`), on the
# same LUKS2 image file with a PBKDF2-minimum keyslot. Interleaved rounds
# (VV_KEYCHECK_ROUNDS, default 10; a round is well under a second): each
# round times a batch of VV_KEYCHECK_N checks (default 20) through vaultvol's
# path, then the same batch with the CLI. Prints the median per-check time,
# the median ratio and its spread (bench/lib/stats.py). Goal: ratio <= 1.0,
# the agent adds no overhead of its own over the library's work.
set -eu
B=${VV_BUILD:-build}
ROUNDS=${VV_KEYCHECK_ROUNDS:-10}
n=${VV_KEYCHECK_N:-20}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
truncate -s 32M "$d/img"
head -c 32 /dev/urandom >"$d/key"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 --key-file "$d/key" "$d/img" >/dev/null
: >"$d/rounds"
for _ in $(seq "$ROUNDS"); do
	t0=$(date +%s%N)
	"$B/vm-tools/vv-luks-open" --check "$d/img" "$n" <"$d/key"
	t1=$(date +%s%N)
	for _ in $(seq "$n"); do
		cryptsetup open --test-passphrase --key-file "$d/key" "$d/img"
	done
	t2=$(date +%s%N)
	# Microseconds per check: vaultvol's path, the CLI.
	echo "$(((t1 - t0) / n / 1000)) $(((t2 - t1) / n / 1000))" >>"$d/rounds"
done
python3 - "$d/rounds" "$n" <<'PY'
import sys
sys.path.insert(0, "bench/lib")
import stats
vv, cs = [], []
for line in open(sys.argv[1]):
    a, b = line.split()
    vv.append(int(a))
    cs.append(int(b))
stats.emit("key check, LUKS2 pbkdf2-min slot", "us", vv, cs, goal=("<=", 1.0),
           checks_per_round=int(sys.argv[2]))
PY
