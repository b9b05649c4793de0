// SPDX-License-Identifier: GPL-2.0
/*
 * vu_bench - the vfio_user driver against userspace baselines, measured
 * side by side in one run.  Runs as root inside the test VM (bench/run.sh
 * boots it, bench/guest.sh loads the module and starts us); writes one JSON
 * object per line, which bench/render.py turns into the table and the plot.
 *
 * What is measured (the "bench" names in the output):
 *
 *   trap_read, trap_write     4-byte pread/pwrite of BAR0 SCRATCH on the VFIO
 *                             device fd ("driver"), against vfu_client doing
 *                             the same REGION_READ/WRITE on a second server
 *                             instance ("vfu_client") and a raw AF_UNIX
 *                             ping-pong of frames of the same sizes with an
 *                             echo process ("raw_socket", the floor).
 *   pipe_read_dN              the same reads with N = 1, 2, 4 in flight: N
 *                             VMM threads on one device fd, against one
 *                             userspace thread keeping N requests in flight
 *                             (sliding window) on vfu_client and on the raw
 *                             socket: the best a userspace client can do.
 *   mmap_read, mmap_write     memcpy of BAR2's 32 KiB sparse area 1, mmap'd
 *                             through the device fd, against the server's
 *                             memfd (from vfu_client's GET_REGION_INFO)
 *                             mapped directly.
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
 *   dma_to_bar2, dma_to_guest the DMA engine (BAR0 0x40..) copying 64 KiB
 *                             between VMM memory (VFIO_IOMMU_MAP_DMA'd
 *                             anonymous memory) and BAR2, GO until STATUS
 *                             reads DONE, with dma_mode zero-copy and
 *                             message, against memcpy() of 64 KiB; "go" is
 *                             the GO write alone and "doorbell" a SCRATCH
 *                             write in the same phase, so GO minus doorbell
 *                             is the zero-copy engine's own copy time.
 *
 * Every bench runs in rounds; in each round every variant runs one batch,
 * in an order that rotates from round to round, so drift on the shared TCG
 * host hits all of them alike.  Every operation is timed on its own with
 * CLOCK_MONOTONIC; all samples are kept (the output has their CDF).  Each
 * batch also counts the system's context switches (/proc/stat), reported
 * per operation: the number of hops a path takes.
 */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <linux/kcmp.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "vu_test.h"
#include "test_device.h"
#include "lib/vfu_client.h"
#include "vu_stamp.h"

#define HDR		sizeof(struct vfio_user_header)
#define ACC		sizeof(struct vfio_user_region_access)
#define CDF_POINTS	1000		/* samples kept per series for the plot */
#define DMA_LEN		0x10000		/* one engine transfer: all of BAR2 */
#define DMA_IOVA	0x40000000ull	/* where our buffer sits in the IOVA space */
#define MAX_DEPTH	16
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/* ---- options, output ---- */

static struct {
	char server[PATH_MAX];
	char shim[PATH_MAX];
	const char *out;
	int rounds;
	double scale;
	const char *only;
	int irq_cpu;		/* -1: no pinning */
} opt = { .rounds = 10, .scale = 1.0, .irq_cpu = -1 };

static FILE *jout;

static bool wanted(const char *bench)
{
	char list[256], *tok, *save;

	if (!opt.only)
		return true;
	snprintf(list, sizeof(list), "%s", opt.only);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (!strcmp(tok, bench))
			return true;
	return false;
}

static long ops_for(long base)
{
	long n = lround(base * opt.scale);

	return n < 4 ? 4 : n;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s < 0x20)
			fputc(' ', f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* {"kind":KIND,"bench":BENCH,"msg":...}: an error or a note for the report. */
static void jmsg(const char *kind, const char *bench, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void jmsg(const char *kind, const char *bench, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "vu_bench: %s: %s: %s\n", kind, bench, msg);
	fprintf(jout, "{\"kind\":\"%s\",\"bench\":", kind);
	json_str(jout, bench);
	fprintf(jout, ",\"msg\":");
	json_str(jout, msg);
	fprintf(jout, "}\n");
	fflush(jout);
}

#define jerror(bench, ...)	jmsg("error", bench, __VA_ARGS__)
#define jnote(bench, ...)	jmsg("note", bench, __VA_ARGS__)

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		perror("vu_bench: calloc");
		exit(1);
	}
	return p;
}

/* ---- series of samples ---- */

struct batch {
	int round;
	uint64_t ops, wall_ns, median_ns, ctxt;
};

/* Context switches, system-wide: how many hops an operation takes. */
static uint64_t ctxt_now(void)
{
	char line[256];
	uint64_t v = 0;
	FILE *f = fopen("/proc/stat", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "ctxt ", 5))
			v = strtoull(line + 5, NULL, 10);
	fclose(f);
	return v;
}

/* Set by the batch runners, taken by the next series_batch(). */
static uint64_t batch_ctxt;

struct series {
	char bench[32], variant[32];
	uint64_t bytes_per_op;
	uint64_t *lat;
	size_t n, cap;
	struct batch *b;
	size_t nb, cap_b;
	struct series *next;
};

static struct series *all_series, **series_tail = &all_series;

static struct series *series(const char *bench, const char *variant,
			     uint64_t bytes)
{
	struct series *s;

	for (s = all_series; s; s = s->next)
		if (!strcmp(s->bench, bench) && !strcmp(s->variant, variant))
			return s;
	s = xcalloc(1, sizeof(*s));
	snprintf(s->bench, sizeof(s->bench), "%s", bench);
	snprintf(s->variant, sizeof(s->variant), "%s", variant);
	s->bytes_per_op = bytes;
	*series_tail = s;
	series_tail = &s->next;
	return s;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted @v. */
static uint64_t pct(const uint64_t *v, size_t n, double p)
{
	size_t r;

	if (!n)
		return 0;
	r = (size_t)ceil(p / 100.0 * n);
	return v[r ? r - 1 : 0];
}

/* Add one batch: @n latencies, @ops operations done in @wall_ns. */
static void series_batch(struct series *s, int round, uint64_t ops,
			 uint64_t wall_ns, const uint64_t *lat, size_t n)
{
	uint64_t *sorted;

	if (s->n + n > s->cap) {
		s->cap = (s->n + n) * 2;
		s->lat = realloc(s->lat, s->cap * sizeof(*s->lat));
		if (!s->lat) {
			perror("vu_bench: realloc");
			exit(1);
		}
	}
	memcpy(s->lat + s->n, lat, n * sizeof(*lat));
	s->n += n;
	if (s->nb == s->cap_b) {
		s->cap_b = s->cap_b ? 2 * s->cap_b : 16;
		s->b = realloc(s->b, s->cap_b * sizeof(*s->b));
		if (!s->b) {
			perror("vu_bench: realloc");
			exit(1);
		}
	}
	sorted = xcalloc(n, sizeof(*sorted));
	memcpy(sorted, lat, n * sizeof(*lat));
	qsort(sorted, n, sizeof(*sorted), cmp_u64);
	s->b[s->nb++] = (struct batch){
		.round = round, .ops = ops, .wall_ns = wall_ns,
		.median_ns = pct(sorted, n, 50), .ctxt = batch_ctxt,
	};
	batch_ctxt = 0;
	free(sorted);
}

static void series_emit(struct series *s)
{
	uint64_t ops = 0, wall = 0, sum = 0, ctxt = 0;
	size_t i, npts;

	if (!s->n)
		return;
	qsort(s->lat, s->n, sizeof(*s->lat), cmp_u64);
	for (i = 0; i < s->nb; i++) {
		ops += s->b[i].ops;
		wall += s->b[i].wall_ns;
		ctxt += s->b[i].ctxt;
	}
	for (i = 0; i < s->n; i++)
		sum += s->lat[i];
	fprintf(jout, "{\"kind\":\"series\",\"bench\":\"%s\",\"variant\":\"%s\","
		"\"bytes_per_op\":%llu,\"n\":%zu,\"ops\":%llu,\"wall_ns\":%llu,"
		"\"ops_per_s\":%.1f,\"min_ns\":%llu,\"median_ns\":%llu,"
		"\"p90_ns\":%llu,\"p99_ns\":%llu,\"max_ns\":%llu,\"mean_ns\":%.1f,"
		"\"ctxt_per_op\":%.2f,\"batches\":[",
		s->bench, s->variant, (unsigned long long)s->bytes_per_op, s->n,
		(unsigned long long)ops, (unsigned long long)wall,
		wall ? ops * 1e9 / wall : 0.0, (unsigned long long)s->lat[0],
		(unsigned long long)pct(s->lat, s->n, 50),
		(unsigned long long)pct(s->lat, s->n, 90),
		(unsigned long long)pct(s->lat, s->n, 99),
		(unsigned long long)s->lat[s->n - 1], (double)sum / s->n,
		ops ? (double)ctxt / ops : 0.0);
	for (i = 0; i < s->nb; i++)
		fprintf(jout, "%s[%d,%llu,%llu,%llu]", i ? "," : "", s->b[i].round,
			(unsigned long long)s->b[i].ops,
			(unsigned long long)s->b[i].wall_ns,
			(unsigned long long)s->b[i].median_ns);
	/* The CDF: samples at evenly spaced ranks, first and last included. */
	fprintf(jout, "],\"cdf\":[");
	npts = s->n < CDF_POINTS ? s->n : CDF_POINTS;
	for (i = 0; i < npts; i++) {
		size_t r = npts > 1 ? i * (s->n - 1) / (npts - 1) : 0;

		fprintf(jout, "%s%llu", i ? "," : "", (unsigned long long)s->lat[r]);
	}
	fprintf(jout, "]}\n");
	fflush(jout);
}

/* ---- variants and rounds ---- */

/*
 * A variant is one way of doing the benchmark's operation: either @op, one
 * operation (timed here), or @batch, which does @ops operations itself and
 * fills @lat[0..ops) and *@wall.  Both return 0 or -errno.
 */
struct variant {
	const char *name;
	int (*op)(void *ctx);
	int (*batch)(void *ctx, long ops, uint64_t *lat, uint64_t *wall);
	void *ctx;
	uint64_t bytes;
};

static int run_batch(const struct variant *v, long ops, uint64_t *lat,
		     uint64_t *wall)
{
	uint64_t t0, t, t2, c0 = ctxt_now();
	long i;
	int err;

	if (v->batch) {
		err = v->batch(v->ctx, ops, lat, wall);
		batch_ctxt = ctxt_now() - c0;
		return err;
	}
	t0 = t = now_ns();
	for (i = 0; i < ops; i++) {
		err = v->op(v->ctx);
		if (err)
			return err;
		t2 = now_ns();
		lat[i] = t2 - t;
		t = t2;
	}
	*wall = t - t0;
	batch_ctxt = ctxt_now() - c0;
	return 0;
}

/*
 * Warm every variant up, then opt.rounds rounds of one batch of @ops per
 * variant, rotating the order.  Returns 0, or -errno after reporting which
 * variant failed (what it measured so far is kept).
 */
static int run_rounds(const char *bench, const struct variant *v, int nv,
		      long ops)
{
	uint64_t *lat = xcalloc(ops, sizeof(*lat)), wall;
	int r, j, err = 0;

	for (j = 0; j < nv && !err; j++) {
		err = run_batch(&v[j], ops / 10 + 1, lat, &wall);
		if (err)
			jerror(bench, "%s warm-up: %s", v[j].name, strerror(-err));
	}
	for (r = 0; r < opt.rounds && !err; r++) {
		for (j = 0; j < nv; j++) {
			const struct variant *x = &v[(r + j) % nv];

			err = run_batch(x, ops, lat, &wall);
			if (err) {
				jerror(bench, "%s, round %d: %s", x->name, r,
				       strerror(-err));
				break;
			}
			series_batch(series(bench, x->name, x->bytes), r, ops,
				     wall, lat, ops);
		}
	}
	free(lat);
	return err;
}

/* ---- servers ---- */

struct server {
	pid_t pid;
	char dir[64];
	char path[108];
	char stamp_path[80];
	struct vu_stamp *stamp;
};

static struct vu_stamp *stamp_map(const char *path)
{
	void *p;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return NULL;
	if (ftruncate(fd, VU_STAMP_PAGE_SIZE)) {
		close(fd);
		return NULL;
	}
	p = mmap(NULL, VU_STAMP_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

/* Start a test server with the stamp shim preloaded; wait until it listens. */
static int server_start(struct server *s)
{
	char fdarg[16], ready[8];
	int pipefd[2];
	ssize_t n;

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/vu-bench-XXXXXX");
	if (!mkdtemp(s->dir))
		return -errno;
	snprintf(s->path, sizeof(s->path), "%s/sock", s->dir);
	snprintf(s->stamp_path, sizeof(s->stamp_path), "%s/stamp", s->dir);
	s->stamp = stamp_map(s->stamp_path);
	if (!s->stamp)
		return -errno;
	if (pipe(pipefd))
		return -errno;
	snprintf(fdarg, sizeof(fdarg), "%d", pipefd[1]);
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		close(pipefd[0]);
		if (opt.shim[0] && !access(opt.shim, R_OK))
			setenv("LD_PRELOAD", opt.shim, 1);
		setenv(VU_STAMP_ENV, s->stamp_path, 1);
		execl(opt.server, opt.server, "-s", s->path, "--ready-fd", fdarg,
		      (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	n = read(pipefd[0], ready, sizeof(ready));
	close(pipefd[0]);
	return n > 0 ? 0 : -ECHILD;
}

static void server_stop(struct server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	if (s->stamp)
		munmap(s->stamp, VU_STAMP_PAGE_SIZE);
	s->stamp = NULL;
	unlink(s->path);
	unlink(s->stamp_path);
	rmdir(s->dir);
}

/* ---- the three ways to reach a device ---- */

/* The driver: a bound server, opened the way a VMM opens it. */
struct drv {
	struct server srv;
	char name[32];
	struct vu_vfio v;
	bool bound;
};

static int drv_setup(struct drv *d)
{
	int err;

	memset(d, 0, sizeof(*d));
	d->v.container = d->v.group = d->v.device = -1;
	err = server_start(&d->srv);
	if (!err)
		err = vu_bind(d->srv.path, d->name, sizeof(d->name));
	if (!err) {
		d->bound = true;
		err = vu_vfio_open(d->name, &d->v);
	}
	return err;
}

static void drv_teardown(struct drv *d)
{
	vu_vfio_close(&d->v);
	if (d->bound)
		vu_unbind(d->name);
	server_stop(&d->srv);
}

/* The userspace client on a server of its own. */
struct vfu {
	struct server srv;
	struct vfu_client c;
};

static int vfu_setup(struct vfu *f)
{
	int err;

	memset(f, 0, sizeof(*f));
	f->c.fd = -1;
	err = server_start(&f->srv);
	if (!err)
		err = vfu_connect(&f->c, f->srv.path);
	if (!err)
		err = vfu_negotiate(&f->c);
	return err;
}

static void vfu_teardown(struct vfu *f)
{
	if (f->c.fd >= 0)
		vfu_disconnect(&f->c);
	server_stop(&f->srv);
}

/*
 * The floor: a socketpair to an echo process that answers every
 * REGION_READ/WRITE frame with a reply of the size the server's would have
 * (16 + 16 + count for a read, 16 + 16 for a write), one recv() and one
 * send() per frame on each side.
 */
struct raw {
	int fd;
	pid_t pid;
	uint16_t next_id;
	uint8_t rx[4096];
	size_t start, end;
};

static void echo_peer(int fd)
{
	static uint8_t buf[65536];
	size_t have = 0, off;
	ssize_t n;

	for (;;) {
		n = recv(fd, buf + have, sizeof(buf) - have, 0);
		if (n <= 0)
			_exit(0);
		have += n;
		for (off = 0; have - off >= HDR;) {
			const struct vfio_user_header *h = (void *)(buf + off);
			const struct vfio_user_region_access *a = (void *)(h + 1);
			struct {
				struct vfio_user_header h;
				struct vfio_user_region_access a;
				uint8_t data[64];
			} r;
			size_t len = HDR + ACC;

			if (h->msg_size < HDR + ACC || h->msg_size > 1024)
				_exit(1);
			if (have - off < h->msg_size)
				break;
			r.h = *h;
			r.h.flags = VFIO_USER_F_TYPE_REPLY;
			r.a = *a;
			if (h->command == VFIO_USER_REGION_READ) {
				if (a->count > sizeof(r.data))
					_exit(1);
				memset(r.data, 0, a->count);
				len += a->count;
			}
			r.h.msg_size = len;
			if (send(fd, &r, len, MSG_NOSIGNAL) != (ssize_t)len)
				_exit(1);
			off += h->msg_size;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
}

static int raw_setup(struct raw *r)
{
	int sv[2];

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	r->pid = fork();
	if (r->pid < 0)
		return -errno;
	if (r->pid == 0) {
		close(sv[0]);
		echo_peer(sv[1]);
	}
	close(sv[1]);
	r->fd = sv[0];
	return 0;
}

static void raw_teardown(struct raw *r)
{
	if (r->fd >= 0)
		close(r->fd);
	if (r->pid > 0)
		waitpid(r->pid, NULL, 0);
	r->fd = -1;
	r->pid = 0;
}

/* One request frame, one send(). */
static int raw_send(struct raw *r, uint16_t cmd, uint32_t count, uint16_t *id)
{
	struct {
		struct vfio_user_header h;
		struct vfio_user_region_access a;
		uint32_t data;
	} f = {
		.h = { .msg_id = r->next_id++, .command = cmd,
		       .flags = VFIO_USER_F_TYPE_COMMAND },
		.a = { .offset = TDEV_REG_SCRATCH, .region = 0, .count = count },
	};
	size_t len = HDR + ACC + (cmd == VFIO_USER_REGION_WRITE ? count : 0);

	f.h.msg_size = len;
	*id = f.h.msg_id;
	if (send(r->fd, &f, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -errno ? -errno : -EIO;
	return 0;
}

/* The next reply frame; recv() only when none is buffered. */
static int raw_recv(struct raw *r, uint16_t *id)
{
	for (;;) {
		const struct vfio_user_header *h = (void *)(r->rx + r->start);
		size_t avail = r->end - r->start;
		ssize_t n;

		if (avail >= HDR && avail >= h->msg_size) {
			*id = h->msg_id;
			r->start += h->msg_size;
			if (r->start == r->end)
				r->start = r->end = 0;
			return 0;
		}
		if (r->start && r->end + 256 > sizeof(r->rx)) {
			memmove(r->rx, r->rx + r->start, avail);
			r->start = 0;
			r->end = avail;
		}
		n = recv(r->fd, r->rx + r->end, sizeof(r->rx) - r->end, 0);
		if (n <= 0)
			return n ? -errno : -ECONNRESET;
		r->end += n;
	}
}

/* ---- 1. trapped 4-byte accesses ---- */

static uint32_t scratch_val;

static int op_drv_read(void *ctx)
{
	struct drv *d = ctx;
	uint32_t v;

	return pread(d->v.device, &v, 4, TDEV_REG_SCRATCH) == 4 ? 0 : -EIO;
}

static int op_drv_write(void *ctx)
{
	struct drv *d = ctx;
	uint32_t v = ++scratch_val;

	return pwrite(d->v.device, &v, 4, TDEV_REG_SCRATCH) == 4 ? 0 : -EIO;
}

static int op_vfu_read(void *ctx)
{
	struct vfu *f = ctx;
	uint32_t v;

	return vfu_read32(&f->c, 0, TDEV_REG_SCRATCH, &v);
}

static int op_vfu_write(void *ctx)
{
	struct vfu *f = ctx;

	return vfu_write32(&f->c, 0, TDEV_REG_SCRATCH, ++scratch_val);
}

static int raw_op(struct raw *r, uint16_t cmd)
{
	uint16_t id, rid;
	int err = raw_send(r, cmd, 4, &id);

	if (!err)
		err = raw_recv(r, &rid);
	if (!err && rid != id)
		err = -EPROTO;
	return err;
}

static int op_raw_read(void *ctx)
{
	return raw_op(ctx, VFIO_USER_REGION_READ);
}

static int op_raw_write(void *ctx)
{
	return raw_op(ctx, VFIO_USER_REGION_WRITE);
}

static void bench_trap(struct drv *d, struct vfu *f, struct raw *r)
{
	const struct variant rd[] = {
		{ "driver", op_drv_read, NULL, d, 4 },
		{ "vfu_client", op_vfu_read, NULL, f, 4 },
		{ "raw_socket", op_raw_read, NULL, r, 4 },
	}, wr[] = {
		{ "driver", op_drv_write, NULL, d, 4 },
		{ "vfu_client", op_vfu_write, NULL, f, 4 },
		{ "raw_socket", op_raw_write, NULL, r, 4 },
	};

	run_rounds("trap_read", rd, 3, ops_for(2000));
	run_rounds("trap_write", wr, 3, ops_for(2000));
}

/* ---- 2. pipelined reads ---- */

struct pipe_ctx {
	struct drv *d;
	struct vfu *f;
	struct raw *r;
	int depth;
};

struct drv_thread {
	pthread_t th;
	pthread_barrier_t *bar;
	int fd;
	long ops;
	uint64_t *lat;
	uint64_t start, end;
	int err;
};

static void *drv_thread_fn(void *arg)
{
	struct drv_thread *t = arg;
	uint64_t now, prev;
	uint32_t v;
	long i;

	pthread_barrier_wait(t->bar);
	t->start = prev = now_ns();
	for (i = 0; i < t->ops; i++) {
		if (pread(t->fd, &v, 4, TDEV_REG_SCRATCH) != 4) {
			t->err = -errno;
			break;
		}
		now = now_ns();
		t->lat[i] = now - prev;
		prev = now;
	}
	t->end = prev;
	return NULL;
}

/* @depth VMM threads reading the same device fd, each one at a time. */
static int batch_drv_threads(void *ctx, long ops, uint64_t *lat, uint64_t *wall)
{
	struct pipe_ctx *p = ctx;
	struct drv_thread t[MAX_DEPTH];
	pthread_barrier_t bar;
	uint64_t start = UINT64_MAX, end = 0;
	long done = 0;
	int i, err = 0;

	pthread_barrier_init(&bar, NULL, p->depth + 1);
	for (i = 0; i < p->depth; i++) {
		t[i] = (struct drv_thread){
			.bar = &bar, .fd = p->d->v.device,
			.ops = ops / p->depth + (i < ops % p->depth),
		};
		t[i].lat = lat + done;
		done += t[i].ops;
		pthread_create(&t[i].th, NULL, drv_thread_fn, &t[i]);
	}
	pthread_barrier_wait(&bar);
	for (i = 0; i < p->depth; i++) {
		pthread_join(t[i].th, NULL);
		if (t[i].err)
			err = t[i].err;
		if (t[i].start < start)
			start = t[i].start;
		if (t[i].end > end)
			end = t[i].end;
	}
	pthread_barrier_destroy(&bar);
	*wall = end - start;
	return err;
}

static uint64_t sent_at[65536];

/*
 * One thread keeping @depth REGION_READs in flight on vfu_client: send
 * @depth, then one new request per reply.  Latency: send to reply.
 */
static int batch_vfu_window(void *ctx, long ops, uint64_t *lat, uint64_t *wall)
{
	struct pipe_ctx *p = ctx;
	struct vfu_client *c = &p->f->c;
	struct vfio_user_region_access a = {
		.offset = TDEV_REG_SCRATCH, .region = 0, .count = 4,
	};
	long issued = 0, done = 0;
	uint64_t t0 = now_ns(), t;
	struct vfu_msg m;
	int err;

	for (; issued < p->depth && issued < ops; issued++) {
		sent_at[c->next_id] = now_ns();
		err = vfu_send_cmd(c, VFIO_USER_REGION_READ, VFIO_USER_F_TYPE_COMMAND,
				   &a, sizeof(a), NULL, 0, NULL);
		if (err)
			return err;
	}
	while (done < ops) {
		err = vfu_recv_msg(c, &m);
		if (err)
			return err;
		t = now_ns();
		if ((m.hdr.flags & (VFIO_USER_F_TYPE_MASK | VFIO_USER_F_ERROR)) !=
		    VFIO_USER_F_TYPE_REPLY || m.hdr.command != VFIO_USER_REGION_READ ||
		    m.len != sizeof(a) + 4 || m.nfds)
			return -EPROTO;
		lat[done++] = t - sent_at[m.hdr.msg_id];
		if (issued < ops) {
			sent_at[c->next_id] = t;
			err = vfu_send_cmd(c, VFIO_USER_REGION_READ,
					   VFIO_USER_F_TYPE_COMMAND, &a, sizeof(a),
					   NULL, 0, NULL);
			if (err)
				return err;
			issued++;
		}
	}
	*wall = now_ns() - t0;
	return 0;
}

/* The same sliding window on the raw socket. */
static int batch_raw_window(void *ctx, long ops, uint64_t *lat, uint64_t *wall)
{
	struct pipe_ctx *p = ctx;
	struct raw *r = p->r;
	long issued = 0, done = 0;
	uint64_t t0 = now_ns(), t;
	uint16_t id;
	int err;

	for (; issued < p->depth && issued < ops; issued++) {
		sent_at[r->next_id] = now_ns();
		err = raw_send(r, VFIO_USER_REGION_READ, 4, &id);
		if (err)
			return err;
	}
	while (done < ops) {
		err = raw_recv(r, &id);
		if (err)
			return err;
		t = now_ns();
		lat[done++] = t - sent_at[id];
		if (issued < ops) {
			sent_at[r->next_id] = t;
			err = raw_send(r, VFIO_USER_REGION_READ, 4, &id);
			if (err)
				return err;
			issued++;
		}
	}
	*wall = now_ns() - t0;
	return 0;
}

static void bench_pipe(struct drv *d, struct vfu *f, struct raw *r)
{
	static const int depths[] = { 1, 2, 4 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(depths); i++) {
		struct pipe_ctx p = { d, f, r, depths[i] };
		const struct variant v[] = {
			{ "driver", NULL, batch_drv_threads, &p, 4 },
			{ "vfu_client", NULL, batch_vfu_window, &p, 4 },
			{ "raw_socket", NULL, batch_raw_window, &p, 4 },
		};
		char name[32];

		snprintf(name, sizeof(name), "pipe_read_d%d", depths[i]);
		run_rounds(name, v, 3, ops_for(2000));
	}
}

/* ---- 3. mmap'd BAR2 ---- */

struct copy_ctx {
	void *map;
	void *local;
	size_t len;
};

static int op_copy_from_map(void *ctx)
{
	struct copy_ctx *c = ctx;

	memcpy(c->local, c->map, c->len);
	__asm__ __volatile__("" ::: "memory");
	return 0;
}

static int op_copy_to_map(void *ctx)
{
	struct copy_ctx *c = ctx;

	memcpy(c->map, c->local, c->len);
	__asm__ __volatile__("" ::: "memory");
	return 0;
}

static void bench_mmap(struct drv *d, struct vfu *f)
{
	const size_t len = TDEV_BAR2_AREA1_SIZE;
	uint8_t info[TDEV_BAR2_INFO_ARGSZ];
	struct vfio_user_region_info *ri = (void *)info;
	void *dmap = MAP_FAILED, *fmap = MAP_FAILED;
	struct copy_ctx dc, fc;
	int fd = -1, err;

	dmap = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, d->v.device,
		    vu_region_off(2) + TDEV_BAR2_AREA1_OFFSET);
	if (dmap == MAP_FAILED) {
		jerror("mmap", "mmap of BAR2 through the device fd: %m");
		return;
	}
	err = vfu_region_info(&f->c, 2, sizeof(info), info, &fd);
	if (err || fd < 0) {
		jerror("mmap", "GET_REGION_INFO of BAR2 gave no fd: %s",
		       strerror(err ? -err : ENOENT));
		goto out;
	}
	fmap = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		    ri->offset + TDEV_BAR2_AREA1_OFFSET);
	if (fmap == MAP_FAILED) {
		jerror("mmap", "mmap of the server's BAR2 memfd: %m");
		goto out;
	}
	dc = (struct copy_ctx){ dmap, xcalloc(1, len), len };
	fc = (struct copy_ctx){ fmap, xcalloc(1, len), len };
	{
		const struct variant rd[] = {
			{ "driver", op_copy_from_map, NULL, &dc, len },
			{ "direct", op_copy_from_map, NULL, &fc, len },
		}, wr[] = {
			{ "driver", op_copy_to_map, NULL, &dc, len },
			{ "direct", op_copy_to_map, NULL, &fc, len },
		};

		run_rounds("mmap_read", rd, 2, ops_for(500));
		run_rounds("mmap_write", wr, 2, ops_for(500));
	}
	free(dc.local);
	free(fc.local);
out:
	if (fmap != MAP_FAILED)
		munmap(fmap, len);
	if (dmap != MAP_FAILED)
		munmap(dmap, len);
	if (fd >= 0)
		close(fd);
}

/* ---- 5. interrupts ---- */

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
		w->t_wake = now_ns();
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
	struct timespec ts;

	for (;;) {
		if (recv(sock, frame, sizeof(frame), 0) <= 0)
			_exit(0);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		atomic_store_explicit(&st->ns, ts.tv_sec * 1000000000ull + ts.tv_nsec,
				      memory_order_relaxed);
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
		t0 = now_ns();
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

static void bench_irq(struct drv *d, struct vfu *f)
{
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
	err = server_has_our_file(d->srv.pid, efd[0]);
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

/* ---- 4. DMA ---- */

struct dma_ctx {
	int dev;
	uint32_t ctrl;
	uint64_t *go_lat;
	long go_n;
	long polls;
	void *dst, *src;	/* memcpy variant */
};

static int dev_rd(int dev, uint32_t reg, uint32_t *v)
{
	return pread(dev, v, 4, reg) == 4 ? 0 : -EIO;
}

static int dev_wr(int dev, uint32_t reg, uint32_t v)
{
	return pwrite(dev, &v, 4, reg) == 4 ? 0 : -EIO;
}

/* GO, then read STATUS until the transfer is over (at once for zero-copy). */
static int op_dma(void *ctx)
{
	struct dma_ctx *c = ctx;
	uint64_t t0 = now_ns();
	uint32_t st, e;
	int err = dev_wr(c->dev, TDEV_REG_DMA_CTRL, c->ctrl);

	if (err)
		return err;
	c->go_lat[c->go_n++] = now_ns() - t0;
	do {
		err = dev_rd(c->dev, TDEV_REG_DMA_STATUS, &st);
		c->polls++;
	} while (!err && st == TDEV_DMA_STATUS_BUSY);
	if (err)
		return err;
	if (st != TDEV_DMA_STATUS_DONE) {
		dev_rd(c->dev, TDEV_REG_DMA_ERROR, &e);
		return -(int)(e ? e : EIO);
	}
	return 0;
}

static int op_memcpy(void *ctx)
{
	struct dma_ctx *c = ctx;

	memcpy(c->dst, c->src, DMA_LEN);
	__asm__ __volatile__("" ::: "memory");
	return 0;
}

static int op_doorbell(void *ctx)
{
	struct dma_ctx *c = ctx;

	return dev_wr(c->dev, TDEV_REG_SCRATCH, ++scratch_val);
}

/* Does the DMA engine exist?  Its LEN register reads back what was written. */
static bool dma_engine_present(int dev)
{
	uint32_t v = 0;

	if (dev_wr(dev, TDEV_REG_DMA_LEN, 0x1234) || dev_rd(dev, TDEV_REG_DMA_LEN, &v))
		return false;
	return v == 0x1234;
}

static int dma_program(int dev, bool to_guest)
{
	uint64_t src = to_guest ? 0 : DMA_IOVA;
	uint64_t dst = to_guest ? DMA_IOVA + DMA_LEN : 0;

	if (dev_wr(dev, TDEV_REG_DMA_SRC_LO, (uint32_t)src) ||
	    dev_wr(dev, TDEV_REG_DMA_SRC_HI, src >> 32) ||
	    dev_wr(dev, TDEV_REG_DMA_DST_LO, (uint32_t)dst) ||
	    dev_wr(dev, TDEV_REG_DMA_DST_HI, dst >> 32) ||
	    dev_wr(dev, TDEV_REG_DMA_LEN, DMA_LEN))
		return -EIO;
	return 0;
}

/* One measured batch of transfers in one direction, plus its GO times. */
static int dma_batch(const char *bench, const char *mode, int round, int dev,
		     bool to_guest, long ops, uint64_t *lat)
{
	struct dma_ctx c = {
		.dev = dev,
		.ctrl = TDEV_DMA_CTRL_GO | (to_guest ? TDEV_DMA_CTRL_DIR_TO_GUEST : 0),
		.go_lat = xcalloc(ops, sizeof(uint64_t)),
	};
	const struct variant v = { mode, op_dma, NULL, &c, DMA_LEN };
	char go_name[40];
	uint64_t wall, go_sum = 0;
	long i;
	int err = dma_program(dev, to_guest);

	if (!err)
		err = run_batch(&v, ops, lat, &wall);
	if (err) {
		jerror(bench, "%s, round %d: %s", mode, round, strerror(-err));
		free(c.go_lat);
		return err;
	}
	series_batch(series(bench, mode, DMA_LEN), round, ops, wall, lat, ops);
	batch_ctxt = 0;
	for (i = 0; i < c.go_n; i++)
		go_sum += c.go_lat[i];
	snprintf(go_name, sizeof(go_name), "%s_go", mode);
	series_batch(series(bench, go_name, DMA_LEN), round, c.go_n, go_sum,
		     c.go_lat, c.go_n);
	snprintf(go_name, sizeof(go_name), "%s_polls", mode);
	/* STATUS reads per transfer, x1000, as a one-sample "series" per batch. */
	{
		uint64_t p = c.polls * 1000 / ops;

		series_batch(series(bench, go_name, 0), round, 1, p, &p, 1);
	}
	free(c.go_lat);
	return 0;
}

/*
 * Open the device with @mode, check the engine is reachable that way, run
 * one round of both directions and the doorbell, close it again.
 */
static int dma_round(struct drv *d, const char *mode, int round, long ops,
		     uint8_t *buf, uint8_t *bar2_check)
{
	static const uint32_t mode_used[] = { TDEV_DMA_MODE_FD, TDEV_DMA_MODE_MSG };
	int zc = !strcmp(mode, "zero-copy");
	const char *vname = zc ? "zero_copy" : "message";
	uint64_t *lat = xcalloc(ops, sizeof(*lat)), wall;
	struct dma_ctx dc;
	char active[32];
	uint32_t used = 0;
	void *area0 = MAP_FAILED;
	int dev = -1, err;

	err = vu_set_attr(d->name, "dma_mode", mode);
	if (err) {
		jerror("dma", "dma_mode=%s: %s", mode, strerror(-err));
		goto out;
	}
	dev = ioctl(d->v.group, VFIO_GROUP_GET_DEVICE_FD, d->name);
	if (dev < 0) {
		err = -errno;
		jerror("dma", "reopening the device in %s mode: %m", mode);
		goto out;
	}
	vu_attr(d->name, "dma_active", active, sizeof(active));
	if (strcmp(active, mode)) {
		err = -EPROTO;
		jerror("dma", "asked for %s, dma_active says \"%s\"", mode, active);
		goto out;
	}

	/* A fresh pattern: the first transfer of each direction is checked. */
	memset(buf, 0x5a ^ round ^ zc, DMA_LEN);
	memset(buf + DMA_LEN, 0, DMA_LEN);
	dc = (struct dma_ctx){ .dev = dev, .go_lat = lat };
	err = dma_program(dev, false);
	dc.ctrl = TDEV_DMA_CTRL_GO;
	if (!err)
		err = op_dma(&dc);
	if (!err)
		err = dev_rd(dev, TDEV_REG_DMA_MODE_USED, &used);
	area0 = mmap(NULL, TDEV_BAR2_AREA0_SIZE, PROT_READ, MAP_SHARED, dev,
		     vu_region_off(2));
	if (!err && area0 != MAP_FAILED) {
		memcpy(bar2_check, area0, TDEV_BAR2_AREA0_SIZE);
		if (memcmp(bar2_check, buf, TDEV_BAR2_AREA0_SIZE))
			err = -EILSEQ;
	}
	if (!err && used != mode_used[!zc]) {
		jerror("dma", "%s: the engine used mode %u", mode, used);
		err = -EPROTO;
	}
	if (!err) {
		err = dma_program(dev, true);
		dc.ctrl = TDEV_DMA_CTRL_GO | TDEV_DMA_CTRL_DIR_TO_GUEST;
		if (!err)
			err = op_dma(&dc);
		if (!err && memcmp(buf + DMA_LEN, buf, DMA_LEN))
			err = -EILSEQ;
	}
	if (err) {
		jerror("dma", "%s: first transfers: %s", mode, strerror(-err));
		goto out;
	}

	err = dma_batch("dma_to_bar2", vname, round, dev, false, ops, lat);
	if (!err)
		err = dma_batch("dma_to_guest", vname, round, dev, true, ops, lat);
	if (!err && zc) {
		/* The doorbell: what a trapped write costs, in this phase. */
		const struct variant v = { "doorbell", op_doorbell, NULL, &dc, 4 };

		err = run_batch(&v, ops, lat, &wall);
		if (!err) {
			uint64_t dc = batch_ctxt;

			series_batch(series("dma_to_bar2", "doorbell", 4), round, ops,
				     wall, lat, ops);
			batch_ctxt = dc;
			series_batch(series("dma_to_guest", "doorbell", 4), round, ops,
				     wall, lat, ops);
		}
	}
out:
	if (area0 != MAP_FAILED)
		munmap(area0, TDEV_BAR2_AREA0_SIZE);
	if (dev >= 0)
		close(dev);
	free(lat);
	return err;
}

static void bench_dma(struct drv *d)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.iova = DMA_IOVA, .size = 2 * DMA_LEN,
	};
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = DMA_IOVA, .size = 2 * DMA_LEN,
	};
	static const char *const modes[2] = { "zero-copy", "message" };
	long ops = ops_for(80);
	uint8_t *buf, *bar2_check, *mc_dst;
	uint64_t *lat = xcalloc(ops, sizeof(*lat)), wall;
	struct dma_ctx mc;
	int r, j, err = 0;

	if (!dma_engine_present(d->v.device)) {
		jnote("dma", "not measured: no DMA engine yet");
		free(lat);
		return;
	}
	buf = mmap(NULL, 2 * DMA_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	bar2_check = xcalloc(1, DMA_LEN);
	mc_dst = mmap(NULL, DMA_LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED || mc_dst == MAP_FAILED) {
		jerror("dma", "buffers: %m");
		goto out;
	}
	map.vaddr = (uintptr_t)buf;
	if (ioctl(d->v.container, VFIO_IOMMU_MAP_DMA, &map)) {
		jerror("dma", "VFIO_IOMMU_MAP_DMA: %m");
		goto out;
	}
	/* Modes change only while the device is closed. */
	close(d->v.device);
	d->v.device = -1;

	mc = (struct dma_ctx){ .dst = mc_dst, .src = buf };
	for (j = 0; j < 2; j++)
		run_batch(&(struct variant){ "memcpy", op_memcpy, NULL, &mc, DMA_LEN },
			  ops, lat, &wall);
	for (r = 0; r < opt.rounds && !err; r++) {
		for (j = 0; j < 3 && !err; j++) {
			int k = (r + j) % 3;
			const struct variant v = { "memcpy", op_memcpy, NULL, &mc, DMA_LEN };

			if (k < 2) {
				err = dma_round(d, modes[k], r, ops, buf, bar2_check);
				continue;
			}
			mc.src = buf;
			mc.dst = mc_dst;
			err = run_batch(&v, ops, lat, &wall);
			if (!err)
				series_batch(series("dma_to_bar2", "memcpy", DMA_LEN), r,
					     ops, wall, lat, ops);
			mc.src = mc_dst;
			mc.dst = buf + DMA_LEN;
			if (!err)
				err = run_batch(&v, ops, lat, &wall);
			if (!err)
				series_batch(series("dma_to_guest", "memcpy", DMA_LEN), r,
					     ops, wall, lat, ops);
		}
	}
	vu_set_attr(d->name, "dma_mode", "zero-copy");
	ioctl(d->v.container, VFIO_IOMMU_UNMAP_DMA, &unmap);
out:
	if (buf != MAP_FAILED)
		munmap(buf, 2 * DMA_LEN);
	if (mc_dst != MAP_FAILED)
		munmap(mc_dst, DMA_LEN);
	free(bar2_check);
	free(lat);
}

/* ---- meta ---- */

static void emit_meta(struct drv *d)
{
	static const char *const caps[] = {
		"max_msg_fds", "max_data_xfer_size", "pgsizes", "max_dma_maps",
	};
	struct timespec res;
	struct utsname u;
	uint64_t t0, t1;
	char buf[128];
	unsigned int i;
	int n;

	uname(&u);
	clock_getres(CLOCK_MONOTONIC, &res);
	t0 = now_ns();
	for (n = 0; n < 100000; n++)
		now_ns();
	t1 = now_ns();
	fprintf(jout, "{\"kind\":\"meta\",\"kernel\":");
	json_str(jout, u.release);
	fprintf(jout, ",\"cpus\":%ld,\"clock_res_ns\":%ld,\"clock_cost_ns\":%.1f,"
		"\"rounds\":%d,\"scale\":%g,\"device\":",
		sysconf(_SC_NPROCESSORS_ONLN), res.tv_nsec, (t1 - t0) / 1e5,
		opt.rounds, opt.scale);
	json_str(jout, d->name);
	fprintf(jout, ",\"protocol_version\":");
	json_str(jout, vu_attr(d->name, "protocol_version", buf, sizeof(buf)));
	fprintf(jout, ",\"dma_window\":");
	json_str(jout, vu_attr(d->name, "dma_window", buf, sizeof(buf)));
	for (i = 0; i < ARRAY_SIZE(caps); i++) {
		char attr[64];

		snprintf(attr, sizeof(attr), "capabilities/%s", caps[i]);
		fprintf(jout, ",\"%s\":", caps[i]);
		json_str(jout, vu_attr(d->name, attr, buf, sizeof(buf)));
	}
	fprintf(jout, "}\n");
	fflush(jout);
}

/* Counters the driver keeps, after the run: they explain the numbers. */
static void emit_stats(struct drv *d)
{
	char file[PATH_MAX], buf[4096], *line, *save;

	snprintf(file, sizeof(file), "/sys/kernel/debug/vfio-user/%s/stats", d->name);
	if (vu_read_file(file, buf, sizeof(buf)))
		return;
	fprintf(jout, "{\"kind\":\"driver_stats\"");
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');

		if (!colon)
			continue;
		*colon = '\0';
		fprintf(jout, ",");
		json_str(jout, line);
		fprintf(jout, ":");
		while (*++colon == ' ')
			;
		json_str(jout, colon);
	}
	fprintf(jout, "}\n");
	fflush(jout);
}

/* ---- main ---- */

static void usage(int status)
{
	fprintf(status ? stderr : stdout,
"usage: vu_bench [-o FILE] [--rounds N] [--scale F] [--only LIST]\n"
"                [--server PATH] [--shim PATH]\n"
"  -o FILE        JSON lines output (default: stdout)\n"
"  --rounds N     alternating rounds per benchmark (default 10)\n"
"  --scale F      multiply every batch size by F (default 1)\n"
"  --only LIST    comma-separated: trap,pipe,mmap,irq,dma (default all)\n"
"  --server PATH  vfio_user_test_server (default: ../vfio_user_test_server)\n"
"  --shim PATH    irq_stamp.so (default: next to vu_bench)\n"
"  --irq-cpu N    interrupt waiters on CPU N, everything else of ours (the\n"
"                 servers, their children) on the other CPUs; the irq\n"
"                 benches are then named irq_*_xcpu\n"
"Runs as root with vfio_user loaded (inside the test VM: bench/guest.sh).\n");
	exit(status);
}

static void default_paths(void)
{
	char self[PATH_MAX - 64], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	self[n > 0 ? n : 0] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	if (!opt.server[0])
		snprintf(opt.server, sizeof(opt.server), "%s/../vfio_user_test_server", self);
	if (!opt.shim[0])
		snprintf(opt.shim, sizeof(opt.shim), "%s/irq_stamp.so", self);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "scale", required_argument, NULL, 'S' },
		{ "only", required_argument, NULL, 'O' },
		{ "server", required_argument, NULL, 's' },
		{ "shim", required_argument, NULL, 'p' },
		{ "irq-cpu", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct drv d;
	struct vfu f;
	struct raw r;
	struct series *s;
	int c, err;

	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'o':
			opt.out = optarg;
			break;
		case 'r':
			opt.rounds = atoi(optarg);
			break;
		case 'S':
			opt.scale = atof(optarg);
			break;
		case 'O':
			opt.only = optarg;
			break;
		case 's':
			snprintf(opt.server, sizeof(opt.server), "%s", optarg);
			break;
		case 'p':
			snprintf(opt.shim, sizeof(opt.shim), "%s", optarg);
			break;
		case 'c':
			opt.irq_cpu = atoi(optarg);
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (opt.rounds < 1 || opt.scale <= 0)
		usage(2);
	default_paths();
	if (opt.irq_cpu >= 0) {
		cpu_set_t set;
		int cpu;

		CPU_ZERO(&set);
		for (cpu = 0; cpu < sysconf(_SC_NPROCESSORS_ONLN); cpu++)
			if (cpu != opt.irq_cpu)
				CPU_SET(cpu, &set);
		if (CPU_COUNT(&set) == 0 ||
		    sched_setaffinity(0, sizeof(set), &set)) {
			fprintf(stderr, "vu_bench: --irq-cpu %d needs another CPU online\n",
				opt.irq_cpu);
			return 2;
		}
	}
	jout = opt.out ? fopen(opt.out, "w") : stdout;
	if (!jout) {
		perror(opt.out);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);

	/* Children first (fork before threads); the servers last. */
	err = raw_setup(&r);
	if (err) {
		jerror("setup", "echo peer: %s", strerror(-err));
		return 1;
	}
	err = drv_setup(&d);
	if (err) {
		jerror("setup", "driver: server %s, bind and open: %s", opt.server,
		       strerror(-err));
		drv_teardown(&d);
		raw_teardown(&r);
		return 1;
	}
	err = vfu_setup(&f);
	if (err) {
		jerror("setup", "vfu_client: %s", strerror(-err));
		vfu_teardown(&f);
		drv_teardown(&d);
		raw_teardown(&r);
		return 1;
	}
	emit_meta(&d);

	if (wanted("trap"))
		bench_trap(&d, &f, &r);
	if (wanted("pipe"))
		bench_pipe(&d, &f, &r);
	if (wanted("mmap"))
		bench_mmap(&d, &f);
	if (wanted("irq"))
		bench_irq(&d, &f);
	if (wanted("dma"))
		bench_dma(&d);	/* last: it closes and reopens the device */

	for (s = all_series; s; s = s->next)
		series_emit(s);
	emit_stats(&d);
	vfu_teardown(&f);
	drv_teardown(&d);
	raw_teardown(&r);
	fprintf(jout, "{\"kind\":\"done\"}\n");
	if (jout != stdout)
		fclose(jout);
	return 0;
}
