"""`oomcheck export promela`: write a model variant as Promela for SPIN.

cli.py wires this in with add_parsers(subparsers) and run(args). Bad input raises
oomcheck.lang.ModelError (exit code 2 in cli.main), as the other commands do.

    oomcheck export promela MODEL --variant V [--threads N | --vmas K --ptes P] [--knob K=V]
                            [--property P ...] [--processes auto|single|instance|actor] [-o FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from oomcheck.argtypes import knob as _knob
from oomcheck.argtypes import positive as _positive
from oomcheck.catalog import model_for
from oomcheck.checker.language.lang import ModelError
from oomcheck.export.promela import LAYOUTS, to_promela

SIZE_OPTIONS = {"threads": "--threads", "vmas": "--vmas", "ptes": "--ptes"}
FORMATS = ("promela",)


def add_parsers(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `export` subcommand to oomcheck's subparsers."""
    e = subparsers.add_parser(
        "export", help="write a model variant in another checker's language (Promela for SPIN)")
    e.add_argument("format", choices=FORMATS, help="the output language")
    e.add_argument("model", help="model name (see 'oomcheck list')")
    e.add_argument("--variant", required=True,
                   help="a variant of the model's catalog, or the path of a variant .py file")
    e.add_argument("--property", action="append", default=[],
                   help="export only this property (repeatable; default: all)")
    for size, opt in SIZE_OPTIONS.items():
        e.add_argument(opt, type=_positive, dest=size, help=f"number of {size}")
    e.add_argument("--knob", type=_knob, action="append", default=[],
                   help="set a model knob, e.g. --knob freezer=cgroup2 (repeatable)")
    e.add_argument("--spec", type=Path, help="catalog to take the variant from "
                   "(default: the spec/ catalog of the model)")
    e.add_argument("--processes", choices=LAYOUTS, default="auto",
                   help="instance: one process per weakly fair action instance (exact for "
                        "liveness under pan -f); actor: one process per actor, as a SPIN user "
                        "writes it (pan -f is then fairness per actor: not ours when an actor "
                        "has two steps enabled at once); single: every step in one process "
                        "(safety only, smaller state vector); auto (default): instance when a "
                        "liveness property is exported, else single")
    e.add_argument("-o", "--output", type=Path, help="write here instead of standard output")


def run(args: argparse.Namespace) -> int:
    sizes = {s: getattr(args, s) for s in SIZE_OPTIONS if getattr(args, s) is not None}
    model, _ = model_for(args.model, args.variant, args.spec, sizes, dict(args.knob))
    pml = to_promela(model, model.select(args.property), args.processes)
    if args.output is None:
        sys.stdout.write(pml.text)
        return 0
    try:
        args.output.write_text(pml.text)
    except OSError as e:
        raise ModelError(f"cannot write {args.output}: {e.strerror or e}") from None
    print(f"wrote {args.output} ({pml.processes} processes, {pml.initial_states} initial states)",
          file=sys.stderr)
    return 0
