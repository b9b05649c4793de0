// SPDX-License-Identifier: GPL-2.0
/*
 * vfu_client - minimal synchronous userspace vfio-user client.
 *
 * Receiving reads greedily into one buffer and parses messages in place, so
 * a small reply normally costs a single recvmsg().  SCM_RIGHTS fds are
 * delivered with the recvmsg() that reads the first byte of the sendmsg()
 * carrying them, and the kernel ends that recvmsg() right after it; so the
 * fds belong to the last message that starts in the bytes just read.  That
 * holds as long as the peer sends an fd-carrying message with a sendmsg()
 * of its own, which every vfio-user implementation does.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include "vfu_client.h"

#define HDR		sizeof(struct vfio_user_header)
#define RX_CAP		(2 * VFU_MAX_MSG)	/* a whole message always fits */

static void close_fds(int *fds, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int vfu_set_timeout(struct vfu_client *c, int timeout_ms)
{
	struct timeval tv = { 0, 0 };

	if (timeout_ms > 0) {
		tv.tv_sec = timeout_ms / 1000;
		tv.tv_usec = (timeout_ms % 1000) * 1000;
	}
	c->timeout_ms = timeout_ms;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

int vfu_connect(struct vfu_client *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int err;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	c->max_data_xfer = VFIO_USER_DEFAULT_MAX_DATA_XFER;
	c->rx = malloc(RX_CAP);
	if (!c->rx)
		return -ENOMEM;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 ||
	    connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		vfu_disconnect(c);
		return err;
	}
	return vfu_set_timeout(c, VFU_DEFAULT_TIMEOUT_MS);
}

void vfu_disconnect(struct vfu_client *c)
{
	unsigned int i;

	if (c->fd >= 0)
		close(c->fd);
	for (i = 0; i < c->npending; i++)
		close(c->pending[i].fd);
	free(c->rx);
	c->rx = NULL;
	c->fd = -1;
	c->npending = 0;
}

void vfu_msg_close_fds(struct vfu_msg *m)
{
	close_fds(m->fds, m->nfds);
	m->nfds = 0;
}

/* ---- sending ---- */

static int send_iov(struct vfu_client *c, struct iovec *iov, int iovcnt,
		    const int *fds, unsigned int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VFU_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = iovcnt };
	ssize_t n;

	if (nfds > VFU_MAX_FDS)
		return -EINVAL;
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
	/* A blocking stream socket sends it all unless interrupted. */
	while (mh.msg_iovlen) {
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT :
			       errno == EPIPE ? -ECONNRESET : -errno;
		mh.msg_control = NULL;		/* fds went with byte 0 */
		mh.msg_controllen = 0;
		while (mh.msg_iovlen && (size_t)n >= mh.msg_iov->iov_len) {
			n -= mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen) {
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
			mh.msg_iov->iov_len -= n;
		}
	}
	return 0;
}

int vfu_send_raw(struct vfu_client *c, const void *buf, size_t len,
		 const int *fds, unsigned int nfds)
{
	struct iovec iov = { (void *)buf, len };

	return send_iov(c, &iov, 1, fds, nfds);
}

static struct vfio_user_header make_hdr(struct vfu_client *c, uint16_t cmd,
					uint32_t flags, size_t len)
{
	return (struct vfio_user_header){
		.msg_id = c->next_id++,
		.command = cmd,
		.msg_size = HDR + len,
		.flags = flags,
	};
}

int vfu_send_cmd(struct vfu_client *c, uint16_t cmd, uint32_t flags,
		 const void *payload, size_t len, const int *fds,
		 unsigned int nfds, uint16_t *id)
{
	struct vfio_user_header h = make_hdr(c, cmd, flags, len);
	struct iovec iov[2] = { { &h, HDR }, { (void *)payload, len } };

	if (id)
		*id = h.msg_id;
	return send_iov(c, iov, len ? 2 : 1, fds, nfds);
}

/* ---- receiving ---- */

/* Start of the last message beginning before @end (see the top comment). */
static size_t last_msg_start(const struct vfu_client *c, size_t end)
{
	size_t o = c->rx_start;

	while (o + HDR <= end) {
		const struct vfio_user_header *h = (const void *)(c->rx + o);

		if (h->msg_size < HDR || o + h->msg_size >= end)
			break;
		o += h->msg_size;
	}
	return o;
}

static void collect_fds(struct vfu_client *c, struct msghdr *mh, size_t end)
{
	size_t owner = last_msg_start(c, end);
	struct cmsghdr *cm;

	for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		unsigned int i, n;
		int fd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (c->npending == VFU_MAX_FDS) {
				close(fd);
				continue;
			}
			c->pending[c->npending].msg_off = owner;
			c->pending[c->npending++].fd = fd;
		}
	}
}

/* Make room for the rest of a message: keep unread bytes at the front. */
static void rx_compact(struct vfu_client *c)
{
	unsigned int i;

	if (c->rx_start == c->rx_end) {
		c->rx_start = c->rx_end = 0;
		return;
	}
	if (RX_CAP - c->rx_end >= VFU_MAX_MSG)
		return;
	memmove(c->rx, c->rx + c->rx_start, c->rx_end - c->rx_start);
	for (i = 0; i < c->npending; i++)
		c->pending[i].msg_off -= c->rx_start;
	c->rx_end -= c->rx_start;
	c->rx_start = 0;
}

static int rx_fill(struct vfu_client *c)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VFU_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	rx_compact(c);
	iov.iov_base = c->rx + c->rx_end;
	iov.iov_len = RX_CAP - c->rx_end;
	do {
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	if (n == 0)
		return -ECONNRESET;
	collect_fds(c, &mh, c->rx_end + n);
	c->rx_end += n;
	return 0;
}

/* Move the fds that came with the message at @off to @m. */
static void take_fds(struct vfu_client *c, size_t off, struct vfu_msg *m)
{
	unsigned int i, kept = 0;

	m->nfds = 0;
	for (i = 0; i < c->npending; i++) {
		if (c->pending[i].msg_off == off)
			m->fds[m->nfds++] = c->pending[i].fd;
		else
			c->pending[kept++] = c->pending[i];
	}
	c->npending = kept;
}

/*
 * Payloads hold u64 fields, but messages need not be multiples of 8 bytes
 * long: move unread bytes down to an 8-byte boundary before parsing.  Only
 * the already consumed message before them is overwritten.  Rare: after a
 * reply the buffer is normally empty and restarts at 0.
 */
static void rx_align(struct vfu_client *c)
{
	size_t shift = c->rx_start & 7;
	unsigned int i;

	if (!shift)
		return;
	memmove(c->rx + c->rx_start - shift, c->rx + c->rx_start,
		c->rx_end - c->rx_start);
	for (i = 0; i < c->npending; i++)
		c->pending[i].msg_off -= shift;
	c->rx_start -= shift;
	c->rx_end -= shift;
}

int vfu_recv_msg(struct vfu_client *c, struct vfu_msg *m)
{
	for (;;) {
		size_t avail = c->rx_end - c->rx_start;
		struct vfio_user_header *h;
		int err;

		rx_align(c);
		h = (void *)(c->rx + c->rx_start);
		if (avail >= HDR) {
			if (h->msg_size < HDR)
				return -EPROTO;
			if (h->msg_size > VFU_MAX_MSG)
				return -EMSGSIZE;
			if (avail >= h->msg_size) {
				m->hdr = *h;
				m->payload = h + 1;
				m->len = h->msg_size - HDR;
				take_fds(c, c->rx_start, m);
				c->rx_start += h->msg_size;
				return 0;
			}
		}
		err = rx_fill(c);
		if (err)
			return err;
	}
}

/* ---- the server's DMA requests ---- */

/* The registered region holding all of [iova, iova + count), or NULL. */
static const struct vfu_dma_region *dma_region(const struct vfu_client *c,
					       uint64_t iova, uint64_t count)
{
	unsigned int i;

	for (i = 0; i < c->nr_dma; i++) {
		const struct vfu_dma_region *r = &c->dma[i];

		if (iova >= r->iova && iova - r->iova < r->size &&
		    count <= r->size - (iova - r->iova))
			return r;
	}
	return NULL;
}

/*
 * Carry out request @m on our memory: 0, or the errno to refuse it with.
 * For a DMA_READ, *@data points at the bytes to send back.
 */
static uint32_t dma_access(struct vfu_client *c, const struct vfu_msg *m,
			   const void **data)
{
	const struct vfio_user_dma_access *req = m->payload;
	bool write = m->hdr.command == VFIO_USER_DMA_WRITE;
	const struct vfu_dma_region *r;
	uint8_t *p;

	if ((!write && m->hdr.command != VFIO_USER_DMA_READ) ||
	    m->len < sizeof(*req) || req->count > c->max_data_xfer ||
	    m->len != sizeof(*req) + (write ? req->count : 0))
		return EINVAL;
	if (c->dma_error)
		return c->dma_error;
	r = dma_region(c, req->address, req->count);
	if (!r)
		return EFAULT;
	if (!(r->flags & (write ? VFIO_USER_F_DMA_REGION_WRITE :
				  VFIO_USER_F_DMA_REGION_READ)))
		return EPERM;
	p = r->va + (req->address - r->iova);
	if (write)
		memcpy(p, req->data, req->count);
	else
		*data = p;
	return 0;
}

static void note_request(struct vfu_client *c, struct vfu_msg *m)
{
	const struct vfio_user_dma_access *req = m->payload;

	c->server_requests++;
	c->last_request = (struct vfu_request){
		.msg_id = m->hdr.msg_id, .command = m->hdr.command,
	};
	if (m->len >= sizeof(*req)) {
		c->last_request.address = req->address;
		c->last_request.count = req->count;
	}
	vfu_msg_close_fds(m);
}

/* Reply: header + access (+ the data, straight from our memory, for a
 * DMA_READ), or the header alone with the errno. */
static int answer_request(struct vfu_client *c, const struct vfu_msg *m)
{
	const struct vfio_user_dma_access *req = m->payload;
	struct {
		struct vfio_user_header h;
		struct vfio_user_dma_access a;
	} r = {
		.h = { .msg_id = m->hdr.msg_id, .command = m->hdr.command,
		       .msg_size = HDR, .flags = VFIO_USER_F_TYPE_REPLY },
	};
	const void *data = NULL;
	uint32_t err = dma_access(c, m, &data);
	struct iovec iov[2] = { { &r, HDR }, { (void *)data, 0 } };

	if (err) {
		c->dma_refused++;
		r.h.flags |= VFIO_USER_F_ERROR;
		r.h.error_reply = err;
	} else {
		c->dma_served++;
		r.a.address = req->address;
		r.a.count = req->count;
		iov[0].iov_len = sizeof(r);
		iov[1].iov_len = data ? req->count : 0;
		r.h.msg_size = sizeof(r) + iov[1].iov_len;
	}
	if (m->hdr.flags & VFIO_USER_F_NO_REPLY)
		return 0;
	return send_iov(c, iov, iov[1].iov_len ? 2 : 1, NULL, 0);
}

int vfu_serve_request(struct vfu_client *c, struct vfu_msg *m)
{
	note_request(c, m);
	return answer_request(c, m);
}

/* A request that came while we wait for something else. */
static int handle_server_request(struct vfu_client *c, struct vfu_msg *m)
{
	note_request(c, m);
	return c->answer_requests ? answer_request(c, m) : 0;
}

int vfu_dma_register(struct vfu_client *c, uint64_t iova, uint64_t size,
		     void *va, uint32_t flags)
{
	unsigned int i;

	if (!size || iova + size < iova)
		return -EINVAL;
	for (i = 0; i < c->nr_dma; i++)
		if (iova < c->dma[i].iova + c->dma[i].size &&
		    c->dma[i].iova < iova + size)
			return -EEXIST;
	if (c->nr_dma == VFU_MAX_DMA_REGIONS)
		return -ENOSPC;
	c->dma[c->nr_dma++] = (struct vfu_dma_region){
		.iova = iova, .size = size, .va = va, .flags = flags,
	};
	return 0;
}

int vfu_dma_unregister(struct vfu_client *c, uint64_t iova, uint64_t size)
{
	unsigned int i;

	for (i = 0; i < c->nr_dma; i++) {
		if (c->dma[i].iova != iova || c->dma[i].size != size)
			continue;
		c->dma[i] = c->dma[--c->nr_dma];
		return 0;
	}
	return -ENOENT;
}

int vfu_wait_reply(struct vfu_client *c, uint16_t id, uint16_t cmd,
		   struct vfu_msg *m)
{
	c->last_error_from_server = false;
	for (;;) {
		uint32_t type;
		int err = vfu_recv_msg(c, m);

		if (err)
			return err;
		type = m->hdr.flags & VFIO_USER_F_TYPE_MASK;
		if (type == VFIO_USER_F_TYPE_COMMAND &&
		    !(m->hdr.flags & ~VFIO_USER_F_ALL)) {
			err = handle_server_request(c, m);
			if (err)
				return err;
			continue;
		}
		if (type != VFIO_USER_F_TYPE_REPLY ||
		    (m->hdr.flags & ~VFIO_USER_F_ALL) ||
		    m->hdr.msg_id != id || m->hdr.command != cmd) {
			vfu_msg_close_fds(m);
			return -EPROTO;
		}
		if (!(m->hdr.flags & VFIO_USER_F_ERROR))
			return 0;
		vfu_msg_close_fds(m);
		c->last_error_from_server = true;
		return m->hdr.error_reply ? -(int)m->hdr.error_reply : -EIO;
	}
}

int vfu_cmd(struct vfu_client *c, uint16_t cmd, const void *req,
	    size_t req_len, const int *fds, unsigned int nfds,
	    void *reply, size_t reply_cap, size_t *reply_len,
	    int *rfds, unsigned int *rnfds)
{
	struct vfu_msg m;
	uint16_t id;
	int err;

	if (rnfds)
		*rnfds = 0;
	err = vfu_send_cmd(c, cmd, VFIO_USER_F_TYPE_COMMAND, req, req_len,
			   fds, nfds, &id);
	if (!err)
		err = vfu_wait_reply(c, id, cmd, &m);
	if (err)
		return err;
	if (m.nfds && !rfds) {
		vfu_msg_close_fds(&m);
		return -EPROTO;
	}
	if (m.len > reply_cap) {
		vfu_msg_close_fds(&m);
		return -EMSGSIZE;
	}
	if (reply && m.len)
		memcpy(reply, m.payload, m.len);
	if (reply_len)
		*reply_len = m.len;
	if (rfds) {
		memcpy(rfds, m.fds, m.nfds * sizeof(int));
		*rnfds = m.nfds;
	}
	return 0;
}

/* vfu_cmd() for fixed-size replies: anything else is a protocol error. */
static int cmd_fixed(struct vfu_client *c, uint16_t cmd, const void *req,
		     size_t req_len, void *reply, size_t reply_size)
{
	size_t len;
	int err;

	err = vfu_cmd(c, cmd, req, req_len, NULL, 0, reply, reply_size, &len,
		      NULL, NULL);
	if (!err && len != reply_size)
		err = -EPROTO;
	return err;
}

/* ---- typed commands ---- */

int vfu_version(struct vfu_client *c, uint16_t major, uint16_t minor,
		const char *json, uint16_t *rmajor, uint16_t *rminor,
		char *caps, size_t caps_cap)
{
	const size_t vsz = sizeof(struct vfio_user_version);
	size_t jlen = json ? strlen(json) + 1 : 0, len, n;
	uint8_t req[4096], rep[4096];
	struct vfio_user_version *v = (void *)req, *r = (void *)rep;
	int err;

	if (vsz + jlen > sizeof(req))
		return -EINVAL;
	v->major = major;
	v->minor = minor;
	if (jlen)
		memcpy(v->data, json, jlen);
	err = vfu_cmd(c, VFIO_USER_VERSION, req, vsz + jlen, NULL, 0,
		      rep, sizeof(rep), &len, NULL, NULL);
	if (err)
		return err;
	/* The reply's JSON, if any, must be one NUL-terminated string. */
	if (len < vsz || (len > vsz && rep[len - 1]))
		return -EPROTO;
	*rmajor = r->major;
	*rminor = r->minor;
	if (caps && caps_cap) {
		n = len - vsz < caps_cap ? len - vsz : caps_cap;
		memcpy(caps, r->data, n);
		caps[n ? n - 1 : 0] = '\0';
	}
	return 0;
}

int vfu_negotiate(struct vfu_client *c)
{
	int err = vfu_version(c, VFIO_USER_MAJOR_VER, VFIO_USER_MINOR_VER,
			      VFU_CLIENT_CAPS, &c->major, &c->minor, NULL, 0);

	if (!err && c->major != VFIO_USER_MAJOR_VER)
		err = -EPROTO;
	return err;
}

int vfu_device_get_info(struct vfu_client *c,
			struct vfio_user_device_info *info)
{
	struct vfio_user_device_info req = { .argsz = sizeof(req) };

	return cmd_fixed(c, VFIO_USER_DEVICE_GET_INFO, &req, sizeof(req),
			 info, sizeof(*info));
}

int vfu_region_info(struct vfu_client *c, uint32_t index, uint32_t argsz,
		    void *buf, int *fd)
{
	struct vfio_user_region_info req = { .argsz = argsz, .index = index };
	int fds[VFU_MAX_FDS];
	unsigned int nfds;
	size_t len;
	int err;

	*fd = -1;
	err = vfu_cmd(c, VFIO_USER_DEVICE_GET_REGION_INFO, &req, sizeof(req),
		      NULL, 0, buf, argsz, &len, fds, &nfds);
	if (err)
		return err;
	if (len < sizeof(req) || nfds > 1) {
		close_fds(fds, nfds);
		return -EPROTO;
	}
	if (nfds)
		*fd = fds[0];
	return 0;
}

int vfu_irq_info(struct vfu_client *c, uint32_t index,
		 struct vfio_user_irq_info *info)
{
	struct vfio_user_irq_info req = { .argsz = sizeof(req), .index = index };

	return cmd_fixed(c, VFIO_USER_DEVICE_GET_IRQ_INFO, &req, sizeof(req),
			 info, sizeof(*info));
}

int vfu_set_irqs(struct vfu_client *c, uint32_t flags, uint32_t index,
		 uint32_t start, uint32_t count, const void *data,
		 size_t data_len, const int *fds, unsigned int nfds)
{
	uint8_t req[sizeof(struct vfio_user_irq_set) + 256];
	struct vfio_user_irq_set *s = (void *)req;
	size_t len = sizeof(*s) + data_len;

	if (data_len > 256)
		return -EINVAL;
	*s = (struct vfio_user_irq_set){
		.argsz = len, .flags = flags, .index = index,
		.start = start, .count = count,
	};
	if (data_len)
		memcpy(s->data, data, data_len);
	return vfu_cmd(c, VFIO_USER_DEVICE_SET_IRQS, req, len, fds, nfds,
		       NULL, 0, NULL, NULL, NULL);
}

/*
 * The hot path: one sendmsg() of header + access + data, and one wait that
 * normally is a single recvmsg().
 */
static int region_write(struct vfu_client *c, uint32_t flags, uint32_t region,
			uint64_t offset, const void *buf, uint32_t count,
			uint16_t *id)
{
	struct {
		struct vfio_user_header h;
		struct vfio_user_region_access a;
	} req = {
		.h = make_hdr(c, VFIO_USER_REGION_WRITE, flags,
			      sizeof(req.a) + count),
		.a = { .offset = offset, .region = region, .count = count },
	};
	struct iovec iov[2] = { { &req, sizeof(req) }, { (void *)buf, count } };

	*id = req.h.msg_id;
	return send_iov(c, iov, count ? 2 : 1, NULL, 0);
}

int vfu_region_write(struct vfu_client *c, uint32_t region, uint64_t offset,
		     const void *buf, uint32_t count)
{
	const struct vfio_user_region_access *a;
	struct vfu_msg m;
	uint16_t id;
	int err;

	err = region_write(c, VFIO_USER_F_TYPE_COMMAND, region, offset, buf,
			   count, &id);
	if (!err)
		err = vfu_wait_reply(c, id, VFIO_USER_REGION_WRITE, &m);
	if (err)
		return err;
	a = m.payload;
	if (m.nfds || m.len != sizeof(*a) || a->count != count) {
		vfu_msg_close_fds(&m);
		return -EPROTO;
	}
	return 0;
}

int vfu_region_write_posted(struct vfu_client *c, uint32_t region,
			    uint64_t offset, const void *buf, uint32_t count)
{
	uint16_t id;

	return region_write(c, VFIO_USER_F_TYPE_COMMAND | VFIO_USER_F_NO_REPLY,
			    region, offset, buf, count, &id);
}

int vfu_region_read(struct vfu_client *c, uint32_t region, uint64_t offset,
		    void *buf, uint32_t count)
{
	struct {
		struct vfio_user_header h;
		struct vfio_user_region_access a;
	} req = {
		.h = make_hdr(c, VFIO_USER_REGION_READ, VFIO_USER_F_TYPE_COMMAND,
			      sizeof(req.a)),
		.a = { .offset = offset, .region = region, .count = count },
	};
	struct iovec iov = { &req, sizeof(req) };
	const struct vfio_user_region_access *a;
	struct vfu_msg m;
	int err;

	err = send_iov(c, &iov, 1, NULL, 0);
	if (!err)
		err = vfu_wait_reply(c, req.h.msg_id, VFIO_USER_REGION_READ, &m);
	if (err)
		return err;
	a = m.payload;
	if (m.nfds || m.len != sizeof(*a) + count || a->count != count) {
		vfu_msg_close_fds(&m);
		return -EPROTO;
	}
	memcpy(buf, a->data, count);
	return 0;
}

int vfu_read32(struct vfu_client *c, uint32_t region, uint64_t offset,
	       uint32_t *val)
{
	return vfu_region_read(c, region, offset, val, sizeof(*val));
}

int vfu_write32(struct vfu_client *c, uint32_t region, uint64_t offset,
		uint32_t val)
{
	return vfu_region_write(c, region, offset, &val, sizeof(val));
}

int vfu_dma_map(struct vfu_client *c, uint64_t iova, uint64_t size,
		uint64_t offset, uint32_t flags, int fd)
{
	struct vfio_user_dma_map req = {
		.argsz = sizeof(req), .flags = flags, .offset = offset,
		.address = iova, .size = size,
	};

	return vfu_cmd(c, VFIO_USER_DMA_MAP, &req, sizeof(req), &fd, fd >= 0,
		       NULL, 0, NULL, NULL, NULL);
}

int vfu_dma_unmap(struct vfu_client *c, uint64_t iova, uint64_t size,
		  uint32_t flags, struct vfio_user_dma_unmap *echo)
{
	struct vfio_user_dma_unmap req = {
		.argsz = sizeof(req), .flags = flags, .address = iova,
		.size = size,
	}, rep;

	return cmd_fixed(c, VFIO_USER_DMA_UNMAP, &req, sizeof(req),
			 echo ? echo : &rep, sizeof(rep));
}

int vfu_reset(struct vfu_client *c)
{
	return vfu_cmd(c, VFIO_USER_DEVICE_RESET, NULL, 0, NULL, 0, NULL, 0,
		       NULL, NULL, NULL);
}

/* Is a whole message already buffered?  Then poll() would not see it. */
static bool msg_buffered(const struct vfu_client *c)
{
	const struct vfio_user_header *h = (const void *)(c->rx + c->rx_start);
	size_t avail = c->rx_end - c->rx_start;

	return avail >= HDR && avail >= h->msg_size;
}

int vfu_poll_requests(struct vfu_client *c, int timeout_ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	struct vfu_msg m;
	int n = 0, err;

	for (;;) {
		if (!msg_buffered(c)) {
			err = poll(&p, 1, timeout_ms);
			if (err < 0 && errno == EINTR)
				continue;
			if (err <= 0)
				return err < 0 ? -errno : n;
		}
		err = vfu_recv_msg(c, &m);
		if (err)
			return err;
		if ((m.hdr.flags & VFIO_USER_F_TYPE_MASK) !=
		    VFIO_USER_F_TYPE_COMMAND) {
			vfu_msg_close_fds(&m);
			return -EPROTO;
		}
		err = handle_server_request(c, &m);
		if (err)
			return err;
		n++;
	}
}
