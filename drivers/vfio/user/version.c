// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user handshake: VERSION with its JSON capabilities (read by json.c),
 * then DEVICE_GET_INFO.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vfio.h>

#include "vfio_user_priv.h"

/* SCM_MAX_FD: more fds than this never fit in one message anyway. */
#define VFIO_USER_MAX_MSG_FDS_CAP	253

/* Our VERSION proposal's JSON, NUL included; returns its length. */
static size_t vfio_user_our_caps(char *buf, size_t size)
{
	size_t len;

	len = scnprintf(buf, size, "{\"capabilities\":{");
	len += scnprintf(buf + len, size - len, "\"max_msg_fds\":%u,",
			 VFIO_USER_OUR_MAX_MSG_FDS);
	len += scnprintf(buf + len, size - len, "\"max_data_xfer_size\":%u,",
			 VFIO_USER_OUR_MAX_DATA_XFER);
	len += scnprintf(buf + len, size - len, "\"pgsizes\":%u,",
			 VFIO_USER_DEFAULT_PGSIZES);
	len += scnprintf(buf + len, size - len, "\"max_dma_maps\":%u}}",
			 VFIO_USER_DEFAULT_MAX_DMA_MAPS);
	return len + 1;
}

/* What a server's capabilities mean for us, checked. */
static int vfio_user_check_caps(struct vfio_user_conn *conn,
				struct vfio_user_caps *caps)
{
	if (caps->twin_socket) {
		pr_err("%s: server offers a twin socket, which was not proposed\n",
		       conn->name);
		return -EPROTO;
	}
	if (caps->max_data_xfer_size < sizeof(u64)) {
		pr_err("%s: server's max_data_xfer_size %u is too small\n",
		       conn->name, caps->max_data_xfer_size);
		return -EPROTO;
	}
	if (!(caps->pgsizes & VFIO_USER_DEFAULT_PGSIZES)) {
		pr_err("%s: server's pgsizes 0x%llx lack 4 KiB pages\n",
		       conn->name, caps->pgsizes);
		return -EPROTO;
	}
	caps->max_data_xfer_size = min(caps->max_data_xfer_size,
				       VFIO_USER_MAX_DATA_XFER_CAP);
	caps->max_msg_fds = min(caps->max_msg_fds, VFIO_USER_MAX_MSG_FDS_CAP);
	return 0;
}

/**
 * vfio_user_negotiate() - the VERSION exchange
 * @conn: a freshly connected connection
 *
 * Proposes our version and capabilities, checks the server's answer and
 * stores the result in @conn->caps.  Widens the receive limit to carry data
 * transfers of the size we offered.
 *
 * Return: 0, -EPROTO with a dmesg line for a reply we cannot accept, or the
 * error of the exchange itself.
 */
int vfio_user_negotiate(struct vfio_user_conn *conn)
{
	size_t req_cap = sizeof(struct vfio_user_version) + 256;
	struct vfio_user_version *req, *reply;
	struct vfio_user_call call = {
		.cmd = VFIO_USER_VERSION,
		.reply_cap = VFIO_USER_MAX_CTRL_PAYLOAD,
		.killable = true,
	};
	struct vfio_user_caps caps;
	const char *json, *nul;
	size_t json_len;
	int ret;

	req = kzalloc(req_cap, GFP_KERNEL);
	reply = kzalloc(VFIO_USER_MAX_CTRL_PAYLOAD, GFP_KERNEL);
	if (!req || !reply) {
		ret = -ENOMEM;
		goto out;
	}
	req->major = VFIO_USER_MAJOR_VER;
	req->minor = VFIO_USER_MINOR_VER;
	call.req_len = sizeof(*req) +
		       vfio_user_our_caps(req->data, req_cap - sizeof(*req));
	call.req = req;
	call.reply = reply;

	ret = vfio_user_conn_call(conn, &call);
	if (ret) {
		/* A broken connection has said why already. */
		if (vfio_user_conn_usable(conn))
			pr_err("%s: VERSION refused: error %d\n", conn->name, ret);
		goto out;
	}

	ret = -EPROTO;
	if (call.reply_len < sizeof(*reply)) {
		pr_err("%s: VERSION reply of %zu bytes is too short\n", conn->name,
		       call.reply_len);
		goto out;
	}
	if (reply->major != VFIO_USER_MAJOR_VER ||
	    reply->minor > VFIO_USER_MINOR_VER) {
		pr_err("%s: server answers version %u.%u to our %u.%u\n",
		       conn->name, reply->major, reply->minor,
		       VFIO_USER_MAJOR_VER, VFIO_USER_MINOR_VER);
		goto out;
	}
	json = reply->data;
	json_len = call.reply_len - sizeof(*reply);
	nul = memchr(json, '\0', json_len);
	if (!nul) {
		pr_err("%s: VERSION capabilities are not NUL-terminated\n",
		       conn->name);
		goto out;
	}
	if (nul == json) {
		/* No JSON at all: every capability has its default. */
		ret = vfio_user_parse_caps("{}", 2, &caps);
	} else {
		ret = vfio_user_parse_caps(json, nul - json, &caps);
	}
	if (ret) {
		pr_err("%s: malformed VERSION capabilities JSON\n", conn->name);
		goto out;
	}
	ret = vfio_user_check_caps(conn, &caps);
	if (ret)
		goto out;

	caps.major = reply->major;
	caps.minor = reply->minor;
	conn->caps = caps;
	/* Region reads and DMA writes carry up to what we offered. */
	WRITE_ONCE(conn->max_rx_payload,
		   max_t(size_t, VFIO_USER_MAX_CTRL_PAYLOAD,
			 VFIO_USER_OUR_MAX_DATA_XFER +
			 sizeof(struct vfio_user_region_access)));
out:
	kfree(req);
	kfree(reply);
	return ret;
}

/**
 * vfio_user_get_device_info() - DEVICE_GET_INFO, checked
 * @conn: a negotiated connection
 * @info: the validated answer
 *
 * Only PCI devices with at least the regions and IRQ indexes vfio-pci has
 * (what QEMU, Cloud Hypervisor and crosvm require) are accepted.
 *
 * Return: 0, -EOPNOTSUPP for a device that is not PCI, -EPROTO for counts
 * out of bounds, or the error of the exchange.
 */
int vfio_user_get_device_info(struct vfio_user_conn *conn,
			      struct vfio_user_device_info *info)
{
	struct vfio_user_device_info req = { .argsz = sizeof(req) };
	struct vfio_user_call call = {
		.cmd = VFIO_USER_DEVICE_GET_INFO,
		.req = &req,
		.req_len = sizeof(req),
		.reply = info,
		.reply_cap = sizeof(*info),
		.killable = true,
	};
	int ret;

	ret = vfio_user_conn_call(conn, &call);
	if (ret) {
		if (vfio_user_conn_usable(conn))
			pr_err("%s: DEVICE_GET_INFO refused: error %d\n",
			       conn->name, ret);
		return ret;
	}
	if (call.reply_len < sizeof(*info)) {
		pr_err("%s: DEVICE_GET_INFO reply of %zu bytes is too short\n",
		       conn->name, call.reply_len);
		return -EPROTO;
	}
	if (!(info->flags & VFIO_USER_DEVICE_FLAGS_PCI)) {
		pr_err("%s: device is not PCI (flags 0x%x); only PCI devices are supported\n",
		       conn->name, info->flags);
		return -EOPNOTSUPP;
	}
	if (info->num_regions < VFIO_PCI_CONFIG_REGION_INDEX + 1 ||
	    info->num_regions > VFIO_USER_MAX_REGIONS ||
	    info->num_irqs < VFIO_PCI_MSIX_IRQ_INDEX + 1 ||
	    info->num_irqs > VFIO_USER_MAX_IRQS) {
		pr_err("%s: device claims %u regions and %u IRQ indexes; a PCI device needs %u..%u and %u..%u\n",
		       conn->name, info->num_regions, info->num_irqs,
		       VFIO_PCI_CONFIG_REGION_INDEX + 1, VFIO_USER_MAX_REGIONS,
		       VFIO_PCI_MSIX_IRQ_INDEX + 1, VFIO_USER_MAX_IRQS);
		return -EPROTO;
	}
	info->flags &= VFIO_USER_DEVICE_FLAGS_PCI | VFIO_USER_DEVICE_FLAGS_RESET;
	info->argsz = sizeof(*info);
	return 0;
}
