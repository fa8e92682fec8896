"""Soundness regression (wrong answer 2): a second domain (per CPU) whose size follows the thread
count, with a guard on a count over it. Violated at threads >= 4; once "proved for every N"."""

from oomcheck.lang import BOOL, count

MODEL = "freezer"
BASE = "v10"


def derive(m):
    cpu = m.domain("cpu", m.sizes["threads"])
    busy = m.array("busy", cpu, BOOL, init=0, doc="a CPU has taken a victim page")
    m.action("claim", func="claim_cpu", file="test/percpu.c", actor="oom", params={"c": cpu},
             step="claim one more CPU while fewer than 4 are busy",
             guard=lambda c: ~busy[c] & (count(cpu, lambda x: busy[x]) < 4),
             updates=lambda c: {busy[c]: 1})
    m.invariant("fewer-than-4-busy", count(cpu, lambda x: busy[x]) < 4, "never four busy CPUs")
    return m
