"""Candidate facts about one index, guessed from the reachable states of small instances.

A state is seen from one VMA v (or one page (v, p)): the global scalars, where each cursor is
relative to v (two below, one below, at, one above, two or more above) and to the ends of its
domain, and v's own array elements. The guesses are implications between such features that held
in every sampled state for every v (`for every VMA v: reaper_pc == ITER and reaper_cur - v == 1
-> seen_reaper[v] == 0`), and the set of values v's own elements took together. Only Z3 makes a
guess a fact (houdini.py); what the samples missed costs precision, never soundness.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import z3

from oomcheck.checker.indexed.encode import Encoder, State, Term, fast_and, fast_implies, fast_or
from oomcheck.checker.indexed.template import Aff, Template
from oomcheck.checker.language.compile import compile_model
from oomcheck.checker.language.lang import Model

Feature = tuple  # ("g", name) | ("ga", name, i) | ("b0", c) | ("bN", c) | ("cc", c, d) | ("rel", c) ...
CLAMP = {"b0": (-1, 1), "bN": (-2, 1), "cc": (-2, 2), "rel": (-2, 2), "relp": (-2, 2)}
PAGE_KINDS = ("relp", "pl", "pp", "ip0", "ipN")
INDEX_KINDS = ("rel", "l", "iv0", "ivN", *PAGE_KINDS)


def _tid(t: object) -> object:
    if t is None:
        return None
    if isinstance(t, tuple):
        return tuple(x.get_id() for x in t)
    return t.get_id()  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Fact:
    """scope G (no index), V (for every VMA v) or PG (for every page (v, p)): either
    `ante -> cons in allowed`, or `the tuple of feats is one of allowed` (cons None)."""

    scope: str
    ante: tuple[tuple[Feature, int], ...]
    cons: Feature | None
    allowed: frozenset
    feats: tuple[Feature, ...] = ()
    # a linear fact: cons == sum of one table per feature (feature, ((value, weight), ...))
    lin: tuple[tuple[Feature, tuple[tuple[int, Fraction], ...]], ...] = ()

    def text(self, show: Callable[[Feature, int], str]) -> str:
        q = {"G": "", "V": "for every VMA v: ", "PG": "for every page (v, p): "}[self.scope]
        if self.lin:
            terms = [" + ".join(f"{w}*[{show(f, a)}]" for a, w in tab if w) for f, tab in self.lin]
            return f"{self.cons[1]} == " + " + ".join(t for t in terms if t)  # type: ignore[index]
        if self.cons is None:
            rows = " | ".join("(" + ", ".join(show(f, a) for f, a in zip(self.feats, t, strict=True)) + ")"
                              for t in sorted(self.allowed))
            return f"{q}one of {rows}"
        lhs = " and ".join(show(f, a) for f, a in self.ante)
        rhs = " or ".join(show(self.cons, a) for a in sorted(self.allowed))
        return f"{q}{lhs} -> {rhs}"


class Features:
    """The features of a template and how to read them from a sample and in Z3."""

    def __init__(self, t: Template, enc: Encoder):
        self.t, self.enc = t, enc
        self._memo: dict[tuple, z3.BoolRef] = {}
        fam = t.family
        self.kd, self.pd, self.prod = fam.k_dom, fam.p_dom, enc.prod
        self.glob: list[Feature] = []
        self.kcur: list[str] = []
        self.pcur: list[str] = []
        for name, v in t.vars.items():
            if v.domain is None:
                if v.is_int and any(isinstance(b, Aff) for b in v.type[1:]):  # type: ignore[index]
                    aff = [b for b in v.type[1:] if isinstance(b, Aff)]  # type: ignore[index]
                    if all(b.b == 0 for b in aff):
                        self.kcur.append(name)
                    elif all(b.a == 0 for b in aff):
                        self.pcur.append(name)
                    continue
                self.glob.append(("g", name))
            elif isinstance(t.domains[v.domain], int):
                self.glob += [("ga", name, i) for i in range(t.domains[v.domain])]  # type: ignore[arg-type]
        self.glob += [(k, c) for c in self.kcur + self.pcur for k in ("b0", "bN")]
        self.glob += [("cc", c, d) for c, d in itertools.combinations(self.kcur, 2)]
        self.vfeat: list[Feature] = [("rel", c) for c in self.kcur] + [("iv0",), ("ivN",)]
        self.vfeat += [("l", n) for n, v in t.vars.items() if v.domain == self.kd]
        self.pfeat: list[Feature] = [("relp", c) for c in self.pcur] + [("ip0",), ("ipN",)]
        self.pfeat += [("pl", n) for n, v in t.vars.items() if v.domain == self.prod]
        self.pfeat += [("pp", n) for n, v in t.vars.items() if v.domain == self.pd]

    def scope_feats(self, scope: str) -> list[Feature]:
        if scope == "G":
            return self.glob
        if scope == "V":
            return self.glob + self.vfeat
        return self.glob + self.vfeat + self.pfeat

    # -- reading samples -----------------------------------------------------------------------

    def views(self, cols: dict[tuple[str, int | None], np.ndarray], k: int, p: int
              ) -> dict[str, np.ndarray]:
        """Every sampled state's views at once: cols holds one column of values per slot (a
        row per state); a scope's rows are its views, VMA-major (state, v) and (state, v, q)."""
        n = len(next(iter(cols.values())))

        def clamp(x: np.ndarray, kind: str) -> np.ndarray:
            lo, hi = CLAMP[kind]
            return np.clip(x, lo, hi)

        def const(x: int) -> np.ndarray:
            return np.full(n, x, dtype=np.int64)

        g: list[np.ndarray] = []
        for f in self.glob:
            if f[0] == "g":
                g.append(cols[(f[1], None)])
            elif f[0] == "ga":
                g.append(cols[(f[1], f[2])])
            elif f[0] == "b0":
                g.append(clamp(cols[(f[1], None)], "b0"))
            elif f[0] == "bN":
                g.append(clamp(cols[(f[1], None)] - (k if f[1] in self.kcur else p), "bN"))
            elif f[0] == "cc":
                g.append(clamp(cols[(f[1], None)] - cols[(f[2], None)], "cc"))
        gt = np.stack(g, axis=1) if g else np.zeros((n, 0), dtype=np.int64)
        vrows, prows = [], []
        for v in range(k):
            vf: list[np.ndarray] = []
            for f in self.vfeat:
                if f[0] == "rel":
                    vf.append(clamp(cols[(f[1], None)] - v, "rel"))
                elif f[0] == "iv0":
                    vf.append(const(int(v == 0)))
                elif f[0] == "ivN":
                    vf.append(const(int(v == k - 1)))
                else:
                    vf.append(cols[(f[1], v)])
            vt = np.concatenate([gt, np.stack(vf, axis=1)], axis=1) if vf else gt
            vrows.append(vt)
            for q in range(p):
                pf: list[np.ndarray] = []
                for f in self.pfeat:
                    if f[0] == "relp":
                        pf.append(clamp(cols[(f[1], None)] - q, "relp"))
                    elif f[0] == "ip0":
                        pf.append(const(int(q == 0)))
                    elif f[0] == "ipN":
                        pf.append(const(int(q == p - 1)))
                    elif f[0] == "pl":
                        pf.append(cols[(f[1], v * p + q)])
                    else:
                        pf.append(cols[(f[1], q)])
                prows.append(np.concatenate([vt, np.stack(pf, axis=1)], axis=1) if pf else vt)
        return {"G": gt, "V": np.concatenate(vrows), "PG": np.concatenate(prows)}  # k, p >= 1

    # -- in Z3 ---------------------------------------------------------------------------------

    def raw(self, f: Feature, s: State, v: Term | None, p: Term | None) -> z3.ArithRef:
        enc = self.enc
        k = f[0]
        if k == "g":
            return s.scal[f[1]]
        if k == "ga":
            return enc.select(s, f[1], z3.IntVal(f[2]))
        if k == "b0":
            return s.scal[f[1]]
        if k == "bN":
            return s.scal[f[1]] - (enc.K if f[1] in self.kcur else enc.P)
        if k == "cc":
            return s.scal[f[1]] - s.scal[f[2]]
        if k == "rel":
            return s.scal[f[1]] - v  # type: ignore[operator]
        if k == "iv0":
            return z3.If(v == 0, 1, 0)  # type: ignore[return-value]
        if k == "ivN":
            return z3.If(v == enc.K - 1, 1, 0)  # type: ignore[return-value]
        if k == "l":
            return enc.select(s, f[1], v)  # type: ignore[arg-type]
        if k == "relp":
            return s.scal[f[1]] - p  # type: ignore[operator]
        if k == "ip0":
            return z3.If(p == 0, 1, 0)  # type: ignore[return-value]
        if k == "ipN":
            return z3.If(p == enc.P - 1, 1, 0)  # type: ignore[return-value]
        if k == "pl":
            return enc.select(s, f[1], (v, p))  # type: ignore[arg-type]
        return enc.select(s, f[1], p)  # type: ignore[arg-type]

    def is_(self, f: Feature, a: int, s: State, v: Term | None, p: Term | None) -> z3.BoolRef:
        """f == a, memoised: the same atom is built once per state and index terms (building Z3
        terms in Python is most of the engine's time)."""
        k = (f, a, s.tag, _tid(v) if f[0] in INDEX_KINDS else None, _tid(p) if f[0] in PAGE_KINDS else None)
        got = self._memo.get(k)
        if got is None:
            got = self._memo[k] = self._is(f, a, s, v, p)
        return got

    def _is(self, f: Feature, a: int, s: State, v: Term | None, p: Term | None) -> z3.BoolRef:
        x = self.raw(f, s, v, p)
        if f[0] in CLAMP:
            lo, hi = CLAMP[f[0]]
            if a == lo:
                return x <= lo
            if a == hi:
                return x >= hi
        return x == a

    def fact(self, fa: Fact, s: State, v: Term | None, p: Term | None) -> z3.BoolRef:
        if fa.lin:
            total: z3.ArithRef = z3.RealVal(0)
            for f, tab in fa.lin:
                for a, w in tab:
                    if w:
                        total = total + z3.If(self.is_(f, a, s, v, p), z3.RealVal(w), z3.RealVal(0))
            return z3.ToReal(self.raw(fa.cons, s, v, p)) == total  # type: ignore[arg-type]
        if fa.cons is None:
            return fast_or([fast_and([self.is_(f, a, s, v, p) for f, a in zip(fa.feats, row, strict=True)])
                            for row in sorted(fa.allowed)])
        lhs = [self.is_(f, a, s, v, p) for f, a in fa.ante]
        rhs = fast_or([self.is_(fa.cons, a, s, v, p) for a in sorted(fa.allowed)])
        return fast_implies(fast_and(lhs), rhs)

    def show(self, f: Feature, a: int) -> str:
        k = f[0]
        if k in ("g", "l", "pl", "pp", "ga"):
            name = f[1] + ("[v]" if k == "l" else "[v,p]" if k == "pl" else "[p]" if k == "pp"
                           else f"[{f[2]}]" if k == "ga" else "")
            var = self.t.vars[f[1]]
            typ = var.type
            val = typ.members[a] if hasattr(typ, "members") else str(a)  # type: ignore[union-attr]
            return f"{name} == {val}"
        if k in ("iv0", "ivN", "ip0", "ipN"):
            what = {"iv0": "v == 0", "ivN": "v == K-1", "ip0": "p == 0", "ipN": "p == P-1"}[k]
            return what if a else f"not {what}"
        base = {"b0": f"{f[1]}", "bN": f"{f[1]} - {'K' if f[1] in self.kcur else 'P'}",
                "cc": f"{f[1]} - {f[1] if len(f) < 3 else f[2]}", "rel": f"{f[1]} - v",
                "relp": f"{f[1]} - p"}[k]
        lo, hi = CLAMP[k]
        op = "<=" if a == lo else ">=" if a == hi else "=="
        return f"{base} {op} {a}"


# ----------------------------------------------------------------------------------------------
# samples and guesses
# ----------------------------------------------------------------------------------------------


def sample(feats: Features, build: Callable[[int, int], Model], sizes: list[tuple[int, int]],
           max_states: int = 60_000, chunk: int = 20_000) -> dict[str, set[tuple]]:
    """The distinct views of the states a breadth-first search of each instance expands (up to
    about max_states states per instance), read `chunk` states at a time."""
    out: dict[str, set[tuple]] = {"G": set(), "V": set(), "PG": set()}
    for k, p in sizes:
        comp = compile_model(build(k, p))
        frontier = comp.initial_states()
        seen = set(frontier)
        pending: list[int] = []
        while frontier and len(seen) <= max_states:
            nxt = []
            for s in frontier:
                pending.append(s)
                if len(pending) >= chunk:
                    _read_views(feats, comp.layout, pending, k, p, out)
                succ: list = []
                comp.expand(s, succ)
                for _, t in succ:
                    if t not in seen:
                        seen.add(t)
                        nxt.append(t)
            frontier = nxt
        if pending:
            _read_views(feats, comp.layout, pending, k, p, out)
    return out


def _read_views(feats: Features, lay, states: list[int], k: int, p: int,
                out: dict[str, set[tuple]]) -> None:
    """The distinct views of states into out; states is emptied."""
    for scope, rows in feats.views(_columns(lay, states), k, p).items():
        out[scope].update(map(tuple, _distinct_rows(rows).tolist()))
    states.clear()


def _distinct_rows(rows: np.ndarray) -> np.ndarray:
    """np.unique(rows, axis=0), but sorting each row as one opaque key of its narrowest integer
    type (np.unique's row-wise sort was most of the sampling time)."""
    if rows.shape[1] == 0:  # no features in the scope: one empty view
        return rows[:1]
    lo, hi = int(rows.min()), int(rows.max())
    narrow = next(t for t in (np.int8, np.int16, np.int32, np.int64)
                  if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max)
    a = np.ascontiguousarray(rows.astype(narrow))
    keys = a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()
    _, first = np.unique(keys, return_index=True)
    return rows[first]


def _columns(lay, states: list[int]) -> dict[tuple[str, int | None], np.ndarray]:
    """Each slot's values over the states: the packed states as rows of 64-bit words, then
    shifts and masks per slot, as Layout.decode does one state at a time."""
    words = max(1, (lay.bits + 63) // 64)
    raw = b"".join(s.to_bytes(words * 8, "little") for s in states)
    w = np.frombuffer(raw, dtype="<u8").reshape(len(states), words)
    cols: dict[tuple[str, int | None], np.ndarray] = {}
    for k, (name, i, _) in enumerate(lay.slots):
        off, width = lay.offset[k], lay.width[k]
        j, b = divmod(off, 64)
        x = w[:, j] >> np.uint64(b)
        if b + width > 64:
            x = x | (w[:, j + 1] << np.uint64(64 - b))
        x = x & np.uint64((1 << width) - 1)
        cols[(name, i)] = x.astype(np.int64) + lay.lo[k]
    return cols


def guesses(feats: Features, views: dict[str, set[tuple]], pairs: bool = True) -> list[Fact]:
    """Implications `f == a -> g in S` (and `f1 == a1 and f2 == a2 -> g in S` for a cursor
    feature f2) that held in every sampled view, and each index's own elements as a tuple."""
    out: list[Fact] = []
    for scope in ("G", "V", "PG"):
        fs = feats.scope_feats(scope)
        if not views[scope]:
            continue
        arr = np.array(sorted(views[scope]), dtype=np.int64)
        arr = arr - arr.min(axis=0)  # columns from 0
        shift = {f: int(x) for f, x in zip(fs, np.array(sorted(views[scope])).min(axis=0), strict=True)}
        base = int(arr.max()) + 1
        pos = {f: i for i, f in enumerate(fs)}
        own = {"G": (), "V": INDEX_KINDS, "PG": PAGE_KINDS}[scope]
        allv = {f: frozenset(int(x) + shift[f] for x in np.unique(arr[:, pos[f]])) for f in fs}

        def groups(ante: list[Feature], g: Feature, arr=arr, base=base, pos=pos,
                   shift=shift) -> dict[tuple[int, ...], frozenset]:
            return _groups(arr, base, pos, shift, ante, g)

        single: dict[tuple, frozenset] = {}
        for f, g in itertools.permutations(fs, 2):
            if scope != "G" and f[0] not in own and g[0] not in own:
                continue
            if len(allv[g]) < 2:
                continue
            for (a,), got in groups([f], g).items():
                if got != allv[g]:
                    single[((f, a), g)] = got
                    out.append(Fact(scope, ((f, a),), g, got))
        if pairs and scope != "G":
            rel = [f for f in fs if f[0] in ("rel", "relp")]
            # the first feature: where an actor is (a global with three or more values), or
            # another cursor relative to the index
            first = [f for f in fs if (f[0] == "rel" or (f[0] == "g" and len(allv[f]) > 2
                                                         and not feats.t.vars[f[1]].is_int))]
            cons = [f for f in fs if f[0] in ("l", "pl", "pp") and len(allv[f]) > 1]
            for f2 in rel:
                for f1 in first:
                    if f1 == f2:
                        continue
                    for g in cons:
                        for (a1, a2), got in groups([f1, f2], g).items():
                            if got == allv[g]:
                                continue
                            if any(single.get(((f, a), g), allv[g]) <= got for f, a in ((f1, a1), (f2, a2))):
                                continue  # follows from one of the two alone
                            out.append(Fact(scope, ((f1, a1), (f2, a2)), g, got))
        locs = [f for f in fs if f[0] in (("l",) if scope == "V" else ("pl", "pp"))]
        if len(locs) > 1:
            rows = frozenset(tuple(v[pos[f]] for f in locs) for v in views[scope])
            out.append(Fact(scope, (), None, rows, tuple(locs)))
    return out


def _groups(arr: np.ndarray, base: int, pos: dict, shift: dict, ante: list[Feature],
            g: Feature) -> dict[tuple[int, ...], frozenset]:
    """For each combination of values of the antecedent features, the values g took with it."""
    code = np.zeros(len(arr), dtype=np.int64)
    for f in ante:
        code = code * base + arr[:, pos[f]]
    uniq = np.unique(code * base + arr[:, pos[g]])
    by: dict[tuple[int, ...], set[int]] = {}
    for c in uniq.tolist():
        gv, c = c % base, c // base
        key = []
        for f in reversed(ante):
            key.append(c % base + shift[f])
            c //= base
        by.setdefault(tuple(reversed(key)), set()).add(gv + shift[g])
    return {k: frozenset(v) for k, v in by.items()}


def linear_guesses(feats: Features, views: dict[str, set[tuple]], width: int = 3) -> list[Fact]:
    """For each integer global x, the fewest enum or boolean globals g1..gk (k <= width) such that
    x == f1(g1) + ... + fk(gk) in every sampled state (readers == the number of actors inside a
    read section): a sum that pairwise implications cannot state."""
    fs = feats.glob
    vs = views["G"]
    pos = {f: i for i, f in enumerate(fs)}
    ints = [f for f in fs if f[0] == "g" and feats.t.vars[f[1]].is_int]
    enums = [f for f in fs if f[0] in ("g", "ga") and not (f[0] == "g" and feats.t.vars[f[1]].is_int)
             and len({v[pos[f]] for v in vs}) > 1]
    out = []
    for x in ints:
        if len({v[pos[x]] for v in vs}) < 2:
            continue
        for k in range(1, width + 1):
            found = None
            for gs in itertools.combinations(enums, k):
                sol = _solve(vs, pos, x, gs)
                if sol is not None:
                    found = Fact("G", (), x, frozenset(), (), sol)
                    break
            if found is not None:
                out.append(found)
                break
    return out


def _solve(vs: set[tuple], pos: dict, x: Feature, gs: tuple) -> tuple | None:
    """x == sum of a table per g over the samples, by exact elimination (None: no solution)."""
    unknowns = [(g, a) for g in gs for a in sorted({v[pos[g]] for v in vs})]
    col = {u: i for i, u in enumerate(unknowns)}
    rows = {(*tuple(v[pos[g]] for g in gs), v[pos[x]]) for v in vs}
    mat = []
    for r in rows:
        row = [Fraction(0)] * (len(unknowns) + 1)
        for g, a in zip(gs, r, strict=False):
            row[col[(g, a)]] = Fraction(1)
        row[-1] = Fraction(r[-1])
        mat.append(row)
    piv: list[tuple[int, int]] = []
    ri = 0
    for c in range(len(unknowns)):
        p = next((i for i in range(ri, len(mat)) if mat[i][c] != 0), None)
        if p is None:
            continue
        mat[ri], mat[p] = mat[p], mat[ri]
        pv = mat[ri][c]
        mat[ri] = [y / pv for y in mat[ri]]
        for i in range(len(mat)):
            if i != ri and mat[i][c] != 0:
                f = mat[i][c]
                mat[i] = [a - f * b for a, b in zip(mat[i], mat[ri], strict=True)]
        piv.append((ri, c))
        ri += 1
    if any(all(y == 0 for y in row[:-1]) and row[-1] != 0 for row in mat):
        return None
    val = [Fraction(0)] * len(unknowns)
    for r, c in piv:
        val[c] = mat[r][-1]  # free unknowns are 0
    return tuple((g, tuple((a, val[col[(g, a)]]) for a in sorted({v[pos[g]] for v in vs}))) for g in gs)
