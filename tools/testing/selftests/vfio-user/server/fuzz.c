// SPDX-License-Identifier: GPL-2.0
/*
 * --fuzz SEED: a server that keeps misbehaving, reproducibly.
 *
 * Once the client has opened the device (its DMA_MAP answered, so DMA
 * requests reach a live window), every time the send queue runs empty the
 * server adds a batch of generated frames, and some of its replies to the
 * client's commands are mangled.  Two PRNG streams derived from SEED drive
 * it: one for the generated frames, one for the reply mutations, so the
 * sequence of generated frames (the connection-ending event's place in it
 * included) depends on SEED alone, byte for byte (server_fuzz_test.c
 * checks).  How that sequence interleaves with the client's commands (and
 * so which reply meets which mutation, and what the client has in flight
 * when a frame arrives) depends on timing and is not reproducible.
 *
 * Almost every frame keeps the stream framed and is one the vfio_user
 * driver must survive without breaking the connection: DMA_READ and
 * DMA_WRITE requests, valid or not (any address, any count, short or
 * mismatched data, the no-reply flag, any id), bit flips in their payload,
 * frames cut into pieces with pauses in between, error replies with any
 * error value and a payload the client must drop, delayed replies,
 * scrambled read data; and accesses through the zero-copy DMA window,
 * which fault in (or are refused) the client's pages.
 *
 * Whatever the driver treats as a protocol violation (see
 * drivers/vfio/user/transport.c: any unknown id, command, flag, size, any
 * fd, a reply that does not fit its request) ends the connection, so such
 * frames come at most once per connection: with probability
 * FATAL_PERCENT, at a frame index drawn from the seed, the server sends
 * one connection-ending event and then goes silent (or closes).  An event
 * the driver happens to tolerate still ends the connection, in a timeout.
 *
 * Before that, in about one connection in BIND_PERCENT, one reply of the
 * bind handshake (VERSION and its JSON, DEVICE_GET_INFO, GET_REGION_INFO
 * and its capability chain, GET_IRQ_INFO, DMA_MAP) is mangled: the bind
 * or the open may then fail, cleanly, or succeed with whatever the driver
 * accepted.  One mangling in four attaches fds where the client must not
 * keep them (an error reply with fds, more fds than a reply carries, fds
 * and then EOF, fds with an oversized frame): the bind runs in the
 * writer's context and takes a region's fd from its reply, so this is
 * where a client can mistake whose file references it holds.  The same
 * fd manglings are one of the connection-ending events on replies after
 * the bind.  Frames with fds are counted (fd_frames, fds).
 *
 * After --fuzz-frames generated frames the budget is spent: the count file is
 * written and only harmless frames follow, slowly, so that the client can
 * close and unbind a device that is still being sent requests.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "server.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define __aligned(n)	__attribute__((aligned(n)))

/* Frames of the test's DMA layout (fuzz_test.c) are hit more often. */
#define HOT_IOVA	0x100000ull	/* mapped read-write */
#define HOT_SIZE	0x100000ull
#define RO_IOVA		0x400000ull	/* mapped read-only */
#define RO_SIZE		0x10000ull

#define BATCH_MAX	(64u << 10)	/* bytes of frames per send */
#define BATCH_FRAMES	32
#define MAX_DMA_DATA	VFIO_USER_DEFAULT_MAX_DATA_XFER	/* the client's */
#define FRAME_MAX	(VTS_HDR_SIZE + sizeof(struct vfio_user_dma_access) + \
			 MAX_DMA_DATA + 64)
#define FATAL_PERCENT	60
#define BIND_PERCENT	25
/* Replies before DMA_MAP's: VERSION, GET_INFO, 9 + 1 region, 5 IRQ infos. */
#define BIND_REPLIES	18
/* After the budget: this many harmless frames per millisecond. */
#define CALM_FRAMES	4

enum fatal_kind {
	/* generated frames */
	F_UNSOLICITED, F_UNKNOWN_CMD, F_REQ_ERROR, F_BAD_FLAGS,
	F_REPLY_NO_REPLY, F_BAD_LEN, F_OVERSIZE, F_HUGE, F_TINY, F_FDS,
	F_PARTIAL_CLOSE, F_STALL, F_GARBAGE, F_CLOSE, F_HDR_FLIP,
	/* the next reply */
	R_WRONG_ID, R_WRONG_CMD, R_TRUNC, R_EXTEND, R_DUP, R_SILENT, R_FDS,
	R_STALL,
	NR_FATAL
};

static const char *const fatal_names[NR_FATAL] = {
	[F_UNSOLICITED] = "unsolicited-reply",
	[F_UNKNOWN_CMD] = "unknown-command",
	[F_REQ_ERROR] = "request-with-error-flag",
	[F_BAD_FLAGS] = "bad-flags",
	[F_REPLY_NO_REPLY] = "reply-with-no-reply-flag",
	[F_BAD_LEN] = "bad-request-length",
	[F_OVERSIZE] = "oversized-request",
	[F_HUGE] = "huge-msg-size",
	[F_TINY] = "msg-size-below-header",
	[F_FDS] = "fds-attached",
	[F_PARTIAL_CLOSE] = "partial-frame-close",
	[F_STALL] = "partial-frame-stall",
	[F_GARBAGE] = "garbage",
	[F_CLOSE] = "close",
	[F_HDR_FLIP] = "header-bit-flips",
	[R_WRONG_ID] = "reply-wrong-id",
	[R_WRONG_CMD] = "reply-wrong-command",
	[R_TRUNC] = "reply-truncated",
	[R_EXTEND] = "reply-extended",
	[R_DUP] = "reply-duplicated",
	[R_SILENT] = "no-reply",
	[R_FDS] = "reply-with-fds",
	[R_STALL] = "reply-stalled",
};

/* One frame under construction (up to a 1 MiB DMA_WRITE). */
static uint8_t frame[FRAME_MAX] __aligned(8);

/* ---- PRNG: splitmix64 to seed, xorshift64* to run (same everywhere) ---- */

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t next(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545f4914f6cdd1dull;
}

/* Uniform enough in [0, n); n > 0. */
static uint64_t rnd(uint64_t *x, uint64_t n)
{
	return next(x) % n;
}

static void fill_random(uint64_t *x, uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint64_t v = next(x);

		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	while (len--)
		*p++ = next(x);
}

static void flip_bits(uint64_t *x, uint8_t *p, size_t len, unsigned int n)
{
	while (len && n--) {
		uint64_t bit = rnd(x, len * 8);

		p[bit / 8] ^= 1u << (bit % 8);
	}
}

/* ---- the report ---- */

/*
 * Written atomically: the test polls for it while we run.  Also written
 * when the connection-ending event goes out or is armed on the next reply
 * ("armed"), so that a client knows the silence that follows is for good
 * ("mute"), or that it would take a command to end it.
 */
static void fuzz_report(const struct vts_conn *c)
{
	const struct vts_fuzz_state *fz = &c->fz;
	char tmp[4096];
	FILE *f;

	if (!vts_opt->fuzz_count_file)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", vts_opt->fuzz_count_file);
	f = fopen(tmp, "w");
	if (!f) {
		vts_log("fuzz: %s: %m\n", tmp);
		return;
	}
	fprintf(f, "seed %llu\nframes %lu\ngenerated %lu\nreplies %lu\n"
		"mutated %lu\ntouches %lu\nend %s\ndone %d\nbind %s\n"
		"fd_frames %lu\nfds %lu\narmed %s\nmute %d\n",
		(unsigned long long)vts_opt->fuzz_seed, fz->frames, fz->generated,
		fz->replies, fz->mutated, fz->touches,
		fz->end ? fz->end : "none", fz->done,
		fz->bind ? fz->bind : "intact", fz->fd_frames, fz->fds_sent,
		fz->fatal_reply >= 0 ? fatal_names[fz->fatal_reply] : "none",
		c->mute);
	if (fclose(f) || rename(tmp, vts_opt->fuzz_count_file))
		vts_log("fuzz: %s: %m\n", vts_opt->fuzz_count_file);
}

/* ---- sending ---- */

static void count_frame(struct vts_conn *c, bool generated)
{
	struct vts_fuzz_state *fz = &c->fz;

	fz->frames++;
	if (generated)
		fz->generated++;
	else
		fz->replies++;
	/* Generated frames only: replies come when the client sends. */
	if (!fz->done && fz->generated >= vts_opt->fuzz_frames) {
		fz->done = true;
		vts_log("fuzz: budget of %lu frames spent\n", vts_opt->fuzz_frames);
		fuzz_report(c);
	}
}

static void flush(struct vts_conn *c)
{
	struct vts_fuzz_state *fz = &c->fz;

	if (fz->buf_len)
		vts_conn_emit(c, fz->buf, fz->buf_len, NULL, 0, VTS_EMIT_REQUEST);
	fz->buf_len = 0;
}

/* A generated frame goes into the batch, or alone when it is large. */
static void emit(struct vts_conn *c, const uint8_t *p, size_t len)
{
	struct vts_fuzz_state *fz = &c->fz;

	if (fz->buf_len + len > BATCH_MAX)
		flush(c);
	if (len > BATCH_MAX) {
		vts_conn_emit(c, p, len, NULL, 0, VTS_EMIT_REQUEST);
	} else {
		memcpy(fz->buf + fz->buf_len, p, len);
		fz->buf_len += len;
	}
	count_frame(c, true);
}

/*
 * Send @p in two or three pieces, the later ones after a pause of up to
 * 2 ms: the client sees a frame arrive in parts, in the header or in the
 * payload.  Whatever is emitted after waits behind the pieces.
 */
static void emit_split(struct vts_conn *c, uint64_t *x, const uint8_t *p,
		       size_t len)
{
	size_t cut = 1 + rnd(x, len - 1), cut2;

	flush(c);
	vts_conn_emit(c, p, cut, NULL, 0, VTS_EMIT_REQUEST);
	if (len - cut > 1 && rnd(x, 2)) {
		cut2 = cut + 1 + rnd(x, len - cut - 1);
		vts_conn_emit_at(c, p + cut, cut2 - cut, NULL, 0,
				 vts_now_ns() + rnd(x, 2000000));
		cut = cut2;
	}
	vts_conn_emit_at(c, p + cut, len - cut, NULL, 0,
			 vts_now_ns() + rnd(x, 2000000));
}

/* ---- generated frames ---- */

static const struct vts_dma_map *window(const struct vts_conn *c)
{
	return c->dev.nr_dma ? &c->dev.dma[0] : NULL;
}

static uint64_t pick_addr(struct vts_conn *c, uint64_t *x)
{
	const struct vts_dma_map *w = window(c);
	uint64_t base = w ? w->iova : 0, size = w ? w->size : 1ull << 40;

	switch (rnd(x, 16)) {
	case 0 ... 6:
		return HOT_IOVA + rnd(x, HOT_SIZE);
	case 7:
		return RO_IOVA + rnd(x, RO_SIZE);
	case 8 ... 9:
		return base + rnd(x, size);
	case 10:
		return 0;
	case 11:
		return UINT64_MAX - rnd(x, 4096);	/* address + count wraps */
	case 12:
		return base + size - rnd(x, 4096);	/* across the window's end */
	case 13:
		return next(x);
	default:
		return HOT_IOVA + HOT_SIZE - rnd(x, 64);	/* into a hole */
	}
}

/* Small counts mostly; now and then large, at the limit, or absurd. */
static uint64_t pick_count(uint64_t *x)
{
	switch (rnd(x, 64)) {
	case 0 ... 3:
		return 0;
	case 4 ... 29:
		return 1u << rnd(x, 4);
	case 30 ... 49:
		return rnd(x, 256);
	case 50 ... 58:
		return rnd(x, 4096);
	case 59 ... 60:
		return rnd(x, 65536);
	case 61:
		/* Rarely a whole 1 MiB: on TCG it costs milliseconds. */
		return rnd(x, 8) ? rnd(x, 4096) : MAX_DMA_DATA - 1 + rnd(x, 3);
	case 62:
		return MAX_DMA_DATA + 1 + rnd(x, 1u << 20);
	default:
		return next(x);
	}
}

/*
 * A DMA_READ or DMA_WRITE the client must answer (or, with the no-reply
 * flag, silently serve or drop) without breaking the connection: the
 * payload length is always within what the driver frames.
 */
static size_t build_dma(struct vts_conn *c, uint64_t *x, uint8_t *p)
{
	struct vfio_user_header *h = (void *)p;
	struct vfio_user_dma_access *a = (void *)(p + VTS_HDR_SIZE);
	bool write = rnd(x, 2);
	size_t data = 0;

	a->address = pick_addr(c, x);
	a->count = pick_count(x);
	if (write) {
		data = a->count <= MAX_DMA_DATA ? a->count : rnd(x, 64);
		/* Now and then a length that disagrees with the count. */
		if (rnd(x, 16) == 0) {
			data = rnd(x, 2) ? data + 1 + rnd(x, 8) : data / 2;
			if (data > MAX_DMA_DATA)
				data = MAX_DMA_DATA;
		}
		if (rnd(x, 4))
			memset(a->data, 0xa5 ^ (uint8_t)data, data);
		else
			fill_random(x, a->data, data);
	}
	*h = (struct vfio_user_header){
		.msg_id = rnd(x, 16) ? c->req_id++ : (uint16_t)next(x),
		.command = write ? VFIO_USER_DMA_WRITE : VFIO_USER_DMA_READ,
		.msg_size = VTS_HDR_SIZE + sizeof(*a) + data,
		.flags = VFIO_USER_F_TYPE_COMMAND |
			 (rnd(x, 8) ? 0 : VFIO_USER_F_NO_REPLY),
	};
	return h->msg_size;
}

/* Read or write through the zero-copy window, as a device's DMA would. */
static void touch_window(struct vts_conn *c, uint64_t *x)
{
	const struct vts_dma_map *w = window(c);
	static uint8_t scratch[4096];
	uint64_t iova, off;
	size_t len = 1 + rnd(x, sizeof(scratch));

	if (!w || !w->va)
		return;
	iova = rnd(x, 4) ? HOT_IOVA + rnd(x, HOT_SIZE) : pick_addr(c, x);
	if (iova < w->iova || iova - w->iova >= w->size)
		return;
	off = iova - w->iova;
	if (len > w->size - off)
		len = w->size - off;
	if (rnd(x, 2) && (w->flags & VFIO_USER_F_DMA_REGION_WRITE)) {
		fill_random(x, scratch, len);
		vts_engine_guarded_copy((uint8_t *)w->va + off, scratch, len);
	} else {
		vts_engine_guarded_copy(scratch, (uint8_t *)w->va + off, len);
	}
	c->fz.touches++;
}

static int open_fd(uint64_t *x, struct vts_conn *c)
{
	switch (rnd(x, 4)) {
	case 0:
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	case 1:
		return eventfd(0, EFD_CLOEXEC);
	case 2:
		return memfd_create("vfu-fuzz", MFD_CLOEXEC);
	default:
		/* Our own end of the connection, in flight inside itself. */
		return fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
	}
}

/* Send @len bytes of @p with one or two fds of various kinds attached. */
static void emit_with_fds(struct vts_conn *c, uint64_t *x, const uint8_t *p,
			  size_t len)
{
	int fds[2] = { -1, -1 };
	unsigned int n = 1 + rnd(x, 2), i;

	flush(c);
	for (i = 0; i < n; i++) {
		fds[i] = open_fd(x, c);
		if (fds[i] < 0) {
			n = i;
			break;
		}
	}
	vts_conn_emit(c, p, len, fds, n, VTS_EMIT_REQUEST);
	c->fz.fd_frames++;
	c->fz.fds_sent += n;
	for (i = 0; i < n; i++)
		close(fds[i]);
}

/* The connection-ending event of a generated frame; then silence. */
static void emit_fatal(struct vts_conn *c, uint64_t *x, enum fatal_kind k)
{
	static const uint16_t cmds[] = {
		0, VFIO_USER_VERSION, VFIO_USER_DMA_MAP, VFIO_USER_REGION_READ,
		VFIO_USER_REGION_WRITE, VFIO_USER_DEVICE_RESET,
		VFIO_USER_MAX_COMMAND, 0xffff,
	};
	struct vfio_user_header *h = (void *)frame;
	size_t len = build_dma(c, x, frame);
	bool mute = true;

	flush(c);
	switch (k) {
	case F_UNSOLICITED:
		h->msg_id = vts_conn_unused_id(c);
		h->flags = VFIO_USER_F_TYPE_REPLY;
		h->command = rnd(x, VFIO_USER_MAX_COMMAND);
		break;
	case F_UNKNOWN_CMD:
		h->command = rnd(x, 2) ? cmds[rnd(x, ARRAY_SIZE(cmds))] :
					 (uint16_t)next(x);
		if (h->command == VFIO_USER_DMA_READ || h->command == VFIO_USER_DMA_WRITE)
			h->command = 0;
		break;
	case F_REQ_ERROR:
		h->flags |= VFIO_USER_F_ERROR;
		h->error_reply = next(x);
		break;
	case F_BAD_FLAGS:
		if (rnd(x, 2))
			h->flags |= 1u << (6 + rnd(x, 26));
		else
			h->flags = (h->flags & ~VFIO_USER_F_TYPE_MASK) | (2 + rnd(x, 14));
		break;
	case F_REPLY_NO_REPLY:
		h->flags = VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_NO_REPLY;
		break;
	case F_BAD_LEN:
		/* A DMA_READ carries exactly its 16 bytes; either has at least. */
		h->command = VFIO_USER_DMA_READ;
		h->msg_size = VTS_HDR_SIZE + (rnd(x, 2) ? 17 + rnd(x, 64) : rnd(x, 16));
		len = h->msg_size;
		break;
	case F_OVERSIZE:
		/* Framed, but more than the client's max_data_xfer_size. */
		h->command = VFIO_USER_DMA_WRITE;
		h->msg_size = VTS_HDR_SIZE + sizeof(struct vfio_user_dma_access) +
			      MAX_DMA_DATA + 1 + rnd(x, 64);
		len = h->msg_size;
		break;
	case F_HUGE:
		h->msg_size = rnd(x, 2) ? 0xffffffffu - rnd(x, 16) :
			      VTS_HDR_SIZE + (1u << 20) + 32 + 1 + rnd(x, 1u << 30);
		len = VTS_HDR_SIZE + rnd(x, 64);
		break;
	case F_TINY:
		h->msg_size = rnd(x, VTS_HDR_SIZE);
		len = VTS_HDR_SIZE;
		break;
	case F_FDS:
		emit_with_fds(c, x, frame, len);
		break;
	case F_PARTIAL_CLOSE:
		vts_conn_emit(c, frame, 1 + rnd(x, len - 1), NULL, 0,
			      VTS_EMIT_REQUEST | VTS_EMIT_CLOSE_AFTER);
		mute = false;
		break;
	case F_STALL:
		len = 1 + rnd(x, len - 1);
		break;
	case F_GARBAGE:
		len = VTS_HDR_SIZE + rnd(x, 256);
		fill_random(x, frame, len);
		break;
	case F_CLOSE:
		c->dead = true;
		mute = false;
		break;
	case F_HDR_FLIP:
		flip_bits(x, frame, VTS_HDR_SIZE, 1 + rnd(x, 3));
		break;
	default:
		/* A reply kind: armed for the next reply, generation stops. */
		c->fz.fatal_reply = k;
		fuzz_report(c);		/* "armed": a test may want to ask */
		return;
	}
	if (k != F_FDS && k != F_PARTIAL_CLOSE && k != F_CLOSE)
		vts_conn_emit(c, frame, len, NULL, 0, VTS_EMIT_REQUEST);
	count_frame(c, true);
	c->fz.end = fatal_names[k];
	c->fz.fatal_sent = true;
	vts_log("fuzz: connection-ending event %s at frame %lu\n", fatal_names[k],
		c->fz.frames);
	/*
	 * Sent (or queued) already: muting stops what follows, not this.  A
	 * client that tolerated it notices the silence, in a timeout.
	 */
	if (mute)
		c->mute = true;
	fuzz_report(c);			/* "end", "mute": nothing more comes */
}

static bool fuzz_wants_send(const struct vts_conn *c)
{
	const struct vts_fuzz_state *fz = &c->fz;

	return fz->active && !fz->fatal_sent && fz->fatal_reply < 0 &&
	       !c->dead && !c->mute;
}

/* The send queue ran empty: add a batch of frames. */
static void fuzz_pump(struct vts_conn *c)
{
	struct vts_fuzz_state *fz = &c->fz;
	uint64_t *x = &fz->gen;
	unsigned int i, n = fz->done ? CALM_FRAMES : BATCH_FRAMES;

	for (i = 0; i < n && fuzz_wants_send(c) && vts_conn_txq_empty(c); i++) {
		size_t len;

		if (!fz->done && fz->generated >= fz->fatal_at) {
			emit_fatal(c, x, rnd(x, NR_FATAL));
			break;
		}
		if (rnd(x, 64) == 0)
			touch_window(c, x);
		len = build_dma(c, x, frame);
		switch (rnd(x, 20)) {
		case 0 ... 1:
			/* Bit flips in the payload: other address, count. */
			flip_bits(x, frame + VTS_HDR_SIZE, len - VTS_HDR_SIZE,
				  1 + rnd(x, 4));
			emit(c, frame, len);
			break;
		case 2:
			emit_split(c, x, frame, len);
			count_frame(c, true);
			break;
		default:
			emit(c, frame, len);
		}
	}
	flush(c);
	/* Calm after the budget: pace the harmless frames. */
	if (fz->done && fuzz_wants_send(c) && vts_conn_txq_empty(c)) {
		size_t len = build_dma(c, x, frame);

		vts_conn_emit_at(c, frame, len, NULL, 0, vts_now_ns() + 1000000);
		count_frame(c, true);
	}
}

/* ---- replies ---- */

static uint32_t pick_errno(uint64_t *x)
{
	static const uint32_t errs[] = {
		0, 1, EINTR, EIO, EAGAIN, ENOMEM, EFAULT, EINVAL, ENOSPC,
		ENOSYS, ETIMEDOUT,
		/* the kernel's internal restart codes: never for userspace */
		512, 513, 514, 515, 516, 517, 518, 519, 520, 521, 524, 530,
		4094, 4095, 4096, 0x7fffffff, 0xffffffff,
	};

	if (rnd(x, 4) == 0)
		return rnd(x, 600);
	return errs[rnd(x, ARRAY_SIZE(errs))];
}

/* ---- fds where the client must not keep them ---- */

enum fd_mangle {
	FDM_PLAIN, FDM_ERROR, FDM_MANY, FDM_EOF, FDM_OVERSIZE, NR_FDM
};

static const char *const fdm_names[NR_FDM] = {
	[FDM_PLAIN] = "fds",
	[FDM_ERROR] = "fds-error",
	[FDM_MANY] = "fds-many",
	[FDM_EOF] = "fds-eof",
	[FDM_OVERSIZE] = "fds-oversize",
};

/*
 * Reply @msg (@len bytes in VTS_MAX_MSG_SIZE of room; @fd the fd it carries,
 * or -1) goes out with fds attached, its own first:
 *   plain     as it is, with one or two fds;
 *   error     an error reply (the header alone) with one or two;
 *   many      as it is, with 2 to VTS_TX_MAX_FDS: more than a reply carries,
 *             at times more than the client has room for;
 *   eof       the header with one or two, part of the payload, EOF;
 *   oversize  with one or two, a header announcing more than any reply
 *             may be and some junk: unframeable, so silence after.
 * The extra fds are of every kind open_fd() makes.  As with the fd modes
 * of --hostile (server/hostile.c), the device's files then stay until we
 * exit, so that a reference the client put and did not own shows at our
 * exit, in the kernel's check at close, not later and elsewhere.
 */
static void emit_fd_mangle(struct vts_conn *c, uint64_t *x, uint8_t *msg,
			   size_t len, int fd, enum fd_mangle k)
{
	struct vfio_user_header *h = (void *)msg;
	unsigned int n = 1 + rnd(x, 2), own = 0, i, flags = 0;
	int fds[VTS_TX_MAX_FDS];

	switch (k) {
	case FDM_ERROR:
		h->flags |= VFIO_USER_F_ERROR;
		h->error_reply = pick_errno(x);
		h->msg_size = len = VTS_HDR_SIZE;
		break;
	case FDM_MANY:
		n = 2 + rnd(x, VTS_TX_MAX_FDS - 1);
		break;
	case FDM_EOF:
		len = VTS_HDR_SIZE + (len > VTS_HDR_SIZE ? rnd(x, len - VTS_HDR_SIZE) : 0);
		flags = VTS_EMIT_CLOSE_AFTER;
		break;
	case FDM_OVERSIZE:
		h->msg_size = VTS_HDR_SIZE + MAX_DMA_DATA + 64 + 1 + rnd(x, 1u << 20);
		len = VTS_HDR_SIZE + rnd(x, 4096);
		fill_random(x, msg + VTS_HDR_SIZE, len - VTS_HDR_SIZE);
		break;
	default:
		break;
	}
	c->keep_device = true;
	if (fd >= 0)
		fds[own++] = fd;
	for (i = own; i < n; i++) {
		fds[i] = open_fd(x, c);
		if (fds[i] < 0)
			break;
	}
	n = i;
	flush(c);
	vts_conn_emit(c, msg, len, fds, n, flags);
	c->fz.fd_frames++;
	c->fz.fds_sent += n;
	for (i = own; i < n; i++)
		close(fds[i]);
	if (k == FDM_OVERSIZE)
		c->mute = true;
}

/* The armed connection-ending event, on the correct reply @msg. */
static void reply_fatal(struct vts_conn *c, uint64_t *x, uint8_t *msg, size_t len,
			int fd)
{
	struct vfio_user_header *h = (void *)msg;
	enum fatal_kind k = c->fz.fatal_reply;
	size_t payload = len - VTS_HDR_SIZE;

	switch (k) {
	case R_WRONG_ID:
		h->msg_id = vts_conn_unused_id(c);
		break;
	case R_WRONG_CMD:
		h->command ^= 1 + rnd(x, 15);
		break;
	case R_TRUNC:
		if (payload) {
			h->msg_size -= 1 + rnd(x, payload);
			len = h->msg_size;
			break;
		}
		/* nothing to cut, so add */
		__attribute__((fallthrough));
	case R_EXTEND:
		/* @msg has VTS_MAX_MSG_SIZE bytes: a full 1 MiB read gets cut. */
		if (len + 64 > VTS_MAX_MSG_SIZE) {
			h->msg_size -= 1 + rnd(x, payload);
			len = h->msg_size;
			break;
		}
		h->msg_size += 1 + rnd(x, 64);
		fill_random(x, msg + len, h->msg_size - len);
		len = h->msg_size;
		break;
	case R_DUP:
		vts_conn_emit(c, msg, len, NULL, 0, 0);
		break;
	case R_SILENT:
		len = 0;
		break;
	case R_FDS:
		emit_fd_mangle(c, x, msg, len, fd, rnd(x, NR_FDM));
		len = 0;
		break;
	case R_STALL:
		if (!payload && len + 64 <= VTS_MAX_MSG_SIZE) {
			h->msg_size += 1 + rnd(x, 64);
			fill_random(x, msg + len, h->msg_size - len);
		}
		len = VTS_HDR_SIZE + rnd(x, h->msg_size - VTS_HDR_SIZE);
		break;
	default:
		break;
	}
	if (len)
		vts_conn_emit(c, msg, len, NULL, 0, 0);
	c->fz.end = fatal_names[k];
	c->fz.fatal_sent = true;
	c->fz.fatal_reply = -1;
	c->mute = true;
	vts_log("fuzz: connection-ending event %s at frame %lu\n", fatal_names[k],
		c->fz.frames);
	fuzz_report(c);
}

/* ---- the bind handshake ---- */

/* VERSION capabilities a client must refuse or survive. */
static const char *const nasty_json[] = {
	"",
	"{}",
	"[]",
	"null",
	"{\"capabilities\":",
	"{\"capabilities\":{\"max_msg_fds\":4294967296}}",
	"{\"capabilities\":{\"max_msg_fds\":-1}}",
	"{\"capabilities\":{\"max_data_xfer_size\":0}}",
	"{\"capabilities\":{\"max_data_xfer_size\":18446744073709551615}}",
	"{\"capabilities\":{\"max_data_xfer_size\":18446744073709551616}}",
	"{\"capabilities\":{\"max_data_xfer_size\":1e999}}",
	"{\"capabilities\":{\"pgsizes\":0}}",
	"{\"capabilities\":{\"pgsizes\":3}}",
	"{\"capabilities\":{\"max_dma_maps\":0}}",
	"{\"capabilities\":{\"migration\":{\"pgsize\":0,\"max_bitmap_size\":0}}}",
	"{\"capabilities\":{\"twin_socket\":{\"supported\":true}}}",
	"{\"capabilities\":{\"write_multiple\":true}}",
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_msg_fds\":0}}",
	"{\"capabilities\":{\"\\u0000\":\"\\ud800\\\"\"}}",
	"{\"capabilities\":{\"x\":\"\\",
	"{\"capabilities\":{\"max_msg_fds\":0x10}}",
	"{\"capabilities\":{\"max_msg_fds\":8}}trailing",
	"{\"capabilities\":true}",
	"{\"capabilities\":{\"max_msg_fds\":\"8\"}}",
};

/* Deeply nested arrays, @depth of them, inside the capabilities. */
static size_t nested_json(char *p, size_t room, unsigned int depth)
{
	static const char head[] = "{\"capabilities\":{\"x\":";
	size_t len = sizeof(head) - 1, i;

	if (room < len + 2 * depth + 3)
		depth = (room - len - 3) / 2;
	memcpy(p, head, len);
	for (i = 0; i < depth; i++)
		p[len++] = '[';
	for (i = 0; i < depth; i++)
		p[len++] = ']';
	p[len++] = '}';
	p[len++] = '}';
	p[len++] = '\0';
	return len;
}

/*
 * The planned bind reply: @msg is the correct reply (VTS_MAX_MSG_SIZE bytes of
 * room), @fd the region fd it carries or -1.  Mangled in one of a few
 * ways: bits, a 32-bit field, the length, an error, the JSON.
 */
static void bind_mangle(struct vts_conn *c, uint64_t *x, uint8_t *msg, size_t len,
			int fd)
{
	static const uint32_t values[] = {
		0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 16, 32, 4096,
	};
	struct vfio_user_header *h = (void *)msg;
	struct vts_fuzz_state *fz = &c->fz;
	size_t payload = len - VTS_HDR_SIZE, off;
	uint32_t v;

	switch (rnd(x, 8)) {
	case 6 ... 7: {
		enum fd_mangle k = rnd(x, NR_FDM);

		fz->bind = fdm_names[k];
		emit_fd_mangle(c, x, msg, len, fd, k);
		vts_log("fuzz: bind reply %u (command %u) mangled: %s\n",
			fz->bind_replies, h->command, fz->bind);
		fuzz_report(c);
		return;
	}
	case 0:
		fz->bind = "bit-flips";
		flip_bits(x, msg + VTS_HDR_SIZE, payload, 1 + rnd(x, 8));
		break;
	case 1:
		fz->bind = "field";
		if (payload < 4)
			break;
		off = rnd(x, payload / 4) * 4;
		v = rnd(x, 2) ? values[rnd(x, ARRAY_SIZE(values))] :
				(uint32_t)next(x);
		memcpy(msg + VTS_HDR_SIZE + off, &v, 4);
		break;
	case 2:
		fz->bind = "truncated";
		if (payload)
			h->msg_size -= 1 + rnd(x, payload);
		break;
	case 3:
		fz->bind = "extended";
		off = 1 + rnd(x, 256);
		fill_random(x, msg + len, off);
		h->msg_size += off;
		break;
	case 4:
		fz->bind = "error";
		h->flags |= VFIO_USER_F_ERROR;
		h->error_reply = pick_errno(x);
		h->msg_size = VTS_HDR_SIZE;
		fd = -1;
		break;
	default:
		fz->bind = "json";
		if (h->command != VFIO_USER_VERSION) {
			flip_bits(x, msg + VTS_HDR_SIZE, payload < 32 ? payload : 32,
				  1 + rnd(x, 4));
			break;
		}
		/* After major and minor: the JSON, NUL-terminated or not. */
		off = VTS_HDR_SIZE + sizeof(struct vfio_user_version);
		if (rnd(x, 4) == 0) {
			len = nested_json((char *)msg + off, 60000,
					  1 + rnd(x, 4000));
		} else {
			const char *j = nasty_json[rnd(x, ARRAY_SIZE(nasty_json))];

			len = strlen(j) + 1;
			memcpy(msg + off, j, len);
		}
		if (rnd(x, 8) == 0)
			len--;			/* no NUL */
		h->msg_size = off + len;
		break;
	}
	vts_conn_emit(c, msg, h->msg_size, &fd, fd >= 0, 0);
	vts_log("fuzz: bind reply %u (command %u) mangled: %s\n", fz->bind_replies,
		h->command, fz->bind);
	/* Tell the test now: the bind or the open may fail of it. */
	fuzz_report(c);
}

/* ---- start and end ---- */

/* The PRNGs and the plan, on the first reply of the connection. */
static void fuzz_seed(struct vts_conn *c)
{
	struct vts_fuzz_state *fz = &c->fz;
	uint64_t s = vts_opt->fuzz_seed;

	fz->gen = splitmix64(&s) | 1;	/* xorshift never leaves 0 */
	fz->rep = splitmix64(&s) | 1;
	fz->fatal_reply = -1;
	fz->fatal_at = ULONG_MAX;
	if (vts_opt->fuzz_frames && rnd(&fz->gen, 100) < FATAL_PERCENT)
		fz->fatal_at = rnd(&fz->gen, vts_opt->fuzz_frames);
	fz->bind_at = -1;
	if (rnd(&fz->gen, 100) < BIND_PERCENT)
		fz->bind_at = rnd(&fz->gen, BIND_REPLIES);
	fz->seeded = true;
}

/* A reply before fuzzing starts: the bind's, and DMA_MAP's. */
static void fuzz_bind_reply(struct vts_conn *c, uint8_t *msg, size_t len, int fd)
{
	struct vts_fuzz_state *fz = &c->fz;

	if (!fz->seeded)
		fuzz_seed(c);
	if (fz->bind_replies++ == (unsigned int)fz->bind_at)
		bind_mangle(c, &fz->rep, msg, len, fd);
	else
		vts_conn_emit(c, msg, len, &fd, fd >= 0, 0);
}

static void fuzz_start(struct vts_conn *c)
{
	struct vts_fuzz_state *fz = &c->fz;

	if (fz->active || fz->fatal_sent)
		return;
	if (!fz->seeded)
		fuzz_seed(c);
	fz->buf = malloc(BATCH_MAX);
	if (!fz->buf) {
		c->dead = true;
		return;
	}
	fz->active = true;
	vts_log("fuzz: seed %llu, %lu frames, connection-ending event at %ld\n",
		(unsigned long long)vts_opt->fuzz_seed, vts_opt->fuzz_frames,
		fz->fatal_at == ULONG_MAX ? -1L : (long)fz->fatal_at);
}

static void fuzz_fini(struct vts_conn *c)
{
	free(c->fz.buf);
	c->fz.buf = NULL;
	c->fz.active = false;
}

/*
 * The reply to a client command (@fd: -1, or the fd it carries): sent as
 * is, or mangled in a way the client must survive, or, when armed, with
 * the connection-ending event.
 */
static void fuzz_reply(struct vts_conn *c, uint8_t *msg, size_t len, int fd)
{
	struct vts_fuzz_state *fz = &c->fz;
	struct vfio_user_header *h = (void *)msg;
	uint64_t *x = &fz->rep;
	size_t extra;

	if (c->dead || c->mute)
		return;
	if (!fz->active) {
		fuzz_bind_reply(c, msg, len, fd);
		return;
	}
	count_frame(c, false);
	if (fz->fatal_reply >= 0) {
		reply_fatal(c, x, msg, len, fd);
		return;
	}
	if (fz->done || fd >= 0 || rnd(x, 8)) {
		vts_conn_emit(c, msg, len, &fd, fd >= 0, 0);
		return;
	}
	fz->mutated++;
	switch (rnd(x, 4)) {
	case 0:
		/* An error, with any value, maybe with a payload to drop. */
		h->flags |= VFIO_USER_F_ERROR;
		h->error_reply = pick_errno(x);
		extra = rnd(x, 2) ? 0 : 1 + rnd(x, 64);
		fill_random(x, msg + VTS_HDR_SIZE, extra);
		h->msg_size = VTS_HDR_SIZE + extra;
		vts_conn_emit(c, msg, h->msg_size, NULL, 0, 0);
		break;
	case 1:
		/* Late, but well within the client's timeout. */
		vts_conn_emit_at(c, msg, len, NULL, 0,
				 vts_now_ns() + rnd(x, 3000000));
		break;
	case 2:
		if (len > VTS_HDR_SIZE + 1) {
			emit_split(c, x, msg, len);
			break;
		}
		vts_conn_emit(c, msg, len, NULL, 0, 0);
		break;
	default:
		/* Whatever a region read returns, the client passes on. */
		if (h->command == VFIO_USER_REGION_READ &&
		    len > VTS_HDR_SIZE + sizeof(struct vfio_user_region_access))
			fill_random(x, msg + VTS_HDR_SIZE +
				    sizeof(struct vfio_user_region_access),
				    len - VTS_HDR_SIZE -
				    sizeof(struct vfio_user_region_access));
		vts_conn_emit(c, msg, len, NULL, 0, 0);
	}
}

/* Every reply goes through fuzz_reply(). */
static bool fuzz_send_reply(struct vts_conn *c, uint8_t *msg, size_t len,
			    int fd)
{
	fuzz_reply(c, msg, len, fd);
	return true;
}

/* Fuzzing starts once the device is open: its DMA window is known. */
static void fuzz_replied(struct vts_conn *c, const struct vfio_user_header *h,
			 int err)
{
	if (!err && h->command == VFIO_USER_DMA_MAP)
		fuzz_start(c);
}

/* The connection ends: the last report, then the batch buffer goes. */
static void fuzz_conn_fini(struct vts_conn *c)
{
	fuzz_report(c);
	fuzz_fini(c);
}

/* --fuzz's part in a connection. */
const struct vts_conn_ops vts_fuzz_ops = {
	.wants_send = fuzz_wants_send,
	.refill = fuzz_pump,
	.send_reply = fuzz_send_reply,
	.replied = fuzz_replied,
	.fini = fuzz_conn_fini,
};
