// SPDX-License-Identifier: GPL-2.0
/*
 * The test server's VERSION handshake, seen from a userspace vfio-user
 * client (lib/vfu_client): the reply, the capabilities sent as they are,
 * the client's JSON validated, VERSION first and only once.
 *
 * Needs no kernel driver; the fixture and helpers are in server_test.h.
 */
#include "server_test.h"

/* ======================= VERSION ======================= */

TEST_F(srv, version_default_reply)
{
	uint16_t major, minor;
	char caps[4096];

	START("--once");
	ASSERT_EQ(0, srv_connect(self));
	ASSERT_EQ(0, vfu_version(C, 0, 0, VFU_CLIENT_CAPS, &major, &minor,
				 caps, sizeof(caps)));
	EXPECT_EQ(0, major);
	EXPECT_EQ(0, minor);
	EXPECT_STREQ(TDEV_DEFAULT_CAPS, caps);
	ALIVE();
}

TEST_F(srv, version_minor_is_min_of_client_and_2)
{
	static const uint16_t offered[] = { 0, 1, 2, 3, 0xffff };
	static const uint16_t expected[] = { 0, 1, 2, 2, 2 };
	uint16_t major, minor;
	size_t i;

	START("--no-reset");
	for (i = 0; i < sizeof(offered) / sizeof(offered[0]); i++) {
		ASSERT_EQ(0, srv_connect(self));
		ASSERT_EQ(0, vfu_version(C, 0, offered[i], VFU_CLIENT_CAPS,
					 &major, &minor, NULL, 0));
		EXPECT_EQ(0, major);
		EXPECT_EQ(expected[i], minor);
	}
}

TEST_F(srv, version_override)
{
	uint16_t major, minor;

	START("--version", "1.7");
	ASSERT_EQ(0, srv_connect(self));
	ASSERT_EQ(0, vfu_version(C, 0, 0, VFU_CLIENT_CAPS, &major, &minor,
				 NULL, 0));
	EXPECT_EQ(1, major);
	EXPECT_EQ(7, minor);
	/* vfu_negotiate() insists on major 0, as a real client must. */
	ASSERT_EQ(0, srv_connect(self));
	EXPECT_EQ(-EPROTO, vfu_negotiate(C));
}

TEST_F(srv, caps_sent_verbatim_even_malformed)
{
	static const char bad[] =
		"{\"capabilities\":{\"max_msg_fds\":,\"frobnicate\":[1,2}";
	uint16_t major, minor;
	char caps[256];

	START("--caps", bad);
	ASSERT_EQ(0, srv_connect(self));
	ASSERT_EQ(0, vfu_version(C, 0, 0, NULL, &major, &minor, caps,
				 sizeof(caps)));
	EXPECT_STREQ(bad, caps);
}

TEST_F(srv, version_validates_client_json)
{
	static const char *const bad[] = {
		"{",
		"",
		"[]",
		"{\"capabilities\":5}",
		"{\"capabilities\":{\"max_msg_fds\":\"8\"}}",
		"{\"capabilities\":{\"pgsizes\":-4096}}",
		"{\"capabilities\":{\"max_dma_maps\":1.5}}",
		"{\"a\":1,}",
		"{\"a\":01}",
		"{\"a\":\"\\x\"}",
		"{\"a\":1} x",
	};
	static const char *const good[] = {
		"{}",
		" {\"capabilities\":{\"max_msg_fds\":16,\"unknown\":{\"x\":[true,"
		"false,null,-1.5e3,\"\\u00e9\"]}},\"vendor\":\"\"} ",
		VFU_CLIENT_CAPS,
	};
	uint16_t major, minor;
	size_t i;

	START("--no-reset");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(0, srv_connect(self));
		EXPECT_EQ(-EINVAL, vfu_version(C, 0, 0, bad[i], &major, &minor,
					       NULL, 0)) TH_LOG("json: %s", bad[i]);
		EXPECT_TRUE(C->last_error_from_server);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ASSERT_EQ(0, srv_connect(self));
		EXPECT_EQ(0, vfu_version(C, 0, 0, good[i], &major, &minor,
					 NULL, 0)) TH_LOG("json: %s", good[i]);
	}
	/* No JSON at all is fine (SPDK's client). */
	ASSERT_EQ(0, srv_connect(self));
	EXPECT_EQ(0, vfu_version(C, 0, 1, NULL, &major, &minor, NULL, 0));
}

TEST_F(srv, version_rejects_major_and_unterminated_json)
{
	struct { struct vfio_user_version v; char j[2]; } req = {
		.v = { 0, 0 }, .j = { '{', '}' },	/* no NUL */
	};
	uint16_t major, minor;
	struct vfu_msg m;

	START("--no-reset");
	ASSERT_EQ(0, srv_connect(self));
	EXPECT_EQ(-EINVAL, vfu_version(C, 1, 0, VFU_CLIENT_CAPS, &major,
				       &minor, NULL, 0));
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_VERSION, 0, &req, sizeof(req),
				   &m));
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_VERSION, 0, &req, 3, &m));
	/* A NUL in the middle: the JSON must fill the payload. */
	req.j[0] = '\0';
	EXPECT_EQ(-EINVAL, raw_cmd(C, VFIO_USER_VERSION, 0, &req, sizeof(req),
				   &m));
	/* After all that the connection still negotiates. */
	EXPECT_EQ(0, vfu_negotiate(C));
}

TEST_F(srv, version_first_and_only_once)
{
	struct vfio_user_device_info info;

	START("--no-reset");
	ASSERT_EQ(0, srv_connect(self));
	EXPECT_EQ(-EINVAL, vfu_device_get_info(C, &info));
	ASSERT_EQ(0, vfu_negotiate(C));
	EXPECT_EQ(-EINVAL, vfu_negotiate(C));
	EXPECT_EQ(0, vfu_device_get_info(C, &info));
}

TEST_HARNESS_MAIN
