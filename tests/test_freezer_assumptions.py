"""What the freezer model's "holds" rests on: each assumption's knob, set the other way, changes
the verdict it should, with the counterexample pinned; and a v10 proof prints the list."""

from __future__ import annotations

import json

import pytest

from oomcheck.catalog import build_variant, catalog_for, resolve_variant
from oomcheck.checker.explicit.search import check_explicit
from oomcheck.checker.trace import Result
from oomcheck.cli import main
from oomcheck.models.freezer import ASSUMPTIONS, DEFAULT_KNOBS, KNOBS, OomPC, ThreadPCExt, assumptions_for


def _check(variant: str, threads: int, prop: str, **knobs: str) -> Result:
    cat = catalog_for("freezer")
    m = build_variant(resolve_variant(cat, variant), {"threads": threads}, knobs, cat)
    return check_explicit(m, [m.properties[prop]])[0]


# (variant, base knobs, property, knob, other setting, safety counterexample length at threads=2
#  (BFS: shortest) or None for a liveness lasso)
FLIPS = [
    ("pre", {"freezer": "cgroup2"}, "no-frozen-after-thaw", "pm_freeze", "during", 4),
    ("pre", {"freezer": "cgroup2"}, "victim-exits", "pm_freeze", "during", None),
    ("v10", {}, "no-deadlock", "external_waker", "frozen", 5),
    ("v10", {}, "victim-exits", "external_waker", "frozen", None),
    ("v10", {}, "mm-released", "mm_sharer", "clone_vm", None),
    ("v10", {}, "memdie-single-thread", "remark", "dying_allocator", 6),
    ("pre", {}, "memdie-single-thread", "remark", "dying_allocator", 5),
]


@pytest.mark.parametrize(("variant", "base", "prop", "knob", "other", "length"), FLIPS)
def test_other_setting_changes_the_verdict(variant: str, base: dict, prop: str, knob: str,
                                           other: str, length: int | None) -> None:
    assert _check(variant, 2, prop, **base).verdict == "holds"
    r = _check(variant, 2, prop, **base, **{knob: other})
    assert r.verdict == "violated"
    if length is not None:
        assert len(r.trace.steps) == length


def test_pm_freeze_keeps_the_cgroup2_sibling_frozen() -> None:
    r = _check("pre", 2, "victim-exits", freezer="cgroup2", pm_freeze="during")
    # pm_freezing is a freezing() condition: the killed sibling ends frozen, never thawed
    assert r.trace.never and all("frozen[1]=1" in n for n in r.trace.never)
    # v10 thaws it, wherever it was frozen
    assert _check("v10", 2, "victim-exits", freezer="cgroup2", pm_freeze="during").verdict == "holds"


def test_sibling_frozen_in_the_v2_trap_has_the_kill_recorded_and_is_never_woken() -> None:
    cat = catalog_for("freezer")
    m = build_variant(resolve_variant(cat, "pre"), {"threads": 2},
                      {"freezer": "cgroup2", "pm_freeze": "during"}, cat)
    pc, frozen, saved = m.ref("pc"), m.ref("frozen"), m.ref("saved")
    m.invariant("trap-frozen-after-mark",
                ~((m.ref("oom_pc") == OomPC.DONE) & (pc[1] == ThreadPCExt.CGROUP2_TRAP)
                  & frozen[1] & ~saved[1]),
                "a sibling frozen in place in the v2 trap, its SIGKILL recorded, after the mark")
    r = check_explicit(m, [m.properties["trap-frozen-after-mark"]])[0]
    assert r.verdict == "violated" and len(r.trace.steps) == 4
    assert r.trace.initial["pc[1]"] == "CGROUP2_TRAP" and r.trace.initial["saved[1]"] == "1"
    kill = r.trace.steps[0]
    assert kill.func == "__oom_kill_process" and kill.changes["saved[1]"] == ("1", "0")
    assert "pc[1]" not in kill.changes  # signal_wake_up does not wake a TASK_FROZEN task


def test_mm_sharer_does_not_stop_the_victim_itself() -> None:
    assert _check("v10", 2, "victim-exits", mm_sharer="clone_vm").verdict == "holds"
    r = _check("v10", 2, "mm-released", mm_sharer="clone_vm")
    assert r.trace.final["sh_pc"] == "FROZEN" and r.trace.final["sh_kill"] == "1"
    assert all(r.trace.final[f"pc[{i}]"] == "EXITED" for i in (0, 1))


def test_second_memdie_is_counted() -> None:
    for v in ("pre", "v10"):
        assert _check(v, 3, "oom-victims-counts-memdie", remark="dying_allocator").verdict == "holds"
        assert _check(v, 3, "oom-victims-balance", remark="dying_allocator").verdict == "holds"


@pytest.mark.parametrize(("threads", "length"), [(2, 8), (3, 9)])
def test_v10_exempt_siblings_are_not_in_oom_victims(threads: int, length: int) -> None:
    pm = {"pm_freeze": "during"}
    assert _check("pre", threads, "exempt-covered-by-oom-victims", **pm).verdict == "holds"
    # without a PM freeze in progress nothing waits on oom_victims: the property is vacuous
    assert _check("v10", threads, "exempt-covered-by-oom-victims").verdict == "holds"
    r = _check("v10", threads, "exempt-covered-by-oom-victims", **pm)
    assert r.verdict == "violated" and len(r.trace.steps) == length
    # thread 0 (the TIF_MEMDIE one) has exited and oom_victims is 0, while a sibling, exempt
    # through signal->oom_mm, still holds the mm
    assert r.trace.final["oom_victims"] == "0" and r.trace.final["oom_mm"] == "1"
    assert r.trace.final["pc[0]"] == "EXITED" and r.trace.final["pc[1]"] != "EXITED"


def test_defaults_are_the_assumptions() -> None:
    for knob, default, other, _, _ in ASSUMPTIONS:
        if knob is not None:
            assert DEFAULT_KNOBS[knob] == default and other in KNOBS[knob] and other != default
    listed = {a.get("knob") for a in assumptions_for(DEFAULT_KNOBS)}
    assert {"pm_freeze=during", "external_waker=frozen", "mm_sharer=clone_vm"} <= listed
    # a knob set the other way is modeled, not assumed
    listed = {a.get("knob") for a in assumptions_for({**DEFAULT_KNOBS, "pm_freeze": "during"})}
    assert "pm_freeze=during" not in listed and "mm_sharer=clone_vm" in listed


def test_v10_proof_prints_its_assumptions(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "freezer", "--variant", "v10", "--property", "victim-exits",
                 "--engine", "parametric"])
    out = capsys.readouterr().out
    assert code == 0 and "proved by parametric for every threads >= 2" in out
    head = out.split("the proof:")[0]
    assert "assuming (kernel conditions this result rests on):" in head
    for knob in ("pm_freeze=during", "external_waker=frozen", "mm_sharer=clone_vm"):
        assert knob in head
    assert "weak fairness" in head and "interleaving semantics" in head


def test_json_holds_carry_the_assumptions(capsys: pytest.CaptureFixture[str]) -> None:
    main(["check", "freezer", "--variant", "v10", "--threads", "2", "--engine", "explicit",
          "--knob", "pm_freeze=during",
          "--property", "victim-exits", "--property", "exempt-covered-by-oom-victims",
          "--format", "json"])
    d = json.loads(capsys.readouterr().out)
    by = {r["property"]: r for r in d["results"]}
    knobs = {a.get("knob") for a in by["victim-exits"]["assumptions"]}
    assert "external_waker=frozen" in knobs and "pm_freeze=during" not in knobs
    assert "assumptions" not in by["exempt-covered-by-oom-victims"]
