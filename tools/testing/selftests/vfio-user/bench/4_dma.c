// SPDX-License-Identifier: GPL-2.0
/*
 * vu_bench benchmark 4, "dma": the test device's DMA engine.  It runs
 * last (see the table in vu_bench.c): it closes and reopens the device.
 *
 *   dma_to_bar2, dma_to_guest the DMA engine (BAR0 0x40..) copying 64 KiB
 *                             between VMM memory (VFIO_IOMMU_MAP_DMA'd
 *                             anonymous memory) and BAR2, GO until STATUS
 *                             reads DONE, with dma_mode zero-copy and
 *                             message, against memcpy() of 64 KiB; "go" is
 *                             the GO write alone and "doorbell" a SCRATCH
 *                             write in the same phase, so GO minus doorbell
 *                             is the zero-copy engine's own copy time.
 */
#include <sys/mman.h>

#include "bench.h"

#define DMA_LEN		0x10000		/* one engine transfer: all of BAR2 */
#define DMA_IOVA	0x40000000ull	/* where our buffer sits in the IOVA space */

struct dma_ctx {
	int dev;
	uint32_t ctrl;
	uint64_t *go_lat;
	long go_n;
	long polls;
	void *dst, *src;	/* memcpy variant */
};

/* GO, then read STATUS until the transfer is over (at once for zero-copy). */
static int op_dma(void *ctx)
{
	struct dma_ctx *c = ctx;
	uint64_t t0 = vu_now_ns();
	uint32_t st, e;
	int err = vu_reg_write(c->dev, TDEV_REG_DMA_CTRL, c->ctrl);

	if (err)
		return err;
	c->go_lat[c->go_n++] = vu_now_ns() - t0;
	do {
		err = vu_reg_get(c->dev, TDEV_REG_DMA_STATUS, &st);
		c->polls++;
	} while (!err && st == TDEV_DMA_STATUS_BUSY);
	if (err)
		return err;
	if (st != TDEV_DMA_STATUS_DONE) {
		vu_reg_get(c->dev, TDEV_REG_DMA_ERROR, &e);
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

	return vu_reg_write(c->dev, TDEV_REG_SCRATCH, ++scratch_val);
}

/* Does the DMA engine exist?  Its LEN register reads back what was written. */
static bool dma_engine_present(int dev)
{
	uint32_t v = 0;

	if (vu_reg_write(dev, TDEV_REG_DMA_LEN, 0x1234) || vu_reg_get(dev, TDEV_REG_DMA_LEN, &v))
		return false;
	return v == 0x1234;
}

static int dma_program(int dev, bool to_guest)
{
	uint64_t src = to_guest ? 0 : DMA_IOVA;
	uint64_t dst = to_guest ? DMA_IOVA + DMA_LEN : 0;

	if (vu_reg_write(dev, TDEV_REG_DMA_SRC_LO, (uint32_t)src) ||
	    vu_reg_write(dev, TDEV_REG_DMA_SRC_HI, src >> 32) ||
	    vu_reg_write(dev, TDEV_REG_DMA_DST_LO, (uint32_t)dst) ||
	    vu_reg_write(dev, TDEV_REG_DMA_DST_HI, dst >> 32) ||
	    vu_reg_write(dev, TDEV_REG_DMA_LEN, DMA_LEN))
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
		err = vu_reg_get(dev, TDEV_REG_DMA_MODE_USED, &used);
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

void bench_dma(struct bench_targets *t)
{
	struct drv *d = &t->d;
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
