# SPDX-License-Identifier: GPL-2.0
#
# vm/module-deps.sh - which modules to modprobe before "insmod vfio_user.ko":
# insmod resolves no dependencies.  Sourced by run_tests.sh, demo.sh,
# qemu_e2e_test.sh and bench/guest.sh.

# shellcheck shell=bash
# vu_module_deps KO: prints vfio, vfio_iommu_type1 (the container the
# tests use; the module does not link against it) and every module KO
# links against (mdev, for the mdev front end), one per line.
vu_module_deps() {
	{
		printf '%s\n' vfio vfio_iommu_type1
		modinfo -F depends "$1" 2>/dev/null | tr , '\n'
	} | awk 'NF && !seen[$0]++'
}
