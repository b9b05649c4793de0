#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""trace_hops.py - what runs while the VMM waits, from an ftrace dump.

    trace_hops.py TRACE_FILE

TRACE_FILE is the ftrace text guest.sh writes with BENCH_TRACE=1 (events
sched_switch, sched_wakeup, vfio_user_*, and the read/pread64/pwrite64
syscalls).  Prints:

  - for every VMM pread64/pwrite64 of 4 bytes (a trapped access through the
    driver): how long it took and which tasks ran, in order, before it
    returned: the hops of the driver's path;
  - for every wake-up of an interrupt waiter (a thread blocked in an 8-byte
    read(), woken by an eventfd write): which tasks ran between the wake-up
    and the waiter's return from read(): who delays the interrupt.

Grouped by sequence, most common first, with median times.
"""
import collections
import re
import statistics
import sys

EV = re.compile(r"^\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+): ([a-z_0-9]+)(?:: |\(| )(.*)$")


def parse(path):
    ev = []
    with open(path, errors="replace") as f:
        for line in f:
            m = EV.match(line)
            if m:
                ev.append((m.group(1), int(m.group(2)), int(m.group(3)), float(m.group(4)),
                           m.group(5), m.group(6)))
    return ev


def switched_to(args):
    m = re.search(r"next_comm=(.+?) next_pid=(\d+)", args)
    return (m.group(1), int(m.group(2))) if m else (None, None)


def kind(comm, pid, names):
    return names.get(pid) or re.sub(r"[/:].*", "", comm)


def report(title, items):
    print(f"== {title}: {len(items)}")
    if not items:
        return
    print(f"   all: median {statistics.median(d for d, _ in items):.1f} µs")
    groups = collections.defaultdict(list)
    for d, seq in items:
        groups[seq].append(d)
    for seq, ds in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:6]:
        print(f"   {len(ds):5d}x  median {statistics.median(ds):8.1f} µs   "
              f"{' -> '.join(seq) if seq else '(nothing else ran)'}")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    ev = parse(sys.argv[1])
    # Name the tasks by role.
    names = {}
    for comm, pid, cpu, t, e, a in ev:
        if comm.startswith("vfio_user_test"):
            names[pid] = "server"
        elif comm.startswith("kworker"):
            names[pid] = "kworker"
    # Waiters loop on 8-byte reads; the main thread reads 8 bytes once or
    # twice (the servers' ready pipes).
    reads = collections.Counter(pid for comm, pid, cpu, t, e, a in ev
                                if e == "sys_read" and "count: 8)" in a)
    waiters = {pid for pid, n in reads.items() if n >= 10}
    for p in waiters:
        names[p] = "irq-waiter"
    for comm, pid, cpu, t, e, a in ev:
        if comm.startswith("vu_bench") and pid not in names:
            names[pid] = "vmm"

    # Trapped accesses: pread64/pwrite64 of 4 bytes, enter to exit.
    traps = []
    open_ops = {}
    for i, (comm, pid, cpu, t, e, a) in enumerate(ev):
        if e in ("sys_pread64", "sys_pwrite64") and "count: 4," in a:
            open_ops[pid] = (t, [])
        elif e == "sched_switch":
            c, p = switched_to(a)
            for op in open_ops.values():
                op[1].append(kind(c, p, names))
        elif e in ("sys_pread64", "sys_pwrite64") and a.startswith("->") and pid in open_ops:
            t0, seq = open_ops.pop(pid)
            traps.append(((t - t0) * 1e6, tuple(seq)))
    report("trapped 4-byte accesses through the driver (tasks run before the syscall returned)",
           traps)

    # Interrupt wake-ups: sched_wakeup of a waiter until its read() returns.
    irqs = collections.defaultdict(list)
    pending = {}
    for comm, pid, cpu, t, e, a in ev:
        if e == "sched_wakeup":
            m = re.search(r"pid=(\d+)", a)
            if m and int(m.group(1)) in waiters and int(m.group(1)) not in pending:
                pending[int(m.group(1))] = (t, [], kind(comm, pid, names))
        elif e == "sched_switch":
            c, p = switched_to(a)
            for w, st in pending.items():
                if p != w:
                    st[1].append(kind(c, p, names))
        elif e == "sys_read" and a.startswith("-> 0x8") and pid in pending:
            t0, seq, waker = pending.pop(pid)
            irqs[pid].append(((t - t0) * 1e6, tuple(seq)))
    for n, (w, items) in enumerate(sorted(irqs.items())):
        report(f"interrupt waiter {n} (pid {w}): wake-up to read() returning, tasks run before it",
               items)
    if irqs:
        print("(vu_bench starts the waiters in the order driver, vfu_client, plain eventfd)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
