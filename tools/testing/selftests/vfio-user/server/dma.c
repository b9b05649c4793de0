// SPDX-License-Identifier: GPL-2.0
/*
 * DMA_MAP / DMA_UNMAP: the table of client memory windows.
 *
 * Mappings must not overlap, unmaps must match a map exactly (spec) or be
 * VFIO_DMA_UNMAP_FLAG_ALL (libvfio-user, used by QEMU), and a window that
 * comes with an fd is mmap()ed here, where the DMA engine (engine.c) copies
 * through it; a client sending a bad fd/offset/size learns it from the
 * reply.  With --no-dma-fd no fd is taken at all, like a server that only
 * does message-based DMA.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "server.h"

#define DMA_PAGE	4096ull		/* the only pgsize we advertise */

static void dma_release(struct vts_dma_map *m)
{
	if (m->va)
		munmap(m->va, m->size);
	if (m->fd >= 0)
		close(m->fd);
}

void vts_dma_fini(struct vts_device *d)
{
	unsigned int i;

	for (i = 0; i < d->nr_dma; i++)
		dma_release(&d->dma[i]);
	d->nr_dma = 0;
}

static bool dma_overlaps(const struct vts_device *d, uint64_t iova, uint64_t size)
{
	unsigned int i;

	for (i = 0; i < d->nr_dma; i++) {
		const struct vts_dma_map *m = &d->dma[i];

		if (iova < m->iova + m->size && m->iova < iova + size)
			return true;
	}
	return false;
}

static int dma_check(const struct vts_device *d, const struct vfio_user_dma_map *m)
{
	uint32_t known = VFIO_USER_F_DMA_REGION_READ |
			 VFIO_USER_F_DMA_REGION_WRITE;

	if ((m->flags & ~known) || !m->size ||
	    (m->address | m->size | m->offset) & (DMA_PAGE - 1) ||
	    m->address + m->size < m->address)
		return -EINVAL;
	if (dma_overlaps(d, m->address, m->size))
		return -EEXIST;
	if (d->nr_dma == TDEV_MAX_DMA_MAPS)
		return -ENOSPC;
	return 0;
}

/* @fd: -1, or an fd the entry takes over on success (then set to -1). */
int vts_dma_map(struct vts_device *d, const struct vfio_user_dma_map *m, int *fd)
{
	struct vts_dma_map *e = &d->dma[d->nr_dma];
	int prot = 0, err;

	err = dma_check(d, m);
	if (err)
		return err;
	if (*fd >= 0 && vts_opt->no_dma_fd)
		return -EINVAL;
	if (m->flags & VFIO_USER_F_DMA_REGION_READ)
		prot |= PROT_READ;
	if (m->flags & VFIO_USER_F_DMA_REGION_WRITE)
		prot |= PROT_WRITE;

	*e = (struct vts_dma_map){ .iova = m->address, .size = m->size,
			       .offset = m->offset, .flags = m->flags,
			       .fd = -1 };
	if (*fd >= 0) {
		/*
		 * The kernel client offers one window of up to TiBs and backs
		 * pages only on touch: reserve no swap for it.  (A 64-bit
		 * address space has room; a 32-bit server would fail here.)
		 */
		void *va = mmap(NULL, m->size, prot, MAP_SHARED | MAP_NORESERVE,
				*fd, m->offset);

		void *x;

		if (va == MAP_FAILED)
			return -errno;
		/* Guest memory must never be executable (TDEV_REG_DMA_EXEC_ERRNO). */
		x = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, *fd,
			 m->offset);
		d->dma_exec_errno = x == MAP_FAILED ? errno : 0;
		if (x != MAP_FAILED)
			munmap(x, 4096);
		e->va = va;
		e->fd = *fd;
		*fd = -1;
	}
	d->nr_dma++;
	return 0;
}

int vts_dma_unmap(struct vts_device *d, const struct vfio_user_dma_unmap *u)
{
	unsigned int i;

	if (u->flags == VFIO_DMA_UNMAP_FLAG_ALL) {
		if (u->address || u->size)
			return -EINVAL;
		vts_dma_fini(d);
		return 0;
	}
	if (u->flags)
		return -EINVAL;
	for (i = 0; i < d->nr_dma; i++) {
		if (d->dma[i].iova != u->address || d->dma[i].size != u->size)
			continue;
		dma_release(&d->dma[i]);
		d->dma[i] = d->dma[--d->nr_dma];	/* order is irrelevant */
		return 0;
	}
	return -ENOENT;
}

/*
 * The entry covering all of [iova, iova + len) with at least the
 * VFIO_USER_F_DMA_REGION_* flags in @need, or NULL.  Entries never overlap,
 * so only the one containing @iova can qualify.
 */
const struct vts_dma_map *vts_dma_find(const struct vts_device *d, uint64_t iova,
				       uint64_t len, uint32_t need)
{
	unsigned int i;

	for (i = 0; i < d->nr_dma; i++) {
		const struct vts_dma_map *m = &d->dma[i];

		if (iova < m->iova || iova - m->iova >= m->size)
			continue;
		if (len > m->size - (iova - m->iova) ||
		    (m->flags & need) != need)
			return NULL;
		return m;
	}
	return NULL;
}
