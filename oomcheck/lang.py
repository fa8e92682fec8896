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
    Expr,
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

__all__ = [
    "BOOL", "FALSE", "TRUE", "Enum", "EnumType", "Expr", "IntType", "Model", "ModelError",
    "Property", "all_of", "any_of", "count", "exists", "forall", "implies", "ite", "lift",
]
