"""The largest value a model's expressions can take, by interval arithmetic.

The Z3 encoding sizes its bit-vectors from it (symbolic/encode.py) and the native core refuses a
model whose values could leave a 64-bit integer (explicit/native/core.py); it needs no solver.
"""

from __future__ import annotations

from collections.abc import Iterable

from oomcheck.checker.language.lang import Const, Expr, Index, Model, Op, Param, Quant, Var

Interval = tuple[int, int]


def hull(a: Interval, b: Interval) -> Interval:
    return (min(a[0], b[0]), max(a[1], b[1]))


class Bounds:
    """Interval arithmetic over expression trees: the range of every subexpression, given the
    range of every variable; `largest` is the largest magnitude seen."""

    def __init__(self, model: Model, ranges: dict[str, Interval]):
        self.model = model
        self.ranges = ranges
        self.largest = max([abs(v) for r in ranges.values() for v in r]
                           + list(model.domains.values()) + [1])

    def of(self, e: Expr) -> Interval:
        r = self._of(e)
        self.largest = max(self.largest, abs(r[0]), abs(r[1]))
        return r

    def _of(self, e: Expr) -> Interval:
        if isinstance(e, Const):
            return (e.value, e.value)
        if isinstance(e, Param):
            return (0, self.model.domains.get(e.domain, 1) - 1)
        if isinstance(e, Var):
            return self.ranges.get(e.name, (0, 1))
        if isinstance(e, Index):
            self.of(e.index)
            return self.ranges.get(e.array, (0, 1))
        if isinstance(e, Op):
            a = [self.of(x) for x in e.args]
            if e.op == "+" and len(a) == 2:
                return (a[0][0] + a[1][0], a[0][1] + a[1][1])
            if e.op == "-" and len(a) == 2:
                return (a[0][0] - a[1][1], a[0][1] - a[1][0])
            if e.op == "ite" and len(a) == 3:
                return hull(a[1], a[2])
            return (0, 1)
        if isinstance(e, Quant):
            self.of(e.body)
            return (0, self.model.domains.get(e.domain, 1)) if e.kind == "count" else (0, 1)
        return (0, 1)


def type_range(t: object) -> Interval:
    vals = t.values()  # type: ignore[attr-defined]
    return (vals.start, vals.stop - 1)


def value_bound(model: Model, extra: Iterable[Expr] = ()) -> int:
    """The largest magnitude a value can take in the Z3 encoding of the model: of every
    subexpression of its guards, updates, init constraints, final, properties and of the extra
    expressions, of every constant, type bound and domain size. A variable's range is its type's,
    widened by the right sides assigned to it (the last state of a path may leave its type: that
    is the model error the engines report; no path steps on from such a state)."""
    base = {d.name: type_range(d.type) for d in model.vars.values()}
    ranges = dict(base)
    assigning = Bounds(model, base)
    updates = [u for a in model.actions for u in (*a.updates, *(x for _, ups in a.each for x in ups))]
    for lhs, rhs in updates:
        name = lhs.name if isinstance(lhs, Var) else lhs.array
        if name in ranges:
            ranges[name] = hull(ranges[name], assigning.of(rhs))
    b = Bounds(model, ranges)
    exprs: list[Expr] = [*model.init_constraints, model.final, *extra]
    for a in model.actions:
        exprs.append(a.guard)
    for lhs, rhs in updates:
        exprs.append(rhs)
        if isinstance(lhs, Index):
            exprs.append(lhs.index)
    for p in model.properties.values():
        exprs += [x for x in (p.expr, p.pre) if x is not None]
    for e in exprs:
        b.of(e)
    return max(b.largest, assigning.largest)
