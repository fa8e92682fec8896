"""Types of the modeling language's expressions: every expression is a bool, an int or one enum.

The engines give operators on mixed kinds different meanings (Z3 sums a count whose body is a
number, the explicit engine counts the elements where it is non-zero; `x | 0` is a number in one
engine and a truth value in another), so a model that mixes them gets different answers from
different engines. These rules refuse such a model when it is built, with one line that names the
expression and where it is:

- `&`, `|`, `~`, `implies` take booleans; `+`, `-`, `<`, `<=` take integers (not booleans, not
  enum members); `==` and `!=` take two sides of one type;
- `ite(c, a, b)`: c is a boolean, a and b have one type (the result's);
- `forall`, `exists`, `count` need a boolean body; forall/exists are booleans, count an integer;
- an integer literal may stand for a boolean only if it is 0 or 1, and for an enum member only if
  it is in range (models write `frozen[t]: 0`); a bound parameter is an integer, and so is an
  array index;
- guards, invariants, eventually/leads_to goals and premises, init constraints and `final` are
  booleans; the value an update assigns has the assigned variable's type.

Integer ranges are not looked at here (an IntType's bounds may be symbolic): whether a value fits
its variable's range is checked when the model is instantiated or searched.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from oomcheck.checker.language.lang import (
    BoolType,
    Const,
    EnumType,
    Expr,
    Index,
    IntType,
    LValue,
    Model,
    ModelError,
    Op,
    PageOf,
    Param,
    Property,
    Quant,
    Size,
    Type,
    Var,
)


@dataclass(frozen=True)
class _Kind:
    name: str

    def __str__(self) -> str:
        return self.name


BOOL_T = BoolType()
INT_T = _Kind("int")
# An integer literal (or an ite of them) whose type the context decides: int, bool or an enum.
LIT_T = _Kind("int literal")

ExprType = BoolType | EnumType | _Kind

OP_SYMBOL = {"and": "&", "or": "|", "not": "~", "implies": "implies", "ite": "ite",
             "+": "+", "-": "-", "==": "==", "!=": "!=", "<": "<", "<=": "<="}
ARITY = {"not": 1, "ite": 3}


class _IllTypedError(Exception):
    """Raised inside the checker; the entry points turn it into one ModelError line."""


def of_decl(t: Type) -> ExprType:
    """The expression type of a variable of declared type t."""
    if isinstance(t, BoolType):
        return BOOL_T
    if isinstance(t, EnumType):
        return t
    if isinstance(t, IntType):
        return INT_T
    raise ModelError(f"unknown variable type {t!r}")


def type_name(t: ExprType) -> str:
    if isinstance(t, BoolType):
        return "a bool"
    if isinstance(t, EnumType):
        return f"a member of enum {t.name}"
    return "an int"


# --------------------------------------------------------------------------------------------
# Printing expressions the way a model writes them
# --------------------------------------------------------------------------------------------


class Printer:
    """Renders expressions; quantifier and `each` parameters (generated names such as
    `_thread_12`) get short readable names, consistent across the calls of one printer."""

    def __init__(self, *context: Expr):
        self.names: dict[str, str] = {}
        self.taken = {p.name for e in context for p in params_in(e) if not p.name.startswith("_")}

    def _name(self, p: Param) -> str:
        if not p.name.startswith("_"):
            return p.name
        if p.name not in self.names:
            stem = (p.domain[:1] or "i").lower()
            name, n = stem, 1
            while name in self.taken:
                n += 1
                name = f"{stem}{n}"
            self.taken.add(name)
            self.names[p.name] = name
        return self.names[p.name]

    def show(self, e: Expr) -> str:
        if isinstance(e, Const):
            if isinstance(e.type, EnumType) and 0 <= e.value < len(e.type.members):
                return f"{e.type.name}.{e.type.members[e.value]}"
            if isinstance(e.type, BoolType):
                return "True" if e.value else "False"
            return str(e.value)
        if isinstance(e, (Var, Size)):
            return e.name
        if isinstance(e, Param):
            return self._name(e)
        if isinstance(e, Index):
            return f"{e.array}[{self.show(e.index)}]"
        if isinstance(e, PageOf):
            return f"page({self.show(e.outer)}, {self.show(e.inner)})"
        if isinstance(e, Op):
            a = [self.show(x) for x in e.args]
            if e.op == "not" and len(a) == 1:
                return f"~{a[0]}"
            if e.op in ("ite", "implies") or len(a) != 2:
                return f"{OP_SYMBOL.get(e.op, e.op)}({', '.join(a)})"
            return f"({a[0]} {OP_SYMBOL.get(e.op, e.op)} {a[1]})"
        if isinstance(e, Quant):
            v = self._name(Param(e.var, e.domain))
            return f"{e.kind}({e.domain}, lambda {v}: {self.show(e.body)})"
        return repr(e)


def show(e: Expr) -> str:
    """An expression as a model would write it, e.g. `(oom_victims | 0)`."""
    return Printer(e).show(e)


def params_in(e: Expr) -> Iterator[Param]:
    """Every parameter an expression mentions (quantified ones included)."""
    if isinstance(e, Param):
        yield e
    elif isinstance(e, Index):
        yield from params_in(e.index)
    elif isinstance(e, Op):
        for a in e.args:
            yield from params_in(a)
    elif isinstance(e, Quant):
        yield from params_in(e.body)
    elif isinstance(e, PageOf):
        yield from params_in(e.outer)
        yield from params_in(e.inner)


# --------------------------------------------------------------------------------------------
# The checker
# --------------------------------------------------------------------------------------------


class _Checker:
    def __init__(self, model: Model, printer: Printer):
        self.model = model
        self.p = printer

    def show(self, e: Expr) -> str:
        return self.p.show(e)

    def infer(self, e: Expr) -> ExprType:
        """The type of e; LIT_T for an integer literal (or an ite of them) the context types."""
        if isinstance(e, Const):
            return LIT_T if e.type is None else of_decl(e.type)
        if isinstance(e, Var):
            d = self.model.vars.get(e.name)
            if d is None:
                raise _IllTypedError(f"unknown variable {e.name}")
            if d.domain is not None:
                raise _IllTypedError(f"{e.name} is an array; index it")
            return of_decl(d.type)
        if isinstance(e, Index):
            d = self.model.vars.get(e.array)
            if d is None:
                raise _IllTypedError(f"unknown variable {e.array}")
            if d.domain is None:
                raise _IllTypedError(f"{e.array} is a scalar, not an array")
            self.check(e.index, INT_T, f"the index of {e.array} must be an int")
            return of_decl(d.type)
        if isinstance(e, Size):
            return INT_T
        if isinstance(e, PageOf):
            self.check(e.outer, INT_T, "page(v, p) takes whole numbers")
            self.check(e.inner, INT_T, "page(v, p) takes whole numbers")
            return INT_T
        if isinstance(e, Param):
            if e.domain not in self.model.domains:
                raise _IllTypedError(f"parameter {e.name} ranges over unknown domain {e.domain}")
            return INT_T
        if isinstance(e, Op):
            return self._op(e)
        if isinstance(e, Quant):
            if e.domain not in self.model.domains:
                raise _IllTypedError(f"{e.kind} over unknown domain {e.domain}")
            if e.kind not in ("forall", "exists", "count"):
                raise _IllTypedError(f"unknown quantifier {e.kind}")
            self.check(e.body, BOOL_T, f"the body of {e.kind} must be a boolean")
            return INT_T if e.kind == "count" else BOOL_T
        raise _IllTypedError(f"{e!r} is not an expression")

    def _op(self, e: Op) -> ExprType:
        sym = OP_SYMBOL.get(e.op)
        if sym is None:
            raise _IllTypedError(f"unknown operator {e.op}")
        if len(e.args) != ARITY.get(e.op, 2):
            raise _IllTypedError(f"{sym} takes {ARITY.get(e.op, 2)} operands, not {len(e.args)}")
        if e.op in ("and", "or", "not", "implies"):
            for a in e.args:
                self.check(a, BOOL_T, f"`{sym}` takes booleans")
            return BOOL_T
        if e.op in ("+", "-", "<", "<="):
            for a in e.args:
                self.check(a, INT_T, f"`{sym}` takes ints")
            return INT_T if e.op in ("+", "-") else BOOL_T
        if e.op in ("==", "!="):
            self._same(e.args[0], e.args[1], f"`{sym}` needs two sides of one type")
            return BOOL_T
        self.check(e.args[0], BOOL_T, "the condition of ite must be a boolean")
        return self._same(e.args[1], e.args[2], "the branches of ite need one type")

    def _same(self, a: Expr, b: Expr, what: str) -> ExprType:
        ta, tb = self.infer(a), self.infer(b)
        if ta == LIT_T and tb == LIT_T:
            return LIT_T
        if ta == LIT_T:
            self.check(a, tb, what)
            return tb
        if tb == LIT_T:
            self.check(b, ta, what)
            return ta
        if ta != tb:
            raise _IllTypedError(f"{what}, but {self.show(a)} is {type_name(ta)} and "
                                 f"{self.show(b)} is {type_name(tb)}")
        return ta

    def check(self, e: Expr, want: ExprType, why: str) -> None:
        """e must have type want (why says who wants it); literals are coerced where allowed."""
        if isinstance(e, Const) and e.type is None:
            v = e.value
            if isinstance(want, BoolType) and v not in (0, 1):
                raise _IllTypedError(f"{why}, but {v} is not a boolean (only 0 and 1 stand for one)")
            if isinstance(want, EnumType) and not 0 <= v < len(want.members):
                raise _IllTypedError(f"{why}, but {v} is not a member of enum {want.name}")
            return
        if isinstance(e, Op) and e.op == "ite" and len(e.args) == 3:
            self.check(e.args[0], BOOL_T, "the condition of ite must be a boolean")
            self.check(e.args[1], want, why)
            self.check(e.args[2], want, why)
            return
        t = self.infer(e)
        if t != want and t != LIT_T:
            hint = " (compare it with 0 for a boolean)" if want == BOOL_T and t == INT_T else ""
            raise _IllTypedError(f"{why}, but {self.show(e)} is {type_name(t)}{hint}")


def _refuse(where: str, whole: str, detail: str) -> ModelError:
    if len(whole) > 240:
        whole = whole[:237] + "..."
    return ModelError(f"{where}: ill-typed {whole}: {detail}")


def type_of(model: Model, e: Expr, where: str = "expression") -> ExprType:
    """The type of e (an int for an integer literal), or one ModelError line."""
    pr = Printer(e)
    try:
        t = _Checker(model, pr).infer(e)
    except _IllTypedError as err:
        raise _refuse(where, pr.show(e), str(err)) from None
    return INT_T if t == LIT_T else t


def check_bool(model: Model, e: Expr, where: str) -> Expr:
    """e must be a boolean (a guard, a property, an init constraint, final); returns e."""
    pr = Printer(e)
    try:
        _Checker(model, pr).check(e, BOOL_T, "it must be a boolean")
    except _IllTypedError as err:
        raise _refuse(where, pr.show(e), str(err)) from None
    return e


def check_update(model: Model, lhs: LValue, rhs: Expr, where: str) -> Expr:
    """The value an update assigns must have the assigned variable's type; returns rhs."""
    pr = Printer(lhs, rhs)
    c = _Checker(model, pr)
    try:
        name = lhs.name if isinstance(lhs, Var) else lhs.array
        d = model.vars.get(name)
        if d is None:
            raise _IllTypedError(f"assignment to undeclared variable {name}")
        if isinstance(lhs, Index):
            c.infer(lhs)
        elif d.domain is not None:
            raise _IllTypedError(f"{name} is an array; assign to an element")
        want = of_decl(d.type)
        c.check(rhs, want, f"{pr.show(lhs)} holds {type_name(want)}")
    except _IllTypedError as err:
        raise _refuse(where, f"{pr.show(lhs)} := {pr.show(rhs)}", str(err)) from None
    return rhs


def check_property(model: Model, p: Property) -> None:
    if p.expr is not None:
        check_bool(model, p.expr, f"{p.kind} {p.name}" + (": goal" if p.pre is not None else ""))
    if p.pre is not None:
        check_bool(model, p.pre, f"{p.kind} {p.name}: premise")


def check_model(model: Model) -> None:
    """Every expression of a model (the language checks each as it enters; this re-checks a
    model assembled by other means)."""
    for a in model.actions:
        check_bool(model, a.guard, f"action {a.name}: guard")
        for lhs, rhs in a.updates:
            check_update(model, lhs, rhs, f"action {a.name}")
        for _, ups in a.each:
            for lhs, rhs in ups:
                check_update(model, lhs, rhs, f"action {a.name}: each")
    for c in model.init_constraints:
        check_bool(model, c, "init constraint")
    check_bool(model, model.final, "final")
    for p in model.properties.values():
        check_property(model, p)
