// SPDX-License-Identifier: GPL-2.0
/*
 * The VFIO device as a VMM drives it, through container, group and device
 * fd: every ioctl with good and bad input (vfio-pci's errors), region
 * access, mmap of the server's memory, interrupts both ways, reset, and
 * what a VMM sees when the server dies or the device is deleted under it.
 */
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "test_device.h"
#include "vu_test.h"

#define BAR0	vu_region_off(VFIO_PCI_BAR0_REGION_INDEX)
#define BAR2	vu_region_off(VFIO_PCI_BAR2_REGION_INDEX)
#define CONFIG	vu_region_off(VFIO_PCI_CONFIG_REGION_INDEX)

FIXTURE(vdev) {
	struct vu_server srv;
	struct vu_vfio v;
	char name[32];
};

FIXTURE_VARIANT(vdev) {
	const char *const *args;
};

FIXTURE_VARIANT_ADD(vdev, default_caps) {
	.args = (const char *const[]){ NULL },
};

/* The server takes 3 fds a message: 8 MSI-X eventfds need 3 messages. */
FIXTURE_VARIANT_ADD(vdev, three_fds_per_msg) {
	.args = (const char *const[]){ "--caps",
		"{\"capabilities\":{\"max_msg_fds\":3}}", NULL },
};

FIXTURE_SETUP(vdev)
{
	self->v.container = self->v.group = self->v.device = -1;
	ASSERT_EQ(0, vu_server_startv(&self->srv, variant->args));
	ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));
	ASSERT_EQ(0, vu_vfio_open(self->name, &self->v));
}

FIXTURE_TEARDOWN(vdev)
{
	vu_vfio_close(&self->v);
	if (vu_exists(self->name))
		vu_unbind(self->name);
	vu_server_stop(&self->srv);
}

/* Did @efd fire within @ms (times VU_TIME_SCALE)?  Consumes the count. */
static int set_irqs(int dev, uint32_t flags, uint32_t index, uint32_t start,
		    uint32_t count, const void *data, size_t data_len)
{
	char buf[sizeof(struct vfio_irq_set) + 256];
	struct vfio_irq_set *set = (void *)buf;

	set->argsz = sizeof(*set) + data_len;
	set->flags = flags;
	set->index = index;
	set->start = start;
	set->count = count;
	memcpy(set->data, data, data_len);
	return ioctl(dev, VFIO_DEVICE_SET_IRQS, set) ? -errno : 0;
}

static int set_eventfds(int dev, uint32_t index, uint32_t start,
			uint32_t count, const int32_t *fds)
{
	return set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
			index, start, count, fds, count * sizeof(int32_t));
}

TEST_F(vdev, get_info)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	ASSERT_EQ(0, ioctl(self->v.device, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_EQ(VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET, info.flags);
	EXPECT_EQ(TDEV_NUM_REGIONS, info.num_regions);
	EXPECT_EQ(TDEV_NUM_IRQS, info.num_irqs);

	info.argsz = 8;
	EXPECT_EQ(-1, ioctl(self->v.device, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->v.device, _IO(VFIO_TYPE, VFIO_BASE + 60)));
	EXPECT_EQ(ENOTTY, errno);
}

TEST_F(vdev, region_info)
{
	static const uint64_t sizes[TDEV_NUM_REGIONS] = {
		TDEV_BAR0_SIZE, TDEV_BAR1_SIZE, TDEV_BAR2_SIZE, TDEV_BAR3_SIZE,
		TDEV_BAR4_SIZE, TDEV_BAR5_SIZE, TDEV_ROM_SIZE, TDEV_CONFIG_SIZE,
		TDEV_VGA_SIZE,
	};
	struct vfio_region_info info = { .argsz = sizeof(info) };
	char buf[512];
	struct vfio_region_info *big = (void *)buf;
	struct vfio_region_info_cap_sparse_mmap *sparse;
	unsigned int i;

	for (i = 0; i < TDEV_NUM_REGIONS; i++) {
		info = (struct vfio_region_info){ .argsz = sizeof(info), .index = i };
		ASSERT_EQ(0, ioctl(self->v.device, VFIO_DEVICE_GET_REGION_INFO, &info));
		EXPECT_EQ(sizes[i], info.size) TH_LOG("region %u", i);
		EXPECT_EQ((uint64_t)vu_region_off(i), info.offset);
	}

	info = (struct vfio_region_info){ .argsz = sizeof(info), .index = 0 };
	ASSERT_EQ(0, ioctl(self->v.device, VFIO_DEVICE_GET_REGION_INFO, &info));
	EXPECT_EQ(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE, info.flags);

	/* BAR2: mmap-able, sparse; first ask too small, then with room. */
	info = (struct vfio_region_info){ .argsz = sizeof(info), .index = 2 };
	ASSERT_EQ(0, ioctl(self->v.device, VFIO_DEVICE_GET_REGION_INFO, &info));
	EXPECT_TRUE(info.flags & VFIO_REGION_INFO_FLAG_MMAP);
	EXPECT_TRUE(info.flags & VFIO_REGION_INFO_FLAG_CAPS);
	EXPECT_EQ(0, info.cap_offset);
	EXPECT_GT(info.argsz, sizeof(info));
	ASSERT_LE(info.argsz, sizeof(buf));

	memset(buf, 0, sizeof(buf));
	big->argsz = info.argsz;
	big->index = 2;
	ASSERT_EQ(0, ioctl(self->v.device, VFIO_DEVICE_GET_REGION_INFO, big));
	ASSERT_EQ(sizeof(*big), big->cap_offset);
	sparse = (void *)(buf + big->cap_offset);
	EXPECT_EQ(VFIO_REGION_INFO_CAP_SPARSE_MMAP, sparse->header.id);
	EXPECT_EQ(0, sparse->header.next);
	ASSERT_EQ(TDEV_BAR2_NR_AREAS, sparse->nr_areas);
	EXPECT_EQ(TDEV_BAR2_AREA0_OFFSET, sparse->areas[0].offset);
	EXPECT_EQ(TDEV_BAR2_AREA0_SIZE, sparse->areas[0].size);
	EXPECT_EQ(TDEV_BAR2_AREA1_OFFSET, sparse->areas[1].offset);
	EXPECT_EQ(TDEV_BAR2_AREA1_SIZE, sparse->areas[1].size);

	info = (struct vfio_region_info){ .argsz = sizeof(info), .index = TDEV_NUM_REGIONS };
	EXPECT_EQ(-1, ioctl(self->v.device, VFIO_DEVICE_GET_REGION_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	info = (struct vfio_region_info){ .argsz = 8, .index = 0 };
	EXPECT_EQ(-1, ioctl(self->v.device, VFIO_DEVICE_GET_REGION_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(vdev, irq_info)
{
	static const struct { uint32_t count, flags; } want[TDEV_NUM_IRQS] = {
		{ 1, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED },
		{ 1, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE },
		{ 8, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE },
		{ 1, VFIO_IRQ_INFO_EVENTFD },
		{ 1, VFIO_IRQ_INFO_EVENTFD },
	};
	struct vfio_irq_info info;
	unsigned int i;

	for (i = 0; i < TDEV_NUM_IRQS; i++) {
		info = (struct vfio_irq_info){ .argsz = sizeof(info), .index = i };
		ASSERT_EQ(0, ioctl(self->v.device, VFIO_DEVICE_GET_IRQ_INFO, &info));
		EXPECT_EQ(want[i].count, info.count) TH_LOG("index %u", i);
		EXPECT_EQ(want[i].flags, info.flags) TH_LOG("index %u", i);
	}
	info = (struct vfio_irq_info){ .argsz = sizeof(info), .index = TDEV_NUM_IRQS };
	EXPECT_EQ(-1, ioctl(self->v.device, VFIO_DEVICE_GET_IRQ_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	info = (struct vfio_irq_info){ .argsz = 4, .index = 0 };
	EXPECT_EQ(-1, ioctl(self->v.device, VFIO_DEVICE_GET_IRQ_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
}

/* Every malformed SET_IRQS is refused before anything reaches the server. */
TEST_F(vdev, set_irqs_bad_input)
{
	uint32_t trig = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	int32_t fds[2] = { -1, -1 };
	int pipefd[2];
	struct vfio_irq_set set = { .argsz = 4 };

	EXPECT_EQ(-EINVAL, set_irqs(self->v.device, trig, 99, 0, 1, NULL, 0));
	EXPECT_EQ(-EINVAL, set_irqs(self->v.device, trig, VFIO_PCI_MSIX_IRQ_INDEX, 8, 1,
				    NULL, 0));
	EXPECT_EQ(-EINVAL, set_irqs(self->v.device, trig, VFIO_PCI_MSIX_IRQ_INDEX, 4, 5,
				    NULL, 0));
	EXPECT_EQ(-EINVAL, set_irqs(self->v.device, trig, VFIO_PCI_MSIX_IRQ_INDEX, 1,
				    UINT32_MAX, NULL, 0));
	EXPECT_EQ(-EINVAL, set_irqs(self->v.device, trig | (1u << 10),
				    VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL, 0));
	EXPECT_EQ(-EINVAL, set_irqs(self->v.device, VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_TRIGGER | VFIO_IRQ_SET_ACTION_MASK,
				    VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL, 0));
	EXPECT_EQ(-EINVAL, set_irqs(self->v.device, VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
				    VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL, 0));
	/* Data shorter than count says. */
	EXPECT_EQ(-EINVAL, set_irqs(self->v.device, VFIO_IRQ_SET_DATA_EVENTFD |
				    VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_PCI_MSIX_IRQ_INDEX,
				    0, 2, fds, 4));
	EXPECT_EQ(-1, ioctl(self->v.device, VFIO_DEVICE_SET_IRQS, &set));
	EXPECT_EQ(EINVAL, errno);

	/* Only eventfds ever reach the server. */
	ASSERT_EQ(0, pipe(pipefd));
	fds[0] = pipefd[0];
	EXPECT_EQ(-EINVAL, set_eventfds(self->v.device, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, fds));
	fds[0] = 1000;
	EXPECT_EQ(-EBADF, set_eventfds(self->v.device, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, fds));
	/* ERR and REQ take ACTION_TRIGGER only. */
	EXPECT_EQ(-EINVAL, set_irqs(self->v.device, VFIO_IRQ_SET_DATA_NONE |
				    VFIO_IRQ_SET_ACTION_MASK, VFIO_PCI_ERR_IRQ_INDEX, 0, 1,
				    NULL, 0));
	close(pipefd[0]);
	close(pipefd[1]);
	EXPECT_STREQ("connected", vu_attr(self->name, "state", (char[32]){}, 32));
}

/* The server signals the VMM's own eventfds, vector by vector. */
TEST_F(vdev, msix_vectors_fire)
{
	int32_t fds[TDEV_MSIX_COUNT];
	unsigned int i, j;

	for (i = 0; i < TDEV_MSIX_COUNT; i++) {
		fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		ASSERT_GE(fds[i], 0);
	}
	ASSERT_EQ(0, set_eventfds(self->v.device, VFIO_PCI_MSIX_IRQ_INDEX, 0,
				  TDEV_MSIX_COUNT, fds));
	for (i = 0; i < TDEV_MSIX_COUNT; i++) {
		ASSERT_EQ(0, vu_reg_write(self->v.device, TDEV_REG_IRQ_RAISE,
				       TDEV_IRQ_RAISE_MSIX(i)));
		EXPECT_TRUE(vu_eventfd_fired(fds[i], 2000)) TH_LOG("vector %u", i);
		for (j = 0; j < TDEV_MSIX_COUNT; j++)
			if (j != i)
				EXPECT_FALSE(vu_eventfd_fired(fds[j], 0)) TH_LOG("vector %u on %u", j, i);
	}

	/* DATA_NONE|TRIGGER: the client triggers through the server. */
	EXPECT_EQ(0, set_irqs(self->v.device, VFIO_IRQ_SET_DATA_NONE |
			      VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_PCI_MSIX_IRQ_INDEX, 3, 1,
			      NULL, 0));
	EXPECT_TRUE(vu_eventfd_fired(fds[3], 2000));

	/* Unassign vector 2 (fd -1): raising it signals nothing. */
	fds[2] = -1;
	ASSERT_EQ(0, set_eventfds(self->v.device, VFIO_PCI_MSIX_IRQ_INDEX, 2, 1, &fds[2]));
	ASSERT_EQ(0, vu_reg_write(self->v.device, TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_MSIX(1)));
	EXPECT_TRUE(vu_eventfd_fired(fds[1], 2000));

	/* Disable the index: nothing fires any more. */
	ASSERT_EQ(0, set_irqs(self->v.device, VFIO_IRQ_SET_DATA_NONE |
			      VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0,
			      NULL, 0));
	ASSERT_EQ(0, vu_reg_write(self->v.device, TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_MSIX(0)));
	EXPECT_FALSE(vu_eventfd_fired(fds[0], 300));
	for (i = 0; i < TDEV_MSIX_COUNT; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

TEST_F(vdev, intx_fires)
{
	int32_t efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	uint8_t yes = 1;

	ASSERT_GE(efd, 0);
	ASSERT_EQ(0, set_eventfds(self->v.device, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &efd));
	ASSERT_EQ(0, vu_reg_write(self->v.device, TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_INTX));
	EXPECT_TRUE(vu_eventfd_fired(efd, 2000));
	/* DATA_BOOL trigger, and the unmask action, are accepted. */
	EXPECT_EQ(0, set_irqs(self->v.device, VFIO_IRQ_SET_DATA_BOOL |
			      VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_PCI_INTX_IRQ_INDEX, 0, 1,
			      &yes, 1));
	EXPECT_TRUE(vu_eventfd_fired(efd, 2000));
	EXPECT_EQ(0, set_irqs(self->v.device, VFIO_IRQ_SET_DATA_NONE |
			      VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX, 0, 1,
			      NULL, 0));
	close(efd);
}

TEST_F(vdev, reset)
{
	uint32_t before = vu_reg_read(self->v.device, TDEV_REG_RESET_COUNT);

	ASSERT_EQ(0, vu_reg_write(self->v.device, TDEV_REG_SCRATCH, 0x1234));
	ASSERT_EQ(0, ioctl(self->v.device, VFIO_DEVICE_RESET));
	EXPECT_EQ(before + 1, vu_reg_read(self->v.device, TDEV_REG_RESET_COUNT));
	EXPECT_EQ(0, vu_reg_read(self->v.device, TDEV_REG_SCRATCH));
}

TEST_F(vdev, config_space)
{
	uint16_t ids[2];
	uint32_t val, two[2];

	ASSERT_EQ(4, pread(self->v.device, ids, 4, CONFIG));
	EXPECT_EQ(TDEV_VENDOR_ID, ids[0]);
	EXPECT_EQ(TDEV_DEVICE_ID, ids[1]);
	EXPECT_EQ(4, pread(self->v.device, two, 8, CONFIG + TDEV_CONFIG_SIZE - 4));
	EXPECT_EQ(-1, pread(self->v.device, &val, 4, CONFIG + TDEV_CONFIG_SIZE));
	EXPECT_EQ(EINVAL, errno);
	/* Regions of size 0 and past the last index. */
	EXPECT_EQ(-1, pread(self->v.device, &val, 4, vu_region_off(VFIO_PCI_ROM_REGION_INDEX)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pwrite(self->v.device, &val, 4, vu_region_off(TDEV_NUM_REGIONS)));
	EXPECT_EQ(EINVAL, errno);
}

/* The VMM's mapping is the server's memory: no copies, no traps. */
TEST_F(vdev, mmap_is_server_memory)
{
	long page = sysconf(_SC_PAGESIZE);
	volatile uint32_t *area0, *area1;
	uint32_t val;
	void *p;

	area0 = mmap(NULL, TDEV_BAR2_AREA0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     self->v.device, BAR2 + TDEV_BAR2_AREA0_OFFSET);
	ASSERT_NE(MAP_FAILED, area0);
	area1 = mmap(NULL, TDEV_BAR2_AREA1_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     self->v.device, BAR2 + TDEV_BAR2_AREA1_OFFSET);
	ASSERT_NE(MAP_FAILED, area1);

	/* The server writes, the VMM's mapping sees it. */
	ASSERT_EQ(0, vu_reg_write(self->v.device, TDEV_REG_BAR2_FILL, 0xa5a5c3c3));
	EXPECT_EQ(0xa5a5c3c3, area0[0]);
	EXPECT_EQ(0xa5a5c3c3, area0[TDEV_BAR2_AREA0_SIZE / 4 - 1]);
	EXPECT_EQ(0xa5a5c3c3, area1[7]);

	/* The VMM writes, the server's REGION_READ sees it. */
	area1[5] = 0x600dcafe;
	ASSERT_EQ(4, pread(self->v.device, &val, 4, BAR2 + TDEV_BAR2_AREA1_OFFSET + 20));
	EXPECT_EQ(0x600dcafe, val);

	/* Outside the areas, beyond the region, private, or a trapped BAR. */
	p = mmap(NULL, page, PROT_READ, MAP_SHARED, self->v.device,
		 BAR2 + TDEV_BAR2_AREA0_SIZE);
	EXPECT_EQ(MAP_FAILED, p);
	p = mmap(NULL, 2 * TDEV_BAR2_AREA1_SIZE, PROT_READ, MAP_SHARED, self->v.device,
		 BAR2 + TDEV_BAR2_AREA1_OFFSET);
	EXPECT_EQ(MAP_FAILED, p);
	p = mmap(NULL, page, PROT_READ, MAP_PRIVATE, self->v.device, BAR2);
	EXPECT_EQ(MAP_FAILED, p);
	p = mmap(NULL, page, PROT_READ, MAP_SHARED, self->v.device, BAR0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);

	munmap((void *)area0, TDEV_BAR2_AREA0_SIZE);
	munmap((void *)area1, TDEV_BAR2_AREA1_SIZE);
}

/* The server dies under an attached VMM: ERR fires, accesses fail fast. */
TEST_F(vdev, server_death_raises_err)
{
	int32_t efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	long long start;
	uint32_t val;

	ASSERT_GE(efd, 0);
	ASSERT_EQ(0, set_eventfds(self->v.device, VFIO_PCI_ERR_IRQ_INDEX, 0, 1, &efd));
	EXPECT_FALSE(vu_eventfd_fired(efd, 0));
	vu_server_stop(&self->srv);
	EXPECT_TRUE(vu_eventfd_fired(efd, 2000));
	start = vu_now_ms();
	EXPECT_EQ(-1, pread(self->v.device, &val, 4, BAR0));
	EXPECT_EQ(EIO, errno);
	EXPECT_EQ(-1, ioctl(self->v.device, VFIO_DEVICE_RESET));
	EXPECT_EQ(EIO, errno);
	EXPECT_LT(vu_now_ms() - start, vu_ms(500));
	/* What needs no server still answers. */
	struct vfio_device_info info = { .argsz = sizeof(info) };

	EXPECT_EQ(0, ioctl(self->v.device, VFIO_DEVICE_GET_INFO, &info));
	close(efd);
}

struct unbinder {
	char name[32];
	int err;
	long long done_at;
};

static void *unbind_fn(void *arg)
{
	struct unbinder *u = arg;

	u->err = vu_unbind(u->name);
	u->done_at = vu_now_ms();
	return NULL;
}

/*
 * del_device while the VMM holds the device: REQ asks the VMM to let go,
 * removal completes once it has.
 */
TEST_F(vdev, delete_while_open_asks_through_req)
{
	int32_t efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct unbinder u = { .err = -1 };
	long long closed_at;
	pthread_t th;

	ASSERT_GE(efd, 0);
	ASSERT_EQ(0, set_eventfds(self->v.device, VFIO_PCI_REQ_IRQ_INDEX, 0, 1, &efd));
	snprintf(u.name, sizeof(u.name), "%s", self->name);
	ASSERT_EQ(0, pthread_create(&th, NULL, unbind_fn, &u));

	EXPECT_TRUE(vu_eventfd_fired(efd, 3000));
	/* Still waiting for us. */
	EXPECT_EQ(0, u.done_at);
	closed_at = vu_now_ms();
	vu_vfio_close(&self->v);
	pthread_join(th, NULL);
	EXPECT_EQ(0, u.err);
	EXPECT_LT(u.done_at - closed_at, vu_ms(2000));
	EXPECT_FALSE(vu_exists(self->name));
	close(efd);
}

TEST_HARNESS_MAIN
