#!/bin/busybox sh
# The initramfs: load the few modules needed for the root disk and the 9p shares, mount them,
# and hand over to the real root's /usr/sbin/init.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $(cat /mod/order); do insmod /mod/$m 2>/dev/null; done
i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
mount -t ext4 -o rw /dev/vda /newroot || { echo "lamina-vm: cannot mount /dev/vda"; poweroff -f; }
for tag in src ctl; do   # a share that was not given just fails to mount
    mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 $tag /newroot/mnt/$tag 2>/dev/null
done
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /usr/sbin/init
