#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the test VM's initramfs (busybox ash, PID 1).  vm-run.sh copies
# this file into the initramfs it builds; it is not meant to be run by hand.
#
# What it does:
#   1. loads the 9p modules shipped in the initramfs (listed in /modules/order),
#   2. mounts the host's root file system read-only (9p tag "hostroot") on
#      /newroot, the repository read-write (tag "repo") and the output
#      directory read-write (tag "vmout") on top of it at the SAME absolute
#      paths they have on the host, plus proc, sysfs, devtmpfs, devpts,
#      tmpfs (/tmp, /run, /dev/shm), debugfs and tracefs,
#   3. chroots into /newroot and runs "$vmrun_out/guest-cmd.sh" (written by
#      vm-run.sh: cd to the repo, exec the user's command),
#   4. saves dmesg to $vmrun_out/dmesg.txt, then the exit status to
#      $vmrun_out/guest-exit (in that order: the host treats guest-exit as
#      "the guest finished cleanly"), and powers off.
#
# Parameters come from the kernel command line: the kernel hands unknown
# "name=value" parameters to init as environment variables:
#   vmrun_repo   absolute path of the repository
#   vmrun_out    absolute path of the output directory
#   vmrun_limit  guest uptime (s) at which the guest itself kills the
#                command (0 = no guest-side limit); a bit less than the
#                host's --timeout so that dmesg can still be collected on a
#                hang.
#
# No "set -e" here on purpose: if PID 1 exits the kernel panics and we lose
# the dmesg we want; every failure goes through die(), which powers off.

PATH=/bin
export PATH

log() { echo "vm-init: $*"; }

die() {
	log "FATAL: $*"
	# Leave a trace the host can show; the output share may not be mounted.
	[ -d "/newroot$vmrun_out" ] && echo "$*" > "/newroot$vmrun_out/guest-init-error" 2>/dev/null
	sync
	poweroff -f
	sleep 1000000
}

mkdir -p /proc /sys /dev /newroot /run-vm
mount -t proc proc /proc || die "mount /proc"
mount -t sysfs sysfs /sys || die "mount /sys"
mount -t devtmpfs devtmpfs /dev || die "mount /dev"
# The initramfs may have been built without a /dev/console node (non-root
# build); re-open stdio on the real console now that devtmpfs is there.
exec </dev/console >/dev/console 2>&1

[ -n "$vmrun_repo" ] && [ -n "$vmrun_out" ] || die "vmrun_repo/vmrun_out missing from the kernel command line"

# 9p modules, dependencies first (vm-run.sh computed the order from modules.dep).
while read -r m; do
	insmod "/modules/$m" || die "insmod $m"
done < /modules/order

# msize: bigger messages make 9p much faster; 512000 is the most virtio
# transport accepts (a larger value is clamped, with a log line each mount).
p9="trans=virtio,version=9p2000.L,msize=512000"
# The host root is read-only and nothing in it changes under a test run, so
# let the guest cache it (exec of host binaries is several times faster).
mount -t 9p -o "$p9,ro,cache=loose" hostroot /newroot || die "mount host root over 9p"
R=/newroot
mount -t proc proc $R/proc || die "mount $R/proc"
mount -t sysfs sysfs $R/sys || die "mount $R/sys"
mount -t devtmpfs devtmpfs $R/dev || die "mount $R/dev"
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts $R/dev/pts || die "mount devpts"
ln -sf pts/ptmx $R/dev/ptmx 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm || die "mount /dev/shm"
mount -t tmpfs -o mode=1777 tmpfs $R/tmp || die "mount /tmp"
mount -t tmpfs -o mode=0755 tmpfs $R/run || die "mount /run"
mkdir -p $R/run/lock
mount -t debugfs debugfs $R/sys/kernel/debug || die "mount debugfs"
mount -t tracefs tracefs $R/sys/kernel/tracing || die "mount tracefs"

# The repository and the output dir are shared read-write with the host,
# mounted last: a checkout under /tmp or /run (a CI clone in /tmp, say)
# would otherwise vanish under the guest's own tmpfs.  cache=mmap keeps
# coherence simple while still allowing shared mmap.
[ -d "/newroot$vmrun_repo" ] || mkdir -p "/newroot$vmrun_repo" ||
	die "repository $vmrun_repo: no mount point in the guest"
mount -t 9p -o "$p9,rw,cache=mmap" repo "/newroot$vmrun_repo" || die "mount repo over 9p"
[ -d "/newroot$vmrun_out" ] || mkdir -p "/newroot$vmrun_out" ||
	die "output dir $vmrun_out: no mount point in the guest"
mount -t 9p -o "$p9,rw,cache=mmap" vmout "/newroot$vmrun_out" || die "mount output dir over 9p"

hostname vfio-user-vm
ip link set lo up 2>/dev/null || log "warning: could not bring up lo"

# Boot-to-command marker.  The host reads the file's mtime (set by the
# host's clock, since 9p creates the file on the host) to measure wall time
# from QEMU start; the content is the guest kernel's own uptime.
read -r up _ < /proc/uptime
echo "$up" > "$R$vmrun_out/guest-started"

# Run the command.  stdin is /dev/null so a command that reads stdin does
# not hang on the serial line; env -i gives it a clean, predictable
# environment (HOME=/tmp because /root is read-only here).
chroot $R /usr/bin/env -i \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/tmp TMPDIR=/tmp TERM=dumb LANG=C.UTF-8 LC_ALL=C.UTF-8 \
	VFIO_USER_VM=1 \
	/bin/bash "$vmrun_out/guest-cmd.sh" < /dev/null &
cmdpid=$!

# Guest-side watchdog: on a hang, dump blocked tasks into dmesg, kill every
# process but PID 1 (kill -1 spares init and the caller), and let init
# collect dmesg normally.  The host's own timeout is the backstop for hangs
# this cannot break (e.g. tasks stuck in D state).
wdpid=
left=$(( ${vmrun_limit:-0} - ${up%.*} ))
if [ "${vmrun_limit:-0}" -gt 0 ]; then
	[ "$left" -gt 0 ] || left=1
	(
		sleep "$left"
		: > /run-vm/timed-out
		echo "vm-init: command still running at guest uptime ${vmrun_limit}s (near the host's timeout), killing it" > /dev/console
		echo w > /proc/sysrq-trigger 2>/dev/null
		kill -TERM -1
		sleep 5
		kill -KILL -1
	) &
	wdpid=$!
fi

wait $cmdpid
rc=$?
[ -n "$wdpid" ] && kill $wdpid 2>/dev/null
if [ -e /run-vm/timed-out ]; then
	rc=124
	: > "$R$vmrun_out/guest-timedout"
fi

# dmesg first, then the exit status: guest-exit existing means "complete".
dmesg > "$R$vmrun_out/dmesg.txt" || log "warning: could not save dmesg"
echo "$rc" > "$R$vmrun_out/guest-exit" || log "warning: could not save the exit status"
sync
umount "$R$vmrun_out" 2>/dev/null
umount "$R$vmrun_repo" 2>/dev/null
poweroff -f
sleep 1000000
