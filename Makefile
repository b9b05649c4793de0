# SPDX-License-Identifier: GPL-2.0-only
#
# vfio_user, built out of tree against Debian's 6.12 kernel headers.
#
#   make            build drivers/vfio/user/vfio_user.ko (KDIR= overrides)
#   make check      set up the host, build, run every selftest in a VM
#   make lint       checkpatch --strict, sparse and W=1 over the driver
#   make run        boot the VM, bind the test server, show what appears
#   make install    install the module for KDIR's kernel and run depmod
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
	install clean help need-kdir

all: modules

help:
	@sed -n '3,10p' $(REPO)/Makefile | sed 's/^# \{0,1\}//'

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

lint: need-kdir $(CHECKPATCH)
	@echo "== checkpatch --strict"
	perl $(CHECKPATCH) --strict --no-tree --show-types --terse \
	  -f $(DRIVER_SRCS) | tee $(BUILD)/checkpatch.log; \
	! grep -qE '(ERROR|WARNING|CHECK):' $(BUILD)/checkpatch.log
	@echo "== sparse (C=2) and W=1"
	$(MAKE) $(KBUILD_ARGS) C=2 W=1 modules 2>&1 | tee $(BUILD)/kbuild-lint.log; \
	! grep -qE 'warning:|error:' $(BUILD)/kbuild-lint.log
	@echo "lint: clean"

run: check-build
	KVER=$(KVER_FROM_KDIR) $(SELFTESTS)/vm/vm-run.sh --kver $(KVER_FROM_KDIR) \
	  -- $(SELFTESTS)/demo.sh

install: modules
	$(MAKE) $(KBUILD_ARGS) INSTALL_MOD_DIR=updates modules_install
	depmod -a $(KVER_FROM_KDIR)

clean:
	-$(MAKE) $(KBUILD_ARGS) clean 2>/dev/null
	-$(MAKE) -C $(SELFTESTS) clean
	rm -rf $(BUILD)
