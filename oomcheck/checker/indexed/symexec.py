"""A schema run for symbolic K and P: Z3 shows it is an execution ending in a violation at every size.

The states are terms over K and P (the template's Encoder translates guards and updates). A loop
over the new elements is shown by induction, not unrolled: before iteration c its state is a
closed form (each scalar moves as the concrete instance showed; an array element the loop
visits already has the value one iteration over it gives, the others their value at the loop's
start), and Z3 checks that one iteration from the closed form at c, for a symbolic c, is enabled
step by step and ends in the closed form at c + 1.

The query asks for any K >= K0, P >= P0 (and loop index) where something fails: a parameter out
of range, a guard false, an index or a value out of range (the explicit engine's model errors),
an initial value not allowed, an iteration not ending where the closed form says, or the last
state not violating the property. Quantifiers are translated with the polarity of that query: a
guard is asserted false (a `forall` in it gets a Skolem constant, an `exists` is tried at the
index terms only, which can only make the query satisfiable), the property at the end is asserted
true (its `forall` tried at the index terms, the anchored witness among them). So `unsat` means
the schema is an execution at every size, and anything else is no claim.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import z3

from oomcheck.checker.indexed.encode import Encoder, State, Term, Terms
from oomcheck.checker.indexed.schema import Item, Lin, Schema, SLoop, SStep
from oomcheck.checker.indexed.template import Template
from oomcheck.checker.language.lang import Property

_n = itertools.count()


class SymExec:
    def __init__(self, t: Template, enc: Encoder, sch: Schema):
        self.t, self.enc, self.sch = t, enc, sch
        fam = t.family
        self.kd, self.pd = fam.k_dom, fam.p_dom
        self.prod = fam.product[0] if fam.product else None
        self.K, self.P = enc.K, enc.P
        self.terms = Terms()
        self.fresh: list[z3.BoolRef] = []
        self.bad: list[tuple[str, z3.BoolRef]] = []
        env = self.env0
        vs = [self.z(x, env) for x in sch.anchored("K")]
        ps = [self.z(x, env) for x in sch.anchored("P")]
        for v in vs:
            self.terms.add(self.kd, v)
        for p in ps:
            self.terms.add(self.pd, p)
        if self.prod is not None:
            for v in vs:
                for p in ps:
                    self.terms.add(self.prod, (v, p))

    @property
    def env0(self) -> dict[str, object]:
        return {"K": self.K, "P": self.P}

    def z(self, x: Lin, env: Mapping[str, object]) -> z3.ArithRef:
        v = x.at(env)
        return v if isinstance(v, z3.ArithRef) else z3.IntVal(v)  # type: ignore[arg-type]

    def arg(self, a: object, env: Mapping[str, object]) -> Term:
        if isinstance(a, tuple):
            return (self.z(a[0], env), self.z(a[1], env))
        return self.z(a, env)  # type: ignore[arg-type]

    def add_bad(self, what: str, ctx: list[z3.BoolRef], cond: z3.BoolRef) -> None:
        self.bad.append((what, z3.And(*ctx, cond) if ctx else cond))

    # -- the initial state --------------------------------------------------------------------

    def initial(self) -> State:
        enc, sch, env = self.enc, self.sch, self.env0
        scal = {n: enc.num(e) for n, e in sch.scal_init.items()}
        arr: dict[str, z3.ExprRef] = {}
        for name, v in self.t.vars.items():
            if v.domain is None:
                continue
            known, fill = sch.arr_init[name]
            if v.domain == self.prod:
                yv, yp = z3.Int(f"y_v{next(_n)}"), z3.Int(f"y_p{next(_n)}")
                body: z3.ExprRef = enc.num(fill)
                for (bv, bp), e in known.items():  # type: ignore[misc]
                    hit = z3.And(yv == self.z(sch.lin("K", bv), env), yp == self.z(sch.lin("P", bp), env))
                    body = z3.If(hit, enc.num(e), body)
                arr[name] = z3.Lambda([yv, yp], body)
                continue
            y = z3.Int(f"y{next(_n)}")
            body = enc.num(fill)
            for b, e in known.items():
                at = self.z(sch.lin("K" if v.domain == self.kd else "P", b), env) \
                    if v.domain in (self.kd, self.pd) else z3.IntVal(b)  # type: ignore[arg-type]
                body = z3.If(y == at, enc.num(e), body)
            arr[name] = z3.Lambda([y], body)
        s = State(scal, arr, "init")
        for name, v in self.t.vars.items():
            lo, hi = enc.bounds(v)
            vals = [sch.scal_init[name]] if v.domain is None else \
                [*sch.arr_init[name][0].values(), sch.arr_init[name][1]]
            for e in vals:
                x = enc.num(e)
                self.add_bad(f"the initial value {e} of {name} is outside its type", [],
                             z3.Or(x < lo, x > hi))
        for c in self.t.init_constraints:
            self.add_bad("an initial constraint is false", [],
                         z3.Not(enc.pred(c, s, -1, self.terms, self.fresh)))
        return s

    # -- steps and loops -----------------------------------------------------------------------

    def run(self, items: list[Item], s: State, env: dict[str, object], ctx: list[z3.BoolRef],
            collect: bool, where: str = "") -> State:
        for j, it in enumerate(items):
            at = f"{where}{j + 1}"
            if isinstance(it, SStep):
                s = self.step(it, s, env, ctx, collect, at)
            else:
                s = self.loop(it, s, env, ctx, collect, at + ".")
        return s

    def step(self, st: SStep, s: State, env: dict[str, object], ctx: list[z3.BoolRef],
             collect: bool, at: str) -> State:
        enc = self.enc
        a = self.t.action(st.action)
        penv = {n: self.arg(x, env) for n, x in st.args}
        what = f"step {at} ({st.show()})"
        if collect:
            for p in a.params:
                self.add_bad(f"{what}: parameter {p.name} out of range", ctx,
                             z3.Not(enc.in_range(p.domain, penv[p.name])))
            g = enc.pred(a.guard, s, -1, self.terms, self.fresh, penv)
            self.add_bad(f"{what}: not enabled", ctx, z3.Not(g))
        conds, new = enc.apply(a, s, penv, self.terms, self.fresh)
        if collect:
            for c in conds:
                self.add_bad(f"{what}: writes out of range", ctx, z3.Not(c))
            for name, v in self.t.vars.items():
                lo, hi = enc.bounds(v)
                if v.domain is None:
                    if new.scal[name] is not s.scal[name]:
                        x = new.scal[name]
                        self.add_bad(f"{what}: {name} out of its type", ctx, z3.Or(x < lo, x > hi))
                elif new.arr[name] is not s.arr[name]:
                    w = enc.fresh(v.domain, "ty_")
                    x = enc.select(new, name, w)
                    self.add_bad(f"{what}: {name} out of its type", ctx,
                                 z3.And(enc.in_range(v.domain, w), z3.Or(x < lo, x > hi)))
        return new

    def loop(self, lp: SLoop, e: State, env: dict[str, object], ctx: list[z3.BoolRef],
             collect: bool, at: str) -> State:
        lo_, hi_ = self.sch.gap(lp.dim, env)
        lo = lo_ if isinstance(lo_, z3.ArithRef) else z3.IntVal(lo_)  # type: ignore[arg-type]
        hi = hi_ if isinstance(hi_, z3.ArithRef) else z3.IntVal(hi_)  # type: ignore[arg-type]
        n = hi - lo

        def i_of(c: z3.ArithRef) -> z3.ArithRef:
            return hi - 1 - c if lp.down else lo + c

        def c_of(i: z3.ArithRef) -> z3.ArithRef:
            return hi - 1 - i if lp.down else i - lo

        def scal(c: z3.ArithRef) -> dict[str, z3.ArithRef]:
            out = {}
            for name, x in e.scal.items():
                sh = lp.shapes.get(name, ("step", 0))
                if sh[0] == "step":
                    out[name] = x + sh[1] * c if sh[1] else x
                else:
                    out[name] = z3.If(c == 0, x, sh[1] * i_of(c) + sh[2])
            return out

        io = z3.Int(f"{lp.var}_gen{next(_n)}")
        generic = self.run(lp.body, State(scal(c_of(io)), dict(e.arr), "gen"), {**env, lp.var: io},
                           ctx, False)
        owner = self._owner(lp, env)

        def closed(c: z3.ArithRef) -> State:
            arr = {name: self._merge(lp, name, e.arr[name], generic.arr[name], io, c, lo, hi, owner)
                   for name in e.arr}
            return State(scal(c), arr, "closed")

        if collect:
            j = z3.Int(f"{lp.var}_{next(_n)}")
            rng = z3.And(lo <= j, j < hi)
            self.add_bad(f"loop {at[:-1]}: fewer than no new elements", ctx, hi < lo)
            cj = c_of(j)
            inner = [*ctx, rng]
            got = self.run(lp.body, closed(cj), {**env, lp.var: j}, inner, True, at)
            want = closed(cj + 1)
            diff = [got.scal[x] != want.scal[x] for x in e.scal]
            for name, v in self.t.vars.items():
                if v.domain is None:
                    continue
                w = self.enc.fresh(v.domain, "eq_")
                diff.append(z3.And(self.enc.in_range(v.domain, w),
                                   self.enc.select(got, name, w) != self.enc.select(want, name, w)))
            self.add_bad(f"loop {at[:-1]} ({lp.var}): one iteration does not end in the closed form",
                         inner, z3.Or(diff))
        return closed(n)

    def _owner(self, lp: SLoop, env: dict[str, object]) -> z3.ArithRef | None:
        """For a loop over PTEs: the VMA whose pages it visits (the VMA index its steps use)."""
        if lp.dim != "P":
            return None
        seen: list[Lin] = []
        for it in lp.body:
            if not isinstance(it, SStep):
                continue
            for _, a in it.args:
                if isinstance(a, tuple):
                    seen.append(a[0])
            a_params = {p.name: p.domain for p in self.t.action(it.action).params}
            seen += [a for n, a in it.args if a_params.get(n) == self.kd and isinstance(a, Lin)]
        if not seen or any(x != seen[0] for x in seen):
            return None
        return self.z(seen[0], env)

    def _merge(self, lp: SLoop, name: str, start: z3.ExprRef, gen: z3.ExprRef, io: z3.ArithRef,
               c: z3.ArithRef, lo: z3.ArithRef, hi: z3.ArithRef, owner: z3.ArithRef | None) -> z3.ExprRef:
        """The array after c iterations: a visited element as one iteration over it leaves it,
        any other as at the loop's start."""
        d = self.t.vars[name].domain

        def done(x: z3.ArithRef) -> z3.BoolRef:
            return z3.And(hi - c <= x, x < hi) if lp.down else z3.And(lo <= x, x < lo + c)

        own = self.kd if lp.dim == "K" else self.pd
        if d == own:
            y = z3.Int(f"m{next(_n)}")
            return z3.Lambda([y], z3.If(done(y), z3.substitute(z3.Select(gen, y), (io, y)),
                                        z3.Select(start, y)))
        if d == self.prod and (lp.dim == "K" or owner is not None):
            yv, yp = z3.Int(f"mv{next(_n)}"), z3.Int(f"mp{next(_n)}")
            if lp.dim == "K":
                hit, val = done(yv), z3.substitute(z3.Select(gen, yv, yp), (io, yv))
            else:
                hit = z3.And(yv == owner, done(yp))
                val = z3.substitute(z3.Select(gen, yv, yp), (io, yp))
            return z3.Lambda([yv, yp], z3.If(hit, val, z3.Select(start, yv, yp)))
        return start

    # -- the end ---------------------------------------------------------------------------------

    def not_violated(self, p: Property, s: State) -> z3.BoolRef:
        enc = self.enc
        if p.kind == "invariant":
            return enc.pred(p.expr, s, 1, self.terms, self.fresh)  # type: ignore[arg-type]
        final = enc.pred(self.t.final, s, 1, self.terms, self.fresh)
        return z3.Or(final, self.enabled(s))

    def enabled(self, s: State) -> z3.BoolRef:
        """Some action is enabled for some parameter values (fresh constants: exact)."""
        enc = self.enc
        out = []
        for a in self.t.actions:
            penv = {p.name: enc.fresh(p.domain, f"en_{p.name}_") for p in a.params}
            rng = [enc.in_range(p.domain, penv[p.name]) for p in a.params]
            out.append(z3.And(*rng, enc.pred(a.guard, s, 1, self.terms, self.fresh, penv)))
        return z3.Or(out) if out else z3.BoolVal(False)


def check(t: Template, enc: Encoder, sch: Schema, p: Property, timeout: float) -> tuple[str, str]:
    """("proved", "") when Z3 shows the schema is an execution ending in a violation of p at every
    K >= K0 and P >= P0; otherwise ("sat" | "unknown", what failed)."""
    if p.kind not in ("invariant", "deadlock"):
        return "unknown", "only invariants and deadlocks"
    x = SymExec(t, enc, sch)
    s = x.initial()
    last = x.run(sch.items, s, x.env0, [], True)
    x.add_bad(f"the last state does not violate {p.name}", [], x.not_violated(p, last))
    sol = z3.Solver()
    sol.set("timeout", max(1, int(timeout * 1000)))
    sol.add(x.K >= sch.k0, x.P >= sch.p0, *x.fresh)
    sol.add(z3.Or([b for _, b in x.bad]))
    r = sol.check()
    if r == z3.unsat:
        return "proved", ""
    if r == z3.unknown:
        return "unknown", f"Z3 did not answer ({sol.reason_unknown()})"
    mdl = sol.model()
    k, q = mdl.eval(x.K, model_completion=True), mdl.eval(x.P, model_completion=True)
    what = next((w for w, b in x.bad if z3.is_true(mdl.eval(b, model_completion=True))), "?")
    return "sat", f"{what} ({t.family.k_size}={k}, {t.family.p_size}={q})"
