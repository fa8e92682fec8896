"""Simulation: one execution of any model under a scheduler, instead of every interleaving.

Exhaustive checking answers "can it happen"; "how often" and "how long" need typical executions.
This module runs one execution of a compiled model from an initial state, choosing among the
enabled action instances with a scheduler, until no action is enabled (or a step cap). It knows
nothing about any particular model: a model may supply the cost of each action instance (a
function of the instance and the state; 1.0 by default).

Schedulers:
- `random`: uniform over the enabled instances (seeded). Every interleaving has a positive
  probability, but actors do not advance at comparable speeds: a cheap step and an expensive one
  are equally likely to be picked.
- `timed`: every actor (ActionInstance.actor) has its own clock, the time its last step ended;
  each step costs its cost times a seeded multiplicative jitter. Each enabled actor runs its next
  step from its own clock, and the step that ends first takes effect first (ties broken by the
  seed); that actor's clock moves to the step's end. So actors advance like CPUs running in
  parallel, and the states of a run are in time order. An actor with no enabled action is blocked
  (e.g. spinning on a held lock); when a step of another actor enables it again, its clock moves
  up to that step's end (the releaser's clock) and the difference is recorded as a wait.

  Why effects at the end of a step rather than at the start of the lowest clock's step: a step
  that releases a lock releases it when its work is done, and an actor that does long work
  before its next step (a TLB flush after pte_unmap_unlock) arrives at that step only afterwards.
  With effects at the start, either a waiter would be let in before the holder's last entry is
  cleared, or an actor would appear at a lock long before it gets there.

Both schedulers keep the clocks (a random run also reports per-actor times and waits), but only
the timed one uses them to choose; under `random` the times are indicative only, since the order
of the steps ignores them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from oomcheck.checker.language.compile import Compiled
from oomcheck.checker.language.lang import ActionInstance, ModelError
from oomcheck.checker.sample import sample_initial

SCHEDULERS = ("random", "timed")

CostFn = Callable[[ActionInstance, int], float]
"""The cost of running an action instance from a packed state (before jitter)."""


def unit_cost(inst: ActionInstance, state: int) -> float:
    """The default cost: every step takes one time unit."""
    return 1.0


@dataclass(frozen=True)
class Wait:
    """An actor had no enabled action from `start` until a step of another actor ending at `end`."""

    actor: str
    state_index: int  # states[state_index]: the last state in which the actor was still blocked
    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass
class Run:
    """One execution: states[i] --actions[i]--> states[i + 1], with per-step times."""

    scheduler: str
    seed: int
    states: list[int]
    actions: list[int]
    actors: list[str]  # the actor of each step
    start: list[float]  # when each step began (its actor's clock)
    cost: list[float]  # each step's duration, jitter included; it takes effect at start + cost
    waits: list[Wait]
    clocks: dict[str, float]  # every actor's clock at the end
    busy: dict[str, float]  # every actor's summed step costs
    end: str  # "final" (nothing enabled, final state), "deadlock" (nothing enabled, not final), "cap"
    # with record_clocks: before each step, when each enabled actor's next step would end
    # (timed) or each enabled actor's clock (random)
    enabled_clocks: list[dict[str, float]] | None = field(default=None, repr=False)

    @property
    def steps(self) -> int:
        return len(self.actions)

    @property
    def makespan(self) -> float:
        """When the last actor finished its last step."""
        return max(self.clocks.values(), default=0.0)

    def waited(self, actor: str | None = None) -> float:
        """Total wait time, of one actor or of all."""
        return sum(w.length for w in self.waits if actor is None or w.actor == actor)


def actors_of(compiled: Compiled) -> list[str]:
    """Every actor of the model, in the order of its first action instance."""
    seen: dict[str, None] = {}
    for inst in compiled.instances:
        seen.setdefault(inst.actor, None)
    return list(seen)


def simulate(
    compiled: Compiled,
    scheduler: str = "random",
    seed: int = 0,
    *,
    cost: CostFn | None = None,
    jitter: float = 0.0,
    max_steps: int = 100_000,
    initial: int | None = None,
    start_clocks: dict[str, float] | None = None,
    record_clocks: bool = False,
) -> Run:
    """Run one execution of `compiled` under `scheduler`; deterministic for a given seed.

    cost gives each step's duration (default 1.0); jitter j multiplies it by a seeded uniform
    factor in [1 - j, 1 + j]. The initial state is `initial`, or one of the model's initial
    states chosen by the seed. start_clocks lets some actors start later (a delayed kthread);
    the time before their start is neither busy time nor a wait.
    """
    if scheduler not in SCHEDULERS:
        raise ModelError(f"unknown scheduler {scheduler!r} (schedulers: {', '.join(SCHEDULERS)})")
    if not 0.0 <= jitter < 1.0:
        raise ModelError(f"jitter must be in [0, 1), not {jitter}")
    if max_steps < 0:
        raise ModelError(f"max_steps must not be negative, not {max_steps}")
    sim = _Sim(compiled, seed, cost or unit_cost, jitter, record_clocks)
    if initial is None:
        initial = sample_initial(compiled, sim.rng)
    for a, t0 in (start_clocks or {}).items():
        if a not in sim.clocks:
            raise ModelError(f"model {compiled.model.name} has no actor {a!r} "
                             f"(actors: {', '.join(sim.clocks)})")
        sim.clocks[a] = float(t0)
    end = sim.run_timed(initial, max_steps) if scheduler == "timed" \
        else sim.run_random(initial, max_steps)
    return Run(scheduler, seed, sim.states, sim.actions, sim.actors, sim.starts, sim.costs,
               sim.waits, sim.clocks, sim.busy, end, sim.recorded)


class _Sim:
    """The bookkeeping both schedulers share: the run so far, clocks, waits."""

    def __init__(self, compiled: Compiled, seed: int, cost: CostFn, jitter: float,
                 record: bool):
        self.compiled = compiled
        self.rng = random.Random(seed)
        self.cost_fn = cost
        self.jitter = jitter
        self.instances = compiled.instances
        self.actor_of = [inst.actor for inst in compiled.instances]
        self.is_final = compiled.predicate(compiled.model.final)
        actors = actors_of(compiled)
        self.clocks = dict.fromkeys(actors, 0.0)
        self.busy = dict.fromkeys(actors, 0.0)
        self.states: list[int] = []
        self.actions: list[int] = []
        self.actors: list[str] = []
        self.starts: list[float] = []
        self.costs: list[float] = []
        self.waits: list[Wait] = []
        self.recorded: list[dict[str, float]] | None = [] if record else None

    def expand(self, s: int) -> dict[str, dict[int, int]]:
        """The enabled instances of state s by actor: actor -> {action id: successor}."""
        out: list[tuple[int, int]] = []
        self.compiled.expand(s, out)
        by: dict[str, dict[int, int]] = {}
        for aid, nxt in out:
            by.setdefault(self.actor_of[aid], {})[aid] = nxt
        return by

    def draw_cost(self, aid: int, s: int) -> float:
        c = self.cost_fn(self.instances[aid], s)
        if c < 0:
            raise ModelError(f"negative cost {c} for {self.instances[aid].label}")
        if self.jitter:
            c *= self.rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        return c

    def pick(self, choices: dict[int, int]) -> int:
        ids = list(choices)
        return ids[0] if len(ids) == 1 else ids[self.rng.randrange(len(ids))]

    def commit(self, who: str, aid: int, start: float, c: float, nxt: int) -> None:
        self.actions.append(aid)
        self.actors.append(who)
        self.starts.append(start)
        self.costs.append(c)
        self.clocks[who] = start + c
        self.busy[who] += c
        self.states.append(nxt)

    def unblock(self, actor: str, at: float) -> None:
        """actor was blocked and a step ending at `at` enabled it: it resumes then."""
        if self.clocks[actor] < at:
            self.waits.append(Wait(actor, len(self.states) - 2, self.clocks[actor], at))
            self.clocks[actor] = at

    def end_of(self, s: int) -> str:
        return "final" if self.is_final(s) else "deadlock"

    def run_random(self, s: int, max_steps: int) -> str:
        self.states.append(s)
        enabled = self.expand(s)
        while len(self.actions) < max_steps:
            if not enabled:
                return self.end_of(s)
            if self.recorded is not None:
                self.recorded.append({a: self.clocks[a] for a in enabled})
            pairs = [(a, aid) for a, ch in enabled.items() for aid in ch]
            who, aid = pairs[self.rng.randrange(len(pairs))]
            nxt = enabled[who][aid]
            self.commit(who, aid, self.clocks[who], self.draw_cost(aid, s), nxt)
            now = self.expand(nxt)
            for a in now:
                if a not in enabled and a != who:
                    self.unblock(a, self.clocks[who])
            s, enabled = nxt, now
        return "cap"

    def run_timed(self, s: int, max_steps: int) -> str:
        self.states.append(s)
        enabled = self.expand(s)
        # each enabled actor's next step: (action id, start, cost), drawn when it became possible
        pending: dict[str, tuple[int, float, float]] = {}
        for a in sorted(enabled):
            aid = self.pick(enabled[a])
            pending[a] = (aid, self.clocks[a], self.draw_cost(aid, s))
        while len(self.actions) < max_steps:
            if not enabled:
                return self.end_of(s)
            ends = {a: st + c for a, (_, st, c) in pending.items()}
            if self.recorded is not None:
                self.recorded.append(dict(ends))
            first = min(ends.values())
            tied = sorted(a for a, t in ends.items() if t == first)
            who = tied[0] if len(tied) == 1 else tied[self.rng.randrange(len(tied))]
            aid, st, c = pending.pop(who)
            nxt = enabled[who][aid]
            self.commit(who, aid, st, c, nxt)
            now = self.expand(nxt)
            for a in list(pending):
                if a not in now:
                    del pending[a]  # blocked from its clock on, until a step enables it again
                elif pending[a][0] not in now[a]:
                    # its chosen step was disabled by this one: it chooses again from now on
                    self.clocks[a] = max(self.clocks[a], first)
                    del pending[a]
            for a in sorted(now):
                if a in pending:
                    continue
                if a != who and a not in enabled:
                    self.unblock(a, first)
                new = self.pick(now[a])
                pending[a] = (new, self.clocks[a], self.draw_cost(new, nxt))
            s, enabled = nxt, now
        return "cap"


def run_trace(compiled: Compiled, run: Run, limit: int | None = None) -> list[str]:
    """One line per step: its start and end time, actor, action instance, what it changed.

    Under the timed scheduler steps take effect, and are listed, in the order they end."""
    lay = compiled.layout
    lines = []
    prev = lay.decode(run.states[0])
    n = run.steps if limit is None else min(limit, run.steps)
    for i in range(n):
        cur = lay.decode(run.states[i + 1])
        changes = ", ".join(f"{lay.name(k)}={lay.show(k, cur[k])}"
                            for k in range(len(cur)) if cur[k] != prev[k])
        inst = compiled.instances[run.actions[i]]
        end = run.start[i] + run.cost[i]
        lines.append(f"{run.start[i]:9.2f}-{end:9.2f}  {run.actors[i]:18} "
                     f"{inst.label:34} {changes}")
        prev = cur
    if n < run.steps:
        lines.append(f"... {run.steps - n} more steps")
    return lines


class SlotReader:
    """Reads single variables out of a packed state, for cost functions (no full decode)."""

    def __init__(self, compiled: Compiled):
        self.layout = compiled.layout

    def get(self, state: int, name: str, index: int | None = None) -> int:
        lay = self.layout
        k = lay.slot_of(name, index)
        return ((state >> lay.offset[k]) & ((1 << lay.width[k]) - 1)) + lay.lo[k]

    def count_true(self, state: int, name: str, indices: range | None = None) -> int:
        """How many elements of a boolean array are set (all, or those in indices)."""
        lay = self.layout
        ks = lay.array_slots.get(name)
        if ks is None:
            raise ModelError(f"{name} is not an array")
        if indices is not None:
            ks = [ks[i] for i in indices]
        if not ks:
            return 0
        if any(lay.width[k] != 1 or lay.lo[k] != 0 for k in ks):
            raise ModelError(f"{name} is not a boolean array")
        first, last = lay.offset[ks[0]], lay.offset[ks[-1]]
        if last - first == len(ks) - 1:  # contiguous bits: one popcount
            return ((state >> first) & ((1 << len(ks)) - 1)).bit_count()
        return sum((state >> lay.offset[k]) & 1 for k in ks)
