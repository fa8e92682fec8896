"""Regression: v10 whose thaw loop only thaws the first two threads (a bug from 3 threads on). The
thread parameter compared with 2 is found only while the counter system reads the guard, and
--engine parametric and auto stopped with an error there instead of answering (auto: explicitly)."""
from oomcheck.models.freezer import THREAD, OomPC

MODEL = "freezer"
BASE = "v10"


def derive(m):
    oom_pc, thawed, frozen = m.ref("oom_pc"), m.ref("thawed"), m.ref("frozen")
    m.replace_action("thaw", func="__thaw_task", file="kernel/freezer.c", actor="oom",
                     params={"t": THREAD}, step="thaw at most the first two threads",
                     guard=lambda t: (oom_pc == OomPC.THAW) & ~thawed[t],
                     updates=lambda t: {frozen[t]: frozen[t] & ~(t < 2), thawed[t]: 1})
    return m
