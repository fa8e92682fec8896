"""The indexed engine (proofs for every number of VMAs and PTEs) on every reaper catalog row.

    .venv/bin/python bench/indexed.py                     every [[expect]] row, its holds properties
    .venv/bin/python bench/indexed.py --variant reverse --timeout 120 --max-seconds 600

For each (variant, knobs) row of spec/reaper.toml and each safety property the row expects to
hold, the cell is `proved` (for every vmas >= 1 and ptes >= 1) or `?` with the first words of the
reason, and the seconds the whole row took (the invariant is found once per row). A proof of a
property the row expects to be violated would be a soundness bug: the script checks those too
and prints FALSE PROOF. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oomcheck.catalog import build_variant, catalog_for, resolve_variant
from oomcheck.checker.explicit.search import Limits
from oomcheck.checker.indexed.prove import check_indexed

PROPS = ("reaper-coverage", "no-double-free", "no-use-after-free", "all-freed",
         "freed-only-when-unmapped", "skip-before-teardown", "no-deadlock")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", action="append", help="only these variants (repeatable)")
    ap.add_argument("--timeout", type=float, default=120.0, help="Z3 seconds per question")
    ap.add_argument("--max-seconds", type=float, default=300.0, help="seconds per row")
    args = ap.parse_args()
    cat = catalog_for("reaper")
    rows: dict[tuple, dict[str, str]] = {}
    for e in cat.expect:
        if args.variant and e.variant not in args.variant:
            continue
        rows.setdefault((e.variant, tuple(sorted(e.knobs.items()))), {}).update(e.verdicts)
    proved = unknown = false = 0
    print(f"{len(rows)} rows", flush=True)
    for (variant, knobs), verdicts in rows.items():
        props = [p for p in PROPS if verdicts.get(p) in ("holds", "violated")]
        m = build_variant(resolve_variant(cat, variant), {"vmas": 2, "ptes": 1}, dict(knobs), cat)
        t0 = time.perf_counter()
        rs = check_indexed(m, m.select(props), args.timeout, Limits(max_seconds=args.max_seconds))
        cells = []
        for r in rs:
            want = verdicts[r.property]
            if r.verdict == "holds":
                if want == "violated":
                    false += 1
                    cells.append(f"{r.property}: FALSE PROOF")
                else:
                    proved += 1
                    cells.append(f"{r.property}: proved")
            elif want == "holds":
                unknown += 1
                cells.append(f"{r.property}: ? ({(r.reason or '')[:70]})")
        kn = " ".join(f"{k}={v}" for k, v in knobs)
        print(f"{variant} {kn}  [{time.perf_counter() - t0:.1f} s]", flush=True)
        for c in cells:
            print(f"    {c}", flush=True)
    print(f"proved {proved}, unknown {unknown} (of properties the rows expect to hold), "
          f"false proofs {false}")
    return 1 if false else 0


if __name__ == "__main__":
    sys.exit(main())
