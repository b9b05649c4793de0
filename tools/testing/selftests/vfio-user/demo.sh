#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh - what "make run" shows, inside the test VM: load the driver,
# start the project's vfio-user test server, bind it, and show what
# appeared: the sysfs device, its IOMMU group and /dev/vfio node, the
# negotiated capabilities, a register read through VFIO the way a VMM does
# it, and finally an unmodified QEMU using the device for a small guest.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../../../.." && pwd -P)
server=$here/build/vfio_user_test_server
sock=/tmp/vfio-user-demo.sock

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "load vfio, vfio_iommu_type1, mdev and vfio_user"
. "$here/vm/module-deps.sh"
for m in $(vu_module_deps "$repo/drivers/vfio/user/vfio_user.ko"); do modprobe "$m"; done
insmod "$repo/drivers/vfio/user/vfio_user.ko"
ls /sys/bus/vfio-user

step "start the test server on $sock"
"$server" -s "$sock" &
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done

step "bind it: echo $sock > /sys/bus/vfio-user/new_device"
echo "$sock" > /sys/bus/vfio-user/new_device
dev=$(grep -l "^$sock\$" /sys/bus/vfio-user/devices/*/socket_path | xargs dirname)
name=$(basename "$dev")
echo "created $dev"

step "its attributes"
for f in "$dev"/{socket_path,state,protocol_version,request_timeout_ms} "$dev"/capabilities/*; do
	printf '%-32s %s\n' "${f#"$dev"/}" "$(cat "$f")"
done

step "its IOMMU group and VFIO node"
group=$(basename "$(readlink "$dev/iommu_group")")
echo "iommu_group -> $(readlink "$dev/iommu_group")"
ls -l "/dev/vfio/$group"
ls "$dev/vfio-dev"

step "a VMM's view: container, group, device fd, GET_INFO, BAR0 register read"
python3 - "$group" "$name" <<'PY'
import ctypes, os, struct, sys
group, name = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
def ioctl(fd, nr, arg):
    ret = libc.ioctl(fd, (ord(';') << 8) | (100 + nr), arg)
    if ret < 0:
        raise OSError(ctypes.get_errno(), f"ioctl {nr}")
    return ret
container = os.open("/dev/vfio/vfio", os.O_RDWR)
grp = os.open(f"/dev/vfio/{group}", os.O_RDWR)
ioctl(grp, 4, ctypes.byref(ctypes.c_int(container)))       # GROUP_SET_CONTAINER
ioctl(container, 2, 3)                                     # SET_IOMMU TYPE1v2
dev = ioctl(grp, 6, ctypes.c_char_p(name.encode()))        # GROUP_GET_DEVICE_FD
info = (ctypes.c_uint32 * 4)(16, 0, 0, 0)
ioctl(dev, 7, info)                                        # DEVICE_GET_INFO
flags, regions, irqs = info[1], info[2], info[3]
print(f"device fd {dev}: flags {flags:#x} (PCI={bool(flags & 2)}, RESET={bool(flags & 1)}),"
      f" {regions} regions, {irqs} irq indexes")
magic = struct.unpack("<I", os.pread(dev, 4, 0))[0]
vid, did = struct.unpack("<HH", os.pread(dev, 4, 7 << 40))
print(f"BAR0 magic register: {magic:#010x}; config space vendor:device {vid:04x}:{did:04x}")
PY

step "debugfs counters"
cat "/sys/kernel/debug/vfio-user/$name/stats"

step "delete it: echo $name > /sys/bus/vfio-user/del_device"
echo "$name" > /sys/bus/vfio-user/del_device
ls /sys/bus/vfio-user/devices
rmmod vfio_user

step "an unmodified QEMU 7.2 uses a vfio-user device (nested TCG: about a minute)"
echo "qemu-system-x86_64 ... -device vfio-pci,sysfsdev=/sys/bus/vfio-user/devices/vfio-userN"
echo "the inner guest checks the device on its PCI bus; its results:"
"$here/qemu_e2e_test.sh" | grep -E '^(ok|not ok|# Totals)' || true
echo "inner guest's console: $repo/build/e2e/last/console.log"
echo "done"
