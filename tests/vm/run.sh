#!/bin/bash
# Runs guest scenarios under QEMU and reports per-step results.
#
#   tests/vm/run.sh [--kernel 6.1|6.12] NAME...   run scenarios by name
#   tests/vm/run.sh --suite                       every scenario, on the kernels
#                                                 its "# vm-kernels:" line names
# Environment: VV_ACCEL=auto|kvm|tcg (default auto: KVM if a probe boot
# works, else software emulation), VM_TIMEOUT (s per boot, default 300),
# VM_JOBS (guests at a time, default 2), VV_BUILD (default build),
# VV_SHARED (default ../shared), VM_KEEP=1 keeps
# the work dirs of passing scenarios too.
# Output ends with "vm: N passed, N failed". Work dirs of failed scenarios
# (console logs, images) are kept under build/vm/runs/; passing ones removed.
set -u
cd "$(dirname "$0")/../.." || exit 2
# vm_tally; the scenarios source it again in their own shell.
. tests/vm/lib.sh
export VV_SRC=$PWD
export VV_BUILD=${VV_BUILD:-$PWD/build}
export VV_SHARED=${VV_SHARED:-$(cd "$PWD/../shared" 2>/dev/null && pwd)}
VMDIR=$VV_BUILD/vm

kernel_spec=6.1 suite=0 names=()
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) kernel_spec=$2; shift 2 ;;
	--suite) suite=1; shift ;;
	-h|--help) sed -n '2,14p' "$0"; exit 0 ;;
	*) names+=("$1"); shift ;;
	esac
done

# Installed kernel (image + headers) whose version starts with SPEC.
kver_for() {
	local spec=$1 k
	for k in $(ls /lib/modules | sort -V); do
		case "$k" in "$spec".*|"$spec"-*) ;; *) continue ;; esac
		[ -f "/boot/vmlinuz-$k" ] && [ -f "/lib/modules/$k/build/Makefile" ] && echo "$k"
	done | tail -1
}

# KVM nests badly on some hosts (hangs before the first console line), so
# probe it once with a tiny guest and fall back to software emulation.
accel_args() {
	local mode=${VV_ACCEL:-auto} cache=$VMDIR/accel
	if [ "$mode" = auto ]; then
		if [ -f "$cache" ]; then
			mode=$(cat "$cache")
		else
			mode=tcg
			if [ -w /dev/kvm ]; then
				local p; p=$(mktemp -d)
				mkdir -p "$p/r/bin"
				cp /bin/busybox "$p/r/bin/"
				printf '#!/bin/busybox sh\n/bin/busybox echo VV-KVM-OK\n/bin/busybox poweroff -f\n' >"$p/r/init"
				chmod +x "$p/r/init"
				(cd "$p/r" && find . | cpio -o -H newc --quiet) >"$p/i.cpio"
				timeout 20 qemu-system-x86_64 -accel kvm -cpu host -m 256 -display none \
					-no-reboot -nic none -kernel "$1" -initrd "$p/i.cpio" \
					-append "console=ttyS0 panic=-1" -serial "file:$p/c.log" >/dev/null 2>&1
				grep -q VV-KVM-OK "$p/c.log" 2>/dev/null && mode=kvm
				rm -rf "$p"
			fi
			mkdir -p "$VMDIR"
			echo "$mode" >"$cache"
		fi
	fi
	if [ "$mode" = kvm ]; then
		echo "-accel kvm -cpu host"
	else
		echo "-accel tcg,thread=multi -cpu max"
	fi
}

base_for() {
	local k=$1 base=$VMDIR/$1/base.cpio
	mkdir -p "$VMDIR/$k"
	if [ ! -f "$base" ] || [ tests/vm/mkinitrd.sh -nt "$base" ] ||
	   [ tests/vm/guest/init -nt "$base" ] || [ tests/vm/guest/lib.sh -nt "$base" ]; then
		echo "vm: building base initramfs for $k" >&2
		tests/vm/mkinitrd.sh "$k" "$base" || return 1
	fi
	echo "$base"
}

if [ ! -x "$VV_BUILD/vaultvol" ]; then
	echo "vm: $VV_BUILD/vaultvol missing; run make first" >&2
	exit 2
fi

plan=()	# "scenario kernel-spec"
if [ $suite -eq 1 ]; then
	for f in tests/vm/scenarios/*.sh; do
		n=$(basename "$f" .sh)
		# NAME_lib.sh files are helpers sourced by scenarios, not scenarios.
		case "$n" in *_lib) continue ;; esac
		grep -q '^# vm-suite: no' "$f" && continue
		ks=$(sed -n 's/^# vm-kernels: *//p' "$f" | head -1)
		for k in ${ks:-6.1}; do plan+=("$n $k"); done
	done
else
	[ ${#names[@]} -gt 0 ] || { echo "vm: name a scenario or use --suite" >&2; exit 2; }
	for n in "${names[@]}"; do plan+=("$n $kernel_spec"); done
fi

total_pass=0 total_fail=0 t_start=$SECONDS
rm -f "$VMDIR/metrics.tsv"
mkdir -p "$VMDIR/runs"
: >"$VMDIR/summary.tsv"

# run_one NAME KVER BASE WORK: one scenario; its output goes to WORK/out.log
# and "PASSED FAILED SECONDS" to WORK/count.
run_one() {
	local name=$1 kver=$2 base=$3 work=$4 t0=$SECONDS p f
	{
		echo "== $name on $kver"
		(
			export VM_WORK=$work VM_KVER=$kver VM_BASE=$base VM_KERNEL=/boot/vmlinuz-$kver
			export VM_ACCEL_ARGS VM_SCENARIO=$name
			: >"$VM_WORK/results.tsv"
			. tests/vm/lib.sh
			. "tests/vm/scenarios/$name.sh"
		) 2>&1 | sed 's/^/  /'
		vm_tally "$name" "$work" "$t0"
		p=$VM_PASSED f=$VM_FAILED
		echo "$p $f $((SECONDS - t0))" >"$work/count"
	} >"$work/out.log" 2>&1
}

# Resolve kernels and build initramfs images first (shared by the jobs).
runs=()	# "name kver base work"
for entry in "${plan[@]}"; do
	set -- $entry
	name=$1 spec=$2
	if [ ! -f "tests/vm/scenarios/$name.sh" ]; then
		echo "vm: no scenario $name"; total_fail=$((total_fail + 1)); continue
	fi
	kver=$(kver_for "$spec")
	if [ -z "$kver" ]; then
		echo "vm: no installed kernel $spec (image + headers)"; total_fail=$((total_fail + 1)); continue
	fi
	if ! base=$(base_for "$kver"); then
		echo "vm: FAIL $name: could not build the initramfs for $kver"
		total_fail=$((total_fail + 1))
		continue
	fi
	work=$VMDIR/runs/$name-$spec
	rm -rf "$work"; mkdir -p "$work"
	runs+=("$name $kver $base $work")
done
[ ${#runs[@]} -gt 0 ] && VM_ACCEL_ARGS=$(accel_args "/boot/vmlinuz-$(echo "${runs[0]}" | cut -d' ' -f2)")
export VM_ACCEL_ARGS

# VM_JOBS guests at a time (default 2): much of a scenario's wall time is
# guest-side waiting (deadlines, timeouts, emulated I/O), so two guests on
# two cores finish the suite far sooner than one after the other.
jobs_max=${VM_JOBS:-2}
running=0
for r in "${runs[@]}"; do
	set -- $r
	if [ "$running" -ge "$jobs_max" ]; then
		wait -n
		running=$((running - 1))
	fi
	echo "vm: starting $1 on $2"
	run_one "$1" "$2" "$3" "$4" &
	running=$((running + 1))
done
wait

for r in "${runs[@]}"; do
	set -- $r
	name=$1 kver=$2 work=$4
	cat "$work/out.log" 2>/dev/null
	read -r p f secs <"$work/count" 2>/dev/null || { p=0 f=1 secs=0; echo "  FAIL $name: no result"; }
	[ -f "$work/metrics.tsv" ] && sed "s/^/$name\t$kver\t/" "$work/metrics.tsv" >>"$VMDIR/metrics.tsv"
	printf '%s\t%s\t%d\t%d\t%d\n' "$name" "$kver" "$p" "$f" "$secs" >>"$VMDIR/summary.tsv"
	if [ "$f" -eq 0 ] && [ "${VM_KEEP:-0}" != 1 ]; then
		rm -rf "$work"
	fi
	total_pass=$((total_pass + p)) total_fail=$((total_fail + f))
done
echo "vm: wall time $((SECONDS - t_start)) s ($jobs_max guests at a time)"
echo "vm: $total_pass passed, $total_fail failed"
[ $total_fail -eq 0 ]
