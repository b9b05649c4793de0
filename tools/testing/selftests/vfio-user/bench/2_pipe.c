// SPDX-License-Identifier: GPL-2.0
/*
 * vu_bench benchmark 2, "pipe": pipelined reads.
 *
 *   pipe_read_dN              the same reads as trap_read with N = 1, 2, 4 in
 *                             flight: N VMM threads on one device fd, against
 *                             one userspace thread keeping N requests in
 *                             flight (sliding window) on vfu_client and on
 *                             the raw socket: the best a userspace client
 *                             can do.
 */
#include <pthread.h>

#include "bench.h"

#define MAX_DEPTH	16

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
	t->start = prev = vu_now_ns();
	for (i = 0; i < t->ops; i++) {
		if (pread(t->fd, &v, 4, TDEV_REG_SCRATCH) != 4) {
			t->err = -errno;
			break;
		}
		now = vu_now_ns();
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
	uint64_t t0 = vu_now_ns(), t;
	struct vfu_msg m;
	int err;

	for (; issued < p->depth && issued < ops; issued++) {
		sent_at[c->next_id] = vu_now_ns();
		err = vfu_send_cmd(c, VFIO_USER_REGION_READ, VFIO_USER_F_TYPE_COMMAND,
				   &a, sizeof(a), NULL, 0, NULL);
		if (err)
			return err;
	}
	while (done < ops) {
		err = vfu_recv_msg(c, &m);
		if (err)
			return err;
		t = vu_now_ns();
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
	*wall = vu_now_ns() - t0;
	return 0;
}

/* The same sliding window on the raw socket. */
static int batch_raw_window(void *ctx, long ops, uint64_t *lat, uint64_t *wall)
{
	struct pipe_ctx *p = ctx;
	struct raw *r = p->r;
	long issued = 0, done = 0;
	uint64_t t0 = vu_now_ns(), t;
	uint16_t id;
	int err;

	for (; issued < p->depth && issued < ops; issued++) {
		sent_at[r->next_id] = vu_now_ns();
		err = raw_send(r, VFIO_USER_REGION_READ, 4, &id);
		if (err)
			return err;
	}
	while (done < ops) {
		err = raw_recv(r, &id);
		if (err)
			return err;
		t = vu_now_ns();
		lat[done++] = t - sent_at[id];
		if (issued < ops) {
			sent_at[r->next_id] = t;
			err = raw_send(r, VFIO_USER_REGION_READ, 4, &id);
			if (err)
				return err;
			issued++;
		}
	}
	*wall = vu_now_ns() - t0;
	return 0;
}

void bench_pipe(struct bench_targets *t)
{
	struct drv *d = &t->d;
	struct vfu *f = &t->f;
	struct raw *r = &t->r;
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
