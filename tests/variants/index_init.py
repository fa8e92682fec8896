"""Soundness regression (wrong answer 1): a per-thread initial value that differs only for
threads with index >= 4. Violated at threads >= 5; once "proved for every threads >= 2"."""

from oomcheck.lang import BOOL, forall
from oomcheck.models.freezer import THREAD

MODEL = "freezer"
BASE = "v10"


def derive(m):
    early = m.array("early", THREAD, BOOL, init=lambda i: 1 if i >= 4 else 0,
                    doc="set from the start on threads 4 and up")
    m.invariant("no-early-thread", forall(THREAD, lambda t: ~early[t]), "no thread starts early")
    return m
