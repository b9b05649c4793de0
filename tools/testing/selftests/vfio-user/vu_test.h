/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the vfio_user driver selftests: start the project's test
 * server, bind it through sysfs, open the resulting device the way a VMM
 * does (container, group, device fd), and read the numbers the leak checks
 * compare.  Everything goes through the real interfaces.
 */
#ifndef VU_TEST_H
#define VU_TEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "test_device.h"

#define VU_BUS		"/sys/bus/vfio-user"
#define VU_MAX_ARGS	32

/* A test server process and the socket it listens on. */
struct vu_server {
	pid_t pid;
	char dir[64];
	char path[108];
};

static inline long long vu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* The server binary sits next to the test binary. */
static inline void vu_server_binary(char *buf, size_t size)
{
	char self[PATH_MAX - 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n < 0)
		n = 0;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(buf, size, "%s/vfio_user_test_server", self);
}

/*
 * Start the server with extra arguments (NULL-terminated list) and wait
 * until it listens.  Returns 0 or -errno.
 */
static inline int vu_server_startv(struct vu_server *srv, const char *const *extra)
{
	const char *argv[VU_MAX_ARGS];
	char bin[PATH_MAX], fdarg[16];
	int pipefd[2], argc = 0, i;
	char ready[8];
	ssize_t n;

	snprintf(srv->dir, sizeof(srv->dir), "/tmp/vu-test-XXXXXX");
	if (!mkdtemp(srv->dir))
		return -errno;
	snprintf(srv->path, sizeof(srv->path), "%s/sock", srv->dir);
	if (pipe(pipefd))
		return -errno;
	vu_server_binary(bin, sizeof(bin));
	snprintf(fdarg, sizeof(fdarg), "%d", pipefd[1]);

	argv[argc++] = bin;
	argv[argc++] = "-s";
	argv[argc++] = srv->path;
	argv[argc++] = "--ready-fd";
	argv[argc++] = fdarg;
	for (i = 0; extra && extra[i] && argc < VU_MAX_ARGS - 1; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;

	srv->pid = fork();
	if (srv->pid < 0)
		return -errno;
	if (srv->pid == 0) {
		close(pipefd[0]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	n = read(pipefd[0], ready, sizeof(ready));
	close(pipefd[0]);
	return n > 0 ? 0 : -ECHILD;
}

#define vu_server_start(srv, ...) \
	vu_server_startv(srv, (const char *const[]){ __VA_ARGS__ })

static inline void vu_server_stop(struct vu_server *srv)
{
	if (srv->pid > 0) {
		kill(srv->pid, SIGKILL);
		waitpid(srv->pid, NULL, 0);
		srv->pid = 0;
	}
	unlink(srv->path);
	rmdir(srv->dir);
}

/* Write @val to a sysfs file; returns 0 or -errno of the write. */
static inline int vu_write_file(const char *file, const char *val)
{
	int fd = open(file, O_WRONLY);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

static inline int vu_read_file(const char *file, char *buf, size_t size)
{
	int fd = open(file, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return 0;
}

/* Read attribute @attr of device @name into @buf, "" when unreadable. */
static inline const char *vu_attr(const char *name, const char *attr,
				  char *buf, size_t size)
{
	char file[PATH_MAX];

	snprintf(file, sizeof(file), VU_BUS "/devices/%s/%s", name, attr);
	if (vu_read_file(file, buf, size))
		buf[0] = '\0';
	return buf;
}

static inline int vu_set_attr(const char *name, const char *attr,
			      const char *val)
{
	char file[PATH_MAX];

	snprintf(file, sizeof(file), VU_BUS "/devices/%s/%s", name, attr);
	return vu_write_file(file, val);
}

/* Highest N of the vfio-userN devices now present, -1 when none. */
static inline int vu_highest_id(void)
{
	DIR *d = opendir(VU_BUS "/devices");
	struct dirent *de;
	int max = -1, id;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (sscanf(de->d_name, "vfio-user%d", &id) == 1 && id > max)
			max = id;
	closedir(d);
	return max;
}

/*
 * Bind the server at @path.  On success @name gets the new device's name:
 * the device whose socket_path is @path and that was not there before.  A
 * name seen before may come back for the new device (another thread
 * deleted that device meanwhile and its number was reused), so a device
 * counts as old only if both its name and its socket path were seen.
 */
struct vu_seen {
	char name[32];
	char path[108];
};

static inline int vu_find_new(const char *path, const struct vu_seen *seen,
			      int nseen, char *name, size_t size);

static inline int vu_bind(const char *path, char *name, size_t size)
{
	struct vu_seen seen[64];
	int nseen = 0, err, i;
	struct dirent *de;
	DIR *d;

	d = opendir(VU_BUS "/devices");
	while (d && (de = readdir(d)) && nseen < 64) {
		if (strncmp(de->d_name, "vfio-user", 9) ||
		    strlen(de->d_name) >= sizeof(seen[0].name))
			continue;
		strcpy(seen[nseen].name, de->d_name);
		vu_attr(de->d_name, "socket_path", seen[nseen].path, sizeof(seen[0].path));
		nseen++;
	}
	if (d)
		closedir(d);

	err = vu_write_file(VU_BUS "/new_device", path);
	if (err)
		return err;

	/*
	 * A directory listing taken while other threads add and remove
	 * devices may miss an entry: look again before giving up.
	 */
	for (i = 0; i < 5; i++) {
		if (!vu_find_new(path, seen, nseen, name, size))
			return 0;
		usleep(10000);
	}
	return -ENOENT;
}

/*
 * The device bound to @path whose name and path were not both in @seen:
 * 0 with its name in @name, or -ENOENT.
 */
static inline int vu_find_new(const char *path, const struct vu_seen *seen,
			      int nseen, char *name, size_t size)
{
	char buf[128];
	struct dirent *de;
	DIR *d;
	int i;

	d = opendir(VU_BUS "/devices");
	while (d && (de = readdir(d))) {
		bool old = false;

		if (strncmp(de->d_name, "vfio-user", 9))
			continue;
		vu_attr(de->d_name, "socket_path", buf, sizeof(buf));
		if (strcmp(buf, path))
			continue;
		for (i = 0; i < nseen; i++)
			old |= !strcmp(seen[i].name, de->d_name) &&
			       !strcmp(seen[i].path, buf);
		if (!old && strlen(de->d_name) < size) {
			strcpy(name, de->d_name);
			closedir(d);
			return 0;
		}
	}
	if (d)
		closedir(d);
	return -ENOENT;
}

static inline int vu_unbind(const char *name)
{
	return vu_write_file(VU_BUS "/del_device", name);
}

static inline bool vu_exists(const char *name)
{
	char dir[PATH_MAX];
	struct stat st;

	snprintf(dir, sizeof(dir), VU_BUS "/devices/%s", name);
	return stat(dir, &st) == 0;
}

/* Wait up to @ms for attribute @attr of @name to read @want. */
static inline bool vu_wait_attr(const char *name, const char *attr,
				const char *want, int ms)
{
	long long end = vu_now_ms() + ms;
	char buf[128];

	do {
		if (!strcmp(vu_attr(name, attr, buf, sizeof(buf)), want))
			return true;
		usleep(10000);
	} while (vu_now_ms() < end);
	return false;
}

/* A value from the device's debugfs stats file, -1 when absent. */
static inline long long vu_stat(const char *name, const char *key)
{
	char file[PATH_MAX], buf[2048], *p;
	size_t len = strlen(key);

	snprintf(file, sizeof(file), "/sys/kernel/debug/vfio-user/%s/stats", name);
	if (vu_read_file(file, buf, sizeof(buf)))
		return -1;
	for (p = buf; p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (!strncmp(p, key, len) && p[len] == ':')
			return atoll(p + len + 1);
	}
	return -1;
}

/* The VFIO handles a VMM holds. */
struct vu_vfio {
	int container;
	int group;
	int device;
	int group_id;
};

/* The iommu_group number behind a bound device, -errno on failure. */
static inline int vu_group_id(const char *name)
{
	char link[PATH_MAX], target[256];
	ssize_t n;
	char *base;

	snprintf(link, sizeof(link), VU_BUS "/devices/%s/iommu_group", name);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	return atoi(base ? base + 1 : target);
}

/*
 * Open group @group_id into *@group (with @flags), check that it is
 * viable and attach it to @container with the type1 v2 IOMMU: what every
 * container-based VMM does before it asks for a device.
 */
static inline int vu_group_attach(int container, int group_id, int flags, int *group)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char node[64];

	snprintf(node, sizeof(node), "/dev/vfio/%d", group_id);
	*group = open(node, flags);
	if (*group < 0)
		return -errno;
	if (ioctl(*group, VFIO_GROUP_GET_STATUS, &status))
		return -errno;
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		return -EBUSY;
	if (ioctl(*group, VFIO_GROUP_SET_CONTAINER, &container))
		return -errno;
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return -errno;
	return 0;
}

/* Open the device the way QEMU's vfio-pci sysfsdev= does. */
static inline int vu_vfio_open(const char *name, struct vu_vfio *v)
{
	int err;

	v->container = v->group = v->device = -1;
	v->group_id = vu_group_id(name);
	if (v->group_id < 0)
		return v->group_id;
	v->container = open("/dev/vfio/vfio", O_RDWR);
	if (v->container < 0)
		return -errno;
	err = vu_group_attach(v->container, v->group_id, O_RDWR, &v->group);
	if (err)
		return err;
	v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, name);
	if (v->device < 0) {
		err = -errno;
		v->device = -1;
		return err;
	}
	return 0;
}

static inline void vu_vfio_close(struct vu_vfio *v)
{
	if (v->device >= 0)
		close(v->device);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
	v->container = v->group = v->device = -1;
}

/*
 * How many commands binding and opening the device send (the handshake,
 * then DMA_MAP), as a string for the server's --hostile-after: misbehaving
 * on the next command hits the VMM's first access.
 */
static inline const char *vu_setup_commands(void)
{
	static char count[16];
	struct vu_server srv;
	struct vu_vfio v;
	char name[32];

	if (count[0])
		return count;
	if (vu_server_start(&srv, NULL) || vu_bind(srv.path, name, sizeof(name))) {
		vu_server_stop(&srv);
		return "0";
	}
	if (!vu_vfio_open(name, &v))
		snprintf(count, sizeof(count), "%lld", vu_stat(name, "msgs_sent"));
	vu_vfio_close(&v);
	vu_unbind(name);
	vu_server_stop(&srv);
	return count[0] ? count : "0";
}

/* File offset of a region, in vfio-pci's encoding. */
static inline off_t vu_region_off(unsigned int index)
{
	return (off_t)index << 40;
}

/* A 32-bit register of the test device's BAR0; all-ones when unreadable. */
static inline uint32_t vu_reg_read(int device, unsigned int reg)
{
	uint32_t val = 0;

	if (pread(device, &val, 4, vu_region_off(VFIO_PCI_BAR0_REGION_INDEX) + reg) != 4)
		return 0xffffffff;
	return val;
}

/* Write one; returns 0 or -errno. */
static inline int vu_reg_write(int device, unsigned int reg, uint32_t val)
{
	return pwrite(device, &val, 4,
		      vu_region_off(VFIO_PCI_BAR0_REGION_INDEX) + reg) == 4 ? 0 : -errno;
}

/*
 * Program the test device's DMA engine and say GO: @len bytes from @src to
 * @dst, guest memory (an IOVA) to BAR2 (an offset), or back if @to_guest.
 * Returns 0, or -errno of the first register write that failed.
 */
static inline int vu_dma_go(int device, uint64_t src, uint64_t dst,
			    uint32_t len, bool to_guest)
{
	const uint32_t regs[][2] = {
		{ TDEV_REG_DMA_SRC_LO, (uint32_t)src },
		{ TDEV_REG_DMA_SRC_HI, (uint32_t)(src >> 32) },
		{ TDEV_REG_DMA_DST_LO, (uint32_t)dst },
		{ TDEV_REG_DMA_DST_HI, (uint32_t)(dst >> 32) },
		{ TDEV_REG_DMA_LEN, len },
		{ TDEV_REG_DMA_CTRL, TDEV_DMA_CTRL_GO |
				     (to_guest ? TDEV_DMA_CTRL_DIR_TO_GUEST : 0) },
	};
	unsigned int i;
	int err;

	for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		err = vu_reg_write(device, regs[i][0], regs[i][1]);
		if (err)
			return err;
	}
	return 0;
}

/* VFIO_IOMMU_MAP_DMA on @container: @size bytes at @vaddr become @iova. */
static inline int vu_map_dma(int container, void *vaddr, uint64_t iova,
			     uint64_t size, uint32_t flags)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = flags,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	return ioctl(container, VFIO_IOMMU_MAP_DMA, &map) ? -errno : 0;
}

static inline int vu_unmap_dma(int container, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = size,
	};

	return ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) ? -errno : 0;
}

/* Number of open fds of this process. */
static inline int vu_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* A value from /proc/meminfo, in kB. */
static inline long vu_meminfo_kb(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	size_t len = strlen(key);
	long val = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, len) && line[len] == ':')
			val = atol(line + len + 1);
	fclose(f);
	return val;
}

/*
 * Slab memory in use, in kB, after asking every cache to give back what it
 * can.  Shrinking a cache also empties KASAN's quarantine of that cache's
 * freed objects (kmem_cache_shrink() calls kasan_cache_shrink()): on a
 * KASAN kernel the quarantine otherwise holds megabytes of freed objects
 * that would read as a leak.  Without KASAN it just returns empty slabs,
 * so before/after comparisons are steadier either way.
 */
static inline long vu_slab_kb(void)
{
	DIR *d = opendir("/sys/kernel/slab");
	char path[PATH_MAX];
	struct dirent *de;

	while (d && (de = readdir(d))) {
		/* Merged caches appear again as symlinks: once is enough. */
		if (de->d_name[0] == '.' || de->d_type == DT_LNK)
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", de->d_name);
		vu_write_file(path, "1");
	}
	if (d)
		closedir(d);
	return vu_meminfo_kb("Slab");
}

/*
 * How much slower than Debian's kernel this one is, from VU_TIME_SCALE
 * (make check-debug sets it for its KASAN and lockdep kernel; unset means
 * 1).  Bounds that only stand for "soon enough on a loaded machine" are
 * multiplied by it through vu_ms(); bounds the driver promises (a request
 * fails within its request_timeout_ms) are not.
 */
static inline int vu_time_scale(void)
{
	const char *env = getenv("VU_TIME_SCALE");
	int scale = env ? atoi(env) : 1;

	return scale >= 1 && scale <= 100 ? scale : 1;
}

static inline int vu_ms(int ms)
{
	return ms * vu_time_scale();
}

/* How many iommu groups exist: each bound device adds one. */
static inline int vu_count_groups(void)
{
	DIR *d = opendir("/sys/kernel/iommu_groups");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The module's reference count: open device files hold one each. */
static inline int vu_module_refcnt(void)
{
	char buf[32];

	if (vu_read_file("/sys/module/vfio_user/refcnt", buf, sizeof(buf)))
		return -1;
	return atoi(buf);
}

/*
 * Wait up to @ms for the module's reference count to reach @want: a
 * server holds the zero-copy DMA file (and so a module reference) until it
 * has handled its client's disconnect.
 */
static inline int vu_wait_module_refcnt(int want, int ms)
{
	long long end = vu_now_ms() + ms;
	int cnt;

	while ((cnt = vu_module_refcnt()) != want && vu_now_ms() < end)
		usleep(10000);
	return cnt;
}

/* ==================================================================== */
/*
 * Bounded children and kernel-log checks (hostile_bind_test.c and the
 * trust-boundary tests of hostile_test.c).
 *
 * A call that may hang in the kernel runs in a child process, so that a
 * hang shows as a failed bound instead of a test-runner timeout: the test
 * waits for it with vu_child_wait() and, if it is still running, fails,
 * unblocks the kernel some other way (kills the server) and waits again.
 * A child stuck for good is left behind rather than waited for.
 */
#include <poll.h>

#ifdef TH_LOG
/* Fail the test with a message, for checks that are not one comparison. */
#define VU_FAIL(fmt, ...) do {					\
	TH_LOG(fmt, ##__VA_ARGS__);				\
	_metadata->exit_code = KSFT_FAIL;			\
} while (0)
#endif

struct vu_child {
	pid_t pid;
	int out;		/* read end of the child's result pipe */
	int status;		/* waitpid() status once reaped */
};

/*
 * Run @fn(@arg, out) in a child; @fn writes its result (at most PIPE_BUF
 * bytes) to out.  Returns 0 or -errno.
 */
static inline int vu_child_start(struct vu_child *ch,
				 void (*fn)(void *arg, int out), void *arg)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	ch->pid = fork();
	if (ch->pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (ch->pid == 0) {
		close(p[0]);
		fn(arg, p[1]);
		_exit(0);
	}
	close(p[1]);
	ch->out = p[0];
	ch->status = -1;
	return 0;
}

/*
 * Wait up to @ms for the child to exit and read its result into @res
 * (@size bytes).  0 once it is reaped with its result, -ENODATA once
 * reaped without one (it was killed first: @res is zeroed), -ETIMEDOUT
 * while it still runs (call again, or vu_child_kill()).
 */
static inline int vu_child_wait(struct vu_child *ch, int ms, void *res,
				size_t size)
{
	long long end = vu_now_ms() + ms;
	ssize_t n;

	if (ch->pid <= 0)
		return 0;
	while (waitpid(ch->pid, &ch->status, WNOHANG) == 0) {
		if (vu_now_ms() >= end)
			return -ETIMEDOUT;
		usleep(2000);
	}
	ch->pid = 0;
	n = res ? read(ch->out, res, size) : 0;
	close(ch->out);
	ch->out = -1;
	if (res && n != (ssize_t)size) {
		memset(res, 0, size);
		return -ENODATA;
	}
	return 0;
}

/* SIGKILL, then wait up to @ms as vu_child_wait() does. */
static inline int vu_child_kill(struct vu_child *ch, int ms, void *res,
				size_t size)
{
	if (ch->pid > 0)
		kill(ch->pid, SIGKILL);
	return vu_child_wait(ch, ms, res, size);
}

/*
 * vu_server_stop() with a bound: SIGKILL, and wait up to @ms for the
 * server to be reaped.  -ETIMEDOUT if it is not (a task the kernel oopsed
 * in while it exited is never reaped): then it is left behind, and only
 * its socket and directory are cleaned up.
 */
static inline int vu_server_kill(struct vu_server *srv, int ms)
{
	long long end = vu_now_ms() + ms;
	int err = 0;

	if (srv->pid > 0) {
		kill(srv->pid, SIGKILL);
		while (waitpid(srv->pid, NULL, WNOHANG) == 0) {
			if (vu_now_ms() >= end) {
				err = -ETIMEDOUT;
				break;
			}
			usleep(2000);
		}
		srv->pid = 0;
	}
	vu_server_stop(srv);
	return err;
}

/* What a vu_bind_child() reports. */
struct vu_bind_result {
	int err;		/* vu_bind()'s: 0 or -errno */
	int fds_before;		/* the writer's open fds around the write */
	int fds_after;
	long long ms;		/* how long the write took */
	char name[32];		/* the new device, on success */
};

static inline void vu_bind_child_fn(void *arg, int out)
{
	struct vu_bind_result r = { .fds_before = vu_count_fds() };
	long long start = vu_now_ms();

	r.err = vu_bind(arg, r.name, sizeof(r.name));
	r.ms = vu_now_ms() - start;
	r.fds_after = vu_count_fds();
	if (write(out, &r, sizeof(r)) != sizeof(r))
		_exit(1);
}

/* Bind @path from a child process; collect with vu_child_wait(). */
static inline int vu_bind_child(struct vu_child *ch, const char *path)
{
	return vu_child_start(ch, vu_bind_child_fn, (void *)path);
}

/* del_device from a child process: its result is the write's -errno. */
static inline void vu_unbind_child_fn(void *arg, int out)
{
	int err = vu_unbind(arg);

	if (write(out, &err, sizeof(err)) != sizeof(err))
		_exit(1);
}

static inline int vu_unbind_child(struct vu_child *ch, const char *name)
{
	return vu_child_start(ch, vu_unbind_child_fn, (void *)name);
}

/*
 * The kernel log from now on: vu_kmsg_open() skips what is there,
 * vu_kmsg_findings() counts the lines since that look like a kernel
 * report (the same patterns the test runner looks for in the whole
 * dmesg) and copies the first to @first.  So a test can tell that it was
 * its own actions that produced one.
 */
static inline int vu_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

static inline int vu_kmsg_findings(int fd, char *first, size_t size)
{
	static const char *const bad[] = {
		"WARNING:", "BUG:", "kernel BUG", "Oops", "refcount_t", "KASAN",
		"UBSAN", "soft lockup", "list_del corruption",
		"general protection", "circular locking",
		"blocked for more than", "file count is 0", "Call Trace",
	};
	char rec[2048];
	int n = 0;
	size_t i;

	if (first && size)
		first[0] = '\0';
	if (fd < 0)
		return 0;
	for (;;) {
		ssize_t len = read(fd, rec, sizeof(rec) - 1);
		char *msg;

		if (len < 0 && errno == EPIPE)
			continue;	/* overwritten records: go on */
		if (len <= 0)
			break;
		rec[len] = '\0';
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			if (!strstr(msg, bad[i]))
				continue;
			if (!n++ && first && size)
				snprintf(first, size, "%.*s", (int)strcspn(msg, "\n"), msg);
			break;
		}
	}
	return n;
}

/*
 * ==== Faults, fd tables and stress (the tests of issue 11) ====
 *
 * What the regression tests for stale mappings, descriptors in shared
 * tables and the DMA window's unmap races need besides the above: catching
 * a fault instead of dying of it, asking the kernel whether a page is
 * mapped, scanning an fd table without allocating, reading the kernel log
 * from a point on, and surviving a kernel BUG() long enough to report it.
 */
#include <setjmp.h>
#include <sys/mman.h>

/* VU_STRESS=N multiplies iteration counts (make check-debug raises it). */
static inline int vu_stress(int base)
{
	const char *env = getenv("VU_STRESS");
	int scale = env ? atoi(env) : 1;

	return base * (scale > 0 ? scale : 1);
}

#define VU_PANIC_ON_OOPS	"/proc/sys/kernel/panic_on_oops"

/*
 * A BUG() in a VFIO path (type1's unmap retry loop has one) kills the task
 * that hit it with type1's mutexes held: the test's other threads then
 * sleep on them forever, unkillable, and the run hangs until the VM's
 * timeout.  A test that may provoke one turns oopses into panics for its
 * duration, so that the VM stops at once and the rig reports the BUG and
 * its stack.  Returns the old setting for vu_panic_on_oops_restore().
 */
static inline int vu_panic_on_oops(void)
{
	char buf[16];
	int old = 0;

	if (!vu_read_file(VU_PANIC_ON_OOPS, buf, sizeof(buf)))
		old = atoi(buf);
	vu_write_file(VU_PANIC_ON_OOPS, "1");
	return old;
}

static inline void vu_panic_on_oops_restore(int old)
{
	vu_write_file(VU_PANIC_ON_OOPS, old ? "1" : "0");
}

/*
 * Faults caught per thread: a thread arms vu_fault_jmp with sigsetjmp(...,
 * 1) and sets vu_fault_armed around the accesses that may fault; the
 * handler (vu_fault_guard_install(), once per process) jumps back with the
 * signal number.  A fault in a thread that is not armed kills the process
 * as without a handler.
 */
static __thread sigjmp_buf vu_fault_jmp;
static __thread volatile sig_atomic_t vu_fault_armed;

static inline void vu_fault_handler(int sig)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	if (vu_fault_armed) {
		vu_fault_armed = 0;
		siglongjmp(vu_fault_jmp, sig);
	}
	sigaction(sig, &dfl, NULL);
	raise(sig);
}

static inline void vu_fault_guard_install(void)
{
	struct sigaction sa = { .sa_handler = vu_fault_handler };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

/*
 * One 32-bit access to @p that may fault: 0 when it worked (a read leaves
 * the value in *@val), else the signal it raised (SIGBUS, SIGSEGV).
 */
static inline int vu_probe(volatile uint32_t *p, bool write, uint32_t *val)
{
	int sig;

	vu_fault_guard_install();
	sig = sigsetjmp(vu_fault_jmp, 1);
	if (!sig) {
		vu_fault_armed = 1;
		if (write)
			*p = *val;
		else
			*val = *p;
		vu_fault_armed = 0;
	}
	return sig;
}

/*
 * Does this process have a page table entry for @addr right now?  1 or 0,
 * -errno when pagemap cannot say.  (VM_PFNMAP mappings always read 0:
 * pagemap reports them as holes.)
 */
static inline int vu_page_present(const void *addr)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t ent;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pread(fd, &ent, sizeof(ent), (uintptr_t)addr / page * sizeof(ent));
	close(fd);
	if (n != sizeof(ent))
		return n < 0 ? -errno : -EIO;
	return !!(ent >> 63);
}

/* What readlink() of /proc/self/fd/N names for the files the driver handles. */
#define VU_DMA_WINDOW_LINK	"[vfio-user-dma]"	/* any fs prefix */
#define VU_SERVER_BAR2_LINK	"/memfd:vfu-test-bar2"

/*
 * The first fd of this process whose /proc/self/fd link contains one of
 * @needles (NULL-terminated); -1 if none.  @dirfd is an open
 * /proc/self/fd (-1: open one here): a scanner racing the driver's fd
 * numbers opens its directory once, out of the way.  Allocates nothing,
 * so forked children of threaded tests may call it.  @what gets the link.
 */
static inline int vu_fd_scan(int dirfd, const char *const *needles,
			     char *what, size_t size)
{
	char buf[4096], link[256];
	int fd = dirfd, found = -1, i;
	ssize_t n, off, len;

	if (fd < 0)
		fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	lseek(fd, 0, SEEK_SET);
	while (found < 0 && (n = getdents64(fd, buf, sizeof(buf))) > 0) {
		for (off = 0; found < 0 && off < n; off += ((struct dirent64 *)(buf + off))->d_reclen) {
			struct dirent64 *de = (struct dirent64 *)(buf + off);

			if (de->d_name[0] == '.')
				continue;
			len = readlinkat(fd, de->d_name, link, sizeof(link) - 1);
			if (len <= 0)
				continue;
			link[len] = '\0';
			for (i = 0; needles[i]; i++) {
				if (strstr(link, needles[i])) {
					found = atoi(de->d_name);
					if (what && size)
						snprintf(what, size, "fd %d -> %.200s", found, link);
					break;
				}
			}
		}
	}
	if (dirfd < 0)
		close(fd);
	return found;
}

/* The kernel log from a point on: vu_kmsg_open() is above. */
/*
 * Kernel log records since @fd was opened (or last read) that contain
 * @needle and not @except (NULL: no exception); the first one goes to
 * @first (may be NULL).  The records are consumed.
 */
static inline int vu_kmsg_count(int fd, const char *needle, const char *except,
				char *first, size_t size)
{
	char rec[8192], *msg, *end;
	int count = 0;
	ssize_t n;

	if (first && size)
		first[0] = '\0';
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: go on */
		if (n <= 0)
			break;
		rec[n] = '\0';
		msg = strchr(rec, ';');
		if (!msg)
			continue;
		end = strchr(++msg, '\n');
		if (end)
			*end = '\0';
		if (!strstr(msg, needle) || (except && strstr(msg, except)))
			continue;
		if (!count++ && first && size)
			snprintf(first, size, "%s", msg);
	}
	return count;
}


/*
 * ==== VFIO paths: type1, device cdev + iommufd, iommufd's compat container ====
 *
 * (issue 12: vfio_paths_test.c, vmm_cloud_hypervisor_test.c,
 * vmm_crosvm_test.c.)  A VMM reaches a VFIO device one of three ways:
 *
 *   VU_PATH_TYPE1   /dev/vfio/vfio (type1) as the group's container: what
 *                   vu_vfio_open() does, QEMU's and every VMM's legacy path;
 *   VU_PATH_CDEV    the device cdev /dev/vfio/devices/vfioN, bound to an
 *                   /dev/iommu fd (VFIO_DEVICE_BIND_IOMMUFD), attached to an
 *                   IOAS of its own (IOMMU_IOAS_ALLOC,
 *                   VFIO_DEVICE_ATTACH_IOMMUFD_PT), DMA by IOMMU_IOAS_MAP;
 *   VU_PATH_COMPAT  /dev/iommu handed to VFIO_GROUP_SET_CONTAINER as the
 *                   container: iommufd emulates type1's VFIO_SET_IOMMU and
 *                   VFIO_IOMMU_* ioctls on it (what a kernel with
 *                   CONFIG_IOMMUFD_VFIO_CONTAINER does for /dev/vfio/vfio).
 *
 * The last two need CONFIG_IOMMUFD (and the cdev CONFIG_VFIO_DEVICE_CDEV):
 * vu_path_available() says whether this kernel has them, and why not.
 */

/*
 * Debian 12's linux-libc-dev is 6.1's: no <linux/iommufd.h> (6.2) and no
 * VFIO device cdev ioctls (6.6).  What the tests use of them, with the
 * kernel's own values (include/uapi/linux/iommufd.h and vfio.h of 6.12).
 */
#if defined(__has_include)
#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#endif
#endif

#ifndef IOMMUFD_TYPE
#define IOMMUFD_TYPE			(';')
#define IOMMUFD_CMD_DESTROY		0x80
#define IOMMUFD_CMD_IOAS_ALLOC		0x81
#define IOMMUFD_CMD_IOAS_MAP		0x85
#define IOMMUFD_CMD_IOAS_UNMAP		0x86

struct iommu_destroy {
	__u32 size;
	__u32 id;
};

#define IOMMU_DESTROY		_IO(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY)

struct iommu_ioas_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_ioas_id;
};

#define IOMMU_IOAS_ALLOC	_IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOC)

enum iommufd_ioas_map_flags {
	IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0,
	IOMMU_IOAS_MAP_WRITEABLE = 1 << 1,
	IOMMU_IOAS_MAP_READABLE = 1 << 2,
};

struct iommu_ioas_map {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 user_va;
	__aligned_u64 length;
	__aligned_u64 iova;
};

#define IOMMU_IOAS_MAP		_IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP)

struct iommu_ioas_unmap {
	__u32 size;
	__u32 ioas_id;
	__aligned_u64 iova;
	__aligned_u64 length;
};

#define IOMMU_IOAS_UNMAP	_IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_UNMAP)
#endif /* !IOMMUFD_TYPE */

#ifndef VFIO_DEVICE_BIND_IOMMUFD
struct vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;
	__s32 iommufd;
	__u32 out_devid;
};

#define VFIO_DEVICE_BIND_IOMMUFD	_IO(VFIO_TYPE, VFIO_BASE + 18)

struct vfio_device_attach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
	__u32 pt_id;
};

#define VFIO_DEVICE_ATTACH_IOMMUFD_PT	_IO(VFIO_TYPE, VFIO_BASE + 19)

struct vfio_device_detach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
};

#define VFIO_DEVICE_DETACH_IOMMUFD_PT	_IO(VFIO_TYPE, VFIO_BASE + 20)
#endif /* !VFIO_DEVICE_BIND_IOMMUFD */

enum vu_path {
	VU_PATH_TYPE1,
	VU_PATH_CDEV,
	VU_PATH_COMPAT,
};

static inline const char *vu_path_name(enum vu_path path)
{
	switch (path) {
	case VU_PATH_TYPE1:
		return "type1 container";
	case VU_PATH_CDEV:
		return "device cdev with iommufd";
	case VU_PATH_COMPAT:
		return "iommufd compat container";
	}
	return "?";
}

/* Is @name a character device of /proc/devices (a registered major)? */
static inline bool vu_chrdev_registered(const char *name)
{
	FILE *f = fopen("/proc/devices", "r");
	char line[128], dev[64];
	bool found = false, chr = false;
	int major;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Character devices:", 18))
			chr = true;
		else if (!strncmp(line, "Block devices:", 14))
			chr = false;
		else if (chr && sscanf(line, "%d %63s", &major, dev) == 2)
			found = !strcmp(dev, name);
	}
	fclose(f);
	return found;
}

/*
 * Can this kernel take @path?  1, or 0 with the reason in @why, for
 * SKIP(): /dev/iommu is iommufd's (CONFIG_IOMMUFD), the "vfio-dev"
 * character major the device cdevs' (CONFIG_VFIO_DEVICE_CDEV).
 */
static inline int vu_path_available(enum vu_path path, char *why, size_t size)
{
	struct stat st;

	if (path == VU_PATH_TYPE1) {
		if (!stat("/dev/vfio/vfio", &st))
			return 1;
		snprintf(why, size, "no /dev/vfio/vfio: this kernel has no VFIO "
			 "container (CONFIG_VFIO_CONTAINER)");
		return 0;
	}
	if (stat("/dev/iommu", &st)) {
		snprintf(why, size, "no /dev/iommu: this kernel has no iommufd "
			 "(CONFIG_IOMMUFD)");
		return 0;
	}
	if (path == VU_PATH_CDEV && !vu_chrdev_registered("vfio-dev")) {
		snprintf(why, size, "no vfio-dev character devices: this kernel "
			 "has no VFIO device cdev (CONFIG_VFIO_DEVICE_CDEV)");
		return 0;
	}
	return 1;
}

/* What a VMM holds on one path (unused fds are -1). */
struct vu_dev {
	enum vu_path path;
	int container;		/* type1: /dev/vfio/vfio; compat: /dev/iommu */
	int iommufd;		/* cdev: /dev/iommu; compat: == container */
	int group;		/* type1 and compat */
	int device;
	int group_id;		/* type1 and compat */
	uint32_t ioas_id;	/* cdev: the IOAS the device is attached to */
	uint32_t devid;		/* cdev: VFIO_DEVICE_BIND_IOMMUFD's out_devid */
	char name[32];		/* the vfio-userN device */
	char cdev[32];		/* cdev: "vfioN" of /dev/vfio/devices/ */
};

/*
 * The device cdev's name, "vfioN", from the one entry of
 * /sys/bus/vfio-user/devices/@name/vfio-dev/ (how Cloud Hypervisor and
 * QEMU find it); 0 or -errno.
 */
static inline int vu_cdev_name(const char *name, char *buf, size_t size)
{
	char dir[PATH_MAX];
	struct dirent *de;
	int err = -ENOENT;
	DIR *d;

	snprintf(dir, sizeof(dir), VU_BUS "/devices/%s/vfio-dev", name);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "vfio", 4) && strlen(de->d_name) < size) {
			strcpy(buf, de->d_name);
			err = 0;
			break;
		}
	closedir(d);
	return err;
}

/* Open @d's device fd on the container or iommufd it already has. */
static inline int vu_dev_open_device(struct vu_dev *d)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	char path[64];
	int err;

	if (d->path != VU_PATH_CDEV) {
		d->device = ioctl(d->group, VFIO_GROUP_GET_DEVICE_FD, d->name);
		if (d->device < 0) {
			err = -errno;
			d->device = -1;
			return err;
		}
		return 0;
	}
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", d->cdev);
	d->device = open(path, O_RDWR | O_CLOEXEC);
	if (d->device < 0) {
		err = -errno;
		d->device = -1;
		return err;
	}
	bind.iommufd = d->iommufd;
	attach.pt_id = d->ioas_id;
	if (ioctl(d->device, VFIO_DEVICE_BIND_IOMMUFD, &bind) ||
	    ioctl(d->device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach)) {
		err = -errno;
		close(d->device);
		d->device = -1;
		return err;
	}
	d->devid = bind.out_devid;
	return 0;
}

static inline void vu_dev_close_device(struct vu_dev *d)
{
	if (d->device >= 0)
		close(d->device);
	d->device = -1;
}

/*
 * Open device @name over @path the way a VMM does; 0 or -errno (with
 * whatever was opened left in @d for vu_dev_close()).
 */
static inline int vu_dev_open(const char *name, enum vu_path path,
			      struct vu_dev *d)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	int err;

	memset(d, 0, sizeof(*d));
	d->path = path;
	d->container = d->iommufd = d->group = d->device = -1;
	snprintf(d->name, sizeof(d->name), "%s", name);
	if (path == VU_PATH_CDEV) {
		err = vu_cdev_name(name, d->cdev, sizeof(d->cdev));
		if (err)
			return err;
		d->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
		if (d->iommufd < 0)
			return -errno;
		if (ioctl(d->iommufd, IOMMU_IOAS_ALLOC, &alloc))
			return -errno;
		d->ioas_id = alloc.out_ioas_id;
		return vu_dev_open_device(d);
	}

	d->group_id = vu_group_id(name);
	if (d->group_id < 0)
		return d->group_id;
	d->container = open(path == VU_PATH_TYPE1 ? "/dev/vfio/vfio" : "/dev/iommu",
			    O_RDWR | O_CLOEXEC);
	if (d->container < 0)
		return -errno;
	if (path == VU_PATH_COMPAT)
		d->iommufd = d->container;
	err = vu_group_attach(d->container, d->group_id, O_RDWR | O_CLOEXEC, &d->group);
	if (err)
		return err;
	return vu_dev_open_device(d);
}

static inline void vu_dev_close(struct vu_dev *d)
{
	vu_dev_close_device(d);
	if (d->group >= 0)
		close(d->group);
	if (d->container >= 0)
		close(d->container);
	if (d->iommufd >= 0 && d->iommufd != d->container)
		close(d->iommufd);
	d->container = d->iommufd = d->group = -1;
}

/*
 * Map @size bytes at @vaddr to @iova (VFIO_DMA_MAP_FLAG_READ/_WRITE), the
 * way @d's path does it; 0 or -errno.
 */
static inline int vu_dev_map(struct vu_dev *d, void *vaddr, uint64_t iova,
			     uint64_t size, uint32_t flags)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA,
		.ioas_id = d->ioas_id,
		.user_va = (uintptr_t)vaddr,
		.length = size,
		.iova = iova,
	};

	if (d->path != VU_PATH_CDEV)
		return vu_map_dma(d->container, vaddr, iova, size, flags);
	if (flags & VFIO_DMA_MAP_FLAG_READ)
		map.flags |= IOMMU_IOAS_MAP_READABLE;
	if (flags & VFIO_DMA_MAP_FLAG_WRITE)
		map.flags |= IOMMU_IOAS_MAP_WRITEABLE;
	return ioctl(d->iommufd, IOMMU_IOAS_MAP, &map) ? -errno : 0;
}

/*
 * Unmap [@iova, @iova + @size): 0, -errno, or -ERANGE when the kernel
 * says it unmapped another length than that.
 */
static inline int vu_dev_unmap(struct vu_dev *d, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = size,
	};
	struct iommu_ioas_unmap ioas_unmap = {
		.size = sizeof(ioas_unmap),
		.ioas_id = d->ioas_id,
		.iova = iova,
		.length = size,
	};

	if (d->path == VU_PATH_CDEV) {
		if (ioctl(d->iommufd, IOMMU_IOAS_UNMAP, &ioas_unmap))
			return -errno;
		return ioas_unmap.length == size ? 0 : -ERANGE;
	}
	if (ioctl(d->container, VFIO_IOMMU_UNMAP_DMA, &unmap))
		return -errno;
	return unmap.size == size ? 0 : -ERANGE;
}

/* A "Key:   N kB" line of /proc/self/status, in kB; -1 when absent. */
static inline long vu_status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	size_t len = strlen(key);
	char line[256];
	long val = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, len) && line[len] == ':')
			val = atol(line + len + 1);
	fclose(f);
	return val;
}

/*
 * Where the VMM's mm is charged for the pages the zero-copy window pins:
 * type1 counts the pins of an emulated-IOMMU device in locked_vm (VmLck;
 * vfio_pin_page_external()), iommufd in pinned_vm (VmPin;
 * do_update_pinned(), for every accounting mode).
 */
static inline const char *vu_path_pin_key(enum vu_path path)
{
	return path == VU_PATH_TYPE1 ? "VmLck" : "VmPin";
}

/*
 * Run one transfer of the test device's DMA engine and wait for it: 0 when
 * DONE, else the engine's errno (ETIMEDOUT if it stayed busy, -1 if the
 * registers could not be reached).
 */
static inline int vu_engine_run(int device, uint64_t src, uint64_t dst,
				uint32_t len, bool to_guest)
{
	long long end = vu_now_ms() + vu_ms(5000);
	uint32_t status;

	if (vu_dma_go(device, src, dst, len, to_guest))
		return -1;
	do {
		status = vu_reg_read(device, TDEV_REG_DMA_STATUS);
		if (status == TDEV_DMA_STATUS_DONE)
			return 0;
		if (status == TDEV_DMA_STATUS_ERROR)
			return vu_reg_read(device, TDEV_REG_DMA_ERROR);
		if (status != TDEV_DMA_STATUS_BUSY)
			return -1;
		usleep(1000);
	} while (vu_now_ms() < end);
	return ETIMEDOUT;
}

/* A byte pattern that differs for every @seed and offset. */
static inline void vu_fill(void *buf, size_t len, uint32_t seed)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 131 + (i >> 8));
}

/*
 * The KVM-VFIO pseudo device a VMM tells about its VFIO files
 * (KVM_DEV_VFIO_FILE_ADD, formerly KVM_DEV_VFIO_GROUP_ADD: same values):
 * a group fd on the legacy paths, the device cdev fd with iommufd.  0, or
 * -errno (-ENODEV: no /dev/kvm, as in the TCG test VM).
 */
#include <linux/kvm.h>

struct vu_kvm_vfio {
	int kvm, vm, dev;
};

static inline int vu_kvm_vfio_add(struct vu_kvm_vfio *k, int fd)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO };
	struct kvm_device_attr attr = {
		.group = KVM_DEV_VFIO_GROUP,
		.attr = KVM_DEV_VFIO_GROUP_ADD,
		.addr = (uintptr_t)&fd,
	};

	k->kvm = k->vm = k->dev = -1;
	k->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->kvm < 0)
		return errno == ENOENT ? -ENODEV : -errno;
	k->vm = ioctl(k->kvm, KVM_CREATE_VM, 0);
	if (k->vm < 0)
		return -errno;
	if (ioctl(k->vm, KVM_CREATE_DEVICE, &cd))
		return -errno;
	k->dev = cd.fd;
	return ioctl(k->dev, KVM_SET_DEVICE_ATTR, &attr) ? -errno : 0;
}

static inline void vu_kvm_vfio_close(struct vu_kvm_vfio *k)
{
	if (k->dev >= 0)
		close(k->dev);
	if (k->vm >= 0)
		close(k->vm);
	if (k->kvm >= 0)
		close(k->kvm);
	k->kvm = k->vm = k->dev = -1;
}

#endif /* VU_TEST_H */
