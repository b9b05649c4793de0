// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user discovery: what the server says about its regions and
 * interrupts, asked once at bind (GET_REGION_INFO, GET_IRQ_INFO),
 * validated and kept (struct vfio_user_region, struct vfio_user_irq).
 *
 * Every size, count, index and offset of a reply is checked here, against
 * the bounds below and against the device's own description; capability
 * chains are parsed into the validated copy that device.c rebuilds them
 * from, never passed through.  A region's fd is kept only for memory the
 * driver may map (bar.c); one file reference per region, owned by the
 * region from the moment the reply is taken.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>

#include "compat.h"
#include "vfio_user_priv.h"

/* Largest GET_REGION_INFO reply (capability chain included) we take. */
#define VFIO_USER_MAX_REGION_INFO	4096
/* Bounds on what a region's capabilities may claim. */
#define VFIO_USER_MAX_CAPS		16
#define VFIO_USER_MAX_SPARSE_AREAS	64
/* Most vectors an IRQ index may have (MSI-X's architectural limit). */
#define VFIO_USER_MAX_IRQ_COUNT		2048

#define VFIO_USER_REGION_FLAGS		(VFIO_REGION_INFO_FLAG_READ |	\
					 VFIO_REGION_INFO_FLAG_WRITE |	\
					 VFIO_REGION_INFO_FLAG_MMAP)
#define VFIO_USER_IRQ_FLAGS		(VFIO_IRQ_INFO_EVENTFD |	\
					 VFIO_IRQ_INFO_MASKABLE |	\
					 VFIO_IRQ_INFO_AUTOMASKED |	\
					 VFIO_IRQ_INFO_NORESIZE)

/* Check a sparse-mmap capability and keep its areas. */
static int vfio_user_take_sparse(struct vfio_user_dev *udev,
				 struct vfio_user_region *region,
				 const u8 *buf, size_t len, size_t off)
{
	const struct vfio_region_info_cap_sparse_mmap *sparse;
	size_t areas_len, end;
	u32 i;

	if (len - off < sizeof(*sparse))
		return -EPROTO;
	sparse = (const void *)(buf + off);
	if (sparse->nr_areas > VFIO_USER_MAX_SPARSE_AREAS)
		return -EPROTO;
	areas_len = sparse->nr_areas * sizeof(sparse->areas[0]);
	if (check_add_overflow(off + sizeof(*sparse), areas_len, &end) ||
	    end > len)
		return -EPROTO;

	for (i = 0; i < sparse->nr_areas; i++) {
		u64 a_end;

		if (check_add_overflow(sparse->areas[i].offset,
				       sparse->areas[i].size, &a_end) ||
		    a_end > region->size || !sparse->areas[i].size ||
		    !PAGE_ALIGNED(sparse->areas[i].offset) ||
		    !PAGE_ALIGNED(sparse->areas[i].size))
			return -EPROTO;
	}
	kfree(region->areas);
	region->areas = kmemdup(sparse->areas, areas_len ?: 1, GFP_KERNEL);
	if (!region->areas)
		return -ENOMEM;
	region->nr_areas = sparse->nr_areas;
	return 0;
}

/*
 * Walk a region's capability chain with bounds and a loop guard (each
 * capability must follow the previous one) and keep what we understand.
 */
static int vfio_user_parse_region_caps(struct vfio_user_dev *udev,
				       struct vfio_user_region *region,
				       const u8 *buf, size_t len, u32 off)
{
	const struct vfio_info_cap_header *cap;
	const struct vfio_region_info_cap_type *type;
	unsigned int count = 0;
	int ret;

	while (off) {
		if (off < sizeof(struct vfio_user_region_info) ||
		    off > len - sizeof(*cap) || !IS_ALIGNED(off, 4) ||
		    ++count > VFIO_USER_MAX_CAPS)
			return -EPROTO;
		cap = (const void *)(buf + off);
		switch (cap->id) {
		case VFIO_REGION_INFO_CAP_SPARSE_MMAP:
			ret = vfio_user_take_sparse(udev, region, buf, len, off);
			if (ret)
				return ret;
			break;
		case VFIO_REGION_INFO_CAP_TYPE:
			if (len - off < sizeof(*type))
				return -EPROTO;
			type = (const void *)cap;
			region->has_type = true;
			region->type = type->type;
			region->subtype = type->subtype;
			break;
		case VFIO_REGION_INFO_CAP_MSIX_MAPPABLE:
			region->msix_mappable = true;
			break;
		default:
			/* Unknown capabilities are not passed on. */
			break;
		}
		if (cap->next && cap->next <= off)
			return -EPROTO;
		off = cap->next;
	}
	return 0;
}

/*
 * May the VMM map @file directly (bar.c)?  Only memory-backed files: their
 * pages are found without waiting on the server, a FUSE daemon, a network
 * or a device.  Anything else is trapped, with one line saying so.
 */
static bool vfio_user_region_file_ok(struct vfio_user_dev *udev, u32 index,
				     struct file *file)
{
	struct inode *inode = file_inode(file);

	if (S_ISREG(inode->i_mode) && inode->i_sb->s_magic == TMPFS_MAGIC &&
	    (file->f_mode & FMODE_READ))
		return true;
	dev_info(&udev->dev,
		 "region %u: the server's file is not memory-backed (%s, mode 0%o): access is trapped, not mapped\n",
		 index, inode->i_sb->s_type->name, inode->i_mode & S_IFMT);
	return false;
}

/* GET_REGION_INFO for one region: the two-step argsz dance of the spec. */
static int vfio_user_query_region(struct vfio_user_dev *udev, u32 index)
{
	struct vfio_user_region *region = &udev->regions[index];
	struct vfio_user_region_info req = { .argsz = sizeof(req), .index = index };
	struct vfio_user_region_info *info;
	/* Ours only while the transport says so (call.nr_files). */
	struct file *file = NULL;
	struct vfio_user_call call = {
		.cmd = VFIO_USER_DEVICE_GET_REGION_INFO,
		.req = &req,
		.req_len = sizeof(req),
		.reply_cap = VFIO_USER_MAX_REGION_INFO,
		.files = &file,
		.max_files = 1,
		.killable = true,
	};
	int ret;

	info = kzalloc(VFIO_USER_MAX_REGION_INFO, GFP_KERNEL);
	if (!info)
		return -ENOMEM;
	call.reply = info;

	ret = vfio_user_conn_call(&udev->conn, &call);
	if (!ret && call.reply_len >= sizeof(*info) &&
	    info->argsz > sizeof(req) && info->argsz <= VFIO_USER_MAX_REGION_INFO) {
		/* The capabilities did not fit: ask again with room for them. */
		if (call.nr_files)
			fput(file);
		file = NULL;
		req.argsz = info->argsz;
		ret = vfio_user_conn_call(&udev->conn, &call);
	}
	if (ret) {
		if (vfio_user_conn_usable(&udev->conn))
			pr_err("%s: GET_REGION_INFO %u refused: error %d\n",
			       dev_name(&udev->dev), index, ret);
		goto out;
	}
	ret = -EPROTO;
	if (call.reply_len < sizeof(*info) || info->index != index ||
	    info->size > VFIO_USER_OFFSET_MASK) {
		pr_err("%s: bad GET_REGION_INFO reply for region %u\n",
		       dev_name(&udev->dev), index);
		goto out;
	}
	region->size = info->size;
	region->flags = info->flags & VFIO_USER_REGION_FLAGS;
	if (info->flags & VFIO_REGION_INFO_FLAG_CAPS) {
		ret = vfio_user_parse_region_caps(udev, region, (u8 *)info,
						  call.reply_len, info->cap_offset);
		if (ret) {
			pr_err("%s: bad capability chain for region %u\n",
			       dev_name(&udev->dev), index);
			goto out;
		}
	}

	if ((region->flags & VFIO_REGION_INFO_FLAG_MMAP) && file &&
	    PAGE_ALIGNED(info->offset) && region->size >= PAGE_SIZE &&
	    vfio_user_region_file_ok(udev, index, file)) {
		region->file = file;
		region->file_offset = info->offset;
		file = NULL;
	} else {
		region->flags &= ~VFIO_REGION_INFO_FLAG_MMAP;
		region->nr_areas = 0;
	}
	ret = 0;
out:
	/* The transport leaves file NULL whenever the call failed. */
	if (file)
		fput(file);
	kfree(info);
	return ret;
}

static int vfio_user_query_irq(struct vfio_user_dev *udev, u32 index)
{
	struct vfio_user_irq_info req = { .argsz = sizeof(req), .index = index };
	struct vfio_user_irq_info info;
	struct vfio_user_call call = {
		.cmd = VFIO_USER_DEVICE_GET_IRQ_INFO,
		.req = &req,
		.req_len = sizeof(req),
		.reply = &info,
		.reply_cap = sizeof(info),
		.killable = true,
	};
	int ret;

	ret = vfio_user_conn_call(&udev->conn, &call);
	if (ret) {
		if (vfio_user_conn_usable(&udev->conn))
			pr_err("%s: GET_IRQ_INFO %u refused: error %d\n",
			       dev_name(&udev->dev), index, ret);
		return ret;
	}
	if (call.reply_len < sizeof(info) || info.index != index ||
	    info.count > VFIO_USER_MAX_IRQ_COUNT) {
		pr_err("%s: bad GET_IRQ_INFO reply for index %u\n",
		       dev_name(&udev->dev), index);
		return -EPROTO;
	}
	udev->irqs[index].flags = info.flags & VFIO_USER_IRQ_FLAGS;
	udev->irqs[index].count = info.count;
	return 0;
}

/**
 * vfio_user_query_device() - ask the server about its regions and IRQs
 * @udev: a device whose DEVICE_GET_INFO answer is in @udev->info
 *
 * Runs at bind, before the receive worker starts, so that region fds can
 * be received (see transport.c).  ERR and REQ always exist for the VMM,
 * backed here when the server lacks them.
 *
 * Return: 0 or -errno; vfio_user_free_device() cleans up either way.
 */
int vfio_user_query_device(struct vfio_user_dev *udev)
{
	u32 i;
	int ret;

	udev->num_irqs = max_t(u32, udev->info.num_irqs, VFIO_PCI_NUM_IRQS);
	udev->regions = kcalloc(udev->info.num_regions, sizeof(*udev->regions),
				GFP_KERNEL);
	udev->irqs = kcalloc(udev->num_irqs, sizeof(*udev->irqs), GFP_KERNEL);
	if (!udev->regions || !udev->irqs)
		return -ENOMEM;

	for (i = 0; i < udev->info.num_regions; i++) {
		ret = vfio_user_query_region(udev, i);
		if (ret)
			return ret;
	}
	for (i = 0; i < udev->info.num_irqs; i++) {
		ret = vfio_user_query_irq(udev, i);
		if (ret)
			return ret;
	}
	/* Like vfio-pci: one ERR and one REQ vector, eventfd-triggered. */
	for (i = VFIO_PCI_ERR_IRQ_INDEX; i <= VFIO_PCI_REQ_IRQ_INDEX; i++) {
		udev->irqs[i].flags = VFIO_IRQ_INFO_EVENTFD;
		udev->irqs[i].count = 1;
	}
	return 0;
}

/**
 * vfio_user_free_device() - drop what vfio_user_query_device() kept
 * @udev: the device, with no vfio_device registered any more
 */
void vfio_user_free_device(struct vfio_user_dev *udev)
{
	u32 i;

	for (i = 0; udev->regions && i < udev->info.num_regions; i++) {
		if (udev->regions[i].file)
			fput(udev->regions[i].file);
		kfree(udev->regions[i].areas);
	}
	kfree(udev->regions);
	udev->regions = NULL;
	kfree(udev->irqs);
	udev->irqs = NULL;
}
