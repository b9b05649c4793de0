// SPDX-License-Identifier: GPL-2.0
/*
 * VERSION negotiation against servers with different capability sets:
 * what is accepted, what the device then reports, and the clear refusal
 * (EPROTO) of malformed or inconsistent answers.
 */
#include "kselftest_harness.h"
#include "test_device.h"
#include "vu_test.h"

/* Bind a server started with @args; returns the bind's result. */
static int bind_with(struct vu_server *srv, char *name, size_t size,
		     const char *const *args)
{
	int err = vu_server_startv(srv, args);

	if (err)
		return err;
	return vu_bind(srv->path, name, size);
}

/* Bind a server whose VERSION reply carries @json; returns the result. */
static int bind_caps(const char *json, char *name, size_t size)
{
	const char *args[] = { "--caps", json, NULL };
	struct vu_server srv;
	int err = bind_with(&srv, name, size, args);

	if (!err)
		vu_unbind(name);
	vu_server_stop(&srv);
	return err;
}

TEST(accepts_valid_capability_sets)
{
	static const char *const good[] = {
		"{\"capabilities\":{}}",
		"{}",
		"",	/* no JSON at all: every capability has its default */
		"{\"capabilities\":{\"max_msg_fds\":1,\"max_data_xfer_size\":4096}}",
		" {\n\t\"capabilities\" : { \"pgsizes\" : 4096 , \"max_dma_maps\" : 1 } }\n",
		"{\"capabilities\":{\"write_multiple\":true,\"migration\":{\"pgsize\":4096}}}",
		"{\"capabilities\":{\"twin_socket\":{\"supported\":false}}}",
		/* Unknown keys of every JSON type are skipped. */
		"{\"vendor\":\"x\\\"y\\u00e9\",\"capabilities\":{\"future\":[1,-2.5e3,{\"a\":[]},null,true],"
		"\"max_msg_fds\":4},\"more\":{\"deep\":{\"deeper\":[[[]]]}}}",
	};
	char name[32];
	unsigned int i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		EXPECT_EQ(0, bind_caps(good[i], name, sizeof(name)))
			TH_LOG("good caps #%u", i);
}

TEST(refuses_malformed_json)
{
	static const char *const bad[] = {
		"{",
		"[]",
		"{\"capabilities\":[]}",
		"{\"capabilities\":{\"max_msg_fds\":\"8\"}}",
		"{\"capabilities\":{\"max_msg_fds\":-1}}",
		"{\"capabilities\":{\"max_msg_fds\":1.5}}",
		"{\"capabilities\":{\"max_msg_fds\":99999999999999999999999}}",
		"{\"capabilities\":{\"max_data_xfer_size\":0}}",
		"{\"capabilities\":{\"pgsizes\":8192}}",
		"{\"capabilities\":{\"write_multiple\":1}}",
		"{\"capabilities\":{\"migration\":true}}",
		"{\"capabilities\":{\"twin_socket\":{\"supported\":true,\"fd_index\":0}}}",
		"{\"capabilities\":{}} trailing",
		"{\"capabilities\":{},}",
		"{\"a\":\"unterminated}",
		"{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}",
		"{'capabilities':{}}",
		"{\"a\":tru}",
	};
	char name[32];
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(-EPROTO, bind_caps(bad[i], name, sizeof(name)))
			TH_LOG("bad caps #%u", i);
}

/* What the device shows is what was negotiated. */
TEST(reports_negotiated_values)
{
	const char *args[] = { "--caps",
		"{\"capabilities\":{\"max_msg_fds\":3,\"max_data_xfer_size\":65536,"
		"\"pgsizes\":12288,\"max_dma_maps\":7,\"write_multiple\":true}}", NULL };
	struct vu_server srv;
	char name[32], buf[64];

	ASSERT_EQ(0, bind_with(&srv, name, sizeof(name), args));
	EXPECT_STREQ("3", vu_attr(name, "capabilities/max_msg_fds", buf, sizeof(buf)));
	EXPECT_STREQ("65536", vu_attr(name, "capabilities/max_data_xfer_size", buf, sizeof(buf)));
	EXPECT_STREQ("0x3000", vu_attr(name, "capabilities/pgsizes", buf, sizeof(buf)));
	EXPECT_STREQ("7", vu_attr(name, "capabilities/max_dma_maps", buf, sizeof(buf)));
	EXPECT_STREQ("1", vu_attr(name, "capabilities/write_multiple", buf, sizeof(buf)));
	EXPECT_STREQ("0", vu_attr(name, "capabilities/migration", buf, sizeof(buf)));
	EXPECT_EQ(0, vu_unbind(name));
	vu_server_stop(&srv);
}

/* A huge max_data_xfer_size is clamped to the driver's hard cap. */
TEST(clamps_max_data_xfer)
{
	const char *args[] = { "--caps",
		"{\"capabilities\":{\"max_data_xfer_size\":4294967295}}", NULL };
	struct vu_server srv;
	char name[32], buf[64];

	ASSERT_EQ(0, bind_with(&srv, name, sizeof(name), args));
	EXPECT_STREQ("67108864",
		     vu_attr(name, "capabilities/max_data_xfer_size", buf, sizeof(buf)));
	EXPECT_EQ(0, vu_unbind(name));
	vu_server_stop(&srv);
}

TEST(refuses_other_versions)
{
	static const char *const versions[] = { "1.0", "0.7" };
	struct vu_server srv;
	char name[32];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		const char *args[] = { "--version", versions[i], NULL };

		EXPECT_EQ(-EPROTO, bind_with(&srv, name, sizeof(name), args))
			TH_LOG("version %s", versions[i]);
		vu_server_stop(&srv);
	}
}

TEST(refuses_non_pci_device)
{
	const char *args[] = { "--not-pci", NULL };
	struct vu_server srv;
	char name[32];

	EXPECT_EQ(-EOPNOTSUPP, bind_with(&srv, name, sizeof(name), args));
	vu_server_stop(&srv);
}

/* RESET is offered to the VMM only when the server offers it. */
TEST(reset_flag_follows_server)
{
	const char *args[] = { "--no-reset", NULL };
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vu_server srv;
	struct vu_vfio v;
	char name[32];

	ASSERT_EQ(0, bind_with(&srv, name, sizeof(name), args));
	ASSERT_EQ(0, vu_vfio_open(name, &v));
	ASSERT_EQ(0, ioctl(v.device, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_TRUE(info.flags & VFIO_DEVICE_FLAGS_PCI);
	EXPECT_FALSE(info.flags & VFIO_DEVICE_FLAGS_RESET);
	EXPECT_EQ(TDEV_NUM_REGIONS, info.num_regions);
	EXPECT_EQ(TDEV_NUM_IRQS, info.num_irqs);
	vu_vfio_close(&v);
	EXPECT_EQ(0, vu_unbind(name));
	vu_server_stop(&srv);
}

TEST_HARNESS_MAIN
