"""A model built with its sizes as symbols, and the same model at numbers.

The engines that prove a property for every size (the parametric one over threads, the indexed
one over VMAs and PTEs) read a model that was built once with the sizes as `Size` symbols: its
Python code cannot have looked at them, so that one definition is the model at every size. These
functions put numbers back in (what the builder must give at those numbers) and print a model's
definition as text, so that the symbolic build can be compared with the ordinary builds.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from oomcheck.checker.language.compile import const_value
from oomcheck.checker.language.lang import (
    Const,
    Expr,
    Index,
    IntType,
    Model,
    ModelError,
    Op,
    PageOf,
    Quant,
    size_expr,
    substitute_size,
)


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


def instantiate(m: Model, values: Mapping[str, int]) -> Model:
    """The symbolic model with each size symbol named in `values` replaced by its number, and
    page(v, p) written out as the language writes it at a number."""
    out = m.derive()
    out.sizes = {k: values.get(k, v) if isinstance(v, Expr) else v for k, v in m.sizes.items()}

    def sub(e: Expr) -> Expr:
        for name, n in values.items():
            e = substitute_size(e, name, n)
        return e

    doms: dict[str, int] = {}
    for d, v in m.domains.items():
        if d in m.products:
            continue
        doms[d] = _fold(sub(v)) if isinstance(v, Expr) else v  # type: ignore[assignment]
    for d, (o, i) in m.products.items():
        so, si = doms[o], doms[i]
        doms[d] = so * si if isinstance(so, int) and isinstance(si, int) else m.domains[d]
    out.domains = {d: doms[d] for d in m.domains}

    def page(e: Expr) -> Expr:
        return _pages(sub(e), out)

    for name, d in m.vars.items():
        t = d.type
        if isinstance(t, IntType) and t.symbolic:
            t = IntType(_fold(sub(t.lo)), _fold(sub(t.hi)))  # type: ignore[arg-type]
        out.vars[name] = dataclasses.replace(d, type=t, init=_subst_init(d.init, sub))
    out.actions = [dataclasses.replace(
        a, guard=page(a.guard),
        updates=tuple((page(lhs), page(rhs)) for lhs, rhs in a.updates),  # type: ignore[misc]
        each=tuple((q, tuple((page(lhs), page(rhs)) for lhs, rhs in ups)) for q, ups in a.each))  # type: ignore[misc]
        for a in m.actions]
    out.init_constraints = [page(c) for c in m.init_constraints]
    out.final = page(m.final)
    out.properties = {k: dataclasses.replace(p, expr=None if p.expr is None else page(p.expr),
                                             pre=None if p.pre is None else page(p.pre))
                      for k, p in m.properties.items()}
    return out


def _pages(e: Expr, m: Model) -> Expr:
    """page(v, p) as v + ... + v + p, once the product's inner size is a number."""
    if isinstance(e, PageOf):
        outer, inner = _pages(e.outer, m), _pages(e.inner, m)
        if len(m.products) != 1:
            raise ModelError("page(v, p) needs exactly one product domain")
        dom = next(iter(m.products))
        return m.element(dom, outer, inner)
    if isinstance(e, Index):
        return Index(e.array, _pages(e.index, m))
    if isinstance(e, Op):
        return Op(e.op, tuple(_pages(a, m) for a in e.args))
    if isinstance(e, Quant):
        return Quant(e.kind, e.domain, e.var, _pages(e.body, m))
    return e


def _fold(e: object) -> object:
    if isinstance(e, Expr) and size_expr(e):
        v = const_value(e, {})
        return e if v is None else v
    return e


def _subst_init(spec: object, sub: Callable[[Expr], Expr]) -> object:
    def one(v: object) -> object:
        return _fold(sub(v)) if isinstance(v, Expr) and size_expr(v) else v

    if callable(spec):
        return lambda i: _subst_init(spec(i), sub)
    if isinstance(spec, (tuple, list)):
        return type(spec)(one(v) for v in spec)
    return one(spec)


def _fold_all(x: object) -> object:
    """Constant arithmetic folded, as Python folds it when the size is a number: `n - 1` built
    at n = 3 is the constant 2 on one side and 3 - 1 on the other."""
    if isinstance(x, tuple):
        return tuple(_fold_all(v) for v in x)
    if isinstance(x, Index):
        return Index(x.array, _fold_all(x.index))  # type: ignore[arg-type]
    if isinstance(x, Quant):
        return Quant(x.kind, x.domain, x.var, _fold_all(x.body))  # type: ignore[arg-type]
    if isinstance(x, Op):
        args = tuple(_fold_all(a) for a in x.args)
        if x.op in ("+", "-") and all(isinstance(a, Const) and a.type is None for a in args):
            a, b = (c.value for c in args)  # type: ignore[union-attr]
            return Const(a + b if x.op == "+" else a - b)
        return Op(x.op, args)  # type: ignore[arg-type]
    return x


def definition(m: Model) -> list[str]:
    """The model's definition as text, blind to generated parameter names: two builds of one
    variant at one size must give the same list."""
    names: dict[str, str] = {}
    # lang.fresh_param's names: _<domain>_<n> (the longest domain name first)
    doms = "|".join(re.escape(d) for d in sorted(m.domains, key=len, reverse=True))
    generated = re.compile(rf"_(?:{doms})_\d+")

    def ren(match: re.Match) -> str:
        return names.setdefault(match.group(0), f"_q{len(names)}")

    def show(x: object) -> str:
        return generated.sub(ren, repr(_fold_all(x)))

    out = [f"domain {k} = {v}" for k, v in m.domains.items()]
    for name, d in m.vars.items():
        dom = "" if d.domain is None else f"[{d.domain}]"
        out.append(f"var {name}{dom}: {d.type}")
    out += [f"init {m.slot_name(name, i)} = {ch}"
            for (name, i, _), ch in zip(m.slots(), m.init_choices(), strict=True)]
    out += [f"init constraint {show(c)}" for c in m.init_constraints]
    out.append(f"final {show(m.final)}")
    out.append(f"actors {sorted(m.actor_names.items())}")
    for a in m.actions:
        out.append(f"action {a.name}\n{a.func} {a.file} {a.actor} {a.fair} "
                   f"{show(a.params)} {show(a.guard)} {show(a.updates)} {show(a.each)}")
    for p in m.properties.values():
        out.append(f"property {p.name}\n{p.kind} {show(p.expr)} {show(p.pre)}")
    return out
