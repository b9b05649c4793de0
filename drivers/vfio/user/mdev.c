// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user - the mdev front end, for libvirt and mdevctl.
 *
 * libvirt hands QEMU a VFIO device by sysfs path only for mediated
 * devices, and mdevctl is how administrators define those persistently.
 * So next to the bus (main.c) the driver registers an mdev parent,
 * /sys/class/mdev_bus/vfio_user, with one type, vfio_user-socket.
 *
 * Creating an mdev of that type binds nothing: a server is named
 * afterwards by writing its socket path to the new device's
 * vfio_user/socket_path attribute, which is how mdevctl's "attrs" reach a
 * device (it writes them, in order, after creating it).  That write
 * connects and handshakes exactly as a write to the bus's new_device does
 * and creates the same vfio-userN device, as a child of the mdev; the
 * vfio_device is registered with the mdev as its parent, so the
 * iommu_group link and the device name (the UUID) a VMM looks for are the
 * mdev's.  Below that, one connection and one device implementation serve
 * both front ends.
 *
 * Lifetime: the mdev owns its vfio-userN device.  Removing the mdev (its
 * remove attribute, mdevctl stop, module exit) removes the vfio-userN
 * device first, waiting for the VMM to let go as del_device does; the bus's
 * del_device refuses a device an mdev owns.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/mdev.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include "vfio_user_priv.h"

/*
 * Instances of the type one parent offers: mdev core needs a bound, and
 * the driver has none of its own (each instance is one connection).
 */
#define VFIO_USER_MDEV_MAX_INSTANCES	256

/**
 * struct vfio_user_mdev_parent - the mdev parent device
 * @dev: /sys/devices/virtual/vfio_user/vfio_user, in class vfio_user
 * @parent: mdev core's parent state, registered on @dev
 */
struct vfio_user_mdev_parent {
	struct device dev;
	struct mdev_parent parent;
};

/**
 * struct vfio_user_mdev - the driver's state of one mdev
 * @lock: protects @udev and @binding; never held while a server is
 *	waited for
 * @udev: the bound server's device, NULL until socket_path is written
 * @binding: a socket_path write is connecting; a second one fails
 */
struct vfio_user_mdev {
	/* protects udev and binding */
	struct mutex lock;
	struct vfio_user_dev *udev;
	bool binding;
};

static ssize_t socket_path_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	struct vfio_user_mdev *umdev = dev_get_drvdata(dev);
	ssize_t ret;

	mutex_lock(&umdev->lock);
	ret = sysfs_emit(buf, "%s\n", umdev->udev ? umdev->udev->socket_path : "");
	mutex_unlock(&umdev->lock);
	return ret;
}

/*
 * Bind the server at the path written.  Device removal drains this
 * attribute before the driver's remove runs, so @umdev outlives the call.
 */
static ssize_t socket_path_store(struct device *dev,
				 struct device_attribute *attr,
				 const char *buf, size_t count)
{
	struct vfio_user_mdev *umdev = dev_get_drvdata(dev);
	char path[UNIX_PATH_MAX];
	struct vfio_user_dev *udev;
	int ret;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	ret = vfio_user_parse_path("socket_path", buf, count, path);
	if (ret)
		return ret;

	mutex_lock(&umdev->lock);
	if (umdev->udev || umdev->binding) {
		mutex_unlock(&umdev->lock);
		dev_err(dev, "socket_path: already bound or binding (remove the mdev to bind another server)\n");
		return -EBUSY;
	}
	umdev->binding = true;
	mutex_unlock(&umdev->lock);

	udev = vfio_user_dev_create(path, dev);

	mutex_lock(&umdev->lock);
	umdev->binding = false;
	if (!IS_ERR(udev))
		umdev->udev = udev;
	mutex_unlock(&umdev->lock);
	if (IS_ERR(udev))
		return PTR_ERR(udev);
	dev_info(dev, "bound: %s\n", dev_name(&udev->dev));
	return count;
}
static DEVICE_ATTR_RW(socket_path);

/* The name of the vfio-userN device, empty while nothing is bound. */
static ssize_t device_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct vfio_user_mdev *umdev = dev_get_drvdata(dev);
	ssize_t ret;

	mutex_lock(&umdev->lock);
	ret = sysfs_emit(buf, "%s\n", umdev->udev ? dev_name(&umdev->udev->dev) : "");
	mutex_unlock(&umdev->lock);
	return ret;
}
static DEVICE_ATTR_RO(device);

static struct attribute *vfio_user_mdev_attrs[] = {
	&dev_attr_socket_path.attr,
	&dev_attr_device.attr,
	NULL
};

static const struct attribute_group vfio_user_mdev_group = {
	.name = "vfio_user",
	.attrs = vfio_user_mdev_attrs,
};

static const struct attribute_group *vfio_user_mdev_groups[] = {
	&vfio_user_mdev_group,
	NULL
};

static int vfio_user_mdev_probe(struct mdev_device *mdev)
{
	struct vfio_user_mdev *umdev;

	umdev = kzalloc(sizeof(*umdev), GFP_KERNEL);
	if (!umdev)
		return -ENOMEM;
	mutex_init(&umdev->lock);
	dev_set_drvdata(&mdev->dev, umdev);
	return 0;
}

/*
 * The driver's attributes are gone (driver core removes them before
 * calling remove), so no bind is under way and none can start.
 */
static void vfio_user_mdev_remove(struct mdev_device *mdev)
{
	struct vfio_user_mdev *umdev = dev_get_drvdata(&mdev->dev);
	struct vfio_user_dev *udev;

	/* Driver core holds the mdev's lock: no probe or remove runs beside. */
	device_lock_assert(&mdev->dev);
	mutex_lock(&umdev->lock);
	udev = umdev->udev;
	umdev->udev = NULL;
	mutex_unlock(&umdev->lock);
	if (udev)
		vfio_user_dev_remove(udev);
	/* Driver core clears the drvdata after remove. */
	mutex_destroy(&umdev->lock);
	kfree(umdev);
}

static ssize_t vfio_user_mdev_describe(struct mdev_type *mtype, char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  "a vfio-user server; write its socket path to the device's vfio_user/socket_path");
}

static struct mdev_driver vfio_user_mdev_driver = {
	.device_api = VFIO_DEVICE_API_PCI_STRING,
	.max_instances = VFIO_USER_MDEV_MAX_INSTANCES,
	.probe = vfio_user_mdev_probe,
	.remove = vfio_user_mdev_remove,
	.show_description = vfio_user_mdev_describe,
	.driver = {
		.name = "vfio_user_mdev",
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
		.dev_groups = vfio_user_mdev_groups,
		/*
		 * An mdev unbound from this driver could never be bound again
		 * (mdev core matches no driver by itself) and would be left
		 * without its device: no unbind, no bind.
		 */
		.suppress_bind_attrs = true,
	},
};

/* The type directory is <class name>-<sysfs_name>: vfio_user-socket. */
static struct mdev_type vfio_user_mdev_type = {
	.sysfs_name = "socket",
	.pretty_name = "vfio-user server",
};

static struct mdev_type *vfio_user_mdev_types[] = {
	&vfio_user_mdev_type,
};

static struct class vfio_user_mdev_class = {
	.name = "vfio_user",
};

static void vfio_user_mdev_parent_release(struct device *dev)
{
	kfree(container_of(dev, struct vfio_user_mdev_parent, dev));
}

/**
 * vfio_user_mdev_init() - register the mdev driver, class and parent
 *
 * Return: the parent, to give to vfio_user_mdev_exit(), or an ERR_PTR();
 * on failure nothing is left registered.
 */
struct vfio_user_mdev_parent *vfio_user_mdev_init(void)
{
	struct vfio_user_mdev_parent *mp;
	int ret;

	ret = mdev_register_driver(&vfio_user_mdev_driver);
	if (ret)
		return ERR_PTR(ret);
	ret = class_register(&vfio_user_mdev_class);
	if (ret)
		goto err_driver;

	mp = kzalloc(sizeof(*mp), GFP_KERNEL);
	if (!mp) {
		ret = -ENOMEM;
		goto err_class;
	}
	mp->dev.class = &vfio_user_mdev_class;
	mp->dev.release = vfio_user_mdev_parent_release;
	device_initialize(&mp->dev);
	ret = dev_set_name(&mp->dev, "vfio_user");
	if (!ret)
		ret = device_add(&mp->dev);
	if (ret)
		goto err_put;

	ret = mdev_register_parent(&mp->parent, &mp->dev, &vfio_user_mdev_driver,
				   vfio_user_mdev_types,
				   ARRAY_SIZE(vfio_user_mdev_types));
	if (ret)
		goto err_del;
	return mp;

err_del:
	device_del(&mp->dev);
err_put:
	put_device(&mp->dev);
err_class:
	class_unregister(&vfio_user_mdev_class);
err_driver:
	mdev_unregister_driver(&vfio_user_mdev_driver);
	return ERR_PTR(ret);
}

/**
 * vfio_user_mdev_exit() - undo vfio_user_mdev_init()
 * @mp: what it returned
 *
 * Removes every mdev of the parent first, each with its vfio-userN device
 * (waiting for VMMs to close them, as del_device does).
 */
void vfio_user_mdev_exit(struct vfio_user_mdev_parent *mp)
{
	mdev_unregister_parent(&mp->parent);
	device_unregister(&mp->dev);
	class_unregister(&vfio_user_mdev_class);
	mdev_unregister_driver(&vfio_user_mdev_driver);
}
