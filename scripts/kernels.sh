#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kernels.sh - the Debian 12 kernels vfio_user builds for and is tested on.
#
# Usage:
#   scripts/kernels.sh resolve [--boot] [WHICH]
#       print the installed kernel version to use: WHICH is a series (6.1,
#       6.12), a full version (6.1.0-57-amd64, 6.12.117+deb12-amd64), or
#       empty for the newest installed supported one.  "Installed" means its
#       headers are (/lib/modules/VER/build); with --boot also its image and
#       modules, to boot it in the test VM.  Fails with a message saying
#       what is missing or why the version is not supported.
#   scripts/kernels.sh list
#       print every installed supported kernel version (headers), oldest
#       first
#   scripts/kernels.sh series VERSION
#       print the series of VERSION (6.1, 6.12), or fail if unsupported
#   scripts/kernels.sh pattern SERIES
#       print the extended regex of that series' Debian headers package
#
# Supported: 6.1 (Debian 12's default kernel, linux-image-amd64) and 6.12
# (linux-image-6.12.*+deb12-amd64).  The driver's differences between them
# live in drivers/vfio/user/compat.h.
set -euo pipefail

prog=kernels
supported="6.1 6.12"

die() { echo "$prog: $*" >&2; exit 1; }

series_of() { # series_of VERSION -> 6.1 / 6.12, or nothing
	case $1 in
	6.1.[0-9]*-amd64) echo 6.1 ;;
	6.12.[0-9]*+deb12-amd64) echo 6.12 ;;
	esac
}

pattern() {
	case $1 in
	6.1) echo '^linux-headers-6\.1\.0-[0-9]+-amd64$' ;;
	6.12) echo '^linux-headers-6\.12\.[0-9]+\+deb12-amd64$' ;;
	*) die "series '$1' is not supported (supported: $supported)" ;;
	esac
}

# Installed versions, newest last.
installed() { # installed BOOT
	local d v
	for d in /lib/modules/*/; do
		v=$(basename "$d")
		[ -n "$(series_of "$v")" ] || continue
		[ -f "$d/build/Makefile" ] || continue
		if [ "$1" = 1 ]; then
			[ -r "/boot/vmlinuz-$v" ] && [ -d "$d/kernel" ] || continue
		fi
		echo "$v"
	done | sort -V
}

resolve() {
	local boot=0 which v s
	if [ "${1:-}" = --boot ]; then
		boot=1
		shift
	fi
	which=${1:-}
	case $which in
	'')
		v=$(installed $boot | tail -n 1)
		[ -n "$v" ] || die "no supported kernel's headers installed (supported: $supported); run scripts/setup-host.sh"
		;;
	6.1|6.12)
		v=$(installed $boot | while read -r x; do
			if [ "$(series_of "$x")" = "$which" ]; then echo "$x"; fi
		done | tail -n 1)
		[ -n "$v" ] || die "no $which kernel installed$([ $boot = 1 ] && echo ' (image, modules and headers)'); run scripts/setup-host.sh $which"
		;;
	*)
		s=$(series_of "$which")
		[ -n "$s" ] || die "kernel $which is not supported: vfio_user builds for Debian 12's $supported kernels"
		installed $boot | grep -qxF "$which" ||
			die "kernel $which is not installed$([ $boot = 1 ] && echo ' (image, modules and headers)'); run scripts/setup-host.sh $s"
		v=$which
		;;
	esac
	echo "$v"
}

case ${1:-} in
resolve) shift; resolve "$@" ;;
list) installed 0 ;;
series)
	[ $# -eq 2 ] || die "usage: $0 series VERSION"
	s=$(series_of "$2")
	[ -n "$s" ] || die "kernel $2 is not supported (supported: $supported)"
	echo "$s"
	;;
pattern) [ $# -eq 2 ] || die "usage: $0 pattern SERIES"; pattern "$2" ;;
*) sed -n '3,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
