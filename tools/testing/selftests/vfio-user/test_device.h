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
 *     on demand by writing TDEV_REG_IRQ_RAISE,
 *   - a DMA engine copying between guest memory and BAR2 (TDEV_REG_DMA_*),
 *     through the client's DMA_MAP fd or with DMA_READ/DMA_WRITE messages.
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
 * Read-only: fds received with SET_IRQS that are not eventfds, plus fds
 * received with DMA_MAP that are not the vfio_user driver's zero-copy
 * window ("vfio_user:[vfio-user-dma]", drivers/vfio/user/dma.c and fs.c), as
 * /proc/self/fd shows them; counted on arrival, whether or not the command
 * then succeeds.  Per connection, not cleared by reset.  A driver that
 * checks one file and sends another (a VMM thread swapping the fd number
 * in between) shows here.
 */
#define TDEV_REG_BAD_FDS	0x20
/*
 * RO: what an executable mapping of the last DMA_MAP fd gave: 0 when
 * mmap(PROT_READ | PROT_EXEC) worked (it must not: guest memory is no
 * code), else its errno; 0xffffffff before any DMA_MAP with an fd.
 */
#define TDEV_REG_DMA_EXEC_ERRNO	0x24
/*
 * 0x40..0x7f: a DMA engine copying between guest memory (IOVAs the client
 * gave with DMA_MAP) and BAR2, as a bus-master device would.
 *
 * Program SRC, DST and LEN, then write CTRL with GO.  The engine takes a
 * copy of them at GO (rewriting them later changes nothing in flight) and
 * looks for the one DMA_MAP entry covering all of [IOVA, IOVA + LEN), mapped
 * with READ for guest -> BAR2 or WRITE for BAR2 -> guest.  A transfer never
 * spans two entries.  No such entry: ERROR, EFAULT, nothing touched.
 *
 * Entry mapped with an fd ("zero-copy"): the server copies through its own
 * mmap of the fd, synchronously, so the transfer is over (DONE or ERROR)
 * by the time the REGION_WRITE carrying GO is answered.  SIGBUS/SIGSEGV on
 * the mapping (the client's kernel refusing an IOVA, a file shorter than the
 * entry, a rogue write to a read-only entry) ends it with EFAULT; the bytes
 * before the fault may have been copied.
 *
 * Entry mapped without an fd ("message"): STATUS turns BUSY at once (GO's
 * REGION_WRITE reply is not held back) and the server sends DMA_READ
 * (guest -> BAR2) or DMA_WRITE (BAR2 -> guest) requests, one at a time, each
 * of at most the client's max_data_xfer_size bytes (from its VERSION; 1 MiB
 * if it gave none or 0), serving the client's commands meanwhile.  The
 * table is checked again before each request, so a DMA_UNMAP mid-transfer
 * ends it with EFAULT.  An error reply ends it with the reply's errno (EIO
 * if that is 0); a reply with the request's id and command but another
 * address, count or size ends it with EPROTO.  There is no timeout: a
 * client that never answers leaves the engine BUSY until DEVICE_RESET or
 * until it disconnects.
 *
 * --dma-rogue: no table check at all.  The entry containing IOVA is used,
 * whatever its permissions, if it holds the whole range; otherwise the
 * transfer goes by messages, whether or not anything is mapped there.  So
 * the server touches IOVAs it was not given and the client must refuse.
 * (The server still never copies outside its own mmap of an entry.)
 *
 * --no-dma-fd: DMA_MAP with an fd fails with EINVAL, so every transfer goes
 * by messages.
 *
 * DEVICE_RESET zeroes every engine register below, DMA_COUNT and
 * DMA_MODE_USED included, and abandons a transfer in flight: the reply to
 * its outstanding request is dropped when it comes.  BAR2 keeps whatever
 * was copied.
 */
/* Read/write: where the data comes from, an IOVA (DIR 0) or a BAR2 offset. */
#define TDEV_REG_DMA_SRC_LO	0x40
#define TDEV_REG_DMA_SRC_HI	0x44
/* Read/write: where it goes, a BAR2 offset (DIR 0) or an IOVA. */
#define TDEV_REG_DMA_DST_LO	0x48
#define TDEV_REG_DMA_DST_HI	0x4c
/* Read/write: bytes to copy, 1..TDEV_BAR2_SIZE, within BAR2 from its offset. */
#define TDEV_REG_DMA_LEN	0x50
/*
 * Read/write: GO starts a transfer; reads back DIR of the last write (GO
 * reads 0).  Ignored entirely (DIR too) while STATUS is BUSY.  GO fails with
 * EINVAL if any other bit is set, LEN is 0 or too big, the BAR2 range runs
 * past BAR2's end, or IOVA + LEN wraps around.
 */
#define TDEV_REG_DMA_CTRL	0x54
#define TDEV_DMA_CTRL_GO		(1u << 0)
#define TDEV_DMA_CTRL_DIR_TO_GUEST	(1u << 1)	/* 0: guest -> BAR2 */
/* Read-only: state of the last transfer. */
#define TDEV_REG_DMA_STATUS	0x58
#define TDEV_DMA_STATUS_IDLE		0	/* no GO since reset */
#define TDEV_DMA_STATUS_BUSY		1	/* message transfer in flight */
#define TDEV_DMA_STATUS_DONE		2
#define TDEV_DMA_STATUS_ERROR		3	/* see DMA_ERROR */
/* Read-only: errno of the failed transfer (EINVAL, EFAULT, EPROTO, ENOMEM
 * or what the client's error reply said, e.g. EPERM, ENODEV); cleared by
 * every accepted GO, so it is non-zero exactly when STATUS is ERROR. */
#define TDEV_REG_DMA_ERROR	0x5c
/* Read-only: transfers that ended DONE since reset. */
#define TDEV_REG_DMA_COUNT	0x60
/* Read-only: how the last transfer that got past the checks reached guest
 * memory (a GO failing with EINVAL, or EFAULT from the table, leaves it). */
#define TDEV_REG_DMA_MODE_USED	0x64
#define TDEV_DMA_MODE_NONE		0	/* none since reset */
#define TDEV_DMA_MODE_FD		1	/* the mmap'd fd, zero-copy */
#define TDEV_DMA_MODE_MSG		2	/* DMA_READ/DMA_WRITE messages */
/*
 * Write-only (reads 0): write-protect the server's own mappings of every
 * DMA_MAP fd for an instant, as a server's memory management may (an
 * mprotect() by its allocator, soft-dirty tracking for live update), then
 * give them back their protection.  Bits, in this order:
 *   SOFT_DIRTY: "4" to /proc/self/clear_refs (clears soft-dirty bits and
 *     makes later upgrades of a PTE to writable need a write fault),
 *   MPROTECT: mprotect() each mapping PROT_READ, then back to what it was.
 * A later transfer to guest memory writes through PTEs that may now be
 * read-only although the mapping is writable: a client must take the write
 * fault, not refuse it.  Needs no transfer in flight; nothing else changes.
 */
#define TDEV_REG_DMA_WRPROTECT	0x68
#define TDEV_DMA_WRPROTECT_MPROTECT	(1u << 0)
#define TDEV_DMA_WRPROTECT_SOFT_DIRTY	(1u << 1)
/* 0x6c..0x7f: reserved for the engine; read 0, writes ignored. */
#define TDEV_REG_DMA_RESERVED	0x6c
#define TDEV_REG_DMA_END	0x80

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

/* VERSION reply JSON when --caps is not given, sent verbatim. */
#define TDEV_DEFAULT_CAPS \
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576," \
	"\"pgsizes\":4096,\"max_dma_maps\":65535,\"migration\":" \
	"{\"pgsize\":4096,\"max_bitmap_size\":1048576}}}"

/* ---- --hostile modes ---- */

/* fd-oversize: the payload its header announces, beyond any reply buffer. */
#define TDEV_HOSTILE_FD_OVERSIZE_PAYLOAD	(128u << 10)
/*
 * stream-noreply: DMA_READ requests kept unanswered by the client at a
 * time.  Below the 16 the vfio_user driver queues before it stops reading
 * (VFIO_USER_MAX_SERVER_REQS), so that back-pressure never stops the
 * stream; more than one, so that the socket is rarely empty.
 */
#define TDEV_HOSTILE_STREAM_WINDOW		8

#endif /* VFIO_USER_TEST_DEVICE_H */
