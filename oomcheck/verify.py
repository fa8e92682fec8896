"""`oomcheck verify`: the catalog's expected verdicts, the explicit/BMC cross-check, the proofs.

Three jobs per catalog:
1. every [[expect]] row at every size point, with the explicit engine, against its verdicts;
2. the same row at its smallest size point with BMC to a capped depth: BMC must find every
   explicit counterexample that fits within the cap, at the same length for safety, and must
   find none where the explicit engine says the property holds;
3. every [[proof]] row with its symbolic engine, against the expected strength.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .catalog import Catalog, ProofExpectation, build_variant, resolve_variant
from .checker.bmc import bmc_liveness, bmc_safety
from .checker.engines import Options
from .checker.engines import run as run_engine
from .checker.explicit import Limits, check_explicit
from .checker.lang import Model, Property
from .checker.trace import Result


@dataclass
class Report:
    rows: list[dict] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    cross_unchecked: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def _kv(d: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in d.items())


def verify_catalog(cat: Catalog, limits: Limits, progress: Callable | None, cross: bool,
                   cross_timeout: float, cross_depth: int, echo: Callable[[str], None],
                   symmetry: bool = True) -> Report:
    rep = Report()
    props_seen: list[str] = []
    for e in cat.expect:
        for p in e.verdicts:
            if p not in props_seen:
                props_seen.append(p)
    echo(f"{cat.model}  ({cat.path})")
    for i, p in enumerate(props_seen):
        echo(f"  P{i + 1} {p}")
    kw = max([len(_kv(e.knobs)) for e in cat.expect] + [5]) + 2
    echo(f"  {'variant':24}{'knobs':{kw}}{'sizes':16}"
         + "".join(f"{'P' + str(i + 1):9}" for i in range(len(props_seen))) + "   states  seconds")
    for e in cat.expect:
        variant = resolve_variant(cat, e.variant)
        for n, point in enumerate(e.size_points()):
            model = build_variant(variant, point, e.knobs, cat)
            props = model.select(list(e.verdicts))
            t0 = time.perf_counter()
            results = check_explicit(model, props, limits, progress(model) if progress else None,
                                     symmetry)
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
            states = results[0].states if results else 0
            echo(f"  {e.variant:24}{_kv(e.knobs):{kw}}{_kv(point):16}" + "".join(cells)
                 + f" {states:>8}  {secs:7.2f}")
            if cross and n == 0:
                _cross_check(model, props, got, cross_timeout, cross_depth, rep)
    if cat.proofs:
        echo("")
        echo("  symbolic proofs")
        for pe in cat.proofs:
            _proofs(cat, pe, limits, rep, echo)
    return rep


def _cross_check(model: Model, props: list[Property], explicit: dict[str, Result],
                 timeout: float, cap: int, rep: Report) -> None:
    """BMC to min(explicit depth + 2, cap) must agree with the explicit engine."""
    where = f"{model.name} {model.variant} {_kv(model.knobs)} {_kv(model.sizes)}"
    for p in props:
        ex = explicit[p.name]
        if ex.verdict == "unknown":
            continue
        depth = min(ex.depth + 2, cap)
        r = bmc_liveness(model, p, depth, timeout) if p.is_liveness \
            else bmc_safety(model, p, depth, timeout)
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


def _len(r: Result) -> str:
    return f" in {len(r.trace.steps)} steps" if r.trace is not None else ""


def _proofs(cat: Catalog, pe: ProofExpectation, limits: Limits, rep: Report,
            echo: Callable[[str], None]) -> None:
    variant = resolve_variant(cat, pe.variant)
    for point in pe.size_points():
        model = build_variant(variant, point, pe.knobs, cat)
        props = model.select(list(pe.expect))
        results = run_engine(model, props, Options(pe.engine, depth=pe.depth, timeout=120.0,
                                                   limits=limits))
        for r in results:
            got = _strength(r)
            want = pe.expect[r.property]
            ok = got == want
            where = f"{cat.model} {pe.variant} {_kv(pe.knobs)} {_kv(point)} [{pe.engine}]"
            if not ok:
                rep.mismatches.append(f"{where}: {r.property} expected {want}, got {got}"
                                      + (f" ({r.reason})" if r.reason else ""))
            rep.rows.append({"model": cat.model, "variant": pe.variant, "knobs": pe.knobs,
                             "sizes": point, "property": r.property, "expected": want,
                             "verdict": r.verdict, "engine": r.engine, "strength": r.strength,
                             "seconds": round(r.seconds, 3), "ok": ok})
            echo(f"  {pe.variant:24}{_kv(point):16}{pe.engine:11}{r.property:30}"
                 f"{got + ('' if ok else '!'):10}{r.seconds:7.2f}")


def _strength(r: Result) -> str:
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

