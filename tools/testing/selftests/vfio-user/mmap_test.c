// SPDX-License-Identifier: GPL-2.0
/*
 * A VMM's mmap of a server region, over the device's life: the mapping
 * reaches the server's memory while the device is open, is zapped by a
 * reset and faults back in, and is dead (SIGBUS) once the device is
 * closed or deleted, whatever the VMM kept mapped.  Then which server
 * files may be mapped at all: only memory (memfd, tmpfs); a file on 9p,
 * procfs or sysfs makes the region trapped, still reachable by
 * pread/pwrite.
 */
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "test_device.h"
#include "vu_test.h"

#define BAR2		vu_region_off(VFIO_PCI_BAR2_REGION_INDEX)
#define AREA0_LEN	TDEV_BAR2_AREA0_SIZE

FIXTURE(bar) {
	struct vu_server srv;
	struct vu_vfio v;
	char name[32];
	volatile uint32_t *map;
};

FIXTURE_SETUP(bar)
{
	self->v.container = self->v.group = self->v.device = -1;
	self->map = MAP_FAILED;
	ASSERT_EQ(0, vu_server_start(&self->srv, NULL));
	ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));
	ASSERT_EQ(0, vu_vfio_open(self->name, &self->v));
	self->map = mmap(NULL, AREA0_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->v.device, BAR2 + TDEV_BAR2_AREA0_OFFSET);
	ASSERT_NE(MAP_FAILED, self->map);
}

FIXTURE_TEARDOWN(bar)
{
	if (self->map != MAP_FAILED)
		munmap((void *)self->map, AREA0_LEN);
	vu_vfio_close(&self->v);
	if (vu_exists(self->name))
		vu_unbind(self->name);
	vu_server_stop(&self->srv);
}

/* A 32-bit word of BAR2 through the trapped path (REGION_READ). */
static uint32_t bar2_read(int device, uint64_t off)
{
	uint32_t val = 0xffffffff;

	if (pread(device, &val, 4, BAR2 + off) != 4)
		return 0xffffffff;
	return val;
}

/*
 * The mapping and the server's memory are one: what the server writes
 * (BAR2_FILL) the mapping reads, what the mapping writes the server's
 * REGION_READ returns.  Returns the first mismatch as a message, or NULL.
 */
static const char *same_memory(int device, volatile uint32_t *map, uint32_t pattern)
{
	uint32_t val;

	if (vu_reg_write(device, TDEV_REG_BAR2_FILL, pattern))
		return "BAR2_FILL failed";
	if (vu_probe(&map[0], false, &val))
		return "the mapping faults";
	if (val != pattern || map[AREA0_LEN / 4 - 1] != pattern)
		return "the mapping does not see the server's writes";
	map[3] = ~pattern;
	if (bar2_read(device, 12) != ~pattern)
		return "the server does not see the mapping's writes";
	return NULL;
}

/* Is the device closed as far as the driver is concerned? */
static bool closed(const char *name)
{
	char buf[32];

	return !strcmp(vu_attr(name, "dma_active", buf, sizeof(buf)), "none");
}

/*
 * The VMM closes device, group and container but keeps its mapping of
 * BAR2.  Once the device is closed the mapping must not reach the server
 * any more: SIGBUS.  (If the mapping keeps the device open, as a vfio-pci
 * mapping keeps its file, it must work until munmap and the device close
 * then.)  A new open maps the server's memory again; the old mapping stays
 * dead.  Today the mapping is the server's own file and outlives the
 * device: it still reads and writes the server's memory.
 */
TEST_F(bar, access_after_close_faults)
{
	uint32_t val = 0;
	const char *bad;
	int sig;

	bad = same_memory(self->v.device, self->map, 0x11110000);
	ASSERT_EQ(NULL, bad) TH_LOG("%s", bad);
	vu_vfio_close(&self->v);

	if (closed(self->name)) {
		sig = vu_probe(&self->map[0], false, &val);
		EXPECT_EQ(SIGBUS, sig)
			TH_LOG("read after close: %s (value %#x)",
			       sig ? strsignal(sig) : "no fault", val);
		val = 0x5555aaaa;
		sig = vu_probe(&self->map[1], true, &val);
		EXPECT_EQ(SIGBUS, sig)
			TH_LOG("write after close: %s", sig ? strsignal(sig) : "no fault");
	} else {
		TH_LOG("the mapping keeps the device open");
		EXPECT_EQ(0, vu_probe(&self->map[0], false, &val));
		munmap((void *)self->map, AREA0_LEN);
		self->map = MAP_FAILED;
		EXPECT_TRUE(closed(self->name));
	}

	/* A new open, a new mapping: the server's memory again. */
	ASSERT_EQ(0, vu_vfio_open(self->name, &self->v));
	{
		volatile uint32_t *map2 = mmap(NULL, AREA0_LEN, PROT_READ | PROT_WRITE,
					       MAP_SHARED, self->v.device,
					       BAR2 + TDEV_BAR2_AREA0_OFFSET);

		ASSERT_NE(MAP_FAILED, map2);
		bad = same_memory(self->v.device, map2, 0x22220000);
		EXPECT_EQ(NULL, bad) TH_LOG("after reopen: %s", bad);
		munmap((void *)map2, AREA0_LEN);
	}
	/* The mapping of the first open does not come back to life. */
	if (self->map != MAP_FAILED) {
		sig = vu_probe(&self->map[0], false, &val);
		EXPECT_EQ(SIGBUS, sig)
			TH_LOG("old mapping after reopen: %s",
			       sig ? strsignal(sig) : "no fault");
	}
}

/*
 * Device memory is no code: an executable mapping of a BAR is refused, and
 * one that is not executable cannot be made so with mprotect().
 */
TEST_F(bar, no_exec)
{
	void *p;

	p = mmap(NULL, AREA0_LEN, PROT_READ | PROT_EXEC, MAP_SHARED,
		 self->v.device, BAR2 + TDEV_BAR2_AREA0_OFFSET);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EACCES, errno);
	if (p != MAP_FAILED)
		munmap(p, AREA0_LEN);
	EXPECT_EQ(-1, mprotect((void *)self->map, AREA0_LEN,
			       PROT_READ | PROT_WRITE | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
}

/*
 * VFIO_DEVICE_RESET zaps the VMM's mappings of the device (as vfio-pci
 * does); the next access faults the server's memory back in and works,
 * both ways.  Today nothing is zapped: the page stays mapped across the
 * reset.
 */
TEST_F(bar, reset_zaps_and_refaults)
{
	const char *bad;
	int present;

	bad = same_memory(self->v.device, self->map, 0x33330000);
	ASSERT_EQ(NULL, bad) TH_LOG("%s", bad);
	ASSERT_EQ(0, ioctl(self->v.device, VFIO_DEVICE_RESET));
	present = vu_page_present((void *)self->map);
	EXPECT_EQ(0, present) TH_LOG("the VMM's page is still mapped after reset");

	bad = same_memory(self->v.device, self->map, 0x44440000);
	EXPECT_EQ(NULL, bad) TH_LOG("after reset: %s", bad);
	/* Again: a reset of a device whose mapping was faulted back in. */
	ASSERT_EQ(0, ioctl(self->v.device, VFIO_DEVICE_RESET));
	bad = same_memory(self->v.device, self->map, 0x55550000);
	EXPECT_EQ(NULL, bad) TH_LOG("after the second reset: %s", bad);
}

struct unbinder {
	const char *name;
	int err;
	volatile bool done;
};

static void *unbind_fn(void *arg)
{
	struct unbinder *u = arg;

	u->err = vu_unbind(u->name);
	u->done = true;
	return NULL;
}

/*
 * del_device while the VMM has BAR2 mapped: REQ asks it to let go, it
 * closes its fds and keeps the mapping.  Once the device is gone the
 * mapping must fault.  Today it still reaches the server's memory.
 */
TEST_F(bar, access_after_delete_faults)
{
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *set = (void *)buf;
	int32_t efd = eventfd(0, EFD_CLOEXEC);
	struct unbinder u = { .name = self->name };
	struct pollfd p = { .fd = efd, .events = POLLIN };
	long long end;
	uint32_t val = 0;
	pthread_t th;
	int sig;

	ASSERT_GE(efd, 0);
	*set = (struct vfio_irq_set){
		.argsz = sizeof(buf),
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_REQ_IRQ_INDEX,
		.count = 1,
	};
	memcpy(set->data, &efd, sizeof(efd));
	ASSERT_EQ(0, ioctl(self->v.device, VFIO_DEVICE_SET_IRQS, set));
	ASSERT_EQ(NULL, same_memory(self->v.device, self->map, 0x66660000));

	ASSERT_EQ(0, pthread_create(&th, NULL, unbind_fn, &u));
	EXPECT_EQ(1, poll(&p, 1, vu_ms(5000))) TH_LOG("no REQ");
	vu_vfio_close(&self->v);
	end = vu_now_ms() + vu_ms(3000);
	while (!u.done && vu_now_ms() < end)
		usleep(10000);
	if (u.done) {
		EXPECT_EQ(0, u.err);
		EXPECT_FALSE(vu_exists(self->name));
		sig = vu_probe(&self->map[0], false, &val);
		EXPECT_EQ(SIGBUS, sig)
			TH_LOG("read after delete: %s (value %#x)",
			       sig ? strsignal(sig) : "no fault", val);
	} else {
		/* The mapping holds the device open: delete waits for munmap. */
		TH_LOG("the mapping keeps the device open");
		EXPECT_EQ(0, vu_probe(&self->map[0], false, &val));
		munmap((void *)self->map, AREA0_LEN);
		self->map = MAP_FAILED;
	}
	pthread_join(th, NULL);
	EXPECT_EQ(0, u.err);
	close(efd);
}

/* ---- which server files the VMM may map ---- */

enum kind { MEMFD, TMPFS, SHM, NINEP_RW, NINEP_RO, PROCFS, SYSFS };

FIXTURE(bar2file) {
	struct vu_server srv;
	struct vu_vfio v;
	char name[32];
	char path[PATH_MAX];
	bool created;
	int kmsg;
	int ref_lines;		/* what a memfd device's bind and open log */
};

FIXTURE_VARIANT(bar2file) {
	enum kind kind;
	const char *path;	/* the file, or a mkstemp() template's directory */
	bool mmap_ok;		/* memory: the VMM may map it */
};

/* The default: the server's memfd. */
FIXTURE_VARIANT_ADD(bar2file, memfd) { .kind = MEMFD, .mmap_ok = true };
FIXTURE_VARIANT_ADD(bar2file, tmpfs) { .kind = TMPFS, .path = "/tmp", .mmap_ok = true };
FIXTURE_VARIANT_ADD(bar2file, shm) { .kind = SHM, .path = "/dev/shm", .mmap_ok = true };
/* The repository's 9p mount (read-write, cache=mmap): beside the test. */
FIXTURE_VARIANT_ADD(bar2file, ninep_rw) { .kind = NINEP_RW };
/* The host root's 9p mount, read-only: the server only sends the file. */
FIXTURE_VARIANT_ADD(bar2file, ninep_ro) { .kind = NINEP_RO, .path = "/bin/sh" };
/* Regular files whose ->mmap exists and fails (-EIO, -ENODEV). */
FIXTURE_VARIANT_ADD(bar2file, procfs) { .kind = PROCFS, .path = "/proc/meminfo" };
FIXTURE_VARIANT_ADD(bar2file, sysfs) { .kind = SYSFS, .path = "/sys/kernel/uevent_seqnum" };

/* A fresh file in @dir for the server to back BAR2 with. */
static int make_file(char *path, size_t size, const char *dir)
{
	int fd;

	if ((size_t)snprintf(path, size, "%.*s/vu-bar2-XXXXXX", PATH_MAX - 32, dir) >= size)
		return -ENAMETOOLONG;
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/*
 * How many kernel log lines naming the device a bind and open of the
 * default (memfd) server make: the driver's and vfio core's usual lines,
 * the baseline for counting what a file kind adds.
 */
static int usual_lines(void)
{
	struct vu_server srv;
	struct vu_vfio v;
	char name[32];
	int kmsg, lines = -1;

	if (vu_server_start(&srv, NULL))
		return -1;
	kmsg = vu_kmsg_open();
	if (kmsg >= 0 && !vu_bind(srv.path, name, sizeof(name))) {
		if (!vu_vfio_open(name, &v))
			lines = vu_kmsg_count(kmsg, name, NULL, NULL, 0);
		vu_vfio_close(&v);
		vu_unbind(name);
	}
	if (kmsg >= 0)
		close(kmsg);
	vu_server_stop(&srv);
	return lines;
}

FIXTURE_SETUP(bar2file)
{
	const char *args[] = { "--bar2-file", self->path, NULL };
	char dir[PATH_MAX];

	self->v.container = self->v.group = self->v.device = -1;
	self->kmsg = -1;
	switch (variant->kind) {
	case MEMFD:
		args[0] = NULL;
		break;
	case TMPFS:
	case SHM:
		ASSERT_EQ(0, make_file(self->path, sizeof(self->path), variant->path));
		self->created = true;
		break;
	case NINEP_RW:
		vu_server_binary(dir, sizeof(dir));
		*strrchr(dir, '/') = '\0';
		ASSERT_EQ(0, make_file(self->path, sizeof(self->path), dir));
		self->created = true;
		break;
	default:
		snprintf(self->path, sizeof(self->path), "%s", variant->path);
		break;
	}
	self->ref_lines = usual_lines();
	ASSERT_LE(0, self->ref_lines);
	ASSERT_EQ(0, vu_server_startv(&self->srv, args));
	self->kmsg = vu_kmsg_open();
	ASSERT_EQ(0, vu_bind(self->srv.path, self->name, sizeof(self->name)));
	ASSERT_EQ(0, vu_vfio_open(self->name, &self->v));
}

FIXTURE_TEARDOWN(bar2file)
{
	vu_vfio_close(&self->v);
	if (vu_exists(self->name))
		vu_unbind(self->name);
	vu_server_stop(&self->srv);
	if (self->created)
		unlink(self->path);
	if (self->kmsg >= 0)
		close(self->kmsg);
}

/*
 * REGION_INFO offers mmap of BAR2 only when the server's file is memory;
 * otherwise the region is trapped (no FLAG_MMAP, mmap refused, one kernel
 * log line naming the device saying so, none for memory) and pread/pwrite reach the server's BAR2.
 * Today every regular file with ->mmap is mapped straight into the VMM:
 * a 9p file, /proc/meminfo and a sysfs attribute all get FLAG_MMAP.
 */
TEST_F(bar2file, mmap_only_memory)
{
	struct vfio_region_info info = {
		.argsz = sizeof(info), .index = VFIO_PCI_BAR2_REGION_INDEX,
	};
	char line[256];
	uint32_t buf[4], val;
	void *p;
	int lines;

	ASSERT_EQ(0, ioctl(self->v.device, VFIO_DEVICE_GET_REGION_INFO, &info));
	EXPECT_TRUE(info.flags & VFIO_REGION_INFO_FLAG_READ);
	EXPECT_TRUE(info.flags & VFIO_REGION_INFO_FLAG_WRITE);
	EXPECT_EQ(variant->mmap_ok, !!(info.flags & VFIO_REGION_INFO_FLAG_MMAP))
		TH_LOG("%s: flags %#x", self->path[0] ? self->path : "memfd", info.flags);

	p = mmap(NULL, AREA0_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, self->v.device,
		 BAR2 + TDEV_BAR2_AREA0_OFFSET);
	if (variant->mmap_ok) {
		const char *bad;

		ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap: %s", strerror(errno));
		bad = same_memory(self->v.device, (volatile uint32_t *)p, 0x77770000);
		EXPECT_EQ(NULL, bad) TH_LOG("%s", bad);
		munmap(p, AREA0_LEN);
	} else {
		EXPECT_EQ(MAP_FAILED, p)
			TH_LOG("%s mapped into the VMM", self->path);
		if (p != MAP_FAILED)
			munmap(p, AREA0_LEN);
		else
			TH_LOG("mmap refused: %s", strerror(errno));
	}
	/* One line more than a memfd device's bind and open log. */
	lines = vu_kmsg_count(self->kmsg, self->name, NULL, line, sizeof(line));
	EXPECT_EQ(self->ref_lines + !variant->mmap_ok, lines)
		TH_LOG("%d kernel log lines about %s (%d for a memfd), the first: %s",
		       lines, self->name, self->ref_lines, line);

	/* Trapped access works for every kind, on the server's BAR2. */
	ASSERT_EQ(0, vu_reg_write(self->v.device, TDEV_REG_BAR2_FILL, 0x88880000));
	ASSERT_EQ(4, pread(self->v.device, &val, 4, BAR2 + TDEV_BAR2_AREA0_OFFSET + 64));
	EXPECT_EQ(0x88880000, val);
	buf[0] = 1, buf[1] = 2, buf[2] = 3, buf[3] = 4;
	ASSERT_EQ(sizeof(buf), pwrite(self->v.device, buf, sizeof(buf), BAR2 + 0x100));
	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(sizeof(buf), pread(self->v.device, buf, sizeof(buf), BAR2 + 0x100));
	EXPECT_EQ(3, buf[2]);
	EXPECT_STREQ("connected", vu_attr(self->name, "state", (char[32]){}, 32));
}

TEST_HARNESS_MAIN
