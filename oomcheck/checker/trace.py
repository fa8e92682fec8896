"""Counterexample traces and check results, independent of the engine that produced them."""

from __future__ import annotations

from dataclasses import dataclass, field

from oomcheck.checker.language.compile import Layout
from oomcheck.checker.language.interp import evaluate
from oomcheck.checker.language.lang import ActionInstance, Property, Quant


@dataclass
class Step:
    actor: str
    action: str  # the instance label, e.g. __thaw_task(t=1)
    func: str
    file: str
    step: str
    changes: dict[str, tuple[str, str]]  # variable -> (old, new), only those that changed

    def to_json(self) -> dict:
        return {
            "actor": self.actor, "action": self.action, "function": self.func,
            "file": self.file, "step": self.step,
            "changes": {k: {"old": o, "new": n} for k, (o, n) in self.changes.items()},
        }


@dataclass
class Trace:
    initial: dict[str, str]
    steps: list[Step]
    loop_start: int | None = None  # index of the first step of the loop of a lasso
    stutter: bool = False  # the lasso ends in a state where it stays forever (nothing fair enabled)
    never: list[str] = field(default_factory=list)  # what the goal never reaches, for liveness
    final: dict[str, str] = field(default_factory=dict)
    # the packed states and action instance ids it was built from (for engines that replay it)
    path: tuple[list[int], list[int]] | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict:
        return {
            "initial": self.initial, "steps": [s.to_json() for s in self.steps],
            "loop_start": self.loop_start, "stutter": self.stutter,
            "never": self.never, "final": self.final,
        }


@dataclass
class Result:
    property: str
    kind: str
    verdict: str  # holds | violated | unknown
    engine: str
    states: int = 0
    transitions: int = 0
    depth: int = 0
    seconds: float = 0.0
    reason: str = ""
    trace: Trace | None = None
    strength: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out: dict = {
            "property": self.property, "kind": self.kind, "verdict": self.verdict,
            "engine": self.engine, "strength": self.strength, "states": self.states,
            "transitions": self.transitions, "depth": self.depth,
            "seconds": round(self.seconds, 4),
        }
        if self.reason:
            out["reason"] = self.reason
        if self.trace is not None:
            out["trace"] = self.trace.to_json()
        return out


def build_trace(
    layout: Layout,
    instances: list[ActionInstance],
    states: list[int],
    actions: list[int],
    loop_start: int | None = None,
    stutter: bool = False,
    prop: Property | None = None,
) -> Trace:
    """states[0] -a0-> states[1] ... ; loop_start indexes actions (and the state it starts from)."""
    vals = [layout.decode(s) for s in states]
    show = layout.show
    initial = {layout.name(k): show(k, v) for k, v in enumerate(vals[0])}
    steps = []
    for j, aid in enumerate(actions):
        inst = instances[aid]
        a, b = vals[j], vals[j + 1]
        changes = {layout.name(k): (show(k, a[k]), show(k, b[k]))
                   for k in range(len(a)) if a[k] != b[k]}
        steps.append(Step(inst.actor, inst.label, inst.action.func, inst.action.file,
                          inst.action.step, changes))
    final = {layout.name(k): show(k, v) for k, v in enumerate(vals[-1])}
    never = _never_reached(layout, vals[-1], prop) if prop is not None and prop.is_liveness else []
    return Trace(initial, steps, loop_start, stutter, never, final, (list(states), list(actions)))


def _never_reached(layout: Layout, last: list[int], prop: Property) -> list[str]:
    """For a goal `forall x: body`, the members x the lasso leaves without body true, named
    with their state (e.g. which thread stays frozen)."""
    goal = prop.expr
    model = layout.model
    if not isinstance(goal, Quant) or goal.kind != "forall":
        return []
    state = {(n, i): last[k] for k, (n, i, _) in enumerate(layout.slots)}
    out = []
    for i in range(model.domains[goal.domain]):
        if not evaluate(model, goal.body, state, {goal.var: i}):
            who = f"{model.actor_names.get(goal.domain, goal.domain)} {i}"
            detail = ", ".join(
                f"{layout.name(k)}={layout.show(k, last[k])}"
                for k, (n, j, d) in enumerate(layout.slots)
                if j == i and d.domain == goal.domain
            )
            out.append(f"{who} ({detail})")
    return out
