#!/bin/bash
# The layout rules (docs/ARCHITECTURE.md), checked by tests/layout/depcheck.py:
# first on the tree as it is (includes and, on the build's objects, file
# loops), then on copies with one deliberate break each, to show that every
# rule can fail.
set -u
cd "$(dirname "$0")/../.." || exit 2
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }
DC=tests/layout/depcheck.py
T=$(mktemp -d /tmp/vv-layout.XXXXXX)
trap 'rm -rf "$T"' EXIT

if out=$(python3 $DC includes 2>&1); then ok "tree: include rules hold"
else bad "tree: include rules hold" "$(echo "$out" | head -20)"; fi
[ -d build/agent ] || make -j2 userspace >/dev/null
if out=$(python3 $DC loops 2>&1); then ok "tree: no file loop in agent/, vault/, base/"
else bad "tree: no file loop in agent/, vault/, base/" "$(echo "$out" | head -20)"; fi

# expect_break NAME FILE LINE MESSAGE: append LINE to FILE in a copy of the
# tree; depcheck must fail and name the file and the rule.
expect_break() {
	local name=$1 file=$2 line=$3 msg=$4 d=$T/$1 out
	mkdir -p "$d"
	cp -r agent vault base dmtarget plugin "$d"/
	echo "$line" >>"$d/$file"
	if out=$(python3 $DC --root "$d" includes 2>&1); then
		bad "break $name is caught" "depcheck passed"
	elif echo "$out" | grep -q "$file:.*$msg"; then
		ok "break $name is caught: $(echo "$out" | grep -m1 "$file" | sed 's/^depcheck: //')"
	else
		bad "break $name is caught" "$out"
	fi
}
expect_break base-includes-vault base/log.c '#include "vault/vault.h"' "base/ includes neither"
expect_break vault-includes-agent vault/bek.c '#include "agent/config/config.h"' "vault/ never includes agent/"
expect_break product-includes-tests agent/main.c '#include "tests/unit/luks_craft.h"' "never includes tests/"
expect_break agent-vault-internal agent/cmd_open.c '#include "vault/internal.h"' "agent/ uses vault/ only through"
expect_break plugin-vault-internal plugin/plugin_open.c '#include "vault/internal.h"' "plugin/ uses vault/ only through"
expect_break plugin-libcryptsetup plugin/token_abi.c '#include <libcryptsetup.h>' "only agent/volume/ talks to libcryptsetup"
expect_break agent-includes-plugin agent/cmd_open.c '#include "plugin/plugin.h"' "nothing but plugin/ includes plugin/"
expect_break cryptsetup-outside-volume agent/open/open_run.c '#include <libcryptsetup.h>' "only agent/volume/ talks to libcryptsetup"
expect_break dmtarget-userspace dmtarget/dm-quiesce.c '#include <stdio.h>' "dmtarget/ includes only kernel headers"

# A loop: two agent files, each using what the other defines.
mkdir -p "$T/loop/agent/x" "$T/loop/build/agent/x"
printf 'int vv_b(void);\nint vv_a(void) { return vv_b(); }\n' >"$T/loop/agent/x/a.c"
printf 'int vv_a(void);\nint vv_b(void) { return 1; }\nint vv_c(void) { return vv_a(); }\n' >"$T/loop/agent/x/b.c"
for f in a b; do cc -c -o "$T/loop/build/agent/x/$f.o" "$T/loop/agent/x/$f.c"; done
if out=$(python3 $DC --root "$T/loop" loops 2>&1); then
	bad "a file loop is caught" "depcheck passed"
elif echo "$out" | grep -q "file loop in agent/: agent/x/a.c -> agent/x/b.c (vv_b); agent/x/b.c -> agent/x/a.c (vv_a)"; then
	ok "a file loop is caught: $(echo "$out" | grep -m1 'file loop')"
else
	bad "a file loop is caught" "$out"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
