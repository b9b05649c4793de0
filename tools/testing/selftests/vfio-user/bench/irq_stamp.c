// SPDX-License-Identifier: GPL-2.0
/*
 * irq_stamp.so - LD_PRELOAD shim for the vfio-user test server: every
 * eventfd_write() (how the server raises an interrupt) first stores
 * CLOCK_MONOTONIC in a shared page, then signals.  vu_bench maps the same
 * page and, once its blocked read() of the eventfd returns, subtracts: the
 * interrupt latency from the server's signal to the VMM's wake-up, exactly,
 * with nothing of the trigger path (the REGION_WRITE that asked for the
 * interrupt) in it.  The server is not modified; without VU_BENCH_STAMP in
 * its environment the shim does nothing but pass the call on.
 *
 * The page holds struct vu_stamp (vu_stamp.h, shared with vu_bench):
 * ns is written first, then seq is bumped with release order, so a reader
 * that sees the new seq sees its ns.  The clock is vu_now_ns(), vu_bench's
 * own: inline in lib/vu_util.h, so the shim needs none of the library.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib/vu_util.h"
#include "vu_stamp.h"

static struct vu_stamp *stamp_page(void)
{
	static struct vu_stamp *page;
	static int tried;
	const char *path;
	void *p;
	int fd;

	if (tried)
		return page;
	tried = 1;
	path = getenv(VU_STAMP_ENV);
	if (!path)
		return NULL;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	p = mmap(NULL, VU_STAMP_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p != MAP_FAILED)
		page = p;
	return page;
}

int eventfd_write(int fd, eventfd_t value)
{
	static int (*real)(int, eventfd_t);
	struct vu_stamp *s = stamp_page();

	if (!real)
		real = (int (*)(int, eventfd_t))dlsym(RTLD_NEXT, "eventfd_write");
	if (s) {
		atomic_store_explicit(&s->ns, vu_now_ns(), memory_order_relaxed);
		atomic_fetch_add_explicit(&s->seq, 1, memory_order_release);
	}
	return real(fd, value);
}
