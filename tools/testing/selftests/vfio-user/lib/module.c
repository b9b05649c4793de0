// SPDX-License-Identifier: GPL-2.0
/*
 * Loading and unloading the driver, for the selftests that take it down
 * with devices bound.
 */
#include <sys/syscall.h>

#include "lib/vu_util.h"

/* The module this test binary's tree built. */
static void vu_module_path(char *buf, size_t size)
{
	char self[PATH_MAX - 64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *p;

	self[n > 0 ? n : 0] = '\0';
	/* .../tools/testing/selftests/vfio-user/build/lifecycle_test */
	p = strstr(self, "/tools/testing/selftests/vfio-user/");
	if (p)
		*p = '\0';
	snprintf(buf, size, "%s/drivers/vfio/user/vfio_user.ko", self);
}

int vu_module_load(void)
{
	const char *env = getenv("VFIO_USER_KO");
	char path[PATH_MAX];
	int fd, ret;

	if (env)
		snprintf(path, sizeof(path), "%s", env);
	else
		vu_module_path(path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return ret;
}

int vu_module_unload(void)
{
	return syscall(SYS_delete_module, "vfio_user", O_NONBLOCK) ? -errno : 0;
}
