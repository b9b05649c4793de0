// SPDX-License-Identifier: GPL-2.0
/*
 * The test server process (vfio_user_test_server) for the vfio-user
 * selftests and benchmarks: where its binary is, starting it on a socket
 * in a directory of its own and waiting until it listens, stopping it
 * (SIGTERM with its exit code, or SIGKILL with a bound), and how many
 * commands a bind and an open send it.
 */
#include <sys/prctl.h>

#include "lib/vu_util.h"

#define VU_SERVER_READY		"ready\n"

void vu_server_binary(char *buf, size_t size)
{
	char self[PATH_MAX - 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n < 0)
		n = 0;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(buf, size, "%s/vfio_user_test_server", self);
}

int vu_server_mkdir(struct vu_server *srv, const char *tmpl)
{
	snprintf(srv->dir, sizeof(srv->dir), "%s", tmpl);
	if (!mkdtemp(srv->dir))
		return -errno;
	snprintf(srv->path, sizeof(srv->path), "%s/sock", srv->dir);
	return 0;
}

/* In the child: become the server, or _exit(127). */
static void vu_server_exec(const struct vu_server *srv, const struct vu_server_opts *opts,
			   const char *const *extra, int ready_fd, pid_t parent)
{
	const char *argv[VU_MAX_ARGS];
	char bin[PATH_MAX], fdarg[16];
	int argc = 0, i;

	if (opts->binary)
		snprintf(bin, sizeof(bin), "%s", opts->binary);
	else
		vu_server_binary(bin, sizeof(bin));
	snprintf(fdarg, sizeof(fdarg), "%d", ready_fd);
	for (i = 0; opts->wrapper && opts->wrapper[i] && argc < VU_MAX_ARGS - 7; i++)
		argv[argc++] = opts->wrapper[i];
	argv[argc++] = bin;
	argv[argc++] = "-s";
	argv[argc++] = srv->path;
	argv[argc++] = "--ready-fd";
	argv[argc++] = fdarg;
	if (opts->verbose)
		argv[argc++] = "-v";
	for (i = 0; extra && extra[i] && argc < VU_MAX_ARGS - 1; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;

	/*
	 * If the test dies without its teardown (a crash, an abort), the
	 * server must not outlive it: SIGTERM makes it clean up and exit.
	 */
	if (opts->die_with_parent) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
	}
	for (i = 0; opts->env && opts->env[i]; i++)
		putenv((char *)opts->env[i]);
	fcntl(ready_fd, F_SETFD, 0);	/* the one fd the server inherits */
	if (opts->quiet)
		freopen("/dev/null", "w", stderr);
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}

int vu_server_spawn(struct vu_server *srv, const struct vu_server_opts *opts,
		    const char *const *extra)
{
	static const struct vu_server_opts defaults;
	char ready[8];
	int pipefd[2], err;
	pid_t parent;
	ssize_t n;

	if (!opts)
		opts = &defaults;
	srv->pid = 0;
	/* Close-on-exec: a server another thread starts meanwhile must not get it. */
	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	parent = getpid();
	srv->pid = fork();
	if (srv->pid < 0) {
		err = -errno;
		srv->pid = 0;
		close(pipefd[0]);
		close(pipefd[1]);
		return err;
	}
	if (srv->pid == 0)
		vu_server_exec(srv, opts, extra, pipefd[1], parent);
	close(pipefd[1]);
	if (opts->ready_ms > 0) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };

		if (poll(&p, 1, opts->ready_ms) != 1) {
			close(pipefd[0]);
			return -ECHILD;
		}
	}
	/* The server says it in one write(2) to a pipe: all of it or nothing. */
	n = read(pipefd[0], ready, sizeof(ready));
	close(pipefd[0]);
	return n == (ssize_t)strlen(VU_SERVER_READY) ? 0 : -ECHILD;
}

int vu_server_startv(struct vu_server *srv, const char *const *extra)
{
	int err = vu_server_mkdir(srv, "/tmp/vu-test-XXXXXX");

	return err ? err : vu_server_spawn(srv, NULL, extra);
}

int vu_server_wait(struct vu_server *srv, int ms)
{
	long long end = vu_now_ms() + ms;
	int status;

	while (waitpid(srv->pid, &status, WNOHANG) == 0) {
		if (vu_now_ms() > end) {
			kill(srv->pid, SIGKILL);
			waitpid(srv->pid, &status, 0);
			srv->pid = 0;
			return -1;
		}
		usleep(2000);
	}
	srv->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int vu_server_term(struct vu_server *srv, int ms)
{
	if (srv->pid <= 0)
		return 0;
	kill(srv->pid, SIGTERM);
	return vu_server_wait(srv, ms);
}

void vu_server_stop(struct vu_server *srv)
{
	if (srv->pid > 0) {
		kill(srv->pid, SIGKILL);
		waitpid(srv->pid, NULL, 0);
		srv->pid = 0;
	}
	unlink(srv->path);
	rmdir(srv->dir);
}

int vu_server_kill(struct vu_server *srv, int ms)
{
	long long end = vu_now_ms() + ms;
	int err = 0;

	if (srv->pid > 0) {
		kill(srv->pid, SIGKILL);
		while (waitpid(srv->pid, NULL, WNOHANG) == 0) {
			if (vu_now_ms() >= end) {
				err = -ETIMEDOUT;
				break;
			}
			usleep(2000);
		}
		srv->pid = 0;
	}
	vu_server_stop(srv);
	return err;
}

const char *vu_setup_commands(void)
{
	static char count[16];
	struct vu_server srv;
	struct vu_vfio v;
	char name[32];

	if (count[0])
		return count;
	if (vu_server_start(&srv, NULL) || vu_bind(srv.path, name, sizeof(name))) {
		vu_server_stop(&srv);
		return "0";
	}
	if (!vu_vfio_open(name, &v))
		snprintf(count, sizeof(count), "%lld", vu_stat(name, "msgs_sent"));
	vu_vfio_close(&v);
	vu_unbind(name);
	vu_server_stop(&srv);
	return count[0] ? count : "0";
}
