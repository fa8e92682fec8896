"""Partial-order reduction against the unreduced search: the same verdicts and model errors,
never more states, every counterexample a real execution (the reduced search's own, before it
is shortened, too), shortest counterexamples after the shortening, and the Python and native
cores making the same reduction."""

from __future__ import annotations

import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oomcheck.catalog import build_variant, catalog_for, resolve_variant
from oomcheck.checker.explicit import search as explicit
from oomcheck.checker.explicit.por import por_tables
from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.language.compile import compile_model
from oomcheck.checker.language.interp import evaluate, step
from oomcheck.checker.language.lang import (
    BOOL,
    FALSE,
    TRUE,
    IntType,
    Model,
    ModelError,
    Property,
    count,
    forall,
    ite,
)
from oomcheck.cli import main

from .fuzz_models import CLEAN, WHOLE
from .fuzz_models import models as fuzz_models
from .test_engine_vs_reference import _replay
from .test_engine_vs_reference import models as small_models
from .test_symmetry import symmetric_models


@pytest.fixture(autouse=True, scope="module")
def _cache(tmp_path_factory: pytest.TempPathFactory):
    """Built cores go to a temporary cache, not the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("OOMCHECK_NATIVE_CACHE", str(tmp_path_factory.mktemp("native-cache")))
    yield
    mp.undo()


SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
T = "t"


def safety(m: Model) -> list[Property]:
    return [p for p in m.properties.values() if not p.is_liveness]


def _run(m: Model, props: list[Property], **kw: object) -> list | str:
    try:
        return check_explicit(m, props, **kw)  # type: ignore[arg-type]
    except ModelError as e:
        return f"model error: {e}"


def _check_trace(m: Model, p: Property, trace) -> None:
    """A real execution that ends in a violation of p."""
    last = _replay(m, trace)[-1]
    if p.kind == "invariant":
        assert not evaluate(m, p.expr, last)
    else:
        assert all(step(m, i, last) is None for i in m.instances())
        assert not evaluate(m, m.final, last)


def compare(m: Model, props: list[Property], core: str = "python", **kw: object) -> None:
    """POR on against off: the same verdicts (or both a model error), no more states, traces
    that replay and are shortest; the reduced search's own traces (not shortened) replay too."""
    full = _run(m, props, por=False, core=core, **kw)
    red = _run(m, props, por=True, core=core, **kw)
    if isinstance(full, str) or isinstance(red, str):
        # a search that stops at its first violation may not reach a model error the other
        # order reaches first: both are real findings, so only a search that saw everything
        # must agree that there is an error
        done = full if not isinstance(full, str) else red
        assert (isinstance(full, str) and isinstance(red, str)) or _early(done), (full, red)  # type: ignore[arg-type]
        return
    if not _early(full) and not _early(red):  # a search stopped early: counts are not comparable
        assert red[0].states <= full[0].states
    for r, f in zip(red, full, strict=True):
        assert r.verdict == f.verdict, (r.property, r.verdict, f.verdict)
        assert r.strength["por"] != "off"
        if r.trace is not None:
            _check_trace(m, m.properties[r.property], r.trace)
            assert len(r.trace.steps) == len(f.trace.steps)  # shortened: shortest
    old = explicit._shorten
    explicit._shorten = lambda *a, **k: None  # the reduced search's own counterexamples
    try:
        raw = _run(m, props, por=True, core=core, **kw)
    finally:
        explicit._shorten = old
    assert not isinstance(raw, str)
    for r, f in zip(raw, full, strict=True):
        assert r.verdict == f.verdict
        if r.trace is not None:
            _check_trace(m, m.properties[r.property], r.trace)
            assert len(r.trace.steps) >= len(f.trace.steps)


def _early(rs: list) -> bool:
    return any(r.verdict == "violated" for r in rs) and any(r.strength.get("decided_early") for r in rs)


@st.composite
def concurrent_models(draw: st.DrawFn) -> Model:
    """Threads stepping through a few program counters, sharing a counter (that may overflow: a
    model error), a flag and an index (that may leave the array: a model error), with an
    invariant over some of it: interleavings for the reduction to prune."""
    n = draw(st.integers(2, 3))
    m = Model("conc")
    m.domain(T, n)
    m.actor(T, "thread")
    m.actor("env", "environment")
    pc = m.array("pc", T, IntType(0, 3), init=0)
    loc = m.array("loc", T, BOOL, init=draw(st.sampled_from([0, (0, 1)])))
    x = m.var("x", IntType(0, 2), init=0)
    y = m.var("y", BOOL, init=0)
    idx = m.var("idx", IntType(0, 3), init=draw(st.sampled_from([0, 1])))
    # thread-local guards and effects more often than shared ones (which make steps dependent)
    conds = ["any"] * 4 + ["loc"] * 2 + ["y", "not_y", "x0", "t0_at_2", "loc_idx", "x_lt_2"]
    effects = ["none"] * 5 + ["flip_loc"] * 2 + ["inc", "inc_safe", "dec_safe", "set_y", "clear_y",
                                                 "idx_up", "set_loc_idx"]
    acts = draw(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.sampled_from(conds),
                                   st.sampled_from(effects)), min_size=2, max_size=8))
    if draw(st.booleans()):  # back to the start: cycles (the proviso's business)
        acts.append((3, 0, "any", draw(st.sampled_from(effects))))
    for j, (a, b, cond, eff) in enumerate(acts):
        def guard(t, a=a, cond=cond):
            c = {"any": True, "y": y, "not_y": ~y, "x0": x == 0, "loc": loc[t],
                 "t0_at_2": pc[0] == 2, "loc_idx": loc[idx], "x_lt_2": x < 2}[cond]
            return (pc[t] == a) & c

        def updates(t, b=b, eff=eff):
            u = {pc[t]: b}
            if eff == "inc":
                u[x] = x + 1
            elif eff == "inc_safe":
                u[x] = ite(x < 2, x + 1, x)
            elif eff == "dec_safe":
                u[x] = ite(x > 0, x - 1, x)
            elif eff in ("set_y", "clear_y"):
                u[y] = 1 if eff == "set_y" else 0
            elif eff == "flip_loc":
                u[loc[t]] = ~loc[t]
            elif eff == "idx_up":
                u[idx] = idx + 1
            elif eff == "set_loc_idx":
                u[loc[idx]] = 1
            return u
        m.action(f"a{j}", func=f"a{j}", file="conc.c", actor=T, params={"t": T},
                 guard=guard, updates=updates)
    if draw(st.booleans()):
        m.action("env", func="env", file="conc.c", actor="env", guard=y, updates={y: 0})
    m.set_final(draw(st.sampled_from([forall(T, lambda t: pc[t] == 3), FALSE, TRUE, TRUE])))
    inv = draw(st.sampled_from(["x_le_1", "not_both_2", "count_3", "y_imp", "true"]))
    m.invariant("inv", {"x_le_1": x <= 1, "not_both_2": ~((pc[0] == 2) & (pc[1] == 2)),
                        "count_3": count(T, lambda t: pc[t] == 3) <= 1,
                        "y_imp": ~y | (x != 2), "true": True}[inv], "random")
    m.no_deadlock("dl", "no deadlock")
    return m


@SETTINGS
@given(concurrent_models(), st.sampled_from([["dl"], ["inv"], ["inv", "dl"]]))
def test_concurrent_models_agree(m: Model, names: list[str]) -> None:
    compare(m, [m.properties[x] for x in names])


@settings(SETTINGS, max_examples=60)
@given(small_models())
def test_small_random_models_agree(m: Model) -> None:
    compare(m, [m.properties["inv"], m.properties["dl"]])
    compare(m, [m.properties["dl"]])


@settings(SETTINGS, max_examples=40)
@given(fuzz_models(WHOLE))
def test_fuzzed_models_agree(src) -> None:
    try:
        m = src.build()
    except ModelError:
        return
    lim = Limits(max_states=20_000, max_seconds=20)
    full = _run(m, safety(m), por=False, limits=lim)
    if not isinstance(full, str) and any(r.verdict == "unknown" for r in full):
        return  # too big for a comparison
    compare(m, safety(m), limits=lim)
    compare(m, [m.properties["dl"]], limits=lim)


@settings(SETTINGS, max_examples=25)
@given(fuzz_models(CLEAN))
def test_clean_fuzzed_models_agree(src) -> None:
    m = src.build()
    lim = Limits(max_states=20_000, max_seconds=20)
    full = _run(m, safety(m), por=False, limits=lim)
    if not isinstance(full, str) and any(r.verdict == "unknown" for r in full):
        return
    compare(m, safety(m), limits=lim)


@settings(SETTINGS, max_examples=60)
@given(symmetric_models())
def test_symmetry_and_por_together(m: Model) -> None:
    """With symmetry the set is chosen at the representative (por.py says why that is sound):
    the same verdicts as neither reduction."""
    props = safety(m)
    both = check_explicit(m, props)
    neither = check_explicit(m, props, symmetry=False, por=False)
    assert both[0].states <= neither[0].states
    for a, b in zip(both, neither, strict=True):
        assert a.verdict == b.verdict, a.property
        if a.trace is not None:
            _check_trace(m, m.properties[a.property], a.trace)
            assert len(a.trace.steps) == len(b.trace.steps)
    compare(m, props)


@pytest.mark.parametrize("variant", ["pre", "v8", "thaw-all-keep-memdie", "v10", "v10-late-mark"])
@pytest.mark.parametrize("threads", [2, 3])
def test_freezer_catalog_rows_agree(variant: str, threads: int) -> None:
    cat = catalog_for("freezer")
    for knobs in ({}, {"freezer": "cgroup2"}):
        try:
            m = build_variant(resolve_variant(cat, variant), {"threads": threads}, knobs, cat)
        except ModelError:  # a file variant fixing the freezer knob
            continue
        compare(m, safety(m))
        compare(m, [m.properties["no-deadlock"]])
        compare(m, [m.properties["no-deadlock"]], symmetry=False)


@pytest.mark.heavy
@pytest.mark.parametrize("variant", ["pre", "v8", "thaw-all-keep-memdie", "v10", "v10-late-mark"])
@pytest.mark.parametrize("threads", [4, 5])
def test_freezer_catalog_rows_agree_larger(variant: str, threads: int) -> None:
    cat = catalog_for("freezer")
    m = build_variant(resolve_variant(cat, variant), {"threads": threads}, {}, cat)
    compare(m, [m.properties["no-deadlock"]], core="auto")
    compare(m, safety(m), core="auto")


@pytest.mark.parametrize(("family", "variant", "sizes"), [
    ("reaper", "reverse", {"vmas": 2, "ptes": 1}),
    ("reaper", "forward", {"vmas": 2, "ptes": 2}),
    ("oomadj", "v1", {}),
])
def test_other_catalog_rows_agree(family: str, variant: str, sizes: dict[str, int]) -> None:
    cat = catalog_for(family)
    try:
        m = build_variant(resolve_variant(cat, variant), sizes, {}, cat)
    except ModelError as e:
        pytest.skip(str(e))
    compare(m, safety(m))


def test_deadlock_search_is_reduced_on_the_freezer() -> None:
    """The reduction prunes: no-deadlock of v10 at 4 threads stores far fewer states."""
    cat = catalog_for("freezer")
    m = build_variant(resolve_variant(cat, "v10"), {"threads": 4}, {}, cat)
    p = [m.properties["no-deadlock"]]
    (red,) = check_explicit(m, p, symmetry=False, core="python")
    (full,) = check_explicit(m, p, symmetry=False, core="python", por=False)
    assert red.verdict == full.verdict == "holds"
    assert red.states * 4 < full.states
    assert red.strength["por"].startswith("partial-order reduction: ")
    assert full.strength["por"] == "off"


def test_liveness_is_not_reduced_and_says_so() -> None:
    cat = catalog_for("freezer")
    m = build_variant(resolve_variant(cat, "v10"), {"threads": 2}, {}, cat)
    rs = check_explicit(m, list(m.properties.values()))
    assert all(r.strength["por"].startswith("not used: a liveness property") for r in rs)


def test_visible_steps_are_kept_in_order() -> None:
    """Every instance that writes what the invariant reads is visible; an instance that writes
    nothing it reads is not."""
    m = Model("vis")
    m.domain(T, 2)
    m.actor(T, "thread")
    a = m.array("a", T, BOOL, init=0)
    b = m.array("b", T, BOOL, init=0)
    m.action("seta", func="seta", file="v.c", actor=T, params={"t": T}, guard=True,
             updates=lambda t: {a[t]: 1})
    m.action("setb", func="setb", file="v.c", actor=T, params={"t": T}, guard=True,
             updates=lambda t: {b[t]: 1})
    m.invariant("inv", ~(a[0] & a[1]), "not both")
    comp = compile_model(m, [])
    tab = por_tables(comp, [m.properties["inv"].expr])
    names = [i.action.name for i in comp.instances]
    assert [names[t] for t in range(tab.n) if tab.visible >> t & 1] == ["seta", "seta"]
    (r,) = check_explicit(m, [m.properties["inv"]], core="python")
    assert r.verdict == "violated" and len(r.trace.steps) == 2


def test_a_reachable_model_error_is_still_found() -> None:
    """The overflow is reached only after an interleaving the reduction could prune; the failure
    pseudo-steps keep it (por.py)."""
    m = Model("err")
    m.domain(T, 3)
    m.actor(T, "thread")
    pc = m.array("pc", T, IntType(0, 1), init=0)
    x = m.var("x", IntType(0, 2), init=0)
    m.action("go", func="go", file="e.c", actor=T, params={"t": T}, guard=lambda t: pc[t] == 0,
             updates=lambda t: {pc[t]: 1})
    m.action("inc", func="inc", file="e.c", actor=T, params={"t": T},
             guard=lambda t: pc[t] == 1, updates=lambda t: {x: x + 1, pc[t]: 0})
    m.no_deadlock("dl", "")
    for por in (False, True):
        with pytest.raises(ModelError, match="outside its type"):
            check_explicit(m, [m.properties["dl"]], por=por, core="python")


NO_CC = not (shutil.which("gcc") or shutil.which("cc"))


@pytest.mark.skipif(NO_CC, reason="no C compiler")
@settings(SETTINGS, max_examples=4)  # each example builds cores (about a second); -m heavy: 40
@given(concurrent_models())
def test_native_core_makes_the_same_reduction(m: Model) -> None:
    native_core_makes_the_same_reduction(m)


@pytest.mark.heavy
@pytest.mark.skipif(NO_CC, reason="no C compiler")
@settings(SETTINGS, max_examples=40)
@given(concurrent_models())
def test_heavy_native_core_makes_the_same_reduction(m: Model) -> None:
    native_core_makes_the_same_reduction(m)


def native_core_makes_the_same_reduction(m: Model) -> None:
    pytest.importorskip("cffi")
    props = safety(m)
    py = _run(m, props, core="python")
    nat = _run(m, props, core="native")
    if isinstance(py, str) or isinstance(nat, str):
        assert isinstance(py, str) and isinstance(nat, str)
        return
    for a, b in zip(py, nat, strict=True):
        assert b.strength["core"] == "native"
        assert (a.verdict, a.states, a.transitions, a.depth, a.strength["por"]) == \
            (b.verdict, b.states, b.transitions, b.depth, b.strength["por"])
    compare(m, props, core="native")


def test_cli_por_off(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["check", "freezer", "--variant", "v10", "--threads", "3", "--property", "no-deadlock",
            "--format", "json", "--quiet", "--core", "python"]
    main(argv)
    on = json.loads(capsys.readouterr().out)["results"][0]
    main([*argv, "--por", "off"])
    off = json.loads(capsys.readouterr().out)["results"][0]
    assert on["verdict"] == off["verdict"] == "holds"
    assert on["states"] < off["states"]
    assert off["strength"]["por"] == "off"
