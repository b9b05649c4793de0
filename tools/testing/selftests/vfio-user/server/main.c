// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_user_test_server - the vfio-user server the vfio_user tests run
 * against.
 *
 * It emulates the PCI device described in test_device.h over a UNIX socket,
 * follows the vfio-user protocol (QEMU docs/interop/vfio-user.rst, with
 * libvfio-user as the reference for unwritten details) and can be told to
 * misbehave in controlled ways (--hostile, --reorder, --delay-*) so that a
 * client's error handling can be tested.
 *
 * One single-threaded poll loop serves one client at a time; the next client
 * is accepted when the current one leaves, with a fresh device.  Only libc.
 *
 * This file (server/main.c): command line, listening socket, signals, the
 * loop.  The rest is in the other files of server/ (see server/server.h).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "server.h"
#include "lib/vu_util.h"

const struct vts_options *vts_opt;
static volatile sig_atomic_t stop_signal;

void vts_log(const char *fmt, ...)
{
	int saved = errno;	/* for %m */
	va_list ap;

	if (!vts_opt->verbose)
		return;
	fprintf(stderr, "vfu-server[%d]: ", getpid());
	errno = saved;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* The selftests' one clock (lib/vu_util.h), so that stamps compare. */
uint64_t vts_now_ns(void)
{
	return vu_now_ns();
}

/* ---- command line ---- */

static const char *const hostile_names[] = {
	[VTS_HOSTILE_GARBAGE] = "garbage",
	[VTS_HOSTILE_SHORT_CLOSE] = "short-close",
	[VTS_HOSTILE_HUGE_SIZE] = "huge-size",
	[VTS_HOSTILE_UNKNOWN_ID] = "unknown-id",
	[VTS_HOSTILE_DUPLICATE] = "duplicate",
	[VTS_HOSTILE_WRONG_CMD] = "wrong-cmd",
	[VTS_HOSTILE_NO_REPLY] = "no-reply",
	[VTS_HOSTILE_FDS] = "fds",
	[VTS_HOSTILE_MID_FRAME_CLOSE] = "mid-frame-close",
	[VTS_HOSTILE_FLOOD] = "flood",
	[VTS_HOSTILE_EXIT] = "exit",
	[VTS_HOSTILE_UNSOLICITED] = "unsolicited",
	[VTS_HOSTILE_ERROR_FD] = "error-fd",
	[VTS_HOSTILE_TWO_FDS] = "two-fds",
	[VTS_HOSTILE_FD_OVERSIZE] = "fd-oversize",
	[VTS_HOSTILE_FD_EOF] = "fd-eof",
	[VTS_HOSTILE_DRIP] = "drip",
	[VTS_HOSTILE_PRE_REPLY] = "pre-reply",
	[VTS_HOSTILE_STREAM_NOREPLY] = "stream-noreply",
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: vfio_user_test_server -s SOCKET_PATH [options]\n"
"  -s, --socket PATH       listen on this UNIX socket (stale one removed)\n"
"      --caps JSON         VERSION reply JSON, sent verbatim\n"
"      --version MAJ.MIN   VERSION reply numbers (default 0.min(client,%d))\n"
"      --not-pci           DEVICE_GET_INFO without the PCI flag\n"
"      --no-reset          no RESET flag; DEVICE_RESET fails\n"
"      --bar2-file PATH    send PATH's file for BAR2 instead of a memfd, and\n"
"                          back BAR2 with it if it can be mapped shared and\n"
"                          writable (grown to BAR2's size); else BAR2 is\n"
"                          private memory and the file is only sent\n"
"      --no-dma-fd         DMA_MAP with an fd fails (EINVAL): message DMA only\n"
"      --dma-rogue         the DMA engine skips its DMA_MAP table checks and\n"
"                          reaches IOVAs it was not given\n"
"      --reorder N         answer up to N pipelined commands in reverse\n"
"      --delay-ms N        delay every reply by N ms\n"
"      --delay-reply CMD:MS  delay the replies to command CMD (a number or a\n"
"                          name: DMA_MAP, SET_IRQS, REGION_READ...) by MS ms\n"
"                          instead; repeatable.  A delayed reply holds up\n"
"                          no other message\n"
"      --hostile MODE      misbehave on the trigger command's reply:\n"
"                          garbage short-close huge-size unknown-id duplicate\n"
"                          wrong-cmd no-reply fds mid-frame-close flood exit\n"
"                          unsolicited;\n"
"                          error-fd (an error reply with an fd attached),\n"
"                          two-fds (the reply with two fds), fd-oversize (an\n"
"                          fd and a header announcing 128 KiB, then junk),\n"
"                          fd-eof (header and fd, half the payload, EOF),\n"
"                          drip (the reply one byte per --drip-ms),\n"
"                          pre-reply (the reply, a DMA_READ of the client's\n"
"                          max_data_xfer_size at IOVA 0, no more reading,\n"
"                          and --pre-reply-ms later half a reply to the\n"
"                          trigger's id + 1, not yet asked for),\n"
"                          stream-noreply (no reply; DMA_READ requests of 8\n"
"                          bytes at IOVA 0, a new one per answer, forever)\n"
"      --hostile-after N   answer N commands normally first (default 0: the\n"
"                          VERSION reply); only commands that want a reply\n"
"                          count, and the count restarts on every connection\n"
"      --flood-count N     DMA_READ requests sent by 'flood' (default 1000000)\n"
"      --drip-ms MS        'drip': one byte every MS ms (default 1000)\n"
"      --pre-reply-ms MS   'pre-reply': the premature reply's delay (default\n"
"                          500)\n"
"      --fuzz SEED         once the device is open (DMA_MAP), send a seeded\n"
"                          stream of valid, mangled and invalid frames and\n"
"                          mangle some replies; in some connections, one\n"
"                          reply of the bind handshake too (server/fuzz.c)\n"
"      --fuzz-frames N     frames to generate per connection before the\n"
"                          fuzzer calms down to harmless ones (default 10000)\n"
"      --fuzz-count-file F write the fuzzer's counts to F when the budget is\n"
"                          spent and when the connection ends\n"
"      --once              exit when the first client disconnects\n"
"      --ready-fd N        write \"ready\\n\" to fd N once listening\n"
"  -v, --verbose           log every message on stderr\n",
		TDEV_SERVER_MINOR);
}

static unsigned long parse_num(const char *s, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v > max) {
		fprintf(stderr, "bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static enum vts_hostile_mode parse_hostile(const char *s)
{
	size_t i;

	for (i = 1; i < sizeof(hostile_names) / sizeof(hostile_names[0]); i++)
		if (!strcmp(s, hostile_names[i]))
			return i;
	fprintf(stderr, "unknown --hostile mode '%s'\n", s);
	exit(2);
}

/* --delay-reply CMD:MS, CMD a command number or name. */
static void parse_delay_reply(const char *s, struct vts_options *o)
{
	char buf[64], *colon;
	int cmd;

	snprintf(buf, sizeof(buf), "%s", s);
	colon = strchr(buf, ':');
	if (!colon) {
		fprintf(stderr, "--delay-reply wants CMD:MS\n");
		exit(2);
	}
	*colon = '\0';
	cmd = vts_cmd_by_name(buf);
	if (cmd < 0)
		cmd = parse_num(buf, VFIO_USER_MAX_COMMAND - 1);
	o->delay_reply[cmd] = parse_num(colon + 1, 3600000);
}

static void parse_version(const char *s, struct vts_options *o)
{
	char buf[32], *dot;

	snprintf(buf, sizeof(buf), "%s", s);
	dot = strchr(buf, '.');
	if (!dot) {
		fprintf(stderr, "--version wants MAJOR.MINOR\n");
		exit(2);
	}
	*dot = '\0';
	o->major = parse_num(buf, 0xffff);
	o->minor = parse_num(dot + 1, 0xffff);
	o->version_set = true;
}

enum {
	OPT_CAPS = 256, OPT_VERSION, OPT_NOT_PCI, OPT_NO_RESET, OPT_REORDER,
	OPT_DELAY, OPT_HOSTILE, OPT_HOSTILE_AFTER, OPT_FLOOD_COUNT, OPT_ONCE,
	OPT_READY_FD, OPT_NO_DMA_FD, OPT_DMA_ROGUE, OPT_FUZZ, OPT_FUZZ_FRAMES,
	OPT_FUZZ_COUNT_FILE, OPT_DELAY_REPLY, OPT_DRIP_MS, OPT_PRE_REPLY_MS,
};

/* Options of the device model (server/device.c, engine.c). */
enum { OPT_BAR2_FILE = 512, };

static const struct option long_opts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "caps", required_argument, NULL, OPT_CAPS },
	{ "version", required_argument, NULL, OPT_VERSION },
	{ "not-pci", no_argument, NULL, OPT_NOT_PCI },
	{ "no-reset", no_argument, NULL, OPT_NO_RESET },
	{ "bar2-file", required_argument, NULL, OPT_BAR2_FILE },
	{ "no-dma-fd", no_argument, NULL, OPT_NO_DMA_FD },
	{ "dma-rogue", no_argument, NULL, OPT_DMA_ROGUE },
	{ "reorder", required_argument, NULL, OPT_REORDER },
	{ "delay-ms", required_argument, NULL, OPT_DELAY },
	{ "delay-reply", required_argument, NULL, OPT_DELAY_REPLY },
	{ "drip-ms", required_argument, NULL, OPT_DRIP_MS },
	{ "pre-reply-ms", required_argument, NULL, OPT_PRE_REPLY_MS },
	{ "hostile", required_argument, NULL, OPT_HOSTILE },
	{ "hostile-after", required_argument, NULL, OPT_HOSTILE_AFTER },
	{ "flood-count", required_argument, NULL, OPT_FLOOD_COUNT },
	{ "fuzz", required_argument, NULL, OPT_FUZZ },
	{ "fuzz-frames", required_argument, NULL, OPT_FUZZ_FRAMES },
	{ "fuzz-count-file", required_argument, NULL, OPT_FUZZ_COUNT_FILE },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "ready-fd", required_argument, NULL, OPT_READY_FD },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ }
};

static void parse_args(int argc, char **argv, struct vts_options *o)
{
	int c;

	while ((c = getopt_long(argc, argv, "s:vh", long_opts, NULL)) != -1) {
		switch (c) {
		case 's': o->sock_path = optarg; break;
		case 'v': o->verbose = true; break;
		case 'h': usage(stdout); exit(0);
		case OPT_CAPS: o->caps = optarg; break;
		case OPT_VERSION: parse_version(optarg, o); break;
		case OPT_NOT_PCI: o->not_pci = true; break;
		case OPT_NO_RESET: o->no_reset = true; break;
		case OPT_BAR2_FILE: o->bar2_file = optarg; break;
		case OPT_NO_DMA_FD: o->no_dma_fd = true; break;
		case OPT_DMA_ROGUE: o->dma_rogue = true; break;
		case OPT_REORDER: o->reorder = parse_num(optarg, 65536); break;
		case OPT_DELAY: o->delay_ms = parse_num(optarg, 3600000); break;
		case OPT_DELAY_REPLY: parse_delay_reply(optarg, o); break;
		case OPT_DRIP_MS: o->drip_ms = parse_num(optarg, 3600000); break;
		case OPT_PRE_REPLY_MS:
			o->pre_reply_ms = parse_num(optarg, 3600000);
			break;
		case OPT_HOSTILE: o->hostile = parse_hostile(optarg); break;
		case OPT_HOSTILE_AFTER:
			o->hostile_after = parse_num(optarg, 1u << 30);
			break;
		case OPT_FLOOD_COUNT:
			o->flood_count = parse_num(optarg, 1ul << 40);
			break;
		case OPT_FUZZ:
			o->fuzz = true;
			o->fuzz_seed = parse_num(optarg, ULONG_MAX);
			break;
		case OPT_FUZZ_FRAMES:
			o->fuzz_frames = parse_num(optarg, 1ul << 40);
			break;
		case OPT_FUZZ_COUNT_FILE: o->fuzz_count_file = optarg; break;
		case OPT_ONCE: o->once = true; break;
		case OPT_READY_FD: o->ready_fd = parse_num(optarg, 1 << 20); break;
		default: usage(stderr); exit(2);
		}
	}
	if (!o->sock_path || optind != argc) {
		usage(stderr);
		exit(2);
	}
	if (strlen(o->caps) >= VTS_MAX_CAPS_LEN) {
		fprintf(stderr, "--caps longer than %d bytes\n", VTS_MAX_CAPS_LEN);
		exit(2);
	}
}

/* ---- socket and signals ---- */

static void on_signal(int sig)
{
	stop_signal = sig;
}

/*
 * SIGTERM/SIGINT stay blocked except inside ppoll(), so a signal can never
 * slip in between checking stop_signal and going to sleep.
 */
static void setup_signals(sigset_t *wait_mask)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, wait_mask);
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGINT);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);	/* belt and braces: we use MSG_NOSIGNAL */
	vts_engine_setup_signals();		/* SIGBUS/SIGSEGV in DMA copies */
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	/* A previous server that died leaves its socket behind. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 16) < 0) {
		fprintf(stderr, "listen on %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void signal_ready(int fd)
{
	static const char msg[] = "ready\n";

	if (write(fd, msg, sizeof(msg) - 1) != sizeof(msg) - 1)
		fprintf(stderr, "--ready-fd %d: %s\n", fd, strerror(errno));
	close(fd);
}

/* ---- the loop ---- */

/* Returns a connected, non-blocking socket, or -1 when told to stop. */
static int wait_for_client(int lfd, const sigset_t *wait_mask)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	while (!stop_signal) {
		int fd;

		if (ppoll(&p, 1, NULL, wait_mask) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "poll: %s\n", strerror(errno));
			return -1;
		}
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			vts_log("client connected\n");
			return fd;
		}
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			fprintf(stderr, "accept: %s\n", strerror(errno));
	}
	return -1;
}

static void run_conn(struct vts_conn *c, const sigset_t *wait_mask)
{
	while (!c->dead && !stop_signal) {
		struct pollfd p = { .fd = c->fd, .events = vts_conn_poll_events(c) };
		int64_t t = vts_conn_timeout_ns(c);
		struct timespec ts = { t / 1000000000, t % 1000000000 };

		if (ppoll(&p, 1, t < 0 ? NULL : &ts, wait_mask) < 0) {
			if (errno == EINTR)
				continue;
			vts_log("poll: %m\n");
			return;
		}
		if (p.revents & POLLIN)
			vts_conn_on_readable(c);
		else if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
			c->dead = true;
		if (!c->dead && (p.revents & POLLOUT))
			vts_conn_on_writable(c);
		if (!c->dead)
			vts_conn_on_timer(c);
	}
}

static void serve(int lfd, const sigset_t *wait_mask,
		  const struct vts_conn_ops *const *ops)
{
	uint8_t *rxbuf = malloc(VTS_MAX_MSG_SIZE), *reply = malloc(VTS_MAX_MSG_SIZE);
	static struct vts_conn c;	/* tens of KiB: keep it off the stack */
	bool exit_server = false;

	if (!rxbuf || !reply) {
		fprintf(stderr, "out of memory\n");
		goto out;
	}
	while (!stop_signal && !exit_server) {
		int fd = wait_for_client(lfd, wait_mask);

		if (fd < 0)
			break;
		vts_conn_init(&c, fd, rxbuf, reply, ops);
		run_conn(&c, wait_mask);
		exit_server = c.exit_server || vts_opt->once;
		if (c.exit_server)
			vts_log("hostile exit\n");
		vts_conn_fini(&c);
		vts_log("client gone\n");
	}
out:
	free(rxbuf);
	free(reply);
}

/*
 * The parts every connection plugs in: the DMA engine always, then what
 * the options ask for.  Their hooks are called in this order.
 */
static void select_ops(const struct vts_options *o,
		       const struct vts_conn_ops **ops)
{
	unsigned int n = 0;

	ops[n++] = &vts_engine_ops;
	if (o->hostile != VTS_HOSTILE_NONE)
		ops[n++] = &vts_hostile_ops;
	if (o->fuzz)
		ops[n++] = &vts_fuzz_ops;
	ops[n] = NULL;
}

int main(int argc, char **argv)
{
	struct vts_options o = {
		.caps = TDEV_DEFAULT_CAPS,
		.flood_count = 1000000,
		.fuzz_frames = 10000,
		.ready_fd = -1,
		.drip_ms = 1000,
		.pre_reply_ms = 500,
	};
	const struct vts_conn_ops *ops[4];
	sigset_t wait_mask;
	unsigned int i;
	int lfd;

	for (i = 0; i < VFIO_USER_MAX_COMMAND; i++)
		o.delay_reply[i] = -1;

	parse_args(argc, argv, &o);
	vts_opt = &o;
	select_ops(&o, ops);
	setup_signals(&wait_mask);
	lfd = listen_on(o.sock_path);
	if (lfd < 0)
		return 1;
	if (o.ready_fd >= 0)
		signal_ready(o.ready_fd);
	vts_log("listening on %s\n", o.sock_path);

	serve(lfd, &wait_mask, ops);

	close(lfd);
	unlink(o.sock_path);
	vts_log("exiting%s\n", stop_signal ? " on signal" : "");
	return 0;
}
