#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vm-run.sh - run one command inside a throwaway QEMU/TCG VM booting
# Debian's 6.12 kernel, with the host's root file system (read-only) and
# this repository (read-write) visible at the same paths as on the host.
#
# Usage:
#   vm-run.sh [--kver VER] [--kernel IMAGE] [--timeout SECS] [--mem MB]
#             [--out DIR] [--quiet] -- COMMAND [ARGS...]
#
#   --kver VER      kernel to boot (default: $KVER, else the newest
#                   /boot/vmlinuz-6.12.*+deb12-amd64 whose modules are installed)
#   --kernel IMAGE  boot this bzImage instead of /boot/vmlinuz-VER (default:
#                   $VM_KERNEL); VER defaults to the version in the image.
#                   Its 9p modules come from /lib/modules/VER when that has
#                   them, else the kernel must have 9p and virtio built in
#                   (the debug kernel of "make check-debug" does)
#   --timeout SECS  bound on the whole run (default 900).  On expiry the
#                   guest is killed, "vm-run: guest timed out after SECS s"
#                   is printed and the exit status is 124.
#   --mem MB        guest memory (default 3072; the guest runs nested QEMU)
#   --out DIR       where console.log, dmesg.txt, guest-exit and
#                   vm-status go (default $REPO/build/vm-out); it is shared
#                   read-write with the guest at the same path
#   --quiet         do not echo the serial console (it is always logged to
#                   DIR/console.log)
#
# COMMAND runs as root in the guest with cwd = repository root, stdin
# /dev/null, stdout/stderr on the serial console, and the environment
# PATH=<standard> HOME=/tmp TMPDIR=/tmp VFIO_USER_VM=1.  The guest has proc,
# sysfs, devtmpfs (/dev/vfio appears once vfio is loaded), devpts, tmpfs on
# /tmp /run /dev/shm, debugfs and tracefs; modprobe works for Debian's
# modules (host /lib/modules is visible read-only).  No network but lo.
#
# Exit status: COMMAND's exit status; 124 on timeout; 125 when the rig
# itself failed (bad usage, missing kernel, guest panic, guest never
# reported an exit status).  DIR/vm-status says which, for scripts:
#   status=ok|timeout|panic|noexit|error  exit=N  boot=S  command=S  total=S
#
# Environment (optional): VM_ICOUNT=SHIFT (deterministic time, for
# benchmarks: single-threaded TCG and -icount shift=SHIFT,sleep=off, so the
# guest's clock follows the instructions it executes, 2^SHIFT ns each, and
# not the host's load), VM_KERNEL (as --kernel), VM_MODULES=none (put no
# modules in the initramfs: 9p and virtio are built into the kernel; the
# default "auto" means none only for a --kernel image without
# /lib/modules/VER/modules.dep), VM_APPEND (more kernel parameters, e.g.
# kasan_multi_shot).
#
# The initramfs (busybox + 9p modules + guest-init.sh) is cached in
# $REPO/build/vm/ and rebuilt when its inputs or the kernel version change.
# Host requirements: see scripts/setup-host.sh.
set -euo pipefail

prog=vm-run
die() { echo "$prog: error: $*" >&2; exit 125; }
note() { echo "$prog: $*" >&2; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# The repo is the git top-level of this script's checkout; fall back to the
# fixed depth (tools/testing/selftests/vfio-user/vm) when git is missing.
REPO=$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || true)
[ -n "$REPO" ] || REPO=$(cd "$script_dir/../../../../.." && pwd -P)
REPO=$(cd "$REPO" && pwd -P)

kver=${KVER:-}
kernel=${VM_KERNEL:-}
modules=${VM_MODULES:-auto}
timeout_s=900
mem=3072
out=
quiet=0

usage() {
	sed -n '/^# Usage:/,/^# Exit status/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' | sed '$d' >&2
	exit 125
}

while [ $# -gt 0 ]; do
	case $1 in
	--kver) [ $# -ge 2 ] || usage; kver=$2; shift 2 ;;
	--kernel) [ $# -ge 2 ] || usage; kernel=$2; shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
	--mem) [ $# -ge 2 ] || usage; mem=$2; shift 2 ;;
	--out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
	--quiet|-q) quiet=1; shift ;;
	-h|--help) usage ;;
	--) shift; break ;;
	*) note "unknown argument '$1'"; usage ;;
	esac
done
[ $# -ge 1 ] || { note "no COMMAND given"; usage; }
[[ $timeout_s =~ ^[0-9]+$ ]] && [ "$timeout_s" -gt 0 ] || die "--timeout must be a positive integer (got '$timeout_s')"
[[ $mem =~ ^[0-9]+$ ]] || die "--mem must be an integer number of MB (got '$mem')"

# --- kernel ---------------------------------------------------------------
# The version string of a bzImage: the setup header's kernel_version field
# (at 0x20e) points at it, relative to 0x200.
bzimage_version() { # bzimage_version IMAGE
	local off
	off=$(od -An -tu2 -j $((0x20e)) -N 2 "$1" 2> /dev/null | tr -d ' ')
	[[ $off =~ ^[0-9]+$ ]] && [ "$off" -gt 0 ] || return 0
	dd if="$1" bs=1 skip=$((off + 0x200)) count=200 2> /dev/null | tr '\0' '\n' | head -n 1 | awk '{ print $1 }'
}
case $modules in auto|none) ;; *) die "VM_MODULES must be auto or none (got '$modules')" ;; esac
if [ -n "$kernel" ]; then
	[ -r "$kernel" ] || die "kernel image $kernel not found or not readable"
	kernel=$(cd "$(dirname "$kernel")" && pwd -P)/$(basename "$kernel")
	[ -n "$kver" ] || kver=$(bzimage_version "$kernel")
	[ -n "$kver" ] || die "cannot read the kernel version from $kernel; pass --kver"
	[ "$modules" = none ] || [ -f "/lib/modules/$kver/modules.dep" ] || modules=none
fi
if [ -z "$kver" ]; then
	kver=$(for f in /boot/vmlinuz-6.12.*+deb12-amd64; do
		[ -e "$f" ] || continue
		v=${f#/boot/vmlinuz-}
		[ -d "/lib/modules/$v/kernel" ] && echo "$v"
	done | sort -V | tail -n 1 || true)
	[ -n "$kver" ] || die "no /boot/vmlinuz-6.12.*+deb12-amd64 with modules in /lib/modules found; run scripts/setup-host.sh"
fi
[ -n "$kernel" ] || kernel=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver
[ -r "$kernel" ] || die "kernel $kernel not found or not readable (run scripts/setup-host.sh, or pass --kver)"
[ "$modules" = none ] || [ -f "$moddir/modules.dep" ] || die "$moddir/modules.dep missing: modules for $kver are not installed"

for tool in qemu-system-x86_64 cpio xz timeout readelf; do
	command -v "$tool" > /dev/null || die "'$tool' not found; run scripts/setup-host.sh"
done
# Only a static busybox works inside the bare initramfs (busybox-static
# installs it as /bin/busybox).
busybox=/bin/busybox
[ -x "$busybox" ] || die "$busybox not found; install busybox-static (scripts/setup-host.sh)"
if LC_ALL=C readelf -l "$busybox" 2>/dev/null | grep 'Requesting program interpreter' > /dev/null; then
	die "$busybox is dynamically linked; install busybox-static"
fi

# --- output directory -------------------------------------------------------
out=${out:-$REPO/build/vm-out}
mkdir -p "$out" || die "cannot create output dir $out"
out=$(cd "$out" && pwd -P)
# Paths travel on the kernel command line and through 9p; keep them simple.
for p in "$REPO" "$out"; do
	[[ $p =~ ^/[A-Za-z0-9._/+-]*$ ]] || die "path '$p' has characters the guest command line cannot carry"
done
rm -f "$out"/{console.log,dmesg.txt,guest-exit,guest-started,guest-timedout,guest-init-error,guest-cmd.sh,vm-status}

# --- initramfs (cached) -----------------------------------------------------
# The 9p client needs: netfs <- 9pnet <- 9pnet_virtio, 9p.  virtio-pci and
# virtio itself are built into Debian's 6.12 kernel and modules of its 6.1
# one.  Resolve the order from modules.dep (deps are listed so that loading
# them in reverse order works).  With VM_MODULES=none (a kernel with all of
# that built in) there are none.
want_mods="9pnet_virtio 9p"
if grep -qE '(^|/)virtio_pci\.ko(\.xz|\.zst|\.gz)?:' "$moddir/modules.dep" 2> /dev/null; then
	want_mods="virtio_pci $want_mods"
fi
[ "$modules" != none ] || want_mods=
# shellcheck source=SCRIPTDIR/initramfs-lib.sh
. "$script_dir/initramfs-lib.sh"
# shellcheck disable=SC2086 # a list of names
initramfs_mod_order "$moddir" $want_mods

cache_dir=$REPO/build/vm
mkdir -p "$cache_dir"
key=$( {
	echo "kver=$kver"
	printf '%s\n' "${mod_order[@]+"${mod_order[@]}"}"
	for m in "${mod_order[@]+"${mod_order[@]}"}"; do stat -c '%n %s %Y' "$moddir/$m"; done
	# Contents only: the same script reached by another path is the same input.
	cat "$script_dir/guest-init.sh" "$script_dir/vm-run.sh" "$script_dir/initramfs-lib.sh" \
	    "$busybox" | sha256sum
} | sha256sum | cut -c1-16)
initrd=$cache_dir/initramfs-$kver-$key.cpio
if [ ! -s "$initrd" ]; then
	note "building initramfs for $kver -> ${initrd#"$REPO"/}"
	initramfs_build "$initrd" "$busybox" "$script_dir/guest-init.sh" "$moddir" newroot run-vm
fi

# --- the command --------------------------------------------------------------
# A bash script in the shared output dir; %q quoting survives any argument.
{
	echo '#!/bin/bash'
	printf 'cd -- %q || exit 125\n' "$REPO"
	printf 'exec'
	printf ' %q' "$@"
	echo
} > "$out/guest-cmd.sh"

# Let the guest kill a hung command itself (at this guest uptime) a little
# before our own deadline, so that its dmesg still gets saved.  The margin
# covers QEMU start-up and the kill/dmesg/poweroff sequence.
margin=15
guest_limit=$((timeout_s - margin))
[ "$guest_limit" -ge 10 ] || guest_limit=0

# loglevel=5: the console shows warnings and worse (WARN/BUG/Oops) but not
# the boot chatter; dmesg.txt always has everything.  panic=-1 together
# with -no-reboot turns a panic into a QEMU exit instead of a hang.
# printk.devkmsg=on lets tests write to /dev/kmsg without rate limiting.
# watchdog_thresh/rcu stall timeout: TCG vCPUs (plus nested QEMU) on a
# 2-core host can be starved for a while; real lockups are still reported,
# just after 60 s instead of ~20 s, so check.sh's dmesg scan is not noisy.
append="console=ttyS0 panic=-1 loglevel=5 printk.devkmsg=on edd=off rdinit=/init"
append+=" watchdog_thresh=30 rcupdate.rcu_cpu_stall_timeout=60"
append+=" vmrun_repo=$REPO vmrun_out=$out vmrun_limit=$guest_limit"
[ -z "${VM_APPEND:-}" ] || append+=" $VM_APPEND"

if [ "$quiet" = 1 ]; then
	serial=(-chardev "file,id=con,path=$out/console.log")
else
	serial=(-chardev "stdio,id=con,signal=off,logfile=$out/console.log")
fi

# qboot instead of SeaBIOS when available: it boots -kernel directly,
# ~0.5 s faster under TCG, and prints no escape sequences on the serial line.
bios=()
[ -r /usr/share/qemu/qboot.rom ] && bios=(-bios /usr/share/qemu/qboot.rom)

qemu=(qemu-system-x86_64
	-accel tcg -cpu max -smp 2 -m "$mem"
	-nographic -no-reboot -monitor none "${bios[@]}"
	"${serial[@]}" -serial chardev:con
	-kernel "$kernel" -initrd "$initrd" -append "$append"
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$REPO,mount_tag=repo,security_model=none,multidevs=remap"
	-virtfs "local,path=$out,mount_tag=vmout,security_model=none,multidevs=remap"
	-nic none
)
if [ -n "${VM_ICOUNT:-}" ]; then
	[[ $VM_ICOUNT =~ ^[0-9]+$ ]] || die "VM_ICOUNT must be a shift (0-10), not '$VM_ICOUNT'"
	# One host thread runs both vCPUs in turn: icount needs it.
	qemu[2]=tcg,thread=single
	qemu+=(-icount "shift=$VM_ICOUNT,sleep=off")
fi

# Debian's kernels, booting under TCG with two vCPUs, now and then die of
# an int3 left by boot-time code patching (text_poke_bp: TCG's translated
# code on the other vCPU goes stale; "Oops: int3" in sched_clock_cpu at
# 2-3 s uptime).  A kernel that panics before the command began ran
# nothing of ours (the command loads the module), so such a boot, and only
# such a boot, is tried again, up to twice; the console of each is kept as
# console-boot-panic-N.log and the retry is said on stderr.
boot_tries=0
while :; do
	t0=$(date +%s.%N)
	set +e
	# stdin from /dev/null: QEMU must never put the caller's terminal into raw
	# mode or eat its input.  -k: if QEMU ignores SIGTERM, SIGKILL it.
	timeout -k 10 "$timeout_s" "${qemu[@]}" < /dev/null
	qrc=$?
	set -e
	t1=$(date +%s.%N)
	if [ -e "$out/guest-started" ] || [ "$boot_tries" -ge 2 ] ||
	   ! grep -q 'Kernel panic - not syncing' "$out/console.log" 2>/dev/null; then
		break
	fi
	boot_tries=$((boot_tries + 1))
	mv "$out/console.log" "$out/console-boot-panic-$boot_tries.log"
	note "the guest kernel panicked before the command began ($(grep -a -m 1 -E 'Oops:|BUG:|Kernel panic' \
		"$out/console-boot-panic-$boot_tries.log" | sed 's/^\[[^]]*\] //')); booting again" \
		"(console: $out/console-boot-panic-$boot_tries.log)"
	rm -f "$out"/{dmesg.txt,guest-exit,guest-timedout,guest-init-error}
done

total=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
boot=- cmd_time=-
if [ -e "$out/guest-started" ]; then
	ts=$(stat -c %.3Y "$out/guest-started")
	boot=$(awk -v a="$t0" -v b="$ts" 'BEGIN { printf "%.1f", b - a }')
	uptime=$(cat "$out/guest-started")
	if [ -e "$out/guest-exit" ]; then
		te=$(stat -c %.3Y "$out/guest-exit")
		cmd_time=$(awk -v a="$ts" -v b="$te" 'BEGIN { printf "%.1f", b - a }')
	fi
fi

status=ok
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ] || [ -e "$out/guest-timedout" ]; then
	status=timeout
	rc=124
elif grep -q 'Kernel panic - not syncing' "$out/console.log" 2>/dev/null; then
	status=panic
	rc=125
elif [ -s "$out/guest-exit" ]; then
	rc=$(cat "$out/guest-exit")
	[[ $rc =~ ^[0-9]+$ ]] || { status=noexit; rc=125; }
else
	status=noexit
	rc=125
fi

echo "status=$status exit=$rc boot=$boot command=$cmd_time total=$total qemu_exit=$qrc" > "$out/vm-status"

case $status in
ok)
	note "kernel $kver: boot-to-command ${boot}s (guest uptime ${uptime:-?}s), command ${cmd_time}s, total ${total}s, exit status $rc"
	;;
timeout)
	note "guest timed out after $timeout_s s"
	note "console log: $out/console.log"
	[ -e "$out/dmesg.txt" ] && note "guest dmesg (collected before the kill): $out/dmesg.txt"
	;;
panic)
	note "guest kernel panicked; panic message:"
	grep -m 1 -A 3 'Kernel panic - not syncing' "$out/console.log" | sed 's/^/    /' >&2
	note "full console log: $out/console.log"
	;;
noexit)
	note "guest never reported an exit status (QEMU exit $qrc)"
	[ -s "$out/guest-init-error" ] && note "guest init failed: $(cat "$out/guest-init-error")"
	note "last console lines ($out/console.log):"
	tail -n 20 "$out/console.log" 2>/dev/null | sed 's/^/    /' >&2
	;;
esac
exit "$rc"
