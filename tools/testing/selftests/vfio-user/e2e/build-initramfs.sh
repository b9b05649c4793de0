#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build-initramfs.sh - the initramfs of the INNER guest of the QEMU
# end-to-end test (qemu_e2e_test.sh): static busybox, e2e/init.sh as /init
# and the uio + uio_pci_generic modules (decompressed: busybox insmod cannot
# read .ko.xz), for the Debian kernel the inner guest boots.
#
# Usage:
#   build-initramfs.sh [--kver VER]
#
# Prints the path of the image on stdout.  Images are cached in
# $REPO/build/e2e/ under a name derived from their inputs (kernel version,
# module files, init.sh, this script, busybox), so an unchanged set of
# inputs is never rebuilt and a changed one always is.  Works on the host
# and inside the test VM (the repository is writable in both).
#
# Exit status: 0, or 1 with a message on stderr.
set -euo pipefail

prog=e2e-initramfs
die() { echo "$prog: error: $*" >&2; exit 1; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$script_dir/../../../../.." && pwd -P)

kver=${KVER:-}
while [ $# -gt 0 ]; do
	case $1 in
	--kver) [ $# -ge 2 ] || die "--kver needs a value"; kver=$2; shift 2 ;;
	-h|--help) sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1'" ;;
	esac
done
if [ -z "$kver" ]; then
	# The running kernel when it is one we can boot (inside the test VM it
	# is), else the newest installed Debian 6.12 build.
	r=$(uname -r)
	if [ -r "/boot/vmlinuz-$r" ] && [ -f "/lib/modules/$r/modules.dep" ]; then
		kver=$r
	else
		kver=$(for f in /boot/vmlinuz-6.12.*+deb12-amd64; do
			[ -e "$f" ] || continue
			v=${f#/boot/vmlinuz-}
			[ -f "/lib/modules/$v/modules.dep" ] && echo "$v"
		done | sort -V | tail -n 1 || true)
	fi
	[ -n "$kver" ] || die "no /boot/vmlinuz-6.12.* with modules found"
fi
moddir=/lib/modules/$kver
[ -f "$moddir/modules.dep" ] || die "$moddir/modules.dep missing"

busybox=/bin/busybox
[ -x "$busybox" ] || die "$busybox not found (install busybox-static)"
if LC_ALL=C readelf -l "$busybox" 2>/dev/null | grep -q 'Requesting program interpreter'; then
	die "$busybox is dynamically linked; install busybox-static"
fi
for tool in cpio xz sha256sum; do
	command -v "$tool" > /dev/null || die "'$tool' not found"
done

# Modules in load order (dependencies first), from modules.dep.
want_mods="uio_pci_generic"
mod_order=()
declare -A seen=()
for m in $want_mods; do
	line=$(grep -E "(^|/)$m\.ko(\.xz|\.zst|\.gz)?:" "$moddir/modules.dep") \
		|| die "module $m not found in $moddir/modules.dep"
	self=${line%%:*}
	read -r -a deps <<< "${line#*:}"
	for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
		d=${deps[i]}
		[ -n "${seen[$d]:-}" ] || { seen[$d]=1; mod_order+=("$d"); }
	done
	[ -n "${seen[$self]:-}" ] || { seen[$self]=1; mod_order+=("$self"); }
done

cache_dir=$REPO/build/e2e
mkdir -p "$cache_dir" || die "cannot create $cache_dir"
key=$( {
	echo "kver=$kver"
	printf '%s\n' "${mod_order[@]}"
	for m in "${mod_order[@]}"; do stat -c '%n %s %Y' "$moddir/$m"; done
	cat "$script_dir/init.sh" "$script_dir/build-initramfs.sh" "$busybox" | sha256sum
} | sha256sum | cut -c1-16)
initrd=$cache_dir/initramfs-$kver-$key.cpio

if [ ! -s "$initrd" ]; then
	echo "$prog: building ${initrd#"$REPO"/}" >&2
	# Stage in a local tmpfs, not under the repository: inside the test VM
	# the repository is 9p, where the /dev/console node made below would be
	# a real device node on the host that QEMU's 9p server refuses to open.
	stage=$(mktemp -d "${TMPDIR:-/tmp}/e2e-initramfs.XXXXXX")
	trap 'rm -rf "$stage"' EXIT
	mkdir -p "$stage"/{bin,dev,proc,sys,tmp,modules}
	cp "$busybox" "$stage/bin/busybox"
	for a in $("$busybox" --list); do
		[ "$a" = busybox ] || ln -s busybox "$stage/bin/$a"
	done
	cp "$script_dir/init.sh" "$stage/init"
	chmod 755 "$stage/init"
	mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true
	for m in "${mod_order[@]}"; do
		base=$(basename "$m")
		case $m in
		*.ko.xz) xz -dc "$moddir/$m" > "$stage/modules/${base%.xz}" ;;
		*.ko.zst) zstd -qdc "$moddir/$m" > "$stage/modules/${base%.zst}" ;;
		*.ko.gz) gzip -dc "$moddir/$m" > "$stage/modules/${base%.gz}" ;;
		*) cp "$moddir/$m" "$stage/modules/$base" ;;
		esac
		echo "${base%.ko*}.ko" >> "$stage/modules/order"
	done
	(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc -R 0:0 --quiet) > "$initrd.tmp.$$"
	mv -f "$initrd.tmp.$$" "$initrd"
	rm -rf "$stage"
	trap - EXIT
	for old in "$cache_dir"/initramfs-"$kver"-*.cpio; do
		[ "$old" = "$initrd" ] || rm -f "$old"
	done
fi
echo "$initrd"
