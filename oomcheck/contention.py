"""Page-table-lock contention between the zappers of the reaper model: worst case, random, timed.

The question (issue 4, "How much contention the reverse walk removes"): how many times does a
zapper wait for a PTL another zapper holds, and for how long, when the OOM reaper walks the VMAs
forward (<= 6.17, the same direction as exit_mmap's unmap_vmas) or in reverse (6.18)? The measurement
of zhongjinji (Sep 2025, arm64; Michal Hocko's table) is the reference: waiting for the
PTE spinlock 33.1 ms -> 1.0 ms, total running time (exit_mmap + reaper work) 167.1 -> 132.6 ms.

Definitions, in terms of the model's variables (oomcheck/models/reaper.py):
- the zappers are exit_mmap (exit_pc at UN_PTL, or SR_PTL in the pre-2022/5.17 self-reap), the OOM
  reaper (reaper_pc == PTL) and, with mrelease=yes, process_mrelease (mrel_pc == PTL);
- a zapper z is *at its PTL step* for VMA v = z's cur when its pc is that PTL step: its next step
  is pte_offset_map_lock() on v's table;
- z is *waiting* in a state when it is at its PTL step and ptl[v] != FREE. A zapper holds no PTL at
  its PTL step, so the holder is another zapper;
- a *contention event* is the start of a waiting episode: a state in which z is waiting although it
  has not waited yet since it arrived at this PTL step. An episode ends when z leaves the PTL step
  (takes the lock). So each wait counts once, however many other steps happen while z spins.
- *spin time* (simulation): the clock time a zapper spends blocked at its PTL step (simulate.Wait
  whose last blocked state has the zapper at its PTL step);
- *work*: the summed busy and spin time of the zappers (the measurement's "Total running time
  (exit_mmap + reaper work)"; a spinning CPU is busy); *makespan*: when the last actor finishes.

The cost model (Costs) is ours, not measured: clearing a present PTE (folio_remove_rmap_ptes and
friends) ~10x a lock or iterator step, freeing a gathered page ~5x, reading an already-cleared PTE
1x. exit_mmap's batch-full tlb_flush_mmu (left out of the model's state, whose fullmm gather is
flushed once at the end) is charged after each table's unlock, as in zap_pte_range, where
the flush follows pte_unmap_unlock().
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from oomcheck.checker.language.compile import Compiled, compile_model
from oomcheck.checker.language.lang import ActionInstance, Expr, Index, Model, ModelError, Op, Quant, Var
from oomcheck.checker.simulate import Run, SlotReader, simulate
from oomcheck.models import reaper

WALKS = ("forward", "reverse")
# The contention experiment's knobs: the mm of an OOM victim, today's exit_mmap, every VMA reaped,
# no mmu notifier failures (they would add retry passes, not change who meets whom).
CONTENTION_KNOBS = {"exit_mmap": "current", "oom_victim": "yes", "mrelease": "no",
                    "mmap_writer": "no", "notifier": "ok", "vma_kinds": "anon", "top_vma": "no",
                    "tree_emptied_under_lock": "yes"}
# The reference measurement, ms (Michal Hocko's summary of zhongjinji's perf data, arm64,
# Sep 2025). Not a random seed: the simulations' seeds are the `seed` arguments.
MEASURED_BY = "zhongjinji's arm64 measurement"
MEASURED = {"spin_forward": 33.1, "spin_reverse": 1.0, "work_forward": 167.1, "work_reverse": 132.6,
        "spin_split_forward": (10.0, 23.1), "spin_split_reverse": (0.4, 0.6)}


# ----------------------------------------------------------------------------------------------
# the zappers and the event definition
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Zapper:
    actor: str  # the ActionInstance.actor of its steps
    at_ptl: Expr  # its next step is pte_offset_map_lock on its current VMA's table
    waiting: Expr  # ... and another zapper holds that table's PTL


def zappers(model: Model) -> list[Zapper]:
    """The zappers of a reaper model, with their at-PTL and waiting conditions."""
    if model.name != "reaper":
        raise ModelError(f"PTL contention is defined for the reaper model, not {model.name}")
    ptl_owner = model.vars["ptl"].type
    free = ptl_owner.FREE  # type: ignore[union-attr]
    exit_pc = model.vars["exit_pc"].type
    # with per-VMA PMD state (the page-table changer knobs) the spin is at the PTL_LOCK step
    lock = "PTL_LOCK" if "pmd" in model.vars else "PTL"
    specs = [("exit", "exit_pc", "exit_cur", (getattr(exit_pc, "UN_" + lock),
                                              getattr(exit_pc, "SR_" + lock)))]
    for kind, pc, cur in (("reaper", "reaper_pc", "reaper_cur"), ("mrelease", "mrel_pc", "mrel_cur"),
                          ("thread", "thread_pc", "thread_cur")):
        if pc in model.vars:
            specs.append((kind, pc, cur, (getattr(model.vars[pc].type, lock),)))
    out = []
    for kind, pc, cur, ptl_pcs in specs:
        at: Expr = Var(pc) == ptl_pcs[0]
        for other in ptl_pcs[1:]:
            at = at | (Var(pc) == other)
        waiting = at & (Index("ptl", Var(cur)) != free)
        out.append(Zapper(model.actor_names.get(kind, kind), at, waiting))
    return out


class EventCounter:
    """Counts contention events along a sequence of states (each waiting episode once).

    The state of the count is a bit set: bit i = zapper i has been counted waiting since it
    arrived at its current PTL step.
    """

    def __init__(self, compiled: Compiled, zs: Sequence[Zapper]):
        self.zappers = list(zs)
        self.at_ptl = [compiled.predicate(z.at_ptl) for z in zs]
        self.waiting = [compiled.predicate(z.waiting) for z in zs]

    def advance(self, state: int, flags: int) -> tuple[int, int, int]:
        """Entering `state`: (events, the zappers whose episode starts as a bit set, new flags)."""
        events = started = 0
        for i, (at, wt) in enumerate(zip(self.at_ptl, self.waiting, strict=True)):
            bit = 1 << i
            if not at(state):
                flags &= ~bit
            elif not flags & bit and wt(state):
                flags |= bit
                started |= bit
                events += 1
        return events, started, flags

    def count(self, states: Iterable[int]) -> dict[str, int]:
        """Events per zapper actor along a run."""
        per = dict.fromkeys((z.actor for z in self.zappers), 0)
        flags = 0
        for s in states:
            _, started, flags = self.advance(s, flags)
            for i, z in enumerate(self.zappers):
                if started >> i & 1:
                    per[z.actor] += 1
        return per


def expr_reads(e: Expr | None, out: set[str]) -> set[str]:
    """Add the state variables (scalars and arrays, by name) that an expression reads."""
    if isinstance(e, Var):
        out.add(e.name)
    elif isinstance(e, Index):
        out.add(e.array)
        expr_reads(e.index, out)
    elif isinstance(e, Op):
        for a in e.args:
            expr_reads(a, out)
    elif isinstance(e, Quant):
        expr_reads(e.body, out)
    return out


def control_vars(compiled: Compiled, observed: Iterable[Expr]) -> set[str]:
    """The cone of influence of the guards and of `observed`: the least set of variables that
    holds every variable a guard or an observed expression reads, and every variable read by an
    update (value or index) of a variable in the set. The other variables are data: no guard,
    no observed expression and no update of a control variable depends on them."""
    ctl: set[str] = set()
    for e in observed:
        expr_reads(e, ctl)
    ups = []
    for inst in compiled.instances:
        expr_reads(inst.guard, ctl)
        ups.extend(inst.updates)
    changed = True
    while changed:
        changed = False
        for lhs, rhs in ups:
            name = lhs.name if isinstance(lhs, Var) else lhs.array  # type: ignore[union-attr]
            if name in ctl:
                before = len(ctl)
                expr_reads(rhs, ctl)
                if isinstance(lhs, Index):
                    expr_reads(lhs.index, ctl)
                changed |= len(ctl) != before
    return ctl


def worst_case_events(compiled: Compiled, zs: Sequence[Zapper] | None = None,
                      max_nodes: int = 5_000_000, project: bool = True) -> int:
    """The most contention events along any execution (every interleaving), by memoized DFS.

    The reaper model's state graph is acyclic, so this is a longest path; a cycle is an error.
    Nodes are (state, episode flags): the same state can be reached inside or outside an episode.

    With `project` (default) a node is remembered by its control part only (control_vars of the
    guards and the event definition): page-table entries, gathers, free counts and ghosts are
    dropped. That is exact, not a bound: two states with the same control part enable the same
    steps, which lead to successors with the same control parts again, and the event count reads
    only control variables, so the most events ahead of them is the same. Each node is still
    expanded from a real reachable state, so every path searched is an execution of the model.
    """
    zs = list(zs) if zs is not None else zappers(compiled.model)
    counter = EventCounter(compiled, zs)
    keep = -1
    if project:
        ctl = control_vars(compiled, [e for z in zs for e in (z.at_ptl, z.waiting)])
        lay = compiled.layout
        keep = 0
        for k, (name, _, _) in enumerate(lay.slots):
            if name in ctl:
                keep |= ((1 << lay.width[k]) - 1) << lay.offset[k]
    memo: dict[tuple[int, int], int] = {}
    on_stack: set[tuple[int, int]] = set()
    best = 0
    for init in compiled.initial_states():
        w0, _, f0 = counter.advance(init, 0)
        if (init & keep, f0) not in memo:
            _longest(compiled, counter, (init, f0), keep, memo, on_stack, max_nodes)
        best = max(best, w0 + memo[(init & keep, f0)])
    return best


def _longest(compiled: Compiled, counter: EventCounter, root: tuple[int, int], keep: int,
             memo: dict[tuple[int, int], int], on_stack: set[tuple[int, int]],
             max_nodes: int) -> None:
    """Fill memo[(state & keep, flags)] with the most events ahead, for root and below it."""
    def children(node: tuple[int, int]) -> list[tuple[int, tuple[int, int]]]:
        out: list[tuple[int, int]] = []
        compiled.expand(node[0], out)
        kids = []
        for _, nxt in out:
            w, _, f = counter.advance(nxt, node[1])
            kids.append((w, (nxt, f)))
        return kids

    def key(node: tuple[int, int]) -> tuple[int, int]:
        return node[0] & keep, node[1]

    stack: list[list] = [[root, children(root), 0, 0]]  # node, children, next child, best so far
    on_stack.add(key(root))
    while stack:
        frame = stack[-1]
        node, kids, i, acc = frame
        pushed = False
        while i < len(kids):
            w, kid = kids[i]
            v = memo.get(key(kid))
            if v is None:
                if key(kid) in on_stack:
                    raise ModelError(f"model {compiled.model.name} has a cycle: the worst case "
                                     "is not bounded")
                if len(memo) >= max_nodes:
                    raise ModelError(f"worst case: more than {max_nodes} nodes; use smaller sizes")
                frame[2], frame[3] = i, acc  # come back to this child once it is solved
                stack.append([kid, children(kid), 0, 0])
                on_stack.add(key(kid))
                pushed = True
                break
            acc = max(acc, w + v)
            i += 1
        if not pushed:
            memo[key(node)] = acc
            on_stack.discard(key(node))
            stack.pop()


# ----------------------------------------------------------------------------------------------
# costs
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Costs:
    """Durations in units of one lock or iterator step (our choice; see the module docstring)."""

    lock_step: float = 1.0  # an iterator step, pte_offset_map_lock uncontended, a flag or lock op
    zap_present: float = 10.0  # clear a present PTE and take its page out of the rmap
    zap_none: float = 1.0  # read an entry another zapper already cleared
    free_page: float = 5.0  # per page dropped when a gather is flushed
    pgtable_free: float = 2.0  # free_pgtables, per VMA
    vma_free: float = 1.0  # remove_vma, per VMA
    jitter: float = 0.2  # multiplicative, uniform in [1 - jitter, 1 + jitter]
    reaper_delay: float = 0.0  # when the OOM reaper starts, after exit_mmap (time units)


class ReaperCostFn:
    """The cost of each step of a reaper model instance (see Costs)."""

    def __init__(self, compiled: Compiled, costs: Costs):
        self.c = costs
        self.read = SlotReader(compiled)
        m = compiled.model
        self.k, self.p = m.sizes["vmas"], m.sizes["ptes"]
        self.kind: list[tuple[str, object]] = [self._classify(i) for i in compiled.instances]

    def _classify(self, inst: ActionInstance) -> tuple[str, object]:
        name, b = inst.action.name, dict(inst.binding)
        if name.endswith("_zap"):
            return "zap", b["v"] * self.p + b["p"]
        if name in ("reaper_tlb_finish", "mrelease_tlb_finish", "exit_self_reap_tlb_finish"):
            return "flush", {"reaper_tlb_finish": "g_reaper", "mrelease_tlb_finish": "g_mrel",
                             "exit_self_reap_tlb_finish": "g_exit"}[name]
        if name in ("exit_unmap_iter", "exit_unmap_iter_end"):
            return "exit_table_done", None
        if name == "exit_free_pgtables":
            return "fixed", self.c.lock_step + self.c.pgtable_free * self.k
        if name == "exit_remove_vmas":
            return "fixed", self.c.lock_step + self.c.vma_free * self.k
        return "fixed", self.c.lock_step

    def __call__(self, inst: ActionInstance, state: int) -> float:
        what, arg = self.kind[inst.id]
        c = self.c
        if what == "fixed":
            return arg  # type: ignore[return-value]
        if what == "zap":
            return c.zap_present if self.read.get(state, "pte", arg) else c.zap_none  # type: ignore[arg-type]
        if what == "flush":
            return c.lock_step + c.free_page * self.read.count_true(state, arg)  # type: ignore[arg-type]
        # exit_mmap's iterator after a table: the batch-full flushes of the pages it gathered there
        cur = self.read.get(state, "exit_cur")
        if not 0 <= cur < self.k:
            return c.lock_step
        pages = range(cur * self.p, (cur + 1) * self.p)
        return c.lock_step + c.free_page * self.read.count_true(state, "g_exit", pages)


# ----------------------------------------------------------------------------------------------
# measurements
# ----------------------------------------------------------------------------------------------


def contention_model(walk: str, vmas: int, ptes: int, knobs: dict[str, str] | None = None) -> Model:
    """A reaper model instance for the contention experiment, at any size.

    The registry's size maxima bound exhaustive checking; a simulation only needs the layout to
    fit, so the model's build function is called directly.
    """
    if walk not in reaper.KNOBS["walk"]:
        raise ModelError(f"walk must be one of {', '.join(reaper.KNOBS['walk'])}, not {walk!r}")
    if vmas < 1 or ptes < 1:
        raise ModelError(f"vmas and ptes must be at least 1, not {vmas} and {ptes}")
    full = {**reaper.DEFAULT_KNOBS, **CONTENTION_KNOBS, **(knobs or {}), "walk": walk}
    for k, v in full.items():
        if k not in reaper.KNOBS or v not in reaper.KNOBS[k]:
            raise ModelError(f"reaper model: bad knob {k}={v}")
    return reaper.build({"vmas": vmas, "ptes": ptes}, full)


@dataclass
class RunStats:
    """What one simulated run shows about PTL contention."""

    events: dict[str, int]
    spin: dict[str, float]
    work: float
    makespan: float
    end: str

    @property
    def total_events(self) -> int:
        return sum(self.events.values())

    @property
    def total_spin(self) -> float:
        return sum(self.spin.values())


def run_stats(compiled: Compiled, run: Run, counter: EventCounter) -> RunStats:
    """Events, PTL spin per zapper, work and makespan of one run."""
    events = counter.count(run.states)
    at_ptl = {z.actor: p for z, p in zip(counter.zappers, counter.at_ptl, strict=True)}
    spin = dict.fromkeys(at_ptl, 0.0)
    for w in run.waits:
        if w.actor in at_ptl and at_ptl[w.actor](run.states[w.state_index]):
            spin[w.actor] += w.length
    work = sum(run.busy[a] + spin[a] for a in at_ptl)
    return RunStats(events, spin, work, run.makespan, run.end)


@dataclass
class Summary:
    """Means (and the maximum of events) over seeded runs of one scheduler."""

    scheduler: str
    runs: int
    events: float
    events_max: int
    spin: float
    work: float
    makespan: float
    spin_by_actor: dict[str, float] = field(default_factory=dict)
    events_sd: float = 0.0


def measure(model: Model, scheduler: str, runs: int, seed: int = 0,
            costs: Costs | None = None) -> Summary:
    """Mean contention figures over `runs` simulated runs (seeds seed, seed + 1, ...)."""
    if runs < 1:
        raise ModelError("runs must be at least 1")
    costs = costs or Costs()
    compiled = compile_model(model)
    counter = EventCounter(compiled, zappers(model))
    cost_fn = ReaperCostFn(compiled, costs)
    start = {"oom_reaper": costs.reaper_delay} if "reaper_pc" in model.vars else None
    stats = []
    for i in range(runs):
        run = simulate(compiled, scheduler, seed + i, cost=cost_fn, jitter=costs.jitter,
                       start_clocks=start)
        if run.end != "final":
            raise ModelError(f"simulation of {model.name} ended in {run.end} (seed {seed + i})")
        stats.append(run_stats(compiled, run, counter))
    ev = [s.total_events for s in stats]
    actors = list(stats[0].spin)
    return Summary(
        scheduler, runs, statistics.fmean(ev), max(ev),
        statistics.fmean(s.total_spin for s in stats),
        statistics.fmean(s.work for s in stats),
        statistics.fmean(s.makespan for s in stats),
        {a: statistics.fmean(s.spin[a] for s in stats) for a in actors},
        statistics.pstdev(ev) if len(ev) > 1 else 0.0,
    )


@dataclass
class Row:
    """Forward and reverse at one size."""

    vmas: int
    ptes: int
    worst: dict[str, int | None]  # walk -> exhaustive worst case (None: not computed)
    random: dict[str, Summary]
    timed: dict[str, Summary]


def measure_row(vmas: int, ptes: int, runs: int, seed: int = 0, costs: Costs | None = None,
                exhaustive: bool = False, knobs: dict[str, str] | None = None) -> Row:
    worst: dict[str, int | None] = {}
    rnd: dict[str, Summary] = {}
    tmd: dict[str, Summary] = {}
    for walk in WALKS:
        m = contention_model(walk, vmas, ptes, knobs)
        worst[walk] = worst_case_events(compile_model(m)) if exhaustive else None
        rnd[walk] = measure(m, "random", runs, seed, costs)
        tmd[walk] = measure(m, "timed", runs, seed, costs)
    return Row(vmas, ptes, worst, rnd, tmd)


def _ratio(a: float, b: float) -> float:
    if b == 0:
        return math.inf if a > 0 else 1.0
    return a / b


def _fmt_ratio(r: float) -> str:
    if math.isinf(r):
        return "inf"
    return f"{r:.0f}x" if r >= 100 else f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"


def _share(s: Summary) -> float:
    """The fraction of the zappers' work spent spinning on a PTL."""
    return s.spin / s.work if s.work else 0.0


def measured_ratios() -> dict[str, float]:
    s = MEASURED
    return {"spin": s["spin_forward"] / s["spin_reverse"],
            "work": s["work_forward"] / s["work_reverse"],
            "share_forward": s["spin_forward"] / s["work_forward"],
            "share_reverse": s["spin_reverse"] / s["work_reverse"]}


def table_markdown(rows: Sequence[Row]) -> str:
    """The forward/reverse table (cells read "forward / reverse"), the measurement last."""
    head = ("| K | P | worst events | random events | random spin | timed events | timed spin "
            "| spin f/r | spin share of work | work | work f/r | makespan f/r |")
    lines = [head, "|" + "---:|" * 12]
    for r in rows:
        f, v = r.timed["forward"], r.timed["reverse"]
        rf, rv = r.random["forward"], r.random["reverse"]
        worst = "-" if r.worst["forward"] is None else f"{r.worst['forward']} / {r.worst['reverse']}"
        lines.append(
            f"| {r.vmas} | {r.ptes} | {worst} | {rf.events:.2f} / {rv.events:.2f} "
            f"| {rf.spin:.0f} / {rv.spin:.0f} "
            f"| {f.events:.2f} / {v.events:.2f} | {f.spin:.1f} / {v.spin:.1f} "
            f"| {_fmt_ratio(_ratio(f.spin, v.spin))} | {_share(f):.1%} / {_share(v):.2%} "
            f"| {f.work:.0f} / {v.work:.0f} | {_fmt_ratio(_ratio(f.work, v.work))} "
            f"| {_fmt_ratio(_ratio(f.makespan, v.makespan))} |")
    s, q = MEASURED, measured_ratios()
    lines.append(
        f"| measured (zhongjinji) | arm64 | | | | | {s['spin_forward']} / {s['spin_reverse']} ms "
        f"| {_fmt_ratio(q['spin'])} | {q['share_forward']:.1%} / {q['share_reverse']:.2%} "
        f"| {s['work_forward']} / {s['work_reverse']} ms | {_fmt_ratio(q['work'])} | n/a |")
    return "\n".join(lines)


def conclusion(rows: Sequence[Row], sens: Sequence[Sensitivity] = ()) -> str:
    """Whether the model reproduces the measured direction and size, and under which scheduler."""
    big = max(rows, key=lambda r: (r.vmas * r.ptes, r.vmas))
    tf, tv = big.timed["forward"], big.timed["reverse"]
    rf, rv = big.random["forward"], big.random["reverse"]
    q = measured_ratios()
    judged = [r for r in rows if r.vmas >= 4] or list(rows)
    timed_dir = all(r.timed["forward"].spin > r.timed["reverse"].spin
                    and r.timed["forward"].events > r.timed["reverse"].events
                    and r.timed["forward"].work > r.timed["reverse"].work for r in judged)
    rand_dir = all(r.random["forward"].events > r.random["reverse"].events for r in judged)
    shares_f = [_share(r.timed["forward"]) for r in judged]
    shares_v = [_share(r.timed["reverse"]) for r in judged]
    works = [_ratio(r.timed["forward"].work, r.timed["reverse"].work) for r in judged]
    worst = [r for r in rows if r.worst["forward"] is not None]
    close = 0.5 <= statistics.fmean(shares_f) / q["share_forward"] <= 2.0 and \
        all(abs(w - q["work"]) <= 0.25 for w in works)
    order = "of the measured order" if close else "NOT of the measured order"
    out = [
        f"Direction: {'reproduced' if timed_dir else 'NOT reproduced'} under the timed "
        "scheduler: at every size with K >= 4 the reverse walk has fewer contention events, "
        "less PTL spin and less work than the forward walk"
        f"{'' if timed_dir else ' - not so at some size'}. Under the random scheduler the "
        f"reverse walk has fewer events at every such size: {'yes' if rand_dir else 'NO'}; "
        "but see below for the size.",
    ]
    if worst:
        w = ", ".join(f"K={r.vmas},P={r.ptes}: {r.worst['forward']} / {r.worst['reverse']}"
                      for r in worst)
        out.append(f"Worst case over all interleavings (forward / reverse): {w}. A forward walk "
                   "can collide on every table (K events), a reverse walk at most once, where "
                   "the two walks cross. These are exhaustive at every size listed, K=32 included: "
                   "the search remembers each state by its control part (the cone of influence "
                   "of the guards and of the event definition: pcs, iterator positions, PTL "
                   "owners, locks and flags; page-table entries, gathers and free counts are "
                   "dropped because nothing that decides a step or an event reads them), which "
                   "leaves the maximum unchanged and makes the search about (K*P)^2 states. "
                   "Why K and 1, with exit_mmap and the OOM reaper as the zappers: whoever reaches a "
                   "table's PTL second is the "
                   "only one who can wait for it, so each table gives at most one event; "
                   "walking towards each other, after they meet each only finds tables the other "
                   "has left.")
    size = (
        f"Size, timed scheduler: with the default costs the share of the two zappers' work spent "
        f"spinning is {min(shares_f):.1%}-{max(shares_f):.1%} forward and {min(shares_v):.2%}-"
        f"{max(shares_v):.2%} reverse (measured: {q['share_forward']:.1%} and "
        f"{q['share_reverse']:.2%}), and the work ratio forward/reverse is {min(works):.2f}-"
        f"{max(works):.2f}x (measured: {q['work']:.2f}x). Both hardly depend on K and are "
        f"{order}.")
    if sens:
        sh = [_share(s.forward) for s in sens]
        wr = [_ratio(s.forward.work, s.reverse.work) for s in sens]
        brackets = min(sh) <= q["share_forward"] <= max(sh) and min(wr) <= q["work"] <= max(wr)
        size += (f" They depend on the cost model, which is chosen, not measured: across the cost "
                 f"variants of the sensitivity table the forward share is {min(sh):.0%}-"
                 f"{max(sh):.0%} and the work ratio {min(wr):.2f}-{max(wr):.2f}x, which "
                 f"{'brackets' if brackets else 'does NOT bracket'} the measurement; so "
                 "the model reproduces the size of the effect on the total (a sizeable part of "
                 "the forward work is PTL spin, and the reverse walk saves about that), not its "
                 "exact value.")
    per_event = tf.spin / tf.events if tf.events else 0.0
    size += (
        f" The spin ratio forward/reverse is a different matter: at K={big.vmas}, P={big.ptes} "
        f"it is {_fmt_ratio(_ratio(tf.spin, tv.spin))} ({tf.events:.1f} vs {tv.events:.2f} "
        f"events; {per_event:.0f} spin per forward event), against the measured "
        f"{_fmt_ratio(q['spin'])}. Forward spin grows linearly with K. Reverse spin is at "
        "most one table's worth per run, and only in the runs where the two walks reach the "
        f"crossing table at the same time ({tv.events:.0%} of runs here)")
    line = sorted((r for r in rows if r.ptes == big.ptes), key=lambda r: r.vmas)
    if len(line) > 1:
        a, b = line[0], line[-1]
        size += (f"; that grows with K as the jitter accumulates and the walkers' phase at the "
                 f"crossing gets random (P={big.ptes}: {a.timed['reverse'].events:.0%} of runs "
                 f"at K={a.vmas}, {b.timed['reverse'].events:.0%} at K={b.vmas}; see also the "
                 "jitter rows of the sensitivity table)")
    size += (". So the spin ratio is set by how often the crossing collides, which depends on "
             "timing noise the model does not pin down, not on the walk order alone; the measured "
             "residual 1.0 ms is of that kind, or comes from locks the model leaves out.")
    finite = [(r, _ratio(r.timed["forward"].spin, r.timed["reverse"].spin)) for r in rows]
    finite = [(r, x) for r, x in finite if math.isfinite(x)]
    if finite:
        lo, hi = min(finite, key=lambda rx: rx[1]), max(finite, key=lambda rx: rx[1])
        zero = len(rows) - len(finite)
        size += (f" Across the table the timed spin ratio runs from {_fmt_ratio(lo[1])} "
                 f"(K={lo[0].vmas}, P={lo[0].ptes}) to {_fmt_ratio(hi[1])} (K={hi[0].vmas}, "
                 f"P={hi[0].ptes})" + (f", and is infinite at {zero} size(s) where no reverse "
                                       "run spun at all" if zero else "")
                 + f"; the measured {_fmt_ratio(q['spin'])} lies "
                 + ("inside" if lo[1] <= q["spin"] <= hi[1] else "outside") + " that range.")
    out.append(size)
    out.append(
        f"Size, random scheduler: at K={big.vmas}, P={big.ptes} {rf.events:.2f} vs "
        f"{rv.events:.2f} events, spin {_fmt_ratio(_ratio(rf.spin, rv.spin))}: only the "
        "direction, not the size (forward collides on a few tables, not on every one).")
    out.append(
        "Why. Under the timed scheduler exit_mmap and the reaper advance at comparable speeds, "
        "as two CPUs do. Walking the same way they leapfrog: the one that unlocks table v goes "
        "on to flush its gather outside the lock, the other passes v (already cleared, cheap), "
        "takes v+1 first and clears it, and the first then spins on v+1. So one of them waits "
        "on every table, and both take turns waiting, as in the measurement (exit_mmap 10.0 ms, "
        "reaper 23.1 ms; the model splits it about evenly, or all on the reaper when flushing "
        "costs nothing). Walking towards each other they share no table until they cross, once, "
        "in the middle. The random scheduler picks a cheap step and an expensive one with equal "
        "probability, so the distance between the walkers is a random walk in steps, not in "
        "time: forward walkers drift apart and meet only now and then, and a waiter's clock can "
        "be far from the holder's, so its spin figures are noisy.")
    return "\n\n".join(out)


@dataclass
class Line:
    """One plotted series: y against x, a matplotlib format string."""

    label: str
    xs: list[float]
    ys: list[float]
    fmt: str = "o-"
    style: dict[str, object] = field(default_factory=dict)


@dataclass
class RefLine:
    """A horizontal reference line: a figure of the arm64 measurement."""

    label: str
    y: float
    ls: str = "-"


@dataclass
class Panel:
    title: str
    xlabel: str
    ylabel: str
    lines: list[Line]
    refs: list[RefLine] = field(default_factory=list)
    log: bool = False


def work_saved(forward: Summary, reverse: Summary) -> float:
    """The share of the forward walk's work that the reverse walk saves: 1 - reverse/forward."""
    return 1.0 - reverse.work / forward.work if forward.work else 0.0


def plot_panels(rows: Sequence[Row]) -> list[Panel]:
    """The four panels of contention.png as data (a panel against P only with several P)."""
    q = measured_ratios()
    m = MEASURED
    p_main = _main_p(rows)
    by_k = sorted((r for r in rows if r.ptes == p_main), key=lambda r: r.vmas)
    k_main = _main_k(rows)
    by_p = sorted((r for r in rows if r.vmas == k_main), key=lambda r: r.ptes)
    ks = [r.vmas for r in by_k]
    walks = (("forward", "-"), ("reverse", "--"))

    events = [Line(f"{sched} {walk}", ks, [getattr(r, sched)[walk].events for r in by_k],
                   mk + style) for walk, style in walks for sched, mk in (("timed", "o"), ("random", "s"))]
    wk = [r for r in by_k if r.worst["forward"] is not None]
    events += [Line(f"worst case {walk} (exhaustive)", [r.vmas for r in wk],
                    [r.worst[walk] for r in wk], mk, {"color": "k", "ms": 9})  # type: ignore[misc]
               for walk, mk in (("forward", "^"), ("reverse", "v")) if wk]
    out = [Panel(f"contention events (mean; worst case), P={p_main}", "K (VMAs)",
                 "PTL contention events per run", events)]

    share = [Line(f"{sched} {walk}", ks, [100 * _share(getattr(r, sched)[walk]) for r in by_k],
                  mk + style) for walk, style in walks for sched, mk in (("timed", "o"), ("random", "s"))]
    out.append(Panel(f"share of work spent spinning, P={p_main}", "K (VMAs)",
                     "PTL spin, % of the zappers' work", share, [
                         RefLine(f"{MEASURED_BY}, forward ({m['spin_forward']} / "
                                 f"{m['work_forward']} ms)", 100 * q["share_forward"]),
                         RefLine(f"{MEASURED_BY}, reverse ({m['spin_reverse']} / "
                                 f"{m['work_reverse']} ms)", 100 * q["share_reverse"], ":")]))

    ratios = []
    for sched, mk in (("timed", "o-"), ("random", "s-")):
        pts = [(r.vmas, _ratio(getattr(r, sched)["forward"].spin, getattr(r, sched)["reverse"].spin))
               for r in by_k]
        pts = [(k, x) for k, x in pts if math.isfinite(x) and x > 0]
        if pts:
            ratios.append(Line(f"spin fwd/rev, {sched}", [k for k, _ in pts], [x for _, x in pts], mk))
    ratios.append(Line("work fwd/rev, timed", ks,
                       [_ratio(r.timed["forward"].work, r.timed["reverse"].work) for r in by_k], "o--"))
    ratios.append(Line("makespan fwd/rev, timed", ks,
                       [_ratio(r.timed["forward"].makespan, r.timed["reverse"].makespan) for r in by_k],
                       "d--"))
    out.append(Panel(f"ratios, P={p_main} (sizes where no reverse run spun are left out)",
                     "K (VMAs)", "forward / reverse", ratios, [
                         RefLine(f"{MEASURED_BY}: spin {m['spin_forward']} / {m['spin_reverse']} ms",
                                 q["spin"]),
                         RefLine(f"{MEASURED_BY}: total {m['work_forward']} / {m['work_reverse']} ms",
                                 q["work"], ":")], log=True))

    if len(by_p) > 1:
        ps = [r.ptes for r in by_p]
        out.append(Panel(f"against P, K={k_main}", "P (PTEs per table)", "%", [
            Line("spin share forward, timed (%)", ps, [100 * _share(r.timed["forward"]) for r in by_p],
                 "o-"),
            Line("spin share reverse, timed (%)", ps, [100 * _share(r.timed["reverse"]) for r in by_p],
                 "o--"),
            Line("work saved by reverse, timed (% of forward work)", ps,
                 [100 * work_saved(r.timed["forward"], r.timed["reverse"]) for r in by_p], "d-"),
        ], [
            RefLine(f"{MEASURED_BY}: spin share forward", 100 * q["share_forward"]),
            RefLine(f"{MEASURED_BY}: work saved ({m['work_forward']} -> {m['work_reverse']} ms)",
                    100 * (1 - 1 / q["work"]), ":"),
        ]))
    return out


def plot(rows: Sequence[Row], path: str) -> None:
    """contention.png: events, spin share and ratios against K (and P), with the measured figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(2, 2, figsize=(12, 9))
    cells = [ax[0][0], ax[0][1], ax[1][0], ax[1][1]]
    panels = plot_panels(rows)
    for a, panel in zip(cells, panels, strict=False):
        for line in panel.lines:
            a.plot(line.xs, line.ys, line.fmt, label=line.label, **line.style)  # type: ignore[arg-type]
        for ref in panel.refs:
            a.axhline(ref.y, color="r", ls=ref.ls, lw=1, label=ref.label)
        if panel.log:
            a.set_yscale("log")
        a.set_xlabel(panel.xlabel)
        a.set_ylabel(panel.ylabel)
        a.set_title(panel.title)
        a.legend(fontsize=8)
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    for a in cells[len(panels):]:
        a.set_axis_off()
    fig.suptitle("PTL contention, exit_mmap vs OOM reaper: forward (<= 6.17) vs reverse (6.18) "
                 "walk (oomcheck reaper model)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _main_p(rows: Sequence[Row]) -> int:
    counts: dict[int, int] = {}
    for r in rows:
        counts[r.ptes] = counts.get(r.ptes, 0) + 1
    return max(counts, key=lambda p: (counts[p], p))


def _main_k(rows: Sequence[Row]) -> int:
    counts: dict[int, int] = {}
    for r in rows:
        counts[r.vmas] = counts.get(r.vmas, 0) + 1
    return max(counts, key=lambda k: (counts[k], k))


# ----------------------------------------------------------------------------------------------
# the whole experiment
# ----------------------------------------------------------------------------------------------

DEFAULT_SIM_SIZES = ((2, 4), (4, 4), (8, 4), (16, 4), (24, 4), (32, 4),
                     (16, 1), (16, 2), (16, 8))
# exhaustive worst case (worst_case_events searches the control projection: K=32, P=4 takes a
# few seconds per walk)
DEFAULT_EXHAUSTIVE_SIZES = ((2, 4), (4, 4), (8, 4), (16, 4), (32, 4), (4, 3))
SENSITIVITY_SIZE = (16, 4)


@dataclass
class Report:
    rows: list[Row]
    markdown: str
    conclusion: str
    costs: Costs
    runs: int
    sensitivity: list[Sensitivity] = field(default_factory=list)
    sensitivity_markdown: str = ""
    knobs: dict[str, str] = field(default_factory=dict)


@dataclass
class Sensitivity:
    """The timed scheduler's figures at one size under a changed cost model."""

    label: str
    costs: Costs
    forward: Summary
    reverse: Summary


# Cost variants around the default: the figures that "match" the measurement depend on these ratios.
SENSITIVITY = (
    ("default", {}),
    ("flush cheaper (free_page 2)", {"free_page": 2.0}),
    ("no flush cost (free_page 0)", {"free_page": 0.0}),
    ("clearing cheaper (zap_present 5)", {"zap_present": 5.0}),
    ("clearing dearer (zap_present 20)", {"zap_present": 20.0}),
    ("jitter 0.05", {"jitter": 0.05}),
    ("jitter 0.5", {"jitter": 0.5}),
    ("reaper starts 100 later", {"reaper_delay": 100.0}),
    ("reaper starts 400 later", {"reaper_delay": 400.0}),
)


def sensitivity(vmas: int, ptes: int, runs: int, seed: int = 0, costs: Costs | None = None,
                knobs: dict[str, str] | None = None,
                variants: Sequence[tuple[str, dict[str, float]]] = SENSITIVITY) -> list[Sensitivity]:
    """Timed forward/reverse figures at one size for each cost variant."""
    base = costs or Costs()
    models = {w: contention_model(w, vmas, ptes, knobs) for w in WALKS}
    out = []
    for label, kw in variants:
        c = replace(base, **kw)
        out.append(Sensitivity(label, c, measure(models["forward"], "timed", runs, seed, c),
                               measure(models["reverse"], "timed", runs, seed, c)))
    return out


def sensitivity_markdown(rows: Sequence[Sensitivity], vmas: int, ptes: int) -> str:
    q = measured_ratios()
    lines = [f"Timed scheduler at K={vmas}, P={ptes}, cost variants (cells: forward / reverse):",
             "",
             "| costs | events | spin share of work | work f/r | spin exit_mmap / reaper, fwd |",
             "|---|---:|---:|---:|---:|"]
    for s in rows:
        f, v = s.forward, s.reverse
        split = " / ".join(f"{x:.0f}" for x in f.spin_by_actor.values())
        lines.append(f"| {s.label} | {f.events:.2f} / {v.events:.2f} "
                     f"| {_share(f):.1%} / {_share(v):.2%} "
                     f"| {_fmt_ratio(_ratio(f.work, v.work))} | {split} |")
    sd = MEASURED
    lines.append(f"| measured (zhongjinji, ms) | | {q['share_forward']:.1%} / {q['share_reverse']:.2%} "
                 f"| {_fmt_ratio(q['work'])} | {sd['spin_split_forward'][0]} / "
                 f"{sd['spin_split_forward'][1]} |")
    return "\n".join(lines)


def experiment(sim_sizes: Sequence[tuple[int, int]] = DEFAULT_SIM_SIZES,
               exhaustive_sizes: Sequence[tuple[int, int]] = DEFAULT_EXHAUSTIVE_SIZES,
               runs: int = 100, seed: int = 0, costs: Costs | None = None,
               progress: Callable[[str], None] | None = None,
               knobs: dict[str, str] | None = None) -> Report:
    """Every row of the table: exhaustive worst case at the small sizes, simulation at all."""
    costs = costs or Costs()
    rows = []
    sizes = list(dict.fromkeys([*exhaustive_sizes, *sim_sizes]))
    exh = set(exhaustive_sizes)
    for k, p in sorted(sizes, key=lambda kp: (kp[1] != _main_p_of(sim_sizes), kp[0], kp[1])):
        if progress:
            progress(f"K={k} P={p}" + (" (with exhaustive worst case)" if (k, p) in exh else ""))
        rows.append(measure_row(k, p, runs, seed, costs, exhaustive=(k, p) in exh, knobs=knobs))
    sk, sp = SENSITIVITY_SIZE
    if progress:
        progress(f"cost sensitivity at K={sk} P={sp}")
    sens = sensitivity(sk, sp, min(runs, 30), seed, costs, knobs)
    md = table_markdown(rows)
    return Report(rows, md, conclusion(rows, sens), costs, runs, sens,
                  sensitivity_markdown(sens, sk, sp), {**CONTENTION_KNOBS, **(knobs or {})})


def _main_p_of(sizes: Sequence[tuple[int, int]]) -> int:
    counts: dict[int, int] = {}
    for _, p in sizes:
        counts[p] = counts.get(p, 0) + 1
    return max(counts, key=lambda p: (counts[p], p)) if counts else 0


def report_markdown(rep: Report) -> str:
    """contention.md: the table, the definitions, the cost model and the conclusion."""
    c = rep.costs
    return "\n".join([
        "# PTL contention: forward vs reverse reaper walk",
        "",
        "Made by `bench/contention.py` (or `oomcheck contention`). K = VMAs (one PTE table and "
        "PTL each), P = PTEs per table; cells read forward / reverse. `worst` = most contention "
        "events over every interleaving (exhaustive: a memoized search over the states' control "
        "part, which gives the exact maximum; see the conclusion); `random` and `timed` = means "
        "over "
        f"{rep.runs} seeded runs of each scheduler (oomcheck/checker/simulate.py). A contention "
        "event is a zapper (exit_mmap's unmap_vmas, the OOM reaper, process_mrelease if enabled) "
        "at its pte_offset_map_lock step for a table whose PTL another zapper holds, counted "
        "once per waiting episode. Spin = time blocked at that step; work = summed busy + spin "
        "time of the zappers (the measurement's \"total running time, exit_mmap + reaper work\"); "
        "makespan = when the last actor finishes. Times are in lock-step units; the measured ones are "
        "ms, so only ratios and shares compare.",
        "",
        f"Costs: lock/iterator step {c.lock_step}, clear a present PTE {c.zap_present}, read a "
        f"cleared PTE {c.zap_none}, free a gathered page {c.free_page}, free_pgtables "
        f"{c.pgtable_free}/VMA, remove_vma {c.vma_free}/VMA, jitter ±{c.jitter:.0%}, reaper "
        f"start delay {c.reaper_delay}. Knobs: "
        + ", ".join(f"{k}={v}" for k, v in (rep.knobs or CONTENTION_KNOBS).items()) + ".",
        "",
        rep.markdown,
        "",
        "## Sensitivity to the cost model",
        "",
        rep.sensitivity_markdown,
        "",
        "## Conclusion",
        "",
        rep.conclusion,
        "",
    ])
