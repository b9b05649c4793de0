// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user file passing: the files that cross the socket, both ways.
 *
 * SCM_RIGHTS works on descriptor numbers in current's file table.  Sending,
 * scm_fp_copy() looks the numbers up there; receiving, scm_detach_fds()
 * installs what arrived there and writes the numbers into a control buffer
 * in user memory.  A VMM's or a bind writer's table is shared with its
 * other threads and copied into its children, and its memory is theirs to
 * write: a descriptor that sat there for an instant could be closed, be
 * dup2()ed over between a check and the send, be inherited by a fork, or
 * have its number rewritten before the driver read it back.
 *
 * So every file passing here runs in a kernel thread (a work item of the
 * connection's workqueue), whose table is the kernel threads' own: no user
 * task can use it; a usermode helper forked meanwhile gets a copy that its
 * exec closes (every descriptor here is close-on-exec).  The descriptors
 * live there only inside vfio_user_fd_lock, which this module holds for
 * nothing but a non-blocking sendmsg or recvmsg, so no server can make
 * another device wait on it.  A file received is identified by the table
 * itself, not by the number written to user memory: the descriptors that
 * appeared during the recvmsg are the server's files, and the control
 * buffer (in the borrowed mm of the bind writer) must agree with that or
 * nothing is taken.  Descriptors are taken out again with file_close_fd(),
 * so no ->flush() of a server's file (a FUSE round trip) ever runs.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/net.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/uaccess.h>
#include <net/sock.h>

#include "compat.h"
#include "vfio_user_priv.h"

/*
 * Held while this module has descriptors in the kernel threads' table, so
 * that a receive can tell the descriptors it got from everything else.
 */
static DEFINE_MUTEX(vfio_user_fd_lock);

/* Descriptors a snapshot of the table holds; more is refused, not guessed. */
#define VFIO_USER_FD_SNAP_MAX	64

/**
 * struct vfio_user_fd_snap - descriptors found open in current's table
 * @nr: entries used in @fds and @files
 * @overflow: more descriptors were open than fit
 * @fds: the descriptors
 * @files: their files (only for the descriptors new since @before)
 * @before: an earlier snapshot whose descriptors are left out, or NULL
 */
struct vfio_user_fd_snap {
	unsigned int nr;
	bool overflow;
	unsigned int fds[VFIO_USER_FD_SNAP_MAX];
	struct file *files[VFIO_USER_FD_SNAP_MAX];
	const struct vfio_user_fd_snap *before;
};

static bool vfio_user_fd_snap_has(const struct vfio_user_fd_snap *snap,
				  unsigned int fd)
{
	unsigned int i;

	for (i = 0; i < snap->nr; i++)
		if (snap->fds[i] == fd)
			return true;
	return false;
}

/* iterate_fd() callback: note @fd unless the earlier snapshot has it. */
static int vfio_user_fd_snap_one(const void *arg, struct file *file,
				 unsigned int fd)
{
	struct vfio_user_fd_snap *snap = (struct vfio_user_fd_snap *)arg;

	if (snap->before && vfio_user_fd_snap_has(snap->before, fd))
		return 0;
	if (snap->nr == VFIO_USER_FD_SNAP_MAX) {
		snap->overflow = true;
		return 1;
	}
	snap->fds[snap->nr] = fd;
	snap->files[snap->nr] = file;
	snap->nr++;
	return 0;
}

static void vfio_user_fd_snapshot(struct vfio_user_fd_snap *snap,
				  const struct vfio_user_fd_snap *before)
{
	lockdep_assert_held(&vfio_user_fd_lock);
	snap->nr = 0;
	snap->overflow = false;
	snap->before = before;
	iterate_fd(current->files, 0, vfio_user_fd_snap_one, snap);
}

/* Is current a kernel thread, whose table no user task can reach? */
static bool vfio_user_fd_context_ok(void)
{
	return current->flags & PF_KTHREAD;
}

/**
 * vfio_user_fd_sendmsg() - send a frame with files attached
 * @sock: the connected socket
 * @vec: the frame
 * @nvec: entries in @vec
 * @len: total length of @vec
 * @files: files to attach; the caller keeps its references
 * @nr: how many, at most SCM_MAX_FD
 *
 * Must run in a kernel thread.  Never blocks on the server: the send is
 * MSG_DONTWAIT, so -EAGAIN means nothing was sent and the caller waits for
 * room without any lock of ours.  Frames with files are small (one skb),
 * so they are queued whole or not at all.
 *
 * Return: bytes sent or -errno.
 */
int vfio_user_fd_sendmsg(struct socket *sock, struct kvec *vec, size_t nvec,
			 size_t len, struct file **files, unsigned int nr)
{
	size_t ctl_len = CMSG_SPACE(nr * sizeof(int));
	struct msghdr m = { .msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT };
	struct cmsghdr *cmsg;
	unsigned int i, installed = 0;
	int *fds, ret;

	if (!vfio_user_fd_context_ok() || !nr || nr > SCM_MAX_FD)
		return -EINVAL;
	cmsg = kzalloc(ctl_len, GFP_KERNEL);
	if (!cmsg)
		return -ENOMEM;
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(nr * sizeof(int));
	fds = (int *)CMSG_DATA(cmsg);
	m.msg_control = cmsg;
	m.msg_controllen = ctl_len;

	mutex_lock(&vfio_user_fd_lock);
	for (; installed < nr; installed++) {
		ret = get_unused_fd_flags(O_CLOEXEC);
		if (ret < 0)
			goto out_close;
		fds[installed] = ret;
		fd_install(ret, get_file(files[installed]));
	}
	ret = kernel_sendmsg(sock, &m, vec, nvec, len);
out_close:
	/* scm_fp_copy() took its own references: ours go. */
	for (i = 0; i < installed; i++) {
		struct file *file = file_close_fd(fds[i]);

		if (file)
			fput(file);
	}
	mutex_unlock(&vfio_user_fd_lock);
	kfree(cmsg);
	return ret;
}

/*
 * The descriptors the control buffer names, copied from user memory:
 * -EPROTO when it is not one well-formed SCM_RIGHTS message.
 */
static int vfio_user_fd_read_ctl(unsigned long ctl, size_t used,
				 unsigned int *fds, unsigned int *nr)
{
	u8 buf[VFIO_USER_CTL_LEN] __aligned(sizeof(long));
	const struct cmsghdr *cmsg = (const void *)buf;
	size_t n;

	*nr = 0;
	if (!used)
		return 0;
	if (used > sizeof(buf) || used < sizeof(*cmsg) ||
	    copy_from_user(buf, (const void __user *)ctl, used))
		return -EPROTO;
	if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
	    cmsg->cmsg_len < CMSG_LEN(0) || cmsg->cmsg_len > used)
		return -EPROTO;
	n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	if (n > VFIO_USER_OUR_MAX_MSG_FDS)
		return -EPROTO;
	memcpy(fds, CMSG_DATA(cmsg), n * sizeof(int));
	*nr = n;
	return 0;
}

/**
 * vfio_user_fd_recvmsg() - receive without blocking, taking any files sent
 * @sock: the connected socket
 * @buf: where the bytes go
 * @len: how many to receive at most
 * @ctl: a control buffer of VFIO_USER_CTL_LEN bytes in current's borrowed
 *	mm, or 0 to refuse files (the socket layer then drops them)
 * @rx: where the files go; see struct vfio_user_fd_rx
 *
 * Must run in a kernel thread.  Files beyond @rx->max, files the control
 * buffer does not account for, and files of a receive that failed are put
 * at once, and @rx->excess says so: the caller treats that as a protocol
 * error.
 *
 * Return: bytes received, 0 at end of stream, -EAGAIN when nothing is
 * queued, or -errno.
 */
int vfio_user_fd_recvmsg(struct socket *sock, void *buf, size_t len,
			 unsigned long ctl, struct vfio_user_fd_rx *rx)
{
	struct vfio_user_fd_snap *before, *after;
	struct kvec vec = { .iov_base = buf, .iov_len = len };
	unsigned int named[VFIO_USER_OUR_MAX_MSG_FDS], nr_named, i;
	struct msghdr m = { };
	bool agree = true;
	int ret;

	if (!vfio_user_fd_context_ok())
		return -EINVAL;
	if (!ctl) {
		iov_iter_kvec(&m.msg_iter, ITER_DEST, &vec, 1, len);
		ret = sock_recvmsg(sock, &m, MSG_DONTWAIT);
		if (m.msg_flags & MSG_CTRUNC)
			rx->excess = true;
		return ret;
	}

	before = kmalloc(sizeof(*before), GFP_KERNEL);
	after = kmalloc(sizeof(*after), GFP_KERNEL);
	if (!before || !after) {
		ret = -ENOMEM;
		goto out_free;
	}

	iov_iter_kvec(&m.msg_iter, ITER_DEST, &vec, 1, len);
	m.msg_control_user = (void __user *)ctl;
	m.msg_control_is_user = true;
	m.msg_controllen = VFIO_USER_CTL_LEN;

	mutex_lock(&vfio_user_fd_lock);
	vfio_user_fd_snapshot(before, NULL);
	if (before->overflow) {
		/* Cannot tell new descriptors from old: take none. */
		mutex_unlock(&vfio_user_fd_lock);
		pr_err_ratelimited("kernel threads' file table is crowded; refusing files\n");
		iov_iter_kvec(&m.msg_iter, ITER_DEST, &vec, 1, len);
		m.msg_control_user = NULL;
		m.msg_control_is_user = false;
		m.msg_controllen = 0;
		ret = sock_recvmsg(sock, &m, MSG_DONTWAIT);
		rx->excess |= !!(m.msg_flags & MSG_CTRUNC);
		goto out_free;
	}
	/*
	 * No page fault under the lock: the control buffer is the writer's
	 * memory, and its threads could unmap it or hand its faults to a
	 * userfaultfd that never answers.  The page was faulted in writable
	 * and a fork does not write-protect it (a shared mapping, exchange.c); if
	 * the writer's threads took it away, the descriptors are dropped and
	 * this bind fails, nobody else's.
	 */
	pagefault_disable();
	ret = sock_recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	vfio_user_fd_snapshot(after, before);
	if (m.msg_flags & MSG_CTRUNC)
		rx->excess = true;
	/* The table says what arrived; user memory must not contradict it. */
	if (after->overflow ||
	    vfio_user_fd_read_ctl(ctl, VFIO_USER_CTL_LEN - m.msg_controllen,
				  named, &nr_named) || nr_named != after->nr)
		agree = false;
	pagefault_enable();
	for (i = 0; agree && i < nr_named; i++)
		agree = vfio_user_fd_snap_has(after, named[i]);

	for (i = 0; i < after->nr; i++) {
		struct file *file = file_close_fd(after->fds[i]);

		if (!file)
			continue;
		if (agree && file == after->files[i] && ret > 0 &&
		    rx->nr < rx->max) {
			rx->files[rx->nr++] = file;
		} else {
			rx->excess = true;
			fput(file);
		}
	}
	mutex_unlock(&vfio_user_fd_lock);
	if (!agree)
		rx->excess = true;
out_free:
	kfree(after);
	kfree(before);
	return ret;
}

/**
 * vfio_user_fd_put_all() - drop every file a receive collected
 * @rx: the receive state; its array is emptied
 */
void vfio_user_fd_put_all(struct vfio_user_fd_rx *rx)
{
	while (rx->nr) {
		fput(rx->files[--rx->nr]);
		rx->files[rx->nr] = NULL;
	}
}
