// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile servers during the bind handshake, where the driver runs
 * synchronously in the context of the process writing new_device: replies
 * that carry fds where they must not (an error reply with an fd, two fds,
 * an fd with an oversized frame, an fd and then EOF), and a server that
 * drips its VERSION reply one byte a second.
 *
 * What must hold: the bind fails with -EIO, -EPROTO or -ETIMEDOUT, within
 * the request timeout and a margin, and leaves nothing behind (no device,
 * no iommu group, no fd in the writer, no module reference, no slab, no
 * kernel report in dmesg); and a bind that is still waiting for its server
 * holds up nobody: not a bind of another server, not del_device of another
 * device, not its own writer's death.
 *
 * Everything that may hang runs in a child process (vu_child_*() in
 * vu_test.h), so a hang is a failed bound, not a test-runner timeout.
 */
#include "kselftest_harness.h"
#include "test_device.h"
#include "vu_test.h"

/*
 * The bind runs with the default request timeout (it cannot be set before
 * the device exists); the driver promises a failure within it.  The
 * margin is for a loaded machine.
 */
#define BIND_TIMEOUT_MS		5000
#define BIND_BOUND_MS		(BIND_TIMEOUT_MS + 1500)

/*
 * Which reply of the bind handshake (counted as --hostile-after counts:
 * VERSION is 0, DEVICE_GET_INFO 1, then the region and IRQ infos) is the
 * first to carry an fd: BAR2's GET_REGION_INFO, asked twice (the two-step
 * argsz query), the second time with room for the capabilities and so
 * for the memfd.  Read from a healthy server's log rather than assumed,
 * so that it follows the driver if its queries change.  -1 if not found.
 */
static int first_fd_reply(void)
{
	static int found = -2;
	char log[] = "/tmp/vu-bind-log-XXXXXX", line[256], name[32];
	const char *args[] = { "-v", NULL };
	struct vu_server srv;
	int fd, saved, index = 0;
	FILE *f;

	if (found != -2)
		return found;
	found = -1;
	fd = mkstemp(log);
	if (fd < 0)
		return found;
	/* The server's log goes to its stderr: ours, for that moment. */
	saved = dup(2);
	dup2(fd, 2);
	close(fd);
	fd = vu_server_startv(&srv, args);
	dup2(saved, 2);
	close(saved);
	if (!fd && !vu_bind(srv.path, name, sizeof(name)))
		vu_unbind(name);
	vu_server_stop(&srv);

	f = fopen(log, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strstr(line, ": -> id="))
			continue;		/* not a reply */
		if (strstr(line, " fds=1")) {
			found = index;
			break;
		}
		index++;
	}
	if (f)
		fclose(f);
	unlink(log);
	return found;
}

/* ---- replies with fds where they must not ---- */

FIXTURE(fd_reply) {
	struct vu_server srv;
	int kmsg;
};

FIXTURE_VARIANT(fd_reply) {
	const char *mode;
};

FIXTURE_VARIANT_ADD(fd_reply, error_fd) { .mode = "error-fd" };
FIXTURE_VARIANT_ADD(fd_reply, two_fds) { .mode = "two-fds" };
FIXTURE_VARIANT_ADD(fd_reply, fd_oversize) { .mode = "fd-oversize" };
FIXTURE_VARIANT_ADD(fd_reply, fd_eof) { .mode = "fd-eof" };

FIXTURE_SETUP(fd_reply)
{
	self->srv.pid = 0;
	self->kmsg = vu_kmsg_open();
}

FIXTURE_TEARDOWN(fd_reply)
{
	vu_server_stop(&self->srv);
	if (self->kmsg >= 0)
		close(self->kmsg);
}

typedef struct _test_data_fd_reply fd_reply_t;
typedef struct _fixture_variant_fd_reply fd_reply_variant_t;

/* The server misbehaves on reply @at of the handshake: a clean failure. */
static void bind_fails_cleanly(struct __test_metadata *_metadata,
			       fd_reply_t *self,
			       const fd_reply_variant_t *variant, int at)
{
	char after[16], first[256];
	const char *args[] = {
		"--hostile", variant->mode, "--hostile-after", after, NULL,
	};
	int groups = vu_count_groups(), highest = vu_highest_id();
	int fds = vu_count_fds();
	long slab = vu_slab_kb();
	struct vu_bind_result r;
	struct vu_child ch;
	int err;

	snprintf(after, sizeof(after), "%d", at);
	ASSERT_EQ(0, vu_server_startv(&self->srv, args));
	ASSERT_EQ(0, vu_bind_child(&ch, self->srv.path));
	err = vu_child_wait(&ch, BIND_BOUND_MS, &r, sizeof(r));
	if (err == -ETIMEDOUT) {
		VU_FAIL("%s at reply %d: bind still running after %d ms",
			variant->mode, at, BIND_BOUND_MS);
		vu_server_stop(&self->srv);
		err = vu_child_wait(&ch, vu_ms(5000), &r, sizeof(r));
		ASSERT_NE(-ETIMEDOUT, err) TH_LOG("bind stuck even without its server");
	}
	ASSERT_EQ(0, err);
	TH_LOG("%s at reply %d: bind error %d after %lld ms", variant->mode, at,
	       r.err, r.ms);
	EXPECT_TRUE(r.err == -EIO || r.err == -EPROTO || r.err == -ETIMEDOUT)
		TH_LOG("bind error %d", r.err);
	if (!r.err && r.name[0])
		vu_unbind(r.name);
	/* The fds the handshake received went nowhere but the kernel. */
	EXPECT_EQ(r.fds_before, r.fds_after);

	/*
	 * The server lets go of its files now (it keeps the BAR2 memfd and
	 * its mapping until it exits, see server/hostile.c): if the driver
	 * put the memfd once too often, its last reference goes before the
	 * server's fd does, and the kernel's check at close reports it.
	 */
	EXPECT_EQ(0, vu_server_kill(&self->srv, vu_ms(2000)))
		TH_LOG("the server, killed, never exited");
	EXPECT_EQ(groups, vu_count_groups());
	EXPECT_EQ(highest, vu_highest_id());
	EXPECT_EQ(fds, vu_count_fds());
	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
	EXPECT_LT(vu_slab_kb() - slab, 1024);
	usleep(vu_ms(200));
	EXPECT_EQ(0, vu_kmsg_findings(self->kmsg, first, sizeof(first)))
		TH_LOG("dmesg: %s", first);
}

TEST_F(fd_reply, at_version)
{
	bind_fails_cleanly(_metadata, self, variant, 0);
}

TEST_F(fd_reply, at_device_info)
{
	bind_fails_cleanly(_metadata, self, variant, 1);
}

/* The reply the driver takes an fd from: the double-put of issue 11. */
TEST_F(fd_reply, at_region_fd)
{
	int at = first_fd_reply();

	ASSERT_LT(1, at) TH_LOG("no GET_REGION_INFO reply with an fd in the bind");
	bind_fails_cleanly(_metadata, self, variant, at);
}

/* ---- a server that drips its VERSION reply ---- */

static const char *const drip_args[] = { "--hostile", "drip", NULL };

/* Is @ch still inside its bind?  Otherwise say why the test is void. */
static bool still_binding(struct __test_metadata *_metadata,
			  struct vu_child *ch)
{
	struct vu_bind_result r;

	if (vu_child_wait(ch, 0, &r, sizeof(r)) == -ETIMEDOUT)
		return true;
	TH_LOG("the dripping bind ended already: error %d after %lld ms",
	       r.err, r.ms);
	return false;
}

/* One byte a second: the bind gives up at its timeout, not in minutes. */
TEST(drip_version_fails_within_timeout)
{
	int groups = vu_count_groups(), highest = vu_highest_id();
	struct vu_bind_result r;
	struct vu_server srv;
	struct vu_child ch;
	int err;

	ASSERT_EQ(0, vu_server_startv(&srv, drip_args));
	ASSERT_EQ(0, vu_bind_child(&ch, srv.path));
	err = vu_child_wait(&ch, BIND_BOUND_MS, &r, sizeof(r));
	if (err == -ETIMEDOUT) {
		VU_FAIL("bind still running after %d ms (timeout %d ms)",
			BIND_BOUND_MS, BIND_TIMEOUT_MS);
		vu_server_stop(&srv);
		err = vu_child_wait(&ch, vu_ms(5000), &r, sizeof(r));
		ASSERT_NE(-ETIMEDOUT, err) TH_LOG("bind stuck even without its server");
	}
	ASSERT_EQ(0, err);
	TH_LOG("bind error %d after %lld ms", r.err, r.ms);
	EXPECT_TRUE(r.err == -EIO || r.err == -EPROTO || r.err == -ETIMEDOUT);
	vu_server_stop(&srv);
	EXPECT_EQ(groups, vu_count_groups());
	EXPECT_EQ(highest, vu_highest_id());
}

/*
 * While one bind waits for a dripping server, a bind of a healthy server
 * and del_device of another device go ahead at once: a slow server must
 * not take the whole bus hostage.
 */
TEST(drip_bind_holds_up_nobody)
{
	struct vu_server drip, healthy, other;
	struct vu_child dripper, binder, deleter;
	struct vu_bind_result r, dr;
	char other_name[32];
	int err, del_err = 1;

	ASSERT_EQ(0, vu_server_start(&other, NULL));
	ASSERT_EQ(0, vu_bind(other.path, other_name, sizeof(other_name)));
	ASSERT_EQ(0, vu_server_start(&healthy, NULL));
	ASSERT_EQ(0, vu_server_startv(&drip, drip_args));

	ASSERT_EQ(0, vu_bind_child(&dripper, drip.path));
	usleep(vu_ms(300));
	ASSERT_TRUE(still_binding(_metadata, &dripper));

	ASSERT_EQ(0, vu_bind_child(&binder, healthy.path));
	ASSERT_EQ(0, vu_unbind_child(&deleter, other_name));
	err = vu_child_wait(&binder, vu_ms(1000), &r, sizeof(r));
	EXPECT_EQ(0, err) TH_LOG("bind of a healthy server still waiting after %d ms",
				 vu_ms(1000));
	if (!err) {
		EXPECT_EQ(0, r.err);
		TH_LOG("healthy bind: %lld ms", r.ms);
	}
	err = vu_child_wait(&deleter, vu_ms(1000), &del_err, sizeof(del_err));
	EXPECT_EQ(0, err) TH_LOG("del_device of another device still waiting after %d ms",
				 vu_ms(1000));
	if (!err)
		EXPECT_EQ(0, del_err);

	/* Let everything finish: without its server the dripping bind ends. */
	vu_server_stop(&drip);
	ASSERT_EQ(0, vu_child_wait(&dripper, vu_ms(5000), &dr, sizeof(dr)))
		TH_LOG("dripping bind stuck even without its server");
	EXPECT_NE(0, dr.err);
	ASSERT_EQ(0, vu_child_wait(&binder, vu_ms(5000), &r, sizeof(r)));
	ASSERT_EQ(0, vu_child_wait(&deleter, vu_ms(5000), &del_err, sizeof(del_err)));
	EXPECT_EQ(0, r.err);
	EXPECT_EQ(0, del_err);
	if (r.name[0])
		EXPECT_EQ(0, vu_unbind(r.name));
	EXPECT_FALSE(vu_exists(other_name));
	vu_server_stop(&healthy);
	vu_server_stop(&other);
}

/* The writer of a dripping bind dies at once when killed. */
TEST(drip_bind_writer_dies_when_killed)
{
	int groups = vu_count_groups(), highest = vu_highest_id();
	struct vu_server srv, healthy;
	struct vu_bind_result r;
	struct vu_child ch;
	long long killed;
	char name[32];
	int err;

	ASSERT_EQ(0, vu_server_startv(&srv, drip_args));
	ASSERT_EQ(0, vu_bind_child(&ch, srv.path));
	usleep(vu_ms(300));
	ASSERT_TRUE(still_binding(_metadata, &ch));
	killed = vu_now_ms();
	err = vu_child_kill(&ch, vu_ms(1000), &r, sizeof(r));
	if (err == -ETIMEDOUT) {
		VU_FAIL("killed writer still in the kernel after %d ms",
			vu_ms(1000));
		vu_server_stop(&srv);
		err = vu_child_wait(&ch, vu_ms(5000), &r, sizeof(r));
		ASSERT_NE(-ETIMEDOUT, err) TH_LOG("writer stuck even without its server");
	} else {
		TH_LOG("killed writer gone after %lld ms", vu_now_ms() - killed);
	}
	EXPECT_TRUE(WIFSIGNALED(ch.status) && WTERMSIG(ch.status) == SIGKILL);
	vu_server_stop(&srv);
	EXPECT_EQ(groups, vu_count_groups());
	EXPECT_EQ(highest, vu_highest_id());

	/* And the bus is free again. */
	ASSERT_EQ(0, vu_server_start(&healthy, NULL));
	EXPECT_EQ(0, vu_bind(healthy.path, name, sizeof(name)));
	EXPECT_EQ(0, vu_unbind(name));
	vu_server_stop(&healthy);
}

TEST_HARNESS_MAIN
