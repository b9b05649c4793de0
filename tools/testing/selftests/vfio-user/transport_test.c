// SPDX-License-Identifier: GPL-2.0
/*
 * The transport seen through the VFIO device fd: region accesses become
 * REGION_READ/REGION_WRITE, many threads pipeline requests and get their
 * own replies even when the server answers out of order, and every wait
 * on a silent or dead server ends within the timeout.
 */
#include <pthread.h>

#include "kselftest_harness.h"
#include "test_device.h"
#include "vu_test.h"

#define BAR0	vu_region_off(0)
#define BAR2	vu_region_off(2)

FIXTURE(dev) {
	struct vu_server srv;
	struct vu_vfio v;
	char name[32];
};

FIXTURE_VARIANT(dev) {
	const char *const *args;
};

FIXTURE_VARIANT_ADD(dev, in_order) {
	.args = (const char *const[]){ NULL },
};

FIXTURE_VARIANT_ADD(dev, reordered) {
	.args = (const char *const[]){ "--reorder", "8", NULL },
};

FIXTURE_SETUP(dev)
{
	self->v.container = self->v.group = self->v.device = -1;
	ASSERT_EQ(0, vu_server_startv(&self->srv, variant->args));
	ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));
	ASSERT_EQ(0, vu_vfio_open(self->name, &self->v));
}

FIXTURE_TEARDOWN(dev)
{
	vu_vfio_close(&self->v);
	if (vu_exists(self->name))
		vu_unbind(self->name);
	vu_server_stop(&self->srv);
}

TEST_F(dev, register_read_write)
{
	uint32_t val = 0, count_before = 0, count_after = 0;

	ASSERT_EQ(4, pread(self->v.device, &val, 4, BAR0 + TDEV_REG_MAGIC));
	EXPECT_EQ(TDEV_MAGIC_VALUE, val);

	ASSERT_EQ(4, pread(self->v.device, &count_before, 4, BAR0 + TDEV_REG_WRITE_COUNT));
	val = 0xdeadbeef;
	ASSERT_EQ(4, pwrite(self->v.device, &val, 4, BAR0 + TDEV_REG_SCRATCH));
	val = 0;
	ASSERT_EQ(4, pread(self->v.device, &val, 4, BAR0 + TDEV_REG_SCRATCH));
	EXPECT_EQ(0xdeadbeef, val);
	ASSERT_EQ(4, pread(self->v.device, &count_after, 4, BAR0 + TDEV_REG_WRITE_COUNT));
	EXPECT_EQ(count_before + 1, count_after);
}

/* A large access is split by max_data_xfer_size and clipped at the end. */
TEST_F(dev, large_and_clipped_access)
{
	static uint8_t out[TDEV_BAR2_SIZE], in[TDEV_BAR2_SIZE];
	unsigned int i;

	for (i = 0; i < sizeof(out); i++)
		out[i] = i * 7 + 3;
	ASSERT_EQ(sizeof(out), pwrite(self->v.device, out, sizeof(out), BAR2));
	ASSERT_EQ(sizeof(in), pread(self->v.device, in, sizeof(in), BAR2));
	EXPECT_EQ(0, memcmp(in, out, sizeof(in)));

	/* Past the end: clipped like vfio-pci, then refused. */
	EXPECT_EQ(16, pread(self->v.device, in, 64, BAR2 + TDEV_BAR2_SIZE - 16));
	EXPECT_EQ(-1, pread(self->v.device, in, 4, BAR2 + TDEV_BAR2_SIZE));
	EXPECT_EQ(EINVAL, errno);
}

/* Offsets the VMM may get wrong are refused before anything is sent. */
TEST_F(dev, bad_offsets)
{
	uint32_t val;

	EXPECT_EQ(-1, pread(self->v.device, &val, 4, vu_region_off(1)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pread(self->v.device, &val, 4, vu_region_off(TDEV_NUM_REGIONS)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pread(self->v.device, &val, 4, vu_region_off(0xffffff)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pread(self->v.device, &val, 4, BAR0 + TDEV_BAR0_SIZE));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pread(self->v.device, &val, 4, (off_t)-8));
	EXPECT_EQ(EINVAL, errno);
	/* Still healthy afterwards. */
	ASSERT_EQ(4, pread(self->v.device, &val, 4, BAR0 + TDEV_REG_MAGIC));
	EXPECT_EQ(TDEV_MAGIC_VALUE, val);
}

#define THREADS		8
#define OPS		400
#define SLICE		(TDEV_BAR2_SIZE / THREADS)

struct worker {
	int fd;
	int index;
	int errors;
};

/*
 * Each thread owns a slice of BAR2, writes a pattern unique to it and the
 * iteration and reads it back: a reply delivered to the wrong caller shows
 * up as a foreign pattern.
 */
static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	off_t base = BAR2 + w->index * SLICE;
	uint64_t out, in;
	int i;

	for (i = 0; i < OPS; i++) {
		off_t off = base + (i % (SLICE / 8)) * 8;

		out = ((uint64_t)w->index << 32) | i;
		if (pwrite(w->fd, &out, 8, off) != 8)
			w->errors++;
		if (pread(w->fd, &in, 8, off) != 8 || in != out)
			w->errors++;
	}
	return NULL;
}

TEST_F(dev, concurrent_callers_get_their_replies)
{
	struct worker w[THREADS];
	pthread_t th[THREADS];
	char stats[1024], file[128];
	int i, errors = 0;

	for (i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .fd = self->v.device, .index = i };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, worker_fn, &w[i]));
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		errors += w[i].errors;
	}
	EXPECT_EQ(0, errors);

	snprintf(file, sizeof(file), "/sys/kernel/debug/vfio-user/%s/stats", self->name);
	if (!vu_read_file(file, stats, sizeof(stats))) {
		EXPECT_NE(NULL, strstr(stats, "in_flight: 0"));
		EXPECT_NE(NULL, strstr(stats, "errors: 0"));
	}
	EXPECT_STREQ("connected", vu_attr(self->name, "state", file, sizeof(file)));
}

/* Bind a server with @args and open its device. */
static int open_with(struct vu_server *srv, char *name, struct vu_vfio *v,
		     const char *const *args)
{
	int err = vu_server_startv(srv, args);

	if (!err)
		err = vu_bind(srv->path, name, 32);
	if (!err)
		err = vu_vfio_open(name, v);
	return err;
}


/* A server that stops answering: the caller gets ETIMEDOUT in time. */
TEST(silent_server_times_out)
{
	const char *args[] = { "--hostile", "no-reply", "--hostile-after", vu_setup_commands(), NULL };
	struct vu_server srv;
	struct vu_vfio v;
	char name[32], buf[128];
	long long start, took;
	uint32_t val;

	ASSERT_EQ(0, open_with(&srv, name, &v, args));
	ASSERT_EQ(0, vu_set_attr(name, "request_timeout_ms", "300"));
	start = vu_now_ms();
	EXPECT_EQ(-1, pread(v.device, &val, 4, BAR0));
	EXPECT_EQ(ETIMEDOUT, errno);
	took = vu_now_ms() - start;
	EXPECT_GE(took, 290);
	EXPECT_LT(took, 1300);
	EXPECT_STREQ("broken", vu_attr(name, "state", buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(vu_attr(name, "broken_reason", buf, sizeof(buf)), "no reply"));

	/* Broken stays broken: later calls fail at once. */
	start = vu_now_ms();
	EXPECT_EQ(-1, pread(v.device, &val, 4, BAR0));
	EXPECT_EQ(EIO, errno);
	EXPECT_LT(vu_now_ms() - start, vu_ms(100));

	vu_vfio_close(&v);
	EXPECT_EQ(0, vu_unbind(name));
	vu_server_stop(&srv);
}

struct blocked {
	int fd;
	int err;
	long long took;
};

static void *blocked_read(void *arg)
{
	struct blocked *b = arg;
	long long start = vu_now_ms();
	uint32_t val;

	b->err = pread(b->fd, &val, 4, BAR0) == 4 ? 0 : errno;
	b->took = vu_now_ms() - start;
	return NULL;
}

/*
 * Callers blocked on a server that stopped answering all return as soon
 * as it dies, long before the timeout: death is noticed from the socket,
 * not by waiting.
 */
TEST(server_death_fails_blocked_callers_at_once)
{
	const char *args[] = { "--hostile", "no-reply", "--hostile-after", vu_setup_commands(), NULL };
	struct blocked b[4];
	pthread_t th[4];
	struct vu_server srv;
	struct vu_vfio v;
	char name[32], buf[128];
	int i, failed = 0;

	ASSERT_EQ(0, open_with(&srv, name, &v, args));
	ASSERT_EQ(0, vu_set_attr(name, "request_timeout_ms", "20000"));
	for (i = 0; i < 4; i++) {
		b[i] = (struct blocked){ .fd = v.device };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, blocked_read, &b[i]));
	}
	usleep(300000);
	vu_server_stop(&srv);
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		/* The unanswered ones fail; any the server did answer, pass. */
		EXPECT_TRUE(b[i].err == 0 || b[i].err == EIO) TH_LOG("err %d", b[i].err);
		EXPECT_LT(b[i].took, 2500);
		failed += b[i].err == EIO;
	}
	EXPECT_GE(failed, 1);
	EXPECT_TRUE(vu_wait_attr(name, "state", "broken", vu_ms(1000)));
	EXPECT_NE(NULL, strstr(vu_attr(name, "broken_reason", buf, sizeof(buf)),
			       "closed the connection"));
	vu_vfio_close(&v);
	EXPECT_EQ(0, vu_unbind(name));
}

TEST_HARNESS_MAIN
