#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build.sh - build (or find in the cache) the debug kernel "make
# check-debug" boots: Debian's linux-source-6.12 configured with
# x86_64_defconfig + debug.config (KASAN, lockdep, kmemleak, debug
# objects, UBSAN; everything the VM rig needs built in).
#
# Usage: debug-kernel/build.sh [--print-dir | --config-only]
#
#   (no option)     build if needed; print the build directory (a kernel
#                   build tree usable as KDIR, with arch/x86/boot/bzImage
#                   and include/config/kernel.release) on stdout
#   --print-dir     print that directory and exit, building nothing
#   --config-only   extract the source and write BUILD/.config, no build
#
# Everything lives outside the checkout, in
#   $VFIO_USER_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/vfio-user):
#   linux-source-6.12-<package version>-<patches>/   the source, extracted
#       once, with patches/*.patch applied (fixes for kernel bugs that
#       would otherwise fill the run with reports not ours; each says why)
#   debug-kernel-<key>/                    the O= build tree; <key> hashes
#       debug.config's settings (not its comments), the patches, the
#       source package version, the base config and the compiler, so
#       changing a setting or a patch (or a new linux-source or gcc) means
#       a new tree and one full build; otherwise nothing is rebuilt.
#       BUILD/build.log has the build output.
# The two most recently used build trees are kept, older ones removed.
#
# Environment: VFIO_USER_CACHE, KSRC_TAR (default
# /usr/src/linux-source-6.12.tar.xz), DEBUG_KERNEL_JOBS (default 2; the
# build always runs under "nice -n 19").
#
# Installs missing build dependencies (bc bison flex libelf-dev libssl-dev
# cpio kmod gcc make xz-utils patch linux-source-6.12) with apt-get, running
# "apt-get update" first only when something has to be installed.
set -euo pipefail

prog=debug-kernel
note() { echo "$prog: $*" >&2; }
die() { echo "$prog: error: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
fragment=$here/debug.config
patches=("$here"/patches/*.patch)
[ -e "${patches[0]}" ] || patches=()
base_config=x86_64_defconfig
# Bump when the recipe (not debug.config) changes in a way that needs a
# fresh tree.
recipe=1

mode=build
case ${1:-} in
'') ;;
--print-dir) mode=print ;;
--config-only) mode=config ;;
-h|--help) sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
*) die "unknown argument '$1' (see --help)" ;;
esac

cache=${VFIO_USER_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/vfio-user}
tarball=${KSRC_TAR:-/usr/src/linux-source-6.12.tar.xz}
jobs=${DEBUG_KERNEL_JOBS:-2}

# --- build dependencies --------------------------------------------------------------
installed() { [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]; }
install_deps() {
	local deps=(bc bison flex libelf-dev libssl-dev cpio kmod gcc make xz-utils libc6-dev patch)
	[ -n "${KSRC_TAR:-}" ] || deps+=(linux-source-6.12)
	local missing=() p sudo=
	for p in "${deps[@]}"; do installed "$p" || missing+=("$p"); done
	[ ${#missing[@]} -gt 0 ] || return 0
	if [ "$(id -u)" != 0 ]; then
		command -v sudo > /dev/null || die "need root (or sudo) to install ${missing[*]}"
		sudo=sudo
	fi
	local opts=(-o DPkg::Lock::Timeout=600 -q -y)
	note "installing ${missing[*]}"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install --no-install-recommends "${missing[@]}" > /dev/null 2>&1 ||
		{ $sudo apt-get "${opts[@]}" update > /dev/null &&
		  $sudo env DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install --no-install-recommends "${missing[@]}" > /dev/null; } ||
		die "apt-get install ${missing[*]} failed"
}

# --- cache key ------------------------------------------------------------------------
[ -f "$fragment" ] || die "$fragment missing"
[ "$mode" = print ] || install_deps
[ -r "$tarball" ] || die "$tarball not found (install linux-source-6.12: scripts/setup-host.sh)"
src_ver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || true)
[ -n "$src_ver" ] && [ -z "${KSRC_TAR:-}" ] || src_ver=$(stat -L -c '%s-%Y' "$tarball")
src_ver=$(tr -c 'A-Za-z0-9.+\n-' _ <<< "$src_ver")
patch_key=$(cat /dev/null "${patches[@]}" | sha256sum | cut -c1-8)
srcdir=$cache/linux-source-6.12-$src_ver-$patch_key
key=$( {
	echo "recipe=$recipe base=$base_config src=$src_ver"
	gcc --version | head -n 1
	ld --version | head -n 1
	# Its settings, not its comments.
	grep -E '^(CONFIG_|# CONFIG_[A-Za-z0-9_]+ is not set)' "$fragment"
	echo "patches=$patch_key"
} | sha256sum | cut -c1-12)
build=$cache/debug-kernel-$key
stamp=$build/.vfio-user-built

if [ "$mode" = print ]; then
	echo "$build"
	exit 0
fi

mkdir -p "$cache"
# One builder at a time (two "make check-debug" would share the tree).
exec 9> "$cache/.lock"
if ! flock -n 9; then
	note "waiting for another debug-kernel build to finish"
	flock 9
fi

# The tree needs its source too (out-of-tree modules build against both).
if [ "$mode" = build ] && [ -f "$stamp" ] && [ -f "$build/arch/x86/boot/bzImage" ] &&
	[ -f "$srcdir/.vfio-user-extracted" ]; then
	touch "$stamp" # most recently used
	note "cached: $build ($(cat "$build/include/config/kernel.release"))"
	echo "$build"
	exit 0
fi

# --- source ----------------------------------------------------------------------------
if [ ! -f "$srcdir/.vfio-user-extracted" ]; then
	note "extracting $tarball -> $srcdir"
	rm -rf "$srcdir" "$srcdir.tmp"
	mkdir -p "$srcdir.tmp"
	nice -n 19 tar -xJf "$tarball" -C "$srcdir.tmp" --strip-components=1
	for p in "${patches[@]}"; do
		note "applying ${p##*/}"
		patch -d "$srcdir.tmp" -p1 --forward --quiet < "$p" ||
			die "${p##*/} does not apply to $tarball"
	done
	: > "$srcdir.tmp/.vfio-user-extracted"
	mv "$srcdir.tmp" "$srcdir"
fi

# --- config ----------------------------------------------------------------------------
mkdir -p "$build"
log=$build/build.log
: > "$log"
kmake() { make -C "$srcdir" O="$build" "$@"; }
{
	kmake "$base_config"
	"$srcdir/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" "$fragment"
	kmake olddefconfig
} >> "$log" 2>&1 || { tail -n 20 "$log" >&2; die "configuring failed (log: $log)"; }

# Every value debug.config asks for must be in the result: a symbol that
# Kconfig dropped (a missing dependency) is a silent hole otherwise.
bad=$(awk '
	FNR == NR {
		if (/^CONFIG_[A-Za-z0-9_]+=/) { i = index($0, "="); have[substr($0, 1, i - 1)] = substr($0, i + 1) }
		next
	}
	/^CONFIG_[A-Za-z0-9_]+=/ {
		i = index($0, "="); k = substr($0, 1, i - 1); v = substr($0, i + 1)
		if (have[k] != v) print k "=" v " requested, got " (k in have ? k "=" have[k] : "not set")
		next
	}
	/^# CONFIG_[A-Za-z0-9_]+ is not set/ {
		k = $2
		if ((k in have) && have[k] != "n") print k " requested off, got " k "=" have[k]
	}
' "$build/.config" "$fragment")
if [ -n "$bad" ]; then
	printf '%s\n' "$bad" | sed 's/^/  /' >&2
	die "debug.config asks for values Kconfig did not keep (fix the fragment; $build/.config)"
fi
if [ "$mode" = config ]; then
	echo "$build"
	exit 0
fi

# --- build -------------------------------------------------------------------------------
# bzImage and modules (there are few or none: Module.symvers for M= builds),
# then modules_prepare for out-of-tree modules against this tree.
note "building the debug kernel in $build (nice -n 19, -j$jobs; log: $log)"
t0=$(date +%s)
nice -n 19 make -C "$srcdir" O="$build" -j"$jobs" bzImage modules >> "$log" 2>&1 &
pid=$!
# A line every 5 minutes, so that a CI log shows it is alive.
last=$t0
while kill -0 "$pid" 2> /dev/null; do
	sleep 5
	now=$(date +%s)
	if [ $((now - last)) -ge 300 ]; then
		last=$now
		note "still building: $(((now - t0) / 60)) min, $(grep -c '^  CC ' "$log" || true) files compiled"
	fi
done
if ! wait "$pid"; then
	grep -E 'error|Error' "$log" | tail -n 20 >&2 || tail -n 20 "$log" >&2
	die "build failed after $(($(date +%s) - t0)) s (log: $log)"
fi
kmake modules_prepare >> "$log" 2>&1 || die "make modules_prepare failed (log: $log)"
[ -f "$build/arch/x86/boot/bzImage" ] || die "no bzImage after the build (log: $log)"
echo "built $(date -u +%FT%TZ) in $(($(date +%s) - t0)) s" > "$stamp"
note "built $(cat "$build/include/config/kernel.release") in $(($(date +%s) - t0)) s"

# Keep this tree and the previous most recently used one (by their stamp,
# which a cached use touches; a tree without one was never finished).
for d in "$cache"/debug-kernel-*; do
	[ -d "$d" ] && [ "$d" != "$build" ] || continue
	echo "$(stat -c %Y "$d/.vfio-user-built" 2> /dev/null || echo 0) $d"
done | sort -rn | tail -n +2 | while read -r _ old; do
	note "removing old build tree $old"
	rm -rf "$old"
done
# And the sources no kept tree builds from (a tree's "source" link names
# its own).
for d in "$cache"/linux-source-6.12-*; do
	[ -d "$d" ] || continue
	used=
	for t in "$cache"/debug-kernel-*; do
		[ "$(readlink -f "$t/source")" = "$(readlink -f "$d")" ] && used=1
	done
	[ -n "$used" ] || { note "removing unused source $d"; rm -rf "$d"; }
done
echo "$build"
