"""Soundness regression (wrong answer 8): a counter typed 0..3 that overflows once 4 threads
have exited (threads >= 4). Its bound was dropped by the parametric engine: "proved"."""

from oomcheck.lang import BOOL, IntType
from oomcheck.models.freezer import THREAD, ThreadPC

MODEL = "freezer"
BASE = "v10"


def derive(m):
    pc = m.ref("pc")
    noted = m.array("noted", THREAD, BOOL, init=0, doc="the exit has been counted")
    exits = m.var("exits", IntType(0, 3), init=0, doc="threads that have exited, 0..3")
    m.action("count_exit", func="count_exit", file="test/exits.c", actor=THREAD,
             params={"t": THREAD}, step="count one exited thread",
             guard=lambda t: (pc[t] == ThreadPC.EXITED) & ~noted[t],
             updates=lambda t: {noted[t]: 1, exits: exits + 1})
    m.invariant("exits-in-range", exits >= 0, "the counter is never negative")
    return m
