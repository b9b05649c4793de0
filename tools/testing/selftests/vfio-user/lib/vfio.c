// SPDX-License-Identifier: GPL-2.0
/*
 * VFIO for the vfio-user selftests, the way a VMM uses it: a group
 * attached to a type1 container and the device fd (vu_vfio_open()), DMA
 * maps on the container, the device's regions and BAR0 registers, and the
 * KVM-VFIO device a VMM tells about its VFIO files.
 */
#include "lib/vu_util.h"

int vu_group_attach(int container, int group_id, int flags, int *group)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char node[64];

	snprintf(node, sizeof(node), "/dev/vfio/%d", group_id);
	*group = open(node, flags);
	if (*group < 0)
		return -errno;
	if (ioctl(*group, VFIO_GROUP_GET_STATUS, &status))
		return -errno;
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		return -EBUSY;
	if (ioctl(*group, VFIO_GROUP_SET_CONTAINER, &container))
		return -errno;
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return -errno;
	return 0;
}

int vu_vfio_open(const char *name, struct vu_vfio *v)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), VU_BUS "/devices/%s", name);
	return vu_vfio_open_sysfs(dir, v);
}

int vu_vfio_open_sysfs(const char *sysfsdev, struct vu_vfio *v)
{
	const char *name = strrchr(sysfsdev, '/');
	int err;

	name = name ? name + 1 : sysfsdev;
	v->container = v->group = v->device = -1;
	v->group_id = vu_group_id_at(sysfsdev);
	if (v->group_id < 0)
		return v->group_id;
	v->container = open("/dev/vfio/vfio", O_RDWR);
	if (v->container < 0)
		return -errno;
	err = vu_group_attach(v->container, v->group_id, O_RDWR, &v->group);
	if (err)
		return err;
	v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, name);
	if (v->device < 0) {
		err = -errno;
		v->device = -1;
		return err;
	}
	return 0;
}

void vu_vfio_close(struct vu_vfio *v)
{
	if (v->device >= 0)
		close(v->device);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
	v->container = v->group = v->device = -1;
}

off_t vu_region_off(unsigned int index)
{
	return (off_t)index << 40;
}

int vu_reg_get(int device, unsigned int reg, uint32_t *val)
{
	return pread(device, val, 4, vu_region_off(VFIO_PCI_BAR0_REGION_INDEX) + reg) == 4 ?
	       0 : -EIO;
}

uint32_t vu_reg_read(int device, unsigned int reg)
{
	uint32_t val = 0;

	if (vu_reg_get(device, reg, &val))
		return 0xffffffff;
	return val;
}

int vu_reg_write(int device, unsigned int reg, uint32_t val)
{
	ssize_t n = pwrite(device, &val, 4, vu_region_off(VFIO_PCI_BAR0_REGION_INDEX) + reg);

	if (n == 4)
		return 0;
	/* A short write sets no errno: it must not read as success. */
	return n < 0 ? -errno : -EIO;
}

int vu_map_dma(int container, void *vaddr, uint64_t iova, uint64_t size, uint32_t flags)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = flags,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	return ioctl(container, VFIO_IOMMU_MAP_DMA, &map) ? -errno : 0;
}

int vu_unmap_dma(int container, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = size,
	};

	return ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) ? -errno : 0;
}

int vu_kvm_vfio_add(struct vu_kvm_vfio *k, int fd)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO };
	struct kvm_device_attr attr = {
		.group = KVM_DEV_VFIO_GROUP,
		.attr = KVM_DEV_VFIO_GROUP_ADD,
		.addr = (uintptr_t)&fd,
	};

	k->kvm = k->vm = k->dev = -1;
	k->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->kvm < 0)
		return errno == ENOENT ? -ENODEV : -errno;
	k->vm = ioctl(k->kvm, KVM_CREATE_VM, 0);
	if (k->vm < 0)
		return -errno;
	if (ioctl(k->vm, KVM_CREATE_DEVICE, &cd))
		return -errno;
	k->dev = cd.fd;
	return ioctl(k->dev, KVM_SET_DEVICE_ATTR, &attr) ? -errno : 0;
}

void vu_kvm_vfio_close(struct vu_kvm_vfio *k)
{
	if (k->dev >= 0)
		close(k->dev);
	if (k->vm >= 0)
		close(k->vm);
	if (k->kvm >= 0)
		close(k->kvm);
	k->kvm = k->vm = k->dev = -1;
}

bool vu_eventfd_fired(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t cnt;

	if (poll(&p, 1, vu_ms(ms)) != 1)
		return false;
	return read(efd, &cnt, sizeof(cnt)) == sizeof(cnt) && cnt > 0;
}
