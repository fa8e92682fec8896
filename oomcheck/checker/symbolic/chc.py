"""Unbounded safety proofs with constrained Horn clauses (Z3's Spacer engine).

Clauses: Init(x) -> Inv(x); Inv(x) and T(x, y) -> Inv(y); Inv(x) and not P(x) -> false. When
Spacer finds Inv, the property is proved for the model instance, and Inv is printed in the model's
own vocabulary; when the clauses are unsatisfiable, BMC rebuilds a shortest counterexample.
"""

from __future__ import annotations

import time

import z3

from oomcheck.checker.language.lang import EnumType, Model, ModelError, Property
from oomcheck.checker.symbolic.bmc import bmc_safety, checked_exprs, property_exprs, safety_goal
from oomcheck.checker.symbolic.encode import Encoder, Vec
from oomcheck.checker.trace import Result


def check_chc(model: Model, p: Property, timeout: float, bmc_depth: int = 60) -> Result:
    enc = Encoder(model, extra=property_exprs(model, p))  # mathematical integers: no width
    t0 = time.perf_counter()
    xs, ys = enc.state("x"), enc.state("y")
    inv = z3.Function("Inv", *[z3.IntSort()] * len(xs), z3.BoolSort())
    sol = _horn(enc, xs, ys, inv, safety_goal(enc, p, xs), timeout)
    r = sol.check()
    el = time.perf_counter() - t0
    covers = ", ".join(f"{k}={v}" for k, v in model.sizes.items())
    if r == z3.sat:
        named = enc.named_state()
        found = z3.simplify(sol.model().eval(inv(*named)))
        res = Result(p.name, p.kind, "holds", "chc", seconds=el,
                     strength={"kind": "proved", "method": "chc", "covers": covers})
        res.invariant = show_invariant(enc, found)  # type: ignore[attr-defined]
        return res
    if r == z3.unsat:
        cex = bmc_safety(model, p, bmc_depth, max(1.0, timeout - el))
        if cex.verdict == "violated":
            cex.engine = "chc+bmc"
            cex.seconds = time.perf_counter() - t0
            return cex
        # the goal is: within the types, no index out of range, and the property. With no trace
        # to tell which part fails, ask Spacer about the first part alone: a reachable state
        # that leaves its type or reads out of range is the model's error (as the explicit
        # engine reports it), not a violation of the property.
        props = checked_exprs(p)
        sound = _horn(enc, xs, ys, inv, enc.ok(xs, props or [], deadlock=props is None),
                      max(1.0, timeout - (time.perf_counter() - t0)))
        r2 = sound.check()
        if r2 == z3.unsat:
            raise ModelError(f"a reachable state leaves its type or reads an array out of its "
                             f"range (shown by chc; no trace within BMC depth {bmc_depth}, "
                             "the explicit engine names the step)")
        if r2 != z3.sat:
            return Result(p.name, p.kind, "unknown", "chc", seconds=time.perf_counter() - t0,
                          strength={"kind": "none"},
                          reason=f"spacer: the goal fails in a reachable state, but whether that "
                                 f"is the property or a model error (a type left, an index out "
                                 f"of range) is unknown ({sound.reason_unknown()}); no trace "
                                 f"within BMC depth {bmc_depth}")
        return Result(p.name, p.kind, "violated", "chc", seconds=time.perf_counter() - t0,
                      strength={"kind": "proved", "method": "chc", "covers": covers},
                      reason=f"no counterexample trace within BMC depth {bmc_depth}")
    return Result(p.name, p.kind, "unknown", "chc", seconds=el, strength={"kind": "none"},
                  reason=f"spacer: {sol.reason_unknown()}")


def _horn(enc: Encoder, xs: Vec, ys: Vec, inv: z3.FuncDeclRef, goal: z3.BoolRef,
          timeout: float) -> z3.Solver:
    """Init(x) -> Inv(x); Inv(x) and T(x, y) -> Inv(y); Inv(x) and not goal(x) -> false."""
    sol = z3.SolverFor("HORN")
    sol.set("timeout", max(1, int(timeout * 1000)))
    sol.add(z3.ForAll(xs, z3.Implies(enc.init(xs), inv(*xs))))
    sol.add(z3.ForAll(xs + ys, z3.Implies(z3.And(inv(*xs), enc.trans(xs, ys)), inv(*ys))))
    sol.add(z3.ForAll(xs, z3.Implies(z3.And(inv(*xs), z3.Not(goal)), False)))
    return sol


def show_invariant(enc: Encoder, f: z3.ExprRef) -> str:
    """One conjunct per line; enum values by name; conjuncts that only restate a variable's type
    range are left out (they are implied by the model's types)."""
    types = {n: d.type for n, (_, _, d) in zip(enc.display_names(), enc.slots, strict=True)}
    conj = list(f.children()) if z3.is_and(f) else [f]
    lines = [_show(c, types) for c in conj if not _is_range_fact(c, types)]
    return "\n".join(lines) if lines else "true (the types alone are inductive)"


def _is_range_fact(c: z3.ExprRef, types: dict) -> bool:
    """Not(x <= lo-1) or Not(x >= hi+1) for a single variable x: its type says so already."""
    if not z3.is_not(c):
        return False
    a = c.children()[0]
    if not (z3.is_le(a) or z3.is_ge(a)) or not z3.is_const(a.children()[0]):
        return False
    name = str(a.children()[0])
    b = a.children()[1]
    if name not in types or not z3.is_int_value(b):
        return False
    vals = types[name].values()
    bound = b.as_long()
    return (z3.is_le(a) and bound < vals.start) or (z3.is_ge(a) and bound > vals.stop - 1)


def _show(e: z3.ExprRef, types: dict) -> str:
    if z3.is_and(e):
        return "(" + " and ".join(_show(c, types) for c in e.children()) + ")"
    if z3.is_or(e):
        return "(" + " or ".join(_show(c, types) for c in e.children()) + ")"
    if z3.is_not(e):
        a = e.children()[0]
        if z3.is_le(a):
            return _cmp(a.children(), ">", types)
        if z3.is_ge(a):
            return _cmp(a.children(), "<", types)
        if z3.is_eq(a):
            return _cmp(a.children(), "!=", types)
        return f"not {_show(a, types)}"
    for test, op in ((z3.is_le, "<="), (z3.is_ge, ">="), (z3.is_lt, "<"), (z3.is_gt, ">"),
                     (z3.is_eq, "==")):
        if test(e):
            return _cmp(e.children(), op, types)
    return str(e)


def _cmp(args: list, op: str, types: dict) -> str:
    lhs, rhs = args
    name = str(lhs)
    if z3.is_const(lhs) and z3.is_int_value(rhs) and isinstance(types.get(name), EnumType):
        t = types[name]
        v = rhs.as_long()
        if op in ("==", "!=") and 0 <= v < len(t.members):
            return f"{name} {op} {t.members[v]}"
        # an order on enum members is how the solver partitions them; say which members
        keep = [m for i, m in enumerate(t.members) if _holds(i, op, v)]
        drop = [m for m in t.members if m not in keep]
        if len(drop) == 1:
            return f"{name} != {drop[0]}"
        if len(keep) == 1:
            return f"{name} == {keep[0]}"
        if len(drop) < len(keep):
            return f"{name} not in {{{', '.join(drop)}}}"
        return f"{name} in {{{', '.join(keep)}}}"
    return f"{_expr(lhs)} {op} {_expr(rhs)}"


def _holds(i: int, op: str, v: int) -> bool:
    return {"<=": i <= v, ">=": i >= v, "<": i < v, ">": i > v, "==": i == v, "!=": i != v}[op]


def _expr(e: z3.ExprRef) -> str:
    return str(e).replace("+ -1*", "- ").replace("-1*", "-")
