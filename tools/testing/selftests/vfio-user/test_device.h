/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The device emulated by vfio_user_test_server.
 *
 * This header is the contract between the test server and every test that
 * talks to it, directly (lib/vfu_client) or through the vfio_user kernel
 * driver.  Change a value here and both sides follow.
 *
 * The device is a PCI function with:
 *   - BAR0: 4 KiB of message-only registers (TDEV_REG_*),
 *   - BAR2: 64 KiB of memory backed by a memfd, mmap-able except a trapped
 *     hole in the middle (sparse mmap),
 *   - BAR4: 8 KiB message-only, holding the MSI-X table and PBA,
 *   - a 256-byte type-0 config space with an MSI and an MSI-X capability,
 *   - INTx, MSI (1 vector), MSI-X (8 vectors), ERR and REQ interrupts, raised
 *     on demand by writing TDEV_REG_IRQ_RAISE.
 * All register values are little-endian; the server runs on the same host
 * as its clients, so host order is little-endian on the machines we test.
 */
#ifndef VFIO_USER_TEST_DEVICE_H
#define VFIO_USER_TEST_DEVICE_H

/* ---- PCI identity (config space and what the kernel driver reports) ---- */

#define TDEV_VENDOR_ID		0x1b36	/* Red Hat, Inc. (QEMU's test IDs) */
#define TDEV_DEVICE_ID		0x10f5	/* unused in QEMU's range: ours */
#define TDEV_SUBSYS_VENDOR_ID	TDEV_VENDOR_ID
#define TDEV_SUBSYS_ID		TDEV_DEVICE_ID
#define TDEV_CLASS		0xff0000u	/* unassigned class, prog-if 0 */
#define TDEV_REVISION		0x01

/* ---- VFIO_USER_DEVICE_GET_INFO ---- */

#define TDEV_NUM_REGIONS	9	/* VFIO_PCI_NUM_REGIONS: BAR0-5, ROM, CONFIG, VGA */
#define TDEV_NUM_IRQS		5	/* VFIO_PCI_NUM_IRQS: INTX, MSI, MSIX, ERR, REQ */

/* ---- Regions, by vfio-pci region index. Size 0 means absent (flags 0). ---- */

#define TDEV_BAR0_SIZE		0x1000	/* index 0: registers, READ|WRITE, no mmap */
#define TDEV_BAR1_SIZE		0
#define TDEV_BAR2_SIZE		0x10000	/* index 2: memfd RAM, READ|WRITE|MMAP */
#define TDEV_BAR3_SIZE		0
#define TDEV_BAR4_SIZE		0x2000	/* index 4: MSI-X table + PBA, READ|WRITE */
#define TDEV_BAR5_SIZE		0
#define TDEV_ROM_SIZE		0
#define TDEV_CONFIG_SIZE	0x100	/* index 7: conventional PCI config space */
#define TDEV_VGA_SIZE		0

/*
 * BAR2 sparse mmap areas (VFIO_REGION_INFO_CAP_SPARSE_MMAP): the client may
 * mmap [0, 16K) and [32K, 64K) of the fd sent with GET_REGION_INFO; the hole
 * [16K, 32K) is meant to be trapped, i.e. accessed with REGION_READ/WRITE.
 * The server sends one fd for the whole region (as libvfio-user does) and
 * REGION_READ/WRITE works on all 64 KiB, hole included, on the same memory.
 */
#define TDEV_BAR2_NR_AREAS	2
#define TDEV_BAR2_AREA0_OFFSET	0x0000
#define TDEV_BAR2_AREA0_SIZE	0x4000
#define TDEV_BAR2_AREA1_OFFSET	0x8000
#define TDEV_BAR2_AREA1_SIZE	0x8000
/* Offset of the region within the fd, as reported in region_info.offset. */
#define TDEV_BAR2_MMAP_OFFSET	0

/*
 * GET_REGION_INFO reply size for BAR2 with its capability chain:
 * struct vfio_user_region_info (32) + sparse mmap cap (16 + 2 * 16).
 * A client offering less gets argsz = this value, no caps and no fd.
 */
#define TDEV_BAR2_INFO_ARGSZ	(32 + 16 + TDEV_BAR2_NR_AREAS * 16)

/* ---- BAR0 registers: 32-bit, little-endian ---- */

/* Reads TDEV_MAGIC_VALUE; writes ignored. */
#define TDEV_REG_MAGIC		0x00
#define TDEV_MAGIC_VALUE	0x30554656	/* "VFU0" in little-endian bytes */
/* Read/write scratch register, 0 after reset. */
#define TDEV_REG_SCRATCH	0x04
/* Read-only: REGION_WRITE messages to BAR0 since the last reset (any offset). */
#define TDEV_REG_WRITE_COUNT	0x08
/* Write-only (reads 0): raise an interrupt, see TDEV_IRQ_RAISE_*. */
#define TDEV_REG_IRQ_RAISE	0x0c
/* Write-only (reads 0): fill all of BAR2 with the written 32-bit value. */
#define TDEV_REG_BAR2_FILL	0x10
/* Read-only: DEVICE_RESETs on this connection (not cleared by reset). */
#define TDEV_REG_RESET_COUNT	0x14
/* Read-only: number of live DMA mappings (DMA_MAP minus DMA_UNMAP). */
#define TDEV_REG_DMA_MAP_COUNT	0x18
/* Read-only: valid IRQ_RAISE writes since reset, whether or not an eventfd
 * was registered for the vector. */
#define TDEV_REG_IRQ_COUNT	0x1c
/*
 * 0x40..0x7f are reserved for a future DMA engine (source/destination IOVA,
 * length, doorbell, status).  Today they behave like every other unlisted
 * offset: read 0, writes ignored but counted in TDEV_REG_WRITE_COUNT.
 */
#define TDEV_REG_DMA_RESERVED_START	0x40
#define TDEV_REG_DMA_RESERVED_END	0x80

/*
 * TDEV_REG_IRQ_RAISE values.  The server signals the eventfd registered with
 * SET_IRQS(DATA_EVENTFD|ACTION_TRIGGER) for that index/vector, if any.
 * Unknown values and vectors beyond the index's count are ignored and not
 * counted.
 */
#define TDEV_IRQ_RAISE_INTX	0x000
#define TDEV_IRQ_RAISE_MSI(n)	(0x100 | (n))	/* n < TDEV_MSI_COUNT */
#define TDEV_IRQ_RAISE_MSIX(n)	(0x200 | (n))	/* n < TDEV_MSIX_COUNT */
#define TDEV_IRQ_RAISE_ERR	0x300
#define TDEV_IRQ_RAISE_REQ	0x400

/* ---- BAR4: MSI-X table and pending bit array ---- */

/* 16-byte entries: addr lo, addr hi, data, vector control; read/write.
 * Vector control resets to masked (1), everything else to 0. */
#define TDEV_MSIX_TABLE_OFFSET	0x0000
/* Read-only, reads 0: the server never holds a vector pending. */
#define TDEV_MSIX_PBA_OFFSET	0x1000

/* ---- IRQs, by vfio-pci IRQ index ---- */

#define TDEV_INTX_COUNT		1	/* EVENTFD|MASKABLE|AUTOMASKED */
#define TDEV_MSI_COUNT		1	/* EVENTFD|NORESIZE */
#define TDEV_MSIX_COUNT		8	/* EVENTFD|NORESIZE */
#define TDEV_ERR_COUNT		1	/* EVENTFD */
#define TDEV_REQ_COUNT		1	/* EVENTFD */
/*
 * MASK/UNMASK are accepted for INTx and have no effect: the server signals
 * the INTx eventfd on every raise (edge-like, as libvfio-user does).
 */

/* ---- Config space (region 7) ---- */

/* BARs 0, 2, 4 are 32-bit non-prefetchable memory BARs; writing all-ones
 * reads back the size mask below.  BARs 1, 3, 5 and the ROM BAR read 0. */
#define TDEV_BAR0_MASK		(~(TDEV_BAR0_SIZE - 1u))
#define TDEV_BAR2_MASK		(~(TDEV_BAR2_SIZE - 1u))
#define TDEV_BAR4_MASK		(~(TDEV_BAR4_SIZE - 1u))
/* Writable PCI_COMMAND bits: IO, MEMORY, MASTER, INTX_DISABLE. */
#define TDEV_COMMAND_WMASK	0x0407
#define TDEV_INTERRUPT_PIN	1	/* INTA# */
/* MSI capability: 64-bit, 1 vector; only the enable bit is writable. */
#define TDEV_MSI_CAP		0x50
/* MSI-X capability: table size 8; enable and function-mask are writable. */
#define TDEV_MSIX_CAP		0x70
#define TDEV_MSIX_BIR		4	/* table and PBA live in BAR4 */
/*
 * Everything else in config space is read-only: other writes are ignored
 * (including MSI address/data and the interrupt line).
 */

/* ---- Protocol limits the server advertises by default ---- */

#define TDEV_MAX_DATA_XFER	(1024 * 1024)
#define TDEV_MAX_MSG_FDS	8
#define TDEV_MAX_DMA_MAPS	64	/* table size; the 65th map gets ENOSPC */

/* VERSION reply minor when --version is not given: min(client's, this). */
#define TDEV_SERVER_MINOR	2

#endif /* VFIO_USER_TEST_DEVICE_H */
