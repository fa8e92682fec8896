"""`oomcheck diff MODEL VARIANT_A VARIANT_B`: check both variants with the same options and print
only what changed, for reviewing a patch (what it fixes, what it breaks).

cli.py wires this in with add_parsers(subparsers) and run(args); `oomcheck report --diff` reuses
add_run_options and check_variant. Exit codes (diff.exit_code): 0 no verdict changed and every
answer is a proof or a complete search; 1 some verdict changed; 3 none changed but some result
is unknown on either side, so "unchanged" cannot be said; 4 none changed, but some "holds" is
only up to a bound; 2 usage or input error."""

from __future__ import annotations

import argparse
from pathlib import Path

from oomcheck.argtypes import SIZE_OPTIONS
from oomcheck.argtypes import knob as _knob
from oomcheck.argtypes import positive as _positive
from oomcheck.argtypes import seconds as _seconds
from oomcheck.catalog import model_for
from oomcheck.checker.engines import ENGINES, Options
from oomcheck.checker.engines import run as run_engine
from oomcheck.checker.language.lang import Model, Property
from oomcheck.checker.trace import Result
from oomcheck.diff import compare, diff_json, diff_text, exit_code

DIFF_EXIT_HELP = """exit codes:
  0  no verdict changed, every answer a proof or a complete search
  1  some verdict changed (fixed, regressed, a property added or removed)
  2  usage or input error
  3  no verdict changed, but some result is unknown on either side
  4  no verdict changed, but some "holds" only up to a bound (not a proof)"""


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options of `check` that say how a variant is checked (not how it is printed)."""
    from oomcheck.cli import _add_limits  # cli is loaded by the time its parser is built

    p.add_argument("--property", action="append", default=[],
                   help="check only this property (repeatable; default: all)")
    for size, opt in SIZE_OPTIONS.items():
        p.add_argument(opt, type=_positive, dest=size, help=f"number of {size}")
    p.add_argument("--knob", type=_knob, action="append", default=[],
                   help="set a model knob for both variants, e.g. --knob freezer=cgroup2")
    p.add_argument("--engine", choices=ENGINES, default="explicit",
                   help="as for check: explicit (default), bmc, induction, chc, parametric, auto")
    p.add_argument("--depth", type=_positive, default=30,
                   help="bmc depth and largest k of k-induction (default 30)")
    p.add_argument("--timeout", type=_seconds, default=60.0,
                   help="seconds per property for the Z3 engines (default 60)")
    p.add_argument("--spec", type=Path, help="catalog to take the variants from "
                   "(default: the spec/ catalog of the model)")
    _add_limits(p)


def add_parsers(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `diff` subcommand to oomcheck's subparsers."""
    d = subparsers.add_parser(
        "diff", help="check two variants with the same options and print what changed",
        epilog=DIFF_EXIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("model", help="model name (see 'oomcheck list')")
    d.add_argument("before", help="the variant before the patch (catalog name or .py file)")
    d.add_argument("after", help="the variant after the patch (catalog name or .py file)")
    d.add_argument("--format", choices=("text", "json"), default="text")
    add_run_options(d)


def build(args: argparse.Namespace, variant: str) -> Model:
    """The model instance a variant names, with the command line's sizes and knobs."""
    sizes = {s: getattr(args, s) for s in SIZE_OPTIONS if getattr(args, s) is not None}
    return model_for(args.model, variant, args.spec, sizes, dict(args.knob))[0]


def check_model(args: argparse.Namespace, model: Model, props: list[Property]) -> list[Result]:
    """The properties checked as `oomcheck check` would with these options."""
    from oomcheck.cli import _instance_label, _limits, _progress

    if not props:
        return []
    opts = Options(args.engine, args.depth, args.timeout, _limits(args),
                   _progress(_instance_label(model), args.quiet), None, args.symmetry == "on")
    return run_engine(model, props, opts)


def selected(args: argparse.Namespace, a: Model, b: Model) -> tuple[list[Property], list[Property]]:
    """--property names known to either variant (a patch may add a property); a name neither
    knows is refused, before anything runs."""
    if not args.property:
        return a.select([]), b.select([])
    for name in args.property:
        if name not in a.properties and name not in b.properties:
            a.select([name])  # raises the one-line error that lists the properties
    return ([a.properties[n] for n in args.property if n in a.properties],
            [b.properties[n] for n in args.property if n in b.properties])


def run(args: argparse.Namespace) -> int:
    a, b = build(args, args.before), build(args, args.after)
    pa, pb = selected(args, a, b)
    changes = compare(check_model(args, a, pa), check_model(args, b, pb))
    print(diff_json(a, b, changes) if args.format == "json" else diff_text(a, b, changes))
    return exit_code(changes)
