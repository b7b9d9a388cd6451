# System scenario (issue 16): an encrypted ROOT volume unlocked in the
# initramfs (initramfs-tools, Debian's cryptsetup-initramfs) by its vaultvol
# token, with the key in the vault (the Key Vault + IMDS fakes).
#   boot 1  cryptsetup-initramfs and its dependencies (tests/system/
#           image-debs.sh, offline); the fakes run; `vaultvol provision`
#           makes a LUKS2 volume on /dev/vdb with a vaultvol token (key in
#           the fake vault) named vvroot; the running root is copied into it;
#           in the copy: fstab's root is /dev/mapper/vvroot, crypttab lists
#           it (`vvroot UUID=... none luks`), the fakes' and vaultvol's boot
#           units are disabled (the root needs neither), a test-only
#           initramfs hook adds python3 and the fakes; cryptsetup-initramfs
#           is installed in a chroot of the copy (its trigger builds the
#           copy's initramfs, as d-i does); the copy's kernel and initramfs
#           are exported. The fakes' state (it holds the vault's secret, the
#           key) goes to a disk of its own (/dev/vdc), never the initramfs.
#   boot 2  that kernel with root=/dev/mapper/vvroot: the initramfs's fakes
#           read their state from /dev/vdc, vaultvol's local-top script
#           opens vvroot with `cryptsetup open --token-only --token-type
#           vaultvol` (the plugin), cryptroot finds it open and asks nothing;
#           / is /dev/mapper/vvroot, the system is running, and the key (the
#           vault secret, raw and base64) is in none of the initramfs's
#           files, the journal or /run.
# system-kernels: 6.1
# system-ci: full-only (about 16 min under emulation: two boots, a root copy and
# an initramfs build; CI's 90 min would not hold it beside the rest)
cdebs=$(tests/system/image-debs.sh "$SYS_IMAGE" cryptsetup-initramfs cryptsetup-initramfs) ||
	{ host_step cryptsetup-initramfs-debs false; return 0; }
vm_disk root 3G
vm_disk fstate 8M

sys_boot --disk root --disk fstate --files cdebs="$cdebs" --export 256 --timeout 2400 <<'GUEST'
set -u
step fakes-up sys_fakes_install
sys_vault_setup
rec="--recovery print --recovery-iterations 4 --recovery-memory 32768"
step provision-root sh -c "vaultvol provision /dev/vdb --secret rootkey --name vvroot \
	--mount /mnt/newroot $rec >/var/lib/vv-fakes/recovery.out"
step fakes-saved sys_fakes_save
# The fakes' state on a disk of its own, read by the initramfs at boot.
step state-disk sh -c 'tar -C /var/lib/vv-fakes -cf /dev/vdc state.json && sync'
new=/mnt/newroot
t0=$(now_ms)
step copy-root sh -c "tar -C / --one-file-system --exclude=./vv --exclude=./mnt \
	--exclude=./usr/src --exclude='./var/cache/apt/archives/*.deb' -cf - . |
	tar -C $new -xpf - && mkdir -p $new/mnt $new/vv $new/dev $new/proc $new/sys $new/run $new/tmp &&
	chmod 1777 $new/tmp"
metric copy_root_ms $(( $(now_ms) - t0 )) ms
say "copied: $(du -sxm $new | cut -f1) MiB"
uuid=$(cryptsetup luksUUID /dev/vdb)
awk '$2 != "/"' /etc/fstab >$new/etc/fstab
echo "/dev/mapper/vvroot / ext4 defaults 0 1" >>$new/etc/fstab
echo "vvroot UUID=$uuid none luks" >$new/etc/crypttab
# The root needs neither the fakes' unit nor vaultvol's boot unit (it
# would find vvroot open; /mnt/newroot is its mount point in the token).
rm -f $new/etc/systemd/system/*/vv-fakes.service $new/etc/systemd/system/*/vaultvol-open.service
echo MODULES=dep >$new/etc/initramfs-tools/conf.d/vv-test-modules
# Test only, never packaged: python3 and the fakes in the initramfs.
kvhost=$(echo "$FAKE_KV_URL" | sed 's|^https://||; s|[:/].*||')
cat >$new/etc/initramfs-tools/hooks/vv-test-fakes <<HOOK
#!/bin/sh
case "\${1:-}" in prereqs) exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
copy_exec /usr/bin/python3.11 /usr/bin/python3
# lib-dynload with copy_exec first (it copies their libraries only when it
# copies the module itself), then the rest of the standard library.
for so in /usr/lib/python3.11/lib-dynload/*.so; do copy_exec "\$so"; done
mkdir -p "\$DESTDIR/usr/lib/python3.11"
tar -C /usr/lib/python3.11 --exclude=./lib-dynload --exclude=./test --exclude=./idlelib --exclude=./tkinter \
	--exclude=./ensurepip --exclude=./lib2to3 --exclude=./turtledemo --exclude=./pydoc_data \
	--exclude='./config-*' --exclude=./site-packages --exclude=./dist-packages -cf - . |
	tar -C "\$DESTDIR/usr/lib/python3.11" -xf -
mkdir -p "\$DESTDIR/var/lib/vv-fakes"
cp -r /var/lib/vv-fakes/fakes /var/lib/vv-fakes/certs "\$DESTDIR/var/lib/vv-fakes/"
printf '127.0.0.1 localhost $kvhost\n' >"\$DESTDIR/etc/hosts"
printf 'hosts: files dns\n' >"\$DESTDIR/etc/nsswitch.conf"
HOOK
mkdir -p $new/etc/initramfs-tools/scripts/init-premount $new/etc/initramfs-tools/scripts/init-bottom
cat >$new/etc/initramfs-tools/scripts/init-premount/vv-test-fakes <<'PRE'
#!/bin/sh
case "${1:-}" in prereqs) exit 0 ;; esac
# Test only: the Key Vault + IMDS fakes on this machine's loopback, their
# state (the vault's secrets) read from the state disk, not from here.
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
[ -f /vv-fakes/ready ] && echo "vv-test-fakes: ready after $i s" ||
	{ echo "vv-test-fakes: not ready"; cat /vv-fakes/fakes.log; }
PRE
cat >$new/etc/initramfs-tools/scripts/init-bottom/vv-test-fakes <<'BOT'
#!/bin/sh
case "${1:-}" in prereqs) exit 0 ;; esac
[ -f /vv-fakes/pid ] && kill "$(cat /vv-fakes/pid)" 2>/dev/null
sleep 1
rm -rf /vv-fakes
BOT
chmod 755 $new/etc/initramfs-tools/hooks/vv-test-fakes $new/etc/initramfs-tools/scripts/*/vv-test-fakes
# cryptsetup-initramfs installed in the copy, as d-i does it: its trigger
# builds the copy's initramfs with the root's crypttab entry.
for m in dev proc sys run; do mount --bind /$m $new/$m; done
mkdir -p $new/vv/files && mount --bind /vv/files $new/vv/files
t0=$(now_ms)
step install-cryptsetup-initramfs chroot $new sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends -o Dpkg::Use-Pty=0 /vv/files/cdebs/*.deb'
metric initramfs_build_ms $(( $(now_ms) - t0 )) ms
kver=$(uname -r)
step initramfs-built test -s $new/boot/initrd.img-$kver
say "initramfs: $(stat -c %s $new/boot/initrd.img-$kver) bytes"
lsinitramfs $new/boot/initrd.img-$kver >/tmp/ls.txt
step initramfs-has-plugin grep -q 'cryptsetup/libcryptsetup-token-vaultvol.so$' /tmp/ls.txt
step initramfs-has-script grep -q '^scripts/local-top/vaultvol$' /tmp/ls.txt
step initramfs-has-crypttab grep -q '^cryptroot/crypttab$' /tmp/ls.txt
step initramfs-no-keystore sh -c '! grep -E "etc/vaultvol/keys|state.json" /tmp/ls.txt'
umount $new/vv/files
for m in run sys proc dev; do umount $new/$m; done
mkdir -p /tmp/k
cp $new/boot/vmlinuz-$kver /tmp/k/vmlinuz && cp $new/boot/initrd.img-$kver /tmp/k/initrd.img
step kernel-exported sys_export -C /tmp/k vmlinuz initrd.img
umount $new && cryptsetup close vvroot
GUEST

host_step kernel-came-back test -s "$VM_WORK/boot1/export/vmlinuz" -a -s "$VM_WORK/boot1/export/initrd.img"

sys_boot --disk root --disk fstate --kernel "$VM_WORK/boot1/export" --root /dev/mapper/vvroot \
	--timeout 1800 <<'GUEST'
set -u
step root-is-vvroot sh -c 'findmnt -n -o SOURCE / | tee /dev/stderr | grep -qx /dev/mapper/vvroot'
step vvroot-luks2 sh -c 'cryptsetup status vvroot | grep -q "type: *LUKS2"'
sys_step_running
systemd-analyze time --no-pager >/tmp/time.txt 2>&1; say_file /tmp/time.txt
mkdir -p /tmp/ir && unmkinitramfs /boot/initrd.img-$(uname -r) /tmp/ir
cat >/tmp/kn.py <<'PY'
import base64, glob, json, os, sys
needles = {}
for op in json.load(open("/var/lib/vv-fakes/state.json")).get("ops", []):
    if op.get("op") == "put_secret" and op.get("value"):
        needles["vault secret %s (base64)" % op["name"]] = op["value"][:24].encode()
        needles["vault secret %s (raw)" % op["name"]] = base64.b64decode(op["value"])
def files(top):
    for d, _, fs in os.walk(top):
        for f in fs:
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                yield p
places = {
    "initramfs": list(files("/tmp/ir")),
    "journal": [f for d in ("/var/log/journal", "/run/log/journal")
                for f in glob.glob(d + "/**/*.journal*", recursive=True)],
    "/run": list(files("/run")),
}
hits, bad = [], False
for where, fl in places.items():
    size = 0
    for f in fl:
        try:
            data = open(f, "rb").read()
        except OSError:
            continue
        size += len(data)
        hits += ["%s in %s" % (k, f) for k, v in needles.items() if len(v) >= 16 and v in data]
    print("%s: %d files, %d bytes" % (where, len(fl), size))
    bad = bad or not fl
print("key-nowhere: %d needles; hits: %s" % (len(needles), hits or "none"))
sys.exit(1 if hits or bad or not needles else 0)
PY
step key-nowhere sh -c 'python3 /tmp/kn.py >/tmp/kn.txt 2>&1; rc=$?; cat /tmp/kn.txt; exit $rc'
say_file /tmp/kn.txt
GUEST

c=$VM_WORK/boot2/console.log
grep -a -E '^(vaultvol|vv-test-fakes):' "$c" | tr -d '\r' | sed 's/^/    initramfs: /'
host_step console-unlocked-by-token grep -a -q 'vaultvol: volume vvroot (/dev/vdb) unlocked by its vaultvol token (try 1)' "$c"
host_step console-no-passphrase-prompt sh -c "! grep -a -q 'Please unlock disk' '$c'"
