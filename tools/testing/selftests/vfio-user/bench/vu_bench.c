// SPDX-License-Identifier: GPL-2.0
/*
 * vu_bench - the vfio_user driver against userspace baselines, measured
 * side by side in one run.  Runs as root inside the test VM (bench/run.sh
 * boots it, bench/guest.sh loads the module and starts us); writes one JSON
 * object per line, which bench/render.py turns into the table and the plot.
 *
 * This file is the sampling core: options and output, series of samples,
 * variants run in rotating rounds, the servers and the three ways to reach
 * a device (the driver, vfu_client, a raw socket), the run's metadata and
 * main().  Each benchmark is a file of its own, numbered as in the report
 * (README's table, render.py's rows), and says what it measures; the
 * "bench" names in the output are:
 *
 *   1_trap.c   trap_read, trap_write
 *   2_pipe.c   pipe_read_d1, pipe_read_d2, pipe_read_d4
 *   3_mmap.c   mmap_read, mmap_write
 *   4_dma.c    dma_to_bar2, dma_to_guest
 *   5_irq.c    irq_oneway, irq_trigger (irq_*_xcpu with --irq-cpu)
 *
 * They run in the order of benches[] below (DMA last).
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
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>

#include "bench.h"

#define CDF_POINTS	1000		/* samples kept per series for the plot */

/* ---- options, output ---- */

struct bench_opts opt = { .rounds = 10, .scale = 1.0, .irq_cpu = -1 };

FILE *jout;

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

long ops_for(long base)
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
void jmsg(const char *kind, const char *bench, const char *fmt, ...)
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

void *xcalloc(size_t n, size_t size)
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
uint64_t ctxt_now(void)
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

uint64_t batch_ctxt;

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

struct series *series(const char *bench, const char *variant, uint64_t bytes)
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
void series_batch(struct series *s, int round, uint64_t ops,
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

/* One batch of @ops of @v: lat[] and *@wall filled, batch_ctxt set. */
int run_batch(const struct variant *v, long ops, uint64_t *lat, uint64_t *wall)
{
	uint64_t t0, t, t2, c0 = ctxt_now();
	long i;
	int err;

	if (v->batch) {
		err = v->batch(v->ctx, ops, lat, wall);
		batch_ctxt = ctxt_now() - c0;
		return err;
	}
	t0 = t = vu_now_ns();
	for (i = 0; i < ops; i++) {
		err = v->op(v->ctx);
		if (err)
			return err;
		t2 = vu_now_ns();
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
int run_rounds(const char *bench, const struct variant *v, int nv, long ops)
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

/*
 * Start a test server (opt.server) with the stamp shim preloaded; wait
 * until it listens.  Its directory also holds the stamp file, created and
 * mapped before the server starts and named in its environment.
 */
static int server_start(struct server *s)
{
	char bin[PATH_MAX + 2], preload[sizeof("LD_PRELOAD=") + PATH_MAX];
	char stamp_env[sizeof(VU_STAMP_ENV "=") + sizeof(s->stamp_path)];
	const char *env[3];
	struct vu_server_opts o = { .binary = bin, .env = env };
	int n = 0, err;

	memset(s, 0, sizeof(*s));
	err = vu_server_mkdir(&s->proc, "/tmp/vu-bench-XXXXXX");
	if (err)
		return err;
	snprintf(s->stamp_path, sizeof(s->stamp_path), "%s/stamp", s->proc.dir);
	s->stamp = stamp_map(s->stamp_path);
	if (!s->stamp)
		return -errno;
	if (opt.shim[0] && !access(opt.shim, R_OK)) {
		snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", opt.shim);
		env[n++] = preload;
	}
	snprintf(stamp_env, sizeof(stamp_env), VU_STAMP_ENV "=%s", s->stamp_path);
	env[n++] = stamp_env;
	env[n] = NULL;
	/* --server NAME without a slash is ./NAME, not a search of $PATH. */
	snprintf(bin, sizeof(bin), "%s%s", strchr(opt.server, '/') ? "" : "./", opt.server);
	return vu_server_spawn(&s->proc, &o, NULL);
}

static void server_stop(struct server *s)
{
	/* The stamp first: vu_server_stop() removes the (then empty) directory. */
	if (s->stamp)
		munmap(s->stamp, VU_STAMP_PAGE_SIZE);
	s->stamp = NULL;
	unlink(s->stamp_path);
	vu_server_stop(&s->proc);
}

/* ---- the three ways to reach a device ---- */

/* The driver: a bound server, opened the way a VMM opens it. */
static int drv_setup(struct drv *d)
{
	int err;

	memset(d, 0, sizeof(*d));
	d->v.container = d->v.group = d->v.device = -1;
	err = server_start(&d->srv);
	if (!err)
		err = vu_bind(d->srv.proc.path, d->name, sizeof(d->name));
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
static int vfu_setup(struct vfu *f)
{
	int err;

	memset(f, 0, sizeof(*f));
	f->c.fd = -1;
	err = server_start(&f->srv);
	if (!err)
		err = vfu_connect(&f->c, f->srv.proc.path);
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
int raw_send(struct raw *r, uint16_t cmd, uint32_t count, uint16_t *id)
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
int raw_recv(struct raw *r, uint16_t *id)
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

/* The value the SCRATCH writes store, counted across the benchmarks. */
uint32_t scratch_val;

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
	t0 = vu_now_ns();
	for (n = 0; n < 100000; n++)
		vu_now_ns();
	t1 = vu_now_ns();
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

/*
 * The benchmarks, in the order they run; --only picks them by name.  The
 * file numbers are the report's rows (README, render.py).
 */
static const struct bench benches[] = {
	{ "trap", bench_trap },		/* 1_trap.c */
	{ "pipe", bench_pipe },		/* 2_pipe.c */
	{ "mmap", bench_mmap },		/* 3_mmap.c */
	{ "irq", bench_irq },		/* 5_irq.c */
	{ "dma", bench_dma },		/* 4_dma.c: last, it closes and reopens the device */
};

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

	/*
	 * Our directory: the library's "server next to this program", without
	 * the server's name.  The server is one directory up (build/), the
	 * shim next to us (build/bench/).
	 */
	vu_server_binary(self, sizeof(self));
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
	struct bench_targets t;
	struct series *s;
	unsigned int i;
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
	err = raw_setup(&t.r);
	if (err) {
		jerror("setup", "echo peer: %s", strerror(-err));
		return 1;
	}
	err = drv_setup(&t.d);
	if (err) {
		jerror("setup", "driver: server %s, bind and open: %s", opt.server,
		       strerror(-err));
		drv_teardown(&t.d);
		raw_teardown(&t.r);
		return 1;
	}
	err = vfu_setup(&t.f);
	if (err) {
		jerror("setup", "vfu_client: %s", strerror(-err));
		vfu_teardown(&t.f);
		drv_teardown(&t.d);
		raw_teardown(&t.r);
		return 1;
	}
	emit_meta(&t.d);

	for (i = 0; i < ARRAY_SIZE(benches); i++)
		if (wanted(benches[i].name))
			benches[i].run(&t);

	for (s = all_series; s; s = s->next)
		series_emit(s);
	emit_stats(&t.d);
	vfu_teardown(&t.f);
	drv_teardown(&t.d);
	raw_teardown(&t.r);
	fprintf(jout, "{\"kind\":\"done\"}\n");
	if (jout != stdout)
		fclose(jout);
	return 0;
}

