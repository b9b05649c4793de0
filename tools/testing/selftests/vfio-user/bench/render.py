#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""render.py - turn vu_bench's JSON lines into the benchmark report.

    render.py RESULTS_DIR

Reads RESULTS_DIR/raw.jsonl (vu_bench's output, both guest runs),
RESULTS_DIR/det/raw.jsonl when there is one (the same under instruction
counting, BENCH_DETERMINISTIC=1) and RESULTS_DIR/run-info.json (written by
run.sh), writes

    results.json   every row of the table, the series behind them, notes
    results.md     the table: each row the driver against its baseline
    latency.png    latency distributions (CDFs), one panel per benchmark

and prints results.md.  Needs only the standard library, plus matplotlib
for the plot (skipped with a note when it is missing).  Reports; never
fails on a number: the targets are a column, not a verdict.
"""
import json
import os
import statistics
import sys

# "Equal to a plain eventfd": a latency ratio can only be equal within the
# noise of the measurement; 5 % is what repeated runs of the same path show.
EQUAL = "equal"
EQUAL_MIN = 0.95

# (id, what, bench, driver variant, baseline variant, metric, target)
#   metric "ops": ops/s, ratio = driver / baseline
#          "bw":  bytes/s, ratio = driver / baseline
#          "lat": median latency, ratio = baseline / driver
#   target None: a reference row, no target.
ROWS = [
    ("1a", "trapped 4-byte read, BAR0 (pread)", "trap_read", "driver", "vfu_client", "ops", 1.0),
    ("1a", "trapped 4-byte write, BAR0 (pwrite)", "trap_write", "driver", "vfu_client", "ops", 1.0),
    ("1b", "trapped 4-byte read: transport floor", "trap_read", "driver", "raw_socket", "ops", None),
    ("1b", "trapped 4-byte write: transport floor", "trap_write", "driver", "raw_socket", "ops", None),
    ("2", "reads, 1 in flight", "pipe_read_d1", "driver", "vfu_client", "ops", 1.0),
    ("2", "reads, 2 in flight", "pipe_read_d2", "driver", "vfu_client", "ops", 1.0),
    ("2", "reads, 4 in flight", "pipe_read_d4", "driver", "vfu_client", "ops", 1.0),
    ("2b", "reads, 1 in flight: transport floor", "pipe_read_d1", "driver", "raw_socket", "ops", None),
    ("2b", "reads, 2 in flight: transport floor", "pipe_read_d2", "driver", "raw_socket", "ops", None),
    ("2b", "reads, 4 in flight: transport floor", "pipe_read_d4", "driver", "raw_socket", "ops", None),
    ("3", "mmap'd BAR2, memcpy 32 KiB out of it", "mmap_read", "driver", "direct", "bw", 0.95),
    ("3", "mmap'd BAR2, memcpy 32 KiB into it", "mmap_write", "driver", "direct", "bw", 0.95),
    ("4", "DMA zero-copy, VMM RAM -> BAR2, 64 KiB, GO to DONE", "dma_to_bar2", "zero_copy", "memcpy", "bw", 0.8),
    ("4", "DMA zero-copy, BAR2 -> VMM RAM, 64 KiB, GO to DONE", "dma_to_guest", "zero_copy", "memcpy", "bw", 0.8),
    ("4c", "DMA zero-copy, VMM RAM -> BAR2: copy alone (GO - doorbell)", "dma_to_bar2", "zero_copy", "memcpy", "dp", None),
    ("4c", "DMA zero-copy, BAR2 -> VMM RAM: copy alone (GO - doorbell)", "dma_to_guest", "zero_copy", "memcpy", "dp", None),
    ("4m", "DMA message, VMM RAM -> BAR2, 64 KiB, GO to DONE", "dma_to_bar2", "message", "memcpy", "bw", None),
    ("4m", "DMA message, BAR2 -> VMM RAM, 64 KiB, GO to DONE", "dma_to_guest", "message", "memcpy", "bw", None),
    ("5", "interrupt: server's eventfd write -> VMM wakes, across CPUs", "irq_oneway_xcpu", "driver", "plain_eventfd", "lat", EQUAL),
    ("5", "interrupt: server's eventfd write -> VMM wakes, one CPU", "irq_oneway", "driver", "plain_eventfd", "lat", EQUAL),
    ("5t", "interrupt: VMM writes IRQ_RAISE -> VMM wakes, across CPUs", "irq_trigger_xcpu", "driver", "vfu_client", "lat", None),
    ("5t", "interrupt: VMM writes IRQ_RAISE -> VMM wakes, one CPU", "irq_trigger", "driver", "vfu_client", "lat", None),
]

VARIANT_LABEL = {
    "driver": "driver",
    "vfu_client": "vfu_client",
    "raw_socket": "raw AF_UNIX",
    "direct": "memfd direct",
    "zero_copy": "driver zero-copy",
    "message": "driver message",
    "memcpy": "memcpy",
    "plain_eventfd": "plain eventfd",
}

PANELS = [
    ("1. trapped 4-byte access (per op)", [("trap_read", None, "read"), ("trap_write", None, "write")],
     ["driver", "vfu_client", "raw_socket"]),
    ("2. reads with N in flight (per op)", [("pipe_read_d1", None, "N=1"), ("pipe_read_d2", None, "N=2"),
                                             ("pipe_read_d4", None, "N=4")],
     ["driver", "vfu_client", "raw_socket"]),
    ("3. mmap'd BAR2, memcpy 32 KiB", [("mmap_read", None, "out"), ("mmap_write", None, "in")],
     ["driver", "direct"]),
    ("4. DMA 64 KiB, GO to DONE", [("dma_to_bar2", None, "to BAR2"), ("dma_to_guest", None, "to RAM")],
     ["zero_copy", "message", "memcpy", "doorbell"]),
    ("5. interrupt: signal -> wake", [("irq_oneway", None, "1 CPU"), ("irq_oneway_xcpu", None, "x-CPU")],
     ["driver", "vfu_client", "plain_eventfd"]),
    ("5. interrupt: IRQ_RAISE write -> wake", [("irq_trigger", None, "1 CPU"), ("irq_trigger_xcpu", None, "x-CPU")],
     ["driver", "vfu_client", "plain_eventfd"]),
]


def target_label(t):
    if t is None:
        return "-"
    return f"≈ 1 (≥ {EQUAL_MIN:g})" if t == EQUAL else f"≥ {t:g}"


def target_min(t):
    return EQUAL_MIN if t == EQUAL else t


def fmt_ns(ns):
    if ns is None:
        return "-"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def fmt_rate(v, metric):
    if v is None:
        return "-"
    if metric in ("bw", "dp"):
        return f"{v / 1e9:.3f} GB/s"
    if metric == "lat":
        return "-"
    if v >= 1e4:
        return f"{v / 1e3:.1f} k/s"
    return f"{v:.0f}/s"


def load(path):
    out = {"series": {}, "notes": [], "errors": [], "meta": [], "stats": [], "irq_same_file": None}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                o = json.loads(line)
            except json.JSONDecodeError:
                out["errors"].append({"bench": "render", "msg": f"unparsable line: {line[:80]}"})
                continue
            k = o.get("kind")
            if k == "series":
                out["series"][(o["bench"], o["variant"])] = o
            elif k == "note":
                out["notes"].append(o)
            elif k == "error":
                out["errors"].append(o)
            elif k == "meta":
                out["meta"].append(o)
            elif k == "driver_stats":
                out["stats"].append(o)
            elif k == "irq_same_file":
                if out["irq_same_file"] is None or o["value"] is not True:
                    out["irq_same_file"] = o["value"]
    return out


def rate(s, metric):
    """Operations or bytes per second over all batches."""
    if not s or not s["wall_ns"]:
        return None
    r = s["ops"] * 1e9 / s["wall_ns"]
    return r * s["bytes_per_op"] if metric in ("bw", "dp") else r


def per_round(s):
    """round -> (ops, wall_ns, median_ns) of its batch."""
    return {b[0]: b for b in s["batches"]} if s else {}


def row_ratio(data, bench, dv, bv, metric):
    """(headline ratio, min, max, pooled, per-round list) or Nones."""
    S = data["series"]
    d, b = S.get((bench, dv)), S.get((bench, bv))
    if not d or not b:
        return None
    rd, rb = per_round(d), per_round(b)
    rounds = sorted(set(rd) & set(rb))
    ratios = []
    if metric == "dp":
        go = per_round(S.get((bench, dv + "_go")))
        bell = per_round(S.get((bench, "doorbell")))
        rounds = sorted(set(rounds) & set(go) & set(bell))
        for r in rounds:
            copy_ns = go[r][3] - bell[r][3]
            if copy_ns > 0:
                ratios.append(rb[r][3] / copy_ns)
        g, bl = S.get((bench, dv + "_go")), S.get((bench, "doorbell"))
        pooled = (b["median_ns"] / (g["median_ns"] - bl["median_ns"])
                  if g and bl and g["median_ns"] > bl["median_ns"] else None)
    elif metric == "lat":
        for r in rounds:
            if rd[r][3]:
                ratios.append(rb[r][3] / rd[r][3])
        pooled = b["median_ns"] / d["median_ns"] if d["median_ns"] else None
    else:
        for r in rounds:
            if rd[r][2] and rb[r][2] and rb[r][1]:
                ratios.append((rd[r][1] / rd[r][2]) / (rb[r][1] / rb[r][2]))
        rdv, rbv = rate(d, metric), rate(b, metric)
        pooled = rdv / rbv if rdv and rbv else None
    if not ratios:
        return None
    return statistics.median(ratios), min(ratios), max(ratios), pooled, ratios


def build_rows(data):
    rows = []
    S = data["series"]
    for rid, what, bench, dv, bv, metric, target in ROWS:
        d, b = S.get((bench, dv)), S.get((bench, bv))
        row = {"id": rid, "what": what, "bench": bench, "metric": metric, "target": target,
               "driver_variant": dv, "baseline_variant": bv}
        if metric == "dp":
            g, bl = S.get((bench, dv + "_go")), S.get((bench, "doorbell"))
            if g and bl and b:
                copy_ns = g["median_ns"] - bl["median_ns"]
                row["driver"] = {"median_ns": copy_ns, "p99_ns": None,
                                 "rate": d["bytes_per_op"] * 1e9 / copy_ns if copy_ns > 0 else None,
                                 "go_median_ns": g["median_ns"], "doorbell_median_ns": bl["median_ns"]}
                row["baseline"] = {"median_ns": b["median_ns"], "p99_ns": b["p99_ns"],
                                   "rate": b["bytes_per_op"] * 1e9 / b["median_ns"]}
        elif d and b:
            for key, s in (("driver", d), ("baseline", b)):
                row[key] = {"median_ns": s["median_ns"], "p99_ns": s["p99_ns"],
                            "rate": rate(s, metric), "n": s["n"],
                            "ctxt_per_op": s.get("ctxt_per_op")}
        rr = row_ratio(data, bench, dv, bv, metric)
        if rr and "driver" in row:
            row["ratio"], row["ratio_min"], row["ratio_max"], row["ratio_pooled"], row["ratio_rounds"] = rr
            row["status"] = ("reference" if target is None else
                             "met" if row["ratio"] >= target_min(target) else "below")
        else:
            row["status"] = "not measured"
        rows.append(row)
    return rows


# Rows deterministic mode cannot measure, and why.  With instruction
# counting one host thread runs the vCPUs in turn, each for a slice of
# instructions: a wake-up of a task on the other vCPU waits for that vCPU's
# turn, a cost of the emulation that no kernel path has, and it sets the
# whole latency.
DET_CANNOT = {
    "irq_oneway_xcpu": "cross-CPU wake-up: under icount the other vCPU runs only in its turn",
    "irq_trigger_xcpu": "cross-CPU wake-up: under icount the other vCPU runs only in its turn",
}


def attach_det(rows, det_rows):
    """Each row gets det: the deterministic run's ratio and range, or why not."""
    for r, d in zip(rows, det_rows):
        if r["bench"] in DET_CANNOT:
            r["det"] = {"status": "cannot", "why": DET_CANNOT[r["bench"]]}
            if d.get("ratio") is not None:
                r["det"].update(ratio=d["ratio"], ratio_min=d["ratio_min"], ratio_max=d["ratio_max"])
        elif d.get("ratio") is not None:
            r["det"] = {"status": "measured", "ratio": d["ratio"], "ratio_min": d["ratio_min"],
                        "ratio_max": d["ratio_max"], "ratio_pooled": d["ratio_pooled"]}
        else:
            r["det"] = {"status": "not measured"}


def det_cell(r):
    d = r.get("det")
    if d is None:
        return None
    if d["status"] == "measured":
        return f"**{d['ratio']:.3f}** ({d['ratio_min']:.3f}–{d['ratio_max']:.3f})"
    if d["status"] == "cannot":
        return f"({d['ratio']:.2f}) †" if "ratio" in d else "†"
    return "not measured"


def markdown(data, rows, info):
    meta = data["meta"][0] if data["meta"] else {}
    L = []
    L.append("# vfio_user benchmarks")
    L.append("")
    L.append(f"Run {info.get('timestamp', '?')} on `{info.get('git', '?')}`: guest kernel "
             f"{meta.get('kernel', '?')} under QEMU TCG, {meta.get('rounds', '?')} alternating rounds "
             f"per benchmark (scale {meta.get('scale', '?')}); host load average before / after: "
             f"{info.get('host_load', '?')} / {info.get('host_load_after', '?')} on "
             f"{info.get('host_cpus', '?')} host CPUs.")
    L.append("")
    L.append("Each row: the driver against its baseline, measured in the same run, in alternating "
             "rounds. **ratio** = driver ÷ baseline in ops/s or GB/s (for interrupts: baseline "
             "latency ÷ driver latency), so ≥ target means the target is met; it is the median of "
             "the per-round ratios, with their range.  Absolute times under TCG mean little.")
    L.append("")
    det = any("det" in r for r in rows)
    if det:
        L.append("**deterministic** = the same ratio from a second boot under TCG instruction "
                 f"counting (`-icount shift={info.get('icount_shift', '?')},sleep=off`, one host "
                 "thread for the vCPUs): guest time is the instruction count, so host load does "
                 "not move it; † = a row it cannot measure (see below).")
        L.append("")
    L.append("| # | benchmark | driver: median / p99 | driver rate | baseline | baseline: median / p99 "
             "| baseline rate | ratio (rounds) |" + (" deterministic |" if det else "") + " target | |")
    L.append("|---|---|---|---|---|---|---|---|---|---|" + ("---|" if det else ""))
    for r in rows:
        if r["status"] == "not measured":
            why = "not measured"
            if r["bench"].startswith("dma") and any("no DMA engine" in n["msg"] for n in data["notes"]):
                why = "not measured: no DMA engine yet"
            elif r["bench"].endswith("_xcpu"):
                why = "not measured (needs 2 vCPUs)"
            L.append(f"| {r['id']} | {r['what']} | {why} | | {VARIANT_LABEL.get(r['baseline_variant'], r['baseline_variant'])} | | | | "
                     + (f"{det_cell(r)} | " if det else "") + f"{target_label(r['target'])} | |")
            continue
        d, b, m = r["driver"], r["baseline"], r["metric"]
        dlat = f"{fmt_ns(d['median_ns'])} / {fmt_ns(d['p99_ns'])}" if d.get("p99_ns") else fmt_ns(d["median_ns"])
        blat = f"{fmt_ns(b['median_ns'])} / {fmt_ns(b['p99_ns'])}"
        ratio = f"**{r['ratio']:.2f}** ({r['ratio_min']:.2f}–{r['ratio_max']:.2f})"
        tgt = target_label(r["target"])
        mark = {"met": "met", "below": "**below**", "reference": "reference"}[r["status"]]
        L.append(f"| {r['id']} | {r['what']} | {dlat} | {fmt_rate(d['rate'], m)} | "
                 f"{VARIANT_LABEL.get(r['baseline_variant'], r['baseline_variant'])} | {blat} | "
                 f"{fmt_rate(b['rate'], m)} | {ratio} | " + (f"{det_cell(r)} | " if det else "")
                 + f"{tgt} | {mark} |")
    L.append("")
    cannot = sorted({r["det"]["why"] for r in rows if r.get("det", {}).get("status") == "cannot"})
    for why in cannot:
        L.append(f"† Deterministic mode cannot measure this row: {why}; the wall-clock ratio is "
                 "the measurement (its figure in parentheses is shown, not used).")
        L.append("")

    # Context switches per operation: the hops a path takes.
    S = data["series"]
    cs = []
    for bench, label in (("trap_read", "trapped read"), ("trap_write", "trapped write"),
                         ("pipe_read_d4", "reads, 4 in flight"), ("dma_to_bar2", "DMA to BAR2"),
                         ("dma_to_guest", "DMA to RAM"), ("irq_oneway", "interrupt, one CPU")):
        parts = []
        for v in ("driver", "vfu_client", "raw_socket", "zero_copy", "message", "plain_eventfd"):
            s = S.get((bench, v))
            if s and s.get("ctxt_per_op") is not None:
                parts.append(f"{VARIANT_LABEL.get(v, v)} {s['ctxt_per_op']:.2f}")
        if parts:
            cs.append(f"| {label} | {', '.join(parts)} |")
    if cs:
        L.append("Context switches per operation (system-wide, from /proc/stat, one vCPU):")
        L.append("")
        L.append("| benchmark | context switches / op |")
        L.append("|---|---|")
        L.extend(cs)
        L.append("")

    L.append("How it was measured:")
    L.append("")
    L.append("- Everything but the `across CPUs` rows runs with one vCPU online: on this shared "
             "TCG host a wake-up across vCPUs waits for the host to schedule the other vCPU "
             "thread (in 4 ms steps), which buries what is being compared. With one vCPU, "
             "costs add up as CPU time; pipelining then measures batching, not parallelism.")
    L.append("- 1: `pread`/`pwrite` of 4 bytes at BAR0 SCRATCH on the VFIO device fd; baseline (a) "
             "vfu_client's REGION_READ/WRITE on a second instance of the same test server; (b) a "
             "raw AF_UNIX ping-pong with an echo process, 32/36-byte requests and 36/32-byte replies.")
    L.append("- 2: N VMM threads on one device fd against one userspace thread keeping N requests "
             "in flight on vfu_client (the best a userspace client can do: no thread hand-offs).")
    L.append("- 3: memcpy of BAR2's sparse area 1 mapped through the device fd against the server's "
             "memfd (fd from vfu_client's GET_REGION_INFO) mapped directly.")
    L.append("- 4: the DMA engine between VMM memory mapped with VFIO_IOMMU_MAP_DMA and BAR2, with "
             "`dma_mode` zero-copy and message (device reopened per mode and round); a transfer is "
             "GO (pwrite of DMA_CTRL) until a read of DMA_STATUS says DONE. Rows 4c take the "
             "engine's own copy time as GO's median minus a SCRATCH write's (\"doorbell\") in the "
             "same phase.")
    same = data["irq_same_file"]
    L.append("- 5: MSI-X vector 0 registered with VFIO_DEVICE_SET_IRQS, raised by writing "
             "IRQ_RAISE. The server's `eventfd_write()` is timestamped by an LD_PRELOAD shim "
             "(irq_stamp.so), the VMM thread blocked in `read()` notes when it wakes: the latency "
             "from signal to wake-up, without the trigger path. The plain baseline: a second "
             "process signals an eventfd the same way, on a 32-byte socket message. "
             + ("kcmp() shows the server holds the VMM's own eventfd file: raising an interrupt "
                "runs no driver code. " if same is True else
                "kcmp() could not confirm that the server holds the VMM's own eventfd. "
                if same is not None else "")
             + "Across CPUs: the waiting threads alone on CPU 0, kept out of HLT by a SCHED_IDLE "
             "spinner (a halted TCG vCPU is woken by the host's scheduler, in milliseconds on a busy "
             "host), everything else on CPU 1. On one CPU the latency is mostly which runnable task "
             "the scheduler picks after the signal (BENCH_TRACE=1 shows it).")
    L.append("")
    notes = [n for n in data["notes"]]
    if notes or data["errors"]:
        L.append("Notes and errors from the run:")
        L.append("")
        for n in notes:
            L.append(f"- note ({n['bench']}): {n['msg']}")
        for e in data["errors"]:
            L.append(f"- **error** ({e['bench']}): {e['msg']}")
        L.append("")
    return "\n".join(L) + "\n"


def plot(data, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (apt-get install python3-matplotlib): no latency.png"
    S = data["series"]
    colors = {"driver": "tab:red", "zero_copy": "tab:red", "vfu_client": "tab:blue",
              "raw_socket": "tab:gray", "direct": "tab:blue", "message": "tab:orange",
              "memcpy": "tab:blue", "doorbell": "tab:gray", "plain_eventfd": "tab:green"}
    styles = ["-", "--", ":"]
    fig, axes = plt.subplots(3, 2, figsize=(13, 13))
    for ax, (title, benches, variants) in zip(axes.flat, PANELS):
        drawn = 0
        for i, (bench, _, blabel) in enumerate(benches):
            for v in variants:
                s = S.get((bench, v))
                if not s or not s["cdf"]:
                    continue
                xs = [x / 1e3 for x in s["cdf"]]
                n = len(xs)
                ys = [(k + 1) / n for k in range(n)]
                ax.step(xs, ys, where="post", color=colors.get(v, "black"),
                        linestyle=styles[i % len(styles)], linewidth=1.3,
                        label=f"{VARIANT_LABEL.get(v, v)}, {blabel}")
                drawn += 1
        ax.set_title(title, fontsize=10)
        ax.set_xscale("log")
        ax.set_xlabel("latency per operation (µs, log)")
        ax.set_ylabel("fraction of operations ≤ x")
        ax.axhline(0.5, color="0.8", linewidth=0.6)
        ax.axhline(0.99, color="0.8", linewidth=0.6)
        ax.grid(True, which="both", alpha=0.25)
        if drawn:
            ax.legend(fontsize=7, loc="lower right")
        else:
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center")
    fig.suptitle("vfio_user: latency distributions (CDF; grey lines at p50 and p99)", fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    return None


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    res = sys.argv[1]
    raw = os.path.join(res, "raw.jsonl")
    if not os.path.exists(raw):
        print(f"render.py: {raw} not found: the guest part did not run", file=sys.stderr)
        return 1
    data = load(raw)
    info = {}
    try:
        with open(os.path.join(res, "run-info.json")) as f:
            info = json.load(f)
    except (OSError, ValueError):
        pass
    rows = build_rows(data)
    det_raw = os.path.join(res, "det", "raw.jsonl")
    det_data = None
    if os.path.exists(det_raw):
        det_data = load(det_raw)
        attach_det(rows, build_rows(det_data))
        try:
            with open(os.path.join(res, "det", "icount")) as f:
                info["icount_shift"] = f.read().strip()
        except OSError:
            pass
    why = plot(data, os.path.join(res, "latency.png"))
    if why:
        data["notes"].append({"bench": "render", "msg": why})
    md = markdown(data, rows, info)
    with open(os.path.join(res, "results.md"), "w") as f:
        f.write(md)
    series = []
    for (bench, variant), s in data["series"].items():
        series.append({k: v for k, v in s.items() if k != "kind"})
    with open(os.path.join(res, "results.json"), "w") as f:
        json.dump({"run": info, "meta": data["meta"], "rows": rows, "series": series,
                   "deterministic": ({"meta": det_data["meta"], "errors": det_data["errors"],
                                      "icount_shift": info.get("icount_shift")}
                                     if det_data else None),
                   "irq_same_file": data["irq_same_file"], "driver_stats": data["stats"],
                   "notes": data["notes"], "errors": data["errors"]}, f, indent=1)
    sys.stdout.write(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
