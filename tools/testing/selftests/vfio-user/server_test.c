// SPDX-License-Identifier: GPL-2.0
/*
 * The test server seen from a userspace vfio-user client (lib/vfu_client):
 * every command, the device behind it, the options, and every --hostile
 * mode.  Needs no kernel driver, so it runs on the host and in the guest.
 *
 * Environment:
 *   VFU_SERVER_VALGRIND=1  run the server under valgrind (leaks and memory
 *                          errors make it exit 99, which fails the test)
 *   VFU_SERVER_VERBOSE=1   pass -v to the server
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "test_device.h"
#include "lib/vfu_client.h"

#define HDR		sizeof(struct vfio_user_header)
#define BAR0		VFIO_PCI_BAR0_REGION_INDEX
#define BAR2		VFIO_PCI_BAR2_REGION_INDEX
#define BAR4		VFIO_PCI_BAR4_REGION_INDEX
#define CONFIG		VFIO_PCI_CONFIG_REGION_INDEX
#define ARGS(...)	((const char *const[]){ __VA_ARGS__, NULL })
#define SERVER_WAIT_MS	30000	/* generous: valgrind is slow to start */
/* From server/server.h, which this side does not include. */
#define FD_OVERSIZE	(128u << 10)	/* FD_OVERSIZE_PAYLOAD */
#define STREAM_WINDOW	8		/* the server's STREAM_WINDOW */
/* fuzz_stream_is_reproducible's seeds that attach fds (see there). */
#define FUZZ_FD_SEEDS \
	{ "9", "fds-error", NULL }, { "19", "fds-many", NULL }, \
	{ "428", "fds-eof", NULL }, { "45", "fds-oversize", NULL }, \
	{ "59", "fds", NULL }, { "13", "intact", "reply-with-fds" }

#define DEFAULT_CAPS \
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576," \
	"\"pgsizes\":4096,\"max_dma_maps\":65535,\"migration\":" \
	"{\"pgsize\":4096,\"max_bitmap_size\":1048576}}}"

/* ---- server process ---- */

struct server {
	pid_t pid;
	char dir[64];
	char path[108];
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void server_binary(char *buf, size_t size)
{
	char self[PATH_MAX - 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	self[n > 0 ? n : 0] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(buf, size, "%s/vfio_user_test_server", self);
}

static bool env_set(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0");
}

/* Set by tests that expect the server to complain (bad command lines). */
static bool server_quiet;

static void exec_server(const char *path, int ready_fd,
			const char *const *extra, pid_t parent)
{
	static const char *const valgrind[] = {
		"valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
		"--errors-for-leak-kinds=definite,indirect,possible",
		"--show-leak-kinds=definite,indirect,possible",
	};
	const char *argv[64];
	char bin[PATH_MAX], fdarg[16];
	int argc = 0;
	size_t i;

	server_binary(bin, sizeof(bin));
	snprintf(fdarg, sizeof(fdarg), "%d", ready_fd);
	if (env_set("VFU_SERVER_VALGRIND"))
		for (i = 0; i < sizeof(valgrind) / sizeof(valgrind[0]); i++)
			argv[argc++] = valgrind[i];
	argv[argc++] = bin;
	argv[argc++] = "-s";
	argv[argc++] = path;
	argv[argc++] = "--ready-fd";
	argv[argc++] = fdarg;
	if (env_set("VFU_SERVER_VERBOSE"))
		argv[argc++] = "-v";
	for (i = 0; extra[i] && argc < 63; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	/*
	 * If the test dies without its teardown (a crash, an abort), the
	 * server must not outlive it: SIGTERM makes it clean up and exit.
	 */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	fcntl(ready_fd, F_SETFD, 0);	/* the one fd the server inherits */
	if (server_quiet)
		freopen("/dev/null", "w", stderr);
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}

/* Start a server with @extra arguments; 0 once it listens, or -errno. */
static int server_start(struct server *s, const char *const *extra)
{
	struct pollfd p;
	char ready[8];
	int pipefd[2];
	pid_t parent;

	if (!s->dir[0]) {
		snprintf(s->dir, sizeof(s->dir), "/tmp/vfu-server-test-XXXXXX");
		if (!mkdtemp(s->dir))
			return -errno;
		snprintf(s->path, sizeof(s->path), "%s/sock", s->dir);
	}
	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	parent = getpid();
	s->pid = fork();
	if (s->pid == 0)
		exec_server(s->path, pipefd[1], extra, parent);
	close(pipefd[1]);
	p = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
	if (s->pid < 0 || poll(&p, 1, SERVER_WAIT_MS) != 1 ||
	    read(pipefd[0], ready, sizeof(ready)) != 6) {
		close(pipefd[0]);
		return -ECHILD;
	}
	close(pipefd[0]);
	return 0;
}

/* Wait for the server to exit: its exit code, or -1 (signal/timeout). */
static int server_wait(struct server *s, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	int status;

	while (waitpid(s->pid, &status, WNOHANG) == 0) {
		if (now_ms() > end) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			s->pid = 0;
			return -1;
		}
		usleep(2000);
	}
	s->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* SIGTERM, as a supervisor would: the exit code, or -1. */
static int server_stop(struct server *s)
{
	if (s->pid <= 0)
		return 0;
	kill(s->pid, SIGTERM);
	return server_wait(s, SERVER_WAIT_MS);
}

static bool path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ---- small helpers ---- */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;		/* the DIR's own fd */
}

static int new_eventfd(void)
{
	return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

/* The eventfd's counter (and reset it), 0 if it was not signalled. */
static uint64_t efd_count(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* Is the connection closed by the server?  (EOF within @ms.) */
static bool peer_closed(struct vfu_client *c, int ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	char b[256];

	while (poll(&p, 1, ms) == 1) {
		ssize_t n = recv(c->fd, b, sizeof(b), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN))
			return true;
	}
	return false;
}

/* Is nothing at all readable on the connection within @ms? */
static bool silent(struct vfu_client *c, int ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	return poll(&p, 1, ms) == 0;
}

/* ---- fixture ---- */

FIXTURE(srv) {
	struct server s;
	struct vfu_client c;
};

FIXTURE_SETUP(srv)
{
	memset(self, 0, sizeof(*self));
	self->c.fd = -1;
}

FIXTURE_TEARDOWN(srv)
{
	if (self->c.fd >= 0)
		vfu_disconnect(&self->c);
	if (self->s.pid > 0) {
		/* A clean exit on SIGTERM (and, under valgrind, no leaks). */
		EXPECT_EQ(0, server_stop(&self->s));
		EXPECT_FALSE(path_exists(self->s.path));
	}
	unlink(self->s.path);
	if (self->s.dir[0])
		rmdir(self->s.dir);
}

typedef struct _test_data_srv srv_t;

static int srv_connect(srv_t *self)
{
	if (self->c.fd >= 0)
		vfu_disconnect(&self->c);
	return vfu_connect(&self->c, self->s.path);
}

static int srv_reconnect(srv_t *self)
{
	int err = srv_connect(self);

	return err ? err : vfu_negotiate(&self->c);
}

/* Start a server with these options, connect and negotiate. */
static int srv_up(srv_t *self, const char *const *args)
{
	int err = server_start(&self->s, args);

	return err ? err : srv_reconnect(self);
}

#define START(...)	ASSERT_EQ(0, server_start(&self->s, ARGS(__VA_ARGS__)))
#define UP(...)		ASSERT_EQ(0, srv_up(self, ARGS(__VA_ARGS__)))
#define C		(&self->c)

static uint32_t rd32(struct __test_metadata *_metadata, struct vfu_client *c,
		     uint32_t region, uint64_t off)
{
	uint32_t v = 0xdeadbeef;

	EXPECT_EQ(0, vfu_read32(c, region, off, &v));
	return v;
}

#define RD(region, off)		rd32(_metadata, C, region, off)
#define REG(off)		RD(BAR0, off)
#define WR(region, off, v)	ASSERT_EQ(0, vfu_write32(C, region, off, v))
#define WREG(off, v)		WR(BAR0, off, v)

static uint16_t cfg16(struct __test_metadata *_metadata, struct vfu_client *c,
		      uint64_t off)
{
	uint16_t v = 0xffff;

	EXPECT_EQ(0, vfu_region_read(c, CONFIG, off, &v, 2));
	return v;
}

static uint8_t cfg8(struct __test_metadata *_metadata, struct vfu_client *c,
		    uint64_t off)
{
	uint8_t v = 0xff;

	EXPECT_EQ(0, vfu_region_read(c, CONFIG, off, &v, 1));
	return v;
}

#define CFG8(off)	cfg8(_metadata, C, off)
#define CFG16(off)	cfg16(_metadata, C, off)
#define CFG32(off)	RD(CONFIG, off)

/* Send a command with an arbitrary payload and flags, wait for its reply. */
static int raw_cmd(struct vfu_client *c, uint16_t cmd, uint32_t flags,
		   const void *payload, size_t len, struct vfu_msg *m)
{
	uint16_t id;
	int err = vfu_send_cmd(c, cmd, flags, payload, len, NULL, 0, &id);

	return err ? err : vfu_wait_reply(c, id, cmd, m);
}

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

/* The server still answers (a cheap liveness probe after bad input). */
#define ALIVE()	EXPECT_EQ(TDEV_MAGIC_VALUE, REG(TDEV_REG_MAGIC))

/* ======================= VERSION ======================= */

TEST_F(srv, version_default_reply)
{
	uint16_t major, minor;
	char caps[4096];

	START("--once");
	ASSERT_EQ(0, srv_connect(self));
	ASSERT_EQ(0, vfu_version(C, 0, 0, VFU_CLIENT_CAPS, &major, &minor,
				 caps, sizeof(caps)));
	EXPECT_EQ(0, major);
	EXPECT_EQ(0, minor);
	EXPECT_STREQ(DEFAULT_CAPS, caps);
	ALIVE();
}

TEST_F(srv, version_minor_is_min_of_client_and_2)
{
	static const uint16_t offered[] = { 0, 1, 2, 3, 0xffff };
	static const uint16_t expected[] = { 0, 1, 2, 2, 2 };
	uint16_t major, minor;
	size_t i;

	START("--no-reset");
	for (i = 0; i < sizeof(offered) / sizeof(offered[0]); i++) {
		ASSERT_EQ(0, srv_connect(self));
		ASSERT_EQ(0, vfu_version(C, 0, offered[i], VFU_CLIENT_CAPS,
					 &major, &minor, NULL, 0));
		EXPECT_EQ(0, major);
		EXPECT_EQ(expected[i], minor);
	}
}

TEST_F(srv, version_override)
{
	uint16_t major, minor;

	START("--version", "1.7");
	ASSERT_EQ(0, srv_connect(self));
	ASSERT_EQ(0, vfu_version(C, 0, 0, VFU_CLIENT_CAPS, &major, &minor,
				 NULL, 0));
	EXPECT_EQ(1, major);
	EXPECT_EQ(7, minor);
	/* vfu_negotiate() insists on major 0, as a real client must. */
	ASSERT_EQ(0, srv_connect(self));
	EXPECT_EQ(-EPROTO, vfu_negotiate(C));
}

TEST_F(srv, caps_sent_verbatim_even_malformed)
{
	static const char bad[] =
		"{\"capabilities\":{\"max_msg_fds\":,\"frobnicate\":[1,2}";
	uint16_t major, minor;
	char caps[256];

	START("--caps", bad);
	ASSERT_EQ(0, srv_connect(self));
	ASSERT_EQ(0, vfu_version(C, 0, 0, NULL, &major, &minor, caps,
				 sizeof(caps)));
	EXPECT_STREQ(bad, caps);
}

TEST_F(srv, version_validates_client_json)
{
	static const char *const bad[] = {
		"{",
		"",
		"[]",
		"{\"capabilities\":5}",
		"{\"capabilities\":{\"max_msg_fds\":\"8\"}}",
		"{\"capabilities\":{\"pgsizes\":-4096}}",
		"{\"capabilities\":{\"max_dma_maps\":1.5}}",
		"{\"a\":1,}",
		"{\"a\":01}",
		"{\"a\":\"\\x\"}",
		"{\"a\":1} x",
	};
	static const char *const good[] = {
		"{}",
		" {\"capabilities\":{\"max_msg_fds\":16,\"unknown\":{\"x\":[true,"
		"false,null,-1.5e3,\"\\u00e9\"]}},\"vendor\":\"\"} ",
		VFU_CLIENT_CAPS,
	};
	uint16_t major, minor;
	size_t i;

	START("--no-reset");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(0, srv_connect(self));
		EXPECT_EQ(-EINVAL, vfu_version(C, 0, 0, bad[i], &major, &minor,
					       NULL, 0)) TH_LOG("json: %s", bad[i]);
		EXPECT_TRUE(C->last_error_from_server);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ASSERT_EQ(0, srv_connect(self));
		EXPECT_EQ(0, vfu_version(C, 0, 0, good[i], &major, &minor,
					 NULL, 0)) TH_LOG("json: %s", good[i]);
	}
	/* No JSON at all is fine (SPDK's client). */
	ASSERT_EQ(0, srv_connect(self));
	EXPECT_EQ(0, vfu_version(C, 0, 1, NULL, &major, &minor, NULL, 0));
}

TEST_F(srv, version_rejects_major_and_unterminated_json)
{
	struct { struct vfio_user_version v; char j[2]; } req = {
		.v = { 0, 0 }, .j = { '{', '}' },	/* no NUL */
	};
	uint16_t major, minor;
	struct vfu_msg m;

	START("--no-reset");
	ASSERT_EQ(0, srv_connect(self));
	EXPECT_EQ(-EINVAL, vfu_version(C, 1, 0, VFU_CLIENT_CAPS, &major,
				       &minor, NULL, 0));
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_VERSION, 0, &req, sizeof(req),
				   &m));
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_VERSION, 0, &req, 3, &m));
	/* A NUL in the middle: the JSON must fill the payload. */
	req.j[0] = '\0';
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_VERSION, 0, &req, sizeof(req),
				   &m));
	/* After all that the connection still negotiates. */
	EXPECT_EQ(0, vfu_negotiate(C));
}

TEST_F(srv, version_first_and_only_once)
{
	struct vfio_user_device_info info;

	START("--no-reset");
	ASSERT_EQ(0, srv_connect(self));
	EXPECT_EQ(-EINVAL, vfu_device_get_info(C, &info));
	ASSERT_EQ(0, vfu_negotiate(C));
	EXPECT_EQ(-EINVAL, vfu_negotiate(C));
	EXPECT_EQ(0, vfu_device_get_info(C, &info));
}

/* ======================= device info ======================= */

TEST_F(srv, device_info)
{
	struct vfio_user_device_info info, req = { .argsz = 8 };
	struct vfu_msg m;

	UP("--once");
	ASSERT_EQ(0, vfu_device_get_info(C, &info));
	EXPECT_EQ(sizeof(info), info.argsz);
	EXPECT_EQ(VFIO_USER_DEVICE_FLAGS_PCI | VFIO_USER_DEVICE_FLAGS_RESET,
		  info.flags);
	EXPECT_EQ(TDEV_NUM_REGIONS, info.num_regions);
	EXPECT_EQ(TDEV_NUM_IRQS, info.num_irqs);
	/* argsz below the structure, and a short payload */
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_DEVICE_GET_INFO, 0, &req,
				   sizeof(req), &m));
	req.argsz = sizeof(req);
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_DEVICE_GET_INFO, 0, &req, 8, &m));
}

TEST_F(srv, not_pci_and_no_reset)
{
	struct vfio_user_device_info info;

	UP("--not-pci", "--no-reset");
	ASSERT_EQ(0, vfu_device_get_info(C, &info));
	EXPECT_EQ(0, info.flags);
	EXPECT_EQ(-EINVAL, vfu_reset(C));
}

/* ======================= regions ======================= */

TEST_F(srv, region_info_all)
{
	static const uint64_t sizes[TDEV_NUM_REGIONS] = {
		TDEV_BAR0_SIZE, 0, TDEV_BAR2_SIZE, 0, TDEV_BAR4_SIZE, 0, 0,
		TDEV_CONFIG_SIZE, 0,
	};
	const uint32_t rw = VFIO_REGION_INFO_FLAG_READ |
			    VFIO_REGION_INFO_FLAG_WRITE;
	struct vfio_user_region_info info;
	uint32_t i;
	int fd;

	UP("--once");
	for (i = 0; i < TDEV_NUM_REGIONS; i++) {
		ASSERT_EQ(0, vfu_region_info(C, i, sizeof(info), &info, &fd));
		EXPECT_EQ(-1, fd);
		EXPECT_EQ(i, info.index);
		EXPECT_EQ(sizes[i], info.size);
		EXPECT_EQ(0, info.cap_offset);
		if (i == BAR2) {
			EXPECT_EQ(rw | VFIO_REGION_INFO_FLAG_MMAP |
				  VFIO_REGION_INFO_FLAG_CAPS, info.flags);
			EXPECT_EQ(TDEV_BAR2_INFO_ARGSZ, info.argsz);
		} else {
			EXPECT_EQ(sizes[i] ? rw : 0, info.flags);
			EXPECT_EQ(sizeof(info), info.argsz);
		}
	}
	EXPECT_EQ(-EINVAL, vfu_region_info(C, TDEV_NUM_REGIONS, sizeof(info),
					   &info, &fd));
	EXPECT_EQ(-EINVAL, vfu_region_info(C, 0, sizeof(info) - 1, &info, &fd));
}

TEST_F(srv, region_info_bar2_caps_and_fd)
{
	uint8_t buf[TDEV_BAR2_INFO_ARGSZ + 64];
	struct vfio_user_region_info *info = (void *)buf;
	struct vfio_region_info_cap_sparse_mmap *cap;
	uint32_t v;
	uint8_t *map;
	int fd;

	UP("--once");
	/* Step 1: too small for the caps: size needed, no caps, no fd. */
	ASSERT_EQ(0, vfu_region_info(C, BAR2, sizeof(*info), buf, &fd));
	EXPECT_EQ(-1, fd);
	ASSERT_EQ(TDEV_BAR2_INFO_ARGSZ, info->argsz);
	EXPECT_EQ(0, info->cap_offset);
	/* Step 2: big enough (and more): caps and the memfd. */
	ASSERT_EQ(0, vfu_region_info(C, BAR2, sizeof(buf), buf, &fd));
	ASSERT_GE(fd, 0);
	EXPECT_EQ(TDEV_BAR2_INFO_ARGSZ, info->argsz);
	EXPECT_EQ(TDEV_BAR2_SIZE, info->size);
	EXPECT_EQ(TDEV_BAR2_MMAP_OFFSET, info->offset);
	ASSERT_EQ(sizeof(*info), info->cap_offset);
	cap = (void *)(buf + info->cap_offset);
	EXPECT_EQ(VFIO_REGION_INFO_CAP_SPARSE_MMAP, cap->header.id);
	EXPECT_EQ(1, cap->header.version);
	EXPECT_EQ(0, cap->header.next);
	ASSERT_EQ(TDEV_BAR2_NR_AREAS, cap->nr_areas);
	EXPECT_EQ(TDEV_BAR2_AREA0_OFFSET, cap->areas[0].offset);
	EXPECT_EQ(TDEV_BAR2_AREA0_SIZE, cap->areas[0].size);
	EXPECT_EQ(TDEV_BAR2_AREA1_OFFSET, cap->areas[1].offset);
	EXPECT_EQ(TDEV_BAR2_AREA1_SIZE, cap->areas[1].size);

	/* The fd is BAR2: both ways. */
	map = mmap(NULL, TDEV_BAR2_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, info->offset);
	ASSERT_NE(MAP_FAILED, map);
	close(fd);
	memcpy(map + TDEV_BAR2_AREA1_OFFSET, "\x11\x22\x33\x44", 4);
	EXPECT_EQ(0x44332211, RD(BAR2, TDEV_BAR2_AREA1_OFFSET));
	WR(BAR2, 0x100, 0xcafef00d);
	memcpy(&v, map + 0x100, 4);
	EXPECT_EQ(0xcafef00d, v);
	munmap(map, TDEV_BAR2_SIZE);
}

TEST_F(srv, irq_info_all)
{
	static const uint32_t counts[TDEV_NUM_IRQS] = {
		TDEV_INTX_COUNT, TDEV_MSI_COUNT, TDEV_MSIX_COUNT,
		TDEV_ERR_COUNT, TDEV_REQ_COUNT,
	};
	static const uint32_t flags[TDEV_NUM_IRQS] = {
		VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
			VFIO_IRQ_INFO_AUTOMASKED,
		VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE,
		VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE,
		VFIO_IRQ_INFO_EVENTFD,
		VFIO_IRQ_INFO_EVENTFD,
	};
	struct vfio_user_irq_info info;
	uint32_t i;

	UP("--once");
	for (i = 0; i < TDEV_NUM_IRQS; i++) {
		ASSERT_EQ(0, vfu_irq_info(C, i, &info));
		EXPECT_EQ(sizeof(info), info.argsz);
		EXPECT_EQ(i, info.index);
		EXPECT_EQ(counts[i], info.count);
		EXPECT_EQ(flags[i], info.flags);
	}
	EXPECT_EQ(-EINVAL, vfu_irq_info(C, TDEV_NUM_IRQS, &info));
}

TEST_F(srv, bar0_registers)
{
	UP("--once");
	EXPECT_EQ(TDEV_MAGIC_VALUE, REG(TDEV_REG_MAGIC));
	EXPECT_EQ(0, REG(TDEV_REG_WRITE_COUNT));
	EXPECT_EQ(0, REG(TDEV_REG_SCRATCH));
	WREG(TDEV_REG_SCRATCH, 0x12345678);
	EXPECT_EQ(0x12345678, REG(TDEV_REG_SCRATCH));
	WREG(TDEV_REG_MAGIC, 0);			/* read-only */
	EXPECT_EQ(TDEV_MAGIC_VALUE, REG(TDEV_REG_MAGIC));
	WREG(TDEV_REG_WRITE_COUNT, 1000);		/* read-only */
	WREG(0x800, 0xffffffff);			/* unlisted: ignored */
	EXPECT_EQ(0, REG(0x800));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_RESERVED));	/* reserved */
	EXPECT_EQ(0, REG(TDEV_REG_IRQ_RAISE));		/* write-only */
	EXPECT_EQ(0, REG(TDEV_REG_BAR2_FILL));
	EXPECT_EQ(0, REG(TDEV_REG_RESET_COUNT));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_MAP_COUNT));
	EXPECT_EQ(0, REG(TDEV_REG_IRQ_COUNT));
	EXPECT_EQ(4, REG(TDEV_REG_WRITE_COUNT));	/* every write counts */
	EXPECT_EQ(0, REG(TDEV_BAR0_SIZE - 4));
}

TEST_F(srv, bar0_odd_sizes)
{
	uint64_t q = 0;
	uint8_t b = 0;
	uint16_t h = 0xffff;

	UP("--once");
	WREG(TDEV_REG_SCRATCH, 0xa1b2c3d4);
	ASSERT_EQ(0, vfu_region_read(C, BAR0, 1, &b, 1));
	EXPECT_EQ((TDEV_MAGIC_VALUE >> 8) & 0xff, b);
	ASSERT_EQ(0, vfu_region_read(C, BAR0, 0, &q, 8));
	EXPECT_EQ(0xa1b2c3d4ull << 32 | TDEV_MAGIC_VALUE, q);
	/* A partial dword write is ignored, but still counts. */
	ASSERT_EQ(0, vfu_region_write(C, BAR0, TDEV_REG_SCRATCH, &h, 2));
	EXPECT_EQ(0xa1b2c3d4, REG(TDEV_REG_SCRATCH));
	/* Unaligned 8 bytes at 2: only the dword at 4 is whole. */
	q = 0x1122334455667788ull;
	ASSERT_EQ(0, vfu_region_write(C, BAR0, 2, &q, 8));
	EXPECT_EQ((uint32_t)(q >> 16), REG(TDEV_REG_SCRATCH));
	EXPECT_EQ(3, REG(TDEV_REG_WRITE_COUNT));
}

TEST_F(srv, region_access_errors)
{
	uint8_t buf[64];
	struct vfio_user_region_access a = { .region = BAR0, .count = 4 };
	struct { struct vfio_user_region_access a; uint8_t d[8]; } w = {
		.a = { .region = BAR0, .count = 4 },	/* but 8 bytes follow */
	};
	struct vfu_msg m;

	UP("--once");
	EXPECT_EQ(-EINVAL, vfu_region_read(C, BAR0, TDEV_BAR0_SIZE - 2, buf, 4));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, BAR0, TDEV_BAR0_SIZE, buf, 1));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, BAR0, ~0ull - 1, buf, 4));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, BAR0, 0, buf, 0));
	EXPECT_EQ(-EINVAL, vfu_region_write(C, BAR0, 0, buf, 0));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, VFIO_PCI_BAR1_REGION_INDEX, 0,
					   buf, 4));
	EXPECT_EQ(-EINVAL, vfu_region_write(C, VFIO_PCI_ROM_REGION_INDEX, 0,
					    buf, 4));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, VFIO_PCI_VGA_REGION_INDEX, 0,
					   buf, 4));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, TDEV_NUM_REGIONS, 0, buf, 4));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, ~0u, 0, buf, 4));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, CONFIG, TDEV_CONFIG_SIZE - 1,
					   buf, 2));
	/* A read request with data, a write whose count disagrees */
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_REGION_READ, 0, &w, sizeof(w),
				   &m));
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_REGION_WRITE, 0, &w, sizeof(w),
				   &m));
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_REGION_WRITE, 0, &a, 8, &m));
	/* Nothing above reached BAR0 as a write. */
	EXPECT_EQ(0, REG(TDEV_REG_WRITE_COUNT));
}

TEST_F(srv, bar2_fill_and_big_transfers)
{
	static uint8_t buf[TDEV_BAR2_SIZE];
	static uint8_t big[TDEV_MAX_DATA_XFER];
	size_t i;
	bool ok = true;

	UP("--once");
	WREG(TDEV_REG_BAR2_FILL, 0x5a5aa5a5);
	ASSERT_EQ(0, vfu_region_read(C, BAR2, 0, buf, sizeof(buf)));
	for (i = 0; i < sizeof(buf); i += 4)
		ok &= *(uint32_t *)(buf + i) == 0x5a5aa5a5;
	EXPECT_TRUE(ok);
	/* The trapped hole is ordinary memory for messages. */
	WR(BAR2, TDEV_BAR2_AREA0_SIZE + 8, 0x01020304);
	EXPECT_EQ(0x01020304, RD(BAR2, TDEV_BAR2_AREA0_SIZE + 8));
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = i * 7;
	ASSERT_EQ(0, vfu_region_write(C, BAR2, 0, buf, sizeof(buf)));
	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(0, vfu_region_read(C, BAR2, 0, buf, sizeof(buf)));
	for (i = 0, ok = true; i < sizeof(buf); i++)
		ok &= buf[i] == (uint8_t)(i * 7);
	EXPECT_TRUE(ok);
	/* A max-size (1 MiB) transfer is framed fine, but past BAR2's end. */
	EXPECT_EQ(-EINVAL, vfu_region_write(C, BAR2, 0, big, sizeof(big)));
	EXPECT_EQ(-EINVAL, vfu_region_read(C, BAR2, 0, big, sizeof(big)));
	ALIVE();
}

/* ======================= config space ======================= */

TEST_F(srv, config_identity_and_caps)
{
	uint8_t pos;

	UP("--once");
	EXPECT_EQ(TDEV_VENDOR_ID, CFG16(PCI_VENDOR_ID));
	EXPECT_EQ(TDEV_DEVICE_ID, CFG16(PCI_DEVICE_ID));
	EXPECT_EQ(TDEV_CLASS << 8 | TDEV_REVISION, CFG32(PCI_CLASS_REVISION));
	EXPECT_EQ(PCI_HEADER_TYPE_NORMAL, CFG8(PCI_HEADER_TYPE));
	EXPECT_EQ(TDEV_SUBSYS_VENDOR_ID, CFG16(PCI_SUBSYSTEM_VENDOR_ID));
	EXPECT_EQ(TDEV_SUBSYS_ID, CFG16(PCI_SUBSYSTEM_ID));
	EXPECT_EQ(0, CFG16(PCI_COMMAND));
	EXPECT_TRUE(CFG16(PCI_STATUS) & PCI_STATUS_CAP_LIST);
	EXPECT_EQ(TDEV_INTERRUPT_PIN, CFG8(PCI_INTERRUPT_PIN));
	EXPECT_EQ(0, CFG32(PCI_BASE_ADDRESS_0));
	EXPECT_EQ(0, CFG32(PCI_ROM_ADDRESS));

	/* Walk the capability list as a guest driver would. */
	pos = CFG8(PCI_CAPABILITY_LIST);
	ASSERT_EQ(TDEV_MSI_CAP, pos);
	EXPECT_EQ(PCI_CAP_ID_MSI, CFG8(pos + PCI_CAP_LIST_ID));
	EXPECT_EQ(PCI_MSI_FLAGS_64BIT, CFG16(pos + PCI_MSI_FLAGS));
	pos = CFG8(pos + PCI_CAP_LIST_NEXT);
	ASSERT_EQ(TDEV_MSIX_CAP, pos);
	EXPECT_EQ(PCI_CAP_ID_MSIX, CFG8(pos + PCI_CAP_LIST_ID));
	EXPECT_EQ(TDEV_MSIX_COUNT - 1, CFG16(pos + PCI_MSIX_FLAGS));
	EXPECT_EQ(TDEV_MSIX_TABLE_OFFSET | TDEV_MSIX_BIR,
		  CFG32(pos + PCI_MSIX_TABLE));
	EXPECT_EQ(TDEV_MSIX_PBA_OFFSET | TDEV_MSIX_BIR,
		  CFG32(pos + PCI_MSIX_PBA));
	EXPECT_EQ(0, CFG8(pos + PCI_CAP_LIST_NEXT));
}

TEST_F(srv, config_writes)
{
	static const struct { unsigned int reg; uint32_t mask; } bars[] = {
		{ PCI_BASE_ADDRESS_0, TDEV_BAR0_MASK },
		{ PCI_BASE_ADDRESS_1, 0 },
		{ PCI_BASE_ADDRESS_2, TDEV_BAR2_MASK },
		{ PCI_BASE_ADDRESS_3, 0 },
		{ PCI_BASE_ADDRESS_4, TDEV_BAR4_MASK },
		{ PCI_BASE_ADDRESS_5, 0 },
		{ PCI_ROM_ADDRESS, 0 },
	};
	uint16_t v16 = 0xffff;
	size_t i;

	UP("--once");
	ASSERT_EQ(0, vfu_region_write(C, CONFIG, PCI_COMMAND, &v16, 2));
	EXPECT_EQ(TDEV_COMMAND_WMASK, CFG16(PCI_COMMAND));
	for (i = 0; i < sizeof(bars) / sizeof(bars[0]); i++) {
		WR(CONFIG, bars[i].reg, 0xffffffff);
		EXPECT_EQ(bars[i].mask, CFG32(bars[i].reg));
		WR(CONFIG, bars[i].reg, 0xfe012345);
		EXPECT_EQ(0xfe012345 & bars[i].mask, CFG32(bars[i].reg));
	}
	/* Read-only fields stay. */
	WR(CONFIG, PCI_VENDOR_ID, 0);
	EXPECT_EQ(TDEV_VENDOR_ID, CFG16(PCI_VENDOR_ID));
	WR(CONFIG, PCI_CAPABILITY_LIST & ~3, 0);
	EXPECT_EQ(TDEV_MSI_CAP, CFG8(PCI_CAPABILITY_LIST));
	/* MSI: only enable; MSI-X: enable and function mask. */
	v16 = 0xffff;
	ASSERT_EQ(0, vfu_region_write(C, CONFIG, TDEV_MSI_CAP + PCI_MSI_FLAGS,
				      &v16, 2));
	EXPECT_EQ(PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_ENABLE,
		  CFG16(TDEV_MSI_CAP + PCI_MSI_FLAGS));
	ASSERT_EQ(0, vfu_region_write(C, CONFIG, TDEV_MSIX_CAP + PCI_MSIX_FLAGS,
				      &v16, 2));
	EXPECT_EQ(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL |
		  (TDEV_MSIX_COUNT - 1), CFG16(TDEV_MSIX_CAP + PCI_MSIX_FLAGS));
	/* A whole-space write is fine and changes only writable bits. */
	{
		uint8_t ones[TDEV_CONFIG_SIZE];

		memset(ones, 0xff, sizeof(ones));
		ASSERT_EQ(0, vfu_region_write(C, CONFIG, 0, ones, sizeof(ones)));
		EXPECT_EQ(TDEV_DEVICE_ID, CFG16(PCI_DEVICE_ID));
		EXPECT_EQ(TDEV_BAR2_MASK, CFG32(PCI_BASE_ADDRESS_2));
	}
	/* Config writes are not BAR0 writes. */
	EXPECT_EQ(0, REG(TDEV_REG_WRITE_COUNT));
}

TEST_F(srv, bar4_msix_table_and_pba)
{
	unsigned int v;

	UP("--once");
	for (v = 0; v < TDEV_MSIX_COUNT; v++) {
		EXPECT_EQ(0, RD(BAR4, v * 16 + PCI_MSIX_ENTRY_DATA));
		EXPECT_EQ(PCI_MSIX_ENTRY_CTRL_MASKBIT,
			  RD(BAR4, v * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL));
	}
	WR(BAR4, 3 * 16 + PCI_MSIX_ENTRY_LOWER_ADDR, 0xfee00000);
	WR(BAR4, 3 * 16 + PCI_MSIX_ENTRY_DATA, 0x4021);
	WR(BAR4, 3 * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
	EXPECT_EQ(0xfee00000, RD(BAR4, 3 * 16 + PCI_MSIX_ENTRY_LOWER_ADDR));
	EXPECT_EQ(0x4021, RD(BAR4, 3 * 16 + PCI_MSIX_ENTRY_DATA));
	EXPECT_EQ(0, RD(BAR4, 3 * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL));
	WR(BAR4, TDEV_MSIX_PBA_OFFSET, 0xffffffff);	/* PBA is read-only */
	EXPECT_EQ(0, RD(BAR4, TDEV_MSIX_PBA_OFFSET));
	EXPECT_EQ(0, RD(BAR4, TDEV_BAR4_SIZE - 4));
	/* Table writes are not BAR0 writes either. */
	EXPECT_EQ(0, REG(TDEV_REG_WRITE_COUNT));
}

/* ======================= interrupts ======================= */

static const uint32_t irq_counts[TDEV_NUM_IRQS] = {
	TDEV_INTX_COUNT, TDEV_MSI_COUNT, TDEV_MSIX_COUNT, TDEV_ERR_COUNT,
	TDEV_REQ_COUNT,
};

static const uint32_t EVENTFD_TRIGGER = VFIO_IRQ_SET_DATA_EVENTFD |
					VFIO_IRQ_SET_ACTION_TRIGGER;
static const uint32_t NONE_TRIGGER = VFIO_IRQ_SET_DATA_NONE |
				     VFIO_IRQ_SET_ACTION_TRIGGER;
static const uint32_t BOOL_TRIGGER = VFIO_IRQ_SET_DATA_BOOL |
				     VFIO_IRQ_SET_ACTION_TRIGGER;

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

/* ======================= reset ======================= */

TEST_F(srv, reset_restores_defaults_keeps_irqs_and_dma)
{
	int e;

	UP("--once");
	ASSERT_LE(0, e = new_eventfd());
	ASSERT_EQ(0, vfu_set_irqs(C, EVENTFD_TRIGGER, VFIO_PCI_MSI_IRQ_INDEX,
				  0, 1, NULL, 0, &e, 1));
	ASSERT_EQ(0, vfu_dma_map(C, 0x100000, 0x1000, 0,
				 VFIO_USER_F_DMA_REGION_READ, -1));
	WREG(TDEV_REG_SCRATCH, 77);
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_MSI(0));
	EXPECT_EQ(1, efd_count(e));
	WR(CONFIG, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	WR(CONFIG, PCI_BASE_ADDRESS_2, 0xc0000000);
	WR(BAR4, PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
	WR(BAR2, 0, 0xabcdabcd);

	ASSERT_EQ(0, vfu_reset(C));
	EXPECT_EQ(1, REG(TDEV_REG_RESET_COUNT));
	EXPECT_EQ(0, REG(TDEV_REG_SCRATCH));
	EXPECT_EQ(0, REG(TDEV_REG_IRQ_COUNT));
	EXPECT_EQ(0, CFG16(PCI_COMMAND));
	EXPECT_EQ(0, CFG32(PCI_BASE_ADDRESS_2));
	EXPECT_EQ(1, RD(BAR4, PCI_MSIX_ENTRY_VECTOR_CTRL));
	EXPECT_EQ(1, REG(TDEV_REG_DMA_MAP_COUNT));
	/* BAR2 is memory, not a register: it keeps its contents. */
	EXPECT_EQ(0xabcdabcd, RD(BAR2, 0));
	/* WRITE_COUNT restarted at the reset (the reads above are reads). */
	EXPECT_EQ(0, REG(TDEV_REG_WRITE_COUNT));
	/* Interrupts stay registered. */
	WREG(TDEV_REG_IRQ_RAISE, TDEV_IRQ_RAISE_MSI(0));
	EXPECT_EQ(1, efd_count(e));
	ASSERT_EQ(0, vfu_reset(C));
	EXPECT_EQ(2, REG(TDEV_REG_RESET_COUNT));
	/* RESET takes no payload. */
	{
		struct vfu_msg m;
		uint32_t junk = 0;

		EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_DEVICE_RESET, 0, &junk,
					   4, &m));
	}
	close(e);
}

/* ======================= DMA ======================= */

TEST_F(srv, dma_map_unmap)
{
	const uint32_t rw = VFIO_USER_F_DMA_REGION_READ |
			    VFIO_USER_F_DMA_REGION_WRITE;
	struct vfio_user_dma_unmap echo;

	UP("--once");
	ASSERT_EQ(0, vfu_dma_map(C, 0x10000, 0x4000, 0, rw, -1));
	ASSERT_EQ(0, vfu_dma_map(C, 0x14000, 0x1000, 0, 0, -1)); /* adjacent */
	EXPECT_EQ(2, REG(TDEV_REG_DMA_MAP_COUNT));
	EXPECT_EQ(-EEXIST, vfu_dma_map(C, 0x13000, 0x2000, 0, rw, -1));
	EXPECT_EQ(-EEXIST, vfu_dma_map(C, 0x0f000, 0x2000, 0, rw, -1));
	EXPECT_EQ(-EEXIST, vfu_dma_map(C, 0x11000, 0x1000, 0, rw, -1));
	EXPECT_EQ(-EEXIST, vfu_dma_map(C, 0x0, 0x100000, 0, rw, -1));
	/* Unmap must match a map exactly. */
	EXPECT_EQ(-ENOENT, vfu_dma_unmap(C, 0x10000, 0x1000, 0, NULL));
	EXPECT_EQ(-ENOENT, vfu_dma_unmap(C, 0x10000, 0x5000, 0, NULL));
	memset(&echo, 0, sizeof(echo));
	ASSERT_EQ(0, vfu_dma_unmap(C, 0x10000, 0x4000, 0, &echo));
	EXPECT_EQ(sizeof(echo), echo.argsz);
	EXPECT_EQ(0, echo.flags);
	EXPECT_EQ(0x10000, echo.address);
	EXPECT_EQ(0x4000, echo.size);
	EXPECT_EQ(1, REG(TDEV_REG_DMA_MAP_COUNT));
	EXPECT_EQ(-ENOENT, vfu_dma_unmap(C, 0x10000, 0x4000, 0, NULL));
	/* The freed range can be mapped again. */
	ASSERT_EQ(0, vfu_dma_map(C, 0x10000, 0x2000, 0, rw, -1));
	/* UNMAP_ALL: address and size must be 0. */
	EXPECT_EQ(-EINVAL, vfu_dma_unmap(C, 0x10000, 0x2000,
					 VFIO_DMA_UNMAP_FLAG_ALL, NULL));
	ASSERT_EQ(0, vfu_dma_unmap(C, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &echo));
	EXPECT_EQ(VFIO_DMA_UNMAP_FLAG_ALL, echo.flags);
	EXPECT_EQ(0, REG(TDEV_REG_DMA_MAP_COUNT));
}

TEST_F(srv, dma_map_with_fd)
{
	int mfd = memfd_create("dma", MFD_CLOEXEC), dfd;
	const uint32_t rw = VFIO_USER_F_DMA_REGION_READ |
			    VFIO_USER_F_DMA_REGION_WRITE;

	UP("--once");
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, ftruncate(mfd, 0x10000));
	ASSERT_EQ(0, vfu_dma_map(C, 0x200000, 0x8000, 0x4000, rw, mfd));
	ASSERT_EQ(0, vfu_dma_map(C, 0x300000, 0x1000, 0,
				 VFIO_USER_F_DMA_REGION_READ, mfd));
	EXPECT_EQ(2, REG(TDEV_REG_DMA_MAP_COUNT));
	/* An fd the server cannot map: the error comes back. */
	ASSERT_LE(0, dfd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC));
	EXPECT_NE(0, vfu_dma_map(C, 0x400000, 0x1000, 0, rw, dfd));
	EXPECT_TRUE(C->last_error_from_server);
	close(dfd);
	ASSERT_EQ(0, vfu_dma_unmap(C, 0x200000, 0x8000, 0, NULL));
	ASSERT_EQ(0, vfu_dma_unmap(C, 0x300000, 0x1000, 0, NULL));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_MAP_COUNT));
	close(mfd);
}

TEST_F(srv, dma_errors)
{
	const uint32_t r = VFIO_USER_F_DMA_REGION_READ;
	struct vfio_user_dma_map map = {
		.argsz = sizeof(map), .address = 0x1000, .size = 0x1000,
	};
	int mfd = memfd_create("dma", MFD_CLOEXEC), fds[2];
	struct vfu_msg m;
	unsigned int i;

	UP("--once");
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, ftruncate(mfd, 0x1000));
	EXPECT_EQ(-EINVAL, vfu_dma_map(C, 0x1000, 0x1000, 0, 1u << 2, -1));
	EXPECT_EQ(-EINVAL, vfu_dma_map(C, 0x1001, 0x1000, 0, r, -1));
	EXPECT_EQ(-EINVAL, vfu_dma_map(C, 0x1000, 0x1001, 0, r, -1));
	EXPECT_EQ(-EINVAL, vfu_dma_map(C, 0x1000, 0, 0, r, -1));
	EXPECT_EQ(-EINVAL, vfu_dma_map(C, ~0xfffull, 0x2000, 0, r, -1));
	EXPECT_EQ(-EINVAL, vfu_dma_map(C, 0x1000, 0x1000, 0x10, r, mfd));
	EXPECT_EQ(-EINVAL, vfu_dma_unmap(C, 0, 0, 1u << 0, NULL));
	/* Two fds, short payload, small argsz */
	fds[0] = fds[1] = mfd;
	EXPECT_EQ(-EINVAL, vfu_cmd(C, VFIO_USER_DMA_MAP, &map, sizeof(map),
				   fds, 2, NULL, 0, NULL, NULL, NULL));
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_DMA_MAP, 0, &map, 24, &m));
	map.argsz = 8;
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_DMA_MAP, 0, &map, sizeof(map),
				   &m));
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_DMA_UNMAP, 0, &map, 16, &m));
	EXPECT_EQ(0, REG(TDEV_REG_DMA_MAP_COUNT));
	/* The table holds TDEV_MAX_DMA_MAPS. */
	for (i = 0; i < TDEV_MAX_DMA_MAPS; i++)
		ASSERT_EQ(0, vfu_dma_map(C, (i + 1) * 0x10000ull, 0x1000, 0, r,
					 i % 2 ? mfd : -1));
	EXPECT_EQ(-ENOSPC, vfu_dma_map(C, 0x10000000, 0x1000, 0, r, -1));
	EXPECT_EQ(TDEV_MAX_DMA_MAPS, REG(TDEV_REG_DMA_MAP_COUNT));
	close(mfd);
}

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
	long long end = now_ms() + 10000;
	uint32_t st;

	do {
		st = rd32(_metadata, c, BAR0, TDEV_REG_DMA_STATUS);
	} while (st == TDEV_DMA_STATUS_BUSY && now_ms() < end);
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
	before = count_fds();
	info.argsz = sizeof(info);
	EXPECT_EQ(-EINVAL, vfu_cmd(C, VFIO_USER_DEVICE_GET_INFO, &info,
				   sizeof(info), e, 1, NULL, 0, NULL, NULL,
				   NULL));
	/* 16 fds (as many as the server takes) for 8 MSI-X vectors */
	EXPECT_EQ(-EINVAL, vfu_set_irqs(C, EVENTFD_TRIGGER, 2, 0, 8, NULL, 0,
					e, VFU_MAX_FDS));
	EXPECT_EQ(0, vfu_device_get_info(C, &info));
	EXPECT_EQ(before, count_fds());
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
	t0 = now_ms();
	ASSERT_EQ(0, send_read_batch(C, 3, ids));
	for (i = 2; i >= 0; i--) {
		ASSERT_EQ(0, vfu_recv_msg(C, &m));
		EXPECT_EQ(ids[i], m.hdr.msg_id);
	}
	EXPECT_LT(now_ms() - t0, 1000);
}

TEST_F(srv, delay_every_reply)
{
	long long t0;

	UP("--delay-ms", "150");
	t0 = now_ms();
	ALIVE();
	EXPECT_GE(now_ms() - t0, 150);
	/* pipelined commands are delayed in parallel, not in series */
	{
		struct vfio_user_region_access a = {
			.offset = TDEV_REG_MAGIC, .region = BAR0, .count = 4,
		};
		struct vfu_msg m;
		int i;

		t0 = now_ms();
		for (i = 0; i < 5; i++)
			ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_REGION_READ, 0,
						  &a, sizeof(a), NULL, 0, NULL));
		for (i = 0; i < 5; i++)
			ASSERT_EQ(0, vfu_recv_msg(C, &m));
		EXPECT_GE(now_ms() - t0, 150);
		EXPECT_LT(now_ms() - t0, 700);
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
	EXPECT_EQ(0, server_wait(&self->s, SERVER_WAIT_MS));
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
	EXPECT_EQ(0, server_wait(&self->s, SERVER_WAIT_MS));
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
		EXPECT_EQ(2, server_wait(&self->s, SERVER_WAIT_MS));
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
	t0 = now_ms();
	ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_REGION_WRITE, 0, w, sizeof(w),
				  NULL, 0, &wid));
	ASSERT_EQ(0, vfu_send_cmd(C, VFIO_USER_REGION_READ, 0, &a, sizeof(a),
				  NULL, 0, &rid));
	/* The read (command 8, delay 0 given by number) comes first... */
	ASSERT_EQ(0, vfu_recv_msg(C, &m));
	EXPECT_EQ(rid, m.hdr.msg_id);
	EXPECT_LT(now_ms() - t0, 250);
	/* ...the write's after its 300 ms. */
	ASSERT_EQ(0, vfu_recv_msg(C, &m));
	EXPECT_EQ(wid, m.hdr.msg_id);
	EXPECT_GE(now_ms() - t0, 300);
	/* The write happened when it arrived, not when it was answered. */
	EXPECT_EQ(7, REG(TDEV_REG_SCRATCH));
}

/* A per-command delay wins over --delay-ms, which stays for the rest. */
TEST_F(srv, delay_reply_overrides_delay_ms)
{
	long long t0;

	UP("--delay-ms", "200", "--delay-reply", "region_read:0");
	t0 = now_ms();
	ALIVE();
	EXPECT_LT(now_ms() - t0, 150);
	t0 = now_ms();
	WREG(TDEV_REG_SCRATCH, 1);
	EXPECT_GE(now_ms() - t0, 200);
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
	size_t cap = HDR + FD_OVERSIZE + 4096, len, i;
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
	ASSERT_EQ(HDR + FD_OVERSIZE, len);
	EXPECT_EQ(id, h->msg_id);
	EXPECT_EQ(VFIO_USER_F_TYPE_REPLY, h->flags);
	EXPECT_EQ(HDR + FD_OVERSIZE, h->msg_size);
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
	t0 = now_ms();
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
	EXPECT_GE(now_ms() - t0, (want - 1) * 20);
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
	t0 = now_ms();
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
	EXPECT_GE(now_ms() - t0, 200);
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
	for (i = 0; i < STREAM_WINDOW; i++) {
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
	before = count_fds();
	/* vfu_read32 does not expect fds: protocol error, fd closed */
	EXPECT_EQ(-EPROTO, vfu_read32(C, BAR0, TDEV_REG_MAGIC, &v));
	EXPECT_EQ(before, count_fds());
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
	EXPECT_EQ(0, server_wait(&self->s, SERVER_WAIT_MS));
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

/* ======================= --fuzz ======================= */

#define FUZZ_CAPTURE	(4u << 20)
#define FUZZ_FD_RECS	64

/* What one fuzz_capture() saw. */
struct capture {
	uint8_t *buf;
	size_t len;
	/* every read that brought fds: where, how many, of which kinds */
	struct {
		size_t off;
		unsigned int nfds;
		char kinds[20];
	} rec[FUZZ_FD_RECS];
	unsigned int nrec;
	char bind[32], end[48];	/* from the server's count file */
	bool whole;		/* to EOF or to a silence for good */
	char how[32];		/* how it ended */
};

/* The bind handshake as the vfio_user driver sends it, then DMA_MAP. */
static void send_bind_handshake(struct __test_metadata *_metadata,
				struct vfu_client *c)
{
	struct vfio_user_version ver = { .major = VFIO_USER_MAJOR_VER };
	struct vfio_user_device_info info = { .argsz = sizeof(info) };
	struct vfio_user_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE,
		.size = 1ull << 30,
	};
	unsigned int i;

	ASSERT_EQ(0, vfu_send_cmd(c, VFIO_USER_VERSION, 0, &ver, sizeof(ver),
				  NULL, 0, NULL));
	ASSERT_EQ(0, vfu_send_cmd(c, VFIO_USER_DEVICE_GET_INFO, 0, &info,
				  sizeof(info), NULL, 0, NULL));
	for (i = 0; i < TDEV_NUM_REGIONS; i++) {
		struct vfio_user_region_info r = {
			.argsz = sizeof(r), .index = i,
		};

		ASSERT_EQ(0, vfu_send_cmd(c, VFIO_USER_DEVICE_GET_REGION_INFO,
					  0, &r, sizeof(r), NULL, 0, NULL));
		if (i != BAR2)
			continue;
		/* the second step, with room for the caps (and the fd) */
		r.argsz = TDEV_BAR2_INFO_ARGSZ;
		ASSERT_EQ(0, vfu_send_cmd(c, VFIO_USER_DEVICE_GET_REGION_INFO,
					  0, &r, sizeof(r), NULL, 0, NULL));
	}
	for (i = 0; i < TDEV_NUM_IRQS; i++) {
		struct vfio_user_irq_info q = { .argsz = sizeof(q), .index = i };

		ASSERT_EQ(0, vfu_send_cmd(c, VFIO_USER_DEVICE_GET_IRQ_INFO, 0,
					  &q, sizeof(q), NULL, 0, NULL));
	}
	ASSERT_EQ(0, vfu_send_cmd(c, VFIO_USER_DMA_MAP, 0, &map, sizeof(map),
				  NULL, 0, NULL));
}

/*
 * One read of the capture: bytes read, 0 at EOF, -1 after @ms of silence,
 * -2 on an error (then in cap->how).
 */
static ssize_t capture_read(struct capture *cap, int fd, int ms)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { cap->buf + cap->len, FUZZ_CAPTURE - cap->len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.b, .msg_controllen = sizeof(u.b),
	};
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct cmsghdr *cm;
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return -1;
	do {
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return -1;
	/* Closed with our commands unread: the same end as EOF. */
	if (n < 0 && errno == ECONNRESET)
		return 0;
	if (n < 0) {
		snprintf(cap->how, sizeof(cap->how), "error %d", errno);
		return -2;
	}
	if (n == 0)
		return 0;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		unsigned int i, k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		__typeof__(cap->rec[0]) *r = &cap->rec[cap->nrec];

		if (cap->nrec == FUZZ_FD_RECS)
			r = &cap->rec[FUZZ_FD_RECS - 1];	/* keep counting */
		else
			cap->nrec++;
		r->off = cap->len;
		for (i = 0; i < k; i++) {
			struct stat st;
			int f;

			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(f));
			if (r->nfds < sizeof(r->kinds) - 1) {
				r->kinds[r->nfds] = fstat(f, &st) ? '?' :
					S_ISCHR(st.st_mode) ? 'c' :
					S_ISSOCK(st.st_mode) ? 's' :
					S_ISREG(st.st_mode) ? 'r' : 'a';
				r->nfds++;
			}
			close(f);
		}
	}
	cap->len += n;
	return n;
}

/* A field of the server's count file, "" when absent. */
static void count_field(const char *file, const char *key, char *val,
			size_t size)
{
	char buf[1024], pat[32], fmt[16], *p;
	int fd = open(file, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	val[0] = '\0';
	snprintf(pat, sizeof(pat), "\n%s ", key);
	snprintf(fmt, sizeof(fmt), "%%%zus", size - 1);
	p = strstr(buf, pat);
	if (p)
		sscanf(p + strlen(pat), fmt, val);
}

/*
 * What a --fuzz server sends a client that binds the way the driver does
 * (the whole handshake, then a DMA_MAP without fd) and then only listens:
 * up to FUZZ_CAPTURE bytes, until the server closes, goes quiet for good
 * (its count file says it is mute), or 20 s have passed.  If it goes
 * quiet with a connection-ending event armed for the next reply, one
 * REGION_READ gets that reply, so that the event is seen too.  A silence
 * the count file does not explain is a slow machine: wait on.
 */
static void fuzz_capture(struct __test_metadata *_metadata, const char *seed,
			 struct capture *cap)
{
	struct vfio_user_region_access a = {
		.offset = TDEV_REG_MAGIC, .region = BAR0, .count = 4,
	};
	struct server s = { };
	struct vfu_client c = { .fd = -1 };
	long long end = now_ms() + 20000;
	char count_file[64], armed[48], mute[8];
	bool probed = false;
	ssize_t n;

	cap->len = 0;
	cap->nrec = 0;
	cap->whole = false;
	snprintf(cap->how, sizeof(cap->how), "20 s or 4 MiB");
	memset(cap->rec, 0, sizeof(cap->rec));
	snprintf(count_file, sizeof(count_file), "/tmp/vfu-fuzz-count-%d-%s",
		 getpid(), seed);
	unlink(count_file);
	ASSERT_EQ(0, server_start(&s, ARGS("--fuzz", seed, "--fuzz-frames", "3000",
					   "--fuzz-count-file", count_file)));
	ASSERT_EQ(0, vfu_connect(&c, s.path));
	send_bind_handshake(_metadata, &c);
	while (cap->len < FUZZ_CAPTURE && now_ms() < end) {
		n = capture_read(cap, c.fd, 300);
		if (n == -2)
			break;
		if (n >= 0) {
			if (n == 0) {
				cap->whole = true;
				snprintf(cap->how, sizeof(cap->how), "EOF");
				break;
			}
			continue;
		}
		count_field(count_file, "armed", armed, sizeof(armed));
		count_field(count_file, "mute", mute, sizeof(mute));
		if (strcmp(armed, "none") && armed[0] && !probed) {
			probed = true;
			if (vfu_send_cmd(&c, VFIO_USER_REGION_READ, 0, &a,
					 sizeof(a), NULL, 0, NULL))
				break;
		} else if (!strcmp(mute, "1")) {
			/* what was queued has gone out: it said it was mute */
			if (capture_read(cap, c.fd, 1000) <= 0) {
				cap->whole = true;
				snprintf(cap->how, sizeof(cap->how), "mute");
				break;
			}
		}
	}
	vfu_disconnect(&c);
	EXPECT_EQ(0, server_stop(&s));
	unlink(s.path);
	rmdir(s.dir);

	count_field(count_file, "bind", cap->bind, sizeof(cap->bind));
	count_field(count_file, "end", cap->end, sizeof(cap->end));
	unlink(count_file);
}

/*
 * The same bytes and the same fds, as far as both captures went.  Where
 * in the byte stream a read with fds starts depends on what was queued
 * before it, so only the fds' order, numbers and kinds are compared.
 */
static bool same_capture(const struct capture *a, const struct capture *b)
{
	size_t len = a->len < b->len ? a->len : b->len;
	unsigned int i, n = a->nrec < b->nrec ? a->nrec : b->nrec;

	if (memcmp(a->buf, b->buf, len))
		return false;
	/* A capture cut short may have missed the last fds. */
	if (a->len == b->len && a->nrec != b->nrec)
		return false;
	for (i = 0; i < n; i++)
		if (a->rec[i].nfds != b->rec[i].nfds ||
		    strcmp(a->rec[i].kinds, b->rec[i].kinds))
			return false;
	return true;
}

static unsigned int capture_fds(const struct capture *c)
{
	unsigned int i, n = 0;

	for (i = 0; i < c->nrec; i++)
		n += c->rec[i].nfds;
	return n;
}

/*
 * The fuzzer's frames come from its seed alone: the same seed, the same
 * bytes and the same fds (the replies to the handshake and DMA_MAP, a
 * mangled one included, then the generated frames, the connection-ending
 * event included), whatever the timing; another seed, other bytes.  This
 * is what makes a failing seed worth replaying.  Seeds 1, 42 and
 * 123456789 are the fuzzer's ordinary run; the others were picked for
 * attaching fds: to a handshake reply (each kind of fd mangling) and, as
 * the connection-ending event, to the reply after the bind (found with
 * fuzz_capture() over seeds 1-430, reading the count file's bind and end;
 * if the generator changes, the expectations below say so).
 */
TEST_F_TIMEOUT(srv, fuzz_stream_is_reproducible, 600)
{
	static const struct {
		const char *seed, *bind, *end;	/* NULL: whatever it is */
	} seeds[] = {
		{ "1", NULL, NULL }, { "42", NULL, NULL },
		{ "123456789", NULL, NULL },
		FUZZ_FD_SEEDS
	};
	struct capture *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	size_t i;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	a->buf = malloc(FUZZ_CAPTURE);
	b->buf = malloc(FUZZ_CAPTURE);
	ASSERT_NE(NULL, a->buf);
	ASSERT_NE(NULL, b->buf);
	for (i = 0; i < ARRAY_SIZE(seeds); i++) {
		fuzz_capture(_metadata, seeds[i].seed, a);
		fuzz_capture(_metadata, seeds[i].seed, b);
		/* Both may stop early (20 s, a cut): compare what both got. */
		EXPECT_LT(2 * HDR, a->len) TH_LOG("seed %s", seeds[i].seed);
		EXPECT_LT(2 * HDR, b->len) TH_LOG("seed %s", seeds[i].seed);
		EXPECT_TRUE(same_capture(a, b)) TH_LOG("seed %s", seeds[i].seed);
		EXPECT_STREQ(a->bind, b->bind);
		if (seeds[i].bind)
			EXPECT_STREQ(seeds[i].bind, a->bind) TH_LOG("seed %s", seeds[i].seed);
		TH_LOG("seed %s: %zu and %zu bytes (%s, %s), %u and %u fds, bind %s, end %s and %s",
		       seeds[i].seed, a->len, b->len, a->how, b->how,
		       capture_fds(a), capture_fds(b), a->bind, a->end, b->end);
		/* How it ended, only if both got there (a slow machine...). */
		if (!a->whole || !b->whole)
			continue;
		EXPECT_STREQ(a->end, b->end);
		if (seeds[i].end)
			EXPECT_STREQ(seeds[i].end, a->end) TH_LOG("seed %s", seeds[i].seed);
		if ((seeds[i].bind && !strncmp(seeds[i].bind, "fds", 3)) ||
		    (seeds[i].end && !strcmp(seeds[i].end, "reply-with-fds")))
			EXPECT_LT(1, capture_fds(a)) TH_LOG("seed %s", seeds[i].seed);
	}
	fuzz_capture(_metadata, "2", b);
	fuzz_capture(_metadata, "1", a);
	EXPECT_FALSE(same_capture(a, b));
	free(a->buf);
	free(b->buf);
	free(a);
	free(b);
}

TEST_HARNESS_MAIN
