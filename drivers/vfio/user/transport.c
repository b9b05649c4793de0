// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user transport: the connection's life, the send path and the table
 * of requests waiting for their replies.  What arrives is rx.c's; the
 * bind-time exchange is exchange.c's.
 *
 * Anything the server gets wrong breaks the connection: every waiter fails
 * at once and every later request fails without touching the socket.
 *
 * Ownership of a pending request (struct vfio_user_msg): it sits in
 * conn->pending, keyed by message id, holding a reference for the table.
 * Whoever erases it from the table (the receive worker when its reply
 * arrives, the breaker failing everything, the waiter on timeout) owns that
 * reference and completes it.  The waiter holds its own reference and only
 * returns after completion, unless it is killed before the reply started to
 * arrive: then the request is marked abandoned and the worker drops its
 * reply when it comes, so a killed caller never breaks the connection.
 *
 * A request sits in the table before it is sent (its id must be known to
 * build the frame), but it is answerable only once it has been sent whole:
 * a reply that arrives while its request is being sent waits for the send
 * to end, and one whose request was not sent, or not yet begun (a server
 * guessing the next id), breaks the connection.  A caller whose send failed never waits
 * for the receiver: the receiver sees the failure and leaves the caller's
 * buffer alone.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/namei.h>
#include <linux/net.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/un.h>
#include <linux/wait_bit.h>
#include <net/sock.h>

#include "transport.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

static const char *const vfio_user_state_names[] = {
	[VFIO_USER_CONN_CONNECTED] = "connected",
	[VFIO_USER_CONN_BROKEN] = "broken",
	[VFIO_USER_CONN_CLOSED] = "closed",
};

/**
 * vfio_user_conn_state_name() - the connection state as sysfs shows it
 * @conn: the connection
 *
 * Return: "connected", "broken" or "closed".
 */
const char *vfio_user_conn_state_name(struct vfio_user_conn *conn)
{
	return vfio_user_state_names[READ_ONCE(conn->state)];
}

/**
 * vfio_user_conn_reason() - why the connection broke
 * @conn: the connection
 * @buf: where to copy the reason
 * @size: size of @buf
 *
 * Return: length of the reason copied, 0 while the connection is healthy.
 */
size_t vfio_user_conn_reason(struct vfio_user_conn *conn, char *buf,
			     size_t size)
{
	ssize_t len;

	spin_lock(&conn->lock);
	len = strscpy(buf, conn->reason, size);
	spin_unlock(&conn->lock);
	return len < 0 ? size - 1 : len;
}

/**
 * vfio_user_conn_usable() - may requests be sent?
 * @conn: the connection
 *
 * Return: true while the connection is neither broken nor closed.
 */
bool vfio_user_conn_usable(struct vfio_user_conn *conn)
{
	return READ_ONCE(conn->state) == VFIO_USER_CONN_CONNECTED;
}

/* Fail every request still waiting in the table. */
static void vfio_user_fail_pending(struct vfio_user_conn *conn)
{
	struct vfio_user_msg *msg;
	unsigned long id;

	xa_for_each(&conn->pending, id, msg) {
		if (xa_cmpxchg(&conn->pending, id, msg, NULL, 0) == msg)
			vfio_user_msg_complete(msg, -EIO);
	}
}

/**
 * vfio_user_conn_break() - mark the connection broken and fail everything
 * @conn: the connection
 * @fmt: printf format of the reason, shown in dmesg and sysfs
 *
 * Only the first reason is kept.  Safe from any process context, the
 * receive worker included; never called from the socket callbacks.
 */
void vfio_user_conn_break(struct vfio_user_conn *conn, const char *fmt, ...)
{
	va_list args;

	spin_lock(&conn->lock);
	if (conn->state != VFIO_USER_CONN_CONNECTED) {
		spin_unlock(&conn->lock);
		return;
	}
	WRITE_ONCE(conn->state, VFIO_USER_CONN_BROKEN);
	va_start(args, fmt);
	vsnprintf(conn->reason, sizeof(conn->reason), fmt, args);
	va_end(args);
	spin_unlock(&conn->lock);

	pr_err("%s: connection broken: %s\n", conn->name, conn->reason);
	atomic64_inc(&conn->stats.errors);

	/* Wakes a sender blocked on a full socket and ends the stream. */
	kernel_sock_shutdown(conn->sock, SHUT_RDWR);
	vfio_user_fail_pending(conn);
	/* The receiver drops a half-received frame and its waiter. */
	wake_up(&conn->rx_wait);
	wake_up_all(&conn->send_wait);
	queue_work(conn->wq, &conn->rx_work);
	if (conn->broken_notify)
		conn->broken_notify(conn->owner);
}

static void vfio_user_stats_sent(struct vfio_user_conn *conn, size_t bytes)
{
	atomic64_inc(&conn->stats.msgs_sent);
	atomic64_add(bytes, &conn->stats.bytes_sent);
}

/**
 * struct vfio_user_file_send - a frame with files, sent by a kernel thread
 * @work: queued on the connection's workqueue
 * @conn: the connection
 * @vec: the frame
 * @nvec: entries of @vec
 * @len: its length
 * @files: the files to attach, references held by the caller
 * @nr_files: how many
 * @deadline: when to give up waiting for room in the socket
 * @send_state: the request's send state, or NULL
 * @ret: bytes sent or -errno
 * @done: completed when @ret is set
 */
struct vfio_user_file_send {
	struct work_struct work;
	struct vfio_user_conn *conn;
	struct kvec *vec;
	size_t nvec;
	size_t len;
	struct file **files;
	unsigned int nr_files;
	unsigned long deadline;
	int *send_state;
	int ret;
	struct completion done;
};

/*
 * How far a request got: set under tx_lock once its send has begun, for a
 * receiver that has its reply already (rx.c).
 */
static void vfio_user_set_send_state(struct vfio_user_conn *conn,
				     int *send_state, int state)
{
	if (!send_state)
		return;
	/*
	 * Release: a receiver that reads SENT sees the request as the sender
	 * left it.  Pairs with the acquire in vfio_user_wait_sent().
	 */
	smp_store_release(send_state, state);
	/* Pairs with the barrier in wait_event(): wq_has_sleeper() has one. */
	if (wq_has_sleeper(&conn->send_wait))
		wake_up_all(&conn->send_wait);
}

/*
 * Files are attached from the kernel threads' table (fds.c); waiting for
 * room in the socket happens without any lock, up to the deadline.
 */
static void vfio_user_file_send_fn(struct work_struct *work)
{
	struct vfio_user_file_send *fs =
		container_of(work, struct vfio_user_file_send, work);
	struct vfio_user_conn *conn = fs->conn;
	struct sock *sk = conn->sock->sk;
	long left;

	for (;;) {
		mutex_lock(&conn->tx_lock);
		if (vfio_user_conn_usable(conn)) {
			vfio_user_set_send_state(conn, fs->send_state,
						 VFIO_USER_MSG_IN_FLIGHT);
			fs->ret = vfio_user_fd_sendmsg(conn->sock, fs->vec, fs->nvec,
						       fs->len, fs->files,
						       fs->nr_files);
		} else {
			fs->ret = -EIO;
		}
		/* Nothing went out while there was no room: still queued. */
		vfio_user_set_send_state(conn, fs->send_state,
					 fs->ret == fs->len ? VFIO_USER_MSG_SENT :
					 fs->ret == -EAGAIN ? VFIO_USER_MSG_QUEUED :
					 VFIO_USER_MSG_FAILED);
		mutex_unlock(&conn->tx_lock);
		left = (long)(fs->deadline - jiffies);
		if (fs->ret != -EAGAIN || left <= 0)
			break;
		/*
		 * conn_break() shuts the socket down, which wakes us; the
		 * socket's wake-ups are interruptible ones, and a work item
		 * gets no signals.
		 */
		wait_event_interruptible_timeout(*sk_sleep(sk),
						 sock_writeable(sk) ||
						 !vfio_user_conn_usable(conn),
						 left);
	}
	complete(&fs->done);
}

static int vfio_user_send_files(struct vfio_user_conn *conn, struct kvec *vec,
				size_t nvec, size_t len, struct file **files,
				unsigned int nr_files, int *send_state)
{
	struct vfio_user_file_send fs = {
		.send_state = send_state,
		.conn = conn,
		.vec = vec,
		.nvec = nvec,
		.len = len,
		.files = files,
		.nr_files = nr_files,
		.deadline = jiffies + msecs_to_jiffies(READ_ONCE(conn->timeout_ms)),
	};

	init_completion(&fs.done);
	INIT_WORK_ONSTACK(&fs.work, vfio_user_file_send_fn);
	queue_work(conn->wq, &fs.work);
	/* Bounded by the deadline: the work item never waits longer. */
	wait_for_completion(&fs.done);
	destroy_work_on_stack(&fs.work);
	return fs.ret;
}

/**
 * vfio_user_send_frame() - send one whole frame
 * @conn: the connection
 * @hdr: its header
 * @payload: its payload, or NULL
 * @len: payload length
 * @files: files to attach (SCM_RIGHTS), or NULL; the caller keeps its
 *	references
 * @nr_files: how many
 * @killable: a fatal signal may end the wait for the socket
 * @send_state: for a request in the table, its send state (see
 *	transport.h), set as the send begins and ends; else NULL
 *
 * A frame that was cut short leaves the stream out of step, so it breaks
 * the connection; one that was not started at all (a signal before the
 * first byte) does not.
 *
 * Return: 0, -EINTR (nothing sent), -ETOOMANYREFS (too many files in
 * flight, nothing sent), -ENOMEM, or -EIO with the connection broken.
 */
int vfio_user_send_frame(struct vfio_user_conn *conn,
			 struct vfio_user_header *hdr, const void *payload,
			 size_t len, struct file **files, unsigned int nr_files,
			 bool killable, int *send_state)
{
	struct kvec vec[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(*hdr) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};

	trace_vfio_user_send(conn->name, hdr);
	return vfio_user_send_vec(conn, vec, len ? 2 : 1, sizeof(*hdr) + len,
				  files, nr_files, killable, send_state);
}

/**
 * vfio_user_send_vec() - send whole frames, already built
 * @conn: the connection
 * @vec: the bytes: one frame, or several back to back
 * @nvec: entries of @vec
 * @total: their length
 * @files: as for vfio_user_send_frame()
 * @nr_files: likewise
 * @killable: likewise
 * @send_state: likewise
 *
 * Return: as vfio_user_send_frame().
 */
int vfio_user_send_vec(struct vfio_user_conn *conn, struct kvec *vec,
		       size_t nvec, size_t total, struct file **files,
		       unsigned int nr_files, bool killable, int *send_state)
{
	struct msghdr m = { .msg_flags = MSG_NOSIGNAL };
	int ret;

	if (nr_files) {
		ret = vfio_user_send_files(conn, vec, nvec, total, files,
					   nr_files, send_state);
	} else {
		if (killable) {
			if (mutex_lock_killable(&conn->tx_lock))
				return -EINTR;
		} else {
			mutex_lock(&conn->tx_lock);
		}
		if (vfio_user_conn_usable(conn)) {
			vfio_user_set_send_state(conn, send_state,
						 VFIO_USER_MSG_IN_FLIGHT);
			ret = kernel_sendmsg(conn->sock, &m, vec, nvec, total);
		} else {
			ret = -EIO;
		}
		vfio_user_set_send_state(conn, send_state,
					 ret == total ? VFIO_USER_MSG_SENT :
					 VFIO_USER_MSG_FAILED);
		mutex_unlock(&conn->tx_lock);
	}

	if (ret == total) {
		vfio_user_stats_sent(conn, total);
		return 0;
	}
	if (ret > 0) {
		vfio_user_conn_break(conn, "frame cut short after %d of %zu bytes",
				     ret, total);
		return -EIO;
	}
	/* Nothing was sent: the stream is still in step. */
	if (ret == -EINTR || ret == -ERESTARTSYS)
		return -EINTR;
	if (ret == -ETOOMANYREFS || ret == -ENOMEM)
		return ret;
	if (ret == -EIO)
		return ret;
	if (ret == -EAGAIN)
		vfio_user_conn_break(conn, "server stopped reading: send timed out");
	else
		vfio_user_conn_break(conn, "send failed with error %d", ret);
	return -EIO;
}

/**
 * vfio_user_note_rtt() - account a round trip in the statistics
 * @conn: the connection
 * @sent: when the request was sent
 */
void vfio_user_note_rtt(struct vfio_user_conn *conn, ktime_t sent)
{
	s64 rtt = ktime_to_ns(ktime_sub(ktime_get(), sent));
	s64 max = atomic64_read(&conn->stats.max_rtt_ns);

	while (rtt > max) {
		s64 old = atomic64_cmpxchg(&conn->stats.max_rtt_ns, max, rtt);

		if (old == max)
			break;
		max = old;
	}
}

/**
 * vfio_user_reply_errno() - a reply's error field as a -errno for the VMM
 * @error: the error field of an error reply
 *
 * Codes from ERESTARTSYS (512) up are the kernel's own (restart requests,
 * ENOIOCTLCMD, EPROBE_DEFER...): returned from a syscall they would reach
 * the VMM as nonsense or make the syscall restart, so a server never gets
 * to choose them.
 *
 * Return: -@error, or -EIO for 0 and the kernel-internal codes.
 */
int vfio_user_reply_errno(u32 error)
{
	if (error == 0 || error >= ERESTARTSYS)
		return -EIO;
	return -(int)error;
}

/*
 * Wait for @msg's reply.  Returns 0 with the reply in place, -ETIMEDOUT,
 * -EINTR or -EIO.  Never returns while the receive worker may still write
 * into the caller's reply buffer.
 */
static int vfio_user_wait_reply(struct vfio_user_conn *conn,
				struct vfio_user_msg *msg, bool killable)
{
	unsigned long timeout = msecs_to_jiffies(READ_ONCE(conn->timeout_ms));
	unsigned long deadline = jiffies + timeout;
	long left;

	/* Nobody receiving: receive our reply ourselves, then wait as usual. */
	if (mutex_trylock(&conn->rx_lock)) {
		vfio_user_direct_rx(conn, msg, killable, deadline);
		left = deadline - jiffies;
		timeout = left > 0 ? left : 0;
	}

	if (killable)
		left = wait_for_completion_killable_timeout(&msg->done, timeout);
	else
		left = wait_for_completion_timeout(&msg->done, timeout);
	if (left > 0)
		return msg->status;

	if (left < 0) {
		/* Killed: give the request up unless its reply is arriving. */
		xa_lock(&conn->pending);
		if (xa_load(&conn->pending, msg->id) == msg) {
			msg->abandoned = true;
			msg->reply = NULL;
			xa_unlock(&conn->pending);
			return -EINTR;
		}
		xa_unlock(&conn->pending);
		/*
		 * It is arriving, maybe stalled half-way: take our buffer
		 * back from the receiver, which drops the rest of the reply.
		 * Waiting for it could mean a whole timeout for a killed task.
		 */
		mutex_lock(&conn->rx_copy_lock);
		msg->reply = NULL;
		mutex_unlock(&conn->rx_copy_lock);
		return -EINTR;
	}
	if (xa_cmpxchg(&conn->pending, msg->id, msg, NULL, 0) == msg) {
		/* Timed out and still ours: drop the table's reference. */
		vfio_user_msg_put(msg);
		atomic64_inc(&conn->stats.timeouts);
		vfio_user_conn_break(conn, "no reply to command %u (id %u) within %u ms",
				     msg->cmd, msg->id, conn->timeout_ms);
		return -ETIMEDOUT;
	}

	/*
	 * The receiver has the reply and the server stalled half-way: break
	 * the connection and take our buffer back, as a killed caller does.
	 */
	atomic64_inc(&conn->stats.timeouts);
	vfio_user_conn_break(conn, "reply to command %u (id %u) stalled for %u ms",
			     msg->cmd, msg->id, conn->timeout_ms);
	mutex_lock(&conn->rx_copy_lock);
	msg->reply = NULL;
	mutex_unlock(&conn->rx_copy_lock);
	return -ETIMEDOUT;
}

/**
 * vfio_user_conn_call() - send a request and wait for its reply
 * @conn: the connection
 * @call: the request, and where its reply goes
 *
 * Any number of callers may have requests in flight at once; replies are
 * matched by message id whatever order the server answers in.  The wait
 * is bounded by the connection's timeout; a timeout breaks the connection.
 *
 * Return: 0 with @call->reply_len set; the server's errno for an error
 * reply; -ETIMEDOUT, -EINTR (killed), -EBUSY (65536 requests in flight),
 * -ENOMEM, or -EIO when the connection is or becomes broken.
 */
int vfio_user_conn_call(struct vfio_user_conn *conn,
			struct vfio_user_call *call)
{
	struct vfio_user_header hdr = {
		.command = call->cmd,
		.msg_size = sizeof(hdr) + call->req_len,
		.flags = VFIO_USER_F_TYPE_COMMAND,
	};
	struct vfio_user_msg *msg;
	u32 id;
	int ret;

	call->reply_len = 0;
	call->nr_files = 0;
	if (call->nr_send_files > conn->caps.max_msg_fds &&
	    conn->started)
		return -EINVAL;
	if (!vfio_user_conn_usable(conn))
		return -EIO;
	if (!conn->started)
		return vfio_user_sync_call(conn, call);

	if (call->no_reply) {
		hdr.flags |= VFIO_USER_F_NO_REPLY;
		/* Ids may repeat; one no table entry will ever claim. */
		hdr.msg_id = (u16)atomic_inc_return(&conn->noreply_id);
		return vfio_user_send_frame(conn, &hdr, call->req, call->req_len,
					    call->send_files,
					    call->nr_send_files,
					    call->killable, NULL);
	}

	msg = kzalloc(sizeof(*msg), GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	refcount_set(&msg->ref, 2);
	init_completion(&msg->done);
	msg->cmd = call->cmd;
	msg->reply = call->reply;
	msg->reply_cap = call->reply_cap;

	ret = xa_alloc_cyclic(&conn->pending, &id, msg, XA_LIMIT(0, U16_MAX),
			      &conn->next_id, GFP_KERNEL);
	if (ret < 0) {
		kfree(msg);
		return ret == -EBUSY ? -EBUSY : -ENOMEM;
	}
	msg->id = id;
	hdr.msg_id = id;
	msg->sent = ktime_get();

	ret = vfio_user_send_frame(conn, &hdr, call->req, call->req_len,
				   call->send_files, call->nr_send_files,
				   call->killable, &msg->send_state);
	if (ret) {
		/* Also when the send never began (killed waiting for tx_lock). */
		vfio_user_set_send_state(conn, &msg->send_state,
					 VFIO_USER_MSG_FAILED);
		/*
		 * Take it back from the table.  If the receiver claimed it
		 * first, for a reply to a request that never went out, it
		 * sees FAILED, breaks the connection and never touches our
		 * buffer: nothing to wait for.
		 */
		if (xa_cmpxchg(&conn->pending, id, msg, NULL, 0) == msg)
			vfio_user_msg_put(msg);
		goto out;
	}

	ret = vfio_user_wait_reply(conn, msg, call->killable);
	if (ret)
		goto out;
	vfio_user_note_rtt(conn, msg->sent);
	if (msg->reply_flags & VFIO_USER_F_ERROR) {
		atomic64_inc(&conn->stats.errors);
		ret = vfio_user_reply_errno(msg->reply_error);
		goto out;
	}
	call->reply_len = msg->reply_len;
out:
	vfio_user_msg_put(msg);
	return ret;
}

/**
 * vfio_user_conn_reply() - answer a request the server sent us
 * @conn: the connection
 * @req: the request's header
 * @payload: reply payload, or NULL
 * @len: its length
 * @error: 0, or the errno of an error reply (which carries no payload)
 *
 * Never waits for anything but the socket (bounded by its send timeout).
 */
void vfio_user_conn_reply(struct vfio_user_conn *conn,
			  const struct vfio_user_header *req,
			  const void *payload, size_t len, u32 error)
{
	struct vfio_user_header hdr = {
		.msg_id = req->msg_id,
		.command = req->command,
		.msg_size = sizeof(hdr) + (error ? 0 : len),
		.flags = VFIO_USER_F_TYPE_REPLY | (error ? VFIO_USER_F_ERROR : 0),
		.error_reply = error,
	};

	if (req->flags & VFIO_USER_F_NO_REPLY)
		return;
	vfio_user_send_frame(conn, &hdr, error ? NULL : payload,
			     error ? 0 : len, NULL, 0, false, NULL);
}

/*
 * Tell the writer of new_device exactly what is wrong with the path, which
 * connect() alone would blur into ECONNREFUSED.
 */
static int vfio_user_check_socket_path(const char *name, const char *path)
{
	struct path p;
	int ret;

	ret = kern_path(path, LOOKUP_FOLLOW, &p);
	if (ret) {
		pr_err("%s: cannot look up socket %s: error %d\n", name, path,
		       ret);
		return ret;
	}
	if (!S_ISSOCK(d_inode(p.dentry)->i_mode)) {
		pr_err("%s: %s is not a socket\n", name, path);
		ret = -ENOTSOCK;
	}
	path_put(&p);
	return ret;
}

/**
 * vfio_user_conn_connect() - connect to a server
 * @conn: a zeroed connection with @name, @timeout_ms and the notify hook set
 * @path: absolute path of the server's socket
 *
 * Runs in the context of the process that wrote new_device: the path is
 * resolved in its mount namespace, the socket belongs to its network
 * namespace, and its credentials meet the socket file's permissions and the
 * LSM.  Never blocks on a server that does not accept.
 *
 * Return: 0, or -errno with one dmesg line that says what was wrong.
 */
int vfio_user_conn_connect(struct vfio_user_conn *conn, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	long timeo;
	int ret;

	mutex_init(&conn->tx_lock);
	mutex_init(&conn->rx_copy_lock);
	init_waitqueue_head(&conn->send_wait);
	spin_lock_init(&conn->lock);
	xa_init_flags(&conn->pending, XA_FLAGS_ALLOC);
	conn->max_rx_payload = VFIO_USER_MAX_CTRL_PAYLOAD;
	/* Fresh connections start broken until the socket is connected. */
	conn->state = VFIO_USER_CONN_CLOSED;

	if (len >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, len + 1);

	ret = vfio_user_check_socket_path(conn->name, path);
	if (ret)
		return ret;

	ret = vfio_user_rx_init(conn);
	if (ret)
		return ret;
	conn->wq = alloc_workqueue("%s", WQ_UNBOUND, 0, conn->name);
	if (!conn->wq) {
		ret = -ENOMEM;
		goto err_rx;
	}

	ret = sock_create(AF_UNIX, SOCK_STREAM, 0, &conn->sock);
	if (ret) {
		pr_err("%s: cannot create a socket: error %d\n", conn->name, ret);
		goto err_wq;
	}
	timeo = msecs_to_jiffies(conn->timeout_ms);
	conn->sock->sk->sk_sndtimeo = timeo;
	conn->sock->sk->sk_rcvtimeo = timeo;

	/* O_NONBLOCK: a full listen backlog fails at once with -EAGAIN. */
	ret = kernel_connect(conn->sock, (struct sockaddr *)&addr,
			     offsetof(struct sockaddr_un, sun_path) + len + 1,
			     O_NONBLOCK);
	if (ret) {
		if (ret == -ECONNREFUSED)
			pr_err("%s: nobody is listening on %s\n", conn->name, path);
		else if (ret == -EAGAIN)
			pr_err("%s: server on %s is not accepting connections (backlog full)\n",
			       conn->name, path);
		else
			pr_err("%s: cannot connect to %s: error %d\n", conn->name,
			       path, ret);
		goto err_sock;
	}

	conn->state = VFIO_USER_CONN_CONNECTED;
	return 0;

err_sock:
	sock_release(conn->sock);
	conn->sock = NULL;
err_wq:
	destroy_workqueue(conn->wq);
	conn->wq = NULL;
err_rx:
	kfree(conn->rx_buf);
	conn->rx_buf = NULL;
	kfree(conn->refusals);
	conn->refusals = NULL;
	return ret;
}

/**
 * vfio_user_conn_start() - hand the socket to the receive worker
 * @conn: a connected connection whose handshake is done
 *
 * From now on requests are asynchronous and pipelined, and the server may
 * send its own requests.
 */
void vfio_user_conn_start(struct vfio_user_conn *conn)
{
	/* The handshake left its own deadline on the socket. */
	vfio_user_conn_set_timeout(conn, conn->timeout_ms);
	vfio_user_rx_start(conn);
}

/**
 * vfio_user_conn_destroy() - tear a connection down
 * @conn: a connection set up by vfio_user_conn_connect(), or one whose
 *	connect failed
 *
 * The caller guarantees nobody is inside vfio_user_conn_call() and nobody
 * will call it again.  Returns with no work queued, nothing pending and the
 * socket released.
 */
void vfio_user_conn_destroy(struct vfio_user_conn *conn)
{
	if (!conn->sock)
		return;

	spin_lock(&conn->lock);
	WRITE_ONCE(conn->state, VFIO_USER_CONN_CLOSED);
	spin_unlock(&conn->lock);

	kernel_sock_shutdown(conn->sock, SHUT_RDWR);
	vfio_user_rx_stop(conn);
	vfio_user_fail_pending(conn);

	sock_release(conn->sock);
	conn->sock = NULL;
	destroy_workqueue(conn->wq);
	conn->wq = NULL;
	xa_destroy(&conn->pending);
}

/**
 * vfio_user_conn_set_timeout() - change the bound on every wait
 * @conn: the connection
 * @timeout_ms: new timeout, already range-checked
 */
void vfio_user_conn_set_timeout(struct vfio_user_conn *conn,
				unsigned int timeout_ms)
{
	long timeo = msecs_to_jiffies(timeout_ms);

	WRITE_ONCE(conn->timeout_ms, timeout_ms);
	if (conn->sock) {
		WRITE_ONCE(conn->sock->sk->sk_sndtimeo, timeo);
		WRITE_ONCE(conn->sock->sk->sk_rcvtimeo, timeo);
	}
}
