// SPDX-License-Identifier: GPL-2.0
/*
 * vfio-user commands: validation, decoding, replies.
 *
 * Every handler gets the payload of a complete message and checks it fully
 * before touching the device; anything malformed is an Error reply with
 * EINVAL (the client is under test, the server must survive it).  Unknown
 * commands get ENOSYS.  A handler returns 0 or -errno and writes its reply
 * payload at @out; a reply with the Error bit carries only the header, as
 * the spec requires.
 *
 * Commands, their replies and the client's replies (to the DMA engine's
 * requests, or --hostile's) pass through the parts plugged into the
 * connection (struct vts_conn_ops: the DMA engine, --hostile, --fuzz),
 * and after every message they get the chance to send more, e.g. the
 * engine its next request.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)	((a) < (b) ? (a) : (b))

struct handler_args {
	struct vts_conn *c;
	void *req;		/* payload, after the header */
	size_t len;		/* its size */
	int *fds;		/* received fds; set consumed ones to -1 */
	unsigned int nfds;
	void *out;		/* reply payload buffer, VTS_MAX_MSG_SIZE - VTS_HDR_SIZE */
	size_t out_len;
	int out_fd;		/* fd to attach to the reply, -1 for none */
};

typedef int (*handler_fn)(struct handler_args *a);

/* The VERSION JSON must be one NUL-terminated string filling the payload. */
static bool version_json_ok(const char *s, size_t len)
{
	return memchr(s, '\0', len) == s + len - 1 && vts_json_caps_valid(s);
}

/* The client's max_data_xfer_size sizes the DMA engine's requests; 0 would
 * allow none, so it means the default, as an absent one does. */
static uint32_t client_max_xfer(const char *json)
{
	uint64_t v;

	if (!json || !vts_json_caps_u64(json, "max_data_xfer_size", &v) || !v)
		return VFIO_USER_DEFAULT_MAX_DATA_XFER;
	return v < UINT32_MAX ? v : UINT32_MAX;
}

static int h_version(struct handler_args *a)
{
	const struct vfio_user_version *v = a->req;
	struct vfio_user_version *r = a->out;
	size_t caps_len = strlen(vts_opt->caps) + 1;

	if (a->c->negotiated || a->len < sizeof(*v) ||
	    v->major != VFIO_USER_MAJOR_VER)
		return -EINVAL;
	/* No JSON at all is allowed (SPDK's client sends none). */
	if (a->len > sizeof(*v) &&
	    !version_json_ok(v->data, a->len - sizeof(*v)))
		return -EINVAL;
	a->c->max_xfer = client_max_xfer(a->len > sizeof(*v) ? v->data : NULL);
	r->major = vts_opt->version_set ? vts_opt->major : VFIO_USER_MAJOR_VER;
	r->minor = vts_opt->version_set ? vts_opt->minor :
				      MIN(v->minor, TDEV_SERVER_MINOR);
	memcpy(r->data, vts_opt->caps, caps_len);
	a->out_len = sizeof(*r) + caps_len;
	a->c->negotiated = true;
	return 0;
}

static int h_device_get_info(struct handler_args *a)
{
	const struct vfio_user_device_info *in = a->req;
	struct vfio_user_device_info *r = a->out;

	if (a->len < sizeof(*in) || in->argsz < sizeof(*in))
		return -EINVAL;
	*r = (struct vfio_user_device_info){
		.argsz = sizeof(*r),
		.flags = (vts_opt->not_pci ? 0 : VFIO_USER_DEVICE_FLAGS_PCI) |
			 (vts_opt->no_reset ? 0 : VFIO_USER_DEVICE_FLAGS_RESET),
		.num_regions = TDEV_NUM_REGIONS,
		.num_irqs = TDEV_NUM_IRQS,
	};
	a->out_len = sizeof(*r);
	return 0;
}

static void put_bar2_sparse_cap(void *p)
{
	struct vfio_region_info_cap_sparse_mmap *cap = p;

	cap->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
	cap->header.version = 1;
	cap->header.next = 0;
	cap->nr_areas = TDEV_BAR2_NR_AREAS;
	cap->reserved = 0;
	cap->areas[0].offset = TDEV_BAR2_AREA0_OFFSET;
	cap->areas[0].size = TDEV_BAR2_AREA0_SIZE;
	cap->areas[1].offset = TDEV_BAR2_AREA1_OFFSET;
	cap->areas[1].size = TDEV_BAR2_AREA1_SIZE;
}

/*
 * Two-step protocol, as in libvfio-user and the VFIO ioctl: the reply's
 * argsz is the size needed; the capability chain, and with it the region's
 * fd, only come when the client's argsz has room for them.  FLAG_CAPS is
 * always reported for BAR2 (as vfio-pci does) so that a client knows to ask
 * again; cap_offset is 0 until the caps are really there.
 */
static int h_get_region_info(struct handler_args *a)
{
	const struct vfio_user_region_info *in = a->req;
	struct vfio_user_region_info *r = a->out;

	if (a->len < sizeof(*in) || in->argsz < sizeof(*in) ||
	    in->index >= TDEV_NUM_REGIONS)
		return -EINVAL;
	*r = (struct vfio_user_region_info){
		.argsz = sizeof(*r),
		.flags = vts_region_flags(in->index),
		.index = in->index,
		.size = vts_region_size(in->index),
	};
	a->out_len = sizeof(*r);
	if (in->index != VFIO_PCI_BAR2_REGION_INDEX)
		return 0;
	r->argsz = TDEV_BAR2_INFO_ARGSZ;
	r->offset = TDEV_BAR2_MMAP_OFFSET;
	if (in->argsz < r->argsz)
		return 0;
	r->cap_offset = sizeof(*r);
	put_bar2_sparse_cap(r + 1);
	a->out_len = r->argsz;
	a->out_fd = a->c->dev.bar2_fd;
	return 0;
}

static int h_get_irq_info(struct handler_args *a)
{
	const struct vfio_user_irq_info *in = a->req;
	struct vfio_user_irq_info *r = a->out;

	if (a->len < sizeof(*in) || in->argsz < sizeof(*in) ||
	    in->index >= TDEV_NUM_IRQS)
		return -EINVAL;
	*r = (struct vfio_user_irq_info){
		.argsz = sizeof(*r),
		.flags = vts_irq_info_flags(in->index),
		.index = in->index,
		.count = vts_irq_count(in->index),
	};
	a->out_len = sizeof(*r);
	return 0;
}

/*
 * TDEV_REG_BAD_FDS: every fd a command got that is not the file it should
 * be, counted before anything else looks at the message, whether or not
 * the command then succeeds: a client that checks one file and sends
 * another shows here even when the server would refuse the other.
 */
static void count_bad_fds(struct handler_args *a, const char *want)
{
	unsigned int i;

	for (i = 0; i < a->nfds; i++)
		if (a->fds[i] >= 0 && !vts_fd_target_is(a->fds[i], want))
			a->c->dev.bad_fds++;
}

/* argsz covers the bool array for DATA_BOOL only: eventfds are ancillary. */
static int h_set_irqs(struct handler_args *a)
{
	const struct vfio_user_irq_set *s = a->req;
	size_t data_len;

	count_bad_fds(a, "anon_inode:[eventfd]");

	if (a->len < sizeof(*s) || s->argsz != a->len)
		return -EINVAL;
	data_len = (s->flags & VFIO_IRQ_SET_DATA_BOOL) ? s->count : 0;
	if (a->len != sizeof(*s) + data_len)
		return -EINVAL;
	return vts_irq_set(&a->c->dev, s, s->data, a->fds, a->nfds);
}

static int h_region_read(struct handler_args *a)
{
	const struct vfio_user_region_access *in = a->req;
	struct vfio_user_region_access *r = a->out;
	int err;

	if (a->len != sizeof(*in) || in->count > TDEV_MAX_DATA_XFER)
		return -EINVAL;
	err = vts_region_access(&a->c->dev, in->region, in->offset, r->data,
				in->count, false);
	if (err)
		return err;
	r->offset = in->offset;
	r->region = in->region;
	r->count = in->count;
	a->out_len = sizeof(*r) + in->count;
	return 0;
}

static int h_region_write(struct handler_args *a)
{
	struct vfio_user_region_access *in = a->req;
	struct vfio_user_region_access *r = a->out;
	int err;

	if (a->len < sizeof(*in) || a->len - sizeof(*in) != in->count)
		return -EINVAL;
	err = vts_region_access(&a->c->dev, in->region, in->offset, in->data,
				in->count, true);
	if (err)
		return err;
	r->offset = in->offset;
	r->region = in->region;
	r->count = in->count;
	a->out_len = sizeof(*r);
	return 0;
}

static int h_dma_map(struct handler_args *a)
{
	const struct vfio_user_dma_map *m = a->req;
	int no_fd = -1;

	/* The vfio_user driver's zero-copy window (drivers/vfio/user/dma.c). */
	count_bad_fds(a, "vfio_user:[vfio-user-dma]");
	if (a->len != sizeof(*m) || m->argsz < sizeof(*m) || a->nfds > 1)
		return -EINVAL;
	return vts_dma_map(&a->c->dev, m, a->nfds ? &a->fds[0] : &no_fd);
}

/* The reply echoes the request (spec). */
static int h_dma_unmap(struct handler_args *a)
{
	const struct vfio_user_dma_unmap *u = a->req;
	int err;

	if (a->len != sizeof(*u) || u->argsz < sizeof(*u))
		return -EINVAL;
	err = vts_dma_unmap(&a->c->dev, u);
	if (err)
		return err;
	memcpy(a->out, u, sizeof(*u));
	a->out_len = sizeof(*u);
	return 0;
}

static int h_device_reset(struct handler_args *a)
{
	if (a->len || vts_opt->no_reset)
		return -EINVAL;
	vts_device_reset(&a->c->dev);
	a->c->dev.reset_count++;
	return 0;
}

static const struct {
	handler_fn fn;
	bool takes_fds;
	const char *name;
} handlers[VFIO_USER_MAX_COMMAND] = {
	[VFIO_USER_VERSION]		= { h_version, false, "VERSION" },
	[VFIO_USER_DMA_MAP]		= { h_dma_map, true, "DMA_MAP" },
	[VFIO_USER_DMA_UNMAP]		= { h_dma_unmap, false, "DMA_UNMAP" },
	[VFIO_USER_DEVICE_GET_INFO]	= { h_device_get_info, false,
					    "DEVICE_GET_INFO" },
	[VFIO_USER_DEVICE_GET_REGION_INFO] = { h_get_region_info, false,
					       "GET_REGION_INFO" },
	[VFIO_USER_DEVICE_GET_REGION_IO_FDS] = { NULL, false,
						 "GET_REGION_IO_FDS" },
	[VFIO_USER_DEVICE_GET_IRQ_INFO]	= { h_get_irq_info, false,
					    "GET_IRQ_INFO" },
	[VFIO_USER_DEVICE_SET_IRQS]	= { h_set_irqs, true, "SET_IRQS" },
	[VFIO_USER_REGION_READ]		= { h_region_read, false,
					    "REGION_READ" },
	[VFIO_USER_REGION_WRITE]	= { h_region_write, false,
					    "REGION_WRITE" },
	[VFIO_USER_DMA_READ]		= { NULL, false, "DMA_READ" },
	[VFIO_USER_DMA_WRITE]		= { NULL, false, "DMA_WRITE" },
	[VFIO_USER_DEVICE_RESET]	= { h_device_reset, false,
					    "DEVICE_RESET" },
	[VFIO_USER_REGION_WRITE_MULTI]	= { NULL, false,
					    "REGION_WRITE_MULTI" },
	[VFIO_USER_DEVICE_FEATURE]	= { NULL, false, "DEVICE_FEATURE" },
	[VFIO_USER_MIG_DATA_READ]	= { NULL, false, "MIG_DATA_READ" },
	[VFIO_USER_MIG_DATA_WRITE]	= { NULL, false, "MIG_DATA_WRITE" },
};

static const char *cmd_name(uint16_t cmd)
{
	if (cmd < ARRAY_SIZE(handlers) && handlers[cmd].name)
		return handlers[cmd].name;
	return "?";
}

/* A command by its name here ("DMA_MAP", "SET_IRQS"...), or -1. */
int vts_cmd_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(handlers); i++)
		if (handlers[i].name && !strcasecmp(name, handlers[i].name))
			return i;
	return -1;
}

void vts_log_msg(const char *dir, const struct vfio_user_header *h,
		 unsigned int nfds)
{
	if (!vts_opt->verbose)
		return;
	vts_log("%s id=%u cmd=%u(%s) size=%u flags=%#x err=%u fds=%u\n", dir,
		h->msg_id, h->command, cmd_name(h->command), h->msg_size,
		h->flags, h->error_reply, nfds);
}

static int dispatch(struct handler_args *a, const struct vfio_user_header *h)
{
	uint32_t allowed = VFIO_USER_F_TYPE_MASK | VFIO_USER_F_NO_REPLY;

	if ((h->flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_COMMAND ||
	    (h->flags & ~allowed) || a->c->rx_fds_lost)
		return -EINVAL;
	if (h->command >= ARRAY_SIZE(handlers) || !handlers[h->command].fn)
		return -ENOSYS;
	/* The spec makes VERSION the first message, and only the first. */
	if (!a->c->negotiated && h->command != VFIO_USER_VERSION)
		return -EINVAL;
	if (a->nfds && !handlers[h->command].takes_fds)
		return -EINVAL;
	return handlers[h->command].fn(a);
}

/* A command from the client: dispatch it and reply (or misbehave). */
static void handle_command(struct vts_conn *c, uint8_t *msg, size_t size,
			   int *fds, unsigned int nfds)
{
	struct vfio_user_header *h = (void *)msg, *r = (void *)c->reply;
	struct handler_args a = {
		.c = c, .req = msg + VTS_HDR_SIZE, .len = size - VTS_HDR_SIZE,
		.fds = fds, .nfds = nfds, .out = c->reply + VTS_HDR_SIZE,
		.out_fd = -1,
	};
	bool want_reply = !(h->flags & VFIO_USER_F_NO_REPLY);
	int err;

	c->ids_seen[h->msg_id / 8] |= 1u << (h->msg_id % 8);
	c->last_id = h->msg_id;
	if (want_reply && !vts_conn_on_command(c, h))
		return;
	err = dispatch(&a, h);
	if (err && vts_opt->verbose)
		vts_log("   -> error %d (%s)\n", -err, strerror(-err));
	if (!want_reply)
		return;

	*r = (struct vfio_user_header){
		.msg_id = h->msg_id,
		.command = h->command,
		.msg_size = VTS_HDR_SIZE + (err ? 0 : a.out_len),
		.flags = VFIO_USER_F_TYPE_REPLY | (err ? VFIO_USER_F_ERROR : 0),
		.error_reply = -err,
	};
	if (err)
		a.out_fd = -1;
	vts_log_msg("->", r, a.out_fd >= 0);
	/* As it is, or --hostile's or --fuzz's way. */
	vts_conn_send_reply(c, c->reply, r->msg_size, a.out_fd);
	vts_conn_replied(c, h, err);
}

/*
 * Handle one complete message.  fds not consumed are closed by the caller.
 */
void vts_proto_handle(struct vts_conn *c, uint8_t *msg, size_t size, int *fds,
		      unsigned int nfds)
{
	const struct vfio_user_header *h = (const void *)msg;

	vts_log_msg("<-", h, nfds);
	if ((h->flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_REPLY)
		vts_conn_on_reply(c, h, msg + VTS_HDR_SIZE,
				  size - VTS_HDR_SIZE);
	else
		handle_command(c, msg, size, fds, nfds);
	/* After the command's reply, so that GO's reply is not held back. */
	vts_conn_pump(c);
}
