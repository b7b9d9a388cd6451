#!/bin/bash
# The fake Azure platform side (tests/fakes/fake_wire.py: wire server, host
# plugin, store) judged by the real WALinuxAgent: Debian 12's waagent package
# (apt-get download, unpacked with dpkg-deb -x into a temp dir, nothing
# installed) drives the fakes on a loopback address through its own protocol
# client, certificate handling and extension download
# (tests/fakes/wire_selftest.py). Needs root (the fake listens on ports 80 and
# 32526, as on Azure), openssl, python3-distro (the agent imports it; in
# tests/deps.sh), and the bundle from `make packages`
# (build/packages/vaultvol-handler-0.2.0.zip, or $WIRE_BUNDLE).
# The waagent .deb is taken from $WAAGENT_DEB, build/waagent/ or apt's cache;
# only when none is there does `apt-get download` fetch it (the one network
# access, to the Debian mirror).
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/suites/lib/common.bash
t0=$SECONDS
BUNDLE=${WIRE_BUNDLE:-$PWD/build/packages/vaultvol-handler-0.2.0.zip}
fin() {
	echo "fake-wire: $pass passed, $fail failed ($((SECONDS - t0)) s)"
	[ "$fail" -eq 0 ]
	exit
}
# A fresh clone (make check runs this before the packaging suite): the
# bundle is made from this build, as `make packages` would.
if [ ! -f "$BUNDLE" ] && [ -z "${WIRE_BUNDLE:-}" ]; then
	make -s all >/dev/null && packaging/bundle.sh >build/fake-wire-bundle.log 2>&1 ||
		echo "fake-wire: building the bundle failed (build/fake-wire-bundle.log)"
fi
if [ ! -f "$BUNDLE" ]; then
	bad "bundle" "$BUNDLE missing (run make packages, or set WIRE_BUNDLE)"
	fin
fi
deb=${WAAGENT_DEB:-}
if [ -z "$deb" ]; then
	deb=$(ls build/waagent/waagent_*_all.deb /var/cache/apt/archives/waagent_*_all.deb 2>/dev/null | head -1)
fi
if [ -z "$deb" ]; then
	mkdir -p build/waagent
	(cd build/waagent && apt-get download waagent >/dev/null 2>&1)
	deb=$(ls build/waagent/waagent_*_all.deb 2>/dev/null | head -1)
fi
if [ -z "$deb" ]; then
	bad "waagent package" "apt-get download waagent failed (set WAAGENT_DEB)"
	fin
fi
T=$(mktemp -d /tmp/vv-fake-wire.XXXXXX)
trap 'tests/fakes/stop.sh "$T/fakes" >/dev/null 2>&1; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
dpkg-deb -x "$deb" "$T/pkg" || { bad "unpack $deb"; fin; }
ok "waagent: $(basename "$deb") unpacked"
# A loopback address of our own: ports 80 and 32526 as on Azure, no clash
# with another run or a local web server on 127.0.0.1.
ADDR=127.77.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
if ! tests/fakes/start.sh "$T/fakes" --quiet --kv2-port -1 --wire-addr "$ADDR" \
	--wire-port 80 --hostplugin-port 32526 --wire-bundle "$BUNDLE" >/dev/null; then
	bad "fakes start" "see above (ports 80/32526 need root)"
	fin
fi
ok "fakes: wire server on $ADDR:80, host plugin on $ADDR:32526"
# selftest NAME ARGS...: run wire_selftest.py with the agent on PYTHONPATH,
# add its counts to ours; the agent's log tail when something failed.
selftest() {
	local name=$1 out line f before=$fail
	shift
	out=$(env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY \
		PYTHONPATH="$T/pkg/usr/lib/python3/dist-packages" \
		/usr/bin/python3 tests/fakes/wire_selftest.py "$@" 2>&1)
	echo "$out" | grep -v -E '^[0-9]+ passed, [0-9]+ failed$'
	line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
	if [ -z "$line" ]; then
		bad "$name" "no summary line"
	else
		pass=$((pass + ${line%% passed*}))
		f=${line#*passed, }
		fail=$((fail + ${f%% failed*}))
	fi
	if [ "$fail" -ne "$before" ] && [ -f "$T/$name/waagent.log" ]; then
		echo "--- agent log (tail)"
		tail -40 "$T/$name/waagent.log"
	fi
}
# 1. the protocol pieces, with the real bundle (downloaded, never run)
selftest protocol "$T/fakes" "$T/protocol/lib" "$BUNDLE"
# 2. the agent's extension loop over a stand-in handler (not the real
#    bundle: its enable would provision disks on this host)
selftest loop --loop "$T/fakes" "$T/loop/lib"
fin
