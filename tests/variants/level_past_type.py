"""Soundness regression (a clone's step out of its type at some N): each sibling passes once and
records a level, 1, or 2 when its level plus the thread count reaches 5, outside the level's type
0..1. The invariant "some sibling has not passed" is violated at threads 2, 3 and 4; from 5 on the
first pass is a model error (the explicit engine stops there), so no run reaches the violation.
The threads=2 counterexample with thread 1 cloned was once reported "violated for every
threads >= 2": the replay checked the globals' and the named thread's types after each step,
not that the clones stayed within theirs (out of its type a clone is in no local state: the
counts no longer add up to the threads)."""
from oomcheck.lang import BOOL, IntType, exists, ite
from oomcheck.models.freezer import THREAD

MODEL = "freezer"
BASE = "v10"


def derive(m):
    n = m.sizes["threads"]
    done = m.array("done", THREAD, BOOL, init=0, doc="the thread has passed")
    level = m.array("level", THREAD, IntType(0, 1), init=0, doc="the level it recorded")
    m.action("pass_once", func="pass_once", file="test/pass.c", actor=THREAD, params={"t": THREAD},
             step="a sibling passes once", guard=lambda t: ~done[t] & (t != 0),
             updates=lambda t: {done[t]: 1, level[t]: ite(level[t] + n >= 5, 2, 1)})
    m.invariant("some-sibling-left", exists(THREAD, lambda t: ~done[t] & (t != 0)),
                "a sibling has not passed")
    return m
