// SPDX-License-Identifier: GPL-2.0
/*
 * One client connection: framing, fd passing and the send queue.
 *
 * Receiving: a message is read with recvmsg() calls that never ask for more
 * than the rest of the current message.  SCM_RIGHTS fds arrive with the
 * first byte of the sendmsg() that carried them, and a bounded read cannot
 * cross into the next message, so every fd that arrives while a message is
 * being read belongs to that message.
 *
 * Sending: the socket is non-blocking and the server never waits for a
 * client to read.  A reply is sent at once when nothing is queued before it;
 * otherwise (or for the unsent rest) it is copied into a FIFO drained on
 * POLLOUT.  While a lot is queued we stop reading, so a client that sends
 * without reading eventually blocks itself instead of growing our memory.
 * --delay-ms and --delay-reply park a reply on a list ordered by release
 * time, from which it joins the FIFO when due: a delayed reply never holds
 * up the replies and requests behind it, so a test can keep one command in
 * flight while others are answered.  --reorder holds replies on a stack and
 * releases them reversed.  Requests of ours (the DMA engine's, --hostile
 * flood) share one id counter and are never delayed or held: those options
 * are about replies.  vts_conn_emit_at() pauses the FIFO itself (a frame in
 * pieces) and a dripped message goes out one byte per tick.
 *
 * The DMA engine, --hostile and --fuzz plug in through struct vts_conn_ops
 * (server.h): --hostile flood and --fuzz add their frames whenever the
 * queue runs empty (@wants_send, @refill), and proto.c passes commands,
 * replies and the client's replies to them through vts_conn_on_command()
 * and the other vts_conn_*() hooks below.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <sys/socket.h>

#include "server.h"

/* Stop reading client commands while this much output is queued. */
#define TX_BACKLOG_MAX		(4u << 20)
/* Messages handled per readable event, so that sending is not starved. */
#define RX_BUDGET		64
/* --reorder: how long to wait for more commands after the first held one. */
#define REORDER_WAIT_NS		2000000ull

struct vts_txmsg {
	struct vts_txmsg *next;
	size_t len, off;
	int fds[VTS_TX_MAX_FDS];	/* owned; sent with the first byte */
	unsigned int nfds;
	bool close_after;
	/* CLOCK_MONOTONIC ns: FIFO head pause, or release time when delayed */
	uint64_t not_before;
	uint64_t drip_ns;	/* one byte per this many ns; 0: all at once */
	uint8_t data[];
};

static void close_fds(int *fds, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

static void rx_reset(struct vts_conn *c)
{
	close_fds(c->rx_fds, c->rx_nfds);
	c->rx_nfds = 0;
	c->rx_fds_lost = false;
	c->rx_have = 0;
	c->rx_need = VTS_HDR_SIZE;
}

void vts_conn_init(struct vts_conn *c, int fd, uint8_t *rxbuf, uint8_t *reply,
		   const struct vts_conn_ops *const *ops)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->ops = ops;
	c->rxbuf = rxbuf;
	c->reply = reply;
	c->txq_tail = &c->txq_head;
	c->max_xfer = VFIO_USER_DEFAULT_MAX_DATA_XFER;	/* until VERSION */
	rx_reset(c);
	if (vts_device_init(&c->dev) < 0) {
		vts_log("device init: %m\n");
		c->dead = true;
	}
}

static void txmsg_free(struct vts_txmsg *m)
{
	close_fds(m->fds, m->nfds);
	free(m);
}

static void free_list(struct vts_txmsg *m)
{
	while (m) {
		struct vts_txmsg *next = m->next;

		txmsg_free(m);
		m = next;
	}
}

void vts_conn_fini(struct vts_conn *c)
{
	const struct vts_conn_ops *const *o;

	for (o = c->ops; *o; o++)
		if ((*o)->fini)
			(*o)->fini(c);
	free_list(c->txq_head);
	free_list(c->delayed);
	free_list(c->held);
	rx_reset(c);
	if (c->dev.bar2 && !c->keep_device)
		vts_device_fini(&c->dev);
	else if (c->keep_device)
		vts_log("keeping the device's files until we exit\n");
	close(c->fd);
}

/* ---- sending ---- */

static struct vts_txmsg *txmsg_new(const void *data, size_t len, const int *fds,
				   unsigned int nfds, unsigned int flags)
{
	struct vts_txmsg *m = malloc(sizeof(*m) + len);
	unsigned int i;

	if (!m)
		return NULL;
	if (nfds > VTS_TX_MAX_FDS)
		nfds = VTS_TX_MAX_FDS;
	memcpy(m->data, data, len);
	m->next = NULL;
	m->len = len;
	m->off = 0;
	m->nfds = 0;
	/* dup: the caller's fds (e.g. the BAR2 memfd) stay the caller's */
	for (i = 0; i < nfds; i++) {
		m->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		if (m->fds[i] < 0) {
			txmsg_free(m);
			return NULL;
		}
		m->nfds++;
	}
	m->close_after = flags & VTS_EMIT_CLOSE_AFTER;
	m->not_before = 0;
	m->drip_ns = 0;
	return m;
}

/* How long to hold back the reply @msg: --delay-reply, else --delay-ms. */
static uint64_t reply_delay_ns(const void *msg, size_t len)
{
	const struct vfio_user_header *h = msg;
	unsigned int ms = vts_opt->delay_ms;

	if (len >= VTS_HDR_SIZE && h->command < VFIO_USER_MAX_COMMAND &&
	    vts_opt->delay_reply[h->command] >= 0)
		ms = vts_opt->delay_reply[h->command];
	return ms * 1000000ull;
}

static void txq_append(struct vts_conn *c, struct vts_txmsg *m)
{
	*c->txq_tail = m;
	c->txq_tail = &m->next;
	c->tx_bytes += m->len - m->off;
}

static struct vts_txmsg *txq_pop(struct vts_conn *c)
{
	struct vts_txmsg *m = c->txq_head;

	c->txq_head = m->next;
	if (!c->txq_head)
		c->txq_tail = &c->txq_head;
	return m;
}

/* One non-blocking sendmsg(); returns bytes sent, 0 if it would block. */
static ssize_t send_some(struct vts_conn *c, const uint8_t *p, size_t len,
			 const int *fds, unsigned int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VTS_TX_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > VTS_TX_MAX_FDS)
		nfds = VTS_TX_MAX_FDS;
	if (nfds) {
		struct cmsghdr *cm;

		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		memset(u.buf, 0, mh.msg_controllen);	/* no stack bytes out */
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	do {
		n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN)
		return 0;
	vts_log("send: %m\n");
	c->dead = true;
	return -1;
}

static bool txq_head_ready(const struct vts_conn *c)
{
	return c->txq_head && c->txq_head->not_before <= vts_now_ns();
}

/* The first part with frames to send once the queue runs empty, or NULL. */
static const struct vts_conn_ops *wants_send(const struct vts_conn *c)
{
	const struct vts_conn_ops *const *o;

	for (o = c->ops; *o; o++)
		if ((*o)->wants_send && (*o)->wants_send(c))
			return *o;
	return NULL;
}

void vts_conn_on_writable(struct vts_conn *c)
{
	while (!c->dead) {
		const struct vts_conn_ops *o;
		struct vts_txmsg *m;
		ssize_t n;

		if (!c->txq_head) {
			o = wants_send(c);
			if (o)
				o->refill(c);
		}
		if (!txq_head_ready(c))
			return;
		m = c->txq_head;
		n = send_some(c, m->data + m->off,
			      m->drip_ns ? 1 : m->len - m->off, m->fds, m->nfds);
		if (n <= 0)
			return;
		close_fds(m->fds, m->nfds);	/* they went with the first byte */
		m->nfds = 0;
		m->off += n;
		c->tx_bytes -= n;
		if (m->off < m->len && m->drip_ns) {
			m->not_before = vts_now_ns() + m->drip_ns;
			return;			/* the next byte, next tick */
		}
		if (m->off < m->len)
			return;			/* socket full */
		txq_pop(c);
		if (m->close_after)
			c->dead = true;
		txmsg_free(m);
	}
}

static void queue_copy(struct vts_conn *c, const uint8_t *p, size_t len,
		       const int *fds, unsigned int nfds, unsigned int flags)
{
	struct vts_txmsg *m = txmsg_new(p, len, fds, nfds, flags);

	if (!m) {
		vts_log("out of memory queueing a reply\n");
		c->dead = true;
		return;
	}
	txq_append(c, m);
}

static void reorder_release(struct vts_conn *c)
{
	while (c->held) {
		struct vts_txmsg *m = c->held;

		c->held = m->next;
		m->next = NULL;
		txq_append(c, m);
	}
	c->nheld = 0;
	vts_conn_on_writable(c);
}

static void reorder_hold(struct vts_conn *c, struct vts_txmsg *m)
{
	m->next = c->held;
	c->held = m;
	if (c->nheld++ == 0)
		c->held_deadline = vts_now_ns() + REORDER_WAIT_NS;
	if (c->nheld >= vts_opt->reorder)
		reorder_release(c);
}

/* Park @m until @when; equal times keep their order. */
static void delay_insert(struct vts_conn *c, struct vts_txmsg *m, uint64_t when)
{
	struct vts_txmsg **pp = &c->delayed;

	m->not_before = when;
	while (*pp && (*pp)->not_before <= when)
		pp = &(*pp)->next;
	m->next = *pp;
	*pp = m;
}

/* Delayed replies that are due go where an undelayed one would have. */
static void delay_release(struct vts_conn *c)
{
	uint64_t now = vts_now_ns();

	while (c->delayed && c->delayed->not_before <= now) {
		struct vts_txmsg *m = c->delayed;

		c->delayed = m->next;
		m->next = NULL;
		m->not_before = 0;
		if (vts_opt->reorder > 1)
			reorder_hold(c, m);
		else
			txq_append(c, m);
	}
}

/*
 * Send one message (or queue it), with @fds attached to its first byte.
 * The fds remain the caller's.
 */
void vts_conn_emit(struct vts_conn *c, const void *msg, size_t len, const int *fds,
		   unsigned int nfds, unsigned int flags)
{
	bool request = flags & VTS_EMIT_REQUEST;
	uint64_t delay = request ? 0 : reply_delay_ns(msg, len);
	const uint8_t *p = msg;
	struct vts_txmsg *m;
	ssize_t n = 0;

	if (c->dead || c->mute)
		return;
	if (delay || (vts_opt->reorder > 1 && !request)) {
		m = txmsg_new(p, len, fds, nfds, flags);
		if (!m) {
			vts_log("out of memory holding a reply\n");
			c->dead = true;
			return;
		}
		if (delay)
			delay_insert(c, m, vts_now_ns() + delay);
		else
			reorder_hold(c, m);
		return;
	}
	/* Fast path: nothing ahead of us: straight to the socket. */
	if (!c->txq_head) {
		n = send_some(c, p, len, fds, nfds);
		if (n < 0)
			return;
		if (n > 0)
			nfds = 0;		/* fds went with the first byte */
		if ((size_t)n == len) {
			if (flags & VTS_EMIT_CLOSE_AFTER)
				c->dead = true;
			return;
		}
	}
	queue_copy(c, p + n, len - n, fds, nfds, flags);
}

/* Queue a copy of @msg, paused until @not_before, dripped if @drip_ns. */
static void queue_paced(struct vts_conn *c, const void *msg, size_t len,
			const int *fds, unsigned int nfds,
			uint64_t not_before, uint64_t drip_ns)
{
	struct vts_txmsg *m;

	if (c->dead || c->mute)
		return;
	m = txmsg_new(msg, len, fds, nfds, VTS_EMIT_REQUEST);
	if (!m) {
		vts_log("out of memory queueing a message\n");
		c->dead = true;
		return;
	}
	m->not_before = not_before;
	m->drip_ns = drip_ns;
	txq_append(c, m);
}

/*
 * Queue a copy of @msg (with @fds on its first byte) to go out no earlier
 * than @not_before (CLOCK_MONOTONIC ns).  Everything emitted after it
 * waits behind it, so the stream stays in order: --fuzz uses it to pause
 * inside a frame, --hostile pre-reply to answer what was not yet asked.
 */
void vts_conn_emit_at(struct vts_conn *c, const void *msg, size_t len,
		      const int *fds, unsigned int nfds, uint64_t not_before)
{
	queue_paced(c, msg, len, fds, nfds, not_before, 0);
}

/*
 * Queue a copy of @msg to go out one byte every @ms milliseconds, the
 * first (with @fds) at once; what is emitted after it waits behind it.
 */
void vts_conn_emit_drip(struct vts_conn *c, const void *msg, size_t len,
			const int *fds, unsigned int nfds, unsigned int ms)
{
	queue_paced(c, msg, len, fds, nfds, 0, ms * 1000000ull);
}

bool vts_conn_txq_empty(const struct vts_conn *c)
{
	return !c->txq_head;
}

/* ---- receiving ---- */

static void rx_collect_fds(struct vts_conn *c, struct msghdr *mh)
{
	struct cmsghdr *cm;

	if (mh->msg_flags & MSG_CTRUNC)
		c->rx_fds_lost = true;
	for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		unsigned int i, n;
		int fd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (c->rx_nfds < VTS_RX_MAX_FDS) {
				c->rx_fds[c->rx_nfds++] = fd;
			} else {
				close(fd);
				c->rx_fds_lost = true;
			}
		}
	}
}

/* Returns bytes read, 0 when it would block, -1 when the connection ended. */
static ssize_t rx_read(struct vts_conn *c)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VTS_RX_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {
		.iov_base = c->rxbuf + c->rx_have,
		.iov_len = c->rx_need - c->rx_have,
	};
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	ssize_t n;

	do {
		n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n < 0)
		vts_log("recv: %m\n");
	else
		rx_collect_fds(c, &mh);
	if (n == 0)
		vts_log("client disconnected%s\n", c->rx_have ? " mid-message" : "");
	if (n <= 0) {
		c->dead = true;
		return -1;
	}
	return n;
}

/*
 * A header is complete: can the stream be framed?  A size below the header
 * or above our limit cannot be skipped safely, so the client is dropped.
 */
static bool rx_header_ok(struct vts_conn *c)
{
	const struct vfio_user_header *h = (const void *)c->rxbuf;

	if (h->msg_size >= VTS_HDR_SIZE && h->msg_size <= VTS_MAX_MSG_SIZE)
		return true;
	vts_log("bad msg_size %u (id %u cmd %u): closing\n", h->msg_size,
		h->msg_id, h->command);
	c->dead = true;
	return false;
}

void vts_conn_on_readable(struct vts_conn *c)
{
	unsigned int budget = RX_BUDGET;

	while (!c->dead && !c->rx_mute && budget &&
	       c->tx_bytes < TX_BACKLOG_MAX) {
		ssize_t n = rx_read(c);

		if (n <= 0)
			return;
		c->rx_have += n;
		if (c->rx_have < c->rx_need)
			continue;
		if (c->rx_need == VTS_HDR_SIZE) {
			if (!rx_header_ok(c))
				return;
			c->rx_need = ((struct vfio_user_header *)c->rxbuf)->msg_size;
			if (c->rx_have < c->rx_need)
				continue;
		}
		vts_proto_handle(c, c->rxbuf, c->rx_need, c->rx_fds, c->rx_nfds);
		rx_reset(c);
		budget--;
	}
}

/* ---- event loop glue ---- */

short vts_conn_poll_events(const struct vts_conn *c)
{
	short ev = 0;

	/* Muted, we still see the client hang up: poll reports POLLHUP. */
	if (c->tx_bytes < TX_BACKLOG_MAX && !c->rx_mute)
		ev |= POLLIN;
	if (txq_head_ready(c) || (!c->txq_head && wants_send(c)))
		ev |= POLLOUT;
	return ev;
}

/* Nanoseconds until vts_conn_on_timer() has work, or -1 for none. */
int64_t vts_conn_timeout_ns(const struct vts_conn *c)
{
	uint64_t now = vts_now_ns(), t = UINT64_MAX;

	if (c->nheld)
		t = c->held_deadline;
	if (c->delayed && c->delayed->not_before < t)
		t = c->delayed->not_before;
	if (c->txq_head && c->txq_head->not_before > now &&
	    c->txq_head->not_before < t)
		t = c->txq_head->not_before;
	if (t == UINT64_MAX)
		return -1;
	return t > now ? (int64_t)(t - now) : 0;
}

void vts_conn_on_timer(struct vts_conn *c)
{
	delay_release(c);
	if (c->nheld && vts_now_ns() >= c->held_deadline)
		reorder_release(c);
	vts_conn_on_writable(c);
}

/* ---- the plugged-in parts (struct vts_conn_ops) ---- */

/**
 * vts_conn_on_command() - a command that wants a reply arrived
 * @c: the connection
 * @h: its header
 *
 * Called before the command is handled.
 *
 * Return: false when a part says to drop it unhandled.
 */
bool vts_conn_on_command(struct vts_conn *c, const struct vfio_user_header *h)
{
	const struct vts_conn_ops *const *o;

	for (o = c->ops; *o; o++)
		if ((*o)->on_command && !(*o)->on_command(c, h))
			return false;
	return true;
}

/**
 * vts_conn_send_reply() - send the reply to the current command
 * @c: the connection
 * @msg: the reply, header included (writable: a part may mangle it)
 * @len: its size
 * @fd: the fd it carries, or -1
 *
 * The first part that takes it sends it its way; if none does, it goes
 * out as it is.
 */
void vts_conn_send_reply(struct vts_conn *c, uint8_t *msg, size_t len, int fd)
{
	const struct vts_conn_ops *const *o;

	for (o = c->ops; *o; o++)
		if ((*o)->send_reply && (*o)->send_reply(c, msg, len, fd))
			return;
	vts_conn_emit(c, msg, len, &fd, fd >= 0, 0);
}

/**
 * vts_conn_replied() - the reply to a command went out
 * @c: the connection
 * @h: the command's header
 * @err: the reply's error (a negative errno) or 0
 */
void vts_conn_replied(struct vts_conn *c, const struct vfio_user_header *h,
		      int err)
{
	const struct vts_conn_ops *const *o;

	for (o = c->ops; *o; o++)
		if ((*o)->replied)
			(*o)->replied(c, h, err);
}

/**
 * vts_conn_on_reply() - a reply from the client, to a request of ours
 * @c: the connection
 * @h: its header
 * @payload: what follows the header
 * @len: its size
 */
void vts_conn_on_reply(struct vts_conn *c, const struct vfio_user_header *h,
		       const void *payload, size_t len)
{
	const struct vts_conn_ops *const *o;

	for (o = c->ops; *o; o++)
		if ((*o)->on_reply)
			(*o)->on_reply(c, h, payload, len);
}

/**
 * vts_conn_pump() - a message was handled: the parts' chance to send more
 * @c: the connection
 */
void vts_conn_pump(struct vts_conn *c)
{
	const struct vts_conn_ops *const *o;

	for (o = c->ops; *o; o++)
		if ((*o)->pump)
			(*o)->pump(c);
}

/*
 * Is @fd open on @want (a /proc/self/fd link target such as
 * "anon_inode:[eventfd]")?  Without /proc we cannot tell: yes.
 */
bool vts_fd_target_is(int fd, const char *want)
{
	char path[64], target[128];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return true;
	target[n] = '\0';
	return strcmp(target, want) == 0;
}

/* An id the client has not used on this connection (for --hostile). */
uint16_t vts_conn_unused_id(const struct vts_conn *c)
{
	uint16_t id = c->last_id + 0x8000;
	unsigned int i;

	for (i = 0; i < 65536; i++, id++)
		if (!(c->ids_seen[id / 8] & (1u << (id % 8))))
			return id;
	return id;	/* all 65536 used: nothing is "never used" */
}
