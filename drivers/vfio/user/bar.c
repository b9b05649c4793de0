// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user BAR mappings: the server's region memory mapped into the VMM.
 *
 * A region whose server sent a memory-backed file (shmem: tmpfs, memfd,
 * shm) is mmap-able.  The VMM's mapping does not move onto the server's
 * file: it sits on a file made for this open of the device (fs.c), and
 * its pages are inserted at fault time from the server's page cache.  So
 * the driver can take every mapping back: VFIO_DEVICE_RESET zaps them all
 * with one unmap_mapping_range() (the next touch faults them in again),
 * and close_device, which removal waits for, zaps them for good: no
 * mapping of a closed device's file can fault again, and a later open
 * makes a new file.  A VMM that closed the device, or to which the device
 * no longer belongs, cannot keep reaching the server's memory.
 *
 * Only shmem is taken because its pages are found without waiting on
 * anyone: no FUSE daemon, no network, no block device the server controls
 * (fault handling for those would have the VMM's vCPU wait on the
 * server), and shmem has no ->page_mkwrite that writes through a mapping
 * of ours would bypass.  Every other file kind is refused at bind and its
 * region trapped (query.c).
 *
 * The pages are mapped with PFN entries (VM_PFNMAP) and held by a
 * reference of ours until the zap, not by the mapping itself: if the
 * server truncates its file, the page cache lets go of the pages while the
 * VMM's mapping still shows them, which a mapcount on a page no longer in
 * the page cache would turn into "Bad page cache" reports.  The VMM then
 * keeps the old contents, no longer shared with the server, until the next
 * zap; a page it never touched before the truncation is SIGBUS.  Pages are
 * marked dirty when they are let go, so none of the VMM's writes is lost to
 * reclaim.
 *
 * The checks do_mmap() would make on the server's file are made on it
 * here: its open mode, and its seals (a write-sealed memfd is never mapped
 * writable, and while the VMM may write, the server cannot add a write
 * seal).
 *
 * Locking: map->lock covers @open and the page table; faults take it under
 * the VMM's mmap_lock; the zap takes it and then i_mmap_rwsem (in
 * unmap_mapping_range()).  Nothing under it waits on the server.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fcntl.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/nospec.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/vfio_pci_core.h>

#include "compat.h"
#include "vfio_user_priv.h"

/* Pages mapped ahead on one fault. */
#define VFIO_USER_BAR_FAULT_AROUND	16

#define VFIO_USER_BAR_PGOFF_SHIFT	(VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT)
#define VFIO_USER_BAR_PGOFF_MASK	((1UL << VFIO_USER_BAR_PGOFF_SHIFT) - 1)

/**
 * struct vfio_user_bar_region - a mmap-able region, as the map needs it
 * @file: the server's shmem file (a reference of the map's own), or NULL
 * @file_pgoff: the region's first page in @file
 * @nr_pages: the region's size in pages
 * @writable: the region may be written
 */
struct vfio_user_bar_region {
	struct file *file;
	pgoff_t file_pgoff;
	pgoff_t nr_pages;
	bool writable;
};

/**
 * struct vfio_user_bar_map - the VMM's mappings of a device's regions
 * @lock: covers @open and @pages; see the locking notes above
 * @open: faults may map pages: the device is open
 * @pages: VMA page offset -> struct page, each with a reference of ours
 * @file: the file every VMM mapping sits on; this is its private_data, and
 *	it lives as long as that file
 * @nr_regions: entries of @regions
 * @regions: the device's regions
 */
struct vfio_user_bar_map {
	/* open and the page table; faults take it under the mmap_lock */
	struct mutex lock;
	bool open;
	struct xarray pages;
	struct file *file;
	u32 nr_regions;
	struct vfio_user_bar_region regions[];
};

static bool vfio_user_bar_may_write(const struct vm_area_struct *vma)
{
	return (vma->vm_flags & (VM_SHARED | VM_MAYWRITE)) ==
	       (VM_SHARED | VM_MAYWRITE);
}

/* The region a VMA maps; mmap checked that it lies inside one. */
static struct vfio_user_bar_region *
vfio_user_bar_region_of(struct vfio_user_bar_map *map, pgoff_t pgoff)
{
	unsigned long index = pgoff >> VFIO_USER_BAR_PGOFF_SHIFT;

	if (index >= map->nr_regions || !map->regions[index].file)
		return NULL;
	return &map->regions[array_index_nospec(index, map->nr_regions)];
}

/* The page at @pgoff of a VMA, taken from the server's file if need be. */
static struct page *vfio_user_bar_page(struct vfio_user_bar_map *map,
				       struct vfio_user_bar_region *region,
				       pgoff_t pgoff)
{
	pgoff_t off = pgoff & VFIO_USER_BAR_PGOFF_MASK;
	struct address_space *mapping;
	struct page *page;

	lockdep_assert_held(&map->lock);
	page = xa_load(&map->pages, pgoff);
	if (page)
		return page;
	if (off >= region->nr_pages)
		return ERR_PTR(-EFAULT);
	mapping = region->file->f_mapping;
	page = shmem_read_mapping_page_gfp(mapping, region->file_pgoff + off,
					   mapping_gfp_mask(mapping));
	if (IS_ERR(page))
		return page;
	if (xa_err(xa_store(&map->pages, pgoff, page, GFP_KERNEL))) {
		put_page(page);
		return ERR_PTR(-ENOMEM);
	}
	return page;
}

static vm_fault_t vfio_user_bar_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct vfio_user_bar_map *map = vma->vm_file->private_data;
	struct vfio_user_bar_region *region;
	unsigned long addr = vmf->address;
	pgoff_t pgoff = vmf->pgoff;
	vm_fault_t ret = VM_FAULT_SIGBUS;
	struct page *page;
	unsigned int i;

	mutex_lock(&map->lock);
	region = vfio_user_bar_region_of(map, pgoff);
	if (!map->open || !region)
		goto out;
	page = vfio_user_bar_page(map, region, pgoff);
	if (IS_ERR(page)) {
		ret = PTR_ERR(page) == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
		goto out;
	}
	ret = vmf_insert_pfn(vma, addr, page_to_pfn(page));

	/* Map ahead; only the faulting page must work. */
	for (i = 1; i < VFIO_USER_BAR_FAULT_AROUND; i++) {
		addr += PAGE_SIZE;
		pgoff++;
		if (addr >= vma->vm_end)
			break;
		page = vfio_user_bar_page(map, region, pgoff);
		if (IS_ERR(page))
			break;
		vmf_insert_pfn(vma, addr, page_to_pfn(page));
	}
out:
	mutex_unlock(&map->lock);
	return ret;
}

/*
 * While the VMM may write to the server's file, the file must stay
 * writable: as for a mapping of the file itself, no write seal can be
 * added meanwhile.
 */
static void vfio_user_bar_vm_open(struct vm_area_struct *vma)
{
	struct vfio_user_bar_map *map = vma->vm_file->private_data;
	struct vfio_user_bar_region *region = vfio_user_bar_region_of(map, vma->vm_pgoff);

	/* mmap() took the count for the first VMA; this one is a copy. */
	if (region && vfio_user_bar_may_write(vma))
		mapping_allow_writable(region->file->f_mapping);
}

static void vfio_user_bar_vm_close(struct vm_area_struct *vma)
{
	struct vfio_user_bar_map *map = vma->vm_file->private_data;
	struct vfio_user_bar_region *region = vfio_user_bar_region_of(map, vma->vm_pgoff);

	if (region && vfio_user_bar_may_write(vma))
		mapping_unmap_writable(region->file->f_mapping);
}

static const struct vm_operations_struct vfio_user_bar_vm_ops = {
	.open = vfio_user_bar_vm_open,
	.close = vfio_user_bar_vm_close,
	.fault = vfio_user_bar_fault,
};

/**
 * vfio_user_bar_mmap() - map a region for the VMM
 * @map: the device's map, or NULL when no region is mmap-able
 * @vma: the VMM's mapping; its offset uses vfio-pci's encoding, and the
 *	caller checked it lies inside one region, within its sparse areas
 *	and permissions
 *
 * Return: 0, or -errno.
 */
int vfio_user_bar_mmap(struct vfio_user_bar_map *map,
		       struct vm_area_struct *vma)
{
	struct vfio_user_bar_region *region;
	struct file *file;

	if (!map)
		return -EINVAL;
	region = vfio_user_bar_region_of(map, vma->vm_pgoff);
	if (!region)
		return -EINVAL;
	file = region->file;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	/* Device memory holds no code. */
	if (vma->vm_flags & VM_EXEC)
		return -EACCES;
	if (!(file->f_mode & FMODE_READ))
		return -EACCES;
	if (!(file->f_mode & FMODE_WRITE) || !region->writable) {
		if (vma->vm_flags & VM_WRITE)
			return -EACCES;
		vm_flags_clear(vma, VM_MAYWRITE);
	}
	if (vfio_user_bar_may_write(vma)) {
		/* What a write seal of the server's memfd refuses, we refuse. */
		if (SHMEM_I(file_inode(file))->seals & F_SEAL_FUTURE_WRITE)
			return -EPERM;
		if (mapping_map_writable(file->f_mapping))
			return -EPERM;
	}

	vm_flags_clear(vma, VM_MAYEXEC);
	vm_flags_set(vma, VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_ops = &vfio_user_bar_vm_ops;
	vma_set_file(vma, map->file);
	return 0;
}

/* Let go of every page and every mapping of them; map->lock held. */
static void vfio_user_bar_zap_locked(struct vfio_user_bar_map *map)
{
	struct page *page;
	unsigned long idx;

	lockdep_assert_held(&map->lock);
	unmap_mapping_range(map->file->f_mapping, 0, 0, 1);
	xa_for_each(&map->pages, idx, page) {
		struct vfio_user_bar_region *region = vfio_user_bar_region_of(map, idx);

		/* A VMM's write is in the page only: keep reclaim from losing it. */
		if (region && region->writable)
			set_page_dirty_lock(page);
		put_page(page);
		xa_erase(&map->pages, idx);
	}
}

/**
 * vfio_user_bar_set_open() - allow or refuse faults, zapping every mapping
 * @map: the device's map, or NULL
 * @open: whether faults may map pages again afterwards
 *
 * Called as the device opens (true), after a reset (true: the VMM's next
 * touch faults in what the reset left) and by vfio_user_bar_destroy()
 * (false).  Returns with no VMM mapping left.
 */
void vfio_user_bar_set_open(struct vfio_user_bar_map *map, bool open)
{
	if (!map)
		return;
	mutex_lock(&map->lock);
	vfio_user_bar_zap_locked(map);
	map->open = open;
	mutex_unlock(&map->lock);
}

/* The last mapping and the device let go: nothing can fault any more. */
static int vfio_user_bar_release(struct inode *inode, struct file *file)
{
	struct vfio_user_bar_map *map = file->private_data;
	u32 i;

	xa_destroy(&map->pages);
	for (i = 0; i < map->nr_regions; i++)
		if (map->regions[i].file)
			fput(map->regions[i].file);
	mutex_destroy(&map->lock);
	kfree(map);
	vfio_user_fs_put();
	return 0;
}

static const struct file_operations vfio_user_bar_fops = {
	.owner = THIS_MODULE,
	.release = vfio_user_bar_release,
};

/**
 * vfio_user_bar_create() - the map for one open of the device
 * @udev: the device, being opened
 *
 * Return: the map, NULL when no region is mmap-able, or an ERR_PTR.
 */
struct vfio_user_bar_map *vfio_user_bar_create(struct vfio_user_dev *udev)
{
	u32 i, nr = udev->info.num_regions, mappable = 0;
	struct vfio_user_bar_map *map;
	struct file *file;

	for (i = 0; i < nr; i++)
		mappable += !!udev->regions[i].file;
	if (!mappable)
		return NULL;

	map = kzalloc(struct_size(map, regions, nr), GFP_KERNEL);
	if (!map)
		return ERR_PTR(-ENOMEM);
	map->nr_regions = nr;
	mutex_init(&map->lock);
	xa_init(&map->pages);
	for (i = 0; i < nr; i++) {
		struct vfio_user_region *r = &udev->regions[i];

		if (!r->file)
			continue;
		map->regions[i].file = get_file(r->file);
		map->regions[i].file_pgoff = r->file_offset >> PAGE_SHIFT;
		map->regions[i].nr_pages = r->size >> PAGE_SHIFT;
		map->regions[i].writable = r->flags & VFIO_REGION_INFO_FLAG_WRITE;
	}
	file = vfio_user_fs_file("[vfio-user-bar]", &vfio_user_bar_fops, map,
				 (loff_t)nr << VFIO_PCI_OFFSET_SHIFT);
	if (IS_ERR(file)) {
		for (i = 0; i < nr; i++)
			if (map->regions[i].file)
				fput(map->regions[i].file);
		kfree(map);
		return ERR_CAST(file);
	}
	map->file = file;
	return map;
}

/**
 * vfio_user_bar_destroy() - the device closes; its map lives on in mappings
 * @map: the map, or NULL
 *
 * Zaps every mapping and refuses every later fault; the map itself is
 * freed when the last VMA that still refers to its file is gone.
 */
void vfio_user_bar_destroy(struct vfio_user_bar_map *map)
{
	if (!map)
		return;
	vfio_user_bar_set_open(map, false);
	fput(map->file);
}
