// SPDX-License-Identifier: GPL-2.0
/*
 * The test server's regions, seen from a userspace vfio-user client
 * (lib/vfu_client): REGION_INFO (BAR2's caps and fd), IRQ_INFO, the
 * BAR0 registers, odd sizes, access errors, big BAR2 transfers.
 *
 * Needs no kernel driver; the fixture and helpers are in server_test.h.
 */
#include "server_test.h"

/* ======================= regions ======================= */

TEST_F(srv, region_info_all)
{
	static const uint64_t sizes[TDEV_NUM_REGIONS] = {
		TDEV_BAR0_SIZE, 0, TDEV_BAR2_SIZE, 0, TDEV_BAR4_SIZE, 0, 0,
		TDEV_CONFIG_SIZE, 0,
	};
	const uint32_t rw = VFIO_REGION_INFO_FLAG_READ |
			    VFIO_REGION_INFO_FLAG_WRITE;
	struct vfio_user_region_info info;
	uint32_t i;
	int fd;

	UP("--once");
	for (i = 0; i < TDEV_NUM_REGIONS; i++) {
		ASSERT_EQ(0, vfu_region_info(C, i, sizeof(info), &info, &fd));
		EXPECT_EQ(-1, fd);
		EXPECT_EQ(i, info.index);
		EXPECT_EQ(sizes[i], info.size);
		EXPECT_EQ(0, info.cap_offset);
		if (i == BAR2) {
			EXPECT_EQ(rw | VFIO_REGION_INFO_FLAG_MMAP |
				  VFIO_REGION_INFO_FLAG_CAPS, info.flags);
			EXPECT_EQ(TDEV_BAR2_INFO_ARGSZ, info.argsz);
		} else {
			EXPECT_EQ(sizes[i] ? rw : 0, info.flags);
			EXPECT_EQ(sizeof(info), info.argsz);
		}
	}
	EXPECT_EQ(-EINVAL, vfu_region_info(C, TDEV_NUM_REGIONS, sizeof(info),
					   &info, &fd));
	EXPECT_EQ(-EINVAL, vfu_region_info(C, 0, sizeof(info) - 1, &info, &fd));
}

TEST_F(srv, region_info_bar2_caps_and_fd)
{
	uint8_t buf[TDEV_BAR2_INFO_ARGSZ + 64];
	struct vfio_user_region_info *info = (void *)buf;
	struct vfio_region_info_cap_sparse_mmap *cap;
	uint32_t v;
	uint8_t *map;
	int fd;

	UP("--once");
	/* Step 1: too small for the caps: size needed, no caps, no fd. */
	ASSERT_EQ(0, vfu_region_info(C, BAR2, sizeof(*info), buf, &fd));
	EXPECT_EQ(-1, fd);
	ASSERT_EQ(TDEV_BAR2_INFO_ARGSZ, info->argsz);
	EXPECT_EQ(0, info->cap_offset);
	/* Step 2: big enough (and more): caps and the memfd. */
	ASSERT_EQ(0, vfu_region_info(C, BAR2, sizeof(buf), buf, &fd));
	ASSERT_GE(fd, 0);
	EXPECT_EQ(TDEV_BAR2_INFO_ARGSZ, info->argsz);
	EXPECT_EQ(TDEV_BAR2_SIZE, info->size);
	EXPECT_EQ(TDEV_BAR2_MMAP_OFFSET, info->offset);
	ASSERT_EQ(sizeof(*info), info->cap_offset);
	cap = (void *)(buf + info->cap_offset);
	EXPECT_EQ(VFIO_REGION_INFO_CAP_SPARSE_MMAP, cap->header.id);
	EXPECT_EQ(1, cap->header.version);
	EXPECT_EQ(0, cap->header.next);
	ASSERT_EQ(TDEV_BAR2_NR_AREAS, cap->nr_areas);
	EXPECT_EQ(TDEV_BAR2_AREA0_OFFSET, cap->areas[0].offset);
	EXPECT_EQ(TDEV_BAR2_AREA0_SIZE, cap->areas[0].size);
	EXPECT_EQ(TDEV_BAR2_AREA1_OFFSET, cap->areas[1].offset);
	EXPECT_EQ(TDEV_BAR2_AREA1_SIZE, cap->areas[1].size);

	/* The fd is BAR2: both ways. */
	map = mmap(NULL, TDEV_BAR2_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, info->offset);
	ASSERT_NE(MAP_FAILED, map);
	close(fd);
	memcpy(map + TDEV_BAR2_AREA1_OFFSET, "\x11\x22\x33\x44", 4);
	EXPECT_EQ(0x44332211, RD(BAR2, TDEV_BAR2_AREA1_OFFSET));
	WR(BAR2, 0x100, 0xcafef00d);
	memcpy(&v, map + 0x100, 4);
	EXPECT_EQ(0xcafef00d, v);
	munmap(map, TDEV_BAR2_SIZE);
}

TEST_F(srv, irq_info_all)
{
	static const uint32_t counts[TDEV_NUM_IRQS] = {
		TDEV_INTX_COUNT, TDEV_MSI_COUNT, TDEV_MSIX_COUNT,
		TDEV_ERR_COUNT, TDEV_REQ_COUNT,
	};
	static const uint32_t flags[TDEV_NUM_IRQS] = {
		VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
			VFIO_IRQ_INFO_AUTOMASKED,
		VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE,
		VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE,
		VFIO_IRQ_INFO_EVENTFD,
		VFIO_IRQ_INFO_EVENTFD,
	};
	struct vfio_user_irq_info info;
	uint32_t i;

	UP("--once");
	for (i = 0; i < TDEV_NUM_IRQS; i++) {
		ASSERT_EQ(0, vfu_irq_info(C, i, &info));
		EXPECT_EQ(sizeof(info), info.argsz);
		EXPECT_EQ(i, info.index);
		EXPECT_EQ(counts[i], info.count);
		EXPECT_EQ(flags[i], info.flags);
	}
	EXPECT_EQ(-EINVAL, vfu_irq_info(C, TDEV_NUM_IRQS, &info));
}

TEST_F(srv, bar0_registers)
{
	UP("--once");
	EXPECT_EQ(TDEV_MAGIC_VALUE, REG(TDEV_REG_MAGIC));
	EXPECT_EQ(0, REG(TDEV_REG_WRITE_COUNT));
	EXPECT_EQ(0, REG(TDEV_REG_SCRATCH));
	WREG(TDEV_REG_SCRATCH, 0x12345678);
	EXPECT_EQ(0x12345678, REG(TDEV_REG_SCRATCH));
	WREG(TDEV_REG_MAGIC, 0);			/* read-only */
	EXPECT_EQ(TDEV_MAGIC_VALUE, REG(TDEV_REG_MAGIC));
	WREG(TDEV_REG_WRITE_COUNT, 1000);		/* read-only */
	WREG(0x800, 0xffffffff);			/* unlisted: ignored */
	EXPECT_EQ(0, REG(0x800));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_RESERVED));	/* reserved */
	EXPECT_EQ(0, REG(TDEV_REG_IRQ_RAISE));		/* write-only */
	EXPECT_EQ(0, REG(TDEV_REG_BAR2_FILL));
	EXPECT_EQ(0, REG(TDEV_REG_RESET_COUNT));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_MAP_COUNT));
	EXPECT_EQ(0, REG(TDEV_REG_IRQ_COUNT));
	EXPECT_EQ(4, REG(TDEV_REG_WRITE_COUNT));	/* every write counts */
	EXPECT_EQ(0, REG(TDEV_BAR0_SIZE - 4));
}

TEST_F(srv, bar0_odd_sizes)
{
	uint64_t q = 0;
	uint8_t b = 0;
	uint16_t h = 0xffff;

	UP("--once");
	WREG(TDEV_REG_SCRATCH, 0xa1b2c3d4);
	ASSERT_EQ(0, vfu_region_read(C, BAR0, 1, &b, 1));
	EXPECT_EQ((TDEV_MAGIC_VALUE >> 8) & 0xff, b);
	ASSERT_EQ(0, vfu_region_read(C, BAR0, 0, &q, 8));
	EXPECT_EQ(0xa1b2c3d4ull << 32 | TDEV_MAGIC_VALUE, q);
	/* A partial dword write is ignored, but still counts. */
	ASSERT_EQ(0, vfu_region_write(C, BAR0, TDEV_REG_SCRATCH, &h, 2));
	EXPECT_EQ(0xa1b2c3d4, REG(TDEV_REG_SCRATCH));
	/* Unaligned 8 bytes at 2: only the dword at 4 is whole. */
	q = 0x1122334455667788ull;
	ASSERT_EQ(0, vfu_region_write(C, BAR0, 2, &q, 8));
	EXPECT_EQ((uint32_t)(q >> 16), REG(TDEV_REG_SCRATCH));
	EXPECT_EQ(3, REG(TDEV_REG_WRITE_COUNT));
}

TEST_F(srv, region_access_errors)
{
	uint8_t buf[64];
	struct vfio_user_region_access a = { .region = BAR0, .count = 4 };
	struct { struct vfio_user_region_access a; uint8_t d[8]; } w = {
		.a = { .region = BAR0, .count = 4 },	/* but 8 bytes follow */
	};
	struct vfu_msg m;

	UP("--once");
	EXPECT_EQ(-EINVAL, vfu_region_read(C, BAR0, TDEV_BAR0_SIZE - 2, buf, 4));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, BAR0, TDEV_BAR0_SIZE, buf, 1));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, BAR0, ~0ull - 1, buf, 4));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, BAR0, 0, buf, 0));
	EXPECT_EQ(-EINVAL, vfu_region_write(C, BAR0, 0, buf, 0));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, VFIO_PCI_BAR1_REGION_INDEX, 0,
					   buf, 4));
	EXPECT_EQ(-EINVAL, vfu_region_write(C, VFIO_PCI_ROM_REGION_INDEX, 0,
					    buf, 4));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, VFIO_PCI_VGA_REGION_INDEX, 0,
					   buf, 4));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, TDEV_NUM_REGIONS, 0, buf, 4));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, ~0u, 0, buf, 4));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, CONFIG, TDEV_CONFIG_SIZE - 1,
					   buf, 2));
	/* A read request with data, a write whose count disagrees */
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_REGION_READ, 0, &w, sizeof(w),
				   &m));
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_REGION_WRITE, 0, &w, sizeof(w),
				   &m));
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_REGION_WRITE, 0, &a, 8, &m));
	/* Nothing above reached BAR0 as a write. */
	EXPECT_EQ(0, REG(TDEV_REG_WRITE_COUNT));
}

TEST_F(srv, bar2_fill_and_big_transfers)
{
	static uint8_t buf[TDEV_BAR2_SIZE];
	static uint8_t big[TDEV_MAX_DATA_XFER];
	size_t i;
	bool ok = true;

	UP("--once");
	WREG(TDEV_REG_BAR2_FILL, 0x5a5aa5a5);
	ASSERT_EQ(0, vfu_region_read(C, BAR2, 0, buf, sizeof(buf)));
	for (i = 0; i < sizeof(buf); i += 4)
		ok &= *(uint32_t *)(buf + i) == 0x5a5aa5a5;
	EXPECT_TRUE(ok);
	/* The trapped hole is ordinary memory for messages. */
	WR(BAR2, TDEV_BAR2_AREA0_SIZE + 8, 0x01020304);
	EXPECT_EQ(0x01020304, RD(BAR2, TDEV_BAR2_AREA0_SIZE + 8));
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = i * 7;
	ASSERT_EQ(0, vfu_region_write(C, BAR2, 0, buf, sizeof(buf)));
	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(0, vfu_region_read(C, BAR2, 0, buf, sizeof(buf)));
	for (i = 0, ok = true; i < sizeof(buf); i++)
		ok &= buf[i] == (uint8_t)(i * 7);
	EXPECT_TRUE(ok);
	/* A max-size (1 MiB) transfer is framed fine, but past BAR2's end. */
	EXPECT_EQ(-EINVAL, vfu_region_write(C, BAR2, 0, big, sizeof(big)));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, BAR2, 0, big, sizeof(big)));
	ALIVE();
}

TEST_HARNESS_MAIN
