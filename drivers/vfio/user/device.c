// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user device: the emulated-IOMMU vfio_device a VMM opens through
 * /dev/vfio/N.  Region accesses use vfio-pci's offset encoding (region
 * index << 40) and travel as REGION_READ/REGION_WRITE; every offset and
 * count the VMM gives is checked against the region sizes cached at bind.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>

#include "vfio_user_priv.h"

#define VFIO_USER_OFFSET_SHIFT		VFIO_PCI_OFFSET_SHIFT
#define VFIO_USER_OFFSET_MASK		((1ULL << VFIO_USER_OFFSET_SHIFT) - 1)
#define VFIO_USER_OFFSET_TO_INDEX(off)	((off) >> VFIO_USER_OFFSET_SHIFT)
#define VFIO_USER_INDEX_TO_OFFSET(idx)	((u64)(idx) << VFIO_USER_OFFSET_SHIFT)

/* Accesses up to this size go through a buffer on the stack. */
#define VFIO_USER_SMALL_ACCESS		64

/**
 * struct vfio_user_region - what the server said of one region at bind
 * @flags: VFIO_REGION_INFO_FLAG_READ/WRITE (MMAP is not offered yet)
 * @size: size in bytes, below 1 << VFIO_USER_OFFSET_SHIFT
 */
struct vfio_user_region {
	u32 flags;
	u64 size;
};

/**
 * struct vfio_user_vdev - the vfio_device of a bound server
 * @vdev: the vfio_device; must stay first (vfio_alloc_device)
 * @udev: the bus device that owns the connection
 * @regions: @udev->info.num_regions entries
 */
struct vfio_user_vdev {
	struct vfio_device vdev;
	struct vfio_user_dev *udev;
	struct vfio_user_region *regions;
};

static struct vfio_user_vdev *to_uvdev(struct vfio_device *vdev)
{
	return container_of(vdev, struct vfio_user_vdev, vdev);
}

/* Ask the server about every region once, at bind, and keep the answer. */
static int vfio_user_cache_regions(struct vfio_user_vdev *uvdev)
{
	struct vfio_user_dev *udev = uvdev->udev;
	struct vfio_user_region_info info;
	unsigned int i;
	int ret;

	for (i = 0; i < udev->info.num_regions; i++) {
		struct vfio_user_region_info req = {
			.argsz = sizeof(req),
			.index = i,
		};
		struct vfio_user_call call = {
			.cmd = VFIO_USER_DEVICE_GET_REGION_INFO,
			.req = &req,
			.req_len = sizeof(req),
			.reply = &info,
			.reply_cap = sizeof(info),
			.killable = true,
		};

		ret = vfio_user_conn_call(&udev->conn, &call);
		if (ret) {
			if (vfio_user_conn_usable(&udev->conn))
				pr_err("%s: GET_REGION_INFO %u refused: error %d\n",
				       dev_name(&udev->dev), i, ret);
			return ret;
		}
		if (call.reply_len < sizeof(info) || info.index != i ||
		    info.size > VFIO_USER_OFFSET_MASK) {
			pr_err("%s: bad GET_REGION_INFO reply for region %u\n",
			       dev_name(&udev->dev), i);
			return -EPROTO;
		}
		uvdev->regions[i].flags = info.flags &
			(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
		uvdev->regions[i].size = info.size;
	}
	return 0;
}

static int vfio_user_open_device(struct vfio_device *vdev)
{
	return vfio_user_conn_usable(&to_uvdev(vdev)->udev->conn) ? 0 : -EIO;
}

static void vfio_user_close_device(struct vfio_device *vdev)
{
}

static long vfio_user_ioctl_get_info(struct vfio_user_vdev *uvdev,
				     void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	info.flags = VFIO_DEVICE_FLAGS_PCI;
	if (uvdev->udev->info.flags & VFIO_USER_DEVICE_FLAGS_RESET)
		info.flags |= VFIO_DEVICE_FLAGS_RESET;
	info.num_regions = uvdev->udev->info.num_regions;
	info.num_irqs = uvdev->udev->info.num_irqs;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static long vfio_user_ioctl_get_region_info(struct vfio_user_vdev *uvdev,
					    void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_region_info, offset);
	struct vfio_region_info info;
	u32 index;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	if (info.index >= uvdev->udev->info.num_regions)
		return -EINVAL;
	index = array_index_nospec(info.index, uvdev->udev->info.num_regions);
	info.offset = VFIO_USER_INDEX_TO_OFFSET(index);
	info.size = uvdev->regions[index].size;
	info.flags = uvdev->regions[index].flags;
	info.cap_offset = 0;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static long vfio_user_ioctl(struct vfio_device *vdev, unsigned int cmd,
			    unsigned long arg)
{
	struct vfio_user_vdev *uvdev = to_uvdev(vdev);

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
		return vfio_user_ioctl_get_info(uvdev, (void __user *)arg);
	case VFIO_DEVICE_GET_REGION_INFO:
		return vfio_user_ioctl_get_region_info(uvdev, (void __user *)arg);
	default:
		return -ENOTTY;
	}
}

/*
 * Check a VMM access against the cached region table.  Returns the region
 * index and clips *@count to the region's end, like vfio-pci does.
 */
static int vfio_user_check_access(struct vfio_user_vdev *uvdev, loff_t pos,
				  size_t *count, u32 need, u64 *offset)
{
	u64 index = VFIO_USER_OFFSET_TO_INDEX((u64)pos);
	u64 off = (u64)pos & VFIO_USER_OFFSET_MASK;
	struct vfio_user_region *region;

	if (pos < 0 || index >= uvdev->udev->info.num_regions)
		return -EINVAL;
	index = array_index_nospec(index, uvdev->udev->info.num_regions);
	region = &uvdev->regions[index];
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

static ssize_t vfio_user_rw(struct vfio_user_vdev *uvdev, char __user *ubuf,
			    size_t count, loff_t *ppos, bool write)
{
	struct vfio_user_conn *conn = &uvdev->udev->conn;
	u8 small[VFIO_USER_SMALL_ACCESS];
	size_t done = 0, chunk_max;
	u64 offset;
	void *buf;
	int index;
	int ret = 0;

	index = vfio_user_check_access(uvdev, *ppos, &count,
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
	return vfio_user_rw(to_uvdev(vdev), buf, count, ppos, false);
}

static ssize_t vfio_user_write(struct vfio_device *vdev,
			       const char __user *buf, size_t count,
			       loff_t *ppos)
{
	return vfio_user_rw(to_uvdev(vdev), (char __user *)buf, count, ppos,
			    true);
}

static void vfio_user_release(struct vfio_device *vdev)
{
	kfree(to_uvdev(vdev)->regions);
}

static const struct vfio_device_ops vfio_user_dev_ops = {
	.name = "vfio-user",
	.release = vfio_user_release,
	.open_device = vfio_user_open_device,
	.close_device = vfio_user_close_device,
	.ioctl = vfio_user_ioctl,
	.read = vfio_user_read,
	.write = vfio_user_write,
	.bind_iommufd = vfio_iommufd_emulated_bind,
	.unbind_iommufd = vfio_iommufd_emulated_unbind,
	.attach_ioas = vfio_iommufd_emulated_attach_ioas,
	.detach_ioas = vfio_iommufd_emulated_detach_ioas,
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
	uvdev->regions = kcalloc(udev->info.num_regions,
				 sizeof(*uvdev->regions), GFP_KERNEL);
	if (!uvdev->regions) {
		ret = -ENOMEM;
		goto err_put;
	}
	ret = vfio_user_cache_regions(uvdev);
	if (ret)
		goto err_put;

	ret = vfio_register_emulated_iommu_dev(&uvdev->vdev);
	if (ret)
		goto err_put;
	udev->vdev = uvdev;
	return 0;

err_put:
	vfio_put_device(&uvdev->vdev);
	return ret;
}

/**
 * vfio_user_vdev_unregister() - undo vfio_user_vdev_register()
 * @udev: the bus device; called from the bus remove
 *
 * Waits until the VMM has closed the device.
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

/**
 * vfio_user_vdev_conn_broken() - the connection of @udev just broke
 * @udev: the bus device
 *
 * Every later access fails with -EIO through the connection itself.
 */
void vfio_user_vdev_conn_broken(struct vfio_user_dev *udev)
{
}
