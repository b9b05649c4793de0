#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# setup-host.sh - install what building vfio_user and running its VM test
# rig need on a Debian 12 host.  Idempotent and quiet when nothing is to do;
# CI runs it on a bare machine.
#
# Usage: scripts/setup-host.sh [SERIES...]   (as root, or with sudo available)
#
# SERIES: the kernel series to install for building and booting in the VM,
# 6.12 (the default) and/or 6.1 (Debian 12's default kernel).
#
# Installs: for each series the newest available unsigned image
# (linux-image-6.12.*+deb12-amd64-unsigned, linux-image-6.1.0-*-amd64-unsigned)
# and the matching linux-headers-*, plus qemu-system-x86, busybox-static,
# linux-source-6.12, sparse, xz-utils, cpio, gcc, libc6-dev (gcc only
# recommends it, and userspace tests need it), make, python3, kmod (the
# guest runs the host's modprobe), binutils (vm-run.sh checks busybox is
# static with readelf), and libvirt-daemon-system and mdevctl for
# libvirt_e2e_test.sh (the guest runs the host's libvirtd; installing it
# here starts nothing in the guest).
#
# A series' kernel pair is left alone if some image+headers pair of it is
# installed and apt knows of nothing newer.  "apt-get update" runs
# only when something has to be installed (or apt's lists are empty, as on
# a fresh machine, where apt-cache would otherwise find no kernel at all).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
prog=setup-host

base_pkgs=(qemu-system-x86 busybox-static linux-source-6.12 sparse xz-utils
	libvirt-daemon-system mdevctl
	cpio gcc libc6-dev make python3 kmod binutils)

SUDO=
if [ "$(id -u)" != 0 ]; then
	command -v sudo > /dev/null || { echo "$prog: need root (or sudo) to install packages" >&2; exit 1; }
	SUDO=sudo
fi

# Wait for another apt/dpkg (e.g. unattended-upgrades) instead of failing.
apt_opts=(-o DPkg::Lock::Timeout=600 -q -y)

installed() { # installed PKG -> true if dpkg has it fully installed
	[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}

series_list=("$@")
[ ${#series_list[@]} -gt 0 ] || series_list=(6.12)
kernels_sh=$(dirname "$0")/kernels.sh

# Newest version of series $1 (e.g. "6.12.117+deb12-amd64") for which both
# the unsigned image and the headers are installed; empty if none.
installed_kver() {
	local re
	re=$("$kernels_sh" pattern "$1")
	dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 'linux-headers-*' 2>/dev/null |
		awk '$1 == "ii" { print $2 }' | grep -E "$re" | sed 's/^linux-headers-//' |
		while read -r v; do
			if installed "linux-image-$v-unsigned"; then echo "$v"; fi
		done | sort -V | tail -n 1 || true # dpkg-query fails when nothing matches
}

# Newest version of series $1 apt knows of, judged by the headers package
# (its image counterpart has the same version); empty if apt knows none.
available_kver() {
	apt-cache search --names-only "$("$kernels_sh" pattern "$1")" 2>/dev/null |
		awk '{ print $1 }' | sort -V | tail -n 1 | sed 's/^linux-headers-//' || true
}

# Which kernel of series $1 to install, if any: prints the version, or
# nothing.
wanted_kver() {
	local have avail
	have=$(installed_kver "$1")
	avail=$(available_kver "$1")
	if [ -n "$avail" ] && { [ -z "$have" ] || [ "$(printf '%s\n%s\n' "$have" "$avail" | sort -V | tail -n 1)" != "$have" ]; }; then
		echo "$avail"
	elif [ -z "$have" ]; then
		echo unknown # nothing installed and apt knows of nothing (yet)
	fi
}

missing=()
for p in "${base_pkgs[@]}"; do
	installed "$p" || missing+=("$p")
done
want=
for series in "${series_list[@]}"; do
	want+=$(wanted_kver "$series")
done

if [ ${#missing[@]} -eq 0 ] && [ -z "$want" ]; then
	exit 0 # all there: stay quiet
fi

echo "$prog: updating apt's package lists" >&2
$SUDO apt-get "${apt_opts[@]}" update > /dev/null
# Re-decide with fresh lists: a newer kernel may have appeared, or (on a
# bare machine) the first list of kernels.
pkgs=("${missing[@]}")
for series in "${series_list[@]}"; do
	kver=$(wanted_kver "$series")
	if [ "$kver" = unknown ]; then
		echo "$prog: error: apt knows no $series kernel headers package (check /etc/apt/sources.list*)" >&2
		exit 1
	fi
	[ -z "$kver" ] || pkgs+=("linux-image-$kver-unsigned" "linux-headers-$kver")
done
[ ${#pkgs[@]} -gt 0 ] || exit 0

echo "$prog: installing ${pkgs[*]}" >&2
# --no-install-recommends: the rig needs none of the kernel/QEMU extras.
$SUDO apt-get "${apt_opts[@]}" install --no-install-recommends "${pkgs[@]}" > /dev/null
echo "$prog: done" >&2
