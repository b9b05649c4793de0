// SPDX-License-Identifier: GPL-2.0
/*
 * The test server's device (test_device.h) for the vfio-user selftests:
 * programming its DMA engine and waiting for a transfer, and the byte
 * pattern the tests move with it.
 */
#include "lib/vu_util.h"

int vu_dma_go(int device, uint64_t src, uint64_t dst, uint32_t len, bool to_guest)
{
	const uint32_t regs[][2] = {
		{ TDEV_REG_DMA_SRC_LO, (uint32_t)src },
		{ TDEV_REG_DMA_SRC_HI, (uint32_t)(src >> 32) },
		{ TDEV_REG_DMA_DST_LO, (uint32_t)dst },
		{ TDEV_REG_DMA_DST_HI, (uint32_t)(dst >> 32) },
		{ TDEV_REG_DMA_LEN, len },
		{ TDEV_REG_DMA_CTRL, TDEV_DMA_CTRL_GO |
				     (to_guest ? TDEV_DMA_CTRL_DIR_TO_GUEST : 0) },
	};
	unsigned int i;
	int err;

	for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		err = vu_reg_write(device, regs[i][0], regs[i][1]);
		if (err)
			return err;
	}
	return 0;
}

int vu_engine_run(int device, uint64_t src, uint64_t dst, uint32_t len, bool to_guest)
{
	long long end = vu_now_ms() + vu_ms(5000);
	uint32_t status;

	if (vu_dma_go(device, src, dst, len, to_guest))
		return -1;
	do {
		status = vu_reg_read(device, TDEV_REG_DMA_STATUS);
		if (status == TDEV_DMA_STATUS_DONE)
			return 0;
		if (status == TDEV_DMA_STATUS_ERROR)
			return vu_reg_read(device, TDEV_REG_DMA_ERROR);
		if (status != TDEV_DMA_STATUS_BUSY)
			return -1;
		usleep(1000);
	} while (vu_now_ms() < end);
	return ETIMEDOUT;
}

void vu_fill(void *buf, size_t len, uint32_t seed)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 131 + (i >> 8));
}
