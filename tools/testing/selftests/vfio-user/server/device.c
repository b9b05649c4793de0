// SPDX-License-Identifier: GPL-2.0
/*
 * The test device's regions: BAR0 registers, BAR2 memory, BAR4 MSI-X
 * table/PBA and config space, plus device lifetime (init, reset, fini).
 * The DMA engine's registers in BAR0 are engine.c's.
 *
 * A device lives exactly as long as one client connection, so every
 * connection starts from the same state.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/pci_regs.h>

#include "server.h"

static const uint64_t region_sizes[TDEV_NUM_REGIONS] = {
	TDEV_BAR0_SIZE, TDEV_BAR1_SIZE, TDEV_BAR2_SIZE, TDEV_BAR3_SIZE,
	TDEV_BAR4_SIZE, TDEV_BAR5_SIZE, TDEV_ROM_SIZE, TDEV_CONFIG_SIZE,
	TDEV_VGA_SIZE,
};

uint64_t vts_region_size(uint32_t index)
{
	return index < TDEV_NUM_REGIONS ? region_sizes[index] : 0;
}

uint32_t vts_region_flags(uint32_t index)
{
	uint32_t flags;

	if (!vts_region_size(index))
		return 0;
	flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	if (index == VFIO_PCI_BAR2_REGION_INDEX)
		flags |= VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
	return flags;
}

static void msix_table_reset(struct vts_device *d)
{
	unsigned int v;

	memset(d->msix_table, 0, sizeof(d->msix_table));
	/* PCI: every vector comes out of reset masked. */
	for (v = 0; v < TDEV_MSIX_COUNT; v++)
		d->msix_table[v * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL] = 1;
}

/* Register state only: interrupts and DMA mappings survive a reset. */
void vts_device_reset(struct vts_device *d)
{
	d->scratch = 0;
	d->write_count = 0;
	d->irq_count = 0;
	vts_config_reset(d);
	msix_table_reset(d);
	vts_engine_reset(d);
}

/*
 * --bar2-file PATH: send PATH's file for BAR2 instead of a memfd, so that
 * a client's kernel meets files of every kind (tmpfs, 9p, procfs, sysfs).
 * We back BAR2 with it when it lets us map it shared and writable (grown to
 * BAR2's size if shorter); otherwise BAR2 is memory of our own and the file
 * is only sent.  Either way REGION_READ/WRITE serve what d->bar2 holds.
 */
static int bar2_open_file(struct vts_device *d, const char *path)
{
	struct stat st;

	d->bar2_fd = open(path, O_RDWR | O_CLOEXEC);
	if (d->bar2_fd < 0)
		d->bar2_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (d->bar2_fd < 0)
		return -errno;
	if (!fstat(d->bar2_fd, &st) && S_ISREG(st.st_mode) &&
	    st.st_size < TDEV_BAR2_SIZE && ftruncate(d->bar2_fd, TDEV_BAR2_SIZE))
		vts_log("--bar2-file %s: cannot grow it: %m\n", path);
	d->bar2 = mmap(NULL, TDEV_BAR2_SIZE, PROT_READ | PROT_WRITE,
		       MAP_SHARED, d->bar2_fd, 0);
	if (d->bar2 != MAP_FAILED) {
		vts_log("BAR2 is %s\n", path);
		return 0;
	}
	vts_log("--bar2-file %s: no shared mapping (%m): sent, not used\n", path);
	d->bar2 = mmap(NULL, TDEV_BAR2_SIZE, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return d->bar2 == MAP_FAILED ? -errno : 0;
}

int vts_device_init(struct vts_device *d)
{
	int err;

	memset(d, 0, sizeof(*d));
	d->dma_exec_errno = 0xffffffff;
	vts_irq_init(d);
	if (vts_opt->bar2_file) {
		err = bar2_open_file(d, vts_opt->bar2_file);
		if (err)
			goto fail_err;
		vts_device_reset(d);
		return 0;
	}
	d->bar2_fd = memfd_create("vfu-test-bar2", MFD_CLOEXEC);
	if (d->bar2_fd < 0)
		return -errno;
	if (ftruncate(d->bar2_fd, TDEV_BAR2_SIZE) < 0)
		goto fail;
	d->bar2 = mmap(NULL, TDEV_BAR2_SIZE, PROT_READ | PROT_WRITE,
		       MAP_SHARED, d->bar2_fd, 0);
	if (d->bar2 == MAP_FAILED)
		goto fail;
	vts_device_reset(d);
	return 0;
fail:
	err = -errno;
fail_err:
	if (d->bar2_fd >= 0)
		close(d->bar2_fd);
	d->bar2 = NULL;
	return err;
}

void vts_device_fini(struct vts_device *d)
{
	vts_irq_fini(d);
	vts_dma_fini(d);
	if (d->bar2)
		munmap(d->bar2, TDEV_BAR2_SIZE);
	close(d->bar2_fd);
	d->bar2 = NULL;
}

static uint32_t bar0_read32(const struct vts_device *d, uint64_t reg)
{
	switch (reg) {
	case TDEV_REG_MAGIC:		return TDEV_MAGIC_VALUE;
	case TDEV_REG_SCRATCH:		return d->scratch;
	case TDEV_REG_WRITE_COUNT:	return d->write_count;
	case TDEV_REG_RESET_COUNT:	return d->reset_count;
	case TDEV_REG_DMA_MAP_COUNT:	return d->nr_dma;
	case TDEV_REG_IRQ_COUNT:	return d->irq_count;
	case TDEV_REG_BAD_FDS:		return d->bad_fds;
	case TDEV_REG_DMA_EXEC_ERRNO:	return d->dma_exec_errno;
	default:			return vts_engine_read(d, reg);
	}
}

static void bar2_fill(struct vts_device *d, uint32_t v)
{
	uint32_t *p = (uint32_t *)d->bar2;
	size_t i;

	for (i = 0; i < TDEV_BAR2_SIZE / 4; i++)
		p[i] = v;
}

static void bar0_write32(struct vts_device *d, uint64_t reg, uint32_t v)
{
	switch (reg) {
	case TDEV_REG_SCRATCH:
		d->scratch = v;
		break;
	case TDEV_REG_IRQ_RAISE:
		vts_irq_raise(d, v);
		break;
	case TDEV_REG_BAR2_FILL:
		bar2_fill(d, v);
		break;
	default:
		vts_engine_write(d, reg, v);
		break;
	}
}

/*
 * Registers are 32-bit, but a client may read any byte range (a guest's
 * 8-byte or 1-byte access must not fail): bytes come from the dwords they
 * belong to.  Writes apply only the whole, aligned dwords they cover; a
 * partial dword would be a torn register write, so it is ignored.  Every
 * write message counts once in WRITE_COUNT, whatever it touched.
 */
static void bar0_access(struct vts_device *d, uint64_t off, uint8_t *b,
			uint32_t count, bool write)
{
	uint64_t i;

	if (!write) {
		for (i = off; i < off + count; i++)
			b[i - off] = bar0_read32(d, i & ~3ull) >> (8 * (i & 3));
		return;
	}
	d->write_count++;
	for (i = (off + 3) & ~3ull; i + 4 <= off + count; i += 4) {
		uint32_t v;

		memcpy(&v, b + (i - off), 4);
		bar0_write32(d, i, v);
	}
}

/* BAR4: the MSI-X table is plain storage; the rest (PBA) reads 0. */
static void bar4_access(struct vts_device *d, uint64_t off, uint8_t *b,
			uint32_t count, bool write)
{
	uint64_t i;

	for (i = off; i < off + count; i++) {
		bool in_table = i < sizeof(d->msix_table);

		if (write && in_table)
			d->msix_table[i] = b[i - off];
		else if (!write)
			b[i - off] = in_table ? d->msix_table[i] : 0;
	}
}

int vts_region_access(struct vts_device *d, uint32_t index, uint64_t offset,
		      void *buf, uint32_t count, bool write)
{
	uint64_t size = vts_region_size(index);

	if (!count || !size || offset > size || count > size - offset)
		return -EINVAL;

	switch (index) {
	case VFIO_PCI_BAR0_REGION_INDEX:
		bar0_access(d, offset, buf, count, write);
		break;
	case VFIO_PCI_BAR2_REGION_INDEX:
		if (write)
			memcpy(d->bar2 + offset, buf, count);
		else
			memcpy(buf, d->bar2 + offset, count);
		break;
	case VFIO_PCI_BAR4_REGION_INDEX:
		bar4_access(d, offset, buf, count, write);
		break;
	case VFIO_PCI_CONFIG_REGION_INDEX:
		vts_config_access(d, offset, buf, count, write);
		break;
	}
	return 0;
}
