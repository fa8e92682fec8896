"""Wrong answers the Z3 engines (BMC, k-induction, CHC, a user's inductive invariant) gave on
variant files a kernel developer wrote (tests/variants/), each against the explicit engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from oomcheck.catalog import model_for
from oomcheck.checker.engines import Options, run
from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.language.lang import Model, ModelError
from oomcheck.checker.symbolic.chc import check_chc

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


def test_chc_does_not_call_a_model_error_beyond_its_bmc_depth_a_violation() -> None:
    m = variant("late_overflow")
    p = m.properties["scans-nonneg"]
    with pytest.raises(ModelError, match="assigns 64 to scans, outside its type"):
        check_explicit(m, [p], Limits(max_seconds=60))
    with pytest.raises(ModelError, match="leaves its type or reads an array out of its range"):
        r = check_chc(m, p, 60, bmc_depth=5)  # the state that leaves its type is at depth 64
        raise AssertionError(f"chc answered {r.verdict} ({r.reason})")


def test_an_invariant_file_that_changes_the_model_is_refused(
        capsys: pytest.CaptureFixture[str]) -> None:
    from oomcheck.cli import EXIT_USAGE, main
    m = variant("reserve_refill")
    p = m.properties["reserve-not-full"]
    (ex,) = check_explicit(m, [p], Limits(max_seconds=60))
    assert ex.verdict == "violated" and len(ex.trace.steps) == 0  # full in an initial state
    code = main(["check", "freezer", "--variant", str(VARIANTS / "reserve_refill.py"),
                 "--threads", "2", "--property", "reserve-not-full", "--engine", "induction",
                 "--invariant", str(VARIANTS / "reserve_refill_inv.py"), "--quiet"])
    out, err = capsys.readouterr()
    assert "proved" not in out, out
    assert code == EXIT_USAGE and "invariant() changed the model's init constraints" in err


def test_an_invariant_file_that_rewrites_the_property_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The property objects are the model's: an invariant file that set reserve-not-full's
    expression to reserve <= 3 got 'reserve-not-full: holds (proved by inductive invariant)'."""
    from oomcheck.cli import EXIT_USAGE, main
    inv = tmp_path / "inv.py"
    inv.write_text("from oomcheck.lang import lift\n\n\n"
                   "def invariant(m):\n"
                   "    m.properties['reserve-not-full'].expr = lift(m.ref('reserve') <= 3)\n"
                   "    return lift(m.ref('reserve') <= 3)\n")
    code = main(["check", "freezer", "--variant", str(VARIANTS / "reserve_refill.py"),
                 "--threads", "2", "--property", "reserve-not-full", "--engine", "induction",
                 "--invariant", str(inv), "--quiet"])
    out, err = capsys.readouterr()
    assert "proved" not in out, out
    assert code == EXIT_USAGE and "invariant() changed the model's properties" in err


def test_a_variable_name_must_be_an_identifier() -> None:
    # the language refuses slot_name_alias.py now: a printed slot name belongs to one slot
    with pytest.raises(ModelError, match="'pc\\[1\\]' is not an identifier"):
        variant("slot_name_alias")


def _alias_model() -> Model:
    """slot_name_alias.py's model past the language's check (the declaration put in place by
    hand): the Z3 encodings must keep the two slots apart even so."""
    from oomcheck.checker.language.lang import VarDecl
    from oomcheck.models.freezer import ThreadPC
    m = model_for("freezer", "v10", None, {"threads": 2}, {})[0]
    m.vars["pc[1]"] = VarDecl("pc[1]", ThreadPC, None, ThreadPC.RUNNING, "")
    m.invariant("thread1-not-exited", m.ref("pc")[1] != ThreadPC.EXITED, "thread 1 never exits")
    return m


@pytest.mark.parametrize("engine", ["bmc", "induction", "chc"])
def test_a_scalar_named_like_an_array_element_is_its_own_slot(engine: str) -> None:
    m = _alias_model()
    p = m.properties["thread1-not-exited"]
    (ex,) = check_explicit(m, [p], Limits(max_seconds=60), symmetry=False, por=False)
    assert ex.verdict == "violated" and len(ex.trace.steps) == 4
    r = run(m, [p], Options(engine, depth=8, timeout=60))[0]
    assert r.verdict == "violated", (r.verdict, r.strength, r.reason)
    if engine != "chc":  # BMC and the base case of k-induction: a shortest counterexample
        assert len(r.trace.steps) == 4


def test_a_variable_called_act_is_not_bmcs_action_label() -> None:
    m = variant("act_named_counter")
    p = m.properties["reaches-9000"]
    (ex,) = check_explicit(m, [p], Limits(max_seconds=60), symmetry=False)
    assert ex.verdict == "violated"
    r = run(m, [p], Options("bmc", depth=8, timeout=60))[0]
    assert r.verdict == "violated", (r.verdict, r.strength)
    assert len(r.trace.steps) <= 8
