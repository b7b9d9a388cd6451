#!/bin/sh
# Test only, never packaged: the Key Vault + IMDS fakes on the initramfs's
# loopback, for the encrypted-root scenarios (tests/system/guest/root.sh).
# Their state (the vault's secrets: the key) is read from the state disk
# /dev/vdc at boot, never from the initramfs. Run as an initramfs-tools
# init-premount script (root_token) or by a oneshot unit before
# cryptsetup-pre.target (root_dracut).
case "${1:-}" in prereqs) exit 0 ;; esac
ip link set lo up
ip addr add 169.254.169.254/32 dev lo
i=0
while [ ! -b /dev/vdc ] && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
mkdir -p /vv-fakes /tmp
/usr/bin/python3 -S -c 'import tarfile; tarfile.open("/dev/vdc").extract("state.json", "/vv-fakes")' ||
	echo "vv-test-fakes: no state on /dev/vdc"
echo "vv-test-fakes: starting the fakes"
/usr/bin/python3 -S /var/lib/vv-fakes/fakes/fakes.py --state-dir /vv-fakes \
	--certs /var/lib/vv-fakes/certs --kv-port 8443 --kv2-port -1 \
	--imds-addr 169.254.169.254 --imds-port 80 --no-limits --quiet \
	--preload /vv-fakes/state.json >/vv-fakes/fakes.log 2>&1 </dev/null &
echo $! >/vv-fakes/pid
i=0
while [ ! -f /vv-fakes/ready ] && [ $i -lt 300 ]; do sleep 1; i=$((i + 1)); done
rm -f /vv-fakes/state.json
if [ -f /vv-fakes/ready ]; then
	echo "vv-test-fakes: ready after $i s"
else
	echo "vv-test-fakes: not ready"
	cat /vv-fakes/fakes.log
fi
exit 0
