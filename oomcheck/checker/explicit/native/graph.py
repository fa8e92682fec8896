"""The graph search (liveness) run by the native core.

It is the Python `_GraphSearch` with its loops over all states and edges in C: the BFS that
numbers the states and stores the edges (CSR: off/succ/sact), then per liveness property the
goal and premise predicates, Tarjan's SCCs of the not-goal states, the stutter states and fair
SCCs, and the backward reachability. States are numbered in the same BFS order and edges kept in
the same order as in Python, so the state numbers, parents, counts and lassos are the same; the
lasso itself is built by the Python code, reading the C arrays through memoryviews (no copy).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence

from oomcheck.checker.explicit.native.core import Core, is_built, open_core
from oomcheck.checker.explicit.search import (
    Limits,
    ProgressFn,
    Seq,
    _GraphSearch,
    _initial_states,
    _LimitReachedError,
)
from oomcheck.checker.language.compile import Compiled
from oomcheck.checker.language.lang import Expr, ModelError, Property

CHUNK = 1 << 17  # expansions per call into C, between two time and memory checks
NONE = 0xFFFFFFFF
_STUTTER_ONLY = bytes([0, 1] + [0] * 254)  # target kinds: keep 1 (stutter), drop 2 (fair SCC)


class _States(Sequence[int]):
    """The states stored in C, as ints (read one at a time: for traces and lassos)."""

    def __init__(self, core: Core, n: int):
        self.core, self.n = core, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:  # type: ignore[override]
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.core.state(i)

    def __iter__(self) -> Iterator[int]:
        return (self.core.state(i) for i in range(self.n))


class _Parents(Sequence[int]):
    """parent[i] as the Python search has it (-1 for an initial state): read off the edges in C
    the first time a trace needs it (no parent pointers are kept during the search)."""

    def __init__(self, core: Core, n: int, n_init: int):
        self.core, self.n, self.n_init = core, n, n_init
        self.view: memoryview | None = None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:  # type: ignore[override]
        if self.view is None:
            ptr = self.core.lib.nc_parents(self.core.ctx, self.n_init)
            if ptr == self.core.ffi.NULL:
                raise _LimitReachedError("out of memory in the native core")
            self.view = self.core.view(ptr, self.n, "I")
        p = self.view[i]
        return -1 if p == NONE else p


class NativeGraphSearch(_GraphSearch):
    def __init__(self, comp: Compiled, props: list[Property], limits: Limits,
                 progress: ProgressFn | None, t0: float, after: int | None = None,
                 storage: str = "auto"):
        """after None: native from the start (NativeUnavailableError when it cannot be); else
        Python until `after` states are stored, then native when it can be built."""
        super().__init__(comp, props, limits, progress, t0)
        self.storage = storage
        self.after = after
        self.core: Core | None = None
        self.inv_exprs: list[Expr] = [p.expr for p in self.invs]  # type: ignore[misc]
        # each liveness property's goal (and premise) is predicate number k of the C code
        self.preds: list[Expr] = []
        self.pred_ix: dict[str, tuple[int, int]] = {}
        for p in props:
            if p.is_liveness:
                assert p.expr is not None
                q = len(self.preds)
                self.preds.append(p.expr)
                pre = -1
                if p.kind != "eventually":
                    assert p.pre is not None
                    pre = len(self.preds)
                    self.preds.append(p.pre)
                self.pred_ix[p.name] = (q, pre)
        if after is None or is_built(comp, self.inv_exprs, self.preds):
            self.core = self._open()
            self.after = None
        self.note = "native" if self.core is not None else "python (liveness: graph search)"
        self.stored_bytes = 0  # states and visited set
        self.edge_bytes = 0  # the edges (liveness)
        self.fingerprints: int | None = None  # states stored when the store went to fingerprints
        self._keep: list[object] = []  # C buffers the memoryviews read

    def _open(self) -> Core:
        return open_core(self.comp, self.inv_exprs, self.budget.limits.max_states, self.want_deadlock,
                         self.preds, graph=True, storage=self.storage)

    def n_states(self) -> int:
        if self.handed_off and self.core is not None:
            return int(self.core.ctx.n)
        return len(self.states)

    # -- exploration ---------------------------------------------------------------------

    def _explore_graph(self) -> None:
        if self.after is not None:
            super()._explore_graph()  # hands over in handoff() when the search grows
            return
        core = self.core
        assert core is not None
        self.handed_off = True
        cap = self.budget.limits.max_states
        inits = _initial_states(self.comp)
        for s in inits[:cap]:
            core.add(s)
        self.n_init = min(len(inits), cap)
        if len(inits) > cap:
            self._views()
            raise self.budget.full()
        self._native({}, 0, 0, self.n_init, None)

    def handoff(self, i: int, depth: int, layer_end: int, found: dict[str, int]) -> bool:
        if self.after is None or len(self.states) < self.after:
            return False
        from oomcheck.checker.explicit.native import NativeUnavailableError
        try:
            self.core = self._open()
        except NativeUnavailableError as e:
            self.note = f"python (native core unavailable: {e})"
            self.after = None
            return False
        core = self.core
        for s in self.states:
            core.add(s)
        self.handed_off = True
        self.note = f"native (after {len(self.states)} states in Python)"
        edges = (self.off, self.succ, array("q", self.sact))
        self.index, self.states = {}, []
        self._native(found, i, depth, layer_end, edges)
        return True

    def _native(self, found: dict[str, int], pos: int, depth: int, layer_end: int,
                edges: tuple[array, array, array] | None) -> None:
        """The BFS in C from state pos on (the edges of the states before it given)."""
        core = self.core
        assert core is not None
        ctx, lib, ffi = core.ctx, core.lib, core.ffi
        if edges is None:
            r = lib.nc_graph_start(ctx, 0, 0, layer_end, ffi.NULL, ffi.NULL, ffi.NULL)
        else:
            off, succ, sact = (ffi.from_buffer("int64_t[]", a) for a in edges)
            r = lib.nc_graph_start(ctx, pos, depth, layer_end, off, succ, sact)
        if r < 0:
            raise _LimitReachedError("out of memory in the native core")
        budget = self.budget
        try:
            while True:
                st = lib.nc_graph_run(ctx, CHUNK)
                self.transitions = int(ctx.transitions)
                if st == 2:
                    self._raise_model_error(int(ctx.pos))
                if st == 3:
                    raise _LimitReachedError("out of memory in the native core")
                self._note(found)
                if st == 1:
                    raise budget.full()
                budget.check(int(ctx.n), int(ctx.depth))
                if ctx.pos >= ctx.n:
                    break
        except _LimitReachedError:
            self.depth = int(ctx.depth) + 1 if ctx.n > ctx.layer_end else int(ctx.depth)
            self._views()
            self._record(found)  # safety counterexamples found before the stop are real
            raise
        self.depth = int(ctx.depth)
        self.stored_bytes = core.store_bytes()
        lib.nc_drop_table(ctx)
        self._views()
        self._record(found)

    def _views(self) -> None:
        """states, parent and the edges as the Python analysis reads them (no copies)."""
        core = self.core
        assert core is not None
        ctx, lib = core.ctx, core.lib
        n, pos = int(ctx.n), int(ctx.pos)
        if not self.stored_bytes:  # (a search stopped early: before the table is dropped)
            self.stored_bytes = core.store_bytes()
        self.edge_bytes = core.edge_bytes()
        self.fingerprints = core.fingerprinted_from()
        self.states = _States(core, n)
        self.parent = _Parents(core, n, self.n_init)  # type: ignore[assignment]
        self.off = core.view(lib.nc_off(ctx), pos + 1, "q")  # type: ignore[assignment]
        m = self.off[pos]
        self.succ = core.view(lib.nc_succ(ctx), m, "I")  # type: ignore[assignment]
        self.sact = core.view(lib.nc_sact(ctx), m, "H")  # type: ignore[assignment]

    def _note(self, found: dict[str, int]) -> None:
        """The first violations the core found (after those of the Python loop, if any)."""
        ctx = self.core.ctx  # type: ignore[union-attr]
        for bit, p in enumerate(self.invs):
            if ctx.bad_at[bit] >= 0:
                found.setdefault(p.name, int(ctx.bad_at[bit]))
        if ctx.dl_at >= 0:
            found.setdefault("<deadlock>", int(ctx.dl_at))

    def _raise_model_error(self, i: int) -> None:
        """The core stopped on a model error at state i: the Python code raises the same one."""
        s = self.core.state(i)  # type: ignore[union-attr]
        buf: list[tuple[int, int]] = []
        self.comp.expand(s, buf)
        if not buf and self.want_deadlock:
            self.final(s)
        raise ModelError("internal error: the native core reports a model error the Python "
                         f"engine does not raise (state {s:#x})")

    def _pred_error(self, e: Expr, v: int) -> None:
        self.comp.predicate(e)(self.states[v])
        raise ModelError("internal error: the native core reports a model error the Python "
                         f"engine does not raise (state {self.states[v]:#x})")

    # -- liveness ------------------------------------------------------------------------

    def _fair_targets(self, p: Property, fair: bytearray) -> tuple[Seq, Seq, Seq, int] | None:
        core = self.core
        if core is None or not self.handed_off:  # the search stayed in Python
            return super()._fair_targets(p, fair)
        ctx, lib, ffi = core.ctx, core.lib, core.ffi
        n = int(ctx.n)
        qk, pk = self.pred_ix[p.name]
        self.check()
        in_r = ffi.new("uint8_t[]", max(n, 1))
        v = lib.nc_not_pred(ctx, qk, in_r)
        if v == -2:
            raise _LimitReachedError("cannot read back the stored states")
        if v >= 0:
            self._pred_error(p.expr, int(v))  # type: ignore[arg-type]
        if pk >= 0:  # the premise is read in every state too, as the Python engine does
            v = lib.nc_not_pred(ctx, pk, ffi.new("uint8_t[]", max(n, 1)))
            if v == -2:
                raise _LimitReachedError("cannot read back the stored states")
            if v >= 0:
                self._pred_error(p.pre, int(v))  # type: ignore[arg-type]
        self.check()
        comp_id = ffi.new("uint32_t[]", max(n, 1))
        target = ffi.new("uint8_t[]", max(n, 1))
        fair_c = ffi.new("uint8_t[]", bytes(fair) or b"\0")
        t = lib.nc_fair_sccs(ctx, in_r, fair_c, int(self.symmetric), comp_id, target)
        if t < 0:
            raise _LimitReachedError("out of memory in the native core")
        self.check()
        if t == 0:  # no fair cycle and no stutter state among not-Q states: holds
            return None
        if lib.nc_reverse(ctx, in_r) < 0:
            raise _LimitReachedError("out of memory in the native core")
        limit = self.n_init if pk < 0 else n
        err = ffi.new("int64_t *")

        def first_start(kinds: int) -> int | None:
            r = lib.nc_first_start(ctx, target, kinds, pk, limit, err)
            if r == -2:
                self._pred_error(p.pre, int(err[0]))  # type: ignore[arg-type]
            if r == -3:
                raise _LimitReachedError("out of memory in the native core")
            self.check()
            return None if r == -1 else int(r)

        try:
            if not self.symmetric:
                start = first_start(0b110)
            else:  # a stuck state is stuck in every permutation: a real counterexample
                start = first_start(0b10)
                if start is None and first_start(0b100) is not None:
                    self.unreduced.add(p.name)
                    return None
        finally:
            lib.nc_reverse_free(ctx)
        if start is None:
            return None
        self._keep += [in_r, comp_id, target]
        tv: Seq = core.view(target, n, "B")
        if self.symmetric:
            tv = bytes(tv).translate(_STUTTER_ONLY)
        return core.view(in_r, n, "B"), core.view(comp_id, n, "I"), tv, start
