#!/bin/bash
# Build $B/bench/storm_vm (one simulated VM of the restore storm) against
# the product's vault/ and base/ archives with the Makefile's flags.
# Usage: tests/bench/storm_build.sh [BUILD_DIR]   (from the repository root)
set -eu
B=${1:-build}
PKGS="libcryptsetup devmapper blkid mount libcurl json-c openssl libsystemd"
make -s "$B/libvault.a" "$B/libbase.a" >&2
mkdir -p "$B/bench"
# shellcheck disable=SC2046,SC2086
cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
	-Wno-format-nonliteral -O2 -g -I. $(pkg-config --cflags $PKGS) \
	-o "$B/bench/storm_vm" tests/bench/storm_vm.c "$B/libvault.a" "$B/libbase.a" \
	$(pkg-config --libs $PKGS) -lpthread
