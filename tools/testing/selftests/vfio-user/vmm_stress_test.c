// SPDX-License-Identifier: GPL-2.0
/*
 * A VMM gone wild: several threads at once doing random VFIO calls with
 * random arguments on one device (info ioctls, SET_IRQS with random
 * flags, ranges and eventfds, reset, pread/pwrite anywhere, mmap and
 * munmap of any region at any offset, the DMA engine, closing and
 * reopening the device) and on its container (MAP_DMA/UNMAP_DMA), while
 * the server is healthy, turns hostile mid-run, or is killed.
 *
 * Nothing is asserted about the answers, only about the kernel and what
 * is left: every phase ends in time, the VMM process can always be
 * killed and reaped, and afterwards no pinned page, group, fd or module
 * reference is left.  Kernel reports in dmesg are the rig's to find; a
 * BUG() turns into a panic while this runs (vu_panic_on_oops()), so that
 * a BUG with type1's locks held ends the run instead of hanging it.
 *
 * Seeded: the seed is printed; VU_STRESS_SEED=S replays a run (as far as
 * threads replay).  VU_STRESS=N makes every phase N times longer.
 *
 * Container unmaps and device opens are serialized among the threads:
 * Debian's 6.12 type1 deadlocks on its own when two unmaps of pinned
 * IOVA, or an unmap and an open, meet (see struct vmm).  Closes are not.
 */
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "test_device.h"
#include "vu_test.h"

#define THREADS		4
#define GUEST_SIZE	(4UL << 20)	/* the VMM's guest memory */
#define GUEST_IOVA	0x100000ULL
#define SLOTS		8		/* MAP_DMA in slots of GUEST_SIZE / SLOTS */
#define SLOT_SIZE	(GUEST_SIZE / SLOTS)
#define MAX_MAPS	4		/* mmaps a thread keeps at a time */
#define TIMEOUT_MS	1000		/* the device's request timeout */

enum op {
	OP_GET_INFO, OP_REGION_INFO, OP_IRQ_INFO, OP_SET_IRQS, OP_RESET,
	OP_READ, OP_WRITE, OP_MMAP, OP_MUNMAP, OP_REOPEN, OP_MAP_DMA,
	OP_UNMAP_DMA, OP_DMA, NR_OPS,
};

static const char *const op_names[NR_OPS] = {
	"GET_INFO", "GET_REGION_INFO", "GET_IRQ_INFO", "SET_IRQS", "RESET",
	"pread", "pwrite", "mmap+touch", "munmap", "close+reopen",
	"MAP_DMA", "UNMAP_DMA", "DMA engine",
};

/* How often each is picked, out of the sum. */
static const int op_weight[NR_OPS] = {
	2, 3, 2, 6, 2, 8, 8, 4, 3, 2, 4, 4, 10,
};

/*
 * A VMM busy with DMA and memory hotplug: pages pinned by the engine,
 * closes and unmaps, little else.  The mix that meets a close racing
 * an unmap of pinned memory most often.
 */
static const int dma_heavy_weight[NR_OPS] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 1, 24,
};

/* What a VMM child reports to the test. */
struct figures {
	long ops[NR_OPS], fails[NR_OPS];
	int first_errno[NR_OPS];	/* of the first failure, per kind */
	long thread_ops[THREADS];
	long faults;		/* SIGBUS/SIGSEGV touching a mapping */
	long pinned_closes;	/* closes that found pages pinned */
	long pinned_at_close;	/* and how many, summed */
	long close_unmaps;	/* unmaps issued while a close ran */
	int setup_err;		/* the child could not open the device */
};

/* The VMM: one device shared by its threads, reopened under a lock. */
struct vmm {
	const char *name;
	struct vu_vfio v;
	pthread_rwlock_t lock;	/* write: the device fd changes */
	/*
	 * Debian's 6.12 type1 takes device_list_lock under iommu->lock in
	 * vfio_notify_dma_unmap() and when a device is opened on the
	 * container, while dma_unmap callbacks take iommu->lock under
	 * device_list_lock (vfio_unpin_pages()).  Two UNMAP_DMAs of pinned
	 * IOVA at once, or a device open during one, deadlock in type1
	 * itself, unkillably, whatever the driver does (design.rst, "A
	 * kernel bug we live with"; the debug kernel carries the fix).  So
	 * those are serialized here.  Closing is not: close against unmap
	 * is what this test must be free to race.
	 */
	pthread_mutex_t type1_lock;
	uint8_t *guest;
	long long deadline;
	uint64_t seed;
	const int *weight;	/* op_weight or another mix */
	struct figures fig;
	pthread_mutex_t fig_lock;
};

struct worker {
	struct vmm *vmm;
	int index;
	uint64_t rng;
	int efds[TDEV_MSIX_COUNT];
	int active_fd;		/* the device's dma_active, kept open */
	struct { void *addr; size_t len; } maps[MAX_MAPS];
	long ops[NR_OPS], fails[NR_OPS], faults;
	int first_errno[NR_OPS];
};

/* xorshift64*: seeded, cheap, good enough to pick calls. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static uint64_t below(uint64_t *s, uint64_t n)
{
	return n ? rnd(s) % n : 0;
}

/* Mostly sizes that make sense, sometimes anything. */
static uint64_t some_size(uint64_t *s)
{
	static const uint64_t sizes[] = { 1, 2, 4, 8, 64, 4096, 0x8000, 0x10000 };

	if (below(s, 8) == 0)
		return below(s, 0x20000);
	return sizes[below(s, sizeof(sizes) / sizeof(sizes[0]))];
}

static uint64_t region_size_of(unsigned int index)
{
	static const uint64_t sizes[TDEV_NUM_REGIONS] = {
		TDEV_BAR0_SIZE, TDEV_BAR1_SIZE, TDEV_BAR2_SIZE, TDEV_BAR3_SIZE,
		TDEV_BAR4_SIZE, TDEV_BAR5_SIZE, TDEV_ROM_SIZE, TDEV_CONFIG_SIZE,
		TDEV_VGA_SIZE,
	};

	return index < TDEV_NUM_REGIONS ? sizes[index] : 0x1000;
}

/* An offset into a region, mostly inside it. */
static uint64_t some_offset(uint64_t *s, unsigned int index)
{
	uint64_t size = region_size_of(index);

	if (below(s, 10) == 0)
		return below(s, size + 0x2000);
	return size ? below(s, size) & ~3ULL : 0;
}

static int do_set_irqs(struct worker *w, int fd)
{
	static const uint32_t data[] = {
		VFIO_IRQ_SET_DATA_NONE, VFIO_IRQ_SET_DATA_BOOL, VFIO_IRQ_SET_DATA_EVENTFD,
	};
	static const uint32_t action[] = {
		VFIO_IRQ_SET_ACTION_MASK, VFIO_IRQ_SET_ACTION_UNMASK,
		VFIO_IRQ_SET_ACTION_TRIGGER,
	};
	char buf[sizeof(struct vfio_irq_set) + 16 * sizeof(int32_t)];
	struct vfio_irq_set *set = (void *)buf;
	uint64_t *s = &w->rng;
	unsigned int i;

	memset(buf, 0, sizeof(buf));
	set->argsz = sizeof(buf);
	set->flags = data[below(s, 3)] | action[below(s, 3)];
	if (below(s, 16) == 0)
		set->flags = rnd(s);		/* anything at all */
	set->index = below(s, 6);
	set->start = below(s, 10);
	set->count = below(s, 11);
	for (i = 0; i < 16; i++) {
		int32_t fd = below(s, 5) ? w->efds[below(s, TDEV_MSIX_COUNT)] : -1;

		if (below(s, 40) == 0)
			fd = below(s, 64);	/* some fd of ours, or none */
		if (set->flags & VFIO_IRQ_SET_DATA_BOOL)
			buf[sizeof(*set) + i] = below(s, 2);
		else
			memcpy(buf + sizeof(*set) + i * 4, &fd, 4);
	}
	return ioctl(fd, VFIO_DEVICE_SET_IRQS, set);
}

static int do_mmap(struct worker *w, int fd)
{
	static const int prots[] = { PROT_READ, PROT_READ | PROT_WRITE, PROT_WRITE };
	uint64_t *s = &w->rng;
	unsigned int index = below(s, 4) ? VFIO_PCI_BAR2_REGION_INDEX : below(s, 10);
	uint64_t off = below(s, 4) ? (below(s, 16) * 4096) : some_offset(s, index);
	size_t len = (1 + below(s, 8)) * 4096;
	int slot = below(s, MAX_MAPS), flags = below(s, 8) ? MAP_SHARED : MAP_PRIVATE;
	volatile uint32_t *p;
	uint32_t val = 0;
	void *addr;

	if (w->maps[slot].addr) {
		munmap(w->maps[slot].addr, w->maps[slot].len);
		w->maps[slot].addr = NULL;
	}
	addr = mmap(NULL, len, prots[below(s, 3)], flags, fd,
		    vu_region_off(index) + off);
	if (addr == MAP_FAILED)
		return -1;
	w->maps[slot].addr = addr;
	w->maps[slot].len = len;
	/* Touch it, read or write, anywhere: a fault is an answer too. */
	p = (volatile uint32_t *)addr + below(s, len / 4);
	val = rnd(s);
	if (vu_probe(p, below(s, 2), &val))
		w->faults++;
	return 0;
}

static int do_munmap(struct worker *w)
{
	int slot = below(&w->rng, MAX_MAPS);

	if (!w->maps[slot].addr)
		return -1;
	/* Also touch it one last time: the device may be gone by now. */
	if (below(&w->rng, 2)) {
		uint32_t val;

		if (vu_probe(w->maps[slot].addr, false, &val))
			w->faults++;
	}
	munmap(w->maps[slot].addr, w->maps[slot].len);
	w->maps[slot].addr = NULL;
	return 0;
}

/* Close the device and open it again: the last close runs close_device. */
static int do_reopen(struct worker *w)
{
	struct vmm *m = w->vmm;
	int ret = 0;

	pthread_rwlock_wrlock(&m->lock);
	if (m->v.device >= 0) {
		long long pinned = vu_stat(m->name, "dma_pinned_pages");

		if (pinned > 0) {
			__atomic_add_fetch(&m->fig.pinned_closes, 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&m->fig.pinned_at_close, pinned, __ATOMIC_RELAXED);
		}
		close(m->v.device);
	}
	pthread_mutex_lock(&m->type1_lock);
	m->v.device = ioctl(m->v.group, VFIO_GROUP_GET_DEVICE_FD, m->name);
	if (m->v.device < 0)
		ret = -1;
	pthread_mutex_unlock(&m->type1_lock);
	pthread_rwlock_unlock(&m->lock);
	return ret;
}

static int do_map_dma(struct worker *w)
{
	uint64_t *s = &w->rng;
	unsigned int slot = below(s, SLOTS);
	uint64_t size = below(s, 3) ? SLOT_SIZE : (1 + below(s, SLOT_SIZE / 4096)) * 4096;
	uint32_t flags = below(s, 4) ? VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE :
				      VFIO_DMA_MAP_FLAG_READ;

	return vu_map_dma(w->vmm->v.container, w->vmm->guest + slot * SLOT_SIZE,
			  GUEST_IOVA + slot * SLOT_SIZE, size, flags);
}

static int do_unmap_dma(struct worker *w)
{
	struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof(unmap) };
	uint64_t *s = &w->rng;
	int ret;

	if (below(s, 10) == 0) {
		unmap.flags = VFIO_DMA_UNMAP_FLAG_ALL;
	} else {
		unmap.iova = GUEST_IOVA + below(s, SLOTS) * SLOT_SIZE;
		unmap.size = (1 + below(s, 3)) * SLOT_SIZE;
	}
	pthread_mutex_lock(&w->vmm->type1_lock);
	ret = ioctl(w->vmm->v.container, VFIO_IOMMU_UNMAP_DMA, &unmap);
	pthread_mutex_unlock(&w->vmm->type1_lock);
	return ret;
}

/* A transfer of the test device's engine, to pin pages in zero-copy mode. */
static int do_dma(struct worker *w, int fd)
{
	uint64_t *s = &w->rng;
	uint32_t len = below(s, 4) ? TDEV_BAR2_SIZE : some_size(s);
	bool to_guest = below(s, 2);
	uint64_t iova;

	if (len > TDEV_BAR2_SIZE || !len)
		len = TDEV_BAR2_SIZE;
	/* Mostly inside one slot, where it may be mapped; sometimes anywhere. */
	iova = GUEST_IOVA + below(s, SLOTS) * SLOT_SIZE +
	       below(s, (SLOT_SIZE - len) / 4096 + 1) * 4096;
	if (below(s, 20) == 0)
		iova = rnd(s);
	if (below(s, 20) == 0)
		return vu_dma_go(fd, rnd(s), rnd(s), len, to_guest);
	return vu_dma_go(fd, to_guest ? 0 : iova, to_guest ? iova : 0, len, to_guest);
}

/* Has the device's DMA stopped (its window withdrawn, or never there)? */
static bool dma_withdrawn(int active_fd)
{
	char buf[32];
	ssize_t n = pread(active_fd, buf, sizeof(buf) - 1, 0);

	return n > 0 && !strncmp(buf, "none", 4);
}

/* One call of kind *@opp; *@opp says what was done in the end. */
static int one_op(struct worker *w, enum op *opp)
{
	enum op op = *opp;
	char buf[0x20000];
	struct vmm *m = w->vmm;
	uint64_t *s = &w->rng;
	unsigned int index;
	int fd, ret;

	switch (op) {
	case OP_REOPEN:
		return do_reopen(w);
	case OP_MAP_DMA:
		return do_map_dma(w);
	case OP_UNMAP_DMA:
		return do_unmap_dma(w);
	case OP_MUNMAP:
		return do_munmap(w);
	default:
		break;
	}

	/*
	 * The device is being closed and reopened: do what a VMM's other
	 * threads do meanwhile, unmap guest memory now and then (close
	 * against unmap), at random moments of the close rather than all
	 * at its start, so that some pinned memory is still mapped when the
	 * close gets to unpinning.
	 */
	while (pthread_rwlock_tryrdlock(&m->lock)) {
		/*
		 * And sometimes the moment the driver withdraws the DMA
		 * window, as dma_active shows: the unmap then meets the
		 * close's unpinning.
		 */
		if (w->active_fd >= 0 && below(s, 2) && dma_withdrawn(w->active_fd)) {
			__atomic_add_fetch(&m->fig.close_unmaps, 1, __ATOMIC_RELAXED);
			*opp = OP_UNMAP_DMA;
			return do_unmap_dma(w);
		}
		if (!below(s, 8)) {
			__atomic_add_fetch(&m->fig.close_unmaps, 1, __ATOMIC_RELAXED);
			*opp = OP_UNMAP_DMA;
			return do_unmap_dma(w);
		}
		usleep(below(s, 500));
	}
	fd = m->v.device;
	switch (op) {
	case OP_GET_INFO: {
		struct vfio_device_info info = { .argsz = below(s, 8) ? sizeof(info) : below(s, 24) };

		ret = ioctl(fd, VFIO_DEVICE_GET_INFO, &info);
		break;
	}
	case OP_REGION_INFO: {
		struct vfio_region_info *info = (void *)buf;

		memset(buf, 0, 1024);
		info->argsz = below(s, 2) ? sizeof(*info) : below(s, 1024);
		info->index = below(s, 11);
		ret = ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, info);
		break;
	}
	case OP_IRQ_INFO: {
		struct vfio_irq_info info = { .argsz = below(s, 8) ? sizeof(info) : below(s, 24),
					      .index = below(s, 7) };

		ret = ioctl(fd, VFIO_DEVICE_GET_IRQ_INFO, &info);
		break;
	}
	case OP_SET_IRQS:
		ret = do_set_irqs(w, fd);
		break;
	case OP_RESET:
		ret = ioctl(fd, VFIO_DEVICE_RESET);
		break;
	case OP_READ:
	case OP_WRITE: {
		uint64_t len = some_size(s);

		index = below(s, 10);
		if (len > sizeof(buf))
			len = sizeof(buf);
		if (op == OP_READ) {
			ret = pread(fd, buf, len, vu_region_off(index) + some_offset(s, index));
		} else {
			memset(buf, (int)rnd(s), len);
			/* No wild register writes to BAR0: keep the device usable. */
			if (index == VFIO_PCI_BAR0_REGION_INDEX && below(s, 2))
				index = VFIO_PCI_BAR2_REGION_INDEX;
			ret = pwrite(fd, buf, len, vu_region_off(index) + some_offset(s, index));
		}
		break;
	}
	case OP_MMAP:
		ret = do_mmap(w, fd);
		break;
	case OP_DMA:
		ret = do_dma(w, fd);
		break;
	default:
		ret = -1;
		break;
	}
	pthread_rwlock_unlock(&m->lock);
	return ret;
}

static enum op pick(uint64_t *s, const int *weight)
{
	int total = 0, i, r;

	for (i = 0; i < NR_OPS; i++)
		total += weight[i];
	r = below(s, total);
	for (i = 0; i < NR_OPS; i++) {
		r -= weight[i];
		if (r < 0)
			return i;
	}
	return OP_GET_INFO;
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	struct vmm *m = w->vmm;
	int i, ret;

	char file[PATH_MAX];

	for (i = 0; i < TDEV_MSIX_COUNT; i++)
		w->efds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	snprintf(file, sizeof(file), VU_BUS "/devices/%s/dma_active", m->name);
	w->active_fd = open(file, O_RDONLY | O_CLOEXEC);
	while (vu_now_ms() < m->deadline) {
		enum op op = pick(&w->rng, m->weight);

		errno = 0;
		ret = one_op(w, &op);
		if (ret < 0 && !w->fails[op]++)
			w->first_errno[op] = errno;
		w->ops[op]++;
	}
	for (i = 0; i < MAX_MAPS; i++)
		if (w->maps[i].addr)
			munmap(w->maps[i].addr, w->maps[i].len);
	for (i = 0; i < TDEV_MSIX_COUNT; i++)
		close(w->efds[i]);
	if (w->active_fd >= 0)
		close(w->active_fd);
	pthread_mutex_lock(&m->fig_lock);
	for (i = 0; i < NR_OPS; i++) {
		m->fig.ops[i] += w->ops[i];
		m->fig.fails[i] += w->fails[i];
		m->fig.thread_ops[w->index] += w->ops[i];
		if (!m->fig.first_errno[i])
			m->fig.first_errno[i] = w->first_errno[i];
	}
	m->fig.faults += w->faults;
	pthread_mutex_unlock(&m->fig_lock);
	return NULL;
}

/* The VMM process: open, run the threads until @ms is up, report. */
static void vmm_main(const char *name, int ms, uint64_t seed, const int *weight,
		     int out)
{
	static struct vmm m;
	struct worker w[THREADS];
	pthread_t th[THREADS];
	int i;

	memset(&m, 0, sizeof(m));
	m.name = name;
	m.seed = seed;
	m.weight = weight;
	pthread_rwlock_init(&m.lock, NULL);
	pthread_mutex_init(&m.type1_lock, NULL);
	pthread_mutex_init(&m.fig_lock, NULL);
	vu_fault_guard_install();
	m.guest = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	m.fig.setup_err = m.guest == MAP_FAILED ? -ENOMEM : vu_vfio_open(name, &m.v);
	if (!m.fig.setup_err) {
		for (i = 0; i < SLOTS; i++)
			vu_map_dma(m.v.container, m.guest + i * SLOT_SIZE,
				   GUEST_IOVA + i * SLOT_SIZE, SLOT_SIZE,
				   VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
		m.deadline = vu_now_ms() + ms;
		for (i = 0; i < THREADS; i++) {
			w[i] = (struct worker){ .vmm = &m, .index = i,
						.rng = seed * 1000003 + i + 1 };
			pthread_create(&th[i], NULL, worker_fn, &w[i]);
		}
		for (i = 0; i < THREADS; i++)
			pthread_join(th[i], NULL);
	}
	if (write(out, &m.fig, sizeof(m.fig)) != sizeof(m.fig))
		_exit(1);
	/* Everything else goes with the process, as with a VMM that dies. */
	_exit(0);
}

struct phase {
	const char *what;
	const char *dma_mode;
	const char *hostile;	/* --hostile MODE after the VMM's first calls */
	bool kill;		/* the server is killed at a random moment */
	int ms;
	const int *weight;	/* the mix of calls; NULL: op_weight */
};

/* Run one VMM child against the device; false if it had to be killed. */
static bool run_vmm(struct __test_metadata *_metadata, const char *name, int ms,
		    uint64_t seed, const int *weight, struct vu_server *srv,
		    int kill_at_ms, struct figures *fig)
{
	struct figures got;
	long long end, killed = 0;
	int pipefd[2], status = 0, i;
	bool reaped = false;
	ssize_t n = 0;
	pid_t pid;

	memset(&got, 0, sizeof(got));
	if (pipe2(pipefd, O_CLOEXEC))
		return false;
	pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		vmm_main(name, ms, seed, weight, pipefd[1]);
	}
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		return false;
	}
	/* The run, plus a request timeout per thread, plus slack. */
	end = vu_now_ms() + ms + vu_ms(THREADS * TIMEOUT_MS + 10000);
	if (kill_at_ms >= 0) {
		usleep(kill_at_ms * 1000);
		EXPECT_EQ(0, vu_server_kill(srv, vu_ms(5000)))
			TH_LOG("the server could not be killed");
		killed = vu_now_ms();
	}
	while (vu_now_ms() < end) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			reaped = true;
			break;
		}
		usleep(10000);
	}
	if (!reaped) {
		EXPECT_TRUE(reaped) TH_LOG("the VMM did not finish in time: killing it");
		kill(pid, SIGKILL);
		end = vu_now_ms() + vu_ms(10000);
		while (!reaped && vu_now_ms() < end) {
			reaped = waitpid(pid, &status, WNOHANG) == pid;
			usleep(10000);
		}
		EXPECT_TRUE(reaped) TH_LOG("the VMM could not be killed (pid %d)", pid);
	}
	if (reaped)
		n = read(pipefd[0], &got, sizeof(got));
	close(pipefd[0]);
	if (n == sizeof(got)) {
		long calls = 0, failed = 0;

		EXPECT_EQ(0, got.setup_err) TH_LOG("the VMM could not open %s", name);
		for (i = 0; i < NR_OPS; i++) {
			calls += got.ops[i];
			failed += got.fails[i];
		}
		fprintf(stderr, "#   %ld calls, %ld failed; %ld of %ld reopens failed (first: %s)\n",
			calls, failed, got.fails[OP_REOPEN], got.ops[OP_REOPEN],
			strerror(got.first_errno[OP_REOPEN]));
		for (i = 0; i < NR_OPS; i++) {
			fig->ops[i] += got.ops[i];
			fig->fails[i] += got.fails[i];
			if (!fig->first_errno[i])
				fig->first_errno[i] = got.first_errno[i];
		}
		for (i = 0; i < THREADS; i++)
			fig->thread_ops[i] += got.thread_ops[i];
		fig->faults += got.faults;
		fprintf(stderr, "#   %ld closes with pages pinned (%ld on average), %ld unmaps during closes\n",
			got.pinned_closes, got.pinned_closes ? got.pinned_at_close / got.pinned_closes : 0,
			got.close_unmaps);
	} else if (reaped) {
		EXPECT_EQ(sizeof(got), n) TH_LOG("the VMM died: status %#x", status);
	}
	(void)killed;
	return reaped;
}

FIXTURE(stress) {
};

FIXTURE_SETUP(stress)
{
}

FIXTURE_TEARDOWN(stress)
{
}

/* Bounded by the phases themselves; the harness's 30 s would cut VU_STRESS. */
TEST_F_TIMEOUT(stress, vmm_stress, 1800)
{
	struct phase phases[] = {
		{ "healthy, zero-copy", "zero-copy", NULL, false, vu_stress(2500), NULL },
		{ "healthy, zero-copy, DMA and unmaps", "zero-copy", NULL, false,
		  vu_stress(5000), dma_heavy_weight },
		{ "healthy, message DMA", "message", NULL, false, vu_stress(2000), NULL },
		{ "hostile fds after bind", "zero-copy", "fds", false, vu_stress(1500), NULL },
		{ "hostile unknown-id after bind", "zero-copy", "unknown-id", false,
		  vu_stress(1500), NULL },
		{ "server killed", "zero-copy", NULL, true, vu_stress(1500), NULL },
		{ "server killed", "message", NULL, true, vu_stress(1500), NULL },
		{ "server killed", "zero-copy", NULL, true, vu_stress(1500), NULL },
	};
	const char *env = getenv("VU_STRESS_SEED");
	int groups = vu_count_groups(), fds = vu_count_fds();
	int old_panic = vu_panic_on_oops();
	struct figures fig = { };
	long long start = vu_now_ms();
	char ms[16], after[16], name[32];
	uint64_t seed, rng;
	unsigned int p;
	long total = 0;
	int i;

	seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	if (!seed)
		seed = 1;
	rng = seed;
	fprintf(stderr, "# vmm_stress: seed %llu (replay: VU_STRESS_SEED=%llu)\n",
		(unsigned long long)seed, (unsigned long long)seed);
	snprintf(ms, sizeof(ms), "%d", TIMEOUT_MS);

	for (p = 0; p < sizeof(phases) / sizeof(phases[0]); p++) {
		const struct phase *ph = &phases[p];
		const char *args[6] = { NULL };
		struct vu_server srv;
		int kill_at = -1, a = 0, unbind_err, err;
		struct vu_child ch;
		bool reaped;

		if (ph->hostile) {
			/* Past bind and open, into the VMM's own calls. */
			snprintf(after, sizeof(after), "%lld",
				 atoll(vu_setup_commands()) + (long long)below(&rng, 200));
			args[a++] = "--hostile";
			args[a++] = ph->hostile;
			args[a++] = "--hostile-after";
			args[a++] = after;
		}
		ASSERT_EQ(0, vu_server_startv(&srv, args));
		ASSERT_EQ(0, vu_bind(srv.path, name, sizeof(name)));
		ASSERT_EQ(0, vu_set_attr(name, "request_timeout_ms", ms));
		ASSERT_EQ(0, vu_set_attr(name, "dma_mode", ph->dma_mode));
		if (ph->kill)
			kill_at = 100 + below(&rng, ph->ms);
		fprintf(stderr, "# phase %u: %s, %d ms%s%s\n", p, ph->what, ph->ms,
			ph->hostile ? ", --hostile-after " : "", ph->hostile ? after : "");
		reaped = run_vmm(_metadata, name, ph->ms, seed + p,
				 ph->weight ? ph->weight : op_weight, &srv, kill_at, &fig);
		if (!reaped) {
			TH_LOG("phase %u (%s) left an unkillable VMM: giving up; replay with "
			       "VU_STRESS_SEED=%llu", p, ph->what, (unsigned long long)seed);
			/* The server may be as stuck: do not wait for it forever. */
			EXPECT_EQ(0, vu_server_kill(&srv, vu_ms(5000)));
			break;
		}
		fprintf(stderr, "#   device %s: %s%s%s\n", name,
			vu_attr(name, "state", (char[32]){}, 32),
			ph->kill || ph->hostile ? ", " : "",
			ph->kill || ph->hostile ?
			vu_attr(name, "broken_reason", (char[160]){}, 160) : "");
		/* The VMM is gone: its close unpinned everything. */
		EXPECT_EQ(0, vu_stat(name, "dma_pinned_pages")) TH_LOG("phase %u", p);
		/* del_device from a child: a hang is a failed bound, not a stuck run. */
		unbind_err = -1;
		if (!vu_unbind_child(&ch, name)) {
			err = vu_child_wait(&ch, vu_ms(10000), &unbind_err, sizeof(unbind_err));
			EXPECT_EQ(0, err) TH_LOG("phase %u: del_device did not return", p);
		}
		EXPECT_EQ(0, unbind_err) TH_LOG("phase %u", p);
		EXPECT_EQ(0, vu_server_kill(&srv, vu_ms(5000))) TH_LOG("phase %u", p);
	}

	for (i = 0; i < NR_OPS; i++) {
		fprintf(stderr, "# %-16s %8ld calls, %8ld failed (first: %s)\n", op_names[i],
			fig.ops[i], fig.fails[i],
			fig.fails[i] ? strerror(fig.first_errno[i]) : "-");
		total += fig.ops[i];
	}
	for (i = 0; i < THREADS; i++)
		fprintf(stderr, "# thread %d: %ld calls\n", i, fig.thread_ops[i]);
	fprintf(stderr, "# %ld calls from %d threads in %lld ms, %ld faults on mappings; seed %llu\n",
		total, THREADS, vu_now_ms() - start, fig.faults, (unsigned long long)seed);
	EXPECT_GT(total, 1000);
	EXPECT_EQ(groups, vu_count_groups());
	EXPECT_EQ(fds, vu_count_fds());
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(3000)));
	vu_panic_on_oops_restore(old_panic);
}

TEST_HARNESS_MAIN
