// SPDX-License-Identifier: GPL-2.0
/*
 * The three ways a VMM reaches a VFIO device, for the vfio-user selftests
 * (vfio_paths_test.c, vmm_cloud_hypervisor_test.c, vmm_crosvm_test.c): a
 * type1 container, the device cdev bound to iommufd, iommufd's compat
 * container.  Whether this kernel has each (vu_path_available()), and
 * open, close, map and unmap on any of them (struct vu_dev).
 */
#include "lib/vu_util.h"

const char *vu_path_name(enum vu_path path)
{
	switch (path) {
	case VU_PATH_TYPE1:
		return "type1 container";
	case VU_PATH_CDEV:
		return "device cdev with iommufd";
	case VU_PATH_COMPAT:
		return "iommufd compat container";
	}
	return "?";
}

bool vu_chrdev_registered(const char *name)
{
	FILE *f = fopen("/proc/devices", "r");
	char line[128], dev[64];
	bool found = false, chr = false;
	int major;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Character devices:", 18))
			chr = true;
		else if (!strncmp(line, "Block devices:", 14))
			chr = false;
		else if (chr && sscanf(line, "%d %63s", &major, dev) == 2)
			found = !strcmp(dev, name);
	}
	fclose(f);
	return found;
}

int vu_path_available(enum vu_path path, char *why, size_t size)
{
	struct stat st;

	if (path == VU_PATH_TYPE1) {
		if (!stat("/dev/vfio/vfio", &st))
			return 1;
		snprintf(why, size, "no /dev/vfio/vfio: this kernel has no VFIO "
			 "container (CONFIG_VFIO_CONTAINER)");
		return 0;
	}
	if (stat("/dev/iommu", &st)) {
		snprintf(why, size, "no /dev/iommu: this kernel has no iommufd "
			 "(CONFIG_IOMMUFD)");
		return 0;
	}
	if (path == VU_PATH_CDEV && !vu_chrdev_registered("vfio-dev")) {
		snprintf(why, size, "no vfio-dev character devices: this kernel "
			 "has no VFIO device cdev (CONFIG_VFIO_DEVICE_CDEV)");
		return 0;
	}
	return 1;
}

int vu_dev_open_device(struct vu_dev *d)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	char path[64];
	int err;

	if (d->path != VU_PATH_CDEV) {
		d->device = ioctl(d->group, VFIO_GROUP_GET_DEVICE_FD, d->name);
		if (d->device < 0) {
			err = -errno;
			d->device = -1;
			return err;
		}
		return 0;
	}
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", d->cdev);
	d->device = open(path, O_RDWR | O_CLOEXEC);
	if (d->device < 0) {
		err = -errno;
		d->device = -1;
		return err;
	}
	bind.iommufd = d->iommufd;
	attach.pt_id = d->ioas_id;
	if (ioctl(d->device, VFIO_DEVICE_BIND_IOMMUFD, &bind) ||
	    ioctl(d->device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach)) {
		err = -errno;
		close(d->device);
		d->device = -1;
		return err;
	}
	d->devid = bind.out_devid;
	return 0;
}

void vu_dev_close_device(struct vu_dev *d)
{
	if (d->device >= 0)
		close(d->device);
	d->device = -1;
}

int vu_dev_open(const char *name, enum vu_path path, struct vu_dev *d)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	int err;

	memset(d, 0, sizeof(*d));
	d->path = path;
	d->container = d->iommufd = d->group = d->device = -1;
	snprintf(d->name, sizeof(d->name), "%s", name);
	if (path == VU_PATH_CDEV) {
		err = vu_cdev_name(name, d->cdev, sizeof(d->cdev));
		if (err)
			return err;
		d->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
		if (d->iommufd < 0)
			return -errno;
		if (ioctl(d->iommufd, IOMMU_IOAS_ALLOC, &alloc))
			return -errno;
		d->ioas_id = alloc.out_ioas_id;
		return vu_dev_open_device(d);
	}

	d->group_id = vu_group_id(name);
	if (d->group_id < 0)
		return d->group_id;
	d->container = open(path == VU_PATH_TYPE1 ? "/dev/vfio/vfio" : "/dev/iommu",
			    O_RDWR | O_CLOEXEC);
	if (d->container < 0)
		return -errno;
	if (path == VU_PATH_COMPAT)
		d->iommufd = d->container;
	err = vu_group_attach(d->container, d->group_id, O_RDWR | O_CLOEXEC, &d->group);
	if (err)
		return err;
	return vu_dev_open_device(d);
}

void vu_dev_close(struct vu_dev *d)
{
	vu_dev_close_device(d);
	if (d->group >= 0)
		close(d->group);
	if (d->container >= 0)
		close(d->container);
	if (d->iommufd >= 0 && d->iommufd != d->container)
		close(d->iommufd);
	d->container = d->iommufd = d->group = -1;
}

int vu_dev_map(struct vu_dev *d, void *vaddr, uint64_t iova, uint64_t size, uint32_t flags)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA,
		.ioas_id = d->ioas_id,
		.user_va = (uintptr_t)vaddr,
		.length = size,
		.iova = iova,
	};

	if (d->path != VU_PATH_CDEV)
		return vu_map_dma(d->container, vaddr, iova, size, flags);
	if (flags & VFIO_DMA_MAP_FLAG_READ)
		map.flags |= IOMMU_IOAS_MAP_READABLE;
	if (flags & VFIO_DMA_MAP_FLAG_WRITE)
		map.flags |= IOMMU_IOAS_MAP_WRITEABLE;
	return ioctl(d->iommufd, IOMMU_IOAS_MAP, &map) ? -errno : 0;
}

int vu_dev_unmap(struct vu_dev *d, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = size,
	};
	struct iommu_ioas_unmap ioas_unmap = {
		.size = sizeof(ioas_unmap),
		.ioas_id = d->ioas_id,
		.iova = iova,
		.length = size,
	};

	if (d->path == VU_PATH_CDEV) {
		if (ioctl(d->iommufd, IOMMU_IOAS_UNMAP, &ioas_unmap))
			return -errno;
		return ioas_unmap.length == size ? 0 : -ERANGE;
	}
	if (ioctl(d->container, VFIO_IOMMU_UNMAP_DMA, &unmap))
		return -errno;
	return unmap.size == size ? 0 : -ERANGE;
}

const char *vu_path_pin_key(enum vu_path path)
{
	return path == VU_PATH_TYPE1 ? "VmLck" : "VmPin";
}
