/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The vfio-user selftest library: start the project's test server, bind
 * it through sysfs, open the resulting device the way a VMM does (type1
 * container, device cdev with iommufd, iommufd's compat container), drive
 * the test device, and read the numbers the leak checks compare.
 * Everything goes through the real interfaces.
 *
 * One header for the library's .c files in lib/ (each file's opening
 * comment says what it owns); it does not need kselftest_harness.h, so the
 * benchmarks use it too.  The tests include it through vu_test.h.
 */
#ifndef VU_UTIL_H
#define VU_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <linux/vfio.h>

#include "test_device.h"
#include "lib/vu_uapi.h"

#define VU_BUS		"/sys/bus/vfio-user"
/* Room for the server's whole command line (wrapper, options, extras). */
#define VU_MAX_ARGS	64

/* ---- lib/clock.c: time, and the knobs that scale it ---- */

/**
 * vu_now_ms() - CLOCK_MONOTONIC in milliseconds.
 */
long long vu_now_ms(void);

/**
 * vu_now_ns() - CLOCK_MONOTONIC in nanoseconds.
 *
 * The one reading of the clock, inline: the benchmarks time every single
 * operation with it, and code that does not link the library (an
 * LD_PRELOAD shim in the server) can stamp with the same clock.
 */
static inline uint64_t vu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/**
 * vu_time_scale() - how much slower than Debian's kernel this one is.
 *
 * From VU_TIME_SCALE (make check-debug sets it for its KASAN and lockdep
 * kernel; unset means 1).  Bounds that only stand for "soon enough on a
 * loaded machine" are multiplied by it through vu_ms(); bounds the driver
 * promises (a request fails within its request_timeout_ms) are not.
 *
 * Return: the factor, 1 to 100.
 */
int vu_time_scale(void);

/**
 * vu_ms() - a "soon enough" bound: @ms times vu_time_scale().
 * @ms: the bound on Debian's kernel.
 */
int vu_ms(int ms);

/**
 * vu_stress() - an iteration count: @base times VU_STRESS (default 1).
 * @base: the count for make check (make check-debug raises VU_STRESS).
 */
int vu_stress(int base);

/* ---- lib/server.c: the test server process ---- */

/* A test server process and the socket it listens on. */
struct vu_server {
	pid_t pid;
	char dir[64];
	char path[108];
};

/*
 * How vu_server_spawn() starts the server; a zeroed struct (or NULL) is
 * what vu_server_start() does.  The lists are NULL-terminated.
 */
struct vu_server_opts {
	const char *binary;		/* NULL: vu_server_binary() */
	const char *const *wrapper;	/* argv run in front of it (valgrind) */
	const char *const *env;		/* "NAME=value" added to its environment */
	bool verbose;			/* -v, before @extra */
	bool die_with_parent;		/* SIGTERM when the test dies (PR_SET_PDEATHSIG) */
	bool quiet;			/* its stderr goes to /dev/null */
	int ready_ms;			/* bound on the wait for "ready"; 0: none */
};

/**
 * vu_server_binary() - the test server's path: next to this program.
 * @buf: gets the path.
 * @size: size of @buf.
 */
void vu_server_binary(char *buf, size_t size);

/**
 * vu_server_mkdir() - a fresh directory for the server's socket.
 * @srv: gets the directory in @srv->dir and the socket path in @srv->path.
 * @tmpl: mkdtemp() template, e.g. "/tmp/vu-test-XXXXXX".
 *
 * Return: 0 or -errno.
 */
int vu_server_mkdir(struct vu_server *srv, const char *tmpl);

/**
 * vu_server_spawn() - start a server on @srv->path and wait until it listens.
 * @srv: its socket path set (vu_server_mkdir()); gets the pid.
 * @opts: how to start it; NULL: the defaults.
 * @extra: extra arguments, NULL-terminated (NULL: none).
 *
 * The server runs as "[wrapper...] binary -s PATH --ready-fd N [-v] [extra...]"
 * (with @opts->env added to its environment) and says "ready" on fd N
 * once it listens.  The directory is left alone,
 * so a server can be started again on the same path.
 *
 * Return: 0 once it is ready, -errno if it could not be started, -ECHILD
 * if it never said ready (it exited, or @opts->ready_ms passed; it may
 * still run: vu_server_stop() it).
 */
int vu_server_spawn(struct vu_server *srv, const struct vu_server_opts *opts,
		    const char *const *extra);

/**
 * vu_server_startv() - start a server with extra arguments in a fresh directory.
 * @srv: gets the server.
 * @extra: extra arguments, NULL-terminated (NULL: none).
 *
 * vu_server_mkdir() under /tmp, then vu_server_spawn() with the defaults.
 *
 * Return: 0 once it listens, or -errno.
 */
int vu_server_startv(struct vu_server *srv, const char *const *extra);

#define vu_server_start(srv, ...) \
	vu_server_startv(srv, (const char *const[]){ __VA_ARGS__ })

/**
 * vu_server_wait() - wait for the server to exit.
 * @srv: the server; its pid is 0 afterwards.
 * @ms: bound on the wait; after it the server is killed (SIGKILL).
 *
 * Return: its exit code, or -1 (killed by a signal, or by the bound).
 */
int vu_server_wait(struct vu_server *srv, int ms);

/**
 * vu_server_term() - SIGTERM, as a supervisor would, and vu_server_wait().
 * @srv: the server (pid 0: not running, returns 0).
 * @ms: bound on the wait.
 *
 * Return: its exit code, or -1.
 */
int vu_server_term(struct vu_server *srv, int ms);

/**
 * vu_server_stop() - SIGKILL the server, reap it, remove its socket and directory.
 * @srv: the server.
 */
void vu_server_stop(struct vu_server *srv);

/**
 * vu_server_kill() - vu_server_stop() with a bound.
 * @srv: the server.
 * @ms: how long to wait for it to be reaped.
 *
 * SIGKILL, and wait up to @ms for the server to be reaped.  A task the
 * kernel oopsed in while it exited is never reaped: then it is left
 * behind, and only its socket and directory are cleaned up.
 *
 * Return: 0, or -ETIMEDOUT if it was not reaped.
 */
int vu_server_kill(struct vu_server *srv, int ms);

/**
 * vu_setup_commands() - how many commands binding and opening the device send.
 *
 * The handshake, then DMA_MAP, as a string for the server's
 * --hostile-after: misbehaving on the next command hits the VMM's first
 * access.  Measured once (with a server of its own), then remembered.
 *
 * Return: the count as a decimal string, "0" if it could not be measured.
 */
const char *vu_setup_commands(void);

/* ---- lib/sysfs.c: files, the bus's attributes, bind and unbind ---- */

/**
 * vu_write_file() - write @val to a (sysfs) file.
 * @file: the file.
 * @val: the string to write, in one write(2).
 *
 * Return: 0 or -errno of the open or the write.
 */
int vu_write_file(const char *file, const char *val);

/**
 * vu_read_file() - read a (sysfs) file, trailing newlines stripped.
 * @file: the file.
 * @buf: gets its contents, NUL-terminated.
 * @size: size of @buf.
 *
 * Return: 0 or -errno.
 */
int vu_read_file(const char *file, char *buf, size_t size);

/**
 * vu_attr() - read attribute @attr of device @name into @buf.
 * @name: the vfio-userN device.
 * @attr: the attribute's file name.
 * @buf: gets the value, "" when unreadable.
 * @size: size of @buf.
 *
 * Return: @buf.
 */
const char *vu_attr(const char *name, const char *attr, char *buf, size_t size);

/**
 * vu_set_attr() - write @val to attribute @attr of device @name.
 * @name: the vfio-userN device.
 * @attr: the attribute's file name.
 * @val: the value.
 *
 * Return: 0 or -errno.
 */
int vu_set_attr(const char *name, const char *attr, const char *val);

/**
 * vu_highest_id() - highest N of the vfio-userN devices now present.
 *
 * Return: N, or -1 when there are none.
 */
int vu_highest_id(void);

/* A device seen before a bind: see vu_bind(). */
struct vu_seen {
	char name[32];
	char path[108];
};

/**
 * vu_bind() - bind the server listening at @path (new_device).
 * @path: the server's socket.
 * @name: gets the new device's name.
 * @size: size of @name.
 *
 * The new device is the one whose socket_path is @path and that was not
 * there before.  A name seen before may come back for the new device
 * (another thread deleted that device meanwhile and its number was
 * reused), so a device counts as old only if both its name and its socket
 * path were seen.
 *
 * Return: 0, -errno of the write to new_device, or -ENOENT if the device
 * did not show up.
 */
int vu_bind(const char *path, char *name, size_t size);

/**
 * vu_find_new() - the device bound to @path that is not in @seen.
 * @path: the server's socket.
 * @seen: the devices seen before, name and socket path.
 * @nseen: how many.
 * @name: gets the device's name.
 * @size: size of @name.
 *
 * Return: 0, or -ENOENT.
 */
int vu_find_new(const char *path, const struct vu_seen *seen, int nseen,
		char *name, size_t size);

/**
 * vu_unbind() - delete device @name (del_device).
 * @name: the vfio-userN device.
 *
 * Return: 0 or -errno of the write.
 */
int vu_unbind(const char *name);

/**
 * vu_drop_sys_admin() - drop CAP_SYS_ADMIN from this process, keep uid 0.
 *
 * From the effective and permitted sets: what a root process without the
 * capability meets in the driver's checks (EPERM), past the file modes.
 *
 * Return: 0 or -errno from capset().
 */
int vu_drop_sys_admin(void);

/**
 * vu_exists() - is device @name on the bus?
 * @name: the vfio-userN device.
 */
bool vu_exists(const char *name);

/**
 * vu_wait_attr() - wait up to @ms for attribute @attr of @name to read @want.
 * @name: the vfio-userN device.
 * @attr: the attribute.
 * @want: the value waited for.
 * @ms: the bound.
 *
 * Return: true once it does, false if it did not within @ms.
 */
bool vu_wait_attr(const char *name, const char *attr, const char *want, int ms);

/**
 * vu_stat() - a value from the device's debugfs stats file.
 * @name: the vfio-userN device.
 * @key: the name before the ':'.
 *
 * Return: the value, -1 when absent.
 */
long long vu_stat(const char *name, const char *key);

/**
 * vu_group_id() - the iommu_group number behind a bound device.
 * @name: the vfio-userN device.
 *
 * Return: the number, or -errno.
 */
int vu_group_id(const char *name);

/**
 * vu_group_id_at() - the iommu group of a device given by its sysfs directory.
 * @sysfsdev: the device's directory, as QEMU's sysfsdev= takes it.
 *
 * Return: the group number, or -errno (-ENOENT: no iommu_group link).
 */
int vu_group_id_at(const char *sysfsdev);

/**
 * vu_cdev_name() - the device cdev's name, "vfioN".
 * @name: the vfio-userN device.
 * @buf: gets the name.
 * @size: size of @buf.
 *
 * From the one entry of /sys/bus/vfio-user/devices/@name/vfio-dev/ (how
 * Cloud Hypervisor and QEMU find it).
 *
 * Return: 0 or -errno.
 */
int vu_cdev_name(const char *name, char *buf, size_t size);

/**
 * vu_count_groups() - how many iommu groups exist: each bound device adds one.
 *
 * Return: the count, -1 when /sys/kernel/iommu_groups cannot be read.
 */
int vu_count_groups(void);

/**
 * vu_module_refcnt() - the module's reference count: open device files hold one each.
 *
 * Return: the count, -1 when unreadable.
 */
int vu_module_refcnt(void);

/**
 * vu_wait_module_refcnt() - wait up to @ms for the module's reference count to be @want.
 * @want: the count waited for.
 * @ms: the bound.
 *
 * A server holds the zero-copy DMA file (and so a module reference) until
 * it has handled its client's disconnect.
 *
 * Return: the last count read.
 */
int vu_wait_module_refcnt(int want, int ms);

/* ---- lib/module.c: loading and unloading the driver ---- */

/**
 * vu_module_load() - load the driver again after vu_module_unload().
 *
 * The module is $VFIO_USER_KO when set (the rig sets it to what it
 * loaded), else the one the tree of this test binary built.
 *
 * Return: 0 or -errno from finit_module().
 */
int vu_module_load(void);

/**
 * vu_module_unload() - rmmod vfio_user, without waiting (O_NONBLOCK).
 *
 * Return: 0, -EWOULDBLOCK while a device file holds the module, or -errno.
 */
int vu_module_unload(void);

/* ---- lib/mdev.c: the driver's mdev front end ---- */

#define VU_MDEV_PARENT	"/sys/class/mdev_bus/vfio_user"
#define VU_MDEV_TYPE_NAME	"vfio_user-socket"
#define VU_MDEV_TYPE	VU_MDEV_PARENT "/mdev_supported_types/" VU_MDEV_TYPE_NAME
#define VU_MDEV_DEVICES	"/sys/bus/mdev/devices"

/**
 * vu_mdev_available() - whether this kernel has mdev support, so that the
 *	driver must have registered its mdev parent.
 * @why: gets the reason when it has not.
 * @size: size of @why.
 *
 * Return: true when mdev core is loaded, built in or installed as a module.
 */
bool vu_mdev_available(char *why, size_t size);

/**
 * vu_mdev_uuid() - a new random (version 4) UUID, as mdevctl makes them.
 * @buf: gets it, 37 bytes with the NUL.
 */
void vu_mdev_uuid(char buf[37]);

/**
 * vu_mdev_create() - create an mdev of type vfio_user-socket.
 * @uuid: its UUID.
 *
 * Return: 0 or -errno from writing the type's create attribute.
 */
int vu_mdev_create(const char *uuid);

/**
 * vu_mdev_bind() - bind a server to an mdev: write its socket_path.
 * @uuid: the mdev.
 * @path: the server's socket.
 *
 * Return: 0 or -errno from the write.
 */
int vu_mdev_bind(const char *uuid, const char *path);

/**
 * vu_mdev_remove() - remove an mdev (its remove attribute).
 * @uuid: the mdev.
 *
 * Return: 0 or -errno.
 */
int vu_mdev_remove(const char *uuid);

/**
 * vu_mdev_dir() - the mdev's sysfs directory, what sysfsdev= takes.
 * @uuid: the mdev.
 * @buf: gets the path.
 * @size: size of @buf.
 *
 * Return: @buf.
 */
const char *vu_mdev_dir(const char *uuid, char *buf, size_t size);

/**
 * vu_mdev_attr() - read one of the mdev's attributes, the last newline cut.
 * @uuid: the mdev.
 * @attr: relative to its directory, e.g. "vfio_user/device".
 * @buf: gets the value; "<error N>" when unreadable.
 * @size: size of @buf.
 *
 * Return: @buf.
 */
const char *vu_mdev_attr(const char *uuid, const char *attr, char *buf, size_t size);

/**
 * vu_mdev_exists() - whether the mdev exists.
 * @uuid: the mdev.
 */
bool vu_mdev_exists(const char *uuid);

/* ---- lib/vfio.c: the type1 container path, DMA maps, register access ---- */

/* The VFIO handles a VMM holds. */
struct vu_vfio {
	int container;
	int group;
	int device;
	int group_id;
};

/**
 * vu_group_attach() - open a group and attach it to @container.
 * @container: /dev/vfio/vfio, or /dev/iommu for iommufd's compat container.
 * @group_id: the iommu group.
 * @flags: open(2) flags for /dev/vfio/@group_id.
 * @group: gets the group fd (also on failure, when it was opened).
 *
 * Checks that the group is viable and sets the type1 v2 IOMMU: what every
 * container-based VMM does before it asks for a device.
 *
 * Return: 0, -EBUSY if the group is not viable, or -errno.
 */
int vu_group_attach(int container, int group_id, int flags, int *group);

/**
 * vu_vfio_open() - open device @name the way QEMU's vfio-pci sysfsdev= does.
 * @name: the vfio-userN device.
 * @v: gets the container, group and device fds (-1: not opened).
 *
 * Return: 0 or -errno (what was opened is left in @v for vu_vfio_close()).
 */
int vu_vfio_open(const char *name, struct vu_vfio *v);

/**
 * vu_vfio_open_sysfs() - open the device QEMU's sysfsdev=@sysfsdev names.
 * @sysfsdev: the device's sysfs directory: its iommu_group link gives the
 *	group, its last component the name asked of the group (an mdev's
 *	UUID, a bus device's vfio-userN).
 * @v: as for vu_vfio_open().
 *
 * Return: 0 or -errno (what was opened is left in @v for vu_vfio_close()).
 */
int vu_vfio_open_sysfs(const char *sysfsdev, struct vu_vfio *v);

/**
 * vu_vfio_close() - close what vu_vfio_open() opened.
 * @v: the handles; all -1 afterwards.
 */
void vu_vfio_close(struct vu_vfio *v);

/**
 * vu_region_off() - file offset of a region, in vfio-pci's encoding.
 * @index: the region index (VFIO_PCI_*_REGION_INDEX).
 */
off_t vu_region_off(unsigned int index);

/**
 * vu_eventfd_fired() - wait for an interrupt's eventfd and consume it.
 * @efd: the eventfd.
 * @ms: the bound, scaled by vu_ms().
 *
 * Return: true if it was signalled within @ms (its count is then reset).
 */
bool vu_eventfd_fired(int efd, int ms);

/**
 * vu_reg_get() - read a 32-bit register of the test device's BAR0.
 * @device: the device fd.
 * @reg: the register's offset in BAR0.
 * @val: gets its value.
 *
 * Return: 0, or -EIO when it could not be read.
 */
int vu_reg_get(int device, unsigned int reg, uint32_t *val);

/**
 * vu_reg_read() - a 32-bit register of the test device's BAR0.
 * @device: the device fd.
 * @reg: the register's offset in BAR0.
 *
 * Return: its value, all-ones when unreadable.
 */
uint32_t vu_reg_read(int device, unsigned int reg);

/**
 * vu_reg_write() - write a 32-bit register of the test device's BAR0.
 * @device: the device fd.
 * @reg: the register's offset in BAR0.
 * @val: the value.
 *
 * Return: 0, -errno, or -EIO for a short write.
 */
int vu_reg_write(int device, unsigned int reg, uint32_t val);

/**
 * vu_map_dma() - VFIO_IOMMU_MAP_DMA on @container: @size bytes at @vaddr become @iova.
 * @container: the container fd.
 * @vaddr: the memory.
 * @iova: where the device sees it.
 * @size: its length.
 * @flags: VFIO_DMA_MAP_FLAG_*.
 *
 * Return: 0 or -errno.
 */
int vu_map_dma(int container, void *vaddr, uint64_t iova, uint64_t size,
	       uint32_t flags);

/**
 * vu_unmap_dma() - VFIO_IOMMU_UNMAP_DMA of [@iova, @iova + @size) on @container.
 * @container: the container fd.
 * @iova: start.
 * @size: length.
 *
 * Return: 0 or -errno.
 */
int vu_unmap_dma(int container, uint64_t iova, uint64_t size);

/*
 * The KVM-VFIO pseudo device a VMM tells about its VFIO files
 * (KVM_DEV_VFIO_FILE_ADD, formerly KVM_DEV_VFIO_GROUP_ADD: same values).
 */
struct vu_kvm_vfio {
	int kvm, vm, dev;
};

/**
 * vu_kvm_vfio_add() - create a VM with a KVM-VFIO device and add @fd to it.
 * @k: gets the fds (-1: not opened).
 * @fd: a group fd on the legacy paths, the device cdev fd with iommufd.
 *
 * Return: 0, or -errno (-ENODEV: no /dev/kvm, as in the TCG test VM).
 */
int vu_kvm_vfio_add(struct vu_kvm_vfio *k, int fd);

/**
 * vu_kvm_vfio_close() - close what vu_kvm_vfio_add() opened.
 * @k: the fds; all -1 afterwards.
 */
void vu_kvm_vfio_close(struct vu_kvm_vfio *k);

/* ---- lib/vfio_paths.c: one device over type1, cdev + iommufd, compat ---- */

/*
 * A VMM reaches a VFIO device one of three ways:
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
enum vu_path {
	VU_PATH_TYPE1,
	VU_PATH_CDEV,
	VU_PATH_COMPAT,
};

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

/**
 * vu_path_name() - @path in words, for test output.
 * @path: the path.
 */
const char *vu_path_name(enum vu_path path);

/**
 * vu_chrdev_registered() - is @name a character device of /proc/devices?
 * @name: the major's name.
 */
bool vu_chrdev_registered(const char *name);

/**
 * vu_path_available() - can this kernel take @path?
 * @path: the path.
 * @why: gets the reason when not, for SKIP().
 * @size: size of @why.
 *
 * /dev/iommu is iommufd's (CONFIG_IOMMUFD), the "vfio-dev" character
 * major the device cdevs' (CONFIG_VFIO_DEVICE_CDEV).
 *
 * Return: 1, or 0 with the reason in @why.
 */
int vu_path_available(enum vu_path path, char *why, size_t size);

/**
 * vu_dev_open() - open device @name over @path the way a VMM does.
 * @name: the vfio-userN device.
 * @path: the path.
 * @d: gets the handles.
 *
 * Return: 0 or -errno (with whatever was opened left in @d for
 * vu_dev_close()).
 */
int vu_dev_open(const char *name, enum vu_path path, struct vu_dev *d);

/**
 * vu_dev_open_device() - open @d's device fd on the container or iommufd it has.
 * @d: opened by vu_dev_open(), its device closed (vu_dev_close_device()).
 *
 * Return: 0 or -errno.
 */
int vu_dev_open_device(struct vu_dev *d);

/**
 * vu_dev_close_device() - close @d's device fd only.
 * @d: the handles.
 */
void vu_dev_close_device(struct vu_dev *d);

/**
 * vu_dev_close() - close everything vu_dev_open() opened.
 * @d: the handles; all -1 afterwards.
 */
void vu_dev_close(struct vu_dev *d);

/**
 * vu_dev_map() - map @size bytes at @vaddr to @iova the way @d's path does it.
 * @d: the handles.
 * @vaddr: the memory.
 * @iova: where the device sees it.
 * @size: its length.
 * @flags: VFIO_DMA_MAP_FLAG_READ/_WRITE.
 *
 * Return: 0 or -errno.
 */
int vu_dev_map(struct vu_dev *d, void *vaddr, uint64_t iova, uint64_t size,
	       uint32_t flags);

/**
 * vu_dev_unmap() - unmap [@iova, @iova + @size) the way @d's path does it.
 * @d: the handles.
 * @iova: start.
 * @size: length.
 *
 * Return: 0, -errno, or -ERANGE when the kernel says it unmapped another
 * length than that.
 */
int vu_dev_unmap(struct vu_dev *d, uint64_t iova, uint64_t size);

/**
 * vu_path_pin_key() - where the VMM's mm is charged for the pages the window pins.
 * @path: the path.
 *
 * type1 counts the pins of an emulated-IOMMU device in locked_vm (VmLck;
 * vfio_pin_page_external()), iommufd in pinned_vm (VmPin;
 * do_update_pinned(), for every accounting mode).
 *
 * Return: the /proc/self/status key, for vu_status_kb().
 */
const char *vu_path_pin_key(enum vu_path path);

/* ---- lib/test_device.c: the test device's DMA engine ---- */

/**
 * vu_dma_go() - program the test device's DMA engine and say GO.
 * @device: the device fd.
 * @src: source: an IOVA, or a BAR2 offset if @to_guest.
 * @dst: destination: a BAR2 offset, or an IOVA if @to_guest.
 * @len: bytes.
 * @to_guest: direction: BAR2 to guest memory.
 *
 * Return: 0, or -errno of the first register write that failed.
 */
int vu_dma_go(int device, uint64_t src, uint64_t dst, uint32_t len, bool to_guest);

/**
 * vu_engine_run() - run one transfer of the test device's DMA engine and wait for it.
 * @device: the device fd.
 * @src: as for vu_dma_go().
 * @dst: as for vu_dma_go().
 * @len: bytes.
 * @to_guest: direction.
 *
 * Return: 0 when DONE, else the engine's errno (ETIMEDOUT if it stayed
 * busy for vu_ms(5000), -1 if the registers could not be reached).
 */
int vu_engine_run(int device, uint64_t src, uint64_t dst, uint32_t len, bool to_guest);

/**
 * vu_fill() - a byte pattern that differs for every @seed and offset.
 * @buf: gets the pattern.
 * @len: its length.
 * @seed: the pattern's seed.
 */
void vu_fill(void *buf, size_t len, uint32_t seed);

/* ---- lib/proc.c: what this process and the kernel hold ---- */

/**
 * vu_count_fds() - number of entries of /proc/self/fd, as listed.
 *
 * The open fds, plus ".", ".." and the listing's own fd: a fixed offset,
 * for before/after comparisons.
 *
 * Return: the count, -1 when unreadable.
 */
int vu_count_fds(void);

/**
 * vu_meminfo_kb() - a value from /proc/meminfo, in kB.
 * @key: the name before the ':'.
 *
 * Return: the value, -1 when absent.
 */
long vu_meminfo_kb(const char *key);

/**
 * vu_slab_kb() - slab memory in use, in kB, after every cache is shrunk.
 *
 * Shrinking a cache also empties KASAN's quarantine of that cache's freed
 * objects (kmem_cache_shrink() calls kasan_cache_shrink()): on a KASAN
 * kernel the quarantine otherwise holds megabytes of freed objects that
 * would read as a leak.  Without KASAN it just returns empty slabs, so
 * before/after comparisons are steadier either way.
 *
 * Return: meminfo's Slab, -1 when unreadable.
 */
long vu_slab_kb(void);

/**
 * vu_status_kb() - a "Key:   N kB" line of /proc/self/status, in kB.
 * @key: the name before the ':'.
 *
 * Return: the value, -1 when absent.
 */
long vu_status_kb(const char *key);

/* What readlink() of /proc/self/fd/N names for the files the driver handles. */
#define VU_DMA_WINDOW_LINK	"[vfio-user-dma]"	/* any fs prefix */
#define VU_SERVER_BAR2_LINK	"/memfd:vfu-test-bar2"

/**
 * vu_fd_scan() - the first fd whose /proc/self/fd link contains one of @needles.
 * @dirfd: an open /proc/self/fd (-1: open one here): a scanner racing the
 *	driver's fd numbers opens its directory once, out of the way.
 * @needles: the strings, NULL-terminated.
 * @what: gets "fd N -> link" (may be NULL).
 * @size: size of @what.
 *
 * Allocates nothing, so forked children of threaded tests may call it.
 *
 * Return: the fd, -1 if none.
 */
int vu_fd_scan(int dirfd, const char *const *needles, char *what, size_t size);

/* ---- lib/child.c: bounded children ---- */

/*
 * A call that may hang in the kernel runs in a child process, so that a
 * hang shows as a failed bound instead of a test-runner timeout: the test
 * waits for it with vu_child_wait() and, if it is still running, fails,
 * unblocks the kernel some other way (kills the server) and waits again.
 * A child stuck for good is left behind rather than waited for.
 */
struct vu_child {
	pid_t pid;
	int out;		/* read end of the child's result pipe */
	int status;		/* waitpid() status once reaped */
};

/**
 * vu_child_start() - run @fn(@arg, out) in a child.
 * @ch: gets the child.
 * @fn: writes its result (at most PIPE_BUF bytes) to out.
 * @arg: its argument.
 *
 * Return: 0 or -errno.
 */
int vu_child_start(struct vu_child *ch, void (*fn)(void *arg, int out), void *arg);

/**
 * vu_child_wait() - wait up to @ms for the child to exit and read its result.
 * @ch: the child.
 * @ms: the bound.
 * @res: gets the result (NULL: none expected).
 * @size: its size.
 *
 * Return: 0 once it is reaped with its result, -ENODATA once reaped
 * without one (it was killed first: @res is zeroed), -ETIMEDOUT while it
 * still runs (call again, or vu_child_kill()).
 */
int vu_child_wait(struct vu_child *ch, int ms, void *res, size_t size);

/**
 * vu_child_kill() - SIGKILL, then wait up to @ms as vu_child_wait() does.
 * @ch: the child.
 * @ms: the bound.
 * @res: as for vu_child_wait().
 * @size: as for vu_child_wait().
 */
int vu_child_kill(struct vu_child *ch, int ms, void *res, size_t size);

/* What a vu_bind_child() reports. */
struct vu_bind_result {
	int err;		/* vu_bind()'s: 0 or -errno */
	int fds_before;		/* the writer's open fds around the write */
	int fds_after;
	long long ms;		/* how long the write took */
	char name[32];		/* the new device, on success */
};

/**
 * vu_bind_child() - vu_bind() @path from a child process.
 * @ch: gets the child; collect a struct vu_bind_result with vu_child_wait().
 * @path: the server's socket.
 *
 * Return: 0 or -errno.
 */
int vu_bind_child(struct vu_child *ch, const char *path);

/**
 * vu_unbind_child() - vu_unbind() @name from a child process.
 * @ch: gets the child; its result is the write's -errno (an int).
 * @name: the vfio-userN device.
 *
 * Return: 0 or -errno.
 */
int vu_unbind_child(struct vu_child *ch, const char *name);

/* ---- lib/kmsg.c: the kernel log, and kernel reports ---- */

/**
 * vu_kmsg_open() - the kernel log from now on.
 *
 * Skips what is there, so that vu_kmsg_findings() and vu_kmsg_count()
 * see only what the test's own actions produced.
 *
 * Return: a /dev/kmsg fd, or -1.
 */
int vu_kmsg_open(void);

/**
 * vu_kmsg_findings() - the records since that look like a kernel report.
 * @fd: from vu_kmsg_open(); -1 reads as none.
 * @first: gets the first such line (may be NULL).
 * @size: size of @first.
 *
 * The same patterns the test runner looks for in the whole dmesg.  The
 * records are consumed.
 *
 * Return: how many.
 */
int vu_kmsg_findings(int fd, char *first, size_t size);

/**
 * vu_kmsg_count() - the records since that contain @needle and not @except.
 * @fd: from vu_kmsg_open().
 * @needle: what to look for.
 * @except: what rules a record out (NULL: nothing).
 * @first: gets the first one (may be NULL).
 * @size: size of @first.
 *
 * The records are consumed.
 *
 * Return: how many.
 */
int vu_kmsg_count(int fd, const char *needle, const char *except, char *first,
		  size_t size);

#define VU_PANIC_ON_OOPS	"/proc/sys/kernel/panic_on_oops"

/**
 * vu_panic_on_oops() - turn oopses into panics until vu_panic_on_oops_restore().
 *
 * A BUG() in a VFIO path (type1's unmap retry loop has one) kills the
 * task that hit it with type1's mutexes held: the test's other threads
 * then sleep on them forever, unkillable, and the run hangs until the
 * VM's timeout.  A test that may provoke one turns oopses into panics for
 * its duration, so that the VM stops at once and the rig reports the BUG
 * and its stack.
 *
 * Return: the old setting.
 */
int vu_panic_on_oops(void);

/**
 * vu_panic_on_oops_restore() - put panic_on_oops back.
 * @old: what vu_panic_on_oops() returned.
 */
void vu_panic_on_oops_restore(int old);

/* ---- lib/fault.c: catching faults, asking about pages ---- */

/*
 * Faults caught per thread: a thread arms vu_fault_jmp with sigsetjmp(...,
 * 1) and sets vu_fault_armed around the accesses that may fault; the
 * handler (vu_fault_guard_install(), once per process) jumps back with the
 * signal number.  A fault in a thread that is not armed kills the process
 * as without a handler.
 */
extern __thread sigjmp_buf vu_fault_jmp;
extern __thread volatile sig_atomic_t vu_fault_armed;

/**
 * vu_fault_guard_install() - install the SIGBUS and SIGSEGV handler.
 */
void vu_fault_guard_install(void);

/**
 * vu_probe() - one 32-bit access to @p that may fault.
 * @p: where.
 * @write: write *@val instead of reading.
 * @val: the value written, or gets the value read.
 *
 * Return: 0 when it worked, else the signal it raised (SIGBUS, SIGSEGV).
 */
int vu_probe(volatile uint32_t *p, bool write, uint32_t *val);

/**
 * vu_page_present() - does this process have a page table entry for @addr?
 * @addr: the address.
 *
 * VM_PFNMAP mappings always read 0: pagemap reports them as holes.
 *
 * Return: 1 or 0, -errno when pagemap cannot say.
 */
int vu_page_present(const void *addr);

#endif /* VU_UTIL_H */
