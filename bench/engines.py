"""Each engine on each freezer property, side by side, for growing N.

    .venv/bin/python bench/engines.py                       N = 2..8, variant v10, 60 s each
    .venv/bin/python bench/engines.py --threads 2 3 --timeout 20 --variant pre

Each cell is the verdict's strength and the seconds it took: `ok` (holds, complete explicit
search), `proved` (induction, CHC, or parametric: for every N), `bnd` (holds up to the BMC
depth only), `VIOL` (violated), `?` (unknown: a time, state or solver limit). Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oomcheck.catalog import build_variant, catalog_for, resolve_variant
from oomcheck.checker.engines import Options, run
from oomcheck.checker.explicit.search import Limits

ENGINES = ("explicit", "parametric", "bmc", "induction", "chc")


def cell(r) -> str:
    if r.verdict == "violated":
        tag = "VIOL"
    elif r.verdict == "unknown":
        tag = "?"
    elif r.strength.get("kind") == "proved":
        tag = "proved"
    elif r.strength.get("kind") == "bounded":
        tag = "bnd"
    else:
        tag = "ok"
    return f"{tag} {r.seconds:6.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[2, 3, 4, 5, 6, 7, 8])
    ap.add_argument("--variant", default="v10")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--properties", nargs="*")
    ap.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    a = ap.parse_args()
    engines = a.engines
    cat = catalog_for("freezer")
    variant = resolve_variant(cat, a.variant)
    print(f"freezer {a.variant}: engine time per property (timeout {a.timeout:g} s, "
          f"bmc depth / max k {a.depth})")
    print(f"{'N':>2} {'property':28}" + "".join(f"{e:>16}" for e in engines))
    setup: dict[int, float] = {}
    for n in a.threads:
        model = build_variant(variant, {"threads": n}, {}, cat)
        props = [model.properties[p] for p in (a.properties or model.properties)]
        cols = {}
        for e in engines:
            opts = Options(e, depth=a.depth, timeout=a.timeout,
                           limits=Limits(max_seconds=a.timeout, max_states=30_000_000))
            if e in ("explicit", "parametric"):
                # one exploration (one counter system and invariant) serves every property;
                # each cell shows the whole run's time for explicit, the property's own for
                # parametric (its shared set-up, sampling and Houdini, is printed below)
                t0 = time.perf_counter()
                res = run(model, props, opts)
                if e == "parametric":
                    setup[n] = time.perf_counter() - t0 - sum(r.seconds for r in res)
                cols[e] = {r.property: r for r in res}
            else:
                cols[e] = {p.name: run(model, [p], opts)[0] for p in props}
        for p in props:
            print(f"{n:>2} {p.name:28}" + "".join(f"{cell(cols[e][p.name]):>16}" for e in engines),
                  flush=True)
    for n, t in setup.items():
        print(f"parametric set-up at N={n} (counter system, samples, Houdini): {t:.1f} s")


if __name__ == "__main__":
    main()
