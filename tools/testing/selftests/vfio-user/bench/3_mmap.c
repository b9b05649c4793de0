// SPDX-License-Identifier: GPL-2.0
/*
 * vu_bench benchmark 3, "mmap": mmap'd BAR2.
 *
 *   mmap_read, mmap_write     memcpy of BAR2's 32 KiB sparse area 1, mmap'd
 *                             through the device fd, against the server's
 *                             memfd (from vfu_client's GET_REGION_INFO)
 *                             mapped directly.
 */
#include <sys/mman.h>

#include "bench.h"

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

void bench_mmap(struct bench_targets *t)
{
	struct drv *d = &t->d;
	struct vfu *f = &t->f;
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
