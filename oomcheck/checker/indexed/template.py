"""A model with ordered indices (VMAs, PTEs) read as one definition for every size.

The reaper model is Python code that builds an instance for given numbers K of VMAs and P of
PTEs per table (a page is v*P + p; a gather flush is one update per page). To reason about every
K and P at once, the instance is read back as a template: page indices become page(v, p), an
update written out for every element of a domain becomes a broadcast, and every integer constant
becomes a*K + b*P + d, fitted from builds at three sizes. The template is then instantiated at
every size of a grid and compared, definition for definition, with the model's own build there.

What this rests on: the model's Python code builds, for sizes beyond the grid, what the template
says. That is checked on the grid, not proved (the code is not built with K and P as symbols).
Anything that does not fit (an index that is not page(v, p), a partial broadcast, a constant
that is not affine in K and P, a size-dependent initial value per element) is refused.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from oomcheck.checker.language.lang import (
    BoolType,
    Const,
    EnumType,
    Expr,
    Index,
    IntType,
    Model,
    ModelError,
    Op,
    Param,
    Property,
    Quant,
    Var,
)


class NotIndexedError(ModelError):
    """The model is not one definition over its indices for every size."""


@dataclass(frozen=True)
class IndexedFamily:
    """Metadata a model declares: which sizes count ordered indices, and the product domain.

    sizes: size name -> domain ({"vmas": "vma", "ptes": "pte_index"}); the first is K, the
    second P. product: (domain, outer, inner): an element is outer * P + inner."""

    sizes: tuple[tuple[str, str], ...]
    product: tuple[str, str, str] | None = None
    grid: tuple[tuple[int, ...], tuple[int, ...]] = ((1, 2, 3, 4, 5), (1, 2, 3, 4))

    @property
    def k_size(self) -> str:
        return self.sizes[0][0]

    @property
    def p_size(self) -> str:
        return self.sizes[1][0]

    @property
    def k_dom(self) -> str:
        return self.sizes[0][1]

    @property
    def p_dom(self) -> str:
        return self.sizes[1][1]


# ----------------------------------------------------------------------------------------------
# template nodes
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Aff(Expr):
    """a*K + b*P + d: an integer constant of the model fitted over sizes."""

    a: int
    b: int
    d: int
    type: object = None

    def at(self, k: int, p: int) -> int:
        return self.a * k + self.b * p + self.d

    def show(self) -> str:
        parts = [f"{'' if c == 1 else '-' if c == -1 else c}{s}"
                 for c, s in ((self.a, "K"), (self.b, "P")) if c]
        if self.d or not parts:
            parts.append(str(self.d))
        return " + ".join(parts).replace("+ -", "- ")


@dataclass(frozen=True, eq=False)
class PageOf(Expr):
    """An element of the product domain: page(v, p) = v*P + p."""

    outer: Expr
    inner: Expr


@dataclass
class TVar:
    name: str
    type: object  # BoolType | EnumType | ("int", lo, hi) with lo/hi Aff|Const
    domain: str | None
    init: tuple[Expr, ...]  # the values it (each element, for an array) may start with
    doc: str = ""

    @property
    def is_int(self) -> bool:
        return isinstance(self.type, tuple)


@dataclass
class TAction:
    name: str
    func: str
    file: str
    actor: str
    params: tuple[Param, ...]
    guard: Expr
    updates: tuple[tuple[Var | Index, Expr], ...]
    each: tuple[tuple[Param, tuple[tuple[Index, Expr], ...]], ...] = ()


@dataclass
class Template:
    family: IndexedFamily
    name: str
    domains: dict[str, object]  # "K" | "P" | "KP" | int
    vars: dict[str, TVar]
    actions: list[TAction]
    init_constraints: list[Expr]
    final: Expr
    properties: dict[str, Property]
    lo: dict[str, int] = field(default_factory=dict)  # smallest K and P the template is the model at
    checked: list[tuple[int, int]] = field(default_factory=list)

    def action(self, name: str) -> TAction:
        return next(a for a in self.actions if a.name == name)


# ----------------------------------------------------------------------------------------------
# canonical keys (structural equality, bound names renamed)
# ----------------------------------------------------------------------------------------------


def key(e: Expr, env: dict[str, str] | None = None) -> tuple:
    env = env or {}
    if isinstance(e, Aff):
        return ("aff", e.a, e.b, e.d, _tname(e.type))
    if isinstance(e, Const):
        return ("c", e.value, _tname(e.type))
    if isinstance(e, Var):
        return ("v", e.name)
    if isinstance(e, Param):
        return ("p", env.get(e.name, e.name), e.domain)
    if isinstance(e, Index):
        return ("i", e.array, key(e.index, env))
    if isinstance(e, PageOf):
        return ("pg", key(e.outer, env), key(e.inner, env))
    if isinstance(e, Op):
        return ("o", e.op, *(key(a, env) for a in e.args))
    if isinstance(e, Quant):
        inner = {**env, e.var: f"#{len(env)}"}
        return ("q", e.kind, e.domain, key(e.body, inner))
    raise NotIndexedError(f"unexpected expression {e!r}")


def _tname(t: object) -> str:
    if t is None or isinstance(t, IntType):
        return "int"
    return str(t)


def _tkey(t: object) -> tuple:
    if isinstance(t, tuple):
        return ("int", key(t[1]), key(t[2]))
    return ("t", str(t), tuple(getattr(t, "members", ())))


def template_key(t: Template) -> tuple:
    """Everything the engines read of a template, as one comparable value."""
    out: list = [tuple(sorted((d, str(s)) for d, s in t.domains.items()))]
    for v in t.vars.values():
        out.append((v.name, _tkey(v.type), v.domain, tuple(key(x) for x in v.init)))
    for a in t.actions:
        env = {p.name: p.name for p in a.params}
        ups = tuple((key(lhs, env), key(rhs, env)) for lhs, rhs in a.updates)
        each = tuple((q.domain, tuple((key(lhs, {q.name: "@"}), key(rhs, {q.name: "@"}))
                                      for lhs, rhs in us)) for q, us in a.each)
        out.append((a.name, a.actor, tuple((p.name, p.domain) for p in a.params),
                    key(a.guard, env), ups, each))
    out.append(tuple(key(c) for c in t.init_constraints))
    out.append(key(t.final))
    for p in t.properties.values():
        out.append((p.name, p.kind, None if p.expr is None else key(p.expr),
                    None if p.pre is None else key(p.pre)))
    return tuple(out)


# ----------------------------------------------------------------------------------------------
# reading one concrete build
# ----------------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, model: Model, fam: IndexedFamily, k: int, p: int):
        self.m, self.fam, self.k, self.p = model, fam, k, p
        self.prod = fam.product

    def dom_of(self, array: str) -> str | None:
        return self.m.vars[array].domain

    def expr(self, e: Expr) -> Expr:
        if isinstance(e, Index):
            if self.prod is not None and self.dom_of(e.array) == self.prod[0]:
                return Index(e.array, self.page(e.index))
            return Index(e.array, self.expr(e.index))
        if isinstance(e, Op):
            return Op(e.op, tuple(self.expr(a) for a in e.args))
        if isinstance(e, Quant):
            return Quant(e.kind, e.domain, e.var, self.expr(e.body))
        return e

    def page(self, idx: Expr) -> Expr:
        """A product-domain index back as page(v, p): v + ... + v (P times) + p, a constant, or
        a parameter over the product domain."""
        if isinstance(idx, Param):
            return idx
        if isinstance(idx, Const):
            return PageOf(Const(idx.value // self.p), Const(idx.value % self.p))
        if isinstance(idx, Op) and idx.op == "+":
            outer, inner = idx.args
            x = self._copies(outer, self.p)
            if x is not None:
                return PageOf(self.expr(x), self.expr(inner))
        raise NotIndexedError(f"an index into {self.prod[0] if self.prod else '?'} is not of the "
                              f"form page(v, p) = v*{self.fam.p_size} + p")

    def _copies(self, e: Expr, n: int) -> Expr | None:
        if n == 1:
            return e
        if not (isinstance(e, Op) and e.op == "+"):
            return None
        rest = self._copies(e.args[0], n - 1)
        if rest is None or key(rest) != key(e.args[1]):
            return None
        return e.args[1]

    def elements(self, dom: str) -> list[Expr]:
        if self.prod is not None and dom == self.prod[0]:
            return [PageOf(Const(v), Const(q)) for v in range(self.k) for q in range(self.p)]
        return [Const(i) for i in range(self.m.domains[dom])]

    def action(self, a) -> TAction:
        ups = [(self.expr(lhs), self.expr(rhs)) for lhs, rhs in a.updates]
        for q, each in a.each:
            ups += self._expand(q, each)
        point, bcast = self._broadcasts(a.name, ups)
        return TAction(a.name, a.func, a.file, a.actor, a.params, self.expr(a.guard),
                       tuple(point), tuple(bcast))

    def _expand(self, q: Param, each) -> list:
        """The language's own `each` written out, to be read back like a Python loop."""
        out = []
        for el in self.elements(q.domain):
            sub = {q.name: el}
            out += [(self.expr(_subst(lhs, sub)), self.expr(_subst(rhs, sub))) for lhs, rhs in each]
        return out

    def _broadcasts(self, name: str, ups: list) -> tuple[list, list]:
        """Updates at constant indices that cover a whole indexed domain, identical up to the
        index, become one broadcast per domain."""
        doms = [d for _, d in self.fam.sizes] + ([self.prod[0]] if self.prod else [])
        point, bcast = [], []
        by_dom: dict[str, list] = {}
        for lhs, rhs in ups:
            d = self.dom_of(lhs.array) if isinstance(lhs, Index) else None
            if d in doms and _is_const_index(lhs.index):  # type: ignore[union-attr]
                by_dom.setdefault(d, []).append((lhs, rhs))
            else:
                point.append((lhs, rhs))
        for d, group in by_dom.items():
            els = self.elements(d)
            q = Param(f"_each_{d}", d)
            per: dict[tuple, list] = {key(el): [] for el in els}
            for lhs, rhs in group:
                per.setdefault(key(lhs.index), []).append((lhs, rhs))
            shapes = set()
            body: tuple = ()
            for el in els:
                k = key(el)
                abstracted = tuple((_abstract(lhs, k, q, self), _abstract(rhs, k, q, self))
                                   for lhs, rhs in sorted(per[k], key=lambda u: u[0].array))
                shapes.add(tuple((key(a), key(b)) for a, b in abstracted))
                body = abstracted
            if len(per) != len(els) or len(shapes) != 1 or not body:
                point += group  # not a broadcast: left as it is (and then fails to generalise)
                continue
            bcast.append((q, body))
        return point, bcast

    def read(self) -> Template:
        m, fam = self.m, self.fam
        doms: dict[str, object] = {}
        for d, n in m.domains.items():
            if d == fam.k_dom:
                want = self.k
                doms[d] = "K"
            elif d == fam.p_dom:
                want = self.p
                doms[d] = "P"
            elif self.prod is not None and d == self.prod[0]:
                want = self.k * self.p
                doms[d] = "KP"
            else:
                want = n
                doms[d] = n
            if n != want:
                raise NotIndexedError(f"domain {d} has {n} elements, not {want}")
        tv: dict[str, TVar] = {}
        for name, d in m.vars.items():
            t: object = d.type
            if isinstance(t, IntType):
                if t.symbolic:
                    raise NotIndexedError(f"variable {name} has a symbolic range")
                t = ("int", Const(t.lo), Const(t.hi))  # type: ignore[arg-type]
            elif not isinstance(t, (BoolType, EnumType)):
                raise NotIndexedError(f"variable {name} has an unknown type")
            tv[name] = TVar(name, t, d.domain, self._init(name, d), d.doc)
        return Template(fam, m.name, doms, tv, [self.action(a) for a in m.actions],
                        [self.expr(c) for c in m.init_constraints], self.expr(m.final),
                        {n: Property(p.name, p.kind, p.doc, None if p.expr is None else self.expr(p.expr),
                                     None if p.pre is None else self.expr(p.pre))
                         for n, p in m.properties.items()})

    def _init(self, name: str, d) -> tuple[Expr, ...]:
        def vals(spec: object) -> tuple[Expr, ...]:
            seq = list(spec) if isinstance(spec, (tuple, list, set, frozenset)) else [spec]
            out = []
            for v in seq:
                if isinstance(v, Const):
                    out.append(Const(v.value, v.type))
                elif isinstance(v, bool):
                    out.append(Const(int(v), BoolType()))
                elif isinstance(v, int):
                    out.append(Const(v))
                else:
                    raise NotIndexedError(f"initial value {v!r} of {name} is not a constant")
            return tuple(out)
        if d.domain is None or not callable(d.init):
            return vals(d.init)
        per = {tuple(key(x) for x in vals(d.init(i))) for i in range(self.m.domains[d.domain])}
        if len(per) != 1:
            raise NotIndexedError(f"the elements of {name} start with different values")
        return vals(d.init(0))


def _is_const_index(e: Expr) -> bool:
    return isinstance(e, Const) or (isinstance(e, PageOf) and isinstance(e.outer, Const)
                                    and isinstance(e.inner, Const))


def _abstract(e: Expr, k: tuple, q: Param, r: _Reader) -> Expr:
    """e with every index equal to the element k (into an array of q's domain) replaced by q."""
    if isinstance(e, Index):
        if r.dom_of(e.array) == q.domain and key(e.index) == k:
            return Index(e.array, q)
        return Index(e.array, _abstract(e.index, k, q, r))
    if isinstance(e, Op):
        return Op(e.op, tuple(_abstract(a, k, q, r) for a in e.args))
    if isinstance(e, Quant):
        return Quant(e.kind, e.domain, e.var, _abstract(e.body, k, q, r))
    if isinstance(e, PageOf):
        return PageOf(_abstract(e.outer, k, q, r), _abstract(e.inner, k, q, r))
    return e


def _subst(e: Expr, sub: dict[str, Expr]) -> Expr:
    if isinstance(e, Param):
        return sub.get(e.name, e)
    if isinstance(e, Index):
        return Index(e.array, _subst(e.index, sub))
    if isinstance(e, Op):
        return Op(e.op, tuple(_subst(a, sub) for a in e.args))
    if isinstance(e, Quant):
        return Quant(e.kind, e.domain, e.var, _subst(e.body, sub))
    if isinstance(e, PageOf):
        return PageOf(_subst(e.outer, sub), _subst(e.inner, sub))
    return e


# ----------------------------------------------------------------------------------------------
# generalising three reads, instantiating, checking on the grid
# ----------------------------------------------------------------------------------------------


class _Fit:
    def __init__(self, sizes: list[tuple[int, int]]):
        (self.k0, self.p0), (self.k1, _), (_, self.p1) = sizes

    def const(self, c0: Const, ck: Const, cp: Const) -> Expr:
        if _tname(c0.type) != "int":
            if not (c0.value == ck.value == cp.value):
                raise NotIndexedError(f"a {_tname(c0.type)} constant changes with the sizes")
            return c0
        a = (ck.value - c0.value) // (self.k1 - self.k0)
        b = (cp.value - c0.value) // (self.p1 - self.p0)
        if a * (self.k1 - self.k0) != ck.value - c0.value or b * (self.p1 - self.p0) != cp.value - c0.value:
            raise NotIndexedError("a constant is not affine in the sizes")
        if a == 0 and b == 0:
            return c0
        return Aff(a, b, c0.value - a * self.k0 - b * self.p0, c0.type)

    def expr(self, x: Expr, y: Expr, z: Expr) -> Expr:
        if type(x) is not type(y) or type(x) is not type(z):
            raise NotIndexedError("the model's definitions differ in shape between sizes")
        if isinstance(x, Const):
            return self.const(x, y, z)  # type: ignore[arg-type]
        if isinstance(x, (Var, Param)):
            if key(x) != key(y) or key(x) != key(z):
                raise NotIndexedError(f"the model's definitions differ between sizes ({key(x)} vs "
                                      f"{key(y)}, {key(z)})")
            return x
        if isinstance(x, Index):
            if not (x.array == y.array == z.array):  # type: ignore[attr-defined]
                raise NotIndexedError("the model's definitions differ between sizes")
            return Index(x.array, self.expr(x.index, y.index, z.index))  # type: ignore[attr-defined]
        if isinstance(x, PageOf):
            return PageOf(self.expr(x.outer, y.outer, z.outer),  # type: ignore[attr-defined]
                          self.expr(x.inner, y.inner, z.inner))  # type: ignore[attr-defined]
        if isinstance(x, Op):
            if x.op != y.op or x.op != z.op or len(x.args) != len(y.args) or len(x.args) != len(z.args):  # type: ignore[attr-defined]
                raise NotIndexedError("the model's definitions differ in shape between sizes")
            return Op(x.op, tuple(self.expr(*t) for t in zip(x.args, y.args, z.args, strict=True)))  # type: ignore[attr-defined]
        if isinstance(x, Quant):
            if (x.kind, x.domain) != (y.kind, y.domain) or (x.kind, x.domain) != (z.kind, z.domain):  # type: ignore[attr-defined]
                raise NotIndexedError("the model's definitions differ in shape between sizes")
            by = _rename(y.body, y.var, x.var)  # type: ignore[attr-defined]
            bz = _rename(z.body, z.var, x.var)  # type: ignore[attr-defined]
            return Quant(x.kind, x.domain, x.var, self.expr(x.body, by, bz))
        raise NotIndexedError(f"unexpected expression {x!r}")

    def template(self, t0: Template, tk: Template, tp: Template) -> Template:
        if [a.name for a in t0.actions] != [a.name for a in tk.actions] or \
           [a.name for a in t0.actions] != [a.name for a in tp.actions] or \
           list(t0.vars) != list(tk.vars) or list(t0.vars) != list(tp.vars) or \
           t0.domains != {d: v for d, v in tk.domains.items()} or set(t0.properties) != set(tp.properties):
            raise NotIndexedError("the model declares different things at different sizes")
        tv = {}
        for n, v0 in t0.vars.items():
            vk, vp = tk.vars[n], tp.vars[n]
            if v0.domain != vk.domain or len(v0.init) != len(vk.init) or len(v0.init) != len(vp.init):
                raise NotIndexedError(f"variable {n} differs between sizes")
            if v0.is_int:
                if not (vk.is_int and vp.is_int):
                    raise NotIndexedError(f"variable {n} differs between sizes")
                typ: object = ("int", self.expr(v0.type[1], vk.type[1], vp.type[1]),  # type: ignore[index]
                               self.expr(v0.type[2], vk.type[2], vp.type[2]))  # type: ignore[index]
            else:
                if _tkey(v0.type) != _tkey(vk.type) or _tkey(v0.type) != _tkey(vp.type):
                    raise NotIndexedError(f"variable {n} differs between sizes")
                typ = v0.type
            init = tuple(self.expr(*x) for x in zip(v0.init, vk.init, vp.init, strict=True))
            tv[n] = TVar(n, typ, v0.domain, init, v0.doc)
        acts = []
        for a0, ak, ap in zip(t0.actions, tk.actions, tp.actions, strict=True):
            if (a0.actor, len(a0.updates), len(a0.each)) != (ak.actor, len(ak.updates), len(ak.each)) or \
               (a0.actor, len(a0.updates), len(a0.each)) != (ap.actor, len(ap.updates), len(ap.each)) or \
               [(p.name, p.domain) for p in a0.params] != [(p.name, p.domain) for p in ak.params]:
                raise NotIndexedError(f"action {a0.name} differs in shape between sizes")
            ups = tuple((self.expr(u0[0], uk[0], up[0]), self.expr(u0[1], uk[1], up[1]))
                        for u0, uk, up in zip(a0.updates, ak.updates, ap.updates, strict=True))
            each = []
            for (q0, b0), (qk, bk), (qp, bp) in zip(a0.each, ak.each, ap.each, strict=True):
                if q0.domain != qk.domain or q0.domain != qp.domain or \
                        len(b0) != len(bk) or len(b0) != len(bp):
                    raise NotIndexedError(f"action {a0.name} differs in shape between sizes")
                each.append((q0, tuple((self.expr(u0[0], uk[0], up[0]), self.expr(u0[1], uk[1], up[1]))
                                       for u0, uk, up in zip(b0, bk, bp, strict=True))))
            acts.append(TAction(a0.name, a0.func, a0.file, a0.actor, a0.params,
                                self.expr(a0.guard, ak.guard, ap.guard), ups, tuple(each)))
        if len(t0.init_constraints) != len(tk.init_constraints) or \
           len(t0.init_constraints) != len(tp.init_constraints):
            raise NotIndexedError("the initial constraints differ between sizes")
        ics = [self.expr(*x) for x in zip(t0.init_constraints, tk.init_constraints, tp.init_constraints,
                                          strict=True)]
        props = {}
        for n, p0 in t0.properties.items():
            pk, pp = tk.properties[n], tp.properties[n]
            props[n] = Property(n, p0.kind, p0.doc,
                                None if p0.expr is None else self.expr(p0.expr, pk.expr, pp.expr),  # type: ignore[arg-type]
                                None if p0.pre is None else self.expr(p0.pre, pk.pre, pp.pre))  # type: ignore[arg-type]
        return Template(t0.family, t0.name, dict(t0.domains), tv, acts, ics,
                        self.expr(t0.final, tk.final, tp.final), props)


def _rename(e: Expr, old: str, new: str) -> Expr:
    def go(x: Expr) -> Expr:
        if isinstance(x, Param):
            return Param(new, x.domain) if x.name == old else x
        if isinstance(x, Index):
            return Index(x.array, go(x.index))
        if isinstance(x, Op):
            return Op(x.op, tuple(go(a) for a in x.args))
        if isinstance(x, Quant):
            return Quant(x.kind, x.domain, x.var, go(x.body))
        if isinstance(x, PageOf):
            return PageOf(go(x.outer), go(x.inner))
        return x
    return go(e) if old != new else e


def instantiate(t: Template, k: int, p: int) -> Template:
    """The template at one size (its constants evaluated)."""
    def ev(e: Expr) -> Expr:
        if isinstance(e, Aff):
            return Const(e.at(k, p), e.type)
        if isinstance(e, Index):
            return Index(e.array, ev(e.index))
        if isinstance(e, PageOf):
            return PageOf(ev(e.outer), ev(e.inner))
        if isinstance(e, Op):
            return Op(e.op, tuple(ev(a) for a in e.args))
        if isinstance(e, Quant):
            return Quant(e.kind, e.domain, e.var, ev(e.body))
        return e
    tv = {n: TVar(n, ("int", ev(v.type[1]), ev(v.type[2])) if v.is_int else v.type,  # type: ignore[index]
                  v.domain, tuple(ev(x) for x in v.init), v.doc) for n, v in t.vars.items()}
    acts = [TAction(a.name, a.func, a.file, a.actor, a.params, ev(a.guard),
                    tuple((ev(lhs), ev(rhs)) for lhs, rhs in a.updates),  # type: ignore[misc]
                    tuple((q, tuple((ev(lhs), ev(rhs)) for lhs, rhs in b)) for q, b in a.each))  # type: ignore[misc]
            for a in t.actions]
    props = {n: Property(n, q.kind, q.doc, None if q.expr is None else ev(q.expr),
                         None if q.pre is None else ev(q.pre)) for n, q in t.properties.items()}
    return Template(t.family, t.name, dict(t.domains), tv, acts, [ev(c) for c in t.init_constraints],
                    ev(t.final), props)


def read_template(fam: IndexedFamily, build: Callable[[int, int], Model]) -> Template:
    """The model as one template over K and P, fitted at three sizes and compared with the
    model's own build at every size of the grid; lo is the smallest K and P from which every
    grid size agrees (a size below where it does not agree is left to the explicit engine)."""
    fit_sizes = [(3, 2), (4, 2), (3, 3)]
    reads = [_Reader(build(k, p), fam, k, p).read() for k, p in fit_sizes]
    t = _Fit(fit_sizes).template(*reads)
    ks, ps = fam.grid
    agree: dict[tuple[int, int], bool] = {}
    for k, p in itertools.product(ks, ps):
        try:
            agree[(k, p)] = template_key(_Reader(build(k, p), fam, k, p).read()) == \
                template_key(instantiate(t, k, p))
        except NotIndexedError:
            agree[(k, p)] = False
    corners = sorted(itertools.product(ks[:-1], ps[:-1]), key=lambda c: (c[0] + c[1], c))
    lo = next((c for c in corners if all(agree[(k, p)] for k in ks if k >= c[0] for p in ps if p >= c[1])),
              None)
    if lo is None:
        bad = next(s for s, ok in sorted(agree.items(), key=lambda x: (-x[0][0], -x[0][1])) if not ok)
        raise NotIndexedError(f"the model built at {fam.k_size}={bad[0]}, {fam.p_size}={bad[1]} is not "
                              "the template's instance there")
    lo_k, lo_p = lo
    t.lo = {fam.k_size: lo_k, fam.p_size: lo_p}
    t.checked = [s for s, ok in agree.items() if ok]
    return t
