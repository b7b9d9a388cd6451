#!/bin/bash
# The fault matrix (issue 21): every vault and IMDS fault of faults.txt
# injected into every command of COMMANDS below, on the host, against the
# Key Vault and IMDS fakes on loopback (real vault host names pinned to
# 127.0.0.1) and volumes on loop devices (no device-mapper: the commands
# here change headers and talk to the vault, they do not activate).
#
#   tests/faults/run.sh [--guest] [--bounded N] [--only FAULT[,FAULT]] [--cmd CMD[,CMD]]
#
# --guest adds the guest columns, from two busybox QEMU guests whose steps
# are read back into the table: tests/vm/scenarios/faults_open.sh, the same
# vault faults injected into `vaultvol open` (open activates:
# device-mapper), and tests/vm/scenarios/faults_guest.sh, the faults of
# faults.txt injected by %faults_guest (disks under the crypt mapping,
# signals during open --all and a snapshot's freeze, the clock stepped while
# frozen, a memory cgroup, pre-scripts) into open, close and snapshot; and
# tests/vm/scenarios/faults_power.sh, power cuts (%faults_power) during
# provision, rotate, adopt and snapshot, judged by the next boot.
#
# For each cell the verdict is measured, not assumed:
#   exit     outage/definite faults fail (status 1), transient ones succeed;
#   message  a failure names its object (the device or the secret), the
#            cause the fault stands for, and the remedy that fits it;
#   disk     a failed command leaves every byte of its device as it was
#            (sha256 of the whole image before and after); a command that
#            succeeded and changed a header backed it up first;
#   leak     no secret value of the fake vault (hex or base64) in the output;
#   rerun    after the fault ends, the same command succeeds.
# A fault injected as @at=PATTERN:FAKECTL-CALL starts mid-run, the moment
# the command's output shows PATTERN (token expiry, RBAC denial); its
# verdict is its class's.
# A killed fault (class "killed", injection @kill=SIG:PATTERN) sends SIG to
# vaultvol the moment its output shows PATTERN (a step it prints); then: the
# signal landed, no secret in the output, a header that changed was backed
# up first, and a rerun either recovers (exit 0) or refuses with the
# object and a remedy ("refused" in the table: it says exactly why not).
# Known gaps (gaps.txt: FAULT COMMAND REASON) are printed as "gap", not failed.
# Each cell's output (and its rerun's) is kept in build/faults/CMD-FAULT.out.
# Prints the table fault x command, then "faults: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/suites/lib/common.bash
VV=$PWD/build/vaultvol
T=$(mktemp -d /tmp/vv-faults.XXXXXX)
KEEP=$PWD/build/faults
rm -rf "$KEEP" && mkdir -p "$KEEP"
LOOPS=()
trap suite_cleanup EXIT
COMMANDS="key-show key-put provision adopt rotate rotate-kek encrypt"
bounded=0 only="" cmds="" guest=0
while [ $# -gt 0 ]; do
	case "$1" in
	--bounded) bounded=$2; shift 2 ;;
	--guest) guest=1; shift ;;
	--only) only=$2; shift 2 ;;
	--cmd) cmds=$2; shift 2 ;;
	-h|--help) sed -n '2,33p' "$0"; exit 0 ;;
	*) echo "usage: $0 [--bounded N] [--only FAULTS] [--cmd CMDS]" >&2; exit 2 ;;
	esac
done
[ -n "$cmds" ] && COMMANDS=${cmds//,/ }
[ -x "$VV" ] || { bad "build/vaultvol built (make userspace)"; finish; }
[ "$(id -u)" = 0 ] || { bad "run as root (losetup)"; finish; }
for t in cryptsetup losetup mkfs.ext4 sha256sum xxd; do
	command -v $t >/dev/null || { bad "$t installed"; finish; }
done

# timeout 4 s: kv-slow's 8 s answers are past it.
suite_vault 4 || { bad "fakes start"; finish; }
# WRAP: what an @ fault puts before the command (e.g. prlimit), empty otherwise.
WRAP=()
vv() { "${WRAP[@]}" "$VV" -c "$T/etc/vaultvol.conf" --state-dir "$T/state" "$@"; }
# The interpreter itself, not a version manager's shim: a cell makes a dozen calls.
PY=$(python3 -c 'import sys; print(sys.executable)')
fake() { "$PY" tests/fakes/fakectl.py -s "$T/fakes" "$@"; }
RCOST=(--recovery-iterations 4 --recovery-memory 32)
KEKVER=$(fake -f version put_key name=kek bits=2048) || { bad "fake KEK"; finish; }
KEK=$FAKE_KV_URL/keys/kek/$KEKVER

# ---- the commands: prep_CMD makes a fresh object, run_CMD runs the command ----
# prep sets DEV (device or ""), OBJ (what the message must name) and IMG.
newloop() {	# NAME MIB: a zeroed image on a loop device -> DEV, IMG
	IMG=$T/$1.img
	rm -f "$IMG"
	truncate -s "$2M" "$IMG"
	DEV=$(losetup -f --show "$IMG") || return 1
	LOOPS+=("$DEV")
}
# provisioned NAME: a vaultvol LUKS2 volume whose key is secret NAME wrapped by the KEK.
provisioned() {
	newloop "$1" 32 || return 1
	vv provision "$DEV" --secret "$1" --kek "$KEK" --mount "/data/$1" --format-only \
		"${RCOST[@]}" >"$T/prep.out" 2>&1
}
prep_key-show() { DEV="" OBJ=$1; vv key put "$1" --kek "$KEK" --generate 32 >"$T/prep.out" 2>&1; }
run_key-show() { vv key show "$1"; }
prep_key-put() { DEV="" OBJ=$1; }
run_key-put() { vv key put "$1" --kek "$KEK" --generate 32; }
prep_provision() { newloop "$1" 32 && OBJ=$DEV; }
run_provision() {
	vv provision "$DEV" --secret "$1" --kek "$KEK" --mount "/data/$1" --format-only "${RCOST[@]}"
}
prep_adopt() {
	newloop "$1" 32 || return 1
	OBJ=$DEV
	(umask 077; head -c 32 /dev/urandom >"$T/$1.key")
	cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--key-file "$T/$1.key" "$DEV" >"$T/prep.out" 2>&1 &&
		vv key put "$1" --kek "$KEK" --from-file "$T/$1.key" >>"$T/prep.out" 2>&1
	local r=$?
	rm -f "$T/$1.key"
	return $r
}
run_adopt() { vv adopt "$DEV" --secret "$1" --kek "$KEK" --force; }
prep_rotate() { provisioned "$1" && OBJ=$DEV; }
run_rotate() { vv rotate "$DEV"; }
prep_rotate-kek() {
	provisioned "$1" || return 1
	OBJ=$DEV
	KEK2=$FAKE_KV_URL/keys/kek2/$(fake -f version put_key name=kek2 bits=2048) || return 1
}
run_rotate-kek() { vv rotate "$DEV" --kek "$KEK2"; }
prep_encrypt() {
	newloop "$1" 64 || return 1
	OBJ=$DEV
	mkdir -p "$T/tree" && head -c 1M /dev/urandom >"$T/tree/f"
	mkfs.ext4 -q -F -b 4096 -d "$T/tree" "$DEV"
}
run_encrypt() { vv encrypt "$DEV" --secret "$1" --kek "$KEK" "${RCOST[@]}"; }
# Commands that change a header of an existing volume back it up first.
backs_up() { case "$1" in adopt|rotate|rotate-kek) return 0 ;; esac; return 1; }

# ---- faults ---------------------------------------------------------------------
# This machine's faults (@NAME): the state directory under a tmpfs mounted
# over it (full, or read-only; mode 0700, as vaultvol requires), and a limit.
inject_state-full() { mount -t tmpfs -o size=1m,mode=0700 vvfull "$T/state"; }
end_state-full() { umount "$T/state"; }
inject_state-ro() { mount -t tmpfs -o ro,size=1m,mode=0700 vvro "$T/state"; }
end_state-ro() { umount "$T/state"; }
inject_nofile32() { WRAP=(prlimit --nofile=32 --); }
end_nofile32() { WRAP=(); }
fault_start() {	# FAKECTL-CALLS ("a b ; c d") or @NAME
	case "$1" in @*) "inject_${1#@}"; return ;; esac
	local IFS=';' call
	for call in $1; do
		IFS=' ' read -r -a argv <<<"$call"
		[ ${#argv[@]} -gt 0 ] && { fake -q "${argv[@]}" || return 1; }
	done
	return 0
}
fault_end() {	# [@NAME]
	case "${1:-}" in @*) "end_${1#@}" || return 1 ;; esac
	fake -q faults_clear && fake -q rbac_clear && fake -q tls cert=server &&
		fake -q set_attributes kind=key name=kek enabled=true
}
# secret values of the fake vault, hex and base64, one per line (leak check).
vault_values() {
	fake export | "$PY" -c 'import base64, json, sys
for op in json.load(sys.stdin)["ops"]:
    if op["op"] == "put_secret":
        v = base64.b64decode(op["value"])
        print(v.hex()); print(op["value"])
        try:
            raw = base64.b64decode(v, validate=True)
            if len(raw) >= 16: print(raw.hex())
        except Exception: pass'
}

# run_at PATTERN CMD NAME OUT ACTION: run CMD, its output to OUT; eval
# ACTION (with $pid, the runner's pid) once, as soon as a line matches
# PATTERN. FIRED=1 when ACTION succeeded; RC is the command's exit status.
run_at() {
	local pat=$1 cmd=$2 name=$3 out=$4 act=$5 line pid
	FIRED=0
	: >"$out"
	coproc RUNNER { "run_$cmd" "$name" 2>&1; }
	pid=$RUNNER_PID
	while IFS= read -r line; do
		printf '%s\n' "$line" >>"$out"
		if [ $FIRED = 0 ] && [[ $line =~ $pat ]]; then
			eval "$act" && FIRED=1
		fi
	done <&"${RUNNER[0]}"
	wait "$pid"
	RC=$?
}

# run_until SIG PATTERN CMD NAME OUT: run_at, sending SIG to the command's
# vaultvol process. KILLED=1 when the signal was sent.
run_until() {
	run_at "$2" "$3" "$4" "$5" "pkill -$1 -P \"\$pid\" -x vaultvol"
	KILLED=$FIRED
}

# killed_cell CMD NAME OUT SIG:PATTERN -> VERDICT (the caller's prep done)
killed_cell() {
	local cmd=$1 name=$2 out=$3 sig=${4%%:*} pat=${4#*:} before after backups0 why="" rc2
	[ -n "$IMG" ] && before=$(sha256sum <"$IMG")
	backups0=$(ls "$T/state/header-backups" 2>/dev/null | wc -l)
	# Every vault answer 150 ms late: the signal is sent the moment the
	# step is printed, and a command whose remaining work is one local
	# write and one vault request (provision after its header backup)
	# could otherwise finish before pkill lands.
	fault_start "fault delay_ms=150 count=-1 when=authed"
	run_until "$sig" "$pat" "$cmd" "$name" "$out"
	fault_end >/dev/null 2>&1
	sync
	[ -n "$IMG" ] && after=$(sha256sum <"$IMG")
	[ $KILLED = 1 ] || why+="never printed /$pat/ (exit $RC); "
	[ $KILLED = 1 ] && [ $RC -eq 0 ] && why+="finished before SIG$sig landed; "
	if backs_up "$cmd" && [ -n "$IMG" ] && [ "$before" != "$after" ] &&
		[ "$(ls "$T/state/header-backups" 2>/dev/null | wc -l)" -le "$backups0" ]; then
		why+="header changed without a backup; "
	fi
	"run_$cmd" "$name" >"$out.rerun" 2>&1
	rc2=$?
	if [ $rc2 -ne 0 ]; then
		if [ $rc2 -eq 1 ] && grep -qF -- "$OBJ" "$out.rerun" && grep -q 'remedy: ' "$out.rerun"; then
			REFUSED=$(grep -m1 -iE 'error|refus' "$out.rerun")
		else
			why+="rerun exit $rc2: $(grep -m1 -i error "$out.rerun"); "
		fi
	fi
	vault_values >"$T/values" 2>/dev/null
	[ -s "$T/values" ] && cat "$out" "$out.rerun" | grep -qiF -f "$T/values" && why+="a key value in the output; "
	VERDICT=${why:-ok}
}

# cell FAULT CLASS CAUSE CALLS CMD -> VERDICT ("ok", or what failed)
cell() {
	local f=$1 class=$2 cause=$3 remedy=$4 calls=$5 cmd=$6 name out rc before after why=""
	name=$(printf '%s-%s' "$cmd" "$f" | tr -c 'a-zA-Z0-9-\n' '-')
	out=$T/cell-$name.out
	DEV="" OBJ="" IMG=""
	fault_end >/dev/null 2>&1
	if ! "prep_$cmd" "$name"; then
		VERDICT="prep failed: $(tail -2 "$T/prep.out" 2>/dev/null | tr '\n' ' ')"
		return
	fi
	REFUSED=""
	if [ "$class" = killed ]; then
		killed_cell "$cmd" "$name" "$out" "${calls#@kill=}"
		cp "$out" "$KEEP/$name.out"
		cp "$out.rerun" "$KEEP/$name.rerun"
		[ -n "$DEV" ] && losetup -d "$DEV" 2>/dev/null
		rm -f "$IMG"
		return
	fi
	[ -n "$IMG" ] && before=$(sha256sum <"$IMG")
	local backups0
	backups0=$(ls "$T/state/header-backups" 2>/dev/null | wc -l)
	if [[ $calls == @at=* ]]; then
		# A fault that starts mid-run: when the output shows PATTERN.
		local at_pat=${calls#@at=}
		AT_CALL=${at_pat#*:} at_pat=${at_pat%%:*}
		run_at "$at_pat" "$cmd" "$name" "$out" 'fault_start "$AT_CALL"'
		rc=$RC
		[ $FIRED = 1 ] || why+="never printed /$at_pat/ (the fault never started); "
		calls=""
	else
		fault_start "$calls" || { VERDICT="fault did not start"; return; }
		"run_$cmd" "$name" >"$out" 2>&1
		rc=$?
	fi
	fault_end "$calls" >/dev/null 2>&1 || { VERDICT="fault did not end"; return; }
	sync
	[ -n "$IMG" ] && after=$(sha256sum <"$IMG")
	if [ "$class" = transient ]; then
		[ $rc -eq 0 ] || why+="exit $rc (a transient fault must be ridden out); "
		if [ $rc -eq 0 ] && backs_up "$cmd" && [ "$before" != "$after" ] &&
			[ "$(ls "$T/state/header-backups" 2>/dev/null | wc -l)" -le "$backups0" ]; then
			why+="header changed without a backup; "
		fi
	elif [ "$class" = midrun ]; then
		# Started while the command runs: it may land after the last
		# request (exit 0) or between header changes; either way a
		# failure says what and why, and a changed header was backed up.
		if [ $rc -ne 0 ]; then
			[ $rc -eq 1 ] || why+="exit $rc, not 0 or 1; "
			grep -qF -- "$OBJ" "$out" || why+="object $OBJ not named; "
			grep -qE -- "$cause" "$out" || why+="cause /$cause/ not named; "
			grep -qE -- "remedy: .*($remedy)" "$out" || why+="no remedy /$remedy/; "
		fi
		if backs_up "$cmd" && [ "$before" != "$after" ] &&
			[ "$(ls "$T/state/header-backups" 2>/dev/null | wc -l)" -le "$backups0" ]; then
			why+="header changed without a backup; "
		fi
		echo "  $f x $cmd: exit $rc ($(grep -c 'header backed up' "$out") header change(s) before the fault landed)"
	else
		[ $rc -eq 1 ] || why+="exit $rc, not 1; "
		grep -qF -- "$OBJ" "$out" || why+="object $OBJ not named; "
		grep -qE -- "$cause" "$out" || why+="cause /$cause/ not named; "
		grep -qE -- "remedy: .*($remedy)" "$out" || why+="no remedy /$remedy/; "
		[ -n "$IMG" ] && [ "$before" != "$after" ] && why+="device changed; "
	fi
	vault_values >"$T/values" 2>/dev/null
	[ -s "$T/values" ] && grep -qiF -f "$T/values" "$out" && why+="a key value in the output; "
	if [ "$class" != transient ] && [ -z "$why" ]; then
		"run_$cmd" "$name" >"$out.rerun" 2>&1
		rc=$?
		# A mid-run fault can leave a command's work half done, as a kill
		# does: the rerun then recovers, or refuses naming the object and
		# what to do (provision's documented "run it again with --force").
		if [ $rc -ne 0 ] && [ "$class" = midrun ] && [ $rc -eq 1 ] &&
			grep -qF -- "$OBJ" "$out.rerun" && grep -q 'remedy: ' "$out.rerun"; then
			REFUSED=$(grep -m1 -iE 'error|refus' "$out.rerun")
		elif [ $rc -ne 0 ]; then
			why+="rerun failed: $(grep -m1 -i error "$out.rerun"); "
		fi
	fi
	cp "$out" "$KEEP/$name.out"
	[ -f "$out.rerun" ] && cp "$out.rerun" "$KEEP/$name.rerun"
	[ -n "$DEV" ] && losetup -d "$DEV" 2>/dev/null
	rm -f "$IMG"
	VERDICT=${why:-ok}
}

# ---- the matrix -----------------------------------------------------------------
declare -A RES
gap_reason() {	# FAULT CMD -> the known gap's reason, or nothing
	[ -f tests/faults/gaps.txt ] || return
	awk -v f="$1" -v c="$2" '$1 == f && $2 == c { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' \
		tests/faults/gaps.txt
}
mapfile -t FAULTS < <(grep -v '^#' tests/faults/faults.txt | grep -v '^ *$')
# The cells to run, "FAULT CMD" each: the whole cross product, or with
# --bounded N the N cheapest faults (by COST, file order within a cost),
# each with the next command in turn, so the subset spans both axes.
CELLS=()
if [ "$bounded" -gt 0 ]; then
	read -r -a CMDV <<<"$COMMANDS"
	i=0
	while read -r f _ _ _ _ applies _; do
		[ $i -ge "$bounded" ] && break
		[ "$applies" = "*" ] || continue	# the subset keeps the faults of every command
		CELLS+=("$f ${CMDV[$((i % ${#CMDV[@]}))]}")
		i=$((i + 1))
	done < <(printf '%s\n' "${FAULTS[@]}" | sort -s -k5,5n)
else
	for line in "${FAULTS[@]}"; do
		read -r f _ _ _ _ applies calls <<<"$line"
		[[ $calls == %* ]] && continue	# a guest scenario's cell (--guest)
		[ -n "$only" ] && ! grep -qx -- "$f" < <(tr "," "\n" <<<"$only") && continue
		for cmd in $COMMANDS; do
			declare -F "prep_$cmd" >/dev/null || continue	# open: the guest's column
			[ "$applies" = "*" ] || grep -qx -- "$cmd" < <(tr "," "\n" <<<"$applies") ||
				continue
			CELLS+=("$f $cmd")
		done
	done
fi
t0=$SECONDS ncell=0 ngap=0
for c in "${CELLS[@]}"; do
	read -r f cmd <<<"$c"
	# A fault may have a host line and a guest line (%SCENARIO): the host's.
	read -r _ class cause remedy cost _ calls < <(printf '%s\n' "${FAULTS[@]}" |
		awk -v f="$f" '$1 == f && $7 !~ /^%/')
	ncell=$((ncell + 1))
	cell "$f" "$class" "$cause" "$remedy" "$calls" "$cmd"
	g=$(gap_reason "$f" "$cmd")
	if [ "$VERDICT" = ok ] && [ -n "$REFUSED" ]; then
		RES[$f,$cmd]=refused
		ok "$f x $cmd (rerun refused, with a remedy: $REFUSED)"
	elif [ "$VERDICT" = ok ]; then
		RES[$f,$cmd]=ok
		ok "$f x $cmd"
	elif [ -n "$g" ]; then
		RES[$f,$cmd]=gap ngap=$((ngap + 1))
		echo "gap  $f x $cmd: $g (measured: $VERDICT)"
	else
		RES[$f,$cmd]=FAIL
		bad "$f x $cmd" "$VERDICT"
	fi
done

# The guest columns: faults_open runs every vault and IMDS fault against
# `open`; faults_guest injects the %faults_guest faults (disks, signals,
# clock, cgroup) into open, close and snapshot. Their steps are the cells.
guest_cells() {	# SCENARIO: run it; read its FAULT-x-CMD steps into RES
	local sc=$1 line f applies calls cmd st res
	VM_KEEP=1 tests/vm/run.sh "$sc"
	res=$(ls -d build/vm/runs/"$sc"-*/ 2>/dev/null | head -1)results.tsv
	for line in "${FAULTS[@]}"; do
		read -r f _ _ _ _ applies calls <<<"$line"
		case "$sc:$calls" in
		faults_open:[@%]*) continue ;;
		# The vault faults' open column: the lines for every command or
		# naming open (faults_open.sh runs those only).
		faults_open:*)
			case ",$applies," in *",open,"*|",*,") applies=open ;; *) continue ;; esac ;;
		*:"%$sc") ;;
		*) continue ;;
		esac
		[ -n "$only" ] && ! grep -qx -- "$f" < <(tr "," "\n" <<<"$only") && continue
		for cmd in ${applies//,/ }; do
			[ "$applies" = open ] || [ "$cmd" = open ] ||
				case " $COMMANDS " in *" $cmd "*) ;; *) COMMANDS+=" $cmd" ;; esac
			# Steps are named BOOT/STEP (boot1/kv503-x-open).
			st=$(awk -F'\t' -v s="$f-x-$cmd" '$2 ~ "/" s "$" { print $1; exit }' "$res" 2>/dev/null)
			# A cell that failed as gaps.txt says is the scenario's step FAULT-x-CMD-gap.
			[ -z "$st" ] && awk -F'\t' -v s="$f-x-$cmd-gap" '$2 ~ "/" s "$" && $1 == "PASS" { f = 1 }
				END { exit !f }' "$res" 2>/dev/null && st=GAP
			ncell=$((ncell + 1))
			case "$st" in
			PASS) RES[$f,$cmd]=ok; ok "$f x $cmd" ;;
			GAP) RES[$f,$cmd]=gap ngap=$((ngap + 1))
			     echo "gap  $f x $cmd: $(gap_reason "$f" "$cmd") (console: ${res%results.tsv})" ;;
			*) RES[$f,$cmd]=FAIL; bad "$f x $cmd" "${st:-no result} (console: ${res%results.tsv})" ;;
			esac
		done
	done
}
if [ $guest = 1 ]; then
	case " $COMMANDS " in *" open "*) ;; *) COMMANDS+=" open" ;; esac
	guest_cells faults_open
	guest_cells faults_guest
	guest_cells faults_power
	# Issue 17's ten cuts (the vm suite makes three).
	export VV_ENC_CUTS=10
	guest_cells encrypt_power
	unset VV_ENC_CUTS
fi

echo
printf '%-15s' "fault"
for cmd in $COMMANDS; do printf ' %-10s' "$cmd"; done
echo
declare -A SHOWN
for line in "${FAULTS[@]}"; do
	read -r f _ <<<"$line"
	[ -n "${SHOWN[$f]:-}" ] && continue	# one row for a host and a guest line
	SHOWN[$f]=1
	any=0
	for cmd in $COMMANDS; do [ -n "${RES[$f,$cmd]:-}" ] && any=1; done
	[ $any = 1 ] || continue
	printf '%-15s' "$f"
	for cmd in $COMMANDS; do printf ' %-10s' "${RES[$f,$cmd]:--}"; done
	echo
done
echo "faults: $ncell cells ($ngap known gaps) in $((SECONDS - t0)) s"
echo "faults: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
