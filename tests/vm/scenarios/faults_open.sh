# vm-kernels: 6.1
# The fault matrix's `open` column (issue 21, docs/faults.md): every vault
# and IMDS fault of tests/faults/faults.txt injected into `vaultvol open` of
# a KEK-wrapped LUKS2 volume, in one guest, against the fakes on the
# guest's loopback. The host tier (tests/faults/run.sh) covers the
# commands that need no device-mapper; `open` activates, so it runs here.
# Each cell's verdict is measured as the host tier measures it: an outage or
# a definite answer fails with exit 1 naming the volume, the cause and a
# remedy, activates nothing and leaves every byte of the disk as it was, and
# the volume opens once the fault ends; a transient fault is ridden out.
vm_disk fv 24M
export PW_fv=$(head -c 24 /dev/urandom | base64) UUID_fv=$(cat /proc/sys/kernel/random/uuid)
tests/fakes/mkca.sh "$VM_WORK/certs" >/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$VM_WORK/kek.pem" 2>/dev/null
# The LUKS2 header made on the host (no device-mapper needed to format).
printf '%s' "$PW_fv" | cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 --uuid "$UUID_fv" --key-file - "$VM_WORK/fv.img"
export PRELOAD=$(python3 - "$VM_WORK/kek.pem" <<'PY' | base64 -w0
import json, os, sys
print(json.dumps([{"op": "put_key", "name": "kek", "pem": open(sys.argv[1]).read()},
                  {"op": "put_bek", "name": "fv", "key": os.environ["PW_fv"], "kek": "kek"}]))
PY
)
# Every certificate the `tls` control op can switch to, not only the server's.
export CERTS_TGZ=$(tar -C "$VM_WORK/certs" -cz . | base64 -w0)
VM_GUEST_ENV="UUID_fv PW_fv PRELOAD CERTS_TGZ"
sha256sum "$VM_WORK/fv.img" | cut -d' ' -f1 >"$VM_WORK/fv.sha"

vm_boot --disk fv --timeout 900 <<'GUEST'
set -u
. /vv/tests/vm/scenarios/open_lib.sh
mkdir -p /tmp/certs
printf '%s' "$CERTS_TGZ" | base64 -d | tar -C /tmp/certs -xzf -
printf '%s' "$PRELOAD" | base64 -d >/tmp/preload.json
step fakes-start sh -c 'FAKES_START_TIMEOUT=180 /vv/tests/fakes/start.sh /tmp/fakes --certs /tmp/certs \
	--imds-addr 169.254.169.254 --imds-port 80 --kv2-port -1 --no-limits --quiet \
	--preload /tmp/preload.json >/dev/null'
. /tmp/fakes/ports.env
export VAULTVOL_TEST_RESOLVE=$FAKE_RESOLVE FAKES_STATE_DIR=/tmp/fakes VV_TEST_BACKOFF_SCALE=0.01
mkdir -p /etc/vaultvol
printf '[vault]\nurl = %s\nca_file = %s\ntimeout = 4\n[volume fv]\nmatch = uuid:%s\nkey = fv\n' \
	"$FAKE_KV_URL" "$FAKE_CA" "$UUID_fv" >/etc/vaultvol/vaultvol.conf
chmod 600 /etc/vaultvol/vaultvol.conf
before=$(dev_sha /dev/vda)
fault_start() {
	echo "$1" | tr ';' '\n' | while read -r call; do
		[ -n "$call" ] || continue
		# shellcheck disable=SC2086
		fakectl -q $call || exit 1
	done
}
fault_end() {
	fakectl -q faults_clear && fakectl -q rbac_clear && fakectl -q tls cert=server &&
		fakectl -q set_attributes kind=key name=kek enabled=true
}
# The mapping is fv, or fv-vvcrypt under dm-quiesce when that is loaded.
opened() { dmsetup info fv >/dev/null 2>&1 || dmsetup info fv-vvcrypt >/dev/null 2>&1; }
n=0
grep -v '^#' /vv/tests/faults/faults.txt | grep -v '^ *$' >/tmp/faults
while read -r f class cause remedy cost applies calls; do
	# This machine's faults (@) are the host tier's; some faults name their commands.
	case "$calls" in @*|%*) continue ;; esac
	case ",$applies," in *",open,"*|",*,") ;; *) continue ;; esac
	n=$((n + 1))
	why=""
	fault_start "$calls" </dev/null || why="fault did not start; "
	vaultvol open fv >/tmp/out 2>&1 </dev/null
	rc=$?
	fault_end </dev/null || why="${why}fault did not end; "
	if [ "$class" = transient ]; then
		[ $rc -eq 0 ] || why="${why}exit $rc (a transient fault must be ridden out); "
		opened || why="${why}not opened; "
	else
		[ $rc -eq 1 ] || why="${why}exit $rc, not 1; "
		grep -q "^fv: FAILED" /tmp/out || why="${why}volume not named; "
		grep -qE -- "$cause" /tmp/out || why="${why}cause /$cause/ not named; "
		grep -qE -- "remedy: .*($remedy)" /tmp/out || why="${why}no remedy /$remedy/; "
		opened && why="${why}activated; "
		[ "$(dev_sha /dev/vda)" = "$before" ] || why="${why}disk changed; "
		grep -qF "$PW_fv" /tmp/out && why="${why}the key in the output; "
		if [ -z "$why" ]; then
			vaultvol open fv >/tmp/rerun 2>&1 </dev/null ||
				why="${why}rerun failed: $(grep -m1 FAILED /tmp/rerun); "
		fi
	fi
	vaultvol close fv >/dev/null 2>&1 </dev/null
	echo "=== cell $f x open: ${why:-ok}"
	cat /tmp/out
	step "$f-x-open" test -z "$why"
done </tmp/faults
step cells-ran test "$n" -ge 18
open_fakes_stop
GUEST
host_step disk-unchanged sh -c "test \"\$(sha256sum '$VM_WORK/fv.img' | cut -d' ' -f1)\" = \"\$(cat '$VM_WORK/fv.sha')\""
