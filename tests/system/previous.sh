#!/bin/bash
# The previous release's packages, for the package life-cycle scenario: the
# .deb and DKMS .deb built by that release's own packaging/build-all.sh from
# its commit in this repository's history (a clone of the whole history, as
# CI's clean clone is). Cached outside the clone under
# $VV_SYSTEM_CACHE/previous-VERSION-COMMIT/, built only once.
#
#   tests/system/previous.sh     prints the directory holding the two .debs
#
# The previous release: version 0.1.0, the last commit before 0.2.0.
set -euo pipefail
prev_version=0.1.0
prev_commit=8f584e22b838
src=$(cd "$(dirname "$0")/../.." && pwd)
cache=${VV_SYSTEM_CACHE:-/var/cache/vaultvol-tests/system}
dir=$cache/previous-$prev_version-$prev_commit
if [ -f "$dir/ready" ]; then
	echo "$dir"
	exit 0
fi
full=$(git -C "$src" rev-parse -q --verify "$prev_commit^{commit}" 2>/dev/null) || {
	echo "previous.sh: commit $prev_commit (vaultvol $prev_version) is not in this clone;" \
		"the package life-cycle scenario needs the repository's history (git fetch --unshallow)" >&2
	exit 1
}
mkdir -p "$cache"
exec 9>"$cache/.lock-previous"
flock 9
[ -f "$dir/ready" ] && { echo "$dir"; exit 0; }
tmp=$cache/.build-previous
rm -rf "$tmp" && mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo "previous.sh: building vaultvol $prev_version from $full (log: $tmp/build.log)" >&2
rc=0
if git -C "$src" worktree add -q --detach "$tmp/tree" "$full" >"$tmp/build.log" 2>&1 &&
   (cd "$tmp/tree" && packaging/build-all.sh deb) >>"$tmp/build.log" 2>&1; then
	mkdir -p "$tmp/out"
	cp "$tmp/tree/build/packages/vaultvol_${prev_version}_amd64.deb" \
		"$tmp/tree/build/packages/vaultvol-dm-quiesce-dkms_${prev_version}_all.deb" "$tmp/out/" || rc=1
else
	rc=1
fi
git -C "$src" worktree remove --force "$tmp/tree" >/dev/null 2>&1 || true
if [ $rc -ne 0 ]; then
	tail -20 "$tmp/build.log" >&2
	echo "previous.sh: the build of vaultvol $prev_version failed" >&2
	exit 1
fi
echo "$prev_version $full" >"$tmp/out/ready"
rm -rf "$dir"
mv "$tmp/out" "$dir"
echo "$dir"
