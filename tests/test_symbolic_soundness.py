"""Wrong answers the Z3 engines (BMC, k-induction, CHC, a user's inductive invariant) gave on
variant files a kernel developer wrote (tests/variants/), each against the explicit engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from oomcheck.catalog import model_for
from oomcheck.checker.engines import Options, run
from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.language.lang import Model, ModelError

VARIANTS = Path(__file__).parent / "variants"


def variant(name: str, threads: int = 2) -> Model:
    return model_for("freezer", str(VARIANTS / f"{name}.py"), None, {"threads": threads}, {})[0]


@pytest.mark.parametrize("engine", ["bmc", "induction", "chc", "invariant"])
def test_a_model_with_no_initial_state_is_refused_by_every_z3_engine(engine: str) -> None:
    m = variant("empty_init")
    p = m.properties["reserve-always-full"]
    with pytest.raises(ModelError, match="no initial state"):
        check_explicit(m, [p], Limits(max_seconds=60))
    opts = Options("induction", depth=5, timeout=30, invariant=p.expr) if engine == "invariant" \
        else Options(engine, depth=5, timeout=30)
    with pytest.raises(ModelError, match="no initial state"):
        r = run(m, [p], opts)[0]
        raise AssertionError(f"{engine} answered {r.verdict} ({r.strength})")
