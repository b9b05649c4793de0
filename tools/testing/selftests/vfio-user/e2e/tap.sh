# SPDX-License-Identifier: GPL-2.0
#
# e2e/tap.sh - what the nested-QEMU tests (qemu_e2e_test.sh,
# libvirt_e2e_test.sh) share: kselftest TAP output, the inner guest's
# E2E-RESULT lines (e2e/init.sh) turned into test cases, and which kernel
# log lines count as findings.  Sourced, not run.
#
# The sourcing script sets cases=(...) (every case it reports, in order)
# before it calls skip_all, and t_start (date +%s) for totals.

# shellcheck shell=bash
n_pass=0 n_fail=0 n_skip=0 n_tap=0
declare -A res=() why=()

tap() { # tap ok|fail|skip NAME [DIAG...]: diagnostics go BEFORE the result line
	local r=$1 name=$2
	shift 2
	n_tap=$((n_tap + 1))
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" | sed -e 's/\r$//' -e 's/^/# /'
	fi
	case $r in
	ok) n_pass=$((n_pass + 1)); echo "ok $n_tap $name" ;;
	skip) n_skip=$((n_skip + 1)); echo "ok $n_tap $name # SKIP${1:+ $1}" ;;
	*) n_fail=$((n_fail + 1)); echo "not ok $n_tap $name" ;;
	esac
}

totals() { # totals LOGDIR
	echo "# e2e: wall time $(($(date +%s) - t_start))s; logs in $1"
	echo "# Totals: pass:$n_pass fail:$n_fail xfail:0 xpass:0 skip:$n_skip error:0"
}

skip_all() { # skip_all REASON: the test cannot run here (exit 4)
	local c
	for c in "${cases[@]}"; do tap skip "$c" "$1"; done
	totals "${out:-?}"
	exit 4
}

fail_rest() { # fail_rest FROM REASON: every case from index FROM on fails
	local c
	for c in "${cases[@]:$1}"; do tap fail "$c" "$2"; done
}

# append ARRAY TEXT: append TEXT's lines to ARRAY (no process substitution:
# the test VM has no /dev/fd).
append() {
	local -n _arr=$1
	[ -n "$2" ] && mapfile -t -O "${#_arr[@]}" _arr <<< "$2"
}

# inner_parse CONSOLE NAME...: the inner guest's last E2E-RESULT line for
# each NAME, into res[NAME] (ok/fail/empty) and why[NAME].
inner_parse() {
	local console=$1 c line
	shift
	for c in "$@"; do
		line=$(grep -a "E2E-RESULT $c " "$console" | tail -n 1)
		line=${line#*E2E-RESULT "$c" }
		res[$c]=${line%% *}
		why[$c]=${line#* }
	done
}

# inner_tap CONSOLE NAME [DIAG...]: case NAME from the inner guest's result;
# DIAG says why when the guest started but gave no result.
inner_tap() {
	local console=$1 c=$2
	shift 2
	case ${res[$c]} in
	ok) tap ok "$c" "${why[$c]}" ;;
	fail) tap fail "$c" "${why[$c]}" ;;
	*)
		if grep -aq '^E2E-START' "$console"; then
			tap fail "$c" "no result from the inner guest" "$@"
		else
			tap fail "$c" "not run: the inner guest did not start"
		fi
		;;
	esac
}

# e2e_outer_findings DMESG-FILE: the outer kernel's lines that fail a run
# (warnings, oopses, refcount errors), at most 5.
e2e_outer_findings() {
	grep -E 'WARNING:|BUG:|Oops|Call Trace|refcount_t|general protection' "$1" | head -n 5
}

# e2e_inner_findings CONSOLE: the inner kernel's lines worth keeping in the
# TAP stream (always shown, never a failure), as "# inner:" comments.
e2e_inner_findings() {
	grep -a '^E2E-DMESG' "$1" | grep -E 'nobody cared|Disabling IRQ|WARNING|BUG|Oops' | head -n 5 |
		sed 's/^/# inner: /'
}
