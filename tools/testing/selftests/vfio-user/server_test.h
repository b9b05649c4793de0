/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the server_*_test.c tests: the test server seen from a
 * userspace vfio-user client (lib/vfu_client): every command, the device
 * behind it, the options, and every --hostile mode.  They need no kernel
 * driver, so they run on the host and in the guest.  This holds how they
 * start the server and the other generic helpers (first block), then the
 * fixture srv and what the tests share.
 *
 * Environment:
 *   VFU_SERVER_VALGRIND=1  run the server under valgrind (leaks and memory
 *                          errors make it exit 99, which fails the test)
 *   VFU_SERVER_VERBOSE=1   pass -v to the server
 */
#ifndef SERVER_TEST_H
#define SERVER_TEST_H

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
#include "lib/vu_util.h"

/*
 * ======================= generic helpers =======================
 *
 * Nothing in this block knows the fixture: the region indexes, how these
 * tests start the library's server launcher (lib/server.c), eventfds,
 * register access and raw commands through a client.  The clock and fd
 * counting are the library's: vu_now_ms(), vu_count_fds().
 */

#define HDR		sizeof(struct vfio_user_header)
#define BAR0		VFIO_PCI_BAR0_REGION_INDEX
#define BAR2		VFIO_PCI_BAR2_REGION_INDEX
#define BAR4		VFIO_PCI_BAR4_REGION_INDEX
#define CONFIG		VFIO_PCI_CONFIG_REGION_INDEX
#define ARGS(...)	((const char *const[]){ __VA_ARGS__, NULL })
#define SERVER_WAIT_MS	30000	/* generous: valgrind is slow to start */

/* ---- server process: lib/server.c's, started the way these tests want ---- */

static inline bool env_set(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0");
}

/* Set by tests that expect the server to complain (bad command lines). */
static bool server_quiet;

/*
 * Start a server with @extra arguments; 0 once it listens, or -errno.  Its
 * socket is in a directory made on the first start; a restart reuses it.
 * If the test dies without its teardown (a crash, an abort), the server
 * must not outlive it: it gets SIGTERM, which makes it clean up and exit.
 */
static inline int server_start(struct vu_server *s, const char *const *extra)
{
	static const char *const valgrind[] = {
		"valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
		"--errors-for-leak-kinds=definite,indirect,possible",
		"--show-leak-kinds=definite,indirect,possible", NULL,
	};
	const struct vu_server_opts opts = {
		.wrapper = env_set("VFU_SERVER_VALGRIND") ? valgrind : NULL,
		.verbose = env_set("VFU_SERVER_VERBOSE"),
		.die_with_parent = true,
		.quiet = server_quiet,
		.ready_ms = SERVER_WAIT_MS,
	};
	int err;

	if (!s->dir[0]) {
		err = vu_server_mkdir(s, "/tmp/vfu-server-test-XXXXXX");
		if (err)
			return err;
	}
	return vu_server_spawn(s, &opts, extra);
}

/* SIGTERM, as a supervisor would: the exit code, or -1. */
static inline int server_stop(struct vu_server *s)
{
	return vu_server_term(s, SERVER_WAIT_MS);
}

static inline bool path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ---- small helpers (the clock and fd counting: lib/clock.c, lib/proc.c) ---- */

static inline int new_eventfd(void)
{
	return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

/* The eventfd's counter (and reset it), 0 if it was not signalled. */
static inline uint64_t efd_count(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* Is the connection closed by the server?  (EOF within @ms.) */
static inline bool peer_closed(struct vfu_client *c, int ms)
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
static inline bool silent(struct vfu_client *c, int ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	return poll(&p, 1, ms) == 0;
}

/* ---- register access ---- */

static inline uint32_t rd32(struct __test_metadata *_metadata, struct vfu_client *c,
			    uint32_t region, uint64_t off)
{
	uint32_t v = 0xdeadbeef;

	EXPECT_EQ(0, vfu_read32(c, region, off, &v));
	return v;
}

static inline uint16_t cfg16(struct __test_metadata *_metadata, struct vfu_client *c,
			     uint64_t off)
{
	uint16_t v = 0xffff;

	EXPECT_EQ(0, vfu_region_read(c, CONFIG, off, &v, 2));
	return v;
}

static inline uint8_t cfg8(struct __test_metadata *_metadata, struct vfu_client *c,
			   uint64_t off)
{
	uint8_t v = 0xff;

	EXPECT_EQ(0, vfu_region_read(c, CONFIG, off, &v, 1));
	return v;
}

/* Send a command with an arbitrary payload and flags, wait for its reply. */
static inline int raw_cmd(struct vfu_client *c, uint16_t cmd, uint32_t flags,
			  const void *payload, size_t len, struct vfu_msg *m)
{
	uint16_t id;
	int err = vfu_send_cmd(c, cmd, flags, payload, len, NULL, 0, &id);

	return err ? err : vfu_wait_reply(c, id, cmd, m);
}

/* ======================= end of the generic helpers ======================= */

/* SET_IRQS actions. */
static const uint32_t EVENTFD_TRIGGER = VFIO_IRQ_SET_DATA_EVENTFD |
					VFIO_IRQ_SET_ACTION_TRIGGER;
static const uint32_t NONE_TRIGGER = VFIO_IRQ_SET_DATA_NONE |
				     VFIO_IRQ_SET_ACTION_TRIGGER;
static const uint32_t BOOL_TRIGGER = VFIO_IRQ_SET_DATA_BOOL |
				     VFIO_IRQ_SET_ACTION_TRIGGER;

/* ---- fixture ---- */

FIXTURE(srv) {
	struct vu_server s;
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

static inline int srv_connect(srv_t *self)
{
	if (self->c.fd >= 0)
		vfu_disconnect(&self->c);
	return vfu_connect(&self->c, self->s.path);
}

static inline int srv_reconnect(srv_t *self)
{
	int err = srv_connect(self);

	return err ? err : vfu_negotiate(&self->c);
}

/* Start a server with these options, connect and negotiate. */
static inline int srv_up(srv_t *self, const char *const *args)
{
	int err = server_start(&self->s, args);

	return err ? err : srv_reconnect(self);
}

#define START(...)	ASSERT_EQ(0, server_start(&self->s, ARGS(__VA_ARGS__)))
#define UP(...)		ASSERT_EQ(0, srv_up(self, ARGS(__VA_ARGS__)))
#define C		(&self->c)

#define RD(region, off)		rd32(_metadata, C, region, off)
#define REG(off)		RD(BAR0, off)
#define WR(region, off, v)	ASSERT_EQ(0, vfu_write32(C, region, off, v))
#define WREG(off, v)		WR(BAR0, off, v)

#define CFG8(off)	cfg8(_metadata, C, off)
#define CFG16(off)	cfg16(_metadata, C, off)
#define CFG32(off)	RD(CONFIG, off)

/* The server still answers (a cheap liveness probe after bad input). */
#define ALIVE()	EXPECT_EQ(TDEV_MAGIC_VALUE, REG(TDEV_REG_MAGIC))

#endif /* SERVER_TEST_H */
