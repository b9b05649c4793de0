#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""compare.py - how far two benchmark reports agree, row by row.

    compare.py RESULTS_A RESULTS_B

Reads the results.json of two make bench runs (BENCH_DETERMINISTIC=1 for
the deterministic column) and prints, per row, each run's wall-clock and
deterministic ratio and their relative difference |a - b| / mean, then the
largest difference of each kind over the rows both measured.  Rows that
deterministic mode cannot measure (cross-CPU wake-ups) are listed but left
out of its maximum.  Exit status 0; it reports, it does not judge.
"""
import json
import os
import sys


def rows(path):
    with open(os.path.join(path, "results.json")) as f:
        r = json.load(f)
    return r["rows"], r.get("run", {})


def rel(a, b):
    return abs(a - b) / ((a + b) / 2) if a is not None and b is not None and a + b else None


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    (ra, ia), (rb, ib) = rows(sys.argv[1]), rows(sys.argv[2])
    print(f"A: {sys.argv[1]} (host load {ia.get('host_load', '?')} / {ia.get('host_load_after', '?')})")
    print(f"B: {sys.argv[2]} (host load {ib.get('host_load', '?')} / {ib.get('host_load_after', '?')})")
    print()
    print("| # | benchmark | wall A | wall B | diff | det A | det B | diff |")
    print("|---|---|---|---|---|---|---|---|")
    worst = {"wall": (0.0, None), "det": (0.0, None)}
    for a, b in zip(ra, rb):
        wa, wb = a.get("ratio"), b.get("ratio")
        da = a.get("det", {}).get("ratio")
        db = b.get("det", {}).get("ratio")
        cannot = a.get("det", {}).get("status") == "cannot"
        dw, dd = rel(wa, wb), rel(da, db)
        if dw is not None and dw > worst["wall"][0]:
            worst["wall"] = (dw, a["what"])
        if dd is not None and not cannot and dd > worst["det"][0]:
            worst["det"] = (dd, a["what"])

        def f(v, p=3):
            return "–" if v is None else f"{v:.{p}f}"

        def pct(v):
            return "–" if v is None else f"{100 * v:.1f}%"
        print(f"| {a['id']} | {a['what']} | {f(wa, 2)} | {f(wb, 2)} | {pct(dw)} | {f(da)} | {f(db)} | "
              f"{pct(dd)}{' †' if cannot else ''} |")
    print()
    for k, label in (("wall", "wall-clock"), ("det", "deterministic")):
        v, what = worst[k]
        print(f"largest {label} difference: {100 * v:.2f}%" + (f" ({what})" if what else ""))
    print("† cannot be measured deterministically (cross-CPU wake-up); left out of the maximum")
    return 0


if __name__ == "__main__":
    sys.exit(main())
