// SPDX-License-Identifier: GPL-2.0
/*
 * Just enough JSON to check a client's VERSION capabilities.
 *
 * libvfio-user parses them with json-c and fails VERSION on bad JSON, so a
 * client that gets away with malformed JSON here would break against the
 * reference server.  We check: the text is one valid JSON value (RFC 8259
 * syntax, nesting bounded), it is an object, "capabilities" if present is an
 * object, and the numeric capabilities we know are non-negative integers.
 * Unknown keys are allowed, as the spec requires.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define MAX_DEPTH	32

static const char *value(const char *p, int depth);

static const char *ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static bool hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* @p at the opening quote; returns the byte after the closing one. */
static const char *string(const char *p)
{
	int i;

	for (p++; *p != '"'; p++) {
		if ((unsigned char)*p < 0x20)	/* includes the terminating NUL */
			return NULL;
		if (*p != '\\')
			continue;
		p++;
		if (*p == 'u') {
			for (i = 1; i <= 4; i++)
				if (!hex(p[i]))
					return NULL;
			p += 4;
		} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
			return NULL;
		}
	}
	return p + 1;
}

static const char *digits(const char *p)
{
	const char *start = p;

	while (*p >= '0' && *p <= '9')
		p++;
	return p == start ? NULL : p;
}

static const char *number(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (!(p = digits(p)))
		return NULL;
	if (*p == '.' && !(p = digits(p + 1)))
		return NULL;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		p = digits(p);
	}
	return p;
}

static const char *literal(const char *p, const char *word)
{
	size_t n = strlen(word);

	return strncmp(p, word, n) ? NULL : p + n;
}

/* Objects and arrays: @close is '}' or ']'. */
static const char *container(const char *p, char close, int depth)
{
	if (depth > MAX_DEPTH)
		return NULL;
	p = ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (close == '}') {
			if (*p != '"' || !(p = string(p)))
				return NULL;
			p = ws(p);
			if (*p++ != ':')
				return NULL;
		}
		p = value(p, depth + 1);
		if (!p)
			return NULL;
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
		p = ws(p);
	}
}

/* Skips one value and the whitespace around it; NULL if it is invalid. */
static const char *value(const char *p, int depth)
{
	p = ws(p);
	switch (*p) {
	case '{':	p = container(p, '}', depth); break;
	case '[':	p = container(p, ']', depth); break;
	case '"':	p = string(p); break;
	case 't':	p = literal(p, "true"); break;
	case 'f':	p = literal(p, "false"); break;
	case 'n':	p = literal(p, "null"); break;
	default:	p = number(p); break;
	}
	return p ? ws(p) : NULL;
}

/*
 * The value of member @key in the (already validated) object at @obj, or
 * NULL.  Keys are compared byte for byte: an escaped key never matches.
 */
static const char *member(const char *obj, const char *key)
{
	size_t n = strlen(key);
	const char *p = ws(obj + 1);

	while (*p == '"') {
		const char *name = p + 1, *end = string(p), *v;

		p = ws(end);
		v = ws(p + 1);			/* past ':' */
		if ((size_t)(end - name) == n + 1 && !strncmp(name, key, n))
			return v;
		p = value(v, 0);
		if (*p == ',')
			p = ws(p + 1);
	}
	return NULL;
}

/* @p at a validated value: is it a plain integer like 4096 (no sign,
 * fraction or exponent)? */
static bool unsigned_integer(const char *p)
{
	p = digits(p);
	return p && (*ws(p) == ',' || *ws(p) == '}');
}

bool vts_json_caps_valid(const char *json)
{
	static const char *const numeric[] = {
		"max_msg_fds", "max_data_xfer_size", "pgsizes", "max_dma_maps",
	};
	const char *obj = ws(json), *caps, *v;
	size_t i;

	if (*obj != '{' || !(v = value(obj, 0)) || *v)
		return false;
	caps = member(obj, "capabilities");
	if (!caps)
		return true;
	if (*caps != '{')
		return false;
	for (i = 0; i < sizeof(numeric) / sizeof(numeric[0]); i++) {
		v = member(caps, numeric[i]);
		if (v && !unsigned_integer(v))
			return false;
	}
	return true;
}

/*
 * Capability @key, a plain integer, of a VERSION JSON that vts_json_caps_valid()
 * accepted: true with *@val set if it is there.  Values beyond 64 bits
 * saturate (strtoull).
 */
bool vts_json_caps_u64(const char *json, const char *key, uint64_t *val)
{
	const char *caps = member(ws(json), "capabilities"), *v;

	if (!caps || *caps != '{' || !(v = member(caps, key)) ||
	    !unsigned_integer(v))
		return false;
	*val = strtoull(v, NULL, 10);
	return true;
}
