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
  RWSEM_READ_FAILED_MASK includes RWSEM_FLAG_WAITERS (this settles the digest's [unverified]
  point), but a writer still spinning optimistically has not set it yet, so success is also allowed.
- The mmu notifier's non-blocking start may fail on any VMA at any time (knob `notifier=may_fail`),
  an over-approximation: the model does not rely on mmu_notifier_release having unhooked the
  subscribers (digest: "from memory"; mmu_interval_notifiers are not unhooked by it).
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
"""

from __future__ import annotations

import itertools

from oomcheck.checker.language.lang import (
    BOOL,
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
}
DEFAULT_KNOBS = {"walk": "reverse", "top_vma": "no", "exit_mmap": "current",
                 "tree_emptied_under_lock": "yes", "oom_victim": "yes", "mrelease": "no",
                 "mmap_writer": "no", "notifier": "may_fail", "vma_kinds": "mixed",
                 "last_mmput": "victim", "reap_retries": "3"}
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
])
MrelPC = Enum("mrelease_pc", [
    "START",     # find_lock_task_mm + mmgrab + task_will_free_mem next
    "LOCK",      # mmap_read_lock_killable next (blocking)
    "CHECK",
    "ITER", "NOTIFY", "PTL", "ZAP", "FLUSH",
    "WALKED",
    "UNLOCK",
    "DONE",
])
WriterPC = Enum("writer_pc", ["HOLD", "DONE"])

OOM_KILL, MMAP, MEMORY = "mm/oom_kill.c", "mm/mmap.c", "mm/memory.c"


def _times(e: Operand, n: int) -> Expr:
    out = lift(e)
    for _ in range(n - 1):
        out = out + e
    return out


def page_of(v: Operand, p: Operand, ptes: int) -> Expr:
    """The page index v*P + p (the language has no multiplication)."""
    return _times(v, ptes) + p


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
    m.domain(PAGE, k * p_n)
    m.domain(PTE, p_n)
    victim = knobs["oom_victim"] == "yes"
    with_mrel = knobs["mrelease"] == "yes"
    with_writer = knobs["mmap_writer"] == "yes"
    top = 1 if knobs["top_vma"] == "yes" else 0
    retries = int(knobs["reap_retries"])
    m.helpers["reap_attempts"] = lambda: retries
    m.actor("exit", "exit_mmap")
    m.actor("reaper", "oom_reaper")
    m.actor("mrelease", "process_mrelease")
    m.actor("writer", "victim thread")

    # ---- state -------------------------------------------------------------------------------
    kind = m.array("kind", VMA, VmaKind,
                   init=(VmaKind.ANON, VmaKind.SHARED) if knobs["vma_kinds"] == "mixed"
                   else VmaKind.ANON,
                   doc="ANON: reaped by __oom_reap_task_mm; SHARED: skipped by it")
    pte = m.array("pte", PAGE, BOOL, init=1, doc="the PTE mapping this page is present")
    frees = m.array("frees", PAGE, IntType(0, 2), init=0,
                    doc="ghost: how many times this page's reference was dropped (saturates at 2)")
    ptl = m.array("ptl", VMA, PtlOwner, init=PtlOwner.FREE, doc="holder of the PTE table's PTL")
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

    def touch_vma() -> Expr:
        """A step that reads a vm_area_struct."""
        return ite((uaf == Uaf.NONE) & (vmas == Life.FREED), Uaf.VMA, uaf)

    def touch_table() -> Expr:
        """A step that reads the VMA and works inside its PTE table."""
        return ite(uaf != Uaf.NONE, uaf,
                   ite(vmas == Life.FREED, Uaf.VMA, ite(pgt == Life.FREED, Uaf.PTE_TABLE, uaf)))

    writer_waiting = (epc == ExitPC.WRITE_WAIT) | (epc == ExitPC.FENCE_WAIT)
    m.helpers.update(touch_vma=touch_vma, touch_table=touch_table,
                     writer_waiting=lambda: writer_waiting,
                     page_of=lambda v, p: page_of(v, p, p_n))

    def flush(z: _Zapper) -> dict:
        """tlb_finish_mmu / tlb_flush_mmu: drop every gathered page reference."""
        ups: dict = {}
        for pg in range(k * p_n):
            ups[frees[pg]] = ite(z.gather[pg], ite(frees[pg] == 0, 1, 2), frees[pg])
            ups[z.gather[pg]] = 0
        return ups

    # ---- a generic VMA walk ------------------------------------------------------------------
    def walk(z: _Zapper, prefix: str, order: str, reap_rules: bool, per_vma_flush: bool,
             notifier: bool, done_pc: Expr, iter_info: tuple[str, str, str]) -> None:
        pcs = z.pcs
        func, file, step = iter_info
        start = -1 if order == "forward" else k
        after_table = pcs["FLUSH"] if per_vma_flush else pcs["ITER"]

        def yields(v: Param) -> Expr:
            if order == "forward":
                return z.cur == v - 1
            if order == "reverse":
                return z.cur == v + 1
            first = (z.cur == k) & (v == k - 1 - top)  # mas_prev: the ULONG_MAX range skipped
            later = (z.cur == v + 1) & (z.cur != k)
            return first | later

        if order == "forward":
            ends = z.cur == k - 1
        elif order == "reverse":
            ends = z.cur == 0
        else:
            ends = (z.cur == 0) | ((z.cur == k) & (k - 1 - top < 0))

        def visit(v: Param) -> dict:
            if reap_rules:
                nxt = ite(kind[v] == VmaKind.SHARED, pcs["ITER"],
                          pcs["NOTIFY"] if notifier else pcs["PTL"])
            else:
                nxt = pcs["PTL"]
            ups = {z.cur: v, z.pc: nxt, uaf: touch_vma()}
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
        m.action(
            f"{prefix}_ptl", func="zap_pte_range", file=MEMORY, actor=z.name, params={"v": VMA},
            step="pte_offset_map_lock(): find the PTE table through the PMD and take its PTL "
                 "(spins while another zapper holds it); a PMD cleared by free_pgtables means "
                 "there is nothing to zap",
            guard=lambda v: (z.pc == pcs["PTL"]) & (z.cur == v) & (ptl[v] == PtlOwner.FREE),
            updates=lambda v: {
                uaf: touch_vma(),
                ptl[v]: ite(pgt == Life.FREED, PtlOwner.FREE, z.owner),
                z.pc: ite(pgt == Life.FREED, after_table, pcs["ZAP"]),
                z.pi: 0,
            },
        )

        def zap(v: Param, p: Param) -> dict:
            pg = page_of(v, p, p_n)
            last = p == p_n - 1
            return {
                uaf: touch_table(),
                pte[pg]: 0,
                z.gather[pg]: z.gather[pg] | pte[pg],
                ptl[v]: ite(last, PtlOwner.FREE, ptl[v]),
                z.pc: ite(last, after_table, pcs["ZAP"]),
                z.pi: ite(last, 0, p + 1),
            }

        m.action(
            f"{prefix}_zap", func="zap_pte_range", file=MEMORY, actor=z.name,
            params={"v": VMA, "p": PTE},
            step="under the PTL: read PTE p; if present clear it and hand the page reference to "
                 "this zapper's gather (__tlb_remove_folio_pages); after the table's last entry "
                 "pte_unmap_unlock()",
            guard=lambda v, p: (z.pc == pcs["ZAP"]) & (z.cur == v) & (z.pi == p),
            updates=zap,
        )
        if per_vma_flush:
            m.action(
                f"{prefix}_tlb_finish", func="tlb_finish_mmu", file="mm/mmu_gather.c",
                actor=z.name,
                step="end of the VMA in __oom_reap_task_mm: tlb_flush_mmu frees the gathered pages",
                guard=z.pc == pcs["FLUSH"], updates={**flush(z), z.pc: pcs["ITER"]},
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

    exit_z = _Zapper("exit", epc, {}, e_cur, e_pi, g_exit, PtlOwner.EXIT_MMAP, None, None)

    # ---- exit_mmap ---------------------------------------------------------------------------
    stages = exit_stages(knobs)
    for a, b in itertools.pairwise(stages):
        nxt = getattr(ExitPC, _stage_pc(b))
        if a == "UNMAP":
            exit_z.pcs = {"ITER": ExitPC.UN_ITER, "PTL": ExitPC.UN_PTL, "ZAP": ExitPC.UN_ZAP,
                          "FLUSH": ExitPC.UN_ITER}
            walk(exit_z, "exit_unmap", "forward", False, False, False, nxt,
                 ("unmap_vmas", MEMORY,
                  "exit_mmap's unmap_vmas(.., 0, ULONG_MAX): mas_find() returns the next VMA, "
                  "ascending, every kind."))
        elif a == "SELF_REAP":
            exit_z.pcs = {"ITER": ExitPC.SR_ITER, "PTL": ExitPC.SR_PTL, "ZAP": ExitPC.SR_ZAP,
                          "FLUSH": ExitPC.SR_FLUSH}
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
        rz = _Zapper("reaper", rpc, {n: getattr(ReaperPC, n) for n in
                                     ("ITER", "NOTIFY", "PTL", "ZAP", "FLUSH")},
                     r_cur, r_pi, g_r, PtlOwner.OOM_REAPER, fail_r, seen_r)
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
                **{seen_r[v]: 0 for v in range(k)},
            },
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
        mz = _Zapper("mrelease", mpc, {n: getattr(MrelPC, n) for n in
                                       ("ITER", "NOTIFY", "PTL", "ZAP", "FLUSH")},
                     m_cur, m_pi, g_m, PtlOwner.MRELEASE, fail_m, seen_m)
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
            updates={readers: readers - 1, mpc: MrelPC.DONE, fail_m: 0,
                     **{seen_m[v]: 0 for v in range(k)}},
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

    final = all_of(*finals)
    m.set_final(final)
    m.helpers["zappers"] = lambda: list(zappers)

    # ---- properties ---------------------------------------------------------------------------
    cov_terms = []
    for z in zappers[1:]:
        walked = ReaperPC.WALKED if z.name == "reaper" else MrelPC.WALKED
        cov_terms.append(implies(
            (z.pc == walked) & (tree == Tree.POPULATED),
            forall(VMA, lambda v, z=z: implies(kind[v] == VmaKind.ANON, z.seen[v] == 1))))
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
        "after free_pgtables freed it",
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
        return {**common, "func": "free_pgtables", "file": "mm/memory.c",
                "step": "unlink the VMAs from rmap, clear the PMD/PUD entries and free the PTE "
                        "tables (through the gather)",
                "guard": at, "updates": {pgt: Life.FREED, epc: to}}
    if stage == "TLB_FINISH":
        ups: dict = {}
        n = m.domains[PAGE]
        for pg in range(n):
            ups[frees[pg]] = ite(g_exit[pg], ite(frees[pg] == 0, 1, 2), frees[pg])
            ups[g_exit[pg]] = 0
        return {**common, "func": "tlb_finish_mmu", "file": "mm/mmu_gather.c",
                "step": "exit_mmap's fullmm gather: tlb_flush_mmu frees every gathered page",
                "guard": at, "updates": {**ups, epc: to}}
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
