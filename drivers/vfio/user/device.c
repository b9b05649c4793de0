// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user device: the emulated-IOMMU vfio_device a VMM opens through
 * /dev/vfio/N, with vfio-pci's semantics.
 *
 * What the server says about its regions and interrupts is asked once, at
 * bind, validated and kept (struct vfio_user_region, struct
 * vfio_user_irq): every offset, count and index a VMM gives is checked
 * against it before anything is sent, and region capability chains are
 * rebuilt from the validated copy, never passed through.
 *
 * Region accesses use vfio-pci's offset encoding (index << 40) and travel
 * as REGION_READ/REGION_WRITE.  Regions whose server sent an fd are mapped
 * straight onto the server's memory.  INTx, MSI and MSI-X eventfds are
 * passed to the server from the VMM's own context; ERR and REQ are also
 * kept here, so that a broken connection raises ERR and removal asks the
 * VMM to let go through REQ even when the server cannot.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/nospec.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>

#include "compat.h"
#include "vfio_user_priv.h"

#define VFIO_USER_OFFSET_SHIFT		VFIO_PCI_OFFSET_SHIFT
#define VFIO_USER_OFFSET_MASK		((1ULL << VFIO_USER_OFFSET_SHIFT) - 1)
#define VFIO_USER_INDEX_TO_OFFSET(idx)	((u64)(idx) << VFIO_USER_OFFSET_SHIFT)
#define VFIO_USER_PGOFF_SHIFT		(VFIO_USER_OFFSET_SHIFT - PAGE_SHIFT)

/* Accesses up to this size go through a buffer on the stack. */
#define VFIO_USER_SMALL_ACCESS		64
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

static struct vfio_user_dev *to_udev(struct vfio_device *vdev)
{
	return container_of(vdev, struct vfio_user_vdev, vdev)->udev;
}

/* ---- the device description, asked for at bind ---- */

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

/* ---- ERR and REQ, kept in the kernel ---- */

static struct eventfd_ctx **vfio_user_local_trigger(struct vfio_user_dev *udev,
						    u32 index)
{
	return index == VFIO_PCI_ERR_IRQ_INDEX ? &udev->err_trigger :
						 &udev->req_trigger;
}

static void vfio_user_signal_local(struct vfio_user_dev *udev, u32 index)
{
	struct eventfd_ctx *ctx;

	spin_lock(&udev->irq_lock);
	ctx = *vfio_user_local_trigger(udev, index);
	if (ctx)
		eventfd_signal(ctx);
	spin_unlock(&udev->irq_lock);
}

/* Replace a local trigger; @ctx may be NULL to clear it. */
static void vfio_user_set_local(struct vfio_user_dev *udev, u32 index,
				struct eventfd_ctx *ctx)
{
	struct eventfd_ctx *old;

	spin_lock(&udev->irq_lock);
	old = *vfio_user_local_trigger(udev, index);
	*vfio_user_local_trigger(udev, index) = ctx;
	spin_unlock(&udev->irq_lock);
	if (old)
		eventfd_ctx_put(old);
}

/**
 * vfio_user_vdev_conn_broken() - the connection of @udev just broke
 * @udev: the bus device
 *
 * Raises ERR so that the VMM learns at once (QEMU stops the VM); every
 * later access fails with -EIO through the connection itself.
 */
void vfio_user_vdev_conn_broken(struct vfio_user_dev *udev)
{
	vfio_user_signal_local(udev, VFIO_PCI_ERR_IRQ_INDEX);
}

/* vfio core asks the VMM to let go of the device, again and again. */
static void vfio_user_request(struct vfio_device *vdev, unsigned int count)
{
	struct vfio_user_dev *udev = to_udev(vdev);
	bool have;

	spin_lock(&udev->irq_lock);
	have = udev->req_trigger;
	if (have)
		eventfd_signal(udev->req_trigger);
	spin_unlock(&udev->irq_lock);

	if (!have && !count)
		dev_notice(&udev->dev,
			   "removal waits for the VMM to close the device (no REQ eventfd)\n");
}

/* ---- ioctls ---- */

static long vfio_user_ioctl_get_info(struct vfio_user_dev *udev,
				     void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	info.flags = VFIO_DEVICE_FLAGS_PCI;
	if (udev->info.flags & VFIO_USER_DEVICE_FLAGS_RESET)
		info.flags |= VFIO_DEVICE_FLAGS_RESET;
	info.num_regions = udev->info.num_regions;
	info.num_irqs = udev->num_irqs;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

/* Rebuild a region's capabilities from the validated copy. */
static int vfio_user_region_caps(struct vfio_user_region *region,
				 struct vfio_info_cap *caps)
{
	struct vfio_region_info_cap_sparse_mmap *sparse;
	struct vfio_region_info_cap_type type = {
		.header.id = VFIO_REGION_INFO_CAP_TYPE,
		.header.version = 1,
		.type = region->type,
		.subtype = region->subtype,
	};
	struct vfio_info_cap_header msix = {
		.id = VFIO_REGION_INFO_CAP_MSIX_MAPPABLE,
		.version = 1,
	};
	size_t size;
	int ret;

	if ((region->flags & VFIO_REGION_INFO_FLAG_MMAP) && region->nr_areas) {
		size = struct_size(sparse, areas, region->nr_areas);
		sparse = kzalloc(size, GFP_KERNEL);
		if (!sparse)
			return -ENOMEM;
		sparse->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
		sparse->header.version = 1;
		sparse->nr_areas = region->nr_areas;
		memcpy(sparse->areas, region->areas,
		       region->nr_areas * sizeof(sparse->areas[0]));
		ret = vfio_info_add_capability(caps, &sparse->header, size);
		kfree(sparse);
		if (ret)
			return ret;
	}
	if (region->has_type) {
		ret = vfio_info_add_capability(caps, &type.header, sizeof(type));
		if (ret)
			return ret;
	}
	if (region->msix_mappable)
		return vfio_info_add_capability(caps, &msix, sizeof(msix));
	return 0;
}

static long vfio_user_ioctl_get_region_info(struct vfio_user_dev *udev,
					    void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_region_info, offset);
	struct vfio_info_cap caps = { .buf = NULL, .size = 0 };
	struct vfio_user_region *region;
	struct vfio_region_info info;
	int ret;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	if (info.index >= udev->info.num_regions)
		return -EINVAL;
	region = &udev->regions[array_index_nospec(info.index,
						   udev->info.num_regions)];
	info.offset = VFIO_USER_INDEX_TO_OFFSET(info.index);
	info.size = region->size;
	info.flags = region->flags;
	info.cap_offset = 0;

	ret = vfio_user_region_caps(region, &caps);
	if (ret)
		goto out;
	if (caps.size) {
		info.flags |= VFIO_REGION_INFO_FLAG_CAPS;
		if (info.argsz < sizeof(info) + caps.size) {
			info.argsz = sizeof(info) + caps.size;
		} else {
			vfio_info_cap_shift(&caps, sizeof(info));
			if (copy_to_user(arg + sizeof(info), caps.buf, caps.size)) {
				ret = -EFAULT;
				goto out;
			}
			info.cap_offset = sizeof(info);
		}
	}
	ret = copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
out:
	kfree(caps.buf);
	return ret;
}

static long vfio_user_ioctl_get_irq_info(struct vfio_user_dev *udev,
					 void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_info, count);
	struct vfio_irq_info info;
	u32 index;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= udev->num_irqs)
		return -EINVAL;
	index = array_index_nospec(info.index, udev->num_irqs);
	info.flags = udev->irqs[index].flags;
	info.count = udev->irqs[index].count;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

/* One SET_IRQS message to the server, with @nr_files eventfd files. */
static int vfio_user_send_set_irqs(struct vfio_user_dev *udev,
				   const struct vfio_irq_set *hdr, u32 start,
				   u32 count, const void *bools,
				   struct file **files, unsigned int nr_files,
				   bool killable)
{
	size_t data_len = bools ? count : 0;
	struct vfio_user_irq_set *msg;
	struct vfio_user_call call = {
		.cmd = VFIO_USER_DEVICE_SET_IRQS,
		.send_files = files,
		.nr_send_files = nr_files,
		.killable = killable,
	};
	int ret;

	msg = kzalloc(sizeof(*msg) + data_len, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	msg->argsz = sizeof(*msg) + data_len;
	msg->flags = hdr->flags;
	msg->index = hdr->index;
	msg->start = start;
	msg->count = count;
	if (data_len)
		memcpy(msg->data, bools, data_len);
	call.req = msg;
	call.req_len = msg->argsz;
	ret = vfio_user_conn_call(&udev->conn, &call);
	kfree(msg);
	return ret;
}

/*
 * The eventfd files behind @n of the VMM's fds, each checked to be an
 * eventfd: the files checked are the files sent, whatever the VMM's other
 * threads do to its table meanwhile.  Returns how many were taken, or
 * -errno with none kept.
 */
static int vfio_user_get_eventfds(const s32 *fds, u32 n, struct file **files)
{
	struct eventfd_ctx *ctx;
	int ret = -EBADF;
	u32 i;

	for (i = 0; i < n; i++) {
		files[i] = fget(fds[i]);
		if (!files[i])
			goto err;
		ctx = eventfd_ctx_fileget(files[i]);
		if (IS_ERR(ctx)) {
			fput(files[i]);
			ret = PTR_ERR(ctx);
			goto err;
		}
		eventfd_ctx_put(ctx);
	}
	return n;
err:
	while (i)
		fput(files[--i]);
	return ret;
}

/*
 * Forward eventfds in runs: a run of -1 entries (unassign) goes without
 * fds, a run of real ones with at most max_msg_fds fds per message, like
 * QEMU's client.  Every fd must be an eventfd: a VMM's other files never
 * reach the server.
 */
static int vfio_user_forward_eventfds(struct vfio_user_dev *udev,
				      const struct vfio_irq_set *hdr,
				      const s32 *fds)
{
	u32 max_fds = udev->conn.caps.max_msg_fds;
	struct file **files = NULL;
	u32 i = 0, n, k;
	int ret = 0;

	while (i < hdr->count) {
		if (fds[i] < 0) {
			for (n = 1; i + n < hdr->count && fds[i + n] < 0; n++)
				;
			ret = vfio_user_send_set_irqs(udev, hdr, hdr->start + i,
						      n, NULL, NULL, 0, true);
		} else {
			if (!max_fds) {
				ret = -EINVAL;
				break;
			}
			if (!files) {
				files = kcalloc(min(max_fds, hdr->count),
						sizeof(*files), GFP_KERNEL);
				if (!files) {
					ret = -ENOMEM;
					break;
				}
			}
			for (n = 0; i + n < hdr->count && fds[i + n] >= 0 &&
			     n < max_fds; n++)
				;
			ret = vfio_user_get_eventfds(&fds[i], n, files);
			if (ret < 0)
				break;
			ret = vfio_user_send_set_irqs(udev, hdr, hdr->start + i,
						      n, NULL, files, n, true);
			for (k = 0; k < n; k++)
				fput(files[k]);
		}
		if (ret)
			break;
		i += n;
	}
	kfree(files);
	return ret;
}

/* ERR and REQ: vfio-pci's single-trigger semantics, kept locally. */
static int vfio_user_set_local_irq(struct vfio_user_dev *udev,
				   const struct vfio_irq_set *hdr,
				   const void *data)
{
	u32 type = hdr->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	struct eventfd_ctx *ctx;
	s32 fd;

	if ((hdr->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) !=
	    VFIO_IRQ_SET_ACTION_TRIGGER)
		return -EINVAL;

	switch (type) {
	case VFIO_IRQ_SET_DATA_NONE:
		if (hdr->count)
			vfio_user_signal_local(udev, hdr->index);
		else
			vfio_user_set_local(udev, hdr->index, NULL);
		return 0;
	case VFIO_IRQ_SET_DATA_BOOL:
		if (hdr->count && *(const u8 *)data)
			vfio_user_signal_local(udev, hdr->index);
		return 0;
	default:
		if (!hdr->count)
			return 0;
		fd = *(const s32 *)data;
		if (fd < 0) {
			vfio_user_set_local(udev, hdr->index, NULL);
			return 0;
		}
		ctx = eventfd_ctx_fdget(fd);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
		vfio_user_set_local(udev, hdr->index, ctx);
		return 0;
	}
}

static long vfio_user_ioctl_set_irqs(struct vfio_user_dev *udev,
				     void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_set, count);
	struct vfio_irq_set hdr;
	size_t data_size = 0;
	void *data = NULL;
	u32 type, action;
	int max, ret;

	if (copy_from_user(&hdr, arg, minsz))
		return -EFAULT;
	max = hdr.index < udev->num_irqs ?
	      udev->irqs[array_index_nospec(hdr.index, udev->num_irqs)].count : 0;
	ret = vfio_set_irqs_validate_and_prepare(&hdr, max, udev->num_irqs,
						 &data_size);
	if (ret)
		return ret;
	action = hdr.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	type = hdr.flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	if (hweight32(action) != 1)
		return -EINVAL;
	if (data_size) {
		data = memdup_user(arg + minsz, data_size);
		if (IS_ERR(data))
			return PTR_ERR(data);
	}

	if (hdr.index == VFIO_PCI_ERR_IRQ_INDEX ||
	    hdr.index == VFIO_PCI_REQ_IRQ_INDEX) {
		ret = vfio_user_set_local_irq(udev, &hdr, data);
		/* The server may raise them too, when it has them. */
		if (ret || hdr.index >= udev->info.num_irqs)
			goto out;
	}

	if (type == VFIO_IRQ_SET_DATA_EVENTFD && hdr.count)
		ret = vfio_user_forward_eventfds(udev, &hdr, data);
	else
		ret = vfio_user_send_set_irqs(udev, &hdr, hdr.start, hdr.count,
					      type == VFIO_IRQ_SET_DATA_BOOL ? data : NULL,
					      NULL, 0, true);
out:
	kfree(data);
	return ret;
}

static long vfio_user_ioctl_reset(struct vfio_user_dev *udev, bool killable)
{
	struct vfio_user_call call = {
		.cmd = VFIO_USER_DEVICE_RESET,
		.killable = killable,
	};
	int ret;

	if (!(udev->info.flags & VFIO_USER_DEVICE_FLAGS_RESET))
		return -EINVAL;
	ret = vfio_user_conn_call(&udev->conn, &call);
	/* What the VMM mapped before the reset is faulted in anew after it. */
	if (killable)
		vfio_user_bar_set_open(udev->bar_map, true);
	return ret;
}

static long vfio_user_ioctl(struct vfio_device *vdev, unsigned int cmd,
			    unsigned long arg)
{
	struct vfio_user_dev *udev = to_udev(vdev);
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
		return vfio_user_ioctl_get_info(udev, uarg);
	case VFIO_DEVICE_GET_REGION_INFO:
		return vfio_user_ioctl_get_region_info(udev, uarg);
	case VFIO_DEVICE_GET_IRQ_INFO:
		return vfio_user_ioctl_get_irq_info(udev, uarg);
	case VFIO_DEVICE_SET_IRQS:
		return vfio_user_ioctl_set_irqs(udev, uarg);
	case VFIO_DEVICE_RESET:
		return vfio_user_ioctl_reset(udev, true);
	default:
		return -ENOTTY;
	}
}

/* ---- open and close ---- */

/* Runs in the VMM's context, under vfio core's device-set lock. */
static int vfio_user_open_device(struct vfio_device *vdev)
{
	struct vfio_user_dev *udev = to_udev(vdev);

	int ret;

	if (!vfio_user_conn_usable(&udev->conn))
		return -EIO;
	/*
	 * The VMM's mappings of this open sit on a file made for it: once
	 * the device is closed, none of them can fault again, and a device
	 * nobody has open pins no module reference.
	 */
	udev->bar_map = vfio_user_bar_create(udev);
	if (IS_ERR(udev->bar_map)) {
		ret = PTR_ERR(udev->bar_map);
		udev->bar_map = NULL;
		return ret;
	}
	ret = vfio_user_dma_open(udev);
	if (ret) {
		vfio_user_bar_destroy(udev->bar_map);
		udev->bar_map = NULL;
		return ret;
	}
	vfio_user_bar_set_open(udev->bar_map, true);
	return 0;
}

/*
 * The VMM let go (maybe because it is exiting: fatal signal pending, so
 * nothing here may be killable).  Like vfio-pci: interrupts off so the
 * server drops the VMM's eventfds, then a reset.  A broken connection
 * fails each step at once; a hung server costs one timeout, which breaks
 * the connection for the rest.
 */
static void vfio_user_close_device(struct vfio_device *vdev)
{
	struct vfio_user_dev *udev = to_udev(vdev);
	struct vfio_irq_set off = {
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
	};
	u32 i;

	/* First: the VMM no longer reaches the server's memory. */
	vfio_user_bar_destroy(udev->bar_map);
	udev->bar_map = NULL;
	for (i = 0; i < udev->info.num_irqs; i++) {
		if (!udev->irqs[i].count || !vfio_user_conn_usable(&udev->conn))
			continue;
		off.index = i;
		vfio_user_send_set_irqs(udev, &off, 0, 0, NULL, NULL, 0, false);
	}
	vfio_user_set_local(udev, VFIO_PCI_ERR_IRQ_INDEX, NULL);
	vfio_user_set_local(udev, VFIO_PCI_REQ_IRQ_INDEX, NULL);
	if ((udev->info.flags & VFIO_USER_DEVICE_FLAGS_RESET) &&
	    vfio_user_conn_usable(&udev->conn))
		vfio_user_ioctl_reset(udev, false);
	/* Last: the reset stopped the device's own DMA. */
	vfio_user_dma_close(udev);
}

static void vfio_user_dma_unmap_op(struct vfio_device *vdev, u64 iova,
				   u64 length)
{
	vfio_user_dma_unmap(to_udev(vdev), iova, length);
}

/* ---- read, write, mmap ---- */

/*
 * Check a VMM access against the region table.  Returns the region index
 * and clips *@count to the region's end, like vfio-pci does.
 */
static int vfio_user_check_access(struct vfio_user_dev *udev, loff_t pos,
				  size_t *count, u32 need, u64 *offset)
{
	u64 index = (u64)pos >> VFIO_USER_OFFSET_SHIFT;
	u64 off = (u64)pos & VFIO_USER_OFFSET_MASK;
	struct vfio_user_region *region;

	if (pos < 0 || index >= udev->info.num_regions)
		return -EINVAL;
	index = array_index_nospec(index, udev->info.num_regions);
	region = &udev->regions[index];
	if (!(region->flags & need) || off >= region->size)
		return -EINVAL;
	*count = min_t(u64, *count, region->size - off);
	*offset = off;
	return index;
}

/* One REGION_READ or REGION_WRITE of at most max_data_xfer_size bytes. */
static int vfio_user_region_xfer(struct vfio_user_conn *conn, u32 index,
				 u64 offset, void *data, u32 count, bool write)
{
	struct vfio_user_region_access *msg;
	size_t len = sizeof(*msg) + count;
	u8 stack_buf[sizeof(*msg) + VFIO_USER_SMALL_ACCESS] __aligned(8);
	struct vfio_user_call call = {
		.cmd = write ? VFIO_USER_REGION_WRITE : VFIO_USER_REGION_READ,
		.req_len = write ? len : sizeof(*msg),
		.reply_cap = write ? sizeof(*msg) : len,
		.killable = true,
	};
	int ret;

	msg = count <= VFIO_USER_SMALL_ACCESS ? (void *)stack_buf :
		kvmalloc(len, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	msg->offset = offset;
	msg->region = index;
	msg->count = count;
	if (write)
		memcpy(msg->data, data, count);
	call.req = msg;
	call.reply = msg;

	ret = vfio_user_conn_call(conn, &call);
	if (ret)
		goto out;
	/* The reply must describe exactly the access we asked for. */
	if (call.reply_len != call.reply_cap || msg->offset != offset ||
	    msg->region != index || msg->count != count) {
		vfio_user_conn_break(conn,
				     "%s reply does not match region %u offset 0x%llx count %u",
				     write ? "REGION_WRITE" : "REGION_READ",
				     index, offset, count);
		ret = -EIO;
		goto out;
	}
	if (!write)
		memcpy(data, msg->data, count);
out:
	if ((void *)msg != stack_buf)
		kvfree(msg);
	return ret;
}

static ssize_t vfio_user_rw(struct vfio_user_dev *udev, char __user *ubuf,
			    size_t count, loff_t *ppos, bool write)
{
	struct vfio_user_conn *conn = &udev->conn;
	u8 small[VFIO_USER_SMALL_ACCESS];
	size_t done = 0, chunk_max;
	u64 offset;
	void *buf;
	int index;
	int ret = 0;

	index = vfio_user_check_access(udev, *ppos, &count,
				       write ? VFIO_REGION_INFO_FLAG_WRITE :
					       VFIO_REGION_INFO_FLAG_READ,
				       &offset);
	if (index < 0)
		return index;
	if (!count)
		return 0;

	/* What the server takes, and what we told it we can receive. */
	chunk_max = min3(count, (size_t)conn->caps.max_data_xfer_size,
			 (size_t)VFIO_USER_OUR_MAX_DATA_XFER);
	buf = chunk_max <= sizeof(small) ? small : kvmalloc(chunk_max, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;

	while (done < count) {
		size_t chunk = min(count - done, chunk_max);

		if (write && copy_from_user(buf, ubuf + done, chunk)) {
			ret = -EFAULT;
			break;
		}
		ret = vfio_user_region_xfer(conn, index, offset + done, buf,
					    chunk, write);
		if (ret)
			break;
		if (!write && copy_to_user(ubuf + done, buf, chunk)) {
			ret = -EFAULT;
			break;
		}
		done += chunk;
	}
	if (buf != small)
		kvfree(buf);
	if (!done)
		return ret;
	*ppos += done;
	return done;
}

static ssize_t vfio_user_read(struct vfio_device *vdev, char __user *buf,
			      size_t count, loff_t *ppos)
{
	return vfio_user_rw(to_udev(vdev), buf, count, ppos, false);
}

static ssize_t vfio_user_write(struct vfio_device *vdev,
			       const char __user *buf, size_t count,
			       loff_t *ppos)
{
	return vfio_user_rw(to_udev(vdev), (char __user *)buf, count, ppos,
			    true);
}

/* Is [@start, @end) inside one sparse area (or is the region not sparse)? */
static bool vfio_user_in_area(const struct vfio_user_region *region,
			      u64 start, u64 end)
{
	u32 i;

	if (!region->nr_areas)
		return true;
	for (i = 0; i < region->nr_areas; i++)
		if (start >= region->areas[i].offset &&
		    end <= region->areas[i].offset + region->areas[i].size)
			return true;
	return false;
}

/*
 * Map the server's own memory into the VMM, through a file of the
 * device's own so that it can be taken back (bar.c).
 */
static int vfio_user_mmap(struct vfio_device *vdev, struct vm_area_struct *vma)
{
	struct vfio_user_dev *udev = to_udev(vdev);
	u64 index = vma->vm_pgoff >> VFIO_USER_PGOFF_SHIFT;
	u64 start = (vma->vm_pgoff & ((1ULL << VFIO_USER_PGOFF_SHIFT) - 1))
		    << PAGE_SHIFT;
	u64 len = vma->vm_end - vma->vm_start;
	struct vfio_user_region *region;
	u64 end;

	if (index >= udev->info.num_regions)
		return -EINVAL;
	region = &udev->regions[array_index_nospec(index, udev->info.num_regions)];
	if (!(region->flags & VFIO_REGION_INFO_FLAG_MMAP) || !region->file)
		return -EINVAL;
	if (check_add_overflow(start, len, &end) || end > region->size ||
	    !vfio_user_in_area(region, start, end))
		return -EINVAL;
	if (((vma->vm_flags & VM_READ) &&
	     !(region->flags & VFIO_REGION_INFO_FLAG_READ)) ||
	    ((vma->vm_flags & VM_WRITE) &&
	     !(region->flags & VFIO_REGION_INFO_FLAG_WRITE)))
		return -EINVAL;
	return vfio_user_bar_mmap(udev->bar_map, vma);
}

static const struct vfio_device_ops vfio_user_dev_ops = {
	.name = "vfio-user",
	.open_device = vfio_user_open_device,
	.close_device = vfio_user_close_device,
	.ioctl = vfio_user_ioctl,
	.read = vfio_user_read,
	.write = vfio_user_write,
	.mmap = vfio_user_mmap,
	.request = vfio_user_request,
	.dma_unmap = vfio_user_dma_unmap_op,
	VFIO_USER_IOMMUFD_OPS
	VFIO_USER_RELEASE_OP
};

/**
 * vfio_user_vdev_register() - register the vfio_device of a bound server
 * @udev: the bus device, already added; called from the bus probe
 *
 * Return: 0, or -errno; on failure nothing is registered.
 */
int vfio_user_vdev_register(struct vfio_user_dev *udev)
{
	struct vfio_user_vdev *uvdev;
	int ret;

	uvdev = vfio_alloc_device(vfio_user_vdev, vdev, &udev->dev,
				  &vfio_user_dev_ops);
	if (IS_ERR(uvdev))
		return PTR_ERR(uvdev);
	uvdev->udev = udev;
	/* Before registering: a VMM may open the device at once. */
	udev->vdev = uvdev;
	ret = vfio_register_emulated_iommu_dev(&uvdev->vdev);
	if (ret) {
		udev->vdev = NULL;
		vfio_put_device(&uvdev->vdev);
		return ret;
	}
	return 0;
}

/**
 * vfio_user_vdev_unregister() - undo vfio_user_vdev_register()
 * @udev: the bus device; called from the bus remove
 *
 * Waits until the VMM has closed the device; vfio core asks it to through
 * vfio_user_request().
 */
void vfio_user_vdev_unregister(struct vfio_user_dev *udev)
{
	struct vfio_user_vdev *uvdev = udev->vdev;

	if (!uvdev)
		return;
	vfio_unregister_group_dev(&uvdev->vdev);
	udev->vdev = NULL;
	vfio_put_device(&uvdev->vdev);
}
