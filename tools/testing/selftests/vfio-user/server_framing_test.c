// SPDX-License-Identifier: GPL-2.0
/*
 * The test server's framing and robustness, seen from a userspace
 * vfio-user client (lib/vfu_client): unknown commands, bad flags, fds
 * where none belong, oversize and byte-by-byte messages, pipelining.
 *
 * Needs no kernel driver; the fixture and helpers are in server_test.h.
 */
#include "server_test.h"

/* ======================= framing and robustness ======================= */

TEST_F(srv, unknown_commands_enosys)
{
	static const uint16_t cmds[] = {
		0, VFIO_USER_DEVICE_GET_REGION_IO_FDS, VFIO_USER_DMA_READ,
		VFIO_USER_DMA_WRITE, 14, VFIO_USER_REGION_WRITE_MULTI,
		VFIO_USER_DEVICE_FEATURE, VFIO_USER_MIG_DATA_READ,
		VFIO_USER_MIG_DATA_WRITE, VFIO_USER_MAX_COMMAND, 0xffff,
	};
	struct vfu_msg m;
	size_t i;

	UP("--once");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		EXPECT_EQ(-ENOSYS, raw_cmd(C, cmds[i], 0, "abcd", 4, &m));
		EXPECT_TRUE(C->last_error_from_server);
	}
	ALIVE();
}

TEST_F(srv, bad_header_flags)
{
	static const uint32_t bad[] = {
		0x2, 0xf, VFIO_USER_F_ERROR, 1u << 6, 1u << 31,
	};
	struct vfio_user_device_info info = { .argsz = sizeof(info) };
	struct vfu_msg m;
	size_t i;

	UP("--once");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_DEVICE_GET_INFO, bad[i],
					   &info, sizeof(info), &m))
			TH_LOG("flags %#x", bad[i]);
	ALIVE();
}

TEST_F(srv, posted_writes)
{
	uint32_t v = 42;
	uint16_t id;

	UP("--once");
	ASSERT_EQ(0, vfu_region_write_posted(C, BAR0, TDEV_REG_SCRATCH, &v, 4));
	/* An invalid posted write gets no reply either. */
	ASSERT_EQ(0, vfu_region_write_posted(C, BAR0, TDEV_BAR0_SIZE, &v, 4));
	ASSERT_EQ(0, vfu_send_cmd(C, 0x7777, VFIO_USER_F_NO_REPLY, NULL, 0,
				  NULL, 0, &id));
	/* The next reply proves all of them were processed, in order. */
	EXPECT_EQ(42, REG(TDEV_REG_SCRATCH));
	EXPECT_EQ(1, REG(TDEV_REG_WRITE_COUNT));
	EXPECT_TRUE(silent(C, 50));
}

TEST_F(srv, unexpected_and_too_many_fds)
{
	struct vfio_user_device_info info;
	int e[VFU_MAX_FDS], before;
	unsigned int i;

	UP("--once");
	for (i = 0; i < VFU_MAX_FDS; i++)
		ASSERT_LE(0, e[i] = new_eventfd());
	before = vu_count_fds();
	info.argsz = sizeof(info);
	EXPECT_EQ(-EINVAL, vfu_cmd(C, VFIO_USER_DEVICE_GET_INFO, &info,
				   sizeof(info), e, 1, NULL, 0, NULL, NULL,
				   NULL));
	/* 16 fds (as many as the server takes) for 8 MSI-X vectors */
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, EVENTFD_TRIGGER, 2, 0, 8, NULL, 0,
					e, VFU_MAX_FDS));
	EXPECT_EQ(0, vfu_device_get_info(C, &info));
	EXPECT_EQ(before, vu_count_fds());
	for (i = 0; i < VFU_MAX_FDS; i++)
		close(e[i]);
}

/* More fds than the server takes in one message: EINVAL, none leaked. */
TEST_F(srv, fds_beyond_server_limit)
{
	struct vfio_user_device_info info = { .argsz = sizeof(info) };
	struct vfio_user_header h = {
		.msg_id = 77, .command = VFIO_USER_DEVICE_GET_INFO,
		.msg_size = HDR + sizeof(info),
	};
	struct iovec iov[2] = { { &h, HDR }, { &info, sizeof(info) } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 24)];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {
		.msg_iov = iov, .msg_iovlen = 2,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	int e[24], i;
	struct vfu_msg m;

	UP("--once");
	for (i = 0; i < 24; i++)
		ASSERT_LE(0, e[i] = new_eventfd());
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(e));
	memcpy(CMSG_DATA(cm), e, sizeof(e));
	ASSERT_EQ(HDR + sizeof(info), sendmsg(C->fd, &mh, 0));
	EXPECT_EQ(-EINVAL, vfu_wait_reply(C, 77, VFIO_USER_DEVICE_GET_INFO, &m));
	for (i = 0; i < 24; i++)
		close(e[i]);
	ALIVE();
}

TEST_F(srv, oversize_message_closes_connection)
{
	struct vfio_user_header h = {
		.msg_id = 1, .command = VFIO_USER_REGION_WRITE,
		.msg_size = VFU_MAX_MSG + 1,
	};

	UP("--no-reset");
	ASSERT_EQ(0, vfu_send_raw(C, &h, sizeof(h), NULL, 0));
	EXPECT_TRUE(peer_closed(C, 5000));
	/* and the server takes the next client */
	ASSERT_EQ(0, srv_reconnect(self));
	ALIVE();
	/* a size below the header cannot be framed either */
	h.msg_size = 8;
	ASSERT_EQ(0, vfu_send_raw(C, &h, sizeof(h), NULL, 0));
	EXPECT_TRUE(peer_closed(C, 5000));
	ASSERT_EQ(0, srv_reconnect(self));
	ALIVE();
}

TEST_F(srv, max_size_message_accepted)
{
	static uint8_t msg[VFU_MAX_MSG];
	struct vfio_user_header *h = (void *)msg;
	struct vfio_user_region_access *a = (void *)(h + 1);
	struct vfu_msg m;

	UP("--once");
	*h = (struct vfio_user_header){
		.msg_id = 0x1234, .command = VFIO_USER_REGION_WRITE,
		.msg_size = sizeof(msg),
	};
	*a = (struct vfio_user_region_access){
		.region = BAR2, .count = TDEV_MAX_DATA_XFER,
	};
	ASSERT_EQ(0, vfu_send_raw(C, msg, sizeof(msg), NULL, 0));
	EXPECT_EQ(-EINVAL, vfu_wait_reply(C, 0x1234, VFIO_USER_REGION_WRITE,
					  &m));
	ALIVE();
}

TEST_F(srv, byte_by_byte)
{
	struct {
		struct vfio_user_header h;
		struct vfio_user_region_access a;
		uint8_t v[4];
	} w = {
		.h = { .msg_id = 9, .command = VFIO_USER_REGION_WRITE,
		       .msg_size = HDR + sizeof(w.a) + 4 },
		.a = { .offset = TDEV_REG_SCRATCH, .region = BAR0, .count = 4 },
		.v = { 0xef, 0xbe, 0xed, 0xfe },
	};
	struct vfu_msg m;
	size_t i;

	UP("--once");
	for (i = 0; i < w.h.msg_size; i++) {
		ASSERT_EQ(0, vfu_send_raw(C, (uint8_t *)&w + i, 1, NULL, 0));
		usleep(1000);
	}
	ASSERT_EQ(0, vfu_wait_reply(C, 9, VFIO_USER_REGION_WRITE, &m));
	EXPECT_EQ(sizeof(w.a), m.len);
	EXPECT_EQ(0xfeedbeef, REG(TDEV_REG_SCRATCH));
}

TEST_F(srv, pipelined_replies_in_order)
{
	struct vfio_user_region_access a = {
		.offset = TDEV_REG_MAGIC, .region = BAR0, .count = 4,
	};
	uint16_t ids[64];
	struct vfu_msg m;
	int i;

	UP("--once");
	for (i = 0; i < 64; i++)
		ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_REGION_READ, 0, &a,
					  sizeof(a), NULL, 0, &ids[i]));
	for (i = 0; i < 64; i++) {
		ASSERT_EQ(0, vfu_recv_msg(C, &m));
		EXPECT_EQ(ids[i], m.hdr.msg_id);
		EXPECT_EQ(VFIO_USER_F_TYPE_REPLY, m.hdr.flags);
	}
}

TEST_F(srv, client_replies_are_dropped)
{
	struct {
		struct vfio_user_header h;
		struct vfio_user_dma_access a;
		uint64_t data;
	} r = {
		.h = { .msg_id = 5, .command = VFIO_USER_DMA_READ,
		       .msg_size = sizeof(r), .flags = VFIO_USER_F_TYPE_REPLY },
		.a = { .address = 0, .count = 8 },
	};
	struct vfio_user_header e = {
		.msg_id = 6, .command = VFIO_USER_DMA_READ, .msg_size = sizeof(e),
		.flags = VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
		.error_reply = EFAULT,
	};

	UP("--once");
	ASSERT_EQ(0, vfu_send_raw(C, &r, sizeof(r), NULL, 0));
	ASSERT_EQ(0, vfu_send_raw(C, &e, sizeof(e), NULL, 0));
	EXPECT_TRUE(silent(C, 50));
	ALIVE();
}

TEST_F(srv, disconnect_mid_message)
{
	struct vfio_user_header h = {
		.msg_id = 1, .command = VFIO_USER_REGION_WRITE, .msg_size = 64,
	};

	UP("--no-reset");
	ASSERT_EQ(0, vfu_send_raw(C, &h, sizeof(h), NULL, 0));
	ASSERT_EQ(0, vfu_send_raw(C, "partial", 7, NULL, 0));
	vfu_disconnect(C);
	ASSERT_EQ(0, srv_reconnect(self));
	ALIVE();
}

TEST_HARNESS_MAIN
