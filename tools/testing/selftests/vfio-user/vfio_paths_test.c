// SPDX-License-Identifier: GPL-2.0
/*
 * The device, its DMA and its lifecycle over each way a VMM reaches a
 * VFIO device (vu_test.h, "VFIO paths"):
 *
 *   type1   /dev/vfio/vfio as the group's container (every kernel);
 *   cdev    /dev/vfio/devices/vfioN bound to /dev/iommu, attached to an
 *           IOAS of its own, DMA by IOMMU_IOAS_MAP/UNMAP (CONFIG_IOMMUFD
 *           and CONFIG_VFIO_DEVICE_CDEV);
 *   compat  /dev/iommu as the group's container, type1's ioctls emulated
 *           by iommufd (CONFIG_IOMMUFD).
 *
 * A path the kernel lacks is skipped with the reason (Debian's 6.1 and
 * 6.12 have neither; make check-debug's kernel has both).  On each path:
 * the device's info, region access, reset, mmap and interrupts; DMA by
 * zero-copy window and by message, the window's pins as the VMM's mm is
 * charged for them (type1: VmLck, iommufd: VmPin) and as debugfs counts
 * them, given back by the VMM's unmap and by close; and bind/open/close
 * cycles, the server killed during DMA, a close racing an unmap.
 */
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "test_device.h"
#include "vu_test.h"

#define BAR0		vu_region_off(VFIO_PCI_BAR0_REGION_INDEX)
#define BAR2		vu_region_off(VFIO_PCI_BAR2_REGION_INDEX)
#define CONFIG		vu_region_off(VFIO_PCI_CONFIG_REGION_INDEX)

#define RW_IOVA		0x100000ULL	/* 1 MiB mapped read-write */
#define RW_SIZE		0x100000ULL
#define RO_IOVA		0x400000ULL	/* 64 KiB mapped read-only */
#define RO_SIZE		0x10000ULL
#define HOLE_IOVA	0x800000ULL	/* inside the window, never mapped */
#define XFER		0x8000
#define PAGE		4096

static const char *const no_args[] = { NULL };

/* Skip (from a setup, before anything is started) if the kernel lacks it. */
#define SKIP_UNLESS_PATH(path) do {					\
	char why_[160];							\
	if (!vu_path_available(path, why_, sizeof(why_)))		\
		SKIP(return, "%s: %s", vu_path_name(path), why_);	\
} while (0)

/* Did @efd fire within @ms (times VU_TIME_SCALE)?  Consumes the count. */
static int set_eventfds(int dev, uint32_t index, uint32_t count, const int32_t *fds)
{
	char buf[sizeof(struct vfio_irq_set) + 64 * sizeof(int32_t)];
	struct vfio_irq_set *set = (void *)buf;

	set->argsz = sizeof(*set) + count * sizeof(int32_t);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = index;
	set->start = 0;
	set->count = count;
	memcpy(set->data, fds, count * sizeof(int32_t));
	return ioctl(dev, VFIO_DEVICE_SET_IRQS, set) ? -errno : 0;
}

/* ---- the device ---- */

FIXTURE(pdev) {
	struct vu_server srv;
	struct vu_dev d;
	char name[32];
};

FIXTURE_VARIANT(pdev) {
	enum vu_path path;
};

FIXTURE_VARIANT_ADD(pdev, type1) { .path = VU_PATH_TYPE1 };
FIXTURE_VARIANT_ADD(pdev, cdev) { .path = VU_PATH_CDEV };
FIXTURE_VARIANT_ADD(pdev, compat) { .path = VU_PATH_COMPAT };

FIXTURE_SETUP(pdev)
{
	self->d.container = self->d.iommufd = self->d.group = self->d.device = -1;
	SKIP_UNLESS_PATH(variant->path);
	ASSERT_EQ(0, vu_server_startv(&self->srv, no_args));
	ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));
	ASSERT_EQ(0, vu_dev_open(self->name, variant->path, &self->d))
		TH_LOG("opening %s over the %s", self->name, vu_path_name(variant->path));
}

FIXTURE_TEARDOWN(pdev)
{
	vu_dev_close(&self->d);
	if (self->name[0] && vu_exists(self->name))
		vu_unbind(self->name);
	vu_server_stop(&self->srv);
}

/* What the device says of itself, the same on every path. */
TEST_F(pdev, info)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info rinfo;
	struct vfio_irq_info irq;
	char buf[512];
	struct vfio_region_info *big = (void *)buf;
	struct vfio_region_info_cap_sparse_mmap *sparse;
	static const uint32_t irq_counts[TDEV_NUM_IRQS] = { 1, 1, 8, 1, 1 };
	unsigned int i;

	ASSERT_EQ(0, ioctl(self->d.device, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_EQ(VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET, info.flags);
	EXPECT_EQ(TDEV_NUM_REGIONS, info.num_regions);
	EXPECT_EQ(TDEV_NUM_IRQS, info.num_irqs);

	rinfo = (struct vfio_region_info){ .argsz = sizeof(rinfo), .index = 0 };
	ASSERT_EQ(0, ioctl(self->d.device, VFIO_DEVICE_GET_REGION_INFO, &rinfo));
	EXPECT_EQ(TDEV_BAR0_SIZE, rinfo.size);
	EXPECT_EQ((uint64_t)BAR0, rinfo.offset);

	memset(buf, 0, sizeof(buf));
	big->argsz = sizeof(buf);
	big->index = VFIO_PCI_BAR2_REGION_INDEX;
	ASSERT_EQ(0, ioctl(self->d.device, VFIO_DEVICE_GET_REGION_INFO, big));
	EXPECT_TRUE(big->flags & VFIO_REGION_INFO_FLAG_MMAP);
	ASSERT_TRUE(big->flags & VFIO_REGION_INFO_FLAG_CAPS);
	ASSERT_EQ(sizeof(*big), big->cap_offset);
	sparse = (void *)(buf + big->cap_offset);
	EXPECT_EQ(VFIO_REGION_INFO_CAP_SPARSE_MMAP, sparse->header.id);
	EXPECT_EQ(TDEV_BAR2_NR_AREAS, sparse->nr_areas);

	for (i = 0; i < TDEV_NUM_IRQS; i++) {
		irq = (struct vfio_irq_info){ .argsz = sizeof(irq), .index = i };
		ASSERT_EQ(0, ioctl(self->d.device, VFIO_DEVICE_GET_IRQ_INFO, &irq));
		EXPECT_EQ(irq_counts[i], irq.count) TH_LOG("irq index %u", i);
	}
}

/* Trapped registers, config space and reset reach the server. */
TEST_F(pdev, access_and_reset)
{
	int fd = self->d.device;
	uint32_t before;
	uint16_t ids[2];

	EXPECT_EQ(TDEV_MAGIC_VALUE, vu_reg_read(fd, TDEV_REG_MAGIC));
	ASSERT_EQ(4, pread(fd, ids, 4, CONFIG));
	EXPECT_EQ(TDEV_VENDOR_ID, ids[0]);
	EXPECT_EQ(TDEV_DEVICE_ID, ids[1]);
	ASSERT_EQ(0, vu_reg_write(fd, TDEV_REG_SCRATCH, 0xabcd1234));
	EXPECT_EQ(0xabcd1234, vu_reg_read(fd, TDEV_REG_SCRATCH));
	before = vu_reg_read(fd, TDEV_REG_RESET_COUNT);
	ASSERT_EQ(0, ioctl(fd, VFIO_DEVICE_RESET));
	EXPECT_EQ(before + 1, vu_reg_read(fd, TDEV_REG_RESET_COUNT));
	EXPECT_EQ(0, vu_reg_read(fd, TDEV_REG_SCRATCH));
}

/* BAR2's sparse areas map the server's memory into the VMM. */
TEST_F(pdev, mmap_is_server_memory)
{
	volatile uint32_t *area0;
	uint32_t val;

	area0 = mmap(NULL, TDEV_BAR2_AREA0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     self->d.device, BAR2 + TDEV_BAR2_AREA0_OFFSET);
	ASSERT_NE(MAP_FAILED, area0);
	ASSERT_EQ(0, vu_reg_write(self->d.device, TDEV_REG_BAR2_FILL, 0x5a5ac3c3));
	EXPECT_EQ(0x5a5ac3c3, area0[0]);
	area0[3] = 0x600dcafe;
	ASSERT_EQ(4, pread(self->d.device, &val, 4, BAR2 + 12));
	EXPECT_EQ(0x600dcafe, val);
	munmap((void *)area0, TDEV_BAR2_AREA0_SIZE);
}

/* The server signals the VMM's eventfds: MSI-X vector by vector, INTx. */
TEST_F(pdev, interrupts)
{
	int32_t fds[TDEV_MSIX_COUNT], intx;
	unsigned int i, j;

	for (i = 0; i < TDEV_MSIX_COUNT; i++) {
		fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		ASSERT_GE(fds[i], 0);
	}
	ASSERT_EQ(0, set_eventfds(self->d.device, VFIO_PCI_MSIX_IRQ_INDEX,
				  TDEV_MSIX_COUNT, fds));
	for (i = 0; i < TDEV_MSIX_COUNT; i++) {
		ASSERT_EQ(0, vu_reg_write(self->d.device, TDEV_REG_IRQ_RAISE,
					  TDEV_IRQ_RAISE_MSIX(i)));
		EXPECT_TRUE(vu_eventfd_fired(fds[i], 2000)) TH_LOG("vector %u", i);
		for (j = 0; j < TDEV_MSIX_COUNT; j++)
			if (j != i)
				EXPECT_FALSE(vu_eventfd_fired(fds[j], 0)) TH_LOG("vector %u on %u", j, i);
	}
	for (i = 0; i < TDEV_MSIX_COUNT; i++)
		close(fds[i]);

	intx = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_GE(intx, 0);
	ASSERT_EQ(0, set_eventfds(self->d.device, VFIO_PCI_INTX_IRQ_INDEX, 1, &intx));
	ASSERT_EQ(0, vu_reg_write(self->d.device, TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_INTX));
	EXPECT_TRUE(vu_eventfd_fired(intx, 2000));
	close(intx);
}

/* The server dies: ERR fires, accesses fail at once. */
TEST_F(pdev, server_death_raises_err)
{
	int32_t efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	long long start;
	uint32_t val;

	ASSERT_GE(efd, 0);
	ASSERT_EQ(0, set_eventfds(self->d.device, VFIO_PCI_ERR_IRQ_INDEX, 1, &efd));
	vu_server_stop(&self->srv);
	EXPECT_TRUE(vu_eventfd_fired(efd, 2000));
	start = vu_now_ms();
	EXPECT_EQ(-1, pread(self->d.device, &val, 4, BAR0));
	EXPECT_EQ(EIO, errno);
	EXPECT_LT(vu_now_ms() - start, vu_ms(500));
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

/* del_device while open: REQ asks the VMM to let go; removal then ends. */
TEST_F(pdev, delete_while_open_asks_through_req)
{
	int32_t efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct unbinder u = { .err = -1 };
	long long closed_at;
	pthread_t th;

	ASSERT_GE(efd, 0);
	ASSERT_EQ(0, set_eventfds(self->d.device, VFIO_PCI_REQ_IRQ_INDEX, 1, &efd));
	snprintf(u.name, sizeof(u.name), "%s", self->name);
	ASSERT_EQ(0, pthread_create(&th, NULL, unbind_fn, &u));
	EXPECT_TRUE(vu_eventfd_fired(efd, 3000));
	EXPECT_EQ(0, u.done_at);
	closed_at = vu_now_ms();
	vu_dev_close(&self->d);
	pthread_join(th, NULL);
	EXPECT_EQ(0, u.err);
	EXPECT_LT(u.done_at - closed_at, vu_ms(2000));
	EXPECT_FALSE(vu_exists(self->name));
	close(efd);
}

/* ---- DMA ---- */

FIXTURE(pdma) {
	struct vu_server srv;
	struct vu_dev d;
	char name[32];
	uint8_t *rw;
	uint8_t *ro;
	long pin_base;		/* the VMM's pin counter before any DMA, kB */
};

FIXTURE_VARIANT(pdma) {
	enum vu_path path;
	const char *mode;	/* written to dma_mode, and what dma_active says */
	uint32_t used;		/* DMA_MODE_USED after a transfer */
};

FIXTURE_VARIANT_ADD(pdma, type1_zero_copy) {
	.path = VU_PATH_TYPE1, .mode = "zero-copy", .used = TDEV_DMA_MODE_FD,
};
FIXTURE_VARIANT_ADD(pdma, type1_message) {
	.path = VU_PATH_TYPE1, .mode = "message", .used = TDEV_DMA_MODE_MSG,
};
FIXTURE_VARIANT_ADD(pdma, cdev_zero_copy) {
	.path = VU_PATH_CDEV, .mode = "zero-copy", .used = TDEV_DMA_MODE_FD,
};
FIXTURE_VARIANT_ADD(pdma, cdev_message) {
	.path = VU_PATH_CDEV, .mode = "message", .used = TDEV_DMA_MODE_MSG,
};
FIXTURE_VARIANT_ADD(pdma, compat_zero_copy) {
	.path = VU_PATH_COMPAT, .mode = "zero-copy", .used = TDEV_DMA_MODE_FD,
};
FIXTURE_VARIANT_ADD(pdma, compat_message) {
	.path = VU_PATH_COMPAT, .mode = "message", .used = TDEV_DMA_MODE_MSG,
};

static bool zero_copy(const FIXTURE_VARIANT(pdma) *variant)
{
	return !strcmp(variant->mode, "zero-copy");
}

/* The VMM's pin counter for this path, kB. */
static long pinned_kb(enum vu_path path)
{
	return vu_status_kb(vu_path_pin_key(path));
}

FIXTURE_SETUP(pdma)
{
	char buf[32];

	self->d.container = self->d.iommufd = self->d.group = self->d.device = -1;
	SKIP_UNLESS_PATH(variant->path);
	self->rw = mmap(NULL, RW_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->rw);
	self->ro = mmap(NULL, RO_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->ro);
	ASSERT_EQ(0, vu_server_startv(&self->srv, no_args));
	ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));
	ASSERT_EQ(0, vu_set_attr(self->name, "dma_mode", variant->mode));
	ASSERT_EQ(0, vu_dev_open(self->name, variant->path, &self->d))
		TH_LOG("opening %s over the %s", self->name, vu_path_name(variant->path));
	EXPECT_STREQ(variant->mode, vu_attr(self->name, "dma_active", buf, sizeof(buf)));
	ASSERT_EQ(0, vu_dev_map(&self->d, self->rw, RW_IOVA, RW_SIZE,
				VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));
	ASSERT_EQ(0, vu_dev_map(&self->d, self->ro, RO_IOVA, RO_SIZE,
				VFIO_DMA_MAP_FLAG_READ));
	/* Mapping pins nothing: no IOMMU domain behind an emulated device. */
	self->pin_base = pinned_kb(variant->path);
	ASSERT_GE(self->pin_base, 0) TH_LOG("no %s in /proc/self/status",
					    vu_path_pin_key(variant->path));
}

FIXTURE_TEARDOWN(pdma)
{
	vu_dev_close(&self->d);
	if (self->name[0] && vu_exists(self->name))
		vu_unbind(self->name);
	vu_server_stop(&self->srv);
	if (self->rw && self->rw != MAP_FAILED)
		munmap(self->rw, RW_SIZE);
	if (self->ro && self->ro != MAP_FAILED)
		munmap(self->ro, RO_SIZE);
}

/*
 * Let the engine read [iova, iova + len) of guest memory into BAR2 a
 * BAR2's worth at a time, so that in zero-copy mode every page of it is
 * pinned.  Returns the number of transfers that failed.
 */
static int touch(int fd, uint64_t iova, uint64_t len)
{
	uint64_t off;
	int failed = 0;

	for (off = 0; off < len; off += TDEV_BAR2_SIZE)
		failed += vu_engine_run(fd, iova + off, 0,
					len - off < TDEV_BAR2_SIZE ? len - off : TDEV_BAR2_SIZE,
					false) != 0;
	return failed;
}

/* Guest memory to BAR2 and back, the data intact both ways. */
TEST_F(pdma, round_trip)
{
	static uint8_t bar[XFER];
	int fd = self->d.device;

	vu_fill(self->rw, XFER, 7);
	ASSERT_EQ(0, vu_engine_run(fd, RW_IOVA, 0, XFER, false));
	EXPECT_EQ(variant->used, vu_reg_read(fd, TDEV_REG_DMA_MODE_USED));
	ASSERT_EQ(XFER, pread(fd, bar, XFER, BAR2));
	EXPECT_EQ(0, memcmp(bar, self->rw, XFER));
	memset(self->rw + RW_SIZE / 2, 0, XFER);
	ASSERT_EQ(0, vu_engine_run(fd, 0, RW_IOVA + RW_SIZE / 2, XFER, true));
	EXPECT_EQ(0, memcmp(self->rw + RW_SIZE / 2, bar, XFER));
	/* Read-only memory reads fine. */
	vu_fill(self->ro, PAGE, 99);
	ASSERT_EQ(0, vu_engine_run(fd, RO_IOVA, 0, PAGE, false));
	ASSERT_EQ(PAGE, pread(fd, bar, PAGE, BAR2));
	EXPECT_EQ(0, memcmp(bar, self->ro, PAGE));
}

/* IOVA never mapped, or mapped read-only and written: refused, untouched. */
TEST_F(pdma, refusals)
{
	static uint8_t before[RO_SIZE];
	int err;

	err = vu_engine_run(self->d.device, HOLE_IOVA, 0, PAGE, false);
	EXPECT_TRUE(err == EFAULT || err == EINVAL) TH_LOG("hole read: engine errno %d", err);
	err = vu_engine_run(self->d.device, 0, HOLE_IOVA, PAGE, true);
	EXPECT_TRUE(err == EFAULT || err == EINVAL) TH_LOG("hole write: engine errno %d", err);

	vu_fill(self->ro, RO_SIZE, 3);
	memcpy(before, self->ro, RO_SIZE);
	ASSERT_EQ(0, vu_reg_write(self->d.device, TDEV_REG_BAR2_FILL, 0x5a5a5a5a));
	err = vu_engine_run(self->d.device, 0, RO_IOVA, PAGE, true);
	EXPECT_TRUE(err == EFAULT || err == EPERM) TH_LOG("read-only write: engine errno %d", err);
	EXPECT_EQ(0, memcmp(before, self->ro, RO_SIZE));
	EXPECT_STREQ("connected", vu_attr(self->name, "state", (char[32]){}, 32));
}

/*
 * The server faults guest memory in (zero-copy) or reads it by message;
 * the VMM unmaps it.  Zero-copy: every page touched is pinned once,
 * debugfs and the VMM's mm agree on how many, and the unmap gives them all
 * back before it returns; by message nothing is pinned at all.  After the
 * unmap the server reaches nothing there; mapped again, DMA works.
 */
TEST_F(pdma, unmap_gives_pins_back)
{
	static uint8_t saved[XFER];
	const char *key = vu_path_pin_key(variant->path);
	int fd = self->d.device;
	long long pinned;
	long kb;
	int err;

	vu_fill(self->rw, RW_SIZE, 21);
	ASSERT_EQ(0, touch(fd, RW_IOVA, RW_SIZE));
	pinned = vu_stat(self->name, "dma_pinned_pages");
	kb = pinned_kb(variant->path) - self->pin_base;
	if (zero_copy(variant)) {
		EXPECT_EQ(RW_SIZE / PAGE, pinned);
		EXPECT_EQ((long)(RW_SIZE / 1024), kb) TH_LOG("%s grew by %ld kB", key, kb);
	} else {
		EXPECT_EQ(0, pinned);
		EXPECT_EQ(0, kb) TH_LOG("%s grew by %ld kB", key, kb);
	}

	err = vu_dev_unmap(&self->d, RW_IOVA, RW_SIZE);
	ASSERT_EQ(0, err) TH_LOG("unmapping IOVA the server pinned: %s", strerror(-err));
	EXPECT_EQ(0, vu_stat(self->name, "dma_pinned_pages"));
	EXPECT_EQ(self->pin_base, pinned_kb(variant->path)) TH_LOG("%s", key);

	memcpy(saved, self->rw, XFER);
	ASSERT_EQ(0, vu_reg_write(fd, TDEV_REG_BAR2_FILL, 0x11223344));
	err = vu_engine_run(fd, 0, RW_IOVA, XFER, true);
	EXPECT_TRUE(err == EFAULT || err == EINVAL) TH_LOG("engine errno %d", err);
	EXPECT_EQ(0, memcmp(saved, self->rw, XFER));
	EXPECT_EQ(0, vu_stat(self->name, "dma_pinned_pages"));

	usleep(400000);
	ASSERT_EQ(0, vu_dev_map(&self->d, self->rw, RW_IOVA, RW_SIZE,
				VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));
	EXPECT_EQ(0, vu_engine_run(fd, 0, RW_IOVA, XFER, true));
	EXPECT_EQ(0x44, self->rw[0]);
	ASSERT_EQ(0, vu_dev_unmap(&self->d, RW_IOVA, RW_SIZE));
	EXPECT_EQ(0, vu_stat(self->name, "dma_pinned_pages"));
	EXPECT_EQ(self->pin_base, pinned_kb(variant->path)) TH_LOG("%s", key);
	EXPECT_STREQ("connected", vu_attr(self->name, "state", (char[32]){}, 32));
}

/*
 * Two mappings side by side, both touched; unmapping one gives back its
 * pages only, the other still works.
 */
TEST_F(pdma, unmap_of_one_mapping_spares_the_other)
{
	const uint64_t half = RW_SIZE / 2;
	int fd = self->d.device;
	long kb;

	ASSERT_EQ(0, vu_dev_unmap(&self->d, RW_IOVA, RW_SIZE));
	ASSERT_EQ(0, vu_dev_map(&self->d, self->rw, RW_IOVA, half,
				VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));
	ASSERT_EQ(0, vu_dev_map(&self->d, self->rw + half, RW_IOVA + half, half,
				VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));
	ASSERT_EQ(0, touch(fd, RW_IOVA, RW_SIZE));
	if (zero_copy(variant))
		EXPECT_EQ(RW_SIZE / PAGE, vu_stat(self->name, "dma_pinned_pages"));

	ASSERT_EQ(0, vu_dev_unmap(&self->d, RW_IOVA, half));
	kb = pinned_kb(variant->path) - self->pin_base;
	if (zero_copy(variant)) {
		EXPECT_EQ(half / PAGE, vu_stat(self->name, "dma_pinned_pages"));
		EXPECT_EQ((long)(half / 1024), kb);
	} else {
		EXPECT_EQ(0, kb);
	}
	vu_fill(self->rw + half, PAGE, 5);
	EXPECT_EQ(0, vu_engine_run(fd, RW_IOVA + half, 0, PAGE, false));
	EXPECT_NE(0, vu_engine_run(fd, RW_IOVA, 0, PAGE, false));

	ASSERT_EQ(0, vu_dev_unmap(&self->d, RW_IOVA + half, half));
	EXPECT_EQ(0, vu_stat(self->name, "dma_pinned_pages"));
	EXPECT_EQ(self->pin_base, pinned_kb(variant->path));
}

/* Closing the device unpins everything, without any unmap. */
TEST_F(pdma, close_gives_pins_back)
{
	ASSERT_EQ(0, touch(self->d.device, RW_IOVA, RW_SIZE));
	if (zero_copy(variant))
		EXPECT_LT(self->pin_base, pinned_kb(variant->path));
	vu_dev_close_device(&self->d);
	EXPECT_EQ(0, vu_stat(self->name, "dma_pinned_pages"));
	EXPECT_EQ(self->pin_base, pinned_kb(variant->path))
		TH_LOG("%s", vu_path_pin_key(variant->path));
	EXPECT_STREQ("none", vu_attr(self->name, "dma_active", (char[32]){}, 32));
	/* The mappings are the container's or IOAS's: they are still there. */
	EXPECT_EQ(0, vu_dev_unmap(&self->d, RW_IOVA, RW_SIZE));
	vu_dev_close(&self->d);
	EXPECT_EQ(0, vu_unbind(self->name));
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
}

/* ---- lifecycles ---- */

FIXTURE(plife) {
	int groups;
	int fds;
};

FIXTURE_VARIANT(plife) {
	enum vu_path path;
};

FIXTURE_VARIANT_ADD(plife, type1) { .path = VU_PATH_TYPE1 };
FIXTURE_VARIANT_ADD(plife, cdev) { .path = VU_PATH_CDEV };
FIXTURE_VARIANT_ADD(plife, compat) { .path = VU_PATH_COMPAT };

FIXTURE_SETUP(plife)
{
	SKIP_UNLESS_PATH(variant->path);
	self->groups = vu_count_groups();
	self->fds = vu_count_fds();
}

FIXTURE_TEARDOWN(plife)
{
}

/*
 * bind, open over the path, DMA with zero copies, close, delete; again
 * and again: nothing stays behind (groups, fds, pins, module references).
 */
TEST_F(plife, cycles)
{
	int rounds = vu_stress(10), round, errors = 0;
	long base = pinned_kb(variant->path);
	uint8_t *mem;

	mem = mmap(NULL, TDEV_BAR2_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	for (round = 0; round < rounds; round++) {
		struct vu_server srv;
		struct vu_dev d;
		char name[32];
		int err;

		ASSERT_EQ(0, vu_server_startv(&srv, no_args));
		ASSERT_EQ(0, vu_bind(srv.path, name, sizeof(name)));
		err = vu_dev_open(name, variant->path, &d);
		if (!err)
			err = vu_dev_map(&d, mem, RW_IOVA, TDEV_BAR2_SIZE,
					 VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
		if (!err && vu_reg_read(d.device, TDEV_REG_MAGIC) != TDEV_MAGIC_VALUE)
			err = -EIO;
		if (!err)
			err = vu_engine_run(d.device, RW_IOVA, 0, TDEV_BAR2_SIZE, false) ? -EIO : 0;
		if (err && errors++ < 3)
			TH_LOG("round %d: %s", round, strerror(-err));
		vu_dev_close(&d);
		EXPECT_EQ(0, vu_stat(name, "dma_pinned_pages")) TH_LOG("round %d", round);
		EXPECT_EQ(0, vu_unbind(name));
		vu_server_stop(&srv);
	}
	munmap(mem, TDEV_BAR2_SIZE);
	EXPECT_EQ(0, errors);
	EXPECT_EQ(base, pinned_kb(variant->path));
	EXPECT_EQ(self->groups, vu_count_groups());
	EXPECT_EQ(self->fds, vu_count_fds());
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
}

#define KILL_TIMEOUT_MS	1000
#define KILL_THREADS	3

struct dma_worker {
	int fd;
	int index;
	volatile bool *stop;
	int last_err;
	long long last_start;
	long long last_return;
	long ops;
};

static void *dma_worker_fn(void *arg)
{
	struct dma_worker *w = arg;

	while (!*w->stop) {
		uint64_t guest = RW_IOVA + ((w->index * 4 + (w->ops & 3)) * PAGE * 4) % RW_SIZE;
		bool to_guest = w->ops & 1;
		uint32_t status;
		int err;

		w->last_start = vu_now_ms();
		err = vu_dma_go(w->fd, to_guest ? 0 : guest, to_guest ? guest : 0,
				TDEV_BAR2_SIZE / 4, to_guest);
		if (!err) {
			do {
				if (pread(w->fd, &status, 4, BAR0 + TDEV_REG_DMA_STATUS) != 4) {
					err = -errno;
					break;
				}
			} while (status == TDEV_DMA_STATUS_BUSY && !*w->stop);
		}
		w->last_err = -err;
		w->last_return = vu_now_ms();
		w->ops++;
		if (err)
			break;
	}
	return NULL;
}

/*
 * The server killed while VMM threads DMA through the path, zero-copy and
 * message mode in turn: every caller is back within the timeout with an
 * error, the device goes broken, close gives every pin back, the device
 * deletes.
 */
TEST_F(plife, kill_during_dma)
{
	int rounds = vu_stress(6), round, i;
	long base = pinned_kb(variant->path);
	char ms[16];
	uint8_t *mem;

	snprintf(ms, sizeof(ms), "%d", KILL_TIMEOUT_MS);
	srand(getpid());
	mem = mmap(NULL, RW_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	for (round = 0; round < rounds; round++) {
		struct dma_worker w[KILL_THREADS];
		pthread_t th[KILL_THREADS];
		volatile bool stop = false;
		struct vu_server srv;
		struct vu_dev d;
		char name[32];
		long long killed;

		ASSERT_EQ(0, vu_server_startv(&srv, no_args));
		ASSERT_EQ(0, vu_bind(srv.path, name, sizeof(name)));
		ASSERT_EQ(0, vu_set_attr(name, "request_timeout_ms", ms));
		ASSERT_EQ(0, vu_set_attr(name, "dma_mode", round & 1 ? "message" : "zero-copy"));
		ASSERT_EQ(0, vu_dev_open(name, variant->path, &d));
		ASSERT_EQ(0, vu_dev_map(&d, mem, RW_IOVA, RW_SIZE,
					VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));
		for (i = 0; i < KILL_THREADS; i++) {
			w[i] = (struct dma_worker){ .fd = d.device, .index = i, .stop = &stop };
			ASSERT_EQ(0, pthread_create(&th[i], NULL, dma_worker_fn, &w[i]));
		}
		usleep(rand() % 30000);
		killed = vu_now_ms();
		vu_server_stop(&srv);
		for (i = 0; i < KILL_THREADS; i++) {
			long long end = killed + KILL_TIMEOUT_MS + vu_ms(1000);

			while (!w[i].last_err && vu_now_ms() < end)
				usleep(5000);
		}
		stop = true;
		for (i = 0; i < KILL_THREADS; i++) {
			pthread_join(th[i], NULL);
			EXPECT_LE(w[i].last_return - killed, KILL_TIMEOUT_MS + vu_ms(1000))
				TH_LOG("round %d thread %d", round, i);
			EXPECT_TRUE(w[i].last_err == EIO || w[i].last_err == ETIMEDOUT ||
				    w[i].last_err == 0)
				TH_LOG("round %d thread %d: errno %d", round, i, w[i].last_err);
		}
		EXPECT_TRUE(vu_wait_attr(name, "state", "broken", vu_ms(2000)));
		vu_dev_close(&d);
		EXPECT_EQ(0, vu_stat(name, "dma_pinned_pages")) TH_LOG("round %d", round);
		EXPECT_EQ(base, pinned_kb(variant->path)) TH_LOG("round %d", round);
		ASSERT_EQ(0, vu_unbind(name));
	}
	munmap(mem, RW_SIZE);
	EXPECT_EQ(self->groups, vu_count_groups());
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
}

struct racer {
	struct vu_dev *d;
	volatile int go;
	unsigned int delay_us;
	int err;
};

static void *unmap_racer_fn(void *arg)
{
	struct racer *r = arg;

	while (!r->go)
		;
	usleep(r->delay_us);
	r->err = vu_dev_unmap(r->d, RW_IOVA, RW_SIZE);
	return NULL;
}

/*
 * One thread closes the device while another unmaps IOVA whose pages the
 * server has pinned: the unmap succeeds, before or after the close, and
 * nothing stays pinned.  (type1 BUG()s, iommufd WARNs and fails the unmap
 * with EDEADLOCK, if a driver leaves pages of an unmapped range pinned.)
 */
TEST_F(plife, close_against_unmap)
{
	int rounds = vu_stress(40), round, bad_unmaps = 0, touch_failures = 0;
	int old_panic = vu_panic_on_oops();
	long long start = vu_now_ms(), close_ms = 0;
	struct vu_server srv;
	struct vu_dev d;
	char name[32];
	uint8_t *mem;
	long base;

	mem = mmap(NULL, RW_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_EQ(0, vu_server_startv(&srv, no_args));
	ASSERT_EQ(0, vu_bind(srv.path, name, sizeof(name)));
	ASSERT_EQ(0, vu_set_attr(name, "dma_mode", "zero-copy"));
	ASSERT_EQ(0, vu_dev_open(name, variant->path, &d));
	base = pinned_kb(variant->path);
	srand(getpid());
	for (round = 0; round < rounds; round++) {
		struct racer r = { .d = &d };
		long long t0;
		pthread_t th;

		if (vu_now_ms() - start > vu_ms(10000)) {
			TH_LOG("stopping after %d rounds: time is up", round);
			rounds = round;
			break;
		}
		if (round)
			ASSERT_EQ(0, vu_dev_open_device(&d));
		ASSERT_EQ(0, vu_dev_map(&d, mem, RW_IOVA, RW_SIZE,
					VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE))
			TH_LOG("round %d", round);
		touch_failures += touch(d.device, RW_IOVA, RW_SIZE);
		r.delay_us = round > 1 ? rand() % (close_ms * 1000 / round + 1) : 0;
		ASSERT_EQ(0, pthread_create(&th, NULL, unmap_racer_fn, &r));
		t0 = vu_now_ms();
		r.go = 1;
		vu_dev_close_device(&d);
		close_ms += vu_now_ms() - t0;
		pthread_join(th, NULL);
		if (r.err && bad_unmaps++ < 3)
			TH_LOG("round %d: unmap failed: %s", round, strerror(-r.err));
		EXPECT_EQ(0, vu_stat(name, "dma_pinned_pages")) TH_LOG("round %d", round);
	}
	TH_LOG("%d rounds over the %s", rounds, vu_path_name(variant->path));
	EXPECT_EQ(0, touch_failures);
	EXPECT_EQ(0, bad_unmaps);
	EXPECT_EQ(base, pinned_kb(variant->path));
	EXPECT_STREQ("connected", vu_attr(name, "state", (char[32]){}, 32));
	vu_dev_close(&d);
	EXPECT_EQ(0, vu_unbind(name));
	vu_server_stop(&srv);
	munmap(mem, RW_SIZE);
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
	vu_panic_on_oops_restore(old_panic);
}

TEST_HARNESS_MAIN
