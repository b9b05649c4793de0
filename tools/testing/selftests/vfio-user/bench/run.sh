#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh - host side of "make bench": boot the test VM once, run the
# benchmarks in it, render the report on the host and print the table.
#
# Usage:
#   run.sh [vu_bench options...]      e.g. --scale 2 --rounds 12
#
# Steps:
#   1. set up and build as "make check" does (scripts/setup-host.sh, then
#      make check-build), unless BENCH_SKIP_BUILD=1 (make bench has built);
#      build vu_bench and irq_stamp.so (bench/Makefile); install
#      python3-matplotlib with apt-get if /usr/bin/python3 lacks it;
#   2. vm/vm-run.sh -- bench/guest.sh RESULTS: load the module, run
#      vu_bench (see guest.sh and vu_bench.c for what is measured);
#   3. bench/render.py RESULTS on the host with /usr/bin/python3 (the
#      Debian one, which has python3-matplotlib; a pyenv python3 on PATH
#      would not) and print results.md.
#
# RESULTS is build/bench/<timestamp>/; build/bench/latest points at it:
#   results.md  the table        results.json  rows, series, notes
#   latency.png latency CDFs     raw.jsonl     what vu_bench wrote
#   vm/         console.log, dmesg and status of the VM run
#   det/        with BENCH_DETERMINISTIC=1: raw.jsonl, vm/ of the second,
#               instruction-counted run
#
# Environment (all optional):
#   KVER            kernel to boot (vm-run.sh's default otherwise)
#   VM_TIMEOUT      bound on the VM run, seconds (default 900)
#   BENCH_CPUS      vCPUs online for the main run (default 1; see guest.sh)
#   BENCH_PERF=1    also profile short trapped-access and DMA runs with perf
#   BENCH_TRACE=1   also ftrace short trapped-access and interrupt runs and
#                   summarise them with bench/trace_hops.py (trace-hops.txt)
#   BENCH_SKIP_BUILD=1  do not run setup-host.sh and make check-build
#   BENCH_DETERMINISTIC=1  boot the VM a second time under TCG's
#                   instruction counting (VM_ICOUNT, see vm/vm-run.sh) and
#                   run the same benchmarks: guest time is then the count of
#                   instructions executed, so a busy host does not change
#                   the numbers; every row gets that ratio next to the
#                   wall-clock one.  bench/compare.py compares two reports.
#   BENCH_ICOUNT_SHIFT  the shift: 2^N ns per instruction (default 3)
#   BENCH_LOAD=N    N busy loops on the host while the VM runs (to see what
#                   load does to each kind of ratio)
#
# Exit status: 0 when the benchmarks ran and the report was written,
# whatever the numbers say; 1 otherwise.
set -euo pipefail

case ${1:-} in -h|--help) sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;; esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(git -C "$here" rev-parse --show-toplevel 2> /dev/null || true)
[ -n "$REPO" ] || REPO=$(cd "$here/../../../../.." && pwd -P)
REPO=$(cd "$REPO" && pwd -P)
selftests=$REPO/tools/testing/selftests/vfio-user
PY=/usr/bin/python3
t_start=$(date +%s)

note() { echo "bench: $*" >&2; }

# --- 1. set-up and build --------------------------------------------------------
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
	"$REPO/scripts/setup-host.sh"
	make --no-print-directory -C "$REPO" check-build
fi
make --no-print-directory -s -C "$here"

have_mpl() { "$PY" -c 'import matplotlib' 2> /dev/null; }
if ! have_mpl; then
	SUDO=
	[ "$(id -u)" = 0 ] || SUDO=sudo
	note "installing python3-matplotlib for the plot"
	export DEBIAN_FRONTEND=noninteractive
	# apt's lists may be empty on a fresh machine: update only then.
	if ! apt-cache show python3-matplotlib > /dev/null 2>&1; then
		$SUDO apt-get -q -o DPkg::Lock::Timeout=600 update > /dev/null || true
	fi
	$SUDO apt-get -q -y -o DPkg::Lock::Timeout=600 install python3-matplotlib > /dev/null ||
		note "could not install python3-matplotlib: the report will have no plot"
fi

# --- 2. the VM --------------------------------------------------------------------
ts=$(date +%Y%m%d-%H%M%S)
res=$REPO/build/bench/$ts
mkdir -p "$res"
ln -sfn "$ts" "$REPO/build/bench/latest"
{
	printf '{"timestamp": "%s", "git": "%s", "host": "%s", "host_cpus": %s, "host_load": "%s"}\n' \
		"$(date -Is)" \
		"$(git -C "$REPO" describe --always --dirty 2> /dev/null || echo unknown)" \
		"$(uname -n)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
} > "$res/run-info.json"

# run_vm OUT [ENV...]: the guest part, its results in OUT.
run_vm() {
	local o=$1 vm_args
	shift
	vm_args=(--out "$o/vm" --quiet --timeout "${VM_TIMEOUT:-900}")
	[ -z "${KVER:-}" ] || vm_args+=(--kver "$KVER")
	cmd=(env)
	[ -z "${BENCH_CPUS:-}" ] || cmd+=("BENCH_CPUS=$BENCH_CPUS")
	[ -z "${BENCH_PERF:-}" ] || cmd+=("BENCH_PERF=$BENCH_PERF")
	[ -z "${BENCH_TRACE:-}" ] || cmd+=("BENCH_TRACE=$BENCH_TRACE")
	[ -z "${VFIO_USER_KO:-}" ] || cmd+=("VFIO_USER_KO=$VFIO_USER_KO")
	cmd+=("$selftests/bench/guest.sh" "$o" "${bench_args[@]}")
	note "booting the test VM${*:+ ($*)}; results in ${o#"$REPO"/} (console: ${o#"$REPO"/}/vm/console.log)"
	mkdir -p "$o"
	set +e
	env "$@" "$selftests/vm/vm-run.sh" "${vm_args[@]}" -- "${cmd[@]}"
	vm_rc=$?
	set -e
	if [ ! -s "$o/raw.jsonl" ]; then
		note "the benchmarks did not run (vm-run.sh exit $vm_rc); last console lines:"
		tail -n 30 "$o/vm/console.log" >&2 || true
		exit 1
	fi
}

bench_args=("$@")
load_pids=()
stop_load() { [ ${#load_pids[@]} = 0 ] || kill "${load_pids[@]}" 2> /dev/null || true; load_pids=(); }
trap stop_load EXIT
for _ in $(seq "${BENCH_LOAD:-0}"); do
	sh -c 'while :; do :; done' &
	load_pids+=($!)
done
[ ${#load_pids[@]} = 0 ] || note "${#load_pids[@]} busy loops on the host while the VM runs (BENCH_LOAD)"

run_vm "$res"
[ "$vm_rc" = 0 ] || note "the guest part exited with status $vm_rc (see vu_bench.log); reporting what was measured"
if [ "${BENCH_DETERMINISTIC:-0}" = 1 ]; then
	mkdir -p "$res/det"
	echo "${BENCH_ICOUNT_SHIFT:-3}" > "$res/det/icount"
	run_vm "$res/det" "VM_ICOUNT=${BENCH_ICOUNT_SHIFT:-3}"
	[ "$vm_rc" = 0 ] || note "the deterministic run's guest part exited with status $vm_rc"
fi
stop_load
sed -i "s|}\$|, \"host_load_after\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}|" "$res/run-info.json"
for t in "$res"/trace-trap.txt "$res"/trace-irq.txt; do
	[ -s "$t" ] && "$PY" "$here/trace_hops.py" "$t" >> "$res/trace-hops.txt"
done

# --- 3. the report ------------------------------------------------------------------
echo
"$PY" "$here/render.py" "$res"
echo
extra=$(cd "$res" && ls perf-*.txt trace-hops.txt 2> /dev/null | tr '\n' ' ' || true)
note "table ${res#"$REPO"/}/results.md, data results.json, plot latency.png${extra:+, also: $extra}"
note "wall time $(( $(date +%s) - t_start ))s"
