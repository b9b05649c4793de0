// SPDX-License-Identifier: GPL-2.0
/*
 * Every --hostile mode of the test server, seen from a userspace
 * vfio-user client (lib/vfu_client): bad fds, drip, pre-reply, garbage,
 * wrong ids and commands, floods, exits, unsolicited requests.
 *
 * Needs no kernel driver; the fixture and helpers are in server_test.h.
 */
#include "server_test.h"

/* ======================= hostile modes ======================= */

/*
 * Everything the server sends until it closes, goes quiet for @quiet_ms
 * or @cap bytes came: bytes into @buf, fds (closed) counted in *@nfds and
 * their kinds in @kinds ('m' memfd, 'c' character device, '?' other).
 * *@eof says whether it ended with EOF.  Reads straight from the socket:
 * vfu_client's buffer must be empty.
 */
static size_t raw_drain(struct vfu_client *c, uint8_t *buf, size_t cap,
			int quiet_ms, unsigned int *nfds, char *kinds,
			bool *eof)
{
	size_t len = 0;

	*nfds = 0;
	*eof = false;
	kinds[0] = '\0';
	while (len < cap) {
		union {
			char b[CMSG_SPACE(sizeof(int) * 16)];
			struct cmsghdr align;
		} u;
		struct iovec iov = { buf + len, cap - len };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = u.b, .msg_controllen = sizeof(u.b),
		};
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		struct cmsghdr *cm;
		ssize_t n;

		if (poll(&p, 1, quiet_ms) != 1)
			break;
		n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n <= 0) {
			*eof = true;
			break;
		}
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			unsigned int i, k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (i = 0; i < k; i++) {
				struct stat st;
				int fd;
				char kind = '?';

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
				if (!fstat(fd, &st) && S_ISCHR(st.st_mode))
					kind = 'c';
				else if (!fstat(fd, &st) && st.st_size == TDEV_BAR2_SIZE)
					kind = 'm';
				kinds[*nfds] = kind;
				kinds[++*nfds] = '\0';
				close(fd);
			}
		}
		len += n;
	}
	return len;
}

/* Ask for BAR2's info with room for its caps: the reply with the memfd. */
static int send_bar2_info(struct vfu_client *c, uint16_t *id)
{
	struct vfio_user_region_info req = {
		.argsz = TDEV_BAR2_INFO_ARGSZ, .index = BAR2,
	};

	return vfu_send_cmd(c, VFIO_USER_DEVICE_GET_REGION_INFO, 0, &req,
			    sizeof(req), NULL, 0, id);
}

TEST_F(srv, hostile_error_fd)
{
	struct vfio_user_header *h;
	uint8_t buf[256];
	unsigned int nfds;
	char kinds[20];
	uint16_t id;
	bool eof;

	/* On the reply that carries the memfd: the memfd. */
	UP("--hostile", "error-fd", "--hostile-after", "1");
	ASSERT_EQ(0, send_bar2_info(C, &id));
	ASSERT_EQ(HDR, raw_drain(C, buf, sizeof(buf), 200, &nfds, kinds, &eof));
	h = (void *)buf;
	EXPECT_EQ(id, h->msg_id);
	EXPECT_EQ(VFIO_USER_DEVICE_GET_REGION_INFO, h->command);
	EXPECT_EQ(HDR, h->msg_size);
	EXPECT_EQ(VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, h->flags);
	EXPECT_EQ(EINVAL, h->error_reply);
	EXPECT_STREQ("m", kinds);
	EXPECT_FALSE(eof);
	ALIVE();

	/* On a reply without fd (VERSION here): /dev/null. */
	ASSERT_EQ(0, server_stop(&self->s));
	START("--hostile", "error-fd");
	ASSERT_EQ(0, srv_connect(self));
	{
		struct vfio_user_version v = { .major = VFIO_USER_MAJOR_VER };

		ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_VERSION, 0, &v, sizeof(v),
					  NULL, 0, &id));
	}
	ASSERT_EQ(HDR, raw_drain(C, buf, sizeof(buf), 200, &nfds, kinds, &eof));
	EXPECT_EQ(VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, h->flags);
	EXPECT_STREQ("c", kinds);
}

TEST_F(srv, hostile_two_fds)
{
	struct vfu_msg m;
	uint16_t id;
	struct stat st;
	uint32_t v;

	/* The memfd and /dev/null on the reply that should carry the memfd. */
	UP("--hostile", "two-fds", "--hostile-after", "1");
	ASSERT_EQ(0, send_bar2_info(C, &id));
	ASSERT_EQ(0, vfu_wait_reply(C, id, VFIO_USER_DEVICE_GET_REGION_INFO, &m));
	EXPECT_EQ(TDEV_BAR2_INFO_ARGSZ, m.len);		/* the correct reply */
	ASSERT_EQ(2, m.nfds);
	ASSERT_EQ(0, fstat(m.fds[0], &st));
	EXPECT_EQ(TDEV_BAR2_SIZE, st.st_size);
	ASSERT_EQ(0, fstat(m.fds[1], &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	vfu_msg_close_fds(&m);

	/* /dev/null twice on one that should carry none. */
	ASSERT_EQ(0, srv_reconnect(self));
	EXPECT_EQ(-EPROTO, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
	ASSERT_EQ(0, srv_reconnect(self));
	{
		struct vfio_user_region_access a = {
			.offset = TDEV_REG_MAGIC, .region = BAR0, .count = 4,
		};

		ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_REGION_READ, 0, &a,
					  sizeof(a), NULL, 0, &id));
	}
	ASSERT_EQ(0, vfu_wait_reply(C, id, VFIO_USER_REGION_READ, &m));
	ASSERT_EQ(2, m.nfds);
	ASSERT_EQ(0, fstat(m.fds[0], &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	ASSERT_EQ(0, fstat(m.fds[1], &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	vfu_msg_close_fds(&m);
	ALIVE();
}

TEST_F(srv, hostile_fd_oversize)
{
	size_t cap = HDR + TDEV_HOSTILE_FD_OVERSIZE_PAYLOAD + 4096, len, i;
	uint8_t *buf = malloc(cap);
	struct vfio_user_header *h = (void *)buf;
	unsigned int nfds;
	char kinds[20];
	uint16_t id;
	bool eof;

	ASSERT_NE(NULL, buf);
	UP("--hostile", "fd-oversize", "--hostile-after", "1");
	ASSERT_EQ(0, send_bar2_info(C, &id));
	len = raw_drain(C, buf, cap, 300, &nfds, kinds, &eof);
	/* One header with the memfd, announcing 128 KiB, and those bytes. */
	ASSERT_EQ(HDR + TDEV_HOSTILE_FD_OVERSIZE_PAYLOAD, len);
	EXPECT_EQ(id, h->msg_id);
	EXPECT_EQ(VFIO_USER_F_TYPE_REPLY, h->flags);
	EXPECT_EQ(HDR + TDEV_HOSTILE_FD_OVERSIZE_PAYLOAD, h->msg_size);
	EXPECT_STREQ("m", kinds);
	for (i = HDR; i < len && buf[i] == 0xa5; i++)
		;
	EXPECT_EQ(len, i);
	EXPECT_FALSE(eof);
	free(buf);
}

TEST_F(srv, hostile_fd_eof)
{
	struct vfio_user_header *h;
	uint8_t buf[256];
	unsigned int nfds;
	char kinds[20];
	uint16_t id;
	bool eof;

	UP("--hostile", "fd-eof", "--hostile-after", "1");
	ASSERT_EQ(0, send_bar2_info(C, &id));
	/* The header (whole reply announced), the memfd, half, then EOF. */
	ASSERT_EQ(HDR + (TDEV_BAR2_INFO_ARGSZ) / 2,
		  raw_drain(C, buf, sizeof(buf), 2000, &nfds, kinds, &eof));
	h = (void *)buf;
	EXPECT_EQ(id, h->msg_id);
	EXPECT_EQ(HDR + TDEV_BAR2_INFO_ARGSZ, h->msg_size);
	EXPECT_STREQ("m", kinds);
	EXPECT_TRUE(eof);

	/* Without an fd of its own: /dev/null. */
	ASSERT_EQ(0, srv_reconnect(self));
	{
		uint32_t v;

		EXPECT_EQ(-ECONNRESET, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
	}
	ASSERT_EQ(0, srv_reconnect(self));
	{
		struct vfio_user_region_access a = {
			.offset = TDEV_REG_MAGIC, .region = BAR0, .count = 4,
		};

		ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_REGION_READ, 0, &a,
					  sizeof(a), NULL, 0, &id));
	}
	ASSERT_EQ(HDR + (sizeof(struct vfio_user_region_access) + 4) / 2,
		  raw_drain(C, buf, sizeof(buf), 2000, &nfds, kinds, &eof));
	EXPECT_STREQ("c", kinds);
	EXPECT_TRUE(eof);
}

TEST_F(srv, hostile_drip)
{
	struct vfio_user_region_access a = {
		.offset = TDEV_REG_MAGIC, .region = BAR0, .count = 4,
	};
	size_t want = HDR + sizeof(a) + 4, got = 0;
	uint8_t buf[64];
	long long t0;
	unsigned int reads = 0;
	uint16_t id;

	UP("--hostile", "drip", "--hostile-after", "1", "--drip-ms", "20");
	t0 = vu_now_ms();
	ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_REGION_READ, 0, &a, sizeof(a),
				  NULL, 0, &id));
	/* One byte at a time, 20 ms apart: never two in one read. */
	while (got < want) {
		struct pollfd p = { .fd = C->fd, .events = POLLIN };
		ssize_t n;

		ASSERT_EQ(1, poll(&p, 1, 1000));
		n = recv(C->fd, buf + got, sizeof(buf) - got, 0);
		ASSERT_EQ(1, n);
		got += n;
		reads++;
		usleep(5000);
	}
	EXPECT_EQ(want, reads);
	EXPECT_GE(vu_now_ms() - t0, (want - 1) * 20);
	EXPECT_EQ(id, ((struct vfio_user_header *)buf)->msg_id);
	EXPECT_EQ(TDEV_MAGIC_VALUE, *(uint32_t *)(buf + HDR + sizeof(a)));
	/* then all is in step, and the next reply is whole */
	ALIVE();
}

TEST_F(srv, hostile_pre_reply)
{
	struct vfio_user_region_access a = {
		.offset = TDEV_REG_MAGIC, .region = BAR0, .count = 4,
	};
	const struct vfio_user_dma_access *dma;
	struct vfio_user_header *h;
	uint8_t buf[256], junk[4096] = { 0 };
	unsigned int nfds, sent = 0;
	struct vfu_msg m;
	char kinds[20];
	long long t0;
	uint16_t id;
	bool eof;

	UP("--hostile", "pre-reply", "--hostile-after", "1",
	   "--pre-reply-ms", "200");
	ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_REGION_READ, 0, &a, sizeof(a),
				  NULL, 0, &id));
	t0 = vu_now_ms();
	/* The trigger's reply, correct... */
	ASSERT_EQ(0, vfu_recv_msg(C, &m));
	EXPECT_EQ(id, m.hdr.msg_id);
	EXPECT_EQ(VFIO_USER_F_TYPE_REPLY, m.hdr.flags);
	/* ...then a DMA_READ of our whole max_data_xfer_size at IOVA 0... */
	ASSERT_EQ(0, vfu_recv_msg(C, &m));
	EXPECT_EQ(VFIO_USER_DMA_READ, m.hdr.command);
	EXPECT_EQ(VFIO_USER_F_TYPE_COMMAND, m.hdr.flags);
	dma = m.payload;
	ASSERT_EQ(sizeof(*dma), m.len);
	EXPECT_EQ(0, dma->address);
	EXPECT_EQ(VFIO_USER_DEFAULT_MAX_DATA_XFER, dma->count);
	/* ...then, later, half a reply to the id we would use next. */
	ASSERT_EQ(HDR + (sizeof(a) + 4) / 2,
		  raw_drain(C, buf, sizeof(buf), 500, &nfds, kinds, &eof));
	EXPECT_GE(vu_now_ms() - t0, 200);
	h = (void *)buf;
	EXPECT_EQ((uint16_t)(id + 1), h->msg_id);
	EXPECT_EQ(VFIO_USER_REGION_READ, h->command);
	EXPECT_EQ(VFIO_USER_F_TYPE_REPLY, h->flags);
	EXPECT_EQ(HDR + sizeof(a) + 4, h->msg_size);
	EXPECT_EQ(0, nfds);
	EXPECT_FALSE(eof);
	/* And the server reads no more: our sends end up blocked. */
	while (sent < (64u << 20) &&
	       send(C->fd, junk, sizeof(junk), MSG_DONTWAIT) == sizeof(junk))
		sent += sizeof(junk);
	EXPECT_LT(sent, 64u << 20);
	EXPECT_EQ(EAGAIN, errno);
}

TEST_F(srv, hostile_stream_noreply)
{
	struct vfio_user_region_access a = {
		.offset = TDEV_REG_MAGIC, .region = BAR0, .count = 4,
	};
	struct vfu_msg m;
	unsigned int i;
	uint16_t id;

	UP("--hostile", "stream-noreply", "--hostile-after", "1");
	ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_REGION_READ, 0, &a, sizeof(a),
				  NULL, 0, &id));
	/* A window of DMA_READs of 8 bytes at IOVA 0, and no reply. */
	for (i = 0; i < TDEV_HOSTILE_STREAM_WINDOW; i++) {
		const struct vfio_user_dma_access *d;

		ASSERT_EQ(0, vfu_recv_msg(C, &m));
		EXPECT_EQ(VFIO_USER_DMA_READ, m.hdr.command);
		EXPECT_EQ(VFIO_USER_F_TYPE_COMMAND, m.hdr.flags);
		d = m.payload;
		ASSERT_EQ(sizeof(*d), m.len);
		EXPECT_EQ(0, d->address);
		EXPECT_EQ(8, d->count);
	}
	EXPECT_TRUE(silent(C, 100));
	/* Every answer (an error will do) brings exactly one more, forever. */
	for (i = 0; i < 1000; i++) {
		ASSERT_EQ(0, vfu_serve_request(C, &m));
		ASSERT_EQ(0, vfu_recv_msg(C, &m));
		ASSERT_EQ(VFIO_USER_DMA_READ, m.hdr.command);
	}
	EXPECT_EQ(1000, C->server_requests);
	EXPECT_EQ(1000, C->dma_refused);
	EXPECT_TRUE(silent(C, 100));
}


TEST_F(srv, hostile_garbage)
{
	struct vfu_msg m;
	uint32_t v;

	UP("--hostile", "garbage", "--hostile-after", "1");
	EXPECT_EQ(-EPROTO, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
	/* the garbage was exactly one 16-byte header; then the real reply */
	ASSERT_EQ(0, vfu_recv_msg(C, &m));
	EXPECT_EQ(VFIO_USER_REGION_READ, m.hdr.command);
	EXPECT_EQ(TDEV_MAGIC_VALUE,
		  *(uint32_t *)((struct vfio_user_region_access *)m.payload)->data);
	ALIVE();
}

TEST_F(srv, hostile_garbage_on_version)
{
	START("--hostile", "garbage");
	ASSERT_EQ(0, srv_connect(self));
	EXPECT_EQ(-EPROTO, vfu_negotiate(C));
}

TEST_F(srv, hostile_short_close)
{
	uint32_t v;

	UP("--hostile", "short-close", "--hostile-after", "2");
	ALIVE();
	EXPECT_EQ(-ECONNRESET, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
	/* the server lives on; the next client gets the same treatment */
	ASSERT_EQ(0, srv_reconnect(self));
	ALIVE();
	EXPECT_EQ(-ECONNRESET, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
}

TEST_F(srv, hostile_huge_size)
{
	uint32_t v;

	UP("--hostile", "huge-size", "--hostile-after", "2");
	ALIVE();
	EXPECT_EQ(-EMSGSIZE, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
	/* the connection stays open, the server says nothing more */
	ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_DEVICE_RESET, 0, NULL, 0, NULL,
				  0, NULL));
	EXPECT_FALSE(peer_closed(C, 100));
	ASSERT_EQ(0, srv_reconnect(self));
	ALIVE();
}

TEST_F(srv, hostile_unknown_id)
{
	uint32_t v;

	UP("--hostile", "unknown-id", "--hostile-after", "1");
	EXPECT_EQ(-EPROTO, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
	/* only that reply was mangled: the next command is in step */
	ALIVE();
}

TEST_F(srv, hostile_unknown_id_value)
{
	struct vfio_user_region_access a = {
		.offset = TDEV_REG_MAGIC, .region = BAR0, .count = 4,
	};
	struct vfu_msg m;
	uint16_t id;

	UP("--hostile", "unknown-id", "--hostile-after", "1");
	ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_REGION_READ, 0, &a, sizeof(a),
				  NULL, 0, &id));
	ASSERT_EQ(0, vfu_recv_msg(C, &m));
	EXPECT_NE(id, m.hdr.msg_id);
	EXPECT_NE(0, m.hdr.msg_id);		/* VERSION's id */
	EXPECT_EQ(VFIO_USER_REGION_READ, m.hdr.command);
	EXPECT_EQ(VFIO_USER_F_TYPE_REPLY, m.hdr.flags);
	EXPECT_TRUE(silent(C, 50));		/* no reply with the right id */
}

TEST_F(srv, hostile_duplicate)
{
	struct vfu_msg m;
	uint32_t v;

	UP("--hostile", "duplicate", "--hostile-after", "1");
	EXPECT_EQ(0, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
	EXPECT_EQ(TDEV_MAGIC_VALUE, v);
	/* the copy is in the way of the next reply */
	EXPECT_EQ(-EPROTO, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
	/* the real reply to that second read follows; then all is in step */
	ASSERT_EQ(0, vfu_recv_msg(C, &m));
	EXPECT_EQ(VFIO_USER_REGION_READ, m.hdr.command);
	ALIVE();
}

TEST_F(srv, hostile_wrong_cmd)
{
	struct vfio_user_region_access a = {
		.offset = TDEV_REG_MAGIC, .region = BAR0, .count = 4,
	};
	struct vfu_msg m;
	uint16_t id;

	UP("--hostile", "wrong-cmd", "--hostile-after", "1");
	ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_REGION_READ, 0, &a, sizeof(a),
				  NULL, 0, &id));
	EXPECT_EQ(-EPROTO, vfu_wait_reply(C, id, VFIO_USER_REGION_READ, &m));
	EXPECT_EQ(id, m.hdr.msg_id);
	EXPECT_NE(VFIO_USER_REGION_READ, m.hdr.command);
	ALIVE();
}

TEST_F(srv, hostile_no_reply)
{
	uint32_t v;

	UP("--hostile", "no-reply", "--hostile-after", "1");
	ASSERT_EQ(0, vfu_set_timeout(C, 300));
	EXPECT_EQ(-ETIMEDOUT, vfu_read32(C, BAR0, TDEV_REG_SCRATCH, &v));
	/* only the trigger is swallowed; the connection stays usable */
	EXPECT_FALSE(peer_closed(C, 50));
	ALIVE();
}

TEST_F(srv, hostile_fds)
{
	struct vfu_msg m;
	struct stat st;
	int before;
	uint32_t v;
	uint16_t id;
	struct vfio_user_region_access a = {
		.offset = TDEV_REG_MAGIC, .region = BAR0, .count = 4,
	};

	UP("--hostile", "fds", "--hostile-after", "1");
	before = vu_count_fds();
	/* vfu_read32 does not expect fds: protocol error, fd closed */
	EXPECT_EQ(-EPROTO, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
	EXPECT_EQ(before, vu_count_fds());
	ALIVE();

	/* see the fd itself on a fresh connection */
	ASSERT_EQ(0, srv_reconnect(self));
	ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_REGION_READ, 0, &a, sizeof(a),
				  NULL, 0, &id));
	ASSERT_EQ(0, vfu_wait_reply(C, id, VFIO_USER_REGION_READ, &m));
	ASSERT_EQ(1, m.nfds);
	ASSERT_EQ(0, fstat(m.fds[0], &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	vfu_msg_close_fds(&m);
}

/* A reply that carries an fd of its own gets /dev/null next to it. */
TEST_F(srv, hostile_fds_with_region_fd)
{
	uint8_t buf[TDEV_BAR2_INFO_ARGSZ];
	struct vfio_user_region_info req = {
		.argsz = sizeof(buf), .index = BAR2,
	};
	int fds[VFU_MAX_FDS];
	unsigned int nfds;
	struct stat st;
	size_t len;

	UP("--hostile", "fds", "--hostile-after", "1");
	ASSERT_EQ(0, vfu_cmd(C, VFIO_USER_DEVICE_GET_REGION_INFO, &req,
			     sizeof(req), NULL, 0, buf, sizeof(buf), &len, fds,
			     &nfds));
	ASSERT_EQ(2, nfds);
	ASSERT_EQ(0, fstat(fds[0], &st));
	EXPECT_EQ(TDEV_BAR2_SIZE, st.st_size);		/* the memfd */
	ASSERT_EQ(0, fstat(fds[1], &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));		/* /dev/null */
	close(fds[0]);
	close(fds[1]);
}

TEST_F(srv, hostile_mid_frame_close)
{
	uint32_t v;

	UP("--hostile", "mid-frame-close", "--hostile-after", "1");
	EXPECT_EQ(-ECONNRESET, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
	/* the server lives on */
	ASSERT_EQ(0, srv_reconnect(self));
	EXPECT_EQ(-ECONNRESET, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
}

TEST_F(srv, hostile_mid_frame_close_empty_reply)
{
	struct vfu_msg m;
	uint16_t id;

	UP("--hostile", "mid-frame-close", "--hostile-after", "1");
	ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_DEVICE_RESET, 0, NULL, 0, NULL,
				  0, &id));
	EXPECT_EQ(-ECONNRESET, vfu_wait_reply(C, id, VFIO_USER_DEVICE_RESET,
					      &m));
	/* a reply without payload gets one invented: 64 announced, 32 sent */
	{
		struct vfio_user_header *h = (void *)(C->rx + C->rx_start);

		EXPECT_EQ(HDR + 32, C->rx_end - C->rx_start);
		EXPECT_EQ(HDR + 64, h->msg_size);
		EXPECT_EQ(id, h->msg_id);
	}
}

TEST_F(srv, hostile_flood)
{
	uint32_t v = 0;
	int i;

	UP("--hostile", "flood", "--hostile-after", "1", "--flood-count",
	   "200000");
	C->answer_requests = true;
	for (i = 0; i < 200; i++) {
		ASSERT_EQ(0, vfu_write32(C, BAR0, TDEV_REG_SCRATCH, i));
		ASSERT_EQ(0, vfu_read32(C, BAR0, TDEV_REG_SCRATCH, &v));
		ASSERT_EQ(i, v);
	}
	EXPECT_GT(C->server_requests, 0);
	/* and skipping without answering works as well */
	C->answer_requests = false;
	for (i = 0; i < 200; i++)
		ASSERT_EQ(0, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
}

TEST_F(srv, hostile_flood_requests_are_valid_and_counted)
{
	struct vfu_msg m;
	uint16_t expect_id = 0;
	int i;

	UP("--hostile", "flood", "--hostile-after", "1", "--flood-count", "10");
	ALIVE();	/* the trigger, answered normally */
	for (i = 0; i < 10; i++) {
		const struct vfio_user_dma_access *a;

		ASSERT_EQ(0, vfu_recv_msg(C, &m));
		a = m.payload;
		EXPECT_EQ(VFIO_USER_DMA_READ, m.hdr.command);
		EXPECT_EQ(VFIO_USER_F_TYPE_COMMAND, m.hdr.flags);
		EXPECT_EQ(expect_id++, m.hdr.msg_id);
		ASSERT_EQ(sizeof(*a), m.len);
		EXPECT_EQ(0, a->address);
		EXPECT_EQ(8, a->count);
	}
	EXPECT_TRUE(silent(C, 100));	/* exactly --flood-count */
	ALIVE();
}

TEST_F_TIMEOUT(srv, hostile_flood_client_stops_reading, 60)
{
	uint32_t v = 1;
	int i;

	UP("--hostile", "flood", "--hostile-after", "1", "--flood-count",
	   "300000");
	ALIVE();
	/* Stop reading until the server's sends block... */
	usleep(300 * 1000);
	/* ...it must still read us: posted writes never block forever. */
	for (i = 0; i < 20000; i++)
		ASSERT_EQ(0, vfu_region_write_posted(C, BAR0, TDEV_REG_SCRATCH,
						     &v, 4));
	/* Catch up through the flood to our reply. */
	ASSERT_EQ(0, vfu_read32(C, BAR0, TDEV_REG_WRITE_COUNT, &v));
	EXPECT_EQ(20000, v);
	EXPECT_GT(C->server_requests, 256);	/* more than one flood batch */
	/* SIGTERM while the flood is still going */
	EXPECT_EQ(0, server_stop(&self->s));
}

TEST_F(srv, hostile_exit)
{
	uint32_t v;

	UP("--hostile", "exit", "--hostile-after", "1");
	EXPECT_EQ(-ECONNRESET, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
	EXPECT_EQ(0, vu_server_wait(&self->s, SERVER_WAIT_MS));
	EXPECT_NE(0, srv_connect(self));
}

TEST_F(srv, hostile_unsolicited)
{
	struct vfio_user_region_access a = {
		.offset = TDEV_REG_MAGIC, .region = BAR0, .count = 4,
	};
	struct vfu_msg m;
	uint16_t id;
	uint32_t v;

	UP("--hostile", "unsolicited", "--hostile-after", "1");
	ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_REGION_READ, 0, &a, sizeof(a),
				  NULL, 0, &id));
	ASSERT_EQ(0, vfu_recv_msg(C, &m));
	EXPECT_NE(id, m.hdr.msg_id);
	EXPECT_EQ(VFIO_USER_F_TYPE_REPLY, m.hdr.flags);
	EXPECT_EQ(0, m.len);
	/* then the real reply */
	ASSERT_EQ(0, vfu_wait_reply(C, id, VFIO_USER_REGION_READ, &m));
	/* vfu's own view: a reply nobody asked for is a protocol error */
	ASSERT_EQ(0, srv_reconnect(self));
	EXPECT_EQ(-EPROTO, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
}

TEST_F(srv, hostile_after_counts_only_replied_commands)
{
	uint32_t v = 5;

	/* VERSION + 2 reads are normal, the 4th replied command is not. */
	UP("--hostile", "no-reply", "--hostile-after", "3");
	ASSERT_EQ(0, vfu_set_timeout(C, 300));
	ASSERT_EQ(0, vfu_region_write_posted(C, BAR0, TDEV_REG_SCRATCH, &v, 4));
	ASSERT_EQ(0, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
	ASSERT_EQ(0, vfu_region_write_posted(C, BAR0, TDEV_REG_SCRATCH, &v, 4));
	ASSERT_EQ(0, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
	EXPECT_EQ(-ETIMEDOUT, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
	ALIVE();
}

TEST_F(srv, hostile_once_per_connection_only_first)
{
	uint32_t v;

	UP("--hostile", "no-reply", "--hostile-after", "1");
	ASSERT_EQ(0, vfu_set_timeout(C, 300));
	EXPECT_EQ(-ETIMEDOUT, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
	/* a new connection misbehaves again: state is per connection */
	ASSERT_EQ(0, srv_reconnect(self));
	ASSERT_EQ(0, vfu_set_timeout(C, 300));
	EXPECT_EQ(-ETIMEDOUT, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
}

TEST_HARNESS_MAIN
