"""Proofs for every number of VMAs and PTEs (checker/indexed/): agreement with the explicit engine
at small sizes, refusals where the argument does not apply, and no proof of a false property on
mutated models. The reaper's own proofs take minutes: they are in the heavy tier below."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oomcheck.catalog import build_variant, catalog_for, get_model, resolve_variant
from oomcheck.checker.engines import Options, run
from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.indexed.prove import check_indexed
from oomcheck.checker.indexed.template import IndexedFamily, NotIndexedError, read_template
from oomcheck.checker.language.lang import BOOL, Enum, IntType, Model, count, forall, implies, ite

FAM = IndexedFamily((("vmas", "vma"), ("ptes", "pte_index")), ("page", "vma", "pte_index"))
Pc = Enum("toy_pc", ["ITER", "LOCK", "ZAP", "CLEAR", "FLUSH", "DONE"])


def toy(k: int, p: int, mutation: str = "", at: int = 0) -> Model:
    """Two zappers walk K tables of P entries in opposite directions, each table under its lock;
    a zapper clears a present entry into its gather and frees the gather per table. Mutations
    are bugs the engine was not written for (`at` picks which zapper a mutation hits)."""
    m = Model("toy", sizes={"vmas": k, "ptes": p})
    m.domain("vma", k)
    m.domain("pte_index", p)
    m.product("page", "vma", "pte_index")
    pte = m.array("pte", "page", BOOL, init=1)
    frees = m.array("frees", "page", IntType(0, 2), init=0)
    lock = m.array("lock", "vma", IntType(0, 2), init=0)
    finals = []
    for who, fwd, owner in (("a", True, 1), ("b", False, 2)):
        hit = mutation if at == owner - 1 else ""
        pc = m.var(f"{who}_pc", Pc, init=Pc.ITER)
        cur = m.var(f"{who}_cur", IntType(-1, k), init=-1 if fwd else k)
        pi = m.var(f"{who}_pi", IntType(0, p - 1), init=0)
        got = m.var(f"{who}_got", BOOL, init=0)
        g = m.array(f"g_{who}", "page", BOOL, init=0)

        def page(v, q):
            return m.element("page", v, q)

        m.action(f"{who}_iter", func="iter", file="toy.c", actor=who, params={"v": "vma"},
                 guard=lambda v, pc=pc, cur=cur, fwd=fwd: (pc == Pc.ITER)
                 & (cur == (v - 1 if fwd else v + 1)),
                 updates=lambda v, pc=pc, cur=cur: {cur: v, pc: Pc.LOCK})
        end = (cur == k - 1) if fwd else (cur == 0)
        if hit == "skip_last":
            end = (cur == k - 2) if fwd else (cur == 1)
        m.action(f"{who}_end", func="end", file="toy.c", actor=who,
                 guard=(pc == Pc.ITER) & end, updates={pc: Pc.DONE})
        free_lock = (lock[0] == 0) if hit == "lock_zero" else None
        m.action(f"{who}_lock", func="lock", file="toy.c", actor=who, params={"v": "vma"},
                 guard=lambda v, pc=pc, cur=cur, fl=free_lock, hit=hit: (pc == Pc.LOCK) & (cur == v)
                 & ((lock[v] == 0) if fl is None else fl) if hit not in ("no_lock", "stale_read")
                 else (pc == Pc.LOCK) & (cur == v),
                 updates=lambda v, pc=pc, pi=pi, hit=hit, owner=owner: {
                     lock[v]: owner if hit not in ("no_lock", "stale_read") else lock[v], pc: Pc.ZAP, pi: 0})

        split = hit == "stale_read"  # read and clear in two steps, without the lock

        def zap(v, q, pc=pc, pi=pi, got=got, g=g, split=split):
            if split:
                return {got: pte[page(v, q)], pc: Pc.CLEAR}
            return clear(v, q, pc, pi, got, g, pte[page(v, q)])

        def clear(v, q, pc=pc, pi=pi, got=got, g=g, took=None, hit=hit):
            last = q == p - 1
            return {pte[page(v, q)]: 0, g[page(v, q)]: g[page(v, q)] | (got if took is None else took),
                    lock[v]: ite(last, 0, lock[v]) if hit != "keep_lock" else lock[v],
                    pc: ite(last, Pc.FLUSH, Pc.ZAP), pi: ite(last, 0, q + 1), got: 0}

        m.action(f"{who}_zap", func="zap", file="toy.c", actor=who, params={"v": "vma", "q": "pte_index"},
                 guard=lambda v, q, pc=pc, cur=cur, pi=pi: (pc == Pc.ZAP) & (cur == v) & (pi == q),
                 updates=zap)
        if split:
            m.action(f"{who}_clear", func="clear", file="toy.c", actor=who,
                     params={"v": "vma", "q": "pte_index"},
                     guard=lambda v, q, pc=pc, cur=cur, pi=pi: (pc == Pc.CLEAR) & (cur == v) & (pi == q),
                     updates=clear)
        def flush(pg, g=g, hit=hit):
            ups = {frees[pg]: ite(g[pg], ite(frees[pg] == 0, 1, 2), frees[pg])}
            if hit != "keep_gather":
                ups[g[pg]] = 0
            return ups
        m.action(f"{who}_flush", func="flush", file="toy.c", actor=who, guard=pc == Pc.FLUSH,
                 updates={pc: Pc.ITER}, each=("page", flush))
        finals.append(pc == Pc.DONE)
    final = finals[0] & finals[1]
    m.set_final(final)
    m.invariant("no-double-free", forall("page", lambda x: frees[x] <= 1), "no page freed twice")
    m.invariant("all-freed", implies(final, forall("page", lambda x: frees[x] == 1)), "all freed")
    m.indexed = FAM
    m.rebuild = lambda sizes: toy(sizes["vmas"], sizes["ptes"], mutation, at)
    return m


def explicit_at(m: Model, k: int, p: int, name: str) -> str:
    small = m.rebuild({"vmas": k, "ptes": p})  # type: ignore[misc]
    return check_explicit(small, [small.properties[name]], Limits())[0].verdict


SMALL = [(1, 1), (2, 1), (2, 2), (3, 2)]


def test_toy_proved_for_every_size_and_agrees_with_explicit() -> None:
    m = toy(2, 2)
    results = check_indexed(m, list(m.properties.values()), timeout=60)
    for r in results:
        assert r.verdict == "holds", (r.property, r.reason)
        assert r.strength["covers"] == "every vmas >= 1 and ptes >= 1"
        assert r.strength["method"] == "indexed"
        for k, p in SMALL:
            assert explicit_at(m, k, p, r.property) == "holds"


@pytest.mark.heavy
@pytest.mark.parametrize("mutation,at", [("stale_read", 1), ("keep_gather", 0), ("skip_last", 0),
                                         ("lock_zero", 1), ("no_lock", 1), ("keep_lock", 0)])
def test_toy_bugs_never_proved(mutation: str, at: int) -> None:
    """Hand-written bugs the engine was not designed around: whatever it answers, a 'holds' must
    be what the explicit engine finds at every small size (and a violation for every size what it
    finds beyond the grid)."""
    m = toy(2, 2, mutation, at)
    for r in check_indexed(m, list(m.properties.values()), timeout=60):
        _claims_hold(m, r, mutation)


def test_a_known_bug_is_not_proved() -> None:
    """Not proved; shown violated for every size instead (violate.py), which the explicit engine
    confirms at a few sizes."""
    m = toy(2, 2, "stale_read", 1)
    assert explicit_at(m, 1, 1, "no-double-free") == "violated"
    r = check_indexed(m, [m.properties["no-double-free"]], timeout=60)[0]
    assert r.verdict == "violated" and r.strength["covers"] == "every vmas >= 1 and ptes >= 1"
    for k, p in [(2, 1), (3, 2), (5, 3)]:
        assert explicit_at(m, k, p, "no-double-free") == "violated"


def _claims_hold(m: Model, r, mutation: str) -> None:  # type: ignore[no-untyped-def]
    """A 'holds' is what the explicit engine finds at small sizes; a violation for every size is
    found by it at sizes beyond the grid."""
    if r.verdict == "holds":
        for k, p in SMALL:
            assert explicit_at(m, k, p, r.property) == "holds", (mutation, r.property, k, p)
    if r.verdict == "violated":
        assert r.strength["covers"].startswith("every vmas >= ")
        for k, p in [(5, 1), (5, 3), (6, 2)]:
            assert explicit_at(m, k, p, r.property) == "violated", (mutation, r.property, k, p)


@pytest.mark.heavy
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutation=st.sampled_from(["", "stale_read", "keep_gather", "skip_last", "lock_zero", "no_lock",
                                 "keep_lock"]),
       at=st.integers(0, 1), k=st.integers(2, 3), p=st.integers(1, 2))
def test_random_mutations_never_get_a_false_proof(mutation: str, at: int, k: int, p: int) -> None:
    m = toy(k, p, mutation, at)
    for r in check_indexed(m, list(m.properties.values()), timeout=60):
        _claims_hold(m, r, mutation)


# ---- refusals: where the argument does not apply, unknown with the reason ---------------------


def _refused(m: Model, words: str) -> None:
    for r in check_indexed(m, list(m.properties.values()), timeout=30):
        assert r.verdict == "unknown"
        assert words in r.reason, r.reason


def test_a_broadcast_over_a_fixed_domain_may_write_a_scalar() -> None:
    """An `each` over a domain of one element whose body (reading the action's parameter)
    writes a scalar: the encoder took every broadcast target for an array element and
    crashed (AttributeError); now it is the one assignment it is, proved for every size."""
    def build(k: int, p: int) -> Model:
        m = Model("each-scalar", sizes={"vmas": k, "ptes": p})
        m.domain("vma", k)
        m.domain("pte_index", p)
        m.product("page", "vma", "pte_index")
        m.domain("one", 1)
        mark = m.array("mark", "vma", BOOL, init=0)
        seen = m.var("seen", BOOL, init=0)
        m.action("visit", func="visit", file="t.c", actor="z", params={"v": "vma"},
                 guard=lambda v: ~mark[v], updates=lambda v: {mark[v]: 1},
                 each=("one", lambda o, v: {seen: ~mark[v]}))
        m.invariant("seen", implies(~seen, forall("vma", lambda u: ~mark[u])), "a visit is seen")
        m.invariant("unseen", ~seen, "false after the first visit")
        m.indexed = FAM
        m.rebuild = lambda sizes: build(sizes["vmas"], sizes["ptes"])
        return m
    m = build(2, 2)
    results = {r.property: r for r in check_indexed(m, list(m.properties.values()), timeout=30)}
    assert results["seen"].verdict == "holds", results["seen"].reason
    assert results["unseen"].verdict == "violated", results["unseen"].reason
    for r in results.values():
        assert r.strength["covers"] == "every vmas >= 1 and ptes >= 1"
        for k, p in SMALL:
            assert explicit_at(m, k, p, r.property) == r.verdict


def test_refuses_a_model_whose_code_depends_on_the_size() -> None:
    def build(k: int, p: int) -> Model:
        m = toy(k, p)
        if k == 5:  # Python code that treats one size differently: not one template
            m.remove_action("a_end")
        m.rebuild = lambda sizes: build(sizes["vmas"], sizes["ptes"])
        return m
    _refused(build(2, 2), "in Python code")


def test_refuses_an_index_a_step_could_take_out_of_range() -> None:
    def build(k: int, p: int) -> Model:
        m = toy(k, p)
        cur, pc = m.ref("a_cur"), m.ref("a_pc")
        lock = m.ref("lock")
        m.action("a_peek", func="peek", file="toy.c", actor="a", guard=(pc == Pc.LOCK) & (lock[cur] == 0),
                 updates={})
        m.rebuild = lambda sizes: build(sizes["vmas"], sizes["ptes"])
        return m
    _refused(build(2, 2), "out of range")


def test_refuses_a_count_over_the_vmas() -> None:
    def build(k: int, p: int) -> Model:
        m = toy(k, p)
        lock = m.ref("lock")
        m.invariant("one-lock", count("vma", lambda v: lock[v] != 0) <= 2, "at most two locks held")
        m.rebuild = lambda sizes: build(sizes["vmas"], sizes["ptes"])
        return m
    m = build(2, 2)
    r = check_indexed(m, [m.properties["one-lock"]], timeout=30)[0]
    assert r.verdict == "unknown" and "count" in r.reason, r.reason


def test_reaper_is_one_definition_for_every_variant() -> None:
    """Every catalog variant, built with K and P as symbols, reads as a template and equals its
    ordinary builds where they are compared (the mas_prev walk with a VMA at ULONG_MAX too)."""
    cat = catalog_for("reaper")
    fam = get_model("reaper").indexed
    for name in cat.variants:
        for knobs in ({}, {"top_vma": "yes"}) if name == "reverse-mas-prev" else ({},):
            v = resolve_variant(cat, name)
            t = read_template(fam, lambda sizes, v=v, kn=knobs: build_variant(v, sizes, kn, cat, 8))
            assert t.lo == {"vmas": 1, "ptes": 1}, name
            assert t.checked == list(fam.checks), name


def test_template_refusal_is_an_error_not_a_guess() -> None:
    with pytest.raises(NotIndexedError, match="in Python code"):
        read_template(FAM, lambda sizes: toy(sizes["vmas"], sizes["ptes"],
                                             "skip_last" if sizes["vmas"] == 4 else ""))


# ---- the reaper (minutes: heavy) ---------------------------------------------------------------

FOUR = ["reaper-coverage", "no-double-free", "no-use-after-free", "all-freed"]


@pytest.mark.heavy
@pytest.mark.parametrize("variant", ["reverse", "forward"])
def test_reaper_walks_proved_for_every_k_and_p(variant: str) -> None:
    cat = catalog_for("reaper")
    m = build_variant(resolve_variant(cat, variant), {"vmas": 2, "ptes": 1}, {}, cat)
    results = run(m, m.select(FOUR), Options("auto", timeout=300))
    for r in results:
        assert r.verdict == "holds" and r.engine == "indexed", (r.property, r.reason)
        assert r.strength["covers"] == "every vmas >= 1 and ptes >= 1"
        for k, p in [(1, 1), (2, 2), (3, 1), (3, 2)]:
            small = build_variant(resolve_variant(cat, variant), {"vmas": k, "ptes": p}, {}, cat)
            assert check_explicit(small, [small.properties[r.property]], Limits())[0].verdict == "holds"


@pytest.mark.heavy
@pytest.mark.parametrize("variant,knobs", [
    ("zap-without-ptl", {}),
    ("reverse-mas-prev", {"top_vma": "yes"}),
    ("skip-test-before-lock-no-empty-tree", {}),
    ("skip-set-after-unlock-no-empty-tree", {}),
    ("exit-mmap-5.17", {"oom_victim": "no", "mrelease": "yes"}),
])
def test_reaper_bug_variants_never_proved(variant: str, knobs: dict) -> None:
    cat = catalog_for("reaper")
    m = build_variant(resolve_variant(cat, variant), {"vmas": 2, "ptes": 1}, knobs, cat)
    for r in check_indexed(m, m.select(FOUR), timeout=300):
        if r.verdict == "holds":
            for k, p in [(1, 1), (2, 1), (2, 2), (3, 1)]:
                small = build_variant(resolve_variant(cat, variant), {"vmas": k, "ptes": p}, knobs, cat)
                got = check_explicit(small, [small.properties[r.property]], Limits())[0].verdict
                assert got == "holds", (variant, r.property, k, p)


def test_a_users_variant_file_is_read_and_one_that_branches_on_the_size_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A variant file is built with the sizes as symbols like the catalog's own: one that only
    uses the language is the same template; one that looks at the size in Python is refused."""
    cat = catalog_for("reaper")
    fam = get_model("reaper").indexed
    plain = tmp_path / "mine.py"
    plain.write_text('MODEL = "reaper"\nBASE = "reverse"\n\ndef derive(m):\n    return m\n')
    t = read_template(fam, lambda sizes: build_variant(resolve_variant(cat, str(plain)), sizes, {}, cat, 8))
    assert t.lo == {"vmas": 1, "ptes": 1}
    branches = tmp_path / "branches.py"
    branches.write_text('MODEL = "reaper"\nBASE = "reverse"\n\ndef derive(m):\n'
                        '    if m.sizes["vmas"] > 6:\n        m.remove_action("reaper_iter_end")\n'
                        '    return m\n')
    m = build_variant(resolve_variant(cat, str(branches)), {"vmas": 2, "ptes": 1}, {}, cat)
    rs = check_indexed(m, m.select(["no-double-free"]), timeout=30)
    assert [r.verdict for r in rs] == ["unknown"]
    assert "in Python code" in (rs[0].reason or ""), rs[0].reason


@pytest.mark.parametrize(("test", "words"), [
    ('m.sizes["vmas"] in {4, 5}', "hashed"),
    ('{1: 0, 2: 0, 3: 0}.get(m.sizes["vmas"], 1)', "hashed"),
    ('isinstance(m.sizes["ptes"], int) and m.sizes["ptes"] >= 3', "isinstance"),
    ('f"{m.sizes[\'vmas\']}" == "4"', "text"),
    # past the compared sizes (K <= 4), and seen by no symbol: the file itself is refused
    ('type(m.sizes["vmas"]) is int and m.sizes["vmas"] >= 9', "`is` comparison"),
    ('not hasattr(m.sizes["vmas"], "name") and m.sizes["vmas"] >= 9', "uses hasattr"),
    ('"Size" not in f"{m.sizes}" and m.sizes["vmas"] >= 9', "text"),
])
def test_a_variant_that_looks_a_size_up_without_comparing_it_is_refused(tmp_path, test, words) -> None:  # type: ignore[no-untyped-def]
    """A set or dict look-up, isinstance() and an f-string tell a number from a symbol without a
    comparison: each is a Python-level use, and at K = 4 (or P = 3) the model differs."""
    cat = catalog_for("reaper")
    fam = get_model("reaper").indexed
    f = tmp_path / "lookup.py"
    f.write_text(f'MODEL = "reaper"\nBASE = "reverse"\n\ndef derive(m):\n    if {test}:\n'
                 '        m.remove_action("reaper_iter_end")\n    return m\n')
    with pytest.raises(NotIndexedError, match="in Python code") as e:
        read_template(fam, lambda sizes: build_variant(resolve_variant(cat, str(f)), sizes, {}, cat, 8))
    assert words in str(e.value), e.value


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_sampled_columns_are_the_decoded_states(data: st.DataObject) -> None:
    """The sampler reads every state's slots at once (packed words, shifts, masks) and keeps
    each distinct view: the same values Layout.decode gives one state at a time, the same rows
    np.unique gives. States wider than one 64-bit word included."""
    import numpy as np

    from oomcheck.checker.indexed.views import _columns, _distinct_rows
    from oomcheck.checker.language.compile import compile_model

    cat = catalog_for("reaper")
    k, p = data.draw(st.sampled_from([(1, 1), (2, 2), (3, 3), (4, 3)]))
    comp = compile_model(build_variant(resolve_variant(cat, "reverse"), {"vmas": k, "ptes": p}, {}, cat))
    lay = comp.layout
    states = data.draw(st.lists(st.integers(0, (1 << lay.bits) - 1), min_size=1, max_size=40))
    cols = _columns(lay, states)
    for j, s in enumerate(states):
        want = lay.decode(s)
        assert [int(cols[(name, i)][j]) for name, i, _ in lay.slots] == want
    rows = np.array(data.draw(st.lists(st.lists(st.integers(-300, 300), min_size=3, max_size=3),
                                       min_size=1, max_size=60)), dtype=np.int64)
    assert sorted(map(tuple, _distinct_rows(rows).tolist())) == \
        sorted(map(tuple, np.unique(rows, axis=0).tolist()))
