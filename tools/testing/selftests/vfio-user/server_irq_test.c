// SPDX-License-Identifier: GPL-2.0
/*
 * The test server's interrupts, seen from a userspace vfio-user client
 * (lib/vfu_client): SET_IRQS (eventfds, NONE, BOOL, deassign, errors,
 * INTx mask/unmask) and the device raising every vector.
 *
 * Needs no kernel driver; the fixture and helpers are in server_test.h.
 */
#include "server_test.h"

/* ======================= interrupts ======================= */

static const uint32_t irq_counts[TDEV_NUM_IRQS] = {
	TDEV_INTX_COUNT, TDEV_MSI_COUNT, TDEV_MSIX_COUNT, TDEV_ERR_COUNT,
	TDEV_REQ_COUNT,
};

/* Register fresh eventfds for every vector of every index. */
static void assign_all(struct __test_metadata *_metadata, struct vfu_client *c,
		       int efds[TDEV_NUM_IRQS][TDEV_MSIX_COUNT])
{
	uint32_t i, v;

	for (i = 0; i < TDEV_NUM_IRQS; i++) {
		for (v = 0; v < irq_counts[i]; v++)
			ASSERT_LE(0, efds[i][v] = new_eventfd());
		ASSERT_EQ(0, vfu_set_irqs(c, EVENTFD_TRIGGER, i, 0,
					  irq_counts[i], NULL, 0, efds[i],
					  irq_counts[i]));
	}
}

static void close_all(int efds[TDEV_NUM_IRQS][TDEV_MSIX_COUNT])
{
	uint32_t i, v;

	for (i = 0; i < TDEV_NUM_IRQS; i++)
		for (v = 0; v < irq_counts[i]; v++)
			close(efds[i][v]);
}

TEST_F(srv, irq_raise_every_vector)
{
	int efds[TDEV_NUM_IRQS][TDEV_MSIX_COUNT];
	uint32_t i, v, n = 0, j, k;

	UP("--once");
	assign_all(_metadata, C, efds);
	for (i = 0; i < TDEV_NUM_IRQS; i++) {
		for (v = 0; v < irq_counts[i]; v++) {
			WREG(TDEV_REG_IRQ_RAISE, i << 8 | v);
			n++;
			/* exactly this one fired */
			for (j = 0; j < TDEV_NUM_IRQS; j++)
				for (k = 0; k < irq_counts[j]; k++)
					EXPECT_EQ(i == j && v == k,
						  efd_count(efds[j][k]));
		}
	}
	EXPECT_EQ(n, REG(TDEV_REG_IRQ_COUNT));
	/* Vectors beyond the count and unknown indices are ignored. */
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_MSIX(TDEV_MSIX_COUNT));
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_MSI(1));
	WREG(TDEV_REG_IRQ_RAISE, 0x500);
	EXPECT_EQ(n, REG(TDEV_REG_IRQ_COUNT));
	/* The macros mean what the register says. */
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_REQ);
	EXPECT_EQ(1, efd_count(efds[VFIO_PCI_REQ_IRQ_INDEX][0]));
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_ERR);
	EXPECT_EQ(1, efd_count(efds[VFIO_PCI_ERR_IRQ_INDEX][0]));
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_INTX);
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_INTX);
	EXPECT_EQ(2, efd_count(efds[VFIO_PCI_INTX_IRQ_INDEX][0]));
	close_all(efds);
}

TEST_F(srv, irq_raise_without_eventfd_counts)
{
	UP("--once");
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_MSIX(5));
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_INTX);
	EXPECT_EQ(2, REG(TDEV_REG_IRQ_COUNT));
}

TEST_F(srv, set_irqs_trigger_none_and_bool)
{
	int efds[TDEV_NUM_IRQS][TDEV_MSIX_COUNT];
	uint8_t bools[TDEV_MSIX_COUNT] = { 1, 0, 1, 0, 0, 0, 0, 0 };
	uint32_t v;

	UP("--once");
	assign_all(_metadata, C, efds);
	ASSERT_EQ(0, vfu_set_irqs(C, NONE_TRIGGER, VFIO_PCI_MSIX_IRQ_INDEX, 2,
				  3, NULL, 0, NULL, 0));
	for (v = 0; v < TDEV_MSIX_COUNT; v++)
		EXPECT_EQ(v >= 2 && v < 5,
			  efd_count(efds[VFIO_PCI_MSIX_IRQ_INDEX][v]));
	ASSERT_EQ(0, vfu_set_irqs(C, BOOL_TRIGGER, VFIO_PCI_MSIX_IRQ_INDEX, 4,
				  3, bools, 3, NULL, 0));
	for (v = 0; v < TDEV_MSIX_COUNT; v++)
		EXPECT_EQ(v == 4 || v == 6,
			  efd_count(efds[VFIO_PCI_MSIX_IRQ_INDEX][v]));
	ASSERT_EQ(0, vfu_set_irqs(C, NONE_TRIGGER, VFIO_PCI_INTX_IRQ_INDEX, 0,
				  1, NULL, 0, NULL, 0));
	EXPECT_EQ(1, efd_count(efds[VFIO_PCI_INTX_IRQ_INDEX][0]));
	/* Self-triggering is not a device raise. */
	EXPECT_EQ(0, REG(TDEV_REG_IRQ_COUNT));
	close_all(efds);
}

TEST_F(srv, set_irqs_deassign_and_disable)
{
	int efds[TDEV_NUM_IRQS][TDEV_MSIX_COUNT], e;
	uint32_t v;

	UP("--once");
	assign_all(_metadata, C, efds);
	/* DATA_EVENTFD without fds deassigns [1, 3). */
	ASSERT_EQ(0, vfu_set_irqs(C, EVENTFD_TRIGGER, VFIO_PCI_MSIX_IRQ_INDEX,
				  1, 2, NULL, 0, NULL, 0));
	for (v = 0; v < TDEV_MSIX_COUNT; v++)
		WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_MSIX(v));
	for (v = 0; v < TDEV_MSIX_COUNT; v++)
		EXPECT_EQ(v != 1 && v != 2,
			  efd_count(efds[VFIO_PCI_MSIX_IRQ_INDEX][v]));
	/* Re-assign one vector with a new eventfd: the new one fires. */
	ASSERT_LE(0, e = new_eventfd());
	ASSERT_EQ(0, vfu_set_irqs(C, EVENTFD_TRIGGER, VFIO_PCI_MSIX_IRQ_INDEX,
				  0, 1, NULL, 0, &e, 1));
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_MSIX(0));
	EXPECT_EQ(1, efd_count(e));
	EXPECT_EQ(0, efd_count(efds[VFIO_PCI_MSIX_IRQ_INDEX][0]));
	/* count 0 + DATA_NONE|TRIGGER disables the whole index. */
	ASSERT_EQ(0, vfu_set_irqs(C, NONE_TRIGGER, VFIO_PCI_MSIX_IRQ_INDEX, 0,
				  0, NULL, 0, NULL, 0));
	for (v = 0; v < TDEV_MSIX_COUNT; v++)
		WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_MSIX(v));
	EXPECT_EQ(0, efd_count(e));
	for (v = 0; v < TDEV_MSIX_COUNT; v++)
		EXPECT_EQ(0, efd_count(efds[VFIO_PCI_MSIX_IRQ_INDEX][v]));
	/* Other indices are untouched. */
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_MSI(0));
	EXPECT_EQ(1, efd_count(efds[VFIO_PCI_MSI_IRQ_INDEX][0]));
	close(e);
	close_all(efds);
}

TEST_F(srv, set_irqs_errors)
{
	int e[TDEV_MSIX_COUNT + 1], devnull, sock[2];
	uint8_t bools[4] = { 1 };
	struct vfio_user_irq_set s = {
		.argsz = sizeof(s) + 4, .flags = NONE_TRIGGER,
		.index = VFIO_PCI_MSIX_IRQ_INDEX, .count = 1,
	};
	struct vfu_msg m;
	unsigned int i;

	UP("--once");
	for (i = 0; i < TDEV_MSIX_COUNT + 1; i++)
		ASSERT_LE(0, e[i] = new_eventfd());
	/* bad index, out-of-range start/count, overflow */
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, NONE_TRIGGER, TDEV_NUM_IRQS, 0, 1,
					NULL, 0, NULL, 0));
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, NONE_TRIGGER, 0, 1, 1, NULL, 0,
					NULL, 0));
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, NONE_TRIGGER, 2, 7, 2, NULL, 0,
					NULL, 0));
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, NONE_TRIGGER, 2, 1, ~0u, NULL, 0,
					NULL, 0));
	/* fd count must equal count; no fds for other data types */
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, EVENTFD_TRIGGER, 2, 0, 3, NULL, 0,
					e, 2));
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, NONE_TRIGGER, 2, 0, 1, NULL, 0,
					e, 1));
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, EVENTFD_TRIGGER, 2, 0, 9, NULL, 0,
					e, 9));
	/* flags: none, two actions, two data types, unknown bits */
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, 0, 2, 0, 1, NULL, 0, NULL, 0));
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, NONE_TRIGGER |
					VFIO_IRQ_SET_ACTION_MASK, 0, 0, 1,
					NULL, 0, NULL, 0));
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, NONE_TRIGGER |
					VFIO_IRQ_SET_DATA_BOOL, 0, 0, 1,
					bools, 1, NULL, 0));
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, NONE_TRIGGER | 1u << 8, 0, 0, 1,
					NULL, 0, NULL, 0));
	/* count 0 is only for DATA_NONE|TRIGGER */
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, EVENTFD_TRIGGER, 2, 0, 0, NULL, 0,
					NULL, 0));
	/* MASK/UNMASK only for INTx */
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, VFIO_IRQ_SET_DATA_NONE |
					VFIO_IRQ_SET_ACTION_MASK, 2, 0, 1,
					NULL, 0, NULL, 0));
	/* DATA_BOOL needs exactly count bytes; argsz must match the payload */
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, BOOL_TRIGGER, 2, 0, 2, bools, 1,
					NULL, 0));
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_DEVICE_SET_IRQS, 0, &s,
				   sizeof(s), &m));
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_DEVICE_SET_IRQS, 0, &s, 12, &m));
	/* Only eventfds are eventfds. */
	ASSERT_LE(0, devnull = open("/dev/null", O_RDWR | O_CLOEXEC));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock));
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, EVENTFD_TRIGGER, 0, 0, 1, NULL, 0,
					&devnull, 1));
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, EVENTFD_TRIGGER, 0, 0, 1, NULL, 0,
					&sock[0], 1));
	/* None of that registered anything. */
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_INTX);
	for (i = 0; i < TDEV_MSIX_COUNT + 1; i++) {
		EXPECT_EQ(0, efd_count(e[i]));
		close(e[i]);
	}
	close(devnull);
	close(sock[0]);
	close(sock[1]);
}

TEST_F(srv, set_irqs_intx_mask_unmask)
{
	int e, m;
	uint8_t one = 1;

	UP("--once");
	ASSERT_LE(0, e = new_eventfd());
	ASSERT_LE(0, m = new_eventfd());
	ASSERT_EQ(0, vfu_set_irqs(C, EVENTFD_TRIGGER, 0, 0, 1, NULL, 0, &e, 1));
	EXPECT_EQ(0, vfu_set_irqs(C, VFIO_IRQ_SET_DATA_NONE |
				  VFIO_IRQ_SET_ACTION_MASK, 0, 0, 1, NULL, 0,
				  NULL, 0));
	EXPECT_EQ(0, vfu_set_irqs(C, VFIO_IRQ_SET_DATA_BOOL |
				  VFIO_IRQ_SET_ACTION_UNMASK, 0, 0, 1, &one, 1,
				  NULL, 0));
	/* an unmask eventfd (KVM resampler) is accepted */
	EXPECT_EQ(0, vfu_set_irqs(C, VFIO_IRQ_SET_DATA_EVENTFD |
				  VFIO_IRQ_SET_ACTION_UNMASK, 0, 0, 1, NULL, 0,
				  &m, 1));
	/* and masking has no effect on delivery */
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_INTX);
	EXPECT_EQ(1, efd_count(e));
	close(e);
	close(m);
}

TEST_HARNESS_MAIN
