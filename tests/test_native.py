"""The native (C) search core against the Python engine: the same verdicts, stored states,
transitions, depths and shortest counterexamples, traces that replay, the same model errors, and
an exact state limit; also the hand-over from the Python loop to C in the middle of a search."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oomcheck.catalog import build_variant, catalog_for, resolve_variant
from oomcheck.checker.explicit import search as explicit
from oomcheck.checker.explicit.native import graph
from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.language.lang import BOOL, Const, Index, IntType, Model, ModelError, Property, Var

from .test_engine_vs_reference import _check_lasso, _replay, models
from .test_symmetry import symmetric_models

cffi = pytest.importorskip("cffi")
if not (shutil.which("gcc") or shutil.which("cc")):
    pytest.skip("no C compiler", allow_module_level=True)

# Each example builds a core or two (half a second each): the default run takes a few examples
# per test, the heavy tier (pytest -m heavy) runs every check below on HEAVY examples.
SETTINGS = settings(max_examples=10, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FEW = settings(SETTINGS, max_examples=6)
HEAVY = settings(SETTINGS, max_examples=50)


@pytest.fixture(autouse=True, scope="module")
def _cache(tmp_path_factory: pytest.TempPathFactory):
    """Built cores go to a temporary cache, not the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("OOMCHECK_NATIVE_CACHE", str(tmp_path_factory.mktemp("native-cache")))
    yield
    mp.undo()


def safety(m: Model) -> list[Property]:
    return [p for p in m.properties.values() if not p.is_liveness]


def same(m: Model, props: list[Property], limits: Limits | None = None, **kw: object) -> None:
    """Both cores give the same results; every native counterexample replays."""
    py = check_explicit(m, props, limits, core="python", **kw)  # type: ignore[arg-type]
    nat = check_explicit(m, props, limits, core="native", **kw)  # type: ignore[arg-type]
    for a, b in zip(py, nat, strict=True):
        assert a.strength["core"] == "python"
        assert b.strength["core"] == "native", b.strength["core"]
        assert (a.verdict, a.states, a.transitions, a.depth) == (b.verdict, b.states, b.transitions,
                                                                  b.depth), a.property
        assert a.reason == b.reason
        if a.trace is not None:
            assert b.trace is not None
            assert len(a.trace.steps) == len(b.trace.steps)
            assert [s.action for s in a.trace.steps] == [s.action for s in b.trace.steps]
            _replay(m, b.trace)


@SETTINGS
@given(models())
def test_random_models_agree(m: Model) -> None:
    same(m, safety(m))


@SETTINGS
@given(models(), st.integers(1, 40))
def test_state_limit_is_exact(m: Model, cap: int) -> None:
    state_limit_is_exact(m, cap)


def state_limit_is_exact(m: Model, cap: int) -> None:
    same(m, safety(m), Limits(max_states=cap))
    (r,) = check_explicit(m, [m.properties["inv"]], Limits(max_states=cap), core="native")
    assert r.states <= cap


@settings(SETTINGS, max_examples=8)
@given(symmetric_models())
def test_symmetric_models_agree(m: Model) -> None:
    symmetric_models_agree(m)


def symmetric_models_agree(m: Model) -> None:
    props = safety(m)
    same(m, props)
    red = check_explicit(m, props, core="native")
    full = check_explicit(m, props, symmetry=False, core="native")
    assert red[0].states <= full[0].states
    assert [r.verdict for r in red] == [r.verdict for r in full]


@SETTINGS
@given(models(), st.integers(1, 6))
def test_hand_over_from_python_to_native(m: Model, after: int) -> None:
    hand_over_from_python_to_native(m, after)


def hand_over_from_python_to_native(m: Model, after: int) -> None:
    props = safety(m)
    old = explicit.AUTO_AFTER
    explicit.AUTO_AFTER = after
    try:
        py = check_explicit(m, props, core="python")
        auto = check_explicit(m, props, core="auto")  # built on the way, unless cached already
    finally:
        explicit.AUTO_AFTER = old
    for a, b in zip(py, auto, strict=True):
        assert (a.verdict, a.states, a.transitions, a.depth) == (b.verdict, b.states, b.transitions,
                                                                  b.depth)
        if a.trace is not None:
            assert [s.action for s in a.trace.steps] == [s.action for s in b.trace.steps]
            _replay(m, b.trace)


def test_hand_over_in_a_catalog_model() -> None:
    cat = catalog_for("freezer")
    m = build_variant(resolve_variant(cat, "pre"), {"threads": 3}, {}, cat)
    old = explicit.AUTO_AFTER
    explicit.AUTO_AFTER = 50
    try:
        py = check_explicit(m, safety(m), core="python", symmetry=False)
        auto = check_explicit(m, safety(m), symmetry=False, core="auto")
    finally:
        explicit.AUTO_AFTER = old
    assert "native" in auto[0].strength["core"]
    assert [(r.verdict, r.states) for r in py] == [(r.verdict, r.states) for r in auto]
    assert any(r.verdict == "violated" for r in auto)


@pytest.mark.parametrize(("family", "variant", "sizes"), [
    ("freezer", "v10", {"threads": 3}),
    ("freezer", "pre", {"threads": 4}),
    ("freezer", "v8", {"threads": 3}),
    ("reaper", "reverse", {"vmas": 2, "ptes": 1}),
    ("reaper", "forward", {"vmas": 2, "ptes": 2}),
    ("reaper", "no-empty-tree", {"vmas": 2, "ptes": 1}),
])
def test_catalog_variants_agree(family: str, variant: str, sizes: dict[str, int]) -> None:
    cat = catalog_for(family)
    m = build_variant(resolve_variant(cat, variant), sizes, {}, cat)
    same(m, safety(m))
    if family == "freezer":
        same(m, safety(m), symmetry=False)


def _counter_model() -> Model:
    m = Model("overflow")
    m.domain("p", 2)
    m.actor("p", "proc")
    x = m.var("x", IntType(0, 2), init=0)
    m.action("inc", func="inc", file="t.c", actor="p", params={"p": "p"}, guard=x >= 0,
             updates=lambda p: {x: x + 1})
    m.invariant("inv", x >= 0, "x is never negative")
    return m


def _index_model() -> Model:
    m = Model("index")
    m.domain("p", 2)
    m.actor("p", "proc")
    i = m.var("i", IntType(0, 3), init=0)
    a = m.array("a", "p", BOOL, init=0)
    m.action("step", func="step", file="t.c", actor="p", params={"p": "p"}, guard=i <= 2,
             updates=lambda p: {i: i + 1})
    m.invariant("inv", ~a[i], "the flag at i is clear")
    return m


@pytest.mark.parametrize("build", [_counter_model, _index_model])
def test_model_errors_are_the_python_engine_s(build) -> None:
    m = build()
    (first,) = check_explicit(m, [m.properties["inv"]], Limits(max_states=1), core="native")
    assert first.strength["core"] == "native"  # so the error below comes from the native core
    with pytest.raises(ModelError) as py:
        check_explicit(m, safety(m), core="python")
    with pytest.raises(ModelError) as nat:
        check_explicit(m, safety(m), core="native")
    assert str(py.value) == str(nat.value)
    assert "out" in str(nat.value)


def test_without_a_compiler_the_python_engine_runs(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("OOMCHECK_NATIVE_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    cat = catalog_for("freezer")
    fm = build_variant(resolve_variant(cat, "v10"), {"threads": 2}, {}, cat)
    (r,) = check_explicit(fm, [fm.properties["oom-victims-balance"]], core="native")
    assert r.verdict == "holds"
    assert r.strength["core"].startswith("python (native core unavailable: ")


def same_graph(m: Model, props: list[Property], limits: Limits | None = None, **kw: object) -> None:
    """The graph search (liveness) in C and in Python: the same results, the same traces and
    lassos (the states are numbered alike), and every native lasso is a fair one."""
    py = check_explicit(m, props, limits, core="python", **kw)  # type: ignore[arg-type]
    nat = check_explicit(m, props, limits, core="native", **kw)  # type: ignore[arg-type]
    for a, b in zip(py, nat, strict=True):
        assert "native" not in a.strength["core"]
        if "symmetry" not in b.strength or "not used for this" not in b.strength["symmetry"]:
            assert b.strength["core"] == "native", b.strength["core"]
        assert (a.verdict, a.states, a.transitions, a.depth, a.reason) == \
            (b.verdict, b.states, b.transitions, b.depth, b.reason), a.property
        assert a.strength.get("symmetry") == b.strength.get("symmetry")
        if a.trace is None:
            assert b.trace is None
            continue
        assert b.trace is not None
        assert [s.action for s in a.trace.steps] == [s.action for s in b.trace.steps]
        assert (a.trace.loop_start, a.trace.stutter) == (b.trace.loop_start, b.trace.stutter)
        p = next(x for x in props if x.name == b.property)
        if p.is_liveness:
            _check_lasso(m, p, b.trace)
        else:
            _replay(m, b.trace)


@FEW
@given(models(), st.sampled_from([["ev"], ["lt"], ["ev", "lt", "inv", "dl"]]))
def test_graph_search_agrees_on_random_models(m: Model, names: list[str]) -> None:
    same_graph(m, [m.properties[x] for x in names])


@FEW
@given(symmetric_models())
def test_graph_search_agrees_on_symmetric_models(m: Model) -> None:
    graph_search_agrees_on_symmetric_models(m)


def graph_search_agrees_on_symmetric_models(m: Model) -> None:
    props = list(m.properties.values())
    if not any(p.is_liveness for p in props):
        props.append(Property("ev-final", "eventually", "the final condition", m.final))
    same_graph(m, props)


@FEW
@given(models(), st.integers(1, 40))
def test_graph_search_state_limit_is_exact(m: Model, cap: int) -> None:
    graph_search_state_limit_is_exact(m, cap)


def graph_search_state_limit_is_exact(m: Model, cap: int) -> None:
    props = [m.properties["ev"], m.properties["inv"], m.properties["dl"]]
    same_graph(m, props, Limits(max_states=cap))
    (r, *_) = check_explicit(m, props, Limits(max_states=cap), core="native")
    assert r.states <= cap


@FEW
@given(models(), st.integers(1, 30))
def test_graph_search_hand_over_from_python(m: Model, after: int) -> None:
    graph_search_hand_over_from_python(m, after)


def graph_search_hand_over_from_python(m: Model, after: int) -> None:
    old = explicit.AUTO_AFTER, explicit.CHECK_EVERY
    explicit.AUTO_AFTER, explicit.CHECK_EVERY = after, 3  # the hand-over is looked at this often
    props = list(m.properties.values())
    try:
        py = check_explicit(m, props, core="python")
        auto = check_explicit(m, props, core="auto")  # built on the way, unless cached already
    finally:
        explicit.AUTO_AFTER, explicit.CHECK_EVERY = old
    for a, b in zip(py, auto, strict=True):
        assert (a.verdict, a.states, a.transitions, a.depth) == (b.verdict, b.states, b.transitions,
                                                                  b.depth)
        if a.trace is not None:
            assert [s.action for s in a.trace.steps] == [s.action for s in b.trace.steps]
            assert a.trace.loop_start == b.trace.loop_start


def test_graph_search_hand_over_in_a_catalog_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(explicit, "AUTO_AFTER", 50)
    cat = catalog_for("freezer")
    m = build_variant(resolve_variant(cat, "pre"), {"threads": 4}, {}, cat)
    props = list(m.properties.values())
    py = check_explicit(m, props, core="python", symmetry=False)
    auto = check_explicit(m, props, symmetry=False, core="auto")
    assert auto[0].strength["core"].startswith("native (after ")
    for a, b in zip(py, auto, strict=True):
        assert (a.verdict, a.states, a.transitions, a.depth) == (b.verdict, b.states, b.transitions,
                                                                  b.depth)
        if a.trace is not None:
            assert [s.action for s in a.trace.steps] == [s.action for s in b.trace.steps]
            assert a.trace.loop_start == b.trace.loop_start
    assert any(r.verdict == "violated" for r in auto if m.properties[r.property].is_liveness)


def test_graph_search_memory_limit_inside_the_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    """A limit passed between the C analysis steps stops it: unknown, with the full counts."""
    cat = catalog_for("freezer")
    m = build_variant(resolve_variant(cat, "v10"), {"threads": 3}, {}, cat)
    props = list(m.properties.values())
    (full, *_) = check_explicit(m, props, core="native")
    phase = {"analysis": False}
    real = graph.NativeGraphSearch._fair_targets

    def watched(self: graph.NativeGraphSearch, *a: object) -> object:
        phase["analysis"] = True
        return real(self, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(graph.NativeGraphSearch, "_fair_targets", watched)
    monkeypatch.setattr(explicit, "peak_rss_mb", lambda: 1e9 if phase["analysis"] else 0.0)
    rs = check_explicit(m, props, Limits(max_memory_mb=1000), core="native")
    assert phase["analysis"]
    for r in rs:
        assert r.verdict == "unknown" and r.reason == "memory limit reached (1000 MB)"
        assert (r.states, r.transitions) == (full.states, full.transitions)


@pytest.mark.parametrize("variant", ["pre", "v8", "thaw-all-keep-memdie", "v10", "v10-late-mark"])
@pytest.mark.parametrize("n", [2, 3, 4])
def test_graph_search_on_the_freezer_catalog(variant: str, n: int) -> None:
    cat = catalog_for("freezer")
    m = build_variant(resolve_variant(cat, variant), {"threads": n}, {}, cat)
    same_graph(m, list(m.properties.values()))


def test_graph_search_without_a_compiler(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("OOMCHECK_NATIVE_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    cat = catalog_for("freezer")
    m = build_variant(resolve_variant(cat, "v10"), {"threads": 2}, {}, cat)
    (r,) = check_explicit(m, [m.properties["victim-exits"]], core="native")
    assert r.verdict == "holds"
    assert r.strength["core"].startswith("python (native core unavailable: ")


def test_liveness_model_errors_are_the_python_engine_s() -> None:
    """A goal or a premise indexing out of range: the C predicates stop where Python raises."""
    bad = Index("a", Var("i"))  # i reaches 3, a has 2 elements
    for p in (Property("p", "eventually", "bad index in the goal", bad),
              Property("p", "leads_to", "bad index in the premise", Const(0), bad)):
        m = _index_model()
        with pytest.raises(ModelError) as py:
            check_explicit(m, [p], core="python")
        with pytest.raises(ModelError) as nat:
            check_explicit(m, [p], core="native")
        assert str(py.value) == str(nat.value) and "out" in str(nat.value)


def test_unknown_core_is_refused() -> None:
    with pytest.raises(ModelError, match="unknown search core"):
        check_explicit(_counter_model(), [], core="fortran")


def test_values_past_64_bits_stay_in_python() -> None:
    """C computes in int64: a model whose values may not fit runs in Python, and says so."""
    m = Model("big")
    m.domain("t", 1)
    x = m.var("x", IntType(0, 1 << 62), init=0)
    m.action("grow", func="grow", file="big.c", actor="env", guard=x < 3, updates={x: x + 1})
    m.invariant("small", x + (1 << 62) > 0, "never wraps")
    (r,) = check_explicit(m, [m.properties["small"]], core="native")
    assert r.verdict == "holds" and "64 bits" in r.strength["core"]


# -- heavy tier: every check above on HEAVY examples each (pytest -m heavy) ----------------------

@pytest.mark.heavy
@HEAVY
@given(models(), st.integers(1, 40), st.integers(1, 6), st.integers(1, 30))
def test_heavy_random_models(m: Model, cap: int, after: int, graph_after: int) -> None:
    same(m, safety(m))
    state_limit_is_exact(m, cap)
    hand_over_from_python_to_native(m, after)
    for names in (["ev"], ["lt"], ["ev", "lt", "inv", "dl"]):
        same_graph(m, [m.properties[x] for x in names])
    graph_search_state_limit_is_exact(m, cap)
    graph_search_hand_over_from_python(m, graph_after)


@pytest.mark.heavy
@HEAVY
@given(symmetric_models())
def test_heavy_symmetric_models(m: Model) -> None:
    symmetric_models_agree(m)
    graph_search_agrees_on_symmetric_models(m)
