#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# qemu_e2e_test.sh - end to end: an UNMODIFIED QEMU (Debian's
# qemu-system-x86_64) uses a vfio_user device through plain vfio-pci.
# Runs INSIDE the test VM, as root (run_tests.sh runs it: the Makefile's TEST_PROGS):
#
#   1. starts build/vfio_user_test_server on a socket and binds it
#      (echo SOCKET > /sys/bus/vfio-user/new_device),
#   2. boots an inner guest (same Debian kernel, busybox initramfs from
#      e2e/build-initramfs.sh, /init = e2e/init.sh) under TCG with
#      -device vfio-pci,sysfsdev=/sys/bus/vfio-user/devices/vfio-userN,
#   3. the inner guest checks the device and prints E2E-RESULT lines on its
#      console; this script turns them into kselftest TAP.
#
# Test cases (one inner boot checks them all):
#   setup      server started, bound, vfio-userN with iommu_group and /dev/vfio/N
#   qemu_boot  QEMU realized the device and the inner guest ran its /init
#   pci_ids    the device is on the inner PCI bus as 1b36:10f5
#   pci_caps   its config space lists an MSI and an MSI-X capability
#   bar0       BAR0 (message-only): MAGIC reads 0x30554656, SCRATCH round trips
#   bar2       BAR2: a BAR2_FILL pattern written to BAR0 reads back from BAR2,
#              guest writes to BAR2 are overwritten by the next fill
#   bar2_mmap  QEMU mapped BAR2's mmap-able areas (no "Failed to mmap"
#              warning, the areas appear in QEMU's /proc/PID/maps)
#   dma        the device's DMA engine copies 16 bytes from the inner guest's
#              RAM (64 KiB reserved with memmap= so /dev/mem reaches them) to
#              BAR2 and from BAR2 back to guest RAM, through the driver's
#              zero-copy window (the server's faults pin QEMU's guest pages)
#   intx       an INTx raised by the server (IRQ_RAISE = 0) reaches the inner
#              guest: its count in /proc/interrupts goes up (uio_pci_generic
#              bound via new_id)
#   teardown   the inner guest finished (E2E-DONE) and powered off, QEMU exited
#              0, the device is still "connected" and del_device succeeds
#
# If the vfio_user module is not loaded (run by hand under vm-run.sh), it is
# loaded like run_tests.sh does (modprobe vfio vfio_iommu_type1 mdev, insmod
# drivers/vfio/user/vfio_user.ko) and removed again at the end.
#
# Environment (all optional):
#   E2E_TIMEOUT   bound on the inner QEMU run, seconds (default 450)
#   E2E_SKIP      when set, every case is skipped with it as the reason
#   E2E_SMP       inner guest vCPUs (default 2; the INTx check wants 2)
#   E2E_OUT       where the logs go (default $REPO/build/e2e/last): console.log
#                 (inner serial console), qemu.err, qemu-maps.txt, server.log,
#                 dmesg.txt (outer kernel log lines of this run), stats.txt
#   E2E_QEMU_ARGS extra QEMU arguments (word-split), e.g. "-trace vfio_*"
#   E2E_SERVER_VERBOSE=1  run the server with -v (every message in server.log)
#   KVER          kernel for the inner guest (default: the running one)
#
# Output: TAP version 13, 1..N, ok/not ok per case with "#" diagnostics
# before each failure, "# Totals: ...".  Exit status 0 iff every case
# passed, 4 if the test could not run here (skipped), 1 otherwise.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../../../.." && pwd -P)
server=$here/build/vfio_user_test_server
# Built by kselftest's run_tests in a kernel tree: beside this script.
[ -x "$server" ] || [ ! -x "$here/vfio_user_test_server" ] || server=$here/vfio_user_test_server
out=${E2E_OUT:-$repo/build/e2e/last}
qemu_timeout=${E2E_TIMEOUT:-450}
smp=${E2E_SMP:-2}
ko=${VFIO_USER_KO:-$repo/drivers/vfio/user/vfio_user.ko}
[[ $ko == /* ]] || ko=$repo/$ko

cases=(setup qemu_boot pci_ids pci_caps bar0 bar2 bar2_mmap dma intx teardown)
inner_cases=(pci_ids pci_caps bar0 bar2 dma intx)
t_start=$(date +%s)

echo "TAP version 13"
echo "1..${#cases[@]}"

# --- reporting: tap, totals, skip_all, append, inner_parse, inner_tap -------
# shellcheck source=e2e/tap.sh
. "$here/e2e/tap.sh"

# --- preconditions ----------------------------------------------------------------
# E2E_SKIP: a run that leaves this test out says why (make check-debug).
[ -z "${E2E_SKIP:-}" ] || skip_all "$E2E_SKIP"
[ "$(id -u)" = 0 ] || skip_all "must run as root (inside the test VM)"
command -v qemu-system-x86_64 > /dev/null || skip_all "qemu-system-x86_64 not installed"
kver=${KVER:-$(uname -r)}
kernel=/boot/vmlinuz-$kver
if [ ! -r "$kernel" ]; then
	kver=$(for f in /boot/vmlinuz-6.12.*+deb12-amd64; do [ -e "$f" ] && echo "${f#/boot/vmlinuz-}"; done | sort -V | tail -n 1)
	kernel=/boot/vmlinuz-$kver
fi
[ -r "$kernel" ] || skip_all "no kernel image for the inner guest (/boot/vmlinuz-$kver)"
[ -x "$server" ] || skip_all "$server not built (make selftests)"

# Logs are written to a private local directory and copied to $out at the
# end: several test VMs may run this test at once on one repository.
w=$(mktemp -d "${TMPDIR:-/tmp}/qemu-e2e.XXXXXX") || skip_all "mktemp failed"
publish() {
	[ -d "$w" ] || return 0
	mkdir -p "${out%/*}" && rm -rf "$out.new.$$" && cp -r "$w" "$out.new.$$" &&
		rm -rf "$out" && mv "$out.new.$$" "$out"
	rm -rf "$w"
}
dmesg_mark=$(dmesg 2>/dev/null | wc -l)

if ! initrd=$(KVER=$kver "$here/e2e/build-initramfs.sh" 2> "$w/initramfs.err"); then
	e=$(cat "$w/initramfs.err")
	publish
	skip_all "building the inner initramfs failed: $e"
fi

sock=/tmp/vfio-user-e2e.$$.sock
srv_pid='' qemu_pid='' timeout_pid='' vdev='' loaded_ko=0

cleanup() {
	[ -n "$timeout_pid" ] && kill "$timeout_pid" 2>/dev/null
	[ -n "$qemu_pid" ] && kill -KILL "$qemu_pid" 2>/dev/null
	if [ -n "$vdev" ] && [ -e "/sys/bus/vfio-user/devices/$vdev" ]; then
		echo "$vdev" > /sys/bus/vfio-user/del_device 2>/dev/null
	fi
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
	if [ "$loaded_ko" = 1 ]; then
		rmmod "$(basename "$ko" .ko)" 2>/dev/null
		loaded_ko=0
	fi
	rm -f "$sock"
	publish
}
trap cleanup EXIT
trap 'exit 130' INT TERM

outer_dmesg() { dmesg 2>/dev/null | tail -n +$((dmesg_mark + 1)); }

# --- 1. setup: module, server, bind ------------------------------------------------
setup_err=()
if [ ! -d /sys/bus/vfio-user ]; then
	. "$here/vm/module-deps.sh"
	for m in $(vu_module_deps "$ko"); do modprobe "$m" 2>/dev/null; done
	if o=$(insmod "$ko" 2>&1); then
		loaded_ko=1
	else
		setup_err+=("insmod $ko: $o")
	fi
fi
if [ ${#setup_err[@]} = 0 ]; then
	srv_args=(-s "$sock")
	[ "${E2E_SERVER_VERBOSE:-0}" = 1 ] && srv_args+=(-v)
	# --ready-fd: the socket file exists before listen(); "ready" comes after.
	"$server" "${srv_args[@]}" --ready-fd 3 3> "$w/server.ready" > "$w/server.log" 2>&1 < /dev/null &
	srv_pid=$!
	for _ in $(seq 200); do grep -q ready "$w/server.ready" 2>/dev/null && break; sleep 0.05; done
	if ! grep -q ready "$w/server.ready" 2>/dev/null; then
		setup_err+=("the server did not report ready on $sock within 10 s" "$(tail -n 5 "$w/server.log")")
	elif ! o=$( (echo "$sock" > /sys/bus/vfio-user/new_device) 2>&1); then
		setup_err+=("bind: echo $sock > /sys/bus/vfio-user/new_device: $o" "$(outer_dmesg | tail -n 5)")
	else
		f=$(grep -lx -- "$sock" /sys/bus/vfio-user/devices/*/socket_path 2>/dev/null | head -n 1)
		if [ -z "$f" ]; then
			setup_err+=("bound, but no /sys/bus/vfio-user/devices/*/socket_path names $sock")
		else
			sysdev=${f%/socket_path}
			vdev=${sysdev##*/}
			group=$(basename "$(readlink "$sysdev/iommu_group" 2>/dev/null)" 2>/dev/null)
			if [ -z "$group" ] || [ ! -c "/dev/vfio/$group" ]; then
				setup_err+=("$vdev: no iommu_group link or no /dev/vfio/${group:-?}")
			fi
		fi
	fi
fi
if [ ${#setup_err[@]} = 0 ]; then
	tap ok setup "$vdev: group $group, protocol $(cat "$sysdev/protocol_version" 2>/dev/null), state $(cat "$sysdev/state" 2>/dev/null)"
else
	tap fail setup "${setup_err[@]}"
	fail_rest 1 "not run: setup failed"
	totals "$out"
	exit 1
fi

# --- 2. the inner guest --------------------------------------------------------------
bios=()
[ -r /usr/share/qemu/qboot.rom ] && bios=(-bios /usr/share/qemu/qboot.rom)
# shellcheck disable=SC2206
extra=(${E2E_QEMU_ARGS:-})
qemu=(qemu-system-x86_64 -accel tcg -m 256 -smp "$smp" -nographic -no-reboot
	-vga none -nic none "${bios[@]}"
	-kernel "$kernel" -initrd "$initrd"
	-append "console=ttyS0 panic=-1 loglevel=5 rdinit=/init memmap=64K\$0x4000000"
	-device "vfio-pci,sysfsdev=$sysdev" "${extra[@]}")
echo "# e2e:$(printf ' %q' timeout "$qemu_timeout" "${qemu[@]}")"
run_inner() {
	t_qemu=$(date +%s)
	timeout -k 5 "$qemu_timeout" "${qemu[@]}" > "$w/console.log" 2> "$w/qemu.err" < /dev/null &
	timeout_pid=$!
	# While QEMU runs: find its pid (timeout's child) and, once the inner guest
	# has seen the device, keep a copy of QEMU's mappings (for bar2_mmap).
	maps_done=0
	while kill -0 "$timeout_pid" 2>/dev/null; do
		if [ -z "$qemu_pid" ]; then
			qemu_pid=$(awk '{ print $1 }' "/proc/$timeout_pid/task/$timeout_pid/children" 2>/dev/null)
		fi
		if [ "$maps_done" = 0 ] && [ -n "$qemu_pid" ] && grep -aq 'E2E-RESULT pci_ids' "$w/console.log" 2>/dev/null; then
			cp "/proc/$qemu_pid/maps" "$w/qemu-maps.txt" 2>/dev/null && maps_done=1
		fi
		sleep 0.5
	done
	wait "$timeout_pid"
	qrc=$?
	timeout_pid='' qemu_pid=''
	t_qemu=$(($(date +%s) - t_qemu))
	tr -d '\r' < "$w/console.log" > "$w/console.tmp" && mv "$w/console.tmp" "$w/console.log"
}
run_inner
# Debian's kernel, under nested TCG on a loaded host, now and then takes an
# interrupt in start_kernel before its APIC is set up and dies calling a
# NULL EOI ("RIP: 0010:0x0 ... Attempted to kill the idle task").  That is
# before any initcall, so before PCI enumeration: the guest has not touched
# the device yet.  Such a boot, and only such a boot, is tried once more;
# the first console is kept and the retry is said in qemu_boot's result.
early_crash=()
if ! grep -aq '^E2E-START' "$w/console.log" && grep -aq 'Kernel panic' "$w/console.log" &&
   grep -aq ' start_kernel+' "$w/console.log" && ! grep -aq 'do_initcalls\|kernel_init' "$w/console.log"; then
	mv "$w/console.log" "$w/console-early-crash.log"
	early_crash=("boot retried: the first inner kernel died in start_kernel, before PCI enumeration ($w/console-early-crash.log):")
	append_early() { mapfile -t -O "${#early_crash[@]}" early_crash <<< "$1"; }
	append_early "$(grep -a -m 3 'BUG:\|RIP:\|Kernel panic\|WARNING:' "$w/console-early-crash.log" | sed 's/^/  /')"
	echo "# e2e: the inner kernel died in start_kernel; booting it once more"
	run_inner
fi

# Outer-side state right after QEMU is gone.
state=$(cat "$sysdev/state" 2>/dev/null || echo "?")
reason=$(cat "$sysdev/broken_reason" 2>/dev/null || true)
[ -r "/sys/kernel/debug/vfio-user/$vdev/stats" ] && cp "/sys/kernel/debug/vfio-user/$vdev/stats" "$w/stats.txt"

qemu_diag=()
qemu_why() { # why the inner guest produced nothing: QEMU's own words first
	qemu_diag=("QEMU exit status $qrc$([ "$qrc" = 124 ] && echo " (killed after ${qemu_timeout}s)") after ${t_qemu}s")
	append qemu_diag "$(sed 's/^/qemu: /' "$w/qemu.err" | head -n 20)"
	qemu_diag+=("device $vdev state: $state${reason:+ ($reason)}" "last inner console lines:")
	append qemu_diag "$(grep -av '^E2E-INFO pci' "$w/console.log" | tail -n 15 | sed 's/^/  /')"
	qemu_diag+=("outer kernel log of this run:")
	append qemu_diag "$(outer_dmesg | tail -n 15 | sed 's/^/  /')"
}

if grep -aq '^E2E-START' "$w/console.log"; then
	d=("$(grep -a '^E2E-START' "$w/console.log" | head -n 1); QEMU ran ${t_qemu}s" "${early_crash[@]}")
	append d "$(sed 's/^/qemu: /' "$w/qemu.err" | head -n 10)"
	tap ok qemu_boot "${d[@]}"
else
	qemu_why
	tap fail qemu_boot "the inner guest never reached its /init" "${early_crash[@]}" "${qemu_diag[@]}"
fi

inner_parse "$w/console.log" "${inner_cases[@]}"
# An inner case without a result: QEMU's words on why, computed once.
inner_case() {
	[ -n "${res[$1]}" ] || [ ${#qemu_diag[@]} -gt 0 ] || qemu_why
	inner_tap "$w/console.log" "$1" "${qemu_diag[@]}"
}

inner_case pci_ids
inner_case pci_caps
inner_case bar0
inner_case bar2

# bar2_mmap: QEMU maps BAR2's sparse areas (16 KiB at 0, 32 KiB at 32 KiB)
# from the device fd; when mmap fails it says so and traps every access.
mm_diag=()
if ! grep -aq '^E2E-START' "$w/console.log"; then
	tap fail bar2_mmap "not run: the inner guest did not start"
else
	mmap_warn=$(grep -a 'Failed to mmap' "$w/qemu.err" | head -n 3)
	# A 16 KiB and a 32 KiB shared mapping of one file: the server's memfd
	# (or the vfio device, if the driver maps it another way).
	areas=''
	[ -f "$w/qemu-maps.txt" ] || : > "$w/qemu-maps.txt"
	while read -r range perms _ _ _ path; do
		[[ $perms == rw?s && -n $path ]] || continue
		sz=$(( 16#${range#*-} - 16#${range%-*} ))
		[ "$sz" = 16384 ] || [ "$sz" = 32768 ] || continue
		areas+="$((sz / 1024))K $path"$'\n'
	done < "$w/qemu-maps.txt"
	areas=${areas%$'\n'}
	mm_diag=("mappings: ${areas:-none found}")
	[ -s "$w/qemu-maps.txt" ] || mm_diag=("QEMU's /proc/PID/maps was not captured")
	# Both areas must come from the same file.
	both=''
	while read -r sz path; do
		[ "$sz" = 16K ] && grep -qxF "32K $path" <<< "$areas" && both=$path
	done <<< "$areas"
	if [ -z "$mmap_warn" ] && [ -n "$both" ]; then
		tap ok bar2_mmap "${mm_diag[@]}"
	else
		tap fail bar2_mmap ${mmap_warn:+"qemu: $mmap_warn"} "${mm_diag[@]}"
	fi
fi

inner_case dma
inner_case intx

# --- teardown -------------------------------------------------------------------------
td=()
grep -aq '^E2E-DONE' "$w/console.log" || td+=("the inner guest did not finish (no E2E-DONE)")
[ "$qrc" = 0 ] || td+=("QEMU exit status $qrc$([ "$qrc" = 124 ] && echo " (killed after ${qemu_timeout}s)")")
[ "$state" = connected ] || td+=("device state after QEMU: $state${reason:+ ($reason)}")
if o=$( (echo "$vdev" > /sys/bus/vfio-user/del_device) 2>&1); then
	vdev_deleted=$vdev
	vdev=
	[ ! -e "/sys/bus/vfio-user/devices/$vdev_deleted" ] || td+=("$vdev_deleted still present after del_device")
else
	td+=("del_device $vdev: $o")
fi
if ! kill -0 "$srv_pid" 2>/dev/null; then
	td+=("the test server died: $(tail -n 3 "$w/server.log")")
fi
outer_dmesg > "$w/dmesg.txt"
bad_dmesg=$(e2e_outer_findings "$w/dmesg.txt")
[ -z "$bad_dmesg" ] || td+=("outer kernel log:" "$bad_dmesg")
if [ ${#td[@]} = 0 ]; then
	tap ok teardown "$(grep -a '^E2E-DONE' "$w/console.log"), QEMU ran ${t_qemu}s"
else
	tap fail teardown "${td[@]}"
fi

# Inner kernel lines worth keeping in the TAP stream (always shown).
e2e_inner_findings "$w/console.log"
[ -s "$w/stats.txt" ] && sed 's/^/# stats: /' "$w/stats.txt"

totals "$out"
[ "$n_fail" = 0 ]
