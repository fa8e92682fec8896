"""`oomcheck`: check a model variant, list what exists, verify the spec catalog.

Exit codes (scripts rely on them, so they never depend on what happens to stdout):
  0  check: every property holds, proved or by a complete search; verify: every verdict as
     expected; list, contention: done; simulate: every run reached the final state
  1  check: a property is violated; verify: a verdict or strength differs from the catalog or
     between engines; simulate: some run did not reach the final state
  2  usage or input error (one line on stderr)
  3  check: some result is unknown (a limit, a solver timeout), none violated
  4  check: every property holds, but some only up to a bound (bmc depth, base case of
     k-induction) or with a probability: not a proof
  130 interrupted
With several properties the first that applies of 1, 3, 4, 0 wins. If the reader of stdout goes
away (`oomcheck ... | head -1`), the rest of the output is dropped, the run goes on to its end
and exits with its real code.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from importlib import metadata
from pathlib import Path

from oomcheck.argtypes import SIZE_OPTIONS
from oomcheck.argtypes import knob as _knob
from oomcheck.argtypes import positive as _positive
from oomcheck.argtypes import seconds as _seconds
from oomcheck.catalog import SPEC_DIR, call_user, default_catalogs, load_catalog, model_for, validate
from oomcheck.checker.engines import ENGINES, Options
from oomcheck.checker.engines import run as run_engine
from oomcheck.checker.explicit.search import Limits
from oomcheck.checker.language.lang import Expr, Model, ModelError
from oomcheck.checker.render import result_text, results_json, trace_dot
from oomcheck.checker.trace import Result
from oomcheck.ciformats import add_options as add_ci_options
from oomcheck.ciformats import emit_check, emit_verify
from oomcheck.cli_diff import add_parsers as add_diff_parsers
from oomcheck.cli_diff import run as run_diff
from oomcheck.cli_explore import add_parsers as add_explore_parsers
from oomcheck.cli_explore import run as run_explore
from oomcheck.cli_export import add_parsers as add_export_parsers
from oomcheck.cli_export import run as run_export
from oomcheck.cli_report import add_parsers as add_report_parsers
from oomcheck.cli_report import run as run_report
from oomcheck.cli_simulate import add_parsers as add_simulate_parsers
from oomcheck.cli_simulate import run as run_simulate
from oomcheck.cli_sweep import add_parsers as add_sweep_parsers
from oomcheck.cli_sweep import run as run_sweep
from oomcheck.models import MODELS
from oomcheck.progress import SearchProgress, StatusLine

EXIT_OK, EXIT_VIOLATED, EXIT_USAGE, EXIT_UNKNOWN, EXIT_BOUNDED = 0, 1, 2, 3, 4
EXIT_CODES_HELP = """exit codes:
  0  every property holds, proved or by a complete search (check);
     every verdict as expected (verify)
  1  a property is violated (check); a verdict differs (verify);
     a run did not reach the final state (simulate)
  2  usage or input error
  3  some result is unknown (a limit or a solver timeout), none violated
  4  every property holds, but some only up to a bound (bmc) or with a
     probability: not a proof
  with several properties: 1, then 3, then 4, then 0"""


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _add_limits(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-states", type=_positive, default=20_000_000,
                   help="stop with 'unknown' after this many states (default 20000000)")
    p.add_argument("--max-seconds", type=_seconds, default=1800.0,
                   help="stop with 'unknown' after this long, per model instance (default 1800)")
    p.add_argument("--max-memory", type=_positive, default=16_000, metavar="MB",
                   help="stop with 'unknown' above this resident size (default 16000)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--symmetry", choices=("on", "off"), default="on",
                   help="explicit search: store one state per orbit of interchangeable threads "
                        "(default on; counterexamples are replayed concretely either way)")
    p.add_argument("--por", choices=("on", "off"), default="on",
                   help="explicit search for invariants and deadlocks: partial-order reduction "
                        "(default on; not used for liveness; its counterexamples are shortened "
                        "by a search without it)")
    p.add_argument("--core", choices=("auto", "python", "native"), default=None,
                   help="explicit safety search: native runs it in C generated from the model "
                        "(built with cffi and cached), python in the interpreter; auto (default) "
                        "goes native when the model's core is already built or the search grows")
    p.add_argument("--storage", choices=("auto", "exact"), default=None,
                   help="native core: auto (default) stores 64-bit fingerprints instead of the "
                        "states past 4,000,000 states when a state needs more than 64 bits (a "
                        "'holds' is then probabilistic and says so); exact never does")


def _version() -> str:
    try:
        return metadata.version("oomcheck")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="oomcheck", description="Model checker for Linux OOM-killer concurrency.",
                epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"oomcheck {_version()}")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    c = sub.add_parser("check", help="check the properties of one model variant",
                       epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("model", help="model name (see 'oomcheck list')")
    c.add_argument("--variant", required=True,
                   help="a variant of the model's catalog, or the path of a variant .py file")
    c.add_argument("--property", action="append", default=[],
                   help="check only this property (repeatable; default: all)")
    for size, opt in SIZE_OPTIONS.items():
        c.add_argument(opt, type=_positive, dest=size, help=f"number of {size}")
    c.add_argument("--knob", type=_knob, action="append", default=[],
                   help="set a model knob, e.g. --knob freezer=cgroup2 (repeatable)")
    c.add_argument("--format", choices=("text", "json", "dot"), default="text")
    c.add_argument("--engine", choices=ENGINES, default="explicit",
                   help="explicit (default), bmc, induction, chc, parametric (every thread "
                        "count), or auto (picks, and says which)")
    c.add_argument("--depth", type=_positive, default=30,
                   help="bmc depth and largest k of k-induction (default 30)")
    c.add_argument("--timeout", type=_seconds, default=60.0,
                   help="seconds per property for the Z3 engines (default 60)")
    c.add_argument("--invariant", type=Path, metavar="FILE.py",
                   help="with --engine induction: check this inductive invariant "
                        "(a file defining invariant(model) -> expression)")
    c.add_argument("--spec", type=Path, help="catalog to take the variant from "
                   "(default: the spec/ catalog of the model)")
    _add_limits(c)
    add_ci_options(c)

    sub.add_parser("list", help="list models, variants, properties and sizes")

    add_simulate_parsers(sub)
    add_export_parsers(sub)
    add_diff_parsers(sub)
    add_report_parsers(sub)
    add_explore_parsers(sub)
    add_sweep_parsers(sub)

    v = sub.add_parser("verify", help="run the spec catalog and compare with expected verdicts")
    v.add_argument("specs", nargs="*", type=Path, help="spec TOML files (default: spec/*.toml)")
    v.add_argument("--format", choices=("text", "json"), default="text")
    v.add_argument("--full", action="store_true",
                   help="also the bmc cross-check and the symbolic [[proof]] rows (what CI runs)")
    v.add_argument("--cross-check", action="store_true",
                   help="check each row's smallest instance with bmc as well (part of --full)")
    v.add_argument("--proofs", action="store_true",
                   help="run the [[proof]] rows with their symbolic engines (part of --full)")
    v.add_argument("--table", action="store_true",
                   help="print the verdict table of every row, not only the summary")
    v.add_argument("--no-cross-check", action="store_true",
                   help=argparse.SUPPRESS)  # the default now; kept so that old scripts still run
    v.add_argument("--cross-timeout", type=_seconds, default=20.0,
                   help="seconds per property for the bmc cross-check (default 20)")
    v.add_argument("--jobs", type=_positive, default=None,
                   help="run independent rows in this many processes (default: all cores)")
    v.add_argument("--cross-depth", type=_positive, default=12,
                   help="largest bmc depth of the cross-check (default 12)")
    _add_limits(v)
    add_ci_options(v)
    return p


class _PipeGuard:
    """Stands in for sys.stdout (or stderr): once its reader has gone, output is dropped and the
    command goes on to its end, so the exit code still says what was found. The stream's file
    descriptor then points at /dev/null, so Python's last flush at exit cannot fail either."""

    def __init__(self, stream: io.TextIOBase) -> None:
        self.stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.broken = True
        try:
            fd = self.stream.fileno()
        except (OSError, ValueError):  # not a real file (io.UnsupportedOperation is an OSError)
            return
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)

    def __getattr__(self, name: str) -> object:
        return getattr(self.stream, name)


@contextmanager
def pipe_guarded() -> Iterator[None]:
    """sys.stdout and sys.stderr guarded for the duration; a broken pipe then only drops text."""
    out, err = _PipeGuard(sys.stdout), _PipeGuard(sys.stderr)  # type: ignore[arg-type]
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    try:
        yield
    finally:
        out.flush()
        err.flush()
        sys.stdout, sys.stderr = out.stream, err.stream  # type: ignore[assignment]


def main(argv: Sequence[str] | None = None) -> int:
    with pipe_guarded():
        return _run(argv)


def _run(argv: Sequence[str] | None) -> int:
    try:
        args = make_parser().parse_args(argv)
        if getattr(args, "core", None):  # read by check_explicit, here and in verify's workers
            os.environ["OOMCHECK_CORE"] = args.core
        if getattr(args, "storage", None):  # the same
            os.environ["OOMCHECK_STORAGE"] = args.storage
        if args.cmd == "check":
            return cmd_check(args)
        if args.cmd == "list":
            return cmd_list()
        if args.cmd in ("diff", "report"):
            return run_diff(args) if args.cmd == "diff" else run_report(args)
        if args.cmd in ("simulate", "contention"):
            return run_simulate(args)
        if args.cmd == "explore":
            return run_explore(args)
        if args.cmd == "sweep":
            return run_sweep(args)
        return run_export(args) if args.cmd == "export" else cmd_verify(args)
    except UsageError as e:
        print(f"oomcheck: usage error: {e} (see 'oomcheck --help')", file=sys.stderr)
        return EXIT_USAGE
    except ModelError as e:
        print(f"oomcheck: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("oomcheck: interrupted", file=sys.stderr)
        return 130


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(args.max_states, args.max_seconds, args.max_memory)


def _progress(label: str, quiet: bool) -> SearchProgress | None:
    """A live status line on a terminal, plain lines elsewhere (oomcheck/progress.py)."""
    return None if quiet else SearchProgress(label)


def _instance_label(model: Model) -> str:
    sizes = " ".join(f"{k}={v}" for k, v in model.sizes.items())
    return f"{model.name} {model.variant} {sizes}"


def cmd_check(args: argparse.Namespace) -> int:
    sizes = {s: getattr(args, s) for s in SIZE_OPTIONS if getattr(args, s) is not None}
    model, _ = model_for(args.model, args.variant, args.spec, sizes, dict(args.knob))
    props = model.select(args.property)
    inv = load_invariant(args.invariant, model) if args.invariant else None
    if inv is not None and args.engine != "induction":
        raise ModelError("--invariant goes with --engine induction")
    progress = _progress(_instance_label(model), args.quiet)
    opts = Options(args.engine, args.depth, args.timeout, _limits(args), progress, inv,
                   args.symmetry == "on", por=args.por == "on")
    try:
        results = run_engine(model, props, opts)
    finally:  # clear a live status line before results or an error message are printed
        if progress is not None:
            progress.close()
    header = {"model": model.name, "variant": model.variant, "sizes": model.sizes,
              "knobs": model.knobs}
    tap = emit_check(args, model, results, is_proof)  # writes --junit FILE; the TAP with --tap
    if tap is not None:
        print(tap)
    elif args.format == "json":
        print(results_json(header, results))
    elif args.format == "dot":
        graphs = [trace_dot(r.trace, f"{model.name} {model.variant} {r.property}")
                  for r in results if r.trace is not None]
        print("\n".join(graphs) if graphs else "// no counterexample: nothing to draw")
    else:
        knobs = ", ".join(f"{k}={v}" for k, v in model.knobs.items())
        sizes_s = ", ".join(f"{k}={v}" for k, v in model.sizes.items())
        print(f"model {model.name}, variant {model.variant} ({sizes_s}; {knobs})")
        if model.provenance:
            print("  " + " ".join(model.provenance.split())[:300])
        print()
        for r in results:
            print(result_text(r))
    return _exit_code(results)


def load_invariant(path: Path, model: Model) -> Expr:
    """invariant(model) from the user's file: an expression over the model as it is. The file
    gets a copy, and a file that changes the model (an init constraint, a step, a variable, a
    domain, final) is refused: the engines would check the changed model, and a proof of it
    (an init constraint that "assumes" a start state) was printed as a proof of the variant."""
    before = _definition(model)
    view = model.derive()
    view.domains, view.sizes = dict(model.domains), dict(model.sizes)
    e = call_user(path, "invariant", "invariant", view)
    if not isinstance(e, Expr):
        raise ModelError(f"invariant file {path}: invariant() must return a model expression")
    changed = [k for k, v in _definition(view, model.properties).items() if v != before[k]]
    changed += [k for k, v in _definition(model).items() if v != before[k] and k not in changed]
    if changed:
        raise ModelError(f"invariant file {path}: invariant() changed the model's "
                         f"{', '.join(changed)}; it may only return an expression over the model "
                         "(an assumption belongs in the variant file, where every engine sees it)")
    return e


def _definition(m: Model, props: Collection[str] | None = None) -> dict[str, object]:
    """What the engines read of a model, by identity of its parts (expressions and types are
    immutable; variable declarations, actions and properties are compared field by field). Of
    the properties, those named in props (default: all of m's); a new one changes nothing."""
    def decl(d: object) -> tuple:
        out = []
        for f in fields(d):  # type: ignore[arg-type]
            v = getattr(d, f.name)
            out.append(tuple(v) if isinstance(v, (list, set, dict)) else id(v))
        return tuple(out)
    return {
        "variables": [(k, decl(d)) for k, d in m.vars.items()],
        "domains": sorted((k, id(v)) for k, v in m.domains.items()),
        "products": sorted(m.products.items()),
        "steps": [decl(a) for a in m.actions],
        "init constraints": [id(c) for c in m.init_constraints],
        "final": id(m.final),
        "sizes": sorted(m.sizes.items()),
        "properties": [(k, decl(m.properties[k]) if k in m.properties else None)
                       for k in (m.properties if props is None else props)],
    }


def _exit_code(results: list[Result]) -> int:
    """Violated, then unknown, then a "holds" that is not a proof, then all proved."""
    if any(r.verdict == "violated" for r in results):
        return EXIT_VIOLATED
    if any(r.verdict != "holds" for r in results):
        return EXIT_UNKNOWN
    if not all(is_proof(r) for r in results):
        return EXIT_BOUNDED
    return EXIT_OK


def is_proof(r: Result) -> bool:
    """A "holds" that covers every execution of what it names: a proof, or an explicit search
    of every reachable state. Bounded, probabilistic or unrecognised strengths are not."""
    s = r.strength
    if s.get("probabilistic") or s.get("kind") == "fingerprint":
        return False
    if s.get("kind") == "proved":
        return True
    return s.get("kind") == "explicit" and s.get("complete") is True


def cmd_list() -> int:
    catalogs = {c.model: c for c in default_catalogs()}
    for name, spec in MODELS.items():
        print(f"model {name}: {spec.doc}")
        sizes = ", ".join(f"--{s} {lo}..{hi} (default {d})" for s, (d, lo, hi) in spec.sizes.items())
        print(f"  sizes: {sizes}")
        for k, vals in spec.knobs.items():
            print(f"  knob {k}: {' | '.join(vals)} (default {spec.default_knobs[k]})")
        model = spec.instantiate({}, {})
        print("  properties:")
        for p in model.properties.values():
            print(f"    {p.name:28} {p.kind:10} {p.doc}")
        cat = catalogs.get(name)
        if cat:
            print(f"  variants ({cat.path.name}):")
            for v in cat.variants.values():
                how = f"file {v.file.name}" if v.file else \
                    ", ".join(f"{k}={x}" for k, x in v.knobs.items())
                print(f"    {v.name:28} {how}")
        else:
            print(f"  variants: none (no catalog for {name} in {SPEC_DIR})")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from oomcheck.verify import Settings, default_jobs, echo_to, verify_catalogs  # brings Z3

    catalogs = [load_catalog(p) for p in args.specs] if args.specs else default_catalogs()
    if not catalogs:
        raise ModelError("no spec files to verify")
    for cat in catalogs:
        validate(cat)
    t_all = time.perf_counter()
    text = args.format == "text"
    cross = (args.full or args.cross_check) and not args.no_cross_check
    proofs = args.full or args.proofs
    echo = echo_to(sys.stdout, text and args.table)
    settings = Settings(_limits(args), cross, args.cross_timeout, args.cross_depth,
                        args.symmetry == "on", not args.quiet, proofs=proofs, por=args.por == "on")
    with StatusLine() as status:
        last = [time.perf_counter()]

        def done_jobs(done: int, total: int) -> None:
            # a live line on a terminal; elsewhere a plain line every 15 s, not one per job
            now = time.perf_counter()
            if not args.quiet and (status.live or now - last[0] >= 15 or done == total):
                last[0] = now
                status.show(f"oomcheck: verify: {done} of {total} jobs done, {now - t_all:.0f} s")
        reports = verify_catalogs(catalogs, settings, echo, args.jobs or default_jobs(), done_jobs)
    total = time.perf_counter() - t_all
    rows = [r for rep in reports for r in rep.rows]
    mismatches = [m for rep in reports for m in rep.mismatches]
    unchecked = [m for rep in reports for m in rep.cross_unchecked]
    tap = emit_verify(args, rows, mismatches, unchecked)  # writes --junit FILE; the TAP with --tap
    if tap is not None:
        print(tap)
        return EXIT_VIOLATED if mismatches else EXIT_OK
    skipped = _not_run(catalogs, cross, proofs)
    if not text:
        print(json.dumps({"checks": rows, "mismatches": mismatches,
                          "not_cross_checked": unchecked, "not_run": skipped,
                          "seconds": round(total, 2)}, indent=2))
        return EXIT_VIOLATED if mismatches else EXIT_OK
    for cat, rep in zip(catalogs, reports, strict=True):
        variants = len({e.variant for e in cat.expect} | {pe.variant for pe in cat.proofs})
        ok = sum(r["ok"] for r in rep.rows)
        differ = len(rep.rows) - ok
        print(f"{cat.model:8} {_shown(cat.path):24} {variants:3} variants  {ok:5} as expected"
              + (f"  {differ} DIFFER" if differ else "")
              + (f"  {len(rep.mismatches) - differ} engine disagreements"
                 if len(rep.mismatches) > differ else ""))
    if unchecked:
        print(f"{len(unchecked)} properties not cross-checked with bmc (solver limits):")
        for u in unchecked:
            print(f"  {u}")
    if mismatches:
        print(f"{len(mismatches)} of {len(rows)} checks differ from the catalog "
              "or between engines:")
        for m in mismatches:
            print(f"  {m}")
    else:
        agree = f", explicit and bmc (depth <= {args.cross_depth}) agree" if cross else ""
        print(f"all {len(rows)} verdicts as expected{agree} ({total:.1f} s)")
    if skipped:
        print("not run: " + "; ".join(skipped) + " (--full runs them)")
    return EXIT_VIOLATED if mismatches else EXIT_OK


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _not_run(catalogs: list, cross: bool, proofs: bool) -> list[str]:
    """What this verify left out, said next to its answer so that nobody reads more into it."""
    out = []
    if not proofs:
        n = sum(len(pe.expect) * len(pe.size_points()) for cat in catalogs for pe in cat.proofs)
        if n:
            out.append(f"{n} symbolic proof expectations ([[proof]] rows)")
    if not cross:
        out.append("the bmc cross-check of each row's smallest instance")
    return out


def _kv(d: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in d.items())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
