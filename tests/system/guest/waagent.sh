# Guest side of the system scenario waagent (both boots): the platform's
# helpers and the checks (sourced by the scenario's boot scripts).
plugin=Example.Vaultvol.Handler
wstate() { fakectl wire_state | python3 -c 'import json,sys; print(json.load(sys.stdin)["wire"][sys.argv[1]])' "$1"; }
# The AAD client secret only ever in /run (tmpfs), the fakes' memory and
# the platform disk: never in a command line the step lines echo (the
# journal is on the OS disk the host greps), nor in a file on the OS disk.
X=/run/vv-x
mkdir -p -m 700 $X
# wait_status SEQ STATUSES: the fake's newest blob with the handler at SEQ in
# one of STATUSES (up to 20 min under emulation); its flat JSON in
# /tmp/st-SEQ.json.
wait_status() {
	local i
	for i in $(seq 1 24); do
		fakectl wire_handler_status seq=$1 status=$2 wait=50 >/tmp/st-$1.json 2>/dev/null && return 0
	done
	echo "no status for sequence $1 ($2); last blob's handlers:"
	fakectl -f handlers wire_status_blobs 2>&1 | tail -5
	tail -30 /var/log/waagent.log
	return 1
}
# brief ST_FILE: the flat status on one line, for the host's log.
brief() { field "$1" 'json.dumps({k: d[k] for k in ("seq", "status", "code", "operation", "message", "substatus")})'; }
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
enables() { grep -a -c "Executing command: .*vaultvol-handler enable .*\"ConfigSequenceNumber\": \"$1\"" /var/log/waagent.log; }
both_mounted() {
	test "$(findmnt -n -o SOURCE /data/wa)" = /dev/mapper/wadata &&
		test "$(findmnt -n -o SOURCE /data/logs)" = /dev/mapper/walogs &&
		grep -q waagent /data/wa/hello.txt && grep -q logs /data/logs/hello.txt
}
