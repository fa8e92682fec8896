"""Translation of a model to Z3: states as integer vectors, the transition relation, properties.

Every slot is a Z3 Int or a signed bit-vector (booleans as 0/1, enum members as their index).
Ranges are not built into the transition relation: a state out of its type is a model error, so
the engines check `type_ok` as part of every property instead of silently excluding such states.
A bit-vector encoding is as wide as the largest value any expression of the model (or an extra
expression the engine checks, such as a user's invariant) can take, so nothing wraps around.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import z3
from z3.z3 import _to_expr_ref
from z3.z3core import Z3_substitute
from z3.z3types import Ast

from oomcheck.checker.language.bounds import value_bound
from oomcheck.checker.language.compile import Layout, const_value
from oomcheck.checker.language.lang import (
    ActionInstance,
    BoolType,
    Const,
    Expr,
    Index,
    Model,
    ModelError,
    Op,
    Param,
    Quant,
    Var,
)

Vec = list[z3.ArithRef]


def as_bool(x: z3.ExprRef) -> z3.BoolRef:
    return x if z3.is_bool(x) else x != 0  # type: ignore[return-value]


def as_int(x: z3.ExprRef) -> z3.ArithRef:
    """A mathematical-integer value (booleans as 0/1)."""
    return z3.If(x, 1, 0) if z3.is_bool(x) else x  # type: ignore[return-value]


def apply_op(op: str, a: list[z3.ExprRef],
             num: Callable[[z3.ExprRef], z3.ExprRef] = as_int) -> z3.ExprRef:
    """An operator of the modeling language on translated operands; num makes a number of a
    boolean (Int or bit-vector, as the caller's encoding wants)."""
    if op == "+":
        return num(a[0]) + num(a[1])
    if op == "-":
        return num(a[0]) - num(a[1])
    if op in ("==", "!="):
        r = a[0] == a[1] if z3.is_bool(a[0]) and z3.is_bool(a[1]) else num(a[0]) == num(a[1])
        return r if op == "==" else z3.Not(r)
    if op == "<":
        return num(a[0]) < num(a[1])
    if op == "<=":
        return num(a[0]) <= num(a[1])
    if op == "and":
        return z3.And(as_bool(a[0]), as_bool(a[1]))
    if op == "or":
        return z3.Or(as_bool(a[0]), as_bool(a[1]))
    if op == "not":
        return z3.Not(as_bool(a[0]))
    if op == "implies":
        return z3.Implies(as_bool(a[0]), as_bool(a[1]))
    if op == "ite":
        if z3.is_bool(a[1]) and z3.is_bool(a[2]):
            return z3.If(as_bool(a[0]), a[1], a[2])
        return z3.If(as_bool(a[0]), num(a[1]), num(a[2]))
    raise ModelError(f"unknown operator {op}")


def bits_for(model: Model, extra: Iterable[Expr] = ()) -> int:
    """A signed width that holds every value of the model's encoding (with a bit to spare)."""
    return value_bound(model, extra).bit_length() + 2


def _or(*xs: z3.BoolRef | None) -> z3.BoolRef | None:
    ys = [x for x in xs if x is not None]
    return None if not ys else ys[0] if len(ys) == 1 else z3.Or(ys)


class Encoder:
    """bits=None: slots are mathematical integers (for induction and CHC, where unbounded
    arithmetic is the natural theory); bits=W: signed bit-vectors of at least W bits, which Z3
    bit-blasts to SAT (much faster for deep BMC unrollings of these finite models), widened to
    hold every value of the model and of the extra expressions (see value_bound)."""

    def __init__(self, model: Model, bits: int | None = None, extra: Iterable[Expr] = ()):
        self.bits = bits
        self.model = model
        self.layout = Layout(model)
        self.instances: list[ActionInstance] = model.instances()
        self.slots = self.layout.slots
        self.fair_ids = [i.id for i in self.instances if i.action.fair]
        if bits is not None:
            self.bits = max(bits, bits_for(model, extra))
        self._templates: dict[tuple, z3.ExprRef] = {}
        self._roles: dict[tuple, Vec] = {}
        self._arrays: dict[tuple, tuple] = {}
        self._refuse_init_errors()

    def _at(self, key: tuple, build: Callable[..., z3.ExprRef], *vecs: Vec) -> z3.ExprRef:
        """build(*vecs), built once in Python on template states and then instantiated by Z3's
        substitution: an unrolling asks for the same formulas at every depth, and building
        them term by term through the Python API cost more than solving them."""
        roles = []
        for r, v in enumerate(vecs):  # the r-th argument's template: same length and sort
            rk = (r, len(v), *((v[0].sort_kind(), v[0].size() if z3.is_bv(v[0]) else 0) if v else ()))
            if rk not in self._roles:
                self._roles[rk] = [z3.FreshConst(x.sort(), f"template{r}") for x in v]
            roles.append(self._roles[rk])
        tk = (key, *map(id, roles))
        tmpl = self._templates.get(tk)
        if tmpl is None:
            tmpl = self._templates[tk] = build(*roles)
        # z3.substitute rebuilds and re-checks its pairs at each call: the arrays are kept per
        # argument tuple (with the vectors, so their ids stay theirs)
        ak = (*map(id, vecs), *map(id, roles))
        arrays = self._arrays.get(ak)
        if arrays is None:
            frm = [x for role in roles for x in role]
            to = [x for v in vecs for x in v]
            if not all(x.sort().eq(y.sort()) for x, y in zip(frm, to, strict=True)):
                raise ModelError("internal error: a state vector of mixed sorts")
            arrays = self._arrays[ak] = (len(frm), (Ast * len(frm))(*[x.as_ast() for x in frm]),
                                         (Ast * len(to))(*[x.as_ast() for x in to]), vecs)
        n, frm_a, to_a, _ = arrays
        ctx = tmpl.ctx
        return _to_expr_ref(Z3_substitute(ctx.ref(), tmpl.as_ast(), n, frm_a, to_a), ctx)

    def _refuse_init_errors(self) -> None:
        """The explicit engine evaluates the init constraints on every combination of initial
        values, and an index out of range there is the model's error: so it is here too. So is
        a model whose init constraints exclude every initial state: the explicit engine refuses
        it, and on it every safety question of the Z3 engines is vacuously true (CHC and
        k-induction proved false invariants)."""
        if not self.model.init_constraints:
            return  # every slot has at least one initial value (init_choices)
        s = self.state("init-check")
        conj: Expr = Const(1)
        for c in self.model.init_constraints:
            conj = Op("and", (conj, c))
        choices = [z3.Or([s[k] == self.val(v) for v in vs])
                   for k, vs in enumerate(self.model.init_choices())]
        err = self.error(conj, s)
        if err is not None:
            sol = z3.Solver()
            sol.set("timeout", 30_000)
            sol.add(*choices, err)
            if sol.check() != z3.unsat:
                raise ModelError("an init constraint reads an array out of its range (or that "
                                 "cannot be ruled out)")
        sol = z3.Solver()
        sol.set("timeout", 30_000)
        sol.add(*choices, as_bool(self.expr(conj, s)))
        r = sol.check()
        if r == z3.unsat:
            raise ModelError("the model has no initial state (the init constraints exclude all)")
        if r != z3.sat:
            raise ModelError("the model may have no initial state (the solver could not find one "
                             f"that meets the init constraints: {sol.reason_unknown()})")

    def val(self, v: int) -> z3.ExprRef:
        return z3.IntVal(v) if self.bits is None else z3.BitVecVal(v, self.bits)

    def var(self, name: str) -> z3.ExprRef:
        return z3.Int(name) if self.bits is None else z3.BitVec(name, self.bits)

    def as_int(self, x: z3.ExprRef) -> z3.ExprRef:
        return z3.If(x, self.val(1), self.val(0)) if z3.is_bool(x) else x

    # -- state vectors -----------------------------------------------------------------------

    def state(self, tag: str) -> Vec:
        """The slots of one state, as Z3 constants whose names start with the slot's number: a
        constant is its name, and printed names are not unique (a scalar may be called "pc[1]",
        the name of element 1 of array pc; the two were one constant, and a step of thread 1
        became impossible). The number before the first | tells the slots apart; for one slot
        the name after it is fixed, so what follows "name@" tells the states apart; no other
        constant of the encodings starts with a digit."""
        return [self.var(f"{k}|{self.layout.name(k)}@{tag}") for k in range(len(self.slots))]

    def display_names(self) -> list[str]:
        """The slots' printed names, made unique: a name two slots share (a scalar called
        "pc[1]" and element 1 of array pc) gets its slot number after a #."""
        names = [self.layout.name(k) for k in range(len(self.slots))]
        twice = {n for n in names if names.count(n) > 1}
        return [f"{n}#{k}" if n in twice else n for k, n in enumerate(names)]

    def named_state(self) -> Vec:
        """Variables named like the model's own slots, for printing invariants (one constant
        per slot: display_names)."""
        return [self.var(n) for n in self.display_names()]

    def type_ok(self, s: Vec) -> z3.BoolRef:
        cs = []
        for k, (_, _, d) in enumerate(self.slots):
            vals = d.type.values()
            cs.append(z3.And(s[k] >= vals.start, s[k] <= vals.stop - 1))
        return z3.And(cs)

    def init(self, s: Vec) -> z3.BoolRef:
        cs = []
        for k, choices in enumerate(self.model.init_choices()):
            cs.append(z3.Or([s[k] == v for v in choices]))
        cs += [as_bool(self.expr(c, s)) for c in self.model.init_constraints]
        return z3.And(cs)

    def values(self, m: z3.ModelRef, s: Vec) -> list[int]:
        out = [m.eval(x, model_completion=True) for x in s]
        if self.bits is None:
            return [v.as_long() for v in out]  # type: ignore[attr-defined]
        return [v.as_signed_long() for v in out]  # type: ignore[attr-defined]

    def pack(self, vals: Sequence[int]) -> int:
        return self.layout.encode(vals)

    # -- expressions -------------------------------------------------------------------------

    def _slot(self, name: str, i: int | None) -> int:
        return self.layout.slot_of(name, i)

    def expr(self, e: Expr, s: Vec, qenv: dict[str, int] | None = None) -> z3.ExprRef:
        qenv = qenv or {}
        if isinstance(e, Const):
            return self.val(e.value)
        if isinstance(e, Param):
            if e.name not in qenv:
                raise ModelError(f"parameter {e.name} is not bound here")
            return self.val(qenv[e.name])
        if isinstance(e, Var):
            return s[self._slot(e.name, None)]
        if isinstance(e, Index):
            i = const_value(e.index, qenv)
            if i is not None:
                return s[self._slot(e.array, i)]
            idx = self.as_int(self.expr(e.index, s, qenv))
            ks = self.layout.array_slots[e.array]
            out: z3.ExprRef = s[ks[-1]]
            for j in range(len(ks) - 2, -1, -1):
                out = z3.If(idx == j, s[ks[j]], out)
            return out
        if isinstance(e, Op):
            return apply_op(e.op, [self.expr(x, s, qenv) for x in e.args], self.as_int)
        if isinstance(e, Quant):
            n = self.model.domains[e.domain]
            parts = [self.expr(e.body, s, {**qenv, e.var: i}) for i in range(n)]
            if e.kind == "forall":
                return z3.And([as_bool(p) for p in parts])
            if e.kind == "exists":
                return z3.Or([as_bool(p) for p in parts])
            total = self.val(0)
            for p in parts:  # the number of elements where the body is non-zero
                total = total + self.as_int(as_bool(p))
            return total
        raise ModelError(f"not an expression: {e!r}")

    def pred(self, e: Expr, s: Vec, qenv: dict[str, int] | None = None) -> z3.BoolRef:
        """e as a condition in s, with the quantified parameters bound by qenv (an expression
        inside a quantifier's body mentions its parameter)."""
        env = dict(qenv or {})
        return self._at(("pred", e, *sorted(env.items())),
                        lambda x: as_bool(self.expr(e, x, env)), s)  # type: ignore[return-value]

    # -- evaluation errors -------------------------------------------------------------------

    def error(self, e: Expr, s: Vec, qenv: dict[str, int] | None = None) -> z3.BoolRef | None:
        """When evaluating e in s reads an array out of its range, evaluated as the compiled
        code does (`and`, `or`, `implies`, `ite`, `forall`, `exists` skip what they need not
        evaluate); None when it never can."""
        qenv = qenv or {}
        if isinstance(e, Index):
            if const_value(e.index, qenv) is not None:
                return None
            idx = self.as_int(self.expr(e.index, s, qenv))
            n = len(self.layout.array_slots[e.array])
            return _or(self.error(e.index, s, qenv), z3.Or(idx < 0, idx >= n))
        if isinstance(e, Op):
            errs = [self.error(x, s, qenv) for x in e.args]
            if all(x is None for x in errs):
                return None
            if e.op in ("and", "implies", "or"):
                first = self.pred(e.args[0], s, qenv)
                first = first if e.op != "or" else z3.Not(first)
                return _or(errs[0], None if errs[1] is None else z3.And(first, errs[1]))
            if e.op == "ite":
                c = self.pred(e.args[0], s, qenv)
                return _or(errs[0], None if errs[1] is None else z3.And(c, errs[1]),
                           None if errs[2] is None else z3.And(z3.Not(c), errs[2]))
            return _or(*errs)
        if isinstance(e, Quant):
            n = self.model.domains[e.domain]
            envs = [{**qenv, e.var: i} for i in range(n)]
            errs = [self.error(e.body, s, env) for env in envs]
            if all(x is None for x in errs) or e.kind == "count":
                return _or(*errs)
            out: list[z3.BoolRef | None] = []
            before: list[z3.BoolRef] = []  # forall goes on while true, exists while false
            for env, err in zip(envs, errs, strict=True):
                out.append(None if err is None else z3.And(*before, err))
                v = as_bool(self.expr(e.body, s, env))
                before.append(v if e.kind == "forall" else z3.Not(v))
            return _or(*out)
        return None

    def errors(self, s: Vec, props: Sequence[Expr] = (), deadlock: bool = False) -> z3.BoolRef | None:
        """When the explicit engine, expanding s, stops with an index out of range: in a guard,
        in the updates of an enabled step, in a checked property, or in `final` at a deadlock."""
        out: list[z3.BoolRef | None] = []
        for inst in self.instances:
            out.append(self.error(inst.guard, s))
            ups = [self.error(x, s) for lhs, rhs in inst.updates
                   for x in (rhs, *(() if isinstance(lhs, Var) else (lhs,)))]
            up = _or(*ups)
            if up is not None:
                out.append(z3.And(self.guard(inst, s), up))
        out += [self.error(e, s) for e in props]
        if deadlock:
            fin = self.error(self.model.final, s)
            if fin is not None:
                out.append(z3.And(*[z3.Not(self.guard(i, s)) for i in self.instances], fin))
        return _or(*out)

    def ok(self, s: Vec, props: Sequence[Expr] = (), deadlock: bool = False) -> z3.BoolRef:
        """Within the types, and no evaluation error: what every reachable state must be."""
        return self._at(("ok", tuple(props), deadlock),
                        lambda x: self._ok(x, props, deadlock), s)  # type: ignore[return-value]

    def _ok(self, s: Vec, props: Sequence[Expr], deadlock: bool) -> z3.BoolRef:
        err = self.errors(s, props, deadlock)
        return self.type_ok(s) if err is None else z3.And(self.type_ok(s), z3.Not(err))

    # -- transitions -------------------------------------------------------------------------

    def guard(self, inst: ActionInstance, s: Vec) -> z3.BoolRef:
        return self._at(("guard", inst.id), lambda x: as_bool(self.expr(inst.guard, x)), s)  # type: ignore[return-value]

    def step(self, inst: ActionInstance, s: Vec, t: Vec) -> z3.BoolRef:
        """guard(s) and t is s after the simultaneous updates of inst."""
        new: dict[int, z3.ExprRef] = {}
        checks: list[z3.BoolRef] = []
        for lhs, rhs in inst.updates:
            name = lhs.name if isinstance(lhs, Var) else lhs.array
            d = self.model.vars[name]
            v = self.expr(rhs, s)
            v = self.as_int(as_bool(v)) if isinstance(d.type, BoolType) else self.as_int(v)
            i = None if isinstance(lhs, Var) else const_value(lhs.index, {})
            if isinstance(lhs, Var) or i is not None:
                new[self._slot(name, i)] = v
            else:
                idx = self.as_int(self.expr(lhs.index, s))
                ks = self.layout.array_slots[name]
                for j, k in enumerate(ks):
                    new[k] = z3.If(idx == j, v, new.get(k, s[k]))
                checks.append(z3.And(idx >= 0, idx < len(ks)))
        eqs = [t[k] == (new[k] if k in new else s[k]) for k in range(len(s))]
        return z3.And([self.guard(inst, s), *checks, *eqs])

    def trans(self, s: Vec, t: Vec, act: z3.ArithRef | None = None) -> z3.BoolRef:
        if act is None:
            return self._at(("trans",), lambda x, y: z3.Or([self.step(i, x, y) for i in self.instances]),
                            s, t)  # type: ignore[return-value]
        return self._at(("trans", "act"), lambda x, y, a: z3.Or(
            [z3.And(a[0] == i.id, self.step(i, x, y)) for i in self.instances]), s, t, [act])  # type: ignore[return-value]

    def deadlocked(self, s: Vec) -> z3.BoolRef:
        return self._at(("deadlocked",), lambda x: z3.And(
            z3.Not(self.pred(self.model.final, x)), *[z3.Not(self.guard(i, x)) for i in self.instances]),
            s)  # type: ignore[return-value]

    def distinct(self, a: Vec, b: Vec) -> z3.BoolRef:
        return z3.Or([x != y for x, y in zip(a, b, strict=True)])

    def equal(self, a: Vec, b: Vec) -> z3.BoolRef:
        return z3.And([x == y for x, y in zip(a, b, strict=True)])
