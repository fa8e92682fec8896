"""The modeling language as users import it (variant files, invariants, tests).

A stable path over `oomcheck.checker.language.lang`, so the engines' layout can change without
breaking anyone's variant file.
"""

from oomcheck.checker.language.lang import (
    BOOL,
    FALSE,
    TRUE,
    Enum,
    EnumType,
    IntType,
    Model,
    ModelError,
    Property,
    all_of,
    any_of,
    count,
    exists,
    forall,
    implies,
    ite,
    lift,
)
from oomcheck.checker.language.lang import Expr as _Expr
from oomcheck.checker.language.lang import builder_type_test as _type_test


class _ExprType(type):
    def __instancecheck__(cls, obj: object) -> bool:
        _type_test(obj, 1)  # a variant's isinstance(n, Expr) on a size symbol is recorded
        return isinstance(obj, _Expr)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, _Expr)


class Expr(metaclass=_ExprType):
    """An expression of the modeling language (for annotations and isinstance)."""


__all__ = [
    "BOOL", "FALSE", "TRUE", "Enum", "EnumType", "Expr", "IntType", "Model", "ModelError",
    "Property", "all_of", "any_of", "count", "exists", "forall", "implies", "ite", "lift",
]
