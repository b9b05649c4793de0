/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vfio_user transport internals shared by the send side (transport.c) and
 * the receive side (rx.c): a request waiting for its reply, and a request
 * the server sent us.
 */
#ifndef VFIO_USER_TRANSPORT_H
#define VFIO_USER_TRANSPORT_H

#include <linux/completion.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/refcount.h>
#include <linux/slab.h>

#include "vfio_user_priv.h"

/**
 * enum vfio_user_msg_send - how far a request in the table got on the wire
 * @VFIO_USER_MSG_QUEUED: in the table, its send not begun: no reply can be
 *	for it yet
 * @VFIO_USER_MSG_IN_FLIGHT: being sent (under tx_lock): a reply may beat
 *	the sender back from sendmsg()
 * @VFIO_USER_MSG_SENT: sent whole: a reply may be taken
 * @VFIO_USER_MSG_FAILED: its send failed: no reply can be for it
 */
enum vfio_user_msg_send {
	VFIO_USER_MSG_QUEUED,
	VFIO_USER_MSG_IN_FLIGHT,
	VFIO_USER_MSG_SENT,
	VFIO_USER_MSG_FAILED,
};

/**
 * struct vfio_user_msg - a request waiting for its reply
 * @ref: one for the waiter, one for the pending table
 * @done: completed once the reply has been received or the request failed
 * @send_state: enum vfio_user_msg_send; set by the send path (release,
 *	under tx_lock once begun), read by the receiver (acquire), who waits
 *	on conn->send_wait for it
 * @id: message id on the wire
 * @cmd: command of the request; the reply must echo it
 * @reply: where the reply payload goes; NULL once abandoned
 * @reply_cap: capacity of @reply
 * @reply_len: reply payload received
 * @reply_flags: flags of the reply header
 * @reply_error: error field of the reply header
 * @status: 0 when a reply arrived, else -errno
 * @abandoned: the waiter was killed; drop the reply (under the xa_lock)
 * @sent: when the request was sent, for the round-trip statistics
 */
struct vfio_user_msg {
	refcount_t ref;
	struct completion done;
	int send_state;
	u16 id;
	u16 cmd;
	void *reply;
	size_t reply_cap;
	size_t reply_len;
	u32 reply_flags;
	u32 reply_error;
	int status;
	bool abandoned;
	ktime_t sent;
};

/**
 * struct vfio_user_server_req - a request the server sent us
 * @list: entry in conn->reqs
 * @hdr: its header
 * @len: payload length
 * @payload: @len bytes
 */
struct vfio_user_server_req {
	struct list_head list;
	struct vfio_user_header hdr;
	size_t len;
	u8 payload[];
};

static inline void vfio_user_msg_put(struct vfio_user_msg *msg)
{
	if (refcount_dec_and_test(&msg->ref))
		kfree(msg);
}

/* Called by whoever took @msg out of the pending table. */
static inline void vfio_user_msg_complete(struct vfio_user_msg *msg,
					  int status)
{
	msg->status = status;
	complete(&msg->done);
	vfio_user_msg_put(msg);
}

/* rx.c */
int vfio_user_rx_init(struct vfio_user_conn *conn);
void vfio_user_rx_start(struct vfio_user_conn *conn);
void vfio_user_rx_stop(struct vfio_user_conn *conn);
void vfio_user_direct_rx(struct vfio_user_conn *conn,
			 struct vfio_user_msg *msg, bool killable,
			 unsigned long deadline);

/* transport.c */
int vfio_user_send_vec(struct vfio_user_conn *conn, struct kvec *vec,
		       size_t nvec, size_t total, struct file **files,
		       unsigned int nr_files, bool killable, int *send_state);

#endif /* VFIO_USER_TRANSPORT_H */
