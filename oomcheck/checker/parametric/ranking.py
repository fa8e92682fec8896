"""Leads-to for every N: a ranking function over the counters that every step out of the
waiting region decreases, guessed from small instances and checked by Z3.

The rule (no fairness needed, so it is sound under any fairness assumption): with Inv an
inductive invariant, P ~> Q holds for every N if, in every state satisfying Inv, P and not Q,
(1) every step keeps P or reaches Q, (2) some fair step is enabled, and (3) every step that does
not reach Q decreases r, a non-negative integer combination of the counters plus a table over the
distinguished threads' locals and the finite globals. Then no run can stay out of Q.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import z3

from oomcheck.checker.language.lang import Expr, IntType
from oomcheck.checker.parametric.counters import CounterSystem, CState
from oomcheck.checker.parametric.houdini import Invariant, Sample, Samples, one_shot_solver


@dataclass
class Ranking:
    count_w: dict[tuple, int]  # (local state, finite globals) -> weight per thread in it
    table_w: dict[tuple, int]  # (distinguished locals, finite globals) -> weight

    def text(self, cs: CounterSystem, finite_g: list, dkeys: list) -> str:
        def when(keys: list, vals: tuple) -> str:
            return ", ".join(f"{cs.model.slot_name(*k)}={cs.model.vars[k[0]].type.show(v)}"
                             for k, v in zip(keys, vals, strict=True))
        rows = [f"{w}*#{cs.show_local(x)} when {when(finite_g, ctx)}"
                for (x, ctx), w in sorted(self.count_w.items()) if w]
        rows += [f"{w} when {when([*dkeys, *finite_g], key)}"
                 for key, w in sorted(self.table_w.items()) if w]
        return "\n  + ".join(rows) if rows else "0"


class RankingSearch:
    """r = sum over local states x of w(x, g) * #x, plus t(distinguished locals, g), where g is
    the finite globals: a thread's weight may depend on the globals (a sibling may loop through
    the same local states once a global has changed, as RUNNING -> REFRIG -> RUNNING across the
    publication of oom_mm)."""

    def __init__(self, cs: CounterSystem):
        self.cs = cs
        proto = cs.fresh("p")
        self.gkeys = list(proto.g)
        self.dkeys = list(proto.d)
        self.finite_g = [k for k in self.gkeys if not isinstance(cs.model.vars[k[0]].type, IntType)]
        self.fg_pos = [self.gkeys.index(k) for k in self.finite_g]

    def ctx(self, s: Sample) -> tuple:
        return tuple(s.g[p] for p in self.fg_pos)

    def table_key(self, s: Sample) -> tuple:
        return (*s.d, *self.ctx(s))

    def r_z3(self, rk: Ranking, st: CState) -> z3.ArithRef:
        gs = [st.g[k] for k in self.finite_g]
        by_ctx: dict[tuple, list] = {}
        for (x, ctx), w in rk.count_w.items():
            if w:
                by_ctx.setdefault(ctx, []).append(w * st.c[x])
        terms: list[z3.ArithRef] = []
        for ctx, ts in by_ctx.items():
            terms.append(z3.If(z3.And([g == v for g, v in zip(gs, ctx, strict=True)]), z3.Sum(ts), 0))
        slots = [*(st.d[k] for k in self.dkeys), *gs]
        for key, w in rk.table_w.items():
            if w:
                terms.append(z3.If(z3.And([x == v for x, v in zip(slots, key, strict=True)]), w, 0))
        return z3.Sum(terms) if terms else z3.IntVal(0)

    def synthesise(self, edges: list[tuple[Sample, Sample]], timeout: float) -> Ranking | None:
        """Non-negative weights under which every sampled step decreases r."""
        cs = self.cs
        ctxs = {self.ctx(s) for e in edges for s in e}
        cw = {(x, g): z3.Int(f"w{j}_{k}") for j, x in enumerate(cs.local_states)
              for k, g in enumerate(sorted(ctxs))}
        keys = {self.table_key(s) for e in edges for s in e}
        tw = {k: z3.Int(f"t{j}") for j, k in enumerate(sorted(keys))}
        sol = z3.Solver()
        sol.set("timeout", max(1, int(timeout * 1000)))
        for w in [*cw.values(), *tw.values()]:
            sol.add(w >= 0)

        sums: dict[Sample, z3.ArithRef] = {}  # a sample is in many edges: its r once

        def r(s: Sample) -> z3.ArithRef:
            if s not in sums:
                g = self.ctx(s)
                sums[s] = z3.Sum([k * cw[(x, g)] for x, k in zip(cs.local_states, s.c, strict=True) if k]
                                 + [tw[self.table_key(s)]])
            return sums[s]

        changes = set()
        for a, b in edges:
            sol.add(r(b) - r(a) <= -1)
            if self.ctx(a) != self.ctx(b):
                changes.add((self.ctx(a), self.ctx(b)))
        # a step that changes the globals must not raise any thread's weight: otherwise it
        # would raise r by as much as the number of threads, which small samples cannot show
        for ga, gb in changes:
            for x in cs.local_states:
                sol.add(cw[(x, gb)] <= cw[(x, ga)])
        if sol.check() != z3.sat:
            return None
        m = sol.model()
        return Ranking({k: m.eval(w, model_completion=True).as_long() for k, w in cw.items()},
                       {k: m.eval(w, model_completion=True).as_long() for k, w in tw.items()})


@dataclass
class LeadsToProof:
    verdict: str  # proved | unknown
    reason: str
    ranking: str = ""
    seconds: float = 0.0


def prove_leads_to(cs: CounterSystem, inv: Invariant, pre: Expr, goal: Expr, samples: Samples,
                   timeout: float, rounds: int = 40) -> LeadsToProof:
    t0 = time.perf_counter()

    def left() -> int:
        return max(1, int((timeout - (time.perf_counter() - t0)) * 1000))

    s, t = cs.fresh("s"), cs.fresh("t")
    p, q = cs.pred(pre, s), cs.pred(goal, s)
    p2, q2 = cs.pred(pre, t), cs.pred(goal, t)
    region = z3.And(cs.well_formed(s), inv.z3(s), p, z3.Not(q))

    sol = one_shot_solver()
    sol.set("timeout", left())
    sol.add(region, cs.trans(s, t), z3.Not(z3.Or(p2, q2)))
    r = sol.check()
    if r != z3.unsat:
        return LeadsToProof("unknown", "a step can leave the premise without reaching the goal"
                            if r == z3.sat else f"Z3: {sol.reason_unknown()}")
    sol = one_shot_solver()
    sol.set("timeout", left())
    sol.add(region, z3.Not(cs.enabled(s, fair_only=True)))
    r = sol.check()
    if r != z3.unsat:
        return LeadsToProof("unknown", "the invariant allows a state in the premise where no fair "
                            "step is enabled" if r == z3.sat else f"Z3: {sol.reason_unknown()}")

    search = RankingSearch(cs)
    in_p, in_q = samples.predicate(pre), samples.predicate(goal)
    edges = [(a, b) for a, b in samples.edges if in_p(a) and not in_q(a) and not in_q(b)]
    checker = z3.Solver()
    checker.add(region, cs.trans(s, t), z3.Not(q2))
    for _ in range(rounds):
        rk = search.synthesise(edges, (timeout - (time.perf_counter() - t0)))
        if rk is None:
            return LeadsToProof("unknown", "no ranking function of the form sum w(x)*#x + table "
                                "fits the sampled steps (a cycle, or one that needs fairness)",
                                seconds=time.perf_counter() - t0)
        checker.push()
        checker.set("timeout", left())
        checker.add(search.r_z3(rk, t) >= search.r_z3(rk, s))
        r = checker.check()
        if r == z3.unsat:
            checker.pop()
            return LeadsToProof("proved", "", rk.text(cs, search.finite_g, search.dkeys),
                                time.perf_counter() - t0)
        if r != z3.sat:
            checker.pop()
            return LeadsToProof("unknown", f"Z3: {checker.reason_unknown()}",
                                seconds=time.perf_counter() - t0)
        m = checker.model()
        checker.pop()
        edges.append((_concrete(cs, search, m, s), _concrete(cs, search, m, t)))
    return LeadsToProof("unknown", f"no ranking function verified after {rounds} rounds",
                        seconds=time.perf_counter() - t0)


def _concrete(cs: CounterSystem, search: RankingSearch, m: z3.ModelRef, st: CState) -> Sample:
    def val(x: z3.ArithRef) -> int:
        return m.eval(x, model_completion=True).as_long()  # type: ignore[attr-defined]
    return Sample(val(cs.N), tuple(val(st.g[k]) for k in search.gkeys),
                  tuple(val(st.d[k]) for k in search.dkeys),
                  tuple(val(st.c[x]) for x in cs.local_states))
