// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user handshake: VERSION with its JSON capabilities, then
 * DEVICE_GET_INFO.
 *
 * The JSON reader is strict about structure (one object, well-formed
 * values, the right type for every key it knows, nothing after the end)
 * and lenient about content (unknown keys are skipped whatever their value).
 * It never recurses deeper than VFIO_USER_JSON_MAX_DEPTH.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vfio.h>

#include "vfio_user_priv.h"

#define VFIO_USER_JSON_MAX_DEPTH	16
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

struct vfio_user_json {
	const char *p;
	const char *end;
	unsigned int depth;
};

static void json_skip_ws(struct vfio_user_json *js)
{
	while (js->p < js->end &&
	       (*js->p == ' ' || *js->p == '\t' || *js->p == '\n' || *js->p == '\r'))
		js->p++;
}

/* Consume @ch after optional white space. */
static bool json_take(struct vfio_user_json *js, char ch)
{
	json_skip_ws(js);
	if (js->p < js->end && *js->p == ch) {
		js->p++;
		return true;
	}
	return false;
}

/* A string; @s and @len give its raw bytes between the quotes. */
static int json_string(struct vfio_user_json *js, const char **s, size_t *len)
{
	if (!json_take(js, '"'))
		return -EPROTO;
	*s = js->p;
	while (js->p < js->end && *js->p != '"') {
		unsigned char c = *js->p;

		if (c < 0x20)
			return -EPROTO;
		if (c == '\\') {
			js->p++;
			if (js->p >= js->end || !strchr("\"\\/bfnrtu", *js->p))
				return -EPROTO;
			if (*js->p == 'u') {
				int i;

				for (i = 1; i <= 4; i++)
					if (js->p + i >= js->end || !isxdigit(js->p[i]))
						return -EPROTO;
				js->p += 4;
			}
		}
		js->p++;
	}
	if (js->p >= js->end)
		return -EPROTO;
	*len = js->p - *s;
	js->p++;
	return 0;
}

/* A non-negative integer that fits in a u64: all the keys we read use. */
static int json_uint(struct vfio_user_json *js, u64 *val)
{
	u64 v = 0;

	json_skip_ws(js);
	if (js->p >= js->end || !isdigit(*js->p))
		return -EPROTO;
	if (*js->p == '0' && js->p + 1 < js->end && isdigit(js->p[1]))
		return -EPROTO;
	while (js->p < js->end && isdigit(*js->p)) {
		if (check_mul_overflow(v, 10, &v) ||
		    check_add_overflow(v, (u64)(*js->p - '0'), &v))
			return -EPROTO;
		js->p++;
	}
	/* A fraction or exponent is a number, but not one we can use. */
	if (js->p < js->end && strchr(".eE", *js->p))
		return -EPROTO;
	*val = v;
	return 0;
}

static int json_literal(struct vfio_user_json *js, const char *word)
{
	size_t len = strlen(word);

	json_skip_ws(js);
	if (js->end - js->p < len || memcmp(js->p, word, len))
		return -EPROTO;
	js->p += len;
	return 0;
}

static int json_bool(struct vfio_user_json *js, bool *val)
{
	if (!json_literal(js, "true")) {
		*val = true;
		return 0;
	}
	if (!json_literal(js, "false")) {
		*val = false;
		return 0;
	}
	return -EPROTO;
}

/* Any number per the JSON grammar, for values we skip. */
static int json_skip_number(struct vfio_user_json *js)
{
	const char *start;

	json_skip_ws(js);
	if (js->p < js->end && *js->p == '-')
		js->p++;
	start = js->p;
	while (js->p < js->end && isdigit(*js->p))
		js->p++;
	if (js->p == start || (*start == '0' && js->p - start > 1))
		return -EPROTO;
	if (js->p < js->end && *js->p == '.') {
		start = ++js->p;
		while (js->p < js->end && isdigit(*js->p))
			js->p++;
		if (js->p == start)
			return -EPROTO;
	}
	if (js->p < js->end && (*js->p == 'e' || *js->p == 'E')) {
		js->p++;
		if (js->p < js->end && (*js->p == '+' || *js->p == '-'))
			js->p++;
		start = js->p;
		while (js->p < js->end && isdigit(*js->p))
			js->p++;
		if (js->p == start)
			return -EPROTO;
	}
	return 0;
}

typedef int (*json_member_fn)(struct vfio_user_json *js, const char *key,
			      size_t key_len, void *ctx);

static int json_skip_value(struct vfio_user_json *js);

/* An object: calls @member for each key, which must consume the value. */
static int json_object(struct vfio_user_json *js, json_member_fn member,
		       void *ctx)
{
	const char *key;
	size_t key_len;
	int ret;

	if (++js->depth > VFIO_USER_JSON_MAX_DEPTH)
		return -EPROTO;
	if (!json_take(js, '{'))
		return -EPROTO;
	if (!json_take(js, '}')) {
		do {
			ret = json_string(js, &key, &key_len);
			if (ret)
				return ret;
			if (!json_take(js, ':'))
				return -EPROTO;
			ret = member ? member(js, key, key_len, ctx) :
				       json_skip_value(js);
			if (ret)
				return ret;
		} while (json_take(js, ','));
		if (!json_take(js, '}'))
			return -EPROTO;
	}
	js->depth--;
	return 0;
}

static int json_skip_array(struct vfio_user_json *js)
{
	int ret;

	if (++js->depth > VFIO_USER_JSON_MAX_DEPTH)
		return -EPROTO;
	if (!json_take(js, '['))
		return -EPROTO;
	if (!json_take(js, ']')) {
		do {
			ret = json_skip_value(js);
			if (ret)
				return ret;
		} while (json_take(js, ','));
		if (!json_take(js, ']'))
			return -EPROTO;
	}
	js->depth--;
	return 0;
}

static int json_skip_value(struct vfio_user_json *js)
{
	const char *s;
	size_t len;

	json_skip_ws(js);
	if (js->p >= js->end)
		return -EPROTO;
	switch (*js->p) {
	case '{':
		return json_object(js, NULL, NULL);
	case '[':
		return json_skip_array(js);
	case '"':
		return json_string(js, &s, &len);
	case 't':
		return json_literal(js, "true");
	case 'f':
		return json_literal(js, "false");
	case 'n':
		return json_literal(js, "null");
	default:
		return json_skip_number(js);
	}
}

static bool json_key_is(const char *key, size_t len, const char *name)
{
	return len == strlen(name) && !memcmp(key, name, len);
}

static int json_uint_max(struct vfio_user_json *js, u64 max, u64 *val)
{
	int ret = json_uint(js, val);

	if (!ret && *val > max)
		return -EPROTO;
	return ret;
}

static int json_twin_member(struct vfio_user_json *js, const char *key,
			    size_t len, void *ctx)
{
	struct vfio_user_caps *caps = ctx;
	u64 unused;

	if (json_key_is(key, len, "supported"))
		return json_bool(js, &caps->twin_socket);
	if (json_key_is(key, len, "fd_index"))
		return json_uint_max(js, U32_MAX, &unused);
	return json_skip_value(js);
}

static int json_caps_member(struct vfio_user_json *js, const char *key,
			    size_t len, void *ctx)
{
	struct vfio_user_caps *caps = ctx;
	u64 val;
	int ret;

	if (json_key_is(key, len, "max_msg_fds")) {
		ret = json_uint_max(js, U32_MAX, &val);
		caps->max_msg_fds = val;
	} else if (json_key_is(key, len, "max_data_xfer_size")) {
		ret = json_uint_max(js, U32_MAX, &val);
		caps->max_data_xfer_size = val;
	} else if (json_key_is(key, len, "pgsizes")) {
		ret = json_uint(js, &caps->pgsizes);
	} else if (json_key_is(key, len, "max_dma_maps")) {
		ret = json_uint_max(js, U32_MAX, &val);
		caps->max_dma_maps = val;
	} else if (json_key_is(key, len, "migration")) {
		caps->migration = true;
		ret = json_object(js, NULL, NULL);
	} else if (json_key_is(key, len, "twin_socket")) {
		ret = json_object(js, json_twin_member, caps);
	} else if (json_key_is(key, len, "write_multiple")) {
		ret = json_bool(js, &caps->write_multiple);
	} else {
		ret = json_skip_value(js);
	}
	return ret;
}

static int json_top_member(struct vfio_user_json *js, const char *key,
			   size_t len, void *ctx)
{
	if (json_key_is(key, len, "capabilities"))
		return json_object(js, json_caps_member, ctx);
	return json_skip_value(js);
}

/**
 * vfio_user_parse_caps() - read a VERSION capabilities object
 * @json: the JSON text (need not be NUL-terminated)
 * @len: its length
 * @caps: filled in; keys absent from @json get the spec's defaults
 *
 * Return: 0, or -EPROTO for anything that is not one well-formed JSON
 * object with the known keys of the right types.
 */
int vfio_user_parse_caps(const char *json, size_t len,
			 struct vfio_user_caps *caps)
{
	struct vfio_user_json js = { .p = json, .end = json + len };
	int ret;

	caps->max_msg_fds = VFIO_USER_DEFAULT_MAX_MSG_FDS;
	caps->max_data_xfer_size = VFIO_USER_DEFAULT_MAX_DATA_XFER;
	caps->pgsizes = VFIO_USER_DEFAULT_PGSIZES;
	caps->max_dma_maps = VFIO_USER_DEFAULT_MAX_DMA_MAPS;
	caps->migration = false;
	caps->twin_socket = false;
	caps->write_multiple = false;

	ret = json_object(&js, json_top_member, caps);
	if (ret)
		return ret;
	json_skip_ws(&js);
	return js.p == js.end ? 0 : -EPROTO;
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
