/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vfio_user - what differs between the kernels the driver builds for
 * (Debian 12's 6.1 and 6.12), in one place.  Every other file uses the
 * newest kernel's names; this header maps them onto older kernels.
 */
#ifndef VFIO_USER_COMPAT_H
#define VFIO_USER_COMPAT_H

#include <linux/file.h>
#include <linux/mm.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
/* 6.3 made vm_flags read-only outside these helpers. */
static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct vm_area_struct *vma,
				  vm_flags_t flags)
{
	vma->vm_flags &= ~flags;
}
#endif

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 8, 0)
/* Renamed from close_fd_get_file() in 6.8; same semantics. */
static inline struct file *file_close_fd(unsigned int fd)
{
	return close_fd_get_file(fd);
}
#endif

#endif /* VFIO_USER_COMPAT_H */
