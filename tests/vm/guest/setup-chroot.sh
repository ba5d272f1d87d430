# Runs once inside the guest's root filesystem (chroot on the host, at image build time).
# $1: where the venv goes.
set -e
VENV=$1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8

# Debian ships the refpolicy "container" module (container_t, container_file_t, spc_t, ...)
# only as source: build it against the policy headers and add it to the default policy.
mkdir -p /root/ctmod && cd /root/ctmod
tar --zstd -xf /usr/src/selinux-policy-src.tar.zst --strip-components=4 \
    selinux-policy-src/policy/modules/services/container.te \
    selinux-policy-src/policy/modules/services/container.fc
make -s -f /usr/share/selinux/devel/Makefile container.pp >/dev/null
semodule -X 400 -i container.pp
semodule -l | grep -qx container
cd / && rm -rf /root/ctmod
sed -i 's/^SELINUX=.*/SELINUX=enforcing/' /etc/selinux/config

# The project's dependencies, offline, from the wheelhouse fetched on the host. The venv sees
# Debian's python3-selinux and python3-seccomp (system site packages), as the host's does.
python3 -m venv --system-site-packages "$VENV"
"$VENV/bin/pip" install -q --no-index --find-links /opt/lamina/wheels \
    click pluggy stevedore pytest setuptools wheel
"$VENV/bin/python" -m compileall -q "$VENV/lib" >/dev/null || true
python3 -m compileall -q /usr/lib/python3 /usr/lib/python3.11 >/dev/null 2>&1 || true
