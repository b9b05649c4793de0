// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user DMA: how the server reaches the VMM's memory.
 *
 * An emulated-IOMMU vfio_device never sees the VMM's VFIO_IOMMU_MAP_DMA,
 * so the VMM's IOVA map cannot be mirrored to the server.  Instead, when
 * the device is opened, one IOVA window (configurable, default the first
 * TiB) is announced with DMA_MAP and withdrawn with DMA_UNMAP on close.
 * Inside it, the kernel enforces the VMM's real mappings and permissions.
 *
 * Message mode: DMA_MAP carries no fd; the server sends DMA_READ and
 * DMA_WRITE, served with vfio_dma_rw() from the request worker (a kworker:
 * vfio_dma_rw() borrows the VMM's mm), only while the device is open.
 *
 * Zero-copy mode (the default when the server takes an fd): DMA_MAP
 * carries a file of ours (fs.c), the size of the window, sent from a
 * kernel thread's table (fds.c).  The server mmaps it; its first touch of
 * a page faults here, the VMM's page behind that IOVA is pinned with
 * vfio_pin_pages() (a batch of them where the next pages are not pinned
 * yet) and mapped into the server by PFN.  When the VMM unmaps IOVA with
 * pinned pages, type1 (or iommufd) calls our dma_unmap: every server
 * mapping of the range is zapped and the pages unpinned before it returns.
 * An IOVA the VMM has not mapped, or a write to one it mapped read-only,
 * gets SIGBUS in the server, as an IOMMU fault stops a device.
 *
 * The pages are mapped as PFNs (VM_PFNMAP) and held by the pin, not by
 * the mapping: vm_insert_page() refuses anonymous pages (most VMMs' RAM),
 * and a mapcount on a shmem page the VMM may truncate away would turn into
 * "Bad page cache" reports.  The pin keeps the page; the zap comes first.
 *
 * Removal is exact.  type1 retries dma_unmap while pages stay pinned and
 * BUG()s after ten tries, so a server must not fault a range in again
 * while type1 is still removing it; yet the VMM may map the same IOVA
 * again right after (a vIOMMU in strict mode does, within microseconds).
 * So dma_unmap marks the range as being removed until the unmapping task
 * returns to user space (task_work: by then type1 or iommufd is done with
 * the range), and a fault in a marked range waits for the mark to go
 * instead of pinning; then it pins what is mapped now, or gets SIGBUS
 * for what is not.  Only where no return to user space follows (a kernel
 * thread, an exiting task) does the mark lapse by time instead.
 *
 * Locking: udev->dma_rwsem (write) covers publishing and withdrawing the
 * window and the mode; serving a message and dma_unmap take it for read.
 * It is never held across a server round trip.  A window has two mutexes,
 * because pinning and unpinning take the VMM's mmap_lock (type1's
 * iommu->lock, then vaddr_get_pfns() or the locked_vm accounting) while a
 * fault arrives holding the server's:
 * - win->lock: pinning, unpinning, the removal marks and the window's
 *   life.  It nests inside dma_rwsem and type1's device_list_lock
 *   (dma_unmap), and outside iommu->lock, the VMM's mmap_lock and
 *   map_lock.  It is never taken under an mmap_lock: the fault handler
 *   drops the server's before it pins, and retries the fault.
 * - win->map_lock: the link between the pin table and the server's page
 *   tables.  A fault maps a page only under it, and only a live entry;
 *   unpinning kills the entries and zaps the server's mappings under it
 *   before the pages go.  It nests inside the server's mmap_lock and
 *   win->lock, outside i_mmap_rwsem, and nothing that pins or unpins is
 *   done under it.
 * So no task ever holds two mmap_locks, and a server that is also the VMM
 * cannot deadlock on its own fault.
 *
 * The window stays published (findable by dma_unmap) until it is fully
 * unpinned: a VMM thread unmapping while another closes the device finds
 * it, waits on win->lock for the close to finish unpinning, and returns
 * with nothing pinned.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/iommu.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/vfio.h>

#include "compat.h"
#include "vfio_user_priv.h"

/* Pages pinned and mapped ahead on one fault, where none is pinned yet. */
#define VFIO_USER_DMA_BATCH		16
/* How long a removal mark lasts where no task_work can end it. */
#define VFIO_USER_DMA_REMOVAL_MS	200
/* How long one wait of a fault for a removal lasts before it retries. */
#define VFIO_USER_DMA_REMOVAL_WAIT_MS	1000
/* The largest window a server is asked to take (libvfio-user's limit). */
#define VFIO_USER_DMA_MAX_WINDOW	(8ULL << 40)

/*
 * A pin table entry: the PFN, the IOMMU_READ/IOMMU_WRITE it was pinned
 * with, and DEAD once it is being unpinned (no fault may map it again).
 */
#define VFIO_USER_PIN_FLAG_BITS		3
#define VFIO_USER_PIN_DEAD		4
#define VFIO_USER_PIN_ENTRY(pfn, prot)	\
	xa_mk_value(((pfn) << VFIO_USER_PIN_FLAG_BITS) | (prot))
#define VFIO_USER_PIN_PFN(e)		(xa_to_value(e) >> VFIO_USER_PIN_FLAG_BITS)
#define VFIO_USER_PIN_PROT(e)		(xa_to_value(e) & 3)

/* Is @entry a pin a fault may map (there, and not being unpinned)? */
static bool vfio_user_pin_live(void *entry)
{
	return entry && !(xa_to_value(entry) & VFIO_USER_PIN_DEAD);
}

struct vfio_user_dma_window;

/**
 * struct vfio_user_dma_removal - an IOVA range the VMM is unmapping
 * @list: entry in the window's @removals, under win->lock
 * @start: first IOVA
 * @end: IOVA just past the range
 * @until: 0 while the unmapping task's task_work ends the mark; else the
 *	jiffies at which it lapses
 * @work: the task_work run when the unmapping task returns to user space
 * @win: the window; the mark holds a reference on its file
 */
struct vfio_user_dma_removal {
	struct list_head list;
	u64 start;
	u64 end;
	unsigned long until;
	struct callback_head work;
	struct vfio_user_dma_window *win;
};

/**
 * struct vfio_user_dma_window - the zero-copy file given to the server
 * @lock: pinning, unpinning, @removals; see the locking notes above
 * @map_lock: the server's mappings against @pins, and @failed_*; see the
 *	locking notes
 * @vdev: the open vfio_device pinning for us; NULL once closed (changes
 *	under both locks)
 * @iova: first IOVA of the window
 * @size: its size, page-aligned
 * @pin_batch: most pages one vfio_pin_pages() call takes: we unpin page
 *	by page, which type1 allows for any pin; iommufd unpins only exactly
 *	the range of one pin call (iommufd_access_unpin_pages()), so there a
 *	pin is one page
 * @pins: IOVA page number -> VFIO_USER_PIN_ENTRY()
 * @removals: ranges being unmapped by the VMM
 * @removal_gen: bumped whenever a removal mark goes
 * @removal_wait: where faults wait for @removal_gen to move
 * @failed_ipfn: the page a fault's pin last failed for
 * @failed_task: and the task whose fault it was (compared, never used)
 * @file: the file (this is its private_data); lives as long as the file
 * @stats: the device's counters, while open (as @vdev)
 */
struct vfio_user_dma_window {
	/* pins, unpins, removal marks, life; see the locking notes at the top */
	struct mutex lock;
	/* mapping into the server against the pin table; see the notes */
	struct mutex map_lock;
	struct vfio_device *vdev;
	u64 iova;
	u64 size;
	unsigned int pin_batch;
	struct xarray pins;
	struct list_head removals;
	unsigned long removal_gen;
	wait_queue_head_t removal_wait;
	unsigned long failed_ipfn;
	struct task_struct *failed_task;
	struct file *file;
	struct vfio_user_dma_stats *stats;
};

/* Is @iova in a range that is being removed?  win->lock held. */
static bool vfio_user_dma_removing(struct vfio_user_dma_window *win, u64 iova)
{
	struct vfio_user_dma_removal *r;

	lockdep_assert_held(&win->lock);
	list_for_each_entry(r, &win->removals, list)
		if (iova >= r->start && iova < r->end &&
		    (!r->until || time_before(jiffies, r->until)))
			return true;
	return false;
}

static void vfio_user_dma_removal_free(struct vfio_user_dma_removal *r)
{
	struct vfio_user_dma_window *win = r->win;

	lockdep_assert_held(&win->lock);
	list_del(&r->list);
	WRITE_ONCE(win->removal_gen, win->removal_gen + 1);
	wake_up_all(&win->removal_wait);
	kfree(r);
}

/* The unmapping task is back in user space: its unmap is complete. */
static void vfio_user_dma_removal_done(struct callback_head *work)
{
	struct vfio_user_dma_removal *r =
		container_of(work, struct vfio_user_dma_removal, work);
	struct vfio_user_dma_window *win = r->win;
	struct file *file = win->file;

	mutex_lock(&win->lock);
	vfio_user_dma_removal_free(r);
	mutex_unlock(&win->lock);
	fput(file);
}

/* Mark [start, end) as being removed by current; win->lock held. */
static void vfio_user_dma_mark_removal(struct vfio_user_dma_window *win,
				       u64 start, u64 end)
{
	struct vfio_user_dma_removal *r, *tmp;

	lockdep_assert_held(&win->lock);
	/* Marks that lapsed by time go now. */
	list_for_each_entry_safe(r, tmp, &win->removals, list)
		if (r->until && !time_before(jiffies, r->until))
			vfio_user_dma_removal_free(r);

	/* A few dozen bytes; failing here would leave type1 to BUG(). */
	r = kzalloc(sizeof(*r), GFP_KERNEL | __GFP_NOFAIL);
	r->start = start;
	r->end = end;
	r->win = win;
	list_add(&r->list, &win->removals);
	get_file(win->file);
	init_task_work(&r->work, vfio_user_dma_removal_done);
	if ((current->flags & PF_KTHREAD) ||
	    task_work_add(current, &r->work, TWA_RESUME)) {
		/* No return to user space follows: the mark lapses by time. */
		r->until = jiffies + msecs_to_jiffies(VFIO_USER_DMA_REMOVAL_MS);
		fput(win->file);
	}
}

/*
 * Zap the server's mappings of [start, end) and unpin it; win->lock held.
 * Under map_lock the entries die and the mappings go, so no fault maps a
 * page once its unpinning has begun; the unpinning itself (which takes
 * the VMM's mmap_lock) comes after map_lock is dropped.
 */
static void vfio_user_dma_release_range(struct vfio_user_dma_window *win,
					u64 start, u64 end)
{
	unsigned long first = start >> PAGE_SHIFT, last = (end - 1) >> PAGE_SHIFT;
	unsigned long idx;
	void *entry;

	lockdep_assert_held(&win->lock);
	mutex_lock(&win->map_lock);
	xa_for_each_range(&win->pins, idx, entry, first, last)
		/* Replacing an entry allocates nothing: it cannot fail. */
		xa_store(&win->pins, idx,
			 xa_mk_value(xa_to_value(entry) | VFIO_USER_PIN_DEAD),
			 GFP_KERNEL);
	unmap_mapping_range(win->file->f_mapping, start - win->iova,
			    end - start, 1);
	mutex_unlock(&win->map_lock);

	xa_for_each_range(&win->pins, idx, entry, first, last) {
		vfio_unpin_pages(win->vdev, (dma_addr_t)idx << PAGE_SHIFT, 1);
		xa_erase(&win->pins, idx);
		atomic64_dec(&win->stats->pinned);
	}
}

/* Remember that current's fault could not pin @ipfn: its retry is SIGBUS. */
static void vfio_user_dma_pin_failed(struct vfio_user_dma_window *win,
				     unsigned long ipfn)
{
	mutex_lock(&win->map_lock);
	win->failed_ipfn = ipfn;
	win->failed_task = current;
	mutex_unlock(&win->map_lock);
}

/*
 * Pin the page at @iova, and up to @max_n - 1 pages after it that are not
 * pinned or being removed, for @write or read; record them in the pin
 * table.  A failure is remembered for the retried fault.  win->lock held,
 * no mmap_lock.
 */
static void vfio_user_dma_pin_locked(struct vfio_user_dma_window *win,
				     u64 iova, unsigned int max_n, bool write)
{
	unsigned long ipfn = iova >> PAGE_SHIFT;
	struct page *pages[VFIO_USER_DMA_BATCH];
	int prot = IOMMU_READ | IOMMU_WRITE;
	unsigned int n, i;
	int pinned;

	lockdep_assert_held(&win->lock);
	if (!win->vdev) {
		vfio_user_dma_pin_failed(win, ipfn);
		return;
	}
	/* Pinned by a racing fault since we looked: the retry maps it. */
	if (xa_load(&win->pins, ipfn))
		return;

	for (n = 1; n < max_n && !xa_load(&win->pins, ipfn + n) &&
	     !vfio_user_dma_removing(win, iova + ((u64)n << PAGE_SHIFT)); n++)
		;
	pinned = vfio_pin_pages(win->vdev, iova, n, prot, pages);
	if (pinned != n && n > 1) {
		n = 1;
		pinned = vfio_pin_pages(win->vdev, iova, 1, prot, pages);
	}
	if (pinned == -EPERM && !write) {
		/* Mapped read-only by the VMM: so it stays for the server. */
		prot = IOMMU_READ;
		pinned = vfio_pin_pages(win->vdev, iova, 1, prot, pages);
	}
	if (pinned != n) {
		vfio_user_dma_pin_failed(win, ipfn);
		return;
	}

	mutex_lock(&win->map_lock);
	for (i = 0; i < n; i++) {
		void *entry = VFIO_USER_PIN_ENTRY(page_to_pfn(pages[i]), prot);

		if (xa_err(xa_store(&win->pins, ipfn + i, entry, GFP_KERNEL)))
			break;
		atomic64_inc(&win->stats->pinned);
	}
	if (i && win->failed_ipfn == ipfn)
		win->failed_task = NULL;
	mutex_unlock(&win->map_lock);
	/* Out of memory: give back what is not recorded. */
	for (; i < n; i++)
		vfio_unpin_pages(win->vdev, (dma_addr_t)(ipfn + i) << PAGE_SHIFT, 1);
	if (!xa_load(&win->pins, ipfn))
		vfio_user_dma_pin_failed(win, ipfn);
}

/*
 * Pin for a fault whose lock is dropped: wait while the range is being
 * removed (bounded; the fault is retried either way), then pin what the
 * VMM maps now.
 */
static void vfio_user_dma_fault_pin(struct vfio_user_dma_window *win,
				    u64 iova, unsigned int max_n, bool write)
{
	unsigned long gen;
	long left;

	for (;;) {
		mutex_lock(&win->lock);
		if (!vfio_user_dma_removing(win, iova)) {
			vfio_user_dma_pin_locked(win, iova, max_n, write);
			mutex_unlock(&win->lock);
			return;
		}
		gen = win->removal_gen;
		mutex_unlock(&win->lock);
		left = wait_event_killable_timeout(win->removal_wait,
						   READ_ONCE(win->removal_gen) != gen,
						   msecs_to_jiffies(VFIO_USER_DMA_REMOVAL_WAIT_MS));
		if (left <= 0)
			return;
	}
}

static pgprot_t vfio_user_dma_prot(struct vm_area_struct *vma, void *entry)
{
	return vm_get_page_prot(VFIO_USER_PIN_PROT(entry) & IOMMU_WRITE ?
				vma->vm_flags : vma->vm_flags & ~VM_WRITE);
}

/*
 * Map the faulting page if it is pinned, and the pinned pages after it
 * (a batch pinned them together); VM_FAULT_RETRY if it is not pinned yet,
 * SIGBUS if this task's last try to pin it failed.  map_lock held, and the
 * fault's lock.
 */
static vm_fault_t vfio_user_dma_map_locked(struct vfio_user_dma_window *win,
					   struct vm_fault *vmf, unsigned int max_n)
{
	struct vm_area_struct *vma = vmf->vma;
	u64 iova = win->iova + ((u64)vmf->pgoff << PAGE_SHIFT);
	unsigned long ipfn = iova >> PAGE_SHIFT;
	unsigned int i;
	void *entry;

	lockdep_assert_held(&win->map_lock);
	entry = xa_load(&win->pins, ipfn);
	if (!vfio_user_pin_live(entry)) {
		/* Only the retry of the fault whose pin failed: not a later one. */
		if ((vmf->flags & FAULT_FLAG_TRIED) &&
		    win->failed_ipfn == ipfn && win->failed_task == current) {
			win->failed_task = NULL;
			return VM_FAULT_SIGBUS;
		}
		return VM_FAULT_RETRY;
	}
	if ((vmf->flags & FAULT_FLAG_WRITE) &&
	    !(VFIO_USER_PIN_PROT(entry) & IOMMU_WRITE))
		return VM_FAULT_SIGBUS;

	/* Map ahead; only the faulting page must work. */
	for (i = 1; i < max_n; i++) {
		void *next = xa_load(&win->pins, ipfn + i);

		if (!vfio_user_pin_live(next))
			break;
		vmf_insert_pfn_prot(vma, vmf->address + i * PAGE_SIZE,
				    VFIO_USER_PIN_PFN(next),
				    vfio_user_dma_prot(vma, next));
	}
	return vmf_insert_pfn_prot(vma, vmf->address, VFIO_USER_PIN_PFN(entry),
				   vfio_user_dma_prot(vma, entry));
}

/*
 * A server touched the window.  A pinned page is mapped at once.  An
 * unpinned one is pinned with the fault lock (the server's mmap_lock or
 * VMA lock) dropped, and the fault retried: vfio_pin_pages() takes the
 * VMM's mmap_lock, and holding two mms' mmap_locks at once deadlocks when
 * the server is the VMM, and is a lockdep report either way.  A retried
 * fault whose pin failed gets SIGBUS: the VMM has not mapped that IOVA
 * (or not for writing), as for an IOMMU fault.  So does a fault that may
 * not drop its lock: only GUP does that, and GUP refuses VM_PFNMAP anyway.
 */
static vm_fault_t vfio_user_dma_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct file *file = vma->vm_file;
	struct vfio_user_dma_window *win = file->private_data;
	u64 off = (u64)vmf->pgoff << PAGE_SHIFT;
	bool write = vmf->flags & FAULT_FLAG_WRITE;
	unsigned int max_n;
	vm_fault_t ret;
	u64 iova;

	mutex_lock(&win->map_lock);
	if (!win->vdev || off >= win->size) {
		mutex_unlock(&win->map_lock);
		return VM_FAULT_SIGBUS;
	}
	atomic64_inc(&win->stats->faults);
	iova = win->iova + off;
	/* A batch stays inside this VMA and the window. */
	max_n = min3((u64)win->pin_batch,
		     (u64)((vma->vm_end - vmf->address) >> PAGE_SHIFT),
		     (win->size - off) >> PAGE_SHIFT);
	ret = vfio_user_dma_map_locked(win, vmf, max_n);
	mutex_unlock(&win->map_lock);
	if (ret != VM_FAULT_RETRY)
		return ret;

	if (!(vmf->flags & FAULT_FLAG_ALLOW_RETRY))
		return VM_FAULT_SIGBUS;
	/* The caller keeps its lock and will come back. */
	if (vmf->flags & FAULT_FLAG_RETRY_NOWAIT)
		return VM_FAULT_RETRY;

	/* The VMA may go once the lock is dropped; the window may not. */
	get_file(file);
	release_fault_lock(vmf);
	vfio_user_dma_fault_pin(win, iova, max_n, write);
	fput(file);
	return VM_FAULT_RETRY;
}

/*
 * A write to a page mapped read-only: after mprotect() or a soft-dirty
 * reset, a writable pin's entry can be write-protected.  It may be
 * written again exactly when the VMM mapped the IOVA writable.
 */
static vm_fault_t vfio_user_dma_pfn_mkwrite(struct vm_fault *vmf)
{
	struct vfio_user_dma_window *win = vmf->vma->vm_file->private_data;
	u64 ipfn = (win->iova >> PAGE_SHIFT) + vmf->pgoff;
	vm_fault_t ret;
	void *entry;

	mutex_lock(&win->map_lock);
	entry = xa_load(&win->pins, ipfn);
	if (!vfio_user_pin_live(entry))
		/* Being unpinned: its mapping is going; fault it anew. */
		ret = VM_FAULT_NOPAGE;
	else if (VFIO_USER_PIN_PROT(entry) & IOMMU_WRITE)
		ret = 0;
	else
		ret = VM_FAULT_SIGBUS;
	mutex_unlock(&win->map_lock);
	return ret;
}

static const struct vm_operations_struct vfio_user_dma_vm_ops = {
	.fault = vfio_user_dma_fault,
	.pfn_mkwrite = vfio_user_dma_pfn_mkwrite,
};

static int vfio_user_dma_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct vfio_user_dma_window *win = file->private_data;
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;
	u64 len = vma->vm_end - vma->vm_start;
	u64 end;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	/* Guest memory is data to a device, never code. */
	if (vma->vm_flags & VM_EXEC)
		return -EACCES;
	if (check_add_overflow(off, len, &end) || end > win->size)
		return -EINVAL;
	vm_flags_set(vma, VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP);
	vm_flags_clear(vma, VM_MAYEXEC);
	vma->vm_ops = &vfio_user_dma_vm_ops;
	return 0;
}

/* The last reference: the server closed it and unmapped everything. */
static int vfio_user_dma_file_release(struct inode *inode, struct file *file)
{
	struct vfio_user_dma_window *win = file->private_data;
	struct vfio_user_dma_removal *r, *tmp;

	/* Only marks that lapse by time can be left: the others hold the file. */
	mutex_lock(&win->lock);
	list_for_each_entry_safe(r, tmp, &win->removals, list)
		vfio_user_dma_removal_free(r);
	mutex_unlock(&win->lock);
	xa_destroy(&win->pins);
	mutex_destroy(&win->map_lock);
	mutex_destroy(&win->lock);
	kfree(win);
	vfio_user_fs_put();
	return 0;
}

static const struct file_operations vfio_user_dma_fops = {
	.owner = THIS_MODULE,
	.mmap = vfio_user_dma_mmap,
	.release = vfio_user_dma_file_release,
};

static struct vfio_user_dma_window *
vfio_user_dma_window_create(struct vfio_user_dev *udev)
{
	struct vfio_user_dma_window *win;
	struct file *file;

	win = kzalloc(sizeof(*win), GFP_KERNEL_ACCOUNT);
	if (!win)
		return ERR_PTR(-ENOMEM);
	mutex_init(&win->lock);
	mutex_init(&win->map_lock);
	xa_init(&win->pins);
	INIT_LIST_HEAD(&win->removals);
	init_waitqueue_head(&win->removal_wait);
	win->iova = udev->dma_iova;
	win->size = udev->dma_size;
	win->vdev = &udev->vdev->vdev;
	win->pin_batch = udev->iommufd_bound ? 1 : VFIO_USER_DMA_BATCH;
	win->stats = &udev->dma_stats;

	/* An inode of its own: zapping its mappings touches nothing else. */
	file = vfio_user_fs_file("[vfio-user-dma]", &vfio_user_dma_fops, win,
				 win->size);
	if (IS_ERR(file)) {
		kfree(win);
		return ERR_CAST(file);
	}
	win->file = file;
	return win;
}

/* Unpin everything and make every later fault SIGBUS; the file lives on. */
static void vfio_user_dma_window_close(struct vfio_user_dma_window *win)
{
	mutex_lock(&win->lock);
	vfio_user_dma_release_range(win, win->iova, win->iova + win->size);
	mutex_lock(&win->map_lock);
	win->vdev = NULL;
	win->stats = NULL;
	mutex_unlock(&win->map_lock);
	mutex_unlock(&win->lock);
}

/* Withdraw a closed window from dma_unmap's view and drop our file. */
static void vfio_user_dma_window_unpublish(struct vfio_user_dev *udev)
{
	struct vfio_user_dma_window *win;

	down_write(&udev->dma_rwsem);
	win = udev->dma_window;
	udev->dma_window = NULL;
	up_write(&udev->dma_rwsem);
	if (win)
		fput(win->file);
}

/* DMA_MAP of the window, with our file (zero-copy) or without (message). */
static int vfio_user_dma_map(struct vfio_user_dev *udev, struct file *file)
{
	struct vfio_user_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE,
		.address = udev->dma_iova,
		.size = udev->dma_size,
	};
	struct vfio_user_call call = {
		.cmd = VFIO_USER_DMA_MAP,
		.req = &map,
		.req_len = sizeof(map),
		.killable = true,
	};

	if (file) {
		/* Sent from a kernel thread's table, never the VMM's (fds.c). */
		call.send_files = &file;
		call.nr_send_files = 1;
	}
	return vfio_user_conn_call(&udev->conn, &call);
}

static void vfio_user_dma_unmap_server(struct vfio_user_dev *udev)
{
	struct vfio_user_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.address = udev->dma_iova,
		.size = udev->dma_size,
	};
	struct vfio_user_call call = {
		.cmd = VFIO_USER_DMA_UNMAP,
		.req = &unmap,
		.req_len = sizeof(unmap),
		.reply = &unmap,
		.reply_cap = sizeof(unmap),
	};

	if (vfio_user_conn_usable(&udev->conn))
		vfio_user_conn_call(&udev->conn, &call);
}

/**
 * vfio_user_dma_open() - announce the DMA window as the device opens
 * @udev: the device; called from open_device in the VMM's context
 *
 * Return: 0, or -errno when the server refuses even message-mode DMA.
 */
int vfio_user_dma_open(struct vfio_user_dev *udev)
{
	struct vfio_user_dma_window *win = NULL;
	struct vfio_user_dma_access *buf;
	int ret = -EINVAL;

	/* One buffer for serving DMA messages, sized for the largest. */
	buf = kvmalloc(struct_size(buf, data, VFIO_USER_OUR_MAX_DATA_XFER),
		       GFP_KERNEL_ACCOUNT);
	if (!buf)
		return -ENOMEM;

	down_write(&udev->dma_rwsem);
	udev->dma_opening = true;
	udev->dma_buf = buf;
	up_write(&udev->dma_rwsem);

	if (udev->dma_mode == VFIO_USER_DMA_ZERO_COPY &&
	    udev->conn.caps.max_msg_fds) {
		win = vfio_user_dma_window_create(udev);
		if (IS_ERR(win)) {
			ret = PTR_ERR(win);
			win = NULL;
		} else {
			/*
			 * Published before the server has the file: its first
			 * fault may pin before DMA_MAP is answered, and an
			 * unmap must find those pins.
			 */
			down_write(&udev->dma_rwsem);
			udev->dma_window = win;
			up_write(&udev->dma_rwsem);
			ret = vfio_user_dma_map(udev, win->file);
		}
		if (ret && win) {
			vfio_user_dma_window_close(win);
			vfio_user_dma_window_unpublish(udev);
			win = NULL;
		}
		if (ret) {
			/* Killed or broken: no point asking again. */
			if (ret == -EINTR || !vfio_user_conn_usable(&udev->conn))
				goto out;
			dev_info(&udev->dev,
				 "server refused a DMA fd (error %d): message-mode DMA\n",
				 ret);
		}
	}
	if (!win)
		ret = vfio_user_dma_map(udev, NULL);
out:
	down_write(&udev->dma_rwsem);
	udev->dma_opening = false;
	if (!ret) {
		udev->dma_active = win ? VFIO_USER_DMA_ZERO_COPY :
					 VFIO_USER_DMA_MESSAGE;
		udev->dma_open = true;
	} else {
		udev->dma_buf = NULL;
	}
	up_write(&udev->dma_rwsem);
	if (ret)
		kvfree(buf);
	return ret;
}

/**
 * vfio_user_dma_close() - stop all DMA as the device closes
 * @udev: the device; called from close_device, never killable
 *
 * Waits for a message being served, unpins and unmaps every page the
 * server touched (the window stays published meanwhile, so a concurrent
 * unmap waits for that), then withdraws the window.
 */
void vfio_user_dma_close(struct vfio_user_dev *udev)
{
	struct vfio_user_dma_window *win;
	void *buf;
	bool was_open;

	down_write(&udev->dma_rwsem);
	was_open = udev->dma_open;
	udev->dma_open = false;
	win = udev->dma_window;
	buf = udev->dma_buf;
	udev->dma_buf = NULL;
	up_write(&udev->dma_rwsem);
	kvfree(buf);

	if (win) {
		vfio_user_dma_window_close(win);
		vfio_user_dma_window_unpublish(udev);
	}
	if (was_open)
		vfio_user_dma_unmap_server(udev);
}

/**
 * vfio_user_dma_unmap() - the VMM unmapped IOVA the server may have pinned
 * @udev: the device
 * @iova: first IOVA
 * @length: size of the range
 *
 * Called by type1 or iommufd (ops->dma_unmap) in the unmapping task, also
 * before open and after close.  Returns with nothing in the range pinned
 * or mapped into the server, and the range marked as being removed until
 * that task is back in user space.
 */
void vfio_user_dma_unmap(struct vfio_user_dev *udev, u64 iova, u64 length)
{
	struct vfio_user_dma_window *win;
	u64 start, end;

	down_read(&udev->dma_rwsem);
	win = udev->dma_window;
	if (win && !check_add_overflow(iova, length, &end)) {
		start = max(iova, win->iova);
		end = min(end, win->iova + win->size);
		if (start < end) {
			mutex_lock(&win->lock);
			if (win->vdev)
				vfio_user_dma_mark_removal(win, start, end);
			vfio_user_dma_release_range(win, start, end);
			mutex_unlock(&win->lock);
		}
	}
	up_read(&udev->dma_rwsem);
}

/*
 * A DMA_WRITE either lands whole or not at all: the bytes are saved first
 * (which also proves the range mapped), and put back if the write fails
 * part way (a read-only mapping further on).
 */
static int vfio_user_dma_write(struct vfio_device *vdev, u64 iova,
			       void *data, size_t count, void *saved)
{
	int ret;

	ret = vfio_dma_rw(vdev, iova, saved, count, false);
	if (!ret) {
		ret = vfio_dma_rw(vdev, iova, data, count, true);
		if (ret)
			vfio_dma_rw(vdev, iova, saved, count, true);
	}
	return ret;
}

/**
 * vfio_user_dma_serve() - serve a DMA_READ or DMA_WRITE from the server
 * @owner: the device
 * @hdr: the request header, type and command already checked
 * @payload: its payload, between sizeof(struct vfio_user_dma_access) and
 *	that plus our max_data_xfer_size bytes (checked by the transport)
 * @len: payload length
 *
 * Runs in the connection's request worker, the only user of the device's
 * DMA buffer (allocated at open: no allocation, and so no zeroing, per
 * request).  Anything malformed, outside the window, unmapped or beyond its
 * permissions gets an error reply and touches nothing.
 */
void vfio_user_dma_serve(void *owner, const struct vfio_user_header *hdr,
			 const void *payload, size_t len)
{
	struct vfio_user_dev *udev = owner;
	const struct vfio_user_dma_access *req = payload;
	bool write = hdr->command == VFIO_USER_DMA_WRITE;
	struct vfio_user_dma_access reply_hdr = {
		.address = req->address,
		.count = req->count,
	};
	struct vfio_user_dma_access *reply = &reply_hdr;
	size_t reply_len = sizeof(*req);
	u64 end;
	int ret;

	if (req->count > VFIO_USER_OUR_MAX_DATA_XFER ||
	    len != sizeof(*req) + (write ? req->count : 0) ||
	    check_add_overflow(req->address, req->count, &end)) {
		ret = -EINVAL;
		goto reply;
	}

	down_read(&udev->dma_rwsem);
	if (!udev->dma_open) {
		ret = -ENODEV;
	} else if (req->address < udev->dma_iova ||
		   end > udev->dma_iova + udev->dma_size) {
		ret = -EFAULT;
	} else if (!req->count) {
		ret = 0;
	} else if (write) {
		ret = vfio_user_dma_write(&udev->vdev->vdev, req->address,
					  (void *)req->data, req->count,
					  udev->dma_buf);
	} else {
		reply = udev->dma_buf;
		*reply = reply_hdr;
		reply_len += req->count;
		ret = vfio_dma_rw(&udev->vdev->vdev, req->address, reply->data,
				  req->count, false);
	}
	if (!ret)
		atomic64_add(req->count, write ? &udev->dma_stats.bytes_written :
						 &udev->dma_stats.bytes_read);
	else
		atomic64_inc(&udev->dma_stats.errors);
	/* iommufd says ENOENT for IOVA nothing maps, type1 EFAULT: one answer. */
	if (ret == -ENOENT)
		ret = -EFAULT;
	/* Still under the rwsem: close must not free the buffer under us. */
	vfio_user_conn_reply(&udev->conn, hdr, reply, reply_len,
			     ret ? -ret : 0);
	up_read(&udev->dma_rwsem);
	return;
reply:
	atomic64_inc(&udev->dma_stats.errors);
	vfio_user_conn_reply(&udev->conn, hdr, NULL, 0, -ret);
}

/* ---- sysfs: dma_mode, dma_window, dma_active ---- */

static const char *const vfio_user_dma_mode_names[] = {
	[VFIO_USER_DMA_ZERO_COPY] = "zero-copy",
	[VFIO_USER_DMA_MESSAGE] = "message",
};

static ssize_t dma_mode_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	struct vfio_user_dev *udev = to_vfio_user_dev(dev);

	return sysfs_emit(buf, "%s\n", vfio_user_dma_mode_names[udev->dma_mode]);
}

static ssize_t dma_mode_store(struct device *dev, struct device_attribute *attr,
			      const char *buf, size_t count)
{
	struct vfio_user_dev *udev = to_vfio_user_dev(dev);
	int mode = sysfs_match_string(vfio_user_dma_mode_names, buf);
	int ret = count;

	if (mode < 0)
		return mode;
	down_write(&udev->dma_rwsem);
	if (udev->dma_open || udev->dma_opening)
		ret = -EBUSY;
	else
		udev->dma_mode = mode;
	up_write(&udev->dma_rwsem);
	return ret;
}
static DEVICE_ATTR_RW(dma_mode);

static ssize_t dma_window_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct vfio_user_dev *udev = to_vfio_user_dev(dev);

	return sysfs_emit(buf, "0x%llx 0x%llx\n", udev->dma_iova, udev->dma_size);
}

static ssize_t dma_window_store(struct device *dev,
				struct device_attribute *attr,
				const char *buf, size_t count)
{
	struct vfio_user_dev *udev = to_vfio_user_dev(dev);
	u64 iova, size, end;
	int ret = count;

	if (sscanf(buf, "%llx %llx", &iova, &size) != 2)
		return -EINVAL;
	if (!size || size > VFIO_USER_DMA_MAX_WINDOW || !PAGE_ALIGNED(iova) ||
	    !PAGE_ALIGNED(size) || check_add_overflow(iova, size, &end))
		return -EINVAL;
	down_write(&udev->dma_rwsem);
	if (udev->dma_open || udev->dma_opening) {
		ret = -EBUSY;
	} else {
		udev->dma_iova = iova;
		udev->dma_size = size;
	}
	up_write(&udev->dma_rwsem);
	return ret;
}
static DEVICE_ATTR_RW(dma_window);

static ssize_t dma_active_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct vfio_user_dev *udev = to_vfio_user_dev(dev);
	ssize_t len;

	down_read(&udev->dma_rwsem);
	len = sysfs_emit(buf, "%s\n", udev->dma_open ?
			 vfio_user_dma_mode_names[udev->dma_active] : "none");
	up_read(&udev->dma_rwsem);
	return len;
}
static DEVICE_ATTR_RO(dma_active);

static struct attribute *vfio_user_dma_attrs[] = {
	&dev_attr_dma_mode.attr,
	&dev_attr_dma_window.attr,
	&dev_attr_dma_active.attr,
	NULL
};

const struct attribute_group vfio_user_dma_group = {
	.attrs = vfio_user_dma_attrs,
};

/**
 * vfio_user_dma_init() - DMA defaults of a new device
 * @udev: the device
 */
void vfio_user_dma_init(struct vfio_user_dev *udev)
{
	init_rwsem(&udev->dma_rwsem);
	udev->dma_mode = VFIO_USER_DMA_ZERO_COPY;
	udev->dma_iova = 0;
	udev->dma_size = VFIO_USER_DMA_DEFAULT_WINDOW;
}
