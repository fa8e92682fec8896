"""Sweeps: the cross product of variants, knob settings and sizes of one model, each point one
explicit check, run by whatever has a submit(): local processes (concurrent.futures) or a Dask
distributed cluster. One code path for both: a Backend submits run_point and yields the futures
as they finish; the table is printed in plan order, so every backend gives the same table.

Every point is built (catalog variant, knobs, sizes, properties) in the calling process before
anything runs, so bad input is one error line, not a failure on a worker. Each point's results
are rows of the shape `oomcheck verify` produces (model, variant, knobs, sizes, property,
expected, verdict, engine, strength, states, seconds, ok): `expected` is the catalog's verdict
when one of its [[expect]] rows covers the point (same variant, same knob values in effect, the
size among its sizes), else None; `ok` is verdict == expected, or verdict == "holds" without an
expectation.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from oomcheck.catalog import Catalog, build_variant, catalog_for, load_catalog, resolve_variant
from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.language.lang import Model, ModelError
from oomcheck.models import get_model


def kv(d: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in d.items())


@dataclass
class Point:
    """One check of the sweep; plain data, so it pickles to a process or a Dask worker."""

    model: str
    variant: str
    knobs: dict[str, str]
    sizes: dict[str, int]
    properties: list[str]
    spec: str | None = None  # the catalog file, None for the model's own spec/ catalog
    limits: Limits = field(default_factory=Limits)
    symmetry: bool = True
    expected: dict[str, str] = field(default_factory=dict)  # from the catalog, filled by plan()

    @property
    def label(self) -> str:
        knobs = f" {kv(self.knobs)}" if self.knobs else ""
        return f"{self.model} {self.variant}{knobs} {kv(self.sizes)}"


@dataclass
class PointResult:
    point: Point
    rows: list[dict]  # one per property, verify's row shape
    states: int
    seconds: float
    where: str  # which process or Dask worker ran it


def _catalog(model: str, spec: str | None) -> Catalog:
    return load_catalog(Path(spec)) if spec else catalog_for(model)


def _build(p: Point, catalog: Catalog) -> Model:
    return build_variant(resolve_variant(catalog, p.variant), p.sizes, p.knobs, catalog)


def plan(model: str, variants: list[str] | None, sizes: dict[str, list[int]],
         knob_sets: list[dict[str, str]], properties: list[str], spec: str | None = None,
         limits: Limits | None = None, symmetry: bool = True) -> list[Point]:
    """Every point in order (variant, then knob setting, then sizes), each built once here so a
    bad variant, knob, size or property is an error before anything runs; and the catalog's
    expected verdicts of each point."""
    get_model(model)
    catalog = _catalog(model, spec)
    if catalog.model != model:
        raise ModelError(f"catalog {catalog.path} is for model {catalog.model}, not {model}")
    names = sorted(sizes)
    points = []
    for variant in variants or list(catalog.variants):
        for knobs in knob_sets or [{}]:
            for combo in itertools.product(*(sizes[n] for n in names)):
                p = Point(model, variant, dict(knobs), dict(zip(names, combo, strict=True)),
                          list(properties), spec, limits or Limits(), symmetry)
                m = _build(p, catalog)
                if m.name != model:
                    raise ModelError(f"variant {variant} is for model {m.name}, not {model}")
                p.properties = [q.name for q in m.select(properties)]
                p.expected = _expected(catalog, p, m)
                points.append(p)
    if not points:
        raise ModelError("the sweep has no points")
    return points


def _expected(catalog: Catalog, p: Point, m: Model) -> dict[str, str]:
    """The catalog's verdicts for this point: a row of the same variant whose size points
    include it and whose knobs, with the variant's, are the knob values in effect here."""
    out: dict[str, str] = {}
    defaults = {s: d for s, (d, _, _) in get_model(p.model).sizes.items()}
    for e in catalog.expect:
        if e.variant != p.variant or not any({**defaults, **pt} == m.sizes for pt in e.size_points()):
            continue
        try:
            row_knobs = _build(Point(p.model, e.variant, e.knobs, p.sizes, [], p.spec), catalog).knobs
        except ModelError:
            continue
        if row_knobs == m.knobs:
            out.update({k: v for k, v in e.verdicts.items() if k in p.properties})
    return out


def run_point(p: Point) -> PointResult:
    """One point's explicit check (in whatever process or worker runs it)."""
    model = _build(p, _catalog(p.model, p.spec))
    t0 = time.perf_counter()
    results = check_explicit(model, model.select(p.properties), p.limits, None, p.symmetry)
    secs = time.perf_counter() - t0
    rows = []
    for r in results:
        want = p.expected.get(r.property)
        rows.append({"model": p.model, "variant": p.variant, "knobs": p.knobs, "sizes": p.sizes,
                     "property": r.property, "expected": want, "verdict": r.verdict,
                     "engine": r.engine, "strength": r.strength, "states": r.states,
                     "seconds": round(r.seconds, 3),
                     "ok": r.verdict == want if want is not None else r.verdict == "holds",
                     **({"reason": r.reason} if r.reason else {})})
    return PointResult(p, rows, results[0].states if results else 0, secs, _where())


def _where() -> str:
    try:
        from distributed import get_worker

        return f"dask worker {get_worker().address}"
    except (ImportError, ValueError):  # not on a Dask worker
        return f"pid {os.getpid()} on {socket.gethostname()}"


# ---- backends: anything that submits a function and hands back its futures as they finish --


class Backend(Protocol):
    def submit(self, fn: Callable[[Point], PointResult], p: Point) -> Any: ...
    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]: ...
    def close(self) -> None: ...


class LocalBackend:
    """Worker processes on this machine (concurrent.futures)."""

    def __init__(self, jobs: int) -> None:
        self.pool = cf.ProcessPoolExecutor(max_workers=jobs)
        self.name = f"{jobs} local processes"

    def submit(self, fn: Callable[[Point], PointResult], p: Point) -> cf.Future:
        return self.pool.submit(fn, p)

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        return cf.as_completed(list(futures))

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskBackend:
    """The workers of a Dask distributed cluster: a scheduler address, or a Client already
    made (the tests pass a LocalCluster's). The workers need oomcheck installed, and a variant
    file or --spec catalog at the same path as here."""

    def __init__(self, scheduler: str | Any, timeout: float = 30.0) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ModelError("--scheduler needs Dask: pip install 'oomcheck[dask]'") from None
        self.own = isinstance(scheduler, str)
        if isinstance(scheduler, str):
            try:
                self.client = Client(scheduler, timeout=timeout)
            except (OSError, TimeoutError, ValueError) as e:
                raise ModelError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
        else:
            self.client = scheduler
        workers = len(self.client.scheduler_info().get("workers", {}))
        self.name = f"Dask scheduler {self.client.scheduler.address} ({workers} workers)"

    def submit(self, fn: Callable[[Point], PointResult], p: Point) -> Any:
        return self.client.submit(fn, p, pure=False)

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        from distributed import as_completed

        return iter(as_completed(list(futures)))

    def close(self) -> None:
        if self.own:
            self.client.close()


def run_sweep(points: list[Point], backend: Backend,
              on_done: Callable[[int, PointResult], None] | None = None,
              in_order: Callable[[int, PointResult], None] | None = None) -> list[PointResult]:
    """Every point on the backend; on_done(k, result) as each finishes (completion order),
    in_order(k, result) as soon as every point before it has finished (plan order). The results
    in plan order. A failing point's exception is raised here, after the others are cancelled."""
    futures = [backend.submit(run_point, p) for p in points]
    index = {id(f): k for k, f in enumerate(futures)}
    done: dict[int, PointResult] = {}
    shown = 0
    try:
        for n, f in enumerate(backend.as_completed(futures), 1):
            k = index[id(f)]
            done[k] = f.result()
            if on_done is not None:
                on_done(n, done[k])
            while shown in done:
                if in_order is not None:
                    in_order(shown, done[shown])
                shown += 1
    except BaseException:
        for f in futures:
            f.cancel()
        raise
    return [done[k] for k in range(len(points))]


# ---- the table ------------------------------------------------------------------------------


@dataclass
class Table:
    """Rows like verify's: variant, knobs, sizes, a column per property, states. No timing, so
    two runs of the same sweep on different backends print the same table."""

    points: list[Point]
    props: list[str] = field(default_factory=list)
    kw: int = 7

    def __post_init__(self) -> None:
        for p in self.points:
            for q in p.properties:
                if q not in self.props:
                    self.props.append(q)
        self.kw = max([len(kv(p.knobs)) for p in self.points] + [5]) + 2

    def header(self) -> list[str]:
        head = [f"{self.points[0].model} sweep: {len(self.points)} points"]
        head += [f"  P{i + 1} {q}" for i, q in enumerate(self.props)]
        head.append(f"  {'variant':24}{'knobs':{self.kw}}{'sizes':16}"
                    + "".join(f"{'P' + str(i + 1):10}" for i in range(len(self.props)))
                    + "   states")
        return head

    def line(self, r: PointResult) -> str:
        got = {row["property"]: row for row in r.rows}
        cells = []
        for q in self.props:
            row = got.get(q)
            if row is None:
                cells.append(f"{'-':10}")
                continue
            mark = "" if row["expected"] is None or row["ok"] else "!"
            cells.append(f"{row['verdict'] + mark:10}")
        p = r.point
        return (f"  {p.variant:24}{kv(p.knobs):{self.kw}}{kv(p.sizes):16}" + "".join(cells)
                + f" {r.states:>8}")

    @staticmethod
    def summary(results: list[PointResult]) -> list[str]:
        rows = [row for r in results for row in r.rows]
        counts = {v: sum(1 for row in rows if row["verdict"] == v) for v in ("holds", "violated", "unknown")}
        expected = [row for row in rows if row["expected"] is not None]
        differ = [row for row in expected if not row["ok"]]
        unexpected = sum(1 for row in rows if row["expected"] is None and row["verdict"] == "violated")
        lines = [f"{len(rows)} results: " + ", ".join(f"{n} {v}" for v, n in counts.items())
                 + f"; {len(expected)} with a catalog expectation, {len(differ)} differ"
                 + (f"; {unexpected} violated where the catalog expects nothing" if unexpected else "")]
        lines += [f"  differs: {row['variant']} {kv(row['knobs'])} {kv(row['sizes'])} "
                  f"{row['property']}: expected {row['expected']}, got {row['verdict']}"
                  for row in differ]
        return lines


def exit_code(results: list[PointResult]) -> int:
    """1 when a verdict differs from the catalog, or is violated where it has no expectation;
    else 3 when some result is unknown; else 0."""
    rows = [row for r in results for row in r.rows]
    if any(not row["ok"] and (row["expected"] is not None or row["verdict"] == "violated")
           for row in rows):
        return 1
    return 3 if any(row["verdict"] == "unknown" for row in rows) else 0
