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

# shellcheck source=SCRIPTDIR/../vm/initramfs-lib.sh
. "$script_dir/../vm/initramfs-lib.sh"
initramfs_mod_order "$moddir" uio_pci_generic

cache_dir=$REPO/build/e2e
mkdir -p "$cache_dir" || die "cannot create $cache_dir"
key=$( {
	echo "kver=$kver"
	printf '%s\n' "${mod_order[@]}"
	for m in "${mod_order[@]}"; do stat -c '%n %s %Y' "$moddir/$m"; done
	cat "$script_dir/init.sh" "$script_dir/build-initramfs.sh" \
	    "$script_dir/../vm/initramfs-lib.sh" "$busybox" | sha256sum
} | sha256sum | cut -c1-16)
initrd=$cache_dir/initramfs-$kver-$key.cpio

if [ ! -s "$initrd" ]; then
	echo "$prog: building ${initrd#"$REPO"/}" >&2
	initramfs_build "$initrd" "$busybox" "$script_dir/init.sh" "$moddir" tmp
fi
echo "$initrd"
