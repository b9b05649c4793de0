// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for what vfio_user parses before it trusts anything: the
 * VERSION capabilities JSON (json.c) and the frame header (rx.c).
 *
 * Built into the module with CONFIG_VFIO_USER_KUNIT_TEST; the suites run
 * when the module loads (make check-debug reads their results from the
 * guest's log).  They cover every malformed document and header the
 * selftests send through a real socket, and what only a unit test can
 * reach: inputs cut at any length, embedded NULs, the exact depth and
 * integer limits, every flag bit.
 */

#include <kunit/test.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "vfio_user_priv.h"

/* ---- the capabilities JSON ---- */

struct vfio_user_json_case {
	const char *json;
	int ret;
};

/* Well-formed documents; the values are checked by the cases after. */
static const struct vfio_user_json_case vfio_user_json_good[] = {
	{ "{\"capabilities\":{}}", 0 },
	{ "{}", 0 },
	{ "{\"capabilities\":{\"max_msg_fds\":1,\"max_data_xfer_size\":4096}}", 0 },
	{ " {\n\t\"capabilities\" : { \"pgsizes\" : 4096 , \"max_dma_maps\" : 1 } }\n", 0 },
	{ "{\"capabilities\":{\"write_multiple\":true,\"migration\":{\"pgsize\":4096}}}", 0 },
	{ "{\"capabilities\":{\"twin_socket\":{\"supported\":false}}}", 0 },
	/* Unknown keys of every JSON type are skipped. */
	{ "{\"v\":\"x\\\"y\\u00e9\",\"capabilities\":{\"f\":[1,-2.5e3,{\"a\":[]},null,true]}}", 0 },
	{ "{\"capabilities\":{\"max_msg_fds\":4},\"more\":{\"deep\":{\"deeper\":[[[]]]}}}", 0 },
	/* Refused later by the handshake, for their values, not by the reader. */
	{ "{\"capabilities\":{\"max_data_xfer_size\":0}}", 0 },
	{ "{\"capabilities\":{\"pgsizes\":8192}}", 0 },
	{ "{\"capabilities\":{\"twin_socket\":{\"supported\":true,\"fd_index\":0}}}", 0 },
	/* Limits exactly: a u32 key at U32_MAX, pgsizes at U64_MAX. */
	{ "{\"capabilities\":{\"max_msg_fds\":4294967295}}", 0 },
	{ "{\"capabilities\":{\"pgsizes\":18446744073709551615}}", 0 },
	/* Sixteen levels deep is allowed (the top object is the first). */
	{ "{\"a\":[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]}", 0 },
	{ "{\"n\":[0,-0,0.5,1e3,1E+3,1e-3,-12.25e+10]}", 0 },
	{ "{\"\":{}}", 0 },
	{ "{\"s\":\"\\/\\b\\f\\n\\r\\t\\\\\\u0041\"}", 0 },
};

/* What the selftests send and more: every one must be refused. */
static const struct vfio_user_json_case vfio_user_json_bad[] = {
	{ "", -EPROTO },
	{ "{", -EPROTO },
	{ "[]", -EPROTO },
	{ "{\"capabilities\":[]}", -EPROTO },
	{ "{\"capabilities\":{\"max_msg_fds\":\"8\"}}", -EPROTO },
	{ "{\"capabilities\":{\"max_msg_fds\":-1}}", -EPROTO },
	{ "{\"capabilities\":{\"max_msg_fds\":1.5}}", -EPROTO },
	{ "{\"capabilities\":{\"max_msg_fds\":99999999999999999999999}}", -EPROTO },
	{ "{\"capabilities\":{\"write_multiple\":1}}", -EPROTO },
	{ "{\"capabilities\":{\"migration\":true}}", -EPROTO },
	{ "{\"capabilities\":{}} trailing", -EPROTO },
	{ "{\"capabilities\":{},}", -EPROTO },
	{ "{\"a\":\"unterminated}", -EPROTO },
	{ "{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}", -EPROTO },
	{ "{'capabilities':{}}", -EPROTO },
	{ "{\"a\":tru}", -EPROTO },
	/* Only a unit test gets these exactly. */
	{ "{\"capabilities\":{\"max_msg_fds\":4294967296}}", -EPROTO },
	{ "{\"capabilities\":{\"pgsizes\":18446744073709551616}}", -EPROTO },
	{ "{\"capabilities\":{\"max_msg_fds\":01}}", -EPROTO },
	{ "{\"capabilities\":{\"max_msg_fds\":1e3}}", -EPROTO },
	{ "{\"a\":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}", -EPROTO },
	{ "{\"n\":01}", -EPROTO },
	{ "{\"n\":.5}", -EPROTO },
	{ "{\"n\":1.}", -EPROTO },
	{ "{\"n\":1e}", -EPROTO },
	{ "{\"n\":-}", -EPROTO },
	{ "{\"s\":\"\\u12\"}", -EPROTO },
	{ "{\"s\":\"\\x\"}", -EPROTO },
	{ "{\"s\":\"a\nb\"}", -EPROTO },
	{ "{\"a\" 1}", -EPROTO },
	{ "{\"a\":1 \"b\":2}", -EPROTO },
	{ "{\"a\":[1,]}", -EPROTO },
	{ "{\"a\":nul}", -EPROTO },
	{ "{}{}", -EPROTO },
	{ "{\"capabilities\":{\"twin_socket\":{\"supported\":\"yes\"}}}", -EPROTO },
	{ "{\"capabilities\":{\"twin_socket\":{\"fd_index\":4294967296}}}", -EPROTO },
};

static void vfio_user_json_run(struct kunit *test,
			       const struct vfio_user_json_case *cases,
			       size_t n)
{
	struct vfio_user_caps caps;
	size_t i;

	for (i = 0; i < n; i++)
		KUNIT_EXPECT_EQ_MSG(test, cases[i].ret,
				    vfio_user_parse_caps(cases[i].json,
							 strlen(cases[i].json),
							 &caps),
				    "document %zu: %s", i, cases[i].json);
}

static void vfio_user_json_accepts_good(struct kunit *test)
{
	vfio_user_json_run(test, vfio_user_json_good,
			   ARRAY_SIZE(vfio_user_json_good));
}

static void vfio_user_json_refuses_bad(struct kunit *test)
{
	vfio_user_json_run(test, vfio_user_json_bad,
			   ARRAY_SIZE(vfio_user_json_bad));
}

static void vfio_user_json_values(struct kunit *test)
{
	static const char *const doc[] = {
		/* max_msg_fds twice: the last one counts. */
		"{\"capabilities\":{\"max_msg_fds\":3,\"pgsizes\":12288,\"max_msg_fds\":5}}",
		"{\"capabilities\":{\"max_data_xfer_size\":65536,\"max_dma_maps\":7}}",
		"{\"capabilities\":{\"migration\":{},\"write_multiple\":true}}",
	};
	struct vfio_user_caps caps;

	KUNIT_ASSERT_EQ(test, 0, vfio_user_parse_caps(doc[0], strlen(doc[0]), &caps));
	KUNIT_EXPECT_EQ(test, 5U, caps.max_msg_fds);
	KUNIT_EXPECT_EQ(test, 12288ULL, caps.pgsizes);
	KUNIT_EXPECT_FALSE(test, caps.migration);
	KUNIT_ASSERT_EQ(test, 0, vfio_user_parse_caps(doc[1], strlen(doc[1]), &caps));
	KUNIT_EXPECT_EQ(test, 65536U, caps.max_data_xfer_size);
	KUNIT_EXPECT_EQ(test, 7U, caps.max_dma_maps);
	KUNIT_ASSERT_EQ(test, 0, vfio_user_parse_caps(doc[2], strlen(doc[2]), &caps));
	KUNIT_EXPECT_TRUE(test, caps.migration);
	KUNIT_EXPECT_TRUE(test, caps.write_multiple);
	KUNIT_EXPECT_FALSE(test, caps.twin_socket);
}

static void vfio_user_json_defaults(struct kunit *test)
{
	struct vfio_user_caps caps;

	memset(&caps, 0xa5, sizeof(caps));
	KUNIT_ASSERT_EQ(test, 0, vfio_user_parse_caps("{}", 2, &caps));
	KUNIT_EXPECT_EQ(test, (u32)VFIO_USER_DEFAULT_MAX_MSG_FDS, caps.max_msg_fds);
	KUNIT_EXPECT_EQ(test, (u32)VFIO_USER_DEFAULT_MAX_DATA_XFER,
			caps.max_data_xfer_size);
	KUNIT_EXPECT_EQ(test, (u64)VFIO_USER_DEFAULT_PGSIZES, caps.pgsizes);
	KUNIT_EXPECT_EQ(test, (u32)VFIO_USER_DEFAULT_MAX_DMA_MAPS,
			caps.max_dma_maps);
	KUNIT_EXPECT_FALSE(test, caps.migration);
	KUNIT_EXPECT_FALSE(test, caps.write_multiple);
	KUNIT_EXPECT_FALSE(test, caps.twin_socket);
}

/*
 * Every prefix of a good document is refused, and is read no further than
 * its length: the prefix is copied to a buffer of exactly that size, so
 * KASAN would see a read past it.
 */
static void vfio_user_json_every_prefix(struct kunit *test)
{
	/* The longest good document: unknown keys of every type. */
	const char *doc = vfio_user_json_good[6].json;
	struct vfio_user_caps caps;
	size_t len = strlen(doc), n;
	char *buf;

	for (n = 0; n < len; n++) {
		buf = kunit_kmalloc(test, n ?: 1, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, buf);
		memcpy(buf, doc, n);
		KUNIT_EXPECT_EQ_MSG(test, -EPROTO,
				    vfio_user_parse_caps(buf, n, &caps),
				    "prefix of %zu bytes", n);
		kunit_kfree(test, buf);
	}
	KUNIT_EXPECT_EQ(test, 0, vfio_user_parse_caps(doc, len, &caps));
}

/* A NUL inside the given length is not the end of the document. */
static void vfio_user_json_embedded_nul(struct kunit *test)
{
	static const char doc[] = "{\"capabilities\":{}}\0{}";
	struct vfio_user_caps caps;

	KUNIT_EXPECT_EQ(test, -EPROTO,
			vfio_user_parse_caps(doc, sizeof(doc) - 1, &caps));
	KUNIT_EXPECT_EQ(test, 0, vfio_user_parse_caps(doc, strlen(doc), &caps));
}

/* Nesting far beyond the limit is refused without going deeper. */
static void vfio_user_json_deep(struct kunit *test)
{
	struct vfio_user_caps caps;
	size_t depth = 10000;
	char *doc;

	doc = kunit_kmalloc(test, 2 * depth + 8, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, doc);
	memcpy(doc, "{\"a\":", 5);
	memset(doc + 5, '[', depth);
	memset(doc + 5 + depth, ']', depth);
	memcpy(doc + 5 + 2 * depth, "}", 2);
	KUNIT_EXPECT_EQ(test, -EPROTO, vfio_user_parse_caps(doc, strlen(doc), &caps));
}

static struct kunit_case vfio_user_json_cases[] = {
	KUNIT_CASE(vfio_user_json_accepts_good),
	KUNIT_CASE(vfio_user_json_refuses_bad),
	KUNIT_CASE(vfio_user_json_values),
	KUNIT_CASE(vfio_user_json_defaults),
	KUNIT_CASE(vfio_user_json_every_prefix),
	KUNIT_CASE(vfio_user_json_embedded_nul),
	KUNIT_CASE(vfio_user_json_deep),
	{}
};

static struct kunit_suite vfio_user_json_suite = {
	.name = "vfio_user_json",
	.test_cases = vfio_user_json_cases,
};

/* ---- the frame header ---- */

#define VFIO_USER_KUNIT_LIMIT	4096

/* What vfio_user_frame_problem() says of a header of this size and flags. */
static const char *vfio_user_problem(u32 size, u32 flags, size_t *len)
{
	struct vfio_user_header hdr = {
		.msg_id = 7,
		.command = VFIO_USER_REGION_READ,
		.msg_size = size,
		.flags = flags,
	};

	return vfio_user_frame_problem(&hdr, VFIO_USER_KUNIT_LIMIT, len);
}

static void vfio_user_frame_sizes(struct kunit *test)
{
	const u32 hdr = sizeof(struct vfio_user_header);
	const u32 reply = VFIO_USER_F_TYPE_REPLY;
	size_t len = 12345;
	u32 size;

	for (size = 0; size < hdr; size++)
		KUNIT_EXPECT_NOT_NULL(test, vfio_user_problem(size, reply, &len));
	/* Nothing is set for a frame refused. */
	KUNIT_EXPECT_EQ(test, 12345UL, len);

	KUNIT_EXPECT_NULL(test, vfio_user_problem(hdr, reply, &len));
	KUNIT_EXPECT_EQ(test, 0UL, len);
	KUNIT_EXPECT_NULL(test, vfio_user_problem(hdr + VFIO_USER_KUNIT_LIMIT,
						  reply, &len));
	KUNIT_EXPECT_EQ(test, (size_t)VFIO_USER_KUNIT_LIMIT, len);
	KUNIT_EXPECT_NOT_NULL(test, vfio_user_problem(hdr + VFIO_USER_KUNIT_LIMIT + 1,
						      reply, &len));
	/* The hostile server's 4 GiB header. */
	KUNIT_EXPECT_NOT_NULL(test, vfio_user_problem(0xffffffff, reply, &len));
}

static void vfio_user_frame_flags(struct kunit *test)
{
	const u32 hdr = sizeof(struct vfio_user_header);
	const u32 reply = VFIO_USER_F_TYPE_REPLY;
	const char *why;
	u32 bit, type;
	size_t len;

	/* Every bit outside the known ones is refused, on either type. */
	for (bit = 0; bit < 32; bit++) {
		if (BIT(bit) & VFIO_USER_F_ALL)
			continue;
		KUNIT_EXPECT_NOT_NULL_MSG(test, vfio_user_problem(hdr, BIT(bit), &len),
					  "flag bit %u", bit);
		KUNIT_EXPECT_NOT_NULL_MSG(test,
					  vfio_user_problem(hdr, reply | BIT(bit), &len),
					  "flag bit %u on a reply", bit);
	}
	/* Only the command and reply types exist (0xf: the garbage mode's). */
	for (type = 0; type <= VFIO_USER_F_TYPE_MASK; type++) {
		why = vfio_user_problem(hdr, type, &len);
		if (type == VFIO_USER_F_TYPE_COMMAND || type == reply)
			KUNIT_EXPECT_NULL_MSG(test, why, "type %u", type);
		else
			KUNIT_EXPECT_NOT_NULL_MSG(test, why, "type %u", type);
	}
	/* No-reply is for commands; the error flag is fine on either. */
	KUNIT_EXPECT_NOT_NULL(test, vfio_user_problem(hdr, reply | VFIO_USER_F_NO_REPLY,
						      &len));
	KUNIT_EXPECT_NULL(test, vfio_user_problem(hdr, VFIO_USER_F_NO_REPLY, &len));
	KUNIT_EXPECT_NULL(test, vfio_user_problem(hdr, reply | VFIO_USER_F_ERROR, &len));
}

static struct kunit_case vfio_user_frame_cases[] = {
	KUNIT_CASE(vfio_user_frame_sizes),
	KUNIT_CASE(vfio_user_frame_flags),
	{}
};

static struct kunit_suite vfio_user_frame_suite = {
	.name = "vfio_user_frame",
	.test_cases = vfio_user_frame_cases,
};

kunit_test_suites(&vfio_user_json_suite, &vfio_user_frame_suite);
