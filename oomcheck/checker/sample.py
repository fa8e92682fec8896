"""A uniformly random initial state of a compiled model, without listing the initial states.

Why not plain rejection over every slot: a per-thread init constraint (the freezer's "frozen
exactly when asleep in __refrigerator") accepts a random draw of N threads with probability
2^-N, and listing the initial states instead is 4^N combinations: at 17 threads neither ends.

The init constraints are split into conjuncts (`and`, and `forall` over a domain of known size,
one conjunct per element). Slots that conjuncts read together form a group; the groups are
independent, so drawing each group uniformly among the values its own conjuncts accept draws
the whole state uniformly among the initial states. A group is drawn by rejection, and listed
when rejection does not find a value quickly (a tight constraint on few slots).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable

from oomcheck.checker.language.compile import Compiled
from oomcheck.checker.language.lang import TRUE, Const, Expr, Index, ModelError, Op, Quant, Var, substitute

TRIES = 1_000  # rejection draws per group before it is listed
LIST_LIMIT = 1 << 20  # a group with more combinations than this is not listed


def sample_initial(compiled: Compiled, rng: random.Random) -> int:
    """A uniformly random initial state (deterministic for the rng's state)."""
    return _sampler(compiled).draw(rng)


_CACHE: list[tuple[Compiled, _Sampler]] = []  # the last few models sampled (runs are batched)


def _sampler(compiled: Compiled) -> _Sampler:
    for c, sampler in _CACHE:
        if c is compiled:
            return sampler
    sampler = _Sampler(compiled)
    _CACHE.insert(0, (compiled, sampler))
    del _CACHE[8:]
    return sampler


class _Sampler:
    """The slot choices and the independent groups of one compiled model, ready to draw."""

    def __init__(self, compiled: Compiled):
        self.compiled = compiled
        lay = compiled.layout
        by_slot = dict(zip([(n, i) for n, i, _ in compiled.model.slots()],
                           compiled.model.init_choices(), strict=True))
        self.choices = [by_slot[(n, i)] for n, i, _ in lay.slots]
        groups = _groups(compiled)
        grouped = {k for slots, _ in groups for k in slots}
        self.free = [k for k, c in enumerate(self.choices) if k not in grouped and len(c) > 1]
        self.groups = [(slots, compiled.predicate(_conj(parts))) for slots, parts in groups]

    def draw(self, rng: random.Random) -> int:
        choices = self.choices
        values = [c[0] for c in choices]
        for k in self.free:  # unconstrained slots: drawn one by one, in slot order
            values[k] = choices[k][rng.randrange(len(choices[k]))]
        for slots, ok in self.groups:
            self._draw_group(values, slots, ok, rng)
        return self.compiled.layout.encode(values)

    def _draw_group(self, values: list[int], slots: list[int], ok: Callable[[int], bool],
                    rng: random.Random) -> None:
        """Set values[k] for k in slots to a uniform draw among the combinations the group's
        conjuncts accept (they read no other slot)."""
        choices, lay, model = self.choices, self.compiled.layout, self.compiled.model

        def accepts(combo: tuple[int, ...]) -> bool:
            for k, v in zip(slots, combo, strict=True):
                values[k] = v
            return ok(lay.encode(values))

        for _ in range(TRIES):
            combo = tuple(choices[k][rng.randrange(len(choices[k]))] for k in slots)
            if accepts(combo):
                return
        size = math.prod(len(choices[k]) for k in slots)
        names = ", ".join(model.slot_name(*lay.slots[k][:2]) for k in slots[:6])
        names += ", ..." if len(slots) > 6 else ""
        if size > LIST_LIMIT:
            raise ModelError(f"model {model.name}: cannot draw an initial state: the init "
                             f"constraints over {names} rejected {TRIES} random draws, and their "
                             f"{size} combinations are too many to list")
        good = [c for c in itertools.product(*(choices[k] for k in slots)) if accepts(c)]
        if not good:
            raise ModelError(f"model {model.name} has no initial state "
                             f"(the init constraints over {names} accept no value)")
        accepts(good[rng.randrange(len(good))])


def _groups(compiled: Compiled) -> list[tuple[list[int], list[Expr]]]:
    """The independent groups of slots and the conjuncts that read them, in slot order."""
    lay = compiled.layout
    parent = list(range(len(lay.slots)))

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    reads: list[tuple[Expr, list[int]]] = []
    for c in compiled.model.init_constraints:
        for part in _conjuncts(c, compiled.model.domains):
            ks = sorted(_reads(part, compiled, set()))
            reads.append((part, ks))
            for k in ks[1:]:
                parent[find(k)] = find(ks[0])
    by_root: dict[int, tuple[list[int], list[Expr]]] = {}
    for part, ks in reads:
        if ks:
            by_root.setdefault(find(ks[0]), ([], []))[1].append(part)
    for k in range(len(lay.slots)):
        if find(k) in by_root:
            by_root[find(k)][0].append(k)
    out = list(by_root.values())
    # a conjunct that reads no slot (a constant) is checked once, on its own
    consts = [part for part, ks in reads if not ks]
    if consts:
        out.append(([], consts))
    return out


def _conjuncts(e: Expr, domains: dict[str, int]) -> list[Expr]:
    if isinstance(e, Op) and e.op == "and":
        return [x for a in e.args for x in _conjuncts(a, domains)]
    if isinstance(e, Quant) and e.kind == "forall" and isinstance(domains.get(e.domain), int):
        return [x for i in range(domains[e.domain])
                for x in _conjuncts(substitute(e.body, {e.var: i}), domains)]
    return [e]


def _reads(e: Expr, compiled: Compiled, out: set[int]) -> set[int]:
    """The slots e reads; an array read at an index that is not a constant reads all of it."""
    lay = compiled.layout
    if isinstance(e, Var):
        k = lay.pos.get((e.name, None))
        out.update([k] if k is not None else lay.array_slots.get(e.name, range(len(lay.slots))))
    elif isinstance(e, Index):
        k = lay.pos.get((e.array, e.index.value)) if isinstance(e.index, Const) else None
        out.update([k] if k is not None else lay.array_slots.get(e.array, range(len(lay.slots))))
        _reads(e.index, compiled, out)
    elif isinstance(e, Op):
        for a in e.args:
            _reads(a, compiled, out)
    elif isinstance(e, Quant):
        _reads(e.body, compiled, out)
    return out


def _conj(es: list[Expr]) -> Expr:
    out: Expr = TRUE
    for e in es:
        out = out & e
    return out
