# SPDX-License-Identifier: GPL-2.0-only
#
# vfio_user, built out of tree against Debian's 6.12 kernel headers.
#
#   make              build drivers/vfio/user/vfio_user.ko (KDIR= overrides)
#   make check        set up the host, build, run every selftest in a VM
#   make check-debug  the same on a debug kernel (KASAN, lockdep, kmemleak,
#                     UBSAN...) built from linux-source-6.12 and cached in
#                     ~/.cache/vfio-user (first build: 7 min on 2 cores)
#   make lint         checkpatch --strict, sparse and W=1 over the driver
#   make run          boot the VM, bind the test server, show what appears
#   make bench        benchmarks in the VM against userspace baselines: a
#                     report in build/bench/latest (BENCH_ARGS= for vu_bench)
#   make install      install the module for KDIR's kernel and run depmod
#
# The host may run another kernel than the one we build for, so KDIR never
# comes from `uname -r`: it is the newest installed 6.12 Debian build tree.

REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
KDIR ?= $(shell ls -d /lib/modules/6.12.*+deb12-amd64/build 2>/dev/null | sort -V | tail -n 1)
KVER_FROM_KDIR = $(shell $(MAKE) -s -C $(KDIR) kernelrelease 2>/dev/null)
BUILD := $(REPO)/build
SELFTESTS := $(REPO)/tools/testing/selftests/vfio-user
KSRC_TAR ?= $(wildcard /usr/src/linux-source-6.12.tar.xz)
KBUILD_ARGS = -C $(KDIR) M=$(REPO) CONFIG_VFIO_USER=m

# Files kept from the linux-source tarball: the kselftest harness (used at
# build time, never copied into the repository) and checkpatch.
KSFT_INC := $(BUILD)/kselftest
KSFT_HDRS := $(KSFT_INC)/kselftest_harness.h $(KSFT_INC)/kselftest.h
CHECKPATCH := $(BUILD)/linux-scripts/scripts/checkpatch.pl

DRIVER_SRCS := $(filter-out %.mod.c,$(wildcard $(REPO)/drivers/vfio/user/*.[ch])) \
	       $(REPO)/include/uapi/linux/vfio_user.h

.PHONY: all modules setup check check-build check-run selftests lint run \
	install clean help need-kdir check-debug check-debug-build \
	check-debug-run debug-kernel debug-module debug-selftests bench

all: modules

help:
	@sed -n '3,15p' $(REPO)/Makefile | sed 's/^# \{0,1\}//'

need-kdir:
	@test -n "$(KDIR)" -a -f "$(KDIR)/Makefile" || { \
	  echo "No Debian 6.12 kernel headers found under /lib/modules;" \
	       "run 'make setup' (or scripts/setup-host.sh) or set KDIR=" >&2; \
	  exit 1; }

modules: need-kdir
	$(MAKE) $(KBUILD_ARGS) modules

setup:
	$(REPO)/scripts/setup-host.sh

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
	$(REPO)/scripts/setup-host.sh && \
	$(MAKE) --no-print-directory check-build && \
	$(MAKE) --no-print-directory check-run; rc=$$?; \
	echo "make check: wall time $$(( $$(date +%s) - start ))s"; exit $$rc

check-build: modules selftests

check-run: need-kdir
	KVER=$(KVER_FROM_KDIR) $(SELFTESTS)/vm/check.sh $(TESTS)

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
DEBUG_VM_TIMEOUT ?= 3600
DEBUG_TEST_TIMEOUT ?= 1800
DEBUG_E2E_TIMEOUT ?= 600
# The selftests again, in build/debug-kernel/selftests, with the harness's
# per-test-case timeouts (30 s unless a test says otherwise) times
# DEBUG_HARNESS_SCALE: the debug kernel is about 4 times slower.
DEBUG_SELFTESTS := $(abspath $(DEBUG_OUT))/selftests
DEBUG_KSFT_INC := $(abspath $(DEBUG_OUT))/kselftest
DEBUG_HARNESS_SCALE ?= 4
# The tests' own "soon enough" bounds (vu_ms() in vu_test.h) get the same
# factor; the fuzzer sends a million frames here against fuzz_test.c's
# default for make check.
DEBUG_FUZZ_FRAMES ?= $(or $(VU_FUZZ_FRAMES),1000000)
# lifecycle_test's kill and lifecycle loops times this: 300 kills.
DEBUG_STRESS ?= $(or $(VU_STRESS),4)

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
	@mkdir -p $(DEBUG_MOD)/drivers/vfio/user $(DEBUG_MOD)/include/uapi/linux
	@rm -f $(DEBUG_MOD)/drivers/vfio/user/*.[ch]
	@cp -p $(REPO)/Kbuild $(DEBUG_MOD)/
	@cp -p $(filter $(REPO)/drivers/%,$(DRIVER_SRCS)) $(REPO)/drivers/vfio/user/Makefile \
	  $(REPO)/drivers/vfio/user/Kconfig $(DEBUG_MOD)/drivers/vfio/user/
	@cp -p $(REPO)/include/uapi/linux/vfio_user.h $(DEBUG_MOD)/include/uapi/linux/
	@# -g: the kernel has no debug info, the module does, for
	@# scripts/faddr2line on the functions in a report.
	$(MAKE) -C $(DEBUG_KDIR) M=$(DEBUG_MOD) CONFIG_VFIO_USER=m KCFLAGS=-g modules

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
	  E2E_TIMEOUT=$(DEBUG_E2E_TIMEOUT) \
	  VU_TIME_SCALE=$(DEBUG_HARNESS_SCALE) VU_FUZZ_FRAMES=$(DEBUG_FUZZ_FRAMES) \
	  VU_STRESS=$(DEBUG_STRESS) \
	  VFIO_USER_KO=$(DEBUG_MOD)/drivers/vfio/user/vfio_user.ko \
	  VFIO_USER_TEST_BUILD=$(DEBUG_SELFTESTS) \
	  $(SELFTESTS)/vm/check.sh $(TESTS)

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
	KVER=$(KVER_FROM_KDIR) $(SELFTESTS)/vm/vm-run.sh --kver $(KVER_FROM_KDIR) \
	  -- $(SELFTESTS)/demo.sh

# bench: a report, not a test (tools/testing/selftests/vfio-user/bench/run.sh).
bench: check-build
	BENCH_SKIP_BUILD=1 KVER=$(KVER_FROM_KDIR) $(SELFTESTS)/bench/run.sh $(BENCH_ARGS)

install: modules
	$(MAKE) $(KBUILD_ARGS) INSTALL_MOD_DIR=updates modules_install
	depmod -a $(KVER_FROM_KDIR)

clean:
	-$(MAKE) $(KBUILD_ARGS) clean 2>/dev/null
	-$(MAKE) -C $(SELFTESTS) clean
	rm -rf $(BUILD)
