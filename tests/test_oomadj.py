"""The oom_score_adj sharing model: each variant's verdicts, its shortest counterexamples, and
traces replayed on the reference interpreter."""

from __future__ import annotations

import pytest

from oomcheck.catalog import build_variant, catalog_for, resolve_variant
from oomcheck.checker.explicit.search import check_explicit
from oomcheck.checker.language.interp import evaluate, step
from oomcheck.checker.language.lang import Model, ModelError
from oomcheck.checker.trace import Result

from .test_engine_vs_reference import _replay

H = "holds"


def _model(variant: str, threads: int, **knobs: str) -> Model:
    cat = catalog_for("oomadj")
    return build_variant(resolve_variant(cat, variant), {"tasks": threads}, knobs, cat)


def _check(m: Model) -> dict[str, Result]:
    return {r.property: r for r in check_explicit(m, list(m.properties.values()))}


# variant, threads, knobs -> property: "holds" or the length of the shortest counterexample
EXPECTED: list[tuple[str, int, dict[str, str], dict[str, str | int]]] = [
    ("5.10+", 2, {}, {"sharers-agree": H, "last-write-wins": 9, "vfork-keeps-own": H,
                      "no-deadlock": H}),
    ("5.10+", 3, {}, {"sharers-agree": H, "last-write-wins": 9, "vfork-keeps-own": 12,
                      "no-deadlock": H}),
    ("5.10+", 3, {"writers": "2"}, {"sharers-agree": H, "last-write-wins": 9,
                                    "vfork-keeps-own": 12, "no-deadlock": H}),
    ("pre-5.10", 2, {}, {"sharers-agree": 9, "last-write-wins": 9, "vfork-keeps-own": 7,
                         "no-deadlock": H}),
    ("pre-5.10", 3, {}, {"sharers-agree": 9, "last-write-wins": 9, "vfork-keeps-own": 7,
                         "no-deadlock": H}),
    ("v1", 2, {}, {"sharers-agree": 11, "last-write-wins": 11, "vfork-keeps-own": 7,
                   "no-deadlock": H}),
    ("v1", 3, {}, {"sharers-agree": 12, "last-write-wins": 12, "vfork-keeps-own": 7,
                   "no-deadlock": H}),
    ("no-recopy", 2, {}, {"sharers-agree": 9, "last-write-wins": 9, "vfork-keeps-own": H}),
    ("no-recopy", 3, {}, {"sharers-agree": 9, "vfork-keeps-own": 12}),
    ("flag-no-mutex", 2, {}, {"sharers-agree": 9, "last-write-wins": 9, "vfork-keeps-own": H}),
    ("flag-no-mutex", 3, {}, {"sharers-agree": 9, "vfork-keeps-own": 12}),
    ("early-flag", 2, {}, {"sharers-agree": 9, "last-write-wins": 9, "vfork-keeps-own": H}),
    ("early-flag", 3, {}, {"sharers-agree": 9, "vfork-keeps-own": 12}),
    ("5.10+", 2, {"oom_kill": "loop"}, {"sharers-killed": H, "sharers-agree": H, "no-deadlock": H}),
    ("5.10+", 3, {"oom_kill": "loop"}, {"sharers-killed": H, "sharers-agree": H, "no-deadlock": H}),
    ("oom-sketch", 2, {}, {"sharers-killed": 6, "sharers-agree": H, "no-deadlock": H}),
    ("oom-sketch", 3, {}, {"sharers-killed": 6, "sharers-agree": H, "no-deadlock": H}),
    ("5.10+", 2, {"exit": "may_exit"}, {"no-mm-use-after-free": H, "no-deadlock": H}),
    ("5.10+", 3, {"exit": "may_exit"}, {"no-mm-use-after-free": H, "no-deadlock": H}),
    ("pre-5.10", 2, {"exit": "may_exit"}, {"no-mm-use-after-free": H}),
    ("no-mmgrab", 2, {}, {"no-mm-use-after-free": 11, "no-deadlock": H}),
    ("no-mmgrab", 3, {}, {"no-mm-use-after-free": 11, "no-deadlock": H}),
]


@pytest.mark.parametrize(("variant", "threads", "knobs", "want"), EXPECTED,
                         ids=[f"{v}-{n}-{'-'.join(k.values()) or 'default'}"
                              for v, n, k, _ in EXPECTED])
def test_verdicts_and_shortest_counterexamples(variant: str, threads: int, knobs: dict[str, str],
                                               want: dict[str, str | int]) -> None:
    m = _model(variant, threads, **knobs)
    rs = _check(m)
    got: dict[str, str | int] = {}
    for p in want:
        r = rs[p]
        assert r.strength["complete"] or r.verdict == "violated"
        got[p] = len(r.trace.steps) if r.verdict == "violated" else r.verdict
    assert got == want


def test_lost_write_to_a_child_before_copy_oom_score_adj_replays() -> None:
    # 5.10+: the write to the just-linked child is overwritten by copy_oom_score_adj's re-copy
    m = _model("5.10+", 2)
    r = _check(m)["last-write-wins"]
    states = _replay(m, r.trace)
    assert not evaluate(m, m.properties["last-write-wins"].expr, states[-1])
    funcs = [s.func for s in r.trace.steps]
    assert funcs.index("copy_oom_score_adj") > max(i for i, f in enumerate(funcs)
                                                  if f == "__set_oom_adj")
    final = r.trace.final
    assert final["target[0]"] == "1" and final["last"] == "1"
    assert final["adj[0]"] == final["adj[1]"] == "0"


def _follow(m: Model, steps: list[str]) -> dict:
    """Run the named action instances ("action(param=value, ...)") in order on the reference
    interpreter; each must be enabled."""
    insts = {}
    for i in m.instances():
        args = ", ".join(f"{k}={v}" for k, v in i.binding)
        insts[f"{i.action.name}({args})"] = i
    state = {(n, i): v[0] for (n, i, _), v in zip(m.slots(), m.init_choices(), strict=True)}
    for name in steps:
        nxt = step(m, insts[name], state)
        assert nxt is not None, f"{name} is not enabled"
        state = nxt
    return state


# Oleg Nesterov on v1: the writer runs after copy_mm set the flag, walks, and finds no child
CLONE = ["copy_signal_clone(c=1)", "copy_mm(c=1)"]
WRITE_PARENT = ["set_oom_adj_lock(w=0, t=0)", "set_oom_adj_decide(w=0)", "set_oom_adj_write(w=0)"]
WALK = ["set_oom_adj_walk(w=0, p=0)", "set_oom_adj_walk(w=0, p=1)"]
UNLOCK = ["set_oom_adj_unlock(w=0)"]


def test_olegs_race_written_by_hand() -> None:
    m = _model("v1", 2)
    state = _follow(m, [*CLONE, *WRITE_PARENT, *WALK, *UNLOCK, "link(c=1)",
                        "copy_process_return(c=1)", "kernel_clone(c=1)"])
    assert state[("adj", 0)] == 1 and state[("adj", 1)] == 0
    assert state[("flag", None)] == 1
    assert not evaluate(m, m.properties["sharers-agree"].expr, state)
    # the same interleaving on 5.10+: copy_mm sets nothing, so the writer does not walk, and
    # copy_oom_score_adj re-copies the new value after the link
    m2 = _model("5.10+", 2)
    s2 = _follow(m2, [*CLONE, *WRITE_PARENT, *UNLOCK, "link(c=1)", "copy_oom_score_adj(c=1)",
                      "kernel_clone(c=1)"])
    assert s2[("adj", 0)] == s2[("adj", 1)] == 1
    assert evaluate(m2, m2.properties["last-write-wins"].expr, s2)
    # a walk step is not enabled for a writer that decided not to walk
    with pytest.raises(AssertionError, match="not enabled"):
        _follow(m2, [*CLONE, *WRITE_PARENT, *WALK])


def test_every_step_names_its_kernel_file_and_function() -> None:
    for v in ("5.10+", "pre-5.10", "v1", "no-recopy", "flag-no-mutex", "early-flag", "oom-sketch",
              "no-mmgrab"):
        for a in _model(v, 2).actions:
            assert a.func and a.file.endswith(".c") and a.step


def test_variants_differ_where_the_kernel_did() -> None:
    names = {v: [a.name for a in _model(v, 2).actions] for v in ("5.10+", "pre-5.10", "v1")}
    assert "copy_oom_score_adj" in names["5.10+"]
    assert "copy_oom_score_adj" not in names["pre-5.10"] and "copy_oom_score_adj" not in names["v1"]
    v1_mm = _model("v1", 2).actions[_model("v1", 2).find_action("copy_mm")]
    assert "flag" in v1_mm.step
    assert "sharers-killed" in _model("oom-sketch", 2).properties
    assert "sharers-killed" not in _model("5.10+", 2).properties


def test_writer_without_mmgrab_walks_with_a_freed_mm() -> None:
    # no-mmgrab: the parent and the child exit between the writer's decision and its walk
    m = _model("no-mmgrab", 2)
    r = _check(m)["no-mm-use-after-free"]
    states = _replay(m, r.trace)
    assert not evaluate(m, m.properties["no-mm-use-after-free"].expr, states[-1])
    funcs = [s.func for s in r.trace.steps]
    assert funcs[-1] == "__set_oom_adj" and funcs[-3:-1] == ["exit_mm", "exit_mm"]
    # the same interleaving on 5.10+: the writer's mmgrab keeps mm_count up, the walk is safe
    steps = ["copy_signal_clone(c=1)", "copy_mm(c=1)", "link(c=1)", "copy_oom_score_adj(c=1)",
             "kernel_clone(c=1)", "set_oom_adj_lock(w=0, t=1)", "set_oom_adj_decide(w=0)",
             "set_oom_adj_write(w=0)", "exit_mm(t=0)", "exit_mm(t=1)",
             "set_oom_adj_walk(w=0, p=0)", "set_oom_adj_walk(w=0, p=1)", "set_oom_adj_unlock(w=0)"]
    m2 = _model("5.10+", 2, exit="may_exit")
    s2 = _follow(m2, steps)
    assert s2[("uaf", None)] == 0 and s2[("exited", 0)] == s2[("exited", 1)] == 1
    assert _follow(_model("no-mmgrab", 2), steps[:11])[("uaf", None)] == 1


def test_exit_knob_defaults_keep_the_old_model() -> None:
    m = _model("5.10+", 2)
    assert "exit_mm" not in [a.name for a in m.actions]
    assert "no-mm-use-after-free" not in m.properties
    with pytest.raises(ModelError, match="oom_kill"):
        _model("5.10+", 2, exit="may_exit", oom_kill="loop")
