/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vfio-user wire protocol.
 *
 * The vfio-user protocol carries the VFIO device model over a UNIX stream
 * socket between a client (here: the vfio_user kernel driver) and a server
 * that emulates the device.  The specification is QEMU's
 * docs/interop/vfio-user.rst.  Everything on the wire is host-endian.
 *
 * This header is shared by the kernel driver, the project's test server and
 * its tools, so it only uses the fixed-size uapi types.
 */
#ifndef _UAPI_LINUX_VFIO_USER_H
#define _UAPI_LINUX_VFIO_USER_H

#include <linux/const.h>
#include <linux/types.h>

/* Protocol version spoken by this client: major must match exactly. */
#define VFIO_USER_MAJOR_VER		0
#define VFIO_USER_MINOR_VER		0

/* Commands (struct vfio_user_header.command). */
enum vfio_user_command {
	VFIO_USER_VERSION			= 1,
	VFIO_USER_DMA_MAP			= 2,
	VFIO_USER_DMA_UNMAP			= 3,
	VFIO_USER_DEVICE_GET_INFO		= 4,
	VFIO_USER_DEVICE_GET_REGION_INFO	= 5,
	VFIO_USER_DEVICE_GET_REGION_IO_FDS	= 6,
	VFIO_USER_DEVICE_GET_IRQ_INFO		= 7,
	VFIO_USER_DEVICE_SET_IRQS		= 8,
	VFIO_USER_REGION_READ			= 9,
	VFIO_USER_REGION_WRITE			= 10,
	VFIO_USER_DMA_READ			= 11,
	VFIO_USER_DMA_WRITE			= 12,
	VFIO_USER_DEVICE_RESET			= 13,
	/*
	 * 14 is unused: it was DIRTY_PAGES, the migration v1 dirty bitmap,
	 * which protocol 0.9.2 replaced with VFIO migration v2 (DEVICE_FEATURE
	 * DMA_LOGGING_*); before 0.9 it was VM_INTERRUPT.  Never reuse it.
	 */
	VFIO_USER_REGION_WRITE_MULTI		= 15,
	VFIO_USER_DEVICE_FEATURE		= 16,
	VFIO_USER_MIG_DATA_READ			= 17,
	VFIO_USER_MIG_DATA_WRITE		= 18,
	VFIO_USER_MAX_COMMAND			= 19,
};

/* struct vfio_user_header.flags */
#define VFIO_USER_F_TYPE_MASK		0xfU
#define VFIO_USER_F_TYPE_COMMAND	0x0U
#define VFIO_USER_F_TYPE_REPLY		0x1U
#define VFIO_USER_F_NO_REPLY		_BITUL(4)
#define VFIO_USER_F_ERROR		_BITUL(5)
#define VFIO_USER_F_ALL			(VFIO_USER_F_TYPE_MASK | \
					 VFIO_USER_F_NO_REPLY | \
					 VFIO_USER_F_ERROR)

/**
 * struct vfio_user_header - header that starts every vfio-user message
 * @msg_id: chosen by the sender of a command, echoed in its reply
 * @command: one of enum vfio_user_command
 * @msg_size: size of the whole message, this header included
 * @flags: VFIO_USER_F_* (message type, no-reply, error)
 * @error_reply: errno of a failed command, in replies with VFIO_USER_F_ERROR
 */
struct vfio_user_header {
	__u16 msg_id;
	__u16 command;
	__u32 msg_size;
	__u32 flags;
	__u32 error_reply;
};

/* Protocol limits the spec gives as defaults when a peer does not say. */
#define VFIO_USER_DEFAULT_MAX_DATA_XFER	(1024 * 1024)
#define VFIO_USER_DEFAULT_MAX_MSG_FDS	1
#define VFIO_USER_DEFAULT_MAX_DMA_MAPS	65535
#define VFIO_USER_DEFAULT_PGSIZES	4096

/**
 * struct vfio_user_version - VFIO_USER_VERSION payload, both ways
 * @major: protocol major version; must be equal on both sides
 * @minor: protocol minor version; the reply may lower it
 * @data: NUL-terminated JSON object {"capabilities": {...}}
 */
struct vfio_user_version {
	__u16 major;
	__u16 minor;
	char data[];
};

/* struct vfio_user_dma_map.flags */
#define VFIO_USER_F_DMA_REGION_READ	_BITUL(0)
#define VFIO_USER_F_DMA_REGION_WRITE	_BITUL(1)

/**
 * struct vfio_user_dma_map - VFIO_USER_DMA_MAP request payload
 * @argsz: size of this structure
 * @flags: VFIO_USER_F_DMA_REGION_*
 * @offset: offset into the attached file, 0 when none is attached
 * @address: IOVA the region starts at
 * @size: size of the region in bytes
 */
struct vfio_user_dma_map {
	__u32 argsz;
	__u32 flags;
	__u64 offset;
	__u64 address;
	__u64 size;
};

/**
 * struct vfio_user_dma_unmap - VFIO_USER_DMA_UNMAP request and reply payload
 * @argsz: size of this structure
 * @flags: must be 0, or VFIO_DMA_UNMAP_FLAG_ALL as libvfio-user accepts
 * @address: IOVA of a region previously mapped
 * @size: its size
 */
struct vfio_user_dma_unmap {
	__u32 argsz;
	__u32 flags;
	__u64 address;
	__u64 size;
};

/* struct vfio_user_device_info.flags: the same bits as VFIO's. */
#define VFIO_USER_DEVICE_FLAGS_RESET	_BITUL(0)
#define VFIO_USER_DEVICE_FLAGS_PCI	_BITUL(1)

/**
 * struct vfio_user_device_info - VFIO_USER_DEVICE_GET_INFO payload
 * @argsz: size of this structure (request), size needed (reply)
 * @flags: VFIO_USER_DEVICE_FLAGS_*
 * @num_regions: number of regions, indices 0..num_regions-1
 * @num_irqs: number of IRQ indices
 */
struct vfio_user_device_info {
	__u32 argsz;
	__u32 flags;
	__u32 num_regions;
	__u32 num_irqs;
};

/**
 * struct vfio_user_region_info - VFIO_USER_DEVICE_GET_REGION_INFO payload
 * @argsz: buffer the client offers (request), size needed (reply)
 * @flags: VFIO_REGION_INFO_FLAG_* as in linux/vfio.h
 * @index: region index
 * @cap_offset: offset of the first capability from the start of this struct
 * @size: region size in bytes
 * @offset: offset to pass to mmap() of the attached file
 *
 * A capability chain of struct vfio_info_cap_header entries may follow.
 */
struct vfio_user_region_info {
	__u32 argsz;
	__u32 flags;
	__u32 index;
	__u32 cap_offset;
	__u64 size;
	__u64 offset;
};

/**
 * struct vfio_user_irq_info - VFIO_USER_DEVICE_GET_IRQ_INFO payload
 * @argsz: size of this structure
 * @flags: VFIO_IRQ_INFO_* as in linux/vfio.h
 * @index: IRQ index
 * @count: number of vectors
 */
struct vfio_user_irq_info {
	__u32 argsz;
	__u32 flags;
	__u32 index;
	__u32 count;
};

/**
 * struct vfio_user_irq_set - VFIO_USER_DEVICE_SET_IRQS request payload
 * @argsz: size of this structure and @data
 * @flags: VFIO_IRQ_SET_* as in linux/vfio.h
 * @index: IRQ index
 * @start: first vector
 * @count: number of vectors
 * @data: bool array for DATA_BOOL; eventfds travel as SCM_RIGHTS
 */
struct vfio_user_irq_set {
	__u32 argsz;
	__u32 flags;
	__u32 index;
	__u32 start;
	__u32 count;
	__u8 data[];
};

/**
 * struct vfio_user_region_access - REGION_READ/REGION_WRITE payload
 * @offset: offset into the region
 * @region: region index
 * @count: number of bytes
 * @data: @count bytes (write request, read reply)
 *
 * The write reply and the read request carry no data.
 */
struct vfio_user_region_access {
	__u64 offset;
	__u32 region;
	__u32 count;
	__u8 data[];
};

/**
 * struct vfio_user_dma_access - DMA_READ/DMA_WRITE payload (server to client)
 * @address: IOVA
 * @count: number of bytes
 * @data: @count bytes (write request, read reply)
 */
struct vfio_user_dma_access {
	__u64 address;
	__u64 count;
	__u8 data[];
};

/* REGION_WRITE_MULTI: at most this many writes, of at most 8 bytes each. */
#define VFIO_USER_MULTI_DATA		8
#define VFIO_USER_MULTI_MAX		200

/**
 * struct vfio_user_write_one - one write of a REGION_WRITE_MULTI request
 * @offset: offset into the region
 * @region: region index
 * @count: number of bytes, at most VFIO_USER_MULTI_DATA
 * @data: the bytes; the first @count count
 */
struct vfio_user_write_one {
	__u64 offset;
	__u32 region;
	__u32 count;
	__u8 data[VFIO_USER_MULTI_DATA];
};

/**
 * struct vfio_user_write_multi - VFIO_USER_REGION_WRITE_MULTI request
 * @wr_cnt: number of @wrs, at most VFIO_USER_MULTI_MAX
 * @wrs: the writes, done in order
 *
 * Only sent when the server offered "write_multiple".  The reply carries
 * @wr_cnt alone: the number of writes completed.
 */
struct vfio_user_write_multi {
	__u64 wr_cnt;
	struct vfio_user_write_one wrs[];
};

/**
 * struct vfio_user_device_feature - VFIO_USER_DEVICE_FEATURE payload
 * @argsz: the largest reply payload the client takes (request), its size
 *	(reply)
 * @flags: feature index (VFIO_DEVICE_FEATURE_MASK) and GET/SET/PROBE, as
 *	VFIO_DEVICE_FEATURE's
 * @data: the feature's data: struct vfio_user_mig_state,
 *	struct vfio_user_dma_logging_control, ...
 */
struct vfio_user_device_feature {
	__u32 argsz;
	__u32 flags;
	__u8 data[];
};

/**
 * struct vfio_user_mig_state - DEVICE_FEATURE MIG_DEVICE_STATE data
 * @device_state: enum vfio_device_mig_state, as in linux/vfio.h
 * @data_fd: unused: migration data travels in MIG_DATA_READ/WRITE
 */
struct vfio_user_mig_state {
	__u32 device_state;
	__u32 data_fd;
};

/**
 * struct vfio_user_dma_logging_range - one IOVA range to log writes in
 * @iova: first IOVA
 * @length: its length
 */
struct vfio_user_dma_logging_range {
	__u64 iova;
	__u64 length;
};

/**
 * struct vfio_user_dma_logging_control - DMA_LOGGING_START/STOP data
 * @page_size: tracking granularity asked for; the reply's is the one used
 * @num_ranges: entries of @ranges; 0 logs every write
 * @reserved: 0
 * @ranges: the ranges, inline (VFIO's own struct points to them instead)
 */
struct vfio_user_dma_logging_control {
	__u64 page_size;
	__u32 num_ranges;
	__u32 reserved;
	struct vfio_user_dma_logging_range ranges[];
};

/**
 * struct vfio_user_dma_logging_report - DMA_LOGGING_REPORT data
 * @iova: first IOVA of the range reported
 * @length: its length
 * @page_size: one bit of @bitmap per this many bytes, a power of two
 * @bitmap: in the reply: bit (addr - iova) / page_size is set when that
 *	page was written
 */
struct vfio_user_dma_logging_report {
	__u64 iova;
	__u64 length;
	__u64 page_size;
	__u64 bitmap[];
};

/**
 * struct vfio_user_mig_data - MIG_DATA_READ request and reply, MIG_DATA_WRITE
 * @argsz: the largest reply payload (read request); this structure's size
 *	with its data (read reply, write request)
 * @size: bytes asked for (read request), carried (read reply, write); a
 *	read reply shorter than asked for means the stream has ended
 * @data: @size bytes (read reply, write request)
 *
 * The MIG_DATA_WRITE reply carries no payload.
 */
struct vfio_user_mig_data {
	__u32 argsz;
	__u32 size;
	__u8 data[];
};

#endif /* _UAPI_LINUX_VFIO_USER_H */
