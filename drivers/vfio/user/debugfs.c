// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user debugfs: /sys/kernel/debug/vfio-user/vfio-userN/stats
 */

#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "vfio_user_priv.h"

/* The vfio-user directory; NULL or an error pointer without debugfs. */
static struct dentry *vfio_user_debugfs_root;

static int vfio_user_stats_show(struct seq_file *m, void *unused)
{
	struct vfio_user_dev *udev = m->private;
	struct vfio_user_stats *st = &udev->conn.stats;
	struct vfio_user_dma_stats *dst = &udev->dma_stats;
	unsigned int in_flight = 0;
	unsigned long id;
	void *entry;

	xa_for_each(&udev->conn.pending, id, entry)
		in_flight++;

	seq_printf(m, "state: %s\n", vfio_user_conn_state_name(&udev->conn));
	seq_printf(m, "msgs_sent: %lld\n", atomic64_read(&st->msgs_sent));
	seq_printf(m, "msgs_received: %lld\n", atomic64_read(&st->msgs_received));
	seq_printf(m, "bytes_sent: %lld\n", atomic64_read(&st->bytes_sent));
	seq_printf(m, "bytes_received: %lld\n", atomic64_read(&st->bytes_received));
	seq_printf(m, "errors: %lld\n", atomic64_read(&st->errors));
	seq_printf(m, "timeouts: %lld\n", atomic64_read(&st->timeouts));
	seq_printf(m, "server_requests: %lld\n", atomic64_read(&st->server_reqs));
	seq_printf(m, "server_requests_refused: %lld\n",
		   atomic64_read(&st->server_reqs_refused));
	seq_printf(m, "in_flight: %u\n", in_flight);
	seq_printf(m, "max_rtt_ns: %lld\n", atomic64_read(&st->max_rtt_ns));
	seq_printf(m, "dma_bytes_read: %lld\n", atomic64_read(&dst->bytes_read));
	seq_printf(m, "dma_bytes_written: %lld\n", atomic64_read(&dst->bytes_written));
	seq_printf(m, "dma_errors: %lld\n", atomic64_read(&dst->errors));
	seq_printf(m, "dma_faults: %lld\n", atomic64_read(&dst->faults));
	seq_printf(m, "dma_pinned_pages: %lld\n", atomic64_read(&dst->pinned));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vfio_user_stats);

/**
 * vfio_user_debugfs_init() - create the vfio-user debugfs directory
 */
void vfio_user_debugfs_init(void)
{
	vfio_user_debugfs_root = debugfs_create_dir(VFIO_USER_DRV_NAME, NULL);
}

/**
 * vfio_user_debugfs_exit() - remove it, after every device's entries
 */
void vfio_user_debugfs_exit(void)
{
	debugfs_remove_recursive(vfio_user_debugfs_root);
	vfio_user_debugfs_root = NULL;
}

/**
 * vfio_user_debugfs_add() - add a device's directory and stats file
 * @udev: the device
 */
void vfio_user_debugfs_add(struct vfio_user_dev *udev)
{
	udev->debugfs = debugfs_create_dir(dev_name(&udev->dev),
					   vfio_user_debugfs_root);
	debugfs_create_file("stats", 0400, udev->debugfs, udev,
			    &vfio_user_stats_fops);
}

/**
 * vfio_user_debugfs_remove() - remove a device's directory
 * @udev: the device
 */
void vfio_user_debugfs_remove(struct vfio_user_dev *udev)
{
	debugfs_remove_recursive(udev->debugfs);
	udev->debugfs = NULL;
}
