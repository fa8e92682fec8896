"""A violation of a model with ordered indices: the trace at the smallest size, and how far it
was found again. Not a proof for every K: that needs a witness that exists at every size (a
schedule, an invariant that it is never stuck before the violation, and its termination), which
is not implemented. The result says which sizes were checked, explicitly, and no more.
"""

from __future__ import annotations

import itertools
import time

from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.indexed.template import IndexedFamily
from oomcheck.checker.language.lang import Model, ModelError, Property
from oomcheck.checker.trace import Result

GRID = ((1, 2, 3, 4), (1, 2, 3))


def smallest_violation(model: Model, fam: IndexedFamily, p: Property, limits: Limits,
                       seconds: float = 120.0) -> Result | None:
    """The explicit violation at the smallest K (then P) of the grid, with a note of every grid
    size where it was found again; None when some grid size holds or could not be decided (the
    caller keeps its own answer)."""
    rebuild = model.rebuild
    if rebuild is None:
        return None
    t_end = time.perf_counter() + seconds
    first: Result | None = None
    found: list[tuple[int, int]] = []
    for k, q in itertools.product(*GRID):
        left = t_end - time.perf_counter()
        if left <= 0:
            break
        try:
            small = rebuild({**model.sizes, fam.k_size: k, fam.p_size: q})
        except ModelError:
            continue  # below the model's smallest size
        lim = Limits(limits.max_states, min(limits.max_seconds, left), limits.max_memory_mb)
        r = check_explicit(small, [small.properties[p.name]], lim)[0]
        if r.verdict != "violated":
            return None if r.verdict == "holds" else first and _note(first, found, fam)
        first = first or r
        found.append((k, q))
    return first and _note(first, found, fam)


def _note(r: Result, found: list[tuple[int, int]], fam: IndexedFamily) -> Result:
    r.strength = {**r.strength, "grid": [{fam.k_size: k, fam.p_size: q} for k, q in found]}
    if len(found) == len(GRID[0]) * len(GRID[1]):
        where = (f"every {fam.k_size} in {GRID[0][0]}..{GRID[0][-1]} with {fam.p_size} in "
                 f"{GRID[1][0]}..{GRID[1][-1]}")
    else:
        where = ", ".join(f"{fam.k_size}={k} {fam.p_size}={q}" for k, q in found)
    r.reason = (f"the trace is at the smallest size; also violated at {where} (explicit, each size "
                f"searched); not proved for every {fam.k_size}: the indexed engine proves holds only")
    return r
