// SPDX-License-Identifier: GPL-2.0
/*
 * Dying servers and busy lifecycles: the server killed at random moments
 * while callers are inside the driver (region access, interrupt setup,
 * DMA in both modes), bind/open/close/delete loops on
 * several devices from several threads at once, and module unload with
 * devices bound or open.
 *
 * VU_STRESS=N multiplies the iteration counts (make check-debug raises it).
 */
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "test_device.h"
#include "vu_test.h"

#define BAR0		vu_region_off(VFIO_PCI_BAR0_REGION_INDEX)
#define TIMEOUT_MS	1000
#define THREADS		4
/* Guest memory the DMA workers' transfers go to and come from. */
#define DMA_IOVA	0x100000ULL
#define DMA_SIZE	0x100000ULL

static int stress(int base)
{
	const char *env = getenv("VU_STRESS");
	int scale = env ? atoi(env) : 1;

	return base * (scale > 0 ? scale : 1);
}

enum worker_kind { DO_REGION_IO, DO_SET_IRQS, DO_DMA };

struct worker {
	int fd;
	unsigned int index;
	enum worker_kind kind;
	volatile bool *stop;
	int last_err;
	long long last_start;
	long long last_return;
	long ops;
};

/*
 * One DMA transfer of the test device's engine, guest memory to BAR2 or
 * back, polled to its end: 0, or the errno of the register access that
 * failed.  Workers share the one engine, so another's register writes may
 * turn a transfer into an invalid one the engine refuses: that is fine,
 * only the driver's answers are under test here.
 */
static int dma_transfer(struct worker *w)
{
	uint64_t guest = DMA_IOVA + (w->index * 0x20000 + (w->ops & 7) * 0x1000) % DMA_SIZE;
	bool to_guest = w->ops & 1;
	uint64_t src = to_guest ? 0 : guest, dst = to_guest ? guest : 0;
	uint32_t status;
	int err;

	err = vu_dma_go(w->fd, src, dst, TDEV_BAR2_SIZE / 2, to_guest);
	if (err)
		return -err;
	do {
		if (pread(w->fd, &status, 4, BAR0 + TDEV_REG_DMA_STATUS) != 4)
			return errno;
		sched_yield();
	} while (status == TDEV_DMA_STATUS_BUSY && !*w->stop);
	return 0;
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	char buf[sizeof(struct vfio_irq_set) + TDEV_MSIX_COUNT * sizeof(int32_t)];
	struct vfio_irq_set *set = (void *)buf;
	int32_t *fds = (int32_t *)set->data;
	uint32_t val = 0;
	int i, ret;

	for (i = 0; i < TDEV_MSIX_COUNT; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	while (!*w->stop) {
		w->last_start = vu_now_ms();
		if (w->kind == DO_REGION_IO) {
			ret = w->ops & 1 ? pwrite(w->fd, &val, 4, BAR0 + TDEV_REG_SCRATCH) :
					   pread(w->fd, &val, 4, BAR0 + TDEV_REG_MAGIC);
			ret = ret == 4 ? 0 : errno;
		} else if (w->kind == DO_DMA) {
			ret = dma_transfer(w);
		} else {
			set->argsz = sizeof(buf);
			set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
			set->index = VFIO_PCI_MSIX_IRQ_INDEX;
			set->start = 0;
			set->count = TDEV_MSIX_COUNT;
			ret = ioctl(w->fd, VFIO_DEVICE_SET_IRQS, set) ? errno : 0;
		}
		w->last_err = ret;
		w->last_return = vu_now_ms();
		w->ops++;
		if (ret)
			break;
	}
	for (i = 0; i < TDEV_MSIX_COUNT; i++)
		close(fds[i]);
	return NULL;
}

/* Wait up to @ms for every worker to have failed once: they stop then. */
static void wait_workers_failed(struct worker *w, int ms)
{
	long long end = vu_now_ms() + ms;
	int i, failed;

	do {
		for (i = 0, failed = 0; i < THREADS; i++)
			failed += w[i].last_err != 0;
		if (failed == THREADS)
			return;
		usleep(5000);
	} while (vu_now_ms() < end);
}

/*
 * Kill the server at a random moment while THREADS callers are inside the
 * driver; every caller must come back within the timeout plus a second,
 * with an error, and the device must go broken and be deletable, with
 * nothing left pinned.  DMA rounds alternate between zero-copy and message
 * mode, so the kill lands in the fault handler pinning pages for the
 * server's memcpy, or among DMA_READ/DMA_WRITE requests being served.
 */
static void kill_while_busy(struct __test_metadata *_metadata,
			   enum worker_kind kind, int rounds)
{
	int groups = vu_count_groups();
	int fds = vu_count_fds();
	char ms[16], name[32];
	uint8_t *mem = NULL;
	long ops = 0, caught = 0;
	int round, i;

	snprintf(ms, sizeof(ms), "%d", TIMEOUT_MS);
	srand(getpid());
	if (kind == DO_DMA) {
		mem = mmap(NULL, DMA_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, mem);
		memset(mem, 0x5a, DMA_SIZE);
	}
	for (round = 0; round < rounds; round++) {
		struct worker w[THREADS];
		pthread_t th[THREADS];
		volatile bool stop = false;
		struct vu_server srv;
		struct vu_vfio v;
		long long killed;

		ASSERT_EQ(0, vu_server_start(&srv, NULL));
		ASSERT_EQ(0, vu_bind(srv.path, name, sizeof(name)));
		ASSERT_EQ(0, vu_set_attr(name, "request_timeout_ms", ms));
		if (kind == DO_DMA)
			ASSERT_EQ(0, vu_set_attr(name, "dma_mode",
						 round & 1 ? "message" : "zero-copy"));
		ASSERT_EQ(0, vu_vfio_open(name, &v));
		if (kind == DO_DMA)
			ASSERT_EQ(0, vu_map_dma(v.container, mem, DMA_IOVA, DMA_SIZE,
						VFIO_DMA_MAP_FLAG_READ |
						VFIO_DMA_MAP_FLAG_WRITE));
		for (i = 0; i < THREADS; i++) {
			w[i] = (struct worker){ .fd = v.device, .index = i, .kind = kind,
						.stop = &stop };
			ASSERT_EQ(0, pthread_create(&th[i], NULL, worker_fn, &w[i]));
		}
		usleep(rand() % 30000);
		killed = vu_now_ms();
		vu_server_stop(&srv);
		wait_workers_failed(w, TIMEOUT_MS + 1000);
		stop = true;
		for (i = 0; i < THREADS; i++) {
			pthread_join(th[i], NULL);
			EXPECT_LE(w[i].last_return - killed, TIMEOUT_MS + 1000)
				TH_LOG("round %d thread %d", round, i);
			EXPECT_TRUE(w[i].last_err == EIO || w[i].last_err == ETIMEDOUT ||
				    w[i].last_err == 0)
				TH_LOG("round %d thread %d: errno %d", round, i, w[i].last_err);
			ops += w[i].ops;
			/* Its failing call began before the kill: caught inside. */
			caught += w[i].last_err && w[i].last_start <= killed;
		}
		EXPECT_TRUE(vu_wait_attr(name, "state", "broken", vu_ms(2000)));
		vu_vfio_close(&v);
		EXPECT_EQ(0, vu_stat(name, "dma_pinned_pages"));
		ASSERT_EQ(0, vu_unbind(name));
	}
	if (mem)
		munmap(mem, DMA_SIZE);
	/*
	 * The kills found the callers inside the driver: what matters is
	 * that calls were in flight, not how many got done before (on the
	 * debug kernel a DMA round can outlast the random delay).  Each
	 * round has THREADS callers looping on calls; at least one per
	 * round must have been caught mid-call.
	 */
	TH_LOG("%d kills survived, %ld operations, %ld calls caught in flight",
	       rounds, ops, caught);
	EXPECT_GE(caught, rounds);
	EXPECT_EQ(groups, vu_count_groups());
	EXPECT_EQ(fds, vu_count_fds());
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
}

TEST(kill_during_region_access)
{
	kill_while_busy(_metadata, DO_REGION_IO, stress(25));
}

TEST(kill_during_irq_setup)
{
	kill_while_busy(_metadata, DO_SET_IRQS, stress(25));
}

TEST(kill_during_dma)
{
	kill_while_busy(_metadata, DO_DMA, stress(25));
}

struct cycler {
	int index;
	int rounds;
	int errors;
};

/* The first few failures say what failed (diagnostics, TAP-style). */
static void cycle_error(struct cycler *c, int round, const char *what, int err)
{
	if (c->errors++ < 3)
		fprintf(stderr, "# cycler %d round %d: %s failed: %s\n",
			c->index, round, what, strerror(-err));
}

/* bind, open, use, close, delete; again and again. */
static void *cycle_fn(void *arg)
{
	struct cycler *c = arg;
	struct vu_server srv;
	struct vu_vfio v;
	char name[32];
	uint32_t val;
	int i;

	if (vu_server_start(&srv, NULL)) {
		c->errors++;
		return NULL;
	}
	for (i = 0; i < c->rounds; i++) {
		int err = vu_bind(srv.path, name, sizeof(name));

		if (err) {
			cycle_error(c, i, "bind", err);
			continue;
		}
		err = vu_vfio_open(name, &v);
		if (err)
			cycle_error(c, i, "open", err);
		else if (pread(v.device, &val, 4, BAR0 + TDEV_REG_MAGIC) != 4)
			cycle_error(c, i, "read", -errno);
		else if (val != TDEV_MAGIC_VALUE)
			cycle_error(c, i, "read value", 0);
		vu_vfio_close(&v);
		err = vu_unbind(name);
		if (err)
			cycle_error(c, i, "delete", err);
	}
	vu_server_stop(&srv);
	return NULL;
}

/* Several devices, each cycled by its own thread, all at once. */
TEST(concurrent_lifecycles)
{
	int groups = vu_count_groups();
	struct cycler c[3];
	pthread_t th[3];
	int i;

	for (i = 0; i < 3; i++) {
		c[i] = (struct cycler){ .index = i, .rounds = stress(30) };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, cycle_fn, &c[i]));
	}
	for (i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		EXPECT_EQ(0, c[i].errors) TH_LOG("thread %d", i);
	}
	EXPECT_EQ(groups, vu_count_groups());
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
}

/*
 * rmmod is refused while a VMM has a device open, and tears every device
 * down cleanly otherwise, dead servers' included.
 */
TEST(module_unload_with_devices)
{
	struct vu_server srv[2];
	char names[2][32];
	struct vu_vfio v;
	struct stat st;
	uint32_t val;
	int i;

	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, vu_server_start(&srv[i], NULL));
		ASSERT_EQ(0, vu_bind(srv[i].path, names[i], sizeof(names[i])));
	}
	ASSERT_EQ(0, vu_vfio_open(names[0], &v));
	EXPECT_EQ(-EWOULDBLOCK, vu_module_unload());
	ASSERT_EQ(4, pread(v.device, &val, 4, BAR0 + TDEV_REG_MAGIC));
	EXPECT_EQ(TDEV_MAGIC_VALUE, val);
	vu_vfio_close(&v);

	/* One server dead, one alive: both devices go with the module. */
	vu_server_stop(&srv[1]);
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
	EXPECT_EQ(0, vu_module_unload());
	EXPECT_NE(0, stat(VU_BUS, &st));
	vu_server_stop(&srv[0]);

	ASSERT_EQ(0, vu_module_load());
	ASSERT_EQ(0, stat(VU_BUS, &st));
}

TEST_HARNESS_MAIN
