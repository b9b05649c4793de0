// SPDX-License-Identifier: GPL-2.0
/*
 * Cloud Hypervisor's VFIO calls, in its order and with its checks, on a
 * vfio-user device: what `cloud-hypervisor --device path=/sys/bus/vfio-user/
 * devices/vfio-userN` (legacy container/group mode) and the same with
 * `--platform iommufd=on` (device cdev with iommufd) do, from opening the
 * container to the VM's shutdown.  Cloud Hypervisor itself cannot run in
 * the test VM (no KVM, not packaged); this replays it.
 *
 * Read, in the stored snapshots of these repositories:
 *   cloud-hypervisor/cloud-hypervisor ae44c2971c83 (2026-08-22)
 *     vmm/src/device_manager.rs: create_vfio_ops() (VfioContainer::new, or
 *       IommuFd::new + VfioIommufd::new with iommufd=on), add_vfio_device()
 *       (VfioDevice::new, then guest RAM through vfio_dma_map(), then
 *       VfioPciDevice::new, allocate_pci_bars, map_mmio_regions)
 *     pci/src/vfio.rs: VfioPciDevice::new (device.reset()), VfioCommon::new
 *       (migration_flags probe, discover_fixed_bars, parse_capabilities,
 *       initialize_legacy_interrupt/enable_intx), allocate_bars (BAR
 *       sizing through config space), map_mmio_regions (mmap of the sparse
 *       areas, KVM memslot, and the p2p vfio_dma_map of each, on unless
 *       vfio_p2p_dma=off), read_bar/write_bar (INTx unmask after each BAR
 *       access), update_msix_capabilities (disable INTx, enable MSI-X),
 *       unmap_mmio_regions
 *     vmm/src/config.rs: PlatformConfig (iommufd=on|off, vfio_p2p_dma),
 *       DeviceConfig (path=...)
 *   rust-vmm/vfio 96c82d1d5b66 (2026-04-29), vfio-ioctls 0.6.0+:
 *     vfio-ioctls/src/vfio_device.rs: VfioContainer::new/check_api_version/
 *       check_extension/get_group/put_group, VfioGroup::new (GET_STATUS must
 *       equal VIABLE), get_device, VfioIommufd::new (IOMMU_IOAS_ALLOC),
 *       VfioDevice::new, get_group_id_from_path, get_device_cdev_from_path
 *       (exactly one vfio-dev/ entry), bind_device_to_iommufd (KVM file add,
 *       BIND_IOMMUFD, ATTACH_IOMMUFD_PT), VfioDeviceInfo::get_device_info
 *       (PCI: num_regions >= 8, num_irqs >= 3), get_regions (the two-step
 *       region info, EINVAL tolerated on VGA), get_irqs, reset, enable_irq,
 *       disable_irq, unmask_irq, Drop
 *     vfio-ioctls/src/vfio_ioctls.rs: the ioctls behind each
 *   cloud-hypervisor/iommufd 062c1f27ae07: iommufd-ioctls/src/
 *     iommufd_ioctls.rs (IommuFd::new opens /dev/iommu)
 *
 * Cloud Hypervisor ae44c297 builds against vfio-ioctls 0.8.1 from
 * crates.io (Cargo.lock), newer than the rust-vmm/vfio snapshot above;
 * 0.8.1's own source could not be read here.  What CH calls that 0.6.0
 * lacks (VfioDevice::query_migration_support) is replayed as the
 * VFIO_DEVICE_FEATURE GET|MIGRATION it stands for, whose failure CH
 * treats as "not migratable".
 *
 * Not replayed: the KVM parts (KVM-VFIO file add/del only when /dev/kvm
 * exists, memslots never), virtio-mem and vIOMMU mappings.
 */
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "test_device.h"
#include "vu_test.h"

#define CONFIG		vu_region_off(VFIO_PCI_CONFIG_REGION_INDEX)

/* Guest RAM: 2 MiB at 0 and 1 MiB at 4 GiB, mapped at their GPAs. */
#define RAM0_GPA	0x0ULL
#define RAM0_SIZE	0x200000ULL
#define RAM1_GPA	0x100000000ULL
#define RAM1_SIZE	0x100000ULL
/* Where CH's allocator puts the BARs in the guest: 1 MiB apart from here. */
#define BAR_GPA		0xe0000000ULL

#define PCI_STATUS_CAP_LIST	0x10
#define PCI_CAPABILITY_LIST	0x34
#define PCI_CAP_ID_PM		0x01
#define PCI_CAP_ID_MSI		0x05
#define PCI_CAP_ID_EXP		0x10
#define PCI_CAP_ID_MSIX		0x11

struct ch_region {
	uint32_t flags;
	uint64_t size;
	uint64_t offset;
	int nr_areas;			/* SPARSE_MMAP areas, -1: no such cap */
	struct vfio_region_sparse_mmap_area areas[8];
	bool msix_mappable;
};

struct ch_map {
	void *addr;
	size_t len;
	uint64_t gpa;
};

struct ch_vm {
	enum vu_path mode;		/* VU_PATH_TYPE1: legacy, VU_PATH_CDEV: iommufd */
	int container;
	int iommufd;
	uint32_t ioas_id;
	int group;
	int device;
	struct vu_kvm_vfio kvm;
	struct vfio_device_info info;
	struct ch_region regions[TDEV_NUM_REGIONS + 4];
	struct vfio_irq_info irqs[TDEV_NUM_IRQS + 4];
	uint8_t *ram0, *ram1;
	uint8_t msix_cap, msi_cap;
	uint16_t msix_ctl;
	uint32_t msix_table, msix_pba;
	uint64_t bar_size[VFIO_PCI_ROM_REGION_INDEX + 1];
	struct ch_map maps[8];
	int nr_maps;
	int intx_efd;
	bool intx_in_use;
	int msix_efd[64];
	int nr_msix;
};

FIXTURE(ch) {
	struct vu_server srv;
	char name[32];
	char path[128];
	struct ch_vm vm;
};

FIXTURE_VARIANT(ch) {
	enum vu_path mode;
};

/* --device path=... */
FIXTURE_VARIANT_ADD(ch, legacy) { .mode = VU_PATH_TYPE1 };
/* --device path=... --platform iommufd=on */
FIXTURE_VARIANT_ADD(ch, iommufd) { .mode = VU_PATH_CDEV };

static void ch_vm_init(struct ch_vm *vm, enum vu_path mode)
{
	int i;

	memset(vm, 0, sizeof(*vm));
	vm->mode = mode;
	vm->container = vm->iommufd = vm->group = vm->device = vm->intx_efd = -1;
	vm->kvm.kvm = vm->kvm.vm = vm->kvm.dev = -1;
	for (i = 0; i < 64; i++)
		vm->msix_efd[i] = -1;
}

FIXTURE_SETUP(ch)
{
	char why[160];

	ch_vm_init(&self->vm, variant->mode);
	if (!vu_path_available(variant->mode, why, sizeof(why)))
		SKIP(return, "Cloud Hypervisor's %s mode: %s",
		     variant->mode == VU_PATH_CDEV ? "iommufd (--platform iommufd=on)" :
		     "legacy", why);
	self->vm.ram0 = mmap(NULL, RAM0_SIZE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->vm.ram0);
	self->vm.ram1 = mmap(NULL, RAM1_SIZE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->vm.ram1);
	ASSERT_EQ(0, vu_server_start(&self->srv, NULL));
	ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));
	snprintf(self->path, sizeof(self->path), VU_BUS "/devices/%s", self->name);
}

static void ch_vm_close(struct ch_vm *vm)
{
	int i;

	for (i = 0; i < vm->nr_maps; i++)
		munmap(vm->maps[i].addr, vm->maps[i].len);
	vm->nr_maps = 0;
	if (vm->device >= 0)
		close(vm->device);
	if (vm->group >= 0)
		close(vm->group);
	if (vm->container >= 0)
		close(vm->container);
	if (vm->iommufd >= 0)
		close(vm->iommufd);
	vm->container = vm->iommufd = vm->group = vm->device = -1;
	vu_kvm_vfio_close(&vm->kvm);
	if (vm->intx_efd >= 0)
		close(vm->intx_efd);
	vm->intx_efd = -1;
	for (i = 0; i < 64; i++) {
		if (vm->msix_efd[i] >= 0)
			close(vm->msix_efd[i]);
		vm->msix_efd[i] = -1;
	}
}

FIXTURE_TEARDOWN(ch)
{
	ch_vm_close(&self->vm);
	if (self->vm.ram0 && self->vm.ram0 != MAP_FAILED)
		munmap(self->vm.ram0, RAM0_SIZE);
	if (self->vm.ram1 && self->vm.ram1 != MAP_FAILED)
		munmap(self->vm.ram1, RAM1_SIZE);
	if (self->name[0] && vu_exists(self->name))
		vu_unbind(self->name);
	vu_server_stop(&self->srv);
}

/*
 * A failed step: what Cloud Hypervisor would report (its error, the
 * errno) and stop there.  The test fails with that as the reason.
 */
#define CH_STEP(cond, fmt, ...) do {					\
	bool ok_ = (cond);	/* once: most conditions are ioctls */	\
	int errno_ = errno;						\
	if (!ok_)							\
		snprintf(_metadata->results->reason,			\
			 sizeof(_metadata->results->reason),		\
			 "Cloud Hypervisor fails: " fmt, ##__VA_ARGS__);	\
	ASSERT_TRUE(ok_) TH_LOG("Cloud Hypervisor fails: " fmt " (errno %d: %s)", \
				##__VA_ARGS__, errno_, strerror(errno_)); \
} while (0)

/* KVM-VFIO: CH's device_set_fd(), only where there is KVM. */
static void ch_kvm_add(struct __test_metadata *_metadata, struct ch_vm *vm, int fd)
{
	int err = vu_kvm_vfio_add(&vm->kvm, fd);

	if (err == -ENODEV)
		TH_LOG("no /dev/kvm: KVM_DEV_VFIO_FILE_ADD not replayed");
	else
		ASSERT_EQ(0, err) TH_LOG("Cloud Hypervisor fails: KVM_DEV_VFIO_FILE_ADD: %s",
					 strerror(-err));
}

/* create_vfio_ops(): VfioContainer::new, or IommuFd::new + VfioIommufd::new. */
static void ch_create_vfio_ops(struct __test_metadata *_metadata, struct ch_vm *vm)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };

	if (vm->mode == VU_PATH_TYPE1) {
		vm->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
		CH_STEP(vm->container >= 0, "VfioError::OpenContainer");
		CH_STEP(ioctl(vm->container, VFIO_GET_API_VERSION) == VFIO_API_VERSION,
			"VfioError::VfioApiVersion");
		CH_STEP(ioctl(vm->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 1,
			"VfioError::VfioExtension (TYPE1v2)");
		return;
	}
	vm->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	CH_STEP(vm->iommufd >= 0, "IommufdError::OpenIommufd");
	CH_STEP(!ioctl(vm->iommufd, IOMMU_IOAS_ALLOC, &alloc),
		"VfioError::NewVfioIommufd (IOMMU_IOAS_ALLOC)");
	vm->ioas_id = alloc.out_ioas_id;
}

/* VfioDeviceInfo::get_regions() */
static void ch_get_regions(struct __test_metadata *_metadata, struct ch_vm *vm)
{
	uint32_t i;

	for (i = VFIO_PCI_BAR0_REGION_INDEX; i < vm->info.num_regions && i < TDEV_NUM_REGIONS + 4; i++) {
		struct vfio_region_info ri = { .argsz = sizeof(ri), .index = i };
		struct ch_region *r = &vm->regions[i];
		char buf[1024];
		struct vfio_region_info *big = (void *)buf;
		uint32_t next;

		r->nr_areas = -1;
		if (ioctl(vm->device, VFIO_DEVICE_GET_REGION_INFO, &ri)) {
			/* "Non-VGA devices do not have the VGA region" */
			if (errno == EINVAL && i == VFIO_PCI_VGA_REGION_INDEX)
				continue;
			TH_LOG("CH logs \"Could not get region #%u info\": %s", i, strerror(errno));
			continue;
		}
		r->flags = ri.flags;
		r->size = ri.size;
		r->offset = ri.offset;
		/* get_region_map(): caps only with FLAG_CAPS and a bigger argsz. */
		if (!(ri.flags & VFIO_REGION_INFO_FLAG_CAPS) || ri.argsz <= sizeof(ri))
			continue;
		ASSERT_LE(ri.argsz, sizeof(buf));
		memset(buf, 0, sizeof(buf));
		big->argsz = ri.argsz;
		big->index = i;
		CH_STEP(!ioctl(vm->device, VFIO_DEVICE_GET_REGION_INFO, big),
			"VfioError::VfioDeviceGetRegionInfo (region %u with caps)", i);
		for (next = big->cap_offset; next >= sizeof(*big); ) {
			struct vfio_info_cap_header *h = (void *)(buf + next);

			ASSERT_LE(next + sizeof(*h), ri.argsz);
			if (h->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
				struct vfio_region_info_cap_sparse_mmap *s = (void *)h;
				uint32_t a;

				ASSERT_LE(s->nr_areas, 8);
				r->nr_areas = s->nr_areas;
				for (a = 0; a < s->nr_areas; a++)
					r->areas[a] = s->areas[a];
			} else if (h->id == VFIO_REGION_INFO_CAP_MSIX_MAPPABLE) {
				r->msix_mappable = true;
			}
			next = h->next;
		}
	}
}

/* VfioDevice::new(): the device fd, its info, regions and irqs. */
static void ch_vfio_device_new(struct __test_metadata *_metadata, struct ch_vm *vm,
			       const char *path)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char link[160], target[96], node[128];
	const char *base = strrchr(path, '/') + 1;
	uint32_t type, i;
	ssize_t n;

	if (vm->mode == VU_PATH_TYPE1) {
		/* get_group_id_from_path(): readlink(path/iommu_group), basename */
		snprintf(link, sizeof(link), "%s/iommu_group", path);
		n = readlink(link, target, sizeof(target) - 1);
		CH_STEP(n > 0, "VfioError::InvalidPath (readlink %s)", link);
		target[n] = '\0';
		snprintf(node, sizeof(node), "/dev/vfio/%s", strrchr(target, '/') + 1);
		/* VfioContainer::get_group() -> VfioGroup::new() */
		vm->group = open(node, O_RDWR | O_CLOEXEC);
		CH_STEP(vm->group >= 0, "VfioError::OpenGroup %s", node);
		CH_STEP(!ioctl(vm->group, VFIO_GROUP_GET_STATUS, &status),
			"VfioError::VfioGetGroupStatus");
		CH_STEP(status.flags == VFIO_GROUP_FLAGS_VIABLE,
			"VfioError::GroupViable (flags %#x)", status.flags);
		CH_STEP(!ioctl(vm->group, VFIO_GROUP_SET_CONTAINER, &vm->container),
			"VfioError::GroupSetContainer");
		/* The first group: set_iommu(TYPE1v2). */
		CH_STEP(!ioctl(vm->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU),
			"VfioError::ContainerSetIOMMU");
		ch_kvm_add(_metadata, vm, vm->group);
		/* VfioGroup::get_device(): the path's file name. */
		vm->device = ioctl(vm->group, VFIO_GROUP_GET_DEVICE_FD, base);
		CH_STEP(vm->device >= 0, "VfioError::GroupGetDeviceFD (%s)", base);
	} else {
		struct vfio_device_bind_iommufd bind = {
			.argsz = sizeof(bind), .iommufd = vm->iommufd,
		};
		struct vfio_device_attach_iommufd_pt attach = {
			.argsz = sizeof(attach), .pt_id = vm->ioas_id,
		};
		struct dirent *de;
		int entries = 0;
		DIR *d;

		/* get_device_cdev_from_path(): exactly one entry, a directory. */
		snprintf(link, sizeof(link), "%s/vfio-dev", path);
		d = opendir(link);
		CH_STEP(d, "VfioError::InvalidVfioDev (%s)", link);
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			entries++;
			snprintf(node, sizeof(node), "/dev/vfio/devices/%.80s", de->d_name);
		}
		closedir(d);
		CH_STEP(entries == 1, "VfioError::InvalidVfioDev (%d entries in %s)",
			entries, link);
		vm->device = open(node, O_RDWR | O_CLOEXEC);
		CH_STEP(vm->device >= 0, "VfioError::OpenDeviceCdev %s", node);
		/* bind_device_to_iommufd() */
		ch_kvm_add(_metadata, vm, vm->device);
		CH_STEP(!ioctl(vm->device, VFIO_DEVICE_BIND_IOMMUFD, &bind),
			"VfioError::VfioDeviceBindIommufd");
		CH_STEP(!ioctl(vm->device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach),
			"VfioError::VfioDeviceAttachIommufdPt");
	}

	/* VfioDeviceInfo::get_device_info() */
	vm->info = (struct vfio_device_info){ .argsz = sizeof(vm->info) };
	CH_STEP(!ioctl(vm->device, VFIO_DEVICE_GET_INFO, &vm->info),
		"VfioError::VfioDeviceGetInfo");
	type = vm->info.flags & (VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_PLATFORM |
				 VFIO_DEVICE_FLAGS_AMBA | VFIO_DEVICE_FLAGS_CCW |
				 VFIO_DEVICE_FLAGS_AP);
	CH_STEP(type == VFIO_DEVICE_FLAGS_PCI || type == VFIO_DEVICE_FLAGS_PLATFORM,
		"VfioError::VfioDeviceGetInfoOther (flags %#x)", vm->info.flags);
	if (type == VFIO_DEVICE_FLAGS_PCI)
		CH_STEP(vm->info.num_regions >= VFIO_PCI_CONFIG_REGION_INDEX + 1 &&
			vm->info.num_irqs >= VFIO_PCI_MSIX_IRQ_INDEX + 1,
			"VfioError::VfioDeviceGetInfoPCI (%u regions, %u irqs)",
			vm->info.num_regions, vm->info.num_irqs);
	ch_get_regions(_metadata, vm);
	/* get_irqs(): a failing index is only a warning. */
	for (i = 0; i < vm->info.num_irqs && i < TDEV_NUM_IRQS + 4; i++) {
		vm->irqs[i] = (struct vfio_irq_info){ .argsz = sizeof(vm->irqs[i]), .index = i };
		if (ioctl(vm->device, VFIO_DEVICE_GET_IRQ_INFO, &vm->irqs[i]))
			TH_LOG("CH warns \"Could not get VFIO IRQ info for index %u\"", i);
	}
}

/* VfioOps::vfio_dma_map(): READ|WRITE, at the given IOVA. */
static int ch_dma_map(struct ch_vm *vm, uint64_t iova, void *addr, uint64_t size)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE |
			 IOMMU_IOAS_MAP_FIXED_IOVA,
		.ioas_id = vm->ioas_id,
		.user_va = (uintptr_t)addr,
		.length = size,
		.iova = iova,
	};

	if (vm->mode == VU_PATH_TYPE1)
		return vu_map_dma(vm->container, addr, iova, size,
				  VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
	return ioctl(vm->iommufd, IOMMU_IOAS_MAP, &map) ? -errno : 0;
}

/* VfioOps::vfio_dma_unmap(): the size unmapped must be the size asked. */
static int ch_dma_unmap(struct ch_vm *vm, uint64_t iova, uint64_t size)
{
	struct vu_dev d = {
		.path = vm->mode, .container = vm->container, .iommufd = vm->iommufd,
		.ioas_id = vm->ioas_id,
	};

	return vu_dev_unmap(&d, iova, size);
}

static uint32_t cfg_read(struct ch_vm *vm, unsigned int off, unsigned int len)
{
	uint32_t val = 0;

	if (pread(vm->device, &val, len, vm->regions[VFIO_PCI_CONFIG_REGION_INDEX].offset + off) != len)
		return 0xffffffff;
	return val;
}

static int cfg_write(struct ch_vm *vm, unsigned int off, uint32_t val, unsigned int len)
{
	return pwrite(vm->device, &val, len,
		      vm->regions[VFIO_PCI_CONFIG_REGION_INDEX].offset + off) == len ? 0 : -errno;
}

static int set_irqs(int device, uint32_t flags, uint32_t index, uint32_t count,
		    const int32_t *fds)
{
	char buf[sizeof(struct vfio_irq_set) + 64 * sizeof(int32_t)];
	struct vfio_irq_set *set = (void *)buf;

	set->argsz = sizeof(*set) + (fds ? count * sizeof(int32_t) : 0);
	set->flags = flags;
	set->index = index;
	set->start = 0;
	set->count = count;
	if (fds)
		memcpy(set->data, fds, count * sizeof(int32_t));
	return ioctl(device, VFIO_DEVICE_SET_IRQS, set) ? -errno : 0;
}

/* VfioPciDevice::new() -> reset, VfioCommon::new() */
static void ch_vfio_pci_device_new(struct __test_metadata *_metadata, struct ch_vm *vm,
				   const char *path)
{
	struct {
		struct vfio_device_feature f;
		struct vfio_device_feature_migration m;
	} mig = {
		.f = { .argsz = sizeof(mig),
		       .flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION },
	};
	char file[PATH_MAX];
	uint8_t cap, id;
	struct stat st;
	int guard = 0;

	if (vm->info.flags & VFIO_DEVICE_FLAGS_RESET)
		ioctl(vm->device, VFIO_DEVICE_RESET);	/* CH ignores the result */
	/* migration_flags(): an error means "does not support migration v2". */
	if (ioctl(vm->device, VFIO_DEVICE_FEATURE, &mig))
		TH_LOG("no migration v2 (VFIO_DEVICE_FEATURE: %s): CH treats it as non-migratable",
		       strerror(errno));
	/* discover_fixed_bars(): only NVIDIA's vendor file matters. */
	snprintf(file, sizeof(file), "%s/vendor", path);
	if (!stat(file, &st))
		TH_LOG("%s exists: CH reads it", file);

	/* parse_capabilities() */
	if (!(cfg_read(vm, 0x06, 2) & PCI_STATUS_CAP_LIST))
		return;
	cap = cfg_read(vm, PCI_CAPABILITY_LIST, 1) & 0xfc;
	while (cap && guard++ < 48) {
		uint8_t next;

		id = cfg_read(vm, cap, 1);
		if (id == PCI_CAP_ID_MSI && vm->irqs[VFIO_PCI_MSI_IRQ_INDEX].count > 0) {
			vm->msi_cap = cap;
			cfg_read(vm, cap + 2, 2);
		} else if (id == PCI_CAP_ID_MSIX && vm->irqs[VFIO_PCI_MSIX_IRQ_INDEX].count > 0) {
			vm->msix_cap = cap;
			vm->msix_ctl = cfg_read(vm, cap + 2, 2);
			vm->msix_table = cfg_read(vm, cap + 4, 4);
			vm->msix_pba = cfg_read(vm, cap + 8, 4);
		}
		next = cfg_read(vm, cap + 1, 1) & 0xfc;
		if (next == cap)
			break;
		cap = next;
	}

	/* initialize_legacy_interrupt() -> enable_intx() */
	if (vm->irqs[VFIO_PCI_INTX_IRQ_INDEX].count == 0)
		return;
	vm->intx_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_GE(vm->intx_efd, 0);
	CH_STEP(!set_irqs(vm->device, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_INTX_IRQ_INDEX, 1, &vm->intx_efd),
		"VfioPciError::EnableIntx");
	vm->intx_in_use = true;
}

/* allocate_bars(): size each BAR by writing all ones to it. */
static void ch_allocate_bars(struct __test_metadata *_metadata, struct ch_vm *vm)
{
	unsigned int bar = VFIO_PCI_BAR0_REGION_INDEX;

	while (bar < VFIO_PCI_CONFIG_REGION_INDEX) {
		unsigned int off = bar == VFIO_PCI_ROM_REGION_INDEX ? 0x30 : 0x10 + bar * 4;
		uint32_t flags = cfg_read(vm, off, 4), lower;
		bool io = bar != VFIO_PCI_ROM_REGION_INDEX && (flags & 1);
		bool is64 = bar != VFIO_PCI_ROM_REGION_INDEX && (flags & 6) == 4;
		uint64_t size = 0;

		ASSERT_EQ(0, cfg_write(vm, off, 0xffffffff, 4));
		lower = cfg_read(vm, off, 4);
		if (io) {
			lower &= ~3u;
			if (lower)
				size = (uint32_t)(~lower + 1);
		} else if (is64) {
			uint64_t combined;

			ASSERT_EQ(0, cfg_write(vm, off + 4, 0xffffffff, 4));
			combined = ((uint64_t)cfg_read(vm, off + 4, 4) << 32 | lower) & ~0xfULL;
			if (combined)
				size = ~combined + 1;
		} else {
			lower &= ~0xfu;
			if (lower)
				size = (uint32_t)(~lower + 1);
		}
		vm->bar_size[bar] = size;
		/* The BAR CH maps is the size it computed: the region's. */
		if (size)
			EXPECT_EQ(vm->regions[bar].size, size)
				TH_LOG("BAR%u sized %#llx from config space, region says %#llx",
				       bar, (unsigned long long)size,
				       (unsigned long long)vm->regions[bar].size);
		bar += is64 ? 2 : 1;
	}
}

/* map_mmio_regions(): mmap every sparse area; p2p: map it for DMA too. */
static void ch_map_mmio_regions(struct __test_metadata *_metadata, struct ch_vm *vm)
{
	unsigned int bar, table_bir = vm->msix_table & 7, pba_bir = vm->msix_pba & 7;
	long page = sysconf(_SC_PAGESIZE);

	for (bar = VFIO_PCI_BAR0_REGION_INDEX; bar < VFIO_PCI_ROM_REGION_INDEX; bar++) {
		struct ch_region *r = &vm->regions[bar];
		struct vfio_region_sparse_mmap_area whole = { 0, r->size };
		struct vfio_region_sparse_mmap_area *areas = &whole;
		int nr = 1, prot = 0, a;

		if (!vm->bar_size[bar] || !(r->flags & VFIO_REGION_INFO_FLAG_MMAP))
			continue;
		if (r->flags & VFIO_REGION_INFO_FLAG_READ)
			prot |= PROT_READ;
		if (r->flags & VFIO_REGION_INFO_FLAG_WRITE)
			prot |= PROT_WRITE;
		/* No mmap of a BAR with the MSI-X table or PBA, unless MSIX_MAPPABLE. */
		if (vm->msix_cap && (bar == table_bir || bar == pba_bir) && !r->msix_mappable)
			continue;
		if (r->nr_areas >= 0) {
			areas = r->areas;
			nr = r->nr_areas;
		}
		for (a = 0; a < nr; a++) {
			size_t len = areas[a].size < (uint64_t)page ? (uint64_t)page : areas[a].size;
			struct ch_map *m = &vm->maps[vm->nr_maps];
			int err;

			ASSERT_LT(vm->nr_maps, 8);
			if (areas[a].size < (uint64_t)page)
				CH_STEP(areas[a].offset == 0, "VfioPciError::MmapArea (sub-page area)");
			m->addr = mmap(NULL, len, prot, MAP_SHARED, vm->device,
				       r->offset + areas[a].offset);
			CH_STEP(m->addr != MAP_FAILED,
				"VfioPciError::MmapArea (BAR%u area %d, offset %#llx size %#zx)",
				bar, a, (unsigned long long)areas[a].offset, len);
			m->len = len;
			m->gpa = BAR_GPA + bar * 0x100000ULL + areas[a].offset;
			vm->nr_maps++;
			/* p2p DMA (vfio_p2p_dma defaults on): the BAR in the IOMMU. */
			err = ch_dma_map(vm, m->gpa, m->addr, m->len);
			errno = -err;
			CH_STEP(!err, "VfioPciError::DmaMap of BAR%u area %d (p2p; vfio_p2p_dma=off avoids it)",
				bar, a);
		}
	}
}

/* read_bar()/write_bar() on a trapped BAR, with CH's INTx EOI after it. */
static uint32_t ch_read_bar0(struct __test_metadata *_metadata, struct ch_vm *vm,
			     unsigned int reg)
{
	uint32_t val = 0;

	EXPECT_EQ(4, pread(vm->device, &val, 4, vm->regions[0].offset + reg));
	if (vm->intx_in_use)
		EXPECT_EQ(0, set_irqs(vm->device, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
				      VFIO_PCI_INTX_IRQ_INDEX, 1, NULL))
			TH_LOG("CH logs \"Failed unmasking INTx IRQ\"");
	return val;
}

static void ch_write_bar0(struct __test_metadata *_metadata, struct ch_vm *vm,
			  unsigned int reg, uint32_t val)
{
	EXPECT_EQ(4, pwrite(vm->device, &val, 4, vm->regions[0].offset + reg));
	if (vm->intx_in_use)
		EXPECT_EQ(0, set_irqs(vm->device, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
				      VFIO_PCI_INTX_IRQ_INDEX, 1, NULL))
			TH_LOG("CH logs \"Failed unmasking INTx IRQ\"");
}

/* The guest's driver: DMA engine between guest RAM and BAR2, polled via BAR0. */
static int guest_dma(struct __test_metadata *_metadata, struct ch_vm *vm, uint64_t src,
		     uint64_t dst, uint32_t len, bool to_guest)
{
	const uint32_t regs[][2] = {
		{ TDEV_REG_DMA_SRC_LO, (uint32_t)src },
		{ TDEV_REG_DMA_SRC_HI, (uint32_t)(src >> 32) },
		{ TDEV_REG_DMA_DST_LO, (uint32_t)dst },
		{ TDEV_REG_DMA_DST_HI, (uint32_t)(dst >> 32) },
		{ TDEV_REG_DMA_LEN, len },
		{ TDEV_REG_DMA_CTRL, TDEV_DMA_CTRL_GO | (to_guest ? TDEV_DMA_CTRL_DIR_TO_GUEST : 0) },
	};
	long long end = vu_now_ms() + vu_ms(5000);
	unsigned int i;
	uint32_t status;

	for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		ch_write_bar0(_metadata, vm, regs[i][0], regs[i][1]);
	do {
		status = ch_read_bar0(_metadata, vm, TDEV_REG_DMA_STATUS);
		if (status == TDEV_DMA_STATUS_DONE)
			return 0;
		if (status == TDEV_DMA_STATUS_ERROR)
			return ch_read_bar0(_metadata, vm, TDEV_REG_DMA_ERROR);
		usleep(1000);
	} while (vu_now_ms() < end);
	return ETIMEDOUT;
}

/* The VM's life: boot (CH's sequence), a guest driver's use, shutdown. */
TEST_F(ch, boot_run_shutdown)
{
	struct ch_vm *vm = &self->vm;
	volatile uint32_t *bar2;
	unsigned int i, vectors;
	int err;

	/* DeviceManager::add_vfio_device() */
	ch_create_vfio_ops(_metadata, vm);
	ch_vfio_device_new(_metadata, vm, self->path);
	/* needs_dma_mapping: every guest RAM region at its GPA. */
	err = ch_dma_map(vm, RAM0_GPA, vm->ram0, RAM0_SIZE);
	errno = -err;
	CH_STEP(!err, "DeviceManagerError::VfioDmaMap (RAM at %#llx)", RAM0_GPA);
	err = ch_dma_map(vm, RAM1_GPA, vm->ram1, RAM1_SIZE);
	errno = -err;
	CH_STEP(!err, "DeviceManagerError::VfioDmaMap (RAM at %#llx)", RAM1_GPA);
	ch_vfio_pci_device_new(_metadata, vm, self->path);
	EXPECT_NE(0, vm->msix_cap) TH_LOG("CH found no MSI-X capability");
	ch_allocate_bars(_metadata, vm);
	ch_map_mmio_regions(_metadata, vm);
	ASSERT_GE(vm->nr_maps, 1) TH_LOG("CH mapped no BAR area");

	/* The guest: a trapped register, INTx. */
	EXPECT_EQ(TDEV_MAGIC_VALUE, ch_read_bar0(_metadata, vm, TDEV_REG_MAGIC));
	ch_write_bar0(_metadata, vm, TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_INTX);
	EXPECT_TRUE(vu_eventfd_fired(vm->intx_efd, 2000)) TH_LOG("INTx");

	/* It enables MSI-X: CH disables INTx and sets every vector's eventfd. */
	EXPECT_EQ(0, set_irqs(vm->device, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
			      VFIO_PCI_INTX_IRQ_INDEX, 0, NULL));
	vm->intx_in_use = false;
	vectors = (vm->msix_ctl & 0x7ff) + 1;
	ASSERT_LE(vectors, 64);
	EXPECT_EQ(vm->irqs[VFIO_PCI_MSIX_IRQ_INDEX].count, vectors);
	for (i = 0; i < vectors; i++) {
		vm->msix_efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		ASSERT_GE(vm->msix_efd[i], 0);
	}
	vm->nr_msix = vectors;
	CH_STEP(!set_irqs(vm->device, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, vectors, vm->msix_efd),
		"VfioPciError::EnableMsix");
	for (i = 0; i < vectors; i++) {
		ch_write_bar0(_metadata, vm, TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_MSIX(i));
		EXPECT_TRUE(vu_eventfd_fired(vm->msix_efd[i], 2000)) TH_LOG("MSI-X vector %u", i);
	}

	/* DMA both ways through guest RAM; BAR2 seen through CH's mmap. */
	vu_fill(vm->ram0 + 0x3000, 0x4000, 17);
	EXPECT_EQ(0, guest_dma(_metadata, vm, RAM0_GPA + 0x3000, 0, 0x4000, false));
	bar2 = vm->maps[0].addr;
	EXPECT_EQ(0, memcmp((void *)bar2, vm->ram0 + 0x3000, 0x4000));
	EXPECT_EQ(0, guest_dma(_metadata, vm, 0, RAM1_GPA + 0x1000, 0x4000, true));
	EXPECT_EQ(0, memcmp(vm->ram1 + 0x1000, vm->ram0 + 0x3000, 0x4000));

	/* Shutdown: unmap_mmio_regions(), then VfioDevice's Drop. */
	for (i = 0; i < (unsigned int)vm->nr_maps; i++) {
		err = ch_dma_unmap(vm, vm->maps[i].gpa, vm->maps[i].len);
		EXPECT_EQ(0, err) TH_LOG("CH logs \"Could not unmap MMIO region from the host "
					 "IOMMU address space\": %s", strerror(-err));
		munmap(vm->maps[i].addr, vm->maps[i].len);
	}
	vm->nr_maps = 0;
	if (vm->mode == VU_PATH_TYPE1) {
		close(vm->device);
		vm->device = -1;
		vu_kvm_vfio_close(&vm->kvm);
		EXPECT_EQ(0, ioctl(vm->group, VFIO_GROUP_UNSET_CONTAINER, &vm->container))
			TH_LOG("CH logs \"Could not unbind VFIO group\": %s", strerror(errno));
	} else {
		struct vfio_device_detach_iommufd_pt detach = { .argsz = sizeof(detach) };

		/* Drop unwrap()s this: a failure panics Cloud Hypervisor. */
		EXPECT_EQ(0, ioctl(vm->device, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach))
			TH_LOG("VFIO_DEVICE_DETACH_IOMMUFD_PT: %s", strerror(errno));
		vu_kvm_vfio_close(&vm->kvm);
		close(vm->device);
		vm->device = -1;
	}
	EXPECT_EQ(0, vu_stat(self->name, "dma_pinned_pages"));
	EXPECT_STREQ("none", vu_attr(self->name, "dma_active", (char[32]){}, 32));
	ch_vm_close(vm);
	EXPECT_STREQ("connected", vu_attr(self->name, "state", (char[32]){}, 32));
	EXPECT_EQ(0, vu_unbind(self->name));
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
}

/*
 * The VM killed with guest RAM pinned by the server (zero-copy DMA done,
 * nothing unmapped or closed by the VMM): the kernel's release of its fds
 * gives every pin back, and the device can be deleted.  (The child maps
 * and DMAs the same way, through vu_test.h: only its death matters here.)
 */
TEST_F(ch, killed_vmm_leaves_nothing_pinned)
{
	pid_t pid;
	int status;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct vu_dev d;
		uint64_t off;

		if (vu_dev_open(self->name, variant->mode, &d) ||
		    vu_dev_map(&d, self->vm.ram0, RAM0_GPA, RAM0_SIZE,
			       VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE))
			_exit(2);
		vu_fill(self->vm.ram0, RAM0_SIZE, 3);
		for (off = 0; off < RAM0_SIZE; off += TDEV_BAR2_SIZE)
			if (vu_engine_run(d.device, RAM0_GPA + off, 0, TDEV_BAR2_SIZE, false))
				_exit(3);
		if (vu_stat(self->name, "dma_pinned_pages") != (long long)(RAM0_SIZE / 4096))
			_exit(4);
		kill(getpid(), SIGKILL);
		_exit(5);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status)) TH_LOG("the VMM exited with %d before its kill",
						WEXITSTATUS(status));
	EXPECT_EQ(0, vu_stat(self->name, "dma_pinned_pages"));
	EXPECT_EQ(0, vu_unbind(self->name));
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
}

TEST_HARNESS_MAIN
