#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run_tests.sh - run the vfio-user selftests.  Runs INSIDE the test VM, as
# root, from the repository root; the host invokes it as
#
#   tools/testing/selftests/vfio-user/vm/vm-run.sh -- \
#       tools/testing/selftests/vfio-user/run_tests.sh RESULTS_DIR [TEST...]
#
# (vm/check.sh does exactly that and turns the results into TAP.)
#
# Environment: VFIO_USER_KO (see step 1), TEST_TIMEOUT (step 2),
# VFIO_USER_TEST_BUILD: where the test binaries are instead of
# tools/testing/selftests/vfio-user/build ("build" below), SKIP_TESTS:
# test names left out of the default list.
#
# Steps:
#   1. modprobe vfio, vfio_iommu_type1 and what the module depends on (mdev;
#      vm/module-deps.sh) (fine if modprobe fails
#      but the kernel has it built in: /sys/module/NAME exists),
#      insmod drivers/vfio/user/vfio_user.ko ($VFIO_USER_KO overrides the path);
#      a failure is recorded and the tests still run (they then fail or skip).
#   2. run each TEST with "timeout $TEST_TIMEOUT" (default: the timeout= of
#      tools/testing/selftests/vfio-user/settings, 600 s), cwd = repo
#      root, env VFIO_USER_REPO=<repo root>, stdout+stderr -> RESULTS_DIR/<name>.tap
#   3. rmmod vfio_user (only if step 1 loaded it; a failure is recorded),
#      save dmesg to RESULTS_DIR/dmesg.txt.
#
# With kmemleak (a kernel with CONFIG_DEBUG_KMEMLEAK, debugfs mounted):
# before step 1 a scan and "clear" forget what was already unreferenced;
# after the tests (module still loaded, so backtraces show its symbols)
# and again after rmmod, two scans 5 s apart, and the leaks found go to
# RESULTS_DIR/kmemleak.txt ("clear" in between, so each is listed once).
#
# Which tests: TEST arguments, each a name (looked up as build/NAME, then
# NAME, under tools/testing/selftests/vfio-user/) or a path (relative to the
# repo root, or absolute).  Without arguments: every executable
# tools/testing/selftests/vfio-user/build/*_test, then the script tests of
# TEST_PROGS in tools/testing/selftests/vfio-user/Makefile (its
# "TEST_PROGS := ..." and "TEST_PROGS += ..." lines; paths relative to
# tools/testing/selftests/vfio-user/).
#
# RESULTS_DIR (relative paths are taken from the repo root) gets, after
# being cleared:
#   <name>.tap   the test's output (kselftest_harness TAP)
#   <name>.rc    its exit status (124 = killed by the per-test timeout)
#   tests        the test names, one per line, in the order they ran
#   kunit.tap    the module's KUnit results, when it was built with them
#                (listed in tests as "kunit")
#   times        "NAME SECONDS" per test, in the same order
#   rig.tap      "ok/not ok N <step>" for the module load/unload steps
#   kmemleak.txt kmemleak's reports (only with kmemleak; empty: no leaks)
#   dmesg.txt    guest dmesg after everything
#   done         written last: the run completed
#
# Exit status: 0 if every step and test passed (exit 0, or 4 = kselftest
# "all skipped"), 1 otherwise.
set -euo pipefail

if [ $# -lt 1 ] || [ "${1:0:1}" = - ]; then
	sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
fi

results=$1
shift
selftest_dir=tools/testing/selftests/vfio-user
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$script_dir/../../../.." && pwd -P)
cd "$repo"
export VFIO_USER_REPO=$repo
ko=${VFIO_USER_KO:-drivers/vfio/user/vfio_user.ko}
# Where the test binaries are (make check-debug builds its own copy).
test_build=${VFIO_USER_TEST_BUILD:-$selftest_dir/build}
# The kselftest runner's per-test timeout, from the same settings file.
settings_timeout=$(sed -n 's/^timeout=//p' "$selftest_dir/settings" 2> /dev/null || true)
per_test_timeout=${TEST_TIMEOUT:-${settings_timeout:-600}}

if [ "$(id -u)" != 0 ]; then
	echo "run_tests.sh: must run as root (it is meant to run inside the test VM)" >&2
	exit 2
fi
if [ "${VFIO_USER_VM:-}" != 1 ]; then
	echo "run_tests.sh: warning: not inside the vm-run.sh VM; loading modules into THIS kernel" >&2
fi

mkdir -p "$results"
results=$(cd "$results" && pwd -P)
rm -f "$results"/*.tap "$results"/*.rc "$results"/tests "$results"/dmesg.txt "$results"/done \
	"$results"/kmemleak.txt

failed=0
step_n=0
# Record one rig step as a TAP line in rig.tap (and on the console).
step() { # step ok|fail DESCRIPTION [DETAIL...]
	local res=$1 desc=$2
	shift 2
	step_n=$((step_n + 1))
	if [ "$res" = ok ]; then
		echo "ok $step_n $desc" | tee -a "$results/rig.tap"
	else
		failed=1
		{
			echo "not ok $step_n $desc"
			for d in "$@"; do printf '%s\n' "$d" | sed 's/^/# /'; done
		} | tee -a "$results/rig.tap"
	fi
}
: > "$results/rig.tap"

# kmemleak, if this kernel has it: "scan" blocks until the scan is done;
# objects younger than 5 s are never reported, hence the pauses.
kmemleak=/sys/kernel/debug/kmemleak
[ -e "$kmemleak" ] || kmemleak=
kmemleak_scan() { # kmemleak_scan [pause]: 0 on success
	{ [ -z "${1:-}" ] || sleep "$1"; } && echo scan > "$kmemleak" && sleep 5 && echo scan > "$kmemleak"
}
kmemleak_collect() { # kmemleak_collect WHEN: scan, append the reports, clear
	local out
	if out=$( (kmemleak_scan 5 && cat "$kmemleak" > "$results/kmemleak.new" && echo clear > "$kmemleak") 2>&1); then
		step ok "kmemleak scan $1 ($(grep -c '^unreferenced object' "$results/kmemleak.new") reports)"
	else
		step fail "kmemleak scan $1" "$out"
	fi
	if [ -s "$results/kmemleak.new" ]; then
		{ echo "# kmemleak: $1"; cat "$results/kmemleak.new"; } >> "$results/kmemleak.txt"
	fi
	rm -f "$results/kmemleak.new"
}
if [ -n "$kmemleak" ]; then
	: > "$results/kmemleak.txt"
	if out=$( (kmemleak_scan && echo clear > "$kmemleak") 2>&1); then
		step ok "kmemleak baseline (scan, clear)"
	else
		step fail "kmemleak baseline (scan, clear)" "$out"
	fi
fi

# --- 1. modules ----------------------------------------------------------------
# insmod resolves no dependencies: vfio, type1 and whatever the module
# links against (mdev, for its mdev front end) are loaded first.
# shellcheck source=vm/module-deps.sh
. "$selftest_dir/vm/module-deps.sh"
# shellcheck disable=SC2207 # module names: no white space
mods=($(vu_module_deps "$ko"))
for m in "${mods[@]}"; do
	if out=$(modprobe "$m" 2>&1); then
		step ok "modprobe $m"
	elif [ -d "/sys/module/$m" ]; then
		# Built into this kernel (modprobe needs /lib/modules/$(uname -r)).
		step ok "modprobe $m (built in)"
	else
		step fail "modprobe $m" "$out"
	fi
done

loaded_ours=0
if [ ! -f "$ko" ]; then
	step fail "insmod $ko" "module not found: $ko (was it built? 'make' first)"
elif out=$(insmod "$ko" 2>&1); then
	step ok "insmod $ko"
	loaded_ours=1
else
	step fail "insmod $ko" "$out" "$(dmesg | tail -n 5)"
fi

# KUnit: with CONFIG_VFIO_USER_KUNIT_TEST the module's own unit tests ran
# as it loaded; their results become the "kunit" test.
kunit_dir=/sys/kernel/debug/kunit
: > "$results/tests"
if [ "$loaded_ours" = 1 ] && [ -d "$kunit_dir/vfio_user_json" ]; then
	echo kunit >> "$results/tests"
	cat "$kunit_dir"/vfio_user_*/results > "$results/kunit.ktap" 2> /dev/null || true
	awk '
		# Test cases are indented under their suite; suites are not.
		/^[ \t]+(not )?ok [0-9]+ / {
			line = $0; sub(/^[ \t]+/, "", line)
			bad = (line ~ /^not ok/)
			sub(/^(not )?ok [0-9]+ /, "", line)
			n++
			out[n] = (bad ? "not ok " : "ok ") n " " line
			if (bad) fail++; else if (line ~ /# SKIP/) skip++; else pass++
		}
		END {
			print "TAP version 13"
			print "1.." n
			for (i = 1; i <= n; i++) print out[i]
			printf "# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0\n",
			       pass, fail, skip
		}
	' "$results/kunit.ktap" > "$results/kunit.tap"
	if grep -q '^ok ' "$results/kunit.tap" && ! grep -q '^not ok ' "$results/kunit.tap"; then
		echo 0 > "$results/kunit.rc"
	else
		echo 1 > "$results/kunit.rc"
		failed=1
	fi
	grep -E '^(not )?ok |^# Totals' "$results/kunit.tap" || true
fi

# --- 2. tests --------------------------------------------------------------------
tests=()
if [ $# -gt 0 ]; then
	for t in "$@"; do
		if [[ $t == */* ]]; then
			tests+=("$t")
		elif [ -e "$test_build/$t" ]; then
			tests+=("$test_build/$t")
		else
			tests+=("$selftest_dir/$t")
		fi
	done
else
	for t in "$test_build"/*_test; do
		# SKIP_TESTS: names run elsewhere (check.sh runs some on the host).
		case " ${SKIP_TESTS:-} " in *" $(basename "$t") "*) continue ;; esac
		[ -f "$t" ] && [ -x "$t" ] && tests+=("$t")
	done
	# The script tests: the Makefile's TEST_PROGS, as kselftest's lib.mk
	# runs them.
	progs=$(sed -n 's/^TEST_PROGS[[:space:]]*[:+]\{0,1\}=//p' "$selftest_dir/Makefile" |
		sed 's/#.*//' || true)
	for line in $progs; do
		tests+=("$selftest_dir/$line")
	done
fi

: > "$results/times"
for t in "${tests[@]}"; do
	name=$(basename "$t")
	echo "$name" >> "$results/tests"
	echo "# running $name"
	if [ ! -f "$t" ] || [ ! -x "$t" ]; then
		echo "run_tests.sh: $t: not found or not executable" > "$results/$name.tap"
		echo 127 > "$results/$name.rc"
		failed=1
		continue
	fi
	set +e
	t_start=$(date +%s)
	# -k: a test that ignores SIGTERM still goes after 10 more seconds.
	timeout -k 10 "$per_test_timeout" "$t" > "$results/$name.tap" 2>&1 < /dev/null
	rc=$?
	set -e
	# What each test costs, for sizing what CI runs.
	echo "$name $(( $(date +%s) - t_start ))" >> "$results/times"
	echo "$rc" > "$results/$name.rc"
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		echo "# $name: killed after ${per_test_timeout}s (per-test timeout)" >> "$results/$name.tap"
	fi
	grep -E '^(not )?ok |^# Totals' "$results/$name.tap" || true
	echo "# $name: exit status $rc, $(( $(date +%s) - t_start )) s"
	case $rc in 0|4) ;; *) failed=1 ;; esac
	if grep -qE '^not ok ' "$results/$name.tap"; then failed=1; fi
done
[ ${#tests[@]} -gt 0 ] || echo "# no tests found (build them first, e.g. 'make')"

# --- 3. unload, dmesg ------------------------------------------------------------
mod=$(basename "$ko" .ko)
if [ -n "$kmemleak" ]; then
	kmemleak_collect "after the tests"
	# Leaks found after rmmod show the module's addresses unresolved.
	if [ "$loaded_ours" = 1 ] && [ -r "/sys/module/$mod/sections/.text" ]; then
		echo "# $mod .text was at $(cat "/sys/module/$mod/sections/.text") ($ko)" > "$results/kmemleak.modaddr"
	fi
fi
if [ "$loaded_ours" = 1 ]; then
	if out=$(rmmod "$mod" 2>&1); then
		step ok "rmmod $mod"
	else
		step fail "rmmod $mod" "$out" "$(lsmod | grep -E "^$mod " || true)"
	fi
fi
if [ -n "$kmemleak" ] && [ "$loaded_ours" = 1 ]; then
	kmemleak_collect "after rmmod $mod"
	if [ -f "$results/kmemleak.modaddr" ] && grep -q "^# kmemleak: after rmmod" "$results/kmemleak.txt"; then
		cat "$results/kmemleak.modaddr" >> "$results/kmemleak.txt"
	fi
	rm -f "$results/kmemleak.modaddr"
fi

dmesg > "$results/dmesg.txt"
: > "$results/done"
exit "$failed"
