"""`oomcheck sweep`: one model's variants x knob settings x sizes, checked on local processes or
on a Dask distributed cluster (oomcheck/sweep.py), as one table.

cli.py wires this in with add_parsers(subparsers) and run(args). Bad input raises ModelError
(one line, exit code 2 in cli.main) before any point runs. Exit codes: 0 every verdict as the
catalog expects and none violated where it expects nothing; 1 a verdict differs from the
catalog, or a violation it does not expect; 3 some result unknown.

    oomcheck sweep MODEL [--variants a,b,...] [--sizes threads=2..8]... [--knobs k=v,...]...
                         [--property P]... [--jobs N | --scheduler ADDRESS] [--format text|json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from oomcheck.argtypes import positive, seconds
from oomcheck.checker.explicit.search import Limits
from oomcheck.sweep import Backend, DaskBackend, LocalBackend, PointResult, Table, exit_code, plan, run_sweep


def _sizes(text: str) -> tuple[str, list[int]]:
    """threads=2..8, threads=2,4,6 or threads=3."""
    name, sep, vals = text.partition("=")
    if not sep or not name or not vals:
        raise argparse.ArgumentTypeError(f"expected NAME=LO..HI or NAME=A,B,..., got {text!r}")
    out: list[int] = []
    try:
        for part in vals.split(","):
            lo, dots, hi = part.partition("..")
            a, b = (int(lo), int(hi)) if dots else (int(part), int(part))
            if a > b:
                raise argparse.ArgumentTypeError(f"empty range {part!r} in {text!r}")
            out.extend(v for v in range(a, b + 1) if v not in out)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not whole numbers: {text!r}") from None
    return name, out


def _knobs(text: str) -> dict[str, str]:
    """k=v,k2=v2: one knob setting of the sweep."""
    out: dict[str, str] = {}
    for part in text.split(","):
        k, sep, v = part.strip().partition("=")
        if not sep or not k or not v:
            raise argparse.ArgumentTypeError(f"expected K=V,K2=V2, got {text!r}")
        out[k] = v
    return out


def _variants(text: str) -> list[str]:
    out = [v.strip() for v in text.split(",") if v.strip()]
    if not out:
        raise argparse.ArgumentTypeError(f"no variant in {text!r}")
    return out


def add_parsers(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = subparsers.add_parser(
        "sweep", help="check variants x knob settings x sizes of a model, locally or on a Dask cluster")
    s.add_argument("model", help="model name (see 'oomcheck list')")
    s.add_argument("--variants", type=_variants,
                   help="comma-separated variants of the catalog, or variant .py files "
                        "(default: every variant of the catalog)")
    s.add_argument("--sizes", type=_sizes, action="append", default=[],
                   help="a size and its values, e.g. threads=2..8 or threads=2,4,8 (repeatable: "
                        "the cross product; default: the model's default sizes)")
    s.add_argument("--knobs", type=_knobs, action="append", default=[],
                   help="one knob setting, e.g. freezer=cgroup2,pm_freeze=during (repeatable: "
                        "each is a setting of the sweep; default: the variants' own)")
    s.add_argument("--property", action="append", default=[],
                   help="check only this property (repeatable; default: all)")
    s.add_argument("--spec", type=Path, help="catalog to take the variants and expected verdicts "
                   "from (default: the spec/ catalog of the model)")
    where = s.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=positive, default=None,
                       help="local worker processes (default: every core)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on this Dask distributed scheduler (e.g. tcp://host:8786); "
                            "needs oomcheck[dask] here and oomcheck on the workers")
    s.add_argument("--format", choices=("text", "json"), default="text")
    s.add_argument("--max-states", type=positive, default=20_000_000,
                   help="per point: stop with 'unknown' after this many states (default 20000000)")
    s.add_argument("--max-seconds", type=seconds, default=1800.0,
                   help="per point: stop with 'unknown' after this long (default 1800)")
    s.add_argument("--max-memory", type=positive, default=16_000, metavar="MB",
                   help="per point: stop with 'unknown' above this resident size (default 16000)")
    s.add_argument("--symmetry", choices=("on", "off"), default="on",
                   help="one state per orbit of interchangeable threads (default on)")
    s.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def run(args: argparse.Namespace) -> int:
    from oomcheck.verify import default_jobs

    sizes: dict[str, list[int]] = {}
    for name, vals in args.sizes:
        sizes[name] = vals + [v for v in sizes.get(name, []) if v not in vals]
    points = plan(args.model, args.variants, sizes, args.knobs, args.property,
                  str(args.spec) if args.spec else None,
                  Limits(args.max_states, args.max_seconds, args.max_memory), args.symmetry == "on")
    backend: Backend = DaskBackend(args.scheduler) if args.scheduler \
        else LocalBackend(min(args.jobs or default_jobs(), len(points)))
    text = args.format == "text"
    table = Table(points)
    t0 = time.perf_counter()

    def progress(n: int, r: PointResult) -> None:
        if not args.quiet:
            bad = sum(1 for row in r.rows if row["verdict"] != "holds")
            print(f"oomcheck: [sweep {n}/{len(points)}] {r.point.label}: {len(r.rows)} properties, "
                  f"{bad} not holding, {r.states:,} states, {r.seconds:.1f} s ({r.where})",
                  file=sys.stderr, flush=True)

    def line(_: int, r: PointResult) -> None:
        if text:
            print(table.line(r), flush=True)

    if not args.quiet:
        print(f"oomcheck: sweep of {len(points)} points on {backend.name}", file=sys.stderr, flush=True)
    if text:
        print("\n".join(table.header()), flush=True)
    try:
        results = run_sweep(points, backend, progress, line)
    finally:
        backend.close()
    total = time.perf_counter() - t0
    if text:
        print()
        print("\n".join(Table.summary(results)))
    else:
        print(json.dumps({"model": args.model, "points": len(points), "backend": backend.name,
                          "rows": [row for r in results for row in r.rows],
                          "seconds": round(total, 2)}, indent=2))
    if not args.quiet:
        print(f"oomcheck: sweep done in {total:.1f} s", file=sys.stderr, flush=True)
    return exit_code(results)
