"""Weak fairness in one small model: a CPU that keeps re-taking a spinlock starves a waiter.

Run from the repository root:  python3 docs/examples/weak_fairness.py
(docs/modeling.md, "Fairness", explains the output.)

Two actors share one lock. The `hog` takes it, releases it and takes it again, forever. The
`waiter` wants it once. Its step is enabled only while the lock is free, so it is not enabled
*continuously*, and weak fairness does not force it: the checker finds a fair cycle in which
the waiter never runs. Strong fairness ("enabled infinitely often") would rule that cycle out;
a FIFO lock (a queued spinlock, a mutex handing off to its first waiter) would too. So a
liveness violation that rests on this pattern is real for a trylock retry loop and may be a
false alarm for a lock that queues its waiters.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

from oomcheck.checker.explicit.search import check_explicit
from oomcheck.checker.render import result_text
from oomcheck.lang import BOOL, Model


def build() -> Model:
    m = Model("spin", sizes={"waiters": 1})
    m.actor("hog", "CPU 0 (hog)")
    m.actor("waiter", "CPU 1 (waiter)")
    held = m.var("held", BOOL, init=0, doc="the lock is held by the hog")
    got = m.var("got", BOOL, init=0, doc="the waiter has had the lock")
    m.action("hog_lock", func="spin_lock", file="kernel/locking/spinlock.c", actor="hog",
             step="the hog takes the lock", guard=~held, updates={held: 1})
    m.action("hog_unlock", func="spin_unlock", file="kernel/locking/spinlock.c", actor="hog",
             step="the hog releases it (and will take it again)", guard=held, updates={held: 0})
    m.action("waiter_lock", func="spin_trylock", file="kernel/locking/spinlock.c",
             actor="waiter", step="the waiter's trylock succeeds: the lock is free",
             guard=~held & ~got, updates={got: 1})
    m.set_final(got)
    m.eventually("waiter-gets-lock", got, "the waiter eventually gets the lock")
    return m


def main() -> int:
    m = build()
    (r,) = check_explicit(m, list(m.properties.values()))
    print(result_text(r))
    return 0 if r.verdict == "violated" else 1


if __name__ == "__main__":
    sys.exit(main())
