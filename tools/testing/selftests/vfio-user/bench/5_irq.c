// SPDX-License-Identifier: GPL-2.0
/*
 * vu_bench benchmark 5, "irq": interrupts.
 *
 *   irq_oneway, irq_trigger   MSI-X vector 0 through VFIO_DEVICE_SET_IRQS,
 *                             raised by writing IRQ_RAISE.  irq_oneway is
 *                             from the server's eventfd_write() (stamped by
 *                             irq_stamp.so, LD_PRELOADed into the server) to
 *                             the VMM thread blocked in read() waking up,
 *                             against a plain eventfd between two processes
 *                             stamped the same way.  irq_trigger is from the
 *                             VMM's write of IRQ_RAISE to that wake-up.
 *                             With --irq-cpu N they become irq_*_xcpu: the
 *                             waiters alone on CPU N (kept from halting by
 *                             a SCHED_IDLE spinner), the rest elsewhere.
 */
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <linux/kcmp.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "bench.h"

/*
 * A VMM thread blocked in read() of the interrupt eventfd, as a VMM's
 * irqfd/event loop thread is.  After each wake-up it notes the time and
 * the stamp the signalling side left, then posts @done.
 */
struct waiter {
	pthread_t th;
	int efd;
	struct vu_stamp *stamp;
	_Atomic pid_t tid;
	int stat_fd;
	sem_t done;
	uint64_t last_seq;
	uint64_t t_wake, t_signal;
	bool out_of_step;
	_Atomic bool stop;
};

static void *waiter_fn(void *arg)
{
	struct waiter *w = arg;
	uint64_t v, seq;

	if (opt.irq_cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(opt.irq_cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
	for (;;) {
		if (read(w->efd, &v, sizeof(v)) != sizeof(v))
			break;
		w->t_wake = vu_now_ns();
		if (atomic_load(&w->stop))
			break;
		seq = atomic_load_explicit(&w->stamp->seq, memory_order_acquire);
		w->t_signal = atomic_load_explicit(&w->stamp->ns, memory_order_relaxed);
		if (seq != w->last_seq + 1 || v != 1)
			w->out_of_step = true;
		w->last_seq = seq;
		sem_post(&w->done);
	}
	sem_post(&w->done);
	return NULL;
}

static int waiter_start(struct waiter *w, int efd, struct vu_stamp *stamp)
{
	char path[64];

	memset(w, 0, sizeof(*w));
	w->efd = efd;
	w->stamp = stamp;
	w->last_seq = atomic_load(&stamp->seq);
	sem_init(&w->done, 0, 0);
	if (pthread_create(&w->th, NULL, waiter_fn, w))
		return -EAGAIN;
	while (!atomic_load(&w->tid))
		sched_yield();
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", w->tid);
	w->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
	return w->stat_fd < 0 ? -errno : 0;
}

static void waiter_stop(struct waiter *w)
{
	uint64_t one = 1;

	atomic_store(&w->stop, true);
	if (write(w->efd, &one, sizeof(one)) == sizeof(one))
		pthread_join(w->th, NULL);
	close(w->stat_fd);
	sem_destroy(&w->done);
}

/* Until the waiter sleeps (in its read(), the only place it sleeps). */
static void waiter_wait_asleep(struct waiter *w)
{
	char buf[512], *p;
	ssize_t n;

	for (;;) {
		n = pread(w->stat_fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			return;
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'S')
			return;
		sched_yield();
	}
}

/*
 * --irq-cpu: keep the waiters' CPU from halting.  An idle vCPU under TCG
 * halts its host thread, and waking it is then up to the host's scheduler
 * (milliseconds on a busy host); a SCHED_IDLE spinner keeps it running, so
 * an interrupt's wake-up is an IPI to a running CPU, as on an idle=poll
 * host, and the waiter preempts the spinner at once.
 */
static _Atomic bool spin_stop;

static void *spinner_fn(void *arg)
{
	struct sched_param sp = { 0 };
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(*(int *)arg, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	while (!atomic_load_explicit(&spin_stop, memory_order_relaxed))
		__asm__ __volatile__("pause");
	return NULL;
}

struct irq_ctx {
	struct waiter w;
	int (*trigger)(struct irq_ctx *x);
	struct drv *d;
	struct vfu *f;
	int sock;		/* plain: to the signalling process */
	uint64_t *trig_lat;
	bool out_of_step;
};

static int trigger_drv(struct irq_ctx *x)
{
	uint32_t v = TDEV_IRQ_RAISE_MSIX(0);

	return pwrite(x->d->v.device, &v, 4, TDEV_REG_IRQ_RAISE) == 4 ? 0 : -EIO;
}

static int trigger_vfu(struct irq_ctx *x)
{
	return vfu_write32(&x->f->c, 0, TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_MSIX(0));
}

/* A 32-byte frame, as a REGION_WRITE's header and access would be. */
static int trigger_plain(struct irq_ctx *x)
{
	uint8_t frame[HDR + ACC] = { 0 };

	return send(x->sock, frame, sizeof(frame), MSG_NOSIGNAL) == sizeof(frame) ?
	       0 : -EIO;
}

/* The other process of the plain baseline: stamp, then signal. */
static void plain_signaller(int sock, int efd, struct vu_stamp *st)
{
	uint8_t frame[256];

	for (;;) {
		if (recv(sock, frame, sizeof(frame), 0) <= 0)
			_exit(0);
		atomic_store_explicit(&st->ns, vu_now_ns(), memory_order_relaxed);
		atomic_fetch_add_explicit(&st->seq, 1, memory_order_release);
		if (eventfd_write(efd, 1))
			_exit(1);
	}
}

/*
 * One sample per interrupt: wait until the waiter sleeps, trigger, wait for
 * it to wake.  lat[] gets the signal-to-wake time, trig_lat[] the
 * trigger-to-wake time.
 */
static int batch_irq(void *ctx, long ops, uint64_t *lat, uint64_t *wall)
{
	struct irq_ctx *x = ctx;
	uint64_t t0, sum = 0;
	long i;
	int err;

	for (i = 0; i < ops; i++) {
		waiter_wait_asleep(&x->w);
		t0 = vu_now_ns();
		err = x->trigger(x);
		if (err)
			return err;
		sem_wait(&x->w.done);
		lat[i] = x->w.t_wake > x->w.t_signal ? x->w.t_wake - x->w.t_signal : 0;
		x->trig_lat[i] = x->w.t_wake - t0;
		sum += lat[i];
	}
	if (x->w.out_of_step)
		x->out_of_step = true;
	*wall = sum;
	return 0;
}

static int set_irq_eventfd(int device, int efd)
{
	uint8_t buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *s = (void *)buf;

	*s = (struct vfio_irq_set){
		.argsz = sizeof(buf),
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 0, .count = 1,
	};
	memcpy(s->data, &efd, sizeof(efd));
	return ioctl(device, VFIO_DEVICE_SET_IRQS, s) ? -errno : 0;
}

/*
 * Does the server hold the VMM's own eventfd (the same struct file, by
 * kcmp)?  Then raising the interrupt runs no driver code at all: it is a
 * plain eventfd write from the server to the VMM.
 */
static int server_has_our_file(pid_t server, int fd)
{
	char dir[64], link[PATH_MAX], target[64];
	struct dirent *de;
	int found = 0;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", server);
	dp = opendir(dir);
	if (!dp)
		return -errno;
	while ((de = readdir(dp))) {
		ssize_t n;

		snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, "anon_inode:[eventfd]"))
			continue;
		if (syscall(SYS_kcmp, getpid(), server, KCMP_FILE, fd,
			    atoi(de->d_name)) == 0)
			found = 1;
	}
	closedir(dp);
	return found;
}

void bench_irq(struct bench_targets *t)
{
	struct drv *d = &t->d;
	struct vfu *f = &t->f;
	struct irq_ctx x[3] = {
		{ .trigger = trigger_drv, .d = d, .sock = -1 },
		{ .trigger = trigger_vfu, .f = f, .sock = -1 },
		{ .trigger = trigger_plain, .sock = -1 },
	};
	static const char *const names[3] = { "driver", "vfu_client", "plain_eventfd" };
	const char *b_oneway = opt.irq_cpu >= 0 ? "irq_oneway_xcpu" : "irq_oneway";
	const char *b_trigger = opt.irq_cpu >= 0 ? "irq_trigger_xcpu" : "irq_trigger";
	long ops = ops_for(200), i;
	struct vu_stamp *plain_stamp;
	uint64_t *lat = xcalloc(ops, sizeof(*lat)), wall;
	int efd[3] = { -1, -1, -1 }, sv[2] = { -1, -1 }, r, j, err = 0;
	pid_t child = -1;
	pthread_t spinner;
	bool spinning = false;

	plain_stamp = mmap(NULL, VU_STAMP_PAGE_SIZE, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	for (j = 0; j < 3; j++) {
		efd[j] = eventfd(0, EFD_CLOEXEC);
		x[j].trig_lat = xcalloc(ops, sizeof(uint64_t));
	}
	if (plain_stamp == MAP_FAILED || efd[0] < 0 || efd[1] < 0 || efd[2] < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		jerror("irq", "set-up: %m");
		goto out;
	}
	child = fork();
	if (child == 0) {
		close(sv[0]);
		plain_signaller(sv[1], efd[2], plain_stamp);
	}
	close(sv[1]);
	x[2].sock = sv[0];

	err = set_irq_eventfd(d->v.device, efd[0]);
	if (err) {
		jerror("irq", "VFIO_DEVICE_SET_IRQS(MSI-X 0, eventfd): %s", strerror(-err));
		goto out;
	}
	err = vfu_set_irqs(&f->c, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
			   VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL, 0, &efd[1], 1);
	if (err) {
		jerror("irq", "vfu_client SET_IRQS: %s", strerror(-err));
		goto out;
	}
	if (access(opt.shim, R_OK))
		jnote("irq", "no stamp shim at %s: signal times are missing", opt.shim);
	err = server_has_our_file(d->srv.proc.pid, efd[0]);
	fprintf(jout, "{\"kind\":\"irq_same_file\",\"value\":%s}\n",
		err == 1 ? "true" : err == 0 ? "false" : "null");
	err = 0;

	if (waiter_start(&x[0].w, efd[0], d->srv.stamp) ||
	    waiter_start(&x[1].w, efd[1], f->srv.stamp) ||
	    waiter_start(&x[2].w, efd[2], plain_stamp)) {
		jerror("irq", "waiter threads: %m");
		goto out;
	}
	if (opt.irq_cpu >= 0 && !getenv("VU_BENCH_NO_SPIN"))
		spinning = !pthread_create(&spinner, NULL, spinner_fn, &opt.irq_cpu);
	for (j = 0; j < 3 && !err; j++)	/* warm-up */
		err = batch_irq(&x[j], ops / 10 + 1, lat, &wall);
	for (r = 0; r < opt.rounds && !err; r++) {
		for (j = 0; j < 3; j++) {
			int k = (r + j) % 3;
			uint64_t tsum = 0, c0 = ctxt_now(), dc;

			err = batch_irq(&x[k], ops, lat, &wall);
			dc = ctxt_now() - c0;
			if (err) {
				jerror("irq", "%s, round %d: %s", names[k], r, strerror(-err));
				break;
			}
			batch_ctxt = dc;
			series_batch(series(b_oneway, names[k], 0), r, ops, wall,
				     lat, ops);
			for (i = 0; i < ops; i++)
				tsum += x[k].trig_lat[i];
			batch_ctxt = dc;
			series_batch(series(b_trigger, names[k], 0), r, ops, tsum,
				     x[k].trig_lat, ops);
		}
	}
	for (j = 0; j < 3; j++)
		if (x[j].out_of_step)
			jnote("irq", "%s: a wake-up did not match exactly one stamped signal",
			      names[j]);
	if (spinning) {
		atomic_store(&spin_stop, true);
		pthread_join(spinner, NULL);
	}
	for (j = 0; j < 3; j++)
		if (x[j].w.stat_fd > 0)
			waiter_stop(&x[j].w);
	set_irq_eventfd(d->v.device, -1);
out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (child > 0)
		waitpid(child, NULL, 0);
	for (j = 0; j < 3; j++) {
		if (efd[j] >= 0)
			close(efd[j]);
		free(x[j].trig_lat);
	}
	if (plain_stamp != MAP_FAILED)
		munmap(plain_stamp, VU_STAMP_PAGE_SIZE);
	free(lat);
}
