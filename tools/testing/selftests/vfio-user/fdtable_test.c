// SPDX-License-Identifier: GPL-2.0
/*
 * The files the driver handles must never sit in a file table another
 * task can use, and an fd number must never stand for a file between a
 * check and a use:
 *   - the zero-copy window file, at device open (DMA_MAP carries it),
 *   - the VMM's eventfds, at SET_IRQS (checked, then sent),
 *   - the server's region files, at bind (received with SCM_RIGHTS).
 * Multi-threaded VMMs and bind writers race the driver here: a scanner
 * thread readlink()s every fd of the process, forked children scan the
 * table they inherited, a thread dup2()s and closes the fd numbers the
 * driver is about to use, and at bind a thread watches /proc/self/maps for
 * the driver's control-buffer page and writes an fd number of its own into
 * it.  The driver must never leak, send, close or adopt a file that was
 * not the one it meant.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <linux/userfaultfd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "test_device.h"
#include "vu_test.h"

#define BAR2		vu_region_off(VFIO_PCI_BAR2_REGION_INDEX)
/* Out of the way of the low numbers the driver's fds get. */
#define SCAN_DIRFD	700
#define DECOY_FD	701
#define VICTIM_FD	702
#define EVENTFD_FD	703

/* ---- the racing threads ---- */

struct race {
	const char *const *needles;	/* links nobody may see */
	atomic_int armed;		/* the operation under test is running */
	atomic_int busy;		/* threads inside an armed iteration */
	volatile bool stop;
	int target;			/* fd number the racer hits, -1: none */
	int decoy;			/* what it dup2()s there */
	bool racer_closes;		/* and closes it again */
	/*
	 * Rounds alternate: the racer hits the target, or it rests and the
	 * scanner looks at the target number alone, between full scans, as
	 * often as it can (a full scan is slow next to the driver's window).
	 */
	volatile bool racer_rests;
	int dirfd;
	/* results */
	long scans, forks, dup2s, scan_hits, fork_hits;
	char hit[256];			/* the first link seen */
	pthread_t scanner, forker, racer;
	bool have_forker, have_racer;
};

/*
 * A racing thread's turn: false when disarmed.  race_disarm() waits for
 * the turns in progress, so that nothing of a racer's lands once the
 * operation under test is over (a close() of a number the test reuses, a
 * store into a page that is something else by then).
 */
static bool turn_begin(atomic_int *armed, atomic_int *busy)
{
	atomic_fetch_add(busy, 1);
	if (atomic_load(armed))
		return true;
	atomic_fetch_sub(busy, 1);
	/* Idle racers sleep: spinning would starve the driver and server. */
	usleep(200);
	return false;
}

static void turn_end(atomic_int *busy)
{
	atomic_fetch_sub(busy, 1);
}

static void disarm(atomic_int *armed, atomic_int *busy)
{
	atomic_store(armed, 0);
	while (atomic_load(busy))
		sched_yield();
}

static void *scan_fn(void *arg)
{
	struct race *r = arg;
	char what[256], num[16], link[256];
	ssize_t n;
	int i, j;

	snprintf(num, sizeof(num), "%d", r->target);
	while (!r->stop) {
		if (!turn_begin(&r->armed, &r->busy))
			continue;
		r->scans++;
		if (vu_fd_scan(r->dirfd, r->needles, what, sizeof(what)) >= 0 &&
		    !r->scan_hits++)
			snprintf(r->hit, sizeof(r->hit), "scanner: %.230s", what);
		for (i = 0; r->target >= 0 && r->racer_rests && i < 2000 &&
		     atomic_load(&r->armed); i++) {
			n = readlinkat(r->dirfd, num, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			for (j = 0; r->needles[j]; j++)
				if (strstr(link, r->needles[j]) && !r->scan_hits++)
					snprintf(r->hit, sizeof(r->hit),
						 "scanner: fd %d -> %.200s", r->target, link);
		}
		turn_end(&r->busy);
	}
	return NULL;
}

/* A forked child has the table its parent had at fork(): scan it. */
static void *fork_fn(void *arg)
{
	struct race *r = arg;
	int status;
	pid_t pid;

	while (!r->stop) {
		if (!turn_begin(&r->armed, &r->busy))
			continue;
		pid = fork();
		turn_end(&r->busy);
		if (pid == 0)
			_exit(vu_fd_scan(-1, r->needles, NULL, 0) >= 0 ? 1 : 0);
		if (pid < 0)
			continue;
		r->forks++;
		if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 1 && !r->fork_hits++ && !r->hit[0])
			snprintf(r->hit, sizeof(r->hit), "a forked child saw the file");
	}
	return NULL;
}

/* Put the decoy at the target number (and take it away), again and again. */
static void *racer_fn(void *arg)
{
	struct race *r = arg;

	while (!r->stop) {
		if (!turn_begin(&r->armed, &r->busy))
			continue;
		if (r->racer_rests) {
			turn_end(&r->busy);
			sched_yield();
			continue;
		}
		dup2(r->decoy, r->target);
		r->dup2s++;
		if (r->racer_closes)
			close(r->target);
		turn_end(&r->busy);
	}
	return NULL;
}

static int race_start(struct race *r, const char *const *needles, bool fork_too,
		      int target, int decoy, bool racer_closes)
{
	int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	memset(r, 0, sizeof(*r));
	r->needles = needles;
	r->target = target;
	r->decoy = decoy;
	r->racer_closes = racer_closes;
	if (fd < 0)
		return -errno;
	r->dirfd = fcntl(fd, F_DUPFD_CLOEXEC, SCAN_DIRFD);
	close(fd);
	if (r->dirfd < 0)
		return -errno;
	if (pthread_create(&r->scanner, NULL, scan_fn, r))
		return -EAGAIN;
	r->have_forker = fork_too && !pthread_create(&r->forker, NULL, fork_fn, r);
	r->have_racer = target >= 0 && !pthread_create(&r->racer, NULL, racer_fn, r);
	return 0;
}

static void race_arm(struct race *r)
{
	atomic_store(&r->armed, 1);
}

static void race_disarm(struct race *r)
{
	disarm(&r->armed, &r->busy);
}

static void race_stop(struct race *r)
{
	race_disarm(r);
	r->stop = true;
	pthread_join(r->scanner, NULL);
	if (r->have_forker)
		pthread_join(r->forker, NULL);
	if (r->have_racer)
		pthread_join(r->racer, NULL);
	close(r->dirfd);
}

/* The lowest fd number free now: where the kernel's next fd goes. */
static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

/* A memfd of ours, at @at, filled with @byte, to stand in for others' files. */
static int our_memfd(const char *name, int at, int byte)
{
	int fd = memfd_create(name, MFD_CLOEXEC), moved;
	char page[4096];
	int i;

	if (fd < 0)
		return -1;
	memset(page, byte, sizeof(page));
	for (i = 0; i < TDEV_BAR2_SIZE / 4096; i++)
		if (write(fd, page, sizeof(page)) != sizeof(page))
			break;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, at);
	close(fd);
	return moved;
}

/* TDEV_REG_BAD_FDS where the test server has it (the hostile-modes work). */
static uint32_t bad_fds(int device)
{
#ifdef TDEV_REG_BAD_FDS
	return vu_reg_read(device, TDEV_REG_BAD_FDS);
#else
	(void)device;
	return 0;
#endif
}

/* ---- device open: the zero-copy window ---- */

#define WIN_IOVA	0x100000ULL
#define WIN_SIZE	0x10000ULL

/*
 * Open the device again and again while the VMM's other threads scan its
 * fd table, fork, and dup2() a decoy over the number the window file
 * would get.  The window must never show in the table (today it is
 * installed there for the whole DMA_MAP round trip), every open must give
 * a working zero-copy window (the decoy or a closed number sent instead
 * shows as message mode, a failed transfer or in the server's
 * TDEV_REG_BAD_FDS).  With the server's --delay-reply DMA_MAP:300 (when it
 * has it) the window would sit in the table for 300 ms: a few opens
 * suffice; without, many.
 */
TEST(window_never_in_vmm_table)
{
	static const char *const needles[] = { VU_DMA_WINDOW_LINK, NULL };
	const char *slow[] = { "--delay-reply", "DMA_MAP:300", NULL };
	struct vfio_group_status status = { .argsz = sizeof(status) };
	int rounds, round, bad_mode = 0, bad_dma = 0, bad_srv = 0;
	struct vu_server srv;
	struct vu_vfio v = { -1, -1, -1, -1 };
	bool delayed = true;
	char name[32], dev[64], buf[32];
	uint8_t *mem;
	struct race r;
	int decoy;

	if (vu_server_startv(&srv, slow)) {
		vu_server_stop(&srv);
		delayed = false;
		ASSERT_EQ(0, vu_server_start(&srv, NULL));
	}
	rounds = delayed ? 6 : vu_stress(50);
	ASSERT_EQ(0, vu_bind(srv.path, name, sizeof(name)));
	ASSERT_EQ(0, vu_set_attr(name, "dma_mode", "zero-copy"));
	mem = mmap(NULL, WIN_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);

	v.group_id = vu_group_id(name);
	v.container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	ASSERT_GE(v.container, 0);
	snprintf(dev, sizeof(dev), "/dev/vfio/%d", v.group_id);
	v.group = open(dev, O_RDWR | O_CLOEXEC);
	ASSERT_GE(v.group, 0);
	ASSERT_EQ(0, ioctl(v.group, VFIO_GROUP_GET_STATUS, &status));
	ASSERT_EQ(0, ioctl(v.group, VFIO_GROUP_SET_CONTAINER, &v.container));
	ASSERT_EQ(0, ioctl(v.container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	ASSERT_EQ(0, vu_map_dma(v.container, mem, WIN_IOVA, WIN_SIZE,
				VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));

	decoy = our_memfd("vu-decoy", DECOY_FD, 0);
	ASSERT_GE(decoy, 0);
	/* The device fd takes the lowest number, the window the next. */
	ASSERT_EQ(0, race_start(&r, needles, true, lowest_free_fd() + 1, decoy, true));
	for (round = 0; round < rounds; round++) {
		uint32_t pattern = 0xd0d00000 + round;

		r.racer_rests = round & 1;
		race_arm(&r);
		v.device = ioctl(v.group, VFIO_GROUP_GET_DEVICE_FD, name);
		race_disarm(&r);
		ASSERT_GE(v.device, 0) TH_LOG("round %d: %s", round, strerror(errno));
		if (strcmp(vu_attr(name, "dma_active", buf, sizeof(buf)), "zero-copy") &&
		    !bad_mode++)
			TH_LOG("round %d: dma_active %s", round, buf);
		memset(mem, 0, 4);
		if (vu_reg_write(v.device, TDEV_REG_BAR2_FILL, pattern) ||
		    vu_dma_go(v.device, 0, WIN_IOVA, 4, true) ||
		    *(uint32_t *)mem != pattern) {
			if (!bad_dma++)
				TH_LOG("round %d: DMA did not reach guest memory (engine status %u errno %u)",
				       round, vu_reg_read(v.device, TDEV_REG_DMA_STATUS),
				       vu_reg_read(v.device, TDEV_REG_DMA_ERROR));
		}
		if (bad_fds(v.device) && !bad_srv++)
			TH_LOG("round %d: the server got %u files that are not the window",
			       round, bad_fds(v.device));
		close(v.device);
		v.device = -1;
	}
	race_stop(&r);
	TH_LOG("%d opens%s: %ld scans, %ld forks, %ld dup2s over fd %d",
	       rounds, delayed ? " (DMA_MAP replies delayed 300 ms)" : "",
	       r.scans, r.forks, r.dup2s, r.target);
	EXPECT_EQ(0, r.scan_hits) TH_LOG("%s", r.hit);
	EXPECT_EQ(0, r.fork_hits) TH_LOG("%ld children saw the window", r.fork_hits);
	EXPECT_EQ(0, bad_mode) TH_LOG("%d opens without a zero-copy window", bad_mode);
	EXPECT_EQ(0, bad_dma) TH_LOG("%d opens whose window did not work", bad_dma);
	EXPECT_EQ(0, bad_srv);
	EXPECT_EQ(0, vu_stat(name, "dma_pinned_pages"));
	close(decoy);
	vu_vfio_close(&v);
	EXPECT_EQ(0, vu_unbind(name));
	vu_server_stop(&srv);
	munmap(mem, WIN_SIZE);
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
}

/* ---- SET_IRQS: the file checked is the file sent ---- */

struct swapper {
	int num;		/* the number SET_IRQS names */
	int efd, other;		/* what it stands for, in turn */
	volatile bool stop;
	long swaps;
};

/* The eventfd, the pipe, nothing; again and again. */
static void *swap_fn(void *arg)
{
	struct swapper *s = arg;

	while (!s->stop) {
		dup2(s->other, s->num);
		dup2(s->efd, s->num);
		if (++s->swaps % 3 == 0)
			close(s->num);
	}
	dup2(s->efd, s->num);
	return NULL;
}

/*
 * SET_IRQS with an eventfd's number while another thread dup2()s a pipe
 * over that number, the eventfd back, and closes it, as fast as it can.
 * Each SET_IRQS must either succeed with the eventfd or fail cleanly
 * (EINVAL, EBADF) before anything is sent; the server must never receive
 * anything but an eventfd.  Today the driver checks the number's file,
 * then sends the number: now and then the server gets the pipe (the test
 * server refuses it: an error reply, counted in the device's stats, and in
 * TDEV_REG_BAD_FDS where the server has it).  Afterwards every vector
 * fires the eventfd and nothing reaches the pipe.
 */
TEST(set_irqs_sends_what_it_checked)
{
	char buf[sizeof(struct vfio_irq_set) + TDEV_MSIX_COUNT * sizeof(int32_t)];
	struct vfio_irq_set *set = (void *)buf;
	int32_t *fds = (int32_t *)set->data;
	long calls = 0, ok = 0, einval = 0, ebadf = 0, other = 0;
	struct swapper sw = { .stop = false };
	long long errors_before, errors, end;
	int pipefd[2], efd, i, err;
	struct vu_server srv;
	struct vu_vfio v;
	char name[32], junk[64];
	uint64_t cnt;
	pthread_t th;

	ASSERT_EQ(0, vu_server_start(&srv, NULL));
	ASSERT_EQ(0, vu_bind(srv.path, name, sizeof(name)));
	ASSERT_EQ(0, vu_vfio_open(name, &v));
	ASSERT_EQ(0, pipe2(pipefd, O_CLOEXEC | O_NONBLOCK));
	i = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_GE(i, 0);
	efd = fcntl(i, F_DUPFD_CLOEXEC, EVENTFD_FD);
	close(i);
	ASSERT_GE(efd, 0);
	sw.efd = efd;
	sw.other = pipefd[1];
	sw.num = dup(efd);
	ASSERT_GE(sw.num, 0);

	errors_before = vu_stat(name, "errors");
	ASSERT_EQ(0, pthread_create(&th, NULL, swap_fn, &sw));
	end = vu_now_ms() + vu_ms(1500);
	while (vu_now_ms() < end) {
		set->argsz = sizeof(buf);
		set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
		set->index = VFIO_PCI_MSIX_IRQ_INDEX;
		set->start = 0;
		set->count = TDEV_MSIX_COUNT;
		/*
		 * The swapped number first: the driver checks the seven
		 * steady eventfds after it, which widens the window between
		 * its check and the send.
		 */
		fds[0] = sw.num;
		for (i = 1; i < TDEV_MSIX_COUNT; i++)
			fds[i] = efd;
		err = ioctl(v.device, VFIO_DEVICE_SET_IRQS, set) ? errno : 0;
		calls++;
		if (!err)
			ok++;
		else if (err == EINVAL)
			einval++;
		else if (err == EBADF)
			ebadf++;
		else
			other++;
	}
	sw.stop = true;
	pthread_join(th, NULL);
	errors = vu_stat(name, "errors") - errors_before;
	TH_LOG("%ld SET_IRQS: %ld ok, %ld EINVAL, %ld EBADF, %ld other; %ld swaps; "
	       "%lld error replies from the server, %u bad fds it counted",
	       calls, ok, einval, ebadf, other, sw.swaps, errors, bad_fds(v.device));
	EXPECT_EQ(0, other);
	EXPECT_EQ(0, errors) TH_LOG("the server was sent files that are not eventfds");
	EXPECT_EQ(0, bad_fds(v.device));
	EXPECT_STREQ("connected", vu_attr(name, "state", (char[32]){}, 32));

	/* Quiet again: the eventfd is registered and fires, the pipe hears nothing. */
	for (i = 0; i < TDEV_MSIX_COUNT; i++)
		fds[i] = sw.num;
	ASSERT_EQ(0, ioctl(v.device, VFIO_DEVICE_SET_IRQS, set));
	for (i = 0; i < TDEV_MSIX_COUNT; i++)
		ASSERT_EQ(0, vu_reg_write(v.device, TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_MSIX(i)));
	EXPECT_EQ(sizeof(cnt), read(efd, &cnt, sizeof(cnt)));
	EXPECT_EQ(TDEV_MSIX_COUNT, cnt);
	EXPECT_EQ(-1, read(pipefd[0], junk, sizeof(junk)));
	EXPECT_EQ(EAGAIN, errno);

	close(sw.num);
	close(efd);
	close(pipefd[0]);
	close(pipefd[1]);
	vu_vfio_close(&v);
	EXPECT_EQ(0, vu_unbind(name));
	vu_server_stop(&srv);
}

/* ---- bind: the server's files and the writer's memory ---- */

#define MAX_RANGES	512
#define PAGE		4096UL

/* Anonymous private read-write mappings of this process, as [start, end). */
struct ranges {
	uintptr_t r[MAX_RANGES][2];
	int n;
	char buf[128 << 10];	/* /proc/self/maps; no allocation while racing */
};

static int read_anon_rw(struct ranges *rg)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;
	char *p;

	rg->n = 0;
	if (fd < 0)
		return -errno;
	while (len < sizeof(rg->buf) - 1 &&
	       (n = read(fd, rg->buf + len, sizeof(rg->buf) - 1 - len)) > 0)
		len += n;
	close(fd);
	rg->buf[len] = '\0';
	for (p = rg->buf; *p && rg->n < MAX_RANGES; ) {
		char *eol = strchr(p, '\n'), *q;
		uintptr_t start, end;
		unsigned long inode;

		if (!eol)
			break;
		start = strtoul(p, &q, 16);
		end = strtoul(q + 1, &q, 16);
		/* " rw-p 00000000 00:00 0 ", then a path or nothing */
		if (!strncmp(q, " rw-p ", 6)) {
			strtoul(q + 6, &q, 16);			/* offset */
			q = strchr(q + 1, ' ');			/* past dev */
			inode = q && q < eol ? strtoul(q, &q, 10) : 1;
			while (q && q < eol && *q == ' ')
				q++;
			if (q == eol && !inode) {
				rg->r[rg->n][0] = start;
				rg->r[rg->n][1] = end;
				rg->n++;
			}
		}
		p = eol + 1;
	}
	return 0;
}

static bool covered(const struct ranges *rg, uintptr_t addr)
{
	int i;

	for (i = 0; i < rg->n; i++)
		if (addr >= rg->r[i][0] && addr < rg->r[i][1])
			return true;
	return false;
}

struct stomper {
	atomic_int armed, busy;
	volatile bool stop;
	int victim;			/* the fd number written */
	struct ranges base, now;	/* before the bind; while it runs */
	long scans, pages, stomps, faults;
	uintptr_t last_page;
	pthread_t th;
	/* userfaultfd: hold the driver where a received fd is installed */
	int uffd;
	pthread_t uffd_th;
	bool registered;		/* this instance of the page is ours */
	int cycles;			/* fd-slot faults of this instance */
	long wps, events, fd_faults, holds, hold_hits, hold_fork_hits, hijacks;
	long after_fault_stomps;
	/*
	 * Per round: hold the writer once the fd is installed (re-protect
	 * the page for the header, then look), or write our number over the
	 * kernel's as soon as it has written it.
	 */
	volatile bool hold_mode;
	char held[256];			/* what the first hold saw */
};

/*
 * Write @victim over the fd numbers of a control message in @page (a
 * struct cmsghdr, 16 bytes, then the ints) for a while; a fault ends it
 * (the driver unmapped the page).
 */
static void stomp(struct stomper *s, uintptr_t page)
{
	volatile int *fds = (volatile int *)(page + 16);
	volatile long k;
	int j;

	if (sigsetjmp(vu_fault_jmp, 1)) {
		s->faults++;
		return;
	}
	vu_fault_armed = 1;
	for (k = 0; k < 20000 && atomic_load(&s->armed); k++)
		for (j = 0; j < 8; j++)
			fds[j] = s->victim;
	vu_fault_armed = 0;
	s->stomps++;
}

/*
 * With userfaultfd the race is won every time rather than now and then.
 * The driver's control page is write-protected (UFFDIO_WRITEPROTECT) as
 * soon as it appears, while the server is still answering.  The kernel
 * writes a received fd's number into it before installing the fd (that
 * fault is let through, and the page protected again at once), then the
 * control message's header after installing it: that second fault holds
 * the bind writer with the server's file in its table, for as long as we
 * like.  We let the scanner and forked children look, put the writer's
 * own memfd at that number (dup2), and let the driver go on.
 */
static int uffd_wp(int uffd, uintptr_t page, bool wp)
{
	struct uffdio_writeprotect w = {
		.range = { .start = page, .len = PAGE },
		.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(uffd, UFFDIO_WRITEPROTECT, &w) ? -errno : 0;
}

static int uffd_open(void)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_EXACT_ADDRESS,
	};
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A fresh instance of the driver's page: make it present, protect it. */
static void uffd_take(struct stomper *s, uintptr_t page)
{
	struct uffdio_register reg = {
		.range = { .start = page, .len = PAGE },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};

	if (sigsetjmp(vu_fault_jmp, 1)) {
		s->faults++;
		return;
	}
	vu_fault_armed = 1;
	*(volatile int *)page = 0;	/* write-protection needs a PTE */
	vu_fault_armed = 0;
	if (ioctl(s->uffd, UFFDIO_REGISTER, &reg) || uffd_wp(s->uffd, page, true))
		return;
	s->registered = true;
	s->cycles = 0;
	s->wps++;
}

/* Watch the learned address, without faulting, for new instances. */
static void uffd_watch(struct stomper *s)
{
	unsigned char vec;
	long i;

	for (i = 0; i < 100000 && atomic_load(&s->armed); i++) {
		if (mincore((void *)s->last_page, PAGE, &vec)) {
			s->registered = false;	/* gone: the next one is new */
			continue;
		}
		if (!s->registered && !covered(&s->base, s->last_page))
			uffd_take(s, s->last_page);
	}
}

static void *uffd_fn(void *arg)
{
	struct stomper *s = arg;
	struct pollfd p = { .fd = s->uffd, .events = POLLIN };
	struct uffd_msg msg;
	char path[64], link[128];
	uintptr_t page, off;
	int fd, status;
	ssize_t n;
	pid_t pid;

	while (!s->stop) {
		if (poll(&p, 1, 20) <= 0 || read(s->uffd, &msg, sizeof(msg)) != sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		page = msg.arg.pagefault.address & ~(PAGE - 1);
		off = msg.arg.pagefault.address - page;
		s->events++;
		if (off >= 16 && !s->hold_mode) {
			/*
			 * The fd's number, before the fd is installed: let the
			 * kernel write it and write ours over it from now until
			 * the page goes, through the kernel's header writes and
			 * its read-back.
			 */
			s->fd_faults++;
			uffd_wp(s->uffd, page, false);
			stomp(s, page);
			s->after_fault_stomps++;
			continue;
		}
		if (off >= 16) {
			s->fd_faults++;
			/*
			 * The fd's number, before the fd is installed: let it
			 * through and protect the page again for the header.
			 * Spin a little longer each time the kernel has not
			 * got past it, so that it does.
			 */
			uffd_wp(s->uffd, page, false);
			if (++s->cycles < 50) {
				long long until = vu_now_ms() + (s->cycles > 10);
				volatile int spin;

				for (spin = 0; spin < (s->cycles - 1) * 2000; spin++)
					;
				while (vu_now_ms() < until)
					;
				uffd_wp(s->uffd, page, true);
			}
			continue;
		}
		/* The header: the fd is in the writer's table right now. */
		s->holds++;
		fd = *(volatile int *)(page + 16);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, link, sizeof(link) - 1);
		if (n > 0 && !s->held[0]) {
			link[n] = '\0';
			snprintf(s->held, sizeof(s->held), "held the writer at fd %d -> %.100s",
				 fd, link);
		}
		/* A child forked now inherits it. */
		if (vu_fd_scan(-1, (const char *const[]){ VU_SERVER_BAR2_LINK, NULL },
			       NULL, 0) >= 0)
			s->hold_hits++;
		pid = fork();
		if (pid == 0)
			_exit(vu_fd_scan(-1, (const char *const[]){ VU_SERVER_BAR2_LINK, NULL },
					 NULL, 0) >= 0 ? 1 : 0);
		if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 1)
			s->hold_fork_hits++;
		/* And any thread of the writer may replace it. */
		if (n > 0 && dup2(s->victim, fd) == fd)
			s->hijacks++;
		uffd_wp(s->uffd, page, false);
	}
	return NULL;
}

/*
 * Find pages that are anonymous, read-write, private and new since the
 * bind began, one page on their own or at the edge of an older mapping
 * (a new mapping may merge with its neighbour): the driver's control
 * buffer for receiving fds is such a page in the writer's memory.
 */
static void *stomp_fn(void *arg)
{
	struct stomper *s = arg;
	int i;

	while (!s->stop) {
		if (!turn_begin(&s->armed, &s->busy))
			continue;
		s->scans++;
		/*
		 * The driver maps its page where it did last time, most
		 * likely: write there before maps shows it, unless that is
		 * memory that was there before this bind (someone's heap).
		 */
		if (s->uffd >= 0 && s->last_page)
			uffd_watch(s);
		for (i = 0; s->uffd < 0 && s->last_page &&
		     !covered(&s->base, s->last_page) &&
		     i < 64 && atomic_load(&s->armed); i++)
			stomp(s, s->last_page);
		read_anon_rw(&s->now);
		for (i = 0; i < s->now.n && atomic_load(&s->armed); i++) {
			uintptr_t a = s->now.r[i][0], b = s->now.r[i][1], page = 0;

			if (!covered(&s->base, a) &&
			    (b - a == PAGE || covered(&s->base, a + PAGE)))
				page = a;
			else if (b - a > PAGE && !covered(&s->base, b - PAGE) &&
				 covered(&s->base, b - 2 * PAGE))
				page = b - PAGE;
			if (!page)
				continue;
			if (page != s->last_page)
				s->pages++;
			s->last_page = page;
			if (s->uffd < 0)
				stomp(s, page);
		}
		turn_end(&s->busy);
	}
	return NULL;
}

/* The device bound to @path now (one at a time here). */
static int bound_name(const char *path, char *name, size_t size)
{
	return vu_find_new(path, NULL, 0, name, size);
}

/*
 * After a bind, or a bind that failed, that threads of the writer raced:
 * the writer's own file is still open and still its own, and no server
 * file was left in its table.  Returns what went wrong, or NULL.
 */
static const char *check_writer(int victim)
{
	static const char *const server_file[] = { VU_SERVER_BAR2_LINK, NULL };
	static char why[300];
	char link[128], what[256];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", victim);
	n = readlink(link, what, sizeof(what) - 1);
	if (fcntl(victim, F_GETFD) < 0 || n <= 0)
		return "the driver closed one of the writer's own files";
	what[n] = '\0';
	if (!strstr(what, "/memfd:vu-victim"))
		return "the writer's fd now stands for another file";
	if (vu_fd_scan(-1, server_file, what, sizeof(what)) >= 0) {
		snprintf(why, sizeof(why), "a server file was left in the writer's table: %.200s",
			 what);
		return why;
	}
	return NULL;
}

/* And after a bind that succeeded: BAR2 maps the server's memory. */
static const char *check_bind(const char *name, int victim)
{
	struct vfio_region_info info = {
		.argsz = sizeof(info), .index = VFIO_PCI_BAR2_REGION_INDEX,
	};
	const char *bad = check_writer(victim);
	volatile uint32_t *map;
	struct vu_vfio v;

	if (bad)
		return bad;
	if (vu_vfio_open(name, &v)) {
		vu_vfio_close(&v);
		return "cannot open the device";
	}
	if (ioctl(v.device, VFIO_DEVICE_GET_REGION_INFO, &info) ||
	    !(info.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		bad = "BAR2 lost its mapping (the server's fd was gone when the driver took it)";
	} else {
		map = mmap(NULL, TDEV_BAR2_AREA0_SIZE, PROT_READ, MAP_SHARED, v.device, BAR2);
		if (map == MAP_FAILED) {
			bad = "mmap of BAR2 failed";
		} else {
			if (vu_reg_write(v.device, TDEV_REG_BAR2_FILL, 0x5eed5eed) ||
			    map[0] != 0x5eed5eed)
				bad = map[0] == 0x76767676 ?
				      "BAR2 maps the writer's own memfd" :
				      "BAR2 does not map the server's memory";
			munmap((void *)map, TDEV_BAR2_AREA0_SIZE);
		}
	}
	vu_vfio_close(&v);
	return bad;
}

/*
 * Bind again and again while threads of the writing process race the
 * driver: a scanner and forked children look for the server's memfd in
 * the process's fd table, a racer dup2()s the writer's own memfd over
 * (and closes) the number the server's fd would get, and a stomper writes
 * that memfd's number into every new one-page anonymous mapping, where the
 * driver reads the received fd numbers back from.  Today the server's
 * file lands in the writer's table (close-on-exec, but a fork or another
 * thread sees it) and the numbers come back through a page any thread of
 * the writer can write: the driver may close the writer's own file, adopt
 * it as BAR2, leave the server's file behind, or lose BAR2's mapping.
 */
TEST(bind_keeps_files_out_of_writer)
{
	static const char *const needles[] = { VU_SERVER_BAR2_LINK, NULL };
	const char *slow[] = { "--delay-reply", "GET_REGION_INFO:3", NULL };
	int rounds = vu_stress(16), round, failed = 0, refused = 0, fd, victim;
	bool stomped;
	static struct stomper st;
	cpu_set_t all_cpus, cpu0, cpu1;
	bool two_cpus = false;
	long long t0, write_ms = 0, all_ms = vu_now_ms();
	struct vu_server srv;
	char name[32];
	const char *bad;
	struct race r;
	ssize_t n;

	vu_fault_guard_install();
	/*
	 * Region information answered 3 ms late: the driver's control page
	 * is there that long before the kernel writes a received fd into
	 * it, time for the watcher to write-protect it.
	 */
	if (vu_server_startv(&srv, slow)) {
		vu_server_stop(&srv);
		ASSERT_EQ(0, vu_server_start(&srv, NULL));
	}
	victim = our_memfd("vu-victim", VICTIM_FD, 0x76);
	ASSERT_GE(victim, 0);
	memset(&st, 0, sizeof(st));
	st.victim = victim;
	st.uffd = uffd_open();
	if (st.uffd >= 0) {
		ASSERT_EQ(0, pthread_create(&st.uffd_th, NULL, uffd_fn, &st));
		/*
		 * The fault handler on a CPU of its own, the writer on
		 * another while it writes new_device: the handler's writes
		 * must run while the woken writer runs, not after it.
		 */
		two_cpus = sysconf(_SC_NPROCESSORS_ONLN) > 1 &&
			   !sched_getaffinity(0, sizeof(all_cpus), &all_cpus);
		if (two_cpus) {
			CPU_ZERO(&cpu1);
			CPU_SET(1, &cpu1);
			pthread_setaffinity_np(st.uffd_th, sizeof(cpu1), &cpu1);
			CPU_ZERO(&cpu0);
			CPU_SET(0, &cpu0);
		}
	} else {
		TH_LOG("no userfaultfd (%s): racing by chance only", strerror(errno));
	}
	ASSERT_EQ(0, pthread_create(&st.th, NULL, stomp_fn, &st));
	/* new_device's fd takes the lowest number; the server's fd the next. */
	ASSERT_EQ(0, race_start(&r, needles, true, lowest_free_fd() + 1, victim, true));

	for (round = 0; round < rounds; round++) {
		r.racer_rests = st.uffd < 0 ? round & 1 : round & 2;
		fd = open(VU_BUS "/new_device", O_WRONLY | O_CLOEXEC);
		ASSERT_GE(fd, 0);
		ASSERT_EQ(0, read_anon_rw(&st.base));
		/*
		 * One round in four without the page stomper and its
		 * userfaultfd: with the control page taken away the bind
		 * fails (see below), and binds must also succeed under the
		 * other racers.
		 */
		stomped = (round & 3) != 3;
		atomic_store(&st.armed, stomped);
		/*
		 * With userfaultfd, every other round is its alone: the other
		 * racers would only take the CPU its watch needs.
		 */
		if (st.uffd < 0 || !(round & 1))
			race_arm(&r);
		st.hold_mode = round & 2;
		if (two_cpus)
			pthread_setaffinity_np(pthread_self(), sizeof(cpu0), &cpu0);
		t0 = vu_now_ms();
		n = write(fd, srv.path, strlen(srv.path));
		write_ms += vu_now_ms() - t0;
		if (two_cpus)
			pthread_setaffinity_np(pthread_self(), sizeof(all_cpus), &all_cpus);
		race_disarm(&r);
		disarm(&st.armed, &st.busy);
		close(fd);
		if (n < 0) {
			/*
			 * The writer's own threads took the driver's control
			 * page away (write-protected it): the driver refused
			 * the files, and this bind failed, cleanly.
			 */
			EXPECT_EQ(EIO, errno) TH_LOG("bind: %s", strerror(errno));
			EXPECT_TRUE(stomped) TH_LOG("round %d: bind failed, page left alone",
						    round);
			refused++;
			bad = check_writer(victim);
		} else {
			ASSERT_EQ((ssize_t)strlen(srv.path), n);
			ASSERT_EQ(0, bound_name(srv.path, name, sizeof(name)));
			bad = check_bind(name, victim);
		}
		if (bad && failed++ < 3)
			TH_LOG("round %d: %s", round, bad);
		if (fcntl(victim, F_GETFD) < 0) {
			/* Ours was closed: make another for the next rounds. */
			victim = our_memfd("vu-victim", VICTIM_FD, 0x76);
			ASSERT_GE(victim, 0);
		}
		/* A server file left in our table: close it, count it once. */
		while ((fd = vu_fd_scan(-1, needles, NULL, 0)) >= 0)
			close(fd);
		if (n >= 0)
			ASSERT_EQ(0, vu_unbind(name));
	}
	st.stop = true;
	pthread_join(st.th, NULL);
	if (st.uffd >= 0) {
		pthread_join(st.uffd_th, NULL);
		close(st.uffd);
	}
	race_stop(&r);
	TH_LOG("%d binds in %lld ms, %lld ms of them writing new_device", rounds,
	       vu_now_ms() - all_ms, write_ms);
	TH_LOG("%d binds: %ld table scans, %ld forks, %ld dup2s over fd %d, "
	       "%ld maps scans, %ld new pages, %ld stomps (%ld faulted)",
	       rounds, r.scans, r.forks, r.dup2s, r.target, st.scans, st.pages,
	       st.stomps, st.faults);
	TH_LOG("userfaultfd: %ld control pages write-protected, %ld faults (%ld on fd numbers, "
	       "%ld overwritten), %ld holds, %ld hijacks%s%s", st.wps, st.events, st.fd_faults,
	       st.after_fault_stomps, st.holds, st.hijacks, st.held[0] ? "; " : "", st.held);
	/*
	 * A kernel write into the fd slot of the driver's page that faulted
	 * (the page write-protected behind the driver's back): the driver
	 * receives files with page faults disabled, so such a write fails and
	 * the bind with it, rather than wait on the writer's userfaultfd
	 * under a lock every device shares.  The numbers the kernel writes
	 * there are of the kernel threads' table, never the writer's: the
	 * scans below prove no server file reached the writer's table.
	 */
	EXPECT_EQ(0, st.fd_faults)
		TH_LOG("%ld faulting kernel writes of fd numbers into the writer's memory",
		       st.fd_faults);
	TH_LOG("%d of %d binds refused because the control page was taken away",
	       refused, rounds);
	/* The rounds that leave the page alone bind. */
	EXPECT_LE(refused, rounds - rounds / 4);
	/*
	 * A hold is a kernel write into the page's first 16 bytes stopped by
	 * the userfaultfd.  With the old driver that was the cmsg header,
	 * written while a received fd sat in the writer's table; now it can
	 * only be the page being populated when the driver maps it (no file
	 * is received with page faults allowed).  What must never be seen
	 * during one is the server's file in the writer's table.
	 */
	TH_LOG("%ld holds", st.holds);
	EXPECT_EQ(0, st.hold_hits) TH_LOG("%ld holds showed the server's memfd", st.hold_hits);
	EXPECT_EQ(0, st.hold_fork_hits)
		TH_LOG("%ld children forked during a hold inherited it", st.hold_fork_hits);
	EXPECT_EQ(0, r.scan_hits) TH_LOG("%s", r.hit);
	EXPECT_EQ(0, r.fork_hits) TH_LOG("%ld children saw a server file", r.fork_hits);
	EXPECT_EQ(0, failed) TH_LOG("%d of %d binds went wrong", failed, rounds);
	close(victim);
	vu_server_stop(&srv);
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
}

/* BAR2 is mmap-able: the bind received the server's memfd for it. */
static bool bar2_mmaps(const char *name)
{
	struct vfio_region_info info = { .argsz = sizeof(info), .index = 2 };
	struct vu_vfio v;
	bool ok;

	if (vu_vfio_open(name, &v))
		return false;
	ok = !ioctl(v.device, VFIO_DEVICE_GET_REGION_INFO, &info) &&
	     (info.flags & VFIO_REGION_INFO_FLAG_MMAP);
	vu_vfio_close(&v);
	return ok;
}

struct forker {
	volatile bool stop;
	long forks;
};

static void *forker_fn(void *arg)
{
	struct forker *f = arg;

	while (!f->stop) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		if (pid > 0 && waitpid(pid, NULL, 0) == pid)
			f->forks++;
	}
	return NULL;
}

/*
 * A process that forks while it binds (a management daemon spawning its
 * helpers) write-protects its private writable pages for copy-on-write.
 * The driver's control page in the writer's mm must not be one of them:
 * the server's files are received into it with page faults disabled, so
 * a write-protected page fails the bind.  Every bind here carries files
 * (the BAR's memfd) and must succeed.
 */
TEST(bind_while_the_writer_forks)
{
	struct forker f = { .stop = false };
	int round, failed = 0, rounds = 12;
	struct vu_server srv;
	char name[32];
	pthread_t th;

	ASSERT_EQ(0, vu_server_start(&srv, NULL));
	ASSERT_EQ(0, pthread_create(&th, NULL, forker_fn, &f));
	for (round = 0; round < rounds; round++) {
		int err = vu_bind(srv.path, name, sizeof(name));

		if (err) {
			if (failed++ < 3)
				TH_LOG("round %d: bind: %s", round, strerror(-err));
			continue;
		}
		EXPECT_TRUE(bar2_mmaps(name)) TH_LOG("round %d: BAR2 without its file", round);
		ASSERT_EQ(0, vu_unbind(name));
	}
	f.stop = true;
	pthread_join(th, NULL);
	TH_LOG("%d binds while the writer forked %ld times", rounds, f.forks);
	EXPECT_GT(f.forks, rounds);
	EXPECT_EQ(0, failed) TH_LOG("%d of %d binds failed", failed, rounds);
	vu_server_stop(&srv);
}

/*
 * The writer's anonymous memory right where the driver's control page
 * goes (mmap places a new mapping just below the last one, and an
 * anonymous private mapping with the same flags merges with it), and
 * binds from several of its threads at once: each bind's control page
 * must stay a mapping of its own, found and used as such.
 */
/* The VmFlags of the mapping that contains @addr, from /proc/self/smaps. */
static bool vma_flags_of(const void *addr, char *flags, size_t size)
{
	unsigned long lo, hi, a = (unsigned long)addr;
	bool in = false, found = false;
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = lo <= a && a < hi;
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(flags, size, "%.200s", line + 8);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

struct side_binder {
	const char *path;
	pthread_barrier_t *go;
	int err;
};

static void *side_bind_fn(void *arg)
{
	struct side_binder *b = arg;
	char name[32];

	pthread_barrier_wait(b->go);
	b->err = vu_bind(b->path, name, sizeof(name));
	if (!b->err)
		b->err = vu_unbind(name);
	return NULL;
}

TEST(bind_beside_anonymous_memory)
{
	enum { ROUNDS = 6, BINDERS = 3 };
	struct side_binder b[BINDERS];
	int round, i, failed = 0;
	pthread_barrier_t go;
	pthread_t th[BINDERS];
	struct vu_server srv;
	char name[32];

	ASSERT_EQ(0, vu_server_start(&srv, NULL));
	for (round = 0; round < ROUNDS; round++) {
		size_t len = 0x10000;
		uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int err;

		ASSERT_NE(MAP_FAILED, mem);
		memset(mem, 0x5a, len);
		err = vu_bind(srv.path, name, sizeof(name));
		if (err && failed++ < 3)
			TH_LOG("round %d: bind beside our memory: %s", round, strerror(-err));
		if (!err)
			ASSERT_EQ(0, vu_unbind(name));
		/*
		 * Ours is untouched, whatever the driver mapped beside it: its
		 * flags too (a child we fork gets it; a core dump has it).
		 */
		{
			char flags[512] = "";

			ASSERT_TRUE(vma_flags_of(mem, flags, sizeof(flags)));
			EXPECT_EQ(NULL, strstr(flags, " dc"))
				TH_LOG("round %d: our memory became don't-copy:%s", round, flags);
			EXPECT_EQ(NULL, strstr(flags, " dd"))
				TH_LOG("round %d: our memory became don't-dump:%s", round, flags);
		}
		for (i = 0; i < (int)len; i++)
			if (mem[i] != 0x5a)
				break;
		EXPECT_EQ((int)len, i) TH_LOG("round %d: our memory changed at %#x", round, i);
		munmap(mem, len);

		ASSERT_EQ(0, pthread_barrier_init(&go, NULL, BINDERS));
		for (i = 0; i < BINDERS; i++) {
			b[i] = (struct side_binder){ .path = srv.path, .go = &go };
			ASSERT_EQ(0, pthread_create(&th[i], NULL, side_bind_fn, &b[i]));
		}
		for (i = 0; i < BINDERS; i++) {
			pthread_join(th[i], NULL);
			if (b[i].err && failed++ < 3)
				TH_LOG("round %d: concurrent bind %d: %s", round, i,
				       strerror(-b[i].err));
		}
		pthread_barrier_destroy(&go);
	}
	EXPECT_EQ(0, failed) TH_LOG("%d of %d binds failed", failed, ROUNDS * (1 + BINDERS));
	vu_server_stop(&srv);
}

TEST_HARNESS_MAIN
