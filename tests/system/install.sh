# The install every layered system scenario starts from (run.sh keeps the
# OS disk it leaves as a qcow2 layer, once per kernel and package build):
# apt installs the project's .deb and DKMS .deb offline from /vv/pkgs (their
# dependencies are in the image), DKMS builds dm-quiesce for the running
# kernel as on a user's machine, the boot unit is enabled and installing
# opened nothing.
# The package's update-initramfs trigger (its initramfs-tools hook, issue
# 16) is not run here: the tier boots the image's kernel and initramfs from
# the host, never this disk's, and packing Debian's MODULES=most initramfs
# takes longer than a boot's timeout under emulation. Put back afterwards,
# so a scenario's own update-initramfs works as on a user's machine.
sys_boot <<'GUEST'
set -u
conf=/etc/initramfs-tools/update-initramfs.conf
sed -i 's/^update_initramfs=.*/update_initramfs=no/' $conf
t0=$(now_ms)
step install sys_install_packages
metric install_ms $(( $(now_ms) - t0 )) ms
sed -i 's/^update_initramfs=.*/update_initramfs=yes/' $conf
step installed sh -c 'vaultvol --version && dpkg-query -W -f="\${Status}" vaultvol | grep -q "install ok installed"'
step dkms-built sh -c 'dkms status | tee /dev/stderr | grep -q "vaultvol-dm-quiesce.*$(uname -r).*installed"'
step module-loads modprobe dm-quiesce
step unit-enabled systemctl is-enabled vaultvol-open.service
step nothing-opened-by-install sh -c '! systemctl is-active vaultvol-open.service'
step state-dirs sh -c 'test "$(stat -c %a /var/lib/vaultvol)" = 700 -a "$(stat -c %a /etc/vaultvol/keys)" = 700'
modprobe -r dm-quiesce
GUEST
