// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_user pseudo filesystem: inodes of the driver's own.
 *
 * The zero-copy window a server maps and the BAR mappings a VMM makes each
 * sit on a file with an inode of its own, so that unmap_mapping_range() on
 * it zaps exactly those mappings and nothing else (an anon_inode file
 * would share one inode with every other anon_inode user).  vfio core does
 * the same for its devices since 6.10; doing it here works on every kernel
 * the driver supports.
 */

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pseudo_fs.h>

#include "vfio_user_priv.h"

/* "vfus": the superblock magic of the pseudo filesystem. */
#define VFIO_USER_FS_MAGIC	0x76667573

/* "vfio_user:NAME" in /proc/PID/fd and /proc/PID/maps, like anon_inode:. */
static char *vfio_user_fs_dname(struct dentry *dentry, char *buffer, int buflen)
{
	char name[64];
	int len;

	len = snprintf(name, sizeof(name), "vfio_user:%s", dentry->d_name.name) + 1;
	if (len > sizeof(name) || len > buflen)
		return ERR_PTR(-ENAMETOOLONG);
	return memcpy(buffer + buflen - len, name, len);
}

static const struct dentry_operations vfio_user_fs_dops = {
	.d_dname = vfio_user_fs_dname,
};

static int vfio_user_fs_init_fs_context(struct fs_context *fc)
{
	struct pseudo_fs_context *ctx = init_pseudo(fc, VFIO_USER_FS_MAGIC);

	if (!ctx)
		return -ENOMEM;
	ctx->dops = &vfio_user_fs_dops;
	return 0;
}

static struct file_system_type vfio_user_fs_type = {
	.name = "vfio_user",
	.owner = THIS_MODULE,
	.init_fs_context = vfio_user_fs_init_fs_context,
	.kill_sb = kill_anon_super,
};

/*
 * The mount, pinned while any of its files exists (simple_pin_fs()); the
 * module cannot go before its files do, since their fops pin it.
 */
static struct vfsmount *vfio_user_fs_mnt;
static int vfio_user_fs_count;

/**
 * vfio_user_fs_file() - a new file with an inode of its own
 * @name: name shown in /proc/PID/maps and fdinfo
 * @fops: its operations; must have .owner = THIS_MODULE
 * @priv: its private_data
 * @size: i_size of the inode
 *
 * Return: the file (one reference, O_RDWR), or an ERR_PTR.  Release it
 * with fput(); the mount is let go in vfio_user_fs_put() from the
 * file's ->release().
 */
struct file *vfio_user_fs_file(const char *name,
			       const struct file_operations *fops, void *priv,
			       loff_t size)
{
	struct inode *inode;
	struct file *file;
	int ret;

	/* __fput() puts fops->owner; alloc_file_pseudo() does not take it. */
	if (!try_module_get(fops->owner))
		return ERR_PTR(-ENOENT);
	ret = simple_pin_fs(&vfio_user_fs_type, &vfio_user_fs_mnt,
			    &vfio_user_fs_count);
	if (ret) {
		file = ERR_PTR(ret);
		goto err_module;
	}
	inode = alloc_anon_inode(vfio_user_fs_mnt->mnt_sb);
	if (IS_ERR(inode)) {
		file = ERR_CAST(inode);
		goto err_fs;
	}
	i_size_write(inode, size);
	file = alloc_file_pseudo(inode, vfio_user_fs_mnt, name, O_RDWR, fops);
	if (IS_ERR(file)) {
		iput(inode);
		goto err_fs;
	}
	file->private_data = priv;
	return file;

err_fs:
	simple_release_fs(&vfio_user_fs_mnt, &vfio_user_fs_count);
err_module:
	module_put(fops->owner);
	return file;
}

/**
 * vfio_user_fs_put() - the file of vfio_user_fs_file() is being released
 *
 * Called from its ->release(): drops the file's pin on the mount.
 */
void vfio_user_fs_put(void)
{
	simple_release_fs(&vfio_user_fs_mnt, &vfio_user_fs_count);
}
