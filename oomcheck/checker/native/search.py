"""The layer search (safety and deadlock, BFS by layers) run by the native core.

It is the Python `_LayerSearch` with its inner loop replaced: the same verdicts, the same
stored-state counts (the state limit is exact), the same shortest counterexamples (each state's
parent is the first state of the previous layer that reaches it, which is the state the Python
search picks when it rebuilds a trace, and the action is read back with the Python expand).
"""

from __future__ import annotations

import itertools

from ..compile import Compiled
from ..explicit import ProgressFn, _initial_states, _LayerSearch, _LimitReachedError
from ..lang import ModelError, Property
from .core import Core, open_core

CHUNK = 1 << 18  # expansions per call into C, between two time and memory checks


class NativeLayerSearch(_LayerSearch):
    def __init__(self, comp: Compiled, props: list[Property], limits, progress: ProgressFn | None,
                 t0: float):
        super().__init__(comp, props, limits, progress, t0)
        self.core: Core = open_core(comp, [p.expr for p in self.invs],  # type: ignore[misc]
                                    limits.max_states, self.want_deadlock)
        self.stored_bytes = 0

    def n_states(self) -> int:
        return int(self.core.ctx.n)

    def explore(self) -> None:
        core, ctx, lib = self.core, self.core.ctx, self.core.lib
        budget = self.budget
        cap = budget.limits.max_states
        inits = _initial_states(self.comp)
        over = len(inits) > cap
        for s in inits[:cap]:
            core.add(s)
        if over:
            raise budget.full()
        found: dict[str, tuple[int, int]] = {}
        depth, start, end = 0, 0, int(ctx.n)
        seen_bad: set[int] = set()
        try:
            while end > start:
                ctx.pos = start
                while ctx.pos < end:
                    st = lib.nc_run(ctx, end, CHUNK)
                    self.transitions = int(ctx.transitions)
                    if st == 2:
                        self._raise_model_error(int(ctx.pos))
                    if st == 3:
                        raise _LimitReachedError("out of memory in the native core")
                    self._note(found, depth, seen_bad)
                    if st == 1:
                        raise budget.full()
                    budget.check(int(ctx.n), depth)
                self.depth = depth
                self._record(found)
                if self.all_safety_decided():
                    self.early_stop = int(ctx.n) > end
                    break
                depth, start, end = depth + 1, end, int(ctx.n)
        except _LimitReachedError:
            self.depth = depth + 1 if int(ctx.n) > end else depth
            self._record(found)
            raise
        finally:
            self.stored_bytes = core.bytes()

    def _note(self, found: dict[str, tuple[int, int]], depth: int, seen_bad: set[int]) -> None:
        """Counterexample ends the core found since the last call (all in the current layer)."""
        ctx = self.core.ctx
        for bit, p in enumerate(self.invs):
            if bit not in seen_bad and ctx.bad_at[bit] >= 0:
                seen_bad.add(bit)
                found[p.name] = (depth, int(ctx.bad_at[bit]))
        if ctx.dl_at >= 0 and "<deadlock>" not in found:
            found["<deadlock>"] = (depth, int(ctx.dl_at))

    def _raise_model_error(self, i: int) -> None:
        """The core stopped on a model error at state i: the Python expand raises the same one."""
        s = self.core.state(i)
        self.comp.expand(s, [])
        self.final(s)
        raise ModelError("internal error: the native core reports a model error the Python "
                         f"engine does not raise (state {s:#x})")

    def _path(self, depth: int, target: int) -> tuple[list[int], list[int]]:
        """The parent chain to state number target, with each step's action read back from the
        Python expand of the parent."""
        core = self.core
        idx = [target]
        while (p := core.parent(idx[-1])) >= 0:
            idx.append(p)
        idx.reverse()
        if len(idx) != depth + 1:  # pragma: no cover - would mean the parents are inconsistent
            raise RuntimeError("native core: a parent chain does not match its BFS depth")
        states = [core.state(i) for i in idx]
        acts = []
        buf: list[tuple[int, int]] = []
        for a, b in itertools.pairwise(states):
            self.tick()
            buf.clear()
            self.comp.expand(a, buf)
            acts.append(next(x for x, ns in buf if ns == b))
        return states, acts
