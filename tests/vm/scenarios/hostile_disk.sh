# vm-kernels: 6.1
# A disk is outside input: its LUKS2 header is not authenticated, so whoever
# can write its bytes writes its vaultvol token. Two hostile disks ask for a
# rogue vault (a TLS server on the guest's loopback that logs every request
# and answers with a Key Vault challenge for https://vault.azure.net) and to
# be mounted on /etc with suid,dev,exec; one names the rogue by a vault-like
# name (rogue.example.net, pinned to loopback like every test vault name),
# one by localhost. A legitimate token-described disk sits beside them.
# `vaultvol open --all` must open the legitimate one, refuse both hostile
# ones by name and host, send the rogue no Authorization header and no
# body, mount nothing over /etc, write nothing to the hostile disks, and
# exit 1.
for n in good hostile1 hostile2; do vm_disk $n 32M; done
tests/fakes/mkca.sh "$VM_WORK/certs" >/dev/null
export VV_CA_PEM=$(cat "$VM_WORK/certs/ca.pem") VV_SERVER_PEM=$(cat "$VM_WORK/certs/server.pem")
export VV_SERVER_KEY=$(cat "$VM_WORK/certs/server.key")
VM_GUEST_ENV="VV_CA_PEM VV_SERVER_PEM VV_SERVER_KEY"

# Boot 1: the disks as an attacker (and the owner of the good one) made them.
vm_boot --disk good --disk hostile1 --disk hostile2 <<'GUEST'
set -u
fmt() {	# DEV KEYFILE
	cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--key-file "$2" "$1"
}
tok() {	# DEV KEYREF NAME MOUNT OPTIONS
	printf '{"type":"vaultvol","keyslots":["0"],"vv_version":1,"key":"%s","name":"%s","mount":"%s","fs":"ext4","options":"%s"}' \
		"$2" "$3" "$4" "$5" >/tmp/tok.json
	cryptsetup token import --json-file /tmp/tok.json "$1"
}
head -c 32 /dev/urandom >/tmp/evil.key
for d in /dev/vdb /dev/vdc; do
	step "format-$d" fmt $d /tmp/evil.key
	cryptsetup open --key-file /tmp/evil.key $d evil
	mkfs.ext4 -q /dev/mapper/evil
	mkdir -p /mnt/evil && mount /dev/mapper/evil /mnt/evil
	echo "root::0:0:evil:/root:/bin/sh" >/mnt/evil/passwd
	umount /mnt/evil && cryptsetup close evil
done
step token-hostile1 tok /dev/vdb "https://rogue.example.net:9443/secrets/x" hostile1 /etc suid,dev,exec
step token-hostile2 tok /dev/vdc "https://localhost:9443/secrets/x" hostile2 /etc suid,dev,exec
GUEST
for n in hostile1 hostile2; do sha256sum "$VM_WORK/$n.img"; done >"$VM_WORK/hostile.sha"

# Boot 2: the VM boots with them attached.
vm_boot --disk good --disk hostile1 --disk hostile2 --timeout 600 <<'GUEST'
set -u
. /vv/tests/vm/scenarios/open_lib.sh
step fakes-start open_fakes_start --kv-port 8443
export VAULTVOL_TEST_RESOLVE="$VAULTVOL_TEST_RESOLVE,rogue.example.net:9443:127.0.0.1"
python3 -S /vv/tests/fakes/rogue_vault.py --cert /tmp/certs/server.pem --key /tmp/certs/server.key \
	--log /tmp/rogue.log --port-file /tmp/rogue.port --port 9443 &
i=0; while [ ! -s /tmp/rogue.port ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done
step rogue-listens test -s /tmp/rogue.port
umask 077
mkdir -p /etc/vaultvol
# No vault in the config: the one the legitimate volume uses becomes trusted
# through the drop-in adopt writes (what a restored OS disk carries).
printf '[vault]\nca_file = %s\n' "$FAKE_CA" >/etc/vaultvol/vaultvol.conf
# The legitimate volume: its key in the vault, its token written by adopt.
head -c 32 /dev/urandom >/tmp/good.key
step good-format cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 --key-file /tmp/good.key /dev/vda
cryptsetup open --key-file /tmp/good.key /dev/vda g && mkfs.ext4 -q /dev/mapper/g
mkdir -p /mnt/g && mount /dev/mapper/g /mnt/g && echo "data of good" >/mnt/g/f.txt
umount /mnt/g && cryptsetup close g
ref=$(vaultvol --vault "$FAKE_KV_URL" key put good --from-file /tmp/good.key | grep -o 'https://[^ ]*' | head -1)
echo "good key: $ref"
step good-adopt vaultvol --vault "$FAKE_KV_URL" adopt /dev/vda --secret "$ref" --name good --mount /data/good
step adopt-dropin grep -q "allowed = $FAKE_KV_URL" /etc/vaultvol/conf.d/50-vault-myvault.vault.azure.net-8443.conf
: >/tmp/rogue.log
ls -1A /etc >/tmp/etc.before
vaultvol open --all >/tmp/open.out 2>&1
echo "exit $?" >>/tmp/open.out
cat /tmp/open.out
step exit-1 grep -qx "exit 1" /tmp/open.out
step good-mounted grep -q "^good: mounted on /data/good" /tmp/open.out
step good-data grep -qx "data of good" /data/good/f.txt
step good-nosuid-nodev sh -c 'grep " /data/good " /proc/mounts | grep -q nosuid && grep " /data/good " /proc/mounts | grep -q nodev'
step hostile1-refused grep -q "^hostile1: FAILED (key-access, untrusted-vault).*rogue.example.net:9443 is not a trusted vault" /tmp/open.out
step hostile2-refused grep -q "^hostile2: FAILED (key-access, config).*https://localhost:9443/secrets/x" /tmp/open.out
step rogue-saw-nothing sh -c '! test -s /tmp/rogue.log'
step etc-not-mounted sh -c '! grep -q " /etc " /proc/mounts'
step etc-unchanged sh -c 'ls -1A /etc | cmp - /tmp/etc.before && ! grep -qs "root::0:0:evil" /etc/passwd'
step hostile-not-open sh -c '! dmsetup info hostile1 >/dev/null 2>&1 && ! dmsetup info hostile2 >/dev/null 2>&1'
step status-lists vaultvol status
step close-all vaultvol close --all
GUEST
host_step hostile-images-unchanged sha256sum -c "$VM_WORK/hostile.sha"
