"""Soundness regression (Z3 engines): a scalar named like an array element. The variant keeps
a copy of thread 1's state as it was when the OOM killer started, in a scalar it calls
"pc[1]" (the array element's printed name). The Z3 encodings named every state slot by its
printed name, so the scalar and the array element pc[1] were one Z3 constant: a step of
thread 1 (which writes pc[1] and not the scalar) was impossible, and thread1-not-exited was
"proved by chc" / "proved by k-induction"; the explicit engine violates it. The language now
refuses the name (a variable name is an identifier); the engines keep the slots apart anyway."""

from oomcheck.models.freezer import ThreadPC

MODEL = "freezer"
BASE = "v10"


def derive(m):
    pc = m.ref("pc")
    m.var("pc[1]", ThreadPC, init=ThreadPC.RUNNING, doc="thread 1's state when the OOM killer started")
    m.invariant("thread1-not-exited", pc[1] != ThreadPC.EXITED, "thread 1 never exits")
    return m
