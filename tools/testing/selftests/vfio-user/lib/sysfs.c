// SPDX-License-Identifier: GPL-2.0
/*
 * sysfs and debugfs for the vfio-user selftests: reading and writing
 * files, the vfio-user bus's device attributes, binding a server
 * (new_device) and finding the device it made, unbinding (del_device), the
 * device's debugfs stats, its iommu group and device cdev, and the module's
 * reference count.
 */
#include <sys/syscall.h>
#include <linux/capability.h>

#include "lib/vu_util.h"

int vu_write_file(const char *file, const char *val)
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

int vu_read_file(const char *file, char *buf, size_t size)
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

const char *vu_attr(const char *name, const char *attr, char *buf, size_t size)
{
	char file[PATH_MAX];

	snprintf(file, sizeof(file), VU_BUS "/devices/%s/%s", name, attr);
	if (vu_read_file(file, buf, size))
		buf[0] = '\0';
	return buf;
}

int vu_set_attr(const char *name, const char *attr, const char *val)
{
	char file[PATH_MAX];

	snprintf(file, sizeof(file), VU_BUS "/devices/%s/%s", name, attr);
	return vu_write_file(file, val);
}

int vu_highest_id(void)
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

int vu_bind(const char *path, char *name, size_t size)
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

int vu_find_new(const char *path, const struct vu_seen *seen, int nseen,
		char *name, size_t size)
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

int vu_unbind(const char *name)
{
	return vu_write_file(VU_BUS "/del_device", name);
}

bool vu_exists(const char *name)
{
	char dir[PATH_MAX];
	struct stat st;

	snprintf(dir, sizeof(dir), VU_BUS "/devices/%s", name);
	return stat(dir, &st) == 0;
}

bool vu_wait_attr(const char *name, const char *attr, const char *want, int ms)
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

long long vu_stat(const char *name, const char *key)
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

int vu_group_id(const char *name)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), VU_BUS "/devices/%s", name);
	return vu_group_id_at(dir);
}

int vu_group_id_at(const char *sysfsdev)
{
	char link[PATH_MAX], target[256];
	ssize_t n;
	char *base;

	snprintf(link, sizeof(link), "%s/iommu_group", sysfsdev);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	return atoi(base ? base + 1 : target);
}

int vu_cdev_name(const char *name, char *buf, size_t size)
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

int vu_count_groups(void)
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

int vu_module_refcnt(void)
{
	char buf[32];

	if (vu_read_file("/sys/module/vfio_user/refcnt", buf, sizeof(buf)))
		return -1;
	return atoi(buf);
}

int vu_wait_module_refcnt(int want, int ms)
{
	long long end = vu_now_ms() + ms;
	int cnt;

	while ((cnt = vu_module_refcnt()) != want && vu_now_ms() < end)
		usleep(10000);
	return cnt;
}

int vu_drop_sys_admin(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	data[CAP_SYS_ADMIN / 32].effective &= ~(1U << (CAP_SYS_ADMIN % 32));
	data[CAP_SYS_ADMIN / 32].permitted &= ~(1U << (CAP_SYS_ADMIN % 32));
	return syscall(SYS_capset, &hdr, data) ? -errno : 0;
}
