"""Soundness regression (wrong answer 3): a sibling step that writes a global array indexed by
another domain (one token handed to whichever sibling takes it). The invariant is violated at
threads = 2 only; cloning the taker once gave "violated for every threads >= 2"."""

from oomcheck.lang import BOOL, count
from oomcheck.models.freezer import THREAD

MODEL = "freezer"
BASE = "v10"


def derive(m):
    n = m.sizes["threads"]
    slot = m.domain("slot", 1)
    tok = m.array("tok", slot, BOOL, init=1, doc="the token is free")
    held = m.array("held", THREAD, BOOL, init=0, doc="the thread holds the token")
    m.action("take", func="take_token", file="test/token.c", actor=THREAD, params={"t": THREAD},
             step="a sibling takes the free token",
             guard=lambda t: tok[0] & ~held[t] & (t != 0),
             updates=lambda t: {held[t]: 1, tok[0]: 0})
    m.invariant("not-every-sibling-holds", count(THREAD, lambda t: held[t]) != n - 1,
                "the siblings do not all hold the token")
    return m
