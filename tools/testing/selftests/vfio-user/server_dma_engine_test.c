// SPDX-License-Identifier: GPL-2.0
/*
 * The test device's DMA engine, seen from a userspace vfio-user client
 * (lib/vfu_client): zero-copy and by message (DMA_READ/WRITE),
 * chunking, errors, bad replies, unmap, disconnect and reset
 * mid-transfer, rogue transfers.
 *
 * Needs no kernel driver; the fixture and helpers are in server_test.h.
 */
#include "server_test.h"

/* ======================= DMA engine ======================= */

#define RW		(VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE)
#define RO		VFIO_USER_F_DMA_REGION_READ
#define IOVA		0x10000000ull
#define GO		TDEV_DMA_CTRL_GO
#define TO_GUEST	(TDEV_DMA_CTRL_GO | TDEV_DMA_CTRL_DIR_TO_GUEST)
#define SMALL_XFER_CAPS	"{\"capabilities\":{\"max_data_xfer_size\":4096}}"

static int wr64(struct vfu_client *c, uint64_t reg, uint64_t v)
{
	int err = vfu_write32(c, BAR0, reg, v);

	return err ? err : vfu_write32(c, BAR0, reg + 4, v >> 32);
}

/* Program the engine and write CTRL (GO or TO_GUEST). */
static int dma_go(struct vfu_client *c, uint64_t src, uint64_t dst,
		  uint32_t len, uint32_t ctrl)
{
	int err = wr64(c, TDEV_REG_DMA_SRC_LO, src);

	if (!err)
		err = wr64(c, TDEV_REG_DMA_DST_LO, dst);
	if (!err)
		err = vfu_write32(c, BAR0, TDEV_REG_DMA_LEN, len);
	return err ? err : vfu_write32(c, BAR0, TDEV_REG_DMA_CTRL, ctrl);
}

#define DMA_TO_BAR2(iova, off, len) \
	ASSERT_EQ(0, dma_go(C, iova, off, len, GO))
#define DMA_TO_GUEST(off, iova, len) \
	ASSERT_EQ(0, dma_go(C, off, iova, len, TO_GUEST))

/*
 * STATUS once it is no longer BUSY (BUSY after 10 s).  Every read also
 * serves (or skips) the requests the server sent meanwhile.
 */
static uint32_t dma_wait(struct __test_metadata *_metadata,
			 struct vfu_client *c)
{
	long long end = vu_now_ms() + 10000;
	uint32_t st;

	do {
		st = rd32(_metadata, c, BAR0, TDEV_REG_DMA_STATUS);
	} while (st == TDEV_DMA_STATUS_BUSY && vu_now_ms() < end);
	return st;
}

#define DMA_WAIT()	dma_wait(_metadata, C)
/* The transfer just started ended with @err (0: DONE). */
#define DMA_ENDS(err) do {						\
	EXPECT_EQ((err) ? TDEV_DMA_STATUS_ERROR : TDEV_DMA_STATUS_DONE,	\
		  DMA_WAIT());						\
	EXPECT_EQ(err, REG(TDEV_REG_DMA_ERROR));			\
} while (0)

static void fill(uint8_t *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = i * 31 + seed * 7 + 1;	/* never all zero */
}

static bool filled(const uint8_t *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (uint8_t)(i * 31 + seed * 7 + 1))
			return false;
	return true;
}

static bool zeroed(const uint8_t *p, size_t n)
{
	return !n || (!p[0] && !memcmp(p, p + 1, n - 1));
}

/* A memfd of @size bytes, or -1. */
static int memfd_of(uint64_t size)
{
	int fd = memfd_create("dma", MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, size)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* BAR2 [off, off + n) holds pattern @seed? */
static bool bar2_filled(struct vfu_client *c, uint64_t off, uint32_t n,
			unsigned int seed)
{
	static uint8_t buf[TDEV_BAR2_SIZE];

	return !vfu_region_read(c, BAR2, off, buf, n) && filled(buf, n, seed);
}

static bool bar2_zeroed(struct vfu_client *c, uint64_t off, uint32_t n)
{
	static uint8_t buf[TDEV_BAR2_SIZE];

	return !vfu_region_read(c, BAR2, off, buf, n) && zeroed(buf, n);
}

static int bar2_fill(struct vfu_client *c, uint64_t off, uint32_t n,
		     unsigned int seed)
{
	static uint8_t buf[TDEV_BAR2_SIZE];

	fill(buf, n, seed);
	return vfu_region_write(c, BAR2, off, buf, n);
}

/* Message-mode guest memory: mapped without fd, served by us. */
static int guest_ram(struct vfu_client *c, uint64_t iova, void *buf,
		     uint64_t size, uint32_t flags)
{
	int err = vfu_dma_map(c, iova, size, 0, flags, -1);

	if (!err)
		err = vfu_dma_register(c, iova, size, buf, flags);
	c->answer_requests = true;
	return err;
}

/* Connect with max_data_xfer_size 4096, and refuse larger requests. */
static int small_xfer_up(srv_t *self, const char *const *args)
{
	uint16_t major, minor;
	int err = server_start(&self->s, args);

	if (!err)
		err = srv_connect(self);
	if (!err)
		err = vfu_version(C, 0, 0, SMALL_XFER_CAPS, &major, &minor,
				  NULL, 0);
	C->max_data_xfer = 4096;
	return err;
}

/* A success reply to request (@id, @cmd) for @count bytes at @addr, with
 * @data bytes of payload (0x5a) after the access. */
static int send_dma_reply(struct vfu_client *c, uint16_t id, uint16_t cmd,
			  uint64_t addr, uint64_t count, size_t data)
{
	struct {
		struct vfio_user_header h;
		struct vfio_user_dma_access a;
		uint8_t d[256];
	} r = {
		.h = { .msg_id = id, .command = cmd,
		       .msg_size = HDR + sizeof(r.a) + data,
		       .flags = VFIO_USER_F_TYPE_REPLY },
		.a = { .address = addr, .count = count },
	};

	if (data > sizeof(r.d))
		return -EINVAL;
	memset(r.d, 0x5a, data);
	return vfu_send_raw(c, &r, r.h.msg_size, NULL, 0);
}

TEST_F(srv, dma_engine_registers)
{
	uint64_t reg;

	UP("--once");
	ASSERT_EQ(0, wr64(C, TDEV_REG_DMA_SRC_LO, 0x5566778811223344ull));
	ASSERT_EQ(0, wr64(C, TDEV_REG_DMA_DST_LO, 0xddeeff0099aabbccull));
	WREG(TDEV_REG_DMA_LEN, 0x1234);
	EXPECT_EQ(0x11223344, REG(TDEV_REG_DMA_SRC_LO));
	EXPECT_EQ(0x55667788, REG(TDEV_REG_DMA_SRC_HI));
	EXPECT_EQ(0x99aabbcc, REG(TDEV_REG_DMA_DST_LO));
	EXPECT_EQ(0xddeeff00, REG(TDEV_REG_DMA_DST_HI));
	EXPECT_EQ(0x1234, REG(TDEV_REG_DMA_LEN));
	/* CTRL without GO only keeps DIR; nothing starts. */
	WREG(TDEV_REG_DMA_CTRL, TDEV_DMA_CTRL_DIR_TO_GUEST);
	EXPECT_EQ(TDEV_DMA_CTRL_DIR_TO_GUEST, REG(TDEV_REG_DMA_CTRL));
	EXPECT_EQ(TDEV_DMA_STATUS_IDLE, REG(TDEV_REG_DMA_STATUS));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_ERROR));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_COUNT));
	EXPECT_EQ(TDEV_DMA_MODE_NONE, REG(TDEV_REG_DMA_MODE_USED));
	/* Read-only registers ignore writes; the rest of the block reads 0. */
	WREG(TDEV_REG_DMA_STATUS, 2);
	WREG(TDEV_REG_DMA_COUNT, 5);
	EXPECT_EQ(TDEV_DMA_STATUS_IDLE, REG(TDEV_REG_DMA_STATUS));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_COUNT));
	for (reg = TDEV_REG_DMA_RESERVED; reg < TDEV_REG_DMA_END; reg += 4) {
		WREG(reg, ~0u);
		EXPECT_EQ(0, REG(reg));
	}
	EXPECT_EQ(0, C->server_requests);
}

TEST_F(srv, dma_engine_bad_programming_einval)
{
	static const struct {
		uint64_t src, dst;
		uint32_t len, ctrl;
	} bad[] = {
		{ IOVA, 0, 0, GO },				/* no length */
		{ IOVA, 0, TDEV_BAR2_SIZE + 1, GO },		/* > BAR2 */
		{ IOVA, 0x100, TDEV_BAR2_SIZE, GO },		/* past BAR2 */
		{ IOVA, TDEV_BAR2_SIZE, 1, GO },
		{ TDEV_BAR2_SIZE - 0x100, IOVA, 0x200, TO_GUEST },
		{ 1ull << 32, IOVA, 4, TO_GUEST },		/* SRC_HI counts */
		{ ~0ull - 1, 0, 4, GO },			/* IOVA wraps */
		{ IOVA, 0, 4, GO | (1u << 2) },			/* unknown bit */
		{ IOVA, 0, 4, GO | (1u << 31) },
	};
	static uint8_t guest[0x1000];
	size_t i;

	UP("--once");
	ASSERT_EQ(0, guest_ram(C, IOVA, guest, sizeof(guest), RW));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(0, dma_go(C, bad[i].src, bad[i].dst, bad[i].len,
				    bad[i].ctrl));
		EXPECT_EQ(TDEV_DMA_STATUS_ERROR, REG(TDEV_REG_DMA_STATUS))
			TH_LOG("case %zu", i);
		EXPECT_EQ(EINVAL, REG(TDEV_REG_DMA_ERROR));
	}
	EXPECT_EQ(0, REG(TDEV_REG_DMA_COUNT));
	EXPECT_EQ(TDEV_DMA_MODE_NONE, REG(TDEV_REG_DMA_MODE_USED));
	EXPECT_EQ(0, C->server_requests);	/* nothing reached us */
	/* A good transfer afterwards clears ERROR. */
	DMA_TO_BAR2(IOVA, 0, 4);
	DMA_ENDS(0);
	EXPECT_EQ(1, REG(TDEV_REG_DMA_COUNT));
}

TEST_F(srv, dma_engine_zero_copy_both_ways)
{
	const uint64_t file = 0x40000, off = 0x10000, size = 0x20000;
	int mfd = memfd_of(file);
	uint8_t *mem;

	ASSERT_LE(0, mfd);
	mem = mmap(NULL, file, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, mem);
	UP("--once");
	/* IOVA is file offset 0x10000: the server must add the map offset. */
	ASSERT_EQ(0, vfu_dma_map(C, IOVA, size, off, RW, mfd));
	fill(mem + off + 0x3000, 0x8000, 1);
	DMA_TO_BAR2(IOVA + 0x3000, 0x1000, 0x8000);
	/* Synchronous: over when GO's write is answered. */
	EXPECT_EQ(TDEV_DMA_STATUS_DONE, REG(TDEV_REG_DMA_STATUS));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_ERROR));
	EXPECT_EQ(1, REG(TDEV_REG_DMA_COUNT));
	EXPECT_EQ(TDEV_DMA_MODE_FD, REG(TDEV_REG_DMA_MODE_USED));
	EXPECT_TRUE(bar2_filled(C, 0x1000, 0x8000, 1));
	EXPECT_TRUE(bar2_zeroed(C, 0, 0x1000));
	EXPECT_TRUE(bar2_zeroed(C, 0x9000, TDEV_BAR2_SIZE - 0x9000));

	/* All of BAR2 into the guest. */
	ASSERT_EQ(0, bar2_fill(C, 0, TDEV_BAR2_SIZE, 2));
	DMA_TO_GUEST(0, IOVA + 0x10000, TDEV_BAR2_SIZE);
	EXPECT_EQ(TDEV_DMA_STATUS_DONE, REG(TDEV_REG_DMA_STATUS));
	EXPECT_EQ(2, REG(TDEV_REG_DMA_COUNT));
	EXPECT_TRUE(filled(mem + off + 0x10000, TDEV_BAR2_SIZE, 2));
	EXPECT_TRUE(zeroed(mem + off + size, file - off - size));
	EXPECT_EQ(0, C->server_requests);	/* no message at all */
	munmap(mem, file);
	close(mfd);
}

TEST_F(srv, dma_engine_zero_copy_1tib_window)
{
	/* valgrind's address space manager maps at most 32 GiB at once. */
	const uint64_t tib = env_set("VFU_SERVER_VALGRIND") ? 1ull << 34 :
							      1ull << 40;
	const uint64_t far = tib - 0x2000;
	uint8_t buf[0x1000];
	int mfd = memfd_of(tib);	/* sparse: nothing is allocated */

	ASSERT_LE(0, mfd);
	UP("--once");
	/* One map of the whole window, as the kernel client does. */
	ASSERT_EQ(0, vfu_dma_map(C, 0, tib, 0, RW, mfd));
	fill(buf, sizeof(buf), 3);
	ASSERT_EQ(sizeof(buf), pwrite(mfd, buf, sizeof(buf), far));
	DMA_TO_BAR2(far, 0, sizeof(buf));
	DMA_ENDS(0);
	EXPECT_TRUE(bar2_filled(C, 0, sizeof(buf), 3));
	DMA_TO_GUEST(0, 0x1000, sizeof(buf));
	DMA_ENDS(0);
	ASSERT_EQ(sizeof(buf), pread(mfd, buf, sizeof(buf), 0x1000));
	EXPECT_TRUE(filled(buf, sizeof(buf), 3));
	EXPECT_EQ(TDEV_DMA_MODE_FD, REG(TDEV_REG_DMA_MODE_USED));
	ASSERT_EQ(0, vfu_dma_unmap(C, 0, tib, 0, NULL));
	close(mfd);
}

TEST_F(srv, dma_engine_messages_both_ways)
{
	static uint8_t guest[0x20000];
	uint32_t go = TO_GUEST;

	UP("--once");
	ASSERT_EQ(0, guest_ram(C, IOVA, guest, sizeof(guest), RW));
	fill(guest + 0x100, TDEV_BAR2_SIZE, 4);
	DMA_TO_BAR2(IOVA + 0x100, 0, TDEV_BAR2_SIZE);
	DMA_ENDS(0);
	EXPECT_EQ(1, REG(TDEV_REG_DMA_COUNT));
	EXPECT_EQ(TDEV_DMA_MODE_MSG, REG(TDEV_REG_DMA_MODE_USED));
	/* 64 KiB is one request: we allow 1 MiB. */
	EXPECT_EQ(1, C->server_requests);
	EXPECT_EQ(1, C->dma_served);
	EXPECT_EQ(VFIO_USER_DMA_READ, C->last_request.command);
	EXPECT_EQ(IOVA + 0x100, C->last_request.address);
	EXPECT_EQ(TDEV_BAR2_SIZE, C->last_request.count);
	EXPECT_TRUE(bar2_filled(C, 0, TDEV_BAR2_SIZE, 4));

	/* BAR2 -> guest, GO as a posted write: the engine starts all the same. */
	ASSERT_EQ(0, bar2_fill(C, 0x2000, 0x1000, 5));
	ASSERT_EQ(0, dma_go(C, 0x2000, IOVA + 0x18000, 0x1000, 0));
	ASSERT_EQ(0, vfu_region_write_posted(C, BAR0, TDEV_REG_DMA_CTRL, &go,
					     sizeof(go)));
	DMA_ENDS(0);
	EXPECT_EQ(2, REG(TDEV_REG_DMA_COUNT));
	EXPECT_EQ(2, C->server_requests);
	EXPECT_EQ(VFIO_USER_DMA_WRITE, C->last_request.command);
	EXPECT_EQ(IOVA + 0x18000, C->last_request.address);
	EXPECT_TRUE(filled(guest + 0x18000, 0x1000, 5));
	EXPECT_TRUE(zeroed(guest + 0x19000, sizeof(guest) - 0x19000));
}

TEST_F(srv, dma_engine_messages_chunked_by_client_max)
{
	static uint8_t guest[TDEV_BAR2_SIZE];
	uint32_t i;
	bool ok = true;

	ASSERT_EQ(0, small_xfer_up(self, ARGS("--once")));
	ASSERT_EQ(0, guest_ram(C, IOVA, guest, sizeof(guest), RW));
	fill(guest, sizeof(guest), 6);
	DMA_TO_BAR2(IOVA, 0, TDEV_BAR2_SIZE);
	DMA_ENDS(0);
	/* 16 requests of 4096: a larger one would have been refused. */
	EXPECT_EQ(16, C->server_requests);
	EXPECT_EQ(16, C->dma_served);
	EXPECT_TRUE(bar2_filled(C, 0, TDEV_BAR2_SIZE, 6));

	/* An odd length: 4096 + 4096 + 4096 + 10. */
	WREG(TDEV_REG_BAR2_FILL, 0xa5a55a5a);
	memset(guest, 0, sizeof(guest));
	DMA_TO_GUEST(0, IOVA + 2, 3 * 4096 + 10);
	DMA_ENDS(0);
	EXPECT_EQ(20, C->server_requests);
	EXPECT_EQ(10, C->last_request.count);
	EXPECT_EQ(IOVA + 2 + 3 * 4096, C->last_request.address);
	for (i = 0; i < 3 * 4096 + 10; i++)
		ok &= guest[2 + i] == ((0xa5a55a5au >> (8 * (i % 4))) & 0xff);
	EXPECT_TRUE(ok);
	EXPECT_TRUE(zeroed(guest + 2 + 3 * 4096 + 10, 4096 - 12));
	EXPECT_EQ(2, REG(TDEV_REG_DMA_COUNT));
}

TEST_F(srv, dma_engine_unmapped_iova_efault)
{
	uint8_t buf[0x200];
	int mfd = memfd_of(0x10000);

	ASSERT_LE(0, mfd);
	UP("--once");
	C->answer_requests = true;
	ASSERT_EQ(0, bar2_fill(C, 0, 0x1000, 7));
	/* Nothing mapped at all. */
	DMA_TO_BAR2(IOVA, 0, 0x100);
	EXPECT_EQ(TDEV_DMA_STATUS_ERROR, REG(TDEV_REG_DMA_STATUS));
	EXPECT_EQ(EFAULT, REG(TDEV_REG_DMA_ERROR));
	/* Mapped read-only (with fd), but the engine would write. */
	ASSERT_EQ(0, vfu_dma_map(C, IOVA, 0x10000, 0, RO, mfd));
	DMA_TO_GUEST(0, IOVA, 0x100);
	EXPECT_EQ(EFAULT, REG(TDEV_REG_DMA_ERROR));
	ASSERT_EQ(sizeof(buf), pread(mfd, buf, sizeof(buf), 0));
	EXPECT_TRUE(zeroed(buf, sizeof(buf)));		/* untouched */
	/* Running past the end of the entry, and into the next one. */
	DMA_TO_BAR2(IOVA + 0xff00, 0, 0x200);
	EXPECT_EQ(EFAULT, REG(TDEV_REG_DMA_ERROR));
	ASSERT_EQ(0, vfu_dma_map(C, IOVA + 0x10000, 0x10000, 0, RW, -1));
	DMA_TO_BAR2(IOVA + 0xff00, 0, 0x200);
	EXPECT_EQ(EFAULT, REG(TDEV_REG_DMA_ERROR));
	/* Mapped without fd but write-only, and the engine would read. */
	ASSERT_EQ(0, vfu_dma_map(C, IOVA + 0x20000, 0x1000, 0,
				 VFIO_USER_F_DMA_REGION_WRITE, -1));
	DMA_TO_BAR2(IOVA + 0x20000, 0, 0x100);
	EXPECT_EQ(EFAULT, REG(TDEV_REG_DMA_ERROR));

	EXPECT_EQ(TDEV_DMA_STATUS_ERROR, REG(TDEV_REG_DMA_STATUS));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_COUNT));
	/* Refused by the table: no access was tried, no message sent. */
	EXPECT_EQ(TDEV_DMA_MODE_NONE, REG(TDEV_REG_DMA_MODE_USED));
	EXPECT_EQ(0, C->server_requests);
	EXPECT_TRUE(bar2_filled(C, 0, 0x1000, 7));
	close(mfd);
}

TEST_F(srv, dma_engine_client_error_reply)
{
	static uint8_t guest[0x1000];

	UP("--once");
	ASSERT_EQ(0, guest_ram(C, IOVA, guest, sizeof(guest), RW));
	/* Whatever errno the client refuses with ends up in DMA_ERROR. */
	C->dma_error = ENODEV;
	DMA_TO_BAR2(IOVA, 0, 0x100);
	DMA_ENDS(ENODEV);
	EXPECT_EQ(1, C->dma_refused);
	EXPECT_EQ(TDEV_DMA_MODE_MSG, REG(TDEV_REG_DMA_MODE_USED));
	C->dma_error = 0;
	/* Our side allows reads only: the DMA_WRITE gets EPERM. */
	ASSERT_EQ(0, vfu_dma_unregister(C, IOVA, sizeof(guest)));
	ASSERT_EQ(0, vfu_dma_register(C, IOVA, sizeof(guest), guest, RO));
	DMA_TO_GUEST(0, IOVA, 0x100);
	DMA_ENDS(EPERM);
	EXPECT_EQ(VFIO_USER_DMA_WRITE, C->last_request.command);
	EXPECT_TRUE(zeroed(guest, sizeof(guest)));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_COUNT));
	/* and the engine carries on */
	fill(guest, 0x100, 8);
	DMA_TO_BAR2(IOVA, 0, 0x100);
	DMA_ENDS(0);
	EXPECT_TRUE(bar2_filled(C, 0, 0x100, 8));
	EXPECT_EQ(1, REG(TDEV_REG_DMA_COUNT));
}

TEST_F(srv, dma_engine_bad_replies)
{
	struct vfio_user_header e = {
		.command = VFIO_USER_DMA_READ, .msg_size = HDR,
		.flags = VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
	};
	struct vfu_msg m;
	uint16_t id;

	UP("--once");
	ASSERT_EQ(0, vfu_dma_map(C, IOVA, 0x1000, 0, RW, -1));
	DMA_TO_BAR2(IOVA, 0, 8);
	ASSERT_EQ(0, vfu_recv_msg(C, &m));
	ASSERT_EQ(VFIO_USER_DMA_READ, m.hdr.command);
	id = m.hdr.msg_id;
	/* Another id, or another command: not the engine's, dropped. */
	ASSERT_EQ(0, send_dma_reply(C, id + 1, VFIO_USER_DMA_READ, IOVA, 8, 8));
	ASSERT_EQ(0, send_dma_reply(C, id, VFIO_USER_DMA_WRITE, IOVA, 8, 0));
	EXPECT_TRUE(silent(C, 50));
	EXPECT_EQ(TDEV_DMA_STATUS_BUSY, REG(TDEV_REG_DMA_STATUS));
	/* Its id and command, but not its count: EPROTO. */
	ASSERT_EQ(0, send_dma_reply(C, id, VFIO_USER_DMA_READ, IOVA, 4, 8));
	DMA_ENDS(EPROTO);
	/* Another address, or data missing. */
	DMA_TO_BAR2(IOVA, 0, 8);
	ASSERT_EQ(0, vfu_recv_msg(C, &m));
	ASSERT_EQ(0, send_dma_reply(C, m.hdr.msg_id, VFIO_USER_DMA_READ,
				    IOVA + 8, 8, 8));
	DMA_ENDS(EPROTO);
	DMA_TO_BAR2(IOVA, 0, 8);
	ASSERT_EQ(0, vfu_recv_msg(C, &m));
	ASSERT_EQ(0, send_dma_reply(C, m.hdr.msg_id, VFIO_USER_DMA_READ,
				    IOVA, 8, 4));
	DMA_ENDS(EPROTO);
	/* An error reply without an errno: EIO. */
	DMA_TO_BAR2(IOVA, 0, 8);
	ASSERT_EQ(0, vfu_recv_msg(C, &m));
	e.msg_id = m.hdr.msg_id;
	ASSERT_EQ(0, vfu_send_raw(C, &e, sizeof(e), NULL, 0));
	DMA_ENDS(EIO);
	EXPECT_TRUE(bar2_zeroed(C, 0, 8));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_COUNT));
}

TEST_F(srv, dma_engine_busy_until_answered_reset_aborts)
{
	static uint8_t guest[0x1000];
	struct vfu_request req;

	UP("--once");
	ASSERT_EQ(0, guest_ram(C, IOVA, guest, sizeof(guest), RW));
	C->answer_requests = false;
	fill(guest, 0x100, 9);
	/* GO is answered though nobody serves the DMA_READ. */
	DMA_TO_BAR2(IOVA, 0, 0x100);
	EXPECT_EQ(TDEV_DMA_STATUS_BUSY, REG(TDEV_REG_DMA_STATUS));
	ASSERT_EQ(1, C->server_requests);	/* skipped by that read */
	req = C->last_request;
	EXPECT_EQ(VFIO_USER_DMA_READ, req.command);
	EXPECT_EQ(IOVA, req.address);
	EXPECT_EQ(0x100, req.count);
	/* One transfer at a time: CTRL is ignored while BUSY. */
	WREG(TDEV_REG_DMA_CTRL, TO_GUEST);
	EXPECT_EQ(0, REG(TDEV_REG_DMA_CTRL));
	EXPECT_EQ(TDEV_DMA_STATUS_BUSY, REG(TDEV_REG_DMA_STATUS));
	EXPECT_EQ(1, C->server_requests);
	/* Reset abandons it, and its late reply is dropped. */
	ASSERT_EQ(0, vfu_reset(C));
	EXPECT_EQ(TDEV_DMA_STATUS_IDLE, REG(TDEV_REG_DMA_STATUS));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_SRC_LO));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_LEN));
	EXPECT_EQ(TDEV_DMA_MODE_NONE, REG(TDEV_REG_DMA_MODE_USED));
	ASSERT_EQ(0, send_dma_reply(C, req.msg_id, req.command, req.address,
				    req.count, req.count));
	EXPECT_TRUE(silent(C, 50));
	EXPECT_EQ(TDEV_DMA_STATUS_IDLE, REG(TDEV_REG_DMA_STATUS));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_COUNT));
	EXPECT_TRUE(bar2_zeroed(C, 0, 0x100));
	/* A new transfer goes through. */
	C->answer_requests = true;
	DMA_TO_BAR2(IOVA, 0, 0x100);
	DMA_ENDS(0);
	EXPECT_TRUE(bar2_filled(C, 0, 0x100, 9));
}

TEST_F(srv, dma_engine_unmap_mid_transfer)
{
	struct vfio_user_dma_unmap u = {
		.argsz = sizeof(u), .address = IOVA, .size = 0x2000,
	};
	static uint8_t guest[0x2000];
	struct vfu_msg m, r;
	uint16_t id;

	ASSERT_EQ(0, small_xfer_up(self, ARGS("--once")));
	ASSERT_EQ(0, guest_ram(C, IOVA, guest, sizeof(guest), RW));
	C->answer_requests = false;
	fill(guest, sizeof(guest), 10);
	DMA_TO_BAR2(IOVA, 0, sizeof(guest));
	ASSERT_EQ(0, vfu_recv_msg(C, &m));		/* the first 4 KiB */
	ASSERT_EQ(4096, ((struct vfio_user_dma_access *)m.payload)->count);
	/* The server sees the unmap before our answer... */
	ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_DMA_UNMAP, 0, &u, sizeof(u),
				  NULL, 0, &id));
	ASSERT_EQ(0, vfu_serve_request(C, &m));
	ASSERT_EQ(0, vfu_wait_reply(C, id, VFIO_USER_DMA_UNMAP, &r));
	/* ...so it must not ask for the second 4 KiB. */
	DMA_ENDS(EFAULT);
	EXPECT_EQ(1, C->server_requests);
	EXPECT_TRUE(bar2_filled(C, 0, 4096, 10));
	EXPECT_TRUE(bar2_zeroed(C, 4096, 4096));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_COUNT));
}

TEST_F(srv, dma_engine_disconnect_mid_transfer)
{
	static uint8_t guest[0x1000];

	UP(NULL);	/* no --once: we come back */
	ASSERT_EQ(0, guest_ram(C, IOVA, guest, sizeof(guest), RW));
	C->answer_requests = false;
	DMA_TO_BAR2(IOVA, 0, 0x100);
	EXPECT_EQ(TDEV_DMA_STATUS_BUSY, REG(TDEV_REG_DMA_STATUS));
	vfu_disconnect(C);
	/* The transfer died with the connection; the server did not. */
	ASSERT_EQ(0, srv_reconnect(self));
	ALIVE();
	EXPECT_EQ(TDEV_DMA_STATUS_IDLE, REG(TDEV_REG_DMA_STATUS));
}

TEST_F(srv, dma_engine_rogue_messages_touch_unmapped_iova)
{
	static uint8_t guest[0x1000];

	UP("--dma-rogue", "--once");
	C->answer_requests = true;
	/* Nothing mapped: the rogue engine asks the client anyway. */
	DMA_TO_BAR2(0xdead0000, 0, 0x100);
	DMA_ENDS(EFAULT);				/* our refusal */
	EXPECT_EQ(TDEV_DMA_MODE_MSG, REG(TDEV_REG_DMA_MODE_USED));
	EXPECT_EQ(1, C->server_requests);
	EXPECT_EQ(1, C->dma_refused);
	EXPECT_EQ(VFIO_USER_DMA_READ, C->last_request.command);
	EXPECT_EQ(0xdead0000, C->last_request.address);
	EXPECT_EQ(0x100, C->last_request.count);
	/* Mapped read-only: it writes anyway, and we say EPERM. */
	ASSERT_EQ(0, guest_ram(C, IOVA, guest, sizeof(guest), RO));
	DMA_TO_GUEST(0, IOVA, 0x100);
	DMA_ENDS(EPERM);
	EXPECT_EQ(VFIO_USER_DMA_WRITE, C->last_request.command);
	EXPECT_EQ(IOVA, C->last_request.address);
	EXPECT_EQ(2, C->dma_refused);
}

TEST_F(srv, dma_engine_rogue_zero_copy_write_to_read_only)
{
	uint8_t buf[0x100];
	int mfd = memfd_of(0x1000);

	ASSERT_LE(0, mfd);
	UP("--dma-rogue", "--once");
	ASSERT_EQ(0, vfu_dma_map(C, IOVA, 0x1000, 0, RO, mfd));
	WREG(TDEV_REG_BAR2_FILL, 0x12345678);
	/* The server mapped it PROT_READ: its write faults, it survives. */
	DMA_TO_GUEST(0, IOVA, sizeof(buf));
	DMA_ENDS(EFAULT);
	EXPECT_EQ(TDEV_DMA_MODE_FD, REG(TDEV_REG_DMA_MODE_USED));
	DMA_TO_GUEST(0, IOVA, sizeof(buf));		/* and again */
	DMA_ENDS(EFAULT);
	ASSERT_EQ(sizeof(buf), pread(mfd, buf, sizeof(buf), 0));
	EXPECT_TRUE(zeroed(buf, sizeof(buf)));
	/* Reading is what the map allows. */
	fill(buf, sizeof(buf), 11);
	ASSERT_EQ(sizeof(buf), pwrite(mfd, buf, sizeof(buf), 0));
	DMA_TO_BAR2(IOVA, 0, sizeof(buf));
	DMA_ENDS(0);
	EXPECT_TRUE(bar2_filled(C, 0, sizeof(buf), 11));
	EXPECT_EQ(0, C->server_requests);
	close(mfd);
}

TEST_F(srv, dma_engine_zero_copy_sigbus_efault)
{
	uint8_t buf[0x1000];
	int mfd = memfd_of(0x1000);	/* one page behind a 4-page map */

	ASSERT_LE(0, mfd);
	UP("--once");
	ASSERT_EQ(0, vfu_dma_map(C, IOVA, 0x4000, 0, RW, mfd));
	fill(buf, sizeof(buf), 12);
	ASSERT_EQ(sizeof(buf), pwrite(mfd, buf, sizeof(buf), 0));
	/* Past the file's end: SIGBUS in the server, EFAULT for us. */
	DMA_TO_BAR2(IOVA + 0x2000, 0, 0x100);
	DMA_ENDS(EFAULT);
	EXPECT_EQ(TDEV_DMA_MODE_FD, REG(TDEV_REG_DMA_MODE_USED));
	DMA_TO_BAR2(IOVA + 0x2000, 0, 0x100);		/* and again */
	DMA_ENDS(EFAULT);
	/* Across the end: what precedes the fault may have landed. */
	ASSERT_EQ(0, bar2_fill(C, 0, 0x1000, 13));
	DMA_TO_GUEST(0, IOVA + 0x800, 0x1000);
	DMA_ENDS(EFAULT);
	ASSERT_EQ(sizeof(buf), pread(mfd, buf, sizeof(buf), 0));
	EXPECT_TRUE(filled(buf, 0x800, 12));		/* before the DMA */
	EXPECT_EQ(0, REG(TDEV_REG_DMA_COUNT));
	/* The page that exists still works. */
	ASSERT_EQ(0, bar2_fill(C, 0, 0x1000, 14));
	DMA_TO_GUEST(0, IOVA, 0x1000);
	DMA_ENDS(0);
	ASSERT_EQ(sizeof(buf), pread(mfd, buf, sizeof(buf), 0));
	EXPECT_TRUE(filled(buf, sizeof(buf), 14));
	EXPECT_EQ(1, REG(TDEV_REG_DMA_COUNT));
	EXPECT_EQ(0, C->server_requests);
	ALIVE();
	close(mfd);
}

TEST_F(srv, dma_engine_no_dma_fd_refuses_fd)
{
	static uint8_t guest[0x1000];
	int mfd = memfd_of(0x1000);

	ASSERT_LE(0, mfd);
	UP("--no-dma-fd", "--once");
	EXPECT_EQ(-EINVAL, vfu_dma_map(C, IOVA, 0x1000, 0, RW, mfd));
	EXPECT_TRUE(C->last_error_from_server);
	EXPECT_EQ(0, REG(TDEV_REG_DMA_MAP_COUNT));
	/* The client falls back to message DMA, which works. */
	ASSERT_EQ(0, guest_ram(C, IOVA, guest, sizeof(guest), RW));
	fill(guest, sizeof(guest), 15);
	DMA_TO_BAR2(IOVA, 0, sizeof(guest));
	DMA_ENDS(0);
	EXPECT_EQ(TDEV_DMA_MODE_MSG, REG(TDEV_REG_DMA_MODE_USED));
	EXPECT_TRUE(bar2_filled(C, 0, sizeof(guest), 15));
	close(mfd);
}

TEST_F(srv, dma_engine_reset_clears_everything_but_bar2)
{
	uint8_t buf[0x100];
	int mfd = memfd_of(0x1000);

	ASSERT_LE(0, mfd);
	UP("--once");
	ASSERT_EQ(0, vfu_dma_map(C, IOVA, 0x1000, 0, RW, mfd));
	fill(buf, sizeof(buf), 16);
	ASSERT_EQ(sizeof(buf), pwrite(mfd, buf, sizeof(buf), 0));
	DMA_TO_BAR2(IOVA, 0x200, sizeof(buf));
	DMA_ENDS(0);
	DMA_TO_BAR2(IOVA + 0x10000, 0, sizeof(buf));
	DMA_ENDS(EFAULT);
	WREG(TDEV_REG_DMA_CTRL, TDEV_DMA_CTRL_DIR_TO_GUEST);
	ASSERT_EQ(0, vfu_reset(C));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_SRC_LO));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_SRC_HI));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_DST_LO));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_LEN));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_CTRL));
	EXPECT_EQ(TDEV_DMA_STATUS_IDLE, REG(TDEV_REG_DMA_STATUS));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_ERROR));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_COUNT));
	EXPECT_EQ(TDEV_DMA_MODE_NONE, REG(TDEV_REG_DMA_MODE_USED));
	/* Memory is not a register; the DMA map survives too. */
	EXPECT_TRUE(bar2_filled(C, 0x200, sizeof(buf), 16));
	EXPECT_EQ(1, REG(TDEV_REG_DMA_MAP_COUNT));
	DMA_TO_BAR2(IOVA, 0, sizeof(buf));
	DMA_ENDS(0);
	EXPECT_EQ(1, REG(TDEV_REG_DMA_COUNT));
	close(mfd);
}

TEST_HARNESS_MAIN
