"""Proofs for every number of VMAs and PTEs: the template, a quantified invariant, the property.

A safety property (an invariant, or no deadlock) is proved for every K >= lo and P >= lo when:
the model is one template over K and P (template.py: built once with K and P as symbols, and
compared with the ordinary builds at a few sizes); every array index in it is an action
parameter, page(v, p) of parameters, or a constant within range for every size (so no step can
index out of range); Houdini keeps, from guesses read off small instances, a set of facts
quantified over the VMAs and pages that Z3 shows holds initially and is kept by every step for
symbolic K and P, with every variable within its type; and Z3 shows the property follows from
it. Anything else is `unknown` with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import z3

from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.indexed.encode import Encoder
from oomcheck.checker.indexed.houdini import Cand, NoProofError, Query, houdini, implies_goal
from oomcheck.checker.indexed.template import (
    Aff,
    IndexedFamily,
    NotIndexedError,
    PageOf,
    Template,
    read_template,
)
from oomcheck.checker.indexed.views import Features, guesses, linear_guesses, sample
from oomcheck.checker.indexed.violate import violated_for_every
from oomcheck.checker.language.lang import Const, Expr, Index, Model, ModelError, Op, Param, Property, Quant
from oomcheck.checker.trace import Result

SAMPLE_SIZES = [(2, 2), (3, 2), (2, 3), (4, 2), (3, 3)]


def family_of(model: Model) -> IndexedFamily | None:
    fam = getattr(model, "indexed", None)
    return fam if isinstance(fam, IndexedFamily) and model.rebuild is not None else None


class IndexedProver:
    """The template of one model, and its invariant (found once, shared by the properties)."""

    def __init__(self, model: Model, timeout: float, limits: Limits | None = None):
        fam = family_of(model)
        if fam is None:
            raise NotIndexedError(f"model {model.name} declares no ordered indices")
        self.model, self.fam = model, fam
        self.per_property = timeout
        self.limits = limits or Limits()
        self.deadline = time.perf_counter() + self.limits.max_seconds
        rebuild = model.rebuild
        assert rebuild is not None

        def build(k: int, p: int) -> Model:
            return rebuild({**model.sizes, fam.k_size: k, fam.p_size: p})
        self.build = build
        try:
            self.t: Template = read_template(fam, rebuild, model.sizes)  # type: ignore[arg-type]
        except NotIndexedError:
            raise
        except ModelError as e:  # a size to compare at that the model refuses
            raise NotIndexedError(f"the model cannot be built at a size it is compared at: {e}") from None
        self.enc = Encoder(self.t)
        check_indices(self.t, self.enc)
        self.feats = Features(self.t, self.enc)
        self._inv: list[Cand] | None = None
        self._failed: NoProofError | None = None
        self.tried = 0

    @property
    def covers(self) -> str:
        lo = self.t.lo
        k, p = self.fam.k_size, self.fam.p_size
        return f"every {k} >= {lo[k]} and {p} >= {lo[p]}"

    def rests_on(self) -> str:
        return (f"{self.template_rests_on()}; Z3, for symbolic sizes: a set of facts quantified over "
                "the VMAs and pages holds initially, every step keeps it and the types, and it implies "
                "the property")

    def template_rests_on(self) -> str:
        """What reading the model as one definition for every size rests on."""
        k, p = self.fam.k_size, self.fam.p_size
        at = ", ".join(f"{k}={a} {p}={b}" for a, b in self.t.checked)
        return (f"the model's definition was built once with {k} and {p} as symbols (its Python code "
                "never looked at them: every use of a size is inside the modeling language), so it is "
                f"one definition for every size; it equals the ordinary builds at {at}")

    def timeout(self) -> float:
        left = self.deadline - time.perf_counter()
        if left <= 0:
            raise NoProofError(f"time limit reached ({self.limits.max_seconds:g} s)")
        return min(self.per_property * 4, left)

    def invariant(self, props: list[Property]) -> list[Cand]:
        if self._failed is not None:
            raise self._failed
        if self._inv is None:
            try:
                self._inv = self._find(props)
            except NoProofError as e:
                self._failed = e
                raise
        return self._inv

    def _find(self, props: list[Property]) -> list[Cand]:
        views = sample(self.feats, self.build, SAMPLE_SIZES, max_states=self.limits.max_states)
        facts = guesses(self.feats, views) + linear_guesses(self.feats, views)
        cands = [Cand("every variable within its type", required=True)]
        cands += [Cand(p.name, expr=self.t.properties[p.name].expr)
                  for p in self.t.properties.values() if p.kind == "invariant"]
        cands += [Cand(f.text(self.feats.show), fact=f) for f in facts]
        self.tried = len(cands) - 1
        return houdini(self.enc, self.feats, cands, time.perf_counter() + self.timeout())

    def prove(self, p: Property, props: list[Property]) -> Result:
        t0 = time.perf_counter()
        if p.is_liveness:
            return self.unknown(p, "the indexed engine proves invariants and deadlock freedom only", t0)
        sp = self.t.properties[p.name]
        enc = self.enc
        probe = Query(enc, self.feats, enc.state("probe"), "probe")
        for e in (sp.expr, sp.pre):  # one that cannot be stated is refused before any search
            if e is not None:
                enc.pred(e, probe.s, -1, probe.terms, probe.fresh)
        inv = self.invariant(props)
        if p.kind == "invariant":
            def neg(q: Query, s) -> z3.BoolRef:
                return z3.Not(enc.pred(sp.expr, s, -1, q.terms, q.fresh))  # type: ignore[arg-type]
            extra: Callable[[Query], None] | None = None
        else:
            def neg(q: Query, s) -> z3.BoolRef:
                q.finish()
                return z3.And(z3.Not(enc.pred(self.t.final, s, -1, q.terms, q.fresh)),
                              z3.Not(enc.enabled_somewhere(s, q.terms, q.fresh)))

            def extra(q: Query) -> None:
                for c in self.feats.kcur:
                    for d in (-1, 1):
                        q.terms.add(enc.kd, q.s.scal[c] + d)
                for c in self.feats.pcur:
                    for d in (-1, 1):
                        q.terms.add(enc.pd, q.s.scal[c] + d)
                q.terms.add(enc.kd, z3.IntVal(0))
                q.terms.add(enc.kd, enc.K - 1)
                q.terms.add(enc.pd, z3.IntVal(0))
                q.terms.add(enc.pd, enc.P - 1)
        r, core = implies_goal(enc, self.feats, inv, neg, time.perf_counter() + self.timeout(), extra)
        if r != z3.unsat:
            why = "the invariant found does not imply it" if r == z3.sat else "Z3 did not answer"
            return self.unknown(p, why, t0)
        res = Result(p.name, p.kind, "holds", "indexed", seconds=time.perf_counter() - t0,
                     strength={"kind": "proved", "method": "indexed", "covers": self.covers,
                               "rests_on": self.rests_on(), "facts": len(inv),
                               "invariant": [c.name for c in core]})
        head = (f"inductive for {self.covers}: {len(inv)} facts (kept by Houdini out of {self.tried} "
                "guesses read off the instances at " + ", ".join(f"{k}x{q}" for k, q in SAMPLE_SIZES)
                + "), every variable within its type; cursors are compared with the index they are "
                "stated for")
        body = "\n".join(f"  {c.name}" for c in core[:12])
        more = f"\n  ... {len(core) - 12} more" if len(core) > 12 else ""
        res.invariant = f"{head}\nthe facts it follows from:\n{body}{more}\nrests on: {self.rests_on()}"  # type: ignore[attr-defined]
        assumptions = self.model.helpers.get("assumptions")
        if assumptions is not None:
            res.assumptions = assumptions()  # type: ignore[attr-defined]
        return res

    def unknown(self, p: Property, why: str, t0: float) -> Result:
        return Result(p.name, p.kind, "unknown", "indexed", seconds=time.perf_counter() - t0,
                      strength={"kind": "none"}, reason=f"no proof for every {self.fam.k_size} and "
                      f"{self.fam.p_size}: {why}")


def check_indices(t: Template, enc: Encoder) -> None:
    """Every array index is a parameter over the array's domain, page(v, p) of parameters over
    its two factors, or a constant within range for every size from lo: no step of any instance
    can index out of range, an error the explicit engine would report and a proof must not hide."""
    doms = t.domains

    def walk(e: Expr, bound: dict[str, str]) -> None:
        if isinstance(e, Index):
            d = t.vars[e.array].domain
            _index_ok(t, enc, e.array, d, e.index, bound)  # type: ignore[arg-type]
            if isinstance(e.index, PageOf):
                walk(e.index.outer, bound)
                walk(e.index.inner, bound)
            else:
                walk(e.index, bound)
        elif isinstance(e, Op):
            for a in e.args:
                walk(a, bound)
        elif isinstance(e, Quant):
            walk(e.body, {**bound, e.var: e.domain})
        elif isinstance(e, PageOf):
            raise NotIndexedError("page(v, p) outside an index")

    for a in t.actions:
        b = {p.name: p.domain for p in a.params}
        walk(a.guard, b)
        for lhs, rhs in a.updates:
            walk(lhs, b)
            walk(rhs, b)
        for q, body in a.each:
            for lhs, rhs in body:
                walk(lhs, {**b, q.name: q.domain})
                walk(rhs, {**b, q.name: q.domain})
    for e in [*t.init_constraints, t.final]:
        walk(e, {})
    for p in t.properties.values():
        for e in (p.expr, p.pre):
            if e is not None:
                walk(e, {})
    del doms


def _index_ok(t: Template, enc: Encoder, array: str, d: str, idx: Expr, bound: dict[str, str]) -> None:
    if isinstance(idx, Param):
        if bound.get(idx.name) == d:
            return
        raise NotIndexedError(f"{array} is indexed by a parameter over another domain")
    if isinstance(idx, PageOf):
        fam = t.family
        if d == enc.prod and isinstance(idx.outer, Param) and isinstance(idx.inner, Param) and \
           bound.get(idx.outer.name) == fam.k_dom and bound.get(idx.inner.name) == fam.p_dom:
            return
        raise NotIndexedError(f"{array} is indexed by page(v, p) of something other than parameters")
    if isinstance(idx, (Const, Aff)) and d != enc.prod:
        c = enc.num(idx)
        s = z3.Solver()
        s.add(enc.sizes_ok(), z3.Or(c < 0, c >= enc.size_of(d)))
        if s.check() == z3.unsat:
            return
        raise NotIndexedError(f"the constant index into {array} is out of range for some size")
    raise NotIndexedError(f"{array} is indexed by an expression a step could take out of range")


def check_indexed(model: Model, props: list[Property], timeout: float,
                  limits: Limits | None = None) -> list[Result]:
    """`--engine indexed`: each property proved for every K and P, or violated for every K and P
    (violate.py), or unknown with the reason."""
    try:
        prover = IndexedProver(model, timeout, limits)
    except ModelError as e:
        return [Result(p.name, p.kind, "unknown", "indexed", strength={"kind": "none"},
                       reason=f"not indexed: {e}") for p in props]
    out = []
    for p in props:
        # violated at the smallest size: no invariant can prove it, so go straight to the violation
        r = None if violated_at_lo(prover, p) else prove_one(prover, p, props)
        if r is None or r.verdict == "unknown":
            r = violated_for_every(prover, p, prover.limits) or r or prover.unknown(
                p, "violated at the smallest size, and not shown for every size", time.perf_counter())
        out.append(r)
    return out


def violated_at_lo(prover: IndexedProver, p: Property) -> bool:
    """A counterexample at the smallest size: no invariant can prove p for every size, so a
    caller skips the search for one (minutes of Houdini, for nothing)."""
    if p.is_liveness:
        return False
    lo = prover.t.lo
    small = prover.build(lo[prover.fam.k_size], lo[prover.fam.p_size])
    lim = Limits(prover.limits.max_states, min(prover.limits.max_seconds, 60.0),
                 prover.limits.max_memory_mb)
    return check_explicit(small, [small.properties[p.name]], lim)[0].verdict == "violated"


def prove_one(prover: IndexedProver, p: Property, props: list[Property]) -> Result:
    t0 = time.perf_counter()
    try:
        return prover.prove(p, props)
    except NoProofError as e:
        return prover.unknown(p, str(e), t0)
    except NotIndexedError as e:
        return prover.unknown(p, str(e), t0)
