"""Symmetry reduction against the unreduced search: same verdicts, same shortest safety
counterexamples, never more states, and every counterexample a real execution of the model."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oomcheck.catalog import build_variant, catalog_for, resolve_variant
from oomcheck.checker.explicit.search import check_explicit
from oomcheck.checker.explicit.symmetry import find_symmetry
from oomcheck.checker.language.lang import BOOL, IntType, Model, count, exists, forall, implies, ite
from oomcheck.checker.parametric.prove import Family

from .test_engine_vs_reference import _check_lasso, _replay

T = "thread"


def compare(m: Model) -> None:
    props = list(m.properties.values())
    red = check_explicit(m, props)
    full = check_explicit(m, props, symmetry=False)
    assert red[0].states <= full[0].states
    for r, f in zip(red, full, strict=True):
        assert r.verdict == f.verdict, (r.property, r.verdict, f.verdict)
        if r.trace is None:
            continue
        p = m.properties[r.property]
        if p.is_liveness:
            _check_lasso(m, p, r.trace)
        else:
            _replay(m, r.trace)
            assert len(r.trace.steps) == len(f.trace.steps)  # shortest in both


@st.composite
def symmetric_models(draw: st.DrawFn) -> Model:
    n = draw(st.integers(2, 4))
    acts = draw(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.booleans(),
                                   st.sampled_from(["none", "inc", "dec", "set_g", "clear_g"]),
                                   st.sampled_from(["any", "g", "not_g", "t0_at_1", "some_at_2"]),
                                   st.booleans()),
                         min_size=1, max_size=5))
    broadcast = draw(st.booleans())
    props = draw(st.lists(st.sampled_from(["cnt_nonneg", "few_at_2", "g_none_at_0", "t0_not_2",
                                           "ev_all_2", "lt_g_some_0", "ev_count"]),
                          min_size=1, max_size=3, unique=True))
    m = Model("sym")
    m.domain(T, n)
    m.actor(T, "thread")
    m.actor("env", "environment")
    pc = m.array("pc", T, IntType(0, 2), init=draw(st.sampled_from([0, (0, 1)])))
    flag = m.array("flag", T, BOOL, init=(0, 1))
    g = m.var("g", BOOL, init=0)
    cnt = m.var("cnt", IntType(-8, 8), init=0)
    for j, (a, b, fl, eff, cond, fair) in enumerate(acts):
        conds = {"any": True, "g": g, "not_g": ~g, "t0_at_1": pc[0] == 1,
                 "some_at_2": exists(T, lambda u: pc[u] == 2)}

        def guard(t, a=a, fl=fl, c=conds[cond]):
            return (pc[t] == a) & (flag[t] == int(fl)) & c

        def updates(t, b=b, eff=eff):
            u = {pc[t]: b}
            if eff == "inc":
                u[cnt] = ite(cnt < 8, cnt + 1, cnt)
            elif eff == "dec":
                u[cnt] = ite(cnt > -8, cnt - 1, cnt)
            elif eff in ("set_g", "clear_g"):
                u[g] = 1 if eff == "set_g" else 0
            return u
        m.action(f"a{j}", func=f"a{j}", file="sym.c", actor=T, params={"t": T},
                 guard=guard, updates=updates, fair=fair)
    if broadcast:
        m.action("reset", func="reset", file="sym.c", actor="env", guard=g,
                 updates={g: 0}, each=(T, lambda t: {flag[t]: ite(pc[t] == 2, 0, 1)}))
    m.set_final(forall(T, lambda t: pc[t] == 2))
    m.no_deadlock("dl", "some step until every thread is at 2")
    exprs = {
        "cnt_nonneg": lambda: m.invariant("cnt_nonneg", cnt >= 0, "r"),
        "few_at_2": lambda: m.invariant("few_at_2", count(T, lambda t: pc[t] == 2) <= 1, "r"),
        "g_none_at_0": lambda: m.invariant("g_none_at_0", implies(g, forall(T, lambda t: pc[t] != 0)), "r"),
        "t0_not_2": lambda: m.invariant("t0_not_2", pc[0] != 2, "r"),
        "ev_all_2": lambda: m.eventually("ev_all_2", forall(T, lambda t: pc[t] == 2), "r"),
        "lt_g_some_0": lambda: m.leads_to("lt_g_some_0", g, exists(T, lambda t: pc[t] == 0), "r"),
        "ev_count": lambda: m.eventually("ev_count", count(T, lambda t: flag[t]) >= 1, "r"),
    }
    for name in props:
        exprs[name]()
    m.sizes = {"threads": n}
    m.family = Family("threads", T, 2, 6)
    return m


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(symmetric_models())
def test_reduced_search_agrees_with_the_full_one(m: Model) -> None:
    sym, why = find_symmetry(m, list(m.properties.values()))
    assert sym is not None or why == "fewer than two interchangeable threads", why
    compare(m)


@pytest.mark.parametrize("variant", ["pre", "v8", "thaw-all-keep-memdie", "v10", "v10-late-mark"])
@pytest.mark.parametrize("threads", [2, 3, 4])
def test_catalog_rows_agree(variant: str, threads: int) -> None:
    cat = catalog_for("freezer")
    for knobs in ({}, {"freezer": "cgroup2"}):
        try:
            m = build_variant(resolve_variant(cat, variant), {"threads": threads}, knobs, cat)
        except Exception:  # a file variant fixing the freezer knob
            continue
        compare(m)


def test_a_thread_index_stored_in_a_variable_is_not_symmetric() -> None:
    m = Model("owner")
    m.domain(T, 3)
    m.actor(T, "thread")
    owner = m.var("owner", IntType(0, 2), init=0)
    m.action("grab", func="grab", file="t.c", actor=T, params={"t": T}, guard=True,
             updates=lambda t: {owner: t})
    m.invariant("ok", owner >= 0, "trivial")
    m.family = Family("threads", T, 2, 6)
    sym, why = find_symmetry(m, list(m.properties.values()))
    assert sym is None and "used as a value" in why
    (r,) = check_explicit(m, [m.properties["ok"]])
    assert r.strength["symmetry"].startswith("not used")


def test_a_quotient_cycle_is_decided_by_the_full_search() -> None:
    """Threads toggle a flag forever: the reduced graph has a cycle outside the goal, which only
    the unreduced graph can say is fair; the answer says so."""
    m = Model("toggle")
    m.domain(T, 3)
    m.actor(T, "thread")
    flag = m.array("flag", T, BOOL, init=0)
    m.action("toggle", func="toggle", file="t.c", actor=T, params={"t": T}, guard=True,
             updates=lambda t: {flag[t]: ite(flag[t], 0, 1)})
    m.eventually("never", forall(T, lambda t: flag[t]) & ~flag[0], "unreachable goal")
    m.family = Family("threads", T, 2, 6)
    (r,) = check_explicit(m, [m.properties["never"]])
    assert r.verdict == "violated" and "not used for this property" in r.strength["symmetry"]
    _check_lasso(m, m.properties["never"], r.trace)
