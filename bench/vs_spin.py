"""oomcheck against SPIN on the same model: the yardstick.

    .venv/bin/python bench/vs_spin.py                  freezer v10 threads 5..7 (victim-exits,
                                                       no-deadlock), reaper forward/reverse at
                                                       default sizes (oom-progress, no-deadlock,
                                                       no-double-free)
    .venv/bin/python bench/vs_spin.py --model freezer --variant v10 --threads 5 6 \\
                                      --property victim-exits --property no-deadlock
    .venv/bin/python bench/vs_spin.py --check-verdicts  every [[expect]] row of spec/*.toml at its
                                                       smallest sizes through SPIN; reports every
                                                       verdict that differs from ours

Each row is exported with `oomcheck export promela` (oomcheck/export/promela.py), compiled with
`spin -a` and `gcc -O2`, and run with pan: safety with -DSAFETY (deadlock also -DNOCLAIM) on the
one-process export, liveness with `pan -a -f` (weak fairness) on two exports of the same steps:
`instance` (a process per weakly fair action instance: exactly our fairness, SPIN's verdict must
equal ours) and `actor` (a process per thread / OOM killer / reaper, the model a SPIN user would
write: SPIN's weak fairness per process is then fairness per actor, cheaper for SPIN; its verdict
is compared too). SPIN runs with its default partial-order reduction (--spin-noreduce adds a run
with -DNOREDUCE). oomcheck runs `oomcheck check` on the same row as a subprocess, the whole
command (start-up, catalog, model build, search), with Python's bytecode cache on as in any
installed copy. Seconds are wall clock; SPIN's compile (spin -a + gcc) is its own column and is
in "total s" with its run; peak MB is the child's peak resident set (os.wait4), pan's or
oomcheck's. "states" is what each tool stored: pan's "states, stored" (for -a -f that counts the
product with the never claim and the fairness copies), our explicit engine's states (one per
orbit under symmetry). The last columns compare each SPIN run with oomcheck: its total time and
peak memory over ours (above 1: oomcheck is faster, leaner).
This bench installs nothing: without spin it says so and prints only oomcheck's column.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oomcheck.catalog import Catalog, Expectation, build_variant, default_catalogs, model_for, resolve_variant
from oomcheck.checker.engines import Options, run
from oomcheck.checker.explicit.search import Limits
from oomcheck.checker.language.lang import Model, ModelError
from oomcheck.export.promela import Promela, SpinSession, run_measured, spin_available, to_promela

ROOT = Path(__file__).resolve().parent.parent
SIZE_OPTIONS = ("threads", "vmas", "ptes")
# oomcheck's runs: the bytecode cache on, as in an installed copy (a session may turn it off)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass
class Row:
    model: str
    variant: str
    sizes: dict[str, int]
    knobs: dict[str, str]
    prop: str

    @property
    def label(self) -> str:
        sz = " ".join(f"{k}={v}" for k, v in self.sizes.items())
        kn = "".join(f" {k}={v}" for k, v in self.knobs.items())
        return f"{self.model} {self.variant} {sz}{kn} {self.prop}"


@dataclass
class Cell:
    tool: str
    flags: str
    compile_s: float | None
    run_s: float | None
    cpu_s: float | None
    states: int | None
    peak_mb: float | None
    verdict: str


def default_rows() -> list[Row]:
    rows = [Row("freezer", "v10", {"threads": n}, {}, p)
            for n in (5, 6, 7) for p in ("victim-exits", "no-deadlock")]
    rows += [Row("reaper", v, {}, {}, p) for v in ("forward", "reverse")
             for p in ("oom-progress", "no-deadlock", "no-double-free")]
    return rows


def oomcheck_cell(row: Row, timeout: float, reduced: bool = True) -> Cell:
    cmd = [sys.executable, "-m", "oomcheck", "check", row.model, "--variant", row.variant,
           "--property", row.prop, "--format", "json", "--quiet", "--max-seconds", str(timeout),
           "--max-states", "2000000000"]  # time and memory (16 GB) are the limits here, as for pan
    if not reduced:
        cmd += ["--symmetry", "off", "--por", "off"]
    for k, v in row.sizes.items():
        cmd += [f"--{k}", str(v)]
    for k, v in row.knobs.items():
        cmd += ["--knob", f"{k}={v}"]
    r = run_measured(cmd, ROOT, timeout + 60, env=ENV)
    try:
        res = json.loads(r.output[r.output.index("{"):])["results"][0]
        verdict = res["verdict"] + (f" ({res['reason']})" if res.get("reason") else "")
        states = res["states"]
    except (ValueError, KeyError, IndexError):
        verdict = "error: " + (r.output.strip().splitlines() or ["no output"])[-1][:80]
        states = None
    return Cell("oomcheck", "explicit" if reduced else "explicit --symmetry off --por off",
                None, r.seconds, r.cpu_seconds, states, r.peak_kb / 1024,
                verdict)


def spin_cells(model: Model, row: Row, our_states: int | None, timeout: float,
               opt: str, extra: tuple[str, ...], noreduce: bool) -> list[Cell]:
    props = model.select([row.prop])
    layouts = ("instance", "actor") if props[0].is_liveness else ("single",)
    return [c for layout in layouts
            for c in spin_layout(to_promela(model, props, layout), row, our_states, timeout,
                                 opt, extra, (True, False) if noreduce else (True,))]


def spin_layout(pml: Promela, row: Row, our_states: int | None, timeout: float, opt: str,
                extra: tuple[str, ...], reductions: tuple[bool, ...]) -> list[Cell]:
    # hash table: 2^w slots, about twice the states (SPIN's own count, once known); DFS stack:
    # grown tenfold if pan says so
    w = 22 if not our_states else min(30, max(18, math.ceil(math.log2(our_states)) + 1))
    out = []
    for reduce in reductions:
        with tempfile.TemporaryDirectory(prefix="vs_spin_") as d:
            s = SpinSession(pml, Path(d), opt=opt, reduce=reduce, timeout=timeout,
                            extra_cflags=extra)
            depth = 1_000_000
            compile_s = 0.0
            # our count may be symmetry-reduced and SPIN's is not: a table sized from ours would
            # overflow into long chains. Start large, then run again with the table sized for
            # SPIN's own count, so that its time and peak memory are what a SPIN user would get.
            bits = max(w, 26)
            while True:
                r = s.check(row.prop, max_depth=depth, hash_bits=bits)
                compile_s += r.compile_seconds
                fit = min(30, max(18, math.ceil(math.log2(r.states)) + 1)) if r.states else bits
                if "max search depth too small" in r.reason and depth < 100_000_000:
                    depth *= 10
                elif fit != bits and (fit > bits or r.verdict != "unknown"):
                    bits = fit
                else:
                    break
            shown = [f for f in r.cflags if not f.startswith(("-DMEMLIM", "-DNFAIR"))]
            flags = " ".join([pml.layout, opt, *shown, *r.args])
            verdict = r.verdict + (f" ({r.reason[:60]})" if r.reason and r.verdict != "violated"
                                   else "")
            out.append(Cell("spin", flags, compile_s, r.run_seconds, r.cpu_seconds, r.states,
                            r.peak_kb / 1024, verdict))
    return out


def fmt(x: float | int | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def total(c: Cell) -> float | None:
    if c.run_s is None or c.verdict.startswith(("unknown", "error")):
        return None  # an unfinished run has no time to compare
    return c.run_s + (c.compile_s or 0.0)


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b <= 0 else f"{a / b:.1f}x"


def print_table(results: list[tuple[Row, list[Cell]]]) -> None:
    head = ("row", "tool", "flags", "compile s", "run s", "total s", "cpu s", "states", "peak MB",
            "verdict", "time vs ours", "memory vs ours")
    lines = []
    for row, cells in results:
        ours = cells[0]
        for c in cells:
            spin = c.tool == "spin"
            lines.append((row.label, c.tool, c.flags, fmt(c.compile_s, ".2f"), fmt(c.run_s, ".2f"),
                          fmt(total(c), ".2f"), fmt(c.cpu_s, ".2f"), fmt(c.states, ","),
                          fmt(c.peak_mb, ".0f"), c.verdict,
                          ratio(total(c), total(ours)) if spin else "",
                          ratio(c.peak_mb, ours.peak_mb) if spin else ""))
    widths = [max(len(h), *(len(ln[i]) for ln in lines)) for i, h in enumerate(head)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for ln in lines:
        print("| " + " | ".join(x.ljust(w) for x, w in zip(ln, widths, strict=True)) + " |")


def bench(rows: list[Row], timeout: float, opt: str, extra: tuple[str, ...] = (),
          noreduce: bool = False, unreduced: bool = False) -> int:
    missing = spin_available()
    if missing:
        print(f"vs_spin: {missing} not found (apt-get install spin gcc); "
              "printing oomcheck's column only", file=sys.stderr)
    results = []
    for row in rows:
        model, _ = model_for(row.model, row.variant, None, row.sizes, row.knobs)
        row.sizes = dict(model.sizes)  # the defaults made explicit, for both tools and the label
        model.select([row.prop])  # an unknown property is one clear error, before any run
        print(f"vs_spin: {row.label}", file=sys.stderr, flush=True)
        oomcheck_cell(row, timeout)  # once to warm the bytecode and native-core caches
        ours = oomcheck_cell(row, timeout)
        cells = [ours]
        if unreduced:
            cells.append(oomcheck_cell(row, timeout, reduced=False))
        if not missing:
            cells += spin_cells(model, row, ours.states, timeout, opt, extra, noreduce)
        results.append((row, cells))
    print_table(results)
    print()
    print(f"SPIN {spin_version()}; gcc {opt}; pan -m<depth> -w<log2 of about twice SPIN's "
          "states>. run s (wall), cpu s (user+sys) and peak MB are pan's, or oomcheck check's as "
          "a subprocess; compile s is spin -a + gcc; total s = compile + run. Layouts: single "
          "(safety, one process), instance (a process per fair action instance: our fairness), "
          "actor (a process per actor: SPIN's fairness per process). \"x vs ours\" is SPIN's "
          "figure over oomcheck's.")
    return 0


def spin_version() -> str:
    if shutil.which("spin") is None:
        return "(not installed)"
    out = run_measured(["spin", "-V"]).output.strip()
    return out.removeprefix("Spin Version ").split(" --")[0] or out


# --------------------------------------------------------------------------------------------
# --check-verdicts
# --------------------------------------------------------------------------------------------


def check_verdicts(timeout: float, opt: str, reduce: bool, all_sizes: bool) -> int:
    missing = spin_available()
    if missing:
        print(f"vs_spin: {missing} not found (apt-get install spin gcc); nothing to compare",
              file=sys.stderr)
        return 2
    diffs: list[str] = []
    n = 0
    for cat in default_catalogs():
        for ex in cat.expect:
            points = ex.size_points() if all_sizes else [{k: min(v) for k, v in ex.sizes.items()}]
            for sizes in points:
                n += compare_row(cat, ex, sizes, timeout, opt, reduce, diffs)
    print()
    flags = f"gcc {opt}" + ("" if reduce else " -DNOREDUCE")
    if diffs:
        print(f"{len(diffs)} of {n} verdicts differ ({flags}):")
        for d in diffs:
            print(f"  {d}")
        return 1
    print(f"all {n} verdicts agree: catalog, oomcheck and SPIN {spin_version()} ({flags})")
    return 0


def compare_row(cat: Catalog, ex: Expectation, sizes: dict[str, int], timeout: float, opt: str,
                reduce: bool, diffs: list[str]) -> int:
    """One catalog row at one size point: print each property's three verdicts; return how many."""
    model = build_variant(resolve_variant(cat, ex.variant), sizes, ex.knobs, cat)
    label = f"{cat.model} {ex.variant} " + " ".join(f"{k}={v}" for k, v in {**sizes, **ex.knobs}.items())
    props = model.select(list(ex.verdicts))
    try:
        ours = {r.property: r.verdict for r in
                run(model, props, Options("explicit", limits=Limits(max_seconds=timeout)))}
    except ModelError as e:
        ours = {p.name: f"error ({e})" for p in props}
    spin: dict[str, tuple[str, str]] = {}
    # liveness needs one process per fair instance; safety is checked on the one-process export
    for group in ([p for p in props if p.is_liveness], [p for p in props if not p.is_liveness]):
        if not group:
            continue
        with tempfile.TemporaryDirectory(prefix="vs_spin_") as d:
            s = SpinSession(to_promela(model, group), Path(d), opt=opt, reduce=reduce,
                            timeout=timeout)
            for p in group:
                r = s.check(p.name, max_depth=1_000_000, hash_bits=20)
                spin[p.name] = (r.verdict, r.reason)
    for p in props:
        want, our = ex.verdicts[p.name], ours[p.name]
        got, why = spin[p.name]
        mark = "" if got == want == our else "   <-- differs"
        print(f"{label:70} {p.name:28} catalog {want:8} oomcheck {our:8} spin {got}{mark}",
              flush=True)
        if mark:
            diffs.append(f"{label}: {p.name}: catalog {want}, oomcheck {our}, spin {got} {why}")
    return len(props)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/vs_spin.py", description=__doc__.split("\n")[0])
    p.add_argument("--model", help="model (with --variant: bench these rows instead of the "
                   "defaults)")
    p.add_argument("--variant")
    p.add_argument("--property", action="append", default=[])
    for s in SIZE_OPTIONS:
        p.add_argument(f"--{s}", type=int, nargs="+", help=f"{s} values (one row each)")
    p.add_argument("--knob", action="append", default=[], metavar="K=V")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per tool run")
    p.add_argument("--cc-opt", metavar="=-ON", help="gcc optimisation for pan, written "
                   "--cc-opt=-O1 (default -O2; -O0 with "
                   "--check-verdicts, whose models are small and compile time dominates)")
    p.add_argument("--spin-cflags", default="", metavar="FLAGS",
                   help="more gcc flags for pan, e.g. \"-DCOLLAPSE\" (state compression)")
    p.add_argument("--check-verdicts", action="store_true",
                   help="every catalog row at its smallest sizes: SPIN's verdicts against ours")
    p.add_argument("--no-reduce", action="store_true",
                   help="with --check-verdicts: compile pan with -DNOREDUCE")
    p.add_argument("--unreduced", action="store_true",
                   help="also run oomcheck with --symmetry off --por off (the states SPIN sees)")
    p.add_argument("--spin-noreduce", action="store_true",
                   help="also run each SPIN cell with -DNOREDUCE (no partial-order reduction)")
    p.add_argument("--all-sizes", action="store_true",
                   help="with --check-verdicts: every size point of each row, not the smallest")
    a = p.parse_args(argv)
    try:
        if a.check_verdicts:
            return check_verdicts(min(a.timeout, 600.0), a.cc_opt or "-O0", not a.no_reduce,
                                  a.all_sizes)
        opt = a.cc_opt or "-O2"
        extra = tuple(a.spin_cflags.split())
        if a.model is None:
            return bench(default_rows(), a.timeout, opt, extra, a.spin_noreduce, a.unreduced)
        if a.variant is None or not a.property:
            p.error("--model needs --variant and at least one --property")
        if any("=" not in k for k in a.knob):
            p.error("--knob takes NAME=VALUE")
        knobs = dict(k.split("=", 1) for k in a.knob)
        size_lists = {s: getattr(a, s) for s in SIZE_OPTIONS if getattr(a, s)}
        points = [{}]
        for s, vals in size_lists.items():
            points = [{**pt, s: v} for pt in points for v in vals]
        rows = [Row(a.model, a.variant, pt, knobs, prop) for pt in points for prop in a.property]
        return bench(rows, a.timeout, opt, extra, a.spin_noreduce, a.unreduced)
    except ModelError as e:
        print(f"vs_spin: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vs_spin: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
