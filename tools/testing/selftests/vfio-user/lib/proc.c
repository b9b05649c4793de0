// SPDX-License-Identifier: GPL-2.0
/*
 * What this process and the kernel hold, for the vfio-user selftests'
 * leak checks: open fds (counted, or scanned for the driver's files),
 * /proc/meminfo, slab memory after shrinking, /proc/self/status.
 */
#include "lib/vu_util.h"

int vu_count_fds(void)
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

/* The number after "KEY:" in a /proc file of "Key: value kB" lines, or -1. */
static long proc_field_kb(const char *file, const char *key)
{
	FILE *f = fopen(file, "r");
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

long vu_meminfo_kb(const char *key)
{
	return proc_field_kb("/proc/meminfo", key);
}

long vu_slab_kb(void)
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

long vu_status_kb(const char *key)
{
	return proc_field_kb("/proc/self/status", key);
}

int vu_fd_scan(int dirfd, const char *const *needles, char *what, size_t size)
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
		for (off = 0; found < 0 && off < n;
		     off += ((struct dirent64 *)(buf + off))->d_reclen) {
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
						snprintf(what, size, "fd %d -> %.200s",
							 found, link);
					break;
				}
			}
		}
	}
	if (dirfd < 0)
		close(fd);
	return found;
}
