// SPDX-License-Identifier: GPL-2.0
/*
 * The driver's mdev front end, for the vfio-user selftests: whether it is
 * there, UUIDs, creating an mdev of type vfio_user-socket, binding a server
 * to it through its vfio_user/socket_path, reading its attributes and
 * removing it.
 */
#include <sys/utsname.h>

#include "lib/vu_util.h"

bool vu_mdev_available(char *why, size_t size)
{
	char ko[PATH_MAX];
	struct utsname u;
	struct stat st;

	/* mdev core is loaded or built in. */
	if (!stat("/sys/bus/mdev", &st))
		return true;
	uname(&u);
	snprintf(ko, sizeof(ko), "/lib/modules/%s/kernel/drivers/vfio/mdev/mdev.ko", u.release);
	if (!stat(ko, &st) || !stat(strcat(ko, ".xz"), &st))
		return true;
	snprintf(why, size, "this kernel has no mdev support (CONFIG_VFIO_MDEV)");
	return false;
}

void vu_mdev_uuid(char buf[37])
{
	unsigned char b[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	unsigned int i;

	if (fd < 0 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b)) {
		/* Unique enough for one test run. */
		uint64_t t = vu_now_ns();

		memcpy(b, &t, 8);
		t ^= (uint64_t)getpid() << 32;
		memcpy(b + 8, &t, 8);
	}
	if (fd >= 0)
		close(fd);
	b[6] = (b[6] & 0x0f) | 0x40;	/* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	for (i = 0; i < 16; i++)
		sprintf(buf + 2 * i + (i >= 4) + (i >= 6) + (i >= 8) + (i >= 10),
			"%02x", b[i]);
	buf[8] = buf[13] = buf[18] = buf[23] = '-';
	buf[36] = '\0';
}

int vu_mdev_create(const char *uuid)
{
	return vu_write_file(VU_MDEV_TYPE "/create", uuid);
}

int vu_mdev_bind(const char *uuid, const char *path)
{
	char file[PATH_MAX];

	snprintf(file, sizeof(file), VU_MDEV_DEVICES "/%s/vfio_user/socket_path", uuid);
	return vu_write_file(file, path);
}

int vu_mdev_remove(const char *uuid)
{
	char file[PATH_MAX];

	snprintf(file, sizeof(file), VU_MDEV_DEVICES "/%s/remove", uuid);
	return vu_write_file(file, "1");
}

const char *vu_mdev_dir(const char *uuid, char *buf, size_t size)
{
	snprintf(buf, size, VU_MDEV_DEVICES "/%s", uuid);
	return buf;
}

const char *vu_mdev_attr(const char *uuid, const char *attr, char *buf, size_t size)
{
	char file[PATH_MAX];
	int err;

	snprintf(file, sizeof(file), VU_MDEV_DEVICES "/%s/%s", uuid, attr);
	err = vu_read_file(file, buf, size);
	if (err)
		snprintf(buf, size, "<error %d>", err);
	return buf;
}

bool vu_mdev_exists(const char *uuid)
{
	char dir[PATH_MAX];
	struct stat st;

	return !stat(vu_mdev_dir(uuid, dir, sizeof(dir)), &st);
}
