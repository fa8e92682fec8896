"""A differential fuzzer: random models over the whole modeling language and random properties,
and every engine must agree with the reference interpreter (and so with each other).

The oracle is a breadth-first search on oomcheck.checker.interp (independent of the compiler
and of the Z3 encoding). The rules, per engine answer:
- violated: the trace replays step by step on the interpreter and violates the property (BFS
  and BMC traces must also be shortest);
- holds, proved (k-induction, CHC, a user invariant, the explicit engine's complete search):
  the interpreter finds no violation;
- holds, bounded to depth d: no violation within d steps;
- parametric "holds/violated for every threads >= 2": the explicit engine agrees at N = 2..6;
- ModelError (the model is refused): only when the interpreter refuses it too (a step leaving a
  type, an index out of range), or it is statically ill-formed; and then no engine may prove
  anything about it;
- unknown: always acceptable.

Fast tier: a handful of examples per test (default run). Heavy tier: `pytest -m heavy`, with
OOMCHECK_FUZZ_EXAMPLES examples per test. Known engine bugs are xfail with the bug named, and
each has a plain regression test at the end. `python -m tests.test_differential whole 300`
surveys many examples and lists every kind of disagreement instead of stopping at the first.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import networkx as nx
import pytest
import z3
from hypothesis import HealthCheck, Phase, given, note, settings

from oomcheck.checker.bmc import bmc_liveness, bmc_safety
from oomcheck.checker.chc import check_chc
from oomcheck.checker.explicit import Limits, check_explicit
from oomcheck.checker.induction import check_invariant, k_induction
from oomcheck.checker.interp import evaluate, step
from oomcheck.checker.lang import (
    BOOL,
    Const,
    EnumType,
    Expr,
    Index,
    IntType,
    Model,
    ModelError,
    Op,
    Param,
    Property,
    Quant,
    Var,
    any_of,
    count,
    forall,
    ite,
)
from oomcheck.checker.parametric import Family, check_parametric
from oomcheck.checker.trace import Result, Trace

from . import reference
from .fuzz_models import (
    CLEAN,
    COLOR,
    NASTY,
    SYMMETRIC,
    WHOLE,
    Source,
    families,
    models,
)

State = tuple[tuple[tuple[str, int | None], int], ...]
Z3_TIMEOUT = 3.0  # seconds per Z3 call: a slow example answers unknown rather than stalling
MAX_STATES = 3000  # larger instances are skipped, not checked


# --------------------------------------------------------------------------------------------
# The reference: every reachable state, by depth, on the interpreter
# --------------------------------------------------------------------------------------------


@dataclass
class Truth:
    """What the interpreter says about a model. When a step leaves a type or an index leaves its
    domain at depth R (refuse_depth), the states up to depth R-1 are all known and nothing is
    known beyond."""

    model: Model
    depth: dict[State, int] = field(default_factory=dict)
    graph: nx.MultiDiGraph = field(default_factory=nx.MultiDiGraph)
    expanded: set[State] = field(default_factory=set)
    init: set[State] = field(default_factory=set)
    refused: str = ""
    refuse_depth: int | None = None
    too_big: bool = False

    @property
    def max_depth(self) -> int:
        return max(self.depth.values(), default=0)

    def by_depth(self) -> list[tuple[int, State]]:
        return sorted(((d, s) for s, d in self.depth.items()), key=lambda x: x[0])

    def safety(self, p: Property) -> tuple[int | None, int | None, str]:
        """(shortest violation depth, first refusal depth, why refused) of a safety property."""
        viol: int | None = None
        ref, why = self.refuse_depth, self.refused
        for d, s in self.by_depth():
            if viol is not None and d > viol:
                break
            try:
                if p.kind == "invariant":
                    bad = not evaluate(self.model, p.expr, dict(s))  # type: ignore[arg-type]
                else:
                    if s not in self.expanded:
                        continue
                    bad = self.graph.out_degree(s) == 0 and not evaluate(self.model, self.model.final,
                                                                         dict(s))
            except ModelError as e:
                if ref is None or d < ref:
                    ref, why = d, f"property: {e}"
                break
            if bad:
                viol = d
        return viol, ref, why

    def liveness(self, p: Property) -> bool | None:
        """Whether a fair path violates p; None when the model or the property is refused."""
        if self.refuse_depth is not None:
            return None
        ref = reference.Reference(self.model, self.init, set(self.depth), self.graph)
        try:
            return reference.fair_lasso_exists(ref, p)
        except ModelError:
            return None


def freeze(d: dict) -> State:
    return tuple(sorted(d.items(), key=lambda kv: (kv[0][0], -1 if kv[0][1] is None else kv[0][1])))


def explore(m: Model, max_states: int = MAX_STATES) -> Truth:
    """Breadth-first search with the interpreter, layer by layer."""
    t = Truth(m)
    try:
        slots = m.slots()
        choices = m.init_choices()
        insts = m.instances()
        for combo in itertools.product(*choices):
            s = {(n, i): v for (n, i, _), v in zip(slots, combo, strict=True)}
            if all(evaluate(m, c, s) for c in m.init_constraints):
                t.init.add(freeze(s))
    except ModelError as e:
        t.refused, t.refuse_depth = f"initial states: {e}", 0
        return t
    for s in t.init:
        t.depth[s] = 0
        t.graph.add_node(s)
    layer = sorted(t.init)
    k = 0
    while layer:
        nxt = []
        for s in layer:
            for inst in insts:
                try:
                    u = step(m, inst, dict(s))
                except ModelError as e:
                    t.refused, t.refuse_depth = f"{inst.label} at depth {k}: {e}", k + 1
                    return t
                if u is None:
                    continue
                if len(u) != len(s):  # interp.step writes an array outside its domain silently
                    extra = sorted(set(u) - {k for k, _ in s})
                    t.refused = f"{inst.label} at depth {k}: writes {extra[0]}, outside the array"
                    t.refuse_depth = k + 1
                    return t
                fu = freeze(u)
                t.graph.add_edge(s, fu, key=inst.id)
                if fu not in t.depth:
                    t.depth[fu] = k + 1
                    nxt.append(fu)
            t.expanded.add(s)
        if len(t.depth) > max_states:
            t.too_big = True
            return t
        layer = nxt
        k += 1
    return t


# --------------------------------------------------------------------------------------------
# Statically ill-formed models (an engine may refuse them before exploring anything)
# --------------------------------------------------------------------------------------------


def _fold(e: Expr) -> int | None:
    if isinstance(e, Const):
        return e.value
    if isinstance(e, Op):
        vals = [_fold(a) for a in e.args]
        if any(v is None for v in vals):
            return None
        try:
            return int(_py_op(e.op, vals))  # type: ignore[arg-type]
        except ModelError:
            return None
    return None


def _py_op(op: str, v: list[int]) -> int:
    ops: dict[str, Callable[[list[int]], int]] = {
        "+": lambda v: v[0] + v[1], "-": lambda v: v[0] - v[1], "==": lambda v: int(v[0] == v[1]),
        "!=": lambda v: int(v[0] != v[1]), "<": lambda v: int(v[0] < v[1]),
        "<=": lambda v: int(v[0] <= v[1]), "and": lambda v: int(bool(v[0]) and bool(v[1])),
        "or": lambda v: int(bool(v[0]) or bool(v[1])), "not": lambda v: int(not v[0]),
        "implies": lambda v: int((not v[0]) or bool(v[1])),
        "ite": lambda v: v[1] if v[0] else v[2],
    }
    if op not in ops:
        raise ModelError(op)
    return ops[op](v)


def static_problems(m: Model) -> list[str]:
    """What makes a model ill-formed whatever is reachable: a constant index outside its domain,
    a constant outside the assigned variable's type, one slot assigned twice in a step."""
    out: list[str] = []

    def walk(e: Expr, env: dict[str, int]) -> None:
        if isinstance(e, Index):
            i = _fold(_subst(e.index, env))
            if i is not None and not 0 <= i < m.domains[m.vars[e.array].domain]:  # type: ignore[index]
                out.append(f"{e.array}[{i}] out of range")
            walk(e.index, env)
        elif isinstance(e, Op):
            for a in e.args:
                walk(a, env)
        elif isinstance(e, Quant):
            for i in range(m.domains[e.domain]):
                walk(e.body, {**env, e.var: i})

    try:
        insts = m.instances()
    except ModelError as e:
        return [str(e)]
    for inst in insts:
        walk(inst.guard, {})
        seen: set[tuple[str, int | None]] = set()
        for lhs, rhs in inst.updates:
            walk(rhs, {})
            if isinstance(lhs, Index):
                walk(lhs, {})
                i = _fold(lhs.index)
                key = (lhs.array, i)
                name = lhs.array
            else:
                key = (lhs.name, None)
                name = lhs.name
            if key in seen:
                out.append(f"{inst.label} assigns {key} twice")
            seen.add(key)
            c = _fold(rhs)
            typ = m.vars[name].type
            if c is not None and isinstance(typ, (IntType, EnumType)) and c not in typ.values():
                out.append(f"{inst.label} assigns constant {c} to {name}")
    for p in m.properties.values():
        for e in (p.expr, p.pre):
            if e is not None:
                walk(e, {})
    walk(m.final, {})
    for c in m.init_constraints:
        walk(c, {})
    return out


def _subst(e: Expr, env: dict[str, int]) -> Expr:
    if isinstance(e, Param) and e.name in env:
        return Const(env[e.name])
    if isinstance(e, Op):
        return Op(e.op, tuple(_subst(a, env) for a in e.args))
    return e


# --------------------------------------------------------------------------------------------
# Traces, replayed on the interpreter
# --------------------------------------------------------------------------------------------


class BadTraceError(Exception):
    pass


def replay(m: Model, tr: Trace) -> list[dict]:
    """The states of a trace, each step re-run with the interpreter; BadTraceError when a step is not
    a real transition (disabled, a model error, or other changes than the trace says)."""
    slots = m.slots()
    names = {m.slot_name(n, i): (n, i) for n, i, _ in slots}
    decode = {(n, i): {d.type.show(v): v for v in d.type.values()} for n, i, d in slots}

    def show(key: tuple[str, int | None], v: int) -> str:
        return m.vars[key[0]].type.show(v)

    try:
        state = {names[k]: decode[names[k]][v] for k, v in tr.initial.items()}
    except KeyError as e:
        raise BadTraceError(f"initial state names an unknown slot or value: {e}") from None
    if set(state) != set(names.values()):
        raise BadTraceError("initial state does not give every slot")
    init_ok = all(state[(n, i)] in ch
                  for (n, i, _), ch in zip(slots, m.init_choices(), strict=True))
    try:
        if not init_ok or not all(evaluate(m, c, state) for c in m.init_constraints):
            raise BadTraceError("the trace does not start in an initial state")
    except ModelError as e:
        raise BadTraceError(f"initial state: {e}") from None
    insts: dict[str, list] = {}
    for inst in m.instances():
        insts.setdefault(inst.label, []).append(inst)
    states = [state]
    for j, s in enumerate(tr.steps):
        cands = insts.get(s.action, [])
        nxt = None
        errors = []
        for inst in cands:
            try:
                cand = step(m, inst, state)
            except ModelError as e:
                errors.append(str(e))
                continue
            if cand is None:
                continue
            want = {k: show(k, v) for k, v in state.items()}
            for name, (_, new) in s.changes.items():
                want[names[name]] = new
            if all(show(k, cand[k]) == want[k] for k in cand):
                nxt = cand
                break
        if nxt is None:
            why = f"; the interpreter raises: {errors[0]}" if errors else ""
            raise BadTraceError(f"step {j} ({s.action}) is not a transition of the model{why}")
        state = nxt
        states.append(state)
    return states


def check_safety_trace(m: Model, p: Property, tr: Trace) -> None:
    states = replay(m, tr)
    last = states[-1]
    try:
        if p.kind == "invariant":
            if evaluate(m, p.expr, last):  # type: ignore[arg-type]
                raise BadTraceError("the last state of the trace satisfies the invariant")
        else:
            if evaluate(m, m.final, last):
                raise BadTraceError("the last state of the trace is final")
            for inst in m.instances():
                if step(m, inst, last) is not None:
                    raise BadTraceError(f"the last state is no deadlock: {inst.label} is enabled")
    except ModelError as e:
        raise BadTraceError(f"the last state raises: {e}") from None


def check_lasso(m: Model, p: Property, tr: Trace) -> None:
    states = replay(m, tr)
    k = tr.loop_start
    if k is None:
        raise BadTraceError("a liveness counterexample without a loop")
    try:
        if p.kind == "leads_to":
            if not any(evaluate(m, p.pre, s) and all(not evaluate(m, p.expr, t)  # type: ignore[arg-type]
                                                     for t in states[j:])
                       for j, s in enumerate(states)):
                raise BadTraceError("no state meets the premise with the goal false from there on")
        elif any(evaluate(m, p.expr, s) for s in states):  # type: ignore[arg-type]
            raise BadTraceError("the goal holds somewhere on the lasso")
        fair = [i for i in m.instances() if i.action.fair]
        if tr.stutter:
            if k != len(tr.steps):
                raise BadTraceError("a stuttering lasso whose loop is not its last state")
            on = [i.label for i in fair if step(m, i, states[-1]) is not None]
            if on:
                raise BadTraceError(f"stutters although {on[0]} (fair) is enabled")
            return
        loop = states[k:]
        if loop[0] != loop[-1] or len(tr.steps) <= k:
            raise BadTraceError("the loop does not close")
        taken = {s.action for s in tr.steps[k:]}
        for i in fair:
            if all(step(m, i, s) is not None for s in loop) and i.label not in taken:
                raise BadTraceError(f"{i.label} is enabled all along the loop but never taken")
    except ModelError as e:
        raise BadTraceError(f"evaluating the lasso raises: {e}") from None


# --------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------


@dataclass
class Finding:
    engine: str
    prop: str
    category: str  # wrong (a contradiction) | refusal (refused inconsistently) | crash
    detail: str

    def __str__(self) -> str:
        return f"[{self.category}] {self.engine} on {self.prop}: {self.detail}"


@dataclass
class Outcome:
    result: Result | None = None
    error: str = ""  # a ModelError: the engine refuses the model
    crash: str = ""  # anything else raised


# what an engine may raise by mistake (anything but ModelError, which refuses the model)
CRASHES = (RuntimeError, AssertionError, KeyError, IndexError, ValueError, TypeError,
           ZeroDivisionError, AttributeError, z3.Z3Exception)


def attempt(fn: Callable[[], Result]) -> Outcome:
    try:
        return Outcome(fn())
    except ModelError as e:
        return Outcome(error=str(e))
    except CRASHES as e:
        return Outcome(crash=f"{type(e).__name__}: {e}")


def judge_safety(truth: Truth, static: list[str], p: Property, engine: str, out: Outcome,
                 shortest: bool = False) -> list[Finding]:
    m = truth.model
    viol, ref, why = truth.safety(p)
    def F(cat: str, d: str) -> list[Finding]:  # noqa: N802 - reads as a constructor
        return [Finding(engine, p.name, cat, d)]
    if out.crash:
        return F("crash", out.crash)
    if out.error:
        if ref is None and not static:
            return F("refusal", f"refuses a model the interpreter runs: {out.error}")
        return []
    r = out.result
    assert r is not None
    kind = r.strength.get("kind")
    if r.verdict == "violated":
        if r.trace is None:
            if viol is None and ref is None:
                return F("wrong", f"violated (no trace; {r.reason}) but the interpreter finds no "
                                  "violation")
            return []
        try:
            check_safety_trace(m, p, r.trace)
        except BadTraceError as e:
            return F("wrong", f"violated with a trace of {len(r.trace.steps)} steps that does not "
                              f"replay: {e}")
        if shortest and ref is None and viol is not None and len(r.trace.steps) != viol:
            return F("wrong", f"counterexample of {len(r.trace.steps)} steps; the shortest has {viol}")
        return []
    if r.verdict == "holds":
        bound = None if kind in ("proved", "explicit") else r.strength.get("depth")
        if kind == "explicit" and not r.strength.get("complete", True):
            return []
        if viol is not None and (bound is None or viol <= bound):
            return F("wrong", f"holds ({kind}{'' if bound is None else f' to depth {bound}'}) but the "
                              f"interpreter violates it at depth {viol}")
        if ref is not None and (bound is None or ref <= bound):
            return F("refusal", f"holds ({kind}{'' if bound is None else f' to depth {bound}'}) but "
                                f"the interpreter refuses at depth {ref}: {why}")
    return []


def judge_liveness(truth: Truth, static: list[str], p: Property, engine: str, out: Outcome,
                   explicit_lasso: int | None = None) -> list[Finding]:
    m = truth.model
    def F(cat: str, d: str) -> list[Finding]:  # noqa: N802 - reads as a constructor
        return [Finding(engine, p.name, cat, d)]
    if out.crash:
        return F("crash", out.crash)
    expected = truth.liveness(p)
    if out.error:
        if expected is not None and not static:
            return F("refusal", f"refuses a model the interpreter runs: {out.error}")
        return []
    r = out.result
    assert r is not None
    if r.verdict == "violated":
        if r.trace is None:
            return [] if expected is not False else F("wrong", "violated without a trace, but no "
                                                               "fair lasso exists")
        try:
            check_lasso(m, p, r.trace)
        except BadTraceError as e:
            return F("wrong", f"violated with a lasso that does not replay: {e}")
        return []
    if r.verdict == "holds":
        kind = r.strength.get("kind")
        if kind == "explicit" and not r.strength.get("complete", True):
            return []
        bound = None if kind in ("proved", "explicit") else r.strength.get("depth")
        if expected is None:
            if bound is None or (truth.refuse_depth is not None and truth.refuse_depth <= bound):
                return F("refusal", f"holds ({kind}) but the interpreter refuses: {truth.refused}")
            return []
        if expected and bound is None:
            return F("wrong", f"holds ({kind}) but a fair lasso violates it")
        if expected and explicit_lasso is not None and explicit_lasso <= bound:
            return F("wrong", f"holds to depth {bound} but the explicit engine's lasso has "
                              f"{explicit_lasso} steps")
    return []


# --------------------------------------------------------------------------------------------
# Running the engines
# --------------------------------------------------------------------------------------------


def exact_invariant(truth: Truth) -> Expr | None:
    """The reachable states as an expression (a disjunction of full states): inductive by
    construction, so check_invariant proves it exactly when the property holds."""
    if truth.refuse_depth is not None or len(truth.depth) > 64 or not truth.depth:
        return None
    terms = []
    for s in truth.depth:
        eqs = []
        for (name, i), v in s:
            ref = Var(name) if i is None else Index(name, Const(i))
            eqs.append(Op("==", (ref, Const(v))))
        term = eqs[0]
        for e in eqs[1:]:
            term = Op("and", (term, e))
        terms.append(term)
    return any_of(*terms)


ENGINES = ("explicit", "bmc", "induction", "chc", "invariant")


def run_engines(src: Source, engines: tuple[str, ...] = ENGINES,
                timeout: float = Z3_TIMEOUT) -> tuple[Truth | None, list[Finding]]:
    """Every engine on every property of one model, judged against the interpreter.
    Returns (None, []) for a model too large to check."""
    m = src.build()
    truth = explore(m)
    if truth.too_big:
        return None, []
    static = static_problems(m)
    if not truth.init and truth.refuse_depth is None:
        static.append("no initial state")  # the explicit engine refuses such a model, by design
    props = m.properties
    findings: list[Finding] = []
    depth = min(truth.max_depth + 1, 12)
    lasso_len: dict[str, int] = {}
    if "explicit" in engines:
        lim = Limits(max_states=MAX_STATES * 4, max_seconds=30)
        try:
            ex = {r.property: Outcome(r) for r in check_explicit(m, list(props.values()), lim)}
        except (ModelError, *CRASHES):  # one property may be what is refused: ask each alone
            ex = {n: attempt(lambda p=p: check_explicit(m, [p], lim)[0]) for n, p in props.items()}
        for name, p in props.items():
            o = ex[name]
            if p.is_liveness:
                findings += judge_liveness(truth, static, p, "explicit", o)
                if o.result and o.result.verdict == "violated" and o.result.trace:
                    lasso_len[name] = len(o.result.trace.steps)
            else:  # a complete search that holds must have refused what the interpreter refuses
                findings += judge_safety(truth, static, p, "explicit", o, shortest=True)
    for name in ("inv", "dl"):
        p = props[name]
        if "bmc" in engines:
            o = attempt(lambda p=p: bmc_safety(m, p, depth, timeout))
            findings += judge_safety(truth, static, p, "bmc", o, shortest=True)
        if "induction" in engines:
            o = attempt(lambda p=p: k_induction(m, p, 4, timeout))
            findings += judge_safety(truth, static, p, "k-induction", o)
        if "chc" in engines:
            o = attempt(lambda p=p: check_chc(m, p, timeout, bmc_depth=depth))
            findings += judge_safety(truth, static, p, "chc", o)
    if "invariant" in engines:
        p = props["inv"]
        cands = [("the property itself", p.expr)]
        exact = exact_invariant(truth)
        if exact is not None:
            cands.append(("the reachable states", exact))
        for label, inv in cands:
            o = attempt(lambda inv=inv: check_invariant(m, p, inv, timeout))  # type: ignore[arg-type]
            findings += judge_safety(truth, static, p, f"invariant ({label})", o)
    if "bmc" in engines:
        for name in ("ev", "lt"):
            p = props[name]
            d = min(len(truth.depth) + 1, 8)
            o = attempt(lambda p=p, d=d: bmc_liveness(m, p, d, timeout))
            findings += judge_liveness(truth, static, p, "bmc", o, lasso_len.get(name))
    return truth, findings


# --------------------------------------------------------------------------------------------
# Parametric families
# --------------------------------------------------------------------------------------------

FAMILY_SIZES = (2, 3, 4, 5, 6)
FAMILY_LIMITS = Limits(max_states=150_000, max_seconds=20)


def explicit_verdict(m: Model, name: str) -> str:
    """holds | violated | unknown (a limit) | refused: <why>"""
    try:
        r = check_explicit(m, [m.properties[name]], FAMILY_LIMITS)[0]
    except ModelError as e:
        return f"refused: {e}"
    return r.verdict


def run_family(src: Source, timeout: float = Z3_TIMEOUT, sizes: tuple[int, ...] = FAMILY_SIZES,
               well_typed_only: bool = False) -> list[Finding]:
    """The parametric engine on a family; each claim for every N is checked explicitly at
    N=2..6. well_typed_only: say nothing about a family with an instance the explicit engine
    refuses (a counter leaving its type at some N)."""
    m = src.build()
    props = list(m.properties.values())
    at: dict[tuple[str, int], str] = {}

    def verdict(name: str, n: int) -> str:
        if (name, n) not in at:
            small = m.rebuild({"threads": n})  # type: ignore[misc]
            at[(name, n)] = explicit_verdict(small, name)
        return at[(name, n)]

    def refused_somewhere() -> bool:
        return any(verdict(p.name, n).startswith("refused") for p in props for n in sizes)

    try:
        results = check_parametric(m, props, timeout)
    except ModelError as e:
        if refused_somewhere():
            return []
        return [Finding("parametric", "*", "refusal", f"raises ModelError: {e}")]
    except CRASHES as e:
        return [Finding("parametric", "*", "crash", f"{type(e).__name__}: {e}")]
    claims = [r for r in results if r.verdict != "unknown"]
    if well_typed_only and claims and refused_somewhere():
        return []
    out: list[Finding] = []
    for r in claims:
        covers = str(r.strength.get("covers", ""))
        if not covers.startswith("every"):
            out.append(Finding("parametric", r.property, "wrong",
                               f"{r.verdict} without a claim for every N: {r.strength}"))
            continue
        if r.verdict == "violated" and r.trace is not None:
            # the trace is the one found at the smallest size, whatever size it generalises from
            base = next((n for n in sizes if len(m.rebuild({"threads": n}).slots())  # type: ignore[misc]
                         == len(r.trace.initial)), sizes[0])
            small = m.rebuild({"threads": base})  # type: ignore[misc]
            p = small.properties[r.property]
            try:
                if p.is_liveness:
                    check_lasso(small, p, r.trace)
                else:
                    check_safety_trace(small, p, r.trace)
            except BadTraceError as e:
                out.append(Finding("parametric", r.property, "wrong",
                                   f"trace at threads={base} does not replay: {e}"))
        for n in sizes:
            v = verdict(r.property, n)
            if v == "unknown" or v == r.verdict:
                continue
            cat = "refusal" if v.startswith("refused") else "wrong"
            out.append(Finding("parametric", r.property, cat,
                               f"{r.verdict} for {covers}, but explicit at threads={n}: {v}"
                               + (f" ({r.reason})" if r.reason else "")))
            break
    return out


# ============================================================================================
# The fuzz tests
# ============================================================================================

# Known engine bugs, named once; each xfail below says which of them makes it fail today.
BIG_CONSTANTS = (
    "bit-vector Encoder (bmc.BITS, symbolic.Encoder) sizes its words from the variables' types "
    "only, so a constant such as 2048 wraps (to 0): BMC, k-induction and check_invariant prove "
    "false properties (an init constraint `b < 2048` becomes unsatisfiable) and report violations "
    "whose traces satisfy the property")
AND_OR_VALUES = (
    "compile.py translates & and | to Python `and`/`or`, which return an operand (x & y is 3 when "
    "both are 3), while the interpreter and Z3 give 0/1: the explicit engine disagrees when a "
    "conjunction is used as a number, and bmc/induction/chc crash with 'a solver step matches no "
    "action of the compiled model'")
LIVENESS_TYPES = (
    "bmc_liveness never checks the types: it returns lassos through states outside the model's "
    "types (which the explicit engine refuses) and crashes with IndexError in build_trace on an "
    "enum out of range")
Z3_INDEX = (
    "symbolic.Encoder reads an array at an out-of-range index as its last element, and an "
    "out-of-range write silently disables the step, where the explicit engine and the "
    "interpreter refuse the model: k-induction, CHC and check_invariant prove such models")
INTERP_WRITE = (
    "interp.step writes an array outside its domain without complaint (it adds a slot to the "
    "state), where a read out of range raises ModelError")
INT_COUNT = (
    "count over a non-boolean body: Z3 (symbolic.Encoder, and counters.CounterSystem for named "
    "threads) adds up the values, the interpreter and the explicit engine count the non-zero ones")
EAGER_INTERP = (
    "interp.evaluate evaluates both branches of ite and both sides of implies, so it refuses an "
    "out-of-range read in a branch not taken, which the explicit engine and Z3 accept")
LATE_INIT = (
    "parametric: per-index initial values are compared only at the smallest size "
    "(counters._check_sibling_init on models[lo]), so init=lambda i: 1 if i >= 4 else 0 is "
    "read as symmetric and false properties are proved for every N")
PER_CPU = (
    "parametric: canonical() ignores domain sizes, so a second domain of size n (per-CPU) is read "
    "at its smallest size, and a guard on a count or exists over it makes false proofs")
TOKEN = (
    "parametric: generalise._clone_safe lets clones repeat a step that writes a global array over "
    "another domain (a token), applied once for all clones; 'violated for every N' is then claimed "
    "for families that hold from N=3 on")
INT_BOUNDS = (
    "parametric: the counter system treats integer globals as unbounded, so a counter typed "
    "0..3 that overflows from N=4 (explicit: ModelError) is 'proved for every threads >= 2'")

SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
# the fast tier does not shrink: a failure is reported as found (the heavy tier shrinks)
FAST_PHASES = [Phase.explicit, Phase.reuse, Phase.generate]


def fast(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=SUPPRESS,
                    phases=FAST_PHASES)


HEAVY_EXAMPLES = int(os.environ.get("OOMCHECK_FUZZ_EXAMPLES", "2000"))
HEAVY = settings(max_examples=HEAVY_EXAMPLES, deadline=None, suppress_health_check=SUPPRESS)


def no_findings(src: Source, findings: list[Finding]) -> None:
    if findings:
        note(src.text)
        raise AssertionError("the engines disagree:\n" + "\n".join(f"  {f}" for f in findings)
                             + f"\nmodel:\n{src.text}")


def check_model(src: Source) -> None:
    _, findings = run_engines(src)
    no_findings(src, findings)


def check_family(src: Source, well_typed_only: bool = False) -> None:
    no_findings(src, run_family(src, well_typed_only=well_typed_only))


# Profiles that switch on one risky corner of the language at a time, over the well-typed rest.
ONLY_BIG = replace(CLEAN, big_constants=True)
ONLY_SLOPPY = replace(CLEAN, sloppy=True)
ONLY_INT_COUNTS = replace(CLEAN, int_counts=True)
ONLY_RANGES = replace(CLEAN, wild_index=True, overflow=True)


# -- fast tier (default run) -------------------------------------------------------------------

@fast(40)
@given(models(CLEAN))
def test_engines_agree_on_well_typed_models(src: Source) -> None:
    check_model(src)


@pytest.mark.xfail(strict=False, reason=BIG_CONSTANTS)
@fast(15)
@given(models(ONLY_BIG))
def test_engines_agree_with_large_constants(src: Source) -> None:
    check_model(src)


@pytest.mark.xfail(strict=False, reason=f"{AND_OR_VALUES}; {INT_COUNT}")
@fast(15)
@given(models(ONLY_SLOPPY))
def test_engines_agree_on_ill_typed_operands(src: Source) -> None:
    check_model(src)


@pytest.mark.xfail(strict=False, reason=INT_COUNT)
@fast(15)
@given(models(ONLY_INT_COUNTS))
def test_engines_agree_on_counts_of_numbers(src: Source) -> None:
    check_model(src)


@pytest.mark.xfail(strict=False, reason=f"{LIVENESS_TYPES}; {Z3_INDEX}; {INTERP_WRITE}; {EAGER_INTERP}")
@fast(15)
@given(models(ONLY_RANGES))
def test_engines_refuse_the_same_out_of_range_models(src: Source) -> None:
    check_model(src)


@pytest.mark.xfail(strict=False, reason="all of the above")
@fast(15)
@given(models(WHOLE))
def test_engines_agree_on_the_whole_language(src: Source) -> None:
    check_model(src)


@fast(15)
@given(families(SYMMETRIC))
def test_parametric_claims_hold_on_symmetric_families(src: Source) -> None:
    check_family(src, well_typed_only=True)


@pytest.mark.xfail(strict=False, reason=f"{LATE_INIT}; {PER_CPU}; {TOKEN}; {INT_BOUNDS}; {INT_COUNT}")
@fast(15)
@given(families(NASTY))
def test_parametric_claims_hold_on_families_users_get_wrong(src: Source) -> None:
    check_family(src)


# -- heavy tier: OOMCHECK_FUZZ_EXAMPLES examples each (pytest -m heavy) -------------------------

@pytest.mark.heavy
@HEAVY
@given(models(CLEAN))
def test_heavy_engines_agree_on_well_typed_models(src: Source) -> None:
    check_model(src)


@pytest.mark.heavy
@pytest.mark.xfail(strict=False, reason="every engine bug named in this file")
@HEAVY
@given(models(WHOLE))
def test_heavy_engines_agree_on_the_whole_language(src: Source) -> None:
    check_model(src)


@pytest.mark.heavy
@HEAVY
@given(families(SYMMETRIC))
def test_heavy_parametric_on_symmetric_families(src: Source) -> None:
    check_family(src, well_typed_only=True)


@pytest.mark.heavy
@pytest.mark.xfail(strict=False, reason=f"{LATE_INIT}; {PER_CPU}; {TOKEN}; {INT_BOUNDS}; {INT_COUNT}")
@HEAVY
@given(families(NASTY))
def test_heavy_parametric_on_families_users_get_wrong(src: Source) -> None:
    check_family(src)


# ============================================================================================
# Regression tests: the smallest models found, written out
# ============================================================================================

T = 10.0  # Z3 time limit for the regression tests
COLOR_T = COLOR


def _one(m: Model, name: str) -> Property:
    return m.properties[name]


def test_reference_bfs_and_explicit_agree_on_a_small_model() -> None:
    """The oracle itself: same reachable states and verdicts as the explicit engine."""
    m = Model("toy")
    m.domain("p", 2)
    x = m.var("x", IntType(0, 3), init=0)
    a = m.array("a", "p", BOOL, init=0)
    m.action("set", func="set", file="t.c", actor="p", params={"p": "p"},
             guard=lambda p: ~a[p], updates=lambda p: {a[p]: 1, x: x + 1})
    m.invariant("inv", x <= 1, "")
    m.set_final(forall("p", lambda p: a[p]))
    m.no_deadlock("dl", "")
    truth = explore(m)
    assert len(truth.depth) == 4 and truth.refuse_depth is None
    assert truth.safety(m.properties["inv"])[0] == 2
    assert truth.safety(m.properties["dl"])[0] is None
    (r,) = check_explicit(m, [m.properties["inv"]])
    assert r.verdict == "violated" and r.trace is not None
    check_safety_trace(m, m.properties["inv"], r.trace)


@pytest.mark.xfail(strict=False, reason=BIG_CONSTANTS)
def test_large_constant_in_an_init_constraint_is_not_an_empty_init() -> None:
    m = Model("big-init")
    b = m.var("b", BOOL, init=0)
    m.constrain_init(b < 2048)  # true: b is 0
    m.action("set", func="set", file="r.c", actor="env", updates={b: 1})
    m.invariant("inv", b, "b holds from the start (it does not)")
    p = _one(m, "inv")
    assert check_explicit(m, [p])[0].verdict == "violated"
    assert bmc_safety(m, p, 5, T).verdict == "violated"  # today: holds (no initial state)
    assert k_induction(m, p, 4, T).verdict != "holds"  # today: proved
    assert check_invariant(m, p, b, T).verdict != "holds"  # today: proved


@pytest.mark.xfail(strict=False, reason=BIG_CONSTANTS)
def test_large_constant_in_an_invariant_is_no_violation() -> None:
    m = Model("big-inv")
    x = m.var("x", IntType(0, 3), init=0)
    m.action("inc", func="inc", file="r.c", actor="env", guard=x < 3, updates={x: x + 1})
    m.invariant("inv", x < 2048, "")
    p = _one(m, "inv")
    assert check_explicit(m, [p])[0].verdict == "holds"
    assert check_chc(m, p, T).verdict == "holds"  # CHC works over integers: right
    assert bmc_safety(m, p, 5, T).verdict == "holds"  # today: violated at depth 0
    assert k_induction(m, p, 4, T).verdict == "holds"  # today: violated at depth 0


@pytest.mark.xfail(strict=False, reason=BIG_CONSTANTS)
def test_large_constant_in_a_guard_keeps_the_lasso_fair() -> None:
    m = Model("big-guard")
    x = m.var("x", IntType(0, 1), init=0)
    m.action("spin", func="spin", file="r.c", actor="env", guard=x <= 600, updates={x: 0})
    m.eventually("ev", x == 1, "")
    p = _one(m, "ev")
    r = bmc_liveness(m, p, 4, T)
    assert r.verdict == "violated" and r.trace is not None
    check_lasso(m, p, r.trace)  # today: stutters in x=0 although spin (fair) is enabled


@pytest.mark.xfail(strict=False, reason=AND_OR_VALUES)
def test_a_conjunction_used_as_a_number_is_zero_or_one() -> None:
    m = Model("and-value")
    x = m.var("x", IntType(0, 3), init=2)
    y = m.var("y", IntType(0, 3), init=0)
    m.action("a", func="a", file="r.c", actor="env", guard=y == 0, updates={y: x & x})
    m.invariant("le1", y <= 1, "")
    m.invariant("ne1", y != 1, "")
    state = {("x", None): 2, ("y", None): 0}
    (inst,) = m.instances()
    assert step(m, inst, state)[("y", None)] == 1  # the interpreter: 2 & 2 is true, i.e. 1
    le1, ne1 = _one(m, "le1"), _one(m, "ne1")
    assert k_induction(m, le1, 4, T).verdict == "holds"
    assert check_explicit(m, [le1])[0].verdict == "holds"  # today: violated (y becomes 2)
    r = bmc_safety(m, ne1, 5, T)  # today: RuntimeError, a solver step matches no action
    assert r.verdict == "violated"


@pytest.mark.xfail(strict=False, reason=INT_COUNT)
def test_count_over_numbers_counts_the_non_zero_ones() -> None:
    m = Model("int-count")
    m.domain("p", 2)
    a = m.array("a", "p", IntType(0, 2), init=2)
    m.action("a", func="a", file="r.c", actor="env", updates={a[0]: 2})
    m.invariant("inv", count("p", lambda i: a[i]) <= 2, "two elements at most are non-zero")
    p = _one(m, "inv")
    assert check_explicit(m, [p])[0].verdict == "holds"
    assert bmc_safety(m, p, 5, T).verdict == "holds"  # today: violated (2 + 2 = 4 > 2)
    assert check_chc(m, p, T).verdict == "holds"  # today: violated


@pytest.mark.xfail(strict=False, reason=LIVENESS_TYPES)
def test_bmc_liveness_refuses_a_step_out_of_an_enum() -> None:
    m = Model("enum-overflow")
    c = m.var("c", COLOR_T, init=COLOR_T.BLUE)
    m.action("next", func="next", file="r.c", actor="env", guard=c == COLOR_T.BLUE, updates={c: c + 1})
    m.eventually("ev", c == COLOR_T.RED, "")
    p = _one(m, "ev")
    with pytest.raises(ModelError):
        check_explicit(m, [p])
    with pytest.raises(ModelError):  # today: IndexError while building the lasso
        bmc_liveness(m, p, 4, T)


@pytest.mark.xfail(strict=False, reason=LIVENESS_TYPES)
def test_bmc_liveness_lasso_stays_within_the_types() -> None:
    m = Model("int-overflow")
    x = m.var("x", IntType(0, 1), init=0)
    m.action("inc", func="inc", file="r.c", actor="env", guard=x <= 1, updates={x: x + 1})
    m.eventually("ev", x == 5, "")
    p = _one(m, "ev")
    with pytest.raises(ModelError):
        check_explicit(m, [p])
    out = attempt(lambda: bmc_liveness(m, p, 4, T))
    assert out.error or (out.result is not None and out.result.verdict == "unknown"), \
        out.result and out.result.trace  # today: a lasso through x=2, shown as x=0 (packing)


@pytest.mark.xfail(strict=False, reason=Z3_INDEX)
def test_an_out_of_range_read_is_refused_by_the_z3_engines_too() -> None:
    m = Model("read-range")
    m.domain("p", 2)
    a = m.array("a", "p", BOOL, init=0)
    i = m.var("i", IntType(0, 2), init=2)
    m.action("a", func="a", file="r.c", actor="env", updates={a[0]: 0})
    m.invariant("inv", a[i] == 0, "a[2] does not exist")
    p = _one(m, "inv")
    with pytest.raises(ModelError):
        check_explicit(m, [p])
    for engine, fn in [("k-induction", lambda: k_induction(m, p, 4, T)),
                       ("chc", lambda: check_chc(m, p, T)),
                       ("invariant", lambda: check_invariant(m, p, p.expr, T))]:  # type: ignore[arg-type]
        out = attempt(fn)  # today: each proves it (a[2] reads as a[1])
        assert out.error or out.result.verdict != "holds", engine  # type: ignore[union-attr]


@pytest.mark.xfail(strict=False, reason=f"{Z3_INDEX}; {INTERP_WRITE}")
def test_an_out_of_range_write_is_refused_everywhere() -> None:
    m = Model("write-range")
    m.domain("p", 1)
    a = m.array("a", "p", BOOL, init=0)
    i = m.var("i", IntType(0, 1), init=1)
    m.action("w", func="w", file="r.c", actor="env", guard=~a[0], updates={a[i]: 1})
    m.no_deadlock("dl", "")
    p = _one(m, "dl")
    with pytest.raises(ModelError):
        check_explicit(m, [p])
    (inst,) = m.instances()
    with pytest.raises(ModelError):  # today: returns a state with a slot a[1]
        step(m, inst, {("a", 0): 0, ("i", None): 1})
    out = attempt(lambda: k_induction(m, p, 4, T))  # today: proved (the step is just disabled)
    assert out.error or out.result.verdict != "holds"  # type: ignore[union-attr]


@pytest.mark.xfail(strict=False, reason=EAGER_INTERP)
def test_interpreter_and_explicit_agree_on_a_read_guarded_by_ite() -> None:
    m = Model("guarded-read")
    m.domain("p", 2)
    a = m.array("a", "p", BOOL, init=0)
    i = m.var("i", IntType(0, 2), init=2)
    m.action("a", func="a", file="r.c", actor="env", updates={a[0]: 0})
    m.invariant("inv", ite(i < 2, a[i] == 0, True), "a[i] is read only when i is an index")
    p = _one(m, "inv")
    assert check_explicit(m, [p])[0].verdict == "holds"
    assert bmc_safety(m, p, 3, T).verdict == "holds"
    assert evaluate(m, p.expr, {("a", 0): 0, ("a", 1): 0, ("i", None): 2}) == 1  # type: ignore[arg-type]


# -- parametric regressions --------------------------------------------------------------------

THR = "thread"


def family_of(build: Callable[[int], Model]) -> Model:
    """The way a catalog variant declares its family: thread count as the parametric size."""
    def make(sizes: dict[str, int]) -> Model:
        n = sizes["threads"]
        m = build(n)
        m.sizes = {"threads": n}
        m.family = Family("threads", THR, 2, 6)
        m.rebuild = make
        return m
    return make({"threads": 3})


def explicit_at_sizes(m: Model, name: str) -> dict[int, str]:
    return {n: explicit_verdict(m.rebuild({"threads": n}), name) for n in FAMILY_SIZES}  # type: ignore[misc]


def claims_agree(m: Model) -> None:
    """Every claim for every N matches the explicit engine at N = 2..6."""
    for r in check_parametric(m, list(m.properties.values()), T):
        if r.verdict == "unknown":
            continue
        at = explicit_at_sizes(m, r.property)
        assert all(v == r.verdict for v in at.values()), (r.property, r.verdict, r.strength, at)


@pytest.mark.xfail(strict=False, reason=LATE_INIT)
def test_parametric_late_initial_values() -> None:
    def build(n: int) -> Model:
        m = Model("late-init")
        m.domain(THR, n)
        m.actor(THR, "thread")
        pc = m.array("pc", THR, IntType(0, 1), init=0)
        flag = m.array("flag", THR, BOOL, init=lambda i: 1 if i >= 4 else 0)
        m.action("go", func="go", file="f.c", actor=THR, params={"t": THR},
                 guard=lambda t: pc[t] == 0, updates=lambda t: {pc[t]: 1})
        m.invariant("inv", forall(THR, lambda u: ~flag[u]), "no flag is set (from N=5 one is)")
        return m
    claims_agree(family_of(build))  # today: proved for every N; violated at N=5


@pytest.mark.xfail(strict=False, reason=PER_CPU)
def test_parametric_second_domain_that_grows_with_n() -> None:
    def build(n: int) -> Model:
        m = Model("per-cpu")
        m.domain(THR, n)
        m.domain("cpu", n)
        m.actor(THR, "thread")
        pc = m.array("pc", THR, IntType(0, 1), init=0)
        g = m.var("g", BOOL, init=1)
        m.action("go", func="go", file="f.c", actor=THR, params={"t": THR},
                 guard=lambda t: (pc[t] == 0) & (count("cpu", lambda c: g) >= 3),
                 updates=lambda t: {pc[t]: 1})
        m.invariant("inv", forall(THR, lambda u: pc[u] == 0), "nobody moves (from N=3 they do)")
        return m
    claims_agree(family_of(build))  # today: proved for every N; violated at N=3


@pytest.mark.xfail(strict=False, reason=TOKEN)
def test_parametric_token_in_a_global_array() -> None:
    def build(n: int) -> Model:
        m = Model("token")
        m.domain(THR, n)
        m.domain("slot", 1)
        m.actor(THR, "thread")
        pc = m.array("pc", THR, IntType(0, 1), init=0)
        tok = m.array("tok", "slot", BOOL, init=0)
        m.action("take", func="take", file="f.c", actor=THR, params={"t": THR, "s": "slot"},
                 guard=lambda t, s: (pc[t] == 0) & (tok[s] == 0),
                 updates=lambda t, s: {pc[t]: 1, tok[s]: 1})
        m.invariant("inv", count(THR, lambda u: pc[u] == 0) != 1,
                    "one thread only takes the token, so N-1 stay behind (1 only at N=2)")
        return m
    claims_agree(family_of(build))  # today: violated for every N; holds from N=3


@pytest.mark.xfail(strict=False, reason=INT_BOUNDS)
def test_parametric_counter_typed_too_small() -> None:
    def build(n: int) -> Model:
        m = Model("small-counter")
        m.domain(THR, n)
        m.actor(THR, "thread")
        done = m.array("done", THR, BOOL, init=0)
        cnt = m.var("cnt", IntType(0, 3), init=0)
        m.action("bump", func="bump", file="f.c", actor=THR, params={"t": THR},
                 guard=lambda t: ~done[t], updates=lambda t: {done[t]: 1, cnt: cnt + 1})
        m.invariant("inv", cnt >= 0, "")
        return m
    claims_agree(family_of(build))  # today: proved for every N; explicit refuses N >= 4


@pytest.mark.xfail(strict=False, reason=INT_COUNT)
def test_parametric_count_over_numbers_with_a_named_thread() -> None:
    def build(n: int) -> Model:
        m = Model("int-count")
        m.domain(THR, n)
        m.actor(THR, "thread")
        m.actor("k", "kthread")
        pc = m.array("pc", THR, IntType(0, 2), init=0)
        m.action("d0", func="d0", file="f.c", actor="k", guard=pc[0] == 0, updates={pc[0]: 2})
        m.invariant("inv", count(THR, lambda u: pc[u]) != 1, "one thread is non-zero: violated")
        return m
    claims_agree(family_of(build))  # today: proved for every N; violated at every N


def test_parametric_python_level_size_is_not_parametric() -> None:
    def build(n: int) -> Model:
        m = Model("python-n")
        m.domain(THR, n)
        m.actor(THR, "thread")
        m.actor("env", "environment")
        pc = m.array("pc", THR, IntType(0, 1), init=0)
        g = m.var("g", BOOL, init=0)
        m.action("go", func="go", file="f.c", actor=THR, params={"t": THR},
                 guard=lambda t: pc[t] == 0, updates=lambda t: {pc[t]: 1})
        if n > 4:  # a different model from N=5 on
            m.action("extra", func="extra", file="f.c", actor="env", guard=~g, updates={g: 1})
        m.invariant("inv", ~g, "")
        return m
    m = family_of(build)
    claims_agree(m)
    assert explicit_at_sizes(m, "inv")[5] == "violated"
    (r,) = check_parametric(m, [m.properties["inv"]], T)
    assert r.verdict == "unknown"


# ============================================================================================
# A survey: run many examples, collect every disagreement instead of stopping at the first
# ============================================================================================


def survey(kind: str, n: int, seed: int = 0) -> dict[tuple[str, str, str], list[str]]:
    """kind: clean | whole | no-big | big | sloppy | int-counts | ranges (models), symmetric |
    nasty (families). Prints and returns signature -> model sources."""
    import random
    from collections import defaultdict

    from hypothesis import seed as hseed

    found: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    counts = {"models": 0, "skipped": 0}
    strat = {"clean": models(CLEAN), "whole": models(WHOLE), "symmetric": families(SYMMETRIC),
             "nasty": families(NASTY), "big": models(ONLY_BIG), "sloppy": models(ONLY_SLOPPY),
             "int-counts": models(ONLY_INT_COUNTS), "ranges": models(ONLY_RANGES),
             "no-big": models(replace(WHOLE, big_constants=False))}[kind]

    @hseed(seed or random.randrange(1 << 30))
    @settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck),
              database=None, phases=FAST_PHASES)
    @given(strat)
    def run(src: Source) -> None:
        counts["models"] += 1
        if src.kind == "family":
            fs = run_family(src, well_typed_only=kind == "symmetric")
        else:
            truth, fs = run_engines(src)
            if truth is None:
                counts["skipped"] += 1
        for f in fs:  # one signature per kind: action labels and numbers blurred
            detail = re.sub(r"\bf\d+(\([^)]*\))?|-?\d+", "#", f.detail)
            found[(f.engine, f.category, detail[:70])].append(src.text)

    run()
    print(f"{kind}: {counts['models']} examples ({counts['skipped']} too large), "
          f"{len(found)} kinds of disagreement")
    for sig, srcs in sorted(found.items(), key=lambda kv: -len(kv[1])):
        print(f"{len(srcs):4d}  {sig}")
    return found


if __name__ == "__main__":  # python -m tests.test_differential whole 200
    survey(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0)
