#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# guest.sh - the benchmarks' part inside the test VM (bench/run.sh boots it):
#
#   guest.sh RESULTS_DIR [vu_bench options...]
#
# Loads vfio, vfio_iommu_type1, mdev and drivers/vfio/user/vfio_user.ko as
# run_tests.sh does, then runs vu_bench (which starts its own test servers,
# binds one through sysfs and opens it as a VMM does) twice:
#
#   1. everything, with only BENCH_CPUS (default 1) CPUs online.  Under TCG
#      on a busy host a wake-up across vCPUs waits for the host to schedule
#      the other vCPU thread, in steps of its 4 ms tick, which buries the
#      microseconds being compared; with one vCPU the guest's work is one
#      host thread and costs add up as CPU time.
#   2. the interrupt benchmark again across CPUs (if the VM has two): the
#      VMM's waiting threads alone on CPU 0, the servers, the trigger and
#      the driver's workers (unbound workqueue cpumask) on the others, so
#      that raising an interrupt wakes an idle CPU, as it does for a VMM's
#      irqfd thread.  Its benches are named irq_*_xcpu.
#
# RESULTS_DIR gets:
#   raw.jsonl       the results of both runs, one JSON object per line
#   vu_bench.log    their stderr
#   dmesg.txt       the guest's kernel log afterwards
#   perf-trap.txt, perf-dma.txt
#                   with BENCH_PERF=1: cpu-clock profiles (perf record -a -g;
#                   TCG has no PMU) of separate short runs of the trapped
#                   access and DMA benchmarks, one vCPU
#   trace-trap.txt, trace-irq.txt
#                   with BENCH_TRACE=1: ftrace of short trapped-access and
#                   interrupt runs (scheduler, vfio_user and syscall events),
#                   for bench/trace_hops.py (run.sh runs it on the host)
# Runs as root, from the repository root.  Exit status: 0 when both runs of
# vu_bench succeeded.
set -uo pipefail

[ $# -ge 1 ] || { sed -n '3,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }
results=$1
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../../../../.." && pwd -P)
bin=$here/../build/bench
ko=${VFIO_USER_KO:-$repo/drivers/vfio/user/vfio_user.ko}
mkdir -p "$results"

# shellcheck source=../vm/module-deps.sh
. "$here/../vm/module-deps.sh"
for m in $(vu_module_deps "$ko"); do
	modprobe "$m" || [ -d "/sys/module/$m" ] || { echo "guest.sh: modprobe $m failed" >&2; exit 1; }
done
loaded=0
if ! grep -q '^vfio_user ' /proc/modules; then
	insmod "$ko" || { echo "guest.sh: insmod $ko failed" >&2; exit 1; }
	loaded=1
fi

cpus_online() { grep -c ^processor /proc/cpuinfo; }
set_cpus() { # set_cpus N: CPUs 0..N-1 online, the others offline
	local c n
	for c in /sys/devices/system/cpu/cpu[0-9]*; do
		n=${c##*cpu}
		[ -w "$c/online" ] || continue
		if [ "$n" -lt "$1" ]; then echo 1 > "$c/online"; else echo 0 > "$c/online"; fi
	done 2> /dev/null
}
ncpus=$(cpus_online)
wq_mask=/sys/devices/virtual/workqueue/cpumask
wq_saved=$(cat "$wq_mask" 2> /dev/null || true)

set_cpus "${BENCH_CPUS:-1}"
echo "# vu_bench $* ($(cpus_online) CPU online)"
"$bin/vu_bench" -o "$results/raw-main.jsonl" "$@" 2> "$results/vu_bench.log"
rc=$?
set_cpus "$ncpus"

rc2=0
xcpu=1
[[ " $* " == *" --only "* && " $* " != *irq* ]] && xcpu=0
if [ "$xcpu" = 1 ] && [ "$(cpus_online)" -ge 2 ]; then
	# The waiters' CPU 0 gets no unbound work (the driver's receive worker).
	[ -w "$wq_mask" ] && printf '%x\n' $(( (1 << ncpus) - 2 )) > "$wq_mask"
	echo "# vu_bench --only irq --irq-cpu 0 $* ($(cpus_online) CPUs online)"
	"$bin/vu_bench" -o "$results/raw-xcpu.jsonl" --only irq --irq-cpu 0 "$@" \
		2>> "$results/vu_bench.log"
	rc2=$?
	[ -w "$wq_mask" ] && [ -n "$wq_saved" ] && echo "$wq_saved" > "$wq_mask"
fi
cat "$results"/raw-main.jsonl "$results"/raw-xcpu.jsonl > "$results/raw.jsonl" 2> /dev/null
rm -f "$results"/raw-main.jsonl "$results"/raw-xcpu.jsonl
tail -n 20 "$results/vu_bench.log"

# Short separate runs, so that profiling does not disturb the numbers.
if [ "${BENCH_PERF:-0}" = 1 ] && command -v perf > /dev/null; then
	set_cpus "${BENCH_CPUS:-1}"
	for what in trap dma; do
		echo "# perf: profiling a short $what run"
		perf record -q -a -g -e cpu-clock -F 4000 -o /tmp/perf.data -- \
			"$bin/vu_bench" -o /tmp/perf-run.jsonl --only "$what" --rounds 3 \
			> /dev/null 2>&1
		{
			echo "## perf report --no-children --sort comm,dso,sym (cpu-clock, whole guest)"
			perf report -i /tmp/perf.data --stdio --no-children --sort comm,dso,sym \
				-g none --percent-limit 0.5 2> /dev/null
			echo
			echo "## the same with call chains (callers)"
			perf report -i /tmp/perf.data --stdio --no-children --sort comm,sym \
				-g caller,0.5,callee --percent-limit 1.5 2> /dev/null | head -n 800
		} > "$results/perf-$what.txt"
	done
	set_cpus "$ncpus"
fi

if [ "${BENCH_TRACE:-0}" = 1 ]; then
	T=/sys/kernel/tracing
	mountpoint -q $T || mount -t tracefs nodev $T
	set_cpus "${BENCH_CPUS:-1}"
	echo mono > $T/trace_clock
	echo 16384 > $T/buffer_size_kb
	for what in trap irq; do
		echo "# ftrace: a short $what run"
		echo 0 > $T/tracing_on
		echo > $T/trace
		for e in sched/sched_switch sched/sched_wakeup vfio_user workqueue/workqueue_execute_start \
			 syscalls/sys_enter_pread64 syscalls/sys_exit_pread64 \
			 syscalls/sys_enter_pwrite64 syscalls/sys_exit_pwrite64 \
			 syscalls/sys_enter_read syscalls/sys_exit_read \
			 syscalls/sys_enter_sendmsg syscalls/sys_enter_recvmsg syscalls/sys_exit_recvmsg; do
			echo 1 > "$T/events/$e/enable"
		done
		echo 1 > $T/tracing_on
		"$bin/vu_bench" -o /tmp/trace-run.jsonl --only "$what" --rounds 2 --scale 0.3 \
			> /dev/null 2>&1
		echo 0 > $T/tracing_on
		cat $T/trace > "$results/trace-$what.txt"
		echo 0 > $T/events/enable
	done
	set_cpus "$ncpus"
fi

[ "$loaded" = 1 ] && rmmod vfio_user
dmesg > "$results/dmesg.txt"
[ "$rc" = 0 ] && [ "$rc2" = 0 ]
