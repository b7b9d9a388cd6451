# Row: restore-to-mounted for 8, 32 and 64 LUKS2 volumes in the QEMU guest
# (tests/vm/scenarios/open_bench.sh, one boot): `vaultvol open` (keys from
# the fake Key Vault via IMDS, BEK keyslots at PBKDF2 minimum, 8 volumes at
# a time) vs the kernel floor with the same parallelism (vv-floor: 8
# threads, activation by volume key + mount(2): no KDF, no network, no
# discovery), BENCH_REPS interleaved rounds (default 5): median per-round
# ratio and its spread, goal <= 1.10 at every size, and the cost per volume
# (it should stay flat as N grows). Also vs the keyslot floor (vv-floor
# --keyslot: the same plus taking the volume key from the BEK keyslot, as
# vaultvol does): what vaultvol itself adds over libcryptsetup's keyslot
# work, which the floor leaves out by definition. For 8 volumes also vs an ADE-style
# sequential `cryptsetup open` of cryptsetup's default argon2id keyslot.
# Memory, same boot: peak RSS and PSS (smaps_rollup, vv-memprobe) of
# `vaultvol open` for 8 and 64 volumes and of an idle `vaultvol version`,
# beside a Python agent's floor (python3 importing json, ssl,
# urllib.request, subprocess, base64, hashlib); goal: PSS growth over the
# idle binary <= 2 MiB at 64 volumes.
set -eu
B=${VV_BUILD:-$PWD/build}
VM_KEEP=1 VV_BUILD=$B tests/vm/run.sh open_bench >&2 || rc=$?
work=$B/vm/runs/open_bench-6.1
python3 - "$work" <<'PY'
import os, sys
sys.path.insert(0, "bench/lib")
from stats import emit, median
from vm_metrics import load_kept, series
m = load_kept(sys.argv[1])
g = {"kernel": "guest 6.1"}
vv8a, ade = series(m, "restore8_vaultvol_ade_ms"), series(m, "restore8_ade_ms")
if ade:
    emit("restore to mounted, 8 LUKS2: vaultvol vs ADE-style argon2id", "ms", vv8a, ade, **g)
per = {}
for n in (8, 32, 64):
    vv, fl = series(m, "restore%d_vaultvol_ms" % n), series(m, "restore%d_floor_ms" % n)
    if not vv or len(vv) != len(fl):
        continue
    per[n] = median(vv) / n
    emit("restore to mounted, %d LUKS2: vaultvol vs parallel kernel floor" % n, "ms", vv, fl,
         goal=("<=", 1.10), vaultvol_ms_per_volume=round(median(vv) / n, 1),
         floor_ms_per_volume=round(median(fl) / n, 1), **g)
    ks = series(m, "restore%d_keyslot_ms" % n)
    if ks and len(ks) == len(vv):
        emit("restore to mounted, %d LUKS2: vaultvol vs keyslot floor (what vaultvol adds)" % n, "ms",
             vv, ks, keyslot_ms_per_volume=round(median(ks) / n, 1), **g)
# The marginal cost of a volume, per round: (T64 - T8) / 56, vaultvol vs
# each floor. What vaultvol costs beyond a fixed start (discovery of every
# device, the IMDS token and the vault's TLS session) shows here.
v8, v64 = series(m, "restore8_vaultvol_ms"), series(m, "restore64_vaultvol_ms")
for key, label in (("floor", "parallel kernel floor"), ("keyslot", "keyslot floor")):
    b8, b64 = series(m, "restore8_%s_ms" % key), series(m, "restore64_%s_ms" % key)
    if v8 and len({len(v8), len(v64), len(b8), len(b64)}) == 1:
        emit("marginal cost of a volume (64 vs 8 volumes): vaultvol vs %s" % label, "ms",
             [round((a - b) / 56, 1) for a, b in zip(v64, v8)],
             [round((a - b) / 56, 1) for a, b in zip(b64, b8)], **g)
if 8 in per and 64 in per:
    # Flat cost per volume: 64 volumes cost 8x what 8 do, no more.
    emit("vaultvol cost per volume, 64 vs 8 volumes", "ratio", [round(per[64] / per[8], 3)],
         per_volume_ms={str(k): round(v, 1) for k, v in per.items()}, **g)
for k in ("version", "status", "key"):
    if "breakdown_%s_ms" % k in m:
        emit("where vaultvol's time goes, once: `vaultvol %s`" % {"key": "key show"}.get(k, k)
             + (" (discovery of 64 volumes)" if k == "status" else "")
             + (" (IMDS token, challenge, one secret over TLS)" if k == "key" else ""),
             "ms", [m["breakdown_%s_ms" % k]], **g)
ver = series(m, "mem_version_pss_kib")
for name, label in (("version", "idle `vaultvol version`"), ("open8", "`vaultvol open`, 8 volumes"),
                    ("open64", "`vaultvol open --all`, 64 volumes")):
    rss, pss = series(m, "mem_%s_rss_kib" % name), series(m, "mem_%s_pss_kib" % name)
    py = series(m, "mem_python_pss_kib")
    if pss:
        emit("peak PSS, %s vs a Python agent's imports" % label, "KiB", pss,
             py if len(py) == len(pss) else None, **g)
        emit("peak RSS, %s" % label, "KiB", rss, **g)
o64 = series(m, "mem_open64_pss_kib")
if o64 and len(o64) == len(ver):
    emit("PSS growth over idle, open --all of 64 volumes", "KiB",
         [a - b for a, b in zip(o64, ver)], goal=("<=", 2048), **g)
PY
tr -d '\r' <"$work/boot1/console.log" 2>/dev/null | grep -E '^(round |memory |provisioned)' >&2 || true
[ "${rc:-0}" -ne 0 ] || rm -rf "$work"
exit "${rc:-0}"
