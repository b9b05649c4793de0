#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the INNER guest of qemu_e2e_test.sh (busybox ash, PID 1).
# build-initramfs.sh copies it into the inner initramfs; not run by hand.
#
# The inner guest is a QEMU VM (started inside the test VM) that has the
# vfio_user device assigned with -device vfio-pci,sysfsdev=...  This script
# finds that device on its PCI bus and exercises it the way a guest driver
# would, printing one machine-readable line per check on the console:
#
#   E2E-START uptime=S ncpu=N
#   E2E-INFO  <free text>              (diagnostics, ignored by the parser)
#   E2E-RESULT <name> ok|fail <detail>  names: pci_ids pci_caps bar0 bar2 dma intx
#   E2E-DMESG <line>                    (kernel log lines worth seeing)
#   E2E-DONE uptime=S
#
# then powers off.  A check that cannot run (device missing) still prints
# its E2E-RESULT line, as "fail" with the reason.
#
# Kernel command line parameters (the kernel passes unknown name=value
# parameters to init as environment variables):
#   e2e_vendor, e2e_device   expected IDs (default 0x1b36 0x10f5, the test
#                            device of test_device.h)
#
# No "set -e": PID 1 must never exit (the kernel would panic), and every
# check reports instead of aborting.

PATH=/bin
export PATH

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp
exec </dev/console >/dev/console 2>&1

VENDOR=${e2e_vendor:-0x1b36}
DEVICE=${e2e_device:-0x10f5}

# test_device.h
REG_MAGIC=0x00
REG_SCRATCH=0x04
REG_WRITE_COUNT=0x08
REG_IRQ_RAISE=0x0c
REG_BAR2_FILL=0x10
REG_IRQ_COUNT=0x1c
MAGIC_VALUE=0x30554656
REG_DMA_SRC_LO=0x40
REG_DMA_SRC_HI=0x44
REG_DMA_DST_LO=0x48
REG_DMA_DST_HI=0x4c
REG_DMA_LEN=0x50
REG_DMA_CTRL=0x54
REG_DMA_STATUS=0x58
REG_DMA_ERROR=0x5c
REG_DMA_COUNT=0x60
REG_DMA_MODE_USED=0x64
# Reserved on the kernel command line (memmap=64K$0x4000000) for DMA.
DMA_RAM=0x4000000
IRQ_RAISE_INTX=0x000

uptime_s() { read -r u _ < /proc/uptime; echo "$u"; }
info() { echo "E2E-INFO $*"; }
result() { # result NAME ok|fail DETAIL...
	_n=$1 _r=$2
	shift 2
	echo "E2E-RESULT $_n $_r $*"
}
hex32() { printf '0x%08x' "$(($1))"; }

# devmem wrappers: print the value (0x%08x) or "ERR:<message>"; status 1 on error.
rd32() {
	_o=$(devmem "$(hex64 "$1")" 32 2>&1) || { echo "ERR:$(echo "$_o" | tr ' ' _)"; return 1; }
	case $_o in 0x*) hex32 "$_o" ;; *) echo "ERR:$(echo "$_o" | tr ' ' _)"; return 1 ;; esac
}
wr32() {
	_o=$(devmem "$(hex64 "$1")" 32 "$(hex32 "$2")" 2>&1) || { echo "ERR:$(echo "$_o" | tr ' ' _)"; return 1; }
	return 0
}
hex64() { printf '0x%x' "$(($1))"; }

echo "E2E-START uptime=$(uptime_s) ncpu=$(nproc)"

# --- find the device ---------------------------------------------------------
dev=
for d in /sys/bus/pci/devices/*; do
	[ -e "$d/vendor" ] || continue
	v=$(cat "$d/vendor") i=$(cat "$d/device") c=$(cat "$d/class")
	info "pci ${d##*/} $v:$i class=$c"
	if [ "$v" = "$VENDOR" ] && [ "$i" = "$DEVICE" ] && [ -z "$dev" ]; then
		dev=$d
	fi
done

if [ -z "$dev" ]; then
	why="no PCI device $VENDOR:$DEVICE in the inner guest"
	for n in pci_ids pci_caps bar0 bar2 dma intx; do result "$n" fail "$why"; done
else
	bdf=${dev##*/}
	result pci_ids ok "$bdf vendor=$(cat "$dev/vendor") device=$(cat "$dev/device") class=$(cat "$dev/class")"

	# --- capabilities, from the config space --------------------------------
	# One variable per byte: c_0 .. c_255.
	n=0
	for x in $(hexdump -v -e '/1 "%02x "' "$dev/config"); do
		eval "c_$n=$x"
		n=$((n + 1))
	done
	cfg_len=$n
	cb() { # config byte at offset $1, decimal (0 beyond the end)
		_i=$(($1))
		if [ "$_i" -lt "$cfg_len" ]; then eval "echo \$((0x\$c_$_i))"; else echo 0; fi
	}
	caps='' msi='' msix='' detail=''
	status=$(( $(cb 6) | ($(cb 7) << 8) ))
	if [ $((status & 0x10)) -ne 0 ]; then
		ptr=$(( $(cb 0x34) & 0xfc ))
		k=0
		while [ "$ptr" -ge 64 ] && [ "$k" -lt 48 ]; do
			id=$(cb "$ptr")
			caps="$caps$(printf '%02x@%02x' "$id" "$ptr"),"
			[ "$id" = 5 ] && [ -z "$msi" ] && msi=$ptr
			[ "$id" = 17 ] && [ -z "$msix" ] && msix=$ptr
			ptr=$(( $(cb $((ptr + 1))) & 0xfc ))
			k=$((k + 1))
		done
	fi
	caps=${caps%,}
	detail="cfg_len=$cfg_len status=$(printf 0x%04x "$status") caps=${caps:-none}"
	if [ -n "$msi" ]; then
		mctl=$(( $(cb $((msi + 2))) | ($(cb $((msi + 3))) << 8) ))
		detail="$detail msi@$(printf %02x "$msi"):ctl=$(printf 0x%04x "$mctl")"
	fi
	if [ -n "$msix" ]; then
		xctl=$(( $(cb $((msix + 2))) | ($(cb $((msix + 3))) << 8) ))
		tbl=$(( $(cb $((msix + 4))) | ($(cb $((msix + 5))) << 8) ))
		detail="$detail msix@$(printf %02x "$msix"):vectors=$(( (xctl & 0x7ff) + 1 )),table_bir=$((tbl & 7))"
	fi
	if [ -n "$msi" ] && [ -n "$msix" ]; then
		result pci_caps ok "$detail"
	else
		result pci_caps fail "MSI $([ -n "$msi" ] && echo present || echo missing), MSI-X $([ -n "$msix" ] && echo present || echo missing): $detail"
	fi

	# --- memory decoding and BAR addresses ----------------------------------
	echo 1 > "$dev/enable" 2>/dev/null || info "writing $dev/enable failed"
	cmd=$(dd if="$dev/config" bs=1 skip=4 count=2 2>/dev/null | hexdump -v -e '/2 "%u"')
	# Bus mastering too, for the DMA check: a driver would pci_set_master().
	new=$((cmd | 6))
	# shellcheck disable=SC2059
	printf "\\$(printf %03o $((new & 255)))\\$(printf %03o $((new >> 8)))" |
		dd of="$dev/config" bs=1 seek=4 count=2 conv=notrunc 2>/dev/null ||
		info "setting bus master failed"
	cmd=$(dd if="$dev/config" bs=1 skip=4 count=2 2>/dev/null | hexdump -v -e '/2 "%u"')
	bar() { # start address of resource line $1 (0-based), 0 when unassigned
		sed -n "$(($1 + 1))p" "$dev/resource" | { read -r s _ _; echo "$((s))"; }
	}
	bar0=$(bar 0) bar2=$(bar 2) bar4=$(bar 4)
	info "command=$(printf 0x%04x "$cmd") bar0=$(hex64 "$bar0") bar2=$(hex64 "$bar2") bar4=$(hex64 "$bar4") irq=$(cat "$dev/irq")"

	# --- BAR0: message-only registers ---------------------------------------
	if [ "$bar0" = 0 ] || [ $((cmd & 2)) = 0 ]; then
		result bar0 fail "BAR0 not usable: address $(hex64 "$bar0"), command $(printf 0x%04x "$cmd")"
	else
		wc0=$(rd32 $((bar0 + REG_WRITE_COUNT)))
		magic=$(rd32 $((bar0 + REG_MAGIC)))
		bad=
		[ "$magic" = "$(hex32 $MAGIC_VALUE)" ] || bad="$bad magic=$magic(want $(hex32 $MAGIC_VALUE))"
		got=
		for pat in 0xa5c3e10f 0x5a3c1ef0; do
			wr32 $((bar0 + REG_SCRATCH)) $pat || bad="$bad scratch_write_failed"
			s=$(rd32 $((bar0 + REG_SCRATCH)))
			got="$got$s,"
			[ "$s" = "$(hex32 $pat)" ] || bad="$bad scratch=$s(want $(hex32 $pat))"
		done
		wc1=$(rd32 $((bar0 + REG_WRITE_COUNT)))
		detail="magic=$magic scratch=${got%,} write_count=$wc0->$wc1"
		if [ -z "$bad" ]; then
			result bar0 ok "$detail"
		else
			result bar0 fail "${bad# }; $detail"
		fi
	fi

	# --- BAR2: server memory, filled through a BAR0 register ----------------
	# Offsets in both mmap-able areas and in the trapped hole (test_device.h).
	offs="0x0 0x3ffc 0x4000 0x7ffc 0x8000 0xfffc"
	wofs="0x100 0x5000 0x9000"
	if [ "$bar0" = 0 ] || [ "$bar2" = 0 ] || [ $((cmd & 2)) = 0 ]; then
		result bar2 fail "BAR0/BAR2 not usable: $(hex64 "$bar0") $(hex64 "$bar2")"
	else
		bad=
		check_fill() { # check_fill PATTERN OFFSETS...
			_p=$1
			shift
			for _o in "$@"; do
				_v=$(rd32 $((bar2 + _o)))
				[ "$_v" = "$(hex32 "$_p")" ] || bad="$bad fill$(hex32 "$_p")@$_o=$_v"
			done
		}
		wr32 $((bar0 + REG_BAR2_FILL)) 0x5aa5c33c || bad="$bad fill_write_failed"
		# shellcheck disable=SC2086
		check_fill 0x5aa5c33c $offs
		# Guest writes land in the same memory the server fills.
		for o in $wofs; do
			wr32 $((bar2 + o)) 0x0badcafe || bad="$bad write@${o}_failed"
			v=$(rd32 $((bar2 + o)))
			[ "$v" = 0x0badcafe ] || bad="$bad readback@$o=$v"
		done
		wr32 $((bar0 + REG_BAR2_FILL)) 0xc0ffee11 || bad="$bad fill_write_failed"
		# shellcheck disable=SC2086
		check_fill 0xc0ffee11 $offs $wofs
		detail="fills 0x5aa5c33c,0xc0ffee11 checked at $(echo "$offs $wofs" | tr ' ' ,); guest writes at $(echo "$wofs" | tr ' ' ,)"
		if [ -z "$bad" ]; then
			result bar2 ok "$detail"
		else
			result bar2 fail "${bad# }; $detail"
		fi
	fi

	# --- DMA through this guest's own memory ----------------------------------
	# The command line reserves 64 KiB at DMA_RAM (memmap=), so /dev/mem
	# reaches them while QEMU still maps them for the device like all RAM.
	# The device's engine copies guest memory -> BAR2 and BAR2 -> guest.
	dma_run() { # dma_run SRC DST LEN DIR: prints "done" or "error <errno>"
		wr32 $((bar0 + REG_DMA_SRC_LO)) "$1" && wr32 $((bar0 + REG_DMA_SRC_HI)) 0 &&
		wr32 $((bar0 + REG_DMA_DST_LO)) "$2" && wr32 $((bar0 + REG_DMA_DST_HI)) 0 &&
		wr32 $((bar0 + REG_DMA_LEN)) "$3" &&
		wr32 $((bar0 + REG_DMA_CTRL)) $((1 | ($4 << 1))) || { echo "register write failed"; return; }
		_k=0
		while [ $_k -lt 100 ]; do
			_s=$(rd32 $((bar0 + REG_DMA_STATUS)))
			case $_s in
			0x00000002) echo done; return ;;
			0x00000003) echo "error $(rd32 $((bar0 + REG_DMA_ERROR)))"; return ;;
			esac
			usleep 100000
			_k=$((_k + 1))
		done
		echo "stuck status=$_s"
	}
	if [ "$bar0" = 0 ] || [ "$bar2" = 0 ] || [ $((cmd & 6)) != 6 ]; then
		result dma fail "BAR0/BAR2 not usable or bus mastering off (command $(printf 0x%04x "$cmd"))"
	else
		bad=
		pats="0x11111111 0x22222222 0x33333333 0x44444444"
		k=0
		for p in $pats; do
			wr32 $((DMA_RAM + k * 4)) "$p" || bad="$bad ram_write_failed"
			k=$((k + 1))
		done
		st=$(dma_run $DMA_RAM 0x100 16 0)
		[ "$st" = done ] || bad="$bad to_bar2:$st"
		k=0
		for p in $pats; do
			v=$(rd32 $((bar2 + 0x100 + k * 4)))
			[ "$v" = "$p" ] || bad="$bad bar2+$(hex32 $((0x100 + k * 4)))=$v"
			k=$((k + 1))
		done
		wr32 $((bar0 + REG_BAR2_FILL)) 0x77665544 || bad="$bad fill_write_failed"
		st=$(dma_run 0x200 $((DMA_RAM + 0x1000)) 16 1)
		[ "$st" = done ] || bad="$bad to_guest:$st"
		for k in 0 1 2 3; do
			v=$(rd32 $((DMA_RAM + 0x1000 + k * 4)))
			[ "$v" = 0x77665544 ] || bad="$bad ram+$(hex32 $((0x1000 + k * 4)))=$v"
		done
		used=$(rd32 $((bar0 + REG_DMA_MODE_USED)))
		detail="guest RAM $(hex64 $DMA_RAM) -> BAR2 and BAR2 -> guest RAM, 16 bytes each; mode_used=$used (1 zero-copy, 2 messages); transfers=$(rd32 $((bar0 + REG_DMA_COUNT)))"
		if [ -z "$bad" ]; then
			result dma ok "$detail"
		else
			result dma fail "${bad# }; $detail"
		fi
	fi

	# --- INTx, through uio_pci_generic ---------------------------------------
	# uio_pci_generic's handler only claims the interrupt when the device sets
	# PCI_STATUS_INTERRUPT; the count in /proc/interrupts goes up either way.
	# If nobody claims it the line stays asserted (a storm) until QEMU sees
	# the guest touch a BAR (its INTx "EOI"), so: the interrupt is steered to
	# CPU 0, this script runs on the last CPU and reads BAR0 as soon as the
	# count moves.
	irq_count() { # sum of the per-CPU counts of IRQ $1
		awk -v irq="$1:" 'NR == 1 { ncpu = NF } $1 == irq { s = 0; for (i = 2; i <= ncpu + 1; i++) s += $i; print s; f = 1 } END { if (!f) print "none" }' /proc/interrupts
	}
	intx() {
		while read -r m; do
			insmod "/modules/$m" 2>/tmp/insmod.err || { echo "insmod $m: $(cat /tmp/insmod.err)"; return 1; }
		done < /modules/order
		echo "${VENDOR#0x} ${DEVICE#0x}" > /sys/bus/pci/drivers/uio_pci_generic/new_id 2>/tmp/newid.err ||
			{ echo "new_id: $(cat /tmp/newid.err)"; return 1; }
		k=0
		while [ ! -e "$dev/uio" ] && [ $k -lt 50 ]; do usleep 100000; k=$((k + 1)); done
		drv=$(readlink "$dev/driver" 2>/dev/null)
		uio=$(cd "$dev/uio" 2>/dev/null && for u in uio*; do echo "$u"; break; done)
		[ -n "$uio" ] || { echo "uio_pci_generic did not bind (driver=${drv##*/}; $(dmesg | grep -i uio | tail -n 2 | tr '\n' ' '))"; return 1; }
		k=0
		while [ ! -c "/dev/$uio" ] && [ $k -lt 50 ]; do usleep 100000; k=$((k + 1)); done
		irq=$(cat "$dev/irq")
		[ "$irq" -gt 0 ] 2>/dev/null || { echo "no IRQ assigned (irq=$irq)"; return 1; }
		[ "$(nproc)" -gt 1 ] && echo 1 > "/proc/irq/$irq/smp_affinity" 2>/dev/null
		before=$(irq_count "$irq")
		srv0=$(rd32 $((bar0 + REG_IRQ_COUNT)))
		# uio's own count of the interrupts its handler claimed.
		ev0=$(cat "$dev/uio/$uio/event" 2>/dev/null)
		t0=$(uptime_s)
		wr32 $((bar0 + REG_IRQ_RAISE)) $IRQ_RAISE_INTX || { echo "IRQ_RAISE write failed"; return 1; }
		# Wait up to 20 s (guest time) for the count to move.
		after=$before
		while :; do
			after=$(irq_count "$irq")
			t1=$(uptime_s)
			[ "$after" != "$before" ] && break
			[ "${t1%.*}" -ge $((${t0%.*} + 20)) ] && break
			usleep 100000
		done
		# Touch BAR0: QEMU takes a BAR access as the end of the interrupt.
		srv1=$(rd32 $((bar0 + REG_IRQ_COUNT)))
		sleep 1
		final=$(irq_count "$irq")
		ev1=$(cat "$dev/uio/$uio/event" 2>/dev/null)
		echo "irq=$irq count=$before->$after(1s later $final) raised_at=${t0}s seen_at=${t1}s uio_events=$ev0->$ev1 server_irq_count=$srv0->$srv1 driver=${drv##*/}"
		if [ "$ev0" = "$ev1" ] && [ "$after" != "$before" ] && [ "$final" != none ]; then
			echo "; uio_pci_generic did not claim it (the device's config status lacks PCI_STATUS_INTERRUPT), so it stayed asserted until the BAR0 read: $((final - before)) unhandled interrupts"
		fi
		# Delivered, and claimed by the guest's driver.
		[ "$after" != "$before" ] && [ "$after" != none ] && [ "$ev0" != "$ev1" ]
	}
	# Run on the last CPU from here on (children inherit it).
	ncpu=$(nproc)
	[ "$ncpu" -gt 1 ] && taskset -p $((1 << (ncpu - 1))) $$ > /dev/null 2>&1
	if [ "$bar0" = 0 ] || [ $((cmd & 2)) = 0 ]; then
		result intx fail "BAR0 not usable, cannot raise the interrupt"
	elif out=$(intx); then
		result intx ok "$(echo "$out" | tr '\n' ' ')"
	else
		result intx fail "$(echo "$out" | tr '\n' ' ')"
	fi
	irq=$(cat "$dev/irq")
	grep -E "^ *(CPU|$irq:)" /proc/interrupts 2>/dev/null | sed 's/^/E2E-INFO interrupts: /'
fi

# The kernel's lines about the device, uio and anything alarming.
dmesg | grep -E "${bdf:-@none@}|uio|nobody cared|Disabling IRQ|WARNING|BUG|Oops|Call Trace|[Ee]rror|[Ff]ail" |
	tail -n 40 | sed 's/^/E2E-DMESG /'
echo "E2E-DONE uptime=$(uptime_s)"
sync
poweroff -f
sleep 1000000
