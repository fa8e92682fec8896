"""What the language accepts as a declaration: names, and a derived model's own copies."""

from __future__ import annotations

import pytest

from oomcheck.checker.language.lang import BOOL, Model, ModelError


@pytest.mark.parametrize("name", ["pc[1]", "a b", "1x", "", "x-y"])
def test_a_variable_or_domain_name_is_an_identifier(name: str) -> None:
    m = Model("names", sizes={"threads": 2})
    m.domain("thread", 2)
    with pytest.raises(ModelError, match="not an identifier"):
        m.var(name, BOOL, init=0)
    with pytest.raises(ModelError, match="not an identifier"):
        m.array(name, "thread", BOOL, init=0)
    with pytest.raises(ModelError, match="not an identifier"):
        m.domain(name, 2)


def test_a_derived_model_declares_into_its_own_tables() -> None:
    base = Model("base", sizes={"threads": 2})
    base.domain("thread", 2)
    d = base.derive("v")
    d.domain("cpu", 3)
    d.sizes["cpus"] = 3
    d.var("x", BOOL, init=0)
    assert "cpu" not in base.domains and "cpus" not in base.sizes and "x" not in base.vars
