// SPDX-License-Identifier: GPL-2.0
/*
 * vu_bench benchmark 1, "trap": trapped 4-byte accesses.
 *
 *   trap_read, trap_write     4-byte pread/pwrite of BAR0 SCRATCH on the VFIO
 *                             device fd ("driver"), against vfu_client doing
 *                             the same REGION_READ/WRITE on a second server
 *                             instance ("vfu_client") and a raw AF_UNIX
 *                             ping-pong of frames of the same sizes with an
 *                             echo process ("raw_socket", the floor).
 */
#include "bench.h"

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

void bench_trap(struct bench_targets *t)
{
	struct drv *d = &t->d;
	struct vfu *f = &t->f;
	struct raw *r = &t->r;
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
