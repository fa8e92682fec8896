"""Explicit-state search: breadth-first, so every safety counterexample is a shortest one.

Safety-only runs keep a set of packed states plus one list per BFS layer (traces are rebuilt by
re-expanding the previous layer). Runs with liveness properties also keep the state graph in flat
arrays and look for fair cycles among strongly connected components.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from oomcheck.checker.explicit.por import Reducer, every_step_visible
from oomcheck.checker.explicit.symmetry import find_symmetry
from oomcheck.checker.language.compile import Compiled, Layout, compile_model
from oomcheck.checker.language.lang import Model, ModelError, Property
from oomcheck.checker.trace import Result, build_trace

ProgressFn = Callable[[int, int, float], None]
Seq = Sequence[int]  # array, bytearray, or a memoryview of the native core's arrays


@dataclass
class Limits:
    """Past any of these a search answers unknown: states stored (initial ones included),
    seconds per model instance, peak resident size in MB."""

    max_states: int = 50_000_000
    max_seconds: float = 3600.0
    max_memory_mb: int = 16_000


class _LimitReachedError(Exception):
    def __init__(self, reason: str):
        self.reason = reason


CHECK_EVERY = 1024  # expansions (or analysed states) between two time and memory checks


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


class _Budget:
    """The state limit exactly, where a new state would be stored; time and memory at
    the start, every CHECK_EVERY expansions, inside the liveness analysis, and at the end (a
    limit passed at any point makes every undecided property unknown). Also reports progress
    every few seconds."""

    def __init__(self, limits: Limits, progress: ProgressFn | None, t0: float):
        self.limits = limits
        self.progress = progress
        self.t0 = t0
        self.last_report = t0

    def full(self) -> _LimitReachedError:
        return _LimitReachedError(f"state limit reached ({self.limits.max_states} states stored)")

    def check(self, states: int, depth: int) -> None:
        now = time.perf_counter()
        el = now - self.t0
        if el > self.limits.max_seconds:
            raise _LimitReachedError(f"time limit reached ({self.limits.max_seconds:g} s)")
        if peak_rss_mb() > self.limits.max_memory_mb:
            raise _LimitReachedError(f"memory limit reached ({self.limits.max_memory_mb} MB)")
        if self.progress is not None and now - self.last_report >= 2.0:
            self.last_report = now
            self.progress(states, depth, el)


def check_explicit(
    model: Model,
    props: list[Property],
    limits: Limits | None = None,
    progress: ProgressFn | None = None,
    symmetry: bool = True,
    core: str | None = None,
    por: bool = True,
    storage: str | None = None,
) -> list[Result]:
    """Check the properties on one model instance; one exploration serves all of them. With
    symmetry (when the model has interchangeable threads, symmetry.py) one state per orbit is
    stored and every counterexample is rebuilt as a concrete execution of the model. core
    chooses the layer search's engine: "python", "native" (C, generated from the same compiled
    model; the Python engine when it cannot be built) or "auto" (the same as native); None reads
    $OOMCHECK_CORE, default auto. With por, a search for invariants and deadlocks only expands
    an ample subset of the enabled steps at each state (por.py); its counterexamples are then
    shortened by a search without it (up to the depth found), so they stay shortest. storage
    "auto" lets the native core switch to 64-bit fingerprints on a large search whose states
    need more than 64 bits (a "holds" then says it is probabilistic); "exact" never does; None
    reads $OOMCHECK_STORAGE, default auto."""
    limits = limits or Limits()
    core = core or os.environ.get("OOMCHECK_CORE") or "auto"
    if core not in CORES:
        raise ModelError(f"unknown search core {core!r} (choose from {', '.join(CORES)})")
    storage = storage or os.environ.get("OOMCHECK_STORAGE") or "auto"
    if storage not in ("auto", "exact"):
        raise ModelError(f"unknown storage {storage!r} (choose from auto, exact)")
    t0 = time.perf_counter()
    invs = [p for p in props if p.kind == "invariant"]
    assert all(p.expr is not None for p in invs)
    sym, why_not = find_symmetry(model, props) if symmetry else (None, "turned off")
    comp = compile_model(model, [(p.name, p.expr) for p in invs], sym)  # type: ignore[misc]
    live = any(p.is_liveness for p in props)
    useless = False  # no set smaller than every enabled step could pass visibility
    if live:
        ex: _Search = _graph_search(comp, props, limits, progress, t0, core, storage)
    else:
        inv_exprs = [p.expr for p in invs]
        useless = por and every_step_visible(comp, inv_exprs)  # type: ignore[arg-type]
        reducer = Reducer(comp, inv_exprs) if por and not useless else None  # type: ignore[arg-type]
        ex = _layer_search(comp, props, limits, progress, t0, core, reducer, storage)
    ex.run()
    results = ex.results()
    for r in results:
        r.strength["core"] = ex.note
        if not por:
            r.strength["por"] = "off"
        elif live:
            r.strength["por"] = ("not used: a liveness property is checked on the full graph (a "
                                 "reduced graph may lose or invent fair cycles)")
        elif useless:
            r.strength["por"] = "not used: every step writes what an invariant reads (visible)"
        else:
            r.strength["por"] = ex.por_note()
        fp = getattr(ex, "fingerprints", None)
        if fp is not None:
            n = ex.n_states()
            r.strength["probabilistic"] = True
            r.strength["storage"] = (
                f"64-bit fingerprints from {fp:,} states on: probabilistic, a hash collision "
                f"may have hidden a state (probability at most {n * (n - 1) / 2 ** 65:.1e}; "
                "--storage exact to rule it out)")
    if por and not live and ex.n_reduced():
        _shorten(model, props, results, limits, t0, symmetry, core, storage)
    if sym is not None:
        for r in results:
            r.strength["symmetry"] = sym.describe()
    elif symmetry and model.family is not None:
        for r in results:
            r.strength["symmetry"] = f"not used: {why_not}"
    if ex.unreduced:  # a quotient cycle may or may not be a fair cycle: decide it unreduced
        again = [p for p in props if p.name in ex.unreduced]
        left = Limits(limits.max_states, max(0.0, limits.max_seconds - (time.perf_counter() - t0)),
                      limits.max_memory_mb)
        redo = {r.property: r for r in check_explicit(model, again, left, progress, symmetry=False,
                                                      core=core, por=por, storage=storage)}
        for i, r in enumerate(results):
            if r.property in redo:
                results[i] = redo[r.property]
                results[i].strength["symmetry"] = ("not used for this property: the reduced graph "
                                                   "has a cycle outside the goal, whose fairness "
                                                   "only the full graph can tell")
    return results


def _shorten(model: Model, props: list[Property], results: list[Result], limits: Limits,
             t0: float, symmetry: bool, core: str, storage: str) -> None:
    """A reduced search's counterexamples are real executions but not always shortest: the
    search without the reduction, stopped once it has found them all (at the same depth or
    before), gives shortest ones. Past a limit the reduced search's trace stays, and says so."""
    bad = [r for r in results if r.verdict == "violated" and r.trace is not None]
    if not bad:
        return
    names = {r.property for r in bad}
    again = [p for p in props if p.name in names]
    left = Limits(limits.max_states, max(0.0, limits.max_seconds - (time.perf_counter() - t0)),
                  limits.max_memory_mb)
    short = {r.property: r for r in check_explicit(model, again, left, None, symmetry, core,
                                                   por=False, storage=storage)}
    for r in bad:
        s = short[r.property]
        if s.verdict == "violated" and s.trace is not None:
            r.trace = s.trace
            r.strength["trace"] = "shortest (rebuilt without partial-order reduction)"
        else:
            r.strength["trace"] = ("a real execution, maybe not a shortest one (the search "
                                   f"without partial-order reduction stopped: {s.reason})")


CORES = ("auto", "native", "python")
AUTO_AFTER = 100_000  # core auto: states the Python loop stores before handing over to C


def _layer_search(comp: Compiled, props: list[Property], limits: Limits, progress: ProgressFn | None,
                  t0: float, core: str, reducer: Reducer | None = None,
                  storage: str = "auto") -> _LayerSearch:
    """The native layer search when asked for and available (for auto: at once when its build
    is cached, else once the search has stored AUTO_AFTER states), else the Python one; its
    `note` says which ran, and why not the native one."""
    if core == "python":
        ex = _LayerSearch(comp, props, limits, progress, t0, reducer)
        ex.note = "python"
        return ex
    try:
        from oomcheck.checker.explicit.native import NativeUnavailableError
        from oomcheck.checker.explicit.native.search import NativeLayerSearch
    except ImportError as e:  # pragma: no cover - a broken installation
        ex = _LayerSearch(comp, props, limits, progress, t0, reducer)
        ex.note = f"python (native core unavailable: {e})"
        return ex
    try:
        return NativeLayerSearch(comp, props, limits, progress, t0,
                                 AUTO_AFTER if core == "auto" else None, reducer, storage)
    except NativeUnavailableError as e:
        ex = _LayerSearch(comp, props, limits, progress, t0, reducer)
        ex.note = f"python (native core unavailable: {e})"
        return ex


def _graph_search(comp: Compiled, props: list[Property], limits: Limits, progress: ProgressFn | None,
                  t0: float, core: str, storage: str = "auto") -> _GraphSearch:
    """The graph search (liveness) in C or in Python, chosen as for the layer search."""
    if core != "python":
        try:
            from oomcheck.checker.explicit.native import NativeUnavailableError
            from oomcheck.checker.explicit.native.graph import NativeGraphSearch
        except ImportError as e:  # pragma: no cover - a broken installation
            why = str(e)
        else:
            try:
                return NativeGraphSearch(comp, props, limits, progress, t0,
                                         AUTO_AFTER if core == "auto" else None, storage)
            except NativeUnavailableError as e:
                why = str(e)
    ex = _GraphSearch(comp, props, limits, progress, t0)
    ex.note = "python (liveness: graph search)" if core == "python" else \
        f"python (native core unavailable: {why})"
    return ex


class _Search:
    def __init__(self, comp: Compiled, props: list[Property], limits: Limits,
                 progress: ProgressFn | None, t0: float):
        self.comp = comp
        self.props = props
        self.t0 = t0
        self.budget = _Budget(limits, progress, t0)
        self.invs = [p for p in props if p.kind == "invariant"]
        self.want_deadlock = any(p.kind == "deadlock" for p in props)
        self.final = comp.predicate(comp.model.final)
        self.stopped = ""
        self.early_stop = False  # the layer search stopped once every safety property was violated
        self.transitions = 0  # edges out of fully expanded states
        self.depth = 0  # the largest BFS depth among the stored states
        self.ticks = 0
        # property name -> (states, actions) of the counterexample
        self.cex: dict[str, tuple[list[int], list[int]]] = {}
        # property name -> (index of the loop's first action, stutter) for liveness lassos
        self.loops: dict[str, tuple[int, bool]] = {}
        self.symmetric = comp.canon is not None
        self.unreduced: set[str] = set()  # liveness properties the reduced graph cannot decide
        self.note = "python"  # which core ran (the native search says when it did)

    def por_note(self) -> str:
        return "not used"

    def _real(self, sts: list[int], acts: list[int]) -> bool:
        """With fingerprints (native core) a graph path might join two states that only share
        a fingerprint: each step is checked against the model (exact storage: always real)."""
        if getattr(self, "fingerprints", None) is None:
            return True
        buf: list[tuple[int, int]] = []
        for a, s, t in zip(acts, sts[:-1], sts[1:], strict=True):
            buf.clear()
            self.comp.expand(s, buf)
            if (a, t) not in buf:
                return False
        return True

    def n_reduced(self) -> int:
        return 0

    def run(self) -> None:
        """Explore; a limit passed at the start, during the search or the liveness analysis, or
        found by the last check at the end, stops it: what is not violated by then is unknown."""
        try:
            self.check()
            self.explore()
            self.check()
        except _LimitReachedError as s:
            self.stopped = s.reason

    def check(self) -> None:
        """Time and memory, now (also reports progress)."""
        self.budget.check(self.n_states(), self.depth)

    def tick(self) -> None:
        """Time and memory every CHECK_EVERY calls (for the analysis loops after the search)."""
        self.ticks += 1
        if self.ticks % CHECK_EVERY == 0:
            self.check()

    def explore(self) -> None:
        raise NotImplementedError  # overridden by both searches below

    def n_states(self) -> int:
        raise NotImplementedError  # overridden by both searches below

    def all_safety_decided(self) -> bool:
        return all(p.name in self.cex for p in self.props if p.kind in ("invariant", "deadlock"))

    def results(self) -> list[Result]:
        complete = not self.stopped and not self.early_stop
        out = []
        for p in self.props:
            r = Result(p.name, p.kind, "holds", "explicit", self.n_states(), self.transitions,
                       self.depth, 0.0)
            if p.name in self.unreduced:  # check_explicit replaces it by the full search's
                r.verdict, r.reason = "unknown", "needs the unreduced search"
            elif p.name in self.cex and not self._real(*self.cex[p.name]):
                r.verdict = "unknown"
                r.reason = ("a counterexample over fingerprinted states does not replay (a hash "
                            "collision); --storage exact decides it")
            elif p.name in self.cex:  # a real execution, whatever stopped the search afterwards
                sts, acts = self.cex[p.name]
                loop = self.loops.get(p.name)
                r.verdict = "violated"
                layout = self.comp.layout
                if self.symmetric:
                    sts, acts = _concrete(self.comp, sts, acts)
                    layout = Layout(self.comp.model)
                    sts = [layout.encode(v) for v in _in_model_order(self.comp.layout, sts)]
                r.trace = build_trace(layout, self.comp.instances, sts, acts,
                                      loop[0] if loop else None, bool(loop and loop[1]), p)
            elif not complete:  # only an exploration of every reachable state says "holds"
                r.verdict, r.reason = "unknown", self.stopped or "search stopped early"
            out.append(r)
        el = time.perf_counter() - self.t0
        sizes = dict(self.comp.model.sizes)
        for r in out:
            r.seconds = el
            r.strength = {"kind": "explicit", "sizes": sizes, "complete": complete}
            if self.early_stop and not self.stopped:  # every safety property already violated
                r.strength["decided_early"] = True
        return out


class _LayerSearch(_Search):
    """Safety and deadlock only: a visited set and the BFS layers, no edges."""

    def __init__(self, comp: Compiled, props: list[Property], limits: Limits,
                 progress: ProgressFn | None, t0: float, reducer: Reducer | None = None):
        super().__init__(comp, props, limits, progress, t0)
        self.reducer = reducer
        self.seen: set[int] = set()
        self.layers: list[list[int]] = []
        self.handed_off = False

    def n_states(self) -> int:
        return len(self.seen)

    def n_reduced(self) -> int:
        """States expanded with a proper subset of their enabled steps."""
        return self.reducer.reduced if self.reducer is not None else 0

    def por_note(self) -> str:
        return (f"partial-order reduction: {self.n_reduced():,} of the {self.n_states():,} "
                "states stored were expanded with a reduced (ample) set")

    def explore(self) -> None:
        comp = self.comp
        expand = comp.expand
        final = self.final
        budget = self.budget
        cap = budget.limits.max_states
        inits = _initial_states(comp)
        over = len(inits) > cap
        inits = inits[:cap]
        self.seen = seen = set(inits)
        self.layers = layers = [inits]
        if over:
            raise budget.full()
        n_inv = len(self.invs)
        pending = (1 << n_inv) - 1
        want_dl = self.want_deadlock
        red = self.reducer
        found: dict[str, tuple[int, int]] = {}
        buf: list[tuple[int, int]] = []
        tick = 0
        depth = 0
        nxt: list[int] = []
        try:
            while layers[-1]:
                nxt = []
                nxt_set: set[int] = set()

                def old(x: int, nxt_set: set[int] = nxt_set) -> bool:  # the proviso (por.py)
                    return x in seen and x not in nxt_set

                for s in layers[-1]:
                    buf.clear()
                    bad = expand(s, buf)
                    if bad & pending:
                        for bit in range(n_inv):
                            if (bad & pending) >> bit & 1:
                                found[self.invs[bit].name] = (depth, s)
                                pending &= ~(1 << bit)
                    if not buf and want_dl and "<deadlock>" not in found and not final(s):
                        found["<deadlock>"] = (depth, s)
                    keep = buf if red is None else red.ample(s, buf, old)
                    for _, ns in keep:
                        if ns not in seen:
                            if len(seen) >= cap:
                                raise budget.full()
                            seen.add(ns)
                            nxt.append(ns)
                            if red is not None:
                                nxt_set.add(ns)
                    self.transitions += len(keep)
                    tick += 1
                    if tick % CHECK_EVERY == 0:
                        budget.check(len(seen), depth)
                self.depth = depth
                self._record(found)
                if self.all_safety_decided():
                    self.early_stop = bool(nxt)
                    break
                layers.append(nxt)
                depth += 1
                if self.handoff(depth, found):  # the native core did the rest (native/search.py)
                    return
        except _LimitReachedError:
            if not self.handed_off:
                self.depth = depth + 1 if nxt else depth
                self._record(found)  # what was found before the stop is a real counterexample
            raise

    def handoff(self, depth: int, found: dict[str, tuple[int, int]]) -> bool:
        """At the start of layer depth: True when another core has explored the rest."""
        return False

    def _record(self, found: dict[str, tuple[int, int]]) -> None:
        for name, (d, s) in found.items():
            if name == "<deadlock>":
                for p in self.props:
                    if p.kind == "deadlock" and p.name not in self.cex:
                        self.cex[p.name] = self._path(d, s)
            elif name not in self.cex:
                self.cex[name] = self._path(d, s)

    def _path(self, depth: int, target: int) -> tuple[list[int], list[int]]:
        states, acts = [target], []
        cur = target
        buf: list[tuple[int, int]] = []
        for d in range(depth - 1, -1, -1):
            for p in self.layers[d]:
                self.tick()
                buf.clear()
                self.comp.expand(p, buf)
                aid = next((a for a, ns in buf if ns == cur), None)
                if aid is not None:
                    states.append(p)
                    acts.append(aid)
                    cur = p
                    break
            else:  # pragma: no cover - would mean the layers are inconsistent
                raise RuntimeError("no predecessor found while rebuilding a trace")
        states.reverse()
        acts.reverse()
        return states, acts


class _GraphSearch(_Search):
    """Keeps the whole state graph (CSR arrays) for the liveness analysis."""

    def __init__(self, comp: Compiled, props: list[Property], limits: Limits,
                 progress: ProgressFn | None, t0: float):
        super().__init__(comp, props, limits, progress, t0)
        self.states: Sequence[int] = []
        self.handed_off = False

    def n_states(self) -> int:
        return len(self.states)

    def explore(self) -> None:
        self._explore_graph()
        fair = bytearray(1 if inst.action.fair else 0 for inst in self.comp.instances)
        for p in self.props:
            if p.is_liveness:
                self._liveness(p, fair)

    def _explore_graph(self) -> None:
        """BFS numbering the states in BFS order; fills states, parent, off/succ/sact (CSR), and
        the safety counterexamples (the native graph search does the same in C)."""
        comp = self.comp
        expand = comp.expand
        final = self.final
        budget = self.budget
        cap = budget.limits.max_states
        inits = _initial_states(comp)
        over = len(inits) > cap
        inits = inits[:cap]
        self.n_init = len(inits)
        self.index = index = {s: i for i, s in enumerate(inits)}
        self.states = states = list(inits)
        self.parent = parent = array("q", [-1] * len(inits))
        self.off = off = array("q", [0])
        self.succ = succ = array("q")
        self.sact = sact = array("l")
        if over:
            raise budget.full()
        n_inv = len(self.invs)
        found: dict[str, int] = {}
        buf: list[tuple[int, int]] = []
        i = 0
        depth, layer_end = 0, len(states)  # states are numbered in BFS order, layer by layer
        try:
            while i < len(states):
                if i == layer_end:
                    depth, layer_end = depth + 1, len(states)
                s = states[i]
                buf.clear()
                bad = expand(s, buf)
                if bad:
                    for bit in range(n_inv):
                        if bad >> bit & 1:
                            found.setdefault(self.invs[bit].name, i)
                if not buf and self.want_deadlock and not final(s):
                    found.setdefault("<deadlock>", i)
                for aid, ns in buf:
                    j = index.get(ns)
                    if j is None:
                        j = len(states)
                        if j >= cap:
                            raise budget.full()
                        index[ns] = j
                        states.append(ns)
                        parent.append(i)
                    succ.append(j)
                    sact.append(aid)
                off.append(len(succ))
                i += 1
                if i % CHECK_EVERY == 0:
                    budget.check(len(states), depth)
                    if self.handoff(i, depth, layer_end, found):  # native/graph.py did the rest
                        return
        except _LimitReachedError:
            if not self.handed_off:
                self.transitions = off[-1]
                self.depth = depth + 1 if len(states) > layer_end else depth
                self._record(found)  # safety counterexamples found before the stop are real
            raise
        self.transitions = len(succ)
        self.depth = depth
        self._record(found)

    def handoff(self, i: int, depth: int, layer_end: int, found: dict[str, int]) -> bool:
        """After expanding states 0..i-1: True when another core has explored the rest."""
        return False

    def _record(self, found: dict[str, int]) -> None:
        for name, v in found.items():
            targets = [p.name for p in self.props if p.kind == "deadlock"] if name == "<deadlock>" \
                else [name]
            for t in targets:
                self.cex[t] = self._stem(v)

    def _stem(self, v: int) -> tuple[list[int], list[int]]:
        """The BFS tree path to v; each step's action is read back from the parent's edges."""
        sts, acts = [v], []
        while self.parent[v] >= 0:
            p = self.parent[v]
            acts.append(next(self.sact[e] for e in range(self.off[p], self.off[p + 1])
                             if self.succ[e] == v))
            sts.append(p)
            v = p
        sts.reverse()
        acts.reverse()
        return [self.states[x] for x in sts], acts

    # -- liveness ------------------------------------------------------------------------

    def _liveness(self, p: Property, fair: bytearray) -> None:
        """P ~> Q (or eventually Q from the start) fails iff some P-and-not-Q state reaches,
        through not-Q states, a fair cycle of not-Q states: an SCC in which every weakly fair
        action instance enabled in all its states is also taken inside it, or a state in which
        no fair action is enabled (the system may stay there forever)."""
        found = self._fair_targets(p, fair)
        if found is None:
            return
        in_r, comp_id, target, start = found
        # a shortest stem to the start, then inside not-Q to the nearest target, then the loop
        stem_states, stem_acts = self._stem(start)
        path, acts = self._bfs_path(start, lambda v: target[v] > 0, lambda v: in_r[v] > 0)
        entry = path[-1]
        sts = stem_states + [self.states[v] for v in path[1:]]
        all_acts = stem_acts + acts
        if target[entry] == 1:
            self.cex[p.name] = (sts, all_acts)
            self.loops[p.name] = (len(all_acts), True)
            return
        cid = comp_id[entry]
        lp, la = self._fair_loop(entry, cid, comp_id, fair)
        self.loops[p.name] = (len(all_acts), False)
        self.cex[p.name] = (sts + [self.states[v] for v in lp[1:]], all_acts + la)

    def _fair_targets(self, p: Property, fair: bytearray) -> tuple[Seq, Seq, Seq, int] | None:
        """The loops over all states and edges: not-Q (in_r), the SCC of each state (comp_id),
        the targets (1: stutter state, 2: member of a fair SCC) and the first premise state that
        reaches a target inside not-Q; None when the property holds (or is left to the
        unreduced search). The native graph search does this in C."""
        n = len(self.states)
        comp = self.comp
        tick = self.tick  # time and memory are checked all along the analysis too
        q = comp.predicate(p.expr)  # type: ignore[arg-type]
        # the premise is read in every state too, so an index error in it is the model's error
        # wherever it is (as in the Z3 engines), not only where a counterexample starts
        premise = comp.predicate(p.pre) if p.pre is not None else (lambda s: True)
        in_r = bytearray(n)
        for v, s in enumerate(self.states):
            tick()
            premise(s)
            if not q(s):
                in_r[v] = 1
        off, succ, sact = self.off, self.succ, self.sact
        comps, comp_id = _sccs(n, off, succ, in_r, tick)
        target = bytearray(n)  # 1: stutter state, 2: member of a fair SCC
        fair_comp: dict[int, set[int]] = {}
        for cid, members in enumerate(comps):
            for v in members:
                tick()
                if not any(fair[sact[e]] for e in range(off[v], off[v + 1])):
                    target[v] = 1
            if len(members) == 1:
                v = members[0]
                if not any(succ[e] == v for e in range(off[v], off[v + 1])):
                    continue
            if self.symmetric:  # a cycle of the quotient: fair or not, it is decided unreduced
                for v in members:
                    target[v] = target[v] or 2
                continue
            enabled_all: set[int] | None = None
            taken: set[int] = set()
            for v in members:
                tick()
                en = set()
                for e in range(off[v], off[v + 1]):
                    a = sact[e]
                    if fair[a]:
                        en.add(a)
                    if comp_id[succ[e]] == cid:
                        taken.add(a)
                enabled_all = en if enabled_all is None else enabled_all & en
            if enabled_all is not None and enabled_all <= taken:
                fair_comp[cid] = taken
                for v in members:
                    if not target[v]:
                        target[v] = 2
        if not any(target):  # no fair cycle and no stutter state among not-Q states: holds
            return None
        # backward reachability, inside not-Q, from the targets
        rev_off = array("q", [0] * (n + 1))
        for v in range(n):
            tick()
            if in_r[v]:
                for e in range(off[v], off[v + 1]):
                    if in_r[succ[e]]:
                        rev_off[succ[e] + 1] += 1
        for v in range(n):
            rev_off[v + 1] += rev_off[v]
        fill = array("q", rev_off)
        rev = array("q", [0] * rev_off[n])
        for v in range(n):
            tick()
            if in_r[v]:
                for e in range(off[v], off[v + 1]):
                    w = succ[e]
                    if in_r[w]:
                        rev[fill[w]] = v
                        fill[w] += 1
        pre = None if p.kind == "eventually" else comp.predicate(p.pre)  # type: ignore[arg-type]

        def first_start(kinds: tuple[int, ...]) -> int | None:
            """The first premise state that reaches, inside not-Q, a target of these kinds."""
            can = bytearray(n)
            dq = deque(v for v in range(n) if target[v] in kinds)
            for v in dq:
                can[v] = 1
            while dq:
                tick()
                w = dq.popleft()
                for e in range(rev_off[w], rev_off[w + 1]):
                    v = rev[e]
                    if not can[v]:
                        can[v] = 1
                        dq.append(v)
            for v in range(self.n_init if pre is None else n):
                tick()
                if can[v] and (pre is None or pre(self.states[v])):
                    return v
            return None

        if not self.symmetric:
            start = first_start((1, 2))
        else:  # a stuck state is stuck in every permutation: a real counterexample
            start = first_start((1,))
            if start is None and first_start((2,)) is not None:
                self.unreduced.add(p.name)
                return None
            target = bytearray(1 if t == 1 else 0 for t in target)
        if start is None:
            return None
        return in_r, comp_id, target, start

    def _bfs_path(self, src: int, goal: Callable[[int], bool], inside: Callable[[int], bool],
                  min_len: int = 0, want_action: int | None = None) -> tuple[list[int], list[int]]:
        """Shortest path from src (length >= min_len) to a goal state, or through an edge
        labelled want_action when given, staying inside."""
        off, succ, sact = self.off, self.succ, self.sact
        if min_len == 0 and want_action is None and goal(src):
            return [src], []
        prev: dict[int, tuple[int, int]] = {}
        dq = deque([src])
        seen = {src} if min_len == 0 else set()
        while dq:
            self.tick()
            v = dq.popleft()
            for e in range(off[v], off[v + 1]):
                w, a = succ[e], sact[e]
                if not inside(w):
                    continue
                if want_action is not None and a == want_action:
                    path, acts = self._unwind(prev, src, v)
                    return [*path, w], [*acts, a]
                if w in seen:
                    continue
                seen.add(w)
                prev[w] = (v, a)
                if want_action is None and goal(w):
                    return self._unwind(prev, src, w, at_least_one=min_len > 0)
                dq.append(w)
        raise RuntimeError("no path found in a component that should be strongly connected")

    @staticmethod
    def _unwind(prev: dict[int, tuple[int, int]], src: int, w: int,
                at_least_one: bool = False) -> tuple[list[int], list[int]]:
        path, acts = [w], []
        while w != src or (at_least_one and not acts):
            v, a = prev[w]
            path.append(v)
            acts.append(a)
            w = v
        path.reverse()
        acts.reverse()
        return path, acts

    def _fair_loop(self, entry: int, cid: int, comp_id: array, fair: bytearray
                   ) -> tuple[list[int], list[int]]:
        """A cycle through entry inside its SCC that meets weak fairness: every fair action
        instance is taken on the cycle or disabled somewhere on it."""
        off, sact = self.off, self.sact

        def inside(v: int) -> bool:
            return comp_id[v] == cid

        def enabled(v: int) -> set[int]:
            return {sact[e] for e in range(off[v], off[v + 1]) if fair[sact[e]]}

        path, acts = [entry], []
        obligations = sorted(set().union(*(enabled(v) for v in self._members(entry, inside))))
        for a in obligations:
            if a in acts or any(a not in enabled(v) for v in path):
                continue
            # nearest state where a is disabled, else take an a-edge
            try:
                p, pa = self._bfs_path(path[-1], lambda v, a=a: a not in enabled(v), inside)
            except RuntimeError:
                p, pa = self._bfs_path(path[-1], lambda v: False, inside, want_action=a)
            path += p[1:]
            acts += pa
        back, ba = self._bfs_path(path[-1], lambda v: v == entry, inside, min_len=1)
        return path + back[1:], acts + ba

    def _members(self, entry: int, inside: Callable[[int], bool]) -> list[int]:
        off, succ = self.off, self.succ
        seen = {entry}
        dq = deque([entry])
        while dq:
            self.tick()
            v = dq.popleft()
            for e in range(off[v], off[v + 1]):
                w = succ[e]
                if inside(w) and w not in seen:
                    seen.add(w)
                    dq.append(w)
        return sorted(seen)


def _concrete(comp: Compiled, sts: list[int], acts: list[int]) -> tuple[list[int], list[int]]:
    """A path of orbit representatives as a real execution: from the (real) initial state, each
    step is a step of the model into the next representative's orbit, found by expanding."""
    assert comp.raw_expand is not None and comp.canon is not None
    cur, out_s, out_a = sts[0], [sts[0]], []
    buf: list[tuple[int, int]] = []
    for nxt in sts[1:]:
        buf.clear()
        comp.raw_expand(cur, buf)
        aid, cur = next((a, t) for a, t in buf if comp.canon(t) == nxt)
        out_s.append(cur)
        out_a.append(aid)
    assert len(out_a) == len(acts)
    return out_s, out_a


def _in_model_order(layout: Layout, sts: list[int]) -> list[list[int]]:
    """States decoded from a (thread-major) layout, as values in the model's own slot order."""
    order = {(n, i): k for k, (n, i, _) in enumerate(layout.slots)}
    keys = [order[(n, i)] for n, i, _ in layout.model.slots()]
    return [[vals[k] for k in keys] for vals in map(layout.decode, sts)]


def _initial_states(comp: Compiled) -> list[int]:
    inits = comp.initial_states()
    if not inits:
        raise ModelError("the model has no initial state (the init constraints exclude all)")
    return inits


def _sccs(n: int, off: array, succ: array, in_r: bytearray,
          tick: Callable[[], None]) -> tuple[list[list[int]], array]:
    """Tarjan's algorithm, iterative, on the subgraph induced by in_r; tick() once per state."""
    index = array("l", [-1] * n)
    low = array("l", [0] * n)
    on_stack = bytearray(n)
    comp_id = array("l", [-1] * n)
    stack: list[int] = []
    comps: list[list[int]] = []
    counter = 0
    for root in range(n):
        tick()
        if not in_r[root] or index[root] != -1:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = 1
        work = [[root, off[root]]]
        while work:
            frame = work[-1]
            v, ei = frame
            end = off[v + 1]
            pushed = False
            while ei < end:
                w = succ[ei]
                ei += 1
                if not in_r[w]:
                    continue
                if index[w] == -1:
                    tick()
                    frame[1] = ei
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = 1
                    work.append([w, off[w]])
                    pushed = True
                    break
                if on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
            if pushed:
                continue
            work.pop()
            if work:
                u = work[-1][0]
                if low[v] < low[u]:
                    low[u] = low[v]
            if low[v] == index[v]:
                members = []
                while True:
                    w = stack.pop()
                    on_stack[w] = 0
                    comp_id[w] = len(comps)
                    members.append(w)
                    if w == v:
                        break
                comps.append(members)
    return comps, comp_id
