"""The counter abstraction: a symmetric model read with its thread count as a symbol.

Threads whose index the model never names are interchangeable, so a state of N threads is, up to
a permutation of those threads, the locals of the named ("distinguished") threads, the globals,
and how many of the other threads are in each local state. The counter system over that state is
exact: each of its steps is a step of the N-thread model and back, for every N at once (N is a Z3
integer). Integer variables are mathematical integers constrained by their declared bounds (which
may depend on N): a step that can leave them is reported, never silently dropped.

The model is built once with the thread count as a symbol (`lang.Size`), so its definition is the
same at every size by construction: Python code cannot branch on the symbol, and every other use
of it is an expression read here. What the counter system still requires (`from_symbolic`
checks): only the thread domain grows with N, arrays over it are indexed by a thread parameter or
by a distinguished constant, a thread parameter is only compared for equality with a constant,
and a thread's locals have finite types.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

import z3

from oomcheck.checker.language.lang import (
    Action,
    BoolType,
    Const,
    Expr,
    Index,
    IntType,
    Model,
    ModelError,
    Op,
    Param,
    Quant,
    Size,
    SymbolicBuild,
    Var,
    symbolic_build,
)
from oomcheck.checker.language.typecheck import show
from oomcheck.checker.symbolic.encode import apply_op, as_bool, as_int

Local = tuple[int, ...]
Key = tuple[str, int | None]


class NotSymmetricError(ModelError):
    """The model cannot be read with its thread count as a symbol."""


@dataclass(frozen=True)
class Thread:
    """What a thread parameter is bound to: a distinguished index, or one of the other threads,
    known only by its local state (neither: any other thread, before it has a state)."""

    dist: int | None = None
    local: Local | None = None


@dataclass
class CState:
    """A counter-system state as Z3 terms: globals, distinguished threads' locals, counts."""

    g: dict[Key, z3.ArithRef]
    d: dict[Key, z3.ArithRef]
    c: dict[Local, z3.ArithRef]

    def items(self) -> Iterable[tuple[tuple, z3.ArithRef]]:
        yield from ((("g", *k), v) for k, v in self.g.items())
        yield from ((("d", *k), v) for k, v in self.d.items())
        yield from ((("c", k), v) for k, v in self.c.items())


@dataclass
class Move:
    id: int
    action: Action
    binding: dict[str, object]  # param name -> Thread or int
    thread: Thread | None  # the thread the action's thread parameter names, if any

    @property
    def fair(self) -> bool:
        return self.action.fair


@dataclass
class CounterSystem:
    model: Model  # one instance of the family (the smallest)
    domain: str
    size: str
    lo: int  # the smallest size the proof covers
    dist: tuple[int, ...]
    locals: list[str]
    local_states: list[Local]
    moves: list[Move] = field(default_factory=list)
    N: z3.ArithRef = field(default_factory=lambda: z3.Int("N"))
    # initial values of each global and distinguished slot, and the local states the other
    # threads may start in
    init_vals: dict[Key, list[z3.ArithRef]] = field(default_factory=dict)
    init_locals: set[Local] = field(default_factory=set)
    # trans() by its states' variables: Houdini, the type check and a leads-to proof all ask
    # for the step between fresh("s") and fresh("t"), the same terms each time
    _trans: dict[tuple, z3.BoolRef] = field(default_factory=dict, repr=False)

    # -- states ------------------------------------------------------------------------------

    def fresh(self, tag: str) -> CState:
        m = self.model
        g: dict[Key, z3.ArithRef] = {}
        d: dict[Key, z3.ArithRef] = {}
        for i in self.dist:  # thread-major: each distinguished thread's locals together
            for name in self.locals:
                d[(name, i)] = z3.Int(f"{name}[{i}]@{tag}")
        for name, decl in m.vars.items():
            if decl.domain == self.domain:
                continue
            if decl.domain is None:
                g[(name, None)] = z3.Int(f"{name}@{tag}")
            else:
                for i in range(m.domains[decl.domain]):
                    g[(name, i)] = z3.Int(f"{name}[{i}]@{tag}")
        c = {loc: z3.Int(f"#{self.show_local(loc)}@{tag}") for loc in self.local_states}
        return CState(g, d, c)

    def show_local(self, loc: Local) -> str:
        return "(" + ",".join(f"{n}={self.model.vars[n].type.show(v)}"
                              for n, v in zip(self.locals, loc, strict=True)) + ")"

    def counts_ok(self, s: CState) -> z3.BoolRef:
        """N is in range; the counts are non-negative and add up to the other threads."""
        cs = [self.N >= self.lo, z3.Sum(list(s.c.values())) == self.N - len(self.dist)]
        return z3.And(cs + [x >= 0 for x in s.c.values()])

    def type_ok(self, s: CState) -> z3.BoolRef:
        """Every global and distinguished slot within its declared type (bounds may use N)."""
        cs = []
        for (name, _), x in [*s.g.items(), *s.d.items()]:
            lo, hi = self.bounds(name)
            cs.append(z3.And(x >= lo, x <= hi))
        return z3.And(cs)

    def bounds(self, name: str) -> tuple[z3.ArithRef, z3.ArithRef]:
        t = self.model.vars[name].type
        if isinstance(t, IntType):
            return self.size_term(t.lo), self.size_term(t.hi)
        vals = t.values()
        return z3.IntVal(vals.start), z3.IntVal(vals.stop - 1)

    def size_term(self, e: int | Expr) -> z3.ArithRef:
        return z3.IntVal(e) if isinstance(e, int) else as_int(self.eval(e, None, {}))  # type: ignore[arg-type]

    def well_formed(self, s: CState) -> z3.BoolRef:
        return z3.And(self.counts_ok(s), self.type_ok(s))

    def init(self, s: CState) -> z3.BoolRef:
        """The initial states. Types are not assumed here: from_symbolic proves that every
        initial state is within them."""
        cs = [self.counts_ok(s)]
        for key, x in [*s.g.items(), *s.d.items()]:
            cs.append(z3.Or([x == v for v in self.init_vals[key]]))
        cs += [s.c[loc] == 0 for loc in self.local_states if loc not in self.init_locals]
        cs += [as_bool(self.eval(c, s, {})) for c in self.model.init_constraints]
        return z3.And(cs)

    # -- expressions -------------------------------------------------------------------------

    def eval(self, e: Expr, s: CState, env: dict[str, object]) -> z3.ExprRef:
        if isinstance(e, Const):
            return z3.IntVal(e.value)
        if isinstance(e, Size):
            if e.name != self.size:
                raise NotSymmetricError(f"size {e.name} is a symbol, but only {self.size} may be")
            return self.N
        if isinstance(e, Var):
            return s.g[(e.name, None)]
        if isinstance(e, Param):
            v = env.get(e.name)
            if isinstance(v, int):
                return z3.IntVal(v)
            raise NotSymmetricError(f"thread parameter {e.name} used as a number (only == and != "
                                "against a constant keep threads interchangeable)")
        if isinstance(e, Index):
            return self._read(e, s, env)
        if isinstance(e, Op):
            if e.op in ("==", "!=") and any(self._is_thread(a) for a in e.args):
                r = self._thread_eq(e.args[0], e.args[1], env)
                return r if e.op == "==" else z3.Not(r)
            a = [self.eval(x, s, env) for x in e.args]
            return apply_op(e.op, a)
        if isinstance(e, Quant):
            return self._quant(e, s, env)
        raise ModelError(f"not an expression: {e!r}")

    def _is_thread(self, e: Expr) -> bool:
        return isinstance(e, Param) and e.domain == self.domain

    def _thread_eq(self, a: Expr, b: Expr, env: dict[str, object]) -> z3.BoolRef:
        if self._is_thread(b):
            a, b = b, a
        if self._is_thread(b):
            if a.name == b.name:  # type: ignore[attr-defined]
                return z3.BoolVal(True)
            raise NotSymmetricError("two thread parameters compared: the counter abstraction "
                                "cannot tell whether they name the same thread")
        if not isinstance(b, Const) or b.value not in self.dist:
            raise NotSymmetricError(f"a thread parameter compared with {b!r}, which is not a "
                                "distinguished thread index")
        t = env[a.name]  # type: ignore[attr-defined]
        assert isinstance(t, Thread)
        return z3.BoolVal(t.dist == b.value)

    def _thread_of(self, idx: Expr, env: dict[str, object]) -> Thread:
        if isinstance(idx, Const):
            if idx.value not in self.dist:
                raise NotSymmetricError(f"thread index {idx.value} named in the model is not "
                                    "distinguished")
            return Thread(dist=idx.value)
        if self._is_thread(idx):
            t = env[idx.name]  # type: ignore[attr-defined]
            assert isinstance(t, Thread)
            return t
        raise NotSymmetricError(f"a thread array indexed by {idx!r}: only a thread parameter or a "
                            "constant keeps threads interchangeable")

    def _read(self, e: Index, s: CState, env: dict[str, object]) -> z3.ExprRef:
        decl = self.model.vars[e.array]
        if decl.domain != self.domain:
            i = self.eval(e.index, s, env)
            i = z3.simplify(i)
            if not z3.is_int_value(i):
                raise NotSymmetricError(f"{e.array} indexed by a non-constant expression")
            return s.g[(e.array, i.as_long())]  # type: ignore[attr-defined]
        t = self._thread_of(e.index, env)
        if t.dist is not None:
            return s.d[(e.array, t.dist)]
        if t.local is None:
            raise NotSymmetricError(f"{e.array} read where a thread has no state yet")
        return z3.IntVal(t.local[self.locals.index(e.array)])

    def _quant(self, e: Quant, s: CState, env: dict[str, object]) -> z3.ExprRef:
        if e.domain != self.domain:
            parts = [self.eval(e.body, s, {**env, e.var: i})
                     for i in range(self.model.domains[e.domain])]
            weights: list[z3.ArithRef | None] = [None] * len(parts)
        else:
            parts, weights = [], []
            for i in self.dist:
                parts.append(self.eval(e.body, s, {**env, e.var: Thread(dist=i)}))
                weights.append(None)
            for loc in self.local_states:
                parts.append(self.eval(e.body, s, {**env, e.var: Thread(local=loc)}))
                weights.append(s.c[loc])
        if e.kind == "count":
            terms = [z3.If(as_bool(p), 1, 0) if w is None else z3.If(as_bool(p), w, 0)
                     for p, w in zip(parts, weights, strict=True)]
            return z3.Sum(terms) if terms else z3.IntVal(0)
        if e.kind == "forall":
            return z3.And([as_bool(p) if w is None else z3.Or(w == 0, as_bool(p))
                           for p, w in zip(parts, weights, strict=True)])
        return z3.Or([as_bool(p) if w is None else z3.And(w > 0, as_bool(p))
                      for p, w in zip(parts, weights, strict=True)])

    def pred(self, e: Expr, s: CState) -> z3.BoolRef:
        return as_bool(self.eval(e, s, {}))

    # -- moves ---------------------------------------------------------------------------------

    def guard(self, mv: Move, s: CState) -> z3.BoolRef:
        g = as_bool(self.eval(mv.action.guard, s, mv.binding))
        if mv.thread is not None and mv.thread.local is not None:
            g = z3.And(s.c[mv.thread.local] >= 1, g)
        return g

    def apply(self, mv: Move, s: CState, k: z3.ArithRef | int = 1) -> CState:
        """The state after the move; k > 1 moves k threads in the same local state at once
        (only sound when the caller has checked the move touches nothing else)."""
        a, env = mv.action, mv.binding
        g, d, c = dict(s.g), dict(s.d), dict(s.c)
        mover: dict[str, z3.ExprRef] = {}
        seen: set[object] = set()  # the slots written so far: one step writes each at most once
        for lhs, rhs in a.updates:
            v = self._coerce(lhs, self.eval(rhs, s, env))
            self._write(lhs, v, s, env, g, d, mover, seen)
        # a broadcast over another domain is a list of updates like the action's own: it may
        # write the action's thread's locals too
        for q, ups in a.each:
            if q.domain != self.domain:
                for i in range(self.model.domains[q.domain]):
                    for lhs, rhs in ups:
                        v = self._coerce(lhs, self.eval(rhs, s, {**env, q.name: i}))
                        self._write(lhs, v, s, {**env, q.name: i}, g, d, mover, seen)
        for q, ups in a.each:
            if q.domain == self.domain:
                if mover:
                    raise NotSymmetricError(f"action {a.name} updates its thread and every thread at once")
                for i in self.dist:
                    benv = {**env, q.name: Thread(dist=i)}
                    for lhs, rhs in ups:
                        self._write(lhs, self._coerce(lhs, self.eval(rhs, s, benv)), s, benv, g, d, {},
                                    seen, element=q.name)
                moved: dict[Local, list[z3.ArithRef]] = {x: [] for x in self.local_states}
                for loc in self.local_states:
                    benv = {**env, q.name: Thread(local=loc)}
                    new: dict[str, z3.ExprRef] = {}
                    mine = set(seen)  # each thread's own locals: its writes are its own
                    for lhs, rhs in ups:
                        self._write(lhs, self._coerce(lhs, self.eval(rhs, s, benv)), s, benv,
                                    g, d, new, mine, element=q.name)
                    for x, cond in self._targets(loc, new):
                        moved[x].append(s.c[loc] if z3.is_true(cond) else z3.If(cond, s.c[loc], 0))
                c = {x: z3.Sum(v) if v else z3.IntVal(0) for x, v in moved.items()}
        if mover:
            assert mv.thread is not None and mv.thread.local is not None
            src = mv.thread.local
            c[src] = c[src] - k
            for x, cond in self._targets(src, mover):
                c[x] = c[x] + (k if z3.is_true(cond) else z3.If(cond, k, 0))
        return CState(g, d, c)

    def _coerce(self, lhs: Var | Index, v: z3.ExprRef) -> z3.ExprRef:
        name = lhs.name if isinstance(lhs, Var) else lhs.array
        if isinstance(self.model.vars[name].type, BoolType):
            return z3.If(as_bool(v), 1, 0)
        return as_int(v)

    def _write(self, lhs: Var | Index, v: z3.ExprRef, s: CState, env: dict[str, object],
               g: dict, d: dict, mover: dict, seen: set[object], element: str | None = None) -> None:
        """Record lhs := v; element: the parameter of a broadcast over the threads, which may
        write only that thread's own locals (anything else is one slot written once per thread).
        seen: the slots this step has written, so a second write is refused here too and never
        silently replaces the first (Model.instances refuses it at every concrete size)."""
        if element is not None and not (isinstance(lhs, Index) and isinstance(lhs.index, Param)
                                        and lhs.index.name == element):
            raise NotSymmetricError(f"a broadcast over the threads assigns {show(lhs)} once per thread: "
                                    "it may assign only the locals of the thread it is at")
        def once(key: object) -> None:
            if key in seen:
                raise NotSymmetricError(f"{show(lhs)} assigned twice in one step")
            seen.add(key)

        if isinstance(lhs, Var):
            once(("global", lhs.name, None))
            g[(lhs.name, None)] = v
            return
        decl = self.model.vars[lhs.array]
        if decl.domain != self.domain:
            i = z3.simplify(self.eval(lhs.index, s, env))
            if not z3.is_int_value(i):
                raise NotSymmetricError(f"{lhs.array} assigned at a non-constant index")
            once(("global", lhs.array, i.as_long()))  # type: ignore[attr-defined]
            g[(lhs.array, i.as_long())] = v  # type: ignore[attr-defined]
            return
        t = self._thread_of(lhs.index, env)
        if t.dist is not None:
            once(("named", lhs.array, t.dist))
            d[(lhs.array, t.dist)] = v
        elif element is not None or t == self._mover_of(env):
            once(("mover", lhs.array))
            mover[lhs.array] = v
        else:
            raise NotSymmetricError(f"{lhs.array} of a thread other than the action's own assigned")

    def _mover_of(self, env: dict[str, object]) -> Thread | None:
        ts = [v for v in env.values() if isinstance(v, Thread) and v.local is not None]
        return ts[0] if ts else None

    def _targets(self, src: Local, new: dict[str, z3.ExprRef]) -> list[tuple[Local, z3.BoolRef]]:
        """The local states a thread in src may land in, each with its condition."""
        fields = []
        for n, v0 in zip(self.locals, src, strict=True):
            if n not in new:
                fields.append([(v0, z3.BoolVal(True))])
                continue
            v = z3.simplify(new[n])
            vals = self.model.vars[n].type.values()
            if not z3.is_int_value(v):
                # a value outside the type matches no target: the thread is lost, which
                # houdini.preserves_types reports
                fields.append([(x, v == x) for x in vals])
            elif v.as_long() in vals:  # type: ignore[attr-defined]
                fields.append([(v.as_long(), z3.BoolVal(True))])  # type: ignore[attr-defined]
            else:
                raise NotSymmetricError(f"a thread's local state leaves its types "
                                        f"({n} = {v} from {self.show_local(src)})")
        out = []
        for combo in itertools.product(*fields):
            conds = [cd for _, cd in combo if not z3.is_true(cd)]
            out.append((tuple(x for x, _ in combo), z3.And(conds) if conds else z3.BoolVal(True)))
        return out

    # -- the transition relation ---------------------------------------------------------------

    def trans(self, s: CState, t: CState, sel: z3.ArithRef | None = None) -> z3.BoolRef:
        """One step: a selector picks the move; every slot of t is its new value."""
        key = (*(x.get_id() for _, x in s.items()), None, *(x.get_id() for _, x in t.items()),
               None if sel is None else sel.get_id())
        if key not in self._trans:
            self._trans[key] = self._build_trans(s, t, sel if sel is not None else z3.Int(f"move@{id(t)}"))
        return self._trans[key]

    def _build_trans(self, s: CState, t: CState, sel: z3.ArithRef) -> z3.BoolRef:
        guards = []
        old = dict(s.items())
        nxt = dict(old)
        for mv in self.moves:
            gd = z3.simplify(self.guard(mv, s))
            if z3.is_false(gd):
                continue
            guards.append(z3.And(sel == mv.id, gd))
            for key, v in self.apply(mv, s).items():
                if not v.eq(old[key]):
                    nxt[key] = z3.If(sel == mv.id, v, nxt[key])
        eqs = [x == nxt[key] for key, x in t.items()]
        return z3.And(z3.Or(guards), *eqs)

    def enabled(self, s: CState, fair_only: bool = False) -> z3.BoolRef:
        return z3.Or([self.guard(mv, s) for mv in self.moves if mv.fair or not fair_only])

    def deadlocked(self, s: CState) -> z3.BoolRef:
        return z3.And(z3.Not(self.pred(self.model.final, s)), z3.Not(self.enabled(s)))

    # -- from an explicit state ----------------------------------------------------------------

    def abstract(self, values: dict[Key, int]) -> tuple[dict[Key, int], dict[Key, int], dict[Local, int]]:
        """An explicit state (slot -> value) as globals, distinguished locals and counts."""
        m = self.model
        n = max((i for (name, i) in values if i is not None
                 and m.vars[name].domain == self.domain), default=-1) + 1
        g = {k: v for k, v in values.items() if m.vars[k[0]].domain != self.domain}
        d = {k: v for k, v in values.items() if m.vars[k[0]].domain == self.domain
             and k[1] in self.dist}
        c = dict.fromkeys(self.local_states, 0)
        for i in range(n):
            if i not in self.dist:
                c[tuple(values[(name, i)] for name in self.locals)] += 1
        return g, d, c


# --------------------------------------------------------------------------------------------
# Building the counter system from a model family
# --------------------------------------------------------------------------------------------


def from_symbolic(m: Model, size: Size, domain: str, lo: int) -> CounterSystem:
    """The counter system of a model built with `size` as a symbol sizing `domain`."""
    for name, n in m.domains.items():
        if name == domain:
            if not (isinstance(n, Size) and n.name == size.name):
                raise NotSymmetricError(f"domain {domain} is not sized by {size.name} itself")
        elif isinstance(n, Expr):
            raise NotSymmetricError(f"the size of domain {name} depends on {size.name}: only the "
                                    f"{domain} domain may grow with it")
    dist = sorted(_named_indices(m, domain))
    if dist and dist[-1] >= lo - 1:
        raise NotSymmetricError(f"threads {dist} are named in the model, which leaves no "
                                f"interchangeable thread at {size.name}={lo}")
    locs = [n for n, d in m.vars.items() if d.domain == domain]
    for n in locs:
        t = m.vars[n].type
        if isinstance(t, IntType) and t.symbolic:
            raise NotSymmetricError(f"the range of {n}, a variable of each thread, depends on "
                                    f"{size.name}: a thread's local states must be finitely many")
    spaces = [list(m.vars[n].type.values()) for n in locs]
    local_states = list(itertools.product(*spaces))
    if len(local_states) > 4096:
        raise NotSymmetricError(f"{len(local_states)} local states per thread: too many to count")
    cs = CounterSystem(m, domain, size.name, lo, tuple(dist), locs, local_states)
    _initial_values(cs)
    _check_types(cs)
    _check_some_initial_state(cs)
    for a in m.actions:
        tparams = [p for p in a.params if p.domain == domain]
        if len(tparams) > 1:
            raise NotSymmetricError(f"action {a.name} has two thread parameters")
        others = [p for p in a.params if p.domain != domain]
        ranges = [range(m.domains[p.domain]) for p in others]
        for combo in itertools.product(*ranges):
            base: dict[str, object] = {p.name: v for p, v in zip(others, combo, strict=True)}
            if not tparams:
                cs.moves.append(Move(len(cs.moves), a, base, None))
                continue
            choices = [Thread(dist=i) for i in cs.dist] + [Thread(local=x) for x in local_states]
            for t in choices:
                cs.moves.append(Move(len(cs.moves), a, {**base, tparams[0].name: t}, t))
    _prune(cs)
    s = cs.fresh("check")
    for mv in cs.moves:  # every update read now: one the counter system cannot express is
        cs.apply(mv, s)  # refused here (not parametric), not in the middle of a proof
    return cs


def _initial_values(cs: CounterSystem) -> None:
    """Each slot's initial values as terms over N, and the local states any other thread may
    start in. A per-thread initial value (`init=lambda i: ...`) is read once for a thread known
    only as "not a named one": it may compare the index with a named thread's, nothing else."""
    m = cs.model
    for name, d in m.vars.items():
        if d.domain == cs.domain:
            for i in cs.dist:
                cs.init_vals[(name, i)] = _init_terms(cs, name, i)
        elif d.domain is None:
            cs.init_vals[(name, None)] = _init_terms(cs, name, None)
        else:
            for i in range(m.domains[d.domain]):
                cs.init_vals[(name, i)] = _init_terms(cs, name, i)
    per_field = []
    for name in cs.locals:
        vals = set()
        for v in _init_terms(cs, name, "other"):
            v = z3.simplify(v)
            if not z3.is_int_value(v):
                raise NotSymmetricError(f"the initial value of {name} depends on {cs.size}")
            vals.add(v.as_long())  # type: ignore[attr-defined]
        per_field.append(vals)
    cs.init_locals = {x for x in cs.local_states
                      if all(v in f for v, f in zip(x, per_field, strict=True))}


def _init_terms(cs: CounterSystem, name: str, i: int | str | None) -> list[z3.ArithRef]:
    d = cs.model.vars[name]
    where = cs.model.slot_name(name, i if isinstance(i, int) else None)
    spec = d.init
    if callable(spec):
        if i is None:
            raise ModelError(f"initial value of scalar {name} cannot be a function")
        idx: object = Param(f"_other_{name}", cs.domain) if i == "other" else i
        with symbolic_build() as ctx:
            try:
                spec = spec(idx)
            except Exception as e:  # a user's function: it may not take a symbolic index
                raise NotSymmetricError(f"the initial value of {name} is not the same for every "
                                        f"thread ({type(e).__name__}: {e})") from None
        _refuse_python_use(ctx, f"the initial value of {name}")
    vals = list(spec) if isinstance(spec, (tuple, list, set, frozenset)) else [spec]
    if not vals:
        raise ModelError(f"variable {name} has no initial value")
    env: dict[str, object] = {f"_other_{name}": Thread()}
    out = []
    for v in vals:
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, int):
            out.append(z3.IntVal(v))
            continue
        if not isinstance(v, Expr) or not _closed(v):
            raise ModelError(f"initial value {v!r} of {where} is not a constant")
        out.append(as_int(cs.eval(v, None, env)))  # type: ignore[arg-type]
    t = d.type
    if not isinstance(t, IntType):
        for v in out:
            sv = z3.simplify(v)
            if not z3.is_int_value(sv) or sv.as_long() not in t.values():  # type: ignore[attr-defined]
                raise ModelError(f"initial value {sv} of {where} is not of type {t}")
    return out


def _closed(e: Expr) -> bool:
    """Constants, sizes and a thread index compared with constants: no state."""
    if isinstance(e, (Const, Size, Param)):
        return True
    return isinstance(e, Op) and all(_closed(a) for a in e.args)


def _refuse_python_use(ctx: SymbolicBuild, what: str) -> None:
    if ctx.misuse:
        raise NotSymmetricError(f"{what} depends on the size at the Python level: {ctx.misuse[0]}")


def _check_types(cs: CounterSystem) -> None:
    """Every range is non-empty and every initial state is within the types, for every N."""
    s = cs.fresh("init")
    sol = z3.Solver()
    sol.set("timeout", 30_000)
    empty = [z3.And(cs.N >= cs.lo, cs.bounds(n)[0] > cs.bounds(n)[1]) for n in cs.model.vars]
    sol.add(z3.Or(z3.Or(empty), z3.And(cs.init(s), z3.Not(cs.type_ok(s)))))
    r = sol.check()
    if r == z3.sat:
        raise ModelError(f"for some {cs.size} >= {cs.lo}, a range is empty or an initial value is "
                         "outside its type")
    if r != z3.unsat:
        raise ModelError(f"cannot show the initial states are within their types: {sol.reason_unknown()}")


def _check_some_initial_state(cs: CounterSystem) -> None:
    """Every N >= lo has an initial state: a proof over no run at all would be vacuous, and the
    explicit engine refuses such an instance ("the model has no initial state")."""
    s = cs.fresh("some")
    sol = z3.Solver()
    sol.set("timeout", 30_000)
    sol.add(cs.N >= cs.lo, z3.ForAll([v for _, v in s.items()], z3.Not(cs.init(s))))
    r = sol.check()
    if r == z3.sat:
        n = sol.model().eval(cs.N, model_completion=True)
        raise ModelError(f"at {cs.size}={n} the model has no initial state (the init constraints "
                         "exclude all)")
    if r != z3.unsat:
        raise NotSymmetricError(f"cannot show there is an initial state for every {cs.size} >= "
                                f"{cs.lo}: {sol.reason_unknown()}")


def _prune(cs: CounterSystem) -> None:
    """Drop moves whose guard is false whatever the state (most sibling moves: wrong pc)."""
    s = cs.fresh("prune")
    keep = []
    for mv in cs.moves:
        if not z3.is_false(z3.simplify(cs.guard(mv, s))):
            mv.id = len(keep)
            keep.append(mv)
    cs.moves = keep


def _named_indices(m: Model, domain: str) -> set[int]:
    """Constant thread indices anywhere in the model: those threads are distinguished."""
    out: set[int] = set()

    def walk(e: Expr, params: dict[str, str]) -> None:
        if isinstance(e, Index):
            if m.vars[e.array].domain == domain and isinstance(e.index, Const):
                out.add(e.index.value)
            walk(e.index, params)
        elif isinstance(e, Op):
            if e.op in ("==", "!=") and any(isinstance(x, Param) and x.domain == domain
                                            for x in e.args):
                out.update(x.value for x in e.args if isinstance(x, Const))
            for x in e.args:
                walk(x, params)
        elif isinstance(e, Quant):
            walk(e.body, params)

    for e in _all_exprs(m):
        walk(e, {})
    for name, d in m.vars.items():  # a per-thread initial value may name threads too
        if d.domain == domain and callable(d.init):
            with symbolic_build():
                try:
                    v = d.init(Param(f"_other_{name}", domain))
                except Exception:  # _init_terms reports it
                    continue
            for x in v if isinstance(v, (tuple, list)) else [v]:
                if isinstance(x, Expr):
                    walk(x, {})
    return out


def _all_exprs(m: Model) -> Iterable[Expr]:
    yield from m.init_constraints
    yield m.final
    for p in m.properties.values():
        yield from (x for x in (p.expr, p.pre) if x is not None)
    for a in m.actions:
        yield a.guard
        for lhs, rhs in a.updates:
            yield lhs
            yield rhs
        for _, ups in a.each:
            for lhs, rhs in ups:
                yield lhs
                yield rhs
