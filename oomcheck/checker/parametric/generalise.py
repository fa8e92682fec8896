"""A counterexample at the smallest size, replayed for every larger N.

The extra threads are clones of one thread of the small counterexample: whenever that thread
steps, all its clones take the same step one after the other. That is a real run of the N-thread
model only if no clone's step changes what the next clone sees: the step writes only its own
thread's locals and reads only those, the named threads' and the globals (checked per step,
`_clone_safe`). That the first state is an initial state (the initial constraints hold with the
clones), every guard, every state within the types and the final violation are then proved by
Z3 for all N at once. For a liveness counterexample the goal must be false not only after
each step of the small run but in every state a step of the clones passes through (some of them
moved, the others not yet): the run with clones visits those states too.
"""

from __future__ import annotations

import z3

from oomcheck.checker.language.compile import Layout
from oomcheck.checker.language.lang import Action, Const, Expr, Index, Model, Op, Param, Property, Quant
from oomcheck.checker.parametric.counters import CounterSystem, CState, Thread
from oomcheck.checker.trace import Trace


def _valid(cs: CounterSystem, f: z3.BoolRef, timeout: float, base: int) -> bool:
    sol = z3.Solver()
    sol.set("timeout", max(1, int(timeout * 1000)))
    sol.add(cs.N >= base, z3.Not(f))
    return sol.check() == z3.unsat


def _clone_safe(cs: CounterSystem, a: Action) -> bool:
    """Clones of a thread can each take this step in turn, every one seeing what the original
    saw, only if it writes nothing but its own thread's locals (so no clone changes what another
    reads) and reads its own locals, the named threads' locals and the globals, never another
    interchangeable thread's state (no quantifier or count over the threads)."""
    if a.each:
        return False
    own = {p.name for p in a.params if p.domain == cs.domain}

    def thread_array(name: str) -> bool:
        return cs.model.vars[name].domain == cs.domain

    def own_index(e: Expr) -> bool:
        return isinstance(e, Param) and e.name in own

    def reads_ok(e: Expr) -> bool:
        if isinstance(e, Quant):
            return e.domain != cs.domain and reads_ok(e.body)
        if isinstance(e, Index):
            if thread_array(e.array):
                return own_index(e.index) or (isinstance(e.index, Const) and e.index.value in cs.dist)
            return reads_ok(e.index)
        if isinstance(e, Op):
            return all(reads_ok(x) for x in e.args)
        return True

    for lhs, rhs in a.updates:
        if not (isinstance(lhs, Index) and thread_array(lhs.array) and own_index(lhs.index)):
            return False
        if not reads_ok(rhs):
            return False
    return reads_ok(a.guard)


def generalise(cs: CounterSystem, model: Model, p: Property, trace: Trace,
               timeout: float = 30.0) -> str | None:
    """How a counterexample of `model` (base threads) extends to every N >= base, or None."""
    base = model.domains[cs.domain]
    p = cs.model.properties[p.name]  # as stated for every N, not as folded at N = base
    if trace.path is None or base < cs.lo:
        return None
    states, acts = trace.path
    lay = Layout(model)
    keys = [(n, i) for n, i, _ in lay.slots]
    vals = [dict(zip(keys, lay.decode(s), strict=True)) for s in states]
    insts = model.instances()
    sibs = [i for i in range(base) if i not in cs.dist]
    for clone in reversed(sibs):
        why = _replay(cs, p, trace, vals, [insts[a] for a in acts], sibs, clone, timeout, base)
        if why is not None:
            return why
    return None


def _replay(cs, p, trace, vals, insts, sibs, clone, timeout, base) -> str | None:
    def valid(f: z3.BoolRef) -> bool:
        return _valid(cs, f, timeout, base)

    extra = cs.N - base  # how many clones beyond the small counterexample's own thread
    size = {i: (1 + extra if i == clone else z3.IntVal(1)) for i in sibs}

    def local(v: dict, i: int) -> tuple:
        return tuple(v[(n, i)] for n in cs.locals)

    def state(v: dict) -> CState:
        proto = cs.fresh("p")
        c: dict = {x: z3.IntVal(0) for x in cs.local_states}
        for i in sibs:
            c[local(v, i)] = c[local(v, i)] + size[i]
        return CState({k: z3.IntVal(v[k]) for k in proto.g}, {k: z3.IntVal(v[k]) for k in proto.d}, c)

    st = state(vals[0])
    # the first state, with the clones, must be an initial state for every N: an initial
    # constraint over the threads (a count, a forall) may allow the small one and no bigger one
    if not valid(cs.init(st)):
        return None
    seq = [st]
    # the clones of a step take it one after the other: between seq[j] and seq[j + 1] the run
    # passes through the states where only some of them have (a liveness goal may hold there)
    batches: list[tuple[int, object, CState, z3.ArithRef]] = []
    for j, inst in enumerate(insts):
        binding: dict[str, object] = {}
        mover = None
        for name, v in inst.binding:
            par = next(q for q in inst.action.params if q.name == name)
            if par.domain != cs.domain:
                binding[name] = v
            elif v in cs.dist:
                binding[name] = Thread(dist=v)
            else:
                binding[name] = Thread(local=local(vals[j], v))
                mover = v
        mv = next((m for m in cs.moves if m.action.name == inst.action.name
                   and m.binding == binding), None)
        if mv is None:
            return None
        k = size[mover] if mover is not None else 1
        if mover == clone and not _clone_safe(cs, inst.action):
            return None
        if not valid(cs.guard(mv, st)):
            return None
        if not isinstance(k, int):
            batches.append((j, mv, st, k))
        st = cs.apply(mv, st, k)
        # and within the types: a global computed from the clones (a count) may leave its range
        # at some N, a model error there, not a violation; so may a clone's own local (then it
        # is in no local state, and the counts no longer add up to the threads)
        if not valid(cs.well_formed(st)):
            return None
        seq.append(st)
    last = seq[-1]
    if p.kind == "invariant":
        ok = valid(z3.Not(cs.pred(p.expr, last)))  # type: ignore[arg-type]
    elif p.kind == "deadlock":
        ok = valid(cs.deadlocked(last))
    elif p.is_liveness and trace.stutter:
        pre = p.pre if p.kind == "leads_to" else None
        goal = p.expr
        start = 0
        if pre is not None:
            start = next((j for j in range(len(seq))
                          if valid(cs.pred(pre, seq[j]))), None)  # type: ignore[assignment]
            if start is None:
                return None
        # the goal is false in every state a clone batch passes through (i of its k clones
        # moved, 0 <= i <= k: the states in between included), in every other state from the
        # start on, and the loop at the end leaves no fair step enabled; the batches are asked
        # first, as they are where a false "violated for every N" hid (and fewer questions)
        i = z3.Int("clones_moved")
        ok = all(valid(z3.Implies(z3.And(i >= 0, i <= k),
                                  z3.Not(cs.pred(goal, cs.apply(mv, before, i)))))
                 for j, mv, before, k in batches if j >= start) and \
            all(valid(z3.Not(cs.pred(goal, x))) for x in seq[start:]) and \
            valid(z3.Not(cs.enabled(last, fair_only=True)))
    else:
        return None
    if not ok:
        return None
    who = cs.model.actor_names.get(cs.domain, cs.domain)
    return (f"the {cs.size}={base} counterexample, with {who} {clone} cloned N-{base} times "
            f"(each clone repeating its steps), is a counterexample for every {cs.size} >= {base}")
