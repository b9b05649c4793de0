// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user interrupts: GET_IRQ_INFO and SET_IRQS of the vfio_device.
 *
 * INTx, MSI and MSI-X belong to the server: SET_IRQS goes to it as a
 * message, and the VMM's eventfds travel with it as files.  Each fd the
 * VMM names is looked up once, in its own context, checked to be an
 * eventfd, and that same file is what is sent (fds.c): a racing thread
 * that replaces the fd cannot get another file to the server.  Large
 * SET_IRQS are cut to the server's max_msg_fds per message.
 *
 * ERR and REQ are kept in the kernel, with vfio-pci's single-trigger
 * semantics: a broken connection raises ERR even when the server cannot,
 * and removal asks the VMM to let go through REQ.  irq_lock (a spinlock:
 * ERR is raised from the receive worker) covers the two triggers.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/nospec.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>

#include "compat.h"
#include "vfio_user_priv.h"

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

/**
 * vfio_user_request() - the vfio_device's request op
 * @vdev: the vfio_device
 * @count: how many times vfio core asked before
 *
 * Signals REQ when the VMM gave an eventfd for it.
 */
void vfio_user_request(struct vfio_device *vdev, unsigned int count)
{
	struct vfio_user_dev *udev =
		container_of(vdev, struct vfio_user_vdev, vdev)->udev;
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

/**
 * vfio_user_ioctl_get_irq_info() - VFIO_DEVICE_GET_IRQ_INFO
 * @udev: the device
 * @arg: the VMM's struct vfio_irq_info
 *
 * Return: 0 or -errno.
 */
long vfio_user_ioctl_get_irq_info(struct vfio_user_dev *udev, void __user *arg)
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

/**
 * vfio_user_ioctl_set_irqs() - VFIO_DEVICE_SET_IRQS
 * @udev: the device
 * @arg: the VMM's struct vfio_irq_set and its data
 *
 * ERR and REQ are kept here; the rest goes to the server, eventfds as
 * files checked and sent from the VMM's context.
 *
 * Return: 0 or -errno.
 */
long vfio_user_ioctl_set_irqs(struct vfio_user_dev *udev, void __user *arg)
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

/**
 * vfio_user_irqs_close() - the VMM closed the device: no interrupt is left
 * @udev: the device
 *
 * Every index the server has is switched off (while the connection is
 * usable; without it the server is gone and so are its triggers), and the
 * VMM's ERR and REQ eventfds are let go.
 */
void vfio_user_irqs_close(struct vfio_user_dev *udev)
{
	struct vfio_irq_set off = {
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
	};
	u32 i;

	for (i = 0; i < udev->info.num_irqs; i++) {
		if (!udev->irqs[i].count || !vfio_user_conn_usable(&udev->conn))
			continue;
		off.index = i;
		vfio_user_send_set_irqs(udev, &off, 0, 0, NULL, NULL, 0, false);
	}
	vfio_user_set_local(udev, VFIO_PCI_ERR_IRQ_INDEX, NULL);
	vfio_user_set_local(udev, VFIO_PCI_REQ_IRQ_INDEX, NULL);
}
