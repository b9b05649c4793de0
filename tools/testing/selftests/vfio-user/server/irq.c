// SPDX-License-Identifier: GPL-2.0
/*
 * Interrupts: VFIO_USER_DEVICE_SET_IRQS and raising them.
 *
 * The only delivery mechanism in vfio-user is an eventfd per vector that the
 * client passes with SET_IRQS(ACTION_TRIGGER | DATA_EVENTFD); raising a
 * vector is eventfd_write(fd, 1).  The semantics follow vfio-pci and
 * libvfio-user (lib/irq.c):
 *   - DATA_EVENTFD with count fds assigns [start, start + count),
 *   - DATA_EVENTFD without fds deassigns that range (the client cannot send
 *     the -1 entries the VFIO ioctl would carry, so QEMU sends no fds),
 *   - DATA_NONE | ACTION_TRIGGER with count 0 disables the whole index,
 *   - DATA_NONE / DATA_BOOL | ACTION_TRIGGER signal the registered eventfds,
 *   - MASK/UNMASK are accepted for INTx only; raising INTx sets
 *     PCI_STATUS_INTERRUPT in config space and UNMASK clears it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <linux/pci_regs.h>

#include "server.h"

static const uint32_t irq_counts[TDEV_NUM_IRQS] = {
	[VFIO_PCI_INTX_IRQ_INDEX] = TDEV_INTX_COUNT,
	[VFIO_PCI_MSI_IRQ_INDEX] = TDEV_MSI_COUNT,
	[VFIO_PCI_MSIX_IRQ_INDEX] = TDEV_MSIX_COUNT,
	[VFIO_PCI_ERR_IRQ_INDEX] = TDEV_ERR_COUNT,
	[VFIO_PCI_REQ_IRQ_INDEX] = TDEV_REQ_COUNT,
};

uint32_t vts_irq_count(uint32_t index)
{
	return index < TDEV_NUM_IRQS ? irq_counts[index] : 0;
}

uint32_t vts_irq_info_flags(uint32_t index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		return VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
		       VFIO_IRQ_INFO_AUTOMASKED;
	case VFIO_PCI_MSI_IRQ_INDEX:
	case VFIO_PCI_MSIX_IRQ_INDEX:
		return VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
	default:
		return VFIO_IRQ_INFO_EVENTFD;
	}
}

void vts_irq_init(struct vts_device *d)
{
	memset(d->irq_fds, 0xff, sizeof(d->irq_fds));	/* all -1 */
}

static void irq_release(struct vts_device *d, uint32_t index, uint32_t start,
			uint32_t count)
{
	uint32_t v;

	for (v = start; v < start + count; v++) {
		if (d->irq_fds[index][v] >= 0)
			close(d->irq_fds[index][v]);
		d->irq_fds[index][v] = -1;
	}
}

void vts_irq_fini(struct vts_device *d)
{
	uint32_t i;

	for (i = 0; i < TDEV_NUM_IRQS; i++)
		irq_release(d, i, 0, irq_counts[i]);
}

static void irq_signal(struct vts_device *d, uint32_t index, uint32_t vector)
{
	int fd = d->irq_fds[index][vector];

	if (fd >= 0 && eventfd_write(fd, 1) < 0)
		vts_log("irq %u.%u: eventfd_write: %m\n", index, vector);
}

/* A write to TDEV_REG_IRQ_RAISE: 0xIVV = index I, vector VV. */
void vts_irq_raise(struct vts_device *d, uint32_t value)
{
	uint32_t index = value >> 8, vector = value & 0xff;

	if (index >= TDEV_NUM_IRQS || vector >= irq_counts[index]) {
		vts_log("irq raise %#x ignored\n", value);
		return;
	}
	d->irq_count++;
	/*
	 * A level-triggered INTx shows as pending in the status register until
	 * the client unmasks it (QEMU does at the guest's end of interrupt):
	 * guest drivers such as uio_pci_generic claim the interrupt by it.
	 */
	if (index == VFIO_PCI_INTX_IRQ_INDEX)
		d->cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	irq_signal(d, index, vector);
}

/*
 * Only eventfds make sense here; anything else (a socket, /dev/null) is a
 * client bug worth reporting.
 */
static bool is_eventfd(int fd)
{
	return vts_fd_target_is(fd, "anon_inode:[eventfd]");
}

static int irq_assign(struct vts_device *d, const struct vfio_user_irq_set *s,
		      int *fds, unsigned int nfds)
{
	uint32_t i;

	if (nfds == 0) {
		irq_release(d, s->index, s->start, s->count);
		return 0;
	}
	if (nfds != s->count)
		return -EINVAL;
	for (i = 0; i < nfds; i++)
		if (!is_eventfd(fds[i]))
			return -EINVAL;
	irq_release(d, s->index, s->start, s->count);
	for (i = 0; i < nfds; i++) {
		d->irq_fds[s->index][s->start + i] = fds[i];
		fds[i] = -1;			/* consumed */
	}
	return 0;
}

static int irq_trigger(struct vts_device *d, const struct vfio_user_irq_set *s,
		       const uint8_t *bools, int *fds, unsigned int nfds)
{
	uint32_t dtype = s->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	uint32_t i;

	if (s->count == 0) {
		if (dtype != VFIO_IRQ_SET_DATA_NONE)
			return -EINVAL;
		irq_release(d, s->index, 0, irq_counts[s->index]);
		return 0;
	}
	if (dtype == VFIO_IRQ_SET_DATA_EVENTFD)
		return irq_assign(d, s, fds, nfds);
	for (i = 0; i < s->count; i++)
		if (dtype == VFIO_IRQ_SET_DATA_NONE || bools[i])
			irq_signal(d, s->index, s->start + i);
	return 0;
}

static bool one_bit(uint32_t v)
{
	return v && !(v & (v - 1));
}

/*
 * @bools: s->count bytes for DATA_BOOL (checked by the caller).
 * @fds: eventfds for DATA_EVENTFD; consumed entries are set to -1.
 */
int vts_irq_set(struct vts_device *d, const struct vfio_user_irq_set *s,
		const uint8_t *bools, int *fds, unsigned int nfds)
{
	uint32_t action = s->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	uint32_t dtype = s->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	uint32_t known = VFIO_IRQ_SET_ACTION_TYPE_MASK |
			 VFIO_IRQ_SET_DATA_TYPE_MASK;

	if (s->index >= TDEV_NUM_IRQS || (s->flags & ~known) ||
	    !one_bit(action) || !one_bit(dtype))
		return -EINVAL;
	if (s->start >= irq_counts[s->index] ||
	    (uint64_t)s->start + s->count > irq_counts[s->index])
		return -EINVAL;
	if (nfds && dtype != VFIO_IRQ_SET_DATA_EVENTFD)
		return -EINVAL;

	if (action == VFIO_IRQ_SET_ACTION_TRIGGER)
		return irq_trigger(d, s, bools, fds, nfds);

	/* MASK / UNMASK: INTx only; an unmask ends the pending interrupt. */
	if (s->index != VFIO_PCI_INTX_IRQ_INDEX || s->count == 0)
		return -EINVAL;
	if (dtype == VFIO_IRQ_SET_DATA_EVENTFD && nfds != s->count)
		return -EINVAL;
	if (action == VFIO_IRQ_SET_ACTION_UNMASK &&
	    (dtype == VFIO_IRQ_SET_DATA_NONE ||
	     (dtype == VFIO_IRQ_SET_DATA_BOOL && bools && bools[0])))
		d->cfg[PCI_STATUS] &= ~PCI_STATUS_INTERRUPT;
	return 0;	/* any mask/unmask eventfd is closed by the caller */
}
