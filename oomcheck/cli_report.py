"""`oomcheck report`: a 72-column, plain-text summary of a check or a diff to paste into a mail.

    oomcheck report MODEL --variant V [check options] [--race PROPERTY]
    oomcheck report --diff MODEL BEFORE AFTER [check options] [--race PROPERTY]

cli.py wires this in with add_parsers(subparsers) and run(args). The exit code is the one
`check` (or `diff`) gives for the same run, so a script can mail the report and still act on it."""

from __future__ import annotations

import argparse
import shlex

from oomcheck.argtypes import SIZE_OPTIONS
from oomcheck.checker.language.lang import ModelError
from oomcheck.cli_diff import add_run_options, build, check_model, selected
from oomcheck.diff import compare
from oomcheck.diff import exit_code as diff_exit_code
from oomcheck.report import check_report, diff_report


def add_parsers(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `report` subcommand to oomcheck's subparsers."""
    r = subparsers.add_parser(
        "report", help="a 72-column plain-text summary of a check or a diff, for a mail",
        description="MODEL --variant V reports a check; --diff MODEL BEFORE AFTER a diff. "
                    "The exit code is check's (or diff's) for the same run.")
    r.add_argument("names", nargs="+", metavar="MODEL [BEFORE AFTER]",
                   help="the model; with --diff, the model and the two variants")
    r.add_argument("--variant", help="the variant to report on (without --diff)")
    r.add_argument("--diff", action="store_true", help="report what AFTER changes from BEFORE")
    r.add_argument("--race", metavar="PROPERTY",
                   help="draw this property's counterexample (default: the shortest race)")
    add_run_options(r)


def _command(args: argparse.Namespace) -> str:
    """The command line that gives this report again."""
    words = ["oomcheck", "report"]
    words += ["--diff", *args.names] if args.diff else [args.names[0], "--variant", args.variant]
    for size, opt in SIZE_OPTIONS.items():
        if getattr(args, size) is not None:
            words += [opt, str(getattr(args, size))]
    for k, v in args.knob:
        words += ["--knob", f"{k}={v}"]
    for p in args.property:
        words += ["--property", p]
    if args.engine != "explicit":
        words += ["--engine", args.engine]
    if args.race:
        words += ["--race", args.race]
    if args.spec:
        words += ["--spec", str(args.spec)]
    return shlex.join(words)


def run(args: argparse.Namespace) -> int:
    from oomcheck.cli import UsageError, _exit_code

    if args.diff:
        if len(args.names) != 3 or args.variant:
            raise UsageError("report --diff takes MODEL BEFORE AFTER, and no --variant")
        args.model, args.before, args.after = args.names
    else:
        if len(args.names) != 1 or not args.variant:
            raise UsageError("report takes MODEL --variant V (or --diff MODEL BEFORE AFTER)")
        args.model = args.names[0]
    if args.diff:
        a, b = build(args, args.before), build(args, args.after)
        _known_race(args.race, a, b)
        pa, pb = selected(args, a, b)
        changes = compare(check_model(args, a, pa), check_model(args, b, pb))
        print(diff_report(a, b, changes, _command(args), args.engine, args.race), end="")
        return diff_exit_code(changes)
    m = build(args, args.variant)
    _known_race(args.race, m)
    results = check_model(args, m, m.select(args.property))
    print(check_report(m, results, _command(args), args.engine, args.race), end="")
    return _exit_code(results)


def _known_race(race: str | None, *models: object) -> None:
    if race is not None and not any(race in m.properties for m in models):  # type: ignore[attr-defined]
        raise ModelError(f"--race {race}: no such property "
                         f"(properties: {', '.join(models[0].properties)})")  # type: ignore[attr-defined]
