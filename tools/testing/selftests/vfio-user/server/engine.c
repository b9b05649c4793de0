// SPDX-License-Identifier: GPL-2.0
/*
 * The DMA engine: BAR0 0x40..0x7f, copying between guest memory and BAR2.
 *
 * What it does is specified in test_device.h; this is how.
 *
 * Zero-copy transfers are one memcpy() through the server's mmap of the
 * client's fd, done inside the REGION_WRITE that says GO.  The client's
 * kernel answers an IOVA it will not back with SIGBUS, so the copy runs
 * under a SIGBUS/SIGSEGV handler that jumps back here and fails the
 * transfer: a device that hits an IOMMU fault stops, it does not crash.
 *
 * Message transfers are a small state machine driven by the connection:
 * engine_pump() sends the next request once the previous one is answered
 * (the connection calls it after every message it handles, so the first
 * request follows GO's reply), and engine_on_reply() takes the answers,
 * both through vts_engine_ops.  One
 * request at a time is plenty to exercise a client and keeps a transfer's
 * state to one counter.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "server.h"

#define CTRL_KNOWN	(TDEV_DMA_CTRL_GO | TDEV_DMA_CTRL_DIR_TO_GUEST)

/* ---- faults during a zero-copy memcpy ---- */

static sigjmp_buf fault_jmp;
static volatile sig_atomic_t copying;

/*
 * During a DMA copy a fault is the client refusing an IOVA: back to
 * vts_engine_guarded_copy().  Anywhere else it is a bug of ours: die of it
 * exactly as without a handler (the signal stays blocked until we return,
 * then the default action kills us, with a core dump).
 */
static void on_fault(int sig)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	if (copying)
		siglongjmp(fault_jmp, 1);
	sigaction(sig, &dfl, NULL);
	raise(sig);
}

/* Process-wide, once: signal dispositions are not per connection. */
void vts_engine_setup_signals(void)
{
	struct sigaction sa = { .sa_handler = on_fault };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

/*
 * memcpy() that turns a fault into -EFAULT (--fuzz uses it too).
 * sigsetjmp() saves the signal mask so that the jump unblocks SIGBUS again
 * (the handler runs with it blocked); the fences keep the compiler from
 * moving the copy outside the window in which @copying is set.
 */
int vts_engine_guarded_copy(void *dst, const void *src, size_t len)
{
	if (sigsetjmp(fault_jmp, 1)) {
		copying = 0;
		return -EFAULT;
	}
	copying = 1;
	atomic_signal_fence(memory_order_seq_cst);
	memcpy(dst, src, len);
	atomic_signal_fence(memory_order_seq_cst);
	copying = 0;
	return 0;
}

/* ---- registers ---- */

void vts_engine_reset(struct vts_device *d)
{
	/* An outstanding request is forgotten: its reply will not match. */
	memset(&d->eng, 0, sizeof(d->eng));
}

uint32_t vts_engine_read(const struct vts_device *d, uint64_t reg)
{
	const struct vts_dma_engine *e = &d->eng;

	switch (reg) {
	case TDEV_REG_DMA_SRC_LO:	return e->src;
	case TDEV_REG_DMA_SRC_HI:	return e->src >> 32;
	case TDEV_REG_DMA_DST_LO:	return e->dst;
	case TDEV_REG_DMA_DST_HI:	return e->dst >> 32;
	case TDEV_REG_DMA_LEN:		return e->len;
	case TDEV_REG_DMA_CTRL:		return e->ctrl;
	case TDEV_REG_DMA_STATUS:	return e->status;
	case TDEV_REG_DMA_ERROR:	return e->error;
	case TDEV_REG_DMA_COUNT:	return e->count;
	case TDEV_REG_DMA_MODE_USED:	return e->mode_used;
	default:			return 0;
	}
}

/* @err: 0 for success, else a positive errno. */
static void finish(struct vts_dma_engine *e, uint32_t err)
{
	vts_log("dma %s %#x bytes, iova %#llx, BAR2 %#llx: %s\n",
		e->to_guest ? "to guest" : "to BAR2", e->xlen,
		(unsigned long long)e->iova, (unsigned long long)e->bar2_off,
		err ? strerror(err) : "done");
	e->inflight = 0;
	e->error = err;
	e->status = err ? TDEV_DMA_STATUS_ERROR : TDEV_DMA_STATUS_DONE;
	if (!err)
		e->count++;
}

/* Take the transfer from the registers; -EINVAL if it makes no sense. */
static int xfer_setup(struct vts_dma_engine *e, uint32_t ctrl)
{
	e->to_guest = ctrl & TDEV_DMA_CTRL_DIR_TO_GUEST;
	e->iova = e->to_guest ? e->dst : e->src;
	e->bar2_off = e->to_guest ? e->src : e->dst;
	e->xlen = e->len;
	e->done = 0;
	e->inflight = 0;
	if ((ctrl & ~CTRL_KNOWN) || !e->xlen || e->xlen > TDEV_BAR2_SIZE ||
	    e->bar2_off > TDEV_BAR2_SIZE - e->xlen ||
	    e->iova > UINT64_MAX - e->xlen)
		return -EINVAL;
	return 0;
}

/* What the guest memory must allow: READ to copy from it, WRITE into it. */
static uint32_t needed_flags(const struct vts_dma_engine *e)
{
	return e->to_guest ? VFIO_USER_F_DMA_REGION_WRITE :
			     VFIO_USER_F_DMA_REGION_READ;
}

static int copy_through_fd(struct vts_device *d, const struct vts_dma_map *m)
{
	struct vts_dma_engine *e = &d->eng;
	uint8_t *guest = (uint8_t *)m->va + (e->iova - m->iova);
	uint8_t *bar2 = d->bar2 + e->bar2_off;

	e->mode_used = TDEV_DMA_MODE_FD;
	if (e->to_guest)
		return vts_engine_guarded_copy(guest, bar2, e->xlen);
	return vts_engine_guarded_copy(bar2, guest, e->xlen);
}

/*
 * GO: pick the way to guest memory (test_device.h).  --dma-rogue asks for
 * no permission and, finding no entry, uses messages rather than failing.
 */
static void engine_go(struct vts_device *d, uint32_t ctrl)
{
	struct vts_dma_engine *e = &d->eng;
	const struct vts_dma_map *m;
	int err;

	e->error = 0;
	err = xfer_setup(e, ctrl);
	if (err) {
		finish(e, -err);
		return;
	}
	m = vts_dma_find(d, e->iova, e->xlen, vts_opt->dma_rogue ? 0 : needed_flags(e));
	if (!m && !vts_opt->dma_rogue) {
		finish(e, EFAULT);
		return;
	}
	if (m && m->va) {
		finish(e, -copy_through_fd(d, m));
		return;
	}
	/* By messages: engine_pump() sends the first request. */
	e->mode_used = TDEV_DMA_MODE_MSG;
	e->status = TDEV_DMA_STATUS_BUSY;
}

static void engine_ctrl(struct vts_device *d, uint32_t v)
{
	struct vts_dma_engine *e = &d->eng;

	if (e->status == TDEV_DMA_STATUS_BUSY)
		return;		/* one transfer at a time */
	e->ctrl = v & TDEV_DMA_CTRL_DIR_TO_GUEST;
	if (v & TDEV_DMA_CTRL_GO)
		engine_go(d, v);
}

/*
 * TDEV_REG_DMA_WRPROTECT: make the PTEs of our mappings of the client's
 * fds read-only and the mappings writable again, the way an allocator's
 * mprotect() or soft-dirty tracking does behind a device model's back.
 * Only the client's kernel sees the difference: the next write faults.
 */
static void engine_wrprotect(struct vts_device *d, uint32_t v)
{
	unsigned int i;
	int fd;

	if (v & TDEV_DMA_WRPROTECT_SOFT_DIRTY) {
		fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "4", 1) != 1)
			vts_log("clear_refs: %m\n");
		if (fd >= 0)
			close(fd);
	}
	if (!(v & TDEV_DMA_WRPROTECT_MPROTECT))
		return;
	for (i = 0; i < d->nr_dma; i++) {
		const struct vts_dma_map *m = &d->dma[i];
		int prot = 0;

		if (!m->va)
			continue;
		if (m->flags & VFIO_USER_F_DMA_REGION_READ)
			prot |= PROT_READ;
		if (m->flags & VFIO_USER_F_DMA_REGION_WRITE)
			prot |= PROT_WRITE;
		if (mprotect(m->va, m->size, PROT_READ) ||
		    mprotect(m->va, m->size, prot))
			vts_log("mprotect of dma map %#llx: %m\n",
				(unsigned long long)m->iova);
	}
}

static void set_lo(uint64_t *r, uint32_t v)
{
	*r = (*r & ~0xffffffffull) | v;
}

static void set_hi(uint64_t *r, uint32_t v)
{
	*r = (*r & 0xffffffffull) | (uint64_t)v << 32;
}

void vts_engine_write(struct vts_device *d, uint64_t reg, uint32_t v)
{
	struct vts_dma_engine *e = &d->eng;

	switch (reg) {
	case TDEV_REG_DMA_SRC_LO:	set_lo(&e->src, v); break;
	case TDEV_REG_DMA_SRC_HI:	set_hi(&e->src, v); break;
	case TDEV_REG_DMA_DST_LO:	set_lo(&e->dst, v); break;
	case TDEV_REG_DMA_DST_HI:	set_hi(&e->dst, v); break;
	case TDEV_REG_DMA_LEN:		e->len = v; break;
	case TDEV_REG_DMA_CTRL:		engine_ctrl(d, v); break;
	case TDEV_REG_DMA_WRPROTECT:	engine_wrprotect(d, v); break;
	}
}

/* ---- message mode ---- */

/* DMA_READ fetches guest memory into BAR2, DMA_WRITE stores BAR2 there. */
static uint16_t request_cmd(const struct vts_dma_engine *e)
{
	return e->to_guest ? VFIO_USER_DMA_WRITE : VFIO_USER_DMA_READ;
}

/* Send the request for the next @n bytes; it carries them for DMA_WRITE. */
static void send_request(struct vts_conn *c, uint32_t n)
{
	struct vts_dma_engine *e = &c->dev.eng;
	size_t data = e->to_guest ? n : 0;
	size_t size = VTS_HDR_SIZE + sizeof(struct vfio_user_dma_access) + data;
	struct vfio_user_header *h = malloc(size);
	struct vfio_user_dma_access *a = (void *)(h + 1);

	if (!h) {
		finish(e, ENOMEM);
		return;
	}
	*h = (struct vfio_user_header){
		.msg_id = c->req_id++,
		.command = request_cmd(e),
		.msg_size = size,
		.flags = VFIO_USER_F_TYPE_COMMAND,
	};
	a->address = e->iova + e->done;
	a->count = n;
	memcpy(a->data, c->dev.bar2 + e->bar2_off + e->done, data);
	e->req_id = h->msg_id;
	e->inflight = n;
	vts_log_msg("->", h, 0);
	vts_conn_emit(c, h, size, NULL, 0, VTS_EMIT_REQUEST);
	free(h);
}

/*
 * Move a BUSY transfer on: finish it, or send its next request if none is
 * awaiting a reply.  The table is checked for every request (not only at
 * GO) so that a DMA_UNMAP mid-transfer stops it, as it must.
 */
static void engine_pump(struct vts_conn *c)
{
	struct vts_dma_engine *e = &c->dev.eng;
	uint64_t iova;
	uint32_t n;

	if (c->dead || e->status != TDEV_DMA_STATUS_BUSY || e->inflight)
		return;
	if (e->done == e->xlen) {
		finish(e, 0);
		return;
	}
	n = e->xlen - e->done;
	if (n > c->max_xfer)
		n = c->max_xfer;
	iova = e->iova + e->done;
	if (!vts_opt->dma_rogue && !vts_dma_find(&c->dev, iova, n, needed_flags(e))) {
		finish(e, EFAULT);
		return;
	}
	send_request(c, n);
}

/* 0, or the errno that ends the transfer, for the reply to our request. */
static uint32_t check_reply(const struct vts_dma_engine *e,
			    const struct vfio_user_header *h,
			    const struct vfio_user_dma_access *a, size_t len)
{
	size_t data = e->to_guest ? 0 : e->inflight;

	if (h->flags & VFIO_USER_F_ERROR)
		return h->error_reply ? h->error_reply : EIO;
	if (len != sizeof(*a) + data || a->address != e->iova + e->done ||
	    a->count != e->inflight)
		return EPROTO;
	return 0;
}

/*
 * A reply from the client.  Not to our outstanding request (a late one
 * after DEVICE_RESET, or anything else): dropped, as all replies used to be.
 */
static void engine_on_reply(struct vts_conn *c,
			    const struct vfio_user_header *h,
			    const void *payload, size_t len)
{
	struct vts_dma_engine *e = &c->dev.eng;
	const struct vfio_user_dma_access *a = payload;
	uint32_t err;

	if (!e->inflight || h->msg_id != e->req_id ||
	    h->command != request_cmd(e))
		return;
	err = check_reply(e, h, a, len);
	if (err) {
		finish(e, err);
		return;
	}
	if (!e->to_guest)
		memcpy(c->dev.bar2 + e->bar2_off + e->done, a->data,
		       e->inflight);
	e->done += e->inflight;
	e->inflight = 0;
	engine_pump(c);
}

/* The engine's part in every connection. */
const struct vts_conn_ops vts_engine_ops = {
	.on_reply = engine_on_reply,
	.pump = engine_pump,
};
