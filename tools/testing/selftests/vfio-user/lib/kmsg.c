// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel log and kernel reports for the vfio-user selftests: reading
 * /dev/kmsg from a point on (counting report-like lines, or lines with a
 * given text), and panic_on_oops for tests that may provoke a BUG().
 */
#include "lib/vu_util.h"

int vu_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

int vu_kmsg_findings(int fd, char *first, size_t size)
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

int vu_kmsg_count(int fd, const char *needle, const char *except, char *first, size_t size)
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

int vu_panic_on_oops(void)
{
	char buf[16];
	int old = 0;

	if (!vu_read_file(VU_PANIC_ON_OOPS, buf, sizeof(buf)))
		old = atoi(buf);
	vu_write_file(VU_PANIC_ON_OOPS, "1");
	return old;
}

void vu_panic_on_oops_restore(int old)
{
	vu_write_file(VU_PANIC_ON_OOPS, old ? "1" : "0");
}
