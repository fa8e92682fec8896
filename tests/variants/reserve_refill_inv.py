"""The inductive-invariant file for reserve_refill.py: it changes the model it is given (an
init constraint) instead of only returning an expression."""

from oomcheck.lang import lift


def invariant(m):
    reserve = m.ref("reserve")
    m.constrain_init(reserve <= 2)  # "assume" the reserve starts below its watermark
    return lift(reserve <= 2)
