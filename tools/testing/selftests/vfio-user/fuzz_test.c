// SPDX-License-Identifier: GPL-2.0
/*
 * Frame fuzzer: the driver against a server that mangles, invents and
 * cuts frames (vfio_user_test_server --fuzz, see server/fuzz.c), while a
 * VMM-like client hammers the device from two threads.
 *
 * One connection per seed: seed = base + i.  Each binds a fresh server,
 * opens the device (zero-copy or message DMA, by seed), maps guest memory
 * where the fuzzer aims its DMA, and runs the client until the server has
 * spent its frame budget (--fuzz-frames) or the connection broke (the
 * server ends about half of the connections with one protocol violation:
 * unknown id, fds, partial frame and close, huge size, silence...).  In
 * about one connection in four a reply of the bind handshake is mangled
 * too (in one of those in four with fds attached: an error reply with
 * fds, too many fds, fds then EOF, fds with an oversized frame): then the
 * bind or the open may fail, with an errno, and nothing else.  Then the
 * device is closed and deleted, which must always work, and every VFIO
 * call must have returned, with a count or with an errno a syscall may
 * return.  At the end nothing may be left: iommu groups, fds, module
 * references.  The guest's dmesg is scanned by the test runner (KASAN,
 * lockdep, WARN...), and after each connection by the test itself, so
 * that a kernel report names the seed that caused it.
 *
 * Reproducibility: the frames the server generates depend on its seed
 * alone, and so does the sequence of the client's operations; how the two
 * interleave depends on timing, so a replay runs the same frames against
 * the same operations, not the same schedule.
 *
 * Environment:
 *   VU_FUZZ_FRAMES       frames to send in all (default 100000; make
 *                        check-debug sets 1000000)
 *   VU_FUZZ_SEED         base seed (default: from the clock; printed)
 *   VU_FUZZ_CONN_FRAMES  frame budget of one connection (default 10000)
 *   VU_FUZZ_VERBOSE=1    one line per connection
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "test_device.h"
#include "vu_test.h"

/* Where server/fuzz.c aims most DMA: keep the two in step. */
#define HOT_IOVA	0x100000ULL	/* mapped read-write */
#define HOT_SIZE	0x100000ULL
#define RO_IOVA		0x400000ULL	/* mapped read-only */
#define RO_SIZE		0x10000ULL

#define DEFAULT_FRAMES		100000UL
#define DEFAULT_CONN_FRAMES	10000UL
#define NR_CLIENTS		2
/*
 * Short, so that a silent server costs little; the fuzzer's delays stay
 * far below it.
 */
#define REQUEST_TIMEOUT_MS	"500"
/* Bounds on what may never take this long, however slow the VM. */
#define CALL_BOUND_MS		30000	/* one VFIO call */
#define CONN_BOUND_MS		180000	/* one connection's budget */
#define SERVER_EXIT_MS		10000	/* the server, once we let go */

#define REPLAY_FMT "fuzz: failing seed %llu (replay: VU_FUZZ_SEED=%llu " \
		   "VU_FUZZ_FRAMES=%lu VU_FUZZ_CONN_FRAMES=%lu make check " \
		   "TESTS=fuzz_test)"
#define REPLAY_ARGS(seed) (seed), (seed), self->conn_frames, self->conn_frames

struct client {
	pthread_t thread;
	unsigned int index;
	int device;
	int container;
	uint8_t *hot;			/* backs HOT_IOVA */
	uint64_t x;			/* PRNG */
	int efd[2];			/* eventfds for SET_IRQS */
	atomic_bool stop;
	atomic_llong call_start;	/* ms, 0 when not inside a call */
	unsigned long ops, failed;
	/* the first call that returned something a syscall must not */
	char bad[160];
};

FIXTURE(fuzz) {
	unsigned long frames_target;
	unsigned long conn_frames;
	unsigned long long base_seed;
	bool verbose;
	uint8_t *hot, *ro;
};

static unsigned long long env_ull(const char *name, unsigned long long def)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : def;
}

/* "Soon enough" bounds grow on a slower kernel (make check-debug). */
static long long scaled(long long ms)
{
	unsigned long long scale = env_ull("VU_TIME_SCALE", 1);

	return ms * (scale >= 1 && scale <= 100 ? scale : 1);
}

FIXTURE_SETUP(fuzz)
{
	self->frames_target = env_ull("VU_FUZZ_FRAMES", DEFAULT_FRAMES);
	self->conn_frames = env_ull("VU_FUZZ_CONN_FRAMES", DEFAULT_CONN_FRAMES);
	if (!self->conn_frames)
		self->conn_frames = 1;
	/* From the clock unless given: every run fuzzes something new. */
	self->base_seed = env_ull("VU_FUZZ_SEED",
				  ((unsigned long long)time(NULL) << 16) ^ getpid());
	self->verbose = env_ull("VU_FUZZ_VERBOSE", 0);
	self->hot = mmap(NULL, HOT_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	self->ro = mmap(NULL, RO_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->hot);
	ASSERT_NE(MAP_FAILED, self->ro);
}

FIXTURE_TEARDOWN(fuzz)
{
	munmap(self->hot, HOT_SIZE);
	munmap(self->ro, RO_SIZE);
}

/* xorshift64*, as the server's: the client's operations follow the seed. */
static uint64_t next(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545f4914f6cdd1dULL;
}

static uint64_t rnd(uint64_t *x, uint64_t n)
{
	return next(x) % n;
}

/*
 * What a VFIO call returned: @want bytes (or 0 for an ioctl), or -1 with
 * an errno a syscall may return.  The kernel's internal codes (512 and
 * up: ERESTARTSYS, ENOIOCTLCMD...) must never reach userspace, whatever
 * the server put in its error reply.
 */
static void check_ret(struct client *cl, const char *what, ssize_t ret,
		      ssize_t want, int err)
{
	if (ret == want)
		return;
	cl->failed++;
	if (ret == -1 && err > 0 && err < 512)
		return;
	if (!cl->bad[0])
		snprintf(cl->bad, sizeof(cl->bad),
			 "%s returned %zd (errno %d), expected %zd or -1 with a valid errno",
			 what, ret, ret == -1 ? err : 0, want);
}

static void set_irqs(struct client *cl)
{
	struct {
		struct vfio_irq_set set;
		int32_t fd;
	} s = {
		.set = {
			.argsz = sizeof(s),
			.index = VFIO_PCI_MSIX_IRQ_INDEX,
			.start = rnd(&cl->x, TDEV_MSIX_COUNT),
			.count = 1,
		},
		.fd = cl->efd[rnd(&cl->x, 2)],
	};
	int ret;

	switch (rnd(&cl->x, 3)) {
	case 0:
		s.set.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
		break;
	case 1:
		s.set.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
		s.fd = -1;
		break;
	default:
		/* everything off */
		s.set.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
		s.set.argsz = sizeof(s.set);
		s.set.start = 0;
		s.set.count = 0;
	}
	ret = ioctl(cl->device, VFIO_DEVICE_SET_IRQS, &s);
	check_ret(cl, "SET_IRQS", ret, 0, errno);
}

/* One operation a VMM might do, picked by the client's PRNG. */
static void client_op(struct client *cl)
{
	static const unsigned int irq_raise[] = {
		TDEV_IRQ_RAISE_MSIX(0), TDEV_IRQ_RAISE_MSIX(3),
		TDEV_IRQ_RAISE_MSIX(7), TDEV_IRQ_RAISE_INTX, TDEV_IRQ_RAISE_ERR,
	};
	uint64_t *x = &cl->x;
	uint8_t buf[65536];
	size_t len;
	off_t off;
	ssize_t n;
	uint32_t v;

	switch (rnd(x, 32)) {
	case 0 ... 9:
		off = rnd(x, TDEV_BAR0_SIZE / 4) * 4;
		n = pread(cl->device, &v, 4, vu_region_off(0) + off);
		check_ret(cl, "BAR0 read", n, 4, errno);
		break;
	case 10 ... 13:
		v = next(x);
		n = pwrite(cl->device, &v, 4, vu_region_off(0) + TDEV_REG_SCRATCH);
		check_ret(cl, "BAR0 write", n, 4, errno);
		break;
	case 14:
		v = irq_raise[rnd(x, ARRAY_SIZE(irq_raise))];
		n = pwrite(cl->device, &v, 4, vu_region_off(0) + TDEV_REG_IRQ_RAISE);
		check_ret(cl, "IRQ raise", n, 4, errno);
		break;
	case 15 ... 19:
		len = rnd(x, 8) ? 1 + rnd(x, 4096) : 1 + rnd(x, sizeof(buf));
		off = rnd(x, TDEV_BAR2_SIZE - len + 1);
		n = pread(cl->device, buf, len,
			  vu_region_off(VFIO_PCI_BAR2_REGION_INDEX) + off);
		check_ret(cl, "BAR2 read", n, len, errno);
		break;
	case 20 ... 22:
		len = 1 + rnd(x, 4096);
		off = rnd(x, TDEV_BAR2_SIZE - len + 1);
		memset(buf, (int)len, len);
		n = pwrite(cl->device, buf, len,
			   vu_region_off(VFIO_PCI_BAR2_REGION_INDEX) + off);
		check_ret(cl, "BAR2 write", n, len, errno);
		break;
	case 23 ... 24:
		off = rnd(x, TDEV_CONFIG_SIZE / 4) * 4;
		n = pread(cl->device, &v, 4,
			  vu_region_off(VFIO_PCI_CONFIG_REGION_INDEX) + off);
		check_ret(cl, "config read", n, 4, errno);
		break;
	case 25: {
		struct vfio_region_info ri = {
			.argsz = sizeof(ri), .index = rnd(x, TDEV_NUM_REGIONS + 1),
		};

		n = ioctl(cl->device, VFIO_DEVICE_GET_REGION_INFO, &ri);
		check_ret(cl, "GET_REGION_INFO", n, 0, errno);
		break;
	}
	case 26: {
		struct vfio_irq_info ii = {
			.argsz = sizeof(ii), .index = rnd(x, TDEV_NUM_IRQS + 1),
		};

		n = ioctl(cl->device, VFIO_DEVICE_GET_IRQ_INFO, &ii);
		check_ret(cl, "GET_IRQ_INFO", n, 0, errno);
		break;
	}
	case 27 ... 29:
		set_irqs(cl);
		break;
	case 30:
		n = ioctl(cl->device, VFIO_DEVICE_RESET);
		check_ret(cl, "RESET", n, 0, errno);
		break;
	default:
		/* The VMM remaps guest memory under the server's DMA. */
		if (cl->index)
			break;
		n = vu_unmap_dma(cl->container, HOT_IOVA, HOT_SIZE);
		check_ret(cl, "UNMAP_DMA", n ? -1 : 0, 0, -n);
		n = vu_map_dma(cl->container, cl->hot, HOT_IOVA, HOT_SIZE,
			    VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
		check_ret(cl, "MAP_DMA", n ? -1 : 0, 0, -n);
	}
}

static void *client_main(void *arg)
{
	struct client *cl = arg;

	while (!atomic_load(&cl->stop)) {
		atomic_store(&cl->call_start, vu_now_ms());
		client_op(cl);
		atomic_store(&cl->call_start, 0);
		cl->ops++;
	}
	return NULL;
}

/* The server's counts, "" / 0 until it wrote them. */
struct counts {
	unsigned long frames, mutated, touches;
	unsigned long fd_frames, fds;	/* frames with fds, and those fds */
	bool done;
	char end[48];
	char bind[24];		/* how a bind reply was mangled, or "intact" */
};

static bool read_counts(const char *file, struct counts *c)
{
	char buf[512], *p;

	memset(c, 0, sizeof(*c));
	if (vu_read_file(file, buf, sizeof(buf)))
		return false;
	p = strstr(buf, "frames ");
	c->frames = p ? strtoul(p + 7, NULL, 10) : 0;
	p = strstr(buf, "mutated ");
	c->mutated = p ? strtoul(p + 8, NULL, 10) : 0;
	p = strstr(buf, "touches ");
	c->touches = p ? strtoul(p + 8, NULL, 10) : 0;
	p = strstr(buf, "\nfd_frames ");
	c->fd_frames = p ? strtoul(p + 11, NULL, 10) : 0;
	p = strstr(buf, "\nfds ");
	c->fds = p ? strtoul(p + 5, NULL, 10) : 0;
	p = strstr(buf, "\nend ");
	if (p)
		sscanf(p + 5, "%47s", c->end);
	p = strstr(buf, "\ndone ");
	c->done = p && p[6] == '1';
	p = strstr(buf, "\nbind ");
	if (p)
		sscanf(p + 6, "%23s", c->bind);
	return true;
}

/* Wait for the server to exit by itself; kill it after @ms.  Its status. */
static int wait_server(struct vu_server *srv, int ms)
{
	long long end = vu_now_ms() + ms;
	int status = -1;

	while (waitpid(srv->pid, &status, WNOHANG) == 0) {
		if (vu_now_ms() > end) {
			kill(srv->pid, SIGKILL);
			waitpid(srv->pid, &status, 0);
			status = -1;
			break;
		}
		usleep(10000);
	}
	srv->pid = 0;
	return status;
}

/*
 * Did this connection make the kernel report anything?  Checked once its
 * server is gone: a file reference the driver put and did not own shows
 * when the server closes its own (server/fuzz.c keeps them until exit).
 */
static bool kernel_quiet(struct __test_metadata *_metadata, int kmsg,
			 unsigned long long seed)
{
	char first[256];
	int n = vu_kmsg_findings(kmsg, first, sizeof(first));

	if (!n)
		return true;
	TH_LOG("fuzz: seed %llu: %d kernel report lines, the first: %s", seed,
	       n, first);
	_metadata->exit_code = KSFT_FAIL;
	return false;
}

/* Tally of how connections ended, by the server's connection-ending event. */
struct ends {
	char name[24][48];
	unsigned int count[24];
	unsigned int n;
};

static void tally(struct ends *e, const char *name)
{
	unsigned int i;

	for (i = 0; i < e->n; i++)
		if (!strcmp(e->name[i], name))
			break;
	if (i == e->n) {
		if (e->n == 24)
			return;
		snprintf(e->name[e->n++], sizeof(e->name[0]), "%s", name);
	}
	e->count[i]++;
}

TEST_F_TIMEOUT(fuzz, frames, 3600)
{
	int groups = vu_count_groups(), fds = vu_count_fds(), kmsg = vu_kmsg_open();
	unsigned long total = 0, mutated = 0, touches = 0, ops = 0;
	unsigned long fd_frames = 0, fds_sent = 0;
	unsigned int conns = 0, broken = 0, refused = 0, i;
	unsigned long long seed = self->base_seed;
	long long start = vu_now_ms(), elapsed;
	struct ends ends = { };
	char line[1024];
	bool ok = true;

	TH_LOG("fuzz: base seed %llu, %lu frames, %lu per connection",
	       self->base_seed, self->frames_target, self->conn_frames);

	for (; ok && total < self->frames_target; seed++, conns++) {
		char seed_arg[24], frames_arg[24], count_file[64], name[32];
		char state[32] = "", reason[128] = "";
		const char *args[] = {
			"--once", "--fuzz", seed_arg, "--fuzz-frames", frames_arg,
			"--fuzz-count-file", count_file, NULL,
		};
		struct client cl[NR_CLIENTS] = { };
		struct vu_server srv = { };
		struct vu_vfio v = { .container = -1, .group = -1, .device = -1 };
		long long conn_start = vu_now_ms();
		struct counts cnt;
		int status, err;

		snprintf(seed_arg, sizeof(seed_arg), "%llu", seed);
		snprintf(frames_arg, sizeof(frames_arg), "%lu", self->conn_frames);
		snprintf(count_file, sizeof(count_file), "/tmp/vu-fuzz-%d-%llu",
			 getpid(), seed);
		unlink(count_file);

		ASSERT_EQ(0, vu_server_startv(&srv, args))
			TH_LOG(REPLAY_FMT, REPLAY_ARGS(seed));
		err = vu_bind(srv.path, name, sizeof(name));
		if (err) {
			/* Only a mangled handshake may fail it, with an errno. */
			read_counts(count_file, &cnt);
			if (!strcmp(cnt.bind, "intact") || -err <= 0 || -err >= 512) {
				TH_LOG("bind failed with %d, bind reply %s", err,
				       cnt.bind[0] ? cnt.bind : "(no count file)");
				TH_LOG(REPLAY_FMT, REPLAY_ARGS(seed));
				_metadata->exit_code = KSFT_FAIL;
				ok = false;
			}
			refused++;
			status = wait_server(&srv, scaled(SERVER_EXIT_MS));
			vu_server_stop(&srv);
			if (!kernel_quiet(_metadata, kmsg, seed)) {
				TH_LOG(REPLAY_FMT, REPLAY_ARGS(seed));
				ok = false;
			}
			read_counts(count_file, &cnt);
			unlink(count_file);
			total += cnt.frames;
			fd_frames += cnt.fd_frames;
			fds_sent += cnt.fds;
			tally(&ends, "bind-refused");
			if (self->verbose)
				TH_LOG("fuzz: seed %llu: bind reply %s, bind error %d",
				       seed, cnt.bind, err);
			continue;
		}
		EXPECT_EQ(0, vu_set_attr(name, "request_timeout_ms", REQUEST_TIMEOUT_MS));
		EXPECT_EQ(0, vu_set_attr(name, "dma_mode", seed & 1 ? "message" : "zero-copy"));
		err = vu_vfio_open(name, &v);
		if (err) {
			read_counts(count_file, &cnt);
			if (!strcmp(cnt.bind, "intact") || -err <= 0 || -err >= 512) {
				TH_LOG("open failed with %d, bind reply %s", err,
				       cnt.bind[0] ? cnt.bind : "(no count file)");
				TH_LOG(REPLAY_FMT, REPLAY_ARGS(seed));
				_metadata->exit_code = KSFT_FAIL;
				ok = false;
			}
		} else {
			EXPECT_EQ(0, vu_map_dma(v.container, self->hot, HOT_IOVA, HOT_SIZE,
					     VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));
			EXPECT_EQ(0, vu_map_dma(v.container, self->ro, RO_IOVA, RO_SIZE,
					     VFIO_DMA_MAP_FLAG_READ));
		}

		for (i = 0; !err && i < NR_CLIENTS; i++) {
			cl[i].index = i;
			cl[i].device = v.device;
			cl[i].container = v.container;
			cl[i].hot = self->hot;
			cl[i].x = (seed * 2 + i + 1) * 0x9e3779b97f4a7c15ULL | 1;
			cl[i].efd[0] = eventfd(0, EFD_CLOEXEC);
			cl[i].efd[1] = eventfd(0, EFD_CLOEXEC);
			ASSERT_EQ(0, pthread_create(&cl[i].thread, NULL, client_main, &cl[i]));
		}

		/* Until the budget is spent or the connection is gone. */
		while (!err) {
			long long now = vu_now_ms();

			vu_attr(name, "state", state, sizeof(state));
			if (strcmp(state, "connected"))
				break;
			if (read_counts(count_file, &cnt) && cnt.done)
				break;
			for (i = 0; i < NR_CLIENTS; i++) {
				long long t = atomic_load(&cl[i].call_start);

				if (t && now - t > scaled(CALL_BOUND_MS)) {
					ok = false;
					TH_LOG("client %u: a VFIO call blocked for %lld ms",
					       i, now - t);
				}
			}
			if (now - conn_start > scaled(CONN_BOUND_MS)) {
				ok = false;
				TH_LOG("connection neither broke nor finished in %lld ms",
				       scaled(CONN_BOUND_MS));
			}
			if (!ok) {
				TH_LOG(REPLAY_FMT, REPLAY_ARGS(seed));
				break;
			}
			usleep(10000);
		}
		if (!strcmp(state, "broken")) {
			broken++;
			vu_attr(name, "broken_reason", reason, sizeof(reason));
		}

		for (i = 0; !err && i < NR_CLIENTS; i++)
			atomic_store(&cl[i].stop, true);
		for (i = 0; !err && i < NR_CLIENTS; i++) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += scaled(CALL_BOUND_MS) / 1000;
			if (pthread_timedjoin_np(cl[i].thread, NULL, &ts)) {
				/* Stuck in the kernel: nothing can be cleaned up. */
				TH_LOG("client %u did not stop", i);
				TH_LOG(REPLAY_FMT, REPLAY_ARGS(seed));
				_metadata->exit_code = KSFT_FAIL;
				return;
			}
			close(cl[i].efd[0]);
			close(cl[i].efd[1]);
			ops += cl[i].ops;
			if (cl[i].bad[0]) {
				ok = false;
				TH_LOG("client %u: %s", i, cl[i].bad);
				TH_LOG(REPLAY_FMT, REPLAY_ARGS(seed));
			}
		}
		if (!ok)
			_metadata->exit_code = KSFT_FAIL;

		/* Closing and deleting always work, connected or broken. */
		vu_vfio_close(&v);
		err = vu_unbind(name);
		EXPECT_EQ(0, err) TH_LOG(REPLAY_FMT, REPLAY_ARGS(seed));
		EXPECT_FALSE(vu_exists(name)) TH_LOG(REPLAY_FMT, REPLAY_ARGS(seed));
		ok &= !err && !vu_exists(name);

		/* The server exits once we are gone (--once), not killed. */
		status = wait_server(&srv, scaled(SERVER_EXIT_MS));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("server status 0x%x; " REPLAY_FMT, status,
			       REPLAY_ARGS(seed));
		ok &= status == 0;
		vu_server_stop(&srv);
		if (!kernel_quiet(_metadata, kmsg, seed)) {
			TH_LOG(REPLAY_FMT, REPLAY_ARGS(seed));
			ok = false;
		}

		read_counts(count_file, &cnt);
		unlink(count_file);
		total += cnt.frames;
		mutated += cnt.mutated;
		touches += cnt.touches;
		fd_frames += cnt.fd_frames;
		fds_sent += cnt.fds;
		tally(&ends, cnt.end[0] ? cnt.end : "(no count file)");
		if (self->verbose || !ok)
			TH_LOG("fuzz: seed %llu: %lu frames, bind reply %s, %s, %s%s%s in %lld ms",
			       seed, cnt.frames, cnt.bind, cnt.end, state,
			       reason[0] ? ": " : "", reason,
			       vu_now_ms() - conn_start);
	}

	elapsed = vu_now_ms() - start;
	line[0] = '\0';
	for (i = 0; i < ends.n; i++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
			 "%s%s %u", i ? ", " : "", ends.name[i], ends.count[i]);
	TH_LOG("fuzz: %lu frames in %u connections (%u broken, %u refused at bind), "
	       "seeds %llu..%llu, %lld ms, %llu frames/s",
	       total, conns, broken, refused, self->base_seed, seed - 1, elapsed,
	       elapsed ? total * 1000ULL / elapsed : 0);
	TH_LOG("fuzz: %lu mangled replies, %lu window accesses, %lu client calls",
	       mutated, touches, ops);
	TH_LOG("fuzz: fds attached: %lu frames (%lu fds)", fd_frames, fds_sent);
	TH_LOG("fuzz: ends: %s", line);

	if (kmsg >= 0)
		close(kmsg);
	/* Nothing left behind. */
	EXPECT_EQ(groups, vu_count_groups());
	EXPECT_EQ(fds, vu_count_fds());
	EXPECT_EQ(0, vu_wait_module_refcnt(0, 5000));
	if (ok)
		EXPECT_LE(self->frames_target, total);
}

TEST_HARNESS_MAIN
