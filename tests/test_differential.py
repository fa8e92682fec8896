"""A differential fuzzer: random models over the whole modeling language and random properties,
and every engine must agree with the reference interpreter (and so with each other).

The oracle is a breadth-first search on oomcheck.checker.interp (independent of the compiler
and of the Z3 encoding). The rules, per engine answer:
- the model itself: a generated model with one ill-typed expression must be refused when it is
  built (one ModelError line saying "ill-typed" and naming the place), and no engine may see it;
  a well-typed one must be accepted;
- violated: the trace replays step by step on the interpreter and violates the property (BFS
  and BMC traces must also be shortest);
- holds, proved (k-induction, CHC, a user invariant, the explicit engine's complete search):
  the interpreter finds no violation;
- holds, bounded to depth d: no violation within d steps;
- the explicit engine with symmetry reduction and without: the same verdicts, both judged as
  above (a model with a thread domain, a `Family`, is searched both ways);
- parametric "holds/violated for every threads >= 2": the explicit engine agrees at N = 2..6
  (and with and without symmetry at N = 2..4); a family whose definition uses the size outside
  the language is "unknown: not parametric";
- ModelError (the model is refused): only when the interpreter refuses it too (a step leaving a
  type, an index out of range), or it is statically ill-formed; and then no engine may prove
  anything about it;
- unknown: always acceptable.

Fast tier: a handful of examples per test (default run). Heavy tier: `pytest -m heavy`, with
OOMCHECK_FUZZ_EXAMPLES examples per test (and OOMCHECK_FUZZ_STATS=<file> to append what was
checked). Every engine bug it found is fixed and has a plain regression test at the end.
`python -m tests.test_differential whole 300` surveys many examples and lists every kind of
disagreement instead of stopping at the first.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import networkx as nx
import pytest
import z3
from hypothesis import HealthCheck, Phase, given, note, settings

from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.language.interp import evaluate, step
from oomcheck.checker.language.lang import (
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
    exists,
    forall,
    implies,
    ite,
)
from oomcheck.checker.parametric.prove import Family, check_parametric
from oomcheck.checker.symbolic.bmc import bmc_liveness, bmc_safety
from oomcheck.checker.symbolic.chc import check_chc
from oomcheck.checker.symbolic.induction import check_invariant, k_induction
from oomcheck.checker.trace import Result, Trace

from . import reference
from .fuzz_models import (
    CLEAN,
    COLOR,
    ILL_TYPED,
    NASTY,
    NOT_PARAMETRIC,
    SYMMETRIC,
    WHOLE,
    Source,
    families,
    models,
)

State = tuple[tuple[tuple[str, int | None], int], ...]
Z3_TIMEOUT = 3.0  # seconds per Z3 call: a slow example answers unknown rather than stalling
MAX_STATES = 3000  # larger instances are skipped, not checked
# what was checked, by kind (models, refused, symmetric searches, parametric claims, ...)
STATS: Counter[str] = Counter()


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
        try:  # the goal and the premise are read in every reachable state, as every engine does
            for s in self.depth:
                for e in (p.expr, p.pre):
                    if e is not None:
                        evaluate(self.model, e, dict(s))
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
            if set(cand) != set(state):  # interp.step writes outside an array's domain silently
                errors.append(f"writes {sorted(set(cand) - set(state))[0]}, outside the array")
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
            on = [i.label for i in fair if evaluate(m, i.guard, states[-1])]
            if on:
                raise BadTraceError(f"stutters although {on[0]} (fair) is enabled")
            return
        loop = states[k:]
        if loop[0] != loop[-1] or len(tr.steps) <= k:
            raise BadTraceError("the loop does not close")
        taken = {s.action for s in tr.steps[k:]}
        for i in fair:  # enabled: its guard holds (whether its step would leave a type or not)
            if i.label not in taken and all(evaluate(m, i.guard, s) for s in loop):
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
    """One engine call; every engine call of the fuzzer goes through here (and is counted)."""
    STATS["engine calls"] += 1
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
            return F("wrong", "holds from a search that stopped early")
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
            return F("wrong", "holds from a search that stopped early")
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
# Building: an ill-typed model is refused here, before any engine
# --------------------------------------------------------------------------------------------


def build_checked(src: Source) -> tuple[Model | None, list[Finding]]:
    """The model, or None when the language refuses it. Findings when it refuses a well-typed
    model, accepts the planted ill-typed expression, or refuses it elsewhere or in more than
    one line."""
    try:
        m = src.build()
    except ModelError as e:
        msg = str(e)
        if not src.refused_at:
            return None, [Finding("language", "*", "refusal", f"refuses a well-typed model: {msg}")]
        want = f"{src.refused_at}: ill-typed "
        if "\n" in msg or not msg.startswith(want):
            return None, [Finding("language", "*", "refusal",
                                  f"refuses the planted {src.corner} with `{msg}`, not `{want}...`")]
        STATS["refused when built"] += 1
        STATS[f"refused when built: {src.corner}"] += 1
        return None, []
    if src.refused_at:
        return None, [Finding("language", "*", "wrong",
                              f"accepts an ill-typed expression ({src.corner}) at {src.refused_at}")]
    return m, []


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
Z3_ENGINES = ("bmc", "k-induction", "chc", "invariant")


@dataclass
class Checked:
    """What the engines gave on one model."""

    status: str  # checked | refused (when built) | ill-typed, accepted | too big
    findings: list[Finding] = field(default_factory=list)
    truth: Truth | None = None


def explicit_outcomes(m: Model, lim: Limits, symmetry: bool) -> dict[str, Outcome]:
    props = m.properties
    try:
        STATS["engine calls"] += 1
        return {r.property: Outcome(r)
                for r in check_explicit(m, list(props.values()), lim, symmetry=symmetry)}
    except (ModelError, *CRASHES):  # one property may be what is refused: ask each alone
        return {n: attempt(lambda p=p: check_explicit(m, [p], lim, symmetry=symmetry)[0])
                for n, p in props.items()}


def answer(o: Outcome) -> str:
    return "crash" if o.crash else "refused" if o.error else o.result.verdict  # type: ignore[union-attr]


def run_engines(src: Source, engines: tuple[str, ...] = ENGINES,
                timeout: float = Z3_TIMEOUT) -> Checked:
    """Every engine on every property of one model, judged against the interpreter."""
    STATS["models"] += 1
    m, bad = build_checked(src)
    if m is None or bad:
        return Checked("refused" if m is None else "ill-typed, accepted", bad)
    truth = explore(m)
    if truth.too_big:
        STATS["too big"] += 1
        return Checked("too big")
    STATS["checked"] += 1
    STATS["refused by the interpreter"] += truth.refuse_depth is not None
    static = static_problems(m)
    if not truth.init and truth.refuse_depth is None:
        static.append("no initial state")  # the explicit engine refuses such a model, by design
    props = m.properties
    findings: list[Finding] = []
    depth = min(truth.max_depth + 1, 12)
    lasso_len: dict[str, int] = {}
    if "explicit" in engines:
        lim = Limits(max_states=MAX_STATES * 4, max_seconds=30)
        runs = [("explicit", True)] + ([("explicit (no symmetry)", False)] if m.family is not None else [])
        answers: dict[str, dict[str, str]] = {}
        for label, sym in runs:
            ex = explicit_outcomes(m, lim, sym)
            answers[label] = {n: answer(o) for n, o in ex.items()}
            if sym and any(o.result and not str(o.result.strength.get("symmetry", "not used"))
                           .startswith("not used") for o in ex.values()):
                STATS["searched with symmetry"] += 1
            for name, p in props.items():
                o = ex[name]
                if p.is_liveness:
                    found = judge_liveness(truth, static, p, label, o)
                    if not found and o.result and o.result.verdict == "violated" and o.result.trace:
                        n = len(o.result.trace.steps)
                        lasso_len[name] = min(lasso_len.get(name, n), n)
                else:  # a complete search that holds must have refused what the interpreter refuses
                    found = judge_safety(truth, static, p, label, o, shortest=True)
                findings += found
        if len(answers) == 2:
            a, b = answers["explicit"], answers["explicit (no symmetry)"]
            for name in props:
                if a[name] != b[name] and "unknown" not in (a[name], b[name]):
                    findings.append(Finding("explicit symmetry", name, "wrong",
                                            f"with symmetry {a[name]}, without {b[name]}"))
        if all(v in ("holds", "violated") for v in answers["explicit"].values()):
            findings += exact_state_limit(truth, static)
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
    return Checked("checked", findings, truth)


def exact_state_limit(truth: Truth, static: list[str]) -> list[Finding]:
    """Limits(max_states=R) is exact: with R the number of reachable states the unreduced search
    completes with the unlimited verdicts; with R-1 it stores at most R-1 states and says holds
    for nothing (a violation found before the limit still counts). For models the explicit
    engine answers in full."""
    m, reach = truth.model, len(truth.depth)
    if truth.refuse_depth is not None or static or reach < 2:
        return []
    props = list(m.properties.values())
    try:  # one search for every property: it may meet an evaluation error each alone does not
        full = {r.property: r.verdict for r in check_explicit(m, props, symmetry=False)}
    except ModelError:
        return []
    out: list[Finding] = []
    answers: dict[int, dict[str, str]] = {}
    for cap in (reach, reach - 1):
        label = f"explicit (max_states={cap} of {reach})"
        STATS["engine calls"] += 1
        try:
            rs = check_explicit(m, props, Limits(max_states=cap), symmetry=False)
        except (ModelError, *CRASHES) as e:
            return [Finding(label, "*", "refusal" if isinstance(e, ModelError) else "crash",
                            f"{type(e).__name__}: {e}")]
        answers[cap] = {r.property: r.verdict for r in rs}
        for r in rs:
            if r.states > cap:
                out.append(Finding(label, r.property, "wrong", f"stored {r.states} states"))
            p = m.properties[r.property]
            if cap < reach and r.verdict == "holds":
                out.append(Finding(label, r.property, "wrong", "holds without storing every state"))
            elif r.verdict == "violated":
                judge = judge_liveness if p.is_liveness else judge_safety
                out += judge(truth, static, p, label, Outcome(r))
    for name, v in answers[reach].items():
        if v != full[name]:
            out.append(Finding(f"explicit (max_states={reach} of {reach})", name, "wrong",
                               f"{v}, but {full[name]} without a limit"))
    return out


# engine bugs known and not yet fixed, as predicates over findings (none today)
KNOWN: tuple[Callable[[Finding], bool], ...] = ()


def without_known(findings: list[Finding], known: tuple[Callable[[Finding], bool], ...]) -> list[Finding]:
    out = []
    for f in findings:
        hit = next((k for k in known if k(f)), None)
        if hit is None:
            out.append(f)
        else:
            STATS[f"known bug: {hit.__name__}"] += 1
    return out


# --------------------------------------------------------------------------------------------
# Parametric families
# --------------------------------------------------------------------------------------------

FAMILY_SIZES = (2, 3, 4, 5, 6)
UNREDUCED_SIZES = (2, 3, 4)  # also searched without symmetry (unreduced, larger sizes are slow)
FAMILY_LIMITS = Limits(max_states=150_000, max_seconds=20)


def explicit_at(m: Model, n: int, symmetry: bool) -> tuple[dict[str, str], list[Finding]]:
    """Each property's explicit verdict at threads=n ("refused: <why>" when the instance is
    refused), and findings for a counterexample that is no execution of the instance."""
    small = m.rebuild({"threads": n})  # type: ignore[misc]
    props = list(small.properties.values())
    label = f"explicit{'' if symmetry else ' (no symmetry)'} at threads={n}"
    STATS["engine calls"] += 1
    try:
        rs = check_explicit(small, props, FAMILY_LIMITS, symmetry=symmetry)
    except ModelError as e:
        return {p.name: f"refused: {e}" for p in props}, []
    except CRASHES as e:
        return {p.name: "crash" for p in props}, [Finding(label, "*", "crash", f"{type(e).__name__}: {e}")]
    out = []
    if symmetry and any(not str(r.strength.get("symmetry", "not used")).startswith("not used") for r in rs):
        STATS["family instances searched with symmetry"] += 1
    for r in rs:
        p = small.properties[r.property]
        if r.verdict == "holds" and not r.strength.get("complete", True):
            out.append(Finding(label, r.property, "wrong", "holds from a search that stopped early"))
        if r.verdict != "violated":
            continue
        try:
            if r.trace is None:
                raise BadTraceError("no trace")
            check_lasso(small, p, r.trace) if p.is_liveness else check_safety_trace(small, p, r.trace)
        except BadTraceError as e:
            out.append(Finding(label, r.property, "wrong",
                               f"violated with a trace that does not replay: {e}"))
    return {r.property: r.verdict for r in rs}, out


def run_family(src: Source, timeout: float = Z3_TIMEOUT) -> list[Finding]:
    """The parametric engine on a family; each claim for every N is checked explicitly at
    N=2..6, and the explicit engine with symmetry against itself without at N=2..4. A family
    that uses the size outside the language must be "unknown: not parametric"."""
    STATS["families"] += 1
    m, out = build_checked(src)
    if m is None or out:
        return out
    at: dict[tuple[int, bool], dict[str, str]] = {}

    def verdicts(n: int, sym: bool = True) -> dict[str, str]:
        if (n, sym) not in at:
            at[(n, sym)], found = explicit_at(m, n, sym)
            out.extend(found)
        return at[(n, sym)]

    for n in UNREDUCED_SIZES:
        a, b = verdicts(n, True), verdicts(n, False)
        for name in a:
            same = a[name] == b[name] or (a[name].startswith("refused") and b[name].startswith("refused"))
            if not same and "unknown" not in (a[name], b[name]):
                out.append(Finding("explicit symmetry", name, "wrong",
                                   f"at threads={n}: with symmetry {a[name]}, without {b[name]}"))
    props = list(m.properties.values())
    STATS["engine calls"] += 1
    try:
        results = check_parametric(m, props, timeout)
    except ModelError as e:  # right when some instance is refused (a counter leaving its type)
        if any(v.startswith("refused") for n in FAMILY_SIZES for v in verdicts(n).values()):
            STATS["parametric refused"] += 1
            return out
        return [*out, Finding("parametric", "*", "refusal", f"raises ModelError: {e}")]
    except CRASHES as e:
        return [*out, Finding("parametric", "*", "crash", f"{type(e).__name__}: {e}")]
    outside = [x for x in src.notes if x in NOT_PARAMETRIC]
    if outside:
        STATS["families not parametric"] += 1
        for r in results:
            if r.verdict != "unknown" or "not parametric" not in r.reason:
                out.append(Finding("parametric", r.property, "wrong",
                                   f"{r.verdict} ({r.reason}) for a family using the size outside "
                                   f"the language ({', '.join(outside)}): should be unknown, not parametric"))
        return out
    for r in results:
        STATS[f"parametric {r.verdict}"] += 1
        if r.verdict == "unknown":
            continue
        covers = str(r.strength.get("covers", ""))
        if not covers.startswith("every"):
            out.append(Finding("parametric", r.property, "wrong",
                               f"{r.verdict} without a claim for every N: {r.strength}"))
            continue
        if r.verdict == "violated" and r.trace is not None:
            # the trace is the one found at the smallest size, whatever size it generalises from
            base = next((n for n in FAMILY_SIZES if len(m.rebuild({"threads": n}).slots())  # type: ignore[misc]
                         == len(r.trace.initial)), FAMILY_SIZES[0])
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
        for n in FAMILY_SIZES:
            v = verdicts(n)[r.property]
            if v == "unknown" or v == r.verdict:
                continue
            if r.verdict == "violated" and v.startswith("refused"):
                continue  # the violation is a real execution; the instance also leaves a type later
            cat = "refusal" if v.startswith("refused") else "wrong"
            out.append(Finding("parametric", r.property, cat,
                               f"{r.verdict} for {covers}, but explicit at threads={n}: {v}"
                               + (f" ({r.reason})" if r.reason else "")))
            break
    return out


# ============================================================================================
# The fuzz tests
# ============================================================================================

# The engine bugs this fuzzer found are fixed; each has a plain regression test at the end.

SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
# the fast tier does not shrink: a failure is reported as found (the heavy tier shrinks)
FAST_PHASES = [Phase.explicit, Phase.reuse, Phase.generate]


def fast(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=SUPPRESS,
                    phases=FAST_PHASES)


HEAVY_EXAMPLES = int(os.environ.get("OOMCHECK_FUZZ_EXAMPLES", "2000"))
HEAVY = settings(max_examples=HEAVY_EXAMPLES, deadline=None, suppress_health_check=SUPPRESS)


@pytest.fixture(scope="module", autouse=True)
def _stats() -> Iterator[None]:
    """With OOMCHECK_FUZZ_STATS=<file>, append what this run checked (one JSON line)."""
    STATS.clear()
    yield
    path = os.environ.get("OOMCHECK_FUZZ_STATS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"examples": HEAVY_EXAMPLES, **dict(sorted(STATS.items()))}) + "\n")


def no_findings(src: Source, findings: list[Finding]) -> None:
    if findings:
        note(repr(src))
        raise AssertionError("the engines disagree:\n" + "\n".join(f"  {f}" for f in findings)
                             + f"\nmodel:{src!r}")


def check_model(src: Source, known: tuple[Callable[[Finding], bool], ...] = ()) -> None:
    """Every engine agrees with the interpreter; an ill-typed model is refused when it is built
    and never reaches an engine."""
    calls = STATS["engine calls"]
    c = run_engines(src)
    if src.refused_at:
        assert c.status == "refused" or c.findings, c.status
        assert STATS["engine calls"] == calls, "an ill-typed model reached an engine"
    no_findings(src, without_known(c.findings, known))


def check_family(src: Source) -> None:
    no_findings(src, run_family(src))


# Profiles that switch on one risky corner of the language at a time, over the well-typed rest.
ONLY_BIG = replace(CLEAN, big_constants=True)
ONLY_OVERFLOW = replace(CLEAN, overflow=True)
ONLY_WILD = replace(CLEAN, wild_index=True)
ONLY_THREADS = replace(CLEAN, threads=1.0)
NO_ILL = replace(WHOLE, ill_typed=0.0)


# -- fast tier (default run) -------------------------------------------------------------------

@fast(25)
@given(models(CLEAN))
def test_engines_agree_on_well_typed_models(src: Source) -> None:
    check_model(src)


@fast(50)
@given(models(ILL_TYPED))
def test_ill_typed_models_are_refused_when_built(src: Source) -> None:
    check_model(src)


@fast(10)
@given(models(ONLY_BIG))
def test_engines_agree_with_large_constants(src: Source) -> None:
    check_model(src)


@fast(12)
@given(models(ONLY_OVERFLOW))
def test_engines_refuse_the_same_updates_that_leave_their_type(src: Source) -> None:
    check_model(src)


@fast(25)
@given(models(ONLY_THREADS))
def test_explicit_agrees_with_and_without_symmetry(src: Source) -> None:
    c = run_engines(src, engines=("explicit",))
    no_findings(src, c.findings)


@fast(15)
@given(models(ONLY_WILD))
def test_engines_refuse_the_same_out_of_range_indices(src: Source) -> None:
    check_model(src)


@fast(12)
@given(models(WHOLE))
def test_engines_agree_on_the_whole_language(src: Source) -> None:
    check_model(src, known=KNOWN)


@fast(8)
@given(families(SYMMETRIC))
def test_parametric_claims_hold_on_symmetric_families(src: Source) -> None:
    check_family(src)


@fast(8)
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
@HEAVY
@given(models(WHOLE))
def test_heavy_engines_agree_on_the_whole_language(src: Source) -> None:
    check_model(src, known=KNOWN)


@pytest.mark.heavy
@HEAVY
@given(families(SYMMETRIC))
def test_heavy_parametric_on_symmetric_families(src: Source) -> None:
    check_family(src)


@pytest.mark.heavy
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


def refused_when_built(build: Callable[[], object], *fragments: str) -> None:
    """build() is refused with one ModelError line saying ill-typed (and every fragment)."""
    with pytest.raises(ModelError) as err:
        build()
    msg = str(err.value)
    assert "\n" not in msg and "ill-typed" in msg, msg
    for f in fragments:
        assert f in msg, msg


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


def test_the_oracle_refuses_a_planted_ill_typed_expression_before_any_engine() -> None:
    """The construction rule itself: refused at the place planted, nothing reaches an engine;
    and the same model without the planted expression is checked."""
    head = 'm = Model("t")\nm.domain("p", 2)\nx = m.var("x", IntType(0, 3), init=0)\n'
    tail = 'm.invariant("inv", {}, "")\nm.no_deadlock("dl", "")\nm.eventually("ev", x == 3, "")\n' \
           'm.leads_to("lt", x == 0, x == 1, "")\n'
    act = 'm.action("act0", func="f", file="f.c", actor="env", guard=x < 3, updates={{x: {}}})\n'
    bad = Source(head + act.format("x + 1") + tail.format("(x | (x == 0))"),
                 refused_at="invariant inv", corner="int_logic")
    calls = STATS["engine calls"]
    assert run_engines(bad).status == "refused" and STATS["engine calls"] == calls
    check_model(bad)
    good = Source(head + act.format("x + 1") + tail.format("(x == 0) | (x > 0)"))
    assert run_engines(good).status == "checked" and STATS["engine calls"] > calls
    check_model(good)
    elsewhere = Source(head + act.format("x == 1") + tail.format("(x | (x == 0))"),
                       refused_at="invariant inv", corner="int_logic")
    (f,) = run_engines(elsewhere).findings  # refused, but for the update of act0
    assert f.category == "refusal" and "action act0: ill-typed" in f.detail


def test_large_constant_in_an_init_constraint_is_not_an_empty_init() -> None:
    m = Model("big-init")
    x = m.var("x", IntType(0, 1), init=0)
    m.constrain_init(x < 2048)  # true: x is 0
    m.action("set", func="set", file="r.c", actor="env", updates={x: 1})
    m.invariant("inv", x == 1, "x is 1 from the start (it is not)")
    p = _one(m, "inv")
    assert check_explicit(m, [p])[0].verdict == "violated"
    assert bmc_safety(m, p, 5, T).verdict == "violated"
    assert k_induction(m, p, 4, T).verdict != "holds"
    assert check_invariant(m, p, x == 1, T).verdict != "holds"


def test_large_constant_in_an_invariant_is_no_violation() -> None:
    m = Model("big-inv")
    x = m.var("x", IntType(0, 3), init=0)
    m.action("inc", func="inc", file="r.c", actor="env", guard=x < 3, updates={x: x + 1})
    m.invariant("inv", x < 2048, "")
    p = _one(m, "inv")
    assert check_explicit(m, [p])[0].verdict == "holds"
    assert check_chc(m, p, T).verdict == "holds"
    assert bmc_safety(m, p, 5, T).verdict == "holds"
    assert k_induction(m, p, 4, T).verdict == "holds"


def test_large_constant_in_a_guard_keeps_the_lasso_fair() -> None:
    m = Model("big-guard")
    x = m.var("x", IntType(0, 1), init=0)
    m.action("spin", func="spin", file="r.c", actor="env", guard=x <= 600, updates={x: 0})
    m.eventually("ev", x == 1, "")
    p = _one(m, "ev")
    r = bmc_liveness(m, p, 4, T)
    assert r.verdict == "violated" and r.trace is not None
    check_lasso(m, p, r.trace)


def test_a_conjunction_of_numbers_is_refused_when_built() -> None:
    """Was: the explicit engine gave `x & x` the value 2, the interpreter and Z3 gave 1."""
    m = Model("and-value")
    x = m.var("x", IntType(0, 3), init=2)
    y = m.var("y", IntType(0, 3), init=0)
    refused_when_built(lambda: m.action("a", func="a", file="r.c", actor="env", guard=y == 0,
                                        updates={y: x & x}), "action a", "`&` takes booleans")
    refused_when_built(lambda: m.invariant("ne1", (y | 0) != 1, ""), "invariant ne1")
    assert not m.actions and not m.properties


def test_a_count_over_numbers_is_refused_when_built() -> None:
    """Was: Z3 added the values up, the interpreter and the explicit engine counted non-zeros."""
    m = Model("int-count")
    m.domain("p", 2)
    a = m.array("a", "p", IntType(0, 2), init=2)
    refused_when_built(lambda: m.invariant("inv", count("p", lambda i: a[i]) <= 2, ""),
                       "invariant inv", "the body of count must be a boolean")
    refused_when_built(lambda: m.action("a", func="a", file="r.c", actor="env",
                                        updates={a[0]: count("p", lambda i: a[i] + 1)}),
                       "action a", "the body of count must be a boolean")


def test_an_enum_step_out_of_its_members_is_refused_when_built() -> None:
    """Was: bmc_liveness crashed with IndexError on a lasso through `c + 1` past BLUE."""
    m = Model("enum-overflow")
    c = m.var("c", COLOR_T, init=COLOR_T.BLUE)
    refused_when_built(lambda: m.action("next", func="next", file="r.c", actor="env",
                                        guard=c == COLOR_T.BLUE, updates={c: c + 1}),
                       "action next", "`+` takes ints")
    refused_when_built(lambda: m.action("next", func="next", file="r.c", actor="env",
                                        updates={c: ite(c == COLOR_T.BLUE, 3, c)}),
                       "3 is not a member of enum color")


def test_bmc_liveness_does_not_hold_where_a_step_leaves_its_type() -> None:
    m = Model("int-overflow")
    x = m.var("x", IntType(0, 1), init=0)
    m.action("inc", func="inc", file="r.c", actor="env", guard=x <= 1, updates={x: x + 1})
    m.eventually("ev", x == 5, "")
    m.no_deadlock("dl", "")
    p = _one(m, "ev")
    with pytest.raises(ModelError):
        check_explicit(m, [p])
    with pytest.raises(ModelError):  # the safety check refuses it: x becomes 2 at depth 2
        bmc_safety(m, m.properties["dl"], 4, T)
    out = attempt(lambda: bmc_liveness(m, p, 4, T))
    assert out.error or (out.result is not None and out.result.verdict == "unknown"), \
        out.result  # today: holds (bounded to depth 4), from the lassos that stay within the types


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


def test_a_read_that_may_leave_its_range_inside_a_quantifier_is_encoded() -> None:
    """Seen once in the fuzzer (`parameter _p2 is not bound here` from BMC): where `a[x]` may
    read out of range, the Z3 encoder says when it is read, and under `&`, `|`, `implies` and
    `ite` that depends on the first operand; inside a quantifier's body (here in an `each`
    body that also reads the action's parameter, in a guard and in the properties) that operand
    mentions the quantified parameter, and the encoder built it without its binding. Every Z3
    engine refused the model; the interpreter and the explicit engine run it."""
    m = Model("quantified-read")
    m.domain("p", 2)
    m.domain("q", 2)
    m.actor("p", "proc")
    a = m.array("a", "p", IntType(0, 1), init=0)
    b = m.array("b", "q", BOOL, init=False)
    x = m.var("x", IntType(0, 2), init=0)  # a[x] is in range only because x stays 0
    m.action("set", func="set", file="q.c", actor="p", params={"t": "p"},
             guard=lambda t: (a[t] == 0) & forall("q", lambda v: ite(b[v], a[x] <= 1, True)),
             updates=lambda t: {a[t]: 1},
             each=("q", lambda e, t: {b[e]: exists("p", lambda u: (u == t) & (a[x] == 0))}))
    m.invariant("stale", forall("q", lambda v: implies(b[v], a[x] == 0)), "set(0) makes it stale")
    m.invariant("some_set", forall("q", lambda v: ~b[v] | exists("p", lambda u: a[u] == 1)), "")
    m.no_deadlock("dl", "")
    stale, some_set, dl = (_one(m, n) for n in ("stale", "some_set", "dl"))
    ex = {r.property: r for r in check_explicit(m, [stale, some_set, dl])}
    assert [ex[n].verdict for n in ("stale", "some_set", "dl")] == ["violated", "holds", "violated"]
    assert len(ex["stale"].trace.steps) == 1  # type: ignore[union-attr]
    r = bmc_safety(m, stale, 4, T)
    assert r.verdict == "violated" and len(r.trace.steps) == 1  # type: ignore[union-attr]
    assert bmc_safety(m, dl, 4, T).verdict == "violated"
    assert k_induction(m, stale, 4, T).verdict == "violated"
    for engine, out in [("bmc", bmc_safety(m, some_set, 4, T)),
                        ("k-induction", k_induction(m, some_set, 4, T)),
                        ("chc", check_chc(m, some_set, T))]:
        assert out.verdict == "holds", (engine, out.reason)
    assert k_induction(m, some_set, 4, T).strength["kind"] == "proved"


def test_quantifiers_over_domains_whose_names_end_in_a_digit_bind_apart() -> None:
    """A quantifier's parameter was named `_<domain><n>` with n from one counter: over a domain
    d1 at n=M and over d at n=1M (ten or more names later, as in any larger model) both were
    `_d1M`, and the inner one rebound the outer one, in every engine alike."""
    from oomcheck.checker.language import lang
    m = Model("names")
    m.domain("d1", 2)
    m.domain("d", 3)
    m.actor("env", "env")
    x = m.var("x", BOOL, init=0)
    m.action("t", func="t", file="n.c", actor="env", updates={x: ~x})

    def outer(u: Param) -> Expr:
        target = int("1" + u.name[len("_d1"):].lstrip("_"))  # the count the clash needs
        while next(lang._fresh) < target - 1:  # the names other quantifiers take meanwhile
            pass
        return exists("d", lambda w: u == 1)
    one = count("d1", outer)
    assert one.var != one.body.var  # type: ignore[attr-defined]
    m.invariant("one", one == 1, "exactly one element of d1 is 1")
    p = _one(m, "one")
    assert evaluate(m, p.expr, {("x", None): 0}) == 1  # type: ignore[arg-type]
    assert check_explicit(m, [p])[0].verdict == "holds"
    assert bmc_safety(m, p, 3, T).verdict == "holds"


# -- parametric regressions --------------------------------------------------------------------

THR = "thread"


def family_of(build: Callable[[object], Model]) -> Model:
    """The way a catalog variant declares its family: thread count as the parametric size
    (a number, or a Size symbol when the parametric engine builds it)."""
    def make(sizes: dict[str, object]) -> Model:
        n = sizes["threads"]
        m = build(n)
        m.sizes = {"threads": n}  # type: ignore[dict-item]
        m.family = Family("threads", THR, 2, 6)
        m.rebuild = make  # type: ignore[assignment]
        return m
    return make({"threads": 3})


def explicit_at_sizes(m: Model, name: str) -> dict[int, str]:
    return {n: explicit_at(m, n, True)[0][name] for n in FAMILY_SIZES}


def claims_agree(m: Model) -> list[Result]:
    """Every claim for every N matches the explicit engine at N = 2..6."""
    results = check_parametric(m, list(m.properties.values()), T)
    for r in results:
        if r.verdict == "unknown":
            continue
        at = explicit_at_sizes(m, r.property)
        assert all(v == r.verdict for v in at.values()), (r.property, r.verdict, r.strength, at)
    return results


def not_parametric(results: list[Result], why: str) -> None:
    for r in results:
        assert r.verdict == "unknown" and "not parametric" in r.reason and why in r.reason, r.reason


def test_parametric_late_initial_values() -> None:
    def build(n: object) -> Model:
        m = Model("late-init")
        m.domain(THR, n)  # type: ignore[arg-type]
        m.actor(THR, "thread")
        pc = m.array("pc", THR, IntType(0, 1), init=0)
        flag = m.array("flag", THR, BOOL, init=lambda i: 1 if i >= 4 else 0)
        m.action("go", func="go", file="f.c", actor=THR, params={"t": THR},
                 guard=lambda t: pc[t] == 0, updates=lambda t: {pc[t]: 1})
        m.invariant("inv", forall(THR, lambda u: ~flag[u]), "no flag is set (from N=5 one is)")
        return m
    m = family_of(build)
    assert explicit_at_sizes(m, "inv") == {2: "holds", 3: "holds", 4: "holds", 5: "violated", 6: "violated"}
    not_parametric(claims_agree(m), "initial value of flag")


def test_parametric_second_domain_that_grows_with_n() -> None:
    def build(n: object) -> Model:
        m = Model("per-cpu")
        m.domain(THR, n)  # type: ignore[arg-type]
        m.domain("cpu", n)  # type: ignore[arg-type]
        m.actor(THR, "thread")
        pc = m.array("pc", THR, IntType(0, 1), init=0)
        g = m.var("g", BOOL, init=1)
        m.action("go", func="go", file="f.c", actor=THR, params={"t": THR},
                 guard=lambda t: (pc[t] == 0) & (count("cpu", lambda c: g) >= 3),
                 updates=lambda t: {pc[t]: 1})
        m.invariant("inv", forall(THR, lambda u: pc[u] == 0), "nobody moves (from N=3 they do)")
        return m
    m = family_of(build)
    assert explicit_at_sizes(m, "inv")[2] == "holds" and explicit_at_sizes(m, "inv")[3] == "violated"
    not_parametric(claims_agree(m), "domain cpu")


def test_parametric_token_in_a_global_array() -> None:
    def build(n: object) -> Model:
        m = Model("token")
        m.domain(THR, n)  # type: ignore[arg-type]
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
    claims_agree(family_of(build))


def test_parametric_broadcast_over_another_domain_writes_the_actions_thread() -> None:
    """An `each` over a domain other than the threads' whose body writes the locals of the
    action's own thread (its parameter): the counter system dropped that write, so the step
    was a self-loop there, and "no deadlock" was claimed for every N (every instance deadlocks
    once each thread has set its flag)."""
    def build(n: object) -> Model:
        m = Model("each-own-thread")
        m.domain(THR, n)  # type: ignore[arg-type]
        m.domain("cpu", 1)
        m.actor(THR, "thread")
        flag = m.array("flag", THR, BOOL, init=0)
        m.action("set", func="set", file="f.c", actor=THR, params={"t": THR},
                 guard=lambda t: ~flag[t], updates={},
                 each=("cpu", lambda c, t: {flag[t]: ~flag[t]}))
        m.invariant("inv", forall(THR, lambda u: ~flag[u]), "no flag is ever set")
        m.no_deadlock("dl", "")
        return m
    m = family_of(build)
    assert set(explicit_at_sizes(m, "dl").values()) == {"violated"}
    results = {r.property: r for r in claims_agree(m)}
    assert results["inv"].verdict == "violated", results["inv"].reason


def test_parametric_update_the_counters_cannot_read_is_not_parametric() -> None:
    """A thread's index used as a number in an update (here in a broadcast's body) was read
    only when a proof first built the transition relation: check_parametric raised from the
    middle of it instead of answering "not parametric"."""
    def build(n: object) -> Model:
        m = Model("thread-as-number")
        m.domain(THR, n)  # type: ignore[arg-type]
        m.domain("cpu", 1)
        m.actor(THR, "thread")
        flag = m.array("flag", THR, BOOL, init=0)
        last = m.var("last", IntType(0, 9), init=0)
        m.action("set", func="set", file="f.c", actor=THR, params={"t": THR},
                 guard=lambda t: ~flag[t], updates=lambda t: {flag[t]: 1},
                 each=("cpu", lambda c, t: {last: t}))
        m.invariant("inv", last <= 8, "")
        return m
    m = family_of(build)
    assert explicit_at_sizes(m, "inv") == dict.fromkeys(FAMILY_SIZES, "holds")
    not_parametric(claims_agree(m), "used as a number")


def test_parametric_broadcast_over_threads_writing_one_slot_is_not_parametric() -> None:
    """A broadcast over the threads that writes the action's own thread's flag (not the flag
    of the thread it is at) writes one slot once per thread: from two threads on the instance
    is refused. The counter system read it as writing every thread's flag, and with a family
    checked only at its smallest size (one thread) claimed the property for every N."""
    def make(sizes: dict[str, object]) -> Model:
        n = sizes["threads"]
        m = Model("each-one-slot")
        m.domain(THR, n)  # type: ignore[arg-type]
        m.actor(THR, "thread")
        flag = m.array("flag", THR, BOOL, init=0)
        m.action("set", func="set", file="f.c", actor=THR, params={"t": THR},
                 guard=lambda t: ~flag[t], updates={},
                 each=(THR, lambda e, t: {flag[t]: 1}))
        m.invariant("inv", implies(exists(THR, lambda u: flag[u]), forall(THR, lambda u: flag[u])), "")
        m.sizes = {"threads": n}  # type: ignore[dict-item]
        m.family = Family("threads", THR, 1, 1)
        m.rebuild = make  # type: ignore[assignment]
        return m
    m = make({"threads": 1})
    assert explicit_at_sizes(m, "inv")[2].startswith("refused")
    not_parametric(claims_agree(m), "broadcast over the threads")


def test_parametric_counter_typed_too_small() -> None:
    def build(n: object) -> Model:
        m = Model("small-counter")
        m.domain(THR, n)  # type: ignore[arg-type]
        m.actor(THR, "thread")
        done = m.array("done", THR, BOOL, init=0)
        cnt = m.var("cnt", IntType(0, 3), init=0)
        m.action("bump", func="bump", file="f.c", actor=THR, params={"t": THR},
                 guard=lambda t: ~done[t], updates=lambda t: {done[t]: 1, cnt: cnt + 1})
        m.invariant("inv", cnt >= 0, "")
        return m
    m = family_of(build)
    assert explicit_at_sizes(m, "inv")[4].startswith("refused")
    # the step out of its type is found explicitly and reported at that size, as explicit does
    with pytest.raises(ModelError, match="at threads=4: action bump"):
        claims_agree(m)


def test_parametric_count_over_numbers_is_refused_when_built() -> None:
    def build(n: object) -> Model:
        m = Model("int-count")
        m.domain(THR, n)  # type: ignore[arg-type]
        m.actor(THR, "thread")
        pc = m.array("pc", THR, IntType(0, 2), init=0)
        m.invariant("inv", count(THR, lambda u: pc[u]) != 1, "one thread is non-zero")
        return m
    refused_when_built(lambda: family_of(build), "invariant inv", "the body of count must be a boolean")


def test_parametric_python_level_size_is_not_parametric() -> None:
    def build(n: object) -> Model:
        m = Model("python-n")
        m.domain(THR, n)  # type: ignore[arg-type]
        m.actor(THR, "thread")
        m.actor("env", "environment")
        pc = m.array("pc", THR, IntType(0, 1), init=0)
        g = m.var("g", BOOL, init=0)
        m.action("go", func="go", file="f.c", actor=THR, params={"t": THR},
                 guard=lambda t: pc[t] == 0, updates=lambda t: {pc[t]: 1})
        if n > 4:  # type: ignore[operator]  # a different model from N=5 on
            m.action("extra", func="extra", file="f.c", actor="env", guard=~g, updates={g: 1})
        m.invariant("inv", ~g, "")
        return m
    m = family_of(build)
    assert explicit_at_sizes(m, "inv")[5] == "violated"
    not_parametric(claims_agree(m), "Python")


# ============================================================================================
# A survey: run many examples, collect every disagreement instead of stopping at the first
# ============================================================================================

SURVEYS = {"clean": models(CLEAN), "whole": models(WHOLE), "no-ill": models(NO_ILL),
           "ill": models(ILL_TYPED), "big": models(ONLY_BIG), "overflow": models(ONLY_OVERFLOW),
           "wild": models(ONLY_WILD), "threads": models(ONLY_THREADS),
           "symmetric": families(SYMMETRIC), "nasty": families(NASTY)}


def survey(kind: str, n: int, seed: int = 0) -> dict[tuple[str, str, str], list[str]]:
    """kind: one of SURVEYS. Prints and returns signature -> model sources; findings that are
    the symptoms of a known bug (KNOWN) are counted apart."""
    import random
    from collections import defaultdict

    from hypothesis import seed as hseed

    found: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    slowest: list[tuple[float, str]] = []
    STATS.clear()

    @hseed(seed or random.randrange(1 << 30))
    @settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck),
              database=None, phases=FAST_PHASES)
    @given(SURVEYS[kind])
    def run(src: Source) -> None:
        t0 = time.perf_counter()
        if src.kind == "family":
            fs = run_family(src)
        else:
            fs = without_known(run_engines(src).findings, KNOWN)
        slowest.append((time.perf_counter() - t0, repr(src)))
        slowest.sort(key=lambda x: -x[0])
        del slowest[3:]
        for f in fs:  # one signature per kind: action labels and numbers blurred
            detail = re.sub(r"\bf\d+(\([^)]*\))?|-?\d+", "#", f.detail)
            found[(f.engine, f.category, detail[:70])].append(repr(src))

    run()
    print(f"{kind}: {len(found)} kinds of disagreement; {dict(sorted(STATS.items()))}")
    for sig, srcs in sorted(found.items(), key=lambda kv: -len(kv[1])):
        print(f"{len(srcs):4d}  {sig}")
    if os.environ.get("OOMCHECK_FUZZ_SLOWEST"):
        for t, text in slowest:
            print(f"-- {t:.1f} s:{text}")
    return found


if __name__ == "__main__":  # python -m tests.test_differential whole 200
    survey(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0)


def test_an_init_constraint_reading_out_of_range_is_refused_by_every_engine() -> None:
    """Found by the heavy tier: `ab2[x1]` with x1 = -5000 in an init constraint. The explicit
    engine refuses the model when it enumerates the initial states; the Z3 engines proved it."""
    from oomcheck.checker.explicit.search import check_explicit
    from oomcheck.checker.symbolic.bmc import bmc_safety
    from oomcheck.checker.symbolic.chc import check_chc
    from oomcheck.checker.symbolic.induction import k_induction
    m = Model("init-index")
    m.domain("p", 3)
    x1 = m.var("x1", IntType(-5000, 5000), init=-5000)
    ab2 = m.array("ab2", "p", BOOL, init=False)
    m.constrain_init(ab2[x1])
    m.action("act0", func="f0", file="fuzz.c", actor="env", guard=True, updates={x1: x1})
    m.invariant("inv", x1 < 2048, "")
    p = m.properties["inv"]
    for run in (lambda: check_explicit(m, [p]), lambda: bmc_safety(m, p, 2, 10),
                lambda: k_induction(m, p, 2, 10), lambda: check_chc(m, p, 10)):
        with pytest.raises(ModelError, match=r"out of (its )?range"):
            run()
