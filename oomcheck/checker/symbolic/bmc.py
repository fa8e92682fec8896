"""Bounded model checking with Z3: unrolls the transition relation one step at a time.

Safety: the first depth at which a bad state is satisfiable gives a shortest counterexample, the
same length the explicit BFS finds. Liveness: a lasso s0..sk with sk = sl (or a final state in which
no fair action is enabled) whose loop meets weak fairness and never satisfies the goal.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import z3

from oomcheck.checker.language.compile import compile_model
from oomcheck.checker.language.lang import Expr, Model, ModelError, Property
from oomcheck.checker.language.typecheck import check_property
from oomcheck.checker.symbolic.encode import Encoder, Vec
from oomcheck.checker.trace import Result, Trace, build_trace


def safety_goal(enc: Encoder, p: Property, s: Vec) -> z3.BoolRef:
    """What must hold in every reachable state: within the types, no index out of range where
    the explicit engine evaluates one, and the property."""
    if p.kind == "deadlock":
        return z3.And(enc.ok(s, deadlock=True), z3.Not(enc.deadlocked(s)))
    if p.kind == "invariant":
        return z3.And(enc.ok(s, [p.expr]), enc.pred(p.expr, s))  # type: ignore[arg-type, list-item]
    raise ModelError(f"{p.name} is not a safety property")


BITS = 2  # the least bit-vector width; the encoder widens it to hold every value it encodes


def property_exprs(model: Model, p: Property) -> list[Expr]:
    """The expressions of p, type-checked (p need not be one of the model's own properties);
    the encoder's width must cover them."""
    check_property(model, p)
    return [x for x in (p.expr, p.pre) if x is not None]


def sat_solver(timeout: float) -> z3.Solver:
    """A fresh solver that bit-blasts to SAT, for one-shot queries (induction steps)."""
    s = z3.Then("simplify", "propagate-values", "solve-eqs", "bit-blast", "sat").solver()
    s.set("timeout", max(1, int(timeout * 1000)))
    return s


def unrolling_solver() -> z3.Solver:
    """One incremental bit-vector solver for a whole unrolling: each depth adds one step and
    asks its question inside push/pop, so what the solver learnt at depth k is kept at k + 1
    (measured on the catalog's cross-checks: about half the time of a fresh bit-blasting
    solver per depth)."""
    return z3.SolverFor("QF_BV")


def ask(sol: z3.Solver, timeout: float, *query: z3.BoolRef) -> tuple[z3.ModelRef | None, str | None]:
    """Check the unrolling with `query` added for this question only: (a model, None) when
    satisfiable, (None, None) when not, (None, why) when the solver gave up."""
    sol.set("timeout", max(1, int(timeout * 1000)))
    sol.push()
    sol.add(*query)
    r = sol.check()
    m = sol.model() if r == z3.sat else None
    why = sol.reason_unknown() if r == z3.unknown else None
    sol.pop()
    return m, why


def _type_error(enc: Encoder, m: z3.ModelRef, s: Vec) -> None:
    vals = enc.values(m, s)
    for k, (_, _, d) in enumerate(enc.slots):
        if vals[k] not in d.type.values():
            raise ModelError(f"a reachable step assigns {vals[k]} to {enc.layout.name(k)}, "
                             f"outside its type {d.type}")


def checked_exprs(p: Property) -> list[Expr] | None:
    """What the explicit engine evaluates of p in every state (None: a deadlock check)."""
    return None if p.kind == "deadlock" else [x for x in (p.expr, p.pre) if x is not None]


def counterexample(model: Model, enc: Encoder, m: z3.ModelRef, states: list[Vec],
                   props: list[Expr] | None = None) -> Trace:
    """The path a satisfying model describes; its last state may leave a type or read an array
    out of range (a model error, reported as the explicit engine reports it)."""
    if not z3.is_true(m.eval(enc.type_ok(states[-1]), model_completion=True)):
        _type_error(enc, m, states[-1])
    err = enc.errors(states[-1], props or [], deadlock=props is None)
    if err is not None and z3.is_true(m.eval(err, model_completion=True)):
        raise ModelError("a reachable state reads or writes an array out of its range "
                         "(the explicit engine names the step)")
    vals = [enc.pack(enc.values(m, s)) for s in states]
    return build_trace(enc.layout, enc.instances, vals, actions_between(model, vals))


def actions_between(model: Model, packed: list[int]) -> list[int]:
    """Which action instance leads from each state of a path to the next (the solver's path
    carries no action labels)."""
    comp = compile_model(model)
    out = []
    buf: list[tuple[int, int]] = []
    for a, b in itertools.pairwise(packed):
        buf.clear()
        comp.expand(a, buf)
        aid = next((x for x, ns in buf if ns == b), None)
        if aid is None:  # pragma: no cover - the encodings disagree
            raise RuntimeError("a solver step matches no action of the compiled model")
        out.append(aid)
    return out


def bmc_safety(model: Model, p: Property, depth: int, timeout: float) -> Result:
    return bmc_safety_all(model, [p], depth, timeout)[0]


def bmc_safety_all(model: Model, props: list[Property], depth: int, timeout: float) -> list[Result]:
    """Safety properties over one shared unrolling, each with its own shortest counterexample.
    The time limit is `timeout` per property, over the whole run; a property still open when it
    runs out is unknown."""
    done = bmc_shared(model, props, depth, [], timeout)
    return [done[p.name] for p in props]


def bmc_liveness(model: Model, p: Property, depth: int, timeout: float) -> Result:
    """A weakly fair lasso of length <= depth on which the goal never holds (after P). Each
    depth first asks whether a state leaves its type or reads an array out of range (a model
    error, reported as the explicit engine reports it, never a lasso-free "holds"); then the
    lasso is sought among states within their types, so no value outgrows the encoding."""
    return bmc_shared(model, [], 0, [(p, depth)], timeout)[p.name]


def bmc_shared(model: Model, safety: list[Property], depth: int,
               liveness: list[tuple[Property, int]], timeout: float) -> dict[str, Result]:
    """bmc_safety_all(safety, depth) and bmc_liveness(p, its depth) for each liveness property,
    on one unrolling: at each depth the safety questions, then each liveness property's. What
    one question adds as a lemma holds in every state of that depth, so it changes no other
    question's answer (a counterexample may be another one of the same length). The time limit
    is `timeout` per property: the safety properties share theirs, each liveness property has
    its own; the questions about the others do not count against it."""
    props = [*safety, *(p for p, _ in liveness)]
    enc = Encoder(model, bits=BITS, extra=[x for p in props for x in property_exprs(model, p)])
    t0 = time.perf_counter()
    spent: dict[str, float] = dict.fromkeys(["", *(p.name for p, _ in liveness)], 0.0)

    def left(who: str, budget: float) -> float:
        """Of budget, what is left to who ("" for the safety properties)."""
        others = sum(v for k, v in spent.items() if k != who)
        return budget - (time.perf_counter() - t0 - others)

    def timed(who: str, sol: z3.Solver, budget: float, *query: z3.BoolRef
              ) -> tuple[z3.ModelRef | None, str | None]:
        t = time.perf_counter()
        try:
            return ask(sol, budget, *query)
        finally:
            spent[who] += time.perf_counter() - t

    done: dict[str, Result] = {}
    states = [enc.state("0")]
    acts: list[z3.ExprRef] = []
    sol = unrolling_solver()
    sol.add(enc.init(states[0]))
    fair = [enc.instances[i] for i in enc.fair_ids]
    idle: list[list[z3.BoolRef]] = []  # per state, each fair action disabled there
    goal: dict[str, list[z3.BoolRef]] = {p.name: [] for p, _ in liveness}  # per state, met there
    pre: dict[str, list[z3.BoolRef]] = {p.name: [] for p, _ in liveness}  # premise (leads-to)
    loop = z3.BitVec("loop", 16)
    start = z3.BitVec("start", 16)  # where P holds and the goal stops being met
    on_loop: list[list[z3.BoolRef]] = []  # per step, each fair action taken or disabled, on the loop
    last = max([depth if safety else 0, *(d for _, d in liveness)])
    for k in range(last + 1):
        for p in safety if k <= depth else []:
            if p.name in done:
                continue
            budget = left("", timeout * len(safety))
            if budget <= 0:
                done[p.name] = _unknown(p, "bmc", f"time limit reached at depth {k}", t0, k)
                continue
            g = safety_goal(enc, p, states[k])
            m, why = timed("", sol, budget, z3.Not(g))
            if m is not None:
                tr = counterexample(model, enc, m, states, checked_exprs(p))
                done[p.name] = _result(p, "violated", "bmc", t0, k, {"kind": "bounded", "depth": k}, tr)
            elif why is not None:
                done[p.name] = _unknown(p, "bmc", f"solver: {why} at depth {k}", t0, k)
            else:
                sol.add(g)  # every state up to depth k meets this goal: a sound lemma
        if liveness:
            idle.append([z3.Not(enc.guard(a, states[k])) for a in fair])
        for p, d in liveness:
            if p.name in done or k > d:
                continue
            r = _lasso_at(model, enc, sol, p, k, states, acts, fair, idle, goal[p.name], pre[p.name],
                          loop, start, on_loop, t0, lambda *q, p=p: timed(p.name, sol, *q),
                          lambda p=p: left(p.name, timeout))
            if r is not None:
                done[p.name] = r
        if k == last or (all(p.name in done for p in safety)
                         and all(p.name in done or k >= d for p, d in liveness)):
            break
        nxt = enc.state(str(k + 1))
        if liveness:
            act = z3.BitVec(f"act@{k}", 16)
            sol.add(enc.trans(states[k], nxt, act))
            acts.append(act)
            on_loop.append([z3.And(loop <= k, z3.Or(act == a.id, idle[k][j])) for j, a in enumerate(fair)])
        else:
            sol.add(enc.trans(states[k], nxt))
        states.append(nxt)
    for p in safety:
        done.setdefault(p.name, _result(p, "holds", "bmc", t0, depth, {"kind": "bounded", "depth": depth}))
    for p, d in liveness:
        done.setdefault(p.name, _result(p, "holds", "bmc", t0, d, {"kind": "bounded", "depth": d}))
    return done


def _lasso_at(model: Model, enc: Encoder, sol: z3.Solver, p: Property, k: int, states: list[Vec],
              acts: list[z3.ExprRef], fair: list, idle: list[list[z3.BoolRef]], goal: list[z3.BoolRef],
              pre: list[z3.BoolRef], loop: z3.BitVecRef, start: z3.BitVecRef,
              on_loop: list[list[z3.BoolRef]], t0: float, ask_: Callable, left: Callable[[], float]
              ) -> Result | None:
    """bmc_liveness's questions at depth k: a result, or None to go on to depth k + 1."""
    goal.append(enc.pred(p.expr, states[k]))  # type: ignore[arg-type]
    if p.kind != "eventually":
        pre.append(enc.pred(p.pre, states[k]))  # type: ignore[arg-type]
    seen = checked_exprs(p) or []  # goal and premise are read in every state
    budget = left()
    if budget <= 0:
        return _unknown(p, "bmc", f"time limit reached at depth {k}", t0, k)
    # first: no state at depth k leaves its type or reads out of range (the model's error,
    # as bmc_safety and the explicit engine report it); then it is a lemma for the lasso
    m, why = ask_(budget, z3.Not(enc.ok(states[k], seen)))
    if m is not None:
        counterexample(model, enc, m, states, seen)  # raises the model error
        raise ModelError("a reachable state is outside the model's types")  # pragma: no cover
    if why is not None:
        return _unknown(p, "bmc", f"solver: {why} at depth {k}", t0, k)
    sol.add(enc.ok(states[k], seen))
    budget = left()
    q: list[z3.BoolRef] = []  # this depth's lasso, asked inside push/pop
    q += [loop >= 0, loop <= k, start >= 0, start <= k]
    closes = [z3.And(loop == k, *idle[k])]
    closes += [z3.And(loop == j, enc.equal(states[k], states[j])) for j in range(k)]
    q.append(z3.Or(closes))
    for j in range(len(fair)):  # weak fairness on a real loop: taken or disabled somewhere on it
        q.append(z3.Or(loop == k, *[on_loop[m][j] for m in range(k)]))
    if p.kind == "eventually":
        q.append(start == 0)
    else:
        q.append(z3.Or([z3.And(start == j, pre[j]) for j in range(k + 1)]))
    for m in range(k + 1):
        q.append(z3.Implies(z3.Or(m >= start, m >= loop), z3.Not(goal[m])))
    mdl, why = ask_(budget, *q)
    if mdl is not None:
        vals = [enc.pack(enc.values(mdl, s)) for s in states]
        aids = [mdl.eval(a, model_completion=True).as_signed_long() for a in acts]
        lp = mdl.eval(loop).as_signed_long()  # type: ignore[attr-defined]
        stutter = lp == k
        tr = build_trace(enc.layout, enc.instances, vals, aids, lp, stutter, p)
        return _result(p, "violated", "bmc", t0, k, {"kind": "bounded", "depth": k}, tr)
    if why is not None:
        return _unknown(p, "bmc", f"solver: {why} at depth {k}", t0, k)
    return None


def check_bmc(model: Model, props: list[Property], depth: int, timeout: float) -> list[Result]:
    return [bmc_liveness(model, p, depth, timeout) if p.is_liveness
            else bmc_safety(model, p, depth, timeout) for p in props]


def _result(p: Property, verdict: str, engine: str, t0: float, depth: int, strength: dict,
            trace=None) -> Result:
    return Result(p.name, p.kind, verdict, engine, depth=depth,
                  seconds=time.perf_counter() - t0, strength=strength, trace=trace)


def _unknown(p: Property, engine: str, reason: str, t0: float, depth: int) -> Result:
    r = _result(p, "unknown", engine, t0, depth, {"kind": "bounded", "depth": depth})
    r.reason = reason
    return r
