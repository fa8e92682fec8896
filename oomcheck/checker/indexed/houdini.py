"""Houdini over quantified candidate facts, for every K and P at once.

One Z3 query per round: a state s where every surviving candidate holds (each universal
instantiated at the index terms of the query: a Skolem VMA and page, the action parameters, the
cursors), a step of any action to t, and some candidate false in t at the Skolem index. A model
drops the candidates it breaks; `unsat` means the survivors are inductive. Instantiating a fact
at finitely many terms assumes less than the fact, so `unsat` is a proof for every K and P; a
spurious model only drops a candidate that may have been true.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import z3

from oomcheck.checker.indexed.encode import (
    Encoder,
    State,
    Term,
    Terms,
    fast_and,
    fast_check,
    fast_implies,
    fast_or,
    true_in,
)
from oomcheck.checker.indexed.template import NotIndexedError
from oomcheck.checker.indexed.views import Fact, Features
from oomcheck.checker.language.lang import Expr


class NoProofError(Exception):
    pass


@dataclass
class Cand:
    """A fact (a guess), a property of the model, or `within the types`."""

    name: str
    fact: Fact | None = None
    expr: Expr | None = None
    required: bool = False  # types: a proof needs it


class Query:
    """The index terms of one family of queries: Skolem indices, one constant per parameter
    position, the cursors of the pre-state."""

    def __init__(self, enc: Encoder, feats: Features, s: State, tag: str):
        self.enc, self.feats, self.s = enc, feats, s
        kd, pd, prod = enc.kd, enc.pd, enc.prod
        self.wv = z3.Int(f"wv_{tag}")
        self.wp = z3.Int(f"wp_{tag}")
        self.params: dict[str, list[Term]] = {}
        self.terms = Terms()
        self.terms.add(kd, self.wv)
        self.terms.add(pd, self.wp)
        self.w: dict[str, Term] = {kd: self.wv, pd: self.wp}
        if prod:
            self.w[prod] = (self.wv, self.wp)
        for name, d in enc.t.domains.items():
            if isinstance(d, int) and name not in self.w:
                self.w[name] = z3.Int(f"w_{name}_{tag}")
        for c in feats.kcur:
            self.terms.add(kd, s.scal[c])
        for c in feats.pcur:
            self.terms.add(pd, s.scal[c])
        self.fresh: list[z3.BoolRef] = []
        self._prod_done = False

    def param_env(self, a) -> dict[str, Term]:
        """Parameters of a bound to shared constants: the i-th parameter over a domain is the
        same constant in every action (each action is its own disjunct)."""
        env: dict[str, Term] = {}
        used: dict[str, int] = {}
        for p in a.params:
            i = used.get(p.domain, 0)
            used[p.domain] = i + 1
            lst = self.params.setdefault(p.domain, [])
            while len(lst) <= i:
                t = self.enc.fresh(p.domain, f"par_{p.domain}_")
                lst.append(t)
                if p.domain == self.enc.prod:
                    self.terms.add(self.enc.kd, t[0])  # type: ignore[index]
                    self.terms.add(self.enc.pd, t[1])  # type: ignore[index]
                self.terms.add(p.domain, t)
            env[p.name] = lst[i]
        return env

    def finish(self) -> None:
        """The product domain's terms: every VMA term with every PTE term."""
        enc = self.enc
        if enc.prod and not self._prod_done:
            for v in list(self.terms.by_dom.get(enc.kd, [])):
                for p in list(self.terms.by_dom.get(enc.pd, [])):
                    self.terms.add(enc.prod, (v, p))
            self._prod_done = True

    def w_range(self) -> z3.BoolRef:
        return z3.And([self.enc.in_range(d, t) for d, t in self.w.items()])

    # -- a candidate, assumed in s and refuted in t ------------------------------------------------

    def assume(self, c: Cand, s: State) -> z3.BoolRef:
        enc, f = self.enc, self.feats
        if c.required:
            return enc.types_ok(s, self.terms)
        if c.expr is not None:
            return enc.pred(c.expr, s, 1, self.terms, self.fresh)
        fa = c.fact
        assert fa is not None
        if fa.scope == "G":
            return f.fact(fa, s, None, None)
        if fa.scope == "V":
            return fast_and([fast_implies(enc.in_range(enc.kd, v), f.fact(fa, s, v, None))
                             for v in self.terms.by_dom.get(enc.kd, [])])
        return fast_and([fast_implies(enc.in_range(enc.prod, vp), f.fact(fa, s, vp[0], vp[1]))  # type: ignore[index]
                         for vp in self.terms.by_dom.get(enc.prod, [])])  # type: ignore[arg-type]

    def broken(self, c: Cand, t: State) -> z3.BoolRef:
        """c is false in t (at the Skolem indices)."""
        enc, f = self.enc, self.feats
        if c.required:
            return enc.types_bad(t, self.w)
        if c.expr is not None:
            return z3.Not(enc.pred(c.expr, t, -1, self.terms, self.fresh))
        fa = c.fact
        assert fa is not None
        if fa.scope == "G":
            return z3.Not(f.fact(fa, t, None, None))
        if fa.scope == "V":
            return z3.Not(f.fact(fa, t, self.wv, None))
        return z3.Not(f.fact(fa, t, self.wv, self.wp))


def houdini(enc: Encoder, feats: Features, cands: list[Cand], deadline: float,
            log: Callable[[str], None] | None = None) -> list[Cand]:
    """The largest subset of cands that holds initially and is kept by every step (for every K
    and P), or NoProofError when a required candidate falls or Z3 does not answer."""
    probe = Query(enc, feats, enc.state("probe"), "probe")
    cands, _ = _translatable(cands, lambda c: probe.broken(c, probe.s))
    alive = list(range(len(cands)))
    alive = _initial(enc, feats, cands, alive, deadline)
    s, t = enc.state("s"), enc.state("t")
    q = Query(enc, feats, s, "h")
    envs = [(a, q.param_env(a)) for a in enc.t.actions]
    cands, bad = _translatable(cands, lambda c: q.broken(c, t))  # Skolems made here become index terms
    q.finish()
    steps = [enc.step(a, s, t, env, q.terms, q.fresh) for a, env in envs]
    sol = z3.Solver()
    act = [z3.Bool(f"act_{a.name}") for a, _ in envs]
    sol.add(enc.sizes_ok(), q.w_range(), *[z3.Implies(b, st) for b, st in zip(act, steps, strict=True)])
    sel = [z3.Bool(f"sel{i}") for i in range(len(cands))]
    bv = [z3.Bool(f"bad{i}") for i in range(len(cands))]
    for i, c in enumerate(cands):
        sol.add(z3.Implies(sel[i], q.assume(c, s)))
        sol.add(bv[i] == bad[i])
    sol.add(*q.fresh)
    rounds, clean, j = 0, 0, 0
    while clean < len(act):  # one action at a time, until a whole sweep drops nothing
        left = deadline - time.perf_counter()
        if left <= 0:
            raise NoProofError("time limit reached while looking for an inductive invariant")
        sol.set("timeout", max(1, int(left * 1000)))
        r = z3.Bool(f"round{rounds}")
        sol.add(z3.Implies(r, fast_or([bv[i] for i in alive])))
        res = fast_check(sol, [*[sel[i] for i in alive], r, act[j]])
        rounds += 1
        if res == z3.unsat:
            clean += 1
            j = (j + 1) % len(act)
            continue
        if res != z3.sat:
            raise NoProofError(f"Z3 did not answer while checking the invariant ({sol.reason_unknown()})")
        clean = 0
        m = sol.model()
        drop = {i for i, t in zip(alive, true_in(m, [bv[i] for i in alive]), strict=True) if t}
        name = envs[j][0].name
        for i in drop:
            if cands[i].required:
                if log:
                    log(f"types broken by {name}: " + ", ".join(
                        f"{n}={m.eval(s.scal[n])}->{m.eval(t.scal[n])}" for n in s.scal))
                raise NoProofError(f"a step ({name}) may break '{cands[i].name}' as far "
                                   "as the facts found can tell")
        alive = [i for i in alive if i not in drop]
        if log:
            log(f"round {rounds} ({name}): dropped {len(drop)}, {len(alive)} left: "
                + "; ".join(cands[i].name for i in sorted(drop))[:300])
    return [cands[i] for i in alive]


def _translatable(cands: list[Cand], tr: Callable[[Cand], z3.BoolRef]) -> tuple[list[Cand], list]:
    """The candidates Z3 can state (a property with a count over the VMAs cannot be: it is left
    out, and stays unproved), with their translations."""
    keep, out = [], []
    for c in cands:
        try:
            out.append(tr(c))
        except NotIndexedError:
            if c.required:
                raise
            continue
        keep.append(c)
    return keep, out


def _initial(enc: Encoder, feats: Features, cands: list[Cand], alive: list[int],
             deadline: float) -> list[int]:
    s = enc.state("i")
    q = Query(enc, feats, s, "i")
    bad = [q.broken(c, s) for c in cands]  # _translatable already ran on cands
    q.finish()
    sol = z3.Solver()
    sol.add(enc.sizes_ok(), q.w_range(), enc.init(s, q.terms, q.fresh), *q.fresh)
    bv = [z3.Bool(f"ibad{i}") for i in range(len(cands))]
    for i in range(len(cands)):
        sol.add(bv[i] == bad[i])
    rounds = 0
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise NoProofError("time limit reached while checking the initial states")
        sol.set("timeout", max(1, int(left * 1000)))
        r = z3.Bool(f"iround{rounds}")
        rounds += 1
        sol.add(z3.Implies(r, fast_or([bv[i] for i in alive])))
        res = sol.check(r)
        if res == z3.unsat:
            return alive
        if res != z3.sat:
            raise NoProofError(f"Z3 did not answer on the initial states ({sol.reason_unknown()})")
        m = sol.model()
        drop = {i for i, t in zip(alive, true_in(m, [bv[i] for i in alive]), strict=True) if t}
        for i in drop:
            if cands[i].required:
                raise NoProofError(f"an initial state breaks '{cands[i].name}'")
        alive = [i for i in alive if i not in drop]


def implies_goal(enc: Encoder, feats: Features, inv: list[Cand], goal: Callable[[Query, State], z3.BoolRef],
                 deadline: float, extra_terms: Callable[[Query], None] | None = None
                 ) -> tuple[z3.CheckSatResult, list[Cand]]:
    """Whether the invariant implies a goal: goal(q, s) is the goal's negation in s. Returns
    Z3's answer (unsat: implied) and the facts the answer used (an unsat core)."""
    s = enc.state("g")
    q = Query(enc, feats, s, "g")
    if extra_terms:
        extra_terms(q)
    neg = goal(q, s)
    q.finish()
    sol = z3.Solver()
    sol.set("timeout", max(1, int((deadline - time.perf_counter()) * 1000)))
    sol.set("core.minimize", True)
    sol.add(enc.sizes_ok(), neg)
    lits = []
    for i, c in enumerate(inv):
        b = z3.Bool(f"use{i}")
        lits.append(b)
        sol.add(z3.Implies(b, q.assume(c, s)))
    sol.add(*q.fresh)
    r = sol.check(*lits)
    if r != z3.unsat:
        return r, []
    core = {str(b) for b in sol.unsat_core()}
    return r, [c for c, b in zip(inv, lits, strict=True) if str(b) in core]
