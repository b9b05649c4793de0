#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check.sh - host side of "make check": boot the test VM once, run
# run_tests.sh in it, and report everything as one TAP stream.
#
# Usage:
#   check.sh [TEST...]
#
# TEST names/paths are passed to run_tests.sh (default: all built tests).
# Build first; check.sh does not build anything.
#
# Environment (all optional):
#   KVER          kernel to boot (default: newest 6.12.*+deb12-amd64)
#   VM_TIMEOUT    bound on the whole VM run, seconds (default 1200)
#   VM_MEM        guest memory in MB (vm-run.sh default 3072)
#   VM_OUT        output dir (default $REPO/build/vm-out; results in VM_OUT/results)
#   VM_VERBOSE=1  echo the guest's serial console while it runs
#   TEST_TIMEOUT  per-test timeout inside the guest (run_tests.sh default 300)
#   VFIO_USER_KO  module to insmod instead of drivers/vfio/user/vfio_user.ko
#   VFIO_USER_TEST_BUILD  directory of the test binaries (run_tests.sh)
#   E2E_TIMEOUT   bound on qemu_e2e_test.sh's inner QEMU (its default 450)
#   E2E_SKIP      qemu_e2e_test.sh skips every case, saying this
#   VU_*          passed to the tests as they are (see lib/vu_util.h)
#   HOST_TESTS    tests that need no driver, run on the host instead of in
#                 the VM (natively: faster, and once per check); default
#                 server_test.  Empty: everything runs in the VM.
#   VM_KERNEL, VM_MODULES, VM_APPEND  another kernel image to boot, see
#                 vm-run.sh (make check-debug uses them for its debug kernel)
#
# Output (stdout): "TAP version 13", one ok/not ok line per test case of
# every test binary, numbered consecutively and prefixed with the binary's
# name ("# SKIP ..." kept; diagnostics shown for failures), then one
# "not ok" per failed rig step (module load/unload), per guest dmesg
# finding (WARNING:, BUG:, Oops, refcount_t, list_del corruption, general
# protection fault, KASAN, UBSAN, kmemleak errors, possible circular
# locking, INFO: task ... blocked, Call Trace) and for a VM timeout/crash,
# one per kmemleak report (an unreferenced object in RESULTS/kmemleak.txt,
# which run_tests.sh writes on a kernel with kmemleak; the report is the
# diagnostics), then the plan
# line, "check: wall time Ns (boot Xs, tests Ys)" and finally exactly
#   N passed, N failed[, N skipped]
#
# dmesg findings: lines of one kernel report count once: a "Call Trace"
# within 60 lines of the previous match, or any match within 5 lines of
# the previous match, belongs to the same finding.  Its diagnostics are
# the report's lines, its stack included.
#
# Exit status: 1 if anything failed or no test ran (all-skipped counts as
# not run), else 0.
set -euo pipefail

t_start=$(date +%s)
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || true)
[ -n "$REPO" ] || REPO=$(cd "$script_dir/../../../../.." && pwd -P)
REPO=$(cd "$REPO" && pwd -P)

case ${1:-} in -h|--help) sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;; esac

out=${VM_OUT:-$REPO/build/vm-out}
mkdir -p "$out"
out=$(cd "$out" && pwd -P)
results=$out/results
rm -rf "$results"
mkdir -p "$results"

vm_args=(--out "$out")
[ "${VM_VERBOSE:-0}" = 1 ] || vm_args+=(--quiet)
# The whole suite takes 3-4 minutes on a quiet machine and more than twice
# that when other VMs share its two cores: leave room, the bound is there
# for hangs.
vm_args+=(--timeout "${VM_TIMEOUT:-1200}")
[ -z "${VM_MEM:-}" ] || vm_args+=(--mem "$VM_MEM")
# The guest gets a clean environment; forward the knobs run_tests.sh reads.
cmd=(env)
[ -z "${VFIO_USER_KO:-}" ] || cmd+=("VFIO_USER_KO=$VFIO_USER_KO")
[ -z "${VFIO_USER_TEST_BUILD:-}" ] || cmd+=("VFIO_USER_TEST_BUILD=$VFIO_USER_TEST_BUILD")
[ -z "${E2E_TIMEOUT:-}" ] || cmd+=("E2E_TIMEOUT=$E2E_TIMEOUT")
[ -z "${E2E_SKIP:-}" ] || cmd+=("E2E_SKIP=$E2E_SKIP")
[ -z "${TEST_TIMEOUT:-}" ] || cmd+=("TEST_TIMEOUT=$TEST_TIMEOUT")

# Tests that need no driver run here, on the host, before the VM boots.
host_tests=()
vm_tests=()
for t in ${HOST_TESTS-server_test}; do
	if [ $# -eq 0 ] || [[ " $* " == *" $t "* ]]; then
		host_tests+=("$t")
	fi
done
for t in "$@"; do
	[[ " ${host_tests[*]} " == *" $t "* ]] || vm_tests+=("$t")
done
cmd+=("SKIP_TESTS=${host_tests[*]}")
host_build=${VFIO_USER_TEST_BUILD:-$REPO/tools/testing/selftests/vfio-user/build}
mkdir -p "$results/host"
: > "$results/host/tests"
for t in "${host_tests[@]}"; do
	echo "$t" >> "$results/host/tests"
	set +e
	timeout -k 10 "${TEST_TIMEOUT:-600}" "$host_build/$t" > "$results/host/$t.tap" 2>&1 < /dev/null
	echo $? > "$results/host/$t.rc"
	set -e
done
# And the tests' own knobs, VU_* (VU_TIME_SCALE, VU_FUZZ_FRAMES, ...).
while IFS= read -r var; do
	cmd+=("$var=${!var}")
done < <(compgen -e | grep '^VU_[A-Z0-9_]*$' || true)
cmd+=(tools/testing/selftests/vfio-user/run_tests.sh "$results")
cmd+=("${vm_tests[@]+"${vm_tests[@]}"}")
need_vm=1
[ $# -eq 0 ] || [ ${#vm_tests[@]} -gt 0 ] || need_vm=0

echo "TAP version 13"
vm_rc=0
if [ $need_vm = 1 ]; then
	echo "# check: booting the test VM (serial console: $out/console.log)"
	set +e
	# run_tests.sh's own output goes to the console log; we report from files.
	"$script_dir/vm-run.sh" "${vm_args[@]}" -- "${cmd[@]}"
	vm_rc=$?
	set -e
else
	echo "# check: only host tests asked for: no VM"
fi

n=0 passed=0 failed=0 skipped=0

# Parse one kselftest TAP file.  Prints renumbered TAP lines (prefixed with
# the binary name) and, last, "@@ <n> <pass> <fail> <skip> <has_totals> <results>".
parse_tap() { # parse_tap NAME FILE START_N
	awk -v name="$1" -v n="$3" '
	function flush_diag(   i, s) {
		s = (nb > 30) ? nb - 30 : 0
		for (i = s; i < nb; i++) print "  " buf[i]
	}
	{ sub(/\r$/, "") }
	/^(not )?ok [0-9]+/ {
		bad = ($0 ~ /^not ok/)
		rest = $0
		sub(/^(not )?ok [0-9]+ ?/, "", rest)
		dir = ""
		if (match(rest, / # [A-Za-z]+/)) dir = toupper(substr(rest, RSTART + 3, RLENGTH - 3))
		n++; nres++
		if (bad) { fail++; print "not ok " n " " name ": " rest; flush_diag() }
		else if (dir == "SKIP") { skip++; print "ok " n " " name ": " rest }
		else { pass++; print "ok " n " " name ": " rest }
		nb = 0
		next
	}
	/^# Totals:/ { totals = 1 }
	/^TAP version|^1\.\.[0-9]+$/ { next }
	{ buf[nb++] = ($0 ~ /^#/) ? $0 : "# " $0 }
	END { print "@@ " n " " pass + 0 " " fail + 0 " " skip + 0 " " totals + 0 " " nres + 0 }
	' "$2"
}

# Print one failure with optional diagnostic lines (stdin).  Must run in
# this shell (feed it with "< <(...)", not a pipe) so the counters stick.
report_fail() { # report_fail DESCRIPTION < diagnostics
	n=$((n + 1)); failed=$((failed + 1))
	echo "not ok $n $1"
	sed 's/^/  # /'
}

# --- test binaries ---------------------------------------------------------------
report_tests() { # report_tests DIR: the tests listed in DIR/tests
	local dir=$1 name tap rc totals nres line p f s
	[ -f "$dir/tests" ] || return 0
	while IFS= read -r name; do
		[ -n "$name" ] || continue
		tap=$dir/$name.tap
		rc=$(cat "$dir/$name.rc" 2>/dev/null || echo none)
		[ -f "$tap" ] || : > "$tap"
		totals=0 nres=0
		while IFS= read -r line; do
			if [[ $line == "@@ "* ]]; then
				read -r _ n p f s totals nres <<< "$line"
				passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
			else
				printf '%s\n' "$line"
			fi
		done < <(parse_tap "$name" "$tap" "$n")
		if [ "$rc" = none ]; then
			report_fail "$name # did not finish (VM timed out or crashed)" < <(tail -n 20 "$tap")
		elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			report_fail "$name # killed by the per-test timeout (exit $rc)" < <(tail -n 20 "$tap")
		elif [ "$rc" != 0 ] && [ "$totals" = 0 ]; then
			if [ "$nres" = 0 ] && [ "$rc" = 4 ]; then
				n=$((n + 1)); skipped=$((skipped + 1))
				echo "ok $n $name # SKIP exit status 4 (KSFT_SKIP)"
			else
				report_fail "$name # exited with status $rc without a Totals line" < <(tail -n 20 "$tap")
			fi
		elif [ "$rc" = 0 ] && [ "$nres" = 0 ]; then
			# A plain script test: exit status 0 is its pass.
			n=$((n + 1)); passed=$((passed + 1))
			echo "ok $n $name"
		fi
	done < "$dir/tests"
}
report_tests "$results/host"
report_tests "$results"

# --- rig steps (modprobe/insmod/rmmod) -------------------------------------------
if [ -f "$results/rig.tap" ]; then
	# One record per step: "ok<TAB>desc" or "fail<TAB>desc\001diag\001diag...".
	while IFS=$'\t' read -r res rec; do
		desc=${rec%%$'\001'*}
		if [ "$res" = ok ]; then
			echo "# rig: $desc: ok"
		else
			report_fail "rig: $desc" < <(tr '\001' '\n' <<< "$rec" | tail -n +2)
		fi
	done < <(awk '
		/^(not )?ok [0-9]+ / {
			if (rec != "") print rec
			d = $0; sub(/^(not )?ok [0-9]+ /, "", d)
			rec = (($0 ~ /^not/) ? "fail" : "ok") "\t" d
			next
		}
		/^#/ { l = $0; sub(/^# ?/, "", l); rec = rec "\001" l }
		END { if (rec != "") print rec }
	' "$results/rig.tap")
fi

# The VM's own findings, when one ran.
vm_status=none boot=- cmd_time=-
if [ $need_vm = 1 ]; then
# --- the VM itself -------------------------------------------------------------------
if [ -f "$out/vm-status" ]; then
	read -r -a kvs < "$out/vm-status"
	for kv in "${kvs[@]}"; do
		case $kv in
		status=*) vm_status=${kv#status=} ;;
		boot=*) boot=${kv#boot=} ;;
		command=*) cmd_time=${kv#command=} ;;
		esac
	done
fi
case $vm_status in
ok)
	if [ ! -f "$results/done" ]; then
		report_fail "run_tests.sh did not complete (exit $vm_rc)" < <(tail -n 20 "$out/console.log" 2>/dev/null)
	fi
	;;
timeout) report_fail "vm: guest timed out (see $out/console.log)" < <(tail -n 20 "$out/console.log" 2>/dev/null) ;;
panic) report_fail "vm: guest kernel panicked (see $out/console.log)" < <(grep -A 5 'Kernel panic' "$out/console.log" 2>/dev/null) ;;
none) report_fail "vm: could not start" < <(echo "vm-run.sh exited $vm_rc before booting the guest") ;;
*) report_fail "vm: guest did not report an exit status ($vm_status)" < <(tail -n 20 "$out/console.log" 2>/dev/null) ;;
esac

# --- guest dmesg scan ----------------------------------------------------------------
dmesg_file=$out/dmesg.txt
[ -f "$dmesg_file" ] || dmesg_file=$out/console.log
if [ -f "$dmesg_file" ]; then
	# kmemleak: its boot line ("Kernel memory leak detector initialized")
	# is no finding; leaks are counted from kmemleak.txt below when
	# run_tests.sh wrote one, else from dmesg.
	kml='kmemleak: .*(disabled|[Cc]annot|[Ff]ail|[Ee]rror|pool empty)'
	[ -f "$results/kmemleak.txt" ] || kml+='|unreferenced object 0x|kmemleak: [0-9]+ new suspected memory leak'
	pat="WARNING:|BUG:|Oops|refcount_t|list_del corruption|general protection fault|KASAN|UBSAN|$kml|possible circular locking|INFO: task .* blocked|Call Trace"
	# One record per finding, its lines joined by \001: from its first to
	# its last matching line, and when it has a stack, on to the stack's
	# end (</TASK> or "end trace"; for KASAN the "====" line closing the
	# report), at most 80 more lines.
	while IFS= read -r rec; do
		first=${rec%%$'\001'*}
		report_fail "dmesg: $first" < <(tr '\001' '\n' <<< "$rec")
	done < <(awk -v pat="$pat" '
		{ sub(/\r$/, ""); line = $0; sub(/^\[ *[0-9]+\.[0-9]+\] /, "", line); L[NR] = line }
		$0 ~ pat {
			same = (last && ((line ~ /Call Trace/ && NR - last <= 60) || NR - last <= 5))
			if (!same) { k++; s[k] = NR; trace[k] = 0 }
			e[k] = NR
			if (line ~ /Call Trace/) trace[k] = 1
			last = NR
		}
		END {
			for (i = 1; i <= k; i++) {
				stop = (i < k) ? s[i + 1] - 1 : NR
				end = e[i]
				kasan = (L[s[i]] ~ /KASAN/)
				if (trace[i] || kasan) {
					for (j = e[i] + 1; j <= stop && j <= e[i] + 80; j++) {
						end = j
						if (kasan ? L[j] ~ /^=+$/ : L[j] ~ /<\/TASK>|end trace/) break
					}
				}
				rec = L[s[i]]
				for (j = s[i] + 1; j <= end; j++) rec = rec "\001" L[j]
				print rec
			}
		}
	' "$dmesg_file")
else
	echo "# check: no guest dmesg or console log to scan"
fi

# --- kmemleak ------------------------------------------------------------------------
# One finding per "unreferenced object" block, the block (comm, hex dump,
# backtrace) as its diagnostics, with the "# kmemleak: WHEN" line before it.
if [ -s "$results/kmemleak.txt" ]; then
	while IFS= read -r rec; do
		first=${rec%%$'\001'*}
		report_fail "kmemleak: $first" < <(tr '\001' '\n' <<< "$rec" | tail -n +2 | head -n 40)
	done < <(awk '
		{ sub(/\r$/, "") }
		/^# kmemleak: / { when = substr($0, 13); next }
		/^# / { extra = extra "\001" $0; next }
		/^unreferenced object/ {
			if (rec != "") print rec
			rec = $0 " (" when ")"
			next
		}
		rec != "" { rec = rec "\001" $0 }
		END { if (rec != "") print rec extra }
	' "$results/kmemleak.txt")
fi

fi

echo "1..$n"
t_end=$(date +%s)
echo "check: wall time $((t_end - t_start))s (boot ${boot}s, tests ${cmd_time}s)"
if [ $((passed + failed)) -eq 0 ]; then
	echo "# check: no test ran"
fi
summary="$passed passed, $failed failed"
[ "$skipped" -eq 0 ] || summary+=", $skipped skipped"
echo "$summary"
[ "$failed" -eq 0 ] && [ $((passed + failed)) -gt 0 ]
