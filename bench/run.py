"""Benchmarks of the explicit engine on the freezer model: speed, memory, and the largest N.

    python3 dev.py bench                       states/s and bytes/state, N = 2..6
    python3 dev.py bench --threads 2 3 4 5 6 7
    python3 dev.py bench --largest 60          the largest N whose full v10 check fits in 60 s

Figures are printed, never asserted: speed depends on the machine.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import handwritten_freezer

from oomcheck.catalog import build_variant, catalog_for, resolve_variant
from oomcheck.checker.explicit import Limits, check_explicit


def model(variant: str, n: int):
    cat = catalog_for("freezer")
    return build_variant(resolve_variant(cat, variant), {"threads": n}, {}, cat)


def timed(fn):
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bytes_per_state(fn, states: int) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / max(states, 1)


def speed_table(threads: list[int]) -> None:
    print("freezer v10 (refrigerator): explicit engine vs a hand-written BFS of the same model")
    print(f"{'N':>3} {'states':>10} {'hand st/s':>11} {'safety st/s':>12} {'ratio':>6} "
          f"{'all-props st/s':>15} {'B/state safety':>15} {'B/state graph':>14}")
    for n in threads:
        m = model("v10", n)
        inv = [m.properties["oom-victims-balance"]]
        allp = list(m.properties.values())
        (hs, _, hok), th = timed(lambda n=n: handwritten_freezer.bfs(n))
        (r,), te = timed(lambda m=m, inv=inv: check_explicit(m, inv))
        rs, ta = timed(lambda m=m, allp=allp: check_explicit(m, allp))
        if r.states != hs or (r.verdict == "holds") != hok:
            print(f"  MISMATCH at N={n}: engine {r.states} states/{r.verdict}, "
                  f"hand-written {hs} states/{hok}")
        b_safety = bytes_per_state(lambda m=m, inv=inv: check_explicit(m, inv), r.states)
        b_graph = bytes_per_state(lambda m=m, allp=allp: check_explicit(m, allp), r.states)
        print(f"{n:>3} {r.states:>10} {hs / th:>11,.0f} {r.states / te:>12,.0f} "
              f"{(r.states / te) / (hs / th):>6.2f} {rs[0].states / ta:>15,.0f} "
              f"{b_safety:>15,.0f} {b_graph:>14,.0f}", flush=True)


def largest(budget: float, variant: str) -> None:
    print(f"largest N whose full check of {variant} (all properties, liveness included) "
          f"finishes within {budget:g} s")
    best = None
    n = 2
    while n <= 10:
        m = model(variant, n)
        rs, t = timed(lambda m=m: check_explicit(m, list(m.properties.values()),
                                                  Limits(max_seconds=budget)))
        verdicts = {r.verdict for r in rs}
        print(f"  N={n}: {rs[0].states:,} states, {t:.1f} s, verdicts {sorted(verdicts)}",
              flush=True)
        if "unknown" in verdicts or t > budget:
            break
        best = n
        n += 1
    print(f"largest N within {budget:g} s: {best}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[2, 3, 4, 5, 6])
    ap.add_argument("--largest", type=float, metavar="SECONDS")
    ap.add_argument("--variant", default="v10")
    a = ap.parse_args()
    if a.largest:
        largest(a.largest, a.variant)
    else:
        speed_table(a.threads)


if __name__ == "__main__":
    main()
