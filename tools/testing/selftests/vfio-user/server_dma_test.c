// SPDX-License-Identifier: GPL-2.0
/*
 * The test server's DMA_MAP and DMA_UNMAP, seen from a userspace
 * vfio-user client (lib/vfu_client): with and without an fd, and their
 * errors.
 *
 * Needs no kernel driver; the fixture and helpers are in server_test.h.
 */
#include "server_test.h"

/* ======================= DMA ======================= */

TEST_F(srv, dma_map_unmap)
{
	const uint32_t rw = VFIO_USER_F_DMA_REGION_READ |
			    VFIO_USER_F_DMA_REGION_WRITE;
	struct vfio_user_dma_unmap echo;

	UP("--once");
	ASSERT_EQ(0, vfu_dma_map(C, 0x10000, 0x4000, 0, rw, -1));
	ASSERT_EQ(0, vfu_dma_map(C, 0x14000, 0x1000, 0, 0, -1)); /* adjacent */
	EXPECT_EQ(2, REG(TDEV_REG_DMA_MAP_COUNT));
	EXPECT_EQ(-EEXIST, vfu_dma_map(C, 0x13000, 0x2000, 0, rw, -1));
	EXPECT_EQ(-EEXIST, vfu_dma_map(C, 0x0f000, 0x2000, 0, rw, -1));
	EXPECT_EQ(-EEXIST, vfu_dma_map(C, 0x11000, 0x1000, 0, rw, -1));
	EXPECT_EQ(-EEXIST, vfu_dma_map(C, 0x0, 0x100000, 0, rw, -1));
	/* Unmap must match a map exactly. */
	EXPECT_EQ(-ENOENT, vfu_dma_unmap(C, 0x10000, 0x1000, 0, NULL));
	EXPECT_EQ(-ENOENT, vfu_dma_unmap(C, 0x10000, 0x5000, 0, NULL));
	memset(&echo, 0, sizeof(echo));
	ASSERT_EQ(0, vfu_dma_unmap(C, 0x10000, 0x4000, 0, &echo));
	EXPECT_EQ(sizeof(echo), echo.argsz);
	EXPECT_EQ(0, echo.flags);
	EXPECT_EQ(0x10000, echo.address);
	EXPECT_EQ(0x4000, echo.size);
	EXPECT_EQ(1, REG(TDEV_REG_DMA_MAP_COUNT));
	EXPECT_EQ(-ENOENT, vfu_dma_unmap(C, 0x10000, 0x4000, 0, NULL));
	/* The freed range can be mapped again. */
	ASSERT_EQ(0, vfu_dma_map(C, 0x10000, 0x2000, 0, rw, -1));
	/* UNMAP_ALL: address and size must be 0. */
	EXPECT_EQ(-EINVAL, vfu_dma_unmap(C, 0x10000, 0x2000,
					 VFIO_DMA_UNMAP_FLAG_ALL, NULL));
	ASSERT_EQ(0, vfu_dma_unmap(C, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &echo));
	EXPECT_EQ(VFIO_DMA_UNMAP_FLAG_ALL, echo.flags);
	EXPECT_EQ(0, REG(TDEV_REG_DMA_MAP_COUNT));
}

TEST_F(srv, dma_map_with_fd)
{
	int mfd = memfd_create("dma", MFD_CLOEXEC), dfd;
	const uint32_t rw = VFIO_USER_F_DMA_REGION_READ |
			    VFIO_USER_F_DMA_REGION_WRITE;

	UP("--once");
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, ftruncate(mfd, 0x10000));
	ASSERT_EQ(0, vfu_dma_map(C, 0x200000, 0x8000, 0x4000, rw, mfd));
	ASSERT_EQ(0, vfu_dma_map(C, 0x300000, 0x1000, 0,
				 VFIO_USER_F_DMA_REGION_READ, mfd));
	EXPECT_EQ(2, REG(TDEV_REG_DMA_MAP_COUNT));
	/* An fd the server cannot map: the error comes back. */
	ASSERT_LE(0, dfd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC));
	EXPECT_NE(0, vfu_dma_map(C, 0x400000, 0x1000, 0, rw, dfd));
	EXPECT_TRUE(C->last_error_from_server);
	close(dfd);
	ASSERT_EQ(0, vfu_dma_unmap(C, 0x200000, 0x8000, 0, NULL));
	ASSERT_EQ(0, vfu_dma_unmap(C, 0x300000, 0x1000, 0, NULL));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_MAP_COUNT));
	close(mfd);
}

TEST_F(srv, dma_errors)
{
	const uint32_t r = VFIO_USER_F_DMA_REGION_READ;
	struct vfio_user_dma_map map = {
		.argsz = sizeof(map), .address = 0x1000, .size = 0x1000,
	};
	int mfd = memfd_create("dma", MFD_CLOEXEC), fds[2];
	struct vfu_msg m;
	unsigned int i;

	UP("--once");
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, ftruncate(mfd, 0x1000));
	EXPECT_EQ(-EINVAL, vfu_dma_map(C, 0x1000, 0x1000, 0, 1u << 2, -1));
	EXPECT_EQ(-EINVAL, vfu_dma_map(C, 0x1001, 0x1000, 0, r, -1));
	EXPECT_EQ(-EINVAL, vfu_dma_map(C, 0x1000, 0x1001, 0, r, -1));
	EXPECT_EQ(-EINVAL, vfu_dma_map(C, 0x1000, 0, 0, r, -1));
	EXPECT_EQ(-EINVAL, vfu_dma_map(C, ~0xfffull, 0x2000, 0, r, -1));
	EXPECT_EQ(-EINVAL, vfu_dma_map(C, 0x1000, 0x1000, 0x10, r, mfd));
	EXPECT_EQ(-EINVAL, vfu_dma_unmap(C, 0, 0, 1u << 0, NULL));
	/* Two fds, short payload, small argsz */
	fds[0] = fds[1] = mfd;
	EXPECT_EQ(-EINVAL, vfu_cmd(C, VFIO_USER_DMA_MAP, &map, sizeof(map),
				   fds, 2, NULL, 0, NULL, NULL, NULL));
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_DMA_MAP, 0, &map, 24, &m));
	map.argsz = 8;
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_DMA_MAP, 0, &map, sizeof(map),
				   &m));
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_DMA_UNMAP, 0, &map, 16, &m));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_MAP_COUNT));
	/* The table holds TDEV_MAX_DMA_MAPS. */
	for (i = 0; i < TDEV_MAX_DMA_MAPS; i++)
		ASSERT_EQ(0, vfu_dma_map(C, (i + 1) * 0x10000ull, 0x1000, 0, r,
					 i % 2 ? mfd : -1));
	EXPECT_EQ(-ENOSPC, vfu_dma_map(C, 0x10000000, 0x1000, 0, r, -1));
	EXPECT_EQ(TDEV_MAX_DMA_MAPS, REG(TDEV_REG_DMA_MAP_COUNT));
	close(mfd);
}

TEST_HARNESS_MAIN
