"""Inductive invariants of a counter system, for every N: guessed from small instances, checked
by Z3 (Houdini: drop every candidate some step can break, until the rest is inductive).

The guesses come from the reachable states of the explicit model at the smallest sizes: facts
that held in all of them (no other thread is ever in this local state when oom_pc is DONE; this
linear equation over the counters holds; this bound). Only Z3's check makes a guess an invariant;
what survives is inductive for every N, whatever the samples were.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd, lcm

import z3

from oomcheck.checker.language.compile import compile_model
from oomcheck.checker.language.lang import Expr, IntType, Model, ModelError
from oomcheck.checker.parametric.counters import CounterSystem, CState, Key


@dataclass(frozen=True)
class Sample:
    n: int
    g: tuple[int, ...]
    d: tuple[int, ...]
    c: tuple[int, ...]


@dataclass
class Samples:
    states: set[Sample] = field(default_factory=set)
    edges: set[tuple[Sample, Sample]] = field(default_factory=set)
    # one explicit state per sample, and the compiled model of its size, to evaluate the
    # model's own expressions on a sample at Python speed
    rep: dict[Sample, int] = field(default_factory=dict)
    compiled: dict[int, object] = field(default_factory=dict)

    def predicate(self, e: Expr) -> Callable[[Sample], bool]:
        preds = {n: comp.predicate(e) for n, comp in self.compiled.items()}  # type: ignore[attr-defined]
        return lambda s: preds[s.n](self.rep[s])


def sample(cs: CounterSystem, build: Callable[[int], Model], sizes: list[int],
           max_states: int = 150_000, edge_sizes: int = 2) -> Samples:
    """The reachable states (as counter-system states) of the explicit model at these sizes, and
    the steps between them at the first edge_sizes sizes."""
    out = Samples()
    proto = cs.fresh("p")
    gkeys, dkeys = list(proto.g), list(proto.d)
    for j, n in enumerate(sizes):
        comp = compile_model(build(n))
        out.compiled[n] = comp
        lay = comp.layout
        keys = [(name, i) for name, i, _ in lay.slots]
        memo: dict[int, Sample] = {}

        def absd(s: int, n: int = n, lay=lay, keys=keys, memo=memo) -> Sample:
            if s not in memo:
                vals = dict(zip(keys, lay.decode(s), strict=True))
                g, d, c = cs.abstract(vals)
                memo[s] = Sample(n, tuple(g[k] for k in gkeys), tuple(d[k] for k in dkeys),
                                 tuple(c[x] for x in cs.local_states))
                out.rep.setdefault(memo[s], s)
            return memo[s]

        frontier = comp.initial_states()
        seen = set(frontier)
        keep_edges = j < edge_sizes
        while frontier:
            nxt = []
            for s in frontier:
                succ: list = []
                comp.expand(s, succ)
                a = absd(s)
                out.states.add(a)
                for _, t in succ:
                    if keep_edges:
                        out.edges.add((a, absd(t)))
                    if t not in seen:
                        seen.add(t)
                        nxt.append(t)
            if len(seen) > max_states:
                break  # samples only guide the guesses: fewer of them cost no soundness
            frontier = nxt
    return out


# --------------------------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------------------------


@dataclass
class Lemma:
    text: str
    holds: Callable[[Sample], bool]
    z3: Callable[[CState], z3.BoolRef]
    prop: str = ""  # the property it is, when it is one


class Vocabulary:
    """Names and values of a counter system's state, for samples and Z3 states alike."""

    def __init__(self, cs: CounterSystem):
        self.cs = cs
        proto = cs.fresh("p")
        self.gkeys: list[Key] = list(proto.g)
        self.dkeys: list[Key] = list(proto.d)
        m = cs.model
        self.atoms: list[tuple[str, int, int]] = []  # (g|d, position, value)
        for kind, keys in (("g", self.gkeys), ("d", self.dkeys)):
            for pos, (name, _) in enumerate(keys):
                t = m.vars[name].type
                if isinstance(t, IntType):
                    continue
                vals = list(t.values())
                for v in vals[1:] if len(vals) == 2 else vals:
                    self.atoms.append((kind, pos, v))
        # numeric features: N, integer globals, and how many others have field = value
        self.int_g = [p for p, (name, _) in enumerate(self.gkeys)
                      if isinstance(m.vars[name].type, IntType)]
        self.fields: list[tuple[int, int]] = []
        for f, name in enumerate(cs.locals):
            vals = list(m.vars[name].type.values())
            for v in vals[1:] if len(vals) == 2 else vals:
                self.fields.append((f, v))
        self.field_members = [[j for j, x in enumerate(cs.local_states) if x[f] == v]
                              for f, v in self.fields]
        self._fz: dict[int, tuple[CState, list[z3.ArithRef]]] = {}

    def key_name(self, kind: str, pos: int) -> str:
        name, i = (self.gkeys if kind == "g" else self.dkeys)[pos]
        return self.cs.model.slot_name(name, i)

    def atom_text(self, a: tuple[str, int, int]) -> str:
        kind, pos, v = a
        keys = self.gkeys if kind == "g" else self.dkeys
        t = self.cs.model.vars[keys[pos][0]].type
        return f"{self.key_name(kind, pos)}={t.show(v)}"

    def atom_py(self, a: tuple[str, int, int], s: Sample) -> bool:
        kind, pos, v = a
        return (s.g if kind == "g" else s.d)[pos] == v

    def atom_z3(self, a: tuple[str, int, int], st: CState) -> z3.BoolRef:
        kind, pos, v = a
        return (st.g[self.gkeys[pos]] if kind == "g" else st.d[self.dkeys[pos]]) == v

    # numeric features ------------------------------------------------------------------------

    def feature_names(self) -> list[str]:
        names = ["N"] + [self.key_name("g", p) for p in self.int_g]
        names += [f"[{self.atom_text(a)}]" for a in self.atoms]
        for f, v in self.fields:
            name = self.cs.locals[f]
            names.append(f"#others({name}={self.cs.model.vars[name].type.show(v)})")
        return names

    def features_py(self, s: Sample) -> list[int]:
        out = [s.n] + [s.g[p] for p in self.int_g]
        out += [int(self.atom_py(a, s)) for a in self.atoms]
        out += [sum(s.c[j] for j in members) for members in self.field_members]
        return out

    def features_z3(self, st: CState) -> list[z3.ArithRef]:
        key = id(st)
        if key not in self._fz:
            self._fz[key] = (st, self._features_z3(st))
        return self._fz[key][1]

    def _features_z3(self, st: CState) -> list[z3.ArithRef]:
        out: list[z3.ArithRef] = [self.cs.N] + [st.g[self.gkeys[p]] for p in self.int_g]
        out += [z3.If(self.atom_z3(a, st), 1, 0) for a in self.atoms]
        locs = self.cs.local_states
        out += [z3.Sum([st.c[locs[j]] for j in members]) if members else z3.IntVal(0)
                for members in self.field_members]
        return out


def candidates(voc: Vocabulary, samples: Samples) -> list[Lemma]:
    cs = voc.cs
    states = list(samples.states)
    out: list[Lemma] = []
    conds: list[tuple[str, int, int] | None] = [None, *[a for a in voc.atoms if a[0] == "g"]]
    all_atoms = voc.atoms

    # 1. no other thread in local state x (when atom a holds)
    occupied: dict[tuple[str, int, int] | None, set[int]] = {a: set() for a in [None, *all_atoms]}
    for s in states:
        occ = {j for j, k in enumerate(s.c) if k}
        occupied[None] |= occ
        for a in all_atoms:
            if voc.atom_py(a, s):
                occupied[a] |= occ
    never = set(range(len(cs.local_states))) - occupied[None]
    for j in sorted(never):
        out.append(_empty(voc, None, j))
    for a in all_atoms:
        for j in sorted(set(range(len(cs.local_states))) - occupied[a] - never):
            out.append(_empty(voc, a, j))

    # 1b. a distinguished thread is never in local state x (when atom a holds)
    for pos0 in range(0, len(voc.dkeys), max(1, len(cs.locals))):
        width = len(cs.locals)
        seen_any: set[tuple] = set()
        seen_under: dict = {a: set() for a in conds if a is not None}
        for s in states:
            x = s.d[pos0:pos0 + width]
            seen_any.add(x)
            for a in seen_under:
                if voc.atom_py(a, s):
                    seen_under[a].add(x)
        i = voc.dkeys[pos0][1]
        for a in [None, *seen_under]:
            pool = seen_any if a is None else seen_under[a]
            for x in cs.local_states:
                if x in pool or (a is not None and x not in seen_any):
                    continue
                text = f"{cs.model.actor_names.get(cs.domain, 'thread')} {i} not in {cs.show_local(x)}"
                out.append(_guarded(
                    voc, a, lambda s, p0=pos0, x=x, w=width: s.d[p0:p0 + w] != x,
                    lambda st, i=i, x=x: z3.Not(z3.And([st.d[(n, i)] == v
                                                        for n, v in zip(cs.locals, x, strict=True)])),
                    text))

    # 2. implications between atoms of the globals and distinguished threads
    for a, b in itertools.permutations(all_atoms, 2):
        if a[:2] == b[:2]:
            continue
        if all(voc.atom_py(b, s) for s in states if voc.atom_py(a, s)) and \
                any(voc.atom_py(a, s) for s in states):
            out.append(Lemma(f"{voc.atom_text(a)} -> {voc.atom_text(b)}",
                             lambda s, a=a, b=b: not voc.atom_py(a, s) or voc.atom_py(b, s),
                             lambda st, a=a, b=b: z3.Implies(voc.atom_z3(a, st), voc.atom_z3(b, st))))

    # 3. linear equations and 4. bounds over the numeric features, per condition
    names = voc.feature_names()
    feats = {s: voc.features_py(s) for s in states}
    for a in conds:
        rows = [feats[s] for s in states if a is None or voc.atom_py(a, s)]
        if not rows:
            continue
        for coef in _equations(rows):
            out.append(_linear(voc, a, coef, names))
        out.extend(_bounds(voc, a, [s for s in states if a is None or voc.atom_py(a, s)],
                           feats, names))
    return out


def _guarded(voc: Vocabulary, a, body_py, body_z3, text: str) -> Lemma:
    if a is None:
        return Lemma(text, body_py, body_z3)
    return Lemma(f"{voc.atom_text(a)} -> {text}",
                 lambda s: not voc.atom_py(a, s) or body_py(s),
                 lambda st: z3.Implies(voc.atom_z3(a, st), body_z3(st)))


def _empty(voc: Vocabulary, a, j: int) -> Lemma:
    loc = voc.cs.local_states[j]
    return _guarded(voc, a, lambda s: s.c[j] == 0, lambda st: st.c[loc] == 0,
                    f"no other thread in {voc.cs.show_local(loc)}")


def _linear(voc: Vocabulary, a, coef: list[int], names: list[str]) -> Lemma:
    """coef[0] + sum coef[i+1] * feature[i] == 0."""
    const, ks = coef[0], coef[1:]
    lhs = [(k, n) for k, n in zip(ks, names, strict=True) if k]
    text = " + ".join(f"{k}*{n}" if k != 1 else n for k, n in lhs).replace("+ -", "- ")
    text = f"{text} == {-const}"
    return _guarded(voc, a,
                    lambda s: const + sum(k * f for k, f in zip(ks, voc.features_py(s), strict=True)) == 0,
                    lambda st: const + z3.Sum([k * f for k, f in zip(ks, voc.features_z3(st), strict=True)
                                               if k]) == 0,
                    text)


def _bounds(voc: Vocabulary, a, states: list[Sample], feats: dict, names: list[str]) -> list[Lemma]:
    out = []
    by_n: dict[int, list[list[int]]] = {}
    for s in states:
        by_n.setdefault(s.n, []).append(feats[s])
    if len(by_n) < 2:
        return out
    for i, name in enumerate(names):
        if i == 0:
            continue
        lows = {n: min(r[i] for r in rows) for n, rows in by_n.items()}
        highs = {n: max(r[i] for r in rows) for n, rows in by_n.items()}
        if len(set(lows.values())) == 1:
            lo = next(iter(lows.values()))
            out.append(_guarded(voc, a, lambda s, i=i, lo=lo: voc.features_py(s)[i] >= lo,
                                lambda st, i=i, lo=lo: voc.features_z3(st)[i] >= lo, f"{name} >= {lo}"))
        if len(set(highs.values())) == 1:
            hi = next(iter(highs.values()))
            out.append(_guarded(voc, a, lambda s, i=i, hi=hi: voc.features_py(s)[i] <= hi,
                                lambda st, i=i, hi=hi: voc.features_z3(st)[i] <= hi, f"{name} <= {hi}"))
        elif len({n - h for n, h in highs.items()}) == 1:
            k = next(iter(n - h for n, h in highs.items()))
            out.append(_guarded(voc, a, lambda s, i=i, k=k: voc.features_py(s)[i] <= s.n - k,
                                lambda st, i=i, k=k: voc.features_z3(st)[i] <= voc.cs.N - k,
                                f"{name} <= N - {k}"))
    return out


def _equations(rows: list[list[int]]) -> list[list[int]]:
    """Integer bases of the affine equations every row satisfies: c0 + c . row == 0.

    Gaussian elimination over the integers: each basis row is kept as an integer multiple of
    the reduced row (pivot 1) rational elimination would hold, so the zero pattern, hence the
    pivots and the basis returned, are the rational method's; Fractions only at the end."""
    vecs = {tuple([1, *r]) for r in rows}
    basis: list[list[int]] = []  # a reduced echelon form of the span, each row scaled
    pivots: list[int] = []
    for v in vecs:
        w = list(v)
        for b, p in zip(basis, pivots, strict=True):
            wp = w[p]
            if wp:
                bp = b[p]
                w = [x * bp - wp * y for x, y in zip(w, b, strict=True)]
        p = next((i for i, x in enumerate(w) if x), None)
        if p is None:
            continue
        w = _primitive(w)
        for k, b in enumerate(basis):
            bp = b[p]
            if bp:
                wp = w[p]
                basis[k] = _primitive([x * wp - bp * y for x, y in zip(b, w, strict=True)])
        basis.append(w)
        pivots.append(p)
        if len(basis) == len(w):
            return []
    dim = len(next(iter(vecs)))
    free = [i for i in range(dim) if i not in pivots]
    out = []
    for f in free:
        sol = [Fraction(0)] * dim
        sol[f] = Fraction(1)
        for b, p in zip(basis, pivots, strict=True):
            sol[p] = -Fraction(b[f], b[p])
        den = lcm(*[x.denominator for x in sol])
        out.append([int(x * den) for x in sol])
    return out


def _primitive(w: list[int]) -> list[int]:
    """w divided by the gcd of its entries (the same row, with small integers)."""
    g = gcd(*w)
    return [x // g for x in w] if g > 1 else w


# --------------------------------------------------------------------------------------------
# Houdini
# --------------------------------------------------------------------------------------------


@dataclass
class Invariant:
    lemmas: list[Lemma]
    seconds: float
    rounds: int
    dropped: int

    @property
    def tried(self) -> int:
        return len(self.lemmas) + self.dropped

    def z3(self, st: CState) -> z3.BoolRef:
        return z3.And([lm.z3(st) for lm in self.lemmas]) if self.lemmas else z3.BoolVal(True)


class NoProofError(ModelError):
    """No proof: a solver limit, the time limit, or a side condition that could not be shown."""


def one_shot_solver() -> z3.Solver:
    """A solver for one query: Z3's preprocessing first (the successor state is solved away by
    its equations), then the SMT core. Measured on the freezer's Houdini queries: about ten
    times faster than an incremental solver, which skips that preprocessing."""
    return z3.Then("simplify", "propagate-values", "solve-eqs", "smt").solver()


def houdini(cs: CounterSystem, lemmas: list[Lemma], timeout: float) -> Invariant:
    """The largest subset of lemmas that holds initially and that every step preserves.

    That subset is unique (the union of two inductive subsets is inductive), and a lemma is
    only dropped when a state or a step from a state where every live lemma holds breaks it,
    so no lemma of it is ever dropped: the order of the drops does not matter. Each query
    assumes the current live set and asks for a step breaking one of them, on a fresh solver."""
    t0 = time.perf_counter()
    live = list(lemmas)
    s, t = cs.fresh("s"), cs.fresh("t")
    at_s = {id(lm): lm.z3(s) for lm in lemmas}
    at_t = {id(lm): lm.z3(t) for lm in lemmas}
    rounds = 0

    def drop(parts: list[z3.BoolRef], at: dict[int, z3.BoolRef]) -> bool:
        """Drop the live lemmas a model of parts falsifies (in at); False when unsat."""
        nonlocal live, rounds
        rounds += 1
        left = timeout - (time.perf_counter() - t0)
        if left <= 0:
            raise NoProofError("Houdini ran out of time")
        sol = one_shot_solver()
        sol.set("timeout", max(1, int(left * 1000)))
        sol.add(*parts, z3.Or([z3.Not(at[id(lm)]) for lm in live]))
        r = sol.check()
        if r == z3.unsat:
            return False
        if r != z3.sat:
            raise NoProofError(f"Z3 answered {r} ({sol.reason_unknown()})")
        mdl = sol.model()
        keep = [lm for lm in live if z3.is_true(mdl.eval(at[id(lm)], model_completion=True))]
        if len(keep) == len(live):  # pragma: no cover - Z3's model contradicts its answer
            raise NoProofError("Z3's model breaks none of the facts it was asked to break")
        live = keep
        return True

    init = cs.init(s)
    while live and drop([init], at_s):
        pass
    step = [cs.well_formed(s), cs.trans(s, t)]
    while live and drop([*step, *(at_s[id(lm)] for lm in live)], at_t):
        pass
    return Invariant(live, time.perf_counter() - t0, rounds, len(lemmas) - len(live))


def preserves_types(cs: CounterSystem, inv: Invariant, timeout: float
                    ) -> tuple[z3.CheckSatResult, int | None]:
    """Whether a step from an invariant state can leave the state space (a thread lost, a
    variable out of its declared range); with sat, the N of such a step."""
    s, t = cs.fresh("s"), cs.fresh("t")
    sol = z3.Solver()  # not one_shot_solver: its model's N, where a step may leave, is another
    sol.set("timeout", max(1, int(timeout * 1000)))
    sol.add(cs.well_formed(s), inv.z3(s), cs.trans(s, t), z3.Not(cs.well_formed(t)))
    r = sol.check()
    n = sol.model().eval(cs.N, model_completion=True).as_long() if r == z3.sat else None
    return r, n  # type: ignore[return-value]
