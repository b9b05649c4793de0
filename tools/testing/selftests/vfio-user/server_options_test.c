// SPDX-License-Identifier: GPL-2.0
/*
 * The test server's options, seen from a userspace vfio-user client
 * (lib/vfu_client): --reorder, --delay-ms, --delay-reply, --once,
 * many connections, signals, stale sockets, bad command lines.
 *
 * Needs no kernel driver; the fixture and helpers are in server_test.h.
 */
#include "server_test.h"

/*
 * Pipeline @n reads of MAGIC in one write, so that they reach the server
 * together (whatever the scheduler does); their ids go to @ids.
 */
static int send_read_batch(struct vfu_client *c, int n, uint16_t *ids)
{
	struct {
		struct vfio_user_header h;
		struct vfio_user_region_access a;
	} req[16];
	int i;

	for (i = 0; i < n && i < 16; i++) {
		ids[i] = c->next_id++;
		req[i].h = (struct vfio_user_header){
			.msg_id = ids[i], .command = VFIO_USER_REGION_READ,
			.msg_size = sizeof(req[i]),
		};
		req[i].a = (struct vfio_user_region_access){
			.offset = TDEV_REG_MAGIC, .region = BAR0, .count = 4,
		};
	}
	return vfu_send_raw(c, req, i * sizeof(req[0]), NULL, 0);
}

/* ======================= options ======================= */

TEST_F(srv, reorder_reverses_a_full_batch)
{
	uint16_t ids[8];
	struct vfu_msg m;
	int i;

	UP("--reorder", "8");
	ASSERT_EQ(0, send_read_batch(C, 8, ids));
	for (i = 7; i >= 0; i--) {
		ASSERT_EQ(0, vfu_recv_msg(C, &m));
		EXPECT_EQ(ids[i], m.hdr.msg_id);
		EXPECT_EQ(TDEV_MAGIC_VALUE,
			  *(uint32_t *)((struct vfio_user_region_access *)
					m.payload)->data);
	}
	/* A lone command is released after the 2 ms wait. */
	ALIVE();
}

TEST_F(srv, reorder_partial_batch_after_2ms)
{
	uint16_t ids[3];
	struct vfu_msg m;
	long long t0;
	int i;

	UP("--reorder", "8");
	t0 = vu_now_ms();
	ASSERT_EQ(0, send_read_batch(C, 3, ids));
	for (i = 2; i >= 0; i--) {
		ASSERT_EQ(0, vfu_recv_msg(C, &m));
		EXPECT_EQ(ids[i], m.hdr.msg_id);
	}
	EXPECT_LT(vu_now_ms() - t0, 1000);
}

TEST_F(srv, delay_every_reply)
{
	long long t0;

	UP("--delay-ms", "150");
	t0 = vu_now_ms();
	ALIVE();
	EXPECT_GE(vu_now_ms() - t0, 150);
	/* pipelined commands are delayed in parallel, not in series */
	{
		struct vfio_user_region_access a = {
			.offset = TDEV_REG_MAGIC, .region = BAR0, .count = 4,
		};
		struct vfu_msg m;
		int i;

		t0 = vu_now_ms();
		for (i = 0; i < 5; i++)
			ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_REGION_READ, 0,
						  &a, sizeof(a), NULL, 0, NULL));
		for (i = 0; i < 5; i++)
			ASSERT_EQ(0, vfu_recv_msg(C, &m));
		EXPECT_GE(vu_now_ms() - t0, 150);
		EXPECT_LT(vu_now_ms() - t0, 700);
	}
}

TEST_F(srv, fresh_state_per_connection)
{
	int e;

	UP("--no-reset");
	ASSERT_LE(0, e = new_eventfd());
	ASSERT_EQ(0, vfu_set_irqs(C, EVENTFD_TRIGGER, 0, 0, 1, NULL, 0, &e, 1));
	ASSERT_EQ(0, vfu_dma_map(C, 0x1000, 0x1000, 0, 0, -1));
	WREG(TDEV_REG_SCRATCH, 1);
	WR(BAR2, 0, 0x12345678);
	WR(CONFIG, PCI_COMMAND, PCI_COMMAND_MASTER);

	ASSERT_EQ(0, srv_reconnect(self));
	EXPECT_EQ(0, REG(TDEV_REG_SCRATCH));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_MAP_COUNT));
	EXPECT_EQ(0, RD(BAR2, 0));
	EXPECT_EQ(0, CFG16(PCI_COMMAND));
	/* the old connection's eventfd is gone with it */
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_INTX);
	EXPECT_EQ(0, efd_count(e));
	close(e);
}

TEST_F_TIMEOUT(srv, hundreds_of_connections, 120)
{
	int i;

	UP("--no-reset");
	for (i = 0; i < 300; i++) {
		ASSERT_EQ(0, srv_reconnect(self));
		EXPECT_EQ(0, REG(TDEV_REG_SCRATCH));
		WREG(TDEV_REG_SCRATCH, i + 1);
	}
}

TEST_F(srv, once_exits_after_first_client)
{
	UP("--once");
	ALIVE();
	vfu_disconnect(C);
	EXPECT_EQ(0, vu_server_wait(&self->s, SERVER_WAIT_MS));
	EXPECT_FALSE(path_exists(self->s.path));
}

TEST_F(srv, sigterm_and_sigint_exit_cleanly)
{
	UP("--no-reset");
	EXPECT_EQ(0, server_stop(&self->s));
	EXPECT_FALSE(path_exists(self->s.path));
	/* while a client is connected, and with no client */
	START("--no-reset");
	kill(self->s.pid, SIGINT);
	EXPECT_EQ(0, vu_server_wait(&self->s, SERVER_WAIT_MS));
	EXPECT_FALSE(path_exists(self->s.path));
}

TEST_F(srv, stale_socket_replaced)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	snprintf(self->s.dir, sizeof(self->s.dir), "/tmp/vfu-server-test-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->s.dir));
	snprintf(self->s.path, sizeof(self->s.path), "%s/sock", self->s.dir);
	strcpy(sa.sun_path, self->s.path);
	ASSERT_LE(0, fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_EQ(0, bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	close(fd);			/* a dead server's leftover */
	ASSERT_TRUE(path_exists(self->s.path));
	UP("--once");
	ALIVE();
}

TEST_F(srv, bad_command_lines)
{
	const char *const *const bad[] = {
		ARGS("--hostile", "nonsense"),
		ARGS("--reorder", "x"),
		ARGS("--version", "1"),
		ARGS("--delay-ms", "-1"),
		ARGS("--delay-reply", "DMA_MAP"),
		ARGS("--delay-reply", "NO_SUCH_COMMAND:10"),
		ARGS("--delay-reply", "19:10"),
		ARGS("--delay-reply", "DMA_MAP:-1"),
		ARGS("--drip-ms", "x"),
		ARGS("--pre-reply-ms", "-5"),
		ARGS("extra-arg"),
	};
	size_t i;

	server_quiet = true;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_NE(0, server_start(&self->s, bad[i]));
		EXPECT_EQ(2, vu_server_wait(&self->s, SERVER_WAIT_MS));
	}
}

/* A client that never reads must not wedge the server. */
TEST_F(srv, sigterm_while_client_not_reading)
{
	struct vfio_user_region_access a = {
		.region = BAR2, .count = TDEV_BAR2_SIZE,
	};
	int i;

	UP("--no-reset");
	ASSERT_EQ(0, vfu_set_timeout(C, 200));
	/* 64 KiB replies pile up until the server stops reading us. */
	for (i = 0; i < 1000; i++)
		if (vfu_send_cmd(C, VFIO_USER_REGION_READ, 0, &a, sizeof(a),
				 NULL, 0, NULL))
			break;
	EXPECT_LT(i, 1000);		/* back-pressure reached us */
	EXPECT_EQ(0, server_stop(&self->s));
}

/* Only the named command's reply waits; the others overtake it. */
TEST_F(srv, delay_reply_one_command)
{
	struct vfio_user_region_access a = {
		.offset = TDEV_REG_MAGIC, .region = BAR0, .count = 4,
	};
	uint32_t v = 7;
	uint8_t w[sizeof(a) + 4];
	struct vfu_msg m;
	uint16_t wid, rid;
	long long t0;

	UP("--delay-reply", "REGION_WRITE:300", "--delay-reply", "8:0");
	memcpy(w, &a, sizeof(a));
	((struct vfio_user_region_access *)w)->offset = TDEV_REG_SCRATCH;
	memcpy(w + sizeof(a), &v, 4);
	t0 = vu_now_ms();
	ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_REGION_WRITE, 0, w, sizeof(w),
				  NULL, 0, &wid));
	ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_REGION_READ, 0, &a, sizeof(a),
				  NULL, 0, &rid));
	/* The read (command 8, delay 0 given by number) comes first... */
	ASSERT_EQ(0, vfu_recv_msg(C, &m));
	EXPECT_EQ(rid, m.hdr.msg_id);
	EXPECT_LT(vu_now_ms() - t0, 250);
	/* ...the write's after its 300 ms. */
	ASSERT_EQ(0, vfu_recv_msg(C, &m));
	EXPECT_EQ(wid, m.hdr.msg_id);
	EXPECT_GE(vu_now_ms() - t0, 300);
	/* The write happened when it arrived, not when it was answered. */
	EXPECT_EQ(7, REG(TDEV_REG_SCRATCH));
}

/* A per-command delay wins over --delay-ms, which stays for the rest. */
TEST_F(srv, delay_reply_overrides_delay_ms)
{
	long long t0;

	UP("--delay-ms", "200", "--delay-reply", "region_read:0");
	t0 = vu_now_ms();
	ALIVE();
	EXPECT_LT(vu_now_ms() - t0, 150);
	t0 = vu_now_ms();
	WREG(TDEV_REG_SCRATCH, 1);
	EXPECT_GE(vu_now_ms() - t0, 200);
}

/* TDEV_REG_BAD_FDS: what SET_IRQS and DMA_MAP got that they should not. */
TEST_F(srv, bad_fds_register)
{
	uint32_t flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	int efd = new_eventfd(), null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int mfd = memfd_create("bad-fds", MFD_CLOEXEC);

	ASSERT_LE(0, efd);
	ASSERT_LE(0, null);
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, ftruncate(mfd, 4096));
	UP("--once");
	EXPECT_EQ(0, REG(TDEV_REG_BAD_FDS));
	/* an eventfd is what SET_IRQS wants */
	EXPECT_EQ(0, vfu_set_irqs(C, flags, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1,
				  NULL, 0, &efd, 1));
	EXPECT_EQ(0, REG(TDEV_REG_BAD_FDS));
	/* /dev/null is refused and counted */
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, flags, VFIO_PCI_MSIX_IRQ_INDEX, 0,
					1, NULL, 0, &null, 1));
	EXPECT_EQ(1, REG(TDEV_REG_BAD_FDS));
	/* an eventfd next to it does not hide it */
	{
		int two[2] = { efd, null };

		EXPECT_EQ(-EINVAL, vfu_set_irqs(C, flags,
						VFIO_PCI_MSIX_IRQ_INDEX, 0, 2,
						NULL, 0, two, 2));
	}
	EXPECT_EQ(2, REG(TDEV_REG_BAD_FDS));
	/* a memfd works for DMA_MAP, but it is not the driver's window */
	EXPECT_EQ(0, vfu_dma_map(C, 0, 4096, 0, VFIO_USER_F_DMA_REGION_READ,
				 mfd));
	EXPECT_EQ(3, REG(TDEV_REG_BAD_FDS));
	EXPECT_EQ(0, vfu_dma_map(C, 0x10000, 4096, 0,
				 VFIO_USER_F_DMA_REGION_READ, -1));
	EXPECT_EQ(3, REG(TDEV_REG_BAD_FDS));
	/* a reset keeps the count */
	EXPECT_EQ(0, vfu_reset(C));
	EXPECT_EQ(3, REG(TDEV_REG_BAD_FDS));
	close(efd);
	close(null);
	close(mfd);
}

TEST_HARNESS_MAIN
