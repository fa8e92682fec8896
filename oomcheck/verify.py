"""`oomcheck verify`: the catalog's expected verdicts, the explicit/BMC cross-check, the proofs.

Three jobs per catalog:
1. every [[expect]] row at every size point, with the explicit engine, against its verdicts;
2. the same row at its smallest size point with BMC to a capped depth: BMC must find every
   explicit counterexample that fits within the cap, at the same length for safety, and must
   find none where the explicit engine says the property holds;
3. every [[proof]] row with its symbolic engine, against the expected strength.

Each (row, size point) is an independent job: `--jobs N` runs them in N processes, and the table
still streams in catalog order, the same table and exit code as with one job.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from oomcheck.catalog import (
    Catalog,
    Expectation,
    ProofExpectation,
    build_variant,
    load_catalog,
    resolve_variant,
)
from oomcheck.checker.engines import Options
from oomcheck.checker.engines import run as run_engine
from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.language.lang import Model, Property
from oomcheck.checker.render import result_text
from oomcheck.checker.symbolic.bmc import bmc_shared
from oomcheck.checker.trace import Result


@dataclass
class Report:
    """A catalog's results, or one job's part of them with its lines of the table."""

    rows: list[dict] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    cross_unchecked: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def _kv(d: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in d.items())


@dataclass(frozen=True)
class Settings:
    """What every job needs, picklable so that worker processes get it too."""

    limits: Limits
    cross: bool = True
    cross_timeout: float = 20.0
    cross_depth: int = 12
    symmetry: bool = True
    progress: bool = False  # progress lines on stderr
    proofs: bool = True  # the [[proof]] rows (symbolic engines)
    por: bool = True  # partial-order reduction in the safety search


def verify_catalogs(cats: list[Catalog], settings: Settings, echo: Callable[[str], None],
                    jobs: int = 1, done_jobs: Callable[[int, int], None] | None = None) -> list[Report]:
    """Every catalog's rows, `jobs` at a time; the table streams in catalog order. `done_jobs`
    hears (jobs finished, jobs in all) as the table advances."""
    plan: list[tuple[int, tuple | None, list[str]]] = []  # (catalog, job, lines before it)
    for c, cat in enumerate(cats):
        head, props_seen, kw = _header(cat)
        plan.append((c, None, head))
        for i, e in enumerate(cat.expect):
            for n in range(len(e.size_points())):
                plan.append((c, (str(cat.path), "expect", i, n, props_seen, kw), []))
        for i, pe in enumerate(cat.proofs if settings.proofs else []):
            for n in range(len(pe.size_points())):
                plan.append((c, (str(cat.path), "proof", i, n, pe.engine), ["", "  symbolic proofs"]
                             if i == 0 and n == 0 else []))
        plan.append((c, None, [""]))
    reports = [Report() for _ in cats]
    work = [job for _, job, _ in plan if job is not None]
    finished = 0
    for (c, job, lines), done in zip(plan, _results(work, settings, jobs, plan), strict=True):
        for line in lines:
            echo(line)
        if job is None:
            continue
        finished += 1
        if done_jobs is not None:
            done_jobs(finished, len(work))
        for line in done.lines:
            echo(line)
        rep = reports[c]
        rep.rows += done.rows
        rep.mismatches += done.mismatches
        rep.cross_unchecked += done.cross_unchecked
    return reports


def _results(work: list[tuple], settings: Settings, jobs: int,
             plan: list[tuple[int, tuple | None, list[str]]]) -> Iterator[Report]:
    """One Report per plan entry (an empty one for headers), in plan order."""
    if jobs <= 1 or len(work) <= 1:
        done: Iterator[Report] = (_run_job(job, settings) for job in work)
        for _, job, _ in plan:
            yield Report() if job is None else next(done)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        # the longest jobs first, so that no long one starts last; print in plan order
        first = sorted(range(len(work)), key=lambda k: _cost_rank(work[k], settings))
        futures = {k: pool.submit(_run_job, work[k], settings) for k in first}
        k = 0
        for _, job, _ in plan:
            if job is None:
                yield Report()
            else:
                yield futures[k].result()
                k += 1


# measured (OOMCHECK_VERIFY_TIMES=1) on the catalog: an indexed proof takes about half a minute,
# a parametric, CHC or k-induction proof a few seconds, a row's first size point with its BMC
# cross-check one to four seconds, any other size point a fraction of a second
_PROOF_RANK = {"indexed": 0, "parametric": 1, "chc": 1, "induction": 1}


def _cost_rank(job: tuple, settings: Settings) -> int:
    """Where a job goes in the queue: the longest kinds of job first."""
    if job[1] == "proof":
        return _PROOF_RANK.get(job[4], 2)
    return 2 if settings.cross and job[3] == 0 else 3


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _header(cat: Catalog) -> tuple[list[str], list[str], int]:
    props_seen: list[str] = []
    for e in cat.expect:
        for p in e.verdicts:
            if p not in props_seen:
                props_seen.append(p)
    lines = [f"{cat.model}  ({cat.path})"]
    lines += [f"  P{i + 1} {p}" for i, p in enumerate(props_seen)]
    kw = max([len(_kv(e.knobs)) for e in cat.expect] + [5]) + 2
    lines.append(f"  {'variant':24}{'knobs':{kw}}{'sizes':16}"
                 + "".join(f"{'P' + str(i + 1):9}" for i in range(len(props_seen)))
                 + "   states  seconds")
    return lines, props_seen, kw


_CATALOGS: dict[str, Catalog] = {}


def _run_job(job: tuple, settings: Settings) -> Report:
    path, kind = job[0], job[1]
    cat = _CATALOGS.get(path)
    if cat is None:
        cat = _CATALOGS[path] = load_catalog(Path(path))
    done = Report()
    t0, c0 = time.perf_counter(), time.process_time()
    if kind == "proof":
        pe = cat.proofs[job[2]]
        _proofs(cat, pe, pe.size_points()[job[3]], settings, done)
        what = f"proof {pe.variant} {_kv(pe.knobs)} {_kv(pe.size_points()[job[3]])} [{pe.engine}]"
    else:
        e = cat.expect[job[2]]
        _expect(cat, job[2], job[3], job[4], job[5], settings, done)
        what = f"expect {e.variant} {_kv(e.knobs)} {_kv(e.size_points()[job[3]])}"
    if os.environ.get("OOMCHECK_VERIFY_TIMES"):  # hidden: where a verify's time goes, per job
        print(f"oomcheck: job {time.perf_counter() - t0:7.2f} s ({time.process_time() - c0:7.2f} s cpu)  "
              f"{Path(path).name} {what}", file=sys.stderr, flush=True)
    return done


def _progress(settings: Settings, model: Model) -> Callable[[int, int, float], None] | None:
    if not settings.progress:
        return None
    label = f"{model.name} {model.variant} {_kv(model.sizes)}"

    def report(states: int, depth: int, seconds: float) -> None:
        print(f"oomcheck: [{label}] {states:,} states, depth {depth}, {seconds:.0f} s",
              file=sys.stderr, flush=True)
    return report


def _expect(cat: Catalog, i: int, n: int, props_seen: list[str], kw: int, settings: Settings,
            rep: Report) -> None:
    e = cat.expect[i]
    point = e.size_points()[n]
    t0 = time.perf_counter()
    model, props, results = expect_results(cat, e, point, settings)
    secs = time.perf_counter() - t0
    got = {r.property: r for r in results}
    cells = []
    for p in props_seen:
        if p not in e.verdicts:
            cells.append(f"{'-':9}")
            continue
        r = got[p]
        ok = r.verdict == e.verdicts[p]
        where = f"{cat.model} {e.variant} {_kv(e.knobs)} {_kv(point)}"
        if not ok:
            rep.mismatches.append(f"{where}: {p} expected {e.verdicts[p]}, got {r.verdict}"
                                  + (f" ({r.reason})" if r.reason else ""))
        cells.append(f"{r.verdict + ('' if ok else '!'):9}")
        rep.rows.append({"model": cat.model, "variant": e.variant, "knobs": e.knobs,
                         "sizes": point, "property": p, "expected": e.verdicts[p],
                         "verdict": r.verdict, "engine": r.engine, "strength": r.strength,
                         "states": r.states, "seconds": round(r.seconds, 3), "ok": ok})
        if not ok:  # what a CI failure shows (ciformats)
            rep.rows[-1].update({"reason": r.reason} if r.reason else {})
            rep.rows[-1].update({"counterexample": result_text(r)} if r.trace else {})
    states = results[0].states if results else 0
    rep.lines.append(f"  {e.variant:24}{_kv(e.knobs):{kw}}{_kv(point):16}" + "".join(cells)
                     + f" {states:>8}  {secs:7.2f}")
    if settings.cross and n == 0:
        _cross_check(model, props, got, settings.cross_timeout, settings.cross_depth, rep)


def expect_results(cat: Catalog, e: Expectation, point: dict[str, int], settings: Settings,
                   only: Collection[str] | None = None) -> tuple[Model, list[Property], list[Result]]:
    """An [[expect]] row at one size point: the explicit engine's result for each property it
    names (or for those in `only`), in the row's order. Its verdict is to equal the row's."""
    model = build_variant(resolve_variant(cat, e.variant), point, e.knobs, cat)
    props = model.select([p for p in e.verdicts if only is None or p in only])
    return model, props, check_explicit(model, props, settings.limits, _progress(settings, model),
                                        settings.symmetry, por=settings.por)


def proof_results(cat: Catalog, pe: ProofExpectation, point: dict[str, int], settings: Settings,
                  only: Collection[str] | None = None) -> list[Result]:
    """A [[proof]] row at one size point: its engine's result for each property it names (or for
    those in `only`). proof_strength(result) is to equal the row's expectation."""
    model = build_variant(resolve_variant(cat, pe.variant), point, pe.knobs, cat)
    props = model.select([p for p in pe.expect if only is None or p in only])
    return run_engine(model, props, Options(pe.engine, depth=pe.depth, timeout=120.0,
                                            limits=settings.limits))


def _cross_check(model: Model, props: list[Property], explicit: dict[str, Result],
                 timeout: float, cap: int, rep: Report) -> None:
    """BMC to min(explicit depth + 2, cap) must agree with the explicit engine (the safety
    properties to the deepest of their depths; one unrolling for all)."""
    where = f"{model.name} {model.variant} {_kv(model.knobs)} {_kv(model.sizes)}"
    known = [p for p in props if explicit[p.name].verdict != "unknown"]
    # the safety properties share one unrolling, as deep as the deepest of them needs
    safety = [p for p in known if not p.is_liveness]
    shared = min(max([explicit[p.name].depth for p in safety], default=0) + 2, cap)
    # and each liveness property to its own depth, all on one unrolling
    lasso = {p.name: min(explicit[p.name].depth + 2, cap) for p in known if p.is_liveness}
    bmc = bmc_shared(model, safety, shared, [(p, lasso[p.name]) for p in known if p.is_liveness],
                     timeout) if known else {}
    for p in known:
        ex = explicit[p.name]
        depth, r = lasso.get(p.name, shared), bmc[p.name]
        if r.verdict == "unknown":
            rep.cross_unchecked.append(f"{where}: {p.name} ({r.reason})")
            continue
        fits = ex.trace is not None and len(ex.trace.steps) <= depth
        if r.verdict == "violated":
            # a real execution: the explicit engine must know it, with the same shortest length
            agree = ex.verdict == "violated" and (
                p.is_liveness or len(r.trace.steps) == len(ex.trace.steps))  # type: ignore[union-attr]
        else:
            agree = ex.verdict == "holds" or not fits
        if not agree:
            rep.mismatches.append(f"{where}: {p.name}: explicit says {ex.verdict}"
                                  f"{_len(ex)}, bmc (depth {depth}) says {r.verdict}{_len(r)}")
            for row in rep.rows:  # this job's rows: the test case the cross-check belongs to
                if row["property"] == p.name:
                    row["cross_check"] = f"bmc (depth {depth}) says {r.verdict}{_len(r)}, " \
                        f"explicit says {ex.verdict}{_len(ex)}"


def _len(r: Result) -> str:
    return f" in {len(r.trace.steps)} steps" if r.trace is not None else ""


def _proofs(cat: Catalog, pe: ProofExpectation, point: dict[str, int], settings: Settings,
            rep: Report) -> None:
    results = proof_results(cat, pe, point, settings)
    for r in results:
        got = proof_strength(r)
        want = pe.expect[r.property]
        ok = got == want
        where = f"{cat.model} {pe.variant} {_kv(pe.knobs)} {_kv(point)} [{pe.engine}]"
        if not ok:
            rep.mismatches.append(f"{where}: {r.property} expected {want}, got {got}"
                                  + (f" ({r.reason})" if r.reason else ""))
        rep.rows.append({"model": cat.model, "variant": pe.variant, "knobs": pe.knobs,
                         "sizes": point, "property": r.property, "expected": want,
                         "verdict": r.verdict, "engine": r.engine, "strength": r.strength,
                         "seconds": round(r.seconds, 3), "ok": ok, "proof_engine": pe.engine})
        rep.lines.append(f"  {pe.variant:24}{_kv(point):16}{pe.engine:11}{r.property:30}"
                         f"{got + ('' if ok else '!'):10}{r.seconds:7.2f}")


def proof_strength(r: Result) -> str:
    """What a [[proof]] row expects of a result: proved, bounded, violated or unknown."""
    if r.verdict == "violated":
        return "violated"
    if r.verdict == "unknown":
        return "unknown"
    return "proved" if r.strength.get("kind") == "proved" else "bounded"


def echo_to(stream: object, enabled: bool) -> Callable[[str], None]:
    def echo(line: str) -> None:
        if enabled:
            print(line, file=stream, flush=True)  # type: ignore[arg-type]
    return echo

