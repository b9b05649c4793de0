// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user receive path: what the server sends, as one state machine.
 *
 * A frame goes through these states (enum vfio_user_rx_state), driven by
 * one dispatch, vfio_user_rx_step():
 *
 *   HEADER   the 16-byte header is assembled.  Once whole, every field is
 *            checked before anything else is read, and the frame routed: a
 *            reply to the request waiting for it (its payload goes straight
 *            into the caller's buffer), a server request to the request
 *            queue, or a payload nobody wants to DISCARD;
 *   PAYLOAD  the payload into its destination;
 *   DISCARD  the payload read and dropped: error replies, replies to
 *            abandoned requests, server requests refused.
 *
 * Bytes come through a one-page staging buffer, so one recvmsg() brings in
 * many small frames; a payload larger than the buffer goes straight from
 * the socket into its destination.  The receiver is whoever holds rx_lock:
 * the receive worker, queued by the socket callbacks, or a caller receiving
 * its own reply (vfio_user_direct_rx()).  Anything the server gets wrong
 * breaks the connection.
 *
 * Server requests (DMA_READ, DMA_WRITE) are served by their own work item,
 * never by the receiver: replies to our requests must not wait behind a
 * slow DMA.  At most VFIO_USER_MAX_SERVER_REQS wait to be served; one
 * beyond that is refused at once with EBUSY (its payload is dropped, its
 * error reply queued for the request worker to send with others), so the
 * receiver keeps reading and a reply never waits for the serving of the
 * server's own requests, only for their reading.  Only when refusals pile
 * up too (a server that does not read its replies) does the receiver stop
 * until the request worker catches up: kernel memory stays bounded.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/net.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <net/sock.h>

#include "transport.h"
#include "trace.h"

/* Frames the receive worker handles before it yields its CPU. */
#define VFIO_USER_RX_BUDGET		256
/* The staging buffer. */
#define VFIO_USER_RX_BUF_SIZE		PAGE_SIZE
/* Refused server requests whose error replies may wait to be sent. */
#define VFIO_USER_MAX_REFUSALS		1024
/* Refusals sent in one sendmsg(). */
#define VFIO_USER_REFUSAL_BATCH		64

static void vfio_user_rx_reset(struct vfio_user_conn *conn)
{
	conn->rx_state = VFIO_USER_RX_HEADER;
	conn->rx_hdr_len = 0;
	conn->rx_len = 0;
	conn->rx_off = 0;
	conn->rx_msg = NULL;
	conn->rx_req = NULL;
}

/* Give back whatever half-received frame the receiver owns. */
static void vfio_user_rx_abort(struct vfio_user_conn *conn)
{
	lockdep_assert_held(&conn->rx_lock);
	if (conn->rx_msg)
		vfio_user_msg_complete(conn->rx_msg, -EIO);
	kvfree(conn->rx_req);
	vfio_user_rx_reset(conn);
}

/*
 * One non-blocking read from the socket.  Returns the count, 0 when
 * nothing is queued, or -EIO after breaking the connection (server closed,
 * fds attached, socket error).
 */
static int vfio_user_recv(struct vfio_user_conn *conn, void *buf, size_t len)
{
	struct msghdr m = { .msg_flags = 0 };
	struct kvec vec = { .iov_base = buf, .iov_len = len };
	int ret;

	/*
	 * msg_control stays NULL: the socket layer drops any fd the server
	 * attached and reports MSG_CTRUNC.  Only the bind takes fds (fds.c).
	 */
	ret = kernel_recvmsg(conn->sock, &m, &vec, 1, len, MSG_DONTWAIT);
	if (ret == -EAGAIN)
		return 0;
	if (ret > 0 && (m.msg_flags & MSG_CTRUNC)) {
		vfio_user_conn_break(conn,
				     "server attached fds to a message that takes none");
		return -EIO;
	}
	if (ret > 0) {
		atomic64_add(ret, &conn->stats.bytes_received);
		return ret;
	}
	if (ret == 0)
		vfio_user_conn_break(conn, "server closed the connection");
	else
		vfio_user_conn_break(conn, "receive failed with error %d", ret);
	return -EIO;
}

/*
 * Up to @len bytes of the stream into @dst (NULL drops them): from the
 * staging buffer, refilled from the socket when empty, or straight from
 * the socket for a long stretch.  Returns the count, 0 when nothing is
 * queued, or -EIO.
 */
static int vfio_user_rx_bytes(struct vfio_user_conn *conn, void *dst,
			      size_t len)
{
	size_t have = conn->rx_buf_len - conn->rx_buf_off;
	int ret;

	if (!have) {
		if (dst && len >= VFIO_USER_RX_BUF_SIZE)
			return vfio_user_recv(conn, dst, len);
		ret = vfio_user_recv(conn, conn->rx_buf, VFIO_USER_RX_BUF_SIZE);
		if (ret <= 0)
			return ret;
		conn->rx_buf_off = 0;
		conn->rx_buf_len = ret;
		have = ret;
	}
	len = min(len, have);
	if (dst)
		memcpy(dst, conn->rx_buf + conn->rx_buf_off, len);
	conn->rx_buf_off += len;
	return len;
}

/*
 * A reply is answerable only once its request went out whole.  One whose
 * request has not begun to be sent can only be a guess at the next id.
 * A fast server's reply can beat the sender back from sendmsg(), though,
 * so while the send is under way, wait for the sender to say how it went:
 * it has nothing left to wait for but the socket, bounded by the send
 * timeout.  Returns the request's final send state.
 */
static int vfio_user_wait_sent(struct vfio_user_conn *conn,
			       struct vfio_user_msg *msg)
{
	unsigned long timeout = msecs_to_jiffies(READ_ONCE(conn->timeout_ms));
	/* Acquire: pairs with the release in vfio_user_set_send_state(). */
	int state = smp_load_acquire(&msg->send_state);

	if (state != VFIO_USER_MSG_IN_FLIGHT)
		return state;
	wait_event_timeout(conn->send_wait,
			   READ_ONCE(msg->send_state) != VFIO_USER_MSG_IN_FLIGHT ||
			   !vfio_user_conn_usable(conn), timeout);
	/* Acquire again: the state changed while we slept. */
	return smp_load_acquire(&msg->send_state);
}

/* A reply header arrived: find its request and check it fits. */
static int vfio_user_rx_reply(struct vfio_user_conn *conn, size_t len)
{
	const struct vfio_user_header *hdr = &conn->rx_hdr;
	struct vfio_user_msg *msg;
	bool abandoned = false;

	xa_lock(&conn->pending);
	msg = __xa_erase(&conn->pending, hdr->msg_id);
	if (msg)
		abandoned = msg->abandoned;
	xa_unlock(&conn->pending);
	if (!msg) {
		vfio_user_conn_break(conn,
				     "reply to id %u, which is not pending (unknown or duplicate)",
				     hdr->msg_id);
		return -EIO;
	}
	conn->rx_msg = msg;

	if (vfio_user_wait_sent(conn, msg) != VFIO_USER_MSG_SENT) {
		vfio_user_conn_break(conn, "reply to id %u before its request was sent",
				     hdr->msg_id);
		return -EIO;
	}
	if (hdr->command != msg->cmd) {
		vfio_user_conn_break(conn, "reply to id %u has command %u, expected %u",
				     hdr->msg_id, hdr->command, msg->cmd);
		return -EIO;
	}
	msg->reply_flags = hdr->flags;
	msg->reply_error = hdr->error_reply;
	/* An error reply should be a bare header; tolerate and drop more. */
	if ((hdr->flags & VFIO_USER_F_ERROR) || abandoned) {
		conn->rx_state = VFIO_USER_RX_DISCARD;
		return 0;
	}
	if (len > msg->reply_cap) {
		vfio_user_conn_break(conn,
				     "reply to command %u is %zu bytes, more than the %zu expected",
				     msg->cmd, len, msg->reply_cap);
		return -EIO;
	}
	conn->rx_state = VFIO_USER_RX_PAYLOAD;
	return 0;
}

/*
 * Refuse a server request at once: its error reply waits in the ring for
 * the request worker.  Returns false when the ring is full.
 */
static bool vfio_user_refuse(struct vfio_user_conn *conn,
			     const struct vfio_user_header *req)
{
	struct vfio_user_header *reply;
	bool queued = false;

	spin_lock(&conn->lock);
	if (conn->nr_refusals < VFIO_USER_MAX_REFUSALS) {
		reply = &conn->refusals[(conn->refusals_head + conn->nr_refusals) %
					VFIO_USER_MAX_REFUSALS];
		*reply = (struct vfio_user_header){
			.msg_id = req->msg_id,
			.command = req->command,
			.msg_size = sizeof(*reply),
			.flags = VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
			.error_reply = EBUSY,
		};
		conn->nr_refusals++;
		queued = true;
	}
	spin_unlock(&conn->lock);
	if (queued)
		queue_work(conn->wq, &conn->req_work);
	return queued;
}

/* A request header from the server arrived: check it, make room for it. */
static int vfio_user_rx_server_req(struct vfio_user_conn *conn, size_t len)
{
	const struct vfio_user_header *hdr = &conn->rx_hdr;
	size_t min_len = sizeof(struct vfio_user_dma_access);
	size_t max_len = min_len;
	struct vfio_user_server_req *req;
	bool full;

	if (hdr->command == VFIO_USER_DMA_WRITE) {
		max_len += VFIO_USER_OUR_MAX_DATA_XFER;
	} else if (hdr->command != VFIO_USER_DMA_READ) {
		vfio_user_conn_break(conn,
				     "server sent command %u, which servers may not send",
				     hdr->command);
		return -EIO;
	}
	if (hdr->flags & VFIO_USER_F_ERROR) {
		vfio_user_conn_break(conn, "server request id %u has the error flag",
				     hdr->msg_id);
		return -EIO;
	}
	if (len < min_len || len > max_len) {
		vfio_user_conn_break(conn, "server request %u of %zu bytes, allowed %zu to %zu",
				     hdr->command, len, min_len, max_len);
		return -EIO;
	}
	atomic64_inc(&conn->stats.server_reqs);

	spin_lock(&conn->lock);
	full = conn->nr_reqs >= VFIO_USER_MAX_SERVER_REQS;
	spin_unlock(&conn->lock);
	if (full) {
		atomic64_inc(&conn->stats.server_reqs_refused);
		if (!(hdr->flags & VFIO_USER_F_NO_REPLY))
			vfio_user_refuse(conn, hdr);
		conn->rx_state = VFIO_USER_RX_DISCARD;
		return 0;
	}

	/* Up to a MiB for a DMA_WRITE: not a job for the page allocator. */
	req = kvmalloc(struct_size(req, payload, len), GFP_KERNEL_ACCOUNT);
	if (!req) {
		vfio_user_conn_break(conn, "out of memory for a server request");
		return -ENOMEM;
	}
	req->hdr = *hdr;
	req->len = len;
	conn->rx_req = req;
	conn->rx_state = VFIO_USER_RX_PAYLOAD;
	return 0;
}

/**
 * vfio_user_frame_problem() - what is wrong with a frame's header, if anything
 * @hdr: a received header
 * @max_payload: the largest payload accepted now
 * @len: set to the payload length when the header is acceptable
 *
 * The checks every frame must pass before anything else of it is read.
 * Touches nothing but its arguments (KUnit tests it: vfio_user_kunit.c).
 *
 * Return: NULL, or what is wrong.
 */
const char *vfio_user_frame_problem(const struct vfio_user_header *hdr,
				    size_t max_payload, size_t *len)
{
	u32 type = hdr->flags & VFIO_USER_F_TYPE_MASK;

	if (hdr->msg_size < sizeof(*hdr))
		return "size is smaller than a header";
	if (hdr->msg_size - sizeof(*hdr) > max_payload)
		return "size exceeds the limit";
	if (hdr->flags & ~VFIO_USER_F_ALL)
		return "unknown flags";
	if (type != VFIO_USER_F_TYPE_REPLY && type != VFIO_USER_F_TYPE_COMMAND)
		return "unknown type";
	if (type == VFIO_USER_F_TYPE_REPLY && (hdr->flags & VFIO_USER_F_NO_REPLY))
		return "a reply with the no-reply flag";
	*len = hdr->msg_size - sizeof(*hdr);
	return NULL;
}

/**
 * vfio_user_check_frame() - the header checks every frame must pass
 * @conn: the connection
 * @hdr: a received header
 * @len: set to the payload length
 *
 * Return: 0, or -EIO with the connection broken.
 */
int vfio_user_check_frame(struct vfio_user_conn *conn,
			  const struct vfio_user_header *hdr, size_t *len)
{
	size_t max_payload = READ_ONCE(conn->max_rx_payload);
	const char *why;

	trace_vfio_user_recv(conn->name, hdr);
	why = vfio_user_frame_problem(hdr, max_payload, len);
	if (!why)
		return 0;
	vfio_user_conn_break(conn,
			     "frame id %u command %u size %u flags 0x%x: %s (payload limit %zu)",
			     hdr->msg_id, hdr->command, hdr->msg_size, hdr->flags,
			     why, max_payload);
	return -EIO;
}

/* The whole frame is in: hand it to its waiter or the request worker. */
static void vfio_user_rx_done(struct vfio_user_conn *conn)
{
	atomic64_inc(&conn->stats.msgs_received);

	if (conn->rx_msg) {
		if (conn->rx_state == VFIO_USER_RX_PAYLOAD)
			conn->rx_msg->reply_len = conn->rx_len;
		vfio_user_msg_complete(conn->rx_msg, 0);
	} else if (conn->rx_req) {
		spin_lock(&conn->lock);
		list_add_tail(&conn->rx_req->list, &conn->reqs);
		conn->nr_reqs++;
		spin_unlock(&conn->lock);
		queue_work(conn->wq, &conn->req_work);
	}
	vfio_user_rx_reset(conn);
}

/* HEADER: assemble it; once whole, check and route the frame. */
static int vfio_user_rx_header(struct vfio_user_conn *conn)
{
	bool held_back;
	size_t len;
	int ret;

	/*
	 * Back-pressure, between frames only: with refusals piling up (a
	 * server that does not read its replies), stop reading; the request
	 * worker restarts us when it has sent them.
	 */
	if (!conn->rx_hdr_len) {
		spin_lock(&conn->lock);
		held_back = conn->nr_refusals >= VFIO_USER_MAX_REFUSALS;
		spin_unlock(&conn->lock);
		if (held_back)
			return 0;
	}
	ret = vfio_user_rx_bytes(conn, (u8 *)&conn->rx_hdr + conn->rx_hdr_len,
				 sizeof(conn->rx_hdr) - conn->rx_hdr_len);
	if (ret <= 0)
		return ret;
	conn->rx_hdr_len += ret;
	if (conn->rx_hdr_len < sizeof(conn->rx_hdr))
		return 1;

	if (vfio_user_check_frame(conn, &conn->rx_hdr, &len))
		return -EIO;
	conn->rx_len = len;
	if ((conn->rx_hdr.flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_REPLY)
		ret = vfio_user_rx_reply(conn, len);
	else
		ret = vfio_user_rx_server_req(conn, len);
	if (ret)
		return -EIO;
	if (!conn->rx_len)
		vfio_user_rx_done(conn);
	return 1;
}

/*
 * A reply's payload into its caller's buffer.  A caller killed meanwhile
 * takes the buffer back under rx_copy_lock (transport.c): the rest of the
 * reply is dropped.
 */
static int vfio_user_rx_reply_bytes(struct vfio_user_conn *conn, size_t len)
{
	struct vfio_user_msg *msg = conn->rx_msg;
	int ret;

	mutex_lock(&conn->rx_copy_lock);
	if (!msg->reply)
		conn->rx_state = VFIO_USER_RX_DISCARD;
	ret = vfio_user_rx_bytes(conn, msg->reply ? msg->reply + conn->rx_off : NULL,
				 len);
	mutex_unlock(&conn->rx_copy_lock);
	return ret;
}

/* PAYLOAD and DISCARD: the frame's bytes into their destination, or away. */
static int vfio_user_rx_payload(struct vfio_user_conn *conn)
{
	size_t left = conn->rx_len - conn->rx_off;
	int ret;

	if (conn->rx_state == VFIO_USER_RX_PAYLOAD && conn->rx_msg)
		ret = vfio_user_rx_reply_bytes(conn, left);
	else if (conn->rx_state == VFIO_USER_RX_PAYLOAD)
		ret = vfio_user_rx_bytes(conn, conn->rx_req->payload + conn->rx_off,
					 left);
	else
		ret = vfio_user_rx_bytes(conn, NULL, left);
	if (ret <= 0)
		return ret;
	conn->rx_off += ret;
	if (conn->rx_off == conn->rx_len)
		vfio_user_rx_done(conn);
	return 1;
}

/*
 * One step of the state machine.  Returns 1 after progress, 0 when the
 * socket is empty (or back-pressure holds us), and -EIO once the
 * connection is broken.
 */
static int vfio_user_rx_step(struct vfio_user_conn *conn)
{
	lockdep_assert_held(&conn->rx_lock);
	switch (conn->rx_state) {
	case VFIO_USER_RX_HEADER:
		return vfio_user_rx_header(conn);
	case VFIO_USER_RX_PAYLOAD:
	case VFIO_USER_RX_DISCARD:
		return vfio_user_rx_payload(conn);
	}
	return -EIO;
}

static void vfio_user_rx_work(struct work_struct *work)
{
	struct vfio_user_conn *conn = container_of(work, struct vfio_user_conn,
						   rx_work);
	unsigned int steps;
	int ret;

	/* A caller receiving its own reply holds it, and requeues us after. */
	if (!mutex_trylock(&conn->rx_lock))
		return;
	for (steps = 0; steps < VFIO_USER_RX_BUDGET; steps++) {
		if (!vfio_user_conn_usable(conn))
			break;
		ret = vfio_user_rx_step(conn);
		if (ret == 0)
			goto out;
		if (ret < 0)
			break;
	}
	if (vfio_user_conn_usable(conn)) {
		/* Budget spent with data still queued: let others run. */
		queue_work(conn->wq, &conn->rx_work);
		goto out;
	}
	vfio_user_rx_abort(conn);
out:
	mutex_unlock(&conn->rx_lock);
}

/**
 * vfio_user_conn_readable() - is there anything for a receiver to do?
 * @conn: the connection
 *
 * Return: true when bytes are staged or queued, the server has closed its
 * end, or the connection is no longer usable.
 */
bool vfio_user_conn_readable(struct vfio_user_conn *conn)
{
	struct sock *sk = conn->sock->sk;

	return READ_ONCE(conn->rx_buf_off) != READ_ONCE(conn->rx_buf_len) ||
	       !skb_queue_empty_lockless(&sk->sk_receive_queue) ||
	       (READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN) ||
	       !vfio_user_conn_usable(conn);
}

/**
 * vfio_user_direct_rx() - receive frames until @msg's reply is in
 * @conn: the connection
 * @msg: the caller's request, sent
 * @killable: a fatal signal ends the wait
 * @deadline: jiffies at which to give up
 *
 * The caller receives frames itself rather than sleeping while the worker
 * does: one wake-up and one context switch less per request, which is
 * most of a trapped access's cost.  Frames for other callers are delivered
 * on the way, server requests queued as usual.  Returns, at a frame
 * boundary or not, once the reply is complete, the connection breaks,
 * @deadline passes or a fatal signal arrives; the receive state is left to
 * the worker, requeued when anything is left.  The caller holds rx_lock,
 * which this releases.
 */
void vfio_user_direct_rx(struct vfio_user_conn *conn,
			 struct vfio_user_msg *msg, bool killable,
			 unsigned long deadline)
{
	long left;
	int ret;

	lockdep_assert_held(&conn->rx_lock);
	WRITE_ONCE(conn->direct_rx, true);
	/* Pairs with vfio_user_sk_data_ready(): see the frame queued before. */
	smp_mb();
	while (!completion_done(&msg->done) && vfio_user_conn_usable(conn)) {
		/*
		 * Every frame is a point to stop: a server streaming requests
		 * that are answered at once never lets the socket run dry.
		 */
		if (time_after_eq(jiffies, deadline) ||
		    (killable && fatal_signal_pending(current)))
			break;
		ret = vfio_user_rx_step(conn);
		if (ret > 0) {
			cond_resched();
			continue;
		}
		if (ret < 0)
			break;
		left = deadline - jiffies;
		if (left <= 0)
			break;
		if (killable)
			left = wait_event_killable_timeout(conn->rx_wait,
							   vfio_user_conn_readable(conn),
							   left);
		else
			left = wait_event_timeout(conn->rx_wait,
						  vfio_user_conn_readable(conn), left);
		if (left <= 0)
			break;
	}
	WRITE_ONCE(conn->direct_rx, false);
	mutex_unlock(&conn->rx_lock);
	/*
	 * Hand what is left (half a frame, staged or queued frames) to the
	 * worker, only now: a worker queued while we held rx_lock gave up at
	 * once.  Pairs with vfio_user_sk_data_ready(): a frame queued as we
	 * leave is seen here or queues the worker there.
	 */
	smp_mb();
	if (READ_ONCE(conn->rx_state) != VFIO_USER_RX_HEADER ||
	    READ_ONCE(conn->rx_hdr_len) || vfio_user_conn_readable(conn))
		queue_work(conn->wq, &conn->rx_work);
}

/* Send the refusals queued in the ring, a batch per sendmsg(). */
static void vfio_user_send_refusals(struct vfio_user_conn *conn)
{
	struct kvec vec[2];
	unsigned int head, n, first, nvec;
	bool was_full;

	for (;;) {
		spin_lock(&conn->lock);
		head = conn->refusals_head;
		n = min_t(unsigned int, conn->nr_refusals, VFIO_USER_REFUSAL_BATCH);
		spin_unlock(&conn->lock);
		if (!n)
			return;

		/* The slots being sent stay ours until head moves past them. */
		first = min(n, VFIO_USER_MAX_REFUSALS - head);
		vec[0] = (struct kvec){ &conn->refusals[head],
					first * sizeof(conn->refusals[0]) };
		vec[1] = (struct kvec){ conn->refusals,
					(n - first) * sizeof(conn->refusals[0]) };
		nvec = n > first ? 2 : 1;
		if (vfio_user_conn_usable(conn))
			vfio_user_send_vec(conn, vec, nvec, n * sizeof(conn->refusals[0]),
					   NULL, 0, false, NULL);

		spin_lock(&conn->lock);
		was_full = conn->nr_refusals >= VFIO_USER_MAX_REFUSALS;
		conn->refusals_head = (head + n) % VFIO_USER_MAX_REFUSALS;
		conn->nr_refusals -= n;
		spin_unlock(&conn->lock);
		if (was_full && vfio_user_conn_usable(conn))
			queue_work(conn->wq, &conn->rx_work);
	}
}

/*
 * Serve the server's own requests, one at a time, away from the socket
 * callbacks (wrong context) and from the receiver, so that replies to our
 * requests never wait behind a slow DMA; and send the refusals.
 */
static void vfio_user_req_work(struct work_struct *work)
{
	struct vfio_user_conn *conn = container_of(work, struct vfio_user_conn,
						   req_work);
	struct vfio_user_server_req *req;

	for (;;) {
		vfio_user_send_refusals(conn);
		spin_lock(&conn->lock);
		req = list_first_entry_or_null(&conn->reqs,
					       struct vfio_user_server_req, list);
		if (req) {
			list_del(&req->list);
			conn->nr_reqs--;
		}
		spin_unlock(&conn->lock);
		if (!req)
			return;

		if (vfio_user_conn_usable(conn)) {
			if (conn->serve)
				conn->serve(conn->owner, &req->hdr, req->payload,
					    req->len);
			else
				vfio_user_conn_reply(conn, &req->hdr, NULL, 0,
						     EOPNOTSUPP);
		}
		kvfree(req);
		cond_resched();
	}
}

/*
 * Socket callbacks.  They run in the server's context (inside its sendmsg
 * or close) with socket locks held: only queue the worker.
 */
static void vfio_user_sk_data_ready(struct sock *sk)
{
	struct vfio_user_conn *conn;

	read_lock_bh(&sk->sk_callback_lock);
	conn = sk->sk_user_data;
	if (conn) {
		/* Pairs with vfio_user_direct_rx(): the frame is queued. */
		smp_mb();
		if (READ_ONCE(conn->direct_rx))
			wake_up(&conn->rx_wait);
		else
			queue_work(conn->wq, &conn->rx_work);
	}
	read_unlock_bh(&sk->sk_callback_lock);
}

/* The server closed its end: the receiver reads what is left, then EOF. */
static void vfio_user_sk_state_change(struct sock *sk)
{
	struct vfio_user_conn *conn;

	read_lock_bh(&sk->sk_callback_lock);
	conn = sk->sk_user_data;
	if (conn) {
		wake_up(&conn->rx_wait);
		queue_work(conn->wq, &conn->rx_work);
		/* Also wakes whoever waits for room in the socket. */
		conn->saved_state_change(sk);
	}
	read_unlock_bh(&sk->sk_callback_lock);
}

/**
 * vfio_user_rx_init() - set up a connection's receive side
 * @conn: the connection, being connected
 *
 * Return: 0 or -ENOMEM.
 */
int vfio_user_rx_init(struct vfio_user_conn *conn)
{
	mutex_init(&conn->rx_lock);
	init_waitqueue_head(&conn->rx_wait);
	INIT_LIST_HEAD(&conn->reqs);
	INIT_WORK(&conn->rx_work, vfio_user_rx_work);
	INIT_WORK(&conn->req_work, vfio_user_req_work);
	vfio_user_rx_reset(conn);
	conn->rx_buf = kmalloc(VFIO_USER_RX_BUF_SIZE, GFP_KERNEL_ACCOUNT);
	conn->refusals = kcalloc(VFIO_USER_MAX_REFUSALS,
				 sizeof(*conn->refusals), GFP_KERNEL_ACCOUNT);
	if (!conn->rx_buf || !conn->refusals) {
		kfree(conn->rx_buf);
		kfree(conn->refusals);
		conn->rx_buf = NULL;
		conn->refusals = NULL;
		return -ENOMEM;
	}
	return 0;
}

/**
 * vfio_user_rx_start() - the receiver takes the socket over
 * @conn: a connection whose handshake is done
 */
void vfio_user_rx_start(struct vfio_user_conn *conn)
{
	struct sock *sk = conn->sock->sk;

	write_lock_bh(&sk->sk_callback_lock);
	conn->saved_data_ready = sk->sk_data_ready;
	conn->saved_state_change = sk->sk_state_change;
	sk->sk_user_data = conn;
	sk->sk_data_ready = vfio_user_sk_data_ready;
	sk->sk_state_change = vfio_user_sk_state_change;
	write_unlock_bh(&sk->sk_callback_lock);
	conn->started = true;
	/* Anything the server sent before the callbacks were in place. */
	queue_work(conn->wq, &conn->rx_work);
}

/**
 * vfio_user_rx_stop() - stop receiving for good
 * @conn: a connection marked closed with its socket shut down
 *
 * Returns with the callbacks restored, no work running or queued, no
 * half-received frame and no server request left.
 */
void vfio_user_rx_stop(struct vfio_user_conn *conn)
{
	struct vfio_user_server_req *req, *tmp;
	struct sock *sk = conn->sock->sk;

	if (conn->started) {
		write_lock_bh(&sk->sk_callback_lock);
		sk->sk_user_data = NULL;
		sk->sk_data_ready = conn->saved_data_ready;
		sk->sk_state_change = conn->saved_state_change;
		write_unlock_bh(&sk->sk_callback_lock);
	}
	/* No callback can queue work any more; the workers see CLOSED. */
	cancel_work_sync(&conn->rx_work);
	cancel_work_sync(&conn->req_work);
	/* req_work may have queued rx_work once more before it stopped. */
	cancel_work_sync(&conn->rx_work);
	mutex_lock(&conn->rx_lock);
	vfio_user_rx_abort(conn);
	mutex_unlock(&conn->rx_lock);
	list_for_each_entry_safe(req, tmp, &conn->reqs, list)
		kvfree(req);
	INIT_LIST_HEAD(&conn->reqs);
	conn->nr_reqs = 0;
	conn->nr_refusals = 0;
	kfree(conn->rx_buf);
	conn->rx_buf = NULL;
	kfree(conn->refusals);
	conn->refusals = NULL;
}
