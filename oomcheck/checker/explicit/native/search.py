"""The layer search (safety and deadlock, BFS by layers) run by the native core.

It is the Python `_LayerSearch` with its inner loop replaced: the same verdicts, the same
stored-state counts (the state limit is exact), the same shortest counterexamples (each state's
parent is the first state of the previous layer that reaches it, which is the state the Python
search picks when it rebuilds a trace, and the action is read back with the Python expand).

It starts in C at once, or (`after` states) runs the Python loop first and hands the layers over
to C once the search is big enough to repay the build: the states are numbered in the same BFS
order either way, so the hand-over changes nothing but the speed.
"""

from __future__ import annotations

import itertools

from oomcheck.checker.explicit.native.core import Core, NativeUnavailableError, is_built, open_core
from oomcheck.checker.explicit.por import Reducer
from oomcheck.checker.explicit.search import (
    Limits,
    ProgressFn,
    _initial_states,
    _LayerSearch,
    _LimitReachedError,
)
from oomcheck.checker.language.compile import Compiled
from oomcheck.checker.language.lang import ModelError, Property

CHUNK = 1 << 18  # expansions per call into C, between two time and memory checks


class NativeLayerSearch(_LayerSearch):
    def __init__(self, comp: Compiled, props: list[Property], limits: Limits,
                 progress: ProgressFn | None, t0: float, after: int | None = None,
                 reducer: Reducer | None = None, storage: str = "auto"):
        """after None: native from the start (NativeUnavailableError when it cannot be); else
        Python until `after` states are stored, then native when it can be built. With a
        reducer, both make the same partial-order reduction (the C code is generated from its
        tables)."""
        super().__init__(comp, props, limits, progress, t0, reducer)
        self.storage = storage
        self.bounds: list[int] = [0]  # layer d is the states bounds[d] .. bounds[d + 1] - 1
        self.after = after
        self.core: Core | None = None
        self.inv_exprs = [p.expr for p in self.invs]
        self.por = reducer.tables if reducer is not None else None
        if after is None or is_built(comp, self.inv_exprs, (), self.por):  # type: ignore[arg-type]
            self.core = self._open()
            self.after = None
        self.note = "native" if self.core is not None else "python"
        self.python_depth = 0  # layers 0..python_depth were found by the Python loop
        self.python_transitions = 0
        self.stored_bytes = 0
        self.fingerprints: int | None = None  # states stored when the store went to fingerprints

    def _open(self) -> Core:
        return open_core(self.comp, self.inv_exprs, self.budget.limits.max_states,  # type: ignore[arg-type]
                         self.want_deadlock, por=self.por, storage=self.storage)

    def n_reduced(self) -> int:
        native = int(self.core.ctx.reduced) if self.handed_off and self.core is not None else 0
        return super().n_reduced() + native

    def n_states(self) -> int:
        return int(self.core.ctx.n) if self.handed_off and self.core is not None else len(self.seen)

    def explore(self) -> None:
        if self.after is not None:
            super().explore()  # hands over in handoff() when the search grows
            return
        core = self.core
        assert core is not None
        self.handed_off = True
        cap = self.budget.limits.max_states
        inits = _initial_states(self.comp)
        for s in inits[:cap]:
            core.add(s)
        if len(inits) > cap:
            raise self.budget.full()
        self.bounds.append(int(core.ctx.n))
        self._native(0, 0, int(core.ctx.n))

    def handoff(self, depth: int, found: dict[str, tuple[int, int]]) -> bool:
        if self.after is None or len(self.seen) < self.after:
            return False
        try:
            self.core = self._open()
        except NativeUnavailableError as e:
            self.note = f"python (native core unavailable: {e})"
            self.after = None
            return False
        core = self.core
        for layer in self.layers:
            for s in layer:
                core.add(s)
            self.bounds.append(self.bounds[-1] + len(layer))
        ctx = core.ctx
        for bit, p in enumerate(self.invs):  # what the Python loop found is not searched again
            if p.name in found:
                ctx.pending &= ~(1 << bit)
        if "<deadlock>" in found:
            ctx.want_dl = 0
        self.handed_off = True
        self.note = f"native (after {depth} layers in Python)"
        self.python_depth = depth
        self.python_transitions = self.transitions
        n = int(ctx.n)
        self._native(depth, n - len(self.layers[-1]), n)
        return True

    def _native(self, depth: int, start: int, end: int) -> None:
        """BFS in C from layer depth, the states start..end-1."""
        core = self.core
        assert core is not None
        ctx, lib = core.ctx, core.lib
        budget = self.budget
        found: dict[str, tuple[int, int]] = {}
        try:
            while end > start:
                ctx.pos = start
                while ctx.pos < end:
                    st = lib.nc_run(ctx, end, CHUNK)
                    self.transitions = self.python_transitions + int(ctx.transitions)
                    if st == 2:
                        self._raise_model_error(int(ctx.pos))
                    if st == 3:
                        raise _LimitReachedError("out of memory in the native core")
                    self._note(found, depth)
                    if st == 1:
                        raise budget.full()
                    budget.check(int(ctx.n), depth)
                self.depth = depth
                self._record(found)
                if self.all_safety_decided():
                    self.early_stop = int(ctx.n) > end
                    break
                depth, start, end = depth + 1, end, int(ctx.n)
                self.bounds.append(end)
        except _LimitReachedError:
            self.depth = depth + 1 if int(ctx.n) > end else depth
            self._record(found)  # what was found before the stop is a real counterexample
            raise
        finally:
            self.stored_bytes = core.store_bytes()
            self.fingerprints = core.fingerprinted_from()

    def _note(self, found: dict[str, tuple[int, int]], depth: int) -> None:
        """Counterexample ends the core found since the last call (all in the current layer)."""
        ctx = self.core.ctx  # type: ignore[union-attr]
        for bit, p in enumerate(self.invs):
            if p.name not in found and ctx.bad_at[bit] >= 0:
                found[p.name] = (depth, int(ctx.bad_at[bit]))
        if ctx.dl_at >= 0 and "<deadlock>" not in found:
            found["<deadlock>"] = (depth, int(ctx.dl_at))

    def _raise_model_error(self, i: int) -> None:
        """The core stopped on a model error at state i: the Python expand raises the same one."""
        s = self.core.state(i)  # type: ignore[union-attr]
        self.comp.expand(s, [])
        self.final(s)
        raise ModelError("internal error: the native core reports a model error the Python "
                         f"engine does not raise (state {s:#x})")

    def _path(self, depth: int, target: int) -> tuple[list[int], list[int]]:
        """Before the hand-over: the Python search's (target is a state). After: target is a
        state number; each predecessor is the first state of the layer above with a step to it
        (re-expanded in C: no parent pointers are kept), each step's action is read back from
        the Python expand of the predecessor."""
        if not self.handed_off:
            return super()._path(depth, target)
        core = self.core
        assert core is not None
        states = [core.state(target)]
        for d in range(depth - 1, -1, -1):
            i = core.pred(self.bounds[d], self.bounds[d + 1], states[-1])
            if i < 0:  # pragma: no cover - would mean the layers are inconsistent
                raise RuntimeError("no predecessor found while rebuilding a trace")
            states.append(core.state(i))
        states.reverse()
        acts: list[int] = []
        buf: list[tuple[int, int]] = []
        for a, b in itertools.pairwise(states):
            buf.clear()
            self.comp.expand(a, buf)
            acts.append(next(x for x, ns in buf if ns == b))
        return states, acts
