#!/bin/sh
# PID 1 of the test VM (/usr/sbin/init, labelled init_exec_t). Stage 1 runs in kernel_t without a
# policy: load it, then re-exec, which makes the kernel move us to init_t. Stage 2 mounts what a
# systemd host would have (cgroup2 with every controller enabled, /dev/pts, /dev/shm, /run),
# runs /mnt/ctl/run.sh (given by the host for each run) in the unconfined domain of a root
# login with its output on the second serial port, and powers off.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH
if [ "$1" != "--stage2" ]; then
    mount -t proc proc /proc 2>/dev/null; mount -t sysfs sysfs /sys 2>/dev/null
    load_policy -i || echo "lamina-vm: load_policy -i failed"
    exec /usr/sbin/init --stage2
fi
OUT=/dev/ttyS1
# the inherited stdio are kernel_t fds on the initramfs console, unusable by confined helpers
exec </dev/null >/dev/null 2>&1
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
mount -t securityfs securityfs /sys/kernel/security
restorecon -R /dev /run /tmp /root /sys/fs/cgroup
# every controller available in the root cgroup's children, as systemd sets it up
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control; done
hostname lamina-vm
ip link set lo up 2>/dev/null || busybox ip link set lo up 2>/dev/null
exec >/dev/console 2>&1
DOMAIN=unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023
[ -f /mnt/ctl/domain ] && DOMAIN=$(cat /mnt/ctl/domain)
if [ -f /mnt/ctl/run.sh ]; then
    runcon "$DOMAIN" /bin/sh -c 'exec </dev/null >/dev/ttyS1 2>&1; /bin/sh /mnt/ctl/run.sh' </dev/null
    rc=$?
else
    echo "lamina-vm: no /mnt/ctl/run.sh (the ctl share is missing)" > $OUT
    rc=125
fi
echo "LAMINA-VM-EXIT=$rc" > $OUT
sync
busybox poweroff -f
