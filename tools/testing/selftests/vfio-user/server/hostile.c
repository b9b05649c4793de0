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
 * since the stream can no longer be framed after a 4 GiB header).
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

/* A header no valid peer sends: type 0xf.  msg_size 16 keeps the stream
 * framed, so a client could in principle skip it. */
static void send_garbage(struct conn *c)
{
	static const struct vfio_user_header g = {
		.msg_id = 0xa5a5,
		.command = 0x5a5a,
		.msg_size = sizeof(g),
		.flags = 0xf,
		.error_reply = 0xa5a5a5a5,
	};

	conn_emit(c, &g, sizeof(g), NULL, 0, 0);
}

/* A valid header announcing a payload, half of it, then EOF. */
static void send_mid_frame(struct conn *c, uint8_t *msg, size_t len)
{
	struct vfio_user_header *h = (void *)msg;
	size_t payload = len - HDR_SIZE;

	if (payload < 2) {		/* no payload to cut: invent one */
		payload = 64;
		memset(msg + HDR_SIZE, 0, payload);
		h->msg_size = HDR_SIZE + payload;
	}
	conn_emit(c, msg, HDR_SIZE + payload / 2, NULL, 0, EMIT_CLOSE_AFTER);
}

/* The correct reply, with /dev/null attached (next to any fd it has). */
static void send_with_devnull(struct conn *c, uint8_t *msg, size_t len,
			      int fd)
{
	int fds[2], n = 0;

	if (fd >= 0)
		fds[n++] = fd;
	fds[n] = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fds[n] < 0) {
		vlog("hostile fds: /dev/null: %m\n");
		c->dead = true;
		return;
	}
	conn_emit(c, msg, len, fds, n + 1, 0);
	close(fds[n]);
}

static void send_unsolicited(struct conn *c, uint16_t cmd)
{
	struct vfio_user_header u = {
		.msg_id = conn_unused_id(c),
		.command = cmd,
		.msg_size = sizeof(u),
		.flags = VFIO_USER_F_TYPE_REPLY,
	};

	conn_emit(c, &u, sizeof(u), NULL, 0, 0);
}

/*
 * @msg/@len: the correct reply (writable scratch), @fd: the fd it should
 * carry or -1.  HOSTILE_EXIT never gets here: it stops before handling.
 */
void hostile_emit(struct conn *c, uint8_t *msg, size_t len, int fd)
{
	struct vfio_user_header *h = (void *)msg;
	int nfds = fd >= 0;

	switch (opt->hostile) {
	case HOSTILE_GARBAGE:
		send_garbage(c);
		break;
	case HOSTILE_SHORT_CLOSE:
		conn_emit(c, msg, HDR_SIZE / 2, NULL, 0, EMIT_CLOSE_AFTER);
		return;
	case HOSTILE_HUGE_SIZE:
		h->msg_size = 0xffffffff;
		conn_emit(c, msg, HDR_SIZE, NULL, 0, 0);
		c->mute = true;
		return;
	case HOSTILE_UNKNOWN_ID:
		h->msg_id = conn_unused_id(c);
		break;
	case HOSTILE_DUPLICATE:
		conn_emit(c, msg, len, &fd, nfds, 0);
		break;
	case HOSTILE_WRONG_CMD:
		h->command = h->command == VFIO_USER_DEVICE_GET_INFO ?
			     VFIO_USER_DEVICE_GET_IRQ_INFO :
			     VFIO_USER_DEVICE_GET_INFO;
		break;
	case HOSTILE_NO_REPLY:
		return;
	case HOSTILE_FDS:
		send_with_devnull(c, msg, len, fd);
		return;
	case HOSTILE_MID_FRAME_CLOSE:
		send_mid_frame(c, msg, len);
		return;
	case HOSTILE_FLOOD:
		c->flood_left = opt->flood_count;
		break;
	case HOSTILE_UNSOLICITED:
		send_unsolicited(c, h->command);
		break;
	case HOSTILE_NONE:
	case HOSTILE_EXIT:
		break;
	}
	conn_emit(c, msg, len, &fd, nfds, 0);
}
