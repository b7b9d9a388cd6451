#!/bin/bash
# The system tier: scenarios that boot a real Debian 12 (systemd as PID 1,
# udev, Debian's kernel and initramfs) from a cached image under QEMU, with
# the project's packages installed by apt in each scenario's overlay.
#
#   tests/system/run.sh [--kernel 6.1|6.12] NAME...   run scenarios by name
#   tests/system/run.sh [--kernel 6.1|6.12]           every scenario
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

kernel_spec=6.1 names=()
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) kernel_spec=$2; shift 2 ;;
	-h|--help) sed -n '2,14p' "$0"; exit 0 ;;
	*) names+=("$1"); shift ;;
	esac
done
if [ ${#names[@]} -eq 0 ]; then
	for f in tests/system/scenarios/*.sh; do
		n=$(basename "$f" .sh)
		case "$n" in *_lib) continue ;; esac
		names+=("$n")
	done
fi

# The Debian kernel ABI of this machine's kernel SPEC (e.g. 6.1 ->
# 6.1.0-57-amd64); the image installs the same package from the archive.
kver=$(ls /boot/vmlinuz-"$kernel_spec"[.-]* 2>/dev/null | sed 's|.*/vmlinuz-||' | sort -V | tail -1)
if [ -z "$kver" ]; then
	echo "system: no kernel $kernel_spec in /boot"
	echo "system: 0 passed, 1 failed"
	exit 1
fi
mkdir -p "$SYSDIR/runs"
t_start=$SECONDS

# The image (cached; built only when its inputs change).
t0=$SECONDS
if ! SYS_IMAGE=$(tests/system/mkimage.sh "$kver"); then
	echo "system: FAIL could not build the image for $kver"
	echo "system: 0 passed, 1 failed"
	exit 1
fi
export SYS_IMAGE
echo "system: image $SYS_IMAGE ($((SECONDS - t0)) s)"

# The project's packages, as `make packages` builds them (rebuilt when the
# program, the module source or the packaging changed since).
version=$(sed -n 's/^VERSION *:= *//p' Makefile)
export SYS_DEBS=$VV_BUILD/packages
deb=$SYS_DEBS/vaultvol_${version}_amd64.deb
dkmsdeb=$SYS_DEBS/vaultvol-dm-quiesce-dkms_${version}_all.deb
if [ ! -f "$deb" ] || [ ! -f "$dkmsdeb" ] ||
   [ -n "$(find "$VV_BUILD/vaultvol" packaging dmtarget -newer "$deb" -print -quit 2>/dev/null)" ]; then
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

total_pass=0 total_fail=0
for name in "${names[@]}"; do
	f=tests/system/scenarios/$name.sh
	if [ ! -f "$f" ]; then
		echo "system: no scenario $name"; total_fail=$((total_fail + 1)); continue
	fi
	work=$SYSDIR/runs/$name-$kernel_spec
	rm -rf "$work" && mkdir -p "$work"
	echo "== $name on $kver"
	t0=$SECONDS
	qemu-img create -q -f qcow2 -F raw -b "$SYS_IMAGE/base.img" "$work/os.qcow2" ||
		{ echo "  FAIL overlay"; total_fail=$((total_fail + 1)); continue; }
	(
		export VM_WORK=$work VM_KVER=$kver VM_SCENARIO=$name
		: >"$VM_WORK/results.tsv"
		. tests/vm/lib.sh
		. tests/system/lib.sh
		. "$f"
	) 2>&1 | sed 's/^/  /'
	vm_tally "$name" "$work" "$t0"
	p=$VM_PASSED fl=$VM_FAILED
	if [ "$fl" -eq 0 ]; then
		[ "${VM_KEEP:-0}" = 1 ] || rm -rf "$work"
	fi
	total_pass=$((total_pass + p)) total_fail=$((total_fail + fl))
done
echo "system: wall time $((SECONDS - t_start)) s"
echo "system: $total_pass passed, $total_fail failed"
[ $total_fail -eq 0 ]
