"""Unbounded safety proofs by induction: k-induction, and checking a user's inductive invariant.

k-induction proves P at k when no path of length <= k from an initial state violates P (base)
and no path of k+1 pairwise distinct states satisfying P is followed by a state violating P (step).
With distinct states the step is complete once k exceeds the longest loop-free path.
"""

from __future__ import annotations

import time

import z3

from oomcheck.checker.language.lang import Expr, Model, Property
from oomcheck.checker.language.typecheck import check_bool
from oomcheck.checker.symbolic.bmc import (
    BITS,
    ask,
    checked_exprs,
    counterexample,
    property_exprs,
    safety_goal,
    sat_solver,
    unrolling_solver,
)
from oomcheck.checker.symbolic.encode import Encoder
from oomcheck.checker.trace import Result, build_trace


def _covers(model: Model) -> str:
    return ", ".join(f"{k}={v}" for k, v in model.sizes.items())


def k_induction(model: Model, p: Property, max_k: int, timeout: float) -> Result:
    enc = Encoder(model, bits=BITS, extra=property_exprs(model, p))
    t0 = time.perf_counter()
    base_states = [enc.state("b0")]
    base = unrolling_solver()  # both unrollings only grow: one incremental solver each
    base.add(enc.init(base_states[0]))
    step_states = [enc.state("s0")]
    step = unrolling_solver()
    for k in range(max_k + 1):
        left = timeout - (time.perf_counter() - t0)
        if left <= 0:
            return _res(p, "unknown", t0, k, {"kind": "bounded", "depth": k - 1},
                        reason=f"time limit reached at k={k}")
        # base case at depth k
        m, why = ask(base, left, z3.Not(safety_goal(enc, p, base_states[k])))
        if m is not None:
            tr = counterexample(model, enc, m, base_states, checked_exprs(p))
            return _res(p, "violated", t0, k, {"kind": "bounded", "depth": k}, tr)
        if why is not None:
            return _res(p, "unknown", t0, k, {"kind": "bounded", "depth": k},
                        reason=f"solver: {why} (base case, k={k})")
        base.add(safety_goal(enc, p, base_states[k]))
        nb = enc.state(f"b{k + 1}")
        base.add(enc.trans(base_states[k], nb))
        base_states.append(nb)
        # inductive step with k+1 states that meet the goal, pairwise distinct
        step.add(safety_goal(enc, p, step_states[k]))
        ns = enc.state(f"s{k + 1}")
        step.add(enc.trans(step_states[k], ns))
        step.add(*[enc.distinct(step_states[j], step_states[k]) for j in range(k)])
        step_states.append(ns)
        m, why = ask(step, max(0.001, timeout - (time.perf_counter() - t0)),
                      z3.Not(safety_goal(enc, p, ns)))
        if m is None and why is None:
            return _res(p, "holds", t0, k, {"kind": "proved", "method": "k-induction", "k": k + 1,
                                            "covers": _covers(model)})
        if why is not None:
            return _res(p, "unknown", t0, k, {"kind": "bounded", "depth": k},
                        reason=f"solver: {why} (step, k={k + 1})")
    return _res(p, "holds", t0, max_k, {"kind": "bounded", "depth": max_k},
                reason=f"not {max_k + 1}-inductive; no violation up to depth {max_k}")


def check_invariant(model: Model, p: Property, inv: Expr, timeout: float) -> Result:
    """Is inv an inductive invariant that implies p? When it is not inductive, the
    counterexample to induction is the pair of states (a state meeting inv, a successor that
    does not), as a one-step trace."""
    check_bool(model, inv, "the inductive invariant")
    enc = Encoder(model, bits=BITS, extra=[*property_exprs(model, p), inv])
    t0 = time.perf_counter()
    s, t = enc.state("pre"), enc.state("post")
    j_s = z3.And(enc.type_ok(s), enc.pred(inv, s))
    j_t = z3.And(enc.type_ok(t), enc.pred(inv, t))
    checks = [
        ("the invariant fails in an initial state", [enc.init(s), z3.Not(j_s)], False),
        ("the invariant is not inductive: a step leaves it", [j_s, enc.trans(s, t), z3.Not(j_t)],
         True),
        ("the invariant does not imply the property", [j_s, z3.Not(safety_goal(enc, p, s))], False),
    ]
    for why, cs, pair in checks:
        sol = sat_solver(max(0.001, timeout - (time.perf_counter() - t0)))
        sol.add(*cs)
        r = sol.check()
        if r == z3.unknown:
            return _res(p, "unknown", t0, 1, {"kind": "none"}, reason=f"solver: {sol.reason_unknown()}",
                        engine="invariant")
        if r == z3.sat:
            m = sol.model()
            raw = [enc.values(m, s)] + ([enc.values(m, t)] if pair else [])
            if pair and not z3.is_true(m.eval(enc.type_ok(t), model_completion=True)):
                bad = [enc.layout.name(k) for k, (_, _, d) in enumerate(enc.slots)
                       if raw[1][k] not in d.type.values()]
                why = (f"the invariant is not inductive: a step from a state meeting it takes "
                       f"{', '.join(bad)} outside its type (bound it in the invariant)")
                raw[1] = [v if v in d.type.values() else d.type.values().start
                          for v, (_, _, d) in zip(raw[1], enc.slots, strict=True)]
            vals = [enc.pack(v) for v in raw]
            acts = [next(i.id for i in enc.instances
                         if z3.is_true(m.eval(enc.step(i, s, t), model_completion=True)))] \
                if pair else []
            tr = build_trace(enc.layout, enc.instances, vals, acts)
            return _res(p, "unknown", t0, 1, {"kind": "none"}, tr, reason=why, engine="invariant")
    return _res(p, "holds", t0, 1, {"kind": "proved", "method": "inductive invariant",
                                    "covers": _covers(model)}, engine="invariant")


def _res(p: Property, verdict: str, t0: float, depth: int, strength: dict, trace=None,
         reason: str = "", engine: str = "induction") -> Result:
    return Result(p.name, p.kind, verdict, engine, depth=depth, seconds=time.perf_counter() - t0,
                  strength=strength, trace=trace, reason=reason)
