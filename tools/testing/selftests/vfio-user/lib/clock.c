// SPDX-License-Identifier: GPL-2.0
/*
 * Time for the vfio-user selftests: the monotonic clock in milliseconds
 * (vu_now_ns(), the clock itself, is inline in vu_util.h), and the
 * environment knobs that scale bounds (VU_TIME_SCALE) and iteration counts
 * (VU_STRESS) for slower kernels and longer runs.
 */
#include "lib/vu_util.h"

/* The same value as ts.tv_sec * 1000 + ts.tv_nsec / 1000000. */
long long vu_now_ms(void)
{
	return vu_now_ns() / 1000000;
}

int vu_time_scale(void)
{
	const char *env = getenv("VU_TIME_SCALE");
	int scale = env ? atoi(env) : 1;

	return scale >= 1 && scale <= 100 ? scale : 1;
}

int vu_ms(int ms)
{
	return ms * vu_time_scale();
}

int vu_stress(int base)
{
	const char *env = getenv("VU_STRESS");
	int scale = env ? atoi(env) : 1;

	return base * (scale > 0 ? scale : 1);
}
