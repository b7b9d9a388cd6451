# Row: what N volumes sharing K Key Vault secrets cost against the fakes
# (tests/fakes, TLS on 127.0.0.1): vaultvol's client (one token, one
# kept-alive connection, each secret fetched once) vs each volume fetching
# its own key with its own client, both measured in this run. Builds
# tests/bench/vault_requests.c against build/libvault.a with the Makefile's
# flags. Rows: total cost, secret GETs, token fetches, connections, time.
set -eu
B=${VV_BUILD:-build}
N=${VV_BENCH_VOLUMES:-16}
K=${VV_BENCH_SECRETS:-4}
PKGS="libcryptsetup devmapper blkid mount libcurl json-c openssl"
make -s "$B/libvault.a" >&2
mkdir -p "$B/bench"
# shellcheck disable=SC2046
cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
	-Wno-format-nonliteral -O2 -g -I. $(pkg-config --cflags $PKGS) \
	-o "$B/bench/vault_requests" tests/bench/vault_requests.c \
	tests/unit/support/fakes_proc.c "$B/libvault.a" \
	$(pkg-config --libs $PKGS) -lpthread
VV_SRCDIR=$PWD "$B/bench/vault_requests" "$N" "$K"
