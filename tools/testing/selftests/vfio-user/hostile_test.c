// SPDX-License-Identifier: GPL-2.0
/*
 * Every hostile server mode, during the handshake and after the bind:
 * the bind fails with an error, or the device goes to its broken state
 * with a reason; del_device always works; nothing leaks.  The guest's
 * dmesg is scanned for warnings by the test runner.
 */
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "test_device.h"
#include "vu_test.h"

/*
 * Misbehaving "after bind" means on the first command after the bind's
 * own, vu_setup_commands(): the VMM's first access.
 */
FIXTURE(hostile) {
	struct vu_server srv;
	struct vu_vfio v;
	char name[32];
};

FIXTURE_VARIANT(hostile) {
	const char *mode;
	/* The VMM's access itself succeeds before the damage shows. */
	bool access_ok;
	/* The connection survives this mode. */
	bool survives;
};

#define MODE(_id, _mode, _ok, _survives)			\
	FIXTURE_VARIANT_ADD(hostile, _id) {			\
		.mode = _mode,					\
		.access_ok = _ok,				\
		.survives = _survives,				\
	}

MODE(garbage, "garbage", false, false);
MODE(short_close, "short-close", false, false);
MODE(huge_size, "huge-size", false, false);
MODE(unknown_id, "unknown-id", false, false);
MODE(duplicate, "duplicate", true, false);
MODE(wrong_cmd, "wrong-cmd", false, false);
MODE(no_reply, "no-reply", false, false);
MODE(fds, "fds", false, false);
MODE(mid_frame_close, "mid-frame-close", false, false);
MODE(exit, "exit", false, false);
MODE(unsolicited, "unsolicited", false, false);
MODE(flood, "flood", true, true);

FIXTURE_SETUP(hostile)
{
	self->v.container = self->v.group = self->v.device = -1;
	self->name[0] = '\0';
}

FIXTURE_TEARDOWN(hostile)
{
	vu_vfio_close(&self->v);
	if (self->name[0] && vu_exists(self->name))
		vu_unbind(self->name);
	vu_server_stop(&self->srv);
}

/* Misbehaving on VERSION: the bind fails and leaves nothing behind. */
TEST_F(hostile, during_handshake)
{
	const char *args[] = { "--hostile", variant->mode, NULL };
	int groups = vu_count_groups(), highest = vu_highest_id();
	long long start;
	int err;

	if (variant->survives)
		SKIP(return, "mode %s only matters once bound", variant->mode);
	ASSERT_EQ(0, vu_server_startv(&self->srv, args));
	start = vu_now_ms();
	/* no-reply waits for the 5 s default timeout: the bound is checked. */
	err = vu_bind(self->srv.path, self->name, sizeof(self->name));
	EXPECT_NE(0, err);
	EXPECT_TRUE(err == -EIO || err == -EPROTO || err == -ETIMEDOUT)
		TH_LOG("bind error %d", err);
	EXPECT_LT(vu_now_ms() - start, 6500);
	EXPECT_EQ(groups, vu_count_groups());
	EXPECT_EQ(highest, vu_highest_id());
	self->name[0] = '\0';
}

/* Misbehaving once bound: broken with a reason, and deletable. */
TEST_F(hostile, after_bind)
{
	const char *args[] = { "--hostile", variant->mode, "--hostile-after", vu_setup_commands(),
			       NULL };
	char reason[128], state[32], timeout[16];
	uint32_t val = 0;
	ssize_t n;
	int i;

	ASSERT_EQ(0, vu_server_startv(&self->srv, args));
	ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));
	snprintf(timeout, sizeof(timeout), "%d", vu_ms(500));
	ASSERT_EQ(0, vu_set_attr(self->name, "request_timeout_ms", timeout));
	ASSERT_EQ(0, vu_vfio_open(self->name, &self->v));

	n = pread(self->v.device, &val, 4, vu_region_off(0) + TDEV_REG_MAGIC);
	if (variant->access_ok) {
		EXPECT_EQ(4, n);
		EXPECT_EQ(TDEV_MAGIC_VALUE, val);
	} else {
		EXPECT_EQ(-1, n);
		EXPECT_TRUE(errno == EIO || errno == ETIMEDOUT) TH_LOG("errno %d", errno);
	}

	if (variant->survives) {
		long slab_before = vu_slab_kb();

		/*
		 * A flood of server requests is answered and bounded.  Each
		 * read's reply waits behind the requests already in the
		 * socket, thousands of them: fewer reads on a slower kernel.
		 */
		for (i = 0; i < 200 / vu_time_scale(); i++) {
			n = pread(self->v.device, &val, 4, vu_region_off(0) + TDEV_REG_MAGIC);
			ASSERT_EQ(4, n);
			ASSERT_EQ(TDEV_MAGIC_VALUE, val);
		}
		EXPECT_STREQ("connected", vu_attr(self->name, "state", state, sizeof(state)));
		/* The server had thousands of requests answered meanwhile... */
		EXPECT_GT(vu_stat(self->name, "server_requests"), 1000);
		/* ...and kernel memory did not grow with them. */
		EXPECT_LT(vu_slab_kb() - slab_before, 1024);
	} else {
		EXPECT_TRUE(vu_wait_attr(self->name, "state", "broken", vu_ms(2000)));
		vu_attr(self->name, "broken_reason", reason, sizeof(reason));
		EXPECT_NE(0, strlen(reason));
		TH_LOG("%s: %s", variant->mode, reason);
		n = pread(self->v.device, &val, 4, vu_region_off(0) + TDEV_REG_MAGIC);
		EXPECT_EQ(-1, n);
		EXPECT_EQ(EIO, errno);
	}

	vu_vfio_close(&self->v);
	EXPECT_EQ(0, vu_unbind(self->name));
	EXPECT_FALSE(vu_exists(self->name));
	self->name[0] = '\0';
}

/* A hostile server, bound and broken a hundred times, leaks nothing. */
TEST(broken_cycles_do_not_leak)
{
	const char *args[] = { "--hostile", "unknown-id", "--hostile-after", vu_setup_commands(), NULL };
	int groups = 0, fds = 0, i;
	long slab_before = 0, slab_after;
	struct vu_server srv;
	struct vu_vfio v;
	char name[32];
	uint32_t val;

	ASSERT_EQ(0, vu_server_startv(&srv, args));
	for (i = 0; i < 110; i++) {
		if (i == 10) {
			groups = vu_count_groups();
			fds = vu_count_fds();
			slab_before = vu_slab_kb();
		}
		ASSERT_EQ(0, vu_bind(srv.path, name, sizeof(name)));
		ASSERT_EQ(0, vu_vfio_open(name, &v));
		EXPECT_EQ(-1, pread(v.device, &val, 4, vu_region_off(0)));
		vu_vfio_close(&v);
		ASSERT_EQ(0, vu_unbind(name));
	}
	slab_after = vu_slab_kb();
	EXPECT_EQ(groups, vu_count_groups());
	EXPECT_EQ(fds, vu_count_fds());
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
	TH_LOG("slab %ld kB -> %ld kB", slab_before, slab_after);
	EXPECT_LT(slab_after - slab_before, 512);
	vu_server_stop(&srv);
}

/*
 * TDEV_REG_BAD_FDS reads 0 for what a healthy VMM does: the zero-copy
 * window sent with DMA_MAP and eventfds sent with SET_IRQS are what the
 * server expects, under the names it checks them by.  The baseline for
 * tests that swap an fd between the driver's check and its send.
 */
TEST(bad_fds_none_from_a_healthy_vmm)
{
	struct {
		struct vfio_irq_set set;
		int32_t fds[2];
	} s = {
		.set = {
			.argsz = sizeof(s),
			.flags = VFIO_IRQ_SET_DATA_EVENTFD |
				 VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = VFIO_PCI_MSIX_IRQ_INDEX,
			.count = 2,
		},
	};
	char name[32], active[32];
	struct vu_server srv;
	struct vu_vfio v;

	s.fds[0] = eventfd(0, EFD_CLOEXEC);
	s.fds[1] = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, s.fds[0]);
	ASSERT_LE(0, s.fds[1]);
	ASSERT_EQ(0, vu_server_start(&srv, NULL));
	ASSERT_EQ(0, vu_bind(srv.path, name, sizeof(name)));
	ASSERT_EQ(0, vu_vfio_open(name, &v));
	EXPECT_STREQ("zero-copy", vu_attr(name, "dma_active", active, sizeof(active)));
	EXPECT_EQ(0, ioctl(v.device, VFIO_DEVICE_SET_IRQS, &s.set));
	EXPECT_EQ(0, vu_reg_read(v.device, TDEV_REG_BAD_FDS));
	vu_vfio_close(&v);
	EXPECT_EQ(0, vu_unbind(name));
	vu_server_stop(&srv);
	close(s.fds[0]);
	close(s.fds[1]);
}

/* ---- trust boundary: a caller's wait is bounded, whatever the server ---- */

/* What a VMM's 4-byte read of a BAR0 register got, from a child. */
struct read_result {
	ssize_t n;
	int err;
	uint32_t val;
	long long ms;
};

static void read_magic_fn(void *arg, int out)
{
	struct read_result r = { 0 };
	long long start = vu_now_ms();

	r.n = pread(*(int *)arg, &r.val, 4, vu_region_off(0) + TDEV_REG_MAGIC);
	r.err = r.n < 0 ? errno : 0;
	r.ms = vu_now_ms() - start;
	if (write(out, &r, sizeof(r)) != sizeof(r))
		_exit(1);
}

/*
 * The server never answers the VMM's read and keeps the driver busy
 * answering DMA_READs instead, one as soon as the last is answered: the
 * read must still fail at its timeout.  Reading its own reply, the caller
 * receives the server's requests on the way, and it must watch its clock
 * while it does, not only when the socket runs dry.
 */
TEST(stream_noreply_read_times_out)
{
	const char *args[] = { "--hostile", "stream-noreply", "--hostile-after",
			       vu_setup_commands(), NULL };
	int timeout = vu_ms(500), bound = timeout + vu_ms(1500), err;
	char ms[16], name[32], reason[128];
	struct read_result r;
	struct vu_server srv;
	struct vu_child ch;
	struct vu_vfio v;

	ASSERT_EQ(0, vu_server_startv(&srv, args));
	ASSERT_EQ(0, vu_bind(srv.path, name, sizeof(name)));
	snprintf(ms, sizeof(ms), "%d", timeout);
	ASSERT_EQ(0, vu_set_attr(name, "request_timeout_ms", ms));
	ASSERT_EQ(0, vu_vfio_open(name, &v));

	ASSERT_EQ(0, vu_child_start(&ch, read_magic_fn, &v.device));
	err = vu_child_wait(&ch, bound, &r, sizeof(r));
	if (err == -ETIMEDOUT) {
		VU_FAIL("read still in the kernel after %d ms (timeout %d ms), %lld server requests served",
			bound, timeout, vu_stat(name, "server_requests"));
		/* Killed, or failed when its server is gone. */
		err = vu_child_kill(&ch, vu_ms(1000), &r, sizeof(r));
		if (err == -ETIMEDOUT) {
			VU_FAIL("and still there %d ms after SIGKILL", vu_ms(1000));
			vu_server_stop(&srv);
			err = vu_child_wait(&ch, vu_ms(5000), &r, sizeof(r));
			ASSERT_NE(-ETIMEDOUT, err) TH_LOG("stuck even without its server");
		}
	} else {
		ASSERT_EQ(0, err);
		TH_LOG("read: %zd, errno %d after %lld ms, %lld server requests served",
		       r.n, r.err, r.ms, vu_stat(name, "server_requests"));
		EXPECT_EQ(-1, r.n);
		EXPECT_TRUE(r.err == ETIMEDOUT || r.err == EIO) TH_LOG("errno %d", r.err);
		EXPECT_LE(r.ms, bound);
	}
	EXPECT_TRUE(vu_wait_attr(name, "state", "broken", vu_ms(2000)));
	TH_LOG("broken: %s", vu_attr(name, "broken_reason", reason, sizeof(reason)));
	vu_server_stop(&srv);
	vu_vfio_close(&v);
	EXPECT_EQ(0, vu_unbind(name));
}

/*
 * A reply to a request the driver has not sent yet.  The server answers
 * the VMM's first read, asks for a 1 MiB DMA_READ and stops reading: the
 * driver's answer (IOVA 0 is mapped) blocks on the full socket, holding
 * the send side.  A second read (child B) takes the next id and waits to
 * send.  Then the server replies to that id, half a reply, and stalls.
 * Today the receiver claims B's request for that reply and B, killed,
 * waits for it without bound; the fix makes a request answerable only
 * once it is sent, so the premature reply breaks the connection and B
 * fails (or dies) at once.
 */
#define PRE_REPLY_MAP	(1u << 20)	/* the server's DMA_READ: its max */

TEST(pre_reply_to_unsent_request)
{
	int pre_ms = vu_ms(600), timeout = vu_ms(10000), err;
	char pre[16], ms[16], name[32], state[32], reason[128];
	const char *args[] = { "--hostile", "pre-reply", "--hostile-after",
			       vu_setup_commands(), "--pre-reply-ms", pre, NULL };
	struct read_result r;
	struct vu_server srv;
	struct vu_child b;
	struct vu_vfio v;
	long long t0, killed;
	uint8_t *mem;

	snprintf(pre, sizeof(pre), "%d", pre_ms);
	mem = mmap(NULL, PRE_REPLY_MAP, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	memset(mem, 0x3c, PRE_REPLY_MAP);
	ASSERT_EQ(0, vu_server_startv(&srv, args));
	ASSERT_EQ(0, vu_bind(srv.path, name, sizeof(name)));
	/* Long: the send that blocks must not end it before we look. */
	snprintf(ms, sizeof(ms), "%d", timeout);
	ASSERT_EQ(0, vu_set_attr(name, "request_timeout_ms", ms));
	ASSERT_EQ(0, vu_vfio_open(name, &v));
	ASSERT_EQ(0, vu_map_dma(v.container, mem, 0, PRE_REPLY_MAP,
				VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));

	/* The trigger, answered correctly. */
	t0 = vu_now_ms();
	ASSERT_EQ(TDEV_MAGIC_VALUE, vu_reg_read(v.device, TDEV_REG_MAGIC));
	/* The DMA_READ's answer fills the socket; B's read waits behind it. */
	usleep(vu_ms(200));
	ASSERT_EQ(0, vu_child_start(&b, read_magic_fn, &v.device));
	/* The premature reply arrives. */
	usleep((t0 + pre_ms + vu_ms(300) - vu_now_ms()) * 1000);
	EXPECT_TRUE(vu_wait_attr(name, "state", "broken", vu_ms(1000)))
		TH_LOG("state %s %lld ms after the premature reply",
		       vu_attr(name, "state", state, sizeof(state)),
		       vu_now_ms() - t0 - pre_ms);

	killed = vu_now_ms();
	err = vu_child_kill(&b, vu_ms(1000), &r, sizeof(r));
	if (err == -ETIMEDOUT) {
		VU_FAIL("killed reader still in the kernel after %d ms", vu_ms(1000));
		vu_server_stop(&srv);
		err = vu_child_wait(&b, vu_ms(5000), &r, sizeof(r));
		ASSERT_NE(-ETIMEDOUT, err) TH_LOG("stuck even without its server");
		TH_LOG("reader gone %lld ms after SIGKILL, with its server",
		       vu_now_ms() - killed);
	} else if (!err) {
		/* It did not need killing: its read failed by itself. */
		TH_LOG("reader: %zd, errno %d after %lld ms", r.n, r.err, r.ms);
		EXPECT_EQ(-1, r.n);
		EXPECT_EQ(EIO, r.err);
	} else {
		TH_LOG("reader gone %lld ms after SIGKILL", vu_now_ms() - killed);
	}
	TH_LOG("%s: %s", vu_attr(name, "state", state, sizeof(state)),
	       vu_attr(name, "broken_reason", reason, sizeof(reason)));
	vu_server_stop(&srv);
	vu_vfio_close(&v);
	EXPECT_EQ(0, vu_unbind(name));
	munmap(mem, PRE_REPLY_MAP);
}

TEST_HARNESS_MAIN
