// SPDX-License-Identifier: GPL-2.0
/*
 * --hostile: the ways a broken or malicious server can answer a command.
 *
 * Each mode takes the correct reply to the trigger command and mangles how
 * it goes out; a client under test must survive all of them (fail the
 * command, drop the connection, or carry on, but never crash, hang or leak).
 * Modes act once per connection, on the trigger (the --hostile-after'th
 * command that wants a reply, counted from 0 on each connection, so every
 * client meets the same misbehaviour at the same point); "flood" and
 * "huge-size" change the rest of the connection (endless requests; silence,
 * since the stream can no longer be framed after a 4 GiB header), and so
 * do "pre-reply" and "stream-noreply" (see below).
 *
 * The fd modes (error-fd, two-fds, fd-oversize, fd-eof) attach fds where
 * a client must not keep them: a client that takes fds from a reply has to
 * drop exactly the ones it took, however the reply goes wrong after them.
 * They attach the fd the correct reply carries (the BAR2 memfd for
 * GET_REGION_INFO with room for the caps), else /dev/null.
 *
 * And they keep that connection's device (the memfd, our mapping of it)
 * after the connection, until the server exits: a client that put a file
 * reference it did not own leaves the memfd with fewer references than
 * holders, and our last two then go at exit, the mapping's and then the
 * fd's, where the kernel checks the count at close (on Debian's kernel
 * "VFS: Close: file count is 0" and a BUG).  Freed earlier, at the end of
 * the connection, the file could be reused by the time we close it, and
 * the damage would land on whoever got it, silently or much later.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

/* --hostile flood: DMA_READ requests built per queue entry. */
#define FLOOD_BATCH		256

/* @fd if the reply has one, else a fresh /dev/null (then *@opened). */
static int fd_or_devnull(struct vts_conn *c, int fd, bool *opened)
{
	*opened = false;
	if (fd >= 0)
		return fd;
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		vts_log("hostile: /dev/null: %m\n");
		c->dead = true;
		return -1;
	}
	*opened = true;
	return fd;
}

/* A header no valid peer sends: type 0xf.  msg_size 16 keeps the stream
 * framed, so a client could in principle skip it. */
static void send_garbage(struct vts_conn *c)
{
	static const struct vfio_user_header g = {
		.msg_id = 0xa5a5,
		.command = 0x5a5a,
		.msg_size = sizeof(g),
		.flags = 0xf,
		.error_reply = 0xa5a5a5a5,
	};

	vts_conn_emit(c, &g, sizeof(g), NULL, 0, 0);
}

/*
 * A valid header announcing a payload, half of it, then EOF; with @nfds
 * fds on the header's first byte.
 */
static void send_mid_frame(struct vts_conn *c, uint8_t *msg, size_t len,
			   const int *fds, unsigned int nfds)
{
	struct vfio_user_header *h = (void *)msg;
	size_t payload = len - VTS_HDR_SIZE;

	if (payload < 2) {		/* no payload to cut: invent one */
		payload = 64;
		memset(msg + VTS_HDR_SIZE, 0, payload);
		h->msg_size = VTS_HDR_SIZE + payload;
	}
	vts_conn_emit(c, msg, VTS_HDR_SIZE + payload / 2, fds, nfds, VTS_EMIT_CLOSE_AFTER);
}

/*
 * The correct reply with @want fds attached: its own fd if it has one,
 * then /dev/null for the rest ("fds": one more than it should carry;
 * "two-fds": two, whatever it should carry).
 */
static void send_with_devnull(struct vts_conn *c, uint8_t *msg, size_t len,
			      int fd, unsigned int want)
{
	unsigned int n = 0, own;
	int fds[2];

	if (fd >= 0)
		fds[n++] = fd;
	own = n;
	while (n < want && n < 2) {
		fds[n] = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fds[n] < 0) {
			vts_log("hostile fds: /dev/null: %m\n");
			c->dead = true;
			break;
		}
		n++;
	}
	vts_conn_emit(c, msg, len, fds, n, 0);
	while (n > own)
		close(fds[--n]);
}

/* An error reply (header only, EINVAL) that carries an fd all the same. */
static void send_error_fd(struct vts_conn *c, uint8_t *msg, int fd)
{
	struct vfio_user_header *h = (void *)msg;
	bool opened;

	fd = fd_or_devnull(c, fd, &opened);
	if (fd < 0)
		return;
	h->flags |= VFIO_USER_F_ERROR;
	h->error_reply = EINVAL;
	h->msg_size = VTS_HDR_SIZE;
	vts_conn_emit(c, msg, VTS_HDR_SIZE, &fd, 1, 0);
	if (opened)
		close(fd);
}

/*
 * A header with an fd announcing TDEV_HOSTILE_FD_OVERSIZE_PAYLOAD bytes,
 * more than a client can have buffered for any reply, and that many bytes
 * of junk: a client reading on would find the rest of the stream out of
 * step.  Sent until the client hangs up (the socket takes what it takes).
 */
static void send_fd_oversize(struct vts_conn *c, uint8_t *msg, int fd)
{
	size_t len = VTS_HDR_SIZE + TDEV_HOSTILE_FD_OVERSIZE_PAYLOAD;
	uint8_t *buf = malloc(len);
	bool opened;

	fd = fd_or_devnull(c, fd, &opened);
	if (!buf || fd < 0) {
		c->dead = true;
		free(buf);
		if (opened)
			close(fd);
		return;
	}
	memcpy(buf, msg, VTS_HDR_SIZE);
	((struct vfio_user_header *)buf)->msg_size = len;
	memset(buf + VTS_HDR_SIZE, 0xa5, TDEV_HOSTILE_FD_OVERSIZE_PAYLOAD);
	vts_conn_emit(c, buf, len, &fd, 1, 0);
	free(buf);
	if (opened)
		close(fd);
}

/* The correct header with an fd, half the payload, then EOF. */
static void send_fd_eof(struct vts_conn *c, uint8_t *msg, size_t len, int fd)
{
	bool opened;

	fd = fd_or_devnull(c, fd, &opened);
	if (fd < 0)
		return;
	send_mid_frame(c, msg, len, &fd, 1);
	if (opened)
		close(fd);
}

/*
 * pre-reply: the correct reply to the trigger goes out, then a reply to
 * the request the client has not sent yet: the trigger's id + 1 (clients
 * number requests in order; the vfio_user driver allocates ids
 * cyclically), with the trigger's command and half its payload, never the
 * rest.  To keep that request unsent when the reply arrives, we first ask
 * the client for a DMA_READ of its max_data_xfer_size at IOVA 0 and stop
 * reading: a client with that IOVA mapped blocks sending its answer into a
 * socket nobody drains, and its next request waits behind it.  The
 * premature reply comes --pre-reply-ms later, time for that next request
 * to be made.  Then nothing more, either way.
 */
static void send_pre_reply(struct vts_conn *c, const uint8_t *msg, size_t len)
{
	const struct vfio_user_header *h = (const void *)msg;
	struct {
		struct vfio_user_header hdr;
		struct vfio_user_dma_access dma;
	} rq = {
		.hdr = {
			.msg_id = c->req_id++,
			.command = VFIO_USER_DMA_READ,
			.msg_size = sizeof(rq),
			.flags = VFIO_USER_F_TYPE_COMMAND,
		},
		.dma = { .address = 0, .count = c->max_xfer },
	};
	size_t payload = len - VTS_HDR_SIZE;
	uint8_t pre[VTS_HDR_SIZE + 64];
	struct vfio_user_header *p = (void *)pre;

	vts_conn_emit(c, &rq, sizeof(rq), NULL, 0, VTS_EMIT_REQUEST);

	if (payload < 2 || payload > sizeof(pre) - VTS_HDR_SIZE)
		payload = sizeof(pre) - VTS_HDR_SIZE;
	memset(pre, 0x5a, sizeof(pre));
	*p = (struct vfio_user_header){
		.msg_id = h->msg_id + 1,
		.command = h->command,
		.msg_size = VTS_HDR_SIZE + payload,
		.flags = VFIO_USER_F_TYPE_REPLY,
	};
	vts_conn_emit_at(c, pre, VTS_HDR_SIZE + payload / 2, NULL, 0,
			 vts_now_ns() + vts_opt->pre_reply_ms * 1000000ull);
	vts_log("hostile pre-reply: DMA_READ of %u, then id %u in %u ms\n",
		c->max_xfer, p->msg_id, vts_opt->pre_reply_ms);
	c->rx_mute = true;
	c->mute = true;
}

/* stream-noreply: top the window of DMA_READ requests up. */
static void stream_refill(struct vts_conn *c)
{
	struct {
		struct vfio_user_header hdr;
		struct vfio_user_dma_access dma;
	} rq[TDEV_HOSTILE_STREAM_WINDOW];
	unsigned int n = 0;

	while (c->stream_inflight + n < TDEV_HOSTILE_STREAM_WINDOW) {
		rq[n].hdr = (struct vfio_user_header){
			.msg_id = c->req_id++,
			.command = VFIO_USER_DMA_READ,
			.msg_size = sizeof(rq[0]),
			.flags = VFIO_USER_F_TYPE_COMMAND,
		};
		rq[n].dma = (struct vfio_user_dma_access){ .count = 8 };
		n++;
	}
	if (!n)
		return;
	c->stream_inflight += n;
	vts_conn_emit(c, rq, n * sizeof(rq[0]), NULL, 0, VTS_EMIT_REQUEST);
}

/* flood: DMA_READ requests still to send, and nothing holds them back? */
static bool flood_wants_send(const struct vts_conn *c)
{
	return c->flood_left && !c->mute;
}

/*
 * flood, when the send queue ran empty: up to FLOOD_BATCH server->client
 * DMA_READ requests (address 0, count 8), queued as one message.
 */
static void flood_refill(struct vts_conn *c)
{
	struct {
		struct vfio_user_header hdr;
		struct vfio_user_dma_access dma;
	} req[FLOOD_BATCH];
	unsigned int i, n = c->flood_left < FLOOD_BATCH ? c->flood_left :
							  FLOOD_BATCH;

	for (i = 0; i < n; i++) {
		req[i].hdr = (struct vfio_user_header){
			.msg_id = c->req_id++,
			.command = VFIO_USER_DMA_READ,
			.msg_size = sizeof(req[i]),
			.flags = VFIO_USER_F_TYPE_COMMAND,
		};
		req[i].dma = (struct vfio_user_dma_access){ .count = 8 };
	}
	/* Queued at once, behind nothing: the writer sends it next. */
	vts_conn_emit_at(c, req, n * sizeof(req[0]), NULL, 0, 0);
	if (!c->dead)
		c->flood_left -= n;
}

/*
 * A reply from the client, to a request of ours.  stream-noreply never
 * answers its trigger and asks again as soon as the client answers, for
 * as long as the client does: a client waiting for the trigger's reply
 * must give up on its own clock, however busy the server keeps it.
 */
static void hostile_on_reply(struct vts_conn *c,
			     const struct vfio_user_header *h,
			     const void *payload, size_t len)
{
	(void)payload;		/* the header says all we need */
	(void)len;
	if (!c->stream || h->command != VFIO_USER_DMA_READ)
		return;
	if (c->stream_inflight)
		c->stream_inflight--;
	stream_refill(c);
}

static void send_unsolicited(struct vts_conn *c, uint16_t cmd)
{
	struct vfio_user_header u = {
		.msg_id = vts_conn_unused_id(c),
		.command = cmd,
		.msg_size = sizeof(u),
		.flags = VFIO_USER_F_TYPE_REPLY,
	};

	vts_conn_emit(c, &u, sizeof(u), NULL, 0, 0);
}

/*
 * @msg/@len: the correct reply (writable scratch), @fd: the fd it should
 * carry or -1.  VTS_HOSTILE_EXIT never gets here: it stops before handling.
 */
static void hostile_emit(struct vts_conn *c, uint8_t *msg, size_t len,
			 int fd)
{
	struct vfio_user_header *h = (void *)msg;
	int nfds = fd >= 0;

	switch (vts_opt->hostile) {
	case VTS_HOSTILE_GARBAGE:
		send_garbage(c);
		break;
	case VTS_HOSTILE_SHORT_CLOSE:
		vts_conn_emit(c, msg, VTS_HDR_SIZE / 2, NULL, 0, VTS_EMIT_CLOSE_AFTER);
		return;
	case VTS_HOSTILE_HUGE_SIZE:
		h->msg_size = 0xffffffff;
		vts_conn_emit(c, msg, VTS_HDR_SIZE, NULL, 0, 0);
		c->mute = true;
		return;
	case VTS_HOSTILE_UNKNOWN_ID:
		h->msg_id = vts_conn_unused_id(c);
		break;
	case VTS_HOSTILE_DUPLICATE:
		vts_conn_emit(c, msg, len, &fd, nfds, 0);
		break;
	case VTS_HOSTILE_WRONG_CMD:
		h->command = h->command == VFIO_USER_DEVICE_GET_INFO ?
			     VFIO_USER_DEVICE_GET_IRQ_INFO :
			     VFIO_USER_DEVICE_GET_INFO;
		break;
	case VTS_HOSTILE_NO_REPLY:
		return;
	case VTS_HOSTILE_FDS:
		send_with_devnull(c, msg, len, fd, nfds + 1);
		return;
	case VTS_HOSTILE_MID_FRAME_CLOSE:
		send_mid_frame(c, msg, len, NULL, 0);
		return;
	case VTS_HOSTILE_ERROR_FD:
		c->keep_device = true;
		send_error_fd(c, msg, fd);
		return;
	case VTS_HOSTILE_TWO_FDS:
		c->keep_device = true;
		send_with_devnull(c, msg, len, fd, 2);
		return;
	case VTS_HOSTILE_FD_OVERSIZE:
		c->keep_device = true;
		send_fd_oversize(c, msg, fd);
		return;
	case VTS_HOSTILE_FD_EOF:
		c->keep_device = true;
		send_fd_eof(c, msg, len, fd);
		return;
	case VTS_HOSTILE_DRIP:
		vts_conn_emit_drip(c, msg, len, &fd, nfds, vts_opt->drip_ms);
		return;
	case VTS_HOSTILE_PRE_REPLY:
		vts_conn_emit(c, msg, len, &fd, nfds, 0);
		send_pre_reply(c, msg, len);
		return;
	case VTS_HOSTILE_STREAM_NOREPLY:
		c->stream = true;
		stream_refill(c);
		return;
	case VTS_HOSTILE_FLOOD:
		c->flood_left = vts_opt->flood_count;
		break;
	case VTS_HOSTILE_UNSOLICITED:
		send_unsolicited(c, h->command);
		break;
	case VTS_HOSTILE_NONE:
	case VTS_HOSTILE_EXIT:
		break;
	}
	vts_conn_emit(c, msg, len, &fd, nfds, 0);
}

/*
 * Is this command (one that wants a reply) the trigger?  VTS_HOSTILE_EXIT
 * fires here, before the command is handled: no reply, the server exits.
 */
static bool hostile_on_command(struct vts_conn *c,
			       const struct vfio_user_header *h)
{
	(void)h;		/* any command counts */
	c->hostile_now = false;
	if (vts_opt->hostile == VTS_HOSTILE_NONE || c->hostile_done)
		return true;
	if (c->cmds_seen++ < vts_opt->hostile_after)
		return true;
	c->hostile_done = true;
	vts_log("hostile: misbehaving on command %u\n", c->cmds_seen - 1);
	if (vts_opt->hostile == VTS_HOSTILE_EXIT) {
		c->exit_server = c->dead = true;
		return false;
	}
	c->hostile_now = true;
	return true;
}

/* The trigger's reply is ours to mangle; any other goes on as it is. */
static bool hostile_send_reply(struct vts_conn *c, uint8_t *msg, size_t len,
			       int fd)
{
	if (!c->hostile_now)
		return false;
	c->hostile_now = false;
	hostile_emit(c, msg, len, fd);
	return true;
}

/* --hostile's part in a connection. */
const struct vts_conn_ops vts_hostile_ops = {
	.wants_send = flood_wants_send,
	.refill = flood_refill,
	.on_command = hostile_on_command,
	.send_reply = hostile_send_reply,
	.on_reply = hostile_on_reply,
};
