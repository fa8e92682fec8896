"""The OOM reaper and process_mrelease against exit_mmap: walk order, PTL, gathers, teardown guards.

One mm with K VMAs in address order (VMA 0 lowest), each with one PTE table of P entries guarded by
that table's page-table lock (PTL), each entry mapping its own page. Zappers clear present entries
under the PTL into their own mmu_gather and free the pages when the gather is flushed. Actors:

- `exit_mmap` (mm/mmap.c), in six forms (knob `exit_mmap`):
  - `current` (6.0+; read in the 6.17-rc tree, commit 0291023e): mmap_read_lock, unmap_vmas forward
    over every VMA, read unlock, set MMF_OOM_SKIP, mmap_write_lock, free_pgtables, tlb_finish_mmu,
    remove_vma loop, __mt_destroy (the tree is emptied), write unlock;
  - `pre2022` (~4.19-5.16): for an OOM victim, __oom_reap_task_mm() without mmap_lock, set
    MMF_OOM_SKIP, an empty mmap_write_lock/unlock fence; then unmap_vmas, free_pgtables,
    tlb_finish_mmu and the remove_vma loop all without mmap_lock; mm->mmap is never reset;
  - `5.17` (64591e8605d6): the OOM-victim self-reap and MMF_OOM_SKIP stay, the fence goes, and
    mmap_write_lock is held across unmap_vmas..remove_vma; mm->mmap is not reset (the Feb 2022 fix
    f798a1d4f94d adds the reset: knob `tree_emptied_under_lock=yes`);
  - `4.14` (212925802454, "mm: oom: let oom_reap_task and exit_mmap run concurrently"): no self-reap;
    unmap_vmas without mmap_sem, set MMF_OOM_SKIP unconditionally, then the empty
    down_write/up_write fence only `if (tsk_is_oom_victim(current))`; free_pgtables,
    tlb_finish_mmu and remove_vma without mmap_sem. Tetsuo Handa (Dec 2017, linux-mm "Multiple
    oom_reaper BUGs: unmap_page_range racing with exit_mmap"): the last __mmput may run in a task
    that is not the victim (knob `last_mmput=other`), and then nothing waits for the reaper;
  - `4.15` (Michal Hocko, "mm, oom_reaper: fix memory corruption", Dec 2017, Cc stable 4.14):
    `mm_is_oom_victim(mm)` (MMF_OOM_VICTIM, set by mark_oom_victim) instead, and MMF_OOM_SKIP is
    set only inside that branch, before the fence;
  - `maple-merge` (seed 003: Andrew Morton's merge of "mm: drop oom code from exit_mmap" with the
    maple tree series in mm-unstable, June 2022): mmap_write_lock from the start to the end;
    unmap_vmas, MMF_OOM_SKIP, free_pgtables, tlb_finish_mmu, remove_vma, __mt_destroy and
    mm->mmap = NULL all under it (6.1 released the `current` form instead).
- the OOM reaper kthread (mm/oom_kill.c: wake_oom_reaper, oom_reap_task, oom_reap_task_mm,
  __oom_reap_task_mm) for an OOM victim (knob `oom_victim`);
- `process_mrelease` (mm/oom_kill.c), a second reaper with a blocking read lock (knob `mrelease`);
- a thread of the victim that holds mmap_lock for write while it waits for memory (knob
  `mmap_writer`): only the OOM killer moving on (MMF_OOM_SKIP) gives it memory.

Walk order of __oom_reap_task_mm (knob `walk`): `forward` (for_each_vma from 0, <= 6.17), `reverse`
(MA_STATE at ULONG_MAX + mas_for_each_rev, 6.18: the first mas_find_rev is inclusive), and
`reverse-mas-prev` (v4: mas_prev from ULONG_MAX, exclusive even on the first call, so the range
containing ULONG_MAX is skipped). Knob `top_vma=yes` makes the highest VMA reach ULONG_MAX.

Abstractions, and why they are sound for the properties checked:
- One PTE table per VMA, one PTL per table. zap_pte_range holds the PTL across the whole table (its
  need_resched / batch-full breaks only release it between tables in the model); each entry is
  one step so that two zappers interleave per entry in the variant that drops the PTL.
- Gathers: the reaper and process_mrelease flush theirs at each VMA's tlb_finish_mmu; exit_mmap's
  fullmm gather is flushed at the tlb_finish_mmu after free_pgtables. The early flushes when a
  batch fills (tlb_flush_mmu) are left out: they only move frees earlier, and no property depends
  on when a page reference is dropped, only on how many times.
- "Freed" for a page means "the mapping's page reference was dropped" (free_pages_and_swap_cache);
  for a shared file page that is not the page going back to the allocator, but it is what a double
  zap would get wrong.
- Page tables: free_pgtables clears the upper-level entries and frees the tables in one step. A
  zapper that looks a table up afterwards finds the PMD empty and skips the range (no access); a
  zapper already inside the table (holding its PTL) touches freed memory on its next step.
- VMA kinds (knob `vma_kinds=mixed`: each VMA is nondeterministically ANON or SHARED): ANON stands
  for anonymous and private file mappings (reaped); SHARED for what __oom_reap_task_mm skips
  (VM_SHARED file mappings; VM_HUGETLB and VM_PFNMAP are skipped by the same test with the same
  effect here). exit_mmap unmaps every kind.
- mmap_lock (kernel/locking/rwsem.c): `readers` and `writer`. A blocking read lock (exit_mmap,
  process_mrelease, the blocking-reaper variant) is granted whenever no writer holds the lock:
  rwsem_down_read_slowpath may steal the lock past a queued writer, so both orders are allowed.
  mmap_read_trylock fails while a writer holds the lock, and may fail while one waits:
  RWSEM_READ_FAILED_MASK includes RWSEM_FLAG_WAITERS (docs/kernel-background.md §2.6,
  checked), but a writer still spinning optimistically has not set it yet, so success is also allowed.
- The mmu notifier's non-blocking start may fail on any VMA at any time (knob `notifier=may_fail`),
  an over-approximation: the model does not rely on mmu_notifier_release having unhooked the
  subscribers (docs/kernel-background.md §3.5 step 1;
  mmu_interval_notifiers are not unhooked by it).
- MAX_OOM_REAP_RETRIES is 10 in the kernel; the model's oom_reap_task makes 3 attempts by
  default (knob `reap_retries=10` for the kernel's value; tests/test_reaper.py shows that the
  catalog's instances reach the same states, `attempts` aside, with 3 and with 10, so every
  verdict is the same). The 2 s timer of queue_oom_reaper is "wake_oom_reaper may fire at any
  time" (4.14 queued the reaper at once: a special case of it).
- process_mrelease can only find the mm (find_lock_task_mm) while some thread still has it, i.e.
  before the last mmput starts exit_mmap; it keeps the mm with mmgrab and may take the read lock at
  any later time. Every victim thread other than the optional mmap writer is implicit: exit_mmap
  starts once that writer (if any) has exited.
- Ghost variables: `seen_*` (how often a reaper's iterator returned each VMA in the current pass),
  `frees` (per page, saturating at 2), `uaf` (first access to a freed VMA or PTE table).

Other page-table changers (every knob off by default, and then the model is the one
above). With `victim_thread`, `khugepaged` or `thp` on, each VMA has its own PMD entry `pmd[v]`
(TABLE, NONE, HUGE) and PTE table `pte_table[v]` (LIVE; RCU: out of the PMD, freed after a grace
period; FREED), and every zapper's pte_offset_map_lock is two steps, as in __pte_offset_map_lock
(mm/pgtable-generic.c): map (rcu_read_lock, the PMD read: none -> nothing to zap, huge ->
zap_huge_pmd) and lock (spin_lock on the PTL inside the table, then pmd_same(), else read the PMD
again). Sources read: mm/pt_reclaim.c (torvalds/linux copy at 9c20f30a; a later patch moves it
into mm/memory.c as zap_empty_pte_table, same logic), zap_pte_range/zap_pmd_range from a
mm/memory.c copy with the 6.15-era direct_reclaim fix, retract_page_tables/collapse_file from a
recent mm/khugepaged.c (after Jann Horn's 2024 re-check fixes), get_lock_mode in the newest
mm/madvise.c, vms_complete_munmap_vmas in mm/vma.c (6.11+).
- `victim_thread`: a victim thread that is not frozen (or that 6.18 thawed) inside
  madvise(MADV_DONTNEED) (madvise_dontneed_single_vma; mmap_read_lock, or a per-VMA read lock in
  the newest trees: neither keeps the reapers out) or munmap() (do_vmi_align_munmap: write lock,
  vms_gather_munmap_vmas takes the VMA out of the tree, mmap_write_downgrade, then unmap_vmas,
  free_pgtables, tlb_finish_mmu and remove_vma under the read lock) on one VMA. It holds
  mm_users, so exit_mmap starts only after it returns.
- `pt_reclaim` (6.14+, CONFIG_PT_RECLAIM): the MADV_DONTNEED zap that emptied a whole table keeps
  the PTL and takes the table out of the PMD (try_get_and_clear_pmd), and free_pte hands it to the
  gather, which frees page tables after an RCU grace period.
- `khugepaged=retract`: collapse_file's try_to_unmap of each old folio (under the PTL; the page
  reference dropped at once), then retract_page_tables with no mmap_lock of this mm: pmd lock,
  check_pmd_state, the PTL, the PMD cleared, pte_free_defer. collapse_test_exit is a lockless
  test; free_pgtables' unlink_file_vma orders it against exit_mmap's teardown (one step here).
- `thp`: VMA 0 is one PMD-mapped THP; zap_huge_pmd (mm/huge_memory.c) re-reads the PMD under the
  PMD lock (__pmd_trans_huge_lock) and the first zapper takes the whole folio.
- Protections dropped by a knob (hypothetical variants): `pmd_recheck=no` (no pmd_same() after
  spin_lock), `table_free=immediate` (no RCU grace period), `huge_recheck=no` (zap_huge_pmd acts
  on the PMD value read before the lock), `munmap_isolate=no` (the VMA leaves the tree only after
  remove_vma, under the read lock).
- Abstractions: the PMD lock is not a lock of its own: each PMD change is one step taken while
  the table's PTL is free (or held by the changer), which is what pmd lock + PTL give; the RCU
  callback may run as soon as no zapper has that table mapped (a real grace period ends no
  sooner), so every real interleaving is in the model; nothing installs PTEs (no page fault
  refills a range, khugepaged installs no huge PMD), so a table leaves its PMD only empty and
  PT reclaim's slow path (try_to_free_pte, which re-checks every entry under both locks) ends
  like the fast one and is left out. exit_mmap's free_pgtables frees the tables still in their
  PMDs at once (under the write lock today, no reader can have one mapped).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from oomcheck.checker.language.lang import (
    BOOL,
    FALSE,
    TRUE,
    ArrayHandle,
    Enum,
    Expr,
    IntType,
    Model,
    Operand,
    Param,
    Var,
    all_of,
    exists,
    forall,
    implies,
    ite,
    lift,
)

KNOBS: dict[str, tuple[str, ...]] = {
    # __oom_reap_task_mm's VMA iteration
    "walk": ("forward", "reverse", "reverse-mas-prev"),
    # does the highest VMA reach ULONG_MAX (never in a real mm: the top range is a gap)
    "top_vma": ("no", "yes"),
    # which exit_mmap
    "exit_mmap": ("current", "pre2022", "5.17", "4.14", "4.15", "maple-merge"),
    # 4.14 exit_mmap: who drops the last mm_users reference and so runs exit_mmap: a thread of the
    # OOM victim's thread group (tsk_is_oom_victim(current) is true) or another task that held an
    # mm reference (a /proc reader's mmget_not_zero, a CLONE_VM process outside the group)
    "last_mmput": ("victim", "other"),
    # oom_reap_task's attempts (MAX_OOM_REAP_RETRIES is 10 in mm/oom_kill.c)
    "reap_retries": ("3", "10"),
    # the second guard: the VMA tree / mm->mmap emptied before the teardown's write unlock
    "tree_emptied_under_lock": ("yes", "no"),
    # the mm belongs to an OOM victim (the reaper is queued; pre-2022 exit_mmap self-reaps)
    "oom_victim": ("yes", "no"),
    # a low-memory killer calls process_mrelease on the dying process
    "mrelease": ("no", "yes"),
    # a victim thread holds mmap_lock for write while it waits for memory
    "mmap_writer": ("no", "yes"),
    # mmu_notifier_invalidate_range_start_nonblock may fail
    "notifier": ("may_fail", "ok"),
    # each VMA is ANON, or nondeterministically ANON or SHARED
    "vma_kinds": ("mixed", "anon"),
    # ---- other page-table changers while the reapers walk (all off by default) ----
    # a live (not frozen, or thawed) victim thread inside madvise(MADV_DONTNEED) or munmap() on one
    # VMA; it holds an mm_users reference, so exit_mmap starts only after it returns
    "victim_thread": ("none", "dontneed", "munmap"),
    # MADV_DONTNEED frees the PTE table it emptied (CONFIG_PT_RECLAIM, mm/pt_reclaim.c)
    "pt_reclaim": ("no", "yes"),
    # khugepaged collapses the file range of one VMA: try_to_unmap, then retract_page_tables
    "khugepaged": ("no", "retract"),
    # VMA 0 is mapped by one PMD-mapped transparent huge page (zapped by zap_huge_pmd)
    "thp": ("no", "yes"),
    # protections, each dropped by its second value (variants, not kernels):
    # pte_offset_map_lock re-checks the PMD after taking the PTL
    "pmd_recheck": ("yes", "no"),
    # a PTE table taken out of the PMD is freed after an RCU grace period, or at once
    "table_free": ("rcu", "immediate"),
    # zap_huge_pmd re-reads the PMD under the PMD lock (__pmd_trans_huge_lock)
    "huge_recheck": ("yes", "no"),
    # munmap takes the VMA out of the tree before mmap_write_downgrade
    "munmap_isolate": ("yes", "no"),
}
DEFAULT_KNOBS = {"walk": "reverse", "top_vma": "no", "exit_mmap": "current",
                 "tree_emptied_under_lock": "yes", "oom_victim": "yes", "mrelease": "no",
                 "mmap_writer": "no", "notifier": "may_fail", "vma_kinds": "mixed",
                 "last_mmput": "victim", "reap_retries": "3", "victim_thread": "none",
                 "pt_reclaim": "no", "khugepaged": "no", "thp": "no", "pmd_recheck": "yes",
                 "table_free": "rcu", "huge_recheck": "yes", "munmap_isolate": "yes"}
# the knobs that give each VMA its own PMD entry and PTE table state (see build)
SPLIT_KNOBS = {"victim_thread": "none", "khugepaged": "no", "thp": "no"}
SIZES = {"vmas": (2, 1, 4), "ptes": (1, 1, 3)}  # default, min, max

REAP_ATTEMPTS = 3  # the default of knob reap_retries; MAX_OOM_REAP_RETRIES is 10 in mm/oom_kill.c

VMA = "vma"
PTE = "pte_index"
PAGE = "page"

VmaKind = Enum("vma_kind", ["ANON", "SHARED"])
Life = Enum("life", ["LIVE", "FREED"])
Tree = Enum("tree", ["POPULATED", "EMPTY"])
Uaf = Enum("uaf", ["NONE", "VMA", "PTE_TABLE"])
Writer = Enum("writer", ["NONE", "EXIT_MMAP", "VICTIM"])
PtlOwner = Enum("ptl_owner", ["FREE", "EXIT_MMAP", "OOM_REAPER", "MRELEASE"])
# with a live victim thread among the zappers (only then, so that the other models keep their
# state layout)
PtlOwnerX = Enum("ptl_owner", ["FREE", "EXIT_MMAP", "OOM_REAPER", "MRELEASE", "VICTIM_THREAD"])
Pmd = Enum("pmd", ["TABLE", "NONE", "HUGE"])
TableLife = Enum("pte_table", ["LIVE", "RCU", "FREED"])

ExitPC = Enum("exit_pc", [
    "ENTRY",          # the last mmput has not called exit_mmap yet (or is at its first step)
    "SR_ITER", "SR_PTL", "SR_ZAP", "SR_FLUSH",  # pre-2022 / 5.17: self-reap without mmap_lock
    "SET_SKIP",       # set_bit(MMF_OOM_SKIP) next
    "FENCE_WAIT",     # pre-2022: mmap_write_lock of the empty fence, waiting for readers
    "FENCE_HELD",     # pre-2022: fence write lock held; mmap_write_unlock next
    "WRITE_WAIT",     # mmap_write_lock: a waiting writer until the readers have left
    "UN_ITER", "UN_PTL", "UN_ZAP",  # unmap_vmas over every VMA, ascending
    "READ_UNLOCK",    # current: mmap_read_unlock after unmap_vmas
    "FREE_PGTABLES", "TLB_FINISH", "REMOVE_VMAS", "DESTROY_TREE",
    "WRITE_UNLOCK",
    "DONE",
    # with the page-table changers: pte_offset_map_lock's spin_lock and re-check, zap_huge_pmd
    "UN_PTL_LOCK", "UN_HUGE", "SR_PTL_LOCK", "SR_HUGE",
])
ReaperPC = Enum("reaper_pc", [
    "TIMER",     # queue_oom_reaper armed the timer; wake_oom_reaper has not run
    "TRYLOCK",   # oom_reap_task_mm: mmap_read_trylock next
    "CHECK",     # read lock held: test MMF_OOM_SKIP
    "ITER", "NOTIFY", "PTL", "ZAP", "FLUSH",  # __oom_reap_task_mm's walk
    "WALKED",    # the walk ended; mmap_read_unlock next
    "UNLOCK",    # MMF_OOM_SKIP was set: mmap_read_unlock without walking
    "SET_SKIP",  # oom_reap_task: set_bit(MMF_OOM_SKIP) next
    "DONE",
    "PTL_LOCK", "HUGE",  # with the page-table changers (see ExitPC)
])
MrelPC = Enum("mrelease_pc", [
    "START",     # find_lock_task_mm + mmgrab + task_will_free_mem next
    "LOCK",      # mmap_read_lock_killable next (blocking)
    "CHECK",
    "ITER", "NOTIFY", "PTL", "ZAP", "FLUSH",
    "WALKED",
    "UNLOCK",
    "DONE",
    "PTL_LOCK", "HUGE",
])
ThreadPC = Enum("thread_pc", [
    "START",          # madvise(MADV_DONTNEED) / munmap() entered; the VMA lookup next
    "DETACH",         # munmap: the VMA leaves the tree (vms_gather_munmap_vmas)
    "DOWNGRADE",      # munmap: mmap_write_downgrade
    "PTL", "PTL_LOCK", "HUGE", "ZAP",  # zap_pmd_range / zap_pte_range on the VMA
    "RECLAIM",        # MADV_DONTNEED with PT reclaim: the emptied table leaves the PMD
    "FREE_PGTABLES",  # munmap: free_pgtables for the VMA
    "FLUSH",          # tlb_finish_mmu
    "REMOVE_VMA",     # munmap: remove_vma
    "UNLOCK",         # mmap_read_unlock
    "DONE",
])
KhugePC = Enum("khugepaged_pc", ["START", "UNMAP", "CHECK_EXIT", "RETRACT", "DONE"])
WriterPC = Enum("writer_pc", ["HOLD", "DONE"])

OOM_KILL, MMAP, MEMORY = "mm/oom_kill.c", "mm/mmap.c", "mm/memory.c"
ZAPPER_PCS = ("ITER", "NOTIFY", "PTL", "ZAP", "FLUSH", "PTL_LOCK", "HUGE")


# ----------------------------------------------------------------------------------------------
# exit_mmap's stages
# ----------------------------------------------------------------------------------------------

WALK_STAGES = {"UNMAP": "UN_ITER", "SELF_REAP": "SR_ITER"}


def exit_stages(knobs: dict[str, str]) -> list[str]:
    """exit_mmap's steps in order for a form; UNMAP and SELF_REAP are walks."""
    form = knobs["exit_mmap"]
    victim = knobs["oom_victim"] == "yes"
    destroy = ["DESTROY_TREE"] if knobs["tree_emptied_under_lock"] == "yes" else []
    teardown = ["FREE_PGTABLES", "TLB_FINISH", "REMOVE_VMAS", *destroy]
    fence = ["FENCE_WAIT", "FENCE_HELD"]
    if form == "current":
        return ["ENTRY", "UNMAP", "READ_UNLOCK", "SET_SKIP", "WRITE_WAIT", *teardown,
                "WRITE_UNLOCK", "DONE"]
    if form == "pre2022":
        oom = ["SELF_REAP", "SET_SKIP", *fence] if victim else []
        return ["ENTRY", *oom, "UNMAP", *teardown, "DONE"]
    if form == "4.14":
        # MMF_OOM_SKIP unconditionally; the fence only if the task running exit_mmap is a victim
        current_is_victim = victim and knobs.get("last_mmput", "victim") == "victim"
        return ["ENTRY", "UNMAP", "SET_SKIP", *(fence if current_is_victim else []), *teardown,
                "DONE"]
    if form == "4.15":
        # mm_is_oom_victim(mm): MMF_OOM_SKIP and the fence for a victim's mm, whoever runs it
        return ["ENTRY", "UNMAP", *(["SET_SKIP", *fence] if victim else []), *teardown, "DONE"]
    if form == "maple-merge":
        return ["ENTRY", "WRITE_WAIT", "UNMAP", "SET_SKIP", *teardown, "WRITE_UNLOCK", "DONE"]
    oom = ["SELF_REAP", "SET_SKIP"] if victim else []
    return ["ENTRY", *oom, "WRITE_WAIT", "UNMAP", *teardown, "WRITE_UNLOCK", "DONE"]


def _stage_pc(stage: str) -> str:
    return WALK_STAGES.get(stage, stage)


# ----------------------------------------------------------------------------------------------
# the model
# ----------------------------------------------------------------------------------------------


class _Zapper:
    """One zapping actor's walk: its pc values, iterator, gather, PTL identity."""

    def __init__(self, name: str, pc: Expr, pcs: dict[str, Expr], cur: Expr, pi: Expr,
                 gather: ArrayHandle, owner: Expr, fail: Expr | None,
                 seen: ArrayHandle | None):
        self.name, self.pc, self.pcs, self.cur, self.pi = name, pc, pcs, cur, pi
        self.gather, self.owner, self.fail, self.seen = gather, owner, fail, seen


def build(sizes: dict[str, int], knobs: dict[str, str]) -> Model:
    k, p_n = sizes["vmas"], sizes["ptes"]
    m = Model("reaper", sizes={"vmas": k, "ptes": p_n}, knobs=dict(knobs))
    m.domain(VMA, k)
    m.domain(PTE, p_n)
    m.product(PAGE, VMA, PTE)

    def page_of(v: Operand, p: Operand) -> Expr:
        """The page of entry p in VMA v's table: v*P + p."""
        return m.element(PAGE, v, p)

    victim = knobs["oom_victim"] == "yes"
    with_mrel = knobs["mrelease"] == "yes"
    with_writer = knobs["mmap_writer"] == "yes"
    top = 1 if knobs["top_vma"] == "yes" else 0
    retries = int(knobs["reap_retries"])
    m.helpers["reap_attempts"] = lambda: retries
    # each VMA's PMD entry and PTE table have their own state once something other than exit_mmap
    # can empty a PMD (a live thread, khugepaged) or a PMD maps a huge page
    split = any(knobs[kn] != off for kn, off in SPLIT_KNOBS.items())
    thread = knobs["victim_thread"]
    munmap = thread == "munmap"
    reclaim = thread == "dontneed" and knobs["pt_reclaim"] == "yes"
    recheck = knobs["pmd_recheck"] == "yes"
    rcu_free = knobs["table_free"] == "rcu"
    po = PtlOwnerX if split else PtlOwner
    m.actor("exit", "exit_mmap")
    m.actor("reaper", "oom_reaper")
    m.actor("mrelease", "process_mrelease")
    m.actor("writer", "victim thread")
    m.actor("thread", "victim thread (live)")
    m.actor("khugepaged", "khugepaged")
    m.actor("rcu", "RCU callback")

    # ---- state -------------------------------------------------------------------------------
    kind = m.array("kind", VMA, VmaKind,
                   init=(VmaKind.ANON, VmaKind.SHARED) if knobs["vma_kinds"] == "mixed"
                   else VmaKind.ANON,
                   doc="ANON: reaped by __oom_reap_task_mm; SHARED: skipped by it")
    pte = m.array("pte", PAGE, BOOL, init=1, doc="the PTE mapping this page is present")
    frees = m.array("frees", PAGE, IntType(0, 2), init=0,
                    doc="ghost: how many times this page's reference was dropped (saturates at 2)")
    ptl = m.array("ptl", VMA, po, init=po.FREE,
                  doc="holder of the PTE table's PTL (for a huge PMD: of the PMD lock)")
    skip = m.var("skip", BOOL, init=0, doc="MMF_OOM_SKIP")
    unstable = m.var("unstable", BOOL, init=0, doc="MMF_UNSTABLE")
    readers = m.var("readers", IntType(0, 3), init=0, doc="mmap_lock readers")
    writer = m.var("writer", Writer, init=Writer.VICTIM if with_writer else Writer.NONE,
                   doc="mmap_lock writer")
    pgt = m.var("pgtables", Life, init=Life.LIVE, doc="the PTE tables (free_pgtables)")
    vmas = m.var("vmas", Life, init=Life.LIVE, doc="the vm_area_structs (remove_vma)")
    tree = m.var("tree", Tree, init=Tree.POPULATED,
                 doc="what a VMA walk starts from: the maple tree (mm->mmap before 6.1)")
    uaf = m.var("uaf", Uaf, init=Uaf.NONE, doc="ghost: first access to freed memory")

    epc = m.var("exit_pc", ExitPC, init=ExitPC.ENTRY, doc="where exit_mmap is")
    e_cur = m.var("exit_cur", IntType(-1, k), init=-1, doc="exit_mmap's current VMA")
    e_pi = m.var("exit_pi", IntType(0, p_n - 1), init=0, doc="exit_mmap's next PTE in the table")
    g_exit = m.array("g_exit", PAGE, BOOL, init=0, doc="page reference in exit_mmap's gather")

    if with_writer:
        wpc = m.var("writer_pc", WriterPC, init=WriterPC.HOLD,
                    doc="a victim thread in an mmap or fault, mmap_lock held for write")
    if split:
        thp = knobs["thp"] == "yes"
        pmd = m.array("pmd", VMA, Pmd, init=(Pmd.HUGE, Pmd.TABLE) if thp else Pmd.TABLE,
                      doc="the VMA's PMD entry: its PTE table, none, or a huge page")
        if thp:  # VMA 0 is mapped by a huge page, the others by PTE tables
            m.constrain_init(forall(VMA, lambda v: pmd[v] == ite(v == 0, Pmd.HUGE, Pmd.TABLE)))
        table = m.array("pte_table", VMA, TableLife, init=TableLife.LIVE,
                        doc="the VMA's PTE table: live, out of the PMD and waiting for an RCU "
                            "grace period, or freed")
    if munmap:
        in_tree = m.array("in_tree", VMA, BOOL, init=1, doc="the VMA is in the mm's VMA tree")
        vma_freed = m.array("vma_freed", VMA, BOOL, init=0,
                            doc="munmap's remove_vma freed this vm_area_struct")

    if thread != "none":
        tpc = m.var("thread_pc", ThreadPC, init=ThreadPC.START,
                    doc="where the live victim thread's madvise or munmap is")
        t_cur = m.var("thread_cur", IntType(-1, k), init=-1, doc="the VMA it works on")
        t_pi = m.var("thread_pi", IntType(0, p_n - 1), init=0)
        g_t = m.array("g_thread", PAGE, BOOL, init=0, doc="page reference in its gather")
    if knobs["khugepaged"] == "retract":
        kpc = m.var("khuge_pc", KhugePC, init=KhugePC.START, doc="where khugepaged is")
        k_cur = m.var("khuge_cur", IntType(-1, k), init=-1,
                      doc="the VMA whose file range khugepaged collapses")
        k_pi = m.var("khuge_pi", IntType(0, p_n - 1), init=0)

    def vma_gone(v: Operand | None) -> Expr:
        gone = vmas == Life.FREED
        return gone | vma_freed[v] if munmap and v is not None else gone

    def table_gone(v: Operand | None) -> Expr:
        return table[v] == TableLife.FREED if split and v is not None else pgt == Life.FREED

    def touch_vma(v: Operand | None = None) -> Expr:
        """A step that reads a vm_area_struct (VMA v's, when given)."""
        return ite((uaf == Uaf.NONE) & vma_gone(v), Uaf.VMA, uaf)

    def touch_table(v: Operand | None = None) -> Expr:
        """A step that reads the VMA and works inside its PTE table (VMA v's, when given)."""
        return ite(uaf != Uaf.NONE, uaf,
                   ite(vma_gone(v), Uaf.VMA, ite(table_gone(v), Uaf.PTE_TABLE, uaf)))

    writer_waiting = (epc == ExitPC.WRITE_WAIT) | (epc == ExitPC.FENCE_WAIT)
    m.helpers.update(touch_vma=touch_vma, touch_table=touch_table,
                     writer_waiting=lambda: writer_waiting,
                     page_of=page_of)

    def flush(z: _Zapper) -> tuple[str, Callable[[Param], dict]]:
        """tlb_finish_mmu / tlb_flush_mmu: drop every gathered page reference (for each page)."""
        return PAGE, lambda pg: {frees[pg]: ite(z.gather[pg], ite(frees[pg] == 0, 1, 2), frees[pg]),
                                 z.gather[pg]: 0}

    # ---- one VMA's page tables: zap_pmd_range, pte_offset_map_lock, zap_pte_range --------------
    def table_steps(z: _Zapper, prefix: str, after_table: Expr, keep_ptl: Expr | None = None) -> None:
        """The zap of VMA z.cur's range; after it z goes to after_table (or, holding the PTL, to
        keep_ptl after a PTE table's last entry: PT reclaim)."""
        pcs = z.pcs
        if not split:
            m.action(
                f"{prefix}_ptl", func="zap_pte_range", file=MEMORY, actor=z.name,
                params={"v": VMA},
                step="pte_offset_map_lock(): find the PTE table through the PMD and take its PTL "
                     "(spins while another zapper holds it); a PMD cleared by free_pgtables means "
                     "there is nothing to zap",
                guard=lambda v: (z.pc == pcs["PTL"]) & (z.cur == v) & (ptl[v] == po.FREE),
                updates=lambda v: {
                    uaf: touch_vma(),
                    ptl[v]: ite(pgt == Life.FREED, po.FREE, z.owner),
                    z.pc: ite(pgt == Life.FREED, after_table, pcs["ZAP"]),
                    z.pi: 0,
                },
            )
        else:
            m.action(
                f"{prefix}_ptl", func="zap_pmd_range", file=MEMORY, actor=z.name,
                params={"v": VMA},
                step="read the VMA's PMD without a lock: none (never filled, or the table was "
                     "freed, reclaimed or retracted) -> nothing to zap; a huge PMD -> "
                     "zap_huge_pmd; a PTE table -> zap_pte_range: pte_offset_map_lock() maps it "
                     "(__pte_offset_map: rcu_read_lock, the PMD value read) and finds its PTL",
                guard=lambda v: (z.pc == pcs["PTL"]) & (z.cur == v),
                updates=lambda v: {
                    uaf: touch_vma(v),
                    z.pc: ite(pmd[v] == Pmd.NONE, after_table,
                              ite(pmd[v] == Pmd.HUGE, pcs["HUGE"], pcs["PTL_LOCK"])),
                    z.pi: 0,
                },
            )
            if recheck:
                lock_step = ("spin_lock(ptl) (the lock is in the table's struct ptdesc), then "
                             "pmd_same(): the PMD still points to the mapped table -> locked; "
                             "else unlock and read the PMD again (again:)")
            else:
                lock_step = ("spin_lock(ptl) and go on without re-checking the PMD (variant "
                             "pmd_recheck=no): the table may have left the PMD since it was read")
            m.action(
                f"{prefix}_ptl_lock", func="__pte_offset_map_lock", file="mm/pgtable-generic.c",
                actor=z.name, params={"v": VMA}, step=lock_step,
                guard=lambda v: (z.pc == pcs["PTL_LOCK"]) & (z.cur == v) & (ptl[v] == po.FREE),
                updates=lambda v: {
                    uaf: touch_table(v),
                    ptl[v]: ite(pmd[v] == Pmd.TABLE, z.owner, po.FREE) if recheck else z.owner,
                    z.pc: ite(pmd[v] == Pmd.TABLE, pcs["ZAP"], pcs["PTL"]) if recheck
                    else pcs["ZAP"],
                },
            )
            huge_recheck = knobs["huge_recheck"] == "yes"

            def huge_entry(v: Param, p: Param) -> dict:
                """What zap_huge_pmd does to the pages of VMA v's huge folio (entry p's)."""
                pg = page_of(v, p)
                still = pmd[v] == Pmd.HUGE
                # without the re-check: the folio of the PMD value read before the lock
                return {z.gather[pg]: z.gather[pg] | (still & pte[pg]) if huge_recheck else TRUE,
                        pte[pg]: 0}

            m.action(
                f"{prefix}_huge", func="zap_huge_pmd", file="mm/huge_memory.c", actor=z.name,
                params={"v": VMA},
                step=("__pmd_trans_huge_lock: pmd_lock, then the PMD is read again: still huge -> "
                      "pmdp_huge_get_and_clear_full, folio_remove_rmap_pmd and the THP's "
                      "reference to the gather (tlb_remove_page_size); already cleared -> "
                      "nothing (zap_pmd_range then sees pmd_none)") if huge_recheck else
                     ("pmd_lock, no re-read (variant huge_recheck=no): the PMD is cleared and "
                      "the folio of the value read before the lock goes to the gather"),
                guard=lambda v: (z.pc == pcs["HUGE"]) & (z.cur == v) & (ptl[v] == po.FREE),
                updates=lambda v: {uaf: touch_vma(v), pmd[v]: Pmd.NONE, z.pc: after_table},
                each=(PTE, lambda p, v: huge_entry(v, p)),  # p: the entry, v: the VMA
            )
        last_pc = after_table if keep_ptl is None else keep_ptl

        def zap(v: Param, p: Param) -> dict:
            pg = page_of(v, p)
            last = p == p_n - 1
            return {
                uaf: touch_table(v if split else None),
                pte[pg]: 0,
                z.gather[pg]: z.gather[pg] | pte[pg],
                ptl[v]: ite(last, po.FREE, ptl[v]) if keep_ptl is None else ptl[v],
                z.pc: ite(last, last_pc, pcs["ZAP"]),
                z.pi: ite(last, 0, p + 1),
            }

        m.action(
            f"{prefix}_zap", func="zap_pte_range", file=MEMORY, actor=z.name,
            params={"v": VMA, "p": PTE},
            step="under the PTL: read PTE p; if present clear it and hand the page reference to "
                 "this zapper's gather (__tlb_remove_folio_pages); after the table's last entry "
                 + ("the PTL stays held for the PT reclaim" if keep_ptl is not None
                    else "pte_unmap_unlock()"),
            guard=lambda v, p: (z.pc == pcs["ZAP"]) & (z.cur == v) & (z.pi == p),
            updates=zap,
        )

    # ---- a generic VMA walk ------------------------------------------------------------------
    def walk(z: _Zapper, prefix: str, order: str, reap_rules: bool, per_vma_flush: bool,
             notifier: bool, done_pc: Expr, iter_info: tuple[str, str, str]) -> None:
        pcs = z.pcs
        func, file, step = iter_info
        start = -1 if order == "forward" else k
        after_table = pcs["FLUSH"] if per_vma_flush else pcs["ITER"]

        def yields(v: Param) -> Expr:
            if munmap:
                return yields_in_tree(v)
            if order == "forward":
                return z.cur == v - 1
            if order == "reverse":
                return z.cur == v + 1
            first = (z.cur == k) & (v == k - 1 - top)  # mas_prev: the ULONG_MAX range skipped
            later = (z.cur == v + 1) & (z.cur != k)
            return first | later

        def yields_in_tree(v: Param) -> Expr:
            """The next VMA in the tree (munmap may have taken some out)."""
            if order == "forward":
                return (z.cur < v) & in_tree[v] & forall(
                    VMA, lambda u: implies((z.cur < u) & (u < v), ~in_tree[u]))
            if order == "reverse":
                return (v < z.cur) & in_tree[v] & forall(
                    VMA, lambda u: implies((v < u) & (u < z.cur), ~in_tree[u]))
            # mas_prev: from ULONG_MAX the range holding it is skipped (the top VMA if it is
            # there and reaches ULONG_MAX), later calls return the next VMA below
            top_skipped = (v == k - 1) & (in_tree[k - 1] if top else FALSE)
            first = (z.cur == k) & in_tree[v] & ~top_skipped & forall(
                VMA, lambda u: implies(v < u, ~in_tree[u] | ((u == k - 1) & bool(top))))
            later = (z.cur != k) & (v < z.cur) & in_tree[v] & forall(
                VMA, lambda u: implies((v < u) & (u < z.cur), ~in_tree[u]))
            return first | later

        if munmap:
            ends = ~exists(VMA, yields_in_tree)
        elif order == "forward":
            ends = z.cur == k - 1
        elif order == "reverse":
            ends = z.cur == 0
        else:
            ends = (z.cur == 0) | ((z.cur == k) & (lift(k) - 1 - top < 0))

        def visit(v: Param) -> dict:
            if reap_rules:
                nxt = ite(kind[v] == VmaKind.SHARED, pcs["ITER"],
                          pcs["NOTIFY"] if notifier else pcs["PTL"])
            else:
                nxt = pcs["PTL"]
            ups = {z.cur: v, z.pc: nxt, uaf: touch_vma(v if split else None)}
            if z.seen is not None:
                ups[z.seen[v]] = ite(z.seen[v] == 0, 1, 2)
            return ups

        m.action(
            f"{prefix}_iter", func=func, file=file, actor=z.name, params={"v": VMA},
            step=step + (" The VMA's flags are read: VM_HUGETLB|VM_PFNMAP and VM_SHARED file "
                         "mappings (SHARED) are skipped." if reap_rules else ""),
            guard=lambda v: (z.pc == pcs["ITER"]) & (tree == Tree.POPULATED) & yields(v),
            updates=visit,
        )
        m.action(
            f"{prefix}_iter_end", func=func, file=file, actor=z.name,
            step="the iterator returns NULL (no VMA left, or an empty tree): the walk ends",
            guard=(z.pc == pcs["ITER"]) & ((tree == Tree.EMPTY) | ends),
            updates={z.pc: done_pc, z.cur: start},
        )
        if notifier:
            m.action(
                f"{prefix}_notifier_ok", func="mmu_notifier_invalidate_range_start_nonblock",
                file="mm/mmu_notifier.c", actor=z.name,
                step="__oom_reap_task_mm: tlb_gather_mmu, then the non-blocking notifier start "
                     "succeeds; unmap_page_range next",
                guard=z.pc == pcs["NOTIFY"], updates={z.pc: pcs["PTL"]},
            )
            assert z.fail is not None
            m.action(
                f"{prefix}_notifier_fail", func="mmu_notifier_invalidate_range_start_nonblock",
                file="mm/mmu_notifier.c", actor=z.name,
                step="a subscriber would block: __oom_reap_task_mm does tlb_finish_mmu on the "
                     "empty gather, ret = false, and continues with the next VMA (left for a retry)",
                guard=z.pc == pcs["NOTIFY"], updates={z.pc: pcs["ITER"], z.fail: 1},
            )
        table_steps(z, prefix, after_table)
        if per_vma_flush:
            m.action(
                f"{prefix}_tlb_finish", func="tlb_finish_mmu", file="mm/mmu_gather.c",
                actor=z.name,
                step="end of the VMA in __oom_reap_task_mm: tlb_flush_mmu frees the gathered pages",
                guard=z.pc == pcs["FLUSH"], updates={z.pc: pcs["ITER"]}, each=flush(z),
            )

    order = {"forward": "forward", "reverse": "reverse",
             "reverse-mas-prev": "mas_prev"}[knobs["walk"]]
    reap_iter = {
        "forward": ("for_each_vma", "include/linux/mm.h",
                    "__oom_reap_task_mm (<= 6.17): VMA_ITERATOR from 0; vma_next() -> mas_find() "
                    "returns the next VMA above the previous one."),
        "reverse": ("mas_find_rev", "lib/maple_tree.c",
                    "__oom_reap_task_mm (6.18): MA_STATE at ULONG_MAX, mas_for_each_rev(&mas, vma, "
                    "0): the first mas_find_rev returns the entry covering ULONG_MAX or the first "
                    "below it (inclusive); later calls the next entry strictly below."),
        "mas_prev": ("mas_prev", "lib/maple_tree.c",
                     "v4's reverse walk: vma_prev() -> mas_prev() from ULONG_MAX returns the entry "
                     "before the range containing the index, even on the first call: the range "
                     "containing ULONG_MAX is skipped."),
    }[order]
    notifier = knobs["notifier"] == "may_fail"

    exit_z = _Zapper("exit", epc, {}, e_cur, e_pi, g_exit, po.EXIT_MMAP, None, None)

    # ---- exit_mmap ---------------------------------------------------------------------------
    stages = exit_stages(knobs)
    for a, b in itertools.pairwise(stages):
        nxt = getattr(ExitPC, _stage_pc(b))
        if a == "UNMAP":
            exit_z.pcs = {"ITER": ExitPC.UN_ITER, "PTL": ExitPC.UN_PTL, "ZAP": ExitPC.UN_ZAP,
                          "FLUSH": ExitPC.UN_ITER, "PTL_LOCK": ExitPC.UN_PTL_LOCK,
                          "HUGE": ExitPC.UN_HUGE}
            walk(exit_z, "exit_unmap", "forward", False, False, False, nxt,
                 ("unmap_vmas", MEMORY,
                  "exit_mmap's unmap_vmas(.., 0, ULONG_MAX): mas_find() returns the next VMA, "
                  "ascending, every kind."))
        elif a == "SELF_REAP":
            exit_z.pcs = {"ITER": ExitPC.SR_ITER, "PTL": ExitPC.SR_PTL, "ZAP": ExitPC.SR_ZAP,
                          "FLUSH": ExitPC.SR_FLUSH, "PTL_LOCK": ExitPC.SR_PTL_LOCK,
                          "HUGE": ExitPC.SR_HUGE}
            walk(exit_z, "exit_self_reap", "forward", True, True, False, nxt,
                 ("__oom_reap_task_mm", OOM_KILL,
                  "called by exit_mmap for an OOM victim without mmap_lock (mm_is_oom_victim); "
                  "walks the mm->mmap list from the first VMA, ascending. No notifier failure "
                  "here: the kernel comment relies on mmu_notifier_release having run."))
        else:
            m.action(f"exit_{a.lower()}", **exit_stage_action(m, a, b))
    m.helpers["exit_stages"] = lambda: list(stages)

    # ---- the OOM reaper ----------------------------------------------------------------------
    finals: list[Expr] = [epc == ExitPC.DONE]
    zappers = [exit_z]
    if victim:
        rpc = m.var("reaper_pc", ReaperPC, init=ReaperPC.TIMER, doc="where the OOM reaper is")
        r_cur = m.var("reaper_cur", IntType(-1, k), init=-1 if order == "forward" else k,
                      doc="the reaper's iterator position")
        r_pi = m.var("reaper_pi", IntType(0, p_n - 1), init=0)
        g_r = m.array("g_reaper", PAGE, BOOL, init=0, doc="page reference in the reaper's gather")
        seen_r = m.array("seen_reaper", VMA, IntType(0, 2), init=0,
                         doc="ghost: times the reaper's iterator returned this VMA in this pass")
        fail_r = m.var("reaper_fail", BOOL, init=0, doc="__oom_reap_task_mm's ret is false")
        attempts = m.var("attempts", IntType(0, retries), init=0,
                         doc="oom_reap_task's attempts so far")
        rz = _Zapper("reaper", rpc, {n: getattr(ReaperPC, n) for n in ZAPPER_PCS},
                     r_cur, r_pi, g_r, po.OOM_REAPER, fail_r, seen_r)
        zappers.append(rz)
        m.action(
            "reaper_wake", func="wake_oom_reaper", file=OOM_KILL, actor="reaper",
            step="the OOM_REAPER_DELAY timer fires: MMF_OOM_SKIP already set (lockless test) -> "
                 "drop the task; else queue it and wake the oom_reaper kthread (oom_reap_task)",
            guard=rpc == ReaperPC.TIMER,
            updates={rpc: ite(skip, ReaperPC.DONE, ReaperPC.TRYLOCK)},
        )
        m.action(
            "reaper_trylock", func="mmap_read_trylock", file="include/linux/mmap_lock.h",
            actor="reaper",
            step="oom_reap_task_mm: the read trylock succeeds (no writer holds mmap_lock)",
            guard=(rpc == ReaperPC.TRYLOCK) & (writer == Writer.NONE),
            updates={readers: readers + 1, rpc: ReaperPC.CHECK},
        )
        m.action(
            "reaper_trylock_fail", func="oom_reap_task", file=OOM_KILL, actor="reaper",
            step="mmap_read_trylock fails (a writer holds mmap_lock, or waits with "
                 "RWSEM_FLAG_WAITERS set): oom_reap_task_mm returns false; "
                 "schedule_timeout_idle(HZ/10) and retry, or give up after the last attempt",
            guard=(rpc == ReaperPC.TRYLOCK) & ((writer != Writer.NONE) | writer_waiting),
            updates={attempts: attempts + 1,
                     rpc: ite(attempts + 1 == retries, ReaperPC.SET_SKIP, ReaperPC.TRYLOCK)},
        )
        m.action(
            "reaper_check_skip", func="oom_reap_task_mm", file=OOM_KILL, actor="reaper",
            step="under the read lock: MMF_OOM_SKIP set -> nothing to do (ret true); else "
                 "__oom_reap_task_mm sets MMF_UNSTABLE and starts the walk",
            guard=rpc == ReaperPC.CHECK,
            updates={rpc: ite(skip, ReaperPC.UNLOCK, ReaperPC.ITER),
                     unstable: unstable | ~skip, fail_r: 0},
        )
        walk(rz, "reaper", order, True, True, notifier, ReaperPC.WALKED, reap_iter)
        m.action(
            "reaper_unlock", func="oom_reap_task_mm", file=OOM_KILL, actor="reaper",
            step="mmap_read_unlock; back in oom_reap_task: success -> done; failure -> "
                 "schedule_timeout_idle and retry, or give up after the last attempt",
            guard=(rpc == ReaperPC.WALKED) | (rpc == ReaperPC.UNLOCK),
            updates={
                readers: readers - 1,
                rpc: ite(~fail_r | (attempts + 1 == retries), ReaperPC.SET_SKIP,
                         ReaperPC.TRYLOCK),
                attempts: ite(~fail_r | (attempts + 1 == retries), attempts, attempts + 1),
                fail_r: 0,
            },
            each=(VMA, lambda v: {seen_r[v]: 0}),
        )
        m.action(
            "reaper_set_skip", func="oom_reap_task", file=OOM_KILL, actor="reaper",
            step="done: set_bit(MMF_OOM_SKIP) (\"either reaped or somebody can't call "
                 "mmap_write_unlock\"); put_task_struct",
            guard=rpc == ReaperPC.SET_SKIP, updates={skip: 1, rpc: ReaperPC.DONE},
        )
        finals.append(rpc == ReaperPC.DONE)

    # ---- process_mrelease ---------------------------------------------------------------------
    if with_mrel:
        mpc = m.var("mrel_pc", MrelPC, init=MrelPC.START, doc="where process_mrelease is")
        m_cur = m.var("mrel_cur", IntType(-1, k), init=-1 if order == "forward" else k)
        m_pi = m.var("mrel_pi", IntType(0, p_n - 1), init=0)
        g_m = m.array("g_mrel", PAGE, BOOL, init=0, doc="page reference in process_mrelease's gather")
        seen_m = m.array("seen_mrel", VMA, IntType(0, 2), init=0,
                         doc="ghost: times process_mrelease's iterator returned this VMA")
        fail_m = m.var("mrel_fail", BOOL, init=0)
        mz = _Zapper("mrelease", mpc, {n: getattr(MrelPC, n) for n in ZAPPER_PCS},
                     m_cur, m_pi, g_m, po.MRELEASE, fail_m, seen_m)
        zappers.append(mz)
        m.action(
            "mrelease_grab", func="process_mrelease", file=OOM_KILL, actor="mrelease",
            step="find_lock_task_mm finds a thread with the mm (exit_mmap has not started); "
                 "mmgrab; task_will_free_mem: false once MMF_OOM_SKIP is set (return)",
            guard=(mpc == MrelPC.START) & (epc == ExitPC.ENTRY),
            updates={mpc: ite(skip, MrelPC.DONE, MrelPC.LOCK)},
        )
        m.action(
            "mrelease_esrch", func="process_mrelease", file=OOM_KILL, actor="mrelease",
            step="find_lock_task_mm finds no thread with an mm: -ESRCH",
            guard=(mpc == MrelPC.START) & (epc != ExitPC.ENTRY),
            updates={mpc: MrelPC.DONE},
        )
        m.action(
            "mrelease_lock", func="mmap_read_lock_killable", file="include/linux/mmap_lock.h",
            actor="mrelease",
            step="blocking read lock: granted once no writer holds mmap_lock",
            guard=(mpc == MrelPC.LOCK) & (writer == Writer.NONE),
            updates={readers: readers + 1, mpc: MrelPC.CHECK},
        )
        m.action(
            "mrelease_check_skip", func="process_mrelease", file=OOM_KILL, actor="mrelease",
            step="MMF_OOM_SKIP tested again under the read lock; not set -> __oom_reap_task_mm "
                 "(sets MMF_UNSTABLE, walks)",
            guard=mpc == MrelPC.CHECK,
            updates={mpc: ite(skip, MrelPC.UNLOCK, MrelPC.ITER), unstable: unstable | ~skip},
        )
        walk(mz, "mrelease", order, True, True, notifier, MrelPC.WALKED, reap_iter)
        m.action(
            "mrelease_unlock", func="process_mrelease", file=OOM_KILL, actor="mrelease",
            step="mmap_read_unlock; mmdrop (-EAGAIN if a VMA was left; no retry, no MMF_OOM_SKIP)",
            guard=(mpc == MrelPC.WALKED) | (mpc == MrelPC.UNLOCK),
            updates={readers: readers - 1, mpc: MrelPC.DONE, fail_m: 0},
            each=(VMA, lambda v: {seen_m[v]: 0}),
        )
        finals.append(mpc == MrelPC.DONE)

    # ---- the victim thread holding mmap_lock for write ----------------------------------------
    if with_writer:
        m.action(
            "writer_gets_memory", func="__alloc_pages_slowpath", file="mm/page_alloc.c",
            actor="writer",
            step="the allocation under mmap_write_lock succeeds once the OOM killer has moved on "
                 "(MMF_OOM_SKIP on this mm lets it pick another victim); mmap_write_unlock; the "
                 "thread sees SIGKILL and exits (exit_mm -> mmput)",
            guard=(wpc == WriterPC.HOLD) & (skip if victim else TRUE),
            updates={writer: Writer.NONE, wpc: WriterPC.DONE},
        )
        finals.append(wpc == WriterPC.DONE)

    # ---- a live victim thread: madvise(MADV_DONTNEED) or munmap() ---------------------------------
    if thread != "none":
        tz = _Zapper("thread", tpc, {n: getattr(ThreadPC, n) for n in ("PTL", "PTL_LOCK", "HUGE",
                                                                      "ZAP")},
                     t_cur, t_pi, g_t, po.VICTIM_THREAD, None, None)
        zappers.append(tz)
        if thread == "dontneed":
            m.action(
                "thread_madvise", func="madvise_dontneed_single_vma", file="mm/madvise.c",
                actor="thread", params={"v": VMA},
                step="madvise(MADV_DONTNEED) on VMA v: the lock (mmap_read_lock; newer kernels "
                     "a per-VMA read lock, MADVISE_VMA_READ_LOCK: neither keeps the reapers' "
                     "read locks out), the VMA found; zap_page_range_single(_batched) with "
                     + ("details.reclaim_pt = true" if reclaim else "no PT reclaim")
                     + ", a gather of its own",
                guard=lambda v: (tpc == ThreadPC.START) & (writer == Writer.NONE)
                & (in_tree[v] if munmap else TRUE),
                updates=lambda v: {uaf: touch_vma(v), t_cur: v, tpc: ThreadPC.PTL,
                                   readers: readers + 1},
            )
            table_steps(tz, "thread", ThreadPC.FLUSH,
                        keep_ptl=ThreadPC.RECLAIM if reclaim else None)
            if reclaim:
                m.action(
                    "thread_reclaim_pt", func="try_get_and_clear_pmd", file="mm/pt_reclaim.c",
                    actor="thread", params={"v": VMA},
                    step="zap_pte_range, every entry none and the PTL still held: pmd lock, the "
                         "PMD read and cleared, unlock; pte_unmap_unlock; free_pte -> "
                         "pte_free_tlb: the table leaves with this gather, freed "
                         + ("after an RCU grace period (PT_RECLAIM needs "
                            "MMU_GATHER_RCU_TABLE_FREE)" if rcu_free else
                            "at once (variant table_free=immediate)")
                         + ". A PMD already cleared by someone else would make free_pte free "
                         "pmd_pgtable() of an empty PMD: not this thread's table",
                    guard=lambda v: (tpc == ThreadPC.RECLAIM) & (t_cur == v),
                    updates=lambda v: {
                        uaf: ite((uaf == Uaf.NONE) & (pmd[v] != Pmd.TABLE), Uaf.PTE_TABLE, uaf),
                        pmd[v]: Pmd.NONE,
                        table[v]: ite(pmd[v] == Pmd.TABLE,
                                      TableLife.RCU if rcu_free else TableLife.FREED, table[v]),
                        ptl[v]: po.FREE, tpc: ThreadPC.FLUSH,
                    },
                )
            after_flush = ThreadPC.UNLOCK
        else:
            isolate = knobs["munmap_isolate"] == "yes"
            m.action(
                "thread_munmap", func="do_vmi_align_munmap", file="mm/vma.c",
                actor="thread", params={"v": VMA},
                step="munmap() of VMA v: mmap_write_lock_killable (granted once no reader and no "
                     "writer holds mmap_lock), the VMA found; vms_gather_munmap_vmas next",
                guard=lambda v: (tpc == ThreadPC.START) & (readers == 0)
                & (writer == Writer.NONE) & in_tree[v],
                updates=lambda v: {uaf: touch_vma(v), t_cur: v, writer: Writer.VICTIM,
                                   tpc: ThreadPC.DETACH if isolate else ThreadPC.DOWNGRADE},
            )
            m.action(
                "thread_detach", func="vms_gather_munmap_vmas", file="mm/vma.c", actor="thread",
                params={"v": VMA},
                step=("vma_start_write, the VMA moved to the detached tree: the mm's tree no "
                      "longer has it (\"VMAs were isolated before we downgraded mmap_lock\")")
                if isolate else
                     ("the VMA leaves the mm's tree only now, after remove_vma, under the read "
                      "lock (variant munmap_isolate=no)"),
                guard=lambda v: (tpc == ThreadPC.DETACH) & (t_cur == v),
                updates=lambda v: {in_tree[v]: 0,
                                   tpc: ThreadPC.DOWNGRADE if isolate else ThreadPC.UNLOCK},
            )
            m.action(
                "thread_downgrade", func="vms_complete_munmap_vmas", file="mm/vma.c",
                actor="thread",
                step="mmap_write_downgrade: from here on readers (the reapers) run alongside; "
                     "vms_clear_ptes: unmap_vmas over the detached VMA",
                guard=tpc == ThreadPC.DOWNGRADE,
                updates={writer: Writer.NONE, readers: readers + 1, tpc: ThreadPC.PTL},
            )
            table_steps(tz, "thread", ThreadPC.FREE_PGTABLES)
            m.action(
                "thread_free_pgtables", func="free_pgtables", file=MEMORY, actor="thread",
                params={"v": VMA},
                step="vms_clear_ptes: unlink_file_vma, the PMD cleared, the PTE table to the "
                     "gather (tlb_remove_table: "
                     + ("freed after an RCU grace period)" if rcu_free else
                        "freed at once, variant table_free=immediate)"),
                guard=lambda v: (tpc == ThreadPC.FREE_PGTABLES) & (t_cur == v),
                updates=lambda v: {
                    pmd[v]: Pmd.NONE,
                    table[v]: ite(pmd[v] == Pmd.TABLE,
                                  TableLife.RCU if rcu_free else TableLife.FREED, table[v]),
                    tpc: ThreadPC.FLUSH,
                },
            )
            m.action(
                "thread_remove_vma", func="remove_vma", file="mm/vma.c", actor="thread",
                params={"v": VMA},
                step="vms_complete_munmap_vmas: remove_vma of the detached VMA (vm_area_free), "
                     "still under the read lock",
                guard=lambda v: (tpc == ThreadPC.REMOVE_VMA) & (t_cur == v),
                updates=lambda v: {vma_freed[v]: 1,
                                   tpc: ThreadPC.UNLOCK if isolate else ThreadPC.DETACH},
            )
            after_flush = ThreadPC.REMOVE_VMA
        m.action(
            "thread_tlb_finish", func="tlb_finish_mmu", file="mm/mmu_gather.c", actor="thread",
            step="the thread's gather: tlb_flush_mmu frees the gathered pages",
            guard=tpc == ThreadPC.FLUSH, updates={tpc: after_flush}, each=flush(tz),
        )
        m.action(
            "thread_unlock", func="mmap_read_unlock", file="include/linux/mmap_lock.h",
            actor="thread",
            step="the syscall returns; the thread sees SIGKILL and exits (exit_mm -> mmput)",
            guard=tpc == ThreadPC.UNLOCK,
            updates={readers: readers - 1, tpc: ThreadPC.DONE},
        )
        finals.append(tpc == ThreadPC.DONE)

    # ---- khugepaged: collapse_file, then retract_page_tables without mmap_lock -------------------
    if knobs["khugepaged"] == "retract":
        m.action(
            "khugepaged_collapse", func="collapse_file", file="mm/khugepaged.c",
            actor="khugepaged", params={"v": VMA},
            step="khugepaged (scanning any mm that maps the file) collapses the file range that "
                 "VMA v maps: a new huge folio locked, the small folios copied, then "
                 "try_to_unmap of each old folio (no mmap_lock of this mm is taken)",
            guard=lambda v: kpc == KhugePC.START,
            updates=lambda v: {k_cur: v, k_pi: 0, kpc: KhugePC.UNMAP},
        )

        def unmap(v: Param, p: Param) -> dict:
            pg = page_of(v, p)
            found = (pgt == Life.LIVE) & (pmd[v] == Pmd.TABLE) & pte[pg]
            last = p == p_n - 1
            return {pte[pg]: ite(found, 0, pte[pg]),
                    frees[pg]: ite(found, ite(frees[pg] == 0, 1, 2), frees[pg]),
                    k_pi: ite(last, 0, p + 1),
                    kpc: ite(last, KhugePC.CHECK_EXIT, KhugePC.UNMAP)}

        m.action(
            "khugepaged_unmap", func="try_to_unmap", file="mm/rmap.c", actor="khugepaged",
            params={"v": VMA, "p": PTE},
            step="the rmap walk finds VMA v (in the file's i_mmap until free_pgtables unlinks "
                 "it); page_vma_mapped_walk maps entry p and takes the PTL; a present entry is "
                 "cleared and the mapping's reference dropped (folio_remove_rmap_pte, folio_put)",
            guard=lambda v, p: (kpc == KhugePC.UNMAP) & (k_cur == v) & (k_pi == p)
            & (ptl[v] == po.FREE),
            updates=unmap,
        )
        m.action(
            "khugepaged_test_exit", func="retract_page_tables", file="mm/khugepaged.c",
            actor="khugepaged",
            step="collapse_test_exit(mm): mm_users is 0 once the last mmput has begun -> skip "
                 "this mm (a test without any lock: exit_mmap may start right after it)",
            guard=kpc == KhugePC.CHECK_EXIT,
            updates={kpc: ite(epc == ExitPC.ENTRY, KhugePC.RETRACT, KhugePC.DONE)},
        )
        m.action(
            "khugepaged_retract", func="retract_page_tables", file="mm/khugepaged.c",
            actor="khugepaged", params={"v": VMA},
            step="under i_mmap_rwsem (read): find_pmd_or_thp_or_none; pmd_lock, "
                 "check_pmd_state, the PTL nested; pmdp_collapse_flush clears the PMD; unlock; "
                 + ("pte_free_defer: the empty table is freed after an RCU grace period"
                    if rcu_free else "the empty table freed at once (variant table_free=immediate)")
                 + ". A VMA that free_pgtables already unlinked is not found",
            guard=lambda v: (kpc == KhugePC.RETRACT) & (k_cur == v) & (ptl[v] == po.FREE),
            updates=lambda v: {
                pmd[v]: ite((pgt == Life.LIVE) & (pmd[v] == Pmd.TABLE), Pmd.NONE, pmd[v]),
                table[v]: ite((pgt == Life.LIVE) & (pmd[v] == Pmd.TABLE),
                              TableLife.RCU if rcu_free else TableLife.FREED, table[v]),
                kpc: KhugePC.DONE,
            },
        )
        finals.append(kpc == KhugePC.DONE)

    # ---- the RCU grace period that frees a table taken out of its PMD -----------------------------
    if split and rcu_free:
        def mapped(z: _Zapper, v: Param) -> Expr:
            """z has table v mapped (pte_offset_map's rcu_read_lock held until pte_unmap)."""
            at: Expr = FALSE
            for key in ("PTL_LOCK", "ZAP"):
                if key in z.pcs:
                    at = at | (z.pc == z.pcs[key])
            if z is exit_z:  # the self-reap's pcs as well as unmap_vmas'
                at = at | (epc == ExitPC.SR_PTL_LOCK) | (epc == ExitPC.SR_ZAP) \
                    | (epc == ExitPC.UN_PTL_LOCK) | (epc == ExitPC.UN_ZAP)
            if z.name == "thread":
                at = at | (z.pc == ThreadPC.RECLAIM)
            return at & (z.cur == v)

        m.action(
            "rcu_free_pte_table", func="pte_free_now", file="mm/pgtable-generic.c", actor="rcu",
            params={"v": VMA},
            step="the RCU grace period ends (pte_free_defer's callback; tlb_remove_table_rcu in "
                 "mm/mmu_gather.c for a gather): the table is freed. A grace period waits for "
                 "every reader inside rcu_read_lock, so for every zapper that still has this "
                 "table mapped; the model lets it end as soon as those have unmapped it",
            guard=lambda v: (table[v] == TableLife.RCU)
            & all_of(*[~mapped(z, v) for z in zappers]),
            updates=lambda v: {table[v]: TableLife.FREED},
        )

    final = all_of(*finals)
    m.set_final(final)
    m.helpers["zappers"] = lambda: list(zappers)

    # ---- properties ---------------------------------------------------------------------------
    cov_terms = []
    for z in zappers[1:]:
        if z.seen is None:  # the live thread zaps one VMA it picked: no walk
            continue
        walked = ReaperPC.WALKED if z.name == "reaper" else MrelPC.WALKED
        cov_terms.append(implies(
            (z.pc == walked) & (tree == Tree.POPULATED),
            forall(VMA, lambda v, z=z: implies((kind[v] == VmaKind.ANON)
                                               & (in_tree[v] if munmap else TRUE),
                                               z.seen[v] == 1))))
    m.invariant(
        "reaper-coverage", all_of(*cov_terms),
        "when a reaper's walk over a populated tree ends (oom_reaper or process_mrelease), its "
        "iterator returned every reapable (ANON) VMA exactly once",
    )
    m.invariant(
        "no-double-free", forall(PAGE, lambda pg: frees[pg] <= 1),
        "no page reference is dropped twice (a page freed twice, or freed while still in use)",
    )
    m.invariant(
        "no-use-after-free", uaf == Uaf.NONE,
        "no zapper reads a vm_area_struct after remove_vma freed it, or works in a PTE table "
        "after free_pgtables freed it" + (" (or after a PT reclaim, a retraction or munmap "
                                          "freed it; a free_pte of a PMD that no longer points "
                                          "to the zapper's table counts too)" if split else ""),
    )
    m.invariant(
        "all-freed", implies(final, forall(PAGE, lambda pg: frees[pg] == 1)),
        "when every actor has finished, every page was freed exactly once",
    )
    m.invariant(
        "freed-only-when-unmapped", forall(PAGE, lambda pg: implies(frees[pg] >= 1, ~pte[pg])),
        "a page is freed only after the PTE that mapped it was cleared (a model sanity check)",
    )
    m.invariant(
        "skip-before-teardown",
        implies(pgt == Life.FREED, skip) if victim else TRUE,
        "for an OOM victim, MMF_OOM_SKIP is set before exit_mmap frees the page tables: the OOM "
        "killer is not kept waiting (oom_evaluate_task aborts on the victim) during the teardown",
    )
    m.eventually(
        "oom-progress", skip if victim else TRUE,
        "for an OOM victim, MMF_OOM_SKIP is eventually set, so the OOM killer can move on "
        "(weak fairness on every step; vacuous when the mm is not an OOM victim's)",
    )
    m.no_deadlock(
        "no-deadlock",
        "some step is enabled until every actor has finished (the model has no cycles, so this "
        "is termination of every actor)",
    )
    return m


def exit_stage_action(m: Model, stage: str, nxt: str) -> dict:
    """The keyword arguments of exit_mmap's non-walk stage `stage`, continuing at stage `nxt`."""
    epc, readers, writer = m.ref("exit_pc"), m.ref("readers"), m.ref("writer")
    skip, pgt, vmas, tree = m.ref("skip"), m.ref("pgtables"), m.ref("vmas"), m.ref("tree")
    g_exit, frees = m.ref("g_exit"), m.ref("frees")
    here = getattr(ExitPC, _stage_pc(stage))
    to = getattr(ExitPC, _stage_pc(nxt))
    form = m.knobs["exit_mmap"]
    common = {"actor": "exit", "file": MMAP, "func": "exit_mmap"}
    at = epc == here
    if stage == "ENTRY":
        victim_gone: Expr = TRUE
        if "writer_pc" in m.vars:
            victim_gone = m.ref("writer_pc") == WriterPC.DONE  # type: ignore[assignment]
        if "thread_pc" in m.vars:
            victim_gone = victim_gone & (m.ref("thread_pc") == ThreadPC.DONE)  # type: ignore[operator]
        if form == "current":
            return {**common, "step": "the last mmput: mmu_notifier_release; mmap_read_lock; "
                    "arch_exit_mmap; first VMA; tlb_gather_mmu_fullmm",
                    "guard": at & victim_gone & (writer == Writer.NONE),
                    "updates": {readers: readers + 1, epc: to}}
        what = {
            "pre2022": "mm_is_oom_victim() decides the self-reap branch",
            "5.17": "mm_is_oom_victim() decides the self-reap branch",
            "4.14": "munlock, arch_exit_mmap, tlb_gather_mmu; unmap_vmas without mmap_sem next",
            "4.15": "munlock, arch_exit_mmap, tlb_gather_mmu; unmap_vmas without mmap_sem next",
            "maple-merge": "mmap_write_lock next (held to the end)",
        }[form]
        return {**common, "step": f"the last mmput: mmu_notifier_release; {what}",
                "guard": at & victim_gone, "updates": {epc: to}}
    if stage == "READ_UNLOCK":
        return {**common, "step": "mmap_read_unlock after unmap_vmas",
                "guard": at, "updates": {readers: readers - 1, epc: to}}
    if stage == "SET_SKIP":
        where = {"current": "unconditionally, between the read unlock and mmap_write_lock",
                 "pre2022": "after the self-reap, before the write-lock fence",
                 "5.17": "after the self-reap, before mmap_write_lock",
                 "4.14": "unconditionally after unmap_vmas; then the fence only if "
                         "tsk_is_oom_victim(current)",
                 "4.15": "only if mm_is_oom_victim(mm) (MMF_OOM_VICTIM, set by "
                         "mark_oom_victim), before the fence",
                 "maple-merge": "after unmap_vmas, under the write lock"}[form]
        return {**common, "step": f"set_bit(MMF_OOM_SKIP) ({where})",
                "guard": at, "updates": {skip: 1, epc: to}}
    if stage in ("WRITE_WAIT", "FENCE_WAIT"):
        what = "mmap_write_lock for the teardown"
        if stage == "FENCE_WAIT":
            what = {"4.14": "tsk_is_oom_victim(current): the empty down_write/up_write fence",
                    "4.15": "mm_is_oom_victim(mm): the empty down_write/up_write fence"}.get(
                form, "the empty down_write/up_write fence")
        elif form == "maple-merge":
            what = "mmap_write_lock for the whole of exit_mmap"
        return {**common, "step": f"{what}: granted once every reader has left",
                "guard": at & (readers == 0) & (writer == Writer.NONE),
                "updates": {writer: Writer.EXIT_MMAP, epc: to}}
    if stage in ("FENCE_HELD", "WRITE_UNLOCK"):
        return {**common, "step": "mmap_write_unlock" + (" (end of the fence; the teardown "
                "below runs without mmap_lock)" if stage == "FENCE_HELD" else ""),
                "guard": at, "updates": {writer: Writer.NONE, epc: to}}
    if stage == "FREE_PGTABLES":
        each = None
        if "pmd" in m.vars:  # each table that is still in its PMD; one taken out earlier stays
            pmd, table = m.ref("pmd"), m.ref("pte_table")  # with its own free (RCU)
            each = (VMA, lambda v: {table[v]: ite(pmd[v] == Pmd.TABLE, TableLife.FREED, table[v]),  # type: ignore[index]
                                    pmd[v]: Pmd.NONE})  # type: ignore[index]
        return {**common, "func": "free_pgtables", "file": "mm/memory.c",
                "step": "unlink the VMAs from rmap, clear the PMD/PUD entries and free the PTE "
                        "tables (through the gather)",
                "guard": at, "updates": {pgt: Life.FREED, epc: to}, "each": each}
    if stage == "TLB_FINISH":
        return {**common, "func": "tlb_finish_mmu", "file": "mm/mmu_gather.c",
                "step": "exit_mmap's fullmm gather: tlb_flush_mmu frees every gathered page",
                "guard": at, "updates": {epc: to},
                "each": (PAGE, lambda pg: {frees[pg]: ite(g_exit[pg], ite(frees[pg] == 0, 1, 2),  # type: ignore[index]
                                                          frees[pg]),  # type: ignore[index]
                                           g_exit[pg]: 0})}  # type: ignore[index]
    if stage == "REMOVE_VMAS":
        return {**common, "func": "remove_vma",
                "file": "mm/vma.c" if form == "current" else MMAP,
                "step": "exit_mmap's loop: vma_mark_detached, remove_vma (->close, fput, "
                        "vm_area_free) for every VMA",
                "guard": at, "updates": {vmas: Life.FREED, epc: to}}
    if stage == "DESTROY_TREE":
        what = {"current": "__mt_destroy(&mm->mm_mt): the tree is empty",
                "5.17": "mm->mmap = NULL (f798a1d4f94d)",
                "pre2022": "mm->mmap = NULL (hypothetical here: after the unlocked teardown)",
                "4.14": "mm->mmap = NULL (hypothetical here: after the unlocked teardown)",
                "4.15": "mm->mmap = NULL (hypothetical here: after the unlocked teardown)",
                "maple-merge": "__mt_destroy(&mm->mm_mt); mm->mmap = NULL"}[form]
        return {**common, "step": what, "guard": at, "updates": {tree: Tree.EMPTY, epc: to}}
    raise ValueError(f"no exit_mmap stage {stage}")


def set_exit_stages(m: Model, stages: list[str]) -> None:
    """Reorder exit_mmap's stages (a patch that moves statements within exit_mmap): each stage's
    step is rebuilt to continue at its new successor; the walks keep their steps, only the step
    that ends them is retargeted."""
    old = m.helpers["exit_stages"]()
    if sorted(old) != sorted(stages) or stages[0] != "ENTRY" or stages[-1] != "DONE":
        raise ValueError("set_exit_stages may only reorder exit_mmap's existing stages")
    epc = m.ref("exit_pc")
    for a, b in itertools.pairwise(stages):
        if a in WALK_STAGES:
            name = {"UNMAP": "exit_unmap_iter_end", "SELF_REAP": "exit_self_reap_iter_end"}[a]
            act = m.actions[m.find_action(name)]
            to = getattr(ExitPC, _stage_pc(b))
            m.replace_action(
                name, func=act.func, file=act.file, step=act.step, actor=act.actor,
                guard=act.guard,
                updates={lhs: (to if isinstance(lhs, Var) and lhs.name == epc.name else rhs)
                         for lhs, rhs in act.updates},
            )
        else:
            m.replace_action(f"exit_{a.lower()}", **exit_stage_action(m, a, b))
    m.helpers["exit_stages"] = lambda: list(stages)
