// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user bind-time exchange: the handshake, one request at a time,
 * before the receive worker owns the socket.
 *
 * GET_REGION_INFO replies carry the fds of mmap-able regions, and only a
 * recvmsg with a control buffer in user memory can take fds (see fds.c).
 * So the whole handshake runs in a work item of the connection's own
 * workqueue that borrows the bind writer's mm for a one-page control
 * buffer, while the writer waits:
 *
 * - the descriptors land in the kernel threads' table, never the writer's
 *   (fds.c), and the writer's other threads cannot change what is taken;
 * - one deadline, set when the bind starts, bounds the whole exchange:
 *   every send and every wait for bytes gets what is left of it, so a
 *   server dribbling a byte at a time fails the bind on time;
 * - a fatal signal to the writer breaks the connection, which ends every
 *   wait of the work item at once;
 * - nothing here holds a lock another device could wait on: the bus lock
 *   is not held while a server handshakes (main.c), and vfio_user_fd_lock
 *   only around a non-blocking recvmsg.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/net.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <net/sock.h>

#include "compat.h"
#include "vfio_user_priv.h"

/**
 * struct vfio_user_bind_work - the handshake, run in a kernel thread
 * @work: queued on the connection's workqueue
 * @conn: the connection
 * @mm: the bind writer's mm, for the control buffer; NULL when it has none
 *	(then no fd can be received and regions are trapped)
 * @fn: the handshake
 * @arg: its argument
 * @ret: what @fn returned
 * @done: completed when @fn has returned and the mm is let go
 */
struct vfio_user_bind_work {
	struct work_struct work;
	struct vfio_user_conn *conn;
	struct mm_struct *mm;
	int (*fn)(void *arg);
	void *arg;
	int ret;
	struct completion done;
};

/*
 * The control buffer: one page in the borrowed mm, faulted in writable
 * before the first receive (which runs with page faults disabled, under
 * vfio_user_fd_lock).  It is a shared mapping of a shmem file of its own:
 * a mapping of its own file never merges with the writer's memory (so the
 * flags set below are set on this page alone), and a fork by the writer's
 * process does not write-protect a shared page for copy-on-write, which
 * would fail the bind's next receive of files.  VM_DONTCOPY keeps it out
 * of children, VM_DONTDUMP out of cores: the fd numbers of a kernel
 * thread mean nothing there.
 * Return: the page's address, or 0.
 */
static unsigned long vfio_user_ctl_map(void)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	unsigned long ctl = 0;
	struct file *file;

	file = shmem_file_setup("vfio-user-ctl", PAGE_SIZE, VM_NORESERVE);
	if (IS_ERR(file))
		return 0;
	ctl = vm_mmap(file, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	if (IS_ERR_VALUE(ctl)) {
		ctl = 0;
		goto out;
	}
	if (mmap_write_lock_killable(mm))
		goto unmap;
	/* The writer's threads may have replaced it meanwhile: not ours. */
	vma = find_vma(mm, ctl);
	if (!vma || vma->vm_file != file || vma->vm_start != ctl ||
	    vma->vm_end != ctl + PAGE_SIZE) {
		mmap_write_unlock(mm);
		ctl = 0;
		goto out;
	}
	vm_flags_set(vma, VM_DONTCOPY | VM_DONTDUMP);
	mmap_write_unlock(mm);
	if (!clear_user((void __user *)ctl, PAGE_SIZE))
		goto out;
unmap:
	vm_munmap(ctl, PAGE_SIZE);
	ctl = 0;
out:
	/* The mapping holds the file from here on. */
	fput(file);
	return ctl;
}

static void vfio_user_bind_work_fn(struct work_struct *work)
{
	struct vfio_user_bind_work *bw =
		container_of(work, struct vfio_user_bind_work, work);
	struct vfio_user_conn *conn = bw->conn;
	unsigned long ctl = 0;

	if (bw->mm) {
		kthread_use_mm(bw->mm);
		ctl = vfio_user_ctl_map();
	}
	conn->sync_ctl = ctl;
	bw->ret = bw->fn(bw->arg);
	conn->sync_ctl = 0;
	if (bw->mm) {
		if (ctl)
			vm_munmap(ctl, PAGE_SIZE);
		kthread_unuse_mm(bw->mm);
	}
	complete(&bw->done);
}

/**
 * vfio_user_conn_bind_run() - run the bind handshake within one deadline
 * @conn: a connected connection whose receive worker has not started
 * @fn: the handshake; its requests go through vfio_user_conn_call()
 * @arg: argument for @fn
 *
 * Called by the writer of new_device.  @fn runs in a kernel thread (see
 * the top of this file); the caller waits for it, killably.
 *
 * Return: what @fn returned, -EINTR when the writer was killed, or
 * -ETIMEDOUT when the deadline passed.
 */
int vfio_user_conn_bind_run(struct vfio_user_conn *conn, int (*fn)(void *),
			    void *arg)
{
	struct vfio_user_bind_work bw = {
		.conn = conn,
		.fn = fn,
		.arg = arg,
	};

	if (current->mm) {
		mmget(current->mm);
		bw.mm = current->mm;
	}
	init_completion(&bw.done);
	INIT_WORK_ONSTACK(&bw.work, vfio_user_bind_work_fn);
	conn->bind_deadline = jiffies +
			      msecs_to_jiffies(READ_ONCE(conn->timeout_ms));
	queue_work(conn->wq, &bw.work);
	if (wait_for_completion_killable(&bw.done)) {
		/* Ends every wait of the handshake at once. */
		vfio_user_conn_break(conn, "bind interrupted by a fatal signal");
		wait_for_completion(&bw.done);
		bw.ret = -EINTR;
	}
	destroy_work_on_stack(&bw.work);
	if (bw.mm)
		mmput(bw.mm);
	return bw.ret;
}

/* Jiffies left of the bind's deadline; 0 once it has passed. */
static long vfio_user_bind_left(struct vfio_user_conn *conn)
{
	long left = (long)(conn->bind_deadline - jiffies);

	return left > 0 ? left : 0;
}

/*
 * Receive exactly @len bytes within the bind's deadline; NULL @buf drops
 * them.  Files that come with them go to @rx.  Breaks the connection on
 * failure.
 */
static int vfio_user_recv_sync(struct vfio_user_conn *conn, void *buf,
			       size_t len, struct vfio_user_fd_rx *rx)
{
	struct sock *sk = conn->sock->sk;
	u8 scratch[256];
	size_t done = 0;
	long left;
	int ret;

	while (done < len) {
		size_t chunk = buf ? len - done : min(len - done, sizeof(scratch));

		if (!vfio_user_conn_usable(conn))
			return -EIO;
		left = vfio_user_bind_left(conn);
		if (!left) {
			vfio_user_conn_break(conn, "bind took longer than %u ms",
					     conn->timeout_ms);
			return -ETIMEDOUT;
		}
		ret = vfio_user_fd_recvmsg(conn->sock, buf ? buf + done : scratch,
					   chunk, conn->sync_ctl, rx);
		if (ret > 0) {
			atomic64_add(ret, &conn->stats.bytes_received);
			done += ret;
			continue;
		}
		if (ret == -EAGAIN) {
			/*
			 * The socket's wake-ups are interruptible ones; a work
			 * item gets no signals, so this is no less bounded.
			 */
			wait_event_interruptible_timeout(*sk_sleep(sk),
							 vfio_user_conn_readable(conn),
							 left);
			continue;
		}
		if (ret == 0)
			vfio_user_conn_break(conn, "server closed the connection");
		else
			vfio_user_conn_break(conn, "receive failed with error %d", ret);
		return -EIO;
	}
	return 0;
}

/* The fds a reply brought that its request does not take: a protocol error. */
static int vfio_user_sync_check_files(struct vfio_user_conn *conn,
				      struct vfio_user_call *call,
				      struct vfio_user_fd_rx *rx, int ret)
{
	if (!rx->excess && (!rx->nr || (!ret && call->max_files)))
		return ret;
	vfio_user_fd_put_all(rx);
	vfio_user_conn_break(conn,
			     "server attached %sfds to a reply that takes %s",
			     rx->excess ? "more " : "",
			     ret ? "none (an error reply)" :
			     call->max_files ? "fewer" : "none");
	return -EIO;
}

/**
 * vfio_user_sync_call() - one request and its reply, during the bind
 * @conn: the connection, not started yet
 * @call: the request; on success @call->files[0..nr_files) are the
 *	caller's, and every other entry is NULL
 *
 * Runs in the bind's work item (vfio_user_conn_bind_run()).
 *
 * Return: as vfio_user_conn_call().
 */
int vfio_user_sync_call(struct vfio_user_conn *conn,
			struct vfio_user_call *call)
{
	struct vfio_user_header hdr = {
		.msg_id = conn->next_id++,
		.command = call->cmd,
		.msg_size = sizeof(hdr) + call->req_len,
		.flags = VFIO_USER_F_TYPE_COMMAND,
	};
	struct vfio_user_fd_rx rx = {
		.files = call->files,
		.max = call->max_files,
	};
	struct vfio_user_header reply;
	ktime_t sent = ktime_get();
	unsigned int i;
	size_t len;
	int ret;

	for (i = 0; i < call->max_files; i++)
		call->files[i] = NULL;
	/* Only the bind's work item receives files. */
	if (!(current->flags & PF_KTHREAD) || call->nr_send_files)
		return -EINVAL;
	if (!vfio_user_bind_left(conn)) {
		vfio_user_conn_break(conn, "bind took longer than %u ms",
				     conn->timeout_ms);
		return -ETIMEDOUT;
	}
	WRITE_ONCE(conn->sock->sk->sk_sndtimeo, vfio_user_bind_left(conn));
	ret = vfio_user_send_frame(conn, &hdr, call->req, call->req_len,
				   NULL, 0, false, NULL);
	if (ret)
		return ret;

	ret = vfio_user_recv_sync(conn, &reply, sizeof(reply), &rx);
	if (ret)
		goto out;
	atomic64_inc(&conn->stats.msgs_received);
	ret = -EIO;
	if (vfio_user_check_frame(conn, &reply, &len))
		goto out;
	if ((reply.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_REPLY ||
	    reply.msg_id != hdr.msg_id || reply.command != hdr.command) {
		vfio_user_conn_break(conn,
				     "expected reply to %u (id %u), got %u id %u flags 0x%x",
				     hdr.command, hdr.msg_id, reply.command,
				     reply.msg_id, reply.flags);
		goto out;
	}
	if (reply.flags & VFIO_USER_F_ERROR) {
		ret = vfio_user_recv_sync(conn, NULL, len, &rx);
		if (!ret) {
			atomic64_inc(&conn->stats.errors);
			ret = vfio_user_reply_errno(reply.error_reply);
		}
		goto out;
	}
	if (len > call->reply_cap) {
		vfio_user_conn_break(conn,
				     "reply to command %u is %zu bytes, more than the %zu expected",
				     call->cmd, len, call->reply_cap);
		goto out;
	}
	ret = vfio_user_recv_sync(conn, call->reply, len, &rx);
	if (ret)
		goto out;
	call->reply_len = len;
	vfio_user_note_rtt(conn, sent);
out:
	ret = vfio_user_sync_check_files(conn, call, &rx, ret);
	call->nr_files = rx.nr;
	return ret;
}
