"""Soundness regression (BMC liveness): a counter called "act" whose values need 16-bit
bit-vectors. BMC's lasso search names the action taken at step k act@k (16 bits), and the
state slots were named name@k: the counter at state k and the action id at step k were one
Z3 constant, and the only fair loop (2 -> 8000 -> 2, never 9000) was lost: "reaches-9000:
holds (bmc, holds up to depth 8 only)"; the explicit engine violates it (a lasso of 4 steps).
The freezer's own steps are removed: the counter alone."""

from oomcheck.lang import IntType

MODEL = "freezer"
BASE = "v10"


def derive(m):
    for a in list(m.actions):
        m.remove_action(a.name)
    act = m.var("act", IntType(0, 9000), init=0, doc="reclaim activity level, 0..9000")
    m.action("tick", func="kswapd", file="mm/vmscan.c", actor="oom", step="more activity",
             guard=act < 2, updates={act: act + 1})
    m.action("spike", func="kswapd", file="mm/vmscan.c", actor="oom", step="a spike",
             guard=act == 2, updates={act: 8000})
    m.action("settle", func="kswapd", file="mm/vmscan.c", actor="oom", step="back to 2",
             guard=act == 8000, updates={act: 2})
    m.eventually("reaches-9000", act == 9000, "the activity level eventually reaches 9000")
    return m
