/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the vfio_user driver selftests include: the selftest library
 * (lib/vu_util.h and lib/: the test server, sysfs bind and unbind, the
 * VFIO paths, the leak counters, bounded children, the kernel log, fault
 * probing) and the bits that only make sense inside kselftest_harness.h's
 * tests.
 */
#ifndef VU_TEST_H
#define VU_TEST_H

#include "test_device.h"
#include "lib/vu_util.h"

#ifdef TH_LOG
/* Fail the test with a message, for checks that are not one comparison. */
#define VU_FAIL(fmt, ...) do {					\
	TH_LOG(fmt, ##__VA_ARGS__);				\
	_metadata->exit_code = KSFT_FAIL;			\
} while (0)
#endif

#endif /* VU_TEST_H */
