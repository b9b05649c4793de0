// SPDX-License-Identifier: GPL-2.0
/*
 * Binding and deleting vfio-user devices through sysfs: what appears, the
 * errors for bad input, who may bind, and that hundreds of cycles leak
 * nothing.
 */
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "kselftest_harness.h"
#include "test_device.h"
#include "vu_test.h"

FIXTURE(bind) {
	struct vu_server srv;
	char name[32];
};

FIXTURE_SETUP(bind)
{
	ASSERT_EQ(0, vu_server_start(&self->srv, NULL));
	self->name[0] = '\0';
}

FIXTURE_TEARDOWN(bind)
{
	if (self->name[0] && vu_exists(self->name))
		vu_unbind(self->name);
	vu_server_stop(&self->srv);
}

/* A bind creates the device, its attributes, an iommu group and a node. */
TEST_F(bind, creates_device)
{
	char buf[128], node[64];
	struct stat st;
	int group;

	ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));
	EXPECT_STREQ(self->srv.path, vu_attr(self->name, "socket_path", buf, sizeof(buf)));
	EXPECT_STREQ("connected", vu_attr(self->name, "state", buf, sizeof(buf)));
	EXPECT_STREQ("", vu_attr(self->name, "broken_reason", buf, sizeof(buf)));
	EXPECT_STREQ("0.0", vu_attr(self->name, "protocol_version", buf, sizeof(buf)));
	EXPECT_STREQ("5000", vu_attr(self->name, "request_timeout_ms", buf, sizeof(buf)));
	EXPECT_STREQ("8", vu_attr(self->name, "capabilities/max_msg_fds", buf, sizeof(buf)));
	EXPECT_STREQ("1048576",
		     vu_attr(self->name, "capabilities/max_data_xfer_size", buf, sizeof(buf)));
	EXPECT_STREQ("0x1000", vu_attr(self->name, "capabilities/pgsizes", buf, sizeof(buf)));
	EXPECT_STREQ("1", vu_attr(self->name, "capabilities/migration", buf, sizeof(buf)));
	EXPECT_STREQ("0", vu_attr(self->name, "capabilities/twin_socket", buf, sizeof(buf)));

	group = vu_group_id(self->name);
	ASSERT_GE(group, 0);
	snprintf(node, sizeof(node), "/dev/vfio/%d", group);
	ASSERT_EQ(0, stat(node, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));

	ASSERT_EQ(0, vu_unbind(self->name));
	EXPECT_FALSE(vu_exists(self->name));
	EXPECT_NE(0, stat(node, &st));
	self->name[0] = '\0';
}

/* del_device takes the name with white space around it, as echo writes it. */
TEST_F(bind, delete_trims_white_space)
{
	char padded[48];

	ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));
	snprintf(padded, sizeof(padded), "  %s \n", self->name);
	ASSERT_EQ(0, vu_write_file(VU_BUS "/del_device", padded));
	EXPECT_FALSE(vu_exists(self->name));
	self->name[0] = '\0';
}

/* The timeout is writable within its bounds only. */
TEST_F(bind, request_timeout_attr)
{
	char buf[32];

	ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));
	EXPECT_EQ(0, vu_set_attr(self->name, "request_timeout_ms", "250"));
	EXPECT_STREQ("250", vu_attr(self->name, "request_timeout_ms", buf, sizeof(buf)));
	EXPECT_EQ(-ERANGE, vu_set_attr(self->name, "request_timeout_ms", "1"));
	EXPECT_EQ(-ERANGE, vu_set_attr(self->name, "request_timeout_ms", "99999999"));
	EXPECT_EQ(-EINVAL, vu_set_attr(self->name, "request_timeout_ms", "soon"));
}

/* Every bad path gets its own errno. */
TEST(bad_paths)
{
	char longpath[200], file[] = "/tmp/vu-notsock-XXXXXX";
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/vu-nolisten-XXXXXX";
	int fd, s;

	EXPECT_EQ(-EINVAL, vu_write_file(VU_BUS "/new_device", "relative/sock"));
	EXPECT_EQ(-EINVAL, vu_write_file(VU_BUS "/new_device", "\n"));

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	EXPECT_EQ(-ENAMETOOLONG, vu_write_file(VU_BUS "/new_device", longpath));

	EXPECT_EQ(-ENOENT, vu_write_file(VU_BUS "/new_device", "/nonexistent/vu.sock"));

	fd = mkstemp(file);
	ASSERT_GE(fd, 0);
	close(fd);
	EXPECT_EQ(-ENOTSOCK, vu_write_file(VU_BUS "/new_device", file));
	unlink(file);

	/* A socket file nobody listens on. */
	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/sock", dir);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	ASSERT_GE(s, 0);
	ASSERT_EQ(0, bind(s, (struct sockaddr *)&sun, sizeof(sun)));
	EXPECT_EQ(-ECONNREFUSED, vu_write_file(VU_BUS "/new_device", sun.sun_path));
	close(s);
	unlink(sun.sun_path);
	rmdir(dir);

	EXPECT_EQ(-ENODEV, vu_write_file(VU_BUS "/del_device", "vfio-user999999"));
	EXPECT_EQ(-ENODEV, vu_write_file(VU_BUS "/del_device", "nonsense"));
}

/*
 * Only CAP_SYS_ADMIN binds or deletes.  root without it gets EPERM from
 * the driver; other users are stopped by the file mode (0200) first.
 */
TEST_F(bind, needs_cap_sys_admin)
{
	int status;
	pid_t pid;

	ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		if (vu_drop_sys_admin())
			_exit(10);
		if (vu_write_file(VU_BUS "/new_device", self->srv.path) != -EPERM)
			_exit(11);
		if (vu_write_file(VU_BUS "/del_device", self->name) != -EPERM)
			_exit(12);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(10);
		if (vu_write_file(VU_BUS "/new_device", self->srv.path) != -EACCES)
			_exit(11);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_TRUE(vu_exists(self->name));
}

/* Several devices at once, on one server that accepts them in turn. */
TEST(several_devices)
{
	struct vu_server srv[3];
	char names[3][32], buf[32];
	int i;

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, vu_server_start(&srv[i], NULL));
		ASSERT_EQ(0, vu_bind(srv[i].path, names[i], sizeof(names[i])));
	}
	for (i = 0; i < 3; i++)
		EXPECT_STREQ("connected", vu_attr(names[i], "state", buf, sizeof(buf)));
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(0, vu_unbind(names[i]));
		vu_server_stop(&srv[i]);
	}
}

/* A dead server's device can still be deleted, and says it is broken. */
TEST_F(bind, delete_after_server_death)
{
	char buf[128];

	ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));
	vu_server_stop(&self->srv);
	EXPECT_TRUE(vu_wait_attr(self->name, "state", "broken", vu_ms(2000)));
	vu_attr(self->name, "broken_reason", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "closed the connection"));
	EXPECT_EQ(0, vu_unbind(self->name));
	EXPECT_FALSE(vu_exists(self->name));
	self->name[0] = '\0';
}

/* Every frame each way shows up as a trace event. */
TEST_F(bind, trace_events)
{
	static const char *const tracing[] = { "/sys/kernel/tracing",
					       "/sys/kernel/debug/tracing" };
	char file[128], *trace;
	const char *dir = NULL;
	unsigned int i;
	size_t len = 0;
	ssize_t n;
	int fd;

	for (i = 0; i < 2 && !dir; i++) {
		snprintf(file, sizeof(file), "%s/events/vfio_user/enable", tracing[i]);
		if (!access(file, W_OK))
			dir = tracing[i];
	}
	if (!dir)
		SKIP(return, "no tracefs");
	snprintf(file, sizeof(file), "%s/trace", dir);
	ASSERT_EQ(0, vu_write_file(file, ""));
	snprintf(file, sizeof(file), "%s/events/vfio_user/enable", dir);
	ASSERT_EQ(0, vu_write_file(file, "1"));
	ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));
	ASSERT_EQ(0, vu_write_file(file, "0"));

	snprintf(file, sizeof(file), "%s/trace", dir);
	trace = malloc(1 << 20);
	ASSERT_NE(NULL, trace);
	fd = open(file, O_RDONLY);
	ASSERT_GE(fd, 0);
	while (len < (1 << 20) - 1 && (n = read(fd, trace + len, (1 << 20) - 1 - len)) > 0)
		len += n;
	trace[len] = '\0';
	close(fd);
	/* VERSION out and its reply in, with the device's name. */
	EXPECT_NE(NULL, strstr(trace, "vfio_user_send:"));
	EXPECT_NE(NULL, strstr(trace, "vfio_user_recv:"));
	snprintf(file, sizeof(file), "%s id=0 cmd=1 ", self->name);
	EXPECT_NE(NULL, strstr(trace, file)) TH_LOG("no VERSION frame in the trace");
	free(trace);
}

#define CYCLES 300

/* Hundreds of bind/delete cycles leave nothing behind. */
TEST_F(bind, cycles_do_not_leak)
{
	long slab_before, slab_after;
	int fds_before, groups_before, i;

	/* Warm caches and per-cpu slabs before taking the baseline. */
	for (i = 0; i < 20; i++) {
		ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));
		ASSERT_EQ(0, vu_unbind(self->name));
	}
	fds_before = vu_count_fds();
	groups_before = vu_count_groups();
	slab_before = vu_slab_kb();

	for (i = 0; i < CYCLES; i++) {
		ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));
		ASSERT_EQ(0, vu_unbind(self->name));
	}
	self->name[0] = '\0';

	slab_after = vu_slab_kb();
	EXPECT_EQ(fds_before, vu_count_fds());
	EXPECT_EQ(groups_before, vu_count_groups());
	EXPECT_EQ(0, vu_module_refcnt());
	/* Each leaked device would cost kilobytes: 300 of them show. */
	TH_LOG("slab %ld kB -> %ld kB over %d cycles", slab_before, slab_after, CYCLES);
	EXPECT_LT(slab_after - slab_before, 512);
}

struct racing_bind {
	const char *path;
	int err;
	volatile bool done;
};

static void *racing_bind_fn(void *arg)
{
	struct racing_bind *b = arg;

	b->err = vu_write_file(VU_BUS "/new_device", b->path);
	b->done = true;
	return NULL;
}

/* The name the next bind gets: the lowest vfio-userN not in use. */
static void next_name(char *buf, size_t size)
{
	int n;

	for (n = 0;; n++) {
		snprintf(buf, size, "vfio-user%d", n);
		if (!vu_exists(buf))
			return;
	}
}

/*
 * del_device of the device a bind is still making: once the device is
 * listed it may go at once, so the bind must have finished with it by then
 * (it used to add its debugfs directory after: a use after free under
 * KASAN).  Whoever wins, nothing is left and the kernel log stays clean.
 */
TEST(delete_racing_bind)
{
	int i, rounds = vu_stress(100), deleted_first = 0;
	int kmsg = vu_kmsg_open();
	struct vu_server srv;
	char name[32], first[256], dir[96];
	pthread_t th;

	ASSERT_EQ(0, vu_server_start(&srv, NULL));
	for (i = 0; i < rounds; i++) {
		struct racing_bind b = { .path = srv.path };

		next_name(name, sizeof(name));
		ASSERT_EQ(0, pthread_create(&th, NULL, racing_bind_fn, &b));
		while (!b.done) {
			if (!vu_write_file(VU_BUS "/del_device", name)) {
				deleted_first += !b.done;
				break;
			}
		}
		pthread_join(th, NULL);
		ASSERT_EQ(0, b.err);
		if (vu_exists(name))
			ASSERT_EQ(0, vu_unbind(name));
		/* A directory added after the delete would outlive the device. */
		snprintf(dir, sizeof(dir), "/sys/kernel/debug/vfio-user/%s", name);
		ASSERT_NE(0, access(dir, F_OK));
	}
	EXPECT_FALSE(vu_exists(name));
	TH_LOG("%d of %d devices deleted before their bind returned", deleted_first, rounds);
	if (kmsg >= 0) {
		EXPECT_EQ(0, vu_kmsg_findings(kmsg, first, sizeof(first)))
			TH_LOG("kernel log: %s", first);
		close(kmsg);
	}
	vu_server_stop(&srv);
}

TEST_HARNESS_MAIN
