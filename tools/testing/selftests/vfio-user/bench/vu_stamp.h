/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The stamp page shared by vu_bench and irq_stamp.so: the one definition
 * of its layout and of how the server finds it.
 *
 * vu_bench creates a file of VU_STAMP_PAGE_SIZE bytes per test server,
 * maps it, and names it in the server's environment (VU_STAMP_ENV).
 * irq_stamp.so, LD_PRELOADed into the server, maps the same file and, on
 * every eventfd_write(), stores CLOCK_MONOTONIC in ns first, then bumps
 * seq with release order, so a reader that sees the new seq (acquire)
 * sees its ns.  The plain-eventfd baseline stamps an anonymous shared page
 * of the same layout the same way.
 */
#ifndef VU_STAMP_H
#define VU_STAMP_H

#include <stdint.h>

#define VU_STAMP_ENV		"VU_BENCH_STAMP"
#define VU_STAMP_PAGE_SIZE	4096

struct vu_stamp {
	_Atomic uint64_t seq;
	_Atomic uint64_t ns;
};

#endif /* VU_STAMP_H */
