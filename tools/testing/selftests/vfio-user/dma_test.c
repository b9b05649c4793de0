// SPDX-License-Identifier: GPL-2.0
/*
 * DMA as a VMM sees it: memory mapped through the container, the test
 * device's DMA engine copying between it and BAR2 in both directions, in
 * zero-copy mode (the server maps our file, its faults pin the VMM's
 * pages) and in message mode (DMA_READ/DMA_WRITE served by the kernel);
 * an unmapped IOVA, a read-only mapping, an unmap under the server's feet
 * and IOVA outside the window are all refused, and nothing stays pinned.
 * Then the window against the VMM's unmaps: a close racing an unmap,
 * IOVA unmapped and mapped again at once (a strict vIOMMU), and the
 * server's PTEs write-protected behind its back.
 */
#include <pthread.h>
#include <stdatomic.h>
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

/* A child opens the device the way a VMM does, and reports 0 or -errno. */
static void open_fn(void *arg, int out)
{
	struct vu_vfio v;
	int err = vu_vfio_open(arg, &v);

	if (write(out, &err, sizeof(err)) != sizeof(err))
		_exit(1);
	if (!err)
		vu_vfio_close(&v);
}

/*
 * Opening announces the window with DMA_MAP, a server round trip; no DMA
 * lock is held across it, so what takes one (dma_unmap from the VMM's
 * unmaps, dma_active, dma_mode) does not wait for the server's answer.
 */
TEST(open_holds_no_dma_lock_over_the_server)
{
	int delay = vu_ms(1500), err = 1;
	char ms[32], state[32], name[32], timeout[32];
	const char *args[] = { "--delay-reply", ms, NULL };
	struct vu_server srv;
	struct vu_child ch;
	long long t0;

	snprintf(ms, sizeof(ms), "DMA_MAP:%d", delay);
	ASSERT_EQ(0, vu_server_startv(&srv, args));
	ASSERT_EQ(0, vu_bind(srv.path, name, sizeof(name)));
	/* The delayed DMA_MAP must be slow, not timed out (a slow kernel scales it). */
	snprintf(timeout, sizeof(timeout), "%d", 2 * delay + 5000);
	ASSERT_EQ(0, vu_set_attr(name, "request_timeout_ms", timeout));
	ASSERT_EQ(0, vu_child_start(&ch, open_fn, name));
	/* dma_mode refuses changes once the open is announcing the window. */
	t0 = vu_now_ms();
	while (vu_set_attr(name, "dma_mode", "zero-copy") != -EBUSY &&
	       vu_now_ms() - t0 < delay)
		usleep(1000);
	ASSERT_LT(vu_now_ms() - t0, delay) TH_LOG("the open never got to DMA_MAP");
	/* DMA_MAP's reply is a second away: nothing below may wait for it. */
	t0 = vu_now_ms();
	EXPECT_STREQ("none", vu_attr(name, "dma_active", state, sizeof(state)));
	EXPECT_EQ(-EBUSY, vu_set_attr(name, "dma_mode", "message"));
	EXPECT_LT(vu_now_ms() - t0, vu_ms(300))
		TH_LOG("dma_active and dma_mode waited %lld ms for DMA_MAP's reply",
		       vu_now_ms() - t0);
	EXPECT_EQ(0, vu_child_wait(&ch, delay + vu_ms(5000), &err, sizeof(err)));
	EXPECT_EQ(0, err);
	EXPECT_EQ(0, vu_unbind(name));
	vu_server_stop(&srv);
}

/*
 * The zero-copy window is guest memory, never code: the server's
 * executable mapping of it is refused (the test server tries one at
 * DMA_MAP and reports the errno).
 */
TEST(window_no_exec)
{
	struct vu_server srv;
	struct vu_vfio v;
	char name[32];

	ASSERT_EQ(0, vu_server_start(&srv, NULL));
	ASSERT_EQ(0, vu_bind(srv.path, name, sizeof(name)));
	ASSERT_EQ(0, vu_vfio_open(name, &v));
	EXPECT_EQ(EACCES, vu_reg_read(v.device, TDEV_REG_DMA_EXEC_ERRNO));
	vu_vfio_close(&v);
	EXPECT_EQ(0, vu_unbind(name));
	vu_server_stop(&srv);
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

/* ---- the zero-copy window against the VMM's unmaps ---- */

/*
 * One device in zero-copy mode with its container, group and server,
 * for the tests below; the device fd may be closed and reopened.
 */
struct zc {
	struct vu_server srv;
	struct vu_vfio v;
	char name[32];
	uint8_t *mem;
	size_t size;
};

static int zc_open_device(struct zc *z)
{
	z->v.device = ioctl(z->v.group, VFIO_GROUP_GET_DEVICE_FD, z->name);
	return z->v.device < 0 ? -errno : 0;
}

static void zc_close_device(struct zc *z)
{
	if (z->v.device >= 0)
		close(z->v.device);
	z->v.device = -1;
}

static int zc_setup(struct zc *z, size_t size)
{
	char buf[32];
	int err;

	memset(z, 0, sizeof(*z));
	z->v.container = z->v.group = z->v.device = -1;
	z->size = size;
	z->mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (z->mem == MAP_FAILED) {
		z->mem = NULL;
		return -ENOMEM;
	}
	err = vu_server_start(&z->srv, NULL);
	if (!err)
		err = vu_bind(z->srv.path, z->name, sizeof(z->name));
	if (!err)
		err = vu_set_attr(z->name, "dma_mode", "zero-copy");
	if (!err)
		err = vu_vfio_open(z->name, &z->v);
	if (!err && strcmp(vu_attr(z->name, "dma_active", buf, sizeof(buf)), "zero-copy"))
		err = -EOPNOTSUPP;
	return err;
}

static void zc_teardown(struct zc *z)
{
	vu_vfio_close(&z->v);
	if (z->name[0] && vu_exists(z->name))
		vu_unbind(z->name);
	vu_server_stop(&z->srv);
	if (z->mem)
		munmap(z->mem, z->size);
}

/*
 * Let the engine touch [iova, iova + len) of guest memory in BAR2-sized
 * reads, so that the server's faults pin every page of it.  Only the
 * source address changes from one transfer to the next: two register
 * writes each.  Returns the number of transfers that failed.
 */
static int zc_touch(int fd, uint64_t iova, uint64_t len)
{
	uint64_t off;
	int failed = 0;

	if (vu_reg_write(fd, TDEV_REG_DMA_SRC_HI, iova >> 32) ||
	    vu_reg_write(fd, TDEV_REG_DMA_DST_LO, 0) ||
	    vu_reg_write(fd, TDEV_REG_DMA_DST_HI, 0) ||
	    vu_reg_write(fd, TDEV_REG_DMA_LEN, TDEV_BAR2_SIZE))
		return 1;
	for (off = 0; off < len; off += TDEV_BAR2_SIZE) {
		if (vu_reg_write(fd, TDEV_REG_DMA_SRC_LO, (uint32_t)(iova + off)) ||
		    vu_reg_write(fd, TDEV_REG_DMA_CTRL, TDEV_DMA_CTRL_GO) ||
		    vu_reg_read(fd, TDEV_REG_DMA_STATUS) != TDEV_DMA_STATUS_DONE)
			failed++;
	}
	return failed;
}

#define CAU_IOVA	0x100000ULL
#define CAU_SIZE	0x100000ULL	/* 256 pages pinned before every close */

struct cau_unmapper {
	int container;
	int active_fd;		/* the device's dma_active, kept open */
	int mode;		/* 0: on the window's withdrawal, 1: after delay_us */
	unsigned int delay_us;
	volatile int go;	/* set by the closer just before close() */
	int err;		/* the unmap's result */
	long long polls;
};

/* "none" once the device's DMA is closed (the window withdrawn). */
static bool dma_closed(int active_fd)
{
	char buf[32];
	ssize_t n = pread(active_fd, buf, sizeof(buf) - 1, 0);

	return n > 0 && !strncmp(buf, "none", 4);
}

static void *cau_unmap_fn(void *arg)
{
	struct cau_unmapper *u = arg;
	long long end;

	while (!u->go)
		;
	if (u->mode == 0) {
		/*
		 * Unmap the moment the window is unpublished: that is when
		 * today's close unpins outside dma_rwsem, so the unmap meets
		 * pinned pages and a window that no longer answers.
		 */
		end = vu_now_ms() + vu_ms(2000);
		while (!dma_closed(u->active_fd) && vu_now_ms() < end)
			u->polls++;
	} else {
		usleep(u->delay_us);
	}
	u->err = vu_unmap_dma(u->container, CAU_IOVA, CAU_SIZE);
	return NULL;
}

/*
 * Close the device in one thread while another unmaps IOVA whose pages
 * the server has pinned, hundreds of times.  type1 calls our dma_unmap
 * for a range with pinned pages and BUG()s after ten rounds if they are
 * still pinned: a close that unpublishes the window before it unpins lets
 * an unprivileged VMM crash the host.  Half of the rounds unmap as soon
 * as the window is withdrawn, the others at a random point of the close.
 * Oopses panic for the duration (vu_panic_on_oops()): the BUG would
 * otherwise leave this test asleep on type1's mutexes forever.
 */
TEST(close_against_unmap)
{
	int rounds = vu_stress(200), round, touch_failures = 0, bad_unmaps = 0;
	long long close_ms_total = 0, polls = 0;
	int groups = vu_count_groups();
	int old_panic = vu_panic_on_oops();
	long long start = vu_now_ms();
	char file[PATH_MAX];
	struct zc z;

	ASSERT_EQ(0, zc_setup(&z, CAU_SIZE));
	snprintf(file, sizeof(file), VU_BUS "/devices/%s/dma_active", z.name);
	srand(getpid());
	for (round = 0; round < rounds; round++) {
		struct cau_unmapper u = { .container = z.v.container, .mode = round & 1 };
		long long t0;
		pthread_t th;

		/* VU_STRESS raises the count; the harness's timeout stays. */
		if (vu_now_ms() - start > vu_ms(20000)) {
			TH_LOG("stopping after %d rounds: time is up", round);
			rounds = round;
			break;
		}

		if (round)
			ASSERT_EQ(0, zc_open_device(&z));
		ASSERT_EQ(0, vu_map_dma(z.v.container, z.mem, CAU_IOVA, CAU_SIZE,
					VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE))
			TH_LOG("round %d", round);
		touch_failures += zc_touch(z.v.device, CAU_IOVA, CAU_SIZE);
		if (!round)
			EXPECT_EQ(CAU_SIZE / 4096, vu_stat(z.name, "dma_pinned_pages"));

		u.active_fd = open(file, O_RDONLY | O_CLOEXEC);
		ASSERT_GE(u.active_fd, 0);
		/* A point inside the close, from how long closes took so far. */
		u.delay_us = round > 1 ? rand() % (close_ms_total * 1000 / round + 1) : 0;
		ASSERT_EQ(0, pthread_create(&th, NULL, cau_unmap_fn, &u));
		t0 = vu_now_ms();
		u.go = 1;
		zc_close_device(&z);
		close_ms_total += vu_now_ms() - t0;
		pthread_join(th, NULL);
		close(u.active_fd);
		polls += u.polls;
		/* The mapping existed: its unmap must succeed, before or after the close. */
		if (u.err && bad_unmaps++ < 3)
			TH_LOG("round %d: unmap failed: %s", round, strerror(-u.err));
		EXPECT_EQ(0, vu_stat(z.name, "dma_pinned_pages")) TH_LOG("round %d", round);
	}
	TH_LOG("%d rounds, %d pages pinned before each close, closes took %lld ms on average, %lld polls",
	       rounds, (int)(CAU_SIZE / 4096), close_ms_total / rounds, polls);
	EXPECT_EQ(0, touch_failures);
	EXPECT_EQ(0, bad_unmaps);
	EXPECT_STREQ("connected", vu_attr(z.name, "state", (char[32]){}, 32));
	zc_teardown(&z);
	EXPECT_EQ(groups, vu_count_groups());
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
	vu_panic_on_oops_restore(old_panic);
}

#define RM_IOVA		0x200000ULL
#define RM_SIZE		0x10000ULL	/* one BAR2's worth */

/*
 * Unmap and map the same IOVA again at once, as a vIOMMU in strict mode
 * does for every DMA unmap of its guest: the server must reach the new
 * mapping at once.  (Today an unmapped range is fenced for 200 ms: the
 * server gets SIGBUS on IOVA that is mapped.)
 */
TEST(remap_reaches_new_mapping)
{
	int rounds = 20, round, failures = 0, err;
	struct zc z;

	ASSERT_EQ(0, zc_setup(&z, RM_SIZE));
	for (round = 0; round < rounds; round++) {
		ASSERT_EQ(0, vu_map_dma(z.v.container, z.mem, RM_IOVA, RM_SIZE,
					VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));
		fill(z.mem, RM_SIZE, round);
		err = engine_run(z.v.device, RM_IOVA, 0, RM_SIZE, false);
		if (!err) {
			ASSERT_EQ(0, vu_reg_write(z.v.device, TDEV_REG_BAR2_FILL, 0x5a000000 + round));
			err = engine_run(z.v.device, 0, RM_IOVA, RM_SIZE, true);
		}
		if (!err && z.mem[RM_SIZE - 4] != (uint8_t)round)
			err = -1;
		if (err && failures++ < 3)
			TH_LOG("round %d: DMA through IOVA mapped again failed: engine errno %d",
			       round, err);
		ASSERT_EQ(0, vu_unmap_dma(z.v.container, RM_IOVA, RM_SIZE));
		EXPECT_EQ(0, vu_stat(z.name, "dma_pinned_pages"));
	}
	EXPECT_EQ(0, failures) TH_LOG("%d of %d rounds failed", failures, rounds);
	zc_teardown(&z);
}

struct remapper {
	int container;
	uint8_t *mem;
	volatile bool stop;
	atomic_uint gen;	/* odd while [RM_IOVA, +RM_SIZE) may be unmapped */
	atomic_long transfers;	/* transfers the main thread has finished */
	long remaps;
	int err;
};

static void *remap_fn(void *arg)
{
	struct remapper *r = arg;
	unsigned int seed = getpid();

	while (!r->stop && !r->err) {
		atomic_fetch_add(&r->gen, 1);
		r->err = vu_unmap_dma(r->container, RM_IOVA, RM_SIZE);
		if (!r->err)
			r->err = vu_map_dma(r->container, r->mem, RM_IOVA, RM_SIZE,
					    VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
		atomic_fetch_add(&r->gen, 1);
		r->remaps++;
		/*
		 * Mostly back to back; every eighth remap the IOVA stays mapped
		 * until the main thread has finished two more transfers (so one
		 * ran whole while mapped, however slow the kernel), or 200 ms.
		 */
		if (r->remaps % 8 == 0) {
			long seen = atomic_load(&r->transfers);
			long long until = vu_now_ms() + vu_ms(200);

			while (!r->stop && atomic_load(&r->transfers) < seen + 2 &&
			       vu_now_ms() < until)
				usleep(100);
		} else if (rand_r(&seed) % 4 == 0) {
			usleep(rand_r(&seed) % 3000);
		}
	}
	return NULL;
}

/*
 * The VMM unmaps and maps the same IOVA in a tight loop while the engine
 * DMAs through it with zero copies.  A transfer may fail when an unmap
 * overlaps it; one that ran entirely while the IOVA was mapped (the
 * remapper's generation count even and unchanged around it) must work.
 * Afterwards nothing is pinned and the connection is fine.  A driver
 * that lets the server pin pages again while type1 retries its unmap
 * meets type1's BUG_ON: oopses panic for the duration.
 */
TEST(remap_loop_while_dma)
{
	struct remapper r = { .stop = false };
	long transfers = 0, clean = 0, clean_failed = 0, other_failed = 0;
	int old_panic = vu_panic_on_oops();
	long long end;
	pthread_t th;
	struct zc z;

	ASSERT_EQ(0, zc_setup(&z, RM_SIZE));
	fill(z.mem, RM_SIZE, 1);
	ASSERT_EQ(0, vu_map_dma(z.v.container, z.mem, RM_IOVA, RM_SIZE,
				VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));
	r.container = z.v.container;
	r.mem = z.mem;
	ASSERT_EQ(0, vu_reg_write(z.v.device, TDEV_REG_DMA_LEN, 0x4000));
	ASSERT_EQ(0, pthread_create(&th, NULL, remap_fn, &r));
	end = vu_now_ms() + vu_ms(2000);
	/* At least 2 s of it, and on until 20 clean transfers (30 s at most). */
	while ((vu_now_ms() < end || clean < 20) &&
	       vu_now_ms() < end + vu_ms(30000) && !r.err) {
		bool to_guest = transfers & 1;
		uint64_t iova = RM_IOVA + (transfers & 3) * 0x4000;
		unsigned int g1, g2;
		uint32_t status;

		ASSERT_EQ(0, vu_reg_write(z.v.device, TDEV_REG_DMA_SRC_LO,
					  to_guest ? 0 : (uint32_t)iova));
		ASSERT_EQ(0, vu_reg_write(z.v.device, TDEV_REG_DMA_DST_LO,
					  to_guest ? (uint32_t)iova : 0));
		/* Zero-copy transfers run inside the write that says GO. */
		g1 = atomic_load(&r.gen);
		ASSERT_EQ(0, vu_reg_write(z.v.device, TDEV_REG_DMA_CTRL, TDEV_DMA_CTRL_GO |
					  (to_guest ? TDEV_DMA_CTRL_DIR_TO_GUEST : 0)));
		g2 = atomic_load(&r.gen);
		status = vu_reg_read(z.v.device, TDEV_REG_DMA_STATUS);
		transfers++;
		atomic_store(&r.transfers, transfers);
		if (g1 == g2 && !(g1 & 1)) {
			clean++;
			if (status != TDEV_DMA_STATUS_DONE && clean_failed++ < 3)
				TH_LOG("transfer %ld on mapped IOVA failed: status %u errno %u",
				       transfers, status,
				       vu_reg_read(z.v.device, TDEV_REG_DMA_ERROR));
		} else if (status != TDEV_DMA_STATUS_DONE) {
			other_failed++;
		}
	}
	r.stop = true;
	pthread_join(th, NULL);
	EXPECT_EQ(0, r.err) TH_LOG("remapper: %s", strerror(-r.err));
	TH_LOG("%ld transfers (%ld on IOVA mapped throughout, %ld of those failed; "
	       "%ld failed across an unmap), %ld remaps",
	       transfers, clean, clean_failed, other_failed, r.remaps);
	EXPECT_GT(clean, 10);
	EXPECT_GT(r.remaps, 10);
	EXPECT_EQ(0, clean_failed);
	ASSERT_EQ(0, vu_unmap_dma(z.v.container, RM_IOVA, RM_SIZE));
	EXPECT_EQ(0, vu_stat(z.name, "dma_pinned_pages"));
	EXPECT_STREQ("connected", vu_attr(z.name, "state", (char[32]){}, 32));
	zc_teardown(&z);
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
	vu_panic_on_oops_restore(old_panic);
}

/*
 * The server's PTE of a page pinned read-write becomes read-only behind
 * its back (mprotect() to PROT_READ and back, soft-dirty tracking); its
 * next write to that page is a write fault on a writable mapping of
 * writable guest memory and must work.  (Today pfn_mkwrite answers every
 * such fault with SIGBUS.)  Each mode gets pages whose PTEs are clean:
 * the server only read them before.
 */
TEST(write_after_wrprotect)
{
	static const struct { uint32_t bits; const char *what; } modes[] = {
		{ TDEV_DMA_WRPROTECT_MPROTECT, "mprotect" },
		{ TDEV_DMA_WRPROTECT_SOFT_DIRTY, "clear soft-dirty" },
		{ TDEV_DMA_WRPROTECT_SOFT_DIRTY | TDEV_DMA_WRPROTECT_MPROTECT,
		  "clear soft-dirty, mprotect" },
	};
	unsigned int i;
	struct zc z;
	int err;

	ASSERT_EQ(0, zc_setup(&z, 4 * RM_SIZE));
	ASSERT_EQ(0, vu_map_dma(z.v.container, z.mem, RM_IOVA, 4 * RM_SIZE,
				VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		uint64_t iova = RM_IOVA + i * RM_SIZE;
		uint8_t *mem = z.mem + i * RM_SIZE;

		fill(mem, RM_SIZE, i);
		ASSERT_EQ(0, engine_run(z.v.device, iova, 0, RM_SIZE, false))
			TH_LOG("%s: read", modes[i].what);
		ASSERT_EQ(0, vu_reg_write(z.v.device, TDEV_REG_DMA_WRPROTECT, modes[i].bits));
		ASSERT_EQ(0, vu_reg_write(z.v.device, TDEV_REG_BAR2_FILL, 0xc0ffee00 + i));
		err = engine_run(z.v.device, 0, iova, RM_SIZE, true);
		EXPECT_EQ(0, err) TH_LOG("%s, then a write: engine errno %d", modes[i].what, err);
		if (!err)
			EXPECT_EQ(0xc0ffee00 + i, *(uint32_t *)(mem + RM_SIZE - 4))
				TH_LOG("%s", modes[i].what);
	}
	ASSERT_EQ(0, vu_unmap_dma(z.v.container, RM_IOVA, 4 * RM_SIZE));
	EXPECT_EQ(0, vu_stat(z.name, "dma_pinned_pages"));
	EXPECT_STREQ("connected", vu_attr(z.name, "state", (char[32]){}, 32));
	zc_teardown(&z);
}

TEST_HARNESS_MAIN
