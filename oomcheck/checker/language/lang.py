"""The modeling language: typed finite state, guarded parameterised actions, properties.

Guards and updates are expression trees, never Python callables over states, so that one model
definition can be compiled to fast Python for the explicit engine and translated to other back
ends (Z3, Promela) without being rewritten.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import os
import sys
import sysconfig
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NoReturn, Union


class ModelError(Exception):
    """A model (or a variant deriving one) is malformed."""


# --------------------------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoolType:
    def values(self) -> range:
        return range(2)

    def show(self, v: int) -> str:
        return "1" if v else "0"

    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True, eq=False)
class IntType:
    """An integer range; its bounds may be size expressions (`IntType(-n, n)`) when the model is
    built with a symbolic size for the parametric engine."""

    lo: int | Expr
    hi: int | Expr

    def __post_init__(self) -> None:
        for b in (self.lo, self.hi):
            if isinstance(b, bool) or not isinstance(b, (int, Expr)):
                raise ModelError(f"integer bound {b!r} is not a whole number")
        if self._symbolic():
            return
        if self.lo > self.hi:
            raise ModelError(f"empty integer range {self.lo}..{self.hi}")

    # A range with a symbolic bound answers the checker's questions, but a model's or a
    # variant's code asking whether it is symbolic, what its text is or whether it equals a
    # range of numbers tells a symbol from a number: recorded as a Python-level use.
    @property
    def symbolic(self) -> bool:
        sym = isinstance(self.lo, Expr) or isinstance(self.hi, Expr)
        if sym:
            _builder_look(f"the range {self._text()} was asked whether it is symbolic")
        return sym

    def _symbolic(self) -> bool:
        return isinstance(self.lo, Expr) or isinstance(self.hi, Expr)

    def values(self) -> range:
        if self._symbolic():
            _builder_look(f"the values of the range {self._text()} were asked for in Python")
            raise ModelError(f"the range {self._text()} depends on a symbolic size")
        return range(self.lo, self.hi + 1)  # type: ignore[operator]

    def __eq__(self, o: object) -> bool:
        if self._symbolic() or (isinstance(o, IntType) and o._symbolic()):
            _builder_look(f"the range {self._text()} was compared in Python")
        return isinstance(o, IntType) and repr(self.lo) == repr(o.lo) and repr(self.hi) == repr(o.hi)

    def __hash__(self) -> int:
        if self._symbolic():
            _builder_look(f"the range {self._text()} was hashed in Python")
        return hash((repr(self.lo), repr(self.hi)))

    def show(self, v: int) -> str:
        return str(v)

    def __str__(self) -> str:
        if self._symbolic():
            _builder_look(f"the range {self._text()} was turned into text in Python")
        return self._text()

    def _text(self) -> str:
        return f"{self.lo}..{self.hi}"


@dataclass(frozen=True)
class EnumType:
    name: str
    members: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.members or len(set(self.members)) != len(self.members):
            raise ModelError(f"enum {self.name} needs distinct members")

    def values(self) -> range:
        return range(len(self.members))

    def show(self, v: int) -> str:
        return self.members[v]

    def __getattr__(self, member: str) -> Const:
        # Lets a model write ThreadPC.RUN; dunder look-ups must still fail normally.
        if member.startswith("__"):
            raise AttributeError(member)
        try:
            return Const(self.members.index(member), self)
        except ValueError:
            raise AttributeError(f"enum {self.name} has no member {member}") from None

    def __str__(self) -> str:
        return self.name


Type = BoolType | IntType | EnumType
BOOL = BoolType()


def Enum(name: str, members: Iterable[str]) -> EnumType:  # noqa: N802 - reads as a type
    return EnumType(name, tuple(members))


# --------------------------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------------------------

Operand = Union["Expr", int, bool]


def lift(x: Operand) -> Expr:
    if isinstance(x, Expr):
        return x
    if isinstance(x, bool):
        return Const(int(x), BOOL)
    if isinstance(x, int):
        return Const(x, None)
    raise ModelError(f"cannot use {x!r} ({type(x).__name__}) in an expression")


class SymbolicBuild:
    """Collects every Python-level use of an expression (a size symbol included) while a model
    is built with a symbolic size. A build that used one is not the same definition at every
    size, even when the model caught the exception it raised."""

    def __init__(self) -> None:
        self.misuse: list[str] = []


_BUILDS: list[SymbolicBuild] = []


@contextmanager
def symbolic_build() -> Iterator[SymbolicBuild]:
    ctx = SymbolicBuild()
    _BUILDS.append(ctx)
    Size.__getattribute__ = _size_getattribute  # type: ignore[method-assign,assignment]
    try:
        yield ctx
    finally:
        _BUILDS.remove(ctx)
        if not _BUILDS:
            del Size.__getattribute__


def _python_use(what: str) -> NoReturn:
    record_python_use(what)
    raise ModelError(what)


def record_python_use(what: str) -> None:
    """Note a Python-level use of a size in every symbolic build under way, without raising
    (what a variant file's code is, not what it did: see uniform.py)."""
    for ctx in _BUILDS:
        ctx.misuse.append(what)


def building_symbolically() -> bool:
    return bool(_BUILDS)


def _builder_look(what: str) -> None:
    """A look at a symbolic value that a model's or a variant's code made (the frame that called
    the caller): recorded and refused; the checker's own looks pass."""
    if _BUILDS and _by_builder(3):
        _python_use(what)


_PKG = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_OWN = tuple(os.path.join(_PKG, d) + os.sep for d in ("models", "spec"))
_STDLIB = tuple({os.path.abspath(sysconfig.get_path(k)) + os.sep for k in ("stdlib", "platstdlib")})


def _by_builder(depth: int = 2) -> bool:
    """Whether the Python frame `depth` levels up is a model's or a variant's code (the models,
    the catalog's variant files, any file outside this package), not the checker's own or the
    standard library's. Uses that only a builder can make (hash() for a set or dict look-up,
    isinstance(), str()) are Python-level uses of a size when the builder makes them; the
    checker itself hashes, prints and type-tests symbols."""
    f: types.FrameType | None = sys._getframe(depth)
    while f is not None and f.f_code.co_filename.startswith("<"):
        f = f.f_back  # generated code (a dataclass's __repr__): whoever called it decides
    if f is None:
        return False
    path = os.path.abspath(f.f_code.co_filename)
    if path.startswith(_OWN):
        return True
    return not (path.startswith(_PKG + os.sep) or path.startswith(_STDLIB))


class Expr:
    """Base of the expression tree; operators build new trees. Python-level uses (truth value,
    int(), range(), *, /) raise: a model's control flow must not depend on its state or on a
    symbolic size."""

    __slots__ = ()

    def __neg__(self) -> Expr:
        return Op("-", (Const(0), self))

    def __index__(self) -> int:
        _python_use(f"the expression {_typed().show(self)} was used as a Python number (int(), "
                    "range(), an index); a size that is a symbol can only be used inside the "
                    "modeling language")

    __int__ = __index__

    def __float__(self) -> float:
        return float(self.__index__())

    def __iter__(self) -> Iterator[object]:
        _python_use(f"the expression {_typed().show(self)} was iterated over in Python")

    def __mul__(self, o: object) -> Expr:
        _python_use("the modeling language has no multiplication (*); use + or a constant")

    __rmul__ = __mul__
    __floordiv__ = __truediv__ = __mod__ = __pow__ = __rfloordiv__ = __rtruediv__ = __mul__

    def __add__(self, o: Operand) -> Expr:
        return Op("+", (self, lift(o)))

    def __radd__(self, o: Operand) -> Expr:
        return Op("+", (lift(o), self))

    def __sub__(self, o: Operand) -> Expr:
        return Op("-", (self, lift(o)))

    def __rsub__(self, o: Operand) -> Expr:
        return Op("-", (lift(o), self))

    def __eq__(self, o: Operand) -> Expr:  # type: ignore[override]
        return Op("==", (self, lift(o)))

    def __ne__(self, o: Operand) -> Expr:  # type: ignore[override]
        return Op("!=", (self, lift(o)))

    def __lt__(self, o: Operand) -> Expr:
        return Op("<", (self, lift(o)))

    def __le__(self, o: Operand) -> Expr:
        return Op("<=", (self, lift(o)))

    def __gt__(self, o: Operand) -> Expr:
        return Op("<", (lift(o), self))

    def __ge__(self, o: Operand) -> Expr:
        return Op("<=", (lift(o), self))

    def __and__(self, o: Operand) -> Expr:
        return Op("and", (self, lift(o)))

    def __rand__(self, o: Operand) -> Expr:
        return Op("and", (lift(o), self))

    def __or__(self, o: Operand) -> Expr:
        return Op("or", (self, lift(o)))

    def __ror__(self, o: Operand) -> Expr:
        return Op("or", (lift(o), self))

    def __invert__(self) -> Expr:
        return Op("not", (self,))

    def __bool__(self) -> bool:
        _python_use(
            f"an expression was used as a Python truth value ({_typed().show(self)}); use &, |, ~ and ite() "
            "instead of and, or, not and if; a size that is a symbol cannot steer Python code"
        )

    __hash__ = object.__hash__


@dataclass(frozen=True, eq=False)
class Const(Expr):
    value: int
    type: Type | None = None


@dataclass(frozen=True, eq=False)
class Var(Expr):
    name: str


@dataclass(frozen=True, eq=False)
class Index(Expr):
    array: str
    index: Expr


@dataclass(frozen=True, eq=False)
class Param(Expr):
    name: str
    domain: str


@dataclass(frozen=True, eq=False)
class Size(Expr):
    """A model size (the thread count) as a symbol, for proofs over every value of it. A model
    built with one may use it only inside the language: domain sizes, integer bounds, initial
    values and expressions."""

    name: str

    # A builder can tell a symbol from a number without a truth value or int(): a set or dict
    # look-up (`if n in {4, 5}:`, `TABLE.get(n, d)` hash the symbol and never compare it),
    # isinstance(n, int), str(n) or an f-string compared with text. Each of those, made by a
    # model's or a variant's code during a symbolic build, is a Python-level use like the
    # others; the checker's own hashing, printing and type tests are not.
    def __hash__(self) -> int:
        if _BUILDS and _by_builder():
            _python_use(f"the size {self.name} was hashed in Python (a set or dict look-up, a "
                        "dict key); a size that is a symbol has no value to look up")
        return object.__hash__(self)

    def __str__(self) -> str:
        if _BUILDS and _by_builder():
            _python_use(f"the size {self.name} was turned into text in Python (str(), an "
                        "f-string); a size that is a symbol has no digits")
        return self.name

    def __format__(self, spec: str) -> str:
        if _BUILDS and _by_builder():
            _python_use(f"the size {self.name} was turned into text in Python (an f-string, "
                        "format()); a size that is a symbol has no digits")
        return format(self.name, spec)

    def __repr__(self) -> str:
        name = object.__getattribute__(self, "name")
        if _BUILDS and _by_builder():
            _python_use(f"the size {name} was turned into text in Python (repr(), or the text of "
                        "something that holds it); a size that is a symbol has no digits")
        return f"Size(name={name!r})"



def _size_getattribute(self: Size, attr: str) -> object:
    """Size's attribute look-up while a symbolic build is under way (symbolic_build installs it,
    so the engines' own reads cost nothing otherwise): a number has no name, and isinstance()
    reads __class__ when the type differs."""
    if attr in ("name", "__class__") and _by_builder():
        name = object.__getattribute__(self, "name")
        if attr == "name":
            _python_use(f"the name of the size symbol {name} was read in Python (a number has "
                        "none)")
        _python_use(f"the type of the size {name} was tested in Python (isinstance); a size "
                    "that is a symbol must not be told from a number")
    return object.__getattribute__(self, attr)


def builder_type_test(x: object, depth: int) -> None:
    """isinstance(x, Expr) made by a builder (the frame `depth` levels up): with x a size, the
    builder tells a symbol from a number (oomcheck.lang.Expr's instance check calls this)."""
    if _BUILDS and _mentions_size(x) and _by_builder(depth + 2):
        _python_use("an expression over a size was type-tested in Python (isinstance(..., Expr)); "
                    "a size that is a symbol must not be told from a number")


def _mentions_size(x: object) -> bool:
    if isinstance(x, Size):
        return True
    return isinstance(x, Op) and x.op in ("+", "-") and size_expr(x) and any(map(_mentions_size, x.args))


@dataclass(frozen=True, eq=False)
class PageOf(Expr):
    """An element of a product domain (a page: VMA v, entry p), numbered v*|inner| + p. Only a
    model built with the inner size as a symbol has one (the language has no multiplication); a
    build at a number writes the sum v + ... + v + p out (Model.element)."""

    outer: Expr
    inner: Expr


def size_expr(x: object) -> bool:
    """Whether x is a closed integer expression over sizes (Size, constants, + and -)."""
    if isinstance(x, (Size, Const)):
        return True
    return isinstance(x, Op) and x.op in ("+", "-") and all(size_expr(a) for a in x.args)


@dataclass(frozen=True, eq=False)
class Op(Expr):
    op: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class Quant(Expr):
    kind: str  # forall | exists | count
    domain: str
    var: str
    body: Expr


OPS = {"+", "-", "==", "!=", "<", "<=", "and", "or", "not", "implies", "ite"}

_fresh = itertools.count()


def fresh_param(domain: str) -> Param:
    """A new parameter over domain, for a quantifier or an `each`. Its name is unique: the number
    after the last underscore is new, so no two domains' names meet (`_d1` + `0` and `_d` + `10`
    were one name, and an inner quantifier over d rebound an outer one over d1)."""
    return Param(f"_{domain}_{next(_fresh)}", domain)


def ite(c: Operand, a: Operand, b: Operand) -> Expr:
    return Op("ite", (lift(c), lift(a), lift(b)))


def implies(a: Operand, b: Operand) -> Expr:
    return Op("implies", (lift(a), lift(b)))


def all_of(*xs: Operand) -> Expr:
    if not xs:
        return Const(1, BOOL)
    out = lift(xs[0])
    for x in xs[1:]:
        out = out & x
    return out


def any_of(*xs: Operand) -> Expr:
    if not xs:
        return Const(0, BOOL)
    out = lift(xs[0])
    for x in xs[1:]:
        out = out | x
    return out


def _quant(kind: str, domain: str, body: Callable[[Param], Operand]) -> Expr:
    p = fresh_param(domain)
    return Quant(kind, domain, p.name, lift(body(p)))


def forall(domain: str, body: Callable[[Param], Operand]) -> Expr:
    return _quant("forall", domain, body)


def exists(domain: str, body: Callable[[Param], Operand]) -> Expr:
    return _quant("exists", domain, body)


def count(domain: str, body: Callable[[Param], Operand]) -> Expr:
    return _quant("count", domain, body)


TRUE = Const(1, BOOL)
FALSE = Const(0, BOOL)


def substitute(e: Expr, binding: Mapping[str, int]) -> Expr:
    """Replace bound parameters by constants."""
    if isinstance(e, Param):
        return Const(binding[e.name]) if e.name in binding else e
    if isinstance(e, Index):
        return Index(e.array, substitute(e.index, binding))
    if isinstance(e, Op):
        return Op(e.op, tuple(substitute(a, binding) for a in e.args))
    if isinstance(e, Quant):
        return Quant(e.kind, e.domain, e.var, substitute(e.body, binding))
    if isinstance(e, PageOf):
        return PageOf(substitute(e.outer, binding), substitute(e.inner, binding))
    return e


def substitute_size(e: Expr, size: str, n: int) -> Expr:
    """Replace a size symbol by a number."""
    if isinstance(e, Size):
        return Const(n) if e.name == size else e
    if isinstance(e, Index):
        return Index(e.array, substitute_size(e.index, size, n))
    if isinstance(e, Op):
        return Op(e.op, tuple(substitute_size(a, size, n) for a in e.args))
    if isinstance(e, Quant):
        return Quant(e.kind, e.domain, e.var, substitute_size(e.body, size, n))
    if isinstance(e, PageOf):
        return PageOf(substitute_size(e.outer, size, n), substitute_size(e.inner, size, n))
    return e


def _typed():
    """Expressions are type-checked as they enter a model (the rules are in typecheck.py, which
    imports this module, hence the late import)."""
    from oomcheck.checker.language import typecheck
    return typecheck


# --------------------------------------------------------------------------------------------
# Declarations
# --------------------------------------------------------------------------------------------

InitSpec = int | bool | Const | tuple | list | Callable[[int], object]


@dataclass
class VarDecl:
    name: str
    type: Type
    domain: str | None  # None for a scalar, else the index domain of an array
    init: InitSpec
    doc: str = ""


class ArrayHandle:
    """`pc[t]` in a model reads as an Index expression."""

    def __init__(self, name: str, domain: str):
        self.name = name
        self.domain = domain

    def __getitem__(self, i: Operand) -> Index:
        return Index(self.name, lift(i))


LValue = Var | Index


@dataclass
class Action:
    """One guarded, parameterised step: for each binding of params, when guard, do updates."""

    name: str  # unique within the model
    func: str  # the kernel function it models
    file: str  # the kernel source file of that function
    step: str  # what part of the function this step is
    params: tuple[Param, ...]
    guard: Expr
    updates: tuple[tuple[LValue, Expr], ...]
    actor: str  # an actor kind: a domain name (indexed by the first param) or a singleton name
    fair: bool = True
    # Updates applied to every element of a domain in the same step (a broadcast, such as a
    # signal sent to each thread of a group): (the bound parameter, its updates).
    each: tuple[tuple[Param, tuple[tuple[LValue, Expr], ...]], ...] = ()


@dataclass(frozen=True)
class ActionInstance:
    id: int
    action: Action
    binding: tuple[tuple[str, int], ...]
    actor: str
    guard: Expr
    updates: tuple[tuple[LValue, Expr], ...]

    @property
    def label(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.binding)
        return f"{self.action.func}({args})" if args else self.action.func


@dataclass
class Property:
    name: str
    kind: str  # invariant | deadlock | eventually | leads_to
    doc: str
    expr: Expr | None = None  # invariant / eventually target
    pre: Expr | None = None  # leads_to: P in P ~> Q (expr is Q)

    @property
    def is_liveness(self) -> bool:
        return self.kind in ("eventually", "leads_to")


@dataclass
class Model:
    """A transition system over finite typed state. Build with the methods, then instantiate."""

    name: str
    sizes: dict[str, int] = field(default_factory=dict)
    knobs: dict[str, str] = field(default_factory=dict)
    domains: dict[str, int] = field(default_factory=dict)
    vars: dict[str, VarDecl] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    init_constraints: list[Expr] = field(default_factory=list)
    final: Expr = field(default_factory=lambda: FALSE)
    properties: dict[str, Property] = field(default_factory=dict)
    actor_names: dict[str, str] = field(default_factory=dict)
    variant: str = ""
    provenance: str = ""
    # Python-level helpers a model exports to variants deriving from it (e.g. freezing(t)).
    helpers: dict[str, Callable] = field(default_factory=dict)
    # For proofs over every size: which size may become a symbol (a parametric.Family), and how
    # to build this same variant at other sizes. Set by whoever knows the variant (the catalog).
    family: object | None = None
    rebuild: Callable[[dict[str, int]], Model] | None = None
    # For proofs over every number of ordered indices (VMAs, PTEs): an indexed.IndexedFamily.
    indexed: object | None = None
    # product domains: name -> (outer, inner); element (o, i) is numbered o * |inner| + i
    products: dict[str, tuple[str, str]] = field(default_factory=dict)

    # -- declarations --------------------------------------------------------------------

    def domain(self, name: str, size: int | Expr) -> str:
        if not isinstance(name, str) or not name.isidentifier():
            raise ModelError(f"domain name {name!r} is not an identifier (letters, digits, _)")
        if isinstance(size, Expr):
            if not size_expr(size):
                raise ModelError(f"domain {name}: its size must be a whole number or a size symbol")
        elif isinstance(size, bool) or not isinstance(size, int):
            raise ModelError(f"domain {name}: its size must be a whole number, got {size!r}")
        elif size < 1:
            raise ModelError(f"domain {name} must have at least one element, got {size}")
        self.domains[name] = size  # type: ignore[assignment]
        return name

    def product(self, name: str, outer: str, inner: str) -> str:
        """A domain of pairs (one page per VMA and PTE index), numbered o * |inner| + i. With a
        size symbol on either side its size is kept as the product, for the indexed engine."""
        for d in (outer, inner):
            if d not in self.domains:
                raise ModelError(f"domain {name}: unknown domain {d}")
        so, si = self.domains[outer], self.domains[inner]
        if isinstance(so, int) and isinstance(si, int):
            self.domains[name] = so * si
        else:
            self.domains[name] = Op("*", (lift(so), lift(si)))  # type: ignore[assignment]
        self.products[name] = (outer, inner)
        return name

    def element(self, name: str, o: Operand, i: Operand) -> Expr:
        """The index of pair (o, i) of product domain `name`: o + ... + o (|inner| times) + i, or
        page(o, i) when |inner| is a symbol."""
        if name not in self.products:
            raise ModelError(f"{name} is not a product domain")
        n = self.domains[self.products[name][1]]
        if not isinstance(n, int):
            return PageOf(lift(o), lift(i))
        out = lift(o)
        for _ in range(n - 1):
            out = out + o
        return out + i

    def var(self, name: str, type: Type, init: InitSpec, doc: str = "") -> Var:
        self._new_name(name)
        self.vars[name] = VarDecl(name, type, None, init, doc)
        return Var(name)

    def array(self, name: str, domain: str, type: Type, init: InitSpec, doc: str = "") -> ArrayHandle:
        self._new_name(name)
        if domain not in self.domains:
            raise ModelError(f"array {name}: unknown domain {domain}")
        self.vars[name] = VarDecl(name, type, domain, init, doc)
        return ArrayHandle(name, domain)

    def ref(self, name: str) -> Var | ArrayHandle:
        """A handle on a declared variable, for derived models."""
        d = self.vars.get(name)
        if d is None:
            raise ModelError(f"model {self.name} has no variable {name}")
        return Var(name) if d.domain is None else ArrayHandle(name, d.domain)

    def _new_name(self, name: str) -> None:
        # a name is one identifier, so that a slot's printed name (`pc[1]`, the engines' keys
        # and trace columns) belongs to one slot: a scalar called "pc[1]" was element 1 of pc
        if not isinstance(name, str) or not name.isidentifier():
            raise ModelError(f"variable name {name!r} is not an identifier (letters, digits, _)")
        if name in self.vars:
            raise ModelError(f"variable {name} declared twice")

    def constrain_init(self, e: Operand) -> None:
        self.init_constraints.append(_typed().check_bool(self, lift(e), "init constraint"))

    def set_final(self, e: Operand) -> None:
        """States where the system is expected to stop; anywhere else, no move is a deadlock."""
        self.final = _typed().check_bool(self, lift(e), "final")

    def actor(self, kind: str, display: str) -> None:
        self.actor_names[kind] = display

    def action(self, name: str, **kw: object) -> Action:
        """Define and add an action; the keywords are make_action's."""
        a = self.make_action(name, **kw)  # type: ignore[arg-type]
        if any(x.name == name for x in self.actions):
            raise ModelError(f"action {name} defined twice")
        self.actions.append(a)
        return a

    def make_action(
        self,  # builds an action without adding it (replace_action uses it too)
        name: str,
        *,
        func: str,
        file: str,
        step: str = "",
        params: Mapping[str, str] | None = None,
        actor: str,
        guard: Callable[..., Operand] | Operand = True,
        updates: Callable[..., Mapping] | Mapping | None = None,
        each: tuple[str, Callable[..., Mapping]] | None = None,
        fair: bool = True,
    ) -> Action:
        ps = []
        for pname, dom in (params or {}).items():
            if dom not in self.domains:
                raise ModelError(f"action {name}: parameter {pname} over unknown domain {dom}")
            ps.append(Param(pname, dom))
        g = lift(guard(*ps) if callable(guard) else guard)
        _typed().check_bool(self, g, f"action {name}: guard")
        ups = self._updates(name, updates(*ps) if callable(updates) else (updates or {}))
        broadcast: tuple[tuple[Param, tuple[tuple[LValue, Expr], ...]], ...] = ()
        if each is not None:
            dom, body = each
            if dom not in self.domains:
                raise ModelError(f"action {name}: each over unknown domain {dom}")
            q = fresh_param(dom)
            # the body sees the element, then the action's parameters if it takes them
            takes = len(inspect.signature(body).parameters)
            broadcast = ((q, self._updates(name, body(q, *ps) if takes > 1 else body(q))),)
        if not file or not func:
            raise ModelError(f"action {name}: every step must name its kernel file and function")
        return Action(name, func, file, step, tuple(ps), g, ups, actor, fair, broadcast)

    def _updates(self, action: str, raw: Mapping) -> tuple[tuple[LValue, Expr], ...]:
        ups: list[tuple[LValue, Expr]] = []
        for lhs, rhs in raw.items():
            if not isinstance(lhs, (Var, Index)):
                raise ModelError(f"action {action}: cannot assign to {lhs!r}")
            target = lhs.name if isinstance(lhs, Var) else lhs.array
            if target not in self.vars:
                raise ModelError(f"action {action}: assignment to undeclared variable {target}")
            ups.append((lhs, _typed().check_update(self, lhs, lift(rhs), f"action {action}")))
        return tuple(ups)

    # -- properties -------------------------------------------------------------------------

    def invariant(self, name: str, e: Operand, doc: str) -> None:
        self._prop(Property(name, "invariant", doc, lift(e)))

    def no_deadlock(self, name: str, doc: str) -> None:
        self._prop(Property(name, "deadlock", doc))

    def eventually(self, name: str, e: Operand, doc: str) -> None:
        self._prop(Property(name, "eventually", doc, lift(e)))

    def leads_to(self, name: str, p: Operand, q: Operand, doc: str) -> None:
        self._prop(Property(name, "leads_to", doc, lift(q), lift(p)))

    def select(self, names: list[str]) -> list[Property]:
        """The named properties (all of them when names is empty), or one clear error."""
        if not names:
            return list(self.properties.values())
        for n in names:
            if n not in self.properties:
                raise ModelError(f"model {self.name} has no property {n!r} "
                                 f"(properties: {', '.join(self.properties)})")
        return [self.properties[n] for n in names]

    def _prop(self, p: Property) -> None:
        _typed().check_property(self, p)
        if p.name in self.properties:
            raise ModelError(f"property {p.name} defined twice")
        self.properties[p.name] = p

    # -- deriving (the way a patch replaces a function body) ------------------------------

    def derive(self, variant: str = "", provenance: str = "") -> Model:
        m = copy.copy(self)
        m.domains = dict(self.domains)  # a variant's new domain must not reach the base model
        m.sizes = dict(self.sizes)
        m.vars = dict(self.vars)
        m.actions = list(self.actions)
        m.init_constraints = list(self.init_constraints)
        m.properties = dict(self.properties)
        m.actor_names = dict(self.actor_names)
        m.knobs = dict(self.knobs)
        m.helpers = dict(self.helpers)
        m.products = dict(self.products)
        m.variant = variant or self.variant
        m.provenance = provenance or self.provenance
        return m

    def find_action(self, name: str) -> int:
        for i, a in enumerate(self.actions):
            if a.name == name:
                return i
        raise ModelError(f"model {self.name} has no action {name}")

    def remove_action(self, name: str) -> None:
        del self.actions[self.find_action(name)]

    def replace_action(self, name: str, **kw: object) -> Action:
        """Replace an action by a new definition (same keywords as action())."""
        i = self.find_action(name)
        new = self.make_action(name, **kw)  # type: ignore[arg-type]
        self.actions[i] = new
        return new

    # -- instantiation -------------------------------------------------------------------

    def instances(self) -> list[ActionInstance]:
        """The actions with their parameters bound and broadcasts unrolled, each checked to write
        every slot at most once (writes.py): what every engine that runs a size starts from."""
        from oomcheck.checker.language.writes import check_instance

        out: list[ActionInstance] = []
        for a in self.actions:
            ranges = [range(self.domains[p.domain]) for p in a.params]
            for combo in itertools.product(*ranges):
                binding = {p.name: v for p, v in zip(a.params, combo, strict=True)}
                if a.actor in self.domains:
                    if not a.params or a.params[0].domain != a.actor:
                        raise ModelError(
                            f"action {a.name}: actor {a.actor} needs a first parameter over it"
                        )
                    actor = f"{self.actor_names.get(a.actor, a.actor)} {combo[0]}"
                else:
                    actor = self.actor_names.get(a.actor, a.actor)
                updates = list(a.updates)
                for q, ups in a.each:
                    for i in range(self.domains[q.domain]):
                        updates.extend((substitute(lhs, {q.name: i}), substitute(rhs, {q.name: i}))
                                       for lhs, rhs in ups)
                inst = ActionInstance(
                    len(out), a, tuple(binding.items()), actor,
                    substitute(a.guard, binding),
                    tuple((substitute(lhs, binding), substitute(rhs, binding))  # type: ignore[misc]
                          for lhs, rhs in updates),
                )
                check_instance(self, inst)
                out.append(inst)
        return out

    def slots(self) -> list[tuple[str, int | None, VarDecl]]:
        """The flattened state: one slot per scalar and per array element, in a fixed order."""
        out: list[tuple[str, int | None, VarDecl]] = []
        for d in self.vars.values():
            if d.domain is None:
                out.append((d.name, None, d))
            else:
                out.extend((d.name, i, d) for i in range(self.domains[d.domain]))
        return out

    def init_choices(self) -> list[list[int]]:
        """For each slot, the values it may start with (before init constraints)."""
        out = []
        for name, i, d in self.slots():
            spec = d.init(i) if callable(d.init) and i is not None else d.init
            if callable(spec):
                raise ModelError(f"initial value of scalar {name} cannot be a function")
            vals = list(spec) if isinstance(spec, (tuple, list, set, frozenset)) else [spec]
            enc = []
            for v in vals:
                if isinstance(v, Const):
                    v = v.value
                if isinstance(v, bool):
                    v = int(v)
                if not isinstance(v, int) or v not in d.type.values():
                    where = f"{name}[{i}]" if i is not None else name
                    raise ModelError(f"initial value {v!r} of {where} is not of type {d.type}")
                enc.append(v)
            if not enc:
                raise ModelError(f"variable {name} has no initial value")
            out.append(enc)
        return out

    def slot_name(self, name: str, i: int | None) -> str:
        return name if i is None else f"{name}[{i}]"
