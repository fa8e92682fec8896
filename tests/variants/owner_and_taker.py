"""Soundness regression (an index that reads the state): the taker takes the token from its
owner, clearing held[owner] and setting held[t] in one step. When owner == t both writes hit
one slot, so the step is refused at every size."""

from oomcheck.lang import BOOL, IntType
from oomcheck.models.freezer import THREAD

MODEL = "freezer"
BASE = "v10"


def derive(m):
    held = m.array("held", THREAD, BOOL, init=0, doc="the thread holds the token")
    n = m.sizes["threads"]
    owner = m.var("owner", IntType(0, n - 1), init=0, doc="the thread that last took the token")
    m.action("take", func="take_token", file="test/token.c", actor=THREAD, params={"t": THREAD},
             step="a thread takes the token from its owner",
             updates=lambda t: {held[owner]: 0, held[t]: 1, owner: t})
    m.invariant("one-holder", held[0] | ~held[0], "a trivial invariant: the step is the bug")
    return m
