"""The freezer / OOM-thaw model: each variant's verdicts and what its counterexample shows."""

from __future__ import annotations

import pytest

from oomcheck.catalog import build_variant, catalog_for, resolve_variant
from oomcheck.checker.explicit.search import check_explicit
from oomcheck.checker.language.lang import Model, ModelError
from oomcheck.checker.trace import Result


def _model(variant: str, threads: int, **knobs: str) -> Model:
    cat = catalog_for("freezer")
    return build_variant(resolve_variant(cat, variant), {"threads": threads}, knobs, cat)


def _check(variant: str, threads: int, *props: str, **knobs: str) -> dict[str, Result]:
    m = _model(variant, threads, **knobs)
    return {r.property: r for r in check_explicit(m, [m.properties[p] for p in props])}


@pytest.mark.parametrize("threads", [2, 3, 4])
def test_pre_victim_stays_frozen_with_the_refrigerator(threads: int) -> None:
    r = _check("pre", threads, "victim-exits")["victim-exits"]
    assert r.verdict == "violated"
    # the lasso ends with a sibling asleep in the refrigerator, and the trace names it
    assert r.trace.stutter
    assert r.trace.never and all("REFRIG_SLEEP" in n and "frozen" in n for n in r.trace.never)
    assert all(not n.startswith("thread 0 ") for n in r.trace.never)
    stuck = [n.split(" (")[0] for n in r.trace.never]
    for who in stuck:
        i = who.split()[-1]
        assert r.trace.final[f"pc[{i}]"] == "REFRIG_SLEEP" and r.trace.final[f"frozen[{i}]"] == "1"


def test_pre_lets_the_victim_exit_with_the_cgroup2_freezer() -> None:
    rs = _check("pre", 3, "victim-exits", "no-deadlock", freezer="cgroup2")
    assert rs["victim-exits"].verdict == "holds"
    assert rs["no-deadlock"].verdict == "holds"


@pytest.mark.parametrize("threads", [2, 3])
def test_v8_exits_but_underflows_oom_victims(threads: int) -> None:
    rs = _check("v8", threads, "victim-exits", "oom-victims-balance", "memdie-single-thread")
    assert rs["victim-exits"].verdict == "holds"
    bal = rs["oom-victims-balance"]
    assert bal.verdict == "violated"
    assert int(bal.trace.final["oom_victims"]) < 0
    # a sibling, marked by thaw_oom_process but not covered by task_lock(victim), decrements
    # before (or beyond) the single atomic_inc
    decrements = [s for s in bal.trace.steps if s.func == "exit_oom_victim"]
    assert any(s.actor != "thread 0" for s in decrements)
    assert rs["memdie-single-thread"].verdict == "violated"


def test_thaw_all_keep_memdie_refreezes_siblings() -> None:
    r = _check("thaw-all-keep-memdie", 3, "victim-exits")["victim-exits"]
    assert r.verdict == "violated"
    # the OOM killer did thaw every thread, yet one went back to sleep
    thawed = {s.action for s in r.trace.steps if s.func == "__thaw_task"}
    assert thawed == {"__thaw_task(t=0)", "__thaw_task(t=1)", "__thaw_task(t=2)"}
    assert any("REFRIG_SLEEP" in n for n in r.trace.never)


@pytest.mark.parametrize("threads", [2, 3, 4])
def test_v10_satisfies_everything(threads: int) -> None:
    m = _model("v10", threads)
    rs = check_explicit(m, list(m.properties.values()))
    assert {r.property: r.verdict for r in rs} == {p: "holds" for p in m.properties}
    assert all(r.strength["complete"] for r in rs)


def test_v10_late_mark_loses_a_thaw() -> None:
    r = _check("v10-late-mark", 2, "no-lost-thaw")["no-lost-thaw"]
    assert r.verdict == "violated"
    steps = r.trace.steps
    publish = next(i for i, s in enumerate(steps) if "oom_mm" in s.changes)
    # some thread goes to sleep in the refrigerator after the thaw loop passed it and before
    # oom_mm is published: nothing will thaw it again
    def slept(i: int, t: str) -> bool:
        return steps[i].changes.get(f"pc[{t}]", ("", ""))[1] == "REFRIG_SLEEP"

    assert any(
        slept(i, t) and steps[j].action == f"__thaw_task(t={t})"
        for j in range(publish) for i in range(j + 1, publish) for t in ("0", "1")
    )


def test_shortest_counterexample_for_pre_frozen_sibling() -> None:
    # BFS: no shorter path reaches "mark_oom_victim returned while a sibling sleeps frozen"
    r = _check("pre", 2, "no-frozen-after-thaw")["no-frozen-after-thaw"]
    assert r.verdict == "violated"
    assert len(r.trace.steps) == 4  # kill, mark, thaw(t=0), atomic_inc, sibling frozen from start


def test_derived_variant_replaces_functions_not_knobs() -> None:
    pre, v8 = _model("pre", 3), _model("v8", 3)
    assert pre.knobs == v8.knobs
    a_pre = pre.actions[pre.find_action("thaw")]
    a_v8 = v8.actions[v8.find_action("thaw")]
    assert (a_pre.func, a_v8.func) == ("__thaw_task", "thaw_oom_process")
    late = _model("v10-late-mark", 3)
    assert "publish_oom_mm" in [a.name for a in late.actions]


def test_every_step_names_its_kernel_file_and_function() -> None:
    for v in ("pre", "v8", "thaw-all-keep-memdie", "v10", "v10-late-mark"):
        for a in _model(v, 2).actions:
            assert a.func and a.file.endswith((".c", ".h")) and a.step


def test_replacing_a_missing_action_is_a_model_error() -> None:
    m = _model("pre", 2)
    with pytest.raises(ModelError, match="no action"):
        m.replace_action("no_such_action", func="f", file="x.c", actor="oom")
