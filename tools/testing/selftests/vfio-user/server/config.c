// SPDX-License-Identifier: GPL-2.0
/*
 * PCI config space of the test device (region VFIO_PCI_CONFIG_REGION_INDEX).
 *
 * Config space is a byte image plus a per-byte write mask: a write changes
 * only the bits whose mask bit is set.  That one rule covers everything the
 * device needs: writable command bits, the MSI/MSI-X enable bits, and BAR
 * sizing (a BAR's mask is its size mask, so writing all-ones reads back the
 * mask and the read-only type bits stay 0 = 32-bit memory).
 */
#include <string.h>
#include <linux/pci_regs.h>

#include "server.h"

static void put8(uint8_t *p, unsigned int off, uint8_t v)
{
	p[off] = v;
}

static void put16(uint8_t *p, unsigned int off, uint16_t v)
{
	p[off] = v;
	p[off + 1] = v >> 8;
}

static void put32(uint8_t *p, unsigned int off, uint32_t v)
{
	put16(p, off, v);
	put16(p, off + 2, v >> 16);
}

static void config_header(uint8_t *cfg, uint8_t *wmask)
{
	put16(cfg, PCI_VENDOR_ID, TDEV_VENDOR_ID);
	put16(cfg, PCI_DEVICE_ID, TDEV_DEVICE_ID);
	put16(wmask, PCI_COMMAND, TDEV_COMMAND_WMASK);
	put16(cfg, PCI_STATUS, PCI_STATUS_CAP_LIST);
	put32(cfg, PCI_CLASS_REVISION, TDEV_CLASS << 8 | TDEV_REVISION);
	put8(cfg, PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL);
	/* Memory BARs, 32-bit, non-prefetchable: type bits are all zero. */
	put32(wmask, PCI_BASE_ADDRESS_0, TDEV_BAR0_MASK);
	put32(wmask, PCI_BASE_ADDRESS_2, TDEV_BAR2_MASK);
	put32(wmask, PCI_BASE_ADDRESS_4, TDEV_BAR4_MASK);
	put16(cfg, PCI_SUBSYSTEM_VENDOR_ID, TDEV_SUBSYS_VENDOR_ID);
	put16(cfg, PCI_SUBSYSTEM_ID, TDEV_SUBSYS_ID);
	put8(cfg, PCI_CAPABILITY_LIST, TDEV_MSI_CAP);
	put8(cfg, PCI_INTERRUPT_PIN, TDEV_INTERRUPT_PIN);
}

/* MSI: 64-bit address, one vector (MMC 0), no per-vector masking. */
static void config_msi(uint8_t *cfg, uint8_t *wmask)
{
	put8(cfg, TDEV_MSI_CAP + PCI_CAP_LIST_ID, PCI_CAP_ID_MSI);
	put8(cfg, TDEV_MSI_CAP + PCI_CAP_LIST_NEXT, TDEV_MSIX_CAP);
	put16(cfg, TDEV_MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT);
	put16(wmask, TDEV_MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE);
}

/* MSI-X: table and PBA in BAR4 at the offsets test_device.h promises. */
static void config_msix(uint8_t *cfg, uint8_t *wmask)
{
	put8(cfg, TDEV_MSIX_CAP + PCI_CAP_LIST_ID, PCI_CAP_ID_MSIX);
	put8(cfg, TDEV_MSIX_CAP + PCI_CAP_LIST_NEXT, 0);
	put16(cfg, TDEV_MSIX_CAP + PCI_MSIX_FLAGS, TDEV_MSIX_COUNT - 1);
	put16(wmask, TDEV_MSIX_CAP + PCI_MSIX_FLAGS,
	      PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	put32(cfg, TDEV_MSIX_CAP + PCI_MSIX_TABLE,
	      TDEV_MSIX_TABLE_OFFSET | TDEV_MSIX_BIR);
	put32(cfg, TDEV_MSIX_CAP + PCI_MSIX_PBA,
	      TDEV_MSIX_PBA_OFFSET | TDEV_MSIX_BIR);
}

void vts_config_reset(struct vts_device *d)
{
	memset(d->cfg, 0, sizeof(d->cfg));
	memset(d->cfg_wmask, 0, sizeof(d->cfg_wmask));
	config_header(d->cfg, d->cfg_wmask);
	config_msi(d->cfg, d->cfg_wmask);
	config_msix(d->cfg, d->cfg_wmask);
}

/* The caller has checked that [offset, offset + count) is inside. */
void vts_config_access(struct vts_device *d, uint64_t offset, void *buf,
		       uint32_t count, bool write)
{
	uint8_t *b = buf;
	uint32_t i;

	if (!write) {
		memcpy(b, d->cfg + offset, count);
		return;
	}
	for (i = 0; i < count; i++) {
		uint8_t m = d->cfg_wmask[offset + i];

		d->cfg[offset + i] = (d->cfg[offset + i] & ~m) | (b[i] & m);
	}
}
