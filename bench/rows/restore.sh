# Row: restore-to-mounted for 8 LUKS2 volumes in the QEMU guest (issue 5):
# `vaultvol open --all` (keys from the fake Key Vault via IMDS, BEK keyslots
# at PBKDF2 minimum, volumes in parallel) vs an ADE-style sequential
# `cryptsetup open` of cryptsetup's default argon2id keyslot + mount, and vs
# the kernel floor (activation by volume key + mount: no KDF, no network).
# Runs tests/vm/scenarios/open_bench.sh (best of BENCH_REPS rounds, default
# 2); prints both ratios and vaultvol's peak RSS.
set -eu
B=${VV_BUILD:-$PWD/build}
VV_BUILD=$B tests/vm/run.sh open_bench >&2
python3 - "$B/vm/metrics.tsv" <<'PY'
import sys
sys.path.insert(0, "bench/lib")
from vm_metrics import load, row
m = load(sys.argv[1], "open_bench")
vv, ade, floor = (m.get("restore8_" + k) for k in ("vaultvol_ms", "ade_ms", "floor_ms"))
if vv is None:
    sys.exit("open_bench produced no vaultvol figure")
row("restore to mounted, 8 LUKS2: vaultvol vs ADE-style argon2id", vv, "ms", ade)
row("restore to mounted, 8 LUKS2: vaultvol vs kernel floor", vv, "ms", floor)
if "restore8_vaultvol_rss_kib" in m:
    row("vaultvol open --all peak RSS (8 volumes)", m["restore8_vaultvol_rss_kib"], "KiB", None)
PY
