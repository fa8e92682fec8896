"""Partial-order reduction for the safety search: at each state expand a persistent ("ample")
subset of the enabled action instances instead of all of them, chosen from static read and write
sets (which slots a guard and an update read, which slots an update writes).

The set is a stubborn set in Godefroid's formulation (persistent sets from necessary enabling
sets, "Partial-Order Methods for the Verification of Concurrent Systems", LNCS 1032, ch. 4):
from one enabled instance, close T under
  D1  an enabled instance in T brings every instance dependent with it. Two instances are
      independent when one writes no slot the other reads or writes (wherever both are enabled
      neither changes what the other reads, so both stay enabled and they commute), or when
      they are never enabled together (conjuncts of their guards on one slot ask for disjoint
      values, as `pc[t] == A` and `pc[t] == B` do);
  D2  a disabled instance in T brings a necessary enabling set: the instances that may make one
      of its false guard conjuncts true (for a conjunct over one slot, the writers of that slot
      whose assigned value can satisfy it; else every writer of the slots it reads).
The enabled members of T are then persistent (C1), which preserves every reachable deadlock
(a state without successors). For invariants two more conditions (Clarke, Grumberg, Peled,
"Model Checking", ch. 10):
  C2  visibility: a set that is not every enabled instance contains no instance that writes a
      slot an invariant reads (so invariant-visible steps keep their order);
  C3  the cycle proviso, for a breadth-first search: a set is refused when one of its successors
      is already stored at a depth <= the state's own (the current or an earlier layer). Every
      cycle of the reduced graph has an edge u -> v with depth(v) <= depth(u) (depths grow by at
      most one per edge and come back around a cycle), and v was stored before u was expanded,
      so u was fully expanded: every cycle has a fully expanded state, as C3 asks. This is the
      breadth-first form of the proviso (cf. Bosnacki and Holzmann, "Improving Spin's
      partial-order reduction for breadth-first search", SPIN 2005), in a stricter variant.
Model errors (an index out of range, a value outside its type) are reachable states of a system
with one more step per instance that may raise ("u fails": it reads what u reads and writes an
error flag an implicit invariant reads). Those pseudo-instances take part in D1 and D2 like any
other, so a reachable model error is still found; they are never enabled in a state the search
expands (expand raises there), so C2 never concerns them.

With symmetry the set is computed at the orbit's representative. Read/write sets, dependency,
enabling sets and visibility are invariant under permutations of the free threads (symmetry.py
makes guards, updates and properties symmetric), so for x = p^-1(r) the set p^-1(ample(r)) is a
persistent, invisible set at x. The concrete system reduced that way satisfies C0-C2 at every
state, and C3 because a cycle of it maps to a closed walk of the explored quotient graph, which
has a fully expanded state by the proviso above; its quotient is the graph explored here.

Liveness under weak fairness is not reduced: a fair cycle of a reduced graph need not be one of
the model, so properties with a liveness goal are checked on the full graph (search.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oomcheck.checker.language.compile import Compiled, _chk, _Gen, _update_code, const_value
from oomcheck.checker.language.interp import evaluate
from oomcheck.checker.language.lang import (
    ActionInstance,
    BoolType,
    Const,
    Expr,
    Index,
    ModelError,
    Op,
    Quant,
    Var,
    substitute,
)


def conjuncts(e: Expr, domains: dict[str, int]) -> list[Expr]:
    """A guard as the conjuncts it is evaluated in (`and`, `forall` unrolled), left to right."""
    if isinstance(e, Op) and e.op == "and":
        return [c for a in e.args for c in conjuncts(a, domains)]
    if isinstance(e, Quant) and e.kind == "forall" and domains.get(e.domain):
        return [c for i in range(domains[e.domain])
                for c in conjuncts(substitute(e.body, {e.var: i}), domains)]
    return [e]


@dataclass
class Conjunct:
    expr: Expr
    nes: int  # the instances that may make it true where it is false (a bit mask)
    reads: set[int]


@dataclass
class PorTables:
    """Static tables of one compiled model. Transitions 0..n-1 are the action instances,
    n..n+m-1 the failures of the instances that may raise (fails[j] is the instance of n + j).
    Sets of transitions are bit masks (Python ints)."""

    n: int
    fails: list[int]
    fail_of: dict[int, int]  # instance -> its failure transition
    dep: list[int]  # dep[t] (t an instance): the transitions dependent with t, t included
    visible: int  # instances that write a slot some invariant reads
    # per instance, its guard's conjuncts in the order they are tried for a necessary enabling
    # set: the smallest set first, or evaluation order when evaluating one may raise
    conj: list[list[Conjunct]]
    guard_raises: list[bool]
    fail_nes_all: list[int]  # a failure's enabling set where the guard holds: every writer of R(u)
    fail_nes_prefix: list[list[int]]  # where conjunct k is the first false one (guard_raises)

    @property
    def size(self) -> int:
        return self.n + len(self.fails)


def _values(comp: Compiled, e: Expr) -> set[int] | None:
    """The values e may take over all states, when a small set says so (None: any)."""
    if isinstance(e, Const):
        return {e.value}
    if isinstance(e, Op):
        if e.op == "ite":
            a, b = _values(comp, e.args[1]), _values(comp, e.args[2])
            return None if a is None or b is None else a | b
        if e.op in ("==", "!=", "<", "<=", "and", "or", "not", "implies"):
            return {0, 1}
    if isinstance(e, Quant) and e.kind in ("forall", "exists"):
        return {0, 1}
    return None


def _interval(comp: Compiled, e: Expr) -> tuple[int, int] | None:
    """Bounds of e's value over all states (None: not known), to tell an assignment that can
    never leave its type from one whose range check may fire."""
    if isinstance(e, Const):
        return e.value, e.value
    if isinstance(e, (Var, Index)):
        vals = comp.model.vars[e.name if isinstance(e, Var) else e.array].type.values()
        return vals.start, vals.stop - 1
    if isinstance(e, Quant):
        return (0, comp.model.domains[e.domain]) if e.kind == "count" else (0, 1)
    if isinstance(e, Op):
        if e.op in ("+", "-"):
            a, b = _interval(comp, e.args[0]), _interval(comp, e.args[1])
            if a is None or b is None:
                return None
            return (a[0] + b[0], a[1] + b[1]) if e.op == "+" else (a[0] - b[1], a[1] - b[0])
        if e.op == "ite":
            a, b = _interval(comp, e.args[1]), _interval(comp, e.args[2])
            if a is None or b is None:
                return None
            return min(a[0], b[0]), max(a[1], b[1])
        return 0, 1
    return None


def _may_leave_type(comp: Compiled, lhs: Expr, rhs: Expr) -> bool:
    d = comp.model.vars[lhs.name if isinstance(lhs, Var) else lhs.array]  # type: ignore[union-attr]
    if isinstance(d.type, BoolType):
        return False  # stored as 0/1
    iv = _interval(comp, rhs)
    vals = d.type.values()
    return iv is None or iv[0] < vals.start or iv[1] > vals.stop - 1


def _reads(comp: Compiled, e: Expr) -> tuple[set[int], bool]:
    """The slots e reads and whether evaluating it may raise (a variable index)."""
    g = _Gen(comp.layout)
    src = g.expr(e, {})
    return set(g.used), "_chk(" in src


@dataclass
class _RW:
    reads: set[int]  # guard and updates (the written slots too: an update xors in a delta)
    writes: dict[int, set[int] | None]  # slot -> the values it may be given (None: any)
    guard_raises: bool
    update_raises: bool


def _written(comp: Compiled, lhs: Expr) -> list[int]:
    """The slots an assignment may write (every element for a variable index)."""
    lay = comp.layout
    if isinstance(lhs, Var):
        return [lay.slot_of(lhs.name, None)]
    assert isinstance(lhs, Index)
    i = const_value(lhs.index, {})
    return lay.array_slots[lhs.array] if i is None else [lay.slot_of(lhs.array, i)]


def every_step_visible(comp: Compiled, invariants: list[Expr]) -> bool:
    """Whether every action instance writes a slot an invariant reads: then no set smaller than
    all enabled steps passes C2, and the tables need not be built (a cheap test)."""
    if not invariants:
        return False
    reads: set[int] = set()
    for e in invariants:
        reads |= _reads(comp, e)[0]
    return all(any(k in reads for lhs, _ in inst.updates for k in _written(comp, lhs))
               for inst in comp.instances)


def _instance_rw(comp: Compiled, inst: ActionInstance) -> _RW:
    g = _Gen(comp.layout)
    gsrc = g.expr(inst.guard, {})
    lines = _update_code(g, inst, {})
    writes: dict[int, set[int] | None] = {}
    for lhs, rhs in inst.updates:
        vals = _values(comp, rhs)
        d = comp.model.vars[lhs.name if isinstance(lhs, Var) else lhs.array]  # type: ignore[union-attr]
        if vals is not None and isinstance(d.type, BoolType):
            vals = {int(bool(v)) for v in vals}
        for k in _written(comp, lhs):
            writes[k] = vals
    raises = any("_chk(" in x for x in lines) \
        or any(_may_leave_type(comp, lhs, rhs) for lhs, rhs in inst.updates)
    return _RW(set(g.used), writes, "_chk(" in gsrc, raises)


SMALL_TYPE = 256  # slots with more values get no value-aware enabling set (all writers count)


def _true_values(comp: Compiled, c: Expr, k: int) -> set[int] | None:
    """The values of slot k that make c (which reads only k) true; None when evaluating it for
    some value raises, or the slot's type is too large to enumerate."""
    name, i, d = comp.layout.slots[k]
    if len(d.type.values()) > SMALL_TYPE:
        return None
    out = set()
    for v in d.type.values():
        try:
            if evaluate(comp.model, c, {(name, i): v}):
                out.add(v)
        except (ModelError, KeyError):
            return None
    return out


def por_tables(comp: Compiled, invariants: list[Expr]) -> PorTables:
    insts = comp.instances
    n = len(insts)
    rw = [_instance_rw(comp, inst) for inst in insts]
    writers: dict[int, int] = {}
    for t, x in enumerate(rw):
        for k in x.writes:
            writers[k] = writers.get(k, 0) | (1 << t)

    def writers_of(slots: set[int]) -> int:
        m = 0
        for k in slots:
            m |= writers.get(k, 0)
        return m

    conj: list[list[Conjunct]] = []
    allowed: list[dict[int, set[int]]] = []  # per instance: slot -> values its guard allows
    for inst in insts:
        cs = []
        allow: dict[int, set[int]] = {}
        for c in conjuncts(inst.guard, comp.model.domains):
            reads, may_raise = _reads(comp, c)
            nes = writers_of(reads)
            if len(reads) == 1 and not may_raise:
                (k,) = reads
                tv = _true_values(comp, c, k)
                if tv is not None:
                    allow[k] = allow.get(k, tv) & tv
                    nes = 0
                    for u in range(n):  # writers that may give k a value making c true
                        if k in rw[u].writes:
                            vals = rw[u].writes[k]
                            if vals is None or vals & tv:
                                nes |= 1 << u
            cs.append(Conjunct(c, nes, reads))
        allowed.append(allow)
        conj.append(cs)
    fail_nes_prefix: list[list[int]] = []
    for t in range(n):
        acc: set[int] = set()
        pre = []
        for c in conj[t]:
            acc |= c.reads
            pre.append(writers_of(acc))
        fail_nes_prefix.append(pre)
        if not rw[t].guard_raises:  # try the smallest enabling set first
            conj[t].sort(key=lambda c: c.nes.bit_count())

    def co_enabled(t: int, u: int) -> bool:
        a, b = allowed[t], allowed[u]
        return not any(k in b and not (a[k] & b[k]) for k in a)

    fails = [t for t in range(n) if rw[t].guard_raises or rw[t].update_raises]
    fail_of = {t: n + j for j, t in enumerate(fails)}
    dep = [0] * n
    for t in range(n):
        rt, wt = rw[t].reads, rw[t].writes.keys()
        m = 1 << t
        for u in range(n):
            ru, wu = rw[u].reads, rw[u].writes.keys()
            if (wt & (ru | wu) or wu & rt) and co_enabled(t, u):
                m |= 1 << u
        for u in fails:  # t changes what u's failure depends on
            if wt & rw[u].reads and (rw[u].guard_raises or co_enabled(t, u)):
                m |= 1 << fail_of[u]
        dep[t] = m
    inv_reads: set[int] = set()
    for e in invariants:
        inv_reads |= _reads(comp, e)[0]
    visible = 0
    for t in range(n):
        if rw[t].writes.keys() & inv_reads:
            visible |= 1 << t
    return PorTables(n, fails, fail_of, dep, visible, conj, [x.guard_raises for x in rw],
                     [writers_of(x.reads) for x in rw], fail_nes_prefix)


def nes_source(comp: Compiled, tables: PorTables) -> str:
    """Python source of _NES[u](s): the enabling set of instance u, disabled in s, from its
    first false conjunct in the tables' order; and _FAIL[j](s): that of failure n + j."""
    out = []
    for t in range(tables.n):
        g = _Gen(comp.layout)
        tests = [(g.truth(c.expr, {}), c.nes) for c in tables.conj[t]]
        body = g.prelude()
        for src, nes in tests:
            body.append(f"    if not {src}:\n        return {nes}")
        body.append(f"    return {tables.fail_nes_all[t]}")  # (the guard holds: for a failure)
        out.append(f"def _nes{t}(s):\n" + "\n".join(body) + "\n")
    for j, t in enumerate(tables.fails):
        if not tables.guard_raises[t]:  # the guard must hold first: the instance's own set
            out.append(f"_fail{j} = _nes{t}\n")
            continue
        g = _Gen(comp.layout)
        tests = [(g.truth(c.expr, {}), pre) for c, pre in zip(tables.conj[t],
                                                              tables.fail_nes_prefix[t], strict=True)]
        body = g.prelude()
        for src, nes in tests:
            body.append(f"    if not {src}:\n        return {nes}")
        body.append(f"    return {tables.fail_nes_all[t]}")
        out.append(f"def _fail{j}(s):\n" + "\n".join(body) + "\n")
    out.append(f"_NES = ({''.join(f'_nes{t}, ' for t in range(tables.n))})\n")
    out.append(f"_FAIL = ({''.join(f'_fail{j}, ' for j in range(len(tables.fails)))})\n")
    return "\n".join(out)


class Reducer:
    """The ample-set choice of the layer search (native/ccode.py generates the same in C): the
    stubborn set grown from each enabled instance, in instance order; the first with the fewest
    enabled members that passes C2 and the proviso, else every enabled instance."""

    def __init__(self, comp: Compiled, invariants: list[Expr]):
        self.tables = t = por_tables(comp, invariants)
        ns: dict = {"_chk": _chk}
        exec(compile(nes_source(comp, t), f"<{comp.model.name}:por>", "exec"), ns)
        self.nes_fns: tuple[Callable[[int], int], ...] = ns["_NES"] + ns["_FAIL"]
        self.reduced = 0  # states expanded with a proper subset of their enabled instances

    def ample(self, s: int, succ: list[tuple[int, int]], old: Callable[[int], bool]
              ) -> list[tuple[int, int]]:
        """The successors to keep, of expand's (instance, successor) list; old(x): x is stored at
        a depth <= s's (the proviso)."""
        if len(succ) <= 1:
            return succ
        enabled = 0
        for a, _ in succ:
            enabled |= 1 << a
        n_en = len(succ)
        dep, visible, nes_fns = self.tables.dep, self.tables.visible, self.nes_fns
        cache: dict[int, int] = {}
        best, best_n = enabled, n_en
        for seed, _ in succ:
            if visible >> seed & 1:
                continue
            stub = 1 << seed
            work = [seed]
            while work:
                u = work.pop()
                if enabled >> u & 1:
                    add = dep[u]
                else:
                    add = cache.get(u)
                    if add is None:
                        add = cache[u] = nes_fns[u](s)
                add &= ~stub
                if add:
                    stub |= add
                    en = stub & enabled
                    if en & visible or en.bit_count() >= best_n:
                        break
                    while add:
                        low = add & -add
                        work.append(low.bit_length() - 1)
                        add ^= low
            else:
                en = stub & enabled
                if any(en >> a & 1 and old(x) for a, x in succ):
                    continue
                best, best_n = en, en.bit_count()
                if best_n == 1:
                    break
        if best_n == n_en:
            return succ
        self.reduced += 1
        return [(a, x) for a, x in succ if best >> a & 1]
