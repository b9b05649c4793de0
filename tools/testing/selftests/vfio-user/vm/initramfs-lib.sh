# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# initramfs-lib.sh - sourced by vm/vm-run.sh (the test VM) and
# e2e/build-initramfs.sh (the end-to-end test's inner guest): a static
# busybox initramfs with an /init script and a few modules.  The caller
# defines die() and keys its cache on this file's contents too.

# initramfs_mod_order MODDIR MOD...: set the array mod_order to the module
# files (paths relative to MODDIR) that loading MOD... needs, dependencies
# first, from modules.dep (which lists them so that loading them in reverse
# order works).
initramfs_mod_order() {
	local moddir=$1 m line self d i
	local -a deps
	local -A seen=()

	shift
	mod_order=()
	for m in "$@"; do
		line=$(grep -E "(^|/)$m\.ko(\.xz|\.zst|\.gz)?:" "$moddir/modules.dep") ||
			die "module $m not found in $moddir/modules.dep"
		self=${line%%:*}
		read -r -a deps <<< "${line#*:}"
		for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
			d=${deps[i]}
			[ -n "${seen[$d]:-}" ] || { seen[$d]=1; mod_order+=("$d"); }
		done
		[ -n "${seen[$self]:-}" ] || { seen[$self]=1; mod_order+=("$self"); }
	done
}

# initramfs_build INITRD BUSYBOX INIT MODDIR DIR...: write the image INITRD
# (atomically), with BUSYBOX and its applets in /bin, INIT as /init, the
# directories DIR..., /dev/console, and the modules of mod_order from MODDIR
# in /modules, decompressed (busybox insmod cannot read .ko.xz), their load
# order in /modules/order.  Older images of the same name up to the last
# "-" (initramfs-KVER-KEY.cpio: other keys, same kernel) are removed.
initramfs_build() {
	local initrd=$1 busybox=$2 init=$3 moddir=$4 stage a m base old

	shift 4
	# A local tmpfs, not the repository: inside the test VM the repository
	# is 9p, where the /dev/console node made below would be a device node
	# on the host that QEMU's 9p server refuses to open.
	stage=$(mktemp -d "${TMPDIR:-/tmp}/initramfs.XXXXXX")
	# shellcheck disable=SC2064 # $stage is meant to expand now
	trap "rm -rf '$stage'" EXIT
	mkdir -p "$stage"/{bin,dev,proc,sys,modules}
	for a in "$@"; do
		mkdir -p "$stage/$a"
	done
	cp "$busybox" "$stage/bin/busybox"
	for a in $("$busybox" --list); do
		[ "$a" = busybox ] || ln -s busybox "$stage/bin/$a"
	done
	cp "$init" "$stage/init"
	chmod 755 "$stage/init"
	# The kernel opens /dev/console for init before devtmpfs is mounted;
	# without the node init starts with no stdio (init re-opens it anyway).
	mknod -m 600 "$stage/dev/console" c 5 1 2> /dev/null || true
	: > "$stage/modules/order"
	for m in "${mod_order[@]+"${mod_order[@]}"}"; do
		base=$(basename "$m")
		case $m in
		*.ko.xz) xz -dc "$moddir/$m" > "$stage/modules/${base%.xz}" ;;
		*.ko.zst) zstd -qdc "$moddir/$m" > "$stage/modules/${base%.zst}" ;;
		*.ko.gz) gzip -dc "$moddir/$m" > "$stage/modules/${base%.gz}" ;;
		*) cp "$moddir/$m" "$stage/modules/$base" ;;
		esac
		echo "${base%.ko*}.ko" >> "$stage/modules/order"
	done
	# Uncompressed cpio: a few MB, and the kernel unpacks it fastest.
	(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc -R 0:0 --quiet) > "$initrd.tmp.$$"
	mv -f "$initrd.tmp.$$" "$initrd"
	rm -rf "$stage"
	trap - EXIT
	for old in "${initrd%-*}"-*.cpio; do
		[ "$old" = "$initrd" ] || rm -f "$old"
	done
}
