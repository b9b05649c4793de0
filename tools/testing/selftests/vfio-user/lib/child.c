// SPDX-License-Identifier: GPL-2.0
/*
 * Bounded children for the vfio-user selftests (hostile_bind_test.c and
 * the trust-boundary tests of hostile_test.c): a call that may hang in the
 * kernel runs in a child process that the test waits for with a bound,
 * and bind and unbind done that way.
 */
#include "lib/vu_util.h"

int vu_child_start(struct vu_child *ch, void (*fn)(void *arg, int out), void *arg)
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

int vu_child_wait(struct vu_child *ch, int ms, void *res, size_t size)
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

int vu_child_kill(struct vu_child *ch, int ms, void *res, size_t size)
{
	if (ch->pid > 0)
		kill(ch->pid, SIGKILL);
	return vu_child_wait(ch, ms, res, size);
}

static void vu_bind_child_fn(void *arg, int out)
{
	struct vu_bind_result r = { .fds_before = vu_count_fds() };
	long long start = vu_now_ms();

	r.err = vu_bind(arg, r.name, sizeof(r.name));
	r.ms = vu_now_ms() - start;
	r.fds_after = vu_count_fds();
	if (write(out, &r, sizeof(r)) != sizeof(r))
		_exit(1);
}

int vu_bind_child(struct vu_child *ch, const char *path)
{
	return vu_child_start(ch, vu_bind_child_fn, (void *)path);
}

/* del_device from a child process: its result is the write's -errno. */
static void vu_unbind_child_fn(void *arg, int out)
{
	int err = vu_unbind(arg);

	if (write(out, &err, sizeof(err)) != sizeof(err))
		_exit(1);
}

int vu_unbind_child(struct vu_child *ch, const char *name)
{
	return vu_child_start(ch, vu_unbind_child_fn, (void *)name);
}
