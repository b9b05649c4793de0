// SPDX-License-Identifier: GPL-2.0
/*
 * DMA as a VMM sees it: memory mapped through the container, the test
 * device's DMA engine copying between it and BAR2 in both directions, in
 * zero-copy mode (the server maps our file, its faults pin the VMM's
 * pages) and in message mode (DMA_READ/DMA_WRITE served by the kernel);
 * an unmapped IOVA, a read-only mapping, an unmap under the server's feet
 * and IOVA outside the window are all refused, and nothing stays pinned.
 */
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "test_device.h"
#include "vu_test.h"

#define BAR0		vu_region_off(VFIO_PCI_BAR0_REGION_INDEX)
#define BAR2		vu_region_off(VFIO_PCI_BAR2_REGION_INDEX)

#define RW_IOVA		0x100000ULL	/* 1 MiB mapped read-write */
#define RW_SIZE		0x100000ULL
#define RO_IOVA		0x400000ULL	/* 64 KiB mapped read-only */
#define RO_SIZE		0x10000ULL
#define HOLE_IOVA	0x800000ULL	/* inside the window, never mapped */
#define XFER		0x8000		/* 32 KiB per transfer */

FIXTURE(dma) {
	struct vu_server srv;
	struct vu_vfio v;
	char name[32];
	uint8_t *rw;
	uint8_t *ro;
};

FIXTURE_VARIANT(dma) {
	const char *const *args;
	const char *mode;		/* written to dma_mode before open */
	const char *active;		/* what dma_active must say */
	uint32_t used;			/* DMA_MODE_USED after a transfer */
};

FIXTURE_VARIANT_ADD(dma, zero_copy) {
	.args = (const char *const[]){ NULL },
	.mode = "zero-copy",
	.active = "zero-copy",
	.used = TDEV_DMA_MODE_FD,
};

FIXTURE_VARIANT_ADD(dma, message) {
	.args = (const char *const[]){ NULL },
	.mode = "message",
	.active = "message",
	.used = TDEV_DMA_MODE_MSG,
};

/* A server that refuses our fd: the driver falls back to messages. */
FIXTURE_VARIANT_ADD(dma, fd_refused) {
	.args = (const char *const[]){ "--no-dma-fd", NULL },
	.mode = "zero-copy",
	.active = "message",
	.used = TDEV_DMA_MODE_MSG,
};

/*
 * Run one transfer and wait for it; returns 0 when DONE, else the engine's
 * errno (or ETIMEDOUT if it stayed busy).
 */
static int engine_run(int fd, uint64_t src, uint64_t dst, uint32_t len,
		      bool to_guest)
{
	long long end = vu_now_ms() + vu_ms(5000);
	uint32_t status;

	/* A failed write leaves nothing to poll: what a failed read says. */
	if (vu_dma_go(fd, src, dst, len, to_guest))
		return -1;
	do {
		status = vu_reg_read(fd, TDEV_REG_DMA_STATUS);
		if (status == TDEV_DMA_STATUS_DONE)
			return 0;
		if (status == TDEV_DMA_STATUS_ERROR)
			return vu_reg_read(fd, TDEV_REG_DMA_ERROR);
		if (status != TDEV_DMA_STATUS_BUSY)
			return -1;
		usleep(1000);
	} while (vu_now_ms() < end);
	return ETIMEDOUT;
}

static void fill(uint8_t *p, size_t len, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 131 + (i >> 8));
}

FIXTURE_SETUP(dma)
{
	char buf[32];

	self->v.container = self->v.group = self->v.device = -1;
	self->rw = mmap(NULL, RW_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->rw);
	self->ro = mmap(NULL, RO_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->ro);

	ASSERT_EQ(0, vu_server_startv(&self->srv, variant->args));
	ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));
	ASSERT_EQ(0, vu_set_attr(self->name, "dma_mode", variant->mode));
	EXPECT_STREQ("none", vu_attr(self->name, "dma_active", buf, sizeof(buf)));
	ASSERT_EQ(0, vu_vfio_open(self->name, &self->v));
	EXPECT_STREQ(variant->active, vu_attr(self->name, "dma_active", buf, sizeof(buf)));
	/* Settings are fixed while open. */
	EXPECT_EQ(-EBUSY, vu_set_attr(self->name, "dma_mode", "message"));

	ASSERT_EQ(0, vu_map_dma(self->v.container, self->rw, RW_IOVA, RW_SIZE,
			     VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));
	ASSERT_EQ(0, vu_map_dma(self->v.container, self->ro, RO_IOVA, RO_SIZE,
			     VFIO_DMA_MAP_FLAG_READ));
}

FIXTURE_TEARDOWN(dma)
{
	vu_vfio_close(&self->v);
	if (vu_exists(self->name))
		vu_unbind(self->name);
	vu_server_stop(&self->srv);
	munmap(self->rw, RW_SIZE);
	munmap(self->ro, RO_SIZE);
}

/* Guest memory to BAR2 and back, the data intact both ways. */
TEST_F(dma, round_trip)
{
	static uint8_t bar[XFER];
	int fd = self->v.device;

	fill(self->rw, XFER, 7);
	ASSERT_EQ(0, engine_run(fd, RW_IOVA, 0, XFER, false));
	EXPECT_EQ(variant->used, vu_reg_read(fd, TDEV_REG_DMA_MODE_USED));
	ASSERT_EQ(XFER, pread(fd, bar, XFER, BAR2));
	EXPECT_EQ(0, memcmp(bar, self->rw, XFER));

	/* BAR2 back to another place in guest memory. */
	memset(self->rw + RW_SIZE / 2, 0, XFER);
	ASSERT_EQ(0, engine_run(fd, 0, RW_IOVA + RW_SIZE / 2, XFER, true));
	EXPECT_EQ(0, memcmp(self->rw + RW_SIZE / 2, bar, XFER));
	EXPECT_EQ(2, vu_reg_read(fd, TDEV_REG_DMA_COUNT));

	/* A read-only mapping is fine to read from. */
	fill(self->ro, 4096, 99);
	ASSERT_EQ(0, engine_run(fd, RO_IOVA, 0, 4096, false));
	ASSERT_EQ(4096, pread(fd, bar, 4096, BAR2));
	EXPECT_EQ(0, memcmp(bar, self->ro, 4096));
}

/* IOVA the VMM never mapped: refused, nothing touched. */
TEST_F(dma, unmapped_iova_refused)
{
	int err = engine_run(self->v.device, HOLE_IOVA, 0, 4096, false);

	EXPECT_TRUE(err == EFAULT || err == EINVAL) TH_LOG("engine errno %d", err);
	err = engine_run(self->v.device, 0, HOLE_IOVA, 4096, true);
	EXPECT_TRUE(err == EFAULT || err == EINVAL) TH_LOG("engine errno %d", err);
	/* Straddling the end of a mapping is refused whole. */
	err = engine_run(self->v.device, 0, RW_IOVA + RW_SIZE - 4096, 8192, true);
	EXPECT_TRUE(err == EFAULT || err == EINVAL) TH_LOG("engine errno %d", err);
	EXPECT_STREQ("connected", vu_attr(self->name, "state", (char[32]){}, 32));
}

/* A write to IOVA mapped read-only is refused; the memory is unchanged. */
TEST_F(dma, read_only_stays_read_only)
{
	static uint8_t before[RO_SIZE];
	int err;

	fill(self->ro, RO_SIZE, 3);
	memcpy(before, self->ro, RO_SIZE);
	ASSERT_EQ(0, vu_reg_write(self->v.device, TDEV_REG_BAR2_FILL, 0x5a5a5a5a));
	err = engine_run(self->v.device, 0, RO_IOVA, 4096, true);
	EXPECT_TRUE(err == EFAULT || err == EPERM) TH_LOG("engine errno %d", err);
	EXPECT_EQ(0, memcmp(before, self->ro, RO_SIZE));

	/*
	 * A write spanning read-write then read-only memory: by message it is
	 * refused whole and changes nothing.  (With zero copies the server
	 * writes through an IOMMU-like mapping: the bytes before the fault
	 * land, as they would for a real device.)
	 */
	ASSERT_EQ(0, vu_map_dma(self->v.container, self->rw, RO_IOVA - RW_SIZE, RW_SIZE,
			     VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));
	fill(self->rw, RW_SIZE, 11);
	memcpy(before, self->rw + RW_SIZE - 4096, 4096);
	err = engine_run(self->v.device, 0, RO_IOVA - 4096, 8192, true);
	EXPECT_NE(0, err);
	if (!strcmp(variant->active, "message"))
		EXPECT_EQ(0, memcmp(before, self->rw + RW_SIZE - 4096, 4096));
	/* Either way, the read-only page never changes. */
	fill(before, 4096, 3);
	EXPECT_EQ(0, memcmp(before, self->ro, 4096));
}

/*
 * The VMM unmaps IOVA the server has touched: the server's next access
 * faults, the VMM's memory is untouched afterwards, nothing stays pinned;
 * once mapped again (after the fence), DMA works again.
 */
TEST_F(dma, unmap_under_the_server)
{
	static uint8_t saved[XFER];
	int fd = self->v.device;
	int err;

	fill(self->rw, XFER, 21);
	ASSERT_EQ(0, engine_run(fd, RW_IOVA, 0, XFER, false));
	ASSERT_EQ(0, engine_run(fd, 0, RW_IOVA + XFER, XFER, true));
	if (!strcmp(variant->active, "zero-copy"))
		EXPECT_GT(vu_stat(self->name, "dma_pinned_pages"), 0);

	ASSERT_EQ(0, vu_unmap_dma(self->v.container, RW_IOVA, RW_SIZE));
	EXPECT_EQ(0, vu_stat(self->name, "dma_pinned_pages"));
	memcpy(saved, self->rw, XFER);
	ASSERT_EQ(0, vu_reg_write(self->v.device, TDEV_REG_BAR2_FILL, 0x11223344));
	err = engine_run(fd, 0, RW_IOVA, XFER, true);
	EXPECT_TRUE(err == EFAULT || err == EINVAL) TH_LOG("engine errno %d", err);
	EXPECT_EQ(0, memcmp(saved, self->rw, XFER));
	EXPECT_EQ(0, vu_stat(self->name, "dma_pinned_pages"));

	usleep(400000);
	ASSERT_EQ(0, vu_map_dma(self->v.container, self->rw, RW_IOVA, RW_SIZE,
			     VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));
	EXPECT_EQ(0, engine_run(fd, 0, RW_IOVA, XFER, true));
	EXPECT_EQ(0x44, self->rw[0]);
}

/* IOVA outside the announced window never reaches the VMM's memory. */
TEST(outside_the_window)
{
	const char *args[] = { "--dma-rogue", NULL };
	struct vu_server srv;
	struct vu_vfio v;
	char name[32];
	uint8_t *mem;
	int err;

	mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	memset(mem, 0xee, 0x10000);
	ASSERT_EQ(0, vu_server_startv(&srv, args));
	ASSERT_EQ(0, vu_bind(srv.path, name, sizeof(name)));
	EXPECT_EQ(-EINVAL, vu_set_attr(name, "dma_window", "0x1 0x1000"));
	EXPECT_EQ(-EINVAL, vu_set_attr(name, "dma_window", "0x0 0x0"));
	EXPECT_EQ(-EINVAL, vu_set_attr(name, "dma_window", "0xfffffffffffff000 0x2000"));
	ASSERT_EQ(0, vu_set_attr(name, "dma_window", "0x0 0x1000000"));
	ASSERT_EQ(0, vu_vfio_open(name, &v));
	/* Mapped by the VMM, but beyond the 16 MiB window the server got. */
	ASSERT_EQ(0, vu_map_dma(v.container, mem, 0x2000000, 0x10000,
			     VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));
	err = engine_run(v.device, 0, 0x2000000, 4096, true);
	EXPECT_EQ(EFAULT, err);
	EXPECT_EQ(0xee, mem[0]);
	EXPECT_GE(vu_stat(name, "dma_errors"), 1);
	vu_vfio_close(&v);
	EXPECT_EQ(0, vu_unbind(name));
	vu_server_stop(&srv);
	munmap(mem, 0x10000);
}

/* Closing the device unpins everything and withdraws the window. */
TEST_F(dma, close_releases_everything)
{
	fill(self->rw, RW_SIZE, 5);
	ASSERT_EQ(0, engine_run(self->v.device, RW_IOVA, 0, XFER, false));
	vu_vfio_close(&self->v);
	EXPECT_EQ(0, vu_stat(self->name, "dma_pinned_pages"));
	EXPECT_STREQ("none", vu_attr(self->name, "dma_active", (char[32]){}, 32));
	EXPECT_EQ(0, vu_unbind(self->name));
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
}

TEST_HARNESS_MAIN
