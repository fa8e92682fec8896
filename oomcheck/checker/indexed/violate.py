"""A violation of a model with ordered indices: the trace at the smallest size, how far it was
found again on a grid of sizes (explicitly), and, when it can be shown, for every K and P: the
trace read as a schema over K and P (schema.py: anchored indices, loops over the new elements)
that Z3 shows is an execution ending in a violation at every size from the trace's own
(symexec.py). Without that, the result says which sizes were checked, and no more.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import z3

from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.indexed.schema import (
    Concrete,
    Item,
    Schema,
    SLoop,
    candidates,
    parse,
    read_base,
    repaired,
    replay,
)
from oomcheck.checker.indexed.symexec import check as check_schema
from oomcheck.checker.indexed.template import IndexedFamily, NotIndexedError, Template
from oomcheck.checker.language.lang import Model, ModelError, Property
from oomcheck.checker.trace import Result

if TYPE_CHECKING:
    from oomcheck.checker.indexed.prove import IndexedProver

GRID = ((1, 2, 3, 4), (1, 2, 3))


def smallest_violation(model: Model, fam: IndexedFamily, p: Property, limits: Limits,
                       seconds: float = 120.0) -> Result | None:
    """The explicit violation at the smallest K (then P) of the grid, with a note of every grid
    size where it was found again; None when some grid size holds or could not be decided (the
    caller keeps its own answer)."""
    rebuild = model.rebuild
    if rebuild is None:
        return None
    t_end = time.perf_counter() + seconds
    first: Result | None = None
    found: list[tuple[int, int]] = []
    for k, q in itertools.product(*GRID):
        left = t_end - time.perf_counter()
        if left <= 0:
            break
        try:
            small = rebuild({**model.sizes, fam.k_size: k, fam.p_size: q})
        except ModelError:
            continue  # below the model's smallest size
        lim = Limits(limits.max_states, min(limits.max_seconds, left), limits.max_memory_mb)
        r = check_explicit(small, [small.properties[p.name]], lim)[0]
        if r.verdict != "violated":
            return None if r.verdict == "holds" else first and _note(first, found, fam)
        first = first or r
        found.append((k, q))
    return first and _note(first, found, fam)


def _note(r: Result, found: list[tuple[int, int]], fam: IndexedFamily) -> Result:
    r.strength = {**r.strength, "grid": [{fam.k_size: k, fam.p_size: q} for k, q in found]}
    if len(found) == len(GRID[0]) * len(GRID[1]):
        where = (f"every {fam.k_size} in {GRID[0][0]}..{GRID[0][-1]} with {fam.p_size} in "
                 f"{GRID[1][0]}..{GRID[1][-1]}")
    else:
        where = ", ".join(f"{fam.k_size}={k} {fam.p_size}={q}" for k, q in found)
    r.reason = (f"the trace is at the smallest size; also violated at {where} (explicit, each size "
                f"searched); not shown for every {fam.k_size} and {fam.p_size}")
    return r



# ----------------------------------------------------------------------------------------------
# for every size
# ----------------------------------------------------------------------------------------------


@dataclass
class Every:
    """A violation shown for every K >= k0 and P >= p0."""

    covers: str
    k0: int
    p0: int
    schema: Schema
    rests_on: str
    below: str  # how the sizes below (k0, p0) were checked

    def text(self) -> str:
        return (f"the counterexample at {self.k0}x{self.p0} is a schema over every size (indices "
                f"{self.schema.anchoring_text()}; new elements start with "
                f"{self.schema.fill_note or 'their only initial value'}), an execution that ends in "
                f"the violation for {self.covers} (Z3, symbolic sizes){self.below}")


def every_size(prover: IndexedProver, p: Property, small: Result, limits: Limits,
               seconds: float = 120.0) -> tuple[Every | None, str]:
    """The violation `small` (from smallest_violation) for every size, or None and why not."""
    if p.kind not in ("invariant", "deadlock"):
        return None, "only invariants and deadlocks are shown for every size"
    fam, t = prover.fam, prover.t
    grid = [(g[fam.k_size], g[fam.p_size]) for g in small.strength.get("grid", [])]
    if not grid:
        return None, "no explicit violation to start from"
    t_end = time.perf_counter() + seconds
    k0, p0 = max(grid[0][0], t.lo[fam.k_size]), max(grid[0][1], t.lo[fam.p_size])
    try:
        base_model = prover.build(k0, p0)
        if (k0, p0) == grid[0]:
            trace = small.trace
        else:
            lim = Limits(limits.max_states, min(limits.max_seconds, seconds), limits.max_memory_mb)
            trace = check_explicit(base_model, [base_model.properties[p.name]], lim)[0].trace
        if trace is None:
            return None, f"no explicit trace at {fam.k_size}={k0}, {fam.p_size}={p0}"
        base = read_base(base_model, trace, k0, p0)
    except ModelError as e:
        return None, str(e)
    doms = (fam.k_dom, fam.p_dom, fam.product[0] if fam.product else None)
    cache: dict[tuple[int, int], Concrete] = {}

    def at(k: int, q: int) -> Concrete:
        if (k, q) not in cache:
            cache[(k, q)] = Concrete(prover.build(k, q), doms, k, q)
        return cache[(k, q)]

    why: list[str] = []
    tests = [(k0, p0), (k0 + 1, p0), (k0, p0 + 1), (k0 + 1, p0 + 1), (k0 + 3, p0 + 1), (k0 + 1, p0 + 3)]
    for sch in candidates(base, t, doms):
        if time.perf_counter() > t_end:
            why.append("time limit reached")
            break
        try:
            toks = repaired(sch, at(k0 + 2, p0 + 2), t, list(sch.items), p)  # type: ignore[arg-type]
            items = parse(sch, toks) if not isinstance(toks, str) else toks
            if isinstance(items, str):
                why.append(items)
                continue
            sch.items = items
            bad = next((f"{k}x{q}: {r.error}" for k, q in tests
                        if (r := replay(sch, at(k, q), t, p)).error), "")
            if bad:
                why.append(f"the schema does not replay at {bad}")
                continue
            fit(sch, at(k0 + 3, p0 + 3), t, p)
            got, what = check_schema(t, prover.enc, sch, t.properties[p.name],
                                     max(1.0, min(20.0, t_end - time.perf_counter())))
        except NotIndexedError as e:
            why.append(str(e))
            continue
        except ModelError as e:
            why.append(f"model error: {e}")
            continue
        except z3.Z3Exception as e:
            why.append(f"Z3: {e}")
            continue
        if got == "proved":
            covers = f"every {fam.k_size} >= {k0} and {fam.p_size} >= {p0}"
            below = [f"{fam.k_size}={k} {fam.p_size}={q}" for k, q in grid if k < k0 or q < p0]
            return Every(covers, k0, p0, sch, _rests_on(prover, sch),
                         f"; below it, explicitly at {', '.join(below)}" if below else ""), ""
        why.append(f"Z3: {what}" if got == "sat" else what)
    return None, _why(why)


def _why(why: list[str]) -> str:
    if not why:
        return "no schema of the counterexample over every size"
    seen: list[str] = []
    for w in why:
        if w not in seen:
            seen.append(w)
    more = f" (and {len(seen) - 2} other reasons)" if len(seen) > 2 else ""
    return "no schema of the counterexample is an execution at every size: " + "; ".join(seen[:2]) + more


def _rests_on(prover: IndexedProver, sch: Schema) -> str:
    return (f"{prover.template_rests_on()}; Z3, for symbolic sizes: the schema (its loops shown by "
            "induction over the new elements) is an execution from an allowed initial state whose "
            "last state violates the property")


def fit(sch: Schema, c: Concrete, t: Template, p: Property) -> None:
    """How each scalar moves from one iteration of each loop to the next, read off the schema
    run at c's size (symexec checks it)."""
    r = replay(sch, c, t, p)
    if r.error:
        raise ModelError(f"the schema does not replay at {c.k}x{c.p}: {r.error}")
    loops: dict[int, SLoop] = {}

    def walk(items: list[Item]) -> None:
        for it in items:
            if isinstance(it, SLoop):
                loops[id(it)] = it
                walk(it.body)
    walk(sch.items)
    for key, starts in r.starts.items():
        lp = loops[key]
        idx = [i for i, _ in starts]
        vals = [c.values(s) for _, s in starts]
        for name, v in t.vars.items():
            if v.domain is not None:
                continue
            xs = [x[(name, None)] for x in vals]
            if len(xs) < 2:
                continue
            d = xs[1] - xs[0]
            if all(b - a == d for a, b in itertools.pairwise(xs)):
                if d:
                    lp.shapes[name] = ("step", d)
                continue
            if len(xs) >= 3 and idx[2] != idx[1]:
                a = (xs[2] - xs[1]) // (idx[2] - idx[1])
                b = xs[1] - a * idx[1]
                lp.shapes[name] = ("index", a, b)
            else:
                lp.shapes[name] = ("step", d)


def with_every(prover: IndexedProver | None, p: Property, small: Result, limits: Limits,
               why_not: str = "") -> Result:
    """The smallest violation, marked as violated for every size when every_size shows it, or
    with the reason why not (why_not: the indexed engine could not read the model)."""
    if prover is None:
        if why_not:
            small.reason += f" ({why_not})"
        return small
    ev, why = every_size(prover, p, small, limits)
    if ev is None:
        small.reason += f": {why}"
        return small
    small.strength = {**small.strength, "every": ev.covers, "every_by": "indexed",
                      "rests_on": ev.rests_on, "schema": ev.schema.show()}
    small.reason = ev.text()
    small.invariant = f"the schema, for every size:\n{ev.schema.show()}\nrests on: {ev.rests_on}"  # type: ignore[attr-defined]
    return small


def violated_for_every(prover: IndexedProver, p: Property, limits: Limits) -> Result | None:
    """`--engine indexed` on a property it did not prove: the explicit violation at the smallest
    size, if every_size shows it for every size (as the indexed engine's answer), else None."""
    if p.is_liveness:
        return None
    t0 = time.perf_counter()
    small = smallest_violation(prover.model, prover.fam, p, limits)
    if small is None:
        return None
    ev, _ = every_size(prover, p, small, limits)
    if ev is None:
        return None
    small.engine = "indexed"
    small.seconds = time.perf_counter() - t0
    small.strength = {"kind": "proved", "method": "indexed", "covers": ev.covers, "rests_on": ev.rests_on,
                      "explicit": small.strength, "schema": ev.schema.show()}
    small.reason = ev.text()
    small.invariant = f"the schema, for every size:\n{ev.schema.show()}\nrests on: {ev.rests_on}"  # type: ignore[attr-defined]
    return small
