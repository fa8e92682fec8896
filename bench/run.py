"""Benchmarks of the explicit engine on the freezer model: speed, memory, and the largest N.

    python3 dev.py bench                       states/s and bytes/state, N = 2..6
    python3 dev.py bench --threads 2 3 4 5 6 7
    python3 dev.py bench --largest 60          the largest N whose full v10 check fits in 60 s
    python3 dev.py bench --native --threads 6 8 10 12
                                               safety search: Python engine vs native core,
                                               freezer v10 (symmetry) and the reaper (none)
    python3 dev.py bench --graph --threads 6 7 8 9 10 11 12 --python-max 8
                                               all properties (liveness: the graph search),
                                               freezer v10: Python engine vs native core;
                                               each run in a child process (peak RSS its own);
                                               bytes per state for the states and visited set
                                               (B/st store) and for the edges (B/st edges)

Figures are printed, never asserted: speed depends on the machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import handwritten_freezer

from oomcheck.catalog import build_variant, catalog_for, resolve_variant
from oomcheck.checker.explicit.native.graph import NativeGraphSearch
from oomcheck.checker.explicit.native.search import NativeLayerSearch
from oomcheck.checker.explicit.por import Reducer
from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.explicit.symmetry import find_symmetry
from oomcheck.checker.language.compile import compile_model


def model(variant: str, n: int):
    cat = catalog_for("freezer")
    return build_variant(resolve_variant(cat, variant), {"threads": n}, {}, cat, max_size=n)


def reaper(variant: str, vmas: int, ptes: int, knobs: dict[str, str] | None = None):
    cat = catalog_for("reaper")
    return build_variant(resolve_variant(cat, variant), {"vmas": vmas, "ptes": ptes}, knobs or {},
                         cat)


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


def native_stats(m, props) -> tuple[int, float, float, float]:
    """(states, build seconds, search seconds, bytes/state) of the native safety search; the
    build is timed apart (a later run of the same model finds it in the cache)."""
    invs = [p for p in props if p.kind == "invariant"]
    sym, _ = find_symmetry(m, props)
    comp = compile_model(m, [(p.name, p.expr) for p in invs], sym)
    reducer = Reducer(comp, [p.expr for p in invs])  # the core has the reduction's tables
    t0 = time.perf_counter()
    NativeLayerSearch(comp, props, Limits(), None, t0, None, reducer)
    build = time.perf_counter() - t0
    (r, *_), t = timed(lambda: check_explicit(m, props, core="native"))
    assert r.strength["core"] == "native", r.strength["core"]
    ex = NativeLayerSearch(comp, props, Limits(), None, time.perf_counter(), None,
                           Reducer(comp, [p.expr for p in invs]))
    ex.run()
    return r.states, build, t, ex.stored_bytes / max(r.states, 1)


def native_table(threads: list[int], python_max: int, hand_max: int) -> None:
    """The safety search (every invariant and deadlock) in the Python engine and the native core."""
    rows = [(f"reaper reverse vmas={v} ptes={p}", reaper("reverse", v, p), None)
            for v, p in [(3, 2), (4, 2), (4, 3)]]
    # the raw-throughput row: no symmetry, no POR (every step is visible), 5.8M states
    rows.append(("reaper reverse 4x3 mrelease=yes",
                 reaper("reverse", 4, 3, {"mrelease": "yes"}), None))
    rows += [(f"freezer v10 N={n}", model("v10", n), n) for n in threads]
    print("safety search: Python engine vs native core (states/s; build time apart)")
    print(f"{'model':<32} {'states':>10} {'hand st/s':>11} {'python st/s':>12} {'native st/s':>12} "
          f"{'speed-up':>8} {'build s':>8} {'B/st py':>8} {'B/st nat':>8}")
    for label, m, n in rows:
        props = [p for p in m.properties.values() if not p.is_liveness]
        states, build, tn, b_nat = native_stats(m, props)
        hand = py = b_py = None
        if n is not None and n <= hand_max:  # no symmetry: its states/s on the full state space
            (hs, _, _), th = timed(lambda n=n: handwritten_freezer.bfs(n))
            hand = hs / th
        if (n is None and states <= 1_000_000) or (n is not None and n <= python_max):
            (r, *_), tp = timed(lambda m=m, props=props: check_explicit(m, props, core="python"))
            if r.states != states:
                print(f"  MISMATCH: python {r.states} states, native {states}")
            py = r.states / tp
            b_py = bytes_per_state(lambda m=m, props=props: check_explicit(m, props, core="python"),
                                   r.states)
        nat = states / tn
        print(f"{label:<32} {states:>10,} {_f(hand):>11} {_f(py):>12} {nat:>12,.0f} "
              f"{_f(nat / py if py else None, '.1f'):>8} {build:>8.2f} {_f(b_py):>8} {b_nat:>8,.0f}",
              flush=True)


def graph_run(variant: str, n: int, core: str) -> dict:
    """One full check (all properties) in this process: the figures graph_table prints; core
    "build" only builds the native core (timed apart, later runs find it in the cache)."""
    m = model(variant, n)
    if core == "build":
        props = list(m.properties.values())
        sym, _ = find_symmetry(m, props)
        invs = [p for p in props if p.kind == "invariant"]
        comp = compile_model(m, [(p.name, p.expr) for p in invs], sym)
        _, t = timed(lambda: NativeGraphSearch(comp, props, Limits(), None, time.perf_counter()))
        return {"seconds": t}
    seen: list[NativeGraphSearch] = []
    results = NativeGraphSearch.results

    def keep(self: NativeGraphSearch) -> list:  # the search object, for its byte counts
        seen.append(self)
        return results(self)

    NativeGraphSearch.results = keep  # type: ignore[method-assign]
    rs, t = timed(lambda: check_explicit(m, list(m.properties.values()), core=core))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = max(rs[0].states, 1)
    store = seen[0].stored_bytes / n if seen else None
    edges = seen[0].edge_bytes / n if seen else None
    return {"states": rs[0].states, "transitions": rs[0].transitions, "seconds": t, "rss_mb": peak,
            "core": rs[0].strength["core"], "verdicts": {r.property: r.verdict for r in rs},
            "store_b": store, "edge_b": edges, "storage": rs[0].strength.get("storage", "exact")}


def graph_table(threads: list[int], python_max: int, variant: str) -> None:
    """All properties (the graph search, liveness included): Python engine vs native core, each
    in a fresh process so that its peak RSS is its own (the native build is done beforehand)."""
    print(f"freezer {variant}, all properties (graph search): Python engine vs native core")
    print(f"{'N':>3} {'states':>11} {'transitions':>12} {'python s':>9} {'py RSS MB':>9} "
          f"{'native s':>9} {'nat RSS MB':>10} {'speed-up':>8} {'B/st store':>10} "
          f"{'B/st edges':>10} {'storage':>8}")
    for n in threads:
        run = {}
        for core in ["native", *(["python"] if n <= python_max else [])]:
            cmd = [sys.executable, __file__, "--graph-run", core, "--variant", variant,
                   "--threads", str(n)]
            if core == "native":  # build (or find in the cache) before the timed run
                build = [*cmd[:3], "build", *cmd[4:]]
                subprocess.run(build, check=True, capture_output=True)
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            run[core] = json.loads(out.splitlines()[-1])
        nat, py = run["native"], run.get("python")
        if py and (py["verdicts"], py["states"], py["transitions"]) != (
                nat["verdicts"], nat["states"], nat["transitions"]):
            print(f"  MISMATCH at N={n}: python {py}, native {nat}")
        print(f"{n:>3} {nat['states']:>11,} {nat['transitions']:>12,} "
              f"{_f(py and py['seconds'], '.1f'):>9} {_f(py and py['rss_mb']):>9} "
              f"{nat['seconds']:>9.1f} {nat['rss_mb']:>10,.0f} "
              f"{_f(py and py['seconds'] / nat['seconds'], '.1f'):>8} {_f(nat['store_b'], '.1f'):>10} "
              f"{_f(nat['edge_b'], '.1f'):>10} "
              f"{'fingerprints' if nat['storage'] != 'exact' else 'exact':>8}", flush=True)


def _f(x: float | None, fmt: str = ",.0f") -> str:
    return "-" if x is None else format(x, fmt)


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
    ap.add_argument("--native", action="store_true",
                    help="the safety search in the Python engine and in the native core")
    ap.add_argument("--python-max", type=int, default=8,
                    help="with --native: the largest N also run in Python (slow beyond)")
    ap.add_argument("--hand-max", type=int, default=6,
                    help="with --native: the largest N of the hand-written BFS (no symmetry)")
    ap.add_argument("--graph", action="store_true",
                    help="all properties (graph search) in the Python engine and the native core")
    ap.add_argument("--graph-run", choices=["python", "native", "build"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.graph_run:  # the child process of --graph
        print(json.dumps(graph_run(a.variant, a.threads[0], a.graph_run)))
    elif a.graph:
        graph_table(a.threads, a.python_max, a.variant)
    elif a.native:
        native_table(a.threads, a.python_max, a.hand_max)
    elif a.largest:
        largest(a.largest, a.variant)
    else:
        speed_table(a.threads)


if __name__ == "__main__":
    main()
