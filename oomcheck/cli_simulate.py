"""`oomcheck simulate` and `oomcheck contention`: the simulation mode on the command line.

cli.py wires these in with add_parsers(subparsers) and run(args). Bad input raises
oomcheck.lang.ModelError (exit code 2 in cli.main), as the other commands do. simulate
exits 0 when every run reached the final state, else 1; contention exits 0.

    oomcheck simulate MODEL --variant V [--scheduler random|timed] [--seed N] [--runs N]
                            [--vmas K --ptes P --threads N] [--knob NAME=VALUE] [--trace]
    oomcheck contention [--out DIR] [--runs N] [--sizes K:P,...] [--exhaustive-sizes K:P,...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from oomcheck.argtypes import SIZE_OPTIONS
from oomcheck.argtypes import fraction as _fraction
from oomcheck.argtypes import knob as _knob
from oomcheck.argtypes import natural as _natural
from oomcheck.argtypes import nonneg as _nonneg
from oomcheck.argtypes import positive as _positive
from oomcheck.catalog import model_for
from oomcheck.checker.language.compile import Compiled, compile_model
from oomcheck.checker.language.lang import Model, ModelError
from oomcheck.checker.simulate import SCHEDULERS, CostFn, Run, run_trace, simulate
from oomcheck.contention import (
    DEFAULT_EXHAUSTIVE_SIZES,
    DEFAULT_SIM_SIZES,
    Costs,
    EventCounter,
    ReaperCostFn,
    experiment,
    plot,
    report_markdown,
    run_stats,
    zappers,
)

SIM_SIZE_MAX = 256  # the registry's maxima bound exhaustive checking, not simulation
OUT_FILES = ("contention.png", "contention.md")
QUICK_SIM_SIZES = ((4, 4), (8, 4), (16, 4), (16, 2))
QUICK_EXHAUSTIVE_SIZES = ((4, 4), (8, 4))


def _size_list(text: str) -> list[tuple[int, int]]:
    """"4:2,8:4" -> [(4, 2), (8, 4)] (K VMAs : P PTEs)."""
    out = []
    for part in text.split(","):
        k, sep, p = part.strip().partition(":")
        try:
            kp = (int(k), int(p))
        except ValueError:
            kp = (0, 0)
        if not sep or kp[0] < 1 or kp[1] < 1:
            raise argparse.ArgumentTypeError(f"expected K:P pairs like 8:4,16:4, got {text!r}")
        out.append(kp)
    return out


# ----------------------------------------------------------------------------------------------
# parsers
# ----------------------------------------------------------------------------------------------


def add_parsers(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `simulate` and `contention` subcommands to oomcheck's subparsers."""
    s = subparsers.add_parser(
        "simulate", help="run seeded executions of a model variant under a scheduler")
    s.add_argument("model", help="model name (see 'oomcheck list')")
    s.add_argument("--variant", required=True,
                   help="a variant of the model's catalog, or the path of a variant .py file")
    s.add_argument("--scheduler", choices=SCHEDULERS, default="random",
                   help="random: uniform over enabled steps; timed: per-actor clocks and step "
                        "costs, the step that ends first goes first (default random)")
    s.add_argument("--seed", type=_natural, default=0, help="seed of the first run (default 0)")
    s.add_argument("--runs", type=_positive, default=1,
                   help="runs, with seeds SEED, SEED+1, ... (default 1)")
    s.add_argument("--max-steps", type=_positive, default=100_000,
                   help="stop a run after this many steps (default 100000)")
    s.add_argument("--jitter", type=_fraction, default=0.2,
                   help="multiplicative cost jitter, uniform in [1-J, 1+J] (default 0.2)")
    for size, opt in SIZE_OPTIONS.items():
        s.add_argument(opt, type=_positive, dest=size,
                       help=f"number of {size} (simulation allows more than checking)")
    s.add_argument("--knob", type=_knob, action="append", default=[],
                   help="set a model knob, e.g. --knob walk=forward (repeatable)")
    s.add_argument("--spec", type=Path, help="catalog to take the variant from "
                   "(default: the spec/ catalog of the model)")
    s.add_argument("--trace", action="store_true", help="print the first run step by step")
    s.add_argument("--trace-limit", type=_positive, default=500,
                   help="at most this many trace steps (default 500)")
    s.add_argument("--format", choices=("text", "json"), default="text")

    c = subparsers.add_parser(
        "contention", help="reaper model: PTL contention of the forward and reverse walks "
                           "(table, and plot with --out)")
    _add_contention_args(c)


def _add_contention_args(c: argparse.ArgumentParser) -> None:
    c.add_argument("--out", type=Path,
                   help="write contention.png and contention.md into this directory "
                        "(created if needed; no other file is touched)")
    c.add_argument("--runs", type=_positive, default=100,
                   help="seeded runs per scheduler, walk and size (default 100)")
    c.add_argument("--seed", type=_natural, default=0, help="seed of the first run (default 0)")
    c.add_argument("--sizes", type=_size_list,
                   help="simulated sizes K:P,... (default "
                        + ",".join(f"{k}:{p}" for k, p in DEFAULT_SIM_SIZES) + ")")
    c.add_argument("--exhaustive-sizes", type=_size_list,
                   help="sizes that also get the exhaustive worst case (default "
                        + ",".join(f"{k}:{p}" for k, p in DEFAULT_EXHAUSTIVE_SIZES) + ")")
    c.add_argument("--quick", action="store_true",
                   help="fewer sizes (for a first look; --sizes and --exhaustive-sizes win)")
    c.add_argument("--jitter", type=_fraction, default=Costs.jitter,
                   help=f"multiplicative cost jitter (default {Costs.jitter})")
    c.add_argument("--reaper-delay", type=_nonneg, default=Costs.reaper_delay,
                   help="the OOM reaper starts this late, in lock-step units (default 0)")
    c.add_argument("--zap-cost", type=_nonneg, default=Costs.zap_present,
                   help=f"clearing a present PTE, in lock steps (default {Costs.zap_present})")
    c.add_argument("--free-cost", type=_nonneg, default=Costs.free_page,
                   help=f"freeing a gathered page, in lock steps (default {Costs.free_page})")
    c.add_argument("--knob", type=_knob, action="append", default=[],
                   help="reaper model knob, e.g. --knob mrelease=yes (walk is set per row)")
    c.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def run(args: argparse.Namespace) -> int:
    """Run `simulate` or `contention` from parsed arguments; the exit code."""
    if args.cmd == "simulate":
        return cmd_simulate(args)
    if args.cmd == "contention":
        return cmd_contention(args)
    raise ModelError(f"cli_simulate cannot run command {args.cmd!r}")


# ----------------------------------------------------------------------------------------------
# simulate
# ----------------------------------------------------------------------------------------------


# Per-model step costs for the timed scheduler; a model without an entry costs 1.0 per step.
COST_MODELS: dict[str, Callable[[Compiled], CostFn]] = {
    "reaper": lambda compiled: ReaperCostFn(compiled, Costs()),
}


def cost_for(compiled: Compiled) -> CostFn | None:
    """The model's cost function, or None (every step costs 1.0)."""
    make = COST_MODELS.get(compiled.model.name)
    return make(compiled) if make else None


def cmd_simulate(args: argparse.Namespace) -> int:
    sizes = {s: getattr(args, s) for s in SIZE_OPTIONS if getattr(args, s) is not None}
    model, _ = model_for(args.model, args.variant, args.spec, sizes, dict(args.knob),
                         max_size=SIM_SIZE_MAX)
    compiled = compile_model(model)
    cost = cost_for(compiled)
    counter = EventCounter(compiled, zappers(model)) if model.name == "reaper" else None
    t0 = time.perf_counter()
    runs = [simulate(compiled, args.scheduler, args.seed + i, cost=cost, jitter=args.jitter,
                     max_steps=args.max_steps) for i in range(args.runs)]
    secs = time.perf_counter() - t0
    summary = summarize(compiled, runs, counter)
    summary["seconds"] = round(secs, 3)
    if args.format == "json":
        out = {"model": model.name, "variant": model.variant, "sizes": model.sizes,
               "knobs": model.knobs, "scheduler": args.scheduler, "seed": args.seed,
               "jitter": args.jitter, "cost_model": model.name if cost else "unit", **summary}
        if args.trace:
            out["trace"] = run_trace(compiled, runs[0], args.trace_limit)
        print(json.dumps(out, indent=2))
    else:
        print("\n".join(summary_text(model, args, summary, bool(cost))))
        if args.trace:
            print()
            print(f"run with seed {args.seed} ({runs[0].end}, {runs[0].steps} steps): start-end "
                  "time of each step (it takes effect at its end), actor, step, what changed")
            print("\n".join(run_trace(compiled, runs[0], args.trace_limit)))
    return 0 if all(r.end == "final" for r in runs) else 1


def summarize(compiled: Compiled, runs: Sequence[Run], counter: EventCounter | None) -> dict:
    """Means over runs: steps, makespan, per-actor busy and wait time; how the runs ended."""
    ends: dict[str, int] = {}
    for r in runs:
        ends[r.end] = ends.get(r.end, 0) + 1
    actors = list(runs[0].clocks)
    out: dict = {
        "runs": len(runs), "ends": ends,
        "steps": statistics.fmean(r.steps for r in runs),
        "makespan": statistics.fmean(r.makespan for r in runs),
        "actors": {a: {"busy": statistics.fmean(r.busy[a] for r in runs),
                       "waited": statistics.fmean(r.waited(a) for r in runs),
                       "steps": statistics.fmean(sum(1 for x in r.actors if x == a) for r in runs)}
                   for a in actors},
    }
    if counter is not None:
        stats = [run_stats(compiled, r, counter) for r in runs]
        out["ptl_contention"] = {
            "events": statistics.fmean(s.total_events for s in stats),
            "events_max": max(s.total_events for s in stats),
            "spin": statistics.fmean(s.total_spin for s in stats),
            "work": statistics.fmean(s.work for s in stats),
            "events_by_actor": {a: statistics.fmean(s.events[a] for s in stats)
                                for a in stats[0].events},
            "spin_by_actor": {a: statistics.fmean(s.spin[a] for s in stats)
                              for a in stats[0].spin},
        }
    return out


def summary_text(model: Model, args: argparse.Namespace, summary: dict,
                 costed: bool) -> list[str]:
    knobs = ", ".join(f"{k}={v}" for k, v in model.knobs.items())
    sizes = ", ".join(f"{k}={v}" for k, v in model.sizes.items())
    ends = ", ".join(f"{n} {e}" for e, n in sorted(summary["ends"].items()))
    lines = [
        f"model {model.name}, variant {model.variant} ({sizes}; {knobs})",
        f"scheduler {args.scheduler}, seeds {args.seed}..{args.seed + args.runs - 1}, jitter "
        f"{args.jitter}, costs: {'the ' + model.name + ' cost model' if costed else '1.0 per step'}",
        f"{summary['runs']} runs ({ends}) in {summary['seconds']:.2f} s; mean "
        f"{summary['steps']:.1f} steps, makespan {summary['makespan']:.1f}",
        f"  {'actor':20} {'steps':>8} {'busy':>10} {'waited':>10}   (means)",
    ]
    for a, d in summary["actors"].items():
        lines.append(f"  {a:20} {d['steps']:8.1f} {d['busy']:10.1f} {d['waited']:10.1f}")
    pc = summary.get("ptl_contention")
    if pc:
        by = ", ".join(f"{a} {pc['events_by_actor'][a]:.2f} events / {pc['spin_by_actor'][a]:.1f} "
                       "spin" for a in pc["events_by_actor"])
        lines.append(f"PTL contention: {pc['events']:.2f} events per run (max {pc['events_max']}), "
                     f"spin {pc['spin']:.1f}, zappers' work {pc['work']:.1f} ({by})")
    return lines


# ----------------------------------------------------------------------------------------------
# contention
# ----------------------------------------------------------------------------------------------


def cmd_contention(args: argparse.Namespace) -> int:
    costs = dataclasses.replace(Costs(), jitter=args.jitter, reaper_delay=args.reaper_delay,
                                zap_present=args.zap_cost, free_page=args.free_cost)
    sim = args.sizes or (QUICK_SIM_SIZES if args.quick else DEFAULT_SIM_SIZES)
    exh = args.exhaustive_sizes if args.exhaustive_sizes is not None else \
        (QUICK_EXHAUSTIVE_SIZES if args.quick else DEFAULT_EXHAUSTIVE_SIZES)
    knobs = dict(args.knob)
    if "walk" in knobs:
        raise ModelError("contention sets the walk itself (forward and reverse); drop --knob walk")
    out_dir: Path | None = args.out
    if out_dir is not None:
        if out_dir.exists() and not out_dir.is_dir():
            raise ModelError(f"--out {out_dir} exists and is not a directory")
        for name in OUT_FILES:
            if (out_dir / name).is_dir():
                raise ModelError(f"{out_dir / name} is a directory; cannot write it")

    def progress(msg: str) -> None:
        if not args.quiet:
            print(f"oomcheck: [contention] {msg}", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    rep = experiment(sim, exh, args.runs, args.seed, costs, progress, knobs)
    print(rep.markdown)
    print()
    if rep.sensitivity_markdown:
        print(rep.sensitivity_markdown)
        print()
    print(rep.conclusion)
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            png, md = out_dir / OUT_FILES[0], out_dir / OUT_FILES[1]
            plot(rep.rows, str(png))
            md.write_text(report_markdown(rep))
        except OSError as e:
            raise ModelError(f"cannot write into {out_dir}: {e}") from None
        print()
        print(f"wrote {png} and {md}")
    progress(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def contention_main(argv: Sequence[str] | None = None) -> int:
    """bench/contention.py: the contention command as a stand-alone script."""
    p = argparse.ArgumentParser(prog="bench/contention.py",
                                description="PTL contention of the reaper model: forward vs "
                                            "reverse walk, table and plot.")
    _add_contention_args(p)
    args = p.parse_args(argv)
    args.cmd = "contention"
    from oomcheck.cli import pipe_guarded

    with pipe_guarded():
        try:
            return run(args)
        except ModelError as e:
            print(f"contention: error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("contention: interrupted", file=sys.stderr)
            return 130
