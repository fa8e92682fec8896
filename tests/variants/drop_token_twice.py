"""Soundness regression (one slot written twice): the taker marks itself and "thread 0 drops
its token" in the same step. For t = 0 the step writes held[0] twice; updates are simultaneous,
so that step means nothing, and engines once disagreed on it (the compiler refused it, the Z3
encodings let the last write win)."""

from oomcheck.lang import BOOL
from oomcheck.models.freezer import THREAD

MODEL = "freezer"
BASE = "v10"


def derive(m):
    held = m.array("held", THREAD, BOOL, init=0, doc="the thread holds a token")
    m.action("take", func="take_token", file="test/token.c", actor=THREAD, params={"t": THREAD},
             step="a thread takes a token while thread 0 drops its own",
             guard=lambda t: ~held[t],
             updates=lambda t: {held[t]: 1, held[0]: 0})
    m.invariant("thread-0-never-holds", ~held[0], "thread 0 never keeps a token")
    return m
