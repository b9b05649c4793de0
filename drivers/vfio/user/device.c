// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user device: the emulated-IOMMU vfio_device a VMM opens through
 * /dev/vfio/N, with vfio-pci's semantics.
 *
 * Everything here answers from the description query.c validated at bind:
 * every offset, count and index a VMM gives is checked against it before
 * anything is sent, and region capability chains are rebuilt from the
 * validated copy.  Region accesses use vfio-pci's offset encoding (index
 * << 40) and travel as REGION_READ/REGION_WRITE; regions whose server
 * sent a memory fd are mapped through the device's own address space
 * (bar.c).  Interrupts are irq.c's, DMA is dma.c's.
 *
 * Open and close bracket what a VMM may hold: open creates the BAR map
 * and announces DMA; close zaps the BAR map first, then switches the
 * interrupts off, resets the device and, last, ends DMA.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/nospec.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>

#include "compat.h"
#include "vfio_user_priv.h"

/* Accesses up to this size go through a buffer on the stack. */
#define VFIO_USER_SMALL_ACCESS		64

static struct vfio_user_dev *to_udev(struct vfio_device *vdev)
{
	return container_of(vdev, struct vfio_user_vdev, vdev)->udev;
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

	lockdep_assert_held(&vdev->dev_set->lock);

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

	lockdep_assert_held(&vdev->dev_set->lock);
	/* First: the VMM no longer reaches the server's memory. */
	vfio_user_bar_destroy(udev->bar_map);
	udev->bar_map = NULL;
	vfio_user_irqs_close(udev);
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

#ifdef VFIO_USER_HAVE_IOMMUFD_OPS
/*
 * iommufd's emulated-device binding, noting that the VMM came through
 * iommufd: its pins must be unpinned exactly as they were pinned (dma.c).
 */
static int vfio_user_bind_iommufd(struct vfio_device *vdev,
				  struct iommufd_ctx *ictx, u32 *out_device_id)
{
	int ret = vfio_iommufd_emulated_bind(vdev, ictx, out_device_id);

	if (!ret)
		to_udev(vdev)->iommufd_bound = true;
	return ret;
}

static void vfio_user_unbind_iommufd(struct vfio_device *vdev)
{
	vfio_iommufd_emulated_unbind(vdev);
	to_udev(vdev)->iommufd_bound = false;
}
#endif

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

	uvdev = vfio_alloc_device(vfio_user_vdev, vdev,
				  vfio_user_vfio_parent(udev),
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
