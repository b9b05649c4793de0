// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user JSON: the capabilities object of a VERSION reply.
 *
 * The reader is strict about structure (one object, well-formed values,
 * the right type for every key it knows, nothing after the end) and
 * lenient about content (unknown keys are skipped whatever their value).
 * It never recurses deeper than VFIO_USER_JSON_MAX_DEPTH, and never reads
 * past the length it is given.  It touches nothing but its arguments, so
 * that KUnit (vfio_user_kunit.c) can feed it anything.
 */

#include <linux/ctype.h>
#include <linux/kernel.h>
#include <linux/overflow.h>
#include <linux/string.h>

#include "vfio_user_priv.h"

#define VFIO_USER_JSON_MAX_DEPTH	16

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

