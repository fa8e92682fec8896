"""Proofs for every thread count: the counter system, an inductive invariant, a ranking function.

Safety (invariants, no deadlock): Houdini finds an inductive invariant of the counter system;
the property is proved for every N >= the smallest size when it is among the surviving facts or
follows from them. Leads-to: ranking.py. A violated property is reported from the explicit
engine at the smallest size, and as violated for every N when generalise.py can replay it.
Whatever is not proved stays `unknown`: the guesses only ever narrow what is tried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import z3

from .counters import CounterSystem, NotSymmetricError, symmetric_family
from .explicit import Limits, check_explicit
from .generalise import generalise
from .houdini import (
    Invariant,
    Lemma,
    ProofTimeoutError,
    Vocabulary,
    candidates,
    houdini,
    preserves_types,
    sample,
)
from .lang import TRUE, Model, ModelError, Property
from .ranking import prove_leads_to
from .trace import Result


@dataclass
class Family:
    """How to rebuild a model at another size: the size that becomes a symbol, its domain."""

    size: str
    domain: str
    lo: int
    hi: int

    def covers(self, model: Model) -> str:
        fixed = [f"{k}={v}" for k, v in model.sizes.items() if k != self.size]
        return f"every {self.size} >= {self.lo}" + (f" ({', '.join(fixed)})" if fixed else "")


def counter_system(model: Model) -> tuple[CounterSystem, Family, Callable[[int], Model]]:
    """The model's counter system, its family, and how to build it at another size."""
    fam = model.family
    rebuild = model.rebuild
    if not isinstance(fam, Family) or rebuild is None:
        raise NotSymmetricError(f"model {model.name} has no size that can become a symbol")

    def build(n: int) -> Model:
        return rebuild({**model.sizes, fam.size: n})

    return symmetric_family(build, fam.size, fam.domain, fam.lo, fam.hi), fam, build


class Prover:
    """One counter system and its invariant, shared by the properties of one check."""

    def __init__(self, model: Model, timeout: float):
        self.model = model
        self.timeout = timeout
        self.cs, self.family, self.build = counter_system(model)
        lo = self.family.lo
        sizes = [n for n in (lo, lo + 1) if n <= self.family.hi]
        self.samples = sample(self.cs, self.build, sizes)
        self.voc = Vocabulary(self.cs)
        self.cands = candidates(self.voc, self.samples)
        self._inv: Invariant | None = None

    def invariant(self, props: list[Property]) -> Invariant:
        if self._inv is None:
            own = [Lemma(p.name, lambda s: True, lambda st, p=p: self.cs.pred(p.expr, st), prop=p.name)
                   for p in props if p.kind == "invariant"]
            self._inv = houdini(self.cs, own + self.cands, self.timeout)
            if preserves_types(self.cs, self._inv, self.timeout) != z3.unsat:
                raise ModelError("a step of the counter system leaves the model's types "
                                 "(a thread lost or a variable out of range)")
        return self._inv

    def prove(self, p: Property, all_props: list[Property]) -> Result:
        t0 = time.perf_counter()
        covers = self.family.covers(self.model)
        strength = {"kind": "proved", "method": "parametric", "covers": covers}
        inv = self.invariant(all_props)
        lemmas = [lm.text for lm in inv.lemmas]
        if p.is_liveness:
            pre = p.pre if p.kind == "leads_to" else TRUE
            lt = prove_leads_to(self.cs, inv, pre, p.expr, self.samples,  # type: ignore[arg-type]
                                self.timeout)
            if lt.verdict != "proved":
                return self.unknown(p, lt.reason, t0)
            res = Result(p.name, p.kind, "holds", "parametric", seconds=time.perf_counter() - t0,
                         strength={**strength, "ranking": lt.ranking, "invariant": lemmas})
            rows = lt.ranking.split("\n")
            shown = "\n".join(rows[:12]) + (f"\n    ... {len(rows) - 12} more terms (--format json "
                                             "lists them all)" if len(rows) > 12 else "")
            res.invariant = (f"{self._core_text(inv, None)}\n"  # type: ignore[attr-defined]
                             "with it, every step from a state where the premise holds and the goal "
                             "does not keeps the premise or reaches the goal, some fair step is "
                             "always enabled there, and every step that does not reach the goal "
                             f"decreases the ranking function\n  r = {shown}")
            return res
        s = self.cs.fresh("s")
        if p.kind == "invariant":
            bad = z3.Not(self.cs.pred(p.expr, s))  # type: ignore[arg-type]
        else:
            bad = self.cs.deadlocked(s)
        sol = z3.Solver()
        sol.set("timeout", max(1, int(self.timeout * 1000)))
        sol.set("core.minimize", True)
        sol.add(self.cs.well_formed(s), bad)
        tracked = {}
        for j, lm in enumerate(inv.lemmas):
            b = z3.Bool(f"lemma{j}")
            tracked[b.get_id()] = lm
            sol.assert_and_track(lm.z3(s), b)
        r = sol.check()
        if r != z3.unsat:
            why = ("the invariant found does not imply it" if r == z3.sat
                   else f"Z3: {sol.reason_unknown()}")
            return self.unknown(p, why, t0)
        core = [tracked[b.get_id()] for b in sol.unsat_core()]
        res = Result(p.name, p.kind, "holds", "parametric", seconds=time.perf_counter() - t0,
                     strength={**strength, "invariant": lemmas})
        res.invariant = self._core_text(inv, core)  # type: ignore[attr-defined]
        return res

    def _core_text(self, inv: Invariant, core: list[Lemma] | None) -> str:
        head = (f"inductive for every {self.family.size} >= {self.family.lo}: {len(inv.lemmas)} "
                f"facts (kept by Houdini out of {inv.tried} guesses); "
                "#(...) counts the threads other than ")
        head += ", ".join(f"{self.cs.model.actor_names.get(self.cs.domain, 'thread')} {i}"
                          for i in self.cs.dist) + " in that local state"
        if core is None:
            return head
        return head + "\nthe facts the property follows from:\n" + "\n".join(f"  {lm.text}" for lm in core)

    def unknown(self, p: Property, why: str, t0: float) -> Result:
        return Result(p.name, p.kind, "unknown", "parametric", seconds=time.perf_counter() - t0,
                      strength={"kind": "none"}, reason=f"no proof for every {self.family.size}: {why}")


def check_parametric(model: Model, props: list[Property], timeout: float,
                     limits: Limits | None = None) -> list[Result]:
    """Prove each property for every N; what is not proved is checked explicitly at the smallest
    size, and a violation there is generalised to every N when it can be."""
    try:
        prover = Prover(model, timeout)
    except ModelError as e:  # not symmetric, or a small instance breaks its own types
        why = f"not parametric: {e}" if isinstance(e, NotSymmetricError) else str(e)
        return [Result(p.name, p.kind, "unknown", "parametric", strength={"kind": "none"},
                       reason=why) for p in props]
    out = []
    for p in props:
        r = prove_one(prover, p, props)
        if r.verdict == "unknown":
            r = violation_for_all(prover, p, limits) or r
        out.append(r)
    return out


def prove_one(prover: Prover, p: Property, props: list[Property]) -> Result:
    t0 = time.perf_counter()
    try:
        return prover.prove(p, props)
    except ProofTimeoutError as e:
        return prover.unknown(p, str(e), t0)


def violation_for_all(prover: Prover, p: Property, limits: Limits | None) -> Result | None:
    """A violation at the smallest size, replayed for every larger one; failing that, a
    violation at each size up to some base whose counterexample replays from there on."""
    fam = prover.family
    found: list[str] = []
    first: Result | None = None
    for base in range(fam.lo, min(fam.lo + 2, fam.hi) + 1):
        small = prover.build(base)
        ex = check_explicit(small, [small.properties[p.name]], limits or Limits())[0]
        if ex.verdict != "violated" or ex.trace is None:
            return None
        first = first or ex
        how = generalise(prover.cs, small, small.properties[p.name], ex.trace, prover.timeout)
        if how is not None:
            below = f"; violated at {fam.size}={', '.join(found)} (explicit)" if found else ""
            first.engine = "parametric"
            first.strength = {"kind": "proved", "method": "parametric",
                              "covers": fam.covers(prover.model),
                              "generalised_from": {fam.size: base}}
            first.reason = how + below
            return first
        found.append(str(base))
    return None
