# SPDX-License-Identifier: GPL-2.0-only
#
# vfio_user, built out of tree against Debian 12's kernel headers: its
# default 6.1 kernel or the newer 6.12.
#
#   make              build the module for the newest installed supported
#                     kernel (KVER=6.1, KVER=6.12 or a version picks one;
#                     KDIR= a build tree)
#   make check        set up the host, build, run every selftest in a VM
#                     booting that kernel (KVER= as for make)
#   make check-debug  the suite on a debug kernel (KASAN, lockdep, kmemleak,
#                     UBSAN...) built from linux-source-6.12 and cached in
#                     ~/.cache/vfio-user (first build: 10-15 min on 2 cores)
#   make soak         check-debug at full length: a million fuzzed frames,
#                     four times the kills and cycles (not in CI)
#   make lint         checkpatch --strict, sparse and W=1 over the driver
#   make run          boot the VM, bind the test server, show what appears
#   make bench        benchmarks in the VM against userspace baselines: a
#                     report in build/bench/latest (BENCH_ARGS= for vu_bench)
#   make install      install the module for that kernel and run depmod
#   make dkms-install the module's sources to DKMS, built and installed for
#                     every installed supported kernel (dkms-remove undoes)
#
# The host may run another kernel than the one we build for, so the kernel
# never comes from `uname -r`: scripts/kernels.sh picks it.

REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
KERNELS_SH := $(REPO)/scripts/kernels.sh
# The kernel: KVER as given (a series or a version), or the newest installed.
KVER_RESOLVED = $(shell $(KERNELS_SH) resolve $(KVER) 2>/dev/null)
KDIR ?= $(if $(KVER_RESOLVED),/lib/modules/$(KVER_RESOLVED)/build)
# The version of the kernel KDIR= names (Debian's 6.1 headers say 6.1.N
# here, not the package version their directory is named after).
KVER_FROM_KDIR = $(shell $(MAKE) -s -C $(KDIR) kernelrelease 2>/dev/null)
BUILD := $(REPO)/build
SELFTESTS := $(REPO)/tools/testing/selftests/vfio-user
KSRC_TAR ?= $(wildcard /usr/src/linux-source-6.12.tar.xz)
# A kernel asked for with KVER= gets a module and VM output of its own, so
# that builds and runs for two kernels do not overwrite each other; the
# default kernel's module is the tree's own drivers/vfio/user/vfio_user.ko.
MOD_DIR = $(if $(KVER),$(BUILD)/kver-$(KVER_RESOLVED)/module,$(REPO))
MOD_KO = $(MOD_DIR)/drivers/vfio/user/vfio_user.ko
VM_OUT_DIR = $(if $(KVER),$(BUILD)/kver-$(KVER_RESOLVED)/vm-out,$(BUILD)/vm-out)
KBUILD_ARGS = -C $(KDIR) M=$(MOD_DIR) CONFIG_VFIO_USER=m

# Files kept from the linux-source tarball: the kselftest harness (used at
# build time, never copied into the repository) and checkpatch.
KSFT_INC := $(BUILD)/kselftest
KSFT_HDRS := $(KSFT_INC)/kselftest_harness.h $(KSFT_INC)/kselftest.h
CHECKPATCH := $(BUILD)/linux-scripts/scripts/checkpatch.pl

DRIVER_SRCS := $(filter-out %.mod.c,$(wildcard $(REPO)/drivers/vfio/user/*.[ch])) \
	       $(REPO)/include/uapi/linux/vfio_user.h

.PHONY: all modules setup check check-build check-run selftests lint run \
	install clean help need-kdir check-debug check-debug-build \
	check-debug-run debug-kernel debug-module debug-selftests bench soak \
	mod-sources dkms-install dkms-remove

all: modules

help:
	@sed -n '3,/^$$/p' $(REPO)/Makefile | sed '$$d' | sed 's/^# \{0,1\}//'

# Says which kernel is missing or unsupported (scripts/kernels.sh) unless
# KDIR= names a build tree.
need-kdir:
	@test -n "$(KDIR)" -a -f "$(KDIR)/Makefile" || \
	  $(KERNELS_SH) resolve $(KVER) > /dev/null

# A copy of the driver's sources to build for another kernel (MOD_DIR), or
# for the debug kernel (DEBUG_MOD).
define copy_module_sources
	@mkdir -p $(1)/drivers/vfio/user $(1)/include/uapi/linux
	@rm -f $(1)/drivers/vfio/user/*.[ch]
	@cp -p $(REPO)/Kbuild $(1)/
	@cp -p $(filter $(REPO)/drivers/%,$(DRIVER_SRCS)) $(REPO)/drivers/vfio/user/Makefile \
	  $(REPO)/drivers/vfio/user/Kconfig $(1)/drivers/vfio/user/
	@cp -p $(REPO)/include/uapi/linux/vfio_user.h $(1)/include/uapi/linux/
endef

mod-sources:
	$(if $(KVER),$(call copy_module_sources,$(MOD_DIR)))

modules: need-kdir mod-sources
	$(MAKE) $(KBUILD_ARGS) modules

# setup installs the kernel KVER names (a series, or the series of a
# version), else the 6.12 one.
SETUP_SERIES = $(if $(KVER),$(or $(filter 6.1 6.12,$(KVER)),$(shell $(KERNELS_SH) series $(KVER))),6.12)
setup:
	$(REPO)/scripts/setup-host.sh $(SETUP_SERIES)

$(KSFT_HDRS):
	@test -n "$(KSRC_TAR)" || { echo "linux-source-6.12 is not installed: run make setup" >&2; exit 1; }
	@mkdir -p $(BUILD)/ksrc-tmp $(KSFT_INC)
	tar -xJf $(KSRC_TAR) -C $(BUILD)/ksrc-tmp --wildcards --strip-components=1 \
	  '*/tools/testing/selftests/kselftest_harness.h' \
	  '*/tools/testing/selftests/kselftest.h'
	cp $(BUILD)/ksrc-tmp/tools/testing/selftests/kselftest*.h $(KSFT_INC)/
	rm -rf $(BUILD)/ksrc-tmp

$(CHECKPATCH):
	@test -n "$(KSRC_TAR)" || { echo "linux-source-6.12 is not installed: run make setup" >&2; exit 1; }
	@mkdir -p $(BUILD)/linux-scripts
	tar -xJf $(KSRC_TAR) -C $(BUILD)/linux-scripts --strip-components=1 \
	  linux-source-6.12/scripts/checkpatch.pl \
	  linux-source-6.12/scripts/spelling.txt \
	  linux-source-6.12/scripts/const_structs.checkpatch

selftests: $(KSFT_HDRS)
	$(MAKE) -C $(SELFTESTS) KSFT_INC=$(KSFT_INC)

# check: what CI runs.  Set-up first, in its own make, so that KDIR is
# found even on a machine that had no headers when this make started.
check:
	@start=$$(date +%s); \
	$(REPO)/scripts/setup-host.sh $(SETUP_SERIES) && \
	$(MAKE) --no-print-directory check-build && \
	$(MAKE) --no-print-directory check-run; rc=$$?; \
	echo "make check$(if $(KVER), KVER=$(KVER)): wall time $$(( $$(date +%s) - start ))s"; exit $$rc

check-build: modules selftests

check-run: need-kdir
	@$(KERNELS_SH) resolve --boot $(KVER_RESOLVED) > /dev/null
	KVER=$(KVER_RESOLVED) VM_OUT=$(VM_OUT_DIR) VFIO_USER_KO=$(MOD_KO) \
	  $(SELFTESTS)/vm/check.sh $(TESTS)

# check-debug: the suite on the debug kernel of
# tools/testing/selftests/vfio-user/debug-kernel/ (built, or found in the
# cache, by its build.sh).  The module is built against it from a copy of
# the sources in build/debug-kernel/module, so that the tree's own
# vfio_user.ko (for Debian's kernel) is left alone.  Slower than check:
# bigger timeouts.
DEBUG_KERNEL_SH := $(SELFTESTS)/debug-kernel/build.sh
DEBUG_KDIR ?= $(shell $(DEBUG_KERNEL_SH) --print-dir)
# Everything a check-debug run writes is under DEBUG_OUT (the module, the
# tests, vm-out): a second run elsewhere does not trample the first.
DEBUG_OUT ?= $(BUILD)/debug-kernel
DEBUG_MOD := $(abspath $(DEBUG_OUT))/module
DEBUG_VM_TIMEOUT ?= 2400
DEBUG_TEST_TIMEOUT ?= 900
DEBUG_E2E_TIMEOUT ?= 600
# The selftests again, in build/debug-kernel/selftests, with the harness's
# per-test-case timeouts (30 s unless a test says otherwise) times
# DEBUG_HARNESS_SCALE: the debug kernel is about 4 times slower.
DEBUG_SELFTESTS := $(abspath $(DEBUG_OUT))/selftests
DEBUG_KSFT_INC := $(abspath $(DEBUG_OUT))/kselftest
DEBUG_HARNESS_SCALE ?= 4
# The tests' own "soon enough" bounds (vu_ms() in lib/clock.c) get the same
# factor.  Sized for CI: 150,000 fuzzed frames (fuzz_test.c's default for
# make check is 100,000) and the kill and lifecycle loops twice as long as
# in make check (150 kills); make soak runs a million frames and 4 times.
DEBUG_FUZZ_FRAMES ?= $(or $(VU_FUZZ_FRAMES),150000)
DEBUG_STRESS ?= $(or $(VU_STRESS),2)
# The nested-QEMU end-to-end test is left out of check-debug unless
# DEBUG_E2E=1 (make soak sets it): under the debug kernel the inner
# guest's TCG crashes now and then before it uses the device (invalid
# EFLAGS, #DB in start_kernel), which says nothing about the driver, and
# make check and make check KVER=6.1 run it on Debian's kernels.
DEBUG_E2E ?=
DEBUG_E2E_SKIP = $(if $(DEBUG_E2E),,not in make check-debug: nested TCG on the debug kernel is unreliable; make check runs it, DEBUG_E2E=1 or make soak here)

check-debug:
	@start=$$(date +%s); \
	$(REPO)/scripts/setup-host.sh && \
	$(MAKE) --no-print-directory check-debug-build && \
	$(MAKE) --no-print-directory check-debug-run; rc=$$?; \
	echo "make check-debug: wall time $$(( $$(date +%s) - start ))s"; exit $$rc

check-debug-build: debug-kernel
	$(MAKE) --no-print-directory debug-module selftests debug-selftests

debug-kernel:
	@$(DEBUG_KERNEL_SH) > /dev/null

debug-module:
	@test -f $(DEBUG_KDIR)/.vfio-user-built || { \
	  echo "no debug kernel in $(DEBUG_KDIR): make debug-kernel first" >&2; exit 1; }
	$(call copy_module_sources,$(DEBUG_MOD))
	@# -g: the kernel has no debug info, the module does, for
	@# scripts/faddr2line on the functions in a report.
	@# The KUnit suites are built in: they run as the module loads.
	$(MAKE) -C $(DEBUG_KDIR) M=$(DEBUG_MOD) CONFIG_VFIO_USER=m \
	  CONFIG_VFIO_USER_KUNIT_TEST=y KCFLAGS=-g modules

debug-selftests: $(KSFT_HDRS)
	@mkdir -p $(DEBUG_KSFT_INC)
	@cp $(KSFT_INC)/kselftest.h $(DEBUG_KSFT_INC)/
	@sed 's/alarm(t->timeout)/alarm(t->timeout * $(DEBUG_HARNESS_SCALE))/' \
	  $(KSFT_INC)/kselftest_harness.h > $(DEBUG_KSFT_INC)/kselftest_harness.h.tmp
	@grep -q 'alarm(t->timeout \* $(DEBUG_HARNESS_SCALE))' $(DEBUG_KSFT_INC)/kselftest_harness.h.tmp || { \
	  echo "kselftest_harness.h: no alarm(t->timeout) to scale" >&2; exit 1; }
	@# -MMD does not track -isystem headers: a new harness means new tests.
	@cmp -s $(DEBUG_KSFT_INC)/kselftest_harness.h.tmp $(DEBUG_KSFT_INC)/kselftest_harness.h && \
	  rm $(DEBUG_KSFT_INC)/kselftest_harness.h.tmp || { \
	  mv $(DEBUG_KSFT_INC)/kselftest_harness.h.tmp $(DEBUG_KSFT_INC)/kselftest_harness.h; \
	  rm -f $(DEBUG_SELFTESTS)/*_test; }
	$(MAKE) -C $(SELFTESTS) KSFT_INC=$(DEBUG_KSFT_INC) OUT=$(DEBUG_SELFTESTS)

check-debug-run:
	@test -f $(DEBUG_MOD)/drivers/vfio/user/vfio_user.ko || { \
	  echo "no module built for the debug kernel: make check-debug-build first" >&2; exit 1; }
	VM_KERNEL=$(DEBUG_KDIR)/arch/x86/boot/bzImage VM_MODULES=none \
	  KVER=$$(cat $(DEBUG_KDIR)/include/config/kernel.release) \
	  VM_APPEND="kasan_multi_shot acpi=noirq" VM_OUT=$(abspath $(DEBUG_OUT))/vm-out \
	  VM_TIMEOUT=$(DEBUG_VM_TIMEOUT) TEST_TIMEOUT=$(DEBUG_TEST_TIMEOUT) \
	  E2E_TIMEOUT=$(DEBUG_E2E_TIMEOUT) E2E_SKIP="$(DEBUG_E2E_SKIP)" \
	  VU_TIME_SCALE=$(DEBUG_HARNESS_SCALE) VU_FUZZ_FRAMES=$(DEBUG_FUZZ_FRAMES) \
	  VU_STRESS=$(DEBUG_STRESS) \
	  VFIO_USER_KO=$(DEBUG_MOD)/drivers/vfio/user/vfio_user.ko \
	  VFIO_USER_TEST_BUILD=$(DEBUG_SELFTESTS) \
	  $(SELFTESTS)/vm/check.sh $(TESTS)

# soak: check-debug at full length, in an output directory of its own.
soak:
	$(MAKE) --no-print-directory check-debug DEBUG_FUZZ_FRAMES=1000000 \
	  DEBUG_STRESS=4 DEBUG_E2E=1 DEBUG_OUT=$(BUILD)/soak

lint: need-kdir $(CHECKPATCH)
	@echo "== checkpatch --strict"
	@# compat.h is the one place that compares kernel versions (it maps
	@# newer kernels' names onto older ones, as DKMS drivers do), so
	@# the rules against version checks, and against non-const bus types and
	@# macro arguments used twice (what compat shims are), are waived there.
	{ perl $(CHECKPATCH) --strict --no-tree --show-types --terse \
	    -f $(filter-out %/compat.h,$(DRIVER_SRCS)); \
	  perl $(CHECKPATCH) --strict --no-tree --show-types --terse \
	    --ignore LINUX_VERSION_CODE,CONSTANT_COMPARISON,MACRO_ARG_REUSE,CONST_STRUCT \
	    -f $(filter %/compat.h,$(DRIVER_SRCS)); } | tee $(BUILD)/checkpatch.log; \
	! grep -qE '(ERROR|WARNING|CHECK):' $(BUILD)/checkpatch.log
	@echo "== sparse (C=2) and W=1"
	$(MAKE) $(KBUILD_ARGS) C=2 W=1 modules 2>&1 | tee $(BUILD)/kbuild-lint.log; \
	! grep -qE 'warning:|error:' $(BUILD)/kbuild-lint.log
	@echo "lint: clean"

run: check-build
	KVER=$(KVER_RESOLVED) $(SELFTESTS)/vm/vm-run.sh --kver $(KVER_RESOLVED) \
	  -- $(SELFTESTS)/demo.sh

# bench: a report, not a test (tools/testing/selftests/vfio-user/bench/run.sh).
bench: check-build
	BENCH_SKIP_BUILD=1 KVER=$(KVER_RESOLVED) $(SELFTESTS)/bench/run.sh $(BENCH_ARGS)

install: modules
	$(MAKE) $(KBUILD_ARGS) INSTALL_MOD_DIR=updates modules_install
	depmod -a $(or $(KVER_RESOLVED),$(KVER_FROM_KDIR))

# DKMS: the module's sources alone (not the selftests or build/) go to
# /usr/src/vfio-user-VERSION, and DKMS builds and installs them for every
# installed supported kernel (DKMS_KERNELS= names others), so that a kernel
# update rebuilds the module.  dkms-remove takes it out of every kernel.
DKMS_VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' $(REPO)/dkms.conf)
DKMS_SRC := /usr/src/vfio-user-$(DKMS_VERSION)
DKMS_KERNELS ?= $(shell $(KERNELS_SH) list)

dkms-install:
	@command -v dkms > /dev/null || apt-get install -y dkms
	@test -n "$(DKMS_KERNELS)" || $(KERNELS_SH) resolve > /dev/null
	-@dkms remove vfio-user/$(DKMS_VERSION) --all > /dev/null 2>&1
	@rm -rf $(DKMS_SRC)
	$(call copy_module_sources,$(DKMS_SRC))
	@cp -p $(REPO)/dkms.conf $(DKMS_SRC)/
	dkms add vfio-user/$(DKMS_VERSION)
	@set -e; for k in $(DKMS_KERNELS); do \
	  dkms install vfio-user/$(DKMS_VERSION) -k $$k; \
	  modinfo -k $$k -F vermagic vfio_user | grep -q "^$$k " || { \
	    echo "dkms-install: modinfo -k $$k finds no vfio_user built for $$k" >&2; exit 1; }; \
	done

dkms-remove:
	dkms remove vfio-user/$(DKMS_VERSION) --all
	rm -rf $(DKMS_SRC)

clean:
	-$(MAKE) $(KBUILD_ARGS) clean 2>/dev/null
	-$(MAKE) -C $(SELFTESTS) clean
	rm -rf $(BUILD)
