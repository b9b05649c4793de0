// SPDX-License-Identifier: GPL-2.0
/*
 * The test server's device, seen from a userspace vfio-user client
 * (lib/vfu_client): DEVICE_GET_INFO, config space (identity,
 * capabilities, writes, the MSI-X table and PBA in BAR4) and
 * DEVICE_RESET.
 *
 * Needs no kernel driver; the fixture and helpers are in server_test.h.
 */
#include "server_test.h"

/* ======================= device info ======================= */

TEST_F(srv, device_info)
{
	struct vfio_user_device_info info, req = { .argsz = 8 };
	struct vfu_msg m;

	UP("--once");
	ASSERT_EQ(0, vfu_device_get_info(C, &info));
	EXPECT_EQ(sizeof(info), info.argsz);
	EXPECT_EQ(VFIO_USER_DEVICE_FLAGS_PCI | VFIO_USER_DEVICE_FLAGS_RESET,
		  info.flags);
	EXPECT_EQ(TDEV_NUM_REGIONS, info.num_regions);
	EXPECT_EQ(TDEV_NUM_IRQS, info.num_irqs);
	/* argsz below the structure, and a short payload */
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_DEVICE_GET_INFO, 0, &req,
				   sizeof(req), &m));
	req.argsz = sizeof(req);
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_DEVICE_GET_INFO, 0, &req, 8, &m));
}

TEST_F(srv, not_pci_and_no_reset)
{
	struct vfio_user_device_info info;

	UP("--not-pci", "--no-reset");
	ASSERT_EQ(0, vfu_device_get_info(C, &info));
	EXPECT_EQ(0, info.flags);
	EXPECT_EQ(-EINVAL, vfu_reset(C));
}

/* ======================= config space ======================= */

TEST_F(srv, config_identity_and_caps)
{
	uint8_t pos;

	UP("--once");
	EXPECT_EQ(TDEV_VENDOR_ID, CFG16(PCI_VENDOR_ID));
	EXPECT_EQ(TDEV_DEVICE_ID, CFG16(PCI_DEVICE_ID));
	EXPECT_EQ(TDEV_CLASS << 8 | TDEV_REVISION, CFG32(PCI_CLASS_REVISION));
	EXPECT_EQ(PCI_HEADER_TYPE_NORMAL, CFG8(PCI_HEADER_TYPE));
	EXPECT_EQ(TDEV_SUBSYS_VENDOR_ID, CFG16(PCI_SUBSYSTEM_VENDOR_ID));
	EXPECT_EQ(TDEV_SUBSYS_ID, CFG16(PCI_SUBSYSTEM_ID));
	EXPECT_EQ(0, CFG16(PCI_COMMAND));
	EXPECT_TRUE(CFG16(PCI_STATUS) & PCI_STATUS_CAP_LIST);
	EXPECT_EQ(TDEV_INTERRUPT_PIN, CFG8(PCI_INTERRUPT_PIN));
	EXPECT_EQ(0, CFG32(PCI_BASE_ADDRESS_0));
	EXPECT_EQ(0, CFG32(PCI_ROM_ADDRESS));

	/* Walk the capability list as a guest driver would. */
	pos = CFG8(PCI_CAPABILITY_LIST);
	ASSERT_EQ(TDEV_MSI_CAP, pos);
	EXPECT_EQ(PCI_CAP_ID_MSI, CFG8(pos + PCI_CAP_LIST_ID));
	EXPECT_EQ(PCI_MSI_FLAGS_64BIT, CFG16(pos + PCI_MSI_FLAGS));
	pos = CFG8(pos + PCI_CAP_LIST_NEXT);
	ASSERT_EQ(TDEV_MSIX_CAP, pos);
	EXPECT_EQ(PCI_CAP_ID_MSIX, CFG8(pos + PCI_CAP_LIST_ID));
	EXPECT_EQ(TDEV_MSIX_COUNT - 1, CFG16(pos + PCI_MSIX_FLAGS));
	EXPECT_EQ(TDEV_MSIX_TABLE_OFFSET | TDEV_MSIX_BIR,
		  CFG32(pos + PCI_MSIX_TABLE));
	EXPECT_EQ(TDEV_MSIX_PBA_OFFSET | TDEV_MSIX_BIR,
		  CFG32(pos + PCI_MSIX_PBA));
	EXPECT_EQ(0, CFG8(pos + PCI_CAP_LIST_NEXT));
}

TEST_F(srv, config_writes)
{
	static const struct { unsigned int reg; uint32_t mask; } bars[] = {
		{ PCI_BASE_ADDRESS_0, TDEV_BAR0_MASK },
		{ PCI_BASE_ADDRESS_1, 0 },
		{ PCI_BASE_ADDRESS_2, TDEV_BAR2_MASK },
		{ PCI_BASE_ADDRESS_3, 0 },
		{ PCI_BASE_ADDRESS_4, TDEV_BAR4_MASK },
		{ PCI_BASE_ADDRESS_5, 0 },
		{ PCI_ROM_ADDRESS, 0 },
	};
	uint16_t v16 = 0xffff;
	size_t i;

	UP("--once");
	ASSERT_EQ(0, vfu_region_write(C, CONFIG, PCI_COMMAND, &v16, 2));
	EXPECT_EQ(TDEV_COMMAND_WMASK, CFG16(PCI_COMMAND));
	for (i = 0; i < sizeof(bars) / sizeof(bars[0]); i++) {
		WR(CONFIG, bars[i].reg, 0xffffffff);
		EXPECT_EQ(bars[i].mask, CFG32(bars[i].reg));
		WR(CONFIG, bars[i].reg, 0xfe012345);
		EXPECT_EQ(0xfe012345 & bars[i].mask, CFG32(bars[i].reg));
	}
	/* Read-only fields stay. */
	WR(CONFIG, PCI_VENDOR_ID, 0);
	EXPECT_EQ(TDEV_VENDOR_ID, CFG16(PCI_VENDOR_ID));
	WR(CONFIG, PCI_CAPABILITY_LIST & ~3, 0);
	EXPECT_EQ(TDEV_MSI_CAP, CFG8(PCI_CAPABILITY_LIST));
	/* MSI: only enable; MSI-X: enable and function mask. */
	v16 = 0xffff;
	ASSERT_EQ(0, vfu_region_write(C, CONFIG, TDEV_MSI_CAP + PCI_MSI_FLAGS,
				      &v16, 2));
	EXPECT_EQ(PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_ENABLE,
		  CFG16(TDEV_MSI_CAP + PCI_MSI_FLAGS));
	ASSERT_EQ(0, vfu_region_write(C, CONFIG, TDEV_MSIX_CAP + PCI_MSIX_FLAGS,
				      &v16, 2));
	EXPECT_EQ(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL |
		  (TDEV_MSIX_COUNT - 1), CFG16(TDEV_MSIX_CAP + PCI_MSIX_FLAGS));
	/* A whole-space write is fine and changes only writable bits. */
	{
		uint8_t ones[TDEV_CONFIG_SIZE];

		memset(ones, 0xff, sizeof(ones));
		ASSERT_EQ(0, vfu_region_write(C, CONFIG, 0, ones, sizeof(ones)));
		EXPECT_EQ(TDEV_DEVICE_ID, CFG16(PCI_DEVICE_ID));
		EXPECT_EQ(TDEV_BAR2_MASK, CFG32(PCI_BASE_ADDRESS_2));
	}
	/* Config writes are not BAR0 writes. */
	EXPECT_EQ(0, REG(TDEV_REG_WRITE_COUNT));
}

TEST_F(srv, bar4_msix_table_and_pba)
{
	unsigned int v;

	UP("--once");
	for (v = 0; v < TDEV_MSIX_COUNT; v++) {
		EXPECT_EQ(0, RD(BAR4, v * 16 + PCI_MSIX_ENTRY_DATA));
		EXPECT_EQ(PCI_MSIX_ENTRY_CTRL_MASKBIT,
			  RD(BAR4, v * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL));
	}
	WR(BAR4, 3 * 16 + PCI_MSIX_ENTRY_LOWER_ADDR, 0xfee00000);
	WR(BAR4, 3 * 16 + PCI_MSIX_ENTRY_DATA, 0x4021);
	WR(BAR4, 3 * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
	EXPECT_EQ(0xfee00000, RD(BAR4, 3 * 16 + PCI_MSIX_ENTRY_LOWER_ADDR));
	EXPECT_EQ(0x4021, RD(BAR4, 3 * 16 + PCI_MSIX_ENTRY_DATA));
	EXPECT_EQ(0, RD(BAR4, 3 * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL));
	WR(BAR4, TDEV_MSIX_PBA_OFFSET, 0xffffffff);	/* PBA is read-only */
	EXPECT_EQ(0, RD(BAR4, TDEV_MSIX_PBA_OFFSET));
	EXPECT_EQ(0, RD(BAR4, TDEV_BAR4_SIZE - 4));
	/* Table writes are not BAR0 writes either. */
	EXPECT_EQ(0, REG(TDEV_REG_WRITE_COUNT));
}

/* ======================= reset ======================= */

TEST_F(srv, reset_restores_defaults_keeps_irqs_and_dma)
{
	int e;

	UP("--once");
	ASSERT_LE(0, e = new_eventfd());
	ASSERT_EQ(0, vfu_set_irqs(C, EVENTFD_TRIGGER, VFIO_PCI_MSI_IRQ_INDEX,
				  0, 1, NULL, 0, &e, 1));
	ASSERT_EQ(0, vfu_dma_map(C, 0x100000, 0x1000, 0,
				 VFIO_USER_F_DMA_REGION_READ, -1));
	WREG(TDEV_REG_SCRATCH, 77);
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_MSI(0));
	EXPECT_EQ(1, efd_count(e));
	WR(CONFIG, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	WR(CONFIG, PCI_BASE_ADDRESS_2, 0xc0000000);
	WR(BAR4, PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
	WR(BAR2, 0, 0xabcdabcd);

	ASSERT_EQ(0, vfu_reset(C));
	EXPECT_EQ(1, REG(TDEV_REG_RESET_COUNT));
	EXPECT_EQ(0, REG(TDEV_REG_SCRATCH));
	EXPECT_EQ(0, REG(TDEV_REG_IRQ_COUNT));
	EXPECT_EQ(0, CFG16(PCI_COMMAND));
	EXPECT_EQ(0, CFG32(PCI_BASE_ADDRESS_2));
	EXPECT_EQ(1, RD(BAR4, PCI_MSIX_ENTRY_VECTOR_CTRL));
	EXPECT_EQ(1, REG(TDEV_REG_DMA_MAP_COUNT));
	/* BAR2 is memory, not a register: it keeps its contents. */
	EXPECT_EQ(0xabcdabcd, RD(BAR2, 0));
	/* WRITE_COUNT restarted at the reset (the reads above are reads). */
	EXPECT_EQ(0, REG(TDEV_REG_WRITE_COUNT));
	/* Interrupts stay registered. */
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_MSI(0));
	EXPECT_EQ(1, efd_count(e));
	ASSERT_EQ(0, vfu_reset(C));
	EXPECT_EQ(2, REG(TDEV_REG_RESET_COUNT));
	/* RESET takes no payload. */
	{
		struct vfu_msg m;
		uint32_t junk = 0;

		EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_DEVICE_RESET, 0, &junk,
					   4, &m));
	}
	close(e);
}

TEST_HARNESS_MAIN
