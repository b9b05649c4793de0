#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# libvirt_e2e_test.sh - end to end as most hosts run VMs: mdevctl defines
# and starts a vfio-user mdev on the test server's socket, and Debian's
# libvirt (libvirtd 9.0, QEMU 7.2 under TCG) boots a domain with that
# mdev as <hostdev type='mdev' model='vfio-pci'>.  Runs INSIDE the test VM,
# as root (the Makefile's TEST_PROGS).
#
#   1. starts build/vfio_user_test_server and libvirtd, the latter in a
#      private mount namespace with tmpfs over its state and configuration
#      directories (the VM's root is the host's, read-only) and a qemu.conf
#      for a bare VM: root, no cgroups, no namespaces, no security driver,
#      no virtlogd;
#   2. mdevctl define --parent vfio_user --type vfio_user-socket, then
#      mdevctl modify --addattr vfio_user/socket_path, mdevctl start;
#   3. virsh define + virsh start of a domain with that hostdev, direct
#      kernel boot of the inner guest of qemu_e2e_test.sh (e2e/init.sh),
#      which checks the device and powers off;
#   4. virsh undefine, mdevctl stop (the mdev and its vfio-userN go),
#      mdevctl undefine.
#
# Test cases:
#   setup           server, libvirtd answering virsh
#   mdevctl_define  the definition lists the type and the socket_path attr
#   mdevctl_start   the mdev exists, bound: vfio_user/device, iommu_group
#   virsh_start     virsh define and start succeeded; QEMU has the hostdev
#                   as vfio-pci,sysfsdev=/sys/bus/mdev/devices/UUID
#   pci_ids bar0 bar2 dma intx
#                   the inner guest's checks (e2e/init.sh): the device's IDs,
#                   register round trip, BAR2, DMA through the zero-copy
#                   window, INTx
#   teardown        the inner guest powered off (domain shut off), the device
#                   stayed connected, mdevctl stop removed the mdev and its
#                   vfio-userN, mdevctl undefine removed the definition, no
#                   kernel warnings
#
# Environment (optional): E2E_TIMEOUT (bound on the inner guest, seconds,
# default 450), E2E_SKIP (skip every case, saying this), E2E_OUT (logs;
# default $REPO/build/e2e/libvirt-last: libvirtd.log, qemu.log (libvirt's
# log of the domain), console.log (inner serial console), domain.xml,
# server.log, dmesg.txt), KVER (inner kernel, default the running one).
#
# Output: kselftest TAP; exit 0 iff every case passed, 4 if it could not
# run here (skipped), 1 otherwise.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../../../.." && pwd -P)
server=$here/build/vfio_user_test_server
[ -x "$server" ] || [ ! -x "$here/vfio_user_test_server" ] || server=$here/vfio_user_test_server
out=${E2E_OUT:-$repo/build/e2e/libvirt-last}
qemu_timeout=${E2E_TIMEOUT:-450}
domain=vfio-user-e2e
virsh=(timeout 60 virsh -q -c qemu:///system)

cases=(setup mdevctl_define mdevctl_start virsh_start pci_ids bar0 bar2 dma intx teardown)
inner_cases=(pci_ids bar0 bar2 dma intx)
t_start=$(date +%s)

# shellcheck source=e2e/tap.sh
. "$here/e2e/tap.sh"

# libvirtd and its QEMU get tmpfs over the directories they write: in a
# mount namespace of this script's own, gone when it exits.
if [ -z "${VU_LIBVIRT_NS:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare > /dev/null; then
	VU_LIBVIRT_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi

echo "TAP version 13"
echo "1..${#cases[@]}"

# --- preconditions -------------------------------------------------------------------
[ -z "${E2E_SKIP:-}" ] || skip_all "$E2E_SKIP"
[ "$(id -u)" = 0 ] || skip_all "must run as root (inside the test VM)"
[ -n "${VU_LIBVIRT_NS:-}" ] || skip_all "unshare (util-linux) is needed for a private mount namespace"
for c in libvirtd virsh mdevctl qemu-system-x86_64; do
	command -v "$c" > /dev/null || skip_all "$c not installed (scripts/setup-host.sh installs libvirt-daemon-system and mdevctl)"
done
[ -d /sys/bus/vfio-user ] || skip_all "the vfio_user module is not loaded (run_tests.sh loads it)"
if [ ! -d /sys/class/mdev_bus/vfio_user ]; then
	# A kernel with mdev (loaded, built in, or a module for it) must have it.
	[ -d /sys/bus/mdev ] || modinfo mdev > /dev/null 2>&1 || skip_all "this kernel has no mdev support"
	tap fail setup "mdev is loaded but the driver registered no parent /sys/class/mdev_bus/vfio_user"
	fail_rest 1 "not run: setup failed"
	totals "$out"
	exit 1
fi
kver=${KVER:-$(uname -r)}
kernel=/boot/vmlinuz-$kver
[ -r "$kernel" ] || skip_all "no kernel image for the inner guest ($kernel)"
[ -x "$server" ] || skip_all "$server not built (make selftests)"

w=$(mktemp -d "${TMPDIR:-/tmp}/libvirt-e2e.XXXXXX") || skip_all "mktemp failed"
publish() {
	[ -d "$w" ] || return 0
	cp /var/log/libvirt/libvirtd.log "$w/libvirtd.log" 2>/dev/null
	cp "/var/log/libvirt/qemu/$domain.log" "$w/qemu.log" 2>/dev/null
	mkdir -p "${out%/*}" && rm -rf "$out.new.$$" && cp -r "$w" "$out.new.$$" &&
		rm -rf "$out" && mv "$out.new.$$" "$out"
	rm -rf "$w"
}
dmesg_mark=$(dmesg 2>/dev/null | wc -l)
outer_dmesg() { dmesg 2>/dev/null | tail -n +$((dmesg_mark + 1)); }

if ! initrd=$(KVER=$kver "$here/e2e/build-initramfs.sh" 2> "$w/initramfs.err"); then
	e=$(cat "$w/initramfs.err")
	publish
	skip_all "building the inner initramfs failed: $e"
fi

sock=$w/server.sock
uuid=$(cat /proc/sys/kernel/random/uuid)
srv_pid='' lv_pid=''
cleanup() {
	if [ -n "$lv_pid" ]; then
		"${virsh[@]}" destroy "$domain" > /dev/null 2>&1
		"${virsh[@]}" undefine "$domain" > /dev/null 2>&1
		kill "$lv_pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$lv_pid" 2>/dev/null || break; sleep 0.1; done
	fi
	if [ -e "/sys/bus/mdev/devices/$uuid" ]; then
		echo 1 > "/sys/bus/mdev/devices/$uuid/remove" 2>/dev/null
	fi
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
	publish
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. setup: server, libvirtd ------------------------------------------------------
setup_err=()
"$server" -s "$sock" --ready-fd 3 3> "$w/server.ready" > "$w/server.log" 2>&1 < /dev/null &
srv_pid=$!
for _ in $(seq 200); do grep -q ready "$w/server.ready" 2>/dev/null && break; sleep 0.05; done
grep -q ready "$w/server.ready" 2>/dev/null ||
	setup_err+=("the server did not report ready on $sock within 10 s" "$(tail -n 5 "$w/server.log")")

for d in /etc/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt /run/libvirt /etc/mdevctl.d; do
	[ ${#setup_err[@]} = 0 ] || break
	keep=$w/keep${d//\//_}
	mkdir -p "$keep" "$d" && { [ ! -d "$d" ] || cp -a "$d/." "$keep/"; } &&
		mount -t tmpfs tmpfs "$d" && cp -a "$keep/." "$d/" ||
		setup_err+=("cannot put a tmpfs over $d")
done
if [ ${#setup_err[@]} = 0 ]; then
	# No networks: the host's default one would want dnsmasq and iptables.
	rm -f /etc/libvirt/qemu/networks/autostart/*.xml
	cat > /etc/libvirt/qemu.conf <<-'EOF'
	user = "root"
	group = "root"
	dynamic_ownership = 0
	remember_owner = 0
	security_driver = "none"
	cgroup_controllers = [ ]
	namespaces = [ ]
	stdio_handler = "file"
	EOF
	cat > "$w/libvirtd.conf" <<-'EOF'
	auth_unix_ro = "none"
	auth_unix_rw = "none"
	log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
	EOF
	if ! o=$(libvirtd -d -f "$w/libvirtd.conf" -p /run/libvirt/libvirtd.pid 2>&1); then
		setup_err+=("libvirtd -d: $o")
	else
		for _ in $(seq 300); do [ -s /run/libvirt/libvirtd.pid ] && break; sleep 0.1; done
		lv_pid=$(cat /run/libvirt/libvirtd.pid 2>/dev/null)
		if ! o=$("${virsh[@]}" version 2>&1); then
			setup_err+=("virsh version: $o" "$(tail -n 5 /var/log/libvirt/libvirtd.log 2>/dev/null)")
		fi
	fi
fi
if [ ${#setup_err[@]} = 0 ]; then
	tap ok setup "libvirtd $(libvirtd --version | awk '{ print $NF }'), up after $(($(date +%s) - t_start))s"
else
	tap fail setup "${setup_err[@]}"
	fail_rest 1 "not run: setup failed"
	totals "$out"
	exit 1
fi

step() { # step CASE DIAG-ARRAY: ok if the array is empty, else fail and stop
	local -n _d=$2
	if [ ${#_d[@]} = 0 ]; then
		return 0
	fi
	tap fail "$1" "${_d[@]}"
	return 1
}
give_up() { # give_up FROM-INDEX: the cases left cannot run
	fail_rest "$1" "not run: an earlier step failed"
	totals "$out"
	exit 1
}

# --- 2. mdevctl -------------------------------------------------------------------------
d=()
o=$(mdevctl define -u "$uuid" -p vfio_user -t vfio_user-socket 2>&1) || d+=("mdevctl define: $o")
[ ${#d[@]} != 0 ] || o=$(mdevctl modify -u "$uuid" --addattr=vfio_user/socket_path --value="$sock" 2>&1) ||
	d+=("mdevctl modify --addattr: $o")
if [ ${#d[@]} = 0 ]; then
	def=$(mdevctl list --defined --dumpjson -u "$uuid" 2>&1)
	grep -q '"mdev_type": "vfio_user-socket"' <<< "$def" && grep -qF "\"vfio_user/socket_path\": \"$sock\"" <<< "$def" ||
		d+=("the definition lacks the type or the attribute:" "$def")
fi
step mdevctl_define d || give_up 2
tap ok mdevctl_define "$(tr -d ' \n' <<< "$def")"

d=()
o=$(mdevctl start -u "$uuid" 2>&1) || d+=("mdevctl start: $o" "$(outer_dmesg | tail -n 5)")
mdir=/sys/bus/mdev/devices/$uuid
if [ ${#d[@]} = 0 ]; then
	vdev=$(cat "$mdir/vfio_user/device" 2>/dev/null)
	group=$(basename "$(readlink "$mdir/iommu_group" 2>/dev/null)" 2>/dev/null)
	[ -n "$vdev" ] && [ -d "/sys/bus/vfio-user/devices/$vdev" ] || d+=("$mdir/vfio_user/device names no vfio-user device")
	[ -n "$group" ] && [ -c "/dev/vfio/$group" ] || d+=("$mdir: no iommu_group link or no /dev/vfio/${group:-?}")
	[ "$(cat "$mdir/vfio_user/socket_path" 2>/dev/null)" = "$sock" ] || d+=("socket_path does not read back $sock")
fi
step mdevctl_start d || give_up 3
tap ok mdevctl_start "$uuid: $vdev, group $group, state $(cat "/sys/bus/vfio-user/devices/$vdev/state")"

# --- 3. libvirt ---------------------------------------------------------------------------
bios=
[ -r /usr/share/qemu/qboot.rom ] && bios="<loader type='rom'>/usr/share/qemu/qboot.rom</loader>"
cat > "$w/domain.xml" <<EOF
<domain type='qemu'>
  <name>$domain</name>
  <memory unit='MiB'>256</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    $bios
    <kernel>$kernel</kernel>
    <initrd>$initrd</initrd>
    <cmdline>console=ttyS0 panic=-1 loglevel=5 rdinit=/init memmap=64K\$0x4000000</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <serial type='file'><source path='$w/console.log'/><target port='0'/></serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
    <video><model type='none'/></video>
    <hostdev mode='subsystem' type='mdev' model='vfio-pci'>
      <source><address uuid='$uuid'/></source>
    </hostdev>
  </devices>
</domain>
EOF
d=()
o=$("${virsh[@]}" define "$w/domain.xml" 2>&1) || d+=("virsh define: $o")
t_qemu=$(date +%s)
[ ${#d[@]} != 0 ] || o=$("${virsh[@]}" start "$domain" 2>&1) ||
	d+=("virsh start: $o" "$(tail -n 10 "/var/log/libvirt/qemu/$domain.log" 2>/dev/null)" "$(outer_dmesg | tail -n 5)")
if [ ${#d[@]} = 0 ]; then
	grep -qF "\"sysfsdev\":\"$mdir\"" "/var/log/libvirt/qemu/$domain.log" ||
		d+=("libvirt's QEMU command line has no vfio-pci sysfsdev=$mdir:" "$(grep -a -- '-device' "/var/log/libvirt/qemu/$domain.log" | tail -n 1)")
fi
step virsh_start d || give_up 4
tap ok virsh_start "started in $(($(date +%s) - t_qemu))s"

# The inner guest powers off when done: the domain is then shut off.
state=
while [ $(($(date +%s) - t_qemu)) -lt "$qemu_timeout" ]; do
	state=$("${virsh[@]}" domstate "$domain" 2>&1)
	[ "$state" = "shut off" ] && break
	sleep 2
done
t_qemu=$(($(date +%s) - t_qemu))
[ -f "$w/console.log" ] || : > "$w/console.log"
tr -d '\r' < "$w/console.log" > "$w/console.tmp" && mv "$w/console.tmp" "$w/console.log"
vstate=$(cat "/sys/bus/vfio-user/devices/$vdev/state" 2>/dev/null || echo "?")
vreason=$(cat "/sys/bus/vfio-user/devices/$vdev/broken_reason" 2>/dev/null)

diag=("domain $state after ${t_qemu}s; device $vstate${vreason:+ ($vreason)}" "last inner console lines:")
append diag "$(grep -av '^E2E-INFO pci' "$w/console.log" | tail -n 10 | sed 's/^/  /')"
append diag "$(tail -n 10 "/var/log/libvirt/qemu/$domain.log" 2>/dev/null | sed 's/^/qemu: /')"
inner_parse "$w/console.log" "${inner_cases[@]}"
for c in "${inner_cases[@]}"; do
	inner_tap "$w/console.log" "$c" "${diag[@]}"
done

# --- 4. teardown ---------------------------------------------------------------------------
td=()
grep -aq '^E2E-DONE' "$w/console.log" || td+=("the inner guest did not finish (no E2E-DONE)")
if [ "$state" != "shut off" ]; then
	td+=("domain state after ${t_qemu}s: $state (destroyed)")
	"${virsh[@]}" destroy "$domain" > /dev/null 2>&1
fi
[ "$vstate" = connected ] || td+=("device state after the domain: $vstate${vreason:+ ($vreason)}")
o=$("${virsh[@]}" undefine "$domain" 2>&1) || td+=("virsh undefine: $o")
if o=$(timeout 60 mdevctl stop -u "$uuid" 2>&1); then
	[ ! -e "$mdir" ] || td+=("$mdir still present after mdevctl stop")
	[ ! -e "/sys/bus/vfio-user/devices/$vdev" ] || td+=("$vdev still present after mdevctl stop")
else
	td+=("mdevctl stop: $o")
fi
o=$(mdevctl undefine -u "$uuid" 2>&1) || td+=("mdevctl undefine: $o")
[ -z "$(mdevctl list --defined -u "$uuid" 2>/dev/null)" ] || td+=("mdevctl still lists $uuid as defined")
kill -0 "$srv_pid" 2>/dev/null || td+=("the test server died: $(tail -n 3 "$w/server.log")")
outer_dmesg > "$w/dmesg.txt"
bad_dmesg=$(e2e_outer_findings "$w/dmesg.txt")
[ -z "$bad_dmesg" ] || td+=("outer kernel log:" "$bad_dmesg")
if [ ${#td[@]} = 0 ]; then
	tap ok teardown "$(grep -a '^E2E-DONE' "$w/console.log"), domain ran ${t_qemu}s"
else
	tap fail teardown "${td[@]}"
fi

e2e_inner_findings "$w/console.log"
totals "$out"
[ "$n_fail" = 0 ]
