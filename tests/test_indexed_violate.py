"""Violations for every number of VMAs and PTEs (checker/indexed/violate.py, schema.py,
symexec.py): the reaper's two bugs shown for every size (zap-without-ptl, reverse-mas-prev), a
toy walker whose violation exists only for small K (never claimed for every K), model errors at
bigger sizes, refused mutants of a found schema, and every schema instance at a bigger size
replayed by the reference interpreter."""

from __future__ import annotations

import pytest

from oomcheck.catalog import build_variant, catalog_for, resolve_variant
from oomcheck.checker.engines import Options, run
from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.indexed.prove import IndexedProver, check_indexed
from oomcheck.checker.indexed.schema import Concrete, Lin, Schema, SLoop, SStep, initial, replay
from oomcheck.checker.indexed.symexec import check as check_schema
from oomcheck.checker.indexed.template import IndexedFamily
from oomcheck.checker.indexed.violate import every_size, smallest_violation
from oomcheck.checker.language.interp import evaluate, step
from oomcheck.checker.language.lang import (
    BOOL,
    Const,
    Enum,
    IntType,
    Model,
    Property,
    exists,
    forall,
    implies,
    ite,
)
from oomcheck.checker.trace import Result

FAM = IndexedFamily((("vmas", "vma"), ("ptes", "pte_index")), ("page", "vma", "pte_index"))
Pc = Enum("walk_pc", ["ITER", "ZAP", "DONE"])


def walker(k: int, p: int, mode: str = "") -> Model:
    """One actor walks the VMAs upwards and clears each table's entries in order. long-walk is
    violated only when the walk ends below VMA 4 (K <= 4); all-clear at every size. mode
    "stuck": no end step, so the walk deadlocks at every size; "count": a counter of the VMAs
    visited that leaves its type at K = 5 (a model error there)."""
    m = Model("walker", sizes={"vmas": k, "ptes": p})
    m.domain("vma", k)
    m.domain("pte_index", p)
    m.product("page", "vma", "pte_index")
    pte = m.array("pte", "page", BOOL, init=1)
    pc = m.var("pc", Pc, init=Pc.ITER)
    cur = m.var("cur", IntType(-1, k), init=-1)
    pi = m.var("pi", IntType(0, p - 1), init=0)
    n = m.var("n", IntType(0, 4), init=0)

    def visit(v):  # type: ignore[no-untyped-def]
        ups = {cur: v, pc: Pc.ZAP, pi: 0}
        if mode == "count":
            ups[n] = n + 1
        return ups

    m.action("iter", func="iter", file="walk.c", actor="w", params={"v": "vma"},
             guard=lambda v: (pc == Pc.ITER) & (cur == v - 1), updates=visit)
    m.action("zap", func="zap", file="walk.c", actor="w", params={"v": "vma", "q": "pte_index"},
             guard=lambda v, q: (pc == Pc.ZAP) & (cur == v) & (pi == q),
             updates=lambda v, q: {pte[m.element("page", v, q)]: 0, pc: ite(q == p - 1, Pc.ITER, Pc.ZAP),
                                   pi: ite(q == p - 1, 0, q + 1)})
    if mode != "stuck":
        m.action("end", func="end", file="walk.c", actor="w", guard=(pc == Pc.ITER) & (cur == k - 1),
                 updates={pc: Pc.DONE})
    m.set_final(pc == Pc.DONE)
    m.invariant("long-walk", implies(pc == Pc.DONE, cur >= 4), "the walk ends at VMA 4 or above")
    m.invariant("all-clear", implies(pc == Pc.DONE, exists("page", lambda x: pte[x] == 1)),
                "some entry is left (false: the walk clears every one)")
    m.invariant("never-done", pc != Pc.DONE, "the walk never ends")
    m.no_deadlock("no-deadlock", "the walk ends")
    m.indexed = FAM
    m.rebuild = lambda sizes: walker(sizes["vmas"], sizes["ptes"], mode)
    return m


def base_violation(m: Model, name: str, k: int = 1, p: int = 1) -> Result:
    """The explicit violation at one size, as smallest_violation reports it (fast: one size)."""
    small = m.rebuild({**m.sizes, "vmas": k, "ptes": p})  # type: ignore[misc]
    r = check_explicit(small, [small.properties[name]], Limits())[0]
    assert r.verdict == "violated", (name, r.verdict)
    r.strength = {**r.strength, "grid": [{"vmas": k, "ptes": p}]}
    return r


def interp_replays(m: Model, sch: Schema, prover: IndexedProver, prop: str, k: int, p: int) -> None:
    """The schema at (k, p), replayed by the reference interpreter on the model built there: every
    step enabled, the last state violating the property."""
    fam = prover.fam
    built = m.rebuild({**m.sizes, "vmas": k, "ptes": p})  # type: ignore[misc]
    c = Concrete(built, (fam.k_dom, fam.p_dom, fam.product[0] if fam.product else None), k, p)
    r = replay(sch, c, prover.t, built.properties[prop])
    assert not r.error, r.error
    state = c.values(initial(sch, c, prover.t))
    insts = built.instances()
    for aid in r.aids:
        nxt = step(built, insts[aid], state)
        assert nxt is not None, insts[aid].label
        state = nxt
    want = built.properties[prop]
    if want.kind == "invariant":
        assert not evaluate(built, want.expr, state)  # type: ignore[arg-type]
    else:
        assert not evaluate(built, built.final, state)
        assert all(not evaluate(built, i.guard, state) for i in insts)


# ---- the reaper ----------------------------------------------------------------------------------

REAPER = [("zap-without-ptl", {}, "no-double-free"), ("zap-without-ptl", {}, "all-freed"),
          ("reverse-mas-prev", {"top_vma": "yes"}, "reaper-coverage")]


@pytest.mark.parametrize("variant,knobs,prop", REAPER)
def test_reaper_bugs_violated_for_every_k_and_p(variant: str, knobs: dict, prop: str) -> None:
    cat = catalog_for("reaper")
    m = build_variant(resolve_variant(cat, variant), {"vmas": 2, "ptes": 1}, knobs, cat)
    prover = IndexedProver(m, 60)
    ev, why = every_size(prover, m.properties[prop], base_violation(m, prop), Limits())
    assert ev is not None, why
    assert ev.covers == "every vmas >= 1 and ptes >= 1"
    assert any(isinstance(x, SLoop) for x in ev.schema.items)  # the walks over the new VMAs
    for k, p in [(4, 1), (2, 4), (4, 3)]:  # K0 + 3, P0 + 3, both
        interp_replays(m, ev.schema, prover, prop, k, p)


def mutants(items: list) -> list[list]:  # type: ignore[type-arg]
    """The schemas one step away: each step or loop dropped, each loop's direction flipped, at
    any depth."""
    out = []
    for j, it in enumerate(items):
        head, tail = items[:j], items[j + 1:]
        out.append(head + tail)
        if isinstance(it, SLoop):
            out.append([*head, SLoop(it.var, it.dim, not it.down, it.body, it.shapes), *tail])
            out += [[*head, SLoop(it.var, it.dim, it.down, b, it.shapes), *tail] for b in mutants(it.body)]
    return out


@pytest.mark.parametrize("variant,knobs,prop", [pytest.param(*REAPER[0], marks=pytest.mark.heavy), REAPER[2]])
def test_reaper_schema_mutants_are_refused(variant: str, knobs: dict, prop: str) -> None:
    """Every schema one step or one loop direction away from the one found is refused by Z3."""
    cat = catalog_for("reaper")
    m = build_variant(resolve_variant(cat, variant), {"vmas": 2, "ptes": 1}, knobs, cat)
    prover = IndexedProver(m, 60)
    ev, why = every_size(prover, m.properties[prop], base_violation(m, prop), Limits())
    assert ev is not None, why
    sch, found = ev.schema, ev.schema.items
    for items in mutants(found):
        sch.items = items
        assert check_schema(prover.t, prover.enc, sch, prover.t.properties[prop], 30)[0] != "proved", \
            "\n" + sch.show()


# ---- a toy walker ------------------------------------------------------------------------------


@pytest.mark.parametrize("prop", ["all-clear", "never-done"])
def test_walker_violated_for_every_size(prop: str) -> None:
    m = walker(2, 2)
    prover = IndexedProver(m, 60)
    ev, why = every_size(prover, m.properties[prop], base_violation(m, prop), Limits())
    assert ev is not None, why
    assert ev.covers == "every vmas >= 1 and ptes >= 1"
    interp_replays(m, ev.schema, prover, prop, 5, 3)


def test_walker_deadlock_for_every_size() -> None:
    m = walker(2, 2, "stuck")
    prover = IndexedProver(m, 60)
    ev, why = every_size(prover, m.properties["no-deadlock"], base_violation(m, "no-deadlock"), Limits())
    assert ev is not None, why
    interp_replays(m, ev.schema, prover, "no-deadlock", 4, 3)


def test_violation_only_for_small_k_is_not_claimed_for_every_k() -> None:
    """long-walk is violated at every size of the grid (K <= 4) and holds from K = 5: no claim."""
    m = walker(2, 2)
    p = m.properties["long-walk"]
    small = smallest_violation(m, FAM, p, Limits())
    assert small is not None and small.verdict == "violated"
    prover = IndexedProver(m, 60)
    ev, why = every_size(prover, p, small, Limits())
    assert ev is None
    assert "does not violate long-walk" in why, why
    big = walker(5, 1)
    assert check_explicit(big, [big.properties["long-walk"]], Limits())[0].verdict == "holds"


def test_a_model_error_at_a_bigger_size_is_not_hidden() -> None:
    """never-done is violated for K <= 4; at K = 5 the walk's counter leaves its type (the explicit
    engine stops with a model error): no claim for every K."""
    m = walker(2, 2, "count")
    prover = IndexedProver(m, 60)
    ev, why = every_size(prover, m.properties["never-done"], base_violation(m, "never-done"), Limits())
    assert ev is None, ev.covers
    assert "type" in why or "model error" in why, why


def test_engines_say_every_size() -> None:
    m = walker(2, 2)
    props = m.select(["all-clear", "long-walk"])
    auto = {r.property: r for r in run(m, props, Options("auto", timeout=30))}
    assert auto["all-clear"].verdict == "violated"
    assert auto["all-clear"].strength["every"] == "every vmas >= 1 and ptes >= 1"
    assert auto["all-clear"].strength["every_by"] == "indexed"
    assert auto["long-walk"].verdict == "violated" and "every" not in auto["long-walk"].strength
    assert "not shown for every" in auto["long-walk"].reason
    ind = {r.property: r for r in check_indexed(m, props, timeout=30)}
    assert ind["all-clear"].verdict == "violated" and ind["all-clear"].engine == "indexed"
    assert ind["all-clear"].strength["covers"] == "every vmas >= 1 and ptes >= 1"
    assert ind["all-clear"].trace is not None
    assert ind["long-walk"].verdict == "unknown"


def test_every_size_refuses_liveness() -> None:
    m = walker(2, 2)
    prover = IndexedProver(m, 60)
    live = Property("live", "eventually", "", m.final)
    ev, why = every_size(prover, live, base_violation(m, "never-done"), Limits())
    assert ev is None and "invariants and deadlocks" in why


# ---- quantifier polarity: an element no anchored index names ------------------------------------


def sweeper(k: int, p: int, end: bool = True) -> Model:
    """Clears the VMAs in any order; `end` needs every VMA cleared (a forall in a guard). Without
    the end step, the sweep deadlocks once every VMA is cleared."""
    m = Model("sweeper", sizes={"vmas": k, "ptes": p})
    m.domain("vma", k)
    m.domain("pte_index", p)
    m.product("page", "vma", "pte_index")
    done = m.array("done", "vma", BOOL, init=0)
    pc = m.var("pc", Pc, init=Pc.ITER)
    m.action("clear", func="clear", file="sweep.c", actor="s", params={"v": "vma"},
             guard=lambda v: (pc == Pc.ITER) & ~done[v], updates=lambda v: {done[v]: 1})
    if end:
        m.action("end", func="end", file="sweep.c", actor="s",
                 guard=(pc == Pc.ITER) & forall("vma", lambda v: done[v] == 1), updates={pc: Pc.DONE})
    m.set_final(pc == Pc.DONE)
    m.invariant("never-done", pc != Pc.DONE, "the sweep never ends")
    m.no_deadlock("no-deadlock", "the sweep ends")
    m.indexed = FAM
    m.rebuild = lambda sizes: sweeper(sizes["vmas"], sizes["ptes"], end)
    return m


def _sweep(items: list) -> Schema:  # type: ignore[type-arg]
    """VMA 0 stays at the bottom; the new VMAs start uncleared."""
    return Schema(1, 1, 1, 1, {"pc": Const(0)}, {"done": ({0: Const(0)}, Const(0))}, items)


CLEAR0 = SStep("clear", (("v", Lin(d=0)),))
CLEAR_NEW = SLoop("i", "K", False, [SStep("clear", (("v", Lin(var="i")),))])


@pytest.mark.parametrize("end,prop", [(True, "never-done"), (False, "no-deadlock")])
def test_an_element_no_index_names_is_not_overlooked(end: bool, prop: str) -> None:
    """Without the loop over the new VMAs, `end`'s forall fails (and a clear stays enabled) only
    at elements that no anchored index names: the guard's forall and 'no step enabled' are
    exact (a Skolem constant, fresh parameters), not tried at the anchored indices only."""
    m = sweeper(2, 1, end)
    prover = IndexedProver(m, 60)
    t = prover.t
    tail = [SStep("end", ())] if end else []
    assert check_schema(t, prover.enc, _sweep([CLEAR0, *tail]), t.properties[prop], 30)[0] == "sat"
    assert check_schema(t, prover.enc, _sweep([CLEAR0, CLEAR_NEW, *tail]), t.properties[prop],
                        30)[0] == "proved"


def test_new_elements_must_meet_the_initial_constraints() -> None:
    """A schema's new VMAs start with one allowed value; an initial constraint over the VMAs
    (tests/variants/reaper_shared_from_4.py) that the fill breaks from K = 5 on: no claim."""
    from pathlib import Path
    cat = catalog_for("reaper")
    v = resolve_variant(cat, str(Path(__file__).parent / "variants" / "reaper_shared_from_4.py"))
    m = build_variant(v, {"vmas": 2, "ptes": 1}, {}, cat)
    p = m.properties["u-some-shared"]
    small = smallest_violation(m, m.indexed, p, Limits())
    assert small is not None and small.verdict == "violated"
    ev, why = every_size(IndexedProver(m, 60), p, small, Limits())
    assert ev is None and "initial constraint" in why, why
    big = build_variant(v, {"vmas": 5, "ptes": 1}, {}, cat, 8)
    assert check_explicit(big, [big.properties["u-some-shared"]], Limits())[0].verdict == "holds"
