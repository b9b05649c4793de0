/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What vu_bench's parts share.  vu_bench.c owns the sampling core (options,
 * JSON output, series of samples, variants run in rotating rounds), the
 * three ways to reach a device (driver, vfu_client, raw socket) and main();
 * each benchmark is a file of its own, numbered as in the report
 * (1_trap.c .. 5_irq.c), and is run from the table in vu_bench.c.
 */
#ifndef VU_BENCH_H
#define VU_BENCH_H

#include "lib/vu_util.h"
#include "test_device.h"
#include "lib/vfu_client.h"
#include "vu_stamp.h"

#define HDR		sizeof(struct vfio_user_header)
#define ACC		sizeof(struct vfio_user_region_access)
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/* ---- options, output (vu_bench.c) ---- */

struct bench_opts {
	char server[PATH_MAX];
	char shim[PATH_MAX];
	const char *out;
	int rounds;
	double scale;
	const char *only;
	int irq_cpu;		/* -1: no pinning */
};

extern struct bench_opts opt;
extern FILE *jout;

long ops_for(long base);

void jmsg(const char *kind, const char *bench, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define jerror(bench, ...)	jmsg("error", bench, __VA_ARGS__)
#define jnote(bench, ...)	jmsg("note", bench, __VA_ARGS__)

void *xcalloc(size_t n, size_t size);

/* ---- series of samples (vu_bench.c) ---- */

uint64_t ctxt_now(void);

/* Set by the batch runners, taken by the next series_batch(). */
extern uint64_t batch_ctxt;

struct series;

struct series *series(const char *bench, const char *variant, uint64_t bytes);
void series_batch(struct series *s, int round, uint64_t ops,
		  uint64_t wall_ns, const uint64_t *lat, size_t n);

/* ---- variants and rounds (vu_bench.c) ---- */

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

int run_batch(const struct variant *v, long ops, uint64_t *lat, uint64_t *wall);
int run_rounds(const char *bench, const struct variant *v, int nv, long ops);

/* ---- servers and the three ways to reach a device (vu_bench.c) ---- */

/* A test server (the library's launcher) and the stamp page it writes. */
struct server {
	struct vu_server proc;	/* pid, directory, socket path */
	char stamp_path[80];	/* in proc.dir */
	struct vu_stamp *stamp;
};

/* The driver: a bound server, opened the way a VMM opens it. */
struct drv {
	struct server srv;
	char name[32];
	struct vu_vfio v;
	bool bound;
};

/* The userspace client on a server of its own. */
struct vfu {
	struct server srv;
	struct vfu_client c;
};

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

int raw_send(struct raw *r, uint16_t cmd, uint32_t count, uint16_t *id);
int raw_recv(struct raw *r, uint16_t *id);

/* All three, set up once by main() and handed to every benchmark. */
struct bench_targets {
	struct drv d;
	struct vfu f;
	struct raw r;
};

/* The value the SCRATCH writes store, counted across the benchmarks. */
extern uint32_t scratch_val;

/* ---- the benchmarks, one file each ---- */

/* A benchmark: its name for --only, and what runs it. */
struct bench {
	const char *name;
	void (*run)(struct bench_targets *t);
};

void bench_trap(struct bench_targets *t);	/* 1_trap.c */
void bench_pipe(struct bench_targets *t);	/* 2_pipe.c */
void bench_mmap(struct bench_targets *t);	/* 3_mmap.c */
void bench_dma(struct bench_targets *t);	/* 4_dma.c */
void bench_irq(struct bench_targets *t);	/* 5_irq.c */

#endif /* VU_BENCH_H */
