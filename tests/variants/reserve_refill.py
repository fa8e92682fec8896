"""Soundness regression (--invariant): a reserve pool that may start full (0..3 pages) and
is drained one page per step (the freezer's own steps are removed: the reserve alone), so
reserve-not-full is violated in an initial state. The invariant file reserve_refill_inv.py
"assumes" a start below the watermark with m.constrain_init and returns reserve <= 2: the
engines then checked the model it had changed, and answered "reserve-not-full: holds (proved
by inductive invariant)"."""

from oomcheck.lang import IntType

MODEL = "freezer"
BASE = "v10"


def derive(m):
    for a in list(m.actions):
        m.remove_action(a.name)
    reserve = m.var("reserve", IntType(0, 3), init=(0, 1, 2, 3), doc="pages in the reserve")
    m.action("drain", func="drain_reserve", file="mm/page_alloc.c", actor="oom",
             step="take a page from the reserve", guard=reserve > 0,
             updates={reserve: reserve - 1})
    m.invariant("reserve-not-full", reserve != 3, "the reserve is never full")
    return m
