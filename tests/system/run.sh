#!/bin/bash
# The system tier: scenarios that boot a real Debian 12 (systemd as PID 1,
# udev, Debian's kernel and initramfs) from a cached image under QEMU, with
# the project's packages installed by apt in each scenario's overlay.
#
#   tests/system/run.sh [--kernel 6.1|6.12] NAME...   run scenarios by name
#   tests/system/run.sh [--kernel 6.1|6.12]           every scenario
#   tests/system/run.sh --suite                       every scenario on each
#       kernel its "# system-kernels:" line names (default 6.1): make check.
#       Under CI=true (the bounded CI variant) a scenario whose header says
#       "# system-ci: full-only" is skipped and named in the output; run it
#       with `make system-test T=NAME` or a `make check` without CI=true.
# Most scenarios start from the installed system (tests/system/install.sh,
# run once per kernel and package build and counted as scenario "install").
# Environment: VV_ACCEL=auto|kvm|tcg (auto: the busybox tier's probe result
# in build/vm/accel if there is one, else tcg), SYS_TIMEOUT (s per boot,
# default 900), VV_SYSTEM_CACHE (image cache, default
# /var/cache/vaultvol-tests/system), VM_KEEP=1 keeps passing work dirs.
# One guest at a time. Output ends with "system: N passed, N failed"; work
# dirs of failed scenarios (console logs, overlay) stay in build/system/runs/.
set -u
cd "$(dirname "$0")/../.." || exit 2
# vm_tally; the scenarios source it again in their own shell.
. tests/vm/lib.sh
export VV_SRC=$PWD
export VV_BUILD=${VV_BUILD:-$PWD/build}
SYSDIR=$VV_BUILD/system

kernel_spec=6.1 suite=0 names=()
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) kernel_spec=$2; shift 2 ;;
	--suite) suite=1; shift ;;
	-h|--help) sed -n '2,18p' "$0"; exit 0 ;;
	*) names+=("$1"); shift ;;
	esac
done
# The plan: "KERNEL-SPEC NAME" lines, grouped by kernel (the image and the
# installed layer are per kernel).
plan=()
if [ ${#names[@]} -eq 0 ]; then
	for f in tests/system/scenarios/*.sh; do
		n=$(basename "$f" .sh)
		case "$n" in *_lib) continue ;; esac
		if [ $suite -eq 1 ]; then
			if [ "${CI:-}" = true ] && grep -q '^# system-ci: full-only' "$f"; then
				echo "system: $n skipped under CI=true (full-only; make system-test T=$n runs it)"
				continue
			fi
			ks=$(sed -n 's/^# system-kernels: *//p' "$f" | head -1)
			for k in ${ks:-6.1}; do plan+=("$k $n"); done
		else
			plan+=("$kernel_spec $n")
		fi
	done
else
	for n in "${names[@]}"; do plan+=("$kernel_spec $n"); done
fi
mapfile -t plan < <(printf '%s\n' "${plan[@]}" | sort -s -V -k1,1)
mkdir -p "$SYSDIR/runs"
t_start=$SECONDS

# The project's packages, as `make packages` builds them (rebuilt when the
# program, the module source or the packaging changed since).
version=$(sed -n 's/^VERSION *:= *//p' Makefile)
export SYS_DEBS=$VV_BUILD/packages
deb=$SYS_DEBS/vaultvol_${version}_amd64.deb
dkmsdeb=$SYS_DEBS/vaultvol-dm-quiesce-dkms_${version}_all.deb
if [ ! -f "$deb" ] || [ ! -f "$dkmsdeb" ] ||
   [ -n "$(find "$VV_BUILD/vaultvol" "$VV_BUILD/libcryptsetup-token-vaultvol.so" packaging dmtarget -newer "$deb" -print -quit 2>/dev/null)" ]; then
	t0=$SECONDS
	if ! packaging/build-all.sh deb >"$SYSDIR/packages.log" 2>&1; then
		tail -20 "$SYSDIR/packages.log"
		echo "system: FAIL make packages (deb)"
		echo "system: 0 passed, 1 failed"
		exit 1
	fi
	echo "system: packages built ($((SECONDS - t0)) s)"
fi
# Only this version's two packages go into the guest.
rm -rf "$SYSDIR/debs" && mkdir -p "$SYSDIR/debs" && cp "$deb" "$dkmsdeb" "$SYSDIR/debs/"
SYS_DEBS=$SYSDIR/debs

# The test PKI, made once on the host (minutes under emulation).
export SYS_CERTS=$SYSDIR/certs
[ -f "$SYS_CERTS/server.pem" ] || tests/fakes/mkca.sh "$SYS_CERTS" >/dev/null 2>&1 ||
	{ echo "system: FAIL test PKI"; exit 1; }

mode=${VV_ACCEL:-auto}
if [ "$mode" = auto ]; then
	mode=$(cat "$VV_BUILD/vm/accel" 2>/dev/null || echo tcg)
fi
if [ "$mode" = kvm ]; then
	VM_ACCEL_ARGS="-accel kvm -cpu host"
else
	VM_ACCEL_ARGS="-accel tcg,thread=multi -cpu max"
fi
export VM_ACCEL_ARGS

total_pass=0 total_fail=0 kernel_spec="" kver=""
# run_one NAME FILE BACKING BACKING_FORMAT: one scenario on an overlay of
# BACKING; its steps are added to the totals; 0 when it passed.
run_one() {
	local name=$1 f=$2 backing=$3 bfmt=$4 work=$SYSDIR/runs/$1-$kernel_spec t0=$SECONDS
	rm -rf "$work" && mkdir -p "$work"
	echo "== $name on $kver"
	if ! qemu-img create -q -f qcow2 -F "$bfmt" -b "$backing" "$work/os.qcow2"; then
		echo "  FAIL overlay"; total_fail=$((total_fail + 1)); return 1
	fi
	(
		export VM_WORK=$work VM_KVER=$kver VM_SCENARIO=$name
		: >"$VM_WORK/results.tsv"
		. tests/vm/lib.sh
		. tests/system/lib.sh
		. "$f"
	) 2>&1 | sed 's/^/  /'
	vm_tally "$name" "$work" "$t0"
	total_pass=$((total_pass + VM_PASSED)) total_fail=$((total_fail + VM_FAILED))
	[ "$VM_FAILED" -eq 0 ] || return 1
	[ "${VM_KEEP:-0}" = 1 ] || [ "$name" = install ] || rm -rf "$work"
}

# The installed system most scenarios start from: the image with the
# project's packages installed by apt and dm-quiesce built by DKMS, made by
# tests/system/install.sh (its steps are counted as the "install" scenario)
# once per kernel and package build, and kept as a qcow2 layer under the
# scenarios' overlays. A scenario that installs packages itself (the package
# life cycle) says "# system: from-image" and starts from the bare image.
need_layer() {
	local layer=$SYSDIR/installed-$kver.qcow2 stamp
	# Decided once per kernel: the debs are hashed only the first time.
	case "$layer_ok" in yes) return 0 ;; failed) return 1 ;; esac
	stamp=$( { echo "$SYS_IMAGE"; sha256sum "$SYS_DEBS"/*.deb; } | sha256sum | cut -c1-16)
	if [ -f "$layer" ] && [ "$(cat "$layer.stamp" 2>/dev/null)" = "$stamp" ]; then
		echo "== install on $kver: reused ($layer, same image and packages)"
		layer_ok=yes
		return 0
	fi
	rm -f "$layer" "$layer.stamp"
	layer_ok=failed	# tried once per kernel, not once per scenario
	run_one install tests/system/install.sh "$SYS_IMAGE/base.img" raw || return 1
	mv "$SYSDIR/runs/install-$kernel_spec/os.qcow2" "$layer" &&
		echo "$stamp" >"$layer.stamp" &&
		rm -rf "$SYSDIR/runs/install-$kernel_spec" &&
		layer_ok=yes
}

# kver_of SPEC: the Debian kernel ABI of this machine's kernel SPEC (e.g.
# 6.1 -> 6.1.0-57-amd64); the image installs the same package from the
# archive.
kver_of() {
	ls /boot/vmlinuz-"$1"[.-]* 2>/dev/null | sed 's|.*/vmlinuz-||' | sort -V | tail -1
}

# use_kernel SPEC: kver and its image (cached; built only when its inputs
# change) in SYS_IMAGE.
use_kernel() {
	local t0=$SECONDS
	kernel_spec=$1 layer_ok="" SYS_IMAGE=""
	kver=$(kver_of "$1")
	if [ -z "$kver" ]; then
		echo "system: no kernel $1 in /boot"
		return 1
	fi
	if ! SYS_IMAGE=$(tests/system/mkimage.sh "$kver"); then
		echo "system: FAIL could not build the image for $kver"
		SYS_IMAGE=""
		return 1
	fi
	export SYS_IMAGE
	echo "system: image $SYS_IMAGE ($((SECONDS - t0)) s)"
	prebuild_images
}

# The other kernels' images are built in the background while the first
# kernel's scenarios run (a cold build is minutes of download and dpkg,
# little of it CPU); mkimage.sh's lock makes the later use_kernel wait for
# a build still running. Warm images cost nothing here.
prebuild_done=""
prebuild_images() {
	local e k kv
	[ -n "$prebuild_done" ] && return 0
	prebuild_done=1
	for e in "${plan[@]}"; do
		k=${e%% *}
		[ "$k" = "$kernel_spec" ] && continue
		kv=$(kver_of "$k")
		[ -n "$kv" ] || continue
		case " $prebuild_done " in *" $kv "*) continue ;; esac
		prebuild_done="$prebuild_done $kv"
		tests/system/mkimage.sh "$kv" >/dev/null 2>"$SYSDIR/mkimage-$kv.log" &
	done
}

for entry in "${plan[@]}"; do
	set -- $entry
	spec=$1 name=$2
	if [ "$spec" != "$kernel_spec" ]; then
		use_kernel "$spec"
	fi
	f=tests/system/scenarios/$name.sh
	if [ ! -f "$f" ]; then
		echo "system: no scenario $name"; total_fail=$((total_fail + 1)); continue
	fi
	if [ -z "$SYS_IMAGE" ]; then
		echo "== $name on $spec: not run (no image)"; total_fail=$((total_fail + 1)); continue
	fi
	if grep -q '^# system: from-image' "$f"; then
		run_one "$name" "$f" "$SYS_IMAGE/base.img" raw
	elif need_layer; then
		run_one "$name" "$f" "$SYSDIR/installed-$kver.qcow2" qcow2
	else
		echo "== $name on $kver: not run (the install it starts from failed)"
		total_fail=$((total_fail + 1))
	fi
done
echo "system: wall time $((SECONDS - t_start)) s"
echo "system: $total_pass passed, $total_fail failed"
[ $total_fail -eq 0 ]
