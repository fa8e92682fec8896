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

import z3

from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.language.lang import TRUE, Model, ModelError, Property, Size, symbolic_build
from oomcheck.checker.language.sizes import Family, definition, instantiate
from oomcheck.checker.parametric.counters import (
    CounterSystem,
    NotSymmetricError,
    from_symbolic,
)
from oomcheck.checker.parametric.generalise import generalise
from oomcheck.checker.parametric.houdini import (
    Invariant,
    Lemma,
    NoProofError,
    Vocabulary,
    candidates,
    houdini,
    preserves_types,
    sample,
)
from oomcheck.checker.parametric.ranking import prove_leads_to
from oomcheck.checker.trace import Result


def counter_system(model: Model) -> tuple[CounterSystem, Family, Callable[[int], Model]]:
    """The model's counter system, its family, and how to build it at a given size.

    The variant is built once more with its size as a symbol: Python code cannot branch on it,
    so that one definition is the model at every size. As a check that can fail, the symbolic
    definition with the size replaced by lo..lo+3 and hi must equal the ordinary builds there."""
    fam = model.family
    rebuild = model.rebuild
    if not isinstance(fam, Family) or rebuild is None:
        raise NotSymmetricError(f"model {model.name} has no size that can become a symbol")

    def build(n: int) -> Model:
        return rebuild({**model.sizes, fam.size: n})

    sym = Size(fam.size)
    with symbolic_build() as ctx:
        try:
            symbolic = rebuild({**model.sizes, fam.size: sym})
        except Exception as e:  # a user's variant file may fail in any way
            symbolic, why = None, f"{type(e).__name__}: {e}" if not isinstance(e, ModelError) else str(e)
    if ctx.misuse:
        raise NotSymmetricError(f"the model's definition depends on {fam.size} in Python code, not "
                                f"only through the modeling language: {ctx.misuse[0]}")
    if symbolic is None:
        raise NotSymmetricError(f"the model cannot be built with {fam.size} as a symbol: {why}")
    cs = from_symbolic(symbolic, sym, fam.domain, fam.lo)
    # compared at the sizes the samples come from, two more and the largest the explicit engine
    # takes: a test that can fail (of the recording above), not the argument
    for n in sorted({fam.lo, fam.lo + 1, fam.lo + 2, fam.lo + 3, fam.hi} & set(range(fam.lo, fam.hi + 1))):
        want, got = definition(build(n)), definition(instantiate(symbolic, {fam.size: n}))
        if want != got:
            what = next((a.split("\n", 1)[0] for a, b in zip(want, got, strict=False) if a != b),
                        "the list of declarations")
            raise NotSymmetricError(f"built with {fam.size} as a symbol, the model differs from its "
                                    f"build at {fam.size}={n} (in {what})")
    return cs, fam, build


class Prover:
    """One counter system and its invariant, shared by the properties of one check. Every Z3
    call gets the smaller of the per-property timeout and what is left of --max-seconds."""

    def __init__(self, model: Model, timeout: float, limits: Limits | None = None):
        self.model = model
        self.per_property = timeout
        self.limits = limits or Limits()
        self.deadline = time.perf_counter() + self.limits.max_seconds
        self.cs, self.family, self.build = counter_system(model)
        lo = self.family.lo
        sizes = [n for n in (lo, lo + 1) if n <= self.family.hi]
        self.samples = sample(self.cs, self.build, sizes)
        self.voc = Vocabulary(self.cs)
        self._cands: list[Lemma] | None = None
        self._inv: Invariant | None = None
        self._inv_failed: Exception | None = None

    @property
    def cands(self) -> list[Lemma]:
        """Houdini's guesses, made when a proof first needs them."""
        if self._cands is None:
            self._cands = candidates(self.voc, self.samples)
        return self._cands

    def broken_in_sample(self, p: Property) -> bool:
        """Whether a state the explicit engine reached at the smallest size breaks the
        invariant p: then no inductive invariant implies it (Houdini would only drop it)."""
        comp = self.samples.compiled.get(self.family.lo)
        if p.kind != "invariant" or comp is None:
            return False
        inst = comp.model.properties.get(p.name)  # type: ignore[attr-defined]
        if inst is None:
            return False
        holds = comp.predicate(inst.expr)  # type: ignore[attr-defined]
        return any(not holds(x) for smp, x in self.samples.rep.items() if smp.n == self.family.lo)

    @property
    def timeout(self) -> float:
        left = self.deadline - time.perf_counter()
        if left <= 0:
            raise NoProofError(f"time limit reached ({self.limits.max_seconds:g} s)")
        return min(self.per_property, left)

    def invariant(self, props: list[Property]) -> Invariant:
        """Houdini once per check; a failure is remembered, not recomputed per property."""
        if self._inv_failed is not None:
            raise self._inv_failed
        if self._inv is None:
            own = [Lemma(p.name, lambda s: True, lambda st, p=p: self.cs.pred(p.expr, st), prop=p.name)
                   for p in map(self.symbolic, props) if p.kind == "invariant"]
            try:
                inv = houdini(self.cs, own + self.cands, self.timeout)
                kept, n = preserves_types(self.cs, inv, self.timeout)
                if kept == z3.sat:
                    self._range_error_at(n)
                    raise NoProofError(
                        "a step may leave the model's types for some "
                        f"{self.family.size} (a variable out of its declared range, or a thread "
                        "lost), as far as the invariant found can tell")
                if kept != z3.unsat:
                    raise NoProofError("Z3 could not show that every step stays within the types")
            except NoProofError as e:
                self._inv_failed = e
                raise
            self._inv = inv
        return self._inv

    def _range_error_at(self, cti: int | None) -> None:
        """A step that may leave a type: look for it, explicitly, at the sizes from the
        smallest up to the one Z3 named (five at most); found, it is the model's error at that
        size, reported as the explicit engine reports it."""
        fam = self.family
        last = min(fam.hi, fam.lo + 4, max(fam.lo, cti or fam.lo))
        for n in range(fam.lo, last + 1):
            small = self.build(n)
            left = Limits(self.limits.max_states, min(self.limits.max_seconds, self.timeout),
                          self.limits.max_memory_mb)
            try:
                check_explicit(small, list(small.properties.values())[:1], left)
            except NoProofError:
                raise
            except ModelError as e:
                raise ModelError(f"at {fam.size}={n}: {e}") from None

    def symbolic(self, p: Property) -> Property:
        """The property as the symbolic model states it: the instance's may have the size
        folded in (`count(...) != n - 1` is `!= 2` at n = 3)."""
        return self.cs.model.properties[p.name]

    def prove(self, p: Property, all_props: list[Property]) -> Result:
        t0 = time.perf_counter()
        p = self.symbolic(p)
        covers = self.family.covers(self.model)
        strength = {"kind": "proved", "method": "parametric", "covers": covers}
        if self.broken_in_sample(p):
            raise NoProofError(f"violated at {self.family.size}={self.family.lo} (a state the "
                               "explicit engine reaches breaks it)")
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
            return self._assumed(res)
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
        return self._assumed(res)

    def _assumed(self, res: Result) -> Result:
        """A proof is about the model: what the model assumes of the kernel goes with it."""
        assumptions = self.model.helpers.get("assumptions")
        if assumptions is not None:
            res.assumptions = assumptions()  # type: ignore[attr-defined]
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
        if time.perf_counter() >= self.deadline and "time limit" not in why:
            # a Z3 query cut short by --max-seconds says "timeout" or "canceled": name the limit
            why = f"time limit reached ({self.limits.max_seconds:g} s): {why}"
        return Result(p.name, p.kind, "unknown", "parametric", seconds=time.perf_counter() - t0,
                      strength={"kind": "none"}, reason=f"no proof for every {self.family.size}: {why}")


def check_parametric(model: Model, props: list[Property], timeout: float,
                     limits: Limits | None = None) -> list[Result]:
    """Prove each property for every N; what is not proved is checked explicitly at the smallest
    size, and a violation there is generalised to every N when it can be."""
    try:
        prover = Prover(model, timeout, limits)
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
    except NoProofError as e:
        return prover.unknown(p, str(e), t0)
    except NotSymmetricError as e:  # found while reading a guard or a property (`t < 2`)
        r = prover.unknown(p, "", t0)
        r.reason = f"not parametric: {e}"
        return r


def violation_for_all(prover: Prover, p: Property, limits: Limits | None) -> Result | None:
    """A violation at the smallest size, replayed for every larger one; failing that, a
    violation at each size up to some base whose counterexample replays from there on. The
    claim is also checked, as a test that can fail, by the explicit engine at the next two sizes."""
    try:
        return _violation_for_all(prover, p, limits or prover.limits)
    except (NoProofError, NotSymmetricError):
        return None


def _violation_for_all(prover: Prover, p: Property, limits: Limits) -> Result | None:
    fam = prover.family
    found: list[str] = []
    first: Result | None = None

    def explicit(n: int) -> Result:
        small = prover.build(n)
        left = Limits(limits.max_states, min(limits.max_seconds, prover.timeout), limits.max_memory_mb)
        return check_explicit(small, [small.properties[p.name]], left)[0]

    for base in range(fam.lo, min(fam.lo + 2, fam.hi) + 1):
        ex = explicit(base)
        if ex.verdict != "violated" or ex.trace is None:
            return None
        first = first or ex
        small = prover.build(base)
        how = generalise(prover.cs, small, small.properties[p.name], ex.trace, prover.timeout)
        if how is not None:
            again = [explicit(n).verdict for n in (base + 1, base + 2) if n <= fam.hi]
            if "unknown" in again:
                return None
            if "holds" in again:
                raise ModelError(f"internal error: the {p.name} counterexample was generalised to "
                                 f"every {fam.size} >= {base}, but the explicit engine does not "
                                 f"find it at {fam.size}={base + 1} or {base + 2}; please report")
            below = f"; violated at {fam.size}={', '.join(found)} (explicit)" if found else ""
            first.engine = "parametric"
            first.strength = {"kind": "proved", "method": "parametric",
                              "covers": fam.covers(prover.model),
                              "generalised_from": {fam.size: base},
                              "checked_explicitly": [n for n in (base + 1, base + 2) if n <= fam.hi]}
            first.reason = how + below + (f" (and the explicit engine finds the violation at "
                                          f"{fam.size}={base + 1} and {base + 2})")
            return first
        found.append(str(base))
    return None
