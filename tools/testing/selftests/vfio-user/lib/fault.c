// SPDX-License-Identifier: GPL-2.0
/*
 * Faults for the vfio-user selftests of stale mappings: the per-thread
 * fault guard (a SIGBUS or SIGSEGV in an armed thread jumps back instead
 * of killing the process), one access that may fault (vu_probe()), and
 * whether a page is mapped (pagemap).
 */
#include "lib/vu_util.h"

__thread sigjmp_buf vu_fault_jmp;
__thread volatile sig_atomic_t vu_fault_armed;

static void vu_fault_handler(int sig)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	if (vu_fault_armed) {
		vu_fault_armed = 0;
		siglongjmp(vu_fault_jmp, sig);
	}
	sigaction(sig, &dfl, NULL);
	raise(sig);
}

void vu_fault_guard_install(void)
{
	struct sigaction sa = { .sa_handler = vu_fault_handler };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

int vu_probe(volatile uint32_t *p, bool write, uint32_t *val)
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

int vu_page_present(const void *addr)
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
