"""The Z3 engines against the explicit engine on random small models: same verdicts, same
shortest counterexample lengths, and nothing proved that the explicit engine refutes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oomcheck.checker.explicit.search import check_explicit
from oomcheck.checker.language.lang import Model
from oomcheck.checker.symbolic.bmc import bmc_liveness, bmc_safety
from oomcheck.checker.symbolic.chc import check_chc
from oomcheck.checker.symbolic.induction import check_invariant, k_induction

from .test_engine_vs_reference import _check_lasso, _replay, models

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(models(), st.sampled_from(["inv", "dl"]))
def test_bmc_agrees_on_safety_and_shortest_length(m: Model, name: str) -> None:
    p = m.properties[name]
    (ex,) = check_explicit(m, [p])
    depth = ex.depth + 1  # deeper than any shortest path to a reachable state
    r = bmc_safety(m, p, depth, timeout=60)
    assert r.verdict == ex.verdict
    if r.verdict == "violated":
        assert len(r.trace.steps) == len(ex.trace.steps)
        _replay(m, r.trace)  # a real execution of the model
    else:
        assert r.strength == {"kind": "bounded", "depth": depth}


@SETTINGS
@given(models(), st.sampled_from(["ev", "lt"]))
def test_bmc_lassos_agree_with_fair_cycles(m: Model, name: str) -> None:
    p = m.properties[name]
    (ex,) = check_explicit(m, [p])
    depth = min(ex.states + 1, 10)
    r = bmc_liveness(m, p, depth, timeout=60)
    if r.verdict == "violated":
        assert ex.verdict == "violated"
        _check_lasso(m, p, r.trace)
    elif ex.verdict == "violated" and len(ex.trace.steps) <= depth:
        raise AssertionError("the explicit lasso fits in the BMC depth but BMC found none")


@SETTINGS
@given(models(), st.sampled_from(["inv", "dl"]))
def test_what_induction_and_chc_prove_holds_explicitly(m: Model, name: str) -> None:
    p = m.properties[name]
    (ex,) = check_explicit(m, [p])
    ki = k_induction(m, p, 6, timeout=60)
    chc = check_chc(m, p, timeout=60)
    for r in (ki, chc):
        if r.strength.get("kind") == "proved" and r.verdict == "holds":
            assert ex.verdict == "holds", f"{r.engine} proved what the explicit engine refutes"
        if r.verdict == "violated":
            assert ex.verdict == "violated"
    if ex.verdict == "violated":
        assert chc.verdict in ("violated", "unknown")


@SETTINGS
@given(models())
def test_a_user_invariant_is_accepted_only_when_it_is_one(m: Model) -> None:
    p = m.properties["inv"]
    (ex,) = check_explicit(m, [p])
    # the property itself as the candidate: proved means it really is inductive and holds
    r = check_invariant(m, p, p.expr, timeout=60)
    if r.verdict == "holds":
        assert ex.verdict == "holds"
    elif r.trace is not None and r.reason.startswith("the invariant is not inductive"):
        assert len(r.trace.steps) == 1  # the counterexample to induction is a pair of states
