"""The reaper / exit_mmap model: each variant's verdicts and what its counterexample shows."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from oomcheck.catalog import build_variant, catalog_for, resolve_variant
from oomcheck.checker.explicit.search import check_explicit
from oomcheck.checker.language.lang import Model, exists, lift
from oomcheck.checker.trace import Result, Step
from oomcheck.cli import EXIT_VIOLATED, main
from oomcheck.models.reaper import (
    VMA,
    Pmd,
    PtlOwner,
    PtlOwnerX,
    ReaperPC,
    exit_stages,
    set_exit_stages,
)

REQUIRED_VARIANTS = ("forward", "reverse", "reverse-mas-prev", "zap-without-ptl",
                     "skip-test-before-lock", "skip-set-after-unlock", "reaper-blocking-lock",
                     "exit-mmap-pre2022", "exit-mmap-5.17")


def _model(variant: str, vmas: int = 2, ptes: int = 1, **knobs: str) -> Model:
    cat = catalog_for("reaper")
    return build_variant(resolve_variant(cat, variant), {"vmas": vmas, "ptes": ptes}, knobs, cat)


def _check(variant: str, *props: str, vmas: int = 2, ptes: int = 1,
           **knobs: str) -> dict[str, Result]:
    m = _model(variant, vmas, ptes, **knobs)
    names = props or tuple(m.properties)
    return {r.property: r for r in check_explicit(m, [m.properties[p] for p in names])}


def _verdicts(rs: dict[str, Result]) -> dict[str, str]:
    return {p: r.verdict for p, r in rs.items()}


def _index(steps: list[Step], pred) -> int:  # type: ignore[no-untyped-def]
    return next(i for i, s in enumerate(steps) if pred(s))


def _changed(s: Step, var: str, new: str | None = None) -> bool:
    return var in s.changes and (new is None or s.changes[var][1] == new)


# ---- the catalog and the model's shape ---------------------------------------------------------


def test_catalog_has_every_required_variant_and_second_guard_twins() -> None:
    cat = catalog_for("reaper")
    for v in (*REQUIRED_VARIANTS, "skip-test-before-lock-no-empty-tree",
              "skip-set-after-unlock-no-empty-tree"):
        assert v in cat.variants
    files = [v for v in cat.variants.values() if v.file is not None]
    assert len(files) >= 2


@pytest.mark.parametrize("knobs", [{"mrelease": "yes", "mmap_writer": "yes"},
                                   {"oom_victim": "no", "mrelease": "yes"}])
def test_every_step_names_its_kernel_file_and_function(knobs: dict[str, str]) -> None:
    for name in catalog_for("reaper").variants:
        for a in _model(name, **knobs).actions:
            assert a.func and a.file.endswith((".c", ".h")) and a.step, (name, a.name)


def test_exit_mmap_forms_have_the_documented_order() -> None:
    base = {"oom_victim": "yes", "tree_emptied_under_lock": "yes"}
    cur = exit_stages({**base, "exit_mmap": "current"})
    assert cur.index("READ_UNLOCK") < cur.index("SET_SKIP") < cur.index("WRITE_WAIT") \
        < cur.index("FREE_PGTABLES") < cur.index("DESTROY_TREE") < cur.index("WRITE_UNLOCK")
    pre = exit_stages({**base, "exit_mmap": "pre2022", "tree_emptied_under_lock": "no"})
    assert pre[:6] == ["ENTRY", "SELF_REAP", "SET_SKIP", "FENCE_WAIT", "FENCE_HELD", "UNMAP"]
    assert "DESTROY_TREE" not in pre and "WRITE_UNLOCK" not in pre
    old = exit_stages({**base, "exit_mmap": "5.17", "oom_victim": "no"})
    assert "SET_SKIP" not in old and old[1] == "WRITE_WAIT"
    v414 = exit_stages({**base, "exit_mmap": "4.14", "tree_emptied_under_lock": "no"})
    assert v414 == ["ENTRY", "UNMAP", "SET_SKIP", "FENCE_WAIT", "FENCE_HELD", "FREE_PGTABLES",
                    "TLB_FINISH", "REMOVE_VMAS", "DONE"]
    other = exit_stages({**base, "exit_mmap": "4.14", "tree_emptied_under_lock": "no",
                         "last_mmput": "other"})
    assert "SET_SKIP" in other and "FENCE_WAIT" not in other
    assert "SET_SKIP" not in exit_stages({**base, "exit_mmap": "4.15", "oom_victim": "no"})
    merge = exit_stages({**base, "exit_mmap": "maple-merge"})
    assert merge[1] == "WRITE_WAIT" and merge[-2] == "WRITE_UNLOCK"
    assert merge.index("UNMAP") < merge.index("SET_SKIP") < merge.index("FREE_PGTABLES")


def test_set_exit_stages_only_reorders() -> None:
    m = _model("reverse")
    with pytest.raises(ValueError):
        set_exit_stages(m, ["ENTRY", "UNMAP", "DONE"])


# ---- walk orders ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["forward", "reverse"])
@pytest.mark.parametrize(("vmas", "ptes"), [(2, 1), (2, 2), (3, 1)])
def test_forward_and_reverse_satisfy_everything(variant: str, vmas: int, ptes: int) -> None:
    rs = _check(variant, vmas=vmas, ptes=ptes)
    assert _verdicts(rs) == {p: "holds" for p in rs}
    assert all(r.strength["complete"] for r in rs.values())


@pytest.mark.parametrize("variant", ["forward", "reverse"])
def test_three_zappers_on_one_mm(variant: str) -> None:
    rs = _check(variant, "no-double-free", "no-use-after-free", "all-freed", "reaper-coverage",
                mrelease="yes")
    assert set(_verdicts(rs).values()) == {"holds"}


def test_trylock_reaper_gives_up_behind_a_stuck_writer() -> None:
    rs = _check("reverse", "oom-progress", "no-deadlock", "all-freed", mmap_writer="yes")
    assert set(_verdicts(rs).values()) == {"holds"}


@pytest.mark.parametrize("vmas", [2, 3])
def test_mas_prev_misses_the_vma_at_the_top(vmas: int) -> None:
    assert _check("reverse-mas-prev", "reaper-coverage", vmas=vmas,
                  top_vma="no")["reaper-coverage"].verdict == "holds"
    assert _check("reverse", "reaper-coverage", vmas=vmas,
                  top_vma="yes")["reaper-coverage"].verdict == "holds"
    rs = _check("reverse-mas-prev", vmas=vmas, top_vma="yes")
    assert {p for p, v in _verdicts(rs).items() if v != "holds"} == {"reaper-coverage"}
    t = rs["reaper-coverage"].trace
    assert t is not None
    top = vmas - 1
    # the first mas_prev already returns the VMA below the top one; the top one is never returned
    walks = [s for s in t.steps if s.func == "mas_prev" and s.actor == "oom_reaper"]
    assert walks[0].action == f"mas_prev(v={top - 1})"
    assert all(s.action != f"mas_prev(v={top})" for s in walks)
    assert t.initial[f"kind[{top}]"] == "ANON" and t.final[f"seen_reaper[{top}]"] == "0"


# ---- the PTL -------------------------------------------------------------------------------


@pytest.mark.parametrize(("vmas", "ptes"), [(2, 1), (2, 2)])
def test_zap_without_ptl_frees_a_page_twice(vmas: int, ptes: int) -> None:
    rs = _check("zap-without-ptl", vmas=vmas, ptes=ptes)
    bad = {p for p, v in _verdicts(rs).items() if v != "holds"}
    assert bad == {"no-double-free", "all-freed"}
    t = rs["no-double-free"].trace
    assert t is not None
    pg = next(k.split("[")[1].rstrip("]") for k, v in t.final.items()
              if k.startswith("frees[") and v == "2")
    steps = t.steps
    read = _index(steps, lambda s: s.actor == "oom_reaper" and _changed(s, "reaper_ptent", "PRESENT"))
    by_exit = _index(steps, lambda s: s.actor == "exit_mmap" and _changed(s, f"g_exit[{pg}]", "1"))
    by_reaper = _index(steps, lambda s: s.actor == "oom_reaper"
                       and _changed(s, f"g_reaper[{pg}]", "1"))
    # the reaper read the entry, exit_mmap cleared it under its PTL, the reaper still gathered it
    assert read < by_exit < by_reaper
    assert steps[by_exit].func == steps[by_reaper].func == "zap_pte_range"
    # and the second flush is the double free
    last = steps[-1]
    assert last.func == "tlb_finish_mmu" and last.changes[f"frees[{pg}]"] == ("1", "2")


# ---- guard A removed, with and without guard B ------------------------------------------------


def test_skip_test_before_lock_is_safe_only_with_the_empty_tree() -> None:
    assert _check("skip-test-before-lock", "no-use-after-free", vmas=3)[
        "no-use-after-free"].verdict == "holds"
    r = _check("skip-test-before-lock-no-empty-tree", "no-use-after-free")["no-use-after-free"]
    assert r.verdict == "violated" and r.trace is not None
    steps = r.trace.steps
    test = _index(steps, lambda s: s.actor == "oom_reaper" and s.func == "oom_reap_task_mm")
    skip = _index(steps, lambda s: s.actor == "exit_mmap" and _changed(s, "skip", "1"))
    freed = _index(steps, lambda s: s.func == "remove_vma")
    unlock = _index(steps, lambda s: s.actor == "exit_mmap" and _changed(s, "writer", "NONE"))
    lock = _index(steps, lambda s: s.actor == "oom_reaper" and s.func == "mmap_read_trylock")
    # lockless test while MMF_OOM_SKIP was clear, then the lock after the whole teardown
    assert test < skip < freed < unlock < lock
    last = steps[-1]
    assert last.actor == "oom_reaper" and last.func == "mas_find_rev"
    assert last.changes["uaf"] == ("NONE", "VMA")


@pytest.mark.parametrize("form", ["pre2022", "5.17"])
def test_skip_test_before_lock_on_old_exit_mmap(form: str) -> None:
    r = _check("skip-test-before-lock-no-empty-tree", "no-use-after-free",
               exit_mmap=form)["no-use-after-free"]
    assert r.verdict == "violated" and r.trace is not None
    assert r.trace.steps[-1].actor == "oom_reaper"


def test_skip_set_after_unlock_delays_the_oom_killer_but_is_safe_with_the_empty_tree() -> None:
    rs = _check("skip-set-after-unlock")
    bad = {p for p, v in _verdicts(rs).items() if v != "holds"}
    assert bad == {"skip-before-teardown"}
    t = rs["skip-before-teardown"].trace
    assert t is not None and t.steps[-1].func == "free_pgtables" and t.final["skip"] == "0"


def test_skip_set_after_unlock_without_the_empty_tree() -> None:
    r = _check("skip-set-after-unlock-no-empty-tree", "no-use-after-free")["no-use-after-free"]
    assert r.verdict == "violated" and r.trace is not None
    steps = r.trace.steps
    unlock = _index(steps, lambda s: s.actor == "exit_mmap" and _changed(s, "writer", "NONE"))
    check = _index(steps, lambda s: s.actor == "oom_reaper" and s.func == "oom_reap_task_mm"
                   and _changed(s, "reaper_pc", "ITER"))
    # the reaper tested MMF_OOM_SKIP under the lock after the write unlock, and found it clear
    assert unlock < check
    assert all(not _changed(s, "skip") for s in steps)
    assert steps[-1].actor == "oom_reaper" and steps[-1].changes["uaf"] == ("NONE", "VMA")


def test_guard_a_alone_suffices_today() -> None:
    rs = _check("no-empty-tree", vmas=3)
    assert set(_verdicts(rs).values()) == {"holds"}
    rs = _check("no-empty-tree", "no-use-after-free", oom_victim="no", mrelease="yes")
    assert rs["no-use-after-free"].verdict == "holds"


# ---- the blocking reaper -----------------------------------------------------------------------


def test_blocking_reaper_stalls_the_oom_killer_behind_a_stuck_writer() -> None:
    rs = _check("reaper-blocking-lock", mmap_writer="yes")
    bad = {p for p, v in _verdicts(rs).items() if v != "holds"}
    assert bad == {"oom-progress", "no-deadlock"}
    t = rs["oom-progress"].trace
    assert t is not None and t.stutter
    assert t.final["writer"] == "VICTIM" and t.final["reaper_pc"] == "TRYLOCK"
    assert t.final["skip"] == "0" and t.final["exit_pc"] == "ENTRY"
    ok = _check("reaper-blocking-lock", "oom-progress", "no-deadlock", mmap_writer="no")
    assert set(_verdicts(ok).values()) == {"holds"}


# ---- older exit_mmap -----------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["exit-mmap-pre2022", "exit-mmap-5.17"])
def test_old_exit_mmap_is_safe_for_oom_victims(variant: str) -> None:
    rs = _check(variant, ptes=2)
    assert set(_verdicts(rs).values()) == {"holds"}


def test_pre2022_teardown_runs_unlocked_under_process_mrelease() -> None:
    r = _check("exit-mmap-pre2022", "no-use-after-free", oom_victim="no",
               mrelease="yes")["no-use-after-free"]
    assert r.verdict == "violated" and r.trace is not None
    steps = r.trace.steps
    assert steps[-1].actor == "process_mrelease"
    # exit_mmap never took mmap_lock: no self-reap, no MMF_OOM_SKIP, no fence for a non-victim
    assert all(not _changed(s, "writer") and not _changed(s, "skip") for s in steps)
    assert r.trace.final["readers"] == "1"


def test_5_17_syzbot_use_after_free_and_its_fix() -> None:
    r = _check("exit-mmap-5.17", "no-use-after-free", oom_victim="no",
               mrelease="yes")["no-use-after-free"]
    assert r.verdict == "violated" and r.trace is not None
    steps = r.trace.steps
    grab = _index(steps, lambda s: s.func == "process_mrelease" and _changed(s, "mrel_pc", "LOCK"))
    start = _index(steps, lambda s: s.actor == "exit_mmap")
    unlock = _index(steps, lambda s: s.actor == "exit_mmap" and _changed(s, "writer", "NONE"))
    lock = _index(steps, lambda s: s.func == "mmap_read_lock_killable")
    # mmgrab before exit_mmap, the read lock after its write unlock, then the stale mm->mmap walk
    assert grab < start < unlock < lock
    assert steps[-1].actor == "process_mrelease" and steps[-1].changes["uaf"] == ("NONE", "VMA")
    assert r.trace.final["skip"] == "0" and r.trace.final["tree"] == "POPULATED"
    fixed = _check("exit-mmap-5.17-fixed", oom_victim="no", mrelease="yes", vmas=3)
    assert set(_verdicts(fixed).values()) == {"holds"}


def test_4_14_exit_mmap_fence_depends_on_who_runs_it() -> None:
    """Tetsuo Handa's 2017 report: with tsk_is_oom_victim(current), a last mmput from a task that
    is not the victim skips the fence, and the reaper walks what the teardown frees."""
    ok = _check("exit-mmap-4.14", ptes=2)
    assert set(_verdicts(ok).values()) == {"holds"}
    r = _check("exit-mmap-4.14", "no-use-after-free", last_mmput="other")["no-use-after-free"]
    assert r.verdict == "violated" and r.trace is not None
    steps = r.trace.steps
    check = _index(steps, lambda s: s.actor == "oom_reaper" and _changed(s, "reaper_pc", "ITER"))
    skip = _index(steps, lambda s: s.actor == "exit_mmap" and _changed(s, "skip", "1"))
    freed = _index(steps, lambda s: s.actor == "exit_mmap"
                   and s.func in ("free_pgtables", "remove_vma"))
    # the reaper tested MMF_OOM_SKIP clear under mmap_sem; exit_mmap set it and, without the
    # fence, freed the page tables or VMAs under the reader; the reaper's next step touches them
    assert check < skip < freed
    assert all(not _changed(s, "writer") for s in steps)
    assert steps[-1].actor == "oom_reaper" and steps[-1].changes["uaf"][0] == "NONE"
    # the fix (mm_is_oom_victim): the same interleavings are safe
    fixed = _check("exit-mmap-4.15", ptes=2, last_mmput="other")
    assert set(_verdicts(fixed).values()) == {"holds"}


@pytest.mark.parametrize("knobs", [{}, {"oom_victim": "no", "mrelease": "yes"},
                                   {"mrelease": "yes", "mmap_writer": "yes"}])
def test_maple_merge_exit_mmap_write_locked_throughout_is_safe(knobs: dict[str, str]) -> None:
    rs = _check("exit-mmap-maple-merge", **knobs)
    assert set(_verdicts(rs).values()) == {"holds"}


# ---- other page-table changers: a live victim thread, PT reclaim, khugepaged, a THP ----------------


def _reachable(variant: str, what: Callable[[Model], object], vmas: int = 2, ptes: int = 1,
               **knobs: str) -> bool:
    """Whether some reachable state satisfies what(m) (checked as the invariant "not what")."""
    m = _model(variant, vmas, ptes, **knobs)
    m.invariant("probe", ~lift(what(m)), "reachability probe")  # type: ignore[arg-type]
    return check_explicit(m, [m.properties["probe"]])[0].verdict == "violated"


def _stale_map(lock_pc: str) -> Callable[[Model], object]:
    """The reaper is at lock_pc for a table that is no longer in its PMD."""
    def what(m: Model) -> object:
        pmd, cur = m.ref("pmd"), m.ref("reaper_cur")
        return (m.ref("reaper_pc") == getattr(ReaperPC, lock_pc)) & exists(
            VMA, lambda v: (cur == v) & (pmd[v] == Pmd.NONE))  # type: ignore[index]
    return what


SAFETY = ("no-double-free", "no-use-after-free", "all-freed", "no-deadlock")


def test_knobs_off_leave_the_model_as_it_was() -> None:
    m = _model("reverse")
    assert "pmd" not in m.vars and "thread_pc" not in m.vars and "khuge_pc" not in m.vars
    assert m.vars["ptl"].type == PtlOwner
    assert not any(a.name.endswith(("_ptl_lock", "_huge")) for a in m.actions)


@pytest.mark.parametrize("ptes", [1, 2])
def test_live_thread_madvise_dontneed_and_the_reaper(ptes: int) -> None:
    rs = _check("victim-dontneed", *SAFETY, ptes=ptes)
    assert set(_verdicts(rs).values()) == {"holds"}
    # both really zap the same table: the thread can hold a PTL the reaper waits for
    assert _reachable("victim-dontneed", lambda m: (m.ref("reaper_pc") == ReaperPC.PTL_LOCK) & exists(
        VMA, lambda v: (m.ref("reaper_cur") == v) & (m.ref("ptl")[v] == PtlOwnerX.VICTIM_THREAD)))


def test_pt_reclaim_needs_rcu_to_keep_the_reaper_safe() -> None:
    ok = _check("victim-dontneed-pt-reclaim", *SAFETY, "reaper-coverage", "oom-progress")
    assert set(_verdicts(ok).values()) == {"holds"}
    # the race the protections are for happens: the reaper mapped a table the thread reclaimed
    assert _reachable("victim-dontneed-pt-reclaim", _stale_map("PTL_LOCK"))
    r = _check("pt-reclaim-no-rcu", "no-use-after-free", "no-double-free")
    assert r["no-double-free"].verdict == "holds"
    bad = r["no-use-after-free"]
    assert bad.verdict == "violated" and bad.trace is not None
    steps = bad.trace.steps
    mapped = _index(steps, lambda s: s.actor == "oom_reaper" and _changed(s, "reaper_pc", "PTL_LOCK"))
    freed = _index(steps, lambda s: s.func == "try_get_and_clear_pmd"
                   and any(_changed(s, f"pte_table[{v}]", "FREED") for v in range(2)))
    assert mapped < freed
    last = steps[-1]
    assert last.actor == "oom_reaper" and last.func == "__pte_offset_map_lock"
    assert last.changes["uaf"] == ("NONE", "PTE_TABLE")


def test_pmd_recheck_protects_the_other_table_changer_not_the_reaper() -> None:
    # without the re-check the reaper does lock and walk a table that left its PMD, and stays safe
    assert _reachable("victim-dontneed-pt-reclaim", _stale_map("ZAP"), pmd_recheck="no")
    assert not _reachable("victim-dontneed-pt-reclaim", _stale_map("ZAP"))
    rs = _check("victim-dontneed-pt-reclaim", *SAFETY, pmd_recheck="no")
    assert set(_verdicts(rs).values()) == {"holds"}
    # PT reclaim and khugepaged on one table: safe with the re-check, not without it
    ok = _check("pt-reclaim-khugepaged", *SAFETY, "reaper-coverage", vmas=1)
    assert set(_verdicts(ok).values()) == {"holds"}
    r = _check("pt-reclaim-no-pmd-recheck", "no-use-after-free", vmas=1)["no-use-after-free"]
    assert r.verdict == "violated" and r.trace is not None
    steps = r.trace.steps
    mapped = _index(steps, lambda s: s.actor == "victim thread (live)"
                    and _changed(s, "thread_pc", "PTL_LOCK"))
    retract = _index(steps, lambda s: s.actor == "khugepaged" and _changed(s, "pmd[0]", "NONE"))
    locked = _index(steps, lambda s: s.func == "__pte_offset_map_lock"
                    and _changed(s, "thread_pc", "ZAP"))
    assert mapped < retract < locked
    assert steps[-1].func == "try_get_and_clear_pmd" and steps[-1].changes["uaf"][1] == "PTE_TABLE"


def test_munmap_isolates_the_vma_before_the_downgrade() -> None:
    ok = _check("victim-munmap", *SAFETY, "reaper-coverage")
    assert set(_verdicts(ok).values()) == {"holds"}
    # the reaper does run while munmap frees the table and the VMA under the read lock
    assert _reachable("victim-munmap", lambda m: (m.ref("reaper_pc") == ReaperPC.ITER)
                      & exists(VMA, lambda v: m.ref("vma_freed")[v]))
    r = _check("munmap-not-isolated", "no-use-after-free")["no-use-after-free"]
    assert r.verdict == "violated" and r.trace is not None
    steps = r.trace.steps
    removed = _index(steps, lambda s: s.func == "remove_vma" and s.actor == "victim thread (live)")
    assert steps[-1].actor == "oom_reaper" and removed < len(steps) - 1
    assert steps[-1].changes["uaf"] == ("NONE", "VMA")


def test_khugepaged_retract_without_mmap_lock() -> None:
    ok = _check("khugepaged-retract", *SAFETY, "reaper-coverage", "oom-progress", vmas=1)
    assert set(_verdicts(ok).values()) == {"holds"}
    assert _reachable("khugepaged-retract", _stale_map("PTL_LOCK"), vmas=1)
    r = _check("khugepaged-no-rcu", "no-use-after-free", vmas=1)["no-use-after-free"]
    assert r.verdict == "violated" and r.trace is not None
    steps = r.trace.steps
    retract = _index(steps, lambda s: s.actor == "khugepaged" and _changed(s, "pte_table[0]", "FREED"))
    # a zapper that mapped the table before the retraction (the reaper, or exit_mmap's
    # unmap_vmas, which holds only the read lock: khugepaged tested mm_users before it began)
    assert retract < len(steps) - 1 and steps[-1].func == "__pte_offset_map_lock"
    assert steps[-1].actor in ("oom_reaper", "exit_mmap")
    assert steps[-1].changes["uaf"] == ("NONE", "PTE_TABLE")


def test_thp_zapped_at_the_pmd_level() -> None:
    ok = _check("thp-zap-huge-pmd", *SAFETY, "reaper-coverage", ptes=2)
    assert set(_verdicts(ok).values()) == {"holds"}
    r = _check("thp-no-huge-recheck", "no-double-free", "no-use-after-free")
    assert r["no-use-after-free"].verdict == "holds"
    bad = r["no-double-free"]
    assert bad.verdict == "violated" and bad.trace is not None
    huge = [s for s in bad.trace.steps if s.func == "zap_huge_pmd"]
    # both zappers ran zap_huge_pmd on the one huge PMD
    assert {s.actor for s in huge} == {"exit_mmap", "oom_reaper"}


# ---- MAX_OOM_REAP_RETRIES: 3 attempts in the model, 10 in the kernel -------------------------------


def _reads(e: object, out: set[str]) -> set[str]:
    """The state variables an expression reads."""
    from oomcheck.checker.language.lang import Index, Op, Quant, Var
    if isinstance(e, Var):
        out.add(e.name)
    elif isinstance(e, Index):
        out.add(e.array)
        _reads(e.index, out)
    elif isinstance(e, Op):
        for a in e.args:
            _reads(a, out)
    elif isinstance(e, Quant):
        _reads(e.body, out)
    return out


def _projected_reachable(m: Model, drop: str) -> set[tuple[int, ...]]:
    from oomcheck.checker.language.compile import compile_model
    c = compile_model(m)
    lay = c.layout
    k = lay.slot_of(drop, None) if drop in m.vars else None
    seen = set(c.initial_states())
    todo = list(seen)
    while todo:
        out: list = []
        c.expand(todo.pop(), out)
        for _, t in out:
            if t not in seen:
                seen.add(t)
                todo.append(t)
    got = set()
    for s in seen:
        v = lay.decode(s)
        if k is not None:
            v[k] = 0
        got.add(tuple(v))
    return got


def _catalog_rows() -> list:
    cat = catalog_for("reaper")
    rows, seen = [], set()
    for e in cat.expect:
        key = (e.variant, tuple(sorted(e.knobs.items())))
        if key in seen or "reap_retries" in e.knobs:
            continue
        seen.add(key)
        knobs = {**cat.variants[e.variant].knobs, **e.knobs}
        heavy = (knobs.get("mrelease") == "yes" and knobs.get("oom_victim", "yes") == "yes"
                 and "mmap_writer" not in knobs) or knobs.get("khugepaged") == "retract" \
            or knobs.get("munmap_isolate") == "no"
        rows.append(pytest.param(e.variant, e.knobs, id=f"{e.variant}-{_kvid(e.knobs)}",
                                 marks=[pytest.mark.heavy] if heavy else []))
    return rows


def _kvid(knobs: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in knobs.items()) or "default"


@pytest.mark.parametrize(("variant", "knobs"), _catalog_rows())
def test_three_reap_attempts_give_the_verdicts_of_ten(variant: str, knobs: dict[str, str]) -> None:
    """Why 3 attempts give the kernel's verdicts. `attempts` is read only by the updates that
    decide when oom_reap_task gives up; no guard and no property reads it. So if the reachable
    states of the two instances are the same once `attempts` is dropped, every invariant has the
    same verdict, so has no-deadlock (whether a step is enabled does not depend on `attempts`),
    and so has oom-progress: both instances are acyclic (the counter only grows), so a run that
    never sets MMF_OOM_SKIP ends in a reachable state without it where no step is enabled, and
    MMF_OOM_SKIP is never cleared. That holds for every catalog row at vmas=2, ptes=1 but one:
    in pt-reclaim-no-rcu a reaper that already touched a freed table can go on failing passes,
    and 10 attempts reach states 3 do not, all of them after the use-after-free; there every
    property's verdict is compared instead."""
    models = {r: _model(variant, **{**knobs, "reap_retries": r}) for r in ("3", "10")}
    for m in models.values():
        read: set[str] = set()
        for a in m.actions:
            _reads(a.guard, read)
        for p in m.properties.values():
            _reads(p.expr, read)
            _reads(p.pre, read)
        assert "attempts" not in read
    three, ten = (_projected_reachable(models[r], "attempts") for r in ("3", "10"))
    if three == ten:
        return
    assert variant == "pt-reclaim-no-rcu" and three < ten
    verdicts = [{r.property: r.verdict for r in check_explicit(m, list(m.properties.values()))}
                for m in models.values()]
    assert verdicts[0] == verdicts[1]
    assert verdicts[0]["no-use-after-free"] == "violated"


# ---- the command line ------------------------------------------------------------------------------


def test_cli_prints_the_guard_b_removed_trace(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "reaper", "--variant", "skip-test-before-lock-no-empty-tree",
                 "--property", "no-use-after-free", "--quiet"])
    out = capsys.readouterr().out
    assert code == EXIT_VIOLATED
    assert "no-use-after-free: violated" in out
    assert "exit_mmap" in out and "oom_reaper" in out and "uaf: NONE -> VMA" in out
