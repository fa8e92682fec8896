"""A model with ordered indices (VMAs, PTEs) read as one definition for every size.

The reaper model is Python code that builds the model for given numbers K of VMAs and P of PTEs
per table. To reason about every K and P at once it is built once more with K and P as `Size`
symbols: its Python code cannot look at them (every Python-level use of a symbol is recorded and
refused), so whatever it builds is the same definition at every size. Pages are page(v, p) of the
product domain, updates to every element of a domain are `each` broadcasts, and a constant that
depends on the sizes is a*K + b*P + d. As a check that can fail, that definition with numbers
put back must equal the model's ordinary builds at a few sizes.

What this rests on: the builder does not tell a symbol from a number by a means that is not
recorded (lang.Size records a builder's hash(), isinstance() and str() of one; `type(k) is int`
or `k is 4` it cannot see, and nothing in the language needs them).
"""

from __future__ import annotations

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
    PageOf,
    Param,
    Property,
    Quant,
    Size,
    Var,
    size_expr,
    symbolic_build,
)
from oomcheck.checker.language.sizes import definition, instantiate


class NotIndexedError(ModelError):
    """The model is not one definition over its indices for every size."""


@dataclass(frozen=True)
class IndexedFamily:
    """Metadata a model declares: which sizes count ordered indices, and the product domain.

    sizes: size name -> domain ({"vmas": "vma", "ptes": "pte_index"}); the first is K, the
    second P. product: (domain, outer, inner): an element is outer * P + inner."""

    sizes: tuple[tuple[str, str], ...]
    product: tuple[str, str, str] | None = None
    lo: tuple[int, int] = (1, 1)  # the smallest K and P the model is defined at
    # symbolic vs ordinary builds (a test that can fail, not the argument): the smallest, two
    # mixed, and four VMAs with one PTE and with three, the largest the explicit engine takes
    checks: tuple[tuple[int, int], ...] = ((1, 1), (2, 3), (3, 2), (4, 1), (4, 3))

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
# reading the symbolic build
# ----------------------------------------------------------------------------------------------


class _Reader:
    """A model built with K and P as Size symbols, as a template."""

    def __init__(self, model: Model, fam: IndexedFamily):
        self.m, self.fam = model, fam

    def expr(self, e: Expr) -> Expr:
        if isinstance(e, Size) or (isinstance(e, Op) and e.op in ("+", "-") and size_expr(e)):
            return self.aff(e)
        if isinstance(e, Index):
            return Index(e.array, self.expr(e.index))
        if isinstance(e, PageOf):
            return PageOf(self.expr(e.outer), self.expr(e.inner))
        if isinstance(e, Op):
            return Op(e.op, tuple(self.expr(a) for a in e.args))
        if isinstance(e, Quant):
            return Quant(e.kind, e.domain, e.var, self.expr(e.body))
        return e

    def aff(self, e: Expr) -> Expr:
        """A closed integer expression over the sizes as a*K + b*P + d (a Const when a = b = 0)."""
        def go(x: Expr) -> tuple[int, int, int]:
            if isinstance(x, Size):
                if x.name == self.fam.k_size:
                    return (1, 0, 0)
                if x.name == self.fam.p_size:
                    return (0, 1, 0)
                raise NotIndexedError(f"size {x.name} is neither {self.fam.k_size} nor {self.fam.p_size}")
            if isinstance(x, Const):
                if x.type is not None and not isinstance(x.type, IntType):
                    raise NotIndexedError("a size added to a non-integer")
                return (0, 0, x.value)
            assert isinstance(x, Op)
            u, w = go(x.args[0]), go(x.args[1])
            sign = 1 if x.op == "+" else -1
            return (u[0] + sign * w[0], u[1] + sign * w[1], u[2] + sign * w[2])
        a, b, d = go(e)
        return Const(d) if a == 0 and b == 0 else Aff(a, b, d)

    def domains(self) -> dict[str, object]:
        m, fam = self.m, self.fam
        out: dict[str, object] = {}
        for d, n in m.domains.items():
            if d == fam.k_dom or d == fam.p_dom:
                want = fam.k_size if d == fam.k_dom else fam.p_size
                if not (isinstance(n, Size) and n.name == want):
                    raise NotIndexedError(f"domain {d} does not have {want} elements")
                out[d] = "K" if d == fam.k_dom else "P"
            elif fam.product is not None and d == fam.product[0]:
                if m.products.get(d) != (fam.product[1], fam.product[2]):
                    raise NotIndexedError(f"domain {d} is not the product of {fam.product[1]} and "
                                          f"{fam.product[2]}")
                out[d] = "KP"
            elif isinstance(n, int):
                out[d] = n
            else:
                raise NotIndexedError(f"domain {d} has a size that depends on the sizes")
        return out

    def read(self) -> Template:
        m, fam = self.m, self.fam
        doms = self.domains()
        tv: dict[str, TVar] = {}
        for name, d in m.vars.items():
            t: object = d.type
            if isinstance(t, IntType):
                lo, hi = (self.expr(x) if isinstance(x, Expr) else Const(x) for x in (t.lo, t.hi))
                if not all(isinstance(x, (Const, Aff)) for x in (lo, hi)):
                    raise NotIndexedError(f"variable {name} has a range that is not affine in the sizes")
                t = ("int", lo, hi)
            elif not isinstance(t, (BoolType, EnumType)):
                raise NotIndexedError(f"variable {name} has an unknown type")
            tv[name] = TVar(name, t, d.domain, self._init(name, d), d.doc)
        acts = [TAction(a.name, a.func, a.file, a.actor, a.params, self.expr(a.guard),
                        tuple((self.expr(lhs), self.expr(rhs)) for lhs, rhs in a.updates),  # type: ignore[misc]
                        tuple((q, tuple((self.expr(lhs), self.expr(rhs)) for lhs, rhs in ups))  # type: ignore[misc]
                              for q, ups in a.each))
                for a in m.actions]
        props = {n: Property(p.name, p.kind, p.doc, None if p.expr is None else self.expr(p.expr),
                             None if p.pre is None else self.expr(p.pre))
                 for n, p in m.properties.items()}
        return Template(fam, m.name, doms, tv, acts, [self.expr(c) for c in m.init_constraints],
                        self.expr(m.final), props)

    def _init(self, name: str, d) -> tuple[Expr, ...]:
        spec = d.init
        if callable(spec):
            if d.domain is None:
                raise NotIndexedError(f"the initial value of scalar {name} is a function")
            with symbolic_build() as ctx:
                try:
                    spec = spec(Param(f"_init_{name}", d.domain))
                except Exception as e:  # a user's function: it may not take a symbolic index
                    raise NotIndexedError(f"the initial value of {name} is not the same for every "
                                          f"element ({type(e).__name__}: {e})") from None
            if ctx.misuse:
                raise NotIndexedError(f"the initial value of {name} depends on the element: "
                                      f"{ctx.misuse[0]}")
        seq = list(spec) if isinstance(spec, (tuple, list, set, frozenset)) else [spec]
        out: list[Expr] = []
        for v in seq:
            if isinstance(v, bool):
                out.append(Const(int(v), BoolType()))
            elif isinstance(v, int):
                out.append(Const(v))
            elif isinstance(v, Const):
                out.append(Const(v.value, v.type))
            elif isinstance(v, Expr) and size_expr(v):
                out.append(self.aff(v))
            else:
                raise NotIndexedError(f"initial value {v!r} of {name} is not a constant")
        return tuple(out)


def read_template(fam: IndexedFamily, rebuild: Callable[[dict[str, object]], Model],
                  sizes: dict[str, object] | None = None) -> Template:
    """The model as one template over K and P: built with K and P as symbols (a Python-level use
    of either is refused), then compared with the ordinary builds at fam.checks."""
    base = dict(sizes or {})
    k, p = fam.k_size, fam.p_size
    with symbolic_build() as ctx:
        try:
            sym = rebuild({**base, k: Size(k), p: Size(p)})
            why = ""
        except Exception as e:  # a user's variant file may fail in any way
            sym, why = None, str(e) if isinstance(e, ModelError) else f"{type(e).__name__}: {e}"
    if ctx.misuse:
        raise NotIndexedError(f"the model's definition depends on {k} or {p} in Python code, not only "
                              f"through the modeling language: {ctx.misuse[0]}")
    if sym is None:
        raise NotIndexedError(f"the model cannot be built with {k} and {p} as symbols: {why}")
    t = _Reader(sym, fam).read()
    for kk, pp in fam.checks:
        want = definition(rebuild({**base, k: kk, p: pp}))
        got = definition(instantiate(sym, {k: kk, p: pp}))
        if want != got:
            what = next((a.split("\n", 1)[0] for a, b in zip(want, got, strict=False) if a != b),
                        "the list of declarations")
            raise NotIndexedError(f"built with {k} and {p} as symbols, the model differs from its build "
                                  f"at {k}={kk}, {p}={pp} (in {what})")
    t.lo = {k: fam.lo[0], p: fam.lo[1]}
    t.checked = list(fam.checks)
    return t
