# Row: what N volumes sharing K Key Vault secrets cost against the fakes
# (tests/fakes, TLS on 127.0.0.1): vaultvol's client (one token, one
# kept-alive connection, each secret fetched once) vs each volume fetching
# its own key with its own client, both measured in this run. Builds
# tests/bench/vault_requests.c against build/libvault.a and libbase.a with
# the Makefile's flags. Rows: total cost, secret GETs, token fetches,
# connections (counts: goals K GETs, 1 token, 1 connection), and time.
# VV_VAULT_REQUESTS_ROUNDS (default 10) runs, each measuring both sides
# with the fakes just started; the side measured first alternates.
set -eu
B=${VV_BUILD:-build}
N=${VV_BENCH_VOLUMES:-16}
K=${VV_BENCH_SECRETS:-4}
ROUNDS=${VV_VAULT_REQUESTS_ROUNDS:-10}
PKGS="libcryptsetup devmapper blkid mount libcurl json-c openssl libsystemd"
make -s "$B/libvault.a" "$B/libbase.a" >&2
mkdir -p "$B/bench"
# shellcheck disable=SC2046,SC2086
cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
	-Wno-format-nonliteral -O2 -g -I. $(pkg-config --cflags $PKGS) \
	-o "$B/bench/vault_requests" tests/bench/vault_requests.c \
	tests/unit/support/fakes_proc.c "$B/libvault.a" "$B/libbase.a" \
	$(pkg-config --libs $PKGS) -lpthread
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
for i in $(seq "$ROUNDS"); do
	order=
	[ $((i % 2)) -eq 0 ] && order=naive-first
	# shellcheck disable=SC2086
	VV_SRCDIR=$PWD "$B/bench/vault_requests" "$N" "$K" $order >"$d/round$i"
done
python3 - "$d" "$ROUNDS" "$K" <<'PY'
import json, os, sys
sys.path.insert(0, "bench/lib")
import stats
d, rounds, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = {}
for i in range(1, rounds + 1):
    for line in open(os.path.join(d, "round%d" % i)):
        r = json.loads(line)
        rows.setdefault(r["name"], []).append(r)
# What the agent's client promises: each secret fetched once, one token,
# one connection.
goals = {"secret GETs": ("<=", k), "token fetches": ("<=", 1), "connections": ("<=", 1)}
for name, rs in rows.items():
    what = name.split(",")[0][len("vault "):]
    extra = {k2: v for k2, v in rs[0].items() if k2 in ("counts", "baseline_counts")}
    ints = rs[0]["unit"] == "count"
    vv = [int(r["value"]) if ints else r["value"] for r in rs]
    base = [int(r["baseline"]) if ints else r["baseline"] for r in rs]
    g = goals.get(what)
    opts = {"goal": g, "goal_on": "value"} if g else {}
    stats.emit(name, rs[0]["unit"], vv, base, **opts, **extra)
PY
