// SPDX-License-Identifier: GPL-2.0
/*
 * The mdev front end, through mdev core's sysfs as mdevctl and libvirt use
 * it: the parent and its type, creating an mdev, binding a server through
 * its vfio_user/socket_path, opening it the way QEMU's sysfsdev= does,
 * what is refused, removal while a VMM holds it, a dying server, and
 * module unload with mdevs present.
 */
#include <dirent.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <linux/pci_regs.h>

#include "kselftest_harness.h"
#include "test_device.h"
#include "vu_test.h"

#define BAR0	vu_region_off(VFIO_PCI_BAR0_REGION_INDEX)
#define CONFIG	vu_region_off(VFIO_PCI_CONFIG_REGION_INDEX)

FIXTURE(mdev) {
	struct vu_server srv;
	char uuid[37];
	char dir[128];
	bool created;
};

FIXTURE_SETUP(mdev)
{
	char why[128];

	if (!vu_mdev_available(why, sizeof(why)))
		SKIP(return, "%s", why);
	ASSERT_EQ(0, access(VU_MDEV_PARENT, F_OK));
	ASSERT_EQ(0, vu_server_start(&self->srv, NULL));
	vu_mdev_uuid(self->uuid);
	vu_mdev_dir(self->uuid, self->dir, sizeof(self->dir));
	ASSERT_EQ(0, vu_mdev_create(self->uuid));
	self->created = true;
}

FIXTURE_TEARDOWN(mdev)
{
	if (self->created && vu_mdev_exists(self->uuid))
		vu_mdev_remove(self->uuid);
	if (self->srv.pid)
		vu_server_stop(&self->srv);
}

static long instances(void)
{
	char buf[32];

	if (vu_read_file(VU_MDEV_TYPE "/available_instances", buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 10);
}

/* What mdevctl and libvirt read off the parent and its one type. */
TEST_F(mdev, parent_and_type)
{
	char buf[256], real[PATH_MAX], want[PATH_MAX];

	ASSERT_EQ(0, vu_read_file(VU_MDEV_TYPE "/name", buf, sizeof(buf)));
	EXPECT_STREQ("vfio-user server", buf);
	ASSERT_EQ(0, vu_read_file(VU_MDEV_TYPE "/device_api", buf, sizeof(buf)));
	EXPECT_STREQ("vfio-pci", buf);
	ASSERT_EQ(0, vu_read_file(VU_MDEV_TYPE "/description", buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "socket_path"));
	/* The fixture's mdev is one of the 256. */
	EXPECT_EQ(255, instances());

	/* The new mdev is of this type, on this parent. */
	snprintf(buf, sizeof(buf), "%s/mdev_type", self->dir);
	ASSERT_NE(NULL, realpath(buf, real));
	ASSERT_NE(NULL, realpath(VU_MDEV_TYPE, want));
	EXPECT_STREQ(want, real);
	snprintf(buf, sizeof(buf), VU_MDEV_TYPE "/devices/%s", self->uuid);
	EXPECT_EQ(0, access(buf, F_OK));

	/* No unbind to leave an mdev without its device for good, no bind. */
	EXPECT_EQ(0, access("/sys/bus/mdev/drivers/vfio_user_mdev", F_OK));
	EXPECT_NE(0, access("/sys/bus/mdev/drivers/vfio_user_mdev/unbind", F_OK));
	EXPECT_NE(0, access("/sys/bus/mdev/drivers/vfio_user_mdev/bind", F_OK));
}

/*
 * Created, the mdev is nothing yet; its socket_path binds the server, and
 * the device is then a VFIO device under the mdev's name, with its group,
 * whose registers and config space are the server's.
 */
TEST_F(mdev, bind_open_use_remove)
{
	char buf[256], name[32], node[64], real[PATH_MAX];
	struct vfio_device_info info = { .argsz = sizeof(info) };
	uint16_t ids[2];
	struct vu_vfio v;
	struct stat st;
	uint32_t val;
	int group;

	EXPECT_STREQ("", vu_mdev_attr(self->uuid, "vfio_user/socket_path", buf, sizeof(buf)));
	EXPECT_STREQ("", vu_mdev_attr(self->uuid, "vfio_user/device", buf, sizeof(buf)));
	EXPECT_EQ(-ENOENT, vu_group_id_at(self->dir));

	ASSERT_EQ(0, vu_mdev_bind(self->uuid, self->srv.path));
	EXPECT_STREQ(self->srv.path,
		     vu_mdev_attr(self->uuid, "vfio_user/socket_path", buf, sizeof(buf)));
	snprintf(name, sizeof(name), "%s",
		 vu_mdev_attr(self->uuid, "vfio_user/device", buf, sizeof(buf)));
	ASSERT_EQ(0, strncmp(name, "vfio-user", 9));

	/* The connection's device is the bus's, a child of the mdev. */
	EXPECT_STREQ("connected", vu_attr(name, "state", buf, sizeof(buf)));
	snprintf(buf, sizeof(buf), VU_BUS "/devices/%s", name);
	ASSERT_NE(NULL, realpath(buf, real));
	snprintf(buf, sizeof(buf), "/%s/%s", self->uuid, name);
	EXPECT_NE(NULL, strstr(real, buf));
	/* The group is the mdev's, not the bus device's. */
	EXPECT_EQ(-ENOENT, vu_group_id(name));
	group = vu_group_id_at(self->dir);
	ASSERT_GE(group, 0);
	snprintf(node, sizeof(node), "/dev/vfio/%d", group);
	ASSERT_EQ(0, stat(node, &st));

	ASSERT_EQ(0, vu_vfio_open_sysfs(self->dir, &v));
	ASSERT_EQ(0, ioctl(v.device, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_TRUE(info.flags & VFIO_DEVICE_FLAGS_PCI);
	EXPECT_LE(VFIO_PCI_NUM_REGIONS, info.num_regions);
	ASSERT_EQ(4, pread(v.device, ids, 4, CONFIG + PCI_VENDOR_ID));
	EXPECT_EQ(TDEV_VENDOR_ID, ids[0]);
	EXPECT_EQ(TDEV_DEVICE_ID, ids[1]);
	ASSERT_EQ(0, vu_reg_get(v.device, TDEV_REG_MAGIC, &val));
	EXPECT_EQ(TDEV_MAGIC_VALUE, val);
	ASSERT_EQ(0, vu_reg_write(v.device, TDEV_REG_SCRATCH, 0x5a5aa5a5));
	EXPECT_EQ(0x5a5aa5a5, vu_reg_read(v.device, TDEV_REG_SCRATCH));
	vu_vfio_close(&v);

	ASSERT_EQ(0, vu_mdev_remove(self->uuid));
	EXPECT_FALSE(vu_mdev_exists(self->uuid));
	EXPECT_FALSE(vu_exists(name));
	EXPECT_NE(0, stat(node, &st));
	EXPECT_EQ(256, instances());
}

/*
 * What socket_path refuses leaves the mdev unbound and bindable: bad
 * paths, no server, no CAP_SYS_ADMIN; once bound, another path.
 */
TEST_F(mdev, socket_path_refusals)
{
	char buf[256], missing[160];
	int status;
	pid_t pid;

	EXPECT_EQ(-EINVAL, vu_mdev_bind(self->uuid, "relative.sock"));
	EXPECT_EQ(-EINVAL, vu_mdev_bind(self->uuid, "\n"));
	snprintf(missing, sizeof(missing), "%s.missing", self->srv.path);
	EXPECT_EQ(-ENOENT, vu_mdev_bind(self->uuid, missing));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		if (vu_drop_sys_admin())
			_exit(10);
		_exit(vu_mdev_bind(self->uuid, self->srv.path) == -EPERM ? 0 : 11);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_STREQ("", vu_mdev_attr(self->uuid, "vfio_user/device", buf, sizeof(buf)));

	ASSERT_EQ(0, vu_mdev_bind(self->uuid, self->srv.path));
	EXPECT_EQ(-EBUSY, vu_mdev_bind(self->uuid, self->srv.path));
	EXPECT_EQ(-EBUSY, vu_mdev_bind(self->uuid, missing));
	EXPECT_STREQ(self->srv.path,
		     vu_mdev_attr(self->uuid, "vfio_user/socket_path", buf, sizeof(buf)));
}

struct binder {
	const char *uuid;
	const char *path;
	int err;
};

static void *bind_fn(void *arg)
{
	struct binder *b = arg;

	b->err = vu_mdev_bind(b->uuid, b->path);
	return NULL;
}

struct remover {
	const char *uuid;
	int err;
	long long done_at;
};

static void *remove_fn(void *arg)
{
	struct remover *r = arg;

	r->err = vu_mdev_remove(r->uuid);
	r->done_at = vu_now_ms();
	return NULL;
}

/* Two writers of socket_path at once: one binds, the other is told EBUSY. */
TEST_F(mdev, concurrent_binds)
{
	struct binder b[2];
	pthread_t th[2];
	struct vu_server slow;
	int i;

	/* VERSION's reply held back, so that the two overlap. */
	ASSERT_EQ(0, vu_server_start(&slow, "--delay-reply", "VERSION:300", NULL));
	for (i = 0; i < 2; i++) {
		b[i] = (struct binder){ self->uuid, slow.path, 1 };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, bind_fn, &b[i]));
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	EXPECT_TRUE((b[0].err == 0 && b[1].err == -EBUSY) ||
		    (b[1].err == 0 && b[0].err == -EBUSY));
	ASSERT_EQ(0, vu_mdev_remove(self->uuid));
	vu_server_stop(&slow);
}

/*
 * A server that breaks the handshake leaves the mdev unbound, and a good
 * server can then be bound to it.
 */
TEST_F(mdev, hostile_handshake_leaves_mdev_bindable)
{
	struct vu_server bad;
	char buf[64];

	ASSERT_EQ(0, vu_server_start(&bad, "--hostile", "garbage", NULL));
	EXPECT_GT(0, vu_mdev_bind(self->uuid, bad.path));
	vu_server_stop(&bad);
	ASSERT_EQ(0, vu_server_start(&bad, "--hostile", "no-reply", NULL));
	EXPECT_EQ(-ETIMEDOUT, vu_mdev_bind(self->uuid, bad.path));
	vu_server_stop(&bad);
	EXPECT_STREQ("", vu_mdev_attr(self->uuid, "vfio_user/device", buf, sizeof(buf)));
	EXPECT_STREQ("", vu_mdev_attr(self->uuid, "vfio_user/socket_path", buf, sizeof(buf)));

	ASSERT_EQ(0, vu_mdev_bind(self->uuid, self->srv.path));
	EXPECT_EQ(0, strncmp("vfio-user",
			     vu_mdev_attr(self->uuid, "vfio_user/device", buf, sizeof(buf)), 9));
}

/* Whether any vfio-user device is bound to @path. */
static bool bound_to(const char *path)
{
	DIR *d = opendir(VU_BUS "/devices");
	struct dirent *de;
	bool found = false;
	char buf[128];

	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' &&
		    !strcmp(path, vu_attr(de->d_name, "socket_path", buf, sizeof(buf))))
			found = true;
	if (d)
		closedir(d);
	return found;
}

/*
 * Removing the mdev while its socket_path is binding: removal waits for
 * the bind to end, then takes whatever it made with the mdev.
 */
TEST_F(mdev, remove_during_bind)
{
	struct remover r = { .uuid = self->uuid, .err = -1 };
	struct binder b = { self->uuid, NULL, 1 };
	struct vu_server slow;
	pthread_t bt, rt;

	ASSERT_EQ(0, vu_server_start(&slow, "--delay-reply", "VERSION:500", NULL));
	b.path = slow.path;
	ASSERT_EQ(0, pthread_create(&bt, NULL, bind_fn, &b));
	usleep(vu_ms(150) * 1000);
	ASSERT_EQ(0, pthread_create(&rt, NULL, remove_fn, &r));
	pthread_join(bt, NULL);
	pthread_join(rt, NULL);
	/* The bind was under way: it completed, and was removed after. */
	EXPECT_EQ(0, b.err);
	EXPECT_EQ(0, r.err);
	EXPECT_FALSE(vu_mdev_exists(self->uuid));
	EXPECT_FALSE(bound_to(slow.path));
	EXPECT_EQ(256, instances());
	vu_server_stop(&slow);
}

/* The bus's del_device leaves an mdev's device alone. */
TEST_F(mdev, del_device_refused)
{
	char buf[64], name[32];

	ASSERT_EQ(0, vu_mdev_bind(self->uuid, self->srv.path));
	snprintf(name, sizeof(name), "%s",
		 vu_mdev_attr(self->uuid, "vfio_user/device", buf, sizeof(buf)));
	EXPECT_EQ(-EBUSY, vu_unbind(name));
	EXPECT_TRUE(vu_exists(name));
	EXPECT_STREQ("connected", vu_attr(name, "state", buf, sizeof(buf)));
	ASSERT_EQ(0, vu_mdev_remove(self->uuid));
	EXPECT_FALSE(vu_exists(name));
}

/*
 * Removing the mdev while the VMM holds the device: REQ asks it to let
 * go (libvirt's hot-unplug), removal completes once it has.
 */
TEST_F(mdev, remove_while_open_asks_through_req)
{
	struct remover r = { .uuid = self->uuid, .err = -1 };
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *set = (void *)buf;
	char buf2[64], name[32], real[PATH_MAX];
	long long closed_at;
	struct vu_vfio v;
	pthread_t th;
	int32_t efd;

	ASSERT_EQ(0, vu_mdev_bind(self->uuid, self->srv.path));
	snprintf(name, sizeof(name), "%s",
		 vu_mdev_attr(self->uuid, "vfio_user/device", buf2, sizeof(buf2)));
	ASSERT_NE(NULL, realpath(self->dir, real));
	ASSERT_EQ(0, vu_vfio_open_sysfs(self->dir, &v));
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_GE(efd, 0);
	*set = (struct vfio_irq_set){
		.argsz = sizeof(buf),
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_REQ_IRQ_INDEX,
		.count = 1,
	};
	memcpy(set->data, &efd, sizeof(efd));
	ASSERT_EQ(0, ioctl(v.device, VFIO_DEVICE_SET_IRQS, set));

	ASSERT_EQ(0, pthread_create(&th, NULL, remove_fn, &r));
	EXPECT_TRUE(vu_eventfd_fired(efd, 3000));
	/*
	 * Still waiting for us, and the device still works (its sysfs
	 * links are gone already: device_del() unlinks before it unbinds).
	 */
	EXPECT_EQ(0, r.done_at);
	EXPECT_EQ(0, access(real, F_OK));
	EXPECT_EQ(TDEV_MAGIC_VALUE, vu_reg_read(v.device, TDEV_REG_MAGIC));
	closed_at = vu_now_ms();
	vu_vfio_close(&v);
	pthread_join(th, NULL);
	EXPECT_EQ(0, r.err);
	EXPECT_LT(r.done_at - closed_at, vu_ms(2000));
	EXPECT_FALSE(vu_mdev_exists(self->uuid));
	EXPECT_FALSE(vu_exists(name));
	close(efd);
}

/*
 * A server that dies breaks the device as on the bus: the VMM's calls
 * fail, the mdev says why, and it can always be removed.
 */
TEST_F(mdev, server_death)
{
	char buf[256], name[32];
	struct vu_vfio v;
	uint32_t val;

	ASSERT_EQ(0, vu_mdev_bind(self->uuid, self->srv.path));
	snprintf(name, sizeof(name), "%s",
		 vu_mdev_attr(self->uuid, "vfio_user/device", buf, sizeof(buf)));
	ASSERT_EQ(0, vu_vfio_open_sysfs(self->dir, &v));
	ASSERT_EQ(0, vu_server_kill(&self->srv, vu_ms(2000)));
	EXPECT_TRUE(vu_wait_attr(name, "state", "broken", vu_ms(3000)));
	EXPECT_NE(0, vu_reg_get(v.device, TDEV_REG_MAGIC, &val));
	vu_vfio_close(&v);
	ASSERT_EQ(0, vu_mdev_remove(self->uuid));
	EXPECT_FALSE(vu_exists(name));
	EXPECT_FALSE(vu_mdev_exists(self->uuid));
}

/*
 * rmmod with mdevs, bound and unbound: refused while a VMM holds one,
 * then every mdev goes with the module, and the parent is back with it.
 */
TEST(module_unload_with_mdevs)
{
	char uuids[2][37], why[128], buf[64], name[32];
	struct vu_server srv;
	struct vu_vfio v;
	struct stat st;
	int i;

	if (!vu_mdev_available(why, sizeof(why)))
		SKIP(return, "%s", why);
	ASSERT_EQ(0, access(VU_MDEV_PARENT, F_OK));
	ASSERT_EQ(0, vu_server_start(&srv, NULL));
	for (i = 0; i < 2; i++) {
		vu_mdev_uuid(uuids[i]);
		ASSERT_EQ(0, vu_mdev_create(uuids[i]));
	}
	ASSERT_EQ(0, vu_mdev_bind(uuids[0], srv.path));
	snprintf(name, sizeof(name), "%s",
		 vu_mdev_attr(uuids[0], "vfio_user/device", buf, sizeof(buf)));
	ASSERT_EQ(0, vu_vfio_open_sysfs(vu_mdev_dir(uuids[0], buf, sizeof(buf)), &v));
	EXPECT_EQ(-EWOULDBLOCK, vu_module_unload());
	vu_vfio_close(&v);

	EXPECT_EQ(0, vu_wait_module_refcnt(0, vu_ms(2000)));
	ASSERT_EQ(0, vu_module_unload());
	for (i = 0; i < 2; i++)
		EXPECT_FALSE(vu_mdev_exists(uuids[i]));
	EXPECT_NE(0, stat(VU_MDEV_PARENT, &st));
	EXPECT_FALSE(vu_exists(name));
	vu_server_stop(&srv);

	ASSERT_EQ(0, vu_module_load());
	EXPECT_EQ(0, stat(VU_MDEV_PARENT, &st));
	EXPECT_EQ(0, stat(VU_BUS, &st));
}

TEST_HARNESS_MAIN
