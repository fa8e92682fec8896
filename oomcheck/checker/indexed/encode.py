"""A template in Z3 with K and P as symbols: arrays over unbounded indices, quantifiers by polarity.

A state is one Z3 Int per scalar and one Z3 array per array (two-dimensional for the product
domain). Quantifiers over an indexed domain are never handed to Z3 as quantifiers: where a query
asserts a universal (a fact assumed, a `forall` in a guard), it is instantiated at a finite set of
index terms (which only weakens what is assumed); where it asserts an existential (a property
negated), it gets a fresh constant (Skolem). So every query is quantifier-free, and an `unsat` is a
proof for every K and P; a `sat` may be spurious (too few instances), which only costs precision.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import z3

from oomcheck.checker.indexed.template import Aff, NotIndexedError, PageOf, TAction, Template, TVar
from oomcheck.checker.language.lang import BoolType, Const, EnumType, Expr, Index, Op, Param, Quant, Var
from oomcheck.checker.language.typecheck import params_in
from oomcheck.checker.symbolic.encode import apply_op, as_bool, as_int

Term = z3.ArithRef | tuple[z3.ArithRef, z3.ArithRef]

_ids = itertools.count()


@dataclass
class State:
    scal: dict[str, z3.ArithRef]
    arr: dict[str, z3.ExprRef]
    tag: str = ""  # its Z3 constants are named name@tag: one tag, one state


@dataclass
class Terms:
    """Index terms a query instantiates its universals at, per domain; Skolem constants made
    while translating are added to them."""

    by_dom: dict[str, list[Term]] = field(default_factory=dict)

    def add(self, dom: str, t: Term) -> None:
        lst = self.by_dom.setdefault(dom, [])
        if not any(_same(t, u) for u in lst):
            lst.append(t)


def fast_and(xs: Sequence[z3.BoolRef]) -> z3.BoolRef:
    """z3.And without z3py's argument coercion (most of the engine's time went there)."""
    return _nary(z3.z3core.Z3_mk_and, xs, True)


def fast_or(xs: Sequence[z3.BoolRef]) -> z3.BoolRef:
    return _nary(z3.z3core.Z3_mk_or, xs, False)


def fast_implies(a: z3.BoolRef, b: z3.BoolRef) -> z3.BoolRef:
    return z3.BoolRef(z3.z3core.Z3_mk_implies(a.ctx.ref(), a.as_ast(), b.as_ast()), a.ctx)


def fast_check(sol: z3.Solver, lits: Sequence[z3.BoolRef]) -> z3.CheckSatResult:
    """sol.check(*lits) without z3py's cast of each assumption (thousands per Houdini round)."""
    arr = (z3.Ast * len(lits))(*[x.as_ast() for x in lits])
    return z3.CheckSatResult(z3.z3core.Z3_solver_check_assumptions(sol.ctx.ref(), sol.solver,
                                                                  len(lits), arr))


def true_in(m: z3.ModelRef, xs: Sequence[z3.BoolRef]) -> list[bool]:
    """Which of xs model m makes true (completing it): z3py's m.eval and is_true cost a dozen
    wrapper calls each, and Houdini reads thousands of these per round."""
    ctx, mod = m.ctx.ref(), m.model
    out = (z3.Ast * 1)()
    got = []
    for x in xs:
        ok = z3.z3core.Z3_model_eval(ctx, mod, x.as_ast(), True, out)
        got.append(bool(ok) and z3.z3core.Z3_get_bool_value(ctx, out[0]) == z3.Z3_L_TRUE)
    return got


def _nary(mk, xs: Sequence[z3.BoolRef], unit: bool) -> z3.BoolRef:
    if not xs:
        return z3.BoolVal(unit)
    if len(xs) == 1:
        return xs[0]
    ctx = xs[0].ctx
    arr = (z3.Ast * len(xs))(*[x.as_ast() for x in xs])
    return z3.BoolRef(mk(ctx.ref(), len(xs), arr), ctx)


def _same(a: Term, b: Term) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return all(x.eq(y) for x, y in zip(a, b, strict=True))
    if isinstance(a, tuple) or isinstance(b, tuple):
        return False
    return a.eq(b)


class Encoder:
    def __init__(self, t: Template):
        self.t = t
        fam = t.family
        self.K = z3.Int(fam.k_size)
        self.P = z3.Int(fam.p_size)
        self.kd, self.pd = fam.k_dom, fam.p_dom
        self.prod = fam.product[0] if fam.product else None
        self._ranges: dict[tuple, z3.BoolRef] = {}
        for name, v in t.vars.items():
            if v.domain is not None and not isinstance(t.domains[v.domain], (str, int)):
                raise NotIndexedError(f"array {name} over an unknown domain")

    # -- sizes, states, ranges ----------------------------------------------------------------

    def sizes_ok(self) -> z3.BoolRef:
        lo = self.t.lo
        return z3.And(self.K >= lo[self.t.family.k_size], self.P >= lo[self.t.family.p_size])

    def size_of(self, dom: str) -> z3.ArithRef:
        d = self.t.domains[dom]
        if d == "K":
            return self.K
        if d == "P":
            return self.P
        if isinstance(d, int):
            return z3.IntVal(d)
        raise NotIndexedError(f"domain {dom} has no single size")

    def state(self, tag: str) -> State:
        scal, arr = {}, {}
        for name, v in self.t.vars.items():
            if v.domain is None:
                scal[name] = z3.Int(f"{name}@{tag}")
            elif v.domain == self.prod:
                arr[name] = z3.Array(f"{name}@{tag}", z3.IntSort(), z3.IntSort(), z3.IntSort())
            else:
                arr[name] = z3.Array(f"{name}@{tag}", z3.IntSort(), z3.IntSort())
        return State(scal, arr, tag)

    def in_range(self, dom: str, t: Term) -> z3.BoolRef:
        k = (dom, tuple(x.get_id() for x in t) if isinstance(t, tuple) else t.get_id())
        got = self._ranges.get(k)
        if got is None:
            got = self._ranges[k] = self._in_range(dom, t)
        return got

    def _in_range(self, dom: str, t: Term) -> z3.BoolRef:
        if dom == self.prod:
            v, p = t  # type: ignore[misc]
            return z3.And(v >= 0, v < self.K, p >= 0, p < self.P)
        return z3.And(t >= 0, t < self.size_of(dom))  # type: ignore[operator]

    def fresh(self, dom: str, name: str) -> Term:
        n = next(_ids)
        if dom == self.prod:
            return (z3.Int(f"{name}_v{n}"), z3.Int(f"{name}_p{n}"))
        return z3.Int(f"{name}{n}")

    def bounds(self, v: TVar) -> tuple[z3.ArithRef, z3.ArithRef]:
        if v.is_int:
            return self.num(v.type[1]), self.num(v.type[2])  # type: ignore[index]
        if isinstance(v.type, BoolType):
            return z3.IntVal(0), z3.IntVal(1)
        assert isinstance(v.type, EnumType)
        return z3.IntVal(0), z3.IntVal(len(v.type.members) - 1)

    def num(self, e: Expr) -> z3.ArithRef:
        if isinstance(e, Aff):
            return e.a * self.K + e.b * self.P + e.d
        if isinstance(e, Const):
            return z3.IntVal(e.value)
        raise NotIndexedError(f"not a size constant: {e!r}")

    def select(self, s: State, name: str, idx: Term) -> z3.ArithRef:
        if isinstance(idx, tuple):
            return z3.Select(s.arr[name], *idx)  # type: ignore[return-value]
        return z3.Select(s.arr[name], idx)  # type: ignore[return-value]

    def types_ok(self, s: State, terms: Terms) -> z3.BoolRef:
        """Every scalar within its type, and every array element at the index terms."""
        out = []
        for name, v in self.t.vars.items():
            lo, hi = self.bounds(v)
            if v.domain is None:
                out.append(z3.And(lo <= s.scal[name], s.scal[name] <= hi))
                continue
            for t in self.terms_of(v.domain, terms):
                x = self.select(s, name, t)
                out.append(z3.Implies(self.in_range(v.domain, t), z3.And(lo <= x, x <= hi)))
        return z3.And(out)

    def types_bad(self, s: State, w: dict[str, Term]) -> z3.BoolRef:
        """Some scalar, or an array element at the Skolem index w, is out of its type."""
        out = []
        for name, v in self.t.vars.items():
            lo, hi = self.bounds(v)
            if v.domain is None:
                x = s.scal[name]
                out.append(z3.Or(x < lo, x > hi))
            else:
                x = self.select(s, name, w[v.domain])
                out.append(z3.Or(x < lo, x > hi))
        return z3.Or(out)

    def terms_of(self, dom: str, terms: Terms) -> list[Term]:
        if dom in terms.by_dom:
            return terms.by_dom[dom]
        d = self.t.domains[dom]
        if isinstance(d, int):
            return [z3.IntVal(i) for i in range(d)]
        return []

    # -- expressions ---------------------------------------------------------------------------

    def expr(self, e: Expr, s: State, env: dict[str, Term], pol: int, terms: Terms,
             fresh: list[z3.BoolRef]) -> z3.ExprRef:
        """e in state s. pol is +1 where the query asserts e, -1 where it asserts its negation,
        0 where both (no quantifier over an indexed domain may occur there). Skolem constants'
        range conditions are appended to fresh (to be asserted)."""
        if isinstance(e, Aff) or isinstance(e, Const):
            return self.num(e)
        if isinstance(e, Var):
            return s.scal[e.name]
        if isinstance(e, Param):
            t = env[e.name]
            if isinstance(t, tuple):
                raise NotIndexedError("an element of the product domain used as a number")
            return t
        if isinstance(e, Index):
            d = self.t.vars[e.array].domain
            if d == self.prod:
                if isinstance(e.index, PageOf):
                    idx: Term = (as_int(self.expr(e.index.outer, s, env, 0, terms, fresh)),
                                 as_int(self.expr(e.index.inner, s, env, 0, terms, fresh)))
                elif isinstance(e.index, Param):
                    idx = env[e.index.name]
                else:
                    raise NotIndexedError("an index into the product domain is not page(v, p)")
            else:
                idx = as_int(self.expr(e.index, s, env, 0, terms, fresh))
            return self.select(s, e.array, idx)
        if isinstance(e, Op):
            if e.op == "not":
                args = [self.expr(e.args[0], s, env, -pol, terms, fresh)]
            elif e.op in ("and", "or"):
                args = [self.expr(a, s, env, pol, terms, fresh) for a in e.args]
            elif e.op == "implies":
                args = [self.expr(e.args[0], s, env, -pol, terms, fresh),
                        self.expr(e.args[1], s, env, pol, terms, fresh)]
            elif e.op == "ite":
                args = [self.expr(e.args[0], s, env, 0, terms, fresh),
                        self.expr(e.args[1], s, env, pol, terms, fresh),
                        self.expr(e.args[2], s, env, pol, terms, fresh)]
            else:
                args = [self.expr(a, s, env, 0, terms, fresh) for a in e.args]
            return apply_op(e.op, args)
        if isinstance(e, Quant):
            return self._quant(e, s, env, pol, terms, fresh)
        raise NotIndexedError(f"cannot translate {e!r}")

    def _quant(self, e: Quant, s: State, env: dict[str, Term], pol: int, terms: Terms,
               fresh: list[z3.BoolRef]) -> z3.ExprRef:
        d = self.t.domains[e.domain]
        if isinstance(d, int):  # a fixed domain: written out
            parts = [as_bool(self.expr(e.body, s, {**env, e.var: z3.IntVal(i)}, pol, terms, fresh))
                     for i in range(d)]
            if e.kind == "count":
                return z3.Sum([z3.If(p, 1, 0) for p in parts]) if parts else z3.IntVal(0)
            return z3.And(parts) if e.kind == "forall" else z3.Or(parts)
        if e.kind == "count" or pol == 0:
            raise NotIndexedError("a count, or a quantifier in a condition, over an indexed domain")
        universal = (e.kind == "forall") == (pol > 0)
        if universal:
            out = []
            for t in list(self.terms_of(e.domain, terms)):
                body = as_bool(self.expr(e.body, s, {**env, e.var: t}, pol, terms, fresh))
                rng = self.in_range(e.domain, t)
                out.append(z3.Implies(rng, body) if e.kind == "forall" else z3.And(rng, body))
            if e.kind == "forall":
                return z3.And(out) if out else z3.BoolVal(True)
            return z3.Or(out) if out else z3.BoolVal(False)
        w = self.fresh(e.domain, f"sk_{e.var}_")
        terms.add(e.domain, w)
        body = as_bool(self.expr(e.body, s, {**env, e.var: w}, pol, terms, fresh))
        rng = self.in_range(e.domain, w)
        return z3.Implies(rng, body) if e.kind == "forall" else z3.And(rng, body)

    def pred(self, e: Expr, s: State, pol: int, terms: Terms, fresh: list[z3.BoolRef],
             env: dict[str, Term] | None = None) -> z3.BoolRef:
        return as_bool(self.expr(e, s, env or {}, pol, terms, fresh))

    # -- initial states and steps ----------------------------------------------------------------

    def init(self, s: State, terms: Terms, fresh: list[z3.BoolRef]) -> z3.BoolRef:
        """s is an initial state, as far as the index terms see (arrays at the terms)."""
        out = []
        for name, v in self.t.vars.items():
            vals = [self.num(x) for x in v.init]
            if v.domain is None:
                out.append(z3.Or([s.scal[name] == x for x in vals]))
                continue
            for t in self.terms_of(v.domain, terms):
                x = self.select(s, name, t)
                out.append(z3.Implies(self.in_range(v.domain, t), z3.Or([x == y for y in vals])))
        out += [self.pred(c, s, 1, terms, fresh) for c in self.t.init_constraints]
        return z3.And(out)

    def params(self, a: TAction) -> dict[str, Term]:
        return {p.name: self.fresh(p.domain, f"{a.name}_{p.name}_") for p in a.params}

    def step(self, a: TAction, s: State, t: State, env: dict[str, Term], terms: Terms,
             fresh: list[z3.BoolRef]) -> z3.BoolRef:
        """Action a with its parameters bound by env: guard in s, t = s updated (simultaneous)."""
        out = [self.in_range(p.domain, env[p.name]) for p in a.params]
        out.append(self.pred(a.guard, s, 1, terms, fresh, env))
        conds, new = self.apply(a, s, env, terms, fresh)
        out += conds
        for name in self.t.vars:
            if name in t.scal:
                out.append(t.scal[name] == new.scal[name])
            else:
                out.append(t.arr[name] == new.arr[name])
        return z3.And(out)

    def apply(self, a: TAction, s: State, env: dict[str, Term], terms: Terms,
              fresh: list[z3.BoolRef]) -> tuple[list[z3.BoolRef], State]:
        """The state after a's updates (without its guard), as terms over s, and the conditions
        that every index it writes at is in range. Unchanged variables keep s's terms."""
        out: list[z3.BoolRef] = []
        new_scal: dict[str, z3.ArithRef] = {}
        new_arr: dict[str, z3.ExprRef] = {}
        for lhs, rhs in a.updates:
            name = lhs.name if isinstance(lhs, Var) else lhs.array
            val = self._value(name, self.expr(rhs, s, env, 0, terms, fresh))
            if isinstance(lhs, Var):
                if name in new_scal:
                    raise NotIndexedError(f"action {a.name} assigns {name} twice")
                new_scal[name] = val
                continue
            if name in new_arr:
                raise NotIndexedError(f"action {a.name} assigns {name} twice (may alias)")
            d = self.t.vars[name].domain
            if d == self.prod:
                ix = lhs.index
                if isinstance(ix, PageOf):
                    i = (as_int(self.expr(ix.outer, s, env, 0, terms, fresh)),
                         as_int(self.expr(ix.inner, s, env, 0, terms, fresh)))
                elif isinstance(ix, Param):
                    i = env[ix.name]  # type: ignore[assignment]
                else:
                    raise NotIndexedError("an index into the product domain is not page(v, p)")
                out.append(self.in_range(d, i))
                new_arr[name] = z3.Store(s.arr[name], *i, val)
            else:
                i1 = as_int(self.expr(lhs.index, s, env, 0, terms, fresh))
                out.append(self.in_range(d, i1))  # type: ignore[arg-type]
                new_arr[name] = z3.Store(s.arr[name], i1, val)
        for q, body in a.each:
            qv = self.fresh(q.domain, "each_")
            qs = list(qv) if isinstance(qv, tuple) else [qv]
            for lhs, rhs in body:
                if isinstance(lhs, Var):  # one scalar, written once per element
                    if self.t.domains[q.domain] != 1 or lhs.name in new_scal:
                        raise NotIndexedError(f"action {a.name}: a broadcast over {q.domain} "
                                              f"assigns {lhs.name} once per element")
                    new_scal[lhs.name] = self._value(lhs.name, self.expr(
                        rhs, s, {**env, q.name: z3.IntVal(0)}, 0, terms, fresh))
                    continue
                name = lhs.array
                if name in new_arr:
                    raise NotIndexedError(f"action {a.name} assigns {name} twice")
                d = self.t.vars[name].domain
                ix = lhs.index
                val = self._value(name, self.expr(rhs, s, {**env, q.name: qv}, 0, terms, fresh))
                if isinstance(ix, Param) and ix.name == q.name and d == q.domain:
                    new_arr[name] = z3.Lambda(qs, val)  # every element
                elif d == self.prod and q.domain == self.t.family.p_dom and isinstance(ix, PageOf) \
                        and isinstance(ix.inner, Param) and ix.inner.name == q.name \
                        and all(x.name != q.name for x in params_in(ix.outer)):
                    # the pages of one VMA: page(v, q) for every entry q
                    v = as_int(self.expr(ix.outer, s, env, 0, terms, fresh))
                    x = self.fresh(self.t.family.k_dom, "each_")
                    assert not isinstance(x, tuple) and not isinstance(qv, tuple)
                    out.append(self.in_range(self.t.family.k_dom, v))
                    new_arr[name] = z3.Lambda([x, qv], z3.If(x == v, val, z3.Select(s.arr[name], x, qv)))
                else:
                    raise NotIndexedError(f"action {a.name}: a broadcast writes {name} at an index "
                                          "other than its element")
        return out, State({n: new_scal.get(n, x) for n, x in s.scal.items()},
                          {n: new_arr.get(n, x) for n, x in s.arr.items()}, f"{s.tag}+{a.name}")

    def _value(self, name: str, v: z3.ExprRef) -> z3.ArithRef:
        return as_int(as_bool(v)) if isinstance(self.t.vars[name].type, BoolType) else as_int(v)

    def post(self, a: TAction, s: State, env: dict[str, Term], terms: Terms,
             fresh: list[z3.BoolRef]) -> tuple[z3.BoolRef, State]:
        """The guard and the state after a, as expressions over s (no new array constants)."""
        t = self.state(f"post{next(_ids)}")
        f = self.step(a, s, t, env, terms, fresh)
        return f, t

    def enabled_somewhere(self, s: State, terms: Terms, fresh: list[z3.BoolRef]) -> z3.BoolRef:
        """Some action is enabled with its parameters among the index terms (an under-
        approximation of 'some action is enabled')."""
        out = []
        for a in self.t.actions:
            doms = [self.terms_of(p.domain, terms) for p in a.params]
            for combo in itertools.product(*doms):
                env = {p.name: c for p, c in zip(a.params, combo, strict=True)}
                rng = [self.in_range(p.domain, env[p.name]) for p in a.params]
                out.append(z3.And(*rng, self.pred(a.guard, s, -1, terms, fresh, env)))
        return z3.Or(out) if out else z3.BoolVal(False)


def pairs(vs: Sequence[z3.ArithRef], ps: Sequence[z3.ArithRef]) -> list[Term]:
    return [(v, p) for v in vs for p in ps]
