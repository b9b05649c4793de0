/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vfio_user - what differs between the kernels the driver builds for
 * (Debian 12's 6.1 and 6.12), in one place.  Every other file uses the
 * newest kernel's names; this header maps them onto older kernels.
 */
#ifndef VFIO_USER_COMPAT_H
#define VFIO_USER_COMPAT_H

#include <linux/device/bus.h>
#include <linux/fdtable.h>
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

/* 6.4 made the driver core take its bus types const everywhere. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 4, 0)
#define vfio_user_bus_type	struct bus_type
#else
#define vfio_user_bus_type	const struct bus_type
#endif

/*
 * 6.10 dropped __assign_str()'s source argument: it is __string()'s.
 * Here a string field is always named after its source.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 10, 0)
#define vfio_user_assign_str(field)	__assign_str(field, field)
#else
#define vfio_user_assign_str(field)	__assign_str(field)
#endif

/* Per-VMA fault locks came with 6.5's release_fault_lock(). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)
static inline void release_fault_lock(struct vm_fault *vmf)
{
	mmap_read_unlock(vmf->vma->vm_mm);
}
#endif

/* 6.8 dropped eventfd_signal()'s count, which was always 1. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 8, 0)
#include <linux/eventfd.h>
#define eventfd_signal(ctx)	eventfd_signal(ctx, 1)
#endif

/*
 * iommufd's emulated-device ops: all four since 6.6.  Without them (6.1)
 * the device works through the type1 container only.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
#define VFIO_USER_HAVE_IOMMUFD_OPS	1
#define VFIO_USER_IOMMUFD_OPS					\
	.bind_iommufd = vfio_user_bind_iommufd,			\
	.unbind_iommufd = vfio_user_unbind_iommufd,		\
	.attach_ioas = vfio_iommufd_emulated_attach_ioas,	\
	.detach_ioas = vfio_iommufd_emulated_detach_ioas,
#else
#define VFIO_USER_IOMMUFD_OPS
#endif

/*
 * Before 6.2 every vfio_device driver had to free its device from
 * ops->release; vfio core has done it itself since.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
#include <linux/vfio.h>
static inline void vfio_user_compat_release(struct vfio_device *vdev)
{
	vfio_free_device(vdev);
}

#define VFIO_USER_RELEASE_OP	.release = vfio_user_compat_release,
#else
#define VFIO_USER_RELEASE_OP
#endif

#endif /* VFIO_USER_COMPAT_H */
