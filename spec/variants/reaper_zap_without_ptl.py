"""The OOM reaper zaps PTEs without the page-table lock: a patch on the reaper's zap_pte_range.

Hypothetical. zap_pte_range() in mm/memory.c reads each PTE (ptep_get), derives the folio from it,
clears the entry and hands the folio reference to the gather (__tlb_remove_folio_pages), all under
the PTL taken by pte_offset_map_lock(): whoever clears a present entry owns its page reference
(docs/kernel-background.md §4.4). Here the reaper maps the table without taking the PTL, so
reading an entry and clearing it are two steps; exit_mmap's unmap_vmas, which still takes the PTL,
can clear the same entry in between. Both zappers then put the same page in their gathers and both
flushes drop it."""

from oomcheck.lang import Enum, ite
from oomcheck.models.reaper import PTE, VMA, Life, ReaperPC

MODEL = "reaper"
BASE = "reverse"

Ptent = Enum("ptent", ["UNREAD", "NONE", "PRESENT"])


def derive(m):
    if "reaper_pc" not in m.vars:  # oom_victim=no: no OOM reaper to patch
        return m
    p_n = m.domains[PTE]
    rpc, cur, pi = m.ref("reaper_pc"), m.ref("reaper_cur"), m.ref("reaper_pi")
    pte, gather, pgt, uaf = m.ref("pte"), m.ref("g_reaper"), m.ref("pgtables"), m.ref("uaf")
    touch_vma, touch_table = m.helpers["touch_vma"], m.helpers["touch_table"]
    page_of = m.helpers["page_of"]
    got = m.var("reaper_ptent", Ptent, init=Ptent.UNREAD,
                doc="what the reaper read from the current PTE and has not cleared yet")
    m.replace_action(
        "reaper_ptl", func="zap_pte_range", file="mm/memory.c", actor="reaper", params={"v": VMA},
        step="pte_offset_map() without taking the PTL: find the PTE table through the PMD",
        guard=lambda v: (rpc == ReaperPC.PTL) & (cur == v),
        updates=lambda v: {uaf: touch_vma(),
                           rpc: ite(pgt == Life.FREED, ReaperPC.FLUSH, ReaperPC.ZAP), pi: 0},
    )
    m.replace_action(
        "reaper_zap", func="zap_pte_range", file="mm/memory.c", actor="reaper",
        params={"v": VMA, "p": PTE},
        step="ptep_get() without the PTL: read PTE p; if present, the folio is taken from it",
        guard=lambda v, p: (rpc == ReaperPC.ZAP) & (cur == v) & (pi == p) & (got == Ptent.UNREAD),
        updates=lambda v, p: {uaf: touch_table(),
                              got: ite(pte[page_of(v, p)], Ptent.PRESENT, Ptent.NONE)},
    )
    m.action(
        "reaper_clear", func="zap_pte_range", file="mm/memory.c", actor="reaper",
        params={"v": VMA, "p": PTE},
        step="clear PTE p and, if it was read present, hand that folio's reference to the "
             "reaper's gather (__tlb_remove_folio_pages); after the last entry, tlb_finish_mmu next",
        guard=lambda v, p: (rpc == ReaperPC.ZAP) & (cur == v) & (pi == p) & (got != Ptent.UNREAD),
        updates=lambda v, p: {
            uaf: touch_table(),
            pte[page_of(v, p)]: 0,
            gather[page_of(v, p)]: gather[page_of(v, p)] | (got == Ptent.PRESENT),
            got: Ptent.UNREAD,
            rpc: ite(p == p_n - 1, ReaperPC.FLUSH, ReaperPC.ZAP),
            pi: ite(p == p_n - 1, 0, p + 1),
        },
    )
    return m
