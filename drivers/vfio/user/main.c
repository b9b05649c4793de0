// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user - bridge vfio-user servers to native VFIO.
 *
 * This file holds the vfio-user bus, its driver, the bind interface
 * (/sys/bus/vfio-user/new_device and del_device) and the per-device sysfs
 * attributes.  The bus is modelled on netdevsim's: a device is created by
 * writing to a bus attribute, so removal through another bus attribute
 * never has to remove the file it is running in.
 *
 * The mdev front end (mdev.c) creates the same devices through
 * vfio_user_dev_create(), each owned by an mdev and a child of it.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/ctype.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include "compat.h"
#include "vfio_user_priv.h"

/**
 * struct vfio_user_bus_state - the module's only state outside its devices
 * @ids: allocator for N in vfio-userN
 * @lock: protects @devices, @binding and @enabled.  Never held while a
 *	server is waited for: a bind handshakes without it, so one server
 *	stalls nothing but its own bind.
 * @devices: every bound device
 * @binding: devices whose bind is under way, so that exit can break them
 * @bind_done: woken when a device leaves @binding
 * @enabled: false before init completes and once exit starts
 * @mdev: the mdev front end's parent, NULL where the kernel has no mdev
 *	support or it failed to register
 */
struct vfio_user_bus_state {
	struct ida ids;
	/* protects devices, binding and enabled; no server waited for under it */
	struct mutex lock;
	struct list_head devices;
	struct list_head binding;
	wait_queue_head_t bind_done;
	bool enabled;
	struct vfio_user_mdev_parent *mdev;
};

static struct vfio_user_bus_state vfio_user_bus_state = {
	.ids = IDA_INIT(vfio_user_bus_state.ids),
	.lock = __MUTEX_INITIALIZER(vfio_user_bus_state.lock),
	.devices = LIST_HEAD_INIT(vfio_user_bus_state.devices),
	.binding = LIST_HEAD_INIT(vfio_user_bus_state.binding),
	.bind_done = __WAIT_QUEUE_HEAD_INITIALIZER(vfio_user_bus_state.bind_done),
};

/* ---- per-device attributes ---- */

static ssize_t socket_path_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", to_vfio_user_dev(dev)->socket_path);
}
static DEVICE_ATTR_RO(socket_path);

static ssize_t state_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  vfio_user_conn_state_name(&to_vfio_user_dev(dev)->conn));
}
static DEVICE_ATTR_RO(state);

static ssize_t broken_reason_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	char reason[sizeof(((struct vfio_user_conn *)0)->reason)];

	vfio_user_conn_reason(&to_vfio_user_dev(dev)->conn, reason,
			      sizeof(reason));
	return sysfs_emit(buf, "%s\n", reason);
}
static DEVICE_ATTR_RO(broken_reason);

static ssize_t protocol_version_show(struct device *dev,
				     struct device_attribute *attr, char *buf)
{
	struct vfio_user_caps *caps = &to_vfio_user_dev(dev)->conn.caps;

	return sysfs_emit(buf, "%u.%u\n", caps->major, caps->minor);
}
static DEVICE_ATTR_RO(protocol_version);

static ssize_t request_timeout_ms_show(struct device *dev,
				       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n",
			  READ_ONCE(to_vfio_user_dev(dev)->conn.timeout_ms));
}

static ssize_t request_timeout_ms_store(struct device *dev,
					struct device_attribute *attr,
					const char *buf, size_t count)
{
	unsigned int ms;
	int ret;

	ret = kstrtouint(buf, 0, &ms);
	if (ret)
		return ret;
	if (ms < VFIO_USER_MIN_TIMEOUT_MS || ms > VFIO_USER_MAX_TIMEOUT_MS)
		return -ERANGE;
	vfio_user_conn_set_timeout(&to_vfio_user_dev(dev)->conn, ms);
	return count;
}
static DEVICE_ATTR_RW(request_timeout_ms);

static struct attribute *vfio_user_dev_attrs[] = {
	&dev_attr_socket_path.attr,
	&dev_attr_state.attr,
	&dev_attr_broken_reason.attr,
	&dev_attr_protocol_version.attr,
	&dev_attr_request_timeout_ms.attr,
	NULL
};

static const struct attribute_group vfio_user_dev_group = {
	.attrs = vfio_user_dev_attrs,
};

/* capabilities/: what VERSION negotiated, one value per file. */
static ssize_t vfio_user_cap_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	const struct vfio_user_caps *caps = &to_vfio_user_dev(dev)->conn.caps;
	const char *name = attr->attr.name;

	if (!strcmp(name, "max_msg_fds"))
		return sysfs_emit(buf, "%u\n", caps->max_msg_fds);
	if (!strcmp(name, "max_data_xfer_size"))
		return sysfs_emit(buf, "%u\n", caps->max_data_xfer_size);
	if (!strcmp(name, "pgsizes"))
		return sysfs_emit(buf, "0x%llx\n", caps->pgsizes);
	if (!strcmp(name, "max_dma_maps"))
		return sysfs_emit(buf, "%u\n", caps->max_dma_maps);
	if (!strcmp(name, "migration"))
		return sysfs_emit(buf, "%d\n", caps->migration);
	if (!strcmp(name, "twin_socket"))
		return sysfs_emit(buf, "%d\n", caps->twin_socket);
	return sysfs_emit(buf, "%d\n", caps->write_multiple);
}

static struct device_attribute dev_attr_caps[] = {
	__ATTR(max_msg_fds, 0444, vfio_user_cap_show, NULL),
	__ATTR(max_data_xfer_size, 0444, vfio_user_cap_show, NULL),
	__ATTR(pgsizes, 0444, vfio_user_cap_show, NULL),
	__ATTR(max_dma_maps, 0444, vfio_user_cap_show, NULL),
	__ATTR(migration, 0444, vfio_user_cap_show, NULL),
	__ATTR(twin_socket, 0444, vfio_user_cap_show, NULL),
	__ATTR(write_multiple, 0444, vfio_user_cap_show, NULL),
};

static struct attribute *vfio_user_caps_attrs[] = {
	&dev_attr_caps[0].attr,
	&dev_attr_caps[1].attr,
	&dev_attr_caps[2].attr,
	&dev_attr_caps[3].attr,
	&dev_attr_caps[4].attr,
	&dev_attr_caps[5].attr,
	&dev_attr_caps[6].attr,
	NULL
};

static const struct attribute_group vfio_user_caps_group = {
	.name = "capabilities",
	.attrs = vfio_user_caps_attrs,
};

static const struct attribute_group *vfio_user_dev_groups[] = {
	&vfio_user_dev_group,
	&vfio_user_caps_group,
	&vfio_user_dma_group,
	NULL
};

/* The last reference is gone: the connection was destroyed before. */
static void vfio_user_dev_release(struct device *dev)
{
	struct vfio_user_dev *udev = to_vfio_user_dev(dev);

	ida_free(&vfio_user_bus_state.ids, udev->id);
	kfree(udev);
}

static const struct device_type vfio_user_dev_type = {
	.name = "vfio-user",
	.groups = vfio_user_dev_groups,
	.release = vfio_user_dev_release,
};

/* ---- bus and driver ---- */

static int vfio_user_bus_probe(struct device *dev)
{
	return vfio_user_vdev_register(to_vfio_user_dev(dev));
}

static void vfio_user_bus_remove(struct device *dev)
{
	vfio_user_vdev_unregister(to_vfio_user_dev(dev));
}

static vfio_user_bus_type vfio_user_bus;

/* Called by the connection, without locks, the first time it breaks. */
static void vfio_user_dev_conn_broken(void *owner)
{
	vfio_user_vdev_conn_broken(owner);
}

/**
 * vfio_user_parse_path() - parse a socket path written to an attribute
 * @what: the attribute's name, for the messages
 * @buf: what was written: one absolute path, optionally followed by a
 *	newline
 * @count: its length
 * @path: UNIX_PATH_MAX bytes, where the path goes NUL-terminated
 *
 * Return: 0, or -EINVAL or -ENAMETOOLONG with the reason in the log.
 */
int vfio_user_parse_path(const char *what, const char *buf, size_t count,
			 char *path)
{
	size_t len = count;

	if (len && buf[len - 1] == '\n')
		len--;
	if (!len) {
		pr_err("%s: empty socket path\n", what);
		return -EINVAL;
	}
	if (memchr(buf, '\0', len)) {
		pr_err("%s: socket path contains a NUL byte\n", what);
		return -EINVAL;
	}
	if (buf[0] != '/') {
		pr_err("%s: socket path must be absolute: %.*s\n", what,
		       (int)min_t(size_t, len, UNIX_PATH_MAX), buf);
		return -EINVAL;
	}
	if (len >= UNIX_PATH_MAX) {
		pr_err("%s: socket path is %zu bytes, the limit is %d\n",
		       what, len, UNIX_PATH_MAX - 1);
		return -ENAMETOOLONG;
	}
	memcpy(path, buf, len);
	path[len] = '\0';
	return 0;
}

/* The bind handshake, run by exchange.c in a kernel thread. */
static int vfio_user_dev_handshake(void *arg)
{
	struct vfio_user_dev *udev = arg;
	int ret;

	ret = vfio_user_negotiate(&udev->conn);
	if (ret)
		return ret;
	ret = vfio_user_get_device_info(&udev->conn, &udev->info);
	if (ret)
		return ret;
	return vfio_user_query_device(udev);
}

/* A device that is not bound after all: undo vfio_user_dev_create(). */
static void vfio_user_dev_discard(struct vfio_user_dev *udev)
{
	vfio_user_conn_destroy(&udev->conn);
	vfio_user_free_device(udev);
	put_device(&udev->dev);
}

/**
 * vfio_user_dev_create() - bind a server: connect, handshake, then make
 *	the device visible
 * @path: the server's socket path, as vfio_user_parse_path() gave it
 * @owner: the front end's device that owns the new one (an mdev), which
 *	becomes its parent and the vfio_device's; NULL for a device of the
 *	bus's own, removed by del_device
 *
 * No lock is held while the server is talked to; the device sits on the
 * binding list meanwhile, where module exit can break its connection.
 *
 * Return: the device, registered with VFIO, or an ERR_PTR().
 */
struct vfio_user_dev *vfio_user_dev_create(const char *path,
					   struct device *owner)
{
	struct vfio_user_bus_state *bs = &vfio_user_bus_state;
	struct vfio_user_dev *udev;
	int ret;

	udev = kzalloc(sizeof(*udev), GFP_KERNEL);
	if (!udev)
		return ERR_PTR(-ENOMEM);
	ret = ida_alloc(&bs->ids, GFP_KERNEL);
	if (ret < 0) {
		kfree(udev);
		return ERR_PTR(ret);
	}
	udev->id = ret;
	strscpy(udev->socket_path, path, sizeof(udev->socket_path));
	spin_lock_init(&udev->irq_lock);
	vfio_user_dma_init(udev);

	/* From here on the release callback frees udev and its id. */
	udev->dev.bus = &vfio_user_bus;
	udev->dev.type = &vfio_user_dev_type;
	udev->dev.parent = owner;
	device_initialize(&udev->dev);
	ret = dev_set_name(&udev->dev, VFIO_USER_DRV_NAME "%d", udev->id);
	if (ret) {
		put_device(&udev->dev);
		return ERR_PTR(ret);
	}

	udev->conn.name = dev_name(&udev->dev);
	udev->conn.timeout_ms = VFIO_USER_DEFAULT_TIMEOUT_MS;
	udev->conn.broken_notify = vfio_user_dev_conn_broken;
	udev->conn.serve = vfio_user_dma_serve;
	udev->conn.owner = udev;

	ret = vfio_user_conn_connect(&udev->conn, path);
	if (ret)
		goto err;

	mutex_lock(&bs->lock);
	if (!bs->enabled) {
		mutex_unlock(&bs->lock);
		ret = -EBUSY;
		goto err;
	}
	list_add_tail(&udev->list, &bs->binding);
	mutex_unlock(&bs->lock);

	ret = vfio_user_conn_bind_run(&udev->conn, vfio_user_dev_handshake, udev);
	if (!ret) {
		/* The handshake is done: requests are asynchronous from now on. */
		vfio_user_conn_start(&udev->conn);
		/* Probe registers the vfio_device; a failed probe leaves no vdev. */
		ret = device_add(&udev->dev);
		if (ret) {
			pr_err("%s: cannot add the device: error %d\n",
			       dev_name(&udev->dev), ret);
		} else if (!udev->vdev) {
			ret = -ENODEV;
			pr_err("%s: the VFIO device could not be registered\n",
			       dev_name(&udev->dev));
			device_del(&udev->dev);
		}
	}

	/*
	 * Everything about the device is done before it is listed: once it
	 * is, del_device may remove and free it at any moment.
	 */
	if (!ret) {
		vfio_user_debugfs_add(udev);
		dev_info(&udev->dev, "bound to %s, protocol %u.%u\n", path,
			 udev->conn.caps.major, udev->conn.caps.minor);
	}

	mutex_lock(&bs->lock);
	list_del(&udev->list);
	if (!ret && bs->enabled)
		list_add_tail(&udev->list, &bs->devices);
	else if (!ret)
		ret = -EBUSY;
	mutex_unlock(&bs->lock);
	wake_up_all(&bs->bind_done);

	if (!ret)
		return udev;
	/* Registered just as the module began to go: remove it again. */
	vfio_user_debugfs_remove(udev);
	if (udev->vdev)
		device_del(&udev->dev);
err:
	vfio_user_dev_discard(udev);
	return ERR_PTR(ret);
}

/* Remove a device already taken off the list; may wait for the VMM. */
static void vfio_user_dev_destroy(struct vfio_user_dev *udev)
{
	vfio_user_debugfs_remove(udev);
	/* Driver remove unregisters the vfio_device first. */
	device_del(&udev->dev);
	vfio_user_dev_discard(udev);
}

/**
 * vfio_user_dev_remove() - remove a device its owner created
 * @udev: what vfio_user_dev_create() returned to the owner
 *
 * Waits for the VMM to close the device, as del_device does.
 */
void vfio_user_dev_remove(struct vfio_user_dev *udev)
{
	struct vfio_user_bus_state *bs = &vfio_user_bus_state;

	mutex_lock(&bs->lock);
	list_del(&udev->list);
	mutex_unlock(&bs->lock);
	vfio_user_dev_destroy(udev);
}

static ssize_t new_device_store(vfio_user_bus_type *bus, const char *buf,
				size_t count)
{
	char path[UNIX_PATH_MAX];
	struct vfio_user_dev *udev;
	int ret;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	ret = vfio_user_parse_path("new_device", buf, count, path);
	if (ret)
		return ret;

	/* udev may be gone already: del_device can remove it at once. */
	udev = vfio_user_dev_create(path, NULL);
	return IS_ERR(udev) ? PTR_ERR(udev) : count;
}
static BUS_ATTR_WO(new_device);

static ssize_t del_device_store(vfio_user_bus_type *bus, const char *buf,
				size_t count)
{
	struct vfio_user_bus_state *bs = &vfio_user_bus_state;
	struct vfio_user_dev *udev, *found = NULL;
	char buf_copy[32], *name;
	int ret = -ENODEV;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (count >= sizeof(buf_copy))
		return -ENODEV;
	memcpy(buf_copy, buf, count);
	buf_copy[count] = '\0';
	name = strim(buf_copy);

	/*
	 * Take the device off the list under the lock, remove it without:
	 * removal waits for the VMM to close the device, and other binds
	 * must not wait behind that.
	 */
	mutex_lock(&bs->lock);
	list_for_each_entry(udev, &bs->devices, list) {
		if (strcmp(dev_name(&udev->dev), name))
			continue;
		/*
		 * Its owner removes it: the mdev would be left without it.
		 * Only owned devices have a parent (the bus has no dev_root).
		 */
		if (udev->dev.parent) {
			ret = -EBUSY;
			pr_err("del_device: %s belongs to mdev %s: remove that instead\n",
			       name, dev_name(udev->dev.parent));
			break;
		}
		found = udev;
		list_del(&udev->list);
		break;
	}
	mutex_unlock(&bs->lock);
	if (!found) {
		if (ret == -ENODEV)
			pr_err("del_device: no device named '%s'\n", name);
		return ret;
	}
	vfio_user_dev_destroy(found);
	return count;
}
static BUS_ATTR_WO(del_device);

static struct attribute *vfio_user_bus_attrs[] = {
	&bus_attr_new_device.attr,
	&bus_attr_del_device.attr,
	NULL
};
ATTRIBUTE_GROUPS(vfio_user_bus);

static vfio_user_bus_type vfio_user_bus = {
	.name = VFIO_USER_DRV_NAME,
	.bus_groups = vfio_user_bus_groups,
	.probe = vfio_user_bus_probe,
	.remove = vfio_user_bus_remove,
};

/* vfio core pins this driver's owner while a device file is open. */
static struct device_driver vfio_user_driver = {
	.name = VFIO_USER_DRV_NAME,
	.bus = &vfio_user_bus,
	.owner = THIS_MODULE,
};

/*
 * The wire format is fixed by the protocol, not by the compiler: every
 * payload the driver sends or parses has the size the specification's
 * tables give it.
 */
static void __init vfio_user_check_wire_format(void)
{
	BUILD_BUG_ON(sizeof(struct vfio_user_header) != 16);
	BUILD_BUG_ON(sizeof(struct vfio_user_version) != 4);
	BUILD_BUG_ON(sizeof(struct vfio_user_dma_map) != 32);
	BUILD_BUG_ON(sizeof(struct vfio_user_dma_unmap) != 24);
	BUILD_BUG_ON(sizeof(struct vfio_user_device_info) != 16);
	BUILD_BUG_ON(sizeof(struct vfio_user_region_info) != 32);
	BUILD_BUG_ON(sizeof(struct vfio_user_irq_info) != 16);
	BUILD_BUG_ON(sizeof(struct vfio_user_irq_set) != 20);
	BUILD_BUG_ON(sizeof(struct vfio_user_region_access) != 16);
	BUILD_BUG_ON(sizeof(struct vfio_user_dma_access) != 16);
	BUILD_BUG_ON(sizeof(struct vfio_user_write_one) != 24);
	BUILD_BUG_ON(sizeof(struct vfio_user_write_multi) != 8);
	BUILD_BUG_ON(sizeof(struct vfio_user_device_feature) != 8);
	BUILD_BUG_ON(sizeof(struct vfio_user_mig_state) != 8);
	BUILD_BUG_ON(sizeof(struct vfio_user_dma_logging_range) != 16);
	BUILD_BUG_ON(sizeof(struct vfio_user_dma_logging_control) != 16);
	BUILD_BUG_ON(sizeof(struct vfio_user_dma_logging_report) != 24);
	BUILD_BUG_ON(sizeof(struct vfio_user_mig_data) != 8);
	/* The region info the driver rebuilds shares VFIO's layout. */
	BUILD_BUG_ON(sizeof(struct vfio_user_region_info) !=
		     sizeof(struct vfio_region_info));
}

static int __init vfio_user_init(void)
{
	struct vfio_user_mdev_parent *mdev;
	int ret;

	vfio_user_check_wire_format();

	ret = bus_register(&vfio_user_bus);
	if (ret)
		return ret;
	ret = driver_register(&vfio_user_driver);
	if (ret) {
		bus_unregister(&vfio_user_bus);
		return ret;
	}
	vfio_user_debugfs_init();

	mutex_lock(&vfio_user_bus_state.lock);
	vfio_user_bus_state.enabled = true;
	mutex_unlock(&vfio_user_bus_state.lock);

	/* The bus works without the mdev front end: say so, go on. */
	mdev = vfio_user_mdev_init();
	if (IS_ERR(mdev) && PTR_ERR(mdev) != -EOPNOTSUPP)
		pr_warn("mdev front end not registered: error %ld\n",
			PTR_ERR(mdev));
	else if (!IS_ERR(mdev))
		vfio_user_bus_state.mdev = mdev;
	return 0;
}

/*
 * Every device goes, as if del_device had been written for each: first
 * the binds under way are broken, then the mdevs go with their devices,
 * then the bus's own.  An open device fd holds a module reference (a
 * group fd alone does not), so no VMM has a device open here.
 */
static void __exit vfio_user_exit(void)
{
	struct vfio_user_bus_state *bs = &vfio_user_bus_state;
	struct vfio_user_dev *udev, *tmp;
	LIST_HEAD(doomed);

	mutex_lock(&bs->lock);
	bs->enabled = false;
	/* Binds under way fail fast once their connections are broken. */
	list_for_each_entry(udev, &bs->binding, list)
		vfio_user_conn_break(&udev->conn, "module unloading");
	mutex_unlock(&bs->lock);
	wait_event(bs->bind_done, list_empty_careful(&bs->binding));

	/* Each mdev's remove takes its device off the list itself. */
	if (bs->mdev)
		vfio_user_mdev_exit(bs->mdev);
	bs->mdev = NULL;

	mutex_lock(&bs->lock);
	list_splice_init(&bs->devices, &doomed);
	mutex_unlock(&bs->lock);

	list_for_each_entry_safe(udev, tmp, &doomed, list) {
		list_del(&udev->list);
		vfio_user_dev_destroy(udev);
	}

	vfio_user_debugfs_exit();
	driver_unregister(&vfio_user_driver);
	bus_unregister(&vfio_user_bus);
	ida_destroy(&bs->ids);
}

module_init(vfio_user_init);
module_exit(vfio_user_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The vfio_user developers");
MODULE_DESCRIPTION("vfio-user client: remote vfio-user devices as VFIO devices");
MODULE_SOFTDEP("pre: vfio");
