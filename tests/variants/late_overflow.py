"""Soundness regression (CHC): a scan counter typed 0..63 that one step bumps with no bound,
so the 64th scan assigns 64, outside its type: a model error (the explicit engine: "action
scan assigns 64 to scans, outside its type"). The property scans-nonneg is true in every state
within the types. Spacer's clauses are unsatisfiable (the out-of-type state is reachable), BMC
to depth 60 finds no trace, and CHC answered "scans-nonneg: violated (shown by chc)"."""

from oomcheck.lang import IntType

MODEL = "freezer"
BASE = "v10"


def derive(m):
    scans = m.var("scans", IntType(0, 63), init=0, doc="OOM scans so far, 0..63")
    m.action("scan", func="out_of_memory", file="mm/oom_kill.c", actor="oom", step="one more scan",
             guard=True, updates={scans: scans + 1})
    m.invariant("scans-nonneg", scans >= 0, "the scan counter is never negative")
    return m
