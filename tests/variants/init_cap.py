"""Soundness regression: an initial constraint over the threads (at most three start frozen by an
earlier freeze) that the small counterexample meets and its clones do not. The siblings all start
frozen at threads = 2, 3 and 4, never from 5 on; replaying threads = 2 with thread 1 cloned gave
"violated for every threads >= 2" from an initial state the model does not have."""

from oomcheck.lang import BOOL, count
from oomcheck.models.freezer import THREAD

MODEL = "freezer"
BASE = "v10"


def derive(m):
    n = m.sizes["threads"]
    early = m.array("early", THREAD, BOOL, init=(0, 1), doc="started frozen by an earlier freeze")
    m.constrain_init(count(THREAD, lambda t: early[t]) <= 3)
    m.invariant("not-all-early", count(THREAD, lambda t: early[t]) != n - 1,
                "the siblings did not all start frozen")
    return m
