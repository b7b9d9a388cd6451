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
# SYS_JOBS guests at a time (default 2). Output ends with
# "system: N passed, N failed"; work
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
# run_one NAME FILE BACKING BACKING_FORMAT SPEC KVER IMAGE: one scenario on
# an overlay of BACKING, in the background of the scheduler below: its
# output goes to runs/NAME-SPEC.out and "PASSED FAILED SECONDS" to
# runs/NAME-SPEC.count (the work dir of "install" becomes the layer).
run_one() {
	local name=$1 f=$2 backing=$3 bfmt=$4 kernel_spec=$5 kver=$6 SYS_IMAGE=$7
	local work=$SYSDIR/runs/$1-$5 out=$SYSDIR/runs/$1-$5 t0=$SECONDS
	rm -rf "$work" && mkdir -p "$work"
	{
		echo "== $name on $kver"
		if ! qemu-img create -q -f qcow2 -F "$bfmt" -b "$backing" "$work/os.qcow2"; then
			echo "  FAIL overlay"
			echo "0 1 0" >"$out.count"
			return 1
		fi
		(
			export VM_WORK=$work VM_KVER=$kver VM_SCENARIO=$name SYS_IMAGE
			: >"$VM_WORK/results.tsv"
			. tests/vm/lib.sh
			. tests/system/lib.sh
			. "$f"
		) 2>&1 | sed 's/^/  /'
		vm_tally "$name" "$work" "$t0"
		echo "$VM_PASSED $VM_FAILED $((SECONDS - t0))" >"$out.count"
		[ "$VM_FAILED" -eq 0 ] || return 1
		if [ "$name" = install ]; then
			# The installed layer the kernel's other scenarios start from.
			mv "$work/os.qcow2" "$SYSDIR/installed-$kver.qcow2" &&
				cp "$SYSDIR/stamp-$kver" "$SYSDIR/installed-$kver.qcow2.stamp" &&
				rm -rf "$work"
		else
			[ "${VM_KEEP:-0}" = 1 ] || rm -rf "$work"
		fi
	} >"$out.out" 2>&1
}

# The installed system most scenarios start from: the image with the
# project's packages installed by apt and dm-quiesce built by DKMS, made by
# tests/system/install.sh (its steps are counted as the "install" scenario)
# once per kernel and package build, and kept as a qcow2 layer under the
# scenarios' overlays. A scenario that installs packages itself (the package
# life cycle) says "# system: from-image" and starts from the bare image.
# layer_fresh KVER IMAGE: the layer is there and made from this image and
# these packages (its stamp, also left in $SYSDIR/stamp-KVER for install).
layer_fresh() {
	local layer=$SYSDIR/installed-$1.qcow2 stamp
	stamp=$( { echo "$2"; sha256sum "$SYS_DEBS"/*.deb; } | sha256sum | cut -c1-16)
	echo "$stamp" >"$SYSDIR/stamp-$1"
	[ -f "$layer" ] && [ "$(cat "$layer.stamp" 2>/dev/null)" = "$stamp" ] && return 0
	rm -f "$layer" "$layer.stamp"
	return 1
}

# kver_of SPEC: the Debian kernel ABI of this machine's kernel SPEC (e.g.
# 6.1 -> 6.1.0-57-amd64); the image installs the same package from the
# archive.
kver_of() {
	ls /boot/vmlinuz-"$1"[.-]* 2>/dev/null | sed 's|.*/vmlinuz-||' | sort -V | tail -1
}

# The other kernels' images are built in the background while the first
# kernel's scenarios run (a cold build is minutes of download and dpkg,
# little of it CPU); mkimage.sh's lock makes the later use_kernel wait for
# a build still running. Warm images cost nothing here.
prebuild_images() {
	local e k kv seen=""
	for e in "${plan[@]}"; do
		k=${e%% *}
		[ "$k" = "$1" ] && continue
		kv=$(kver_of "$k")
		[ -n "$kv" ] || continue
		case " $seen " in *" $kv "*) continue ;; esac
		seen="$seen $kv"
		tests/system/mkimage.sh "$kv" >/dev/null 2>"$SYSDIR/mkimage-$kv.log" &
	done
}

# use_kernel SPEC: its kver and image (cached; built only when its inputs
# change) in KVER[SPEC] and IMG[SPEC] (empty when there is none), and the
# state of its installed layer in LAYER[SPEC]: ok, todo (an install job is
# queued) or failed. Called by the scheduler when it first needs SPEC.
declare -A KVER=() IMG=() LAYER=()
use_kernel() {
	local t0=$SECONDS kv img
	KVER[$1]="" IMG[$1]="" LAYER[$1]=failed
	kv=$(kver_of "$1")
	if [ -z "$kv" ]; then
		echo "system: no kernel $1 in /boot"
		return 1
	fi
	KVER[$1]=$kv
	if ! img=$(tests/system/mkimage.sh "$kv"); then
		echo "system: FAIL could not build the image for $kv"
		return 1
	fi
	IMG[$1]=$img
	echo "system: image $img ($((SECONDS - t0)) s)"
	if layer_fresh "$kv" "$img"; then
		echo "== install on $kv: reused ($SYSDIR/installed-$kv.qcow2, same image and packages)"
		LAYER[$1]=ok
	else
		LAYER[$1]=todo
	fi
}

# The scheduler. SYS_JOBS guests at a time (default 2, as the busybox
# tier): much of a boot is guest-side waiting (udev, timeouts, the fakes,
# emulated I/O), and the longest scenario (package_life) alone is half the
# suite. The queue holds the from-image scenarios first (they wait for
# nothing and are the longest), then per kernel its install (only when the
# layer must be made) and the scenarios on its layer, which wait until the
# install is done. The first job ready in queue order runs next.
queue=()
for entry in "${plan[@]}"; do
	set -- $entry
	f=tests/system/scenarios/$2.sh
	if [ -f "$f" ] && grep -q '^# system: from-image' "$f"; then
		queue+=("$1 $2 image")
	fi
done
for entry in "${plan[@]}"; do
	set -- $entry
	f=tests/system/scenarios/$2.sh
	if [ -f "$f" ] && grep -q '^# system: from-image' "$f"; then
		continue
	fi
	case " ${queue[*]} " in *" $1 install install "*) ;; *) queue+=("$1 install install") ;; esac
	queue+=("$1 $2 layer")
done

jobs_max=${SYS_JOBS:-2}
declare -A JOB=()	# pid -> "SPEC NAME KIND"
fail_now() { echo "$1"; total_fail=$((total_fail + 1)); }

# collect PID: a finished job's output, counts and, for an install, the
# layer's state.
collect() {
	local job=${JOB[$1]} p f secs
	unset "JOB[$1]"
	set -- $job
	cat "$SYSDIR/runs/$2-$1.out"
	read -r p f secs <"$SYSDIR/runs/$2-$1.count" 2>/dev/null || { p=0 f=1; echo "  FAIL $2 on $1: no result"; }
	total_pass=$((total_pass + p)) total_fail=$((total_fail + f))
	rm -f "$SYSDIR/runs/$2-$1.out" "$SYSDIR/runs/$2-$1.count"
	if [ "$3" = install ]; then
		if [ "$f" -eq 0 ] && [ -f "$SYSDIR/installed-${KVER[$1]}.qcow2" ]; then
			LAYER[$1]=ok
		else
			LAYER[$1]=failed
		fi
	fi
}

# start JOB: 0 when started (or settled without a guest), 1 when it must
# wait for its kernel's install.
start() {
	local spec=$1 name=$2 kind=$3 f=tests/system/scenarios/$2.sh
	if [ -z "${KVER[$spec]+x}" ]; then
		[ -n "$prebuilt" ] || { prebuilt=1; prebuild_images "$spec"; }
		use_kernel "$spec"
	fi
	if [ "$kind" = install ]; then
		[ "${LAYER[$spec]}" = todo ] || return 0
		LAYER[$spec]=running
		f=tests/system/install.sh
	elif [ ! -f "$f" ]; then
		fail_now "system: no scenario $name"; return 0
	fi
	if [ -z "${IMG[$spec]}" ]; then
		fail_now "== $name on $spec: not run (no image)"; return 0
	fi
	case "$kind" in
	image) run_one "$name" "$f" "${IMG[$spec]}/base.img" raw "$spec" "${KVER[$spec]}" "${IMG[$spec]}" & ;;
	install) run_one install "$f" "${IMG[$spec]}/base.img" raw "$spec" "${KVER[$spec]}" "${IMG[$spec]}" & ;;
	layer)
		case "${LAYER[$spec]}" in
		ok) ;;
		failed) fail_now "== $name on ${KVER[$spec]}: not run (the install it starts from failed)"; return 0 ;;
		*) return 1 ;;
		esac
		run_one "$name" "$f" "$SYSDIR/installed-${KVER[$spec]}.qcow2" qcow2 "$spec" "${KVER[$spec]}" "${IMG[$spec]}" & ;;
	esac
	JOB[$!]="$spec $name $kind"
	[ "$jobs_max" -gt 1 ] && echo "system: started $name on $spec"
	return 0
}

prebuilt=""
while [ ${#queue[@]} -gt 0 ] || [ ${#JOB[@]} -gt 0 ]; do
	started=0
	if [ ${#JOB[@]} -lt "$jobs_max" ]; then
		for i in "${!queue[@]}"; do
			if start ${queue[$i]}; then
				unset "queue[$i]"
				queue=("${queue[@]}")
				started=1
				break
			fi
		done
	fi
	[ $started -eq 1 ] && continue
	[ ${#JOB[@]} -gt 0 ] || break	# nothing runs and nothing can start
	wait -n -p done_pid "${!JOB[@]}"
	collect "$done_pid"
done
for e in "${queue[@]}"; do fail_now "== ${e#* }: not run"; done
echo "system: wall time $((SECONDS - t_start)) s ($jobs_max guests at a time)"
echo "system: $total_pass passed, $total_fail failed"
[ $total_fail -eq 0 ]
