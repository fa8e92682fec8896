"""Soundness regression (a liveness counterexample replayed with clones): each thread drops its
reference once, and the property says the drain eventually passes a point where two threads
still hold one and three have dropped theirs. Violated at threads 2, 3 and 4 (there are not
five threads), holds from 5 on (the references go one at a time, so every run passes that point).
The threads=2 counterexample replayed with thread 1 cloned was once reported "violated for every
threads >= 2": the goal was checked only after all the clones had taken a step, never in between,
where with 5 threads it is true."""
from oomcheck.lang import BOOL, count
from oomcheck.models.freezer import THREAD

MODEL = "freezer"
BASE = "v10"


def derive(m):
    held = m.array("held", THREAD, BOOL, init=1, doc="the thread holds its reference")
    m.action("put_ref", func="put_ref", file="test/ref.c", actor=THREAD, params={"t": THREAD},
             step="drop the reference", guard=lambda t: held[t], updates=lambda t: {held[t]: 0})
    m.eventually("two-hold-three-dropped", (count(THREAD, lambda t: held[t]) >= 2)
                 & (count(THREAD, lambda t: ~held[t]) >= 3), "a middle point of the drain")
    return m
