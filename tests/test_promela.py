"""The Promela export: SPIN, run on it, must give the catalog's verdicts, and our semantics
(simultaneous updates, ranges, fairness per action instance, deadlock outside `final`).

The SPIN cases are skipped when spin or gcc is missing (apt-get install spin gcc).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from oomcheck.catalog import build_variant, catalog_for, resolve_variant
from oomcheck.checker.engines import Options, run
from oomcheck.checker.language.lang import BOOL, IntType, Model, ModelError, implies
from oomcheck.cli import EXIT_OK, EXIT_USAGE, main
from oomcheck.export.promela import SpinSession, spin_available, to_promela

needs_spin = pytest.mark.skipif(spin_available() is not None,
                                reason=f"{spin_available()} not installed")


def spin_verdicts(model: Model, props: list[str], workdir: Path,
                  layout: str = "auto") -> dict[str, str]:
    """SPIN's verdict on each property (one export, pan compiled at most twice)."""
    sel = model.select(props)
    s = SpinSession(to_promela(model, sel, layout), workdir, opt="-O0", safety=False, timeout=60)
    return {p.name: s.check(p.name, max_depth=200_000, hash_bits=18).verdict for p in sel}


def our_verdicts(model: Model, props: list[str]) -> dict[str, str]:
    return {r.property: r.verdict for r in run(model, model.select(props), Options("explicit"))}


# ---- the catalog ----------------------------------------------------------------------------


def catalog_cases(model: str, sizes_wanted: dict[str, set[int]]) -> list[tuple]:
    cat = catalog_for(model)
    out = []
    for ex in cat.expect:
        for pt in ex.size_points():
            if all(pt[k] in v for k, v in sizes_wanted.items()):
                knobs = ",".join(f"{k}={v}" for k, v in ex.knobs.items())
                sz = ",".join(f"{k}={v}" for k, v in pt.items())
                out.append(pytest.param(ex, pt, id=f"{ex.variant}-{knobs}-{sz}"))
    return out


# every freezer row at threads=2 (each compiles a pan: about a second); threads=3 in -m heavy
FREEZER = catalog_cases("freezer", {"threads": {2}})
FREEZER_LARGER = catalog_cases("freezer", {"threads": {3}})
# one row that holds throughout, and one with each kind of failure
REAPER_ROWS = {("forward", ()), ("reverse-mas-prev", (("top_vma", "yes"),)),
               ("zap-without-ptl", ()), ("reaper-blocking-lock", (("mmap_writer", "yes"),)),
               ("exit-mmap-5.17", (("mrelease", "yes"), ("oom_victim", "no")))}
REAPER = [c for c in catalog_cases("reaper", {"vmas": {2}, "ptes": {1}})
          if (c.values[0].variant, tuple(sorted(c.values[0].knobs.items()))) in REAPER_ROWS]


@needs_spin
@pytest.mark.parametrize(("ex", "sizes"), FREEZER + REAPER)
def test_spin_gives_the_catalog_verdicts(ex: object, sizes: dict[str, int],
                                         tmp_path: Path) -> None:
    spin_gives_the_catalog_verdicts(ex, sizes, tmp_path)


@pytest.mark.heavy
@needs_spin
@pytest.mark.parametrize(("ex", "sizes"), FREEZER_LARGER)
def test_heavy_spin_gives_the_catalog_verdicts(ex: object, sizes: dict[str, int],
                                               tmp_path: Path) -> None:
    spin_gives_the_catalog_verdicts(ex, sizes, tmp_path)


def spin_gives_the_catalog_verdicts(ex: object, sizes: dict[str, int], tmp_path: Path) -> None:
    model_name = "freezer" if "threads" in sizes else "reaper"
    cat = catalog_for(model_name)
    model = build_variant(resolve_variant(cat, ex.variant), sizes, ex.knobs, cat)  # type: ignore[attr-defined]
    assert spin_verdicts(model, list(ex.verdicts), tmp_path) == ex.verdicts  # type: ignore[attr-defined]


@needs_spin
@pytest.mark.parametrize(("ex", "sizes"), FREEZER + REAPER)
def test_spin_gives_the_catalog_liveness_verdicts_with_a_process_per_actor(
        ex: object, sizes: dict[str, int], tmp_path: Path) -> None:
    """The actor layout (the bench's SPIN-native model) carries SPIN's fairness per process,
    which is not ours in general (see the next tests), but gives the catalog's verdicts here."""
    cat = catalog_for("freezer" if "threads" in sizes else "reaper")
    model = build_variant(resolve_variant(cat, ex.variant), sizes, ex.knobs, cat)  # type: ignore[attr-defined]
    live = [p.name for p in model.select(list(ex.verdicts)) if p.is_liveness]  # type: ignore[attr-defined]
    if not live:
        pytest.skip("no liveness property in this row")
    want = {p: ex.verdicts[p] for p in live}  # type: ignore[attr-defined]
    assert spin_verdicts(model, live, tmp_path, "actor") == want


def test_reaper_sample_covers_violations_of_every_kind() -> None:
    """The reaper cases above are worth running only if they include each kind of failure."""
    kinds = set()
    for case in REAPER:
        ex = case.values[0]
        m = catalog_for("reaper")
        model = build_variant(resolve_variant(m, ex.variant), case.values[1], ex.knobs, m)
        kinds |= {model.properties[p].kind for p, v in ex.verdicts.items() if v == "violated"}
    assert len(REAPER) == len(REAPER_ROWS)
    assert kinds == {"invariant", "deadlock", "eventually"}


# ---- semantics on small models -----------------------------------------------------------------


def swap_model() -> Model:
    m = Model("swap")
    x = m.var("x", IntType(0, 1), init=0)
    y = m.var("y", IntType(0, 1), init=1)
    m.action("swap", func="swap", file="t.c", actor="a", updates={x: y, y: x})
    m.invariant("different", x != y, "a swap keeps them different")
    return m


def index_model() -> Model:
    """a[i] = 1 and i = 1 - i in one step: the index is the old i (a sequential translation
    that moved i first would set a[1] first and break the invariant)."""
    m = Model("index")
    m.domain("d", 2)
    i = m.var("i", IntType(0, 1), init=0)
    a = m.array("a", "d", BOOL, init=0)
    m.action("set", func="set", file="t.c", actor="a", guard=a[i] == 0,
             updates={i: 1 - i, a[i]: 1})
    m.invariant("in-order", implies(a[1] == 1, a[0] == 1), "a[0] is set first")
    return m


def counter_model(hi: int, limit: int) -> Model:
    m = Model("counter")
    c = m.var("c", IntType(0, hi), init=0)
    m.action("inc", func="inc", file="t.c", actor="a", guard=c < limit, updates={c: c + 1})
    m.set_final(c == hi)
    m.no_deadlock("no-deadlock", "stops only at hi")
    m.invariant("small", c <= hi, "in range")
    return m


def fairness_model(go_fair: bool) -> Model:
    """`go` ends the run; `spin` loops forever unless go is fair."""
    m = Model("fair")
    done = m.var("done", BOOL, init=0)
    t = m.var("t", BOOL, init=0)
    m.action("go", func="go", file="t.c", actor="a", guard=~done, updates={done: 1}, fair=go_fair)
    m.action("tick", func="tick", file="t.c", actor="b", guard=~done, updates={t: ~t})
    m.set_final(done)
    m.eventually("done", done, "go happens")
    return m


def lonely_unfair_model() -> Model:
    """Only an unfair step is ever enabled: our liveness check may stay put forever."""
    m = Model("lonely")
    done = m.var("done", BOOL, init=0)
    m.action("go", func="go", file="t.c", actor="a", guard=~done, updates={done: 1}, fair=False)
    m.eventually("done", done, "go happens")
    return m


def test_simultaneous_update_uses_a_temporary() -> None:
    text = to_promela(swap_model(), swap_model().select([])).text
    assert "nv__x = y" in text or "nv__y = x" in text


def test_computed_index_is_read_before_the_step() -> None:
    text = to_promela(index_model(), []).text
    assert "ix__a = i" in text and "a[ix__a] = 1" in text


def test_range_assert_only_where_a_value_can_leave_the_type() -> None:
    assert "assert" not in to_promela(swap_model(), []).text  # y and x are 0..1 already
    text = to_promela(counter_model(3, 9), []).text
    assert "assert((nv__c >= 0) && (nv__c <= 3))" in text


def test_unfair_steps_share_a_process_with_a_no_op() -> None:
    m = fairness_model(go_fair=False)
    pml = to_promela(m, m.select([]))
    assert "proctype unfair_steps()" in pml.text and "-> skip" in pml.text
    assert pml.layout == "instance"
    m = fairness_model(go_fair=True)
    assert "unfair_steps" not in to_promela(m, m.select([])).text


def two_step_actor_model() -> Model:
    """Actor a may tick forever or go (which ends the run); both steps are always enabled."""
    m = Model("two-steps")
    done = m.var("done", BOOL, init=0)
    t = m.var("t", BOOL, init=0)
    m.action("go", func="go", file="t.c", actor="a", guard=~done, updates={done: 1})
    m.action("tick", func="tick", file="t.c", actor="a", guard=~done, updates={t: ~t})
    m.set_final(done)
    m.eventually("done", done, "go happens")
    return m


def test_actor_layout_is_one_process_per_actor() -> None:
    m = build_variant(resolve_variant(catalog_for("freezer"), "v10"), {"threads": 3}, {})
    pml = to_promela(m, m.select(["victim-exits"]), "actor")
    procs = [ln.split("proctype ")[1].split("(")[0] for ln in pml.text.splitlines()
             if "proctype " in ln]
    assert pml.layout == "actor" and pml.processes == 4
    assert procs == ["OOM_killer", "thread_0", "thread_1", "thread_2"]
    assert "fairness per actor" in pml.text


@needs_spin
def test_actor_layout_is_weak_fairness_per_actor_not_per_step(tmp_path: Path) -> None:
    """Where an actor has two steps enabled at once, SPIN's fairness per process lets it take
    one of them forever: the actor layout finds a violation our fairness (and the exact
    instance layout) rules out. This is why the bench compares the actor layout's verdicts."""
    m = two_step_actor_model()
    assert our_verdicts(m, ["done"]) == {"done": "holds"}
    (tmp_path / "i").mkdir()
    (tmp_path / "a").mkdir()
    assert spin_verdicts(m, ["done"], tmp_path / "i", "instance") == {"done": "holds"}
    assert spin_verdicts(m, ["done"], tmp_path / "a", "actor") == {"done": "violated"}


def test_single_layout_refuses_liveness() -> None:
    m = fairness_model(go_fair=True)
    with pytest.raises(ModelError, match="weak fairness"):
        to_promela(m, m.select([]), "single")


@needs_spin
@pytest.mark.parametrize("make", [
    swap_model,
    index_model,
    lambda: counter_model(3, 3),
    lambda: counter_model(3, 2),  # stops at 2, not final: deadlock
    lambda: fairness_model(True),
    lambda: fairness_model(False),  # tick forever, go never taken: violated
    lonely_unfair_model,  # nothing fair enabled: may stay forever: violated
], ids=["swap", "index", "final", "deadlock", "fair-go", "unfair-go", "lonely-unfair"])
def test_spin_agrees_with_our_engine_on_small_models(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    m = make()
    props = list(m.properties)
    assert spin_verdicts(m, props, tmp_path) == our_verdicts(m, props)


@needs_spin
def test_out_of_range_is_a_model_error_in_spin_too(tmp_path: Path) -> None:
    m = counter_model(3, 9)
    with pytest.raises(ModelError, match="outside its type"):
        our_verdicts(m, ["small"])
    assert spin_verdicts(m, ["small"], tmp_path) == {"small": "error"}


# ---- the command ---------------------------------------------------------------------------


def test_export_command_writes_promela(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "f.pml"
    code = main(["export", "promela", "freezer", "--variant", "v10", "--threads", "2",
                 "--property", "victim-exits", "-o", str(out)])
    assert code == EXIT_OK
    text = out.read_text()
    assert "variant v10; sizes threads=2" in text and "ltl victim_exits" in text
    assert "__thaw_task (kernel/freezer.c)" in text and "proctype thaw_1()" in text


def test_export_command_bad_input_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["export", "promela", "freezer", "--variant", "nope"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and len(err.strip().splitlines()) == 1 and "nope" in err
    code = main(["export", "promela", "freezer", "--variant", "v10", "--processes", "single",
                 "--property", "victim-exits"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "weak fairness" in err
