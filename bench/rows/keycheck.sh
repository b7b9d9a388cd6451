# Row: cost of checking a volume key through vaultvol's libcryptsetup path
# (agent/volume/crypt.c) vs the cryptsetup CLI (`open --test-passphrase`), on the
# same LUKS2 image file with a PBKDF2-minimum keyslot, 20 checks each. Shows
# the agent adds no overhead of its own over the library's work.
set -eu
B=${VV_BUILD:-build}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
truncate -s 32M "$d/img"
head -c 32 /dev/urandom >"$d/key"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 --key-file "$d/key" "$d/img" >/dev/null
n=20
t0=$(date +%s%N)
"$B/vm-tools/vv-luks-open" --check "$d/img" $n <"$d/key"
t1=$(date +%s%N)
for _ in $(seq $n); do
	cryptsetup open --test-passphrase --key-file "$d/key" "$d/img"
done
t2=$(date +%s%N)
vv=$(( (t1 - t0) / n / 1000 ))
cs=$(( (t2 - t1) / n / 1000 ))
printf '{"name":"key check, LUKS2 pbkdf2-min slot","value":%d,"unit":"us","baseline":%d,"ratio":%s}\n' \
	"$vv" "$cs" "$(awk -v a="$vv" -v b="$cs" 'BEGIN{printf "%.3f", a/b}')"
