"""Soundness regression (Z3 engines): init constraints that exclude every initial state. A
reserve counter starts at 0 or 1, and an init constraint (meant for another counter) asks
for 2: the model has no initial state. The explicit engine refuses it ("the model has no
initial state"); CHC answered "proved by chc" (invariant False), k-induction and BMC "holds
up to depth D", and --invariant "proved by inductive invariant" for reserve-always-full,
which is false in every state of the type but 3."""

from oomcheck.lang import IntType

MODEL = "freezer"
BASE = "v10"


def derive(m):
    reserve = m.var("reserve", IntType(0, 3), init=(0, 1), doc="pages held back, 0..3")
    m.constrain_init(reserve == 2)
    m.invariant("reserve-always-full", reserve == 3, "false unless reserve is 3")
    return m
