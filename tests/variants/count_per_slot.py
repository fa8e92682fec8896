"""Soundness regression (a scalar written by a broadcast): each element of a two-slot domain
sets the same counter, so the one step writes `last` twice."""

from oomcheck.lang import IntType
from oomcheck.models.freezer import THREAD

MODEL = "freezer"
BASE = "v10"


def derive(m):
    m.domain("slot", 2)
    last = m.var("last", IntType(0, 1), init=0, doc="the slot seen last")
    m.action("scan", func="scan_slots", file="test/slots.c", actor=THREAD, params={"t": THREAD},
             step="record each slot as the last one seen",
             each=("slot", lambda k: {last: k}))
    m.invariant("last-is-0", last == 0, "the last slot seen is slot 0")
    return m
